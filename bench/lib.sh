# shellcheck shell=bash disable=SC2034,SC2154,SC2004  # sourced: the caller sets and reads the shared variables (and declares the result arrays)
# Helpers of bench/load.sh, bench/compare.sh, bench/soak.sh and bench/postgres.sh (sourced):
# starting and stopping servers (tollgate, alone or as replicas on one database, or the
# Simple JWT peer), several up at once taking turns, reading their CPU time and memory (and
# their database's CPU time) from /proc, running wrk, the measured rows, formatting.
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
# gunicorn's master), $base (http://127.0.0.1:PORT), $server_log; $server_extra, the
# further replicas of a tollgate server on one database ("PID@BASE" words, start_replica),
# which wrk's load is split over and whose CPU time and answers count with the first's;
# $server_db, the pid of its PostgreSQL cluster's postmaster (the caller sets it), whose
# CPU time each row measures too (empty: none).

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
  bin="$(realpath -m "${CARGO_TARGET_DIR:-$root/target}")/release/tollgate"
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

server_kind="" server_name="" server_pid="" base="" server_log="" server_extra="" server_db=""
wrk_pid="" # wrk's pid, or the pids of the wrk processes of a run over several replicas

# The server's processes: tollgate's one (one per replica), or gunicorn's master and its
# workers.
server_pids() {
  local r
  echo "$server_pid"
  for r in $server_extra; do echo "${r%@*}"; done
  if [[ $server_kind == simplejwt ]]; then pgrep -P "$server_pid" || true; fi
}
# The server's base URLs: one, or one per replica.
server_bases() {
  local r
  echo "$base"
  for r in $server_extra; do echo "${r#*@}"; done
}

# tree_ticks PID: user + system CPU time (clock ticks) so far of a process, its children,
# and the children it has waited for (a gunicorn worker that was restarted, a PostgreSQL
# backend whose connection closed).
tree_ticks() {
  local pid total=0 t
  for pid in "$1" $(pgrep -P "$1" || true); do
    # Fields after the command name, which is in brackets and may hold spaces.
    t="$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null || echo 0)"
    total=$((total + ${t:-0}))
  done
  t="$(awk '{ sub(/^.*\) /, ""); print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0)"
  echo $((total + ${t:-0}))
}

# User + system CPU time (clock ticks) of the server so far: every replica, and for
# gunicorn its workers too, including reaped ones.
cpu_ticks() {
  local pid total=0
  for pid in "$server_pid" $(for r in $server_extra; do echo "${r%@*}"; done); do
    total=$((total + $(tree_ticks "$pid")))
  done
  echo "$total"
}

