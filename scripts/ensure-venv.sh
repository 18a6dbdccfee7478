#!/usr/bin/env bash
# Idempotent Python venv: scripts/ensure-venv.sh VENV REQUIREMENTS creates VENV if missing and
# pip-installs REQUIREMENTS only when its hash changed since the last install. Quiet unless
# something fails. Used by tests/vectors/gen/setup.sh (.venv) and bench/simplejwt (bench/.venv).
set -euo pipefail
venv="$1" req="$2"
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
