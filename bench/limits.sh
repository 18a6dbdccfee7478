#!/usr/bin/env bash
# tollgate against the HTTP stack's own limit: `GET /api/me/` (Bearer) and verify beside a
# bare warp route answering a tiny JSON body (`server/examples/bare_warp.rs`: the same warp,
# hyper and tokio, the same runtime setup), in one run. Results: BENCHMARKS.md,
# "tollgate against a bare warp route (bench/limits.sh)".
#
#   bench/limits.sh               full run: 3 rounds of 10 s per row, then 2,000 requests
#                                 per row under callgrind and under strace (about 6 minutes
#                                 after the build)
#   bench/limits.sh --quick       smoke test: 1 round of 2 s, 200 requests per row
#   bench/limits.sh --rounds N    another number of rounds (odd is best: medians)
#   bench/limits.sh --requests N  another number of requests per row under callgrind/strace
#   bench/limits.sh --record      full run, then writes the results block into BENCHMARKS.md
#   TOLLGATE_CURRENT_BIN=PATH     that tollgate binary instead of building one
#   TOLLGATE_BARE_BIN=PATH        that bare_warp binary (with both given, nothing is built)
#
# Builds the release binary and the example (`cargo build --release -p tollgate-server
# --bin tollgate --example bare_warp`), installs wrk and strace if missing (Debian). Starts
# `tollgate serve` (a fresh data folder with the benchmark user, a random HS256 key, the
# defaults, login throttles raised: bench/lib.sh's settings) and the bare route, both up for
# the whole run, and measures at bench/load.sh's concurrency (64 connections, 2 wrk threads)
#   me      GET /api/me/ with `Authorization: Bearer` an access token (bench/lua/me.lua)
#   verify  POST /api/token/verify/ with that token (bench/lua/verify.lua)
#   bare    GET /bare/ on the bare route, with the same Authorization header (me.lua: the
#           same request bytes but the path; the route ignores the header)
#   barepost  POST /bare/ on the bare route with verify's body (verify.lua), which the
#           route reads whole through hyper's body channel and answers `{}`: the HTTP
#           stack's own share of a request with a body, for verify
# in rounds, the order of the rows rotating from round to round (this machine's speed
# drifts over minutes). Per row and round: requests/s (wrk), the server's CPU time per
# answer (user + system from /proc over wrk's completed requests, read once the server is
# idle), and the ratios to the bare row of the same round; then the medians.
# Then, steadier on a loaded machine, one request at a time on one keep-alive connection
# (a python3 client that sends each request in one write, as wrk does; 20 warm-up
# requests per row first, not measured):
#   - instructions per answer: each server again under `valgrind --tool=callgrind`
#     (tollgate on a fresh data folder with the same key and user), the counters zeroed and
#     dumped around each row (`callgrind_control`, as bench/instructions.sh does); user
#     space only, every thread;
#   - system calls per answer: `strace -c -f` attached to the servers of the wrk rounds
#     for each row (as bench/syscalls.sh does), by name.
# The goal (issue #19: /api/me/ and verify at least 80% of the bare route) is read from
# the ratio of CPU per answer, bare (the GET row, the issue's reference) / tollgate (the
# rate the server would have if it were alone on its cores, its CPU the bound); for
# verify the ratio to the bare POST row is printed too. The requests/s ratio, which
# wrk's share of the 2 cores and the machine's load move, is printed beside them. Exits non-zero if an answer
# was not 2xx or a socket failed, never for a missed goal. Servers stop on exit; the work
# folder is removed (the callgrind dumps too).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command_line="bench/limits.sh$(printf ' %q' "$@")"

usage() {
  echo "usage: bench/limits.sh [--quick] [--rounds N] [--requests N] [--record]" >&2
  exit 2
}
mode=full record=false rounds="" count=""
while (($# > 0)); do
  case "$1" in
    --quick) mode=quick ;;
    --record) record=true ;;
    --rounds | --requests)
      (($# >= 2)) || usage
      if [[ $1 == --rounds ]]; then rounds=$2; else count=$2; fi
      shift ;;
    -h | --help) sed -n '2,48p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) usage ;;
  esac
  shift
done
if [[ $mode == quick && $record == true ]]; then
  echo "--record records full runs only" >&2; exit 2
fi
if [[ $mode == quick ]]; then
  duration=2 rounds=${rounds:-1} count=${count:-200}
else
  duration=10 rounds=${rounds:-3} count=${count:-2000}
fi
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "--rounds takes a whole number from 1" >&2; exit 2; }
[[ $count =~ ^[1-9][0-9]*$ ]] || { echo "--requests takes a whole number from 1" >&2; exit 2; }
current_bin="${TOLLGATE_CURRENT_BIN:-}" bare_bin="${TOLLGATE_BARE_BIN:-}"
[[ -z $current_bin ]] || current_bin="$(realpath "$current_bin")"
[[ -z $bare_bin ]] || bare_bin="$(realpath "$bare_bin")"
cd "$root"
started=$SECONDS
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
row_settings

