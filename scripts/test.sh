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
steps=0
step() { steps=$((steps + 1)); printf '\n== %s (%ss)\n' "$1" "$((SECONDS - start))"; }

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

step "PostgreSQL for the tests: a throwaway cluster of our own (scripts/postgres.sh)"
# The conformance suite and the server suites run on it as well as on sled. Its folder is
# this run's own (the postgres user must reach it: not under a private mktemp folder).
export TOLLGATE_TEST_PG_DIR="${TMPDIR:-/tmp}/tollgate-pg-test-$$"
cleanup() {
  scripts/postgres.sh stop >/dev/null 2>&1 || true
  # The replicas tests restart and freeze clusters of their own; they stop them, unless
  # they were killed.
  for own in restarts frozen; do
    scripts/postgres.sh stop "$TOLLGATE_TEST_PG_DIR-$own" >/dev/null 2>&1 || true
    rm -f "$TOLLGATE_TEST_PG_DIR-$own.lock"
  done
  rm -f "$TOLLGATE_TEST_PG_DIR.lock" # the run is over: no command of it waits on the lock
  rm -rf "${fresh:-}"
}
trap cleanup EXIT
TOLLGATE_TEST_DATABASE_URL="$(scripts/postgres.sh start)"
export TOLLGATE_TEST_DATABASE_URL
echo "postgres: $TOLLGATE_TEST_DATABASE_URL"

step "format and lints"
cargo fmt --all --check
cargo fmt --manifest-path tests/fuzz/Cargo.toml --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p tollgate-wasm --target wasm32-unknown-unknown --all-targets --locked -- -D warnings

step "tollgate-core builds without std (thumbv7em-none-eabihf) and for wasm32"
cargo build -p tollgate-core --locked --target thumbv7em-none-eabihf
cargo build -p tollgate-core --locked --target thumbv7em-none-eabihf --features all-algorithms
cargo build -p tollgate-core --locked --target wasm32-unknown-unknown

step "cargo test (core, vectors, Simple JWT byte compatibility, vector drift, server; the storage conformance suite on sled and PostgreSQL; three replicas on PostgreSQL: races, kill -9, database restarts, a frozen database)"
cargo test --workspace --locked

step "the server's suites again on PostgreSQL: API, admin API, cookie mode, hostile input, kill -9, processes"
TOLLGATE_TEST_BACKEND=postgres cargo test --locked -p tollgate-server \
  --test api --test admin --test cookie --test hostile --test faults --test process --test legacy_store --test keys

step "fuzzing: each cargo-fuzz target for 55 s (tests/fuzz, scripts/fuzz.sh; installs cargo-fuzz)"
scripts/fuzz.sh

step "npm package: build (wasm32, wasm-bindgen, wasm-opt)"
./scripts/build-pkg.sh

step "wasm-bindgen tests in Node"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --locked -p tollgate-wasm --target wasm32-unknown-unknown

step "npm package in Node (node:test): shared vectors, API, interop with jose"
(cd tests && node --test js/)

step "npm package in every runtime: Node, Bun, Deno, workerd, edge-runtime, Chromium; the edge-worker example; the demo page and the staff console in Chromium"
tests/runtimes/run.sh

step "npm package benchmark against jose, jwt-decode, fast-jwt in Node, and beside jose in workerd: quick smoke mode (figures not recorded)"
bench/js/run.sh --quick

step "npm package types: tsc --noEmit of a usage file"
tests/node_modules/.bin/tsc -p tests/tsconfig.json
echo "tsc: usage file compiles against pkg/index.d.ts"

step "vectors from PyJWT, Simple JWT and jose: regenerate and compare"
fresh="$(mktemp -d)" # removed by cleanup
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

step "server oracles: Django and DRF behaviour captures regenerate without drift"
oracle() { # oracle FILE GENERATOR [ARGS...]
  local file="$1"; shift
  "$py" "$@" "$fresh/$(basename "$file")"
  if ! cmp -s "$file" "$fresh/$(basename "$file")"; then
    echo "drift: $file differs from a fresh run of $*" >&2
    diff <(head -c 4000 "$file") <(head -c 4000 "$fresh/$(basename "$file")") >&2 || true
    exit 1
  fi
}
data=server/tests/data
oracle $data/django_passwords.json $data/gen_django_passwords.py
oracle $data/django_throttle.json $data/gen_django_throttle.py
oracle $data/django_dumpdata_users.json $data/gen_django_dumpdata.py
oracle $data/django_dumpdata_users_indent2.json $data/gen_django_dumpdata.py --indent 2
oracle $data/drf_bodies.json $data/gen_drf_bodies.py
echo "oracles: no drift"

step "interop with djangorestframework-simplejwt against a running server"
cargo build -q --locked -p tollgate-server --bin tollgate
"$py" server/tests/interop_simplejwt.py target/debug/tollgate

step "the README's curl tour, as written, against a fresh server"
./scripts/readme-tour.sh target/debug/tollgate

step "the OpenAPI document: openapi-spec-validator, then schemathesis against a fresh server (no 5xx, every answer as documented)"
tests/openapi/run.sh target/debug/tollgate

step "beside a real Django 5.2 + Simple JWT 5.5.1 site on PostgreSQL: the README recipe, the schema fixture, bad input (tests/django/beside.sh)"
./tests/django/beside.sh target/debug/tollgate

step "the README's replicas recipe, as written: three replicas on one PostgreSQL database"
./scripts/readme-replicas.sh target/debug/tollgate

step "load benchmark beside Simple JWT and with a seeded store, quick smoke mode (figures not recorded; bench/load.sh for the real run)"
bench/load.sh --quick

step "tollgate beside a bare warp route, quick smoke mode: every answer a 2xx, instructions and system calls per answer counted (figures not recorded; bench/limits.sh for the real run)"
bench/limits.sh --quick

step "the server on sled and on PostgreSQL (1 and 2 replicas) under load, quick smoke mode: every answer a 2xx (figures not recorded; bench/postgres.sh for the real run)"
bench/postgres.sh --quick

step "soak, quick mode: 20 s of mixed load at 256 connections, every answer a 2xx (bench/soak.sh for 10 minutes)"
bench/soak.sh --quick

step "all tests passed"
# Every step above ran to completion (set -e stops at the first failure).
echo "test-steps: $((steps - 1)) passed, 0 failed"
# What the run left on disk (a CI machine ran out of it once): build output and packages.
du -sch target tests/fuzz/target tests/node_modules .venv 2>/dev/null | tr '\t' ' ' | paste -sd ';' | sed 's/;/; /g; s/^/disk: /'
df -h . | awk 'NR == 2 { print "disk: " $4 " free on " $6 }'
