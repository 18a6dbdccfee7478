#!/usr/bin/env bash
# Benchmark of the npm package tollgate in Node, side by side with jose, jwt-decode and
# fast-jwt on the same tokens. Results: BENCHMARKS.md, section "npm package in Node".
#
#   bench/js/run.sh            full run (about four minutes)
#   bench/js/run.sh --quick    smoke test (a fraction of a second per row, a few seconds)
#   bench/js/run.sh --record   full run, then writes the results block into BENCHMARKS.md
#   bench/js/run.sh --workerd  also verify beside jose inside workerd (bench/js/workerd.mjs,
#                              full; --quick runs its quick mode whenever workerd is there)
#
# Installs the pinned packages of bench/js/package-lock.json (npm ci) if they are missing,
# builds pkg/dist/ (./scripts/build-pkg.sh) if it is missing, then runs bench/js/bench.mjs:
# decode (tollgate, jose, jwt-decode, fast-jwt), and verify of every algorithm (HS*, EdDSA,
# ES*, RS*, PS*: tollgate, also with crypto: "wasm" and, for the asymmetric ones, verifyAsync
# sequential and 64 in flight, jose sequential and 64 in flight, fast-jwt) of the tokens
# gen-<alg>-access of tests/vectors/generated.json at their `now`, and the package's size.
# Every call's result is checked once before timing; exits non-zero if one is wrong, or if
# pkg/dist/ changed during the run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/bench/js"
cd "$root"

mode=full record=false workerd=false
for arg in "$@"; do
  case "$arg" in
    --quick) mode=quick ;;
    --record) record=true ;;
    --workerd) workerd=true ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: bench/js/run.sh [--quick] [--record] [--workerd]" >&2; exit 2 ;;
  esac
done
if [[ $mode == quick && $record == true ]]; then
  echo "--record records full runs only" >&2; exit 2
fi
command_line="bench/js/run.sh${1:+ $*}"
for tool in node npm gzip awk; do
  command -v "$tool" >/dev/null || { echo "bench/js/run.sh needs $tool" >&2; exit 1; }
done

# --- packages: the exact versions of package-lock.json -------------------------------
if [[ ! -f $here/node_modules/.package-lock.json || $here/package-lock.json -nt $here/node_modules/.package-lock.json ]]; then
  echo "== npm ci (bench/js)" >&2
  if ! (cd "$here" && npm ci --no-audit --no-fund --loglevel=error); then
    # Some registry mirrors make npm ci refuse a lock written against another registry.
    echo "== npm ci refused the lock; npm install --no-save of the same pinned versions" >&2
    (cd "$here" && npm install --no-save --no-audit --no-fund --loglevel=error)
  fi
fi

# --- the package ---------------------------------------------------------------------
if [[ ! -f pkg/dist/tollgate_wasm_bg.wasm || ! -f pkg/dist/tollgate_wasm.js || ! -f pkg/dist/error.js ]]; then
  echo "== pkg/dist is missing: ./scripts/build-pkg.sh" >&2
  ./scripts/build-pkg.sh
fi

# --- measuring -----------------------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench-js.XXXXXX")"
trap 'rm -rf "$work"' EXIT
report="$work/report.md"
flags=()
[[ $mode == quick ]] && flags+=(--quick)
BENCH_COMMAND="$command_line" node "$here/bench.mjs" "${flags[@]}" --report "$report"

if [[ $record == true ]]; then
  # shellcheck source=bench/lib.sh
  source "$here/../lib.sh" # record_block
  record_block BENCHMARKS.md '<!-- bench/js/run.sh --record: begin -->' \
    '<!-- bench/js/run.sh --record: end -->' "$report"
  echo "== recorded in BENCHMARKS.md" >&2
fi

# --- workerd: tollgate beside jose inside Cloudflare Workers' runtime -------------------
# Its packages (workerd, esbuild) are tests/runtimes' (tests/runtimes/run.sh installs them).
if [[ $workerd == true || $mode == quick ]]; then
  if [[ -x tests/runtimes/node_modules/.bin/workerd && -d tests/runtimes/node_modules/esbuild ]]; then
    echo "== workerd: bench/js/workerd.mjs ($mode)" >&2
    node "$here/workerd.mjs" "${flags[@]}"
  elif [[ $workerd == true ]]; then
    echo "bench/js/run.sh --workerd: tests/runtimes/node_modules has no workerd (run tests/runtimes/run.sh once)" >&2
    exit 1
  else
    echo "== workerd skipped: tests/runtimes/node_modules has no workerd (tests/runtimes/run.sh installs it)" >&2
  fi
fi