# --- builds and tools ------------------------------------------------------------------
target_dir="$(realpath -m "${CARGO_TARGET_DIR:-$root/target}")"
if [[ -z $current_bin || -z $bare_bin ]]; then
  say "build: cargo build --release --locked -p tollgate-server --bin tollgate --example bare_warp"
  cargo build --release --locked -q -p tollgate-server --bin tollgate --example bare_warp
fi
bin="${current_bin:-$target_dir/release/tollgate}"
bare_bin="${bare_bin:-$target_dir/release/examples/bare_warp}"
ensure_wrk
command -v strace >/dev/null || {
  say "install strace (apt-get)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null
}
for tool in curl python3 awk valgrind callgrind_control; do
  command -v "$tool" >/dev/null || { echo "bench/limits.sh needs $tool" >&2; exit 1; }
done

make_work tollgate-limits
only_bench_settings
TOLLGATE_SIGNING_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
export TOLLGATE_SIGNING_KEY

# start_bare: the bare route on a free port (warp's 404 to /healthz tells wait_up it is up).
start_bare() {
  server_kind=bare server_name=bare server_log="$work/server-bare.log"
  local port
  port="$(free_port)"
  base="http://127.0.0.1:$port"
  (cd "$work" && MALLOC_ARENA_MAX=2 exec "$bare_bin" "127.0.0.1:$port") >"$server_log" 2>&1 &
  server_pid=$!
  wait_up
}

tollgate_data main "$iterations"
start_tollgate main
access_token
export BENCH_ACCESS="${access[tollgate]}"
park
start_bare
park

# --- rows under wrk, taking turns ------------------------------------------------------
declare -A rps cpu p99 row_path=([me]=/api/me/ [verify]=/api/token/verify/ [bare]=/bare/ [barepost]=/bare/)
declare -A row_lua=([me]=me.lua [verify]=verify.lua [bare]=me.lua [barepost]=verify.lua)
declare -A row_server=([me]=tollgate [verify]=tollgate [bare]=bare [barepost]=bare)
declare -A row_method=([me]=GET [verify]=POST [bare]=GET [barepost]=POST)
declare -A row_label=([me]="GET /api/me/ (Bearer)" [verify]="verify (one access token)"
  [bare]="bare warp route, tiny JSON" [barepost]="bare warp route, POST body read, {}")
