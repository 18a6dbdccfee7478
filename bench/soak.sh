#!/usr/bin/env bash
# Soak test of the tollgate server (issue #7): a mixed session load (logins, /api/me/,
# refreshes with rotation, logouts; bench/lua/mixed.lua) at 256 connections for 10
# minutes, with short token lifetimes so that the periodic flush of expired tokens works
# under the load too. It passes when every answer was a 2xx (the workload never sends a
# token twice or an expired one, so the client causes no error), no socket error
# happened, and memory stayed flat: the server's RSS at the end is at most 25% above its
# RSS once warmed up (two token lifetimes in). --quick checks the errors only.
#
#   bench/soak.sh            10 minutes (figures in BENCHMARKS.md, section "Soak")
#   bench/soak.sh --quick    20 seconds, errors only (run by the test command)
#   bench/soak.sh --record   10 minutes, then writes the results block into BENCHMARKS.md
#   bench/soak.sh --duration=180   another length (memory is judged from 120 s on)
#
# Builds the release binary and installs wrk (Debian package) if missing, like
# bench/load.sh, whose helpers (bench/lib.sh) it uses.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
started=$SECONDS

duration=600 sample=10 refresh_lifetime=120 flush_every=5 record=false
for arg in "$@"; do
  case "$arg" in
    --quick) duration=20 sample=2 refresh_lifetime=8 flush_every=2 ;;
    --record) record=true ;;
    --duration=*) duration="${arg#--duration=}" sample=5 ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: bench/soak.sh [--quick | --duration=SECONDS] [--record]" >&2; exit 2 ;;
  esac
done
# For experiments: other token lifetimes and flush intervals.
refresh_lifetime="${SOAK_REFRESH_LIFETIME:-$refresh_lifetime}" flush_every="${SOAK_FLUSH_EVERY:-$flush_every}"
if [[ $duration != 600 && $record == true ]]; then
  echo "--record records full runs only" >&2; exit 2
fi
threads=2 connections=256 users=16
command_line="bench/soak.sh${1:+ $*}"
source "$root/bench/lib.sh"

ensure_wrk
build_release

work="$(mktemp -d "${TMPDIR:-/tmp}/tollgate-soak.XXXXXX")"
sampler_pid=""
cleanup() {
  [[ -n $sampler_pid ]] && kill "$sampler_pid" 2>/dev/null || true
  [[ -n $wrk_pid ]] && kill "$wrk_pid" 2>/dev/null || true
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT

only_bench_settings
TOLLGATE_SIGNING_KEY="soak-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export TOLLGATE_SIGNING_KEY
export TOLLGATE_DATA_DIR="$work/data" TOLLGATE_PBKDF2_ITERATIONS=1000
# Refresh tokens live 2 minutes (8 s in --quick) and the store is flushed of expired ones
# every 5 s (2 s), so the flush deletes while the load goes on and the store stays
# bounded; the workload drops pooled tokens older than half their lifetime unsent.
export TOLLGATE_REFRESH_TOKEN_LIFETIME="${refresh_lifetime}s" TOLLGATE_ACCESS_TOKEN_LIFETIME=10m
export TOLLGATE_FLUSH_EXPIRED_INTERVAL="${flush_every}s" SOAK_MAX_AGE=$((refresh_lifetime / 2))
for i in $(seq 0 $((users - 1))); do
  "$bin" users add "soak$i" --password-stdin <<<"pw-soak$i" >/dev/null
done

start_tollgate soak
say "soak: $connections connections, $threads wrk threads, ${duration}s, RSS every ${sample}s"
samples="$work/rss.txt"
(
  while kill -0 "$server_pid" 2>/dev/null; do
    echo "$((SECONDS - started)) $(status_kib VmRSS) $(du -sk "$TOLLGATE_DATA_DIR" | cut -f1)"
    sleep "$sample"
  done
) >"$samples" &
sampler_pid=$!
export SOAK_USERS=$users
wrk_run mixed.lua / "$duration" "$work/wrk.txt"
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""
peak_kib="$(status_kib VmHWM)"
stop_server

bench_line="$(grep '^BENCH ' "$work/wrk.txt" || true)"
soak_line="$(grep '^SOAK ' "$work/wrk.txt" || true)"
if [[ -z $bench_line || -z $soak_line ]]; then
  echo "wrk did not finish properly:" >&2; cat "$work/wrk.txt" >&2; exit 1
fi
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<" $2"; }
requests="$(field requests "$bench_line")" duration_us="$(field duration_us "$bench_line")"
socket_errors="$(field socket_errors "$bench_line")" p99_us="$(field p99_us "$bench_line")"
ok="$(field ok "$soak_line")" client_errors="$(field client_errors "$soak_line")"
server_errors="$(field server_errors "$soak_line")"
rate="$(awk -v n="$requests" -v us="$duration_us" 'BEGIN { printf "%d", n / (us / 1e6) }')"

