#!/usr/bin/env bash
# Two builds of the tollgate server side by side under load, in one run, for a change that
# must not make the server slower: "baseline", a binary given (e.g. built from an older
# commit), and "current", the release binary built from the working tree. Results:
# BENCHMARKS.md, "Before and after a change (bench/compare.sh)".
#
#   bench/compare.sh BASELINE_BIN               full run: 3 rounds of 10 s per row and server
#                                               (about 8 minutes after the build)
#   bench/compare.sh BASELINE_BIN --quick       smoke test: 1 round of 2 s (under a minute)
#   bench/compare.sh BASELINE_BIN --rounds 5    another number of rounds (either mode; best
#                                               odd: of an even number the median is the
#                                               lower middle one)
#   bench/compare.sh BASELINE_BIN --record      full run, then writes the results block into
#                                               BENCHMARKS.md
#   --baseline-id ID, --current-id ID           what the report calls the builds (e.g. a
#                                               commit); always with the binary's sha256
#   TOLLGATE_CURRENT_BIN=PATH bench/compare.sh BASELINE_BIN ...
#                                               "current" is that binary, nothing is built
# The same binary as both sides shows the noise: every ratio should then be near 1.
#
# Builds the release binary and installs wrk if missing (Debian package), as bench/load.sh
# does, whose helpers (bench/lib.sh) and workloads (bench/lua/) it uses. Then starts both
# servers on 127.0.0.1, both up for the whole run, with fresh data folders, the same HS256
# key, user and settings (`tollgate serve`'s defaults, login throttles raised, PBKDF2 at
# 1,000 iterations), and at bench/load.sh's concurrency (64 connections, 2 wrk threads)
# measures
#   login, refresh with rotation (each request with its own unused refresh token, minted by
#   logins for 3 × the row's duration before each refresh row, not measured), verify,
#   GET /api/me/
# in rounds, row by row, each row by both servers back to back, the order swapped every
# round (baseline first in odd rounds, current first in even ones: ABBA): this machine's
# speed drifts by 10 to 30% over minutes.
# After the refresh rows of each round, a row of the current build alone, on a third
# server (fresh data folder, TOLLGATE_REFRESH_REUSE_INTERVAL=300s): refresh with a
# reuse-interval hit, every request presenting a refresh token rotated moments before
# whose successor is unused (setup, not measured: logins for 1/5 of the row's duration,
# then each of up to 4,000 of their tokens refreshed once; the row goes round the
# rotated-out ones, as a grace answer writes nothing); it fails unless every answer was
# a grace answer (/metrics: tollgate_refresh_reuse_total{cause="grace"} counts them all,
# no new token, no failed refresh, no replay). Reported beside the current build's
# refresh row, with the ratio of the two per round.
# Per row: the medians over the rounds of requests/s and of server CPU time per answer
# (/proc; the steadier figure) of each build, and the ratios current / baseline with the
# spread of the rounds' own ratios; rows more than 3% slower are named. Exits non-zero if
# any row had a non-2xx answer, a socket error, ran out of refresh tokens or (the reuse
# row) an answer that was not a grace answer, never for a slow row. Every wrk run is
# bounded by its duration; servers stop on exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command_line="bench/compare.sh$(printf ' %q' "$@")"

usage() {
  echo "usage: bench/compare.sh BASELINE_BIN [--quick] [--rounds N] [--record] [--baseline-id ID] [--current-id ID]" >&2
  exit 2
}
mode=full record=false rounds="" baseline_bin="" baseline_id="" current_id=""
while (($# > 0)); do
  case "$1" in
    --quick) mode=quick ;;
    --record) record=true ;;
    --rounds | --baseline-id | --current-id)
      (($# >= 2)) || usage
      case "$1" in --rounds) rounds=$2 ;; --baseline-id) baseline_id=$2 ;; *) current_id=$2 ;; esac
      shift ;;
    -h | --help) sed -n '2,47p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) usage ;;
    *) [[ -z $baseline_bin ]] || usage; baseline_bin=$1 ;;
  esac
  shift
done
[[ -n $baseline_bin ]] || usage
if [[ $mode == quick && $record == true ]]; then
  echo "--record records full runs only" >&2; exit 2