failed=()
# limit_row ROW: one wrk run of ROW against its server; results under ROW_rROUND.
limit_row() {
  local row=$1 key="$1_r$round" out="$work/wrk-$1-r$round.txt"
  say "round $round: ${row_label[$row]} (${duration} s)"
  local cpu0 cpu1
  cpu0="$(cpu_ticks)"
  wrk_run "${row_lua[$row]}" "${row_path[$row]}" "$duration" "$out"
  wait_idle
  cpu1="$(cpu_ticks)"
  grep -q '^BENCH ' "$out" || { cat "$out" >&2; echo "wrk printed no result" >&2; exit 1; }
  local n us l50 l99 status_errors socket_errors exhausted
  read -r n us l50 l99 status_errors socket_errors exhausted < <(
    awk '$1 == "BENCH" { for (i = 2; i <= NF; i++) { sub(/^[a-z0-9_]*=/, "", $i); printf "%s ", $i }; print "" }' "$out")
  rps[$key]="$(awk -v n="$n" -v us="$us" 'BEGIN { printf "%.0f", n / (us / 1e6) }')"
  cpu[$key]="$(awk -v t=$((cpu1 - cpu0)) -v hz="$clk_tck" -v n="$n" 'BEGIN { printf "%.2f", (n > 0 ? t / hz * 1e6 / n : 0) }')"
  p99[$key]=$l99
  printf '   %s req/s, p99 %s, %s requests, %s µs CPU/answer\n' "${rps[$key]}" "$(fmt_us "$l99")" "$n" "${cpu[$key]}" >&2
  if ((status_errors + socket_errors > 0 || n == 0)); then
    failed+=("$key: wrk: $status_errors HTTP >= 400, $socket_errors socket errors, $n requests")
  fi
}
rows=(me verify bare barepost)
for round in $(seq "$rounds"); do
  for i in "${!rows[@]}"; do
    row=${rows[$(((i + round - 1) % ${#rows[@]}))]}
    resume "${row_server[$row]}"
    limit_row "$row"
    park
  done
done
load_wrk="$(cut -d' ' -f1 /proc/loadavg)"

# --- one request at a time: system calls (strace) and instructions (callgrind) ----------
cat >"$work/drive.py" <<'PY'
"""One keep-alive connection, one request at a time, each sent in one write (as wrk sends
it: http.client writes the head and the body apart, which the server then reads in two
system calls): 20 warm-up requests, then N measured between BEFORE and AFTER (commands
run with the shell); every answer must be a 200 with the expected body."""
import json, socket, subprocess, sys, time

port, method, path, n, access, before, after = sys.argv[1:]
n = int(n)
if method == "POST":
    body = json.dumps({"token": access}).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ok = lambda b: b.strip() == b"{}"
else:
    body = b""
    head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {access}\r\n\r\n"
    ok = lambda b: json.loads(b).get("username") in ("bench",)
request = head.encode() + body
s = socket.create_connection(("127.0.0.1", int(port)), timeout=300)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buf = b""


def answer():
    global buf
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit(f"{path}: connection closed")
        buf += chunk
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(l.split(":", 1)[1]) for l in lines[1:] if l.lower().startswith("content-length:"))
    while len(buf) < length:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit(f"{path}: connection closed")
        buf += chunk
    b, buf = buf[:length], buf[length:]
    return status, b


def run(count):
    bad = 0
    for _ in range(count):
        s.sendall(request)
        status, b = answer()
        bad += status != 200 or not ok(b)
    return bad


bad = run(20)
time.sleep(0.3)
subprocess.run(before, shell=True, check=True)
bad += run(n)
time.sleep(0.3)
subprocess.run(after, shell=True, check=True)
if bad:
    sys.exit(f"{method} {path}: {bad} answers not 200 with the expected body")
PY

declare -A calls instructions syscall_top
# strace_row ROW: system calls per answer of ROW's server (the one of the wrk rounds).
strace_row() {
  local row=$1 port
  resume "${row_server[$row]}"
  port="${base##*:}"
  say "strace: ${row_label[$row]}, $(thousands "$count") requests, one at a time"
  python3 "$work/drive.py" "$port" "${row_method[$row]}" "${row_path[$row]}" "$count" "$BENCH_ACCESS" \
    "strace -c -f -o '$work/strace-$row' -p $server_pid 2>/dev/null & echo \$! >'$work/strace-$row.pid'; sleep 1" \
    "kill -INT \$(cat '$work/strace-$row.pid'); while kill -0 \$(cat '$work/strace-$row.pid') 2>/dev/null; do sleep 0.1; done" ||
    failed+=("strace $row: not every answer was a 200 with the expected body")
  park
  calls[$row]="$(awk -v n="$count" '$NF == "total" { printf "%.2f", $4 / n }' "$work/strace-$row")"
  syscall_top[$row]="$(awk -v n="$count" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
      printf "%s %.2f\n", $NF, $4 / n }' "$work/strace-$row" |
    sort -k2 -rn | head -n 6 | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }')"
  say "   ${calls[$row]} system calls per answer (${syscall_top[$row]})"
}
for row in "${rows[@]}"; do strace_row "$row"; done

# callgrind_rows NAME ROW...: the server NAME again under callgrind, each ROW measured.
callgrind_rows() {
  local name=$1 port pid_file="$work/cg-$1.pid"
  shift
  port="$(free_port)"
  if [[ $name == tollgate ]]; then
    tollgate_data cg "$iterations"
    (cd "$work" && exec valgrind --tool=callgrind --callgrind-out-file="$work/cg-$name.out" \
      --dump-instr=no "$bin" serve --bind "127.0.0.1:$port" --no-demo-user) >"$work/cg-$name.log" 2>&1 &
  else
    (cd "$work" && MALLOC_ARENA_MAX=2 exec valgrind --tool=callgrind --callgrind-out-file="$work/cg-$name.out" \
      --dump-instr=no "$bare_bin" "127.0.0.1:$port") >"$work/cg-$name.log" 2>&1 &
  fi
  local pid=$!
  echo "$pid" >"$pid_file"
  server_kind=$name server_pid=$pid base="http://127.0.0.1:$port" server_log="$work/cg-$name.log"
  wait_up
  local row dumps=0
  for row in "$@"; do
    say "callgrind: ${row_label[$row]}, $(thousands "$count") requests, one at a time"
    dumps=$((dumps + 1))
    python3 "$work/drive.py" "$port" "${row_method[$row]}" "${row_path[$row]}" "$count" "$BENCH_ACCESS" \
      "callgrind_control -z $pid >/dev/null 2>&1" "callgrind_control -d $row $pid >/dev/null 2>&1" ||
      failed+=("callgrind $row: not every answer was a 200 with the expected body")
    local dump="$work/cg-$name.out.$dumps"
    for _ in $(seq 600); do grep -q '^totals:' "$dump" 2>/dev/null && break; sleep 0.1; done
    instructions[$row]="$(awk -v n="$count" '$1 == "totals:" { printf "%.0f", $2 / n }' "$dump")"
    say "   $(thousands "${instructions[$row]}") instructions per answer"
  done
  stop_server
  rm -rf "$work/data-cg"
}
callgrind_rows tollgate me verify
callgrind_rows bare bare barepost

# --- report ------------------------------------------------------------------------------
values() { # values ARRAY ROW: the row's figure in each round, one a line
  local -n a=$1
  local r
  for r in $(seq "$rounds"); do echo "${a[${2}_r$r]}"; done
}
med() { values "$1" "$2" | median; }
# ratios ARRAY ROW INVERT: ROW / bare per round (INVERT=1: bare / ROW), one a line.
ratios() {
  paste <(values "$1" "$2") <(values "$1" bare) |
    awk -v inv="$3" '{ if (inv) printf "%.3f\n", ($1 > 0 ? $2 / $1 : 0); else printf "%.3f\n", ($2 > 0 ? $1 / $2 : 0) }'
}
report="$work/report.md"
{
  echo "Date: $(date -u +%Y-%m-%d). Machine: $(machine); rustc $(rustc --version | cut -d' ' -f2), $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2), $(valgrind --version), $(strace -V | head -n1)."
  echo "Command: \`$command_line\` ($rounds round(s) of $duration s per row, the order of the rows rotating;"
  echo "$connections connections, $threads wrk threads; wrk and the server share the cores). Load average (1 min)"
  echo "after the wrk rounds: $load_wrk; at the end: $(cut -d' ' -f1 /proc/loadavg)."
  echo
  echo "| row | round | requests/s | p99 | server CPU per answer (µs) | requests/s / bare | CPU per answer, bare / row |"
  echo "|---|---|---|---|---|---|---|"
  for r in $(seq "$rounds"); do
    for row in "${rows[@]}"; do
      k="${row}_r$r"
      echo "| ${row_label[$row]} | $r | $(thousands "${rps[$k]}") | $(fmt_us "${p99[$k]}") | ${cpu[$k]} |" \
        "$(awk -v a="${rps[$k]}" -v b="${rps[bare_r$r]}" 'BEGIN { printf "%.3f", a / b }') |" \
        "$(awk -v a="${cpu[$k]}" -v b="${cpu[bare_r$r]}" 'BEGIN { printf "%.3f", b / a }') |"
    done
  done
  echo
  echo "Medians over the rounds, and one request at a time ($(thousands "$count") per row after 20 not measured):"
  echo
  echo "| row | requests/s | CPU per answer (µs) | **requests/s / bare** | **CPU per answer, bare / row** | instructions per answer | bare / row | system calls per answer | the most frequent |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for row in "${rows[@]}"; do
    echo "| ${row_label[$row]} | $(thousands "$(med rps "$row")") | $(med cpu "$row") |" \
      "$(ratios rps "$row" 0 | median) |" \
      "$(ratios cpu "$row" 1 | median) |" \
      "$(thousands "${instructions[$row]}") |" \
      "$(awk -v a="${instructions[$row]}" -v b="${instructions[bare]}" 'BEGIN { printf "%.3f", b / a }') |" \
      "${calls[$row]} | ${syscall_top[$row]} |"
  done
  echo
  echo "Ratios: the median of the rounds' own ratios, to the bare GET row. The goal (issue #19: at least 0.80 of"
  echo "the bare route) is read from CPU per answer, bare / row:"
  for row in me verify; do
    m="$(ratios cpu "$row" 1 | median)"
    verdict="$(awk -v m="$m" 'BEGIN { print (m >= 0.8) ? "**met**" : "not met" }')"
    echo "- ${row_label[$row]}: $verdict ($m of the bare route's CPU per answer; requests/s $(ratios rps "$row" 0 | median), instructions $(awk -v a="${instructions[$row]}" -v b="${instructions[bare]}" 'BEGIN { printf "%.3f", b / a }'))."
  done
  echo "- verify against the bare POST row (the same request, its body read by the bare route):" \
    "$(paste <(values cpu verify) <(values cpu barepost) | awk '{ printf "%.3f\n", ($1 > 0 ? $2 / $1 : 0) }' | median)" \
    "of its CPU per answer; instructions $(awk -v a="${instructions[verify]}" -v b="${instructions[barepost]}" 'BEGIN { printf "%.3f", b / a }')."
} >"$report"
echo
cat "$report"
if [[ $record == true ]]; then
  record_block BENCHMARKS.md '<!-- bench/limits.sh --record: begin -->' '<!-- bench/limits.sh --record: end -->' "$report"
  say "recorded in BENCHMARKS.md"
fi
report_failed
say "done"
