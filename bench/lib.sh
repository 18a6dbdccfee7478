# shellcheck shell=bash disable=SC2034,SC2154,SC2004  # sourced: the caller sets and reads the shared variables (and declares the result arrays)
# Helpers of bench/load.sh, bench/compare.sh and bench/soak.sh (sourced): starting and
# stopping servers (tollgate or the Simple JWT peer), several up at once taking turns,
# reading their CPU time and memory from /proc, running wrk, the measured rows, formatting.
#
# Expects from the caller: $root (the repository), $work (a scratch folder), $threads and
# $connections (wrk), and for Simple JWT $peer_python (bench/.venv's python). For the
# measured rows (workload and the *_row helpers) also $duration, $mint_duration, the
# benchmark user ($bench_user, $bench_email, $bench_password), the associative arrays
# rps p50 p99 requests non2xx cpu_us rss_after and labels, and the array failed.
#
# The current server: $server_kind (tollgate | simplejwt), $server_name (what its results,
# files and messages are named by: its kind unless the caller renames it, as
# bench/compare.sh does with "baseline" and "current"), $server_pid (tollgate, or
# gunicorn's master), $base (http://127.0.0.1:PORT), $server_log.

say() { printf '== %s (%ss)\n' "$*" "$((SECONDS - started))" >&2; }
fmt_us() { awk -v us="$1" 'BEGIN {
  if (us >= 1e6) printf "%.2f s", us / 1e6; else if (us >= 1e3) printf "%.2f ms", us / 1e3; else printf "%d µs", us }'; }