fi
if [[ $mode == quick ]]; then duration=2 rounds=${rounds:-1}; else duration=10 rounds=${rounds:-3}; fi
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "--rounds takes a whole number from 1" >&2; exit 2; }
# Absolute paths (the servers run in the work folder); read before only_bench_settings
# clears every TOLLGATE_* variable.
executable() { [[ -f $1 && -x $1 ]] || { echo "not an executable file: $1" >&2; exit 2; }; realpath "$1"; }
baseline_bin="$(executable "$baseline_bin")"
current_bin="${TOLLGATE_CURRENT_BIN:-}"
[[ -z $current_bin ]] || current_bin="$(executable "$current_bin")"
cd "$root"
started=$SECONDS
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
row_settings

# --- builds and tools ------------------------------------------------------------------
if [[ -z $current_bin ]]; then
  build_release
  current_bin="$bin"
  current_id="${current_id:-working tree, $(git --no-optional-locks describe --always --dirty 2>/dev/null || echo "no git")}"
fi
ensure_wrk
for tool in curl python3 awk sha256sum; do
  command -v "$tool" >/dev/null || { echo "bench/compare.sh needs $tool" >&2; exit 1; }
done
# identity PATH ID: "`PATH` (ID, sha256 0123456789ab)".
identity() { echo "\`$1\` (${2:+$2, }sha256 $(sha256sum "$1" | cut -c1-12))"; }
baseline_identity="$(identity "$baseline_bin" "$baseline_id")"
current_identity="$(identity "$current_bin" "$current_id")"

make_work tollgate-compare

# Only these settings on both: no TOLLGATE_* from the caller, no tollgate.toml (the servers
# run in the work folder), one random key, the login throttles raised.
only_bench_settings
TOLLGATE_SIGNING_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
export TOLLGATE_SIGNING_KEY
export BENCH_USER="$bench_user" BENCH_PASSWORD="$bench_password" BENCH_THREADS="$threads"

# --- measuring -------------------------------------------------------------------------
# The rows of round R are keyed ROW_rR (workload's arrays: "baseline:verify_r2").
rows=(login refresh verify me)
# shellcheck disable=SC2034 # workload (bench/lib.sh) fills them; the report reads rps, cpu_us_precise
declare -A rps p50 p99 requests non2xx cpu_us rss_after labels
declare -A row_labels=([login]="login, PBKDF2 $(thousands $iterations) iterations"
  [refresh]="refresh with rotation, an unused token each"
  [verify]="verify (one access token)" [me]="GET /api/me/ (Bearer)"
  [grace]="refresh, reuse-interval hit (a token rotated moments before, its successor unused)")
for round in $(seq "$rounds"); do
  for row in "${rows[@]}" grace; do labels[${row}_r$round]="${row_labels[$row]}, round $round"; done
done
failed=() # rows that had errors

# serve NAME BINARY: a fresh data folder and server for one build, its access token, parked.
serve() {
  bin=$2
  tollgate_data "$1" "$iterations"
  start_tollgate "$1"
  server_name=$1
  access_token
  park
}
say "baseline: $baseline_identity"
serve baseline "$baseline_bin"
say "current: $current_identity"
serve current "$current_bin"
# The reuse-interval row's server: the current build with the longest interval allowed,
# so that each round's setup and row fit in it (the baseline may not know the setting).
say "reuse: the current build with TOLLGATE_REFRESH_REUSE_INTERVAL=300s"
export TOLLGATE_REFRESH_REUSE_INTERVAL=300s
serve reuse "$current_bin"
unset TOLLGATE_REFRESH_REUSE_INTERVAL

# rotated_tokens SUFFIX: logins for 1/5 of the row's duration, then up to 4,000 of their
# refresh tokens each refreshed once (python3, 16 keep-alive connections); the rotated-out
# tokens (those answered 200 with a new refresh token) in $BENCH_TOKENS for reuse.lua.
# Not measured.
rotated_tokens() {
  export BENCH_TOKENS="$work/rotated-$server_name-$1"
  say "$server_name: setup: refresh tokens rotated once (logins for $(((duration + 4) / 5)) s, then a refresh of each; not measured)"
  wrk_run mint.lua /api/token/ "$(((duration + 4) / 5))" "$work/wrk-mint-$server_name-$1.txt"
  wait_idle
  awk 'NR <= 4000' "$BENCH_TOKENS".* >"$BENCH_TOKENS.minted"
  python3 - "$base" "$BENCH_TOKENS.minted" "$BENCH_TOKENS" <<'EOF'
import http.client, json, sys, threading, urllib.parse
url, minted, out = urllib.parse.urlsplit(sys.argv[1]), sys.argv[2], sys.argv[3]
tokens = open(minted).read().split()
rotated, errors = [], []
def rotate(part):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    for token in part:
        conn.request("POST", "/api/token/refresh/", json.dumps({"refresh": token}),
                     {"Content-Type": "application/json"})
        answer = conn.getresponse()
        body = answer.read()
        if answer.status == 200 and answer.getheader("Tollgate-Refresh-Reuse") is None \
                and json.loads(body).get("refresh") not in (None, token):
            rotated.append(token)
        else:
            errors.append(f"{answer.status} {body[:200]!r}")
workers = [threading.Thread(target=rotate, args=(tokens[i::16],)) for i in range(16)]
for w in workers: w.start()
for w in workers: w.join()
if len(rotated) != len(tokens) or not rotated:
    sys.exit(f"rotating the setup tokens: {len(tokens) - len(rotated)} of {len(tokens)} refreshes failed: {errors[:3]}")
open(out, "w").write("".join(t + "\n" for t in rotated))
print(f"   {len(rotated)} tokens rotated once", file=sys.stderr)
EOF
  wait_idle
}

