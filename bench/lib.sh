# shellcheck shell=bash disable=SC2034,SC2154  # sourced: the caller sets and reads the shared variables
# Helpers of bench/load.sh (sourced): starting and stopping one server at a time (tollgate or
# the Simple JWT peer), reading its CPU time and memory from /proc, running wrk, formatting.
#
# Expects from the caller: $root (the repository), $work (a scratch folder), $threads and
# $connections (wrk), and for Simple JWT $peer_python (bench/.venv's python).
#
# The current server: $server_kind (tollgate | simplejwt), $server_pid (tollgate, or
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

server_kind="" server_pid="" base="" server_log="" wrk_pid=""

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
  server_kind=tollgate server_log="$work/server-$1.log"
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
  server_kind=simplejwt server_log="$work/server-$1.log"
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