thousands() { sed ':a; s/\([0-9]\)\([0-9]\{3\}\)\($\|,\|\.\)/\1,\2\3/; ta' <<<"$1"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
clk_tck="$(getconf CLK_TCK)"

# build_release: the release binary, in $bin.
build_release() {
  say "build: cargo build --release --locked -p tollgate-server --bin tollgate"
  cargo build --release --locked -q -p tollgate-server --bin tollgate
  bin="$root/target/release/tollgate"
}

# ensure_wrk: installs wrk (Debian package) if it is missing.
ensure_wrk() {
  command -v wrk >/dev/null && return 0
  say "install wrk (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
}

# only_bench_settings: no TOLLGATE_* from the caller's environment (the servers also run
# in the work folder, where there is no tollgate.toml), login throttles raised.
only_bench_settings() {
  local name
  while read -r name; do unset "$name"; done < <(compgen -e | grep '^TOLLGATE_' || true)
  export TOLLGATE_LOGIN_THROTTLE_USERNAME=1000000000/s TOLLGATE_LOGIN_THROTTLE_IP=1000000000/s
}

server_kind="" server_name="" server_pid="" base="" server_log="" wrk_pid=""

# The server's processes: tollgate's one, or gunicorn's master and its workers.
server_pids() {
  echo "$server_pid"
  if [[ $server_kind == simplejwt ]]; then pgrep -P "$server_pid" || true; fi
}

# User + system CPU time (clock ticks) of the server so far. For gunicorn also the children
# the master has reaped (a worker that was restarted still counts).
cpu_ticks() {
  local pid total=0 t
  for pid in $(server_pids); do
    t="$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)"
    total=$((total + t))
  done
  if [[ $server_kind == simplejwt ]]; then
    t="$(awk '{ print $16 + $17 }' "/proc/$server_pid/stat")"
    total=$((total + t))
  fi
  echo "$total"
}

# status_kib FIELD: VmRSS or VmHWM (KiB), summed over the server's processes.
status_kib() {
  local pid total=0 v
  for pid in $(server_pids); do
    v="$(awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)"
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# Waits until the server's CPU time stops moving (answers to requests wrk abandoned at the
# end of its run are still being computed), at most 20 s.
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

wait_up() {
  for _ in $(seq 1 600); do
    # tollgate must answer its /healthz with a 2xx; the peer has no such route, any
    # answer (a 404) means it is up.
    if [[ $server_kind == tollgate ]]; then
      curl -fs -o /dev/null "$base/healthz" && return 0
    else
      curl -s -o /dev/null "$base/healthz" && return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "the $server_kind server did not come up; its log:" >&2
  cat "$server_log" >&2
  exit 1
}

# start_tollgate NAME: `tollgate serve` on a free port, data in $TOLLGATE_DATA_DIR (set up by
# the caller), settings from the caller's TOLLGATE_* variables.
start_tollgate() {
  server_kind=tollgate server_name=tollgate server_log="$work/server-$1.log"
  local port
  port="$(free_port)"
  base="http://127.0.0.1:$port"
  (cd "$work" && exec "$bin" serve --bind "127.0.0.1:$port" --no-demo-user) >"$server_log" 2>&1 &
  server_pid=$!
  wait_up
}

# start_simplejwt NAME SQLITE: gunicorn with 2 sync workers serving bench/simplejwt's
# project on a free port, one access log line per answer ("<path> <status>").
start_simplejwt() {
  server_kind=simplejwt server_name=simplejwt server_log="$work/server-$1.log"
  local port
  port="$(free_port)"
  base="http://127.0.0.1:$port"
  peer_access_log="$work/access-$1.log"
  : >"$peer_access_log"
  (cd "$root/bench/simplejwt" && BENCH_SQLITE="$2" exec "$(dirname "$peer_python")/gunicorn" \
    --workers 2 --bind "127.0.0.1:$port" --no-control-socket --log-level warning \
    --access-logfile "$peer_access_log" --access-logformat '%(U)s %(s)s' \
    peer.wsgi:application) >"$server_log" 2>&1 &
  server_pid=$!
  wait_up
}

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

# served PATH ROUTE: "<answers> <non-2xx answers> <reuse detections>" so far, from one
# read: tollgate's /metrics (by route), gunicorn's access log (by path; no reuse detection).
served() {
  if [[ $server_kind == tollgate ]]; then
    curl -fs "$base/metrics" | awk -v route="route=\"$2\"" '
      $1 ~ /^tollgate_requests_total\{/ && index($1, route) {
        all += $2; if ($1 !~ /status="2[0-9][0-9]"/) bad += $2 }
      $1 == "tollgate_reuse_detections_total" { reuse = $2 }
      END { printf "%d %d %d\n", all, bad, reuse }'
  else
    awk -v path="$1" '$1 == path { all++; if ($2 !~ /^2/) bad++ }
      END { printf "%d %d 0\n", all, bad }' "$peer_access_log"
  fi
}

# wrk_run LUA PATH DURATION OUTPUT (in the background, so that the exit trap can stop it)
wrk_run() {
  BENCH_LUA="$root/bench/lua" wrk -t"$threads" -c"$connections" -d"$3s" --timeout 30s \
    --latency -s "$root/bench/lua/$1" "$base$2" >"$4" &
  wrk_pid=$!
  wait "$wrk_pid"
  wrk_pid=""
}

# login_pair USER PASSWORD: the JSON body of one login.
login_pair() {
  curl -fs -X POST "$base/api/token/" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$2\"}"
}

# record_block FILE BEGIN END REPORT: replaces the lines between the markers BEGIN and END
# of FILE with the file REPORT.
record_block() {
  local file="$1" begin="$2" end="$3" report="$4"
  if ! grep -qxF "$begin" "$file" || ! grep -qxF "$end" "$file"; then
    echo "$file has no $begin ... $end block" >&2; return 1
  fi
  awk -v begin="$begin" -v end="$end" -v report="$report" '
    $0 == begin { print; while ((getline line < report) > 0) print line; skip = 1; next }
    $0 == end { skip = 0 }
    !skip' "$file" >"$work/record.tmp"
  cat "$work/record.tmp" >"$file"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# tollgate_data NAME ITERATIONS: a fresh data folder holding the benchmark user (added with
# the CLI of $bin, as an operator would; sled allows one process per folder, so before
# serving).
tollgate_data() {
  export TOLLGATE_DATA_DIR="$work/data-$1" TOLLGATE_PBKDF2_ITERATIONS="$2"
  (cd "$work" && "$bin" users add "$bench_user" --email "$bench_email" --password-stdin \
    <<<"$bench_password" >/dev/null)
}

# make_work NAME: $work, a new scratch folder; on exit wrk and every server, current or
# parked, are stopped and the folder removed.
make_work() {
  work="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
  trap 'stop_all; rm -rf "$work"' EXIT
  trap 'exit 130' INT TERM
}

# --- measured rows ---------------------------------------------------------------------
# cpu_us_precise: server CPU per answer to 0.01 µs (cpu_us is rounded to whole µs), for
# comparing two builds, whose fast rows cost 10 to 20 µs.
declare -A cpu_us_precise

# workload KEY LUA PATH ROUTE: one measured wrk run against the current server; results in
# the caller's arrays (see the top) under "$server_name:KEY", a row with errors in failed.
workload() {
  local key="$server_name:$1" lua="$2" path="$3" route="$4" out="$work/wrk-$server_name-$1.txt"
  say "$server_name: ${labels[$1]} (${duration} s)"
  local cpu0 cpu1 answered0 bad0 reuse0 answered1 bad1 reuse1
  # The answer counts outside the CPU window: reading /metrics costs the server a little.
  read -r answered0 bad0 reuse0 < <(served "$path" "$route"); cpu0="$(cpu_ticks)"
  wrk_run "$lua" "$path" "$duration" "$out"
  wait_idle
  cpu1="$(cpu_ticks)"; read -r answered1 bad1 reuse1 < <(served "$path" "$route")
  grep -q '^BENCH ' "$out" || { cat "$out" >&2; echo "wrk printed no result" >&2; exit 1; }
  local n duration_us l50 l99 status_errors socket_errors exhausted
  read -r n duration_us l50 l99 status_errors socket_errors exhausted < <(
    awk '$1 == "BENCH" { for (i = 2; i <= NF; i++) { sub(/^[a-z0-9_]*=/, "", $i); printf "%s ", $i }; print "" }' "$out")
  local answered=$((answered1 - answered0)) bad=$((bad1 - bad0)) reuse=$((reuse1 - reuse0))
  rps[$key]="$(awk -v n="$n" -v us="$duration_us" 'BEGIN { printf "%.0f", n / (us / 1e6) }')"
  cpu_us[$key]="$(awk -v t=$((cpu1 - cpu0)) -v hz="$clk_tck" -v n="$answered" \
    'BEGIN { if (n > 0) printf "%.0f", t / hz * 1e6 / n; else print "n/a" }')"
  cpu_us_precise[$key]="$(awk -v t=$((cpu1 - cpu0)) -v hz="$clk_tck" -v n="$answered" \
    'BEGIN { if (n > 0) printf "%.2f", t / hz * 1e6 / n; else print "n/a" }')"
  p50[$key]=$l50 p99[$key]=$l99 requests[$key]=$n non2xx[$key]="$bad / $status_errors"
  rss_after[$key]="$(mib "$(status_kib VmRSS)")"
  local notes=""
  ((answered == 0)) && notes+="; the server counted no $path answers"
  ((reuse > 0)) && notes+="; reuse detections: $reuse"
  ((exhausted > 0)) && notes+="; ran out of refresh tokens"
  if ((status_errors + socket_errors + bad + reuse + exhausted > 0 || answered == 0)); then
    failed+=("$key: wrk: $status_errors HTTP >= 400, $socket_errors socket errors; server: $bad non-2xx$notes")
  fi
  printf '   %s req/s, p50 %s, p99 %s, %s requests, non-2xx %s, socket errors %s, %s µs CPU/answer, RSS %s MiB%s\n' \
    "${rps[$key]}" "$(fmt_us "$l50")" "$(fmt_us "$l99")" "$n" "$bad" "$socket_errors" \
    "${cpu_us[$key]}" "${rss_after[$key]}" "$notes" >&2
}

# mint_tokens SUFFIX: logins for $mint_duration s (not measured), every refresh token kept in
# $BENCH_TOKENS for refresh.lua.
declare -A minted
mint_tokens() {
  export BENCH_TOKENS="$work/refresh-tokens-$server_name-$1"
  say "$server_name: setup: refresh tokens for the refresh workload (logins for ${mint_duration} s, not measured)"
  wrk_run mint.lua /api/token/ "$mint_duration" "$work/wrk-mint-$server_name-$1.txt"
  wait_idle
  cat "$BENCH_TOKENS".* >"$BENCH_TOKENS"
  minted[$server_name:$1]="$(wc -l <"$BENCH_TOKENS")"
}

# The rows of the token workloads, each against the current server; the argument (a
# suffix, "" for none) names the row and, for refresh, the tokens: refresh_row uses the
# tokens mint_tokens made for this server with the same suffix, verify_row and me_row the
# access token access_token got from it.
refresh_row() {
  export BENCH_TOKENS="$work/refresh-tokens-$server_name-$1"
  workload "refresh$1" refresh.lua /api/token/refresh/ token_refresh
}
declare -A access
access_token() {
  access[$server_name]="$(login_pair "$bench_user" "$bench_password" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access"])')"
}
verify_row() {
  export BENCH_ACCESS="${access[$server_name]}"
  workload "verify$1" verify.lua /api/token/verify/ token_verify
}
me_row() {
  export BENCH_ACCESS="${access[$server_name]}"
  workload "me${1:-}" me.lua /api/me/ me
}

# --- several servers up at once, taking turns ------------------------------------------
# park saves the current server's state (the globals above) under its name, resume NAME
# makes a parked one current again.
declare -A parked
park() { # a stopped server is forgotten
  [[ -z $server_pid ]] || parked[$server_name]="$server_kind|$server_pid|$base|$server_log|${peer_access_log:-}"
  server_kind="" server_name="" server_pid=""
}
resume() {
  IFS='|' read -r server_kind server_pid base server_log peer_access_log <<<"${parked[$1]}"
  server_name=$1
  unset "parked[$1]"
}
stop_parked() {
  local name
  for name in "${!parked[@]}"; do
    resume "$name"
    stop_server
  done
}
# stop_all (for an exit trap): wrk if it runs, the current server and the parked ones.
stop_all() {
  if [[ -n $wrk_pid ]]; then kill -TERM "$wrk_pid" 2>/dev/null || true; wait "$wrk_pid" 2>/dev/null || true; fi
  stop_server
  stop_parked
}

# --- report ----------------------------------------------------------------------------
# machine: "2 cores (model name), 24 GiB".
machine() {
  printf '%s cores (%s), %s GiB' "$(nproc)" "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
    "$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)"
}

# report_failed: returns 1 after listing the rows with errors (the array failed) and the
# last lines of the servers' logs, 0 if there were none.
report_failed() {
  ((${#failed[@]} > 0)) || return 0
  echo "FAILED: rows with errors:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  for log in "$work"/server-*.log; do echo "--- last lines of $log" >&2; tail -n 20 "$log" >&2; done
  return 1
}
