#!/usr/bin/env bash
# Load benchmark of the tollgate server with wrk. Results: BENCHMARKS.md, section
# "tollgate-server under load".
#
#   bench/load.sh            full run: 10 s per workload (about 1.5 min after the build)
#   bench/load.sh --quick    smoke test: 2 s per workload (under 30 s after the build)
#   bench/load.sh --record   full run, then writes the results block into BENCHMARKS.md
#
# Builds the release binary, installs wrk if missing (Debian package), and measures five
# rows at the same concurrency (64 connections, 2 wrk threads) against servers on
# 127.0.0.1 with fresh data folders:
#   login (PBKDF2 1,000,000 iterations, Django's default), login (1,000 iterations),
#   refresh with rotation (each request with its own unused refresh token), verify,
#   GET /api/me/.
# Per row: requests/s, p50/p99 latency, non-2xx answers (wrk and the server's /metrics),
# server CPU time (user + system) per answered request, server RSS afterwards; per
# server: peak RSS (VmHWM). Exits non-zero if any row had a non-2xx answer, a socket
# error or ran out of refresh tokens. Every wrk run is bounded by its duration; the
# servers are stopped on exit, whatever happens.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mode=full record=false
for arg in "$@"; do
  case "$arg" in
    --quick) mode=quick ;;
    --record) record=true ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: bench/load.sh [--quick] [--record]" >&2; exit 2 ;;
  esac
done
if [[ $mode == quick && $record == true ]]; then
  echo "--record records full runs only" >&2; exit 2
fi

connections=64
threads=2
if [[ $mode == quick ]]; then duration=2; else duration=10; fi
mint_duration=$((3 * duration)) # setup: logins that make the refresh workload's tokens
high_iterations=1000000         # Django 5.2's default
low_iterations=1000
probe_logins=$([[ $mode == quick ]] && echo 3 || echo 10) # sequential logins to time one hash
bench_user=bench
bench_password="bench-$RANDOM-$RANDOM-password"
command_line="bench/load.sh${1:+ $*}"
started=$SECONDS
say() { printf '== %s (%ss)\n' "$*" "$((SECONDS - started))" >&2; }

# --- build and tools -----------------------------------------------------------------
say "build: cargo build --release --locked -p tollgate-server --bin tollgate"
cargo build --release --locked -q -p tollgate-server --bin tollgate
bin="$root/target/release/tollgate"

if ! command -v wrk >/dev/null; then
  say "install wrk (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
for tool in curl python3 awk; do
  command -v "$tool" >/dev/null || { echo "bench/load.sh needs $tool" >&2; exit 1; }
done

