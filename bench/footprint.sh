#!/usr/bin/env bash
# The sled store's footprint (issue #19 item 2): seed a fresh folder, time the opens of
# `tollgate serve` (until /metrics answers; then VmRSS), flush the expired tokens,
# compact, and print `du -sb` at each step.
#
#   bench/footprint.sh BIN DIR [OUTSTANDING BLACKLISTED [PORT]]
#
# REOPEN=1: open the folder once with `users list` between the seed and the first serve.
# BIN: a release build of tollgate; DIR: a scratch folder (emptied first, left behind:
# delete it after). Each step's wall time, CPU and peak RSS from /usr/bin/time.
set -euo pipefail
bin=$(realpath "$1"); dir=$2; outstanding=${3:-1000000}; blacklisted=${4:-500000}; port=${5:-18417}
data=$dir/data
rm -rf "$dir"; mkdir -p "$dir"
t() {
  /usr/bin/time -o "$dir/time" -f "  $1: %e s wall, %U s user, %S s system, peak RSS %M KiB" "${@:2}"
  echo "$(cat "$dir/time") (load $(cut -d' ' -f1-3 /proc/loadavg))"
}
size() { echo "  folder $1: $(du -sb "$data" | cut -f1) B (load $(cut -d' ' -f1-3 /proc/loadavg))"; }
# serve until /metrics answers: the time to that answer and the server's VmRSS then.
open() {
  local start end pid rss
  start=$(date +%s%N)
  "$bin" --data-dir "$data" serve --bind "127.0.0.1:$port" --no-demo-user >"$dir/serve.log" 2>&1 &
  pid=$!
  until curl -fs "http://127.0.0.1:$port/metrics" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { cat "$dir/serve.log"; exit 1; }
    sleep 0.005
  done
  end=$(date +%s%N)
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" || true
  echo "  open $1: $(( (end - start) / 1000000 )) ms to /metrics, VmRSS $rss KiB (load $(cut -d' ' -f1-3 /proc/loadavg))"
}
echo 'a-long-enough-password-1' | "$bin" --data-dir "$data" users add alice --password-stdin >/dev/null
t seed "$bin" --data-dir "$data" tokens seed --outstanding "$outstanding" --blacklisted "$blacklisted"
size "after the seed"
if [ -n "${REOPEN:-}" ]; then t "an open by \`users list\`" "$bin" --data-dir "$data" users list >/dev/null; fi
open "first after the seed"
open "second"
t flush "$bin" --data-dir "$data" tokens flush-expired
size "after the flush"
if "$bin" store compact --help >/dev/null 2>&1; then
  t compact "$bin" --data-dir "$data" store compact 2>"$dir/compact.log"
  size "after store compact"
  open "first after the compaction"
  open "second"
fi
