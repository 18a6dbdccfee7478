#!/usr/bin/env bash
# tollgate on sled and on PostgreSQL (one replica, and two replicas on one database) under
# load, in one run, rows taking turns, reported as medians over rounds and ratios. Results:
# BENCHMARKS.md, "tollgate on PostgreSQL" (issue #15).
#
#   bench/postgres.sh              full run: 3 rounds of 10 s per row and configuration
#                                  (about 12 minutes after the build)
#   bench/postgres.sh --quick      smoke test: 1 round of 2 s (about a minute and a half)
#   bench/postgres.sh --rounds 5   another number of rounds (either mode; best odd)
#   bench/postgres.sh --record     full run, then writes the results block into BENCHMARKS.md
#
# Builds the release binary and installs wrk if missing (Debian package), as bench/load.sh
# does, whose helpers (bench/lib.sh) and workloads (bench/lua/) it uses. Starts a throwaway
# PostgreSQL cluster with scripts/postgres.sh (durable settings: fsync, synchronous_commit;
# in $TOLLGATE_BENCH_PG_DIR, else a new folder in ${TMPDIR:-/tmp}; stopped and removed at
# the end) with one database per PostgreSQL configuration, and on 127.0.0.1, with the same
# HS256 key, user and settings (`tollgate serve`'s defaults, login throttles raised, PBKDF2
# at 1,000 iterations), three configurations, all up for the whole run:
#   sled   one server on a data folder;
#   pg1    one server with database_url;
#   pg2    two servers with the same database_url (replicas); the load is split over
#          them by running one wrk per replica, started together, each with half the
#          threads and connections (requests/s summed; p50 and p99 the higher of the two:
#          wrk prints percentiles, not its histogram). No balancer in between: on 2 cores
#          a proxy would cost as much CPU as the server and add a hop to every answer.
# At bench/load.sh's concurrency (64 connections, 2 wrk threads in all) it measures
#   login, refresh with rotation (each request with its own unused refresh token, minted by
#   logins for 3 × the row's duration just before each refresh row, and more if a 1 s
#   probe of refreshes says the row may need them; not measured), verify, GET /api/me/
# in rounds, row by row, each row by the three configurations back to back, their order
# rotating from row to row and from round to round (this machine's speed drifts by 10 to
# 30% over minutes). Per row and configuration: requests/s, p50/p99, non-2xx answers (the
# servers' /metrics, and wrk), CPU time per answer of tollgate (its processes, /proc) and
# of PostgreSQL (the postmaster and all its children, those that ended included), and
# database round trips per answer (the servers' counter tollgate_database_round_trips_total,
# read from /metrics before and after the row; "n/a" from a binary without it). Prints
# the cluster's settings, the goals of issue #15 (refresh on PostgreSQL at least 1,000
# answers/s, GET /api/me/ at least 10,000/s; round trips) as met or missed. Exits non-zero
# if any row had a non-2xx answer, a socket error or ran out of refresh tokens, never for a
# missed goal. Every wrk run is bounded by its duration; servers and cluster stop on exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command_line="bench/postgres.sh$(printf ' %q' "$@")"

usage() { echo "usage: bench/postgres.sh [--quick] [--rounds N] [--record]" >&2; exit 2; }
mode=full record=false rounds=""
while (($# > 0)); do
  case "$1" in
    --quick) mode=quick ;;
    --record) record=true ;;
    --rounds) (($# >= 2)) || usage; rounds=$2; shift ;;
    -h | --help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) usage ;;
  esac
  shift
done
if [[ $mode == quick && $record == true ]]; then
  echo "--record records full runs only" >&2; exit 2
fi
if [[ $mode == quick ]]; then duration=2 rounds=${rounds:-1}; else duration=10 rounds=${rounds:-3}; fi
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "--rounds takes a whole number from 1" >&2; exit 2; }
# Read before only_bench_settings clears every TOLLGATE_* variable.
pg_dir="${TOLLGATE_BENCH_PG_DIR:-${TMPDIR:-/tmp}/tollgate-bench-pg.$$}"
cd "$root"
started=$SECONDS
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
row_settings