# Memory: RSS once warmed up against the last sample; the disk the same way.
# Warmed up: a fifth of the run, or two refresh lifetimes (the flush has then been
# deleting for a whole lifetime), whichever is later, but no later than half the run.
warm_at=$((duration / 5 > 2 * refresh_lifetime ? duration / 5 : 2 * refresh_lifetime))
warm_at=$((warm_at > duration / 2 ? duration / 2 : warm_at))
read -r warm_rss warm_disk < <(awk -v at="$warm_at" -v t0="$(head -1 "$samples" | cut -d' ' -f1)" \
  '$1 - t0 >= at { print $2, $3; exit }' "$samples")
read -r last_rss last_disk < <(tail -1 "$samples" | cut -d' ' -f2,3)
growth="$(awk -v a="$warm_rss" -v b="$last_rss" 'BEGIN { printf "%+.1f", 100 * (b - a) / a }')"
series="$(awk '{ printf "%s%.0f", (NR > 1 ? " " : ""), $2 / 1024 }' "$samples")"

report="$work/report.md"
{
  echo "Date: $(date -u +%Y-%m-%d). Machine: $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ { printf "%d GiB", $2 / 1048576 }' /proc/meminfo)."
  echo "Command: \`$command_line\` ($connections connections, $threads wrk threads, ${duration} s; refresh lifetime ${refresh_lifetime} s, flush every ${flush_every} s)."
  echo
  echo "| requests | req/s | p99 | 2xx | 4xx | 5xx | socket errors | RSS warmed up -> end (peak) | data folder warmed up -> end |"
  echo "|---|---|---|---|---|---|---|---|---|"
  echo "| $(thousands "$requests") | $(thousands "$rate") | $(fmt_us "$p99_us") | $(thousands "$ok") | $client_errors | $server_errors | $socket_errors | $(mib "$warm_rss") -> $(mib "$last_rss") MiB ($growth%; peak $(mib "$peak_kib") MiB) | $(mib "$warm_disk") -> $(mib "$last_disk") MiB |"
  echo
  echo "RSS every ${sample} s (MiB): $series"
} >"$report"
cat "$report"

failed=0
if ((client_errors + server_errors + socket_errors > 0)); then
  echo "soak: FAILED: errors the client did not cause" >&2; failed=1
fi
# Memory is judged on full runs only: 20 s is mostly warm-up (the store still grows
# until the first tokens expire), so --quick reports it without a verdict.
if ((duration >= 120)) && awk -v a="$warm_rss" -v b="$last_rss" 'BEGIN { exit !(b > 1.25 * a) }'; then
  echo "soak: FAILED: memory grew $growth% after warm-up" >&2; failed=1
fi
if ((ok == 0)); then
  echo "soak: FAILED: no request answered" >&2; failed=1
fi
if [[ $record == true && $failed == 0 ]]; then
  record_block BENCHMARKS.md "<!-- bench/soak.sh --record: begin -->" "<!-- bench/soak.sh --record: end -->" "$report"
  say "recorded in BENCHMARKS.md"
fi
exit "$failed"
