#!/usr/bin/env bash
# Runs the cargo-fuzz targets of tests/fuzz/ for a bounded time each, from a corpus
# seeded by the shared vectors and DRF's body captures (tests/fuzz/seed.py).
#
#   scripts/fuzz.sh                    # every target, 55 s each (the test command's run)
#   scripts/fuzz.sh 3600 token body    # an hour each for two targets
#
# A crash (panic or failed property), an input slower than 10 s (-timeout), a single
# allocation over 256 MiB (-malloc_limit_mb) or a process over 2 GiB (-rss_limit_mb)
# fails the run; the input is left in tests/fuzz/artifacts/<target>/. The corpus grows
# in tests/fuzz/corpus/<target>/ across runs (both are ignored by git).
#
# Stable Rust only: libFuzzer's instrumentation needs unstable flags, which
# RUSTC_BOOTSTRAP=1 allows on the stable compiler.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-55}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(token signed_claims json bearer body)

cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
cd "$root/tests/fuzz"
python3 seed.py corpus
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
for target in "${targets[@]}"; do
  case "$target" in
    body) max_len=70000 ;; # a 64 KiB body and its Content-Type
    *) max_len=12000 ;;    # past the 8 KiB token and header limits
  esac
  cargo +stable fuzz build "$target" 2>"$logs/build.log" || { cat "$logs/build.log" >&2; exit 1; }
  if ! cargo +stable fuzz run "$target" "corpus/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 \
      -max_len="$max_len" -print_final_stats=1 >"$logs/$target.log" 2>&1; then
    tail -n 60 "$logs/$target.log" >&2
    echo "fuzz: $target failed; the input is in tests/fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$target.log")"
  corpus="$(find "corpus/$target" -type f | wc -l)"
  echo "fuzz: $target ran ${seconds}s, $runs executions, no crash, corpus $corpus inputs"
done
