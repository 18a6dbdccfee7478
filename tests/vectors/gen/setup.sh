#!/usr/bin/env bash
# Idempotent setup for the token-vector tooling (run it, or source it to also get .venv/bin
# on PATH). Creates <repo>/.venv if missing and pip-installs tests/requirements.txt only when
# its hash changed; runs `npm ci` in tests/ only when node_modules is missing or
# tests/package-lock.json changed. Quiet unless something fails. Works from any cwd.

_tollgate_vectors_setup() (
  set -euo pipefail
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
  venv="$root/.venv"
  req="$root/tests/requirements.txt"
  lock="$root/tests/package-lock.json"

  bash "$root/scripts/ensure-venv.sh" "$venv" "$req"

  want="$(sha256sum "$lock" | cut -d' ' -f1)"
  if [ "$(cat "$root/tests/node_modules/.package-lock.sha256" 2>/dev/null || true)" != "$want" ]; then
    (cd "$root/tests" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$want" >"$root/tests/node_modules/.package-lock.sha256"
  fi
)

if _tollgate_vectors_setup; then
  if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/.venv/bin:$PATH"
    export PATH
  fi
else
  echo "tests/vectors/gen/setup.sh: setup failed" >&2
  # shellcheck disable=SC2317  # `return` when sourced, `exit` when run
  return 1 2>/dev/null || exit 1
fi
