#!/usr/bin/env bash
# Runs every test of tollgate. Installs what it needs first, idempotently (a second run
# skips every install that is already done). Used as is by .ci/run.
#
#   ./scripts/test.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
start=$SECONDS
step() { printf '\n== %s (%ss)\n' "$1" "$((SECONDS - start))"; }

step "toolchain targets"
installed="$(rustup target list --installed)"
for target in wasm32-unknown-unknown thumbv7em-none-eabihf; do
  grep -qx "$target" <<<"$installed" || rustup target add "$target"
done
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy

step "python venv and npm packages"
bash tests/vectors/gen/setup.sh
py="$root/.venv/bin/python"

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tollgate-core builds without std (thumbv7em-none-eabihf) and for wasm32"
cargo build -p tollgate-core --locked --target thumbv7em-none-eabihf
cargo build -p tollgate-core --locked --target wasm32-unknown-unknown

step "cargo test (core, vectors, Simple JWT byte compatibility, vector drift)"
cargo test --workspace --locked

step "vectors from PyJWT, Simple JWT and jose: regenerate and compare"
fresh="$(mktemp -d)"
trap 'rm -rf "$fresh"' EXIT
"$py" tests/vectors/gen/keys.py "$fresh/keys.json"
"$py" tests/vectors/gen/gen_python.py "$fresh"
node tests/vectors/gen/gen_jose.mjs "$fresh"
cargo run -q --locked -p tollgate-tests --bin gen-vectors -- "$fresh/generated.json"
"$py" tests/vectors/gen/compare.py tests/vectors "$fresh" \
  keys.json generated.json pyjwt.json simplejwt.json jose.json

step "tollgate's tokens verify in PyJWT, Simple JWT and jose"
vectors=(tests/vectors/generated.json tests/vectors/pyjwt.json tests/vectors/simplejwt.json tests/vectors/jose.json)
"$py" tests/vectors/gen/crosscheck.py "${vectors[@]}"
node tests/vectors/gen/crosscheck.mjs "${vectors[@]}"

step "all tests passed"