# --- build, tools, cluster -------------------------------------------------------------
build_release
ensure_wrk
for tool in curl python3 awk pgrep psql; do
  command -v "$tool" >/dev/null || { echo "bench/postgres.sh needs $tool" >&2; exit 1; }
done
make_work tollgate-pgbench
cluster_started=false
trap 'stop_all; if [[ $cluster_started == true ]]; then scripts/postgres.sh stop "$pg_dir" || true; rm -f "$pg_dir.lock"; fi; rm -rf "$work"' EXIT

say "PostgreSQL: scripts/postgres.sh start $pg_dir"
cluster_started=true
scripts/postgres.sh start "$pg_dir" >/dev/null 2>"$work/cluster.log" || { cat "$work/cluster.log" >&2; exit 1; }
pg_pid="$(sed -n 1p "$pg_dir/data/postmaster.pid")"
declare -A database_url
for config in pg1 pg2; do
  database_url[$config]="$(scripts/postgres.sh createdb "bench_$config" "$pg_dir" 2>>"$work/cluster.log")"
done
pg_sql() { psql -X -q -At -v ON_ERROR_STOP=1 "${database_url[pg1]}" -c "$1"; }
pg_version="$(pg_sql 'show server_version' | cut -d' ' -f1)"
pg_settings="$(pg_sql "select string_agg(name || ' ' || current_setting(name), ', ' order by name) from pg_settings
  where name in ('shared_buffers', 'fsync', 'synchronous_commit', 'wal_level', 'wal_sync_method', 'wal_buffers',
    'wal_writer_delay', 'commit_delay', 'full_page_writes', 'max_wal_size', 'checkpoint_timeout',
    'max_connections', 'effective_io_concurrency', 'work_mem')")"
say "PostgreSQL $pg_version: $pg_settings"

# Only these settings: no TOLLGATE_* from the caller, no tollgate.toml (the servers run in
# the work folder), one random key for every server (replicas must share it), the login
# throttles raised.
only_bench_settings
TOLLGATE_SIGNING_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
export TOLLGATE_SIGNING_KEY
export BENCH_USER="$bench_user" BENCH_PASSWORD="$bench_password" BENCH_THREADS="$threads"

configs=(sled pg1 pg2)
declare -A config_labels=([sled]="sled" [pg1]="PostgreSQL, 1 replica" [pg2]="PostgreSQL, 2 replicas")
# tollgate_data (bench/lib.sh) adds the user with the CLI: with TOLLGATE_DATABASE_URL set,
# into that database.
say "sled: a data folder, one server"
tollgate_data sled "$iterations"
start_tollgate sled
server_name=sled
access_token
park
say "pg1: one server on database bench_pg1"
export TOLLGATE_DATABASE_URL="${database_url[pg1]}"
tollgate_data pg1 "$iterations"
start_tollgate pg1
server_name=pg1 server_db=$pg_pid
access_token
park
say "pg2: two servers on database bench_pg2"
export TOLLGATE_DATABASE_URL="${database_url[pg2]}"
tollgate_data pg2 "$iterations"
start_tollgate pg2a
export TOLLGATE_DATA_DIR="$work/data-pg2b"
start_replica pg2b
server_name=pg2 server_db=$pg_pid
access_token
park
unset TOLLGATE_DATABASE_URL

# PostgreSQL's CPU time with every server idle (the replicas' once-a-second reads of the
# clock floor and counts, the cluster's own timers), per second: it runs under every row
# too, counted in its "PostgreSQL CPU per answer".
idle_ms_per_s() {
  local t0 t1 seconds=$((duration < 5 ? duration : 5))
  t0="$(tree_ticks "$pg_pid")"
  sleep "$seconds"
  t1="$(tree_ticks "$pg_pid")"
  awk -v t=$((t1 - t0)) -v hz="$clk_tck" -v s="$seconds" 'BEGIN { printf "%.1f", t / hz * 1000 / s }'
}
pg_idle_before="$(idle_ms_per_s)"
say "PostgreSQL idle: $pg_idle_before ms of CPU per second"

