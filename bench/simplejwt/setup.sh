#!/usr/bin/env bash
# Idempotent setup of the Simple JWT peer of bench/load.sh: bench/.venv with
# bench/simplejwt/requirements.txt (reinstalled only when that file changes).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "$root/scripts/ensure-venv.sh" "$root/bench/.venv" "$root/bench/simplejwt/requirements.txt"