# refresh_counts: tollgate's refreshes so far, "<new tokens> <failed> <grace> <replay>".
refresh_counts() {
  curl -fs "$base/metrics" | awk '
    $1 == "tollgate_refreshes_total{result=\"ok\"}" { ok = $2 }
    $1 == "tollgate_refreshes_total{result=\"failed\"}" { bad = $2 }
    $1 == "tollgate_refresh_reuse_total{cause=\"grace\"}" { grace = $2 }
    $1 == "tollgate_refresh_reuse_total{cause=\"replay\"}" { replay = $2 }
    END { printf "%d %d %d %d\n", ok, bad, grace, replay }'
}

# rotate_then_reuse SUFFIX: the reuse-interval row after its setup; a failed row unless
# every refresh the server answered in it was a grace answer (at least as many as wrk
# counted; answers to requests wrk abandoned at its end count too).
rotate_then_reuse() {
  rotated_tokens "$1"
  local ok0 bad0 grace0 replay0 ok1 bad1 grace1 replay1 key="$server_name:grace$1"
  read -r ok0 bad0 grace0 replay0 < <(refresh_counts)
  workload "grace$1" reuse.lua /api/token/refresh/ token_refresh
  read -r ok1 bad1 grace1 replay1 < <(refresh_counts)
  local ok=$((ok1 - ok0)) bad=$((bad1 - bad0)) grace=$((grace1 - grace0)) replay=$((replay1 - replay0))
  echo "   grace answers $grace (wrk counted ${requests[$key]}), new tokens $ok, failed $bad, replays $replay" >&2
  if ((ok + bad + replay > 0 || grace < ${requests[$key]} || grace == 0)); then
    failed+=("$key: not every answer was a grace answer: $grace grace for ${requests[$key]} requests, $ok new tokens, $bad failed, $replay replays")
  fi
}

# in_turn "NAME NAME" COMMAND... (bench/lib.sh): COMMAND against each server in that order.
for round in $(seq "$rounds"); do
  if ((round % 2 == 1)); then order="baseline current"; else order="current baseline"; fi
  say "round $round of $rounds: ${order/ /, then }"
  in_turn "$order" workload "login_r$round" login.lua /api/token/ token_obtain
  # Each server's refresh row right after its own logins (and their settle), so that
  # both rows follow their setup alike: done in turns, one server's row came 30 s after
  # its logins and the other's 10 s.
  in_turn "$order" mint_then_refresh "_r$round"
  rm -f "$work"/refresh-tokens-* # used
  in_turn reuse rotate_then_reuse "_r$round"
  in_turn "$order" verify_row "_r$round"
  in_turn "$order" me_row "_r$round"
done
stop_parked