# --- measuring -------------------------------------------------------------------------
# The rows of round R are keyed ROW_rR (workload's arrays: "pg2:refresh_r2").
rows=(login refresh verify me)
# shellcheck disable=SC2034 # workload (bench/lib.sh) fills them; the report reads them
declare -A rps p50 p99 requests non2xx cpu_us rss_after labels
declare -A row_labels=([login]="login, PBKDF2 $(thousands $iterations) iterations"
  [refresh]="refresh with rotation, an unused token each"
  [verify]="verify (one access token)" [me]="GET /api/me/ (Bearer)")
for round in $(seq "$rounds"); do
  for row in "${rows[@]}"; do labels[${row}_r$round]="${row_labels[$row]}, round $round"; done
done
failed=() # rows that had errors

# order K: the configurations, rotated by K.
order() {
  local i n=${#configs[@]}
  for i in $(seq 0 $((n - 1))); do printf '%s ' "${configs[(i + $1) % n]}"; done
}
for round in $(seq "$rounds"); do
  say "round $round of $rounds"
  # Each configuration's refresh row right after its own logins (mint_then_refresh), so
  # that every refresh row follows its setup alike.
  in_turn "$(order $((round - 1)))" workload "login_r$round" login.lua /api/token/ token_obtain
  in_turn "$(order "$round")" mint_then_refresh "_r$round"
  rm -f "$work"/refresh-tokens-* # used
  in_turn "$(order $((round + 1)))" verify_row "_r$round"
  in_turn "$(order $((round + 2)))" me_row "_r$round"
done
pg_idle_after="$(idle_ms_per_s)"
in_turn "${configs[*]}" stop_server

# --- report ----------------------------------------------------------------------------
# figure ARRAY CONFIG ROW, ratio_of ARRAY CONFIG ROW CONFIG ROW: bench/lib.sh.
# errors CONFIG ROW: non-2xx answers over the rounds, "server / wrk".
errors() {
  per_round non2xx "$1" "$2" | awk -F' / ' '{ s += $1; w += $2 } END { printf "%d / %d", s, w }'
}
# total_cpu CONFIG ROW: tollgate's and PostgreSQL's CPU per answer added, medians.
total_cpu() {
  local t d
  t="$(per_round cpu_us_precise "$1" "$2" | median)" d="$(per_round db_cpu_us "$1" "$2" | median)"
  thousands "$(awk -v t="$t" -v d="$d" 'BEGIN { if (d == "n/a") d = 0; s = t + d; printf (s < 100 ? "%.1f" : "%.0f"), s }')"
}
report="$work/report.md"
{
  echo "Date: $(date -u +%Y-%m-%d). Machine: $(machine);"
  echo "$(rustc --version | cut -d' ' -f1-2), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), PostgreSQL $pg_version."
  echo "Command: \`$command_line\` ($mode mode: $rounds round$( ((rounds == 1)) || echo s) of $duration s per row and configuration, the order"
  echo "rotating from row to row and round to round; $connections connections, $threads wrk threads; wrk, tollgate and"
  echo "PostgreSQL share the cores). Load average (1 min) at the end: $(cut -d' ' -f1 /proc/loadavg)."
  echo
  echo "PostgreSQL: a throwaway cluster made by \`scripts/postgres.sh\`, on 127.0.0.1 (TCP), one database per"
  echo "configuration; settings: $pg_settings."
  echo "CPU time of the cluster with every server idle: $pg_idle_before ms per second before the rounds, $pg_idle_after after"
  echo "(the replicas' once-a-second reads; it is in every row's PostgreSQL CPU too)."
  echo "2 replicas: two \`tollgate serve\` on one \`database_url\`, one wrk per replica (1 thread, 32 connections"
  echo "each), started together; requests/s summed, p50 and p99 the higher of the two runs'."
  echo
  echo "| workload | configuration | requests/s | p50 | p99 | non-2xx (server / wrk) | tollgate CPU per answer (µs) | PostgreSQL CPU per answer (µs) | database round trips per answer |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for row in "${rows[@]}"; do
    for config in "${configs[@]}"; do
      echo "| ${row_labels[$row]} | ${config_labels[$config]} | $(figure rps "$config" "$row") | $(figure p50 "$config" "$row") | $(figure p99 "$config" "$row") | $(errors "$config" "$row") | $(figure cpu_us_precise "$config" "$row") | $(figure db_cpu_us "$config" "$row") | $(figure trips "$config" "$row") |"
    done
  done
  echo
  ((rounds == 1)) || echo "Medians over the $rounds rounds (non-2xx: summed)."
  echo "Ratios of the medians$( ((rounds == 1)) || echo " (in brackets the lowest and highest of the rounds' own ratios)")"
  echo "and CPU per answer of tollgate and PostgreSQL together (µs):"
  echo
  echo "| workload | requests/s, 1 replica / sled | requests/s, 2 replicas / sled | requests/s, 2 replicas / 1 | CPU per answer, sled | CPU per answer, 1 replica | CPU per answer, 2 replicas |"
  echo "|---|---|---|---|---|---|---|"
  for row in "${rows[@]}"; do
    echo "| ${row_labels[$row]} | $(ratio_of rps pg1 "$row" sled "$row") | $(ratio_of rps pg2 "$row" sled "$row") | $(ratio_of rps pg2 "$row" pg1 "$row") | $(total_cpu sled "$row") | $(total_cpu pg1 "$row") | $(total_cpu pg2 "$row") |"
  done
  echo
  met() { if awk "BEGIN { exit !($1) }"; then echo "**met**"; else echo "**missed**"; fi; }
  # goal ROW MINIMUM: "1 replica **met** (N/s), 2 replicas ..."
  goal() {
    local config m out=()
    for config in pg1 pg2; do
      m="$(per_round rps "$config" "$1" | median)"
      out+=("${config_labels[$config]#PostgreSQL, } $(met "$m >= $2") ($(thousands "$(printf '%.0f' "$m")")/s)")
    done
    echo "${out[0]}, ${out[1]}"
  }
  # trips_goal ROW: "at most one" as met or missed per PostgreSQL configuration, or n/a.
  trips_goal() {
    local config m out=()
    for config in pg1 pg2; do
      m="$(per_round trips "$config" "$1" | median)"
      if [[ $m == n/a ]]; then
        out+=("${config_labels[$config]#PostgreSQL, } n/a")
      else
        # The replicas' once-a-second reads count too: a few per 10,000 answers.
        out+=("${config_labels[$config]#PostgreSQL, } $(met "$m <= 1.01") ($(printf '%.2f' "$m"))")
      fi
    done
    echo "${out[0]}, ${out[1]}"
  }
  echo "Goals (issue #15), from this run$([[ $mode == quick ]] && echo " (quick mode: a smoke test, not a measurement)"):"
  echo
  echo "- refresh with rotation on PostgreSQL at least 1,000 answers/s: $(goal refresh 1000)."
  echo "- \`GET /api/me/\` on PostgreSQL at least 10,000 answers/s: $(goal me 10000)."
  if [[ "$(per_round trips pg1 refresh | median)" == n/a ]]; then
    echo "- database round trips per refresh (goal: one, pipelined) and per \`GET /api/me/\` (at most one):"
    echo "  not measured (this binary does not count them: no tollgate_database_round_trips_total in /metrics)."
  else
    echo "- database round trips per refresh at most one (goal: one, pipelined): $(trips_goal refresh)."
    echo "- database round trips per \`GET /api/me/\` at most one: $(trips_goal me)."
  fi
} >"$report"
echo
cat "$report"

# --record, a run without errors: the block of BENCHMARKS.md's "tollgate on PostgreSQL".
if [[ $record == true ]] && ((${#failed[@]} == 0)); then
  record_block BENCHMARKS.md '<!-- bench/postgres.sh --record: begin -->' '<!-- bench/postgres.sh --record: end -->' "$report"
  say "recorded in BENCHMARKS.md"
fi
[[ $record == false ]] || ((${#failed[@]} == 0)) || say "not recorded: rows had errors"

say "done"
report_failed || exit 1