# --- server lifecycle ------------------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench.XXXXXX")"
server_pid="" wrk_pid=""
stop_server() {
  [[ -n $server_pid ]] || return 0
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
cleanup() {
  if [[ -n $wrk_pid ]]; then kill -TERM "$wrk_pid" 2>/dev/null || true; wait "$wrk_pid" 2>/dev/null || true; fi
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Only the settings below: no TOLLGATE_* from the caller, and the servers run in the work
# folder, where there is no tollgate.toml.
while read -r name; do unset "$name"; done < <(compgen -e | grep '^TOLLGATE_' || true)
export TOLLGATE_SIGNING_KEY
TOLLGATE_SIGNING_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')" # 64 chars
export TOLLGATE_LOGIN_THROTTLE_USERNAME=1000000000/s TOLLGATE_LOGIN_THROTTLE_IP=1000000000/s
clk_tck="$(getconf CLK_TCK)"

# start_server NAME ITERATIONS: a fresh data folder with the benchmark user (added with
# the CLI first: sled allows one process per folder), then `tollgate serve` on a free port.
start_server() {
  local name="$1" iterations="$2"
  export TOLLGATE_DATA_DIR="$work/data-$name" TOLLGATE_PBKDF2_ITERATIONS="$iterations"
  (cd "$work" && "$bin" users add "$bench_user" --password-stdin <<<"$bench_password" >/dev/null)
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  base="http://127.0.0.1:$port"
  (cd "$work" && exec "$bin" serve --bind "127.0.0.1:$port" --no-demo-user) >"$work/server-$name.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -fs -o /dev/null "$base/healthz" && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "the server did not come up; its log:" >&2
  cat "$work/server-$name.log" >&2
  exit 1
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; } # utime + stime
status_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$server_pid/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# Waits until the server's CPU time stops moving (answers to requests wrk abandoned at
# the end of its run are still being computed), at most 20 s.
wait_idle() {
  local prev cur
  prev="$(cpu_ticks)"
  for _ in $(seq 1 100); do
    sleep 0.2
    cur="$(cpu_ticks)"
    [[ $cur == "$prev" ]] && return 0
    prev="$cur"
  done
}

# served ROUTE: "<answers> <non-2xx answers>" so far, from the server's /metrics.
served() {
  curl -fs "$base/metrics" | awk -v route="route=\"$1\"" '
    $1 ~ /^tollgate_requests_total\{/ && index($1, route) {
      all += $2; if ($1 !~ /status="2[0-9][0-9]"/) bad += $2 }
    END { printf "%d %d\n", all, bad }'
}
reuse_detections() { curl -fs "$base/metrics" | awk '$1 == "tollgate_reuse_detections_total" { print $2 }'; }

# wrk_run LUA PATH DURATION OUTPUT (in the background, so that the exit trap can stop it)
wrk_run() {
  BENCH_LUA="$root/bench/lua" wrk -t"$threads" -c"$connections" -d"$3s" --timeout 30s \
    --latency -s "$root/bench/lua/$1" "$base$2" >"$4" &
  wrk_pid=$!
  wait "$wrk_pid"
  wrk_pid=""
}

# --- measuring -------------------------------------------------------------------------
export BENCH_USER="$bench_user" BENCH_PASSWORD="$bench_password" BENCH_THREADS="$threads"
rows=()   # Markdown table rows
failed=() # rows that had errors

# workload LABEL LUA PATH ROUTE: one measured wrk run, appended to `rows`.
workload() {
  local label="$1" lua="$2" path="$3" route="$4" out="$work/wrk-$2-${#rows[@]}.txt"
  say "workload: $label (${duration} s)"
  local cpu0 served0 reuse0 cpu1 served1 reuse1
  cpu0="$(cpu_ticks)"; served0="$(served "$route")"; reuse0="$(reuse_detections)"
  wrk_run "$lua" "$path" "$duration" "$out"
  wait_idle
  cpu1="$(cpu_ticks)"; served1="$(served "$route")"; reuse1="$(reuse_detections)"
  grep -q '^BENCH ' "$out" || { cat "$out" >&2; echo "wrk printed no result" >&2; exit 1; }
  local requests duration_us p50 p99 status_errors socket_errors exhausted
  read -r requests duration_us p50 p99 status_errors socket_errors exhausted < <(
    awk '$1 == "BENCH" { for (i = 2; i <= NF; i++) { sub(/^[a-z0-9_]*=/, "", $i); printf "%s ", $i }; print "" }' "$out")
  local answered=$((${served1% *} - ${served0% *})) non2xx=$((${served1#* } - ${served0#* }))
  local reuse=$((reuse1 - reuse0))
  local rps cpu_us rss
  rps="$(awk -v n="$requests" -v us="$duration_us" 'BEGIN { printf "%.0f", n / (us / 1e6) }')"
  cpu_us="$(awk -v t=$((cpu1 - cpu0)) -v hz="$clk_tck" -v n="$answered" \
    'BEGIN { if (n > 0) printf "%.0f", t / hz * 1e6 / n; else print "n/a" }')"
  rss="$(mib "$(status_kib VmRSS)")"
  local notes=""
  ((answered == 0)) && notes+="; the server's /metrics counted no $route answers"
  ((reuse > 0)) && notes+="; reuse detections: $reuse"
  ((exhausted > 0)) && notes+="; ran out of refresh tokens"
  if ((status_errors + socket_errors + non2xx + reuse + exhausted > 0 || answered == 0)); then
    failed+=("$label: wrk: $status_errors HTTP >= 400, $socket_errors socket errors; server: $non2xx non-2xx$notes")
  fi
  last_cpu_us=$cpu_us last_requests=$requests
  rows+=("| $label | $(thousands "$rps") | $(fmt_us "$p50") | $(fmt_us "$p99") | $(thousands "$requests") | $(thousands "$non2xx") / $(thousands "$status_errors") | $socket_errors | $(thousands "$cpu_us") | $rss |")
  printf '   %s req/s, p50 %s, p99 %s, %s requests, non-2xx %s, socket errors %s, %s µs CPU/request, RSS %s MiB%s\n' \
    "$rps" "$(fmt_us "$p50")" "$(fmt_us "$p99")" "$requests" "$non2xx" "$socket_errors" "$cpu_us" "$rss" "$notes" >&2
}
fmt_us() { awk -v us="$1" 'BEGIN {
  if (us >= 1e6) printf "%.2f s", us / 1e6; else if (us >= 1e3) printf "%.2f ms", us / 1e3; else printf "%d µs", us }'; }
thousands() { sed ':a; s/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/; ta' <<<"$1"; }

# Server 1: Django's default iteration count. A few sequential logins first (after one
# warm-up) give the server CPU time of one login, which is essentially one hash.
say "server 1: PBKDF2 $high_iterations iterations"
start_server high "$high_iterations"
login_body="{\"username\":\"$bench_user\",\"password\":\"$bench_password\"}"
login_once() {
  curl -fs -o /dev/null -w '%{time_total}\n' -X POST "$base/api/token/" \
    -H 'Content-Type: application/json' -d "$login_body"
}
login_once >/dev/null || { echo "the warm-up login failed" >&2; exit 1; }
cpu0="$(cpu_ticks)"
probe_wall="$(for _ in $(seq 1 "$probe_logins"); do login_once; done | sort -n |
  awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] * 1000 }')"
cpu1="$(cpu_ticks)"
login_cpu_ms_high="$(awk -v t=$((cpu1 - cpu0)) -v hz="$clk_tck" -v n="$probe_logins" \
  'BEGIN { printf "%.1f", t / hz * 1000 / n }')"
say "one login at $high_iterations iterations: ${login_cpu_ms_high} ms CPU, ${probe_wall} ms wall (median of $probe_logins sequential)"
workload "login, PBKDF2 $(thousands $high_iterations) iterations" login.lua /api/token/ token_obtain
peak_high="$(mib "$(status_kib VmHWM)")"
stop_server

# Server 2: a low iteration count, then the token workloads on the same server.
say "server 2: PBKDF2 $low_iterations iterations"
start_server low "$low_iterations"
workload "login, PBKDF2 $(thousands $low_iterations) iterations" login.lua /api/token/ token_obtain
login_cpu_us_low=$last_cpu_us

say "setup: refresh tokens for the refresh workload (logins for ${mint_duration} s, not measured)"
export BENCH_TOKENS="$work/refresh-tokens"
wrk_run mint.lua /api/token/ "$mint_duration" "$work/wrk-mint.txt"
wait_idle
cat "$BENCH_TOKENS".* >"$BENCH_TOKENS"
minted="$(wc -l <"$BENCH_TOKENS")"
say "setup: $minted unused refresh tokens"
workload "refresh with rotation, an unused token each" refresh.lua /api/token/refresh/ token_refresh
refresh_used=$last_requests

BENCH_ACCESS="$(curl -fs -X POST "$base/api/token/" -H 'Content-Type: application/json' \
  -d "$login_body" | python3 -c 'import json, sys; print(json.load(sys.stdin)["access"])')"
export BENCH_ACCESS
workload "verify (one access token)" verify.lua /api/token/verify/ token_verify
workload "GET /api/me/ (Bearer)" me.lua /api/me/ me
peak_low="$(mib "$(status_kib VmHWM)")"
stop_server

# --- report ----------------------------------------------------------------------------
hash_ms="$(awk -v hi="$login_cpu_ms_high" -v lo="$login_cpu_us_low" \
  -v n=$high_iterations -v m=$low_iterations 'BEGIN { printf "%.0f", (hi - lo / 1000) * n / (n - m) }')"
hash_us_low="$(awk -v h="$hash_ms" -v n=$high_iterations -v m=$low_iterations 'BEGIN { printf "%.0f", h * 1000 * m / n }')"
cpu_model="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
mem_gib="$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)"
report="$work/report.md"
{
  echo "Date: $(date -u +%Y-%m-%d). Machine: $(nproc) cores ($cpu_model), ${mem_gib} GiB;"
  echo "$(rustc --version | cut -d' ' -f1-2), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)."
  echo "Command: \`$command_line\` ($mode mode: $connections connections, $threads wrk threads,"
  echo "$duration s per row; wrk and the server share the cores)."
  echo
  echo "| workload | requests/s | p50 | p99 | requests | non-2xx (server / wrk) | socket errors | server CPU per request (µs) | server RSS after (MiB) |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Peak RSS (VmHWM): server 1 (login at $(thousands $high_iterations) iterations) $peak_high MiB;"
  echo "server 2 (the other rows) $peak_low MiB. Setup for the refresh row: $(thousands "$minted") logins"
  echo "(${mint_duration} s), the refresh row used $(thousands "$refresh_used") of their refresh tokens."
  echo "One PBKDF2-SHA256 hash of $(thousands $high_iterations) iterations costs $hash_ms ms of CPU"
  echo "(server CPU per sequential login: $login_cpu_ms_high ms, median wall time $probe_wall ms, over"
  echo "$probe_logins logins; minus the login cost at $(thousands $low_iterations) iterations), so"
  echo "$(thousands $low_iterations) iterations cost about $hash_us_low µs."
} >"$report"
echo
cat "$report"

if [[ $record == true ]]; then
  begin='<!-- bench/load.sh --record: begin -->' end='<!-- bench/load.sh --record: end -->'
  if ! grep -qxF "$begin" BENCHMARKS.md || ! grep -qxF "$end" BENCHMARKS.md; then
    echo "BENCHMARKS.md has no $begin ... $end block" >&2; exit 1
  fi
  awk -v begin="$begin" -v end="$end" -v report="$report" '
    $0 == begin { print; while ((getline line < report) > 0) print line; skip = 1; next }
    $0 == end { skip = 0 }
    !skip' BENCHMARKS.md >"$work/BENCHMARKS.md"
  cat "$work/BENCHMARKS.md" >BENCHMARKS.md
  say "recorded in BENCHMARKS.md"
fi

say "done"
if ((${#failed[@]} > 0)); then
  echo "FAILED: rows with errors:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  for log in "$work"/server-*.log; do echo "--- last lines of $log" >&2; tail -n 20 "$log" >&2; done
  exit 1
fi