# --- report ----------------------------------------------------------------------------
# per_round, figure and ratio_of ARRAY NAME ROW NAME ROW (bench/lib.sh): a build's figure of
# ROW in each round, their median as a table shows it, the ratio of two medians (with the
# spread of the rounds' own ratios). ratio_cell ARRAY ROW: current / baseline.
ratio_cell() { ratio_of "$1" current "$2" baseline "$2"; }
# beyond ROW: "ROW (what)" if current is more than 3% slower by either figure.
beyond() {
  local cpu r
  cpu="$(ratio_cell cpu_us_precise "$1" | tr -d '*' | cut -d' ' -f1)"
  r="$(ratio_cell rps "$1" | tr -d '*' | cut -d' ' -f1)"
  awk -v cpu="$cpu" -v r="$r" -v row="${row_labels[$1]}" 'BEGIN {
    w = ""
    if (cpu != "n/a" && cpu > 1.03) w = sprintf("CPU per answer %+.1f%%", (cpu - 1) * 100)
    if (r != "n/a" && r < 0.97) w = w (w == "" ? "" : ", ") sprintf("requests/s %+.1f%%", (r - 1) * 100)
    if (w != "") printf "%s (%s)\n", row, w }'
}
rounds_word=rounds
((rounds > 1)) || rounds_word=round
report="$work/report.md"
{
  echo "Date: $(date -u +%Y-%m-%d). Machine: $(machine); $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)."
  echo "Command: \`$command_line\` ($mode mode: $rounds $rounds_word of $duration s per row and build,"
  echo "baseline first in odd rounds, current first in even ones; $connections connections, $threads wrk threads)."
  echo "Load average (1 min) at the end: $(cut -d' ' -f1 /proc/loadavg)."
  echo
  echo "- baseline: $baseline_identity"
  echo "- current: $current_identity"
  echo
  echo "| workload | requests/s, baseline | requests/s, current | current / baseline | server CPU per answer (µs), baseline | server CPU per answer (µs), current | current / baseline |"
  echo "|---|---|---|---|---|---|---|"
  for row in "${rows[@]}"; do
    echo "| ${row_labels[$row]} | $(figure rps baseline "$row") | $(figure rps current "$row") | $(ratio_cell rps "$row") | $(figure cpu_us_precise baseline "$row") | $(figure cpu_us_precise current "$row") | $(ratio_cell cpu_us_precise "$row") |"
  done
  echo
  echo "The current build alone, on its own server with TOLLGATE_REFRESH_REUSE_INTERVAL=300s (every answer"
  echo "checked to be a grace answer: 200, the same successor again), beside its refresh with rotation:"
  echo
  echo "| workload, current build | requests/s | server CPU per answer (µs) | requests/s / refresh with rotation's | CPU per answer / refresh with rotation's |"
  echo "|---|---|---|---|---|"
  echo "| ${row_labels[refresh]} | $(figure rps current refresh) | $(figure cpu_us_precise current refresh) | 1 | 1 |"
  echo "| ${row_labels[grace]} | $(figure rps reuse grace) | $(figure cpu_us_precise reuse grace) | $(ratio_of rps reuse grace current refresh) | $(ratio_of cpu_us_precise reuse grace current refresh) |"
  echo
  if ((rounds > 1)); then
    echo "Medians over the $rounds rounds; in brackets the lowest and highest of the rounds' own ratios (in each"
    echo "round the two builds ran the row back to back)."
  fi
  echo "Server CPU per answer (user + system time of the server process over the answers it counted) is the"
  echo "steadier figure: requests/s follows this machine's drift (10 to 30% over minutes) and wrk, which shares"
  echo "the cores. Judge a change by CPU per answer first."
  mapfile -t slower < <(for row in "${rows[@]}"; do beyond "$row"; done)
  if ((${#slower[@]} == 0)); then
    echo "No row more than 3% slower (CPU per answer above 1.03 or requests/s below 0.97 of baseline)."
  else
    echo "More than 3% slower than baseline: $(printf '%s; ' "${slower[@]}" | sed 's/; $//')."
  fi
  [[ $mode == full ]] || echo "(Quick mode: a smoke test, not a measurement.)"
} >"$report"
echo
cat "$report"

# --record (a run without errors): the block between the markers below; the first time, a
# new section with them just before the section that follows "tollgate-server under load"
# (or at the end).
if [[ $record == true && ${#failed[@]} -gt 0 ]]; then
  say "not recorded: rows had errors"
elif [[ $record == true ]]; then
  begin='<!-- bench/compare.sh --record: begin -->' end='<!-- bench/compare.sh --record: end -->'
  if ! grep -qxF "$begin" BENCHMARKS.md; then
    awk -v begin="$begin" -v end="$end" '
      function section() {
        print "## Before and after a change (bench/compare.sh)\n"
        print "Command: `bench/compare.sh BASELINE_BIN` (`--help` says how it works): two builds of the"
        print "server, each row by both back to back in rounds whose order alternates, as medians and"
        print "ratios current / baseline. `--record` rewrites the block below.\n"
        print begin; print end; print ""
        done = 1
      }
      /^## / && after && !done { section() }
      /^## tollgate-server under load/ { after = 1 }
      { print }
      END { if (!done) { print ""; section() } }' BENCHMARKS.md >"$work/sectioned.md"
    cat "$work/sectioned.md" >BENCHMARKS.md
  fi
  record_block BENCHMARKS.md "$begin" "$end" "$report"
  say "recorded in BENCHMARKS.md"
fi

say "done"
report_failed || exit 1