# The same for the server's PostgreSQL cluster (the postmaster and every backend and
# helper process), or nothing without one.
db_ticks() {
  [[ -z $server_db ]] || tree_ticks "$server_db"
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

# start_replica NAME: one more `tollgate serve` beside the current tollgate server, with
# the caller's TOLLGATE_* settings (the same database_url): from now on a replica of the
# current server (its CPU time and answers count with the first's, wrk's load is split
# over them; stop_server stops them all).
start_replica() {
  local first="$server_pid|$base|$server_log|$server_name"
  start_tollgate "$1"
  local added="$server_pid@$base"
  IFS='|' read -r server_pid base server_log server_name <<<"$first"
  server_extra+="${server_extra:+ }$added"
}

stop_server() {
  [[ -n $server_pid ]] || return 0
  local pid
  for pid in $(server_pids); do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for pid in "$server_pid" $(for r in $server_extra; do echo "${r%@*}"; done); do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  server_pid="" server_extra="" server_db=""
}

# served PATH ROUTE: "<answers> <non-2xx answers> <reuse detections> <database round trips>"
# so far, from one read: tollgate's /metrics (by route; every replica's summed; round trips:
# the counter tollgate_database_round_trips_total, "n/a" if a server has none), gunicorn's
# access log (by path; no reuse detection, no round trips).
served() {
  if [[ $server_kind == tollgate ]]; then
    local b
    for b in $(server_bases); do
      echo "@@server"
      curl -fs "$b/metrics" || true
    done | awk -v route="route=\"$2\"" '
      $1 == "@@server" { servers++ }
      $1 ~ /^tollgate_requests_total\{/ && index($1, route) {
        all += $2; if ($1 !~ /status="2[0-9][0-9]"/) bad += $2 }
      $1 == "tollgate_reuse_detections_total" { reuse += $2 }
      $1 ~ /^tollgate_database_round_trips_total($|\{)/ {
        trips += $2; if (!(servers in counted)) { counted[servers] = 1; counting++ } }
      END { printf "%d %d %d %s\n", all, bad, reuse, counting == servers ? sprintf("%d", trips) : "n/a" }'
  else
    awk -v path="$1" '$1 == path { all++; if ($2 !~ /^2/) bad++ }
      END { printf "%d %d 0 n/a\n", all, bad }' "$peer_access_log"
  fi
}

# wrk_run LUA PATH DURATION OUTPUT (in the background, so that the exit trap can stop it).
# Against several replicas (start_replica): one wrk per replica, started together, each
# with its share of the threads and connections (BENCH_THREAD_OFFSET numbers their threads
# after the previous ones', so refresh.lua's slices stay disjoint), their outputs in
# OUTPUT.1, OUTPUT.2, ... and in OUTPUT one BENCH line for all (wrk_merge).
wrk_run() {
  local bases i n
  mapfile -t bases < <(server_bases)
  n=${#bases[@]}
  if ((threads % n != 0 || connections % n != 0)); then
    echo "$threads wrk threads and $connections connections do not split evenly over $n replicas" >&2
    exit 1
  fi
  wrk_pid=""
  for i in "${!bases[@]}"; do
    BENCH_LUA="$root/bench/lua" BENCH_THREAD_OFFSET=$((i * threads / n)) \
      wrk -t$((threads / n)) -c$((connections / n)) -d"$3s" --timeout 30s \
      --latency -s "$root/bench/lua/$1" "${bases[i]}$2" >"$4$( ((n == 1)) || echo ".$((i + 1))")" &
    wrk_pid+="${wrk_pid:+ }$!"
  done
  local pid
  for pid in $wrk_pid; do wait "$pid"; done
  wrk_pid=""
  ((n == 1)) || wrk_merge "$4" "$n"
}

# wrk_merge OUTPUT N: the BENCH lines of OUTPUT.1 ... OUTPUT.N as one, in OUTPUT: requests
# and errors summed, the rate the sum of the rates (as duration_us), p50 and p99 the highest
# of the runs' (wrk prints percentiles, not its histogram; the runs are alike, one per
# replica, so the highest is close, and never flatters). No BENCH line if a run printed none.
wrk_merge() {
  local files=() i
  for i in $(seq "$2"); do files+=("$1.$i"); done
  awk -v runs="$2" '$1 == "BENCH" {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      seen++; n += v["requests"]; rate += v["requests"] / (v["duration_us"] / 1e6)
      if (v["p50_us"] > p50) p50 = v["p50_us"]
      if (v["p99_us"] > p99) p99 = v["p99_us"]
      status += v["status_errors"]; socket += v["socket_errors"]; exhausted += v["exhausted"] }
    END {
      if (seen != runs) exit
      printf "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d socket_errors=%d exhausted=%d\n",
        n, (rate > 0 ? n / rate * 1e6 : 0), p50, p99, status, socket, exhausted }' "${files[@]}" >"$1"
  # Else the runs' outputs, each line behind its file's name (so no line starts with BENCH).
  [[ -s $1 ]] || awk '{ print FILENAME ": " $0 }' "${files[@]}" >"$1"
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
# per_round ARRAY NAME ROW: the figure of server NAME's ROW in each of $rounds rounds (the
# rows of round R keyed ROW_rR: "current:verify_r2"), one a line.
per_round() {
  local -n figures=$1
  local round
  for round in $(seq "$rounds"); do echo "${figures[$2:${3}_r$round]}"; done
}
# figure ARRAY NAME ROW: the median over the rounds, as a table shows it (CPU times under
# 100 µs to 0.1 µs, latencies in their unit, round trips to 0.01).
figure() {
  local m
  m="$(per_round "$1" "$2" "$3" | median)"
  if [[ $m == n/a || -z $m ]]; then echo "n/a"
  elif [[ $1 == p50 || $1 == p99 ]]; then fmt_us "$m"
  elif [[ $1 == trips ]]; then printf '%.2f' "$m"
  elif [[ $1 == cpu_us_precise || $1 == db_cpu_us ]] && awk -v m="$m" 'BEGIN { exit !(m < 100) }'; then printf '%.1f' "$m"
  else thousands "$(printf '%.0f' "$m")"; fi
}
# ratio_of ARRAY NAME ROW NAME ROW: the median of the first (name, row) figure over the
# second's, and with more than one round the lowest and highest of the rounds' own ratios.
ratio_of() {
  local a b
  a="$(per_round "$1" "$2" "$3" | median)" b="$(per_round "$1" "$4" "$5" | median)"
  paste <(per_round "$1" "$2" "$3") <(per_round "$1" "$4" "$5") | awk -v a="$a" -v b="$b" '
    { if ($2 > 0) { r = $1 / $2; if (NR == 1 || r < lo) lo = r; if (NR == 1 || r > hi) hi = r } }
    END {
      if (b + 0 <= 0 || a == "n/a") { print "n/a"; exit }
      printf "**%.3f**", a / b
      if (NR > 1) printf " (%.3f to %.3f)", lo, hi
    }'
}

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
# row_settings: bench/load.sh's concurrency (64 connections, 2 wrk threads), PBKDF2 at
# 1,000 iterations, refresh tokens minted for 3 × the row's duration ($duration, set
# before), and the benchmark user, for the scripts that run its rows (compare.sh,
# postgres.sh).
row_settings() {
  connections=64
  threads=2
  mint_duration=$((3 * duration)) # setup: logins that make each refresh row's tokens
  iterations=1000
  bench_user=bench
  bench_email=bench@example.com
  bench_password="bench-$RANDOM-$RANDOM-password"
}

# cpu_us_precise: server CPU per answer to 0.01 µs (cpu_us is rounded to whole µs), for
# comparing two builds, whose fast rows cost 10 to 20 µs. db_cpu_us: the CPU time of the
# server's PostgreSQL cluster per answer (µs, to 0.01; "n/a" without one); trips: database
# round trips per answer (to 0.01; "n/a" unless every replica counts them).
declare -A cpu_us_precise db_cpu_us trips

# workload KEY LUA PATH ROUTE: one measured wrk run against the current server; results in
# the caller's arrays (see the top) under "$server_name:KEY", a row with errors in failed.
workload() {
  local key="$server_name:$1" lua="$2" path="$3" route="$4" out="$work/wrk-$server_name-$1.txt"
  say "$server_name: ${labels[$1]} (${duration} s)"
  local cpu0 cpu1 db0 db1 answered0 bad0 reuse0 trips0 answered1 bad1 reuse1 trips1
  # The answer counts outside the CPU window: reading /metrics costs the server a little.
  read -r answered0 bad0 reuse0 trips0 < <(served "$path" "$route"); cpu0="$(cpu_ticks)" db0="$(db_ticks)"
  wrk_run "$lua" "$path" "$duration" "$out"
  wait_idle
  cpu1="$(cpu_ticks)" db1="$(db_ticks)"; read -r answered1 bad1 reuse1 trips1 < <(served "$path" "$route")
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
  db_cpu_us[$key]="$(awk -v t="$((${db1:-0} - ${db0:-0}))" -v db="$server_db" -v hz="$clk_tck" -v n="$answered" \
    'BEGIN { if (n > 0 && db != "") printf "%.2f", t / hz * 1e6 / n; else print "n/a" }')"
  trips[$key]="$(awk -v a="$trips0" -v b="$trips1" -v n="$answered" \
    'BEGIN { if (n > 0 && a != "n/a" && b != "n/a") printf "%.2f", (b - a) / n; else print "n/a" }')"
  p50[$key]=$l50 p99[$key]=$l99 requests[$key]=$n non2xx[$key]="$bad / $status_errors"
  rss_after[$key]="$(mib "$(status_kib VmRSS)")"
  local notes=""
  ((answered == 0)) && notes+="; the server counted no $path answers"
  ((reuse > 0)) && notes+="; reuse detections: $reuse"
  ((exhausted > 0)) && notes+="; ran out of refresh tokens"
  if ((status_errors + socket_errors + bad + reuse + exhausted > 0 || answered == 0)); then
    failed+=("$key: wrk: $status_errors HTTP >= 400, $socket_errors socket errors; server: $bad non-2xx$notes")
  fi
  [[ -z $server_db ]] || notes+="; PostgreSQL: ${db_cpu_us[$key]} µs CPU/answer"
  [[ ${trips[$key]} == n/a ]] || notes+="; ${trips[$key]} database round trips/answer"
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

# enough_tokens SUFFIX: after mint_tokens, enough unused refresh tokens for the refresh row
# (not measured). Logins for 3 × the row's duration cover a refresh rate of up to 3 × the
# login rate, which a server may beat (a refresh costs far less than a login's hash):
# a probe refreshes for 1 s with the first tokens, which are then dropped, and more logins
# follow until there are tokens for 2.5 × the probe's rate for the row's duration (a row
# can run 1.7 × faster than its probe, which follows the logins: sled at 10,846 and 17,996
# refreshes/s in one CI run).
enough_tokens() {
  local file="$work/refresh-tokens-$server_name-$1" probe="$work/wrk-probe-$server_name-$1.txt"
  local used have want
  export BENCH_TOKENS="$file"
  wrk_run refresh.lua /api/token/refresh/ 1 "$probe"
  wait_idle
  used="$(awk '$1 == "BENCH" { sub(/^requests=/, "", $2); print $2 }' "$probe")"
  [[ -n $used ]] || { cat "$probe" >&2; echo "the refresh probe printed no result" >&2; exit 1; }
  # wrk thread i takes lines i, i + $threads, ...: every token the probe sent (those
  # answered, and at most one in flight per connection) is in the first lines.
  tail -n +$((threads * (used + connections) + 1)) "$file" >"$file.unused"
  mv "$file.unused" "$file"
  have="$(wc -l <"$file")" want=$((used * duration * 5 / 2))
  if ((have < want)); then
    local saved=$mint_duration minted_rate
    minted_rate=$(((${minted[$server_name:$1]} + mint_duration - 1) / mint_duration))
    mint_duration=$(((want - have) / (minted_rate > 0 ? minted_rate : 1) + 1))
    mint_tokens "$1_more"
    mint_duration=$saved
    cat "$work/refresh-tokens-$server_name-$1_more" >>"$file"
  fi
  say "$server_name: $(wc -l <"$file") unused refresh tokens (the probe refreshed $used in 1 s)"
  export BENCH_TOKENS="$file"
}
# mint_then_refresh SUFFIX: the refresh row's tokens (mint_tokens waits for the server
# to settle, enough_tokens tops them up), then the row.
mint_then_refresh() {
  mint_tokens "$1"
  enough_tokens "$1"
  refresh_row "$1"
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
  [[ -z $server_pid ]] || parked[$server_name]="$server_kind|$server_pid|$base|$server_log|${peer_access_log:-}|$server_extra|$server_db"
  server_kind="" server_name="" server_pid="" server_extra="" server_db=""
}
resume() {
  IFS='|' read -r server_kind server_pid base server_log peer_access_log server_extra server_db <<<"${parked[$1]}"
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
# in_turn "NAME NAME" COMMAND...: COMMAND against each parked server in that order.
in_turn() {
  local name order=$1
  shift
  for name in $order; do
    resume "$name"
    "$@"
    park
  done
}

# stop_all (for an exit trap): wrk if it runs, the current server and the parked ones.
stop_all() {
  local pid
  for pid in $wrk_pid; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
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
