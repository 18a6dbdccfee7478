#!/usr/bin/env bash
# Runs the tollgate server with its demo page on the embedded default store
# (sled in ./tollgate-data), on http://127.0.0.1:8000/.
#
#   ./scripts/run.sh [extra arguments for `tollgate serve`]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# The demo page imports the npm package, served from pkg/ at /pkg/.
[ -f pkg/dist/tollgate_wasm_bg.wasm ] || ./scripts/build-pkg.sh
exec cargo run --release --locked -p tollgate-server --bin tollgate -- serve "$@"
