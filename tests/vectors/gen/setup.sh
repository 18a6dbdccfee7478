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

  if [ ! -x "$venv/bin/python" ]; then
    if ! python3 -m venv "$venv" 2>/dev/null; then
      # Debian's system Python ships venv separately.
      rm -rf "$venv"
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "$venv"
    fi
  fi
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null || true)" != "$want" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    echo "$want" >"$venv/.requirements.sha256"
  fi

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
