#!/usr/bin/env bash
# Runs the tollgate server with its demo page on the embedded default store
# (sled in ./tollgate-data), on http://127.0.0.1:8000/.
#
#   ./scripts/run.sh [extra arguments for `tollgate serve`]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ ! -f server/Cargo.toml ]; then
  echo "run.sh: the server (server/, issue #3) is not built yet; only tollgate-core exists." >&2
  exit 1
fi
exec cargo run --release --locked -p tollgate-server --bin tollgate -- serve "$@"
