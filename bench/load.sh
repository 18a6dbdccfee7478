#!/usr/bin/env bash
# tollgate and djangorestframework-simplejwt side by side under load, in one run, reported as
# ratios; then tollgate with a large store. Results: BENCHMARKS.md, "tollgate-server under
# load".
#
#   bench/load.sh            full run: 10 s per workload (about 8 minutes after the build)
#   bench/load.sh --quick    smoke test: 2 s per workload, a small store (about a minute)
#   bench/load.sh --record   full run, then writes the results block into BENCHMARKS.md
#
# Builds the release binary, installs wrk if missing (Debian package) and the Simple JWT peer
# (bench/.venv: Django, DRF, simplejwt, gunicorn from PyPI; bench/simplejwt/), then, at the
# same concurrency (64 connections, 2 wrk threads), against fresh servers on 127.0.0.1 with
# the same HS256 key, settings and user (tollgate: `tollgate serve`; Simple JWT: gunicorn, 2
# sync workers, sqlite):
#   login at 1,000,000 PBKDF2 iterations (Django's default) and at 1,000, refresh with
#   rotation (each request with its own unused refresh token), verify, GET /api/me/;
#   the rows after the first login are run by both servers in turn, row by row.
# Then tollgate on a store seeded with 1,000,000 outstanding and 500,000 blacklisted tokens
# (`tollgate tokens seed`; quick mode: 20,000 and 10,000): refresh and verify, then
# `tollgate tokens flush-expired` and the size on disk.
# Per row: requests/s, p50/p99 latency, non-2xx answers, server CPU time per answer; per
# server: peak RSS. Prints the ratios tollgate / Simple JWT and the goals of issue #6. Exits
# non-zero if any row had a non-2xx answer, a socket error or ran out of refresh tokens (not
# for a missed goal). Every wrk run is bounded by its duration; servers stop on exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mode=full record=false
for arg in "$@"; do
  case "$arg" in
    --quick) mode=quick ;;
    --record) record=true ;;
    -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: bench/load.sh [--quick] [--record]" >&2; exit 2 ;;
  esac
done
if [[ $mode == quick && $record == true ]]; then
  echo "--record records full runs only" >&2; exit 2
fi

connections=64
threads=2
if [[ $mode == quick ]]; then
  duration=2 probes=1 seed_outstanding=20000 seed_blacklisted=10000
else
  duration=10 probes=5 seed_outstanding=1000000 seed_blacklisted=500000
fi
mint_duration=$((3 * duration)) # setup: logins that make the refresh workload's tokens
high_iterations=1000000         # Django 5.2's default
low_iterations=1000
bench_user=bench
bench_email=bench@example.com
bench_password="bench-$RANDOM-$RANDOM-password"
command_line="bench/load.sh${1:+ $*}"
started=$SECONDS
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"

# --- build and tools -----------------------------------------------------------------
build_release
ensure_wrk
for tool in curl python3 awk pgrep; do
  command -v "$tool" >/dev/null || { echo "bench/load.sh needs $tool" >&2; exit 1; }
done
say "Simple JWT peer: bench/.venv (bench/simplejwt/requirements.txt)"
bash bench/simplejwt/setup.sh
peer_python="$root/bench/.venv/bin/python"

make_work tollgate-bench

# Only the settings below: no TOLLGATE_* from the caller, and the servers run in the work
# folder, where there is no tollgate.toml. Both servers get the same key; every other
# setting is the contract's default on both (rotation, blacklist after rotation, custom
# claims username/email/is_staff, 30 min / 3 days), tollgate's login throttles raised.
only_bench_settings
signing_key="$(python3 -c 'import secrets; print(secrets.token_hex(32))')" # 64 chars
export TOLLGATE_SIGNING_KEY="$signing_key" BENCH_SIGNING_KEY="$signing_key"

# tollgate_data NAME ITERATIONS (bench/lib.sh): a fresh data folder with the user.
# peer_data NAME ITERATIONS: a fresh sqlite database (migrated once, copied) with the user.
peer_data() {
  if [[ ! -f $work/peer-template.sqlite3 ]]; then
    (cd bench/simplejwt && BENCH_SQLITE="$work/peer-template.sqlite3" "$peer_python" -m peer.setup_db migrate)
  fi
  cp "$work/peer-template.sqlite3" "$work/peer-$1.sqlite3"
  export BENCH_PBKDF2_ITERATIONS="$2"
  (cd bench/simplejwt && BENCH_SQLITE="$work/peer-$1.sqlite3" "$peer_python" -m peer.setup_db \
    user "$bench_user" "$bench_email" <<<"$bench_password" >/dev/null)
}

# --- measuring -------------------------------------------------------------------------
export BENCH_USER="$bench_user" BENCH_PASSWORD="$bench_password" BENCH_THREADS="$threads"
declare -A rps p50 p99 requests non2xx cpu_us rss_after peak
failed=() # rows that had errors
declare -A labels=([login_high]="login, PBKDF2 $(thousands $high_iterations) iterations"
  [login_low]="login, PBKDF2 $(thousands $low_iterations) iterations"
  [refresh]="refresh with rotation, an unused token each"
  [verify]="verify (one access token)" [me]="GET /api/me/ (Bearer)"
  [refresh_big]="refresh with rotation, large store" [verify_big]="verify, large store")

# The measured rows (bench/lib.sh): workload KEY LUA PATH ROUTE runs one against the
# current server (results in the arrays above under "$server_name:KEY"); mint_tokens,
# refresh_row, access_token, verify_row and me_row build on it.
# Two servers up at once, taking turns: park saves the current server's state (lib.sh's
# globals), resume makes a parked one current again (bench/lib.sh); each_server runs a
# command against tollgate, then against Simple JWT.
each_server() {
  local kind
  for kind in tollgate simplejwt; do
    resume "$kind"
    "$@"
    park
  done
}

# The raw cost of one password hash at Django's default, each server's own code: tollgate's
# is the CPU time of `tollgate users add` (one hash) at 1,000,000 iterations minus the same
# at 1,000 (process start, store), two at a time (as the server hashes on both cores), half
# of the runs just before tollgate's login row and half just after (this machine's CPU time
# for the same hash drifts by 10 to 20% over minutes); Django's is make_password's CPU time
# (peer/hash_cost.py). Medians.
say "raw password hash cost, $(thousands $high_iterations) iterations"
cli_cpu_ms() { # cli_cpu_ms ITERATIONS: CPU ms of one `users add` on a fresh folder
  local dir="$work/probe-$BASHPID-$RANDOM" t
  t="$( { TIMEFORMAT='%U %S'; time (TOLLGATE_DATA_DIR="$dir" TOLLGATE_PBKDF2_ITERATIONS="$1" \
    "$bin" users add probe --password-stdin <<<"$bench_password" >/dev/null); } 2>&1)"
  rm -rf "$dir"
  awk -v t="$t" 'BEGIN { split(t, a, " "); printf "%.1f\n", (a[1] + a[2]) * 1000 }'
}
hash_probes() { # $probes pairs of concurrent hashes at 1,000,000 iterations, appended to a file
  for _ in $(seq "$probes"); do
    cli_cpu_ms $high_iterations >>"$work/hash-probes" &
    cli_cpu_ms $high_iterations >>"$work/hash-probes" &
    wait
  done
}
hash_probes
cli_base_ms="$(for _ in $(seq "$probes"); do cli_cpu_ms $low_iterations; done | median)"
hash_django_ms="$(cd bench/simplejwt && BENCH_SQLITE=/nonexistent BENCH_PBKDF2_ITERATIONS=$high_iterations \
  "$peer_python" -m peer.hash_cost "$probes")"

# Login at Django's default: one server of each.
tollgate_data high $high_iterations
start_tollgate high
login_pair "$bench_user" "$bench_password" >/dev/null # warm-up
workload login_high login.lua /api/token/ token_obtain
peak[tollgate:high]="$(status_kib VmHWM)"
stop_server
hash_probes
hash_tollgate_ms="$(awk -v hi="$(median <"$work/hash-probes")" -v lo="$cli_base_ms" 'BEGIN { printf "%.1f", hi - lo }')"
hash_spread="$(sort -n "$work/hash-probes" | awk -v lo="$cli_base_ms" 'NR == 1 { min = $1 } { max = $1 } END { printf "%.0f to %.0f", min - lo, max - lo }')"
say "one hash: tollgate $hash_tollgate_ms ms (runs: $hash_spread ms), Django $hash_django_ms ms of CPU"
peer_data high $high_iterations
start_simplejwt high "$work/peer-high.sqlite3"
login_pair "$bench_user" "$bench_password" >/dev/null
workload login_high login.lua /api/token/ token_obtain
peak[simplejwt:high]="$(status_kib VmHWM)"
stop_server

# The other rows at 1,000 iterations, one server of each, both up for the whole phase and
# taking turns row by row: this machine's speed drifts by 10 to 30% over minutes, and a
# row of each server back to back keeps most of that drift out of the ratios.
tollgate_data low $low_iterations
peer_data low $low_iterations
start_tollgate low
park
start_simplejwt low "$work/peer-low.sqlite3"
park
each_server workload login_low login.lua /api/token/ token_obtain
each_server mint_tokens ""
each_server enough_tokens ""
each_server refresh_row ""
each_server access_token
each_server verify_row ""
each_server me_row ""
record_peak() { peak[$server_kind:low]="$(status_kib VmHWM)"; }
each_server record_peak
each_server stop_server

# tollgate with a large store: seeded offline, then the same refresh and verify rows.
tollgate_data big $low_iterations
say "seed: tollgate tokens seed --outstanding $seed_outstanding --blacklisted $seed_blacklisted"
seed_started=$SECONDS
(cd "$work" && "$bin" tokens seed --outstanding "$seed_outstanding" --blacklisted "$seed_blacklisted" 2>/dev/null) \
  >"$work/seed.txt"
seed_seconds=$((SECONDS - seed_started))
cat "$work/seed.txt" >&2
disk_kib() { du -sk "$TOLLGATE_DATA_DIR" | cut -f1; }
disk_seeded="$(disk_kib)"
open_started="$(date +%s%N)"
start_tollgate big
open_ms=$((($(date +%s%N) - open_started) / 1000000))
rss_open="$(status_kib VmRSS)"
mint_tokens _big
enough_tokens _big
refresh_row _big
access_token
verify_row _big
peak[tollgate:big]="$(status_kib VmHWM)"
counts="$(curl -fs "$base/metrics" | awk '$1 == "tollgate_outstanding_tokens" { o = $2 } $1 == "tollgate_blacklisted_tokens" { b = $2 } END { print o, b }')"
stop_server
disk_before_flush="$(disk_kib)"
say "tollgate tokens flush-expired (offline)"
flush_out="$( { TIMEFORMAT='%R %U %S'; time (cd "$work" && "$bin" tokens flush-expired); } 2>&1)"
flush_line="$(head -1 <<<"$flush_out")" flush_times="$(tail -1 <<<"$flush_out")"
disk_after_flush="$(disk_kib)"
echo "   $flush_line; wall, user, system seconds: $flush_times" >&2

# --- report ----------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "n/a" && b != "n/a") { r = a / b; printf (r >= 10 ? "%.0f×" : (r >= 1 ? "%.1f×" : "%.2f×")), r } else print "n/a" }'; }
versions="$("$peer_python" -c 'import django, rest_framework, rest_framework_simplejwt, gunicorn, sys
print("Python %d.%d.%d, Django %s, DRF %s, simplejwt %s, gunicorn %s" % (*sys.version_info[:3], django.__version__, rest_framework.__version__, rest_framework_simplejwt.__version__, gunicorn.__version__))')"
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }'; }
report="$work/report.md"
{
  echo "Date: $(date -u +%Y-%m-%d). Machine: $(machine);"
  echo "$(rustc --version | cut -d' ' -f1-2), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2); $versions."
  echo "Command: \`$command_line\` ($mode mode: $connections connections, $threads wrk threads,"
  echo "$duration s per row; wrk and the servers share the cores). Load average (1 min) at the end: $(cut -d' ' -f1 /proc/loadavg)."
  echo
  echo "| workload | server | requests/s | p50 | p99 | requests | non-2xx (server / wrk) | server CPU per answer (µs) | RSS after (MiB) |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for row in login_high login_low refresh verify me; do
    for kind in tollgate simplejwt; do
      k="$kind:$row"
      echo "| ${labels[$row]} | $kind | $(thousands "${rps[$k]}") | $(fmt_us "${p50[$k]}") | $(fmt_us "${p99[$k]}") | $(thousands "${requests[$k]}") | ${non2xx[$k]} | $(thousands "${cpu_us[$k]}") | ${rss_after[$k]} |"
    done
  done
  echo
  echo "Ratios tollgate / Simple JWT (requests/s: higher is better for tollgate; latency and CPU: lower is):"
  echo
  echo "| workload | requests/s | p50 | p99 | CPU per answer |"
  echo "|---|---|---|---|---|"
  for row in login_high login_low refresh verify me; do
    t="tollgate:$row" s="simplejwt:$row"
    echo "| ${labels[$row]} | **$(ratio "${rps[$t]}" "${rps[$s]}")** | $(ratio "${p50[$t]}" "${p50[$s]}") | $(ratio "${p99[$t]}" "${p99[$s]}") | $(ratio "${cpu_us[$t]}" "${cpu_us[$s]}") |"
  done
  echo
  echo "Peak RSS (VmHWM; Simple JWT: gunicorn's master and 2 workers summed): at $(thousands $high_iterations) iterations"
  echo "tollgate $(mib "${peak[tollgate:high]}") MiB, Simple JWT $(mib "${peak[simplejwt:high]}") MiB; at $(thousands $low_iterations) (the other rows)"
  echo "tollgate $(mib "${peak[tollgate:low]}") MiB, Simple JWT $(mib "${peak[simplejwt:low]}") MiB."
  echo "One password hash at $(thousands $high_iterations) iterations, each server's own code: tollgate $hash_tollgate_ms ms of CPU"
  echo "(median of $((4 * probes)) runs, from $hash_spread ms), Django $hash_django_ms ms (median of $probes). Refresh rows: tollgate used $(thousands "${requests[tollgate:refresh]}") of $(thousands "${minted[tollgate:]}") minted"
  echo "tokens, Simple JWT $(thousands "${requests[simplejwt:refresh]}") of $(thousands "${minted[simplejwt:]}")."
  echo
  echo "Large store (tollgate alone): \`tollgate tokens seed --outstanding $(thousands $seed_outstanding) --blacklisted $(thousands $seed_blacklisted)\`"
  echo "took $seed_seconds s ($(sed 's/ in [0-9.]* s$//' "$work/seed.txt")); data folder $(mb "$disk_seeded") MB."
  echo "The server opened it in $(thousands "$open_ms") ms with $(mib "$rss_open") MiB RSS; its peak was $(mib "${peak[tollgate:big]}") MiB."
  echo
  echo "| workload | requests/s | p50 | p99 | server CPU per answer (µs) | vs the small store |"
  echo "|---|---|---|---|---|---|"
  for row in refresh verify; do
    k="tollgate:${row}_big"
    echo "| ${labels[${row}_big]} | $(thousands "${rps[$k]}") | $(fmt_us "${p50[$k]}") | $(fmt_us "${p99[$k]}") | $(thousands "${cpu_us[$k]}") | $(ratio "${rps[$k]}" "${rps[tollgate:$row]}") |"
  done
  echo
  echo "Then, server stopped, with $(thousands "${counts% *}") outstanding and $(thousands "${counts#* }") blacklisted tokens:"
  echo "\`tollgate tokens flush-expired\` took $(awk -v t="$flush_times" 'BEGIN { split(t, a, " "); printf "%.1f s (%.1f s of CPU)", a[1], a[2] + a[3] }')"
  echo "and said \"$flush_line\"; data folder $(mb "$disk_before_flush") MB before, $(mb "$disk_after_flush") MB after."
  echo
  met() { if awk "BEGIN { exit !($1) }"; then echo "**met**"; else echo "**missed**"; fi; }
  r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
  verify_ratio="$(r "${rps[tollgate:verify]}" "${rps[simplejwt:verify]}")"
  me_ratio="$(r "${rps[tollgate:me]}" "${rps[simplejwt:me]}")"
  refresh_ratio="$(r "${rps[tollgate:refresh]}" "${rps[simplejwt:refresh]}")"
  login_ratio="$(r "${rps[tollgate:login_high]}" "${rps[simplejwt:login_high]}")"
  login_over="$(awk -v c="${cpu_us[tollgate:login_high]}" -v h="$hash_tollgate_ms" 'BEGIN { printf "%.1f", (c / 1000 / h - 1) * 100 }')"
  peak_mb="$(mb "$(printf '%s\n' "${peak[tollgate:high]}" "${peak[tollgate:low]}" | sort -n | tail -1)")"
  change() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.0f", (a / b - 1) * 100 }'; }
  big_refresh="$(change "${rps[tollgate:refresh_big]}" "${rps[tollgate:refresh]}")"
  big_verify="$(change "${rps[tollgate:verify_big]}" "${rps[tollgate:verify]}")"
  echo "Goals (issue #6), from this run$([[ $mode == quick ]] && echo " (quick mode: a smoke test, not a measurement)"):"
  echo
  echo "- verify at least 50× Simple JWT's requests/s, p99 under 5 ms: $(met "$verify_ratio >= 50 && ${p99[tollgate:verify]} < 5000") (${verify_ratio}×, p99 $(fmt_us "${p99[tollgate:verify]}"))."
  echo "- \`GET /api/me/\` the same: $(met "$me_ratio >= 50 && ${p99[tollgate:me]} < 5000") (${me_ratio}×, p99 $(fmt_us "${p99[tollgate:me]}"))."
  echo "- refresh with rotation, durable before the reply, at least 20×: $(met "$refresh_ratio >= 20") (${refresh_ratio}×)."
  echo "- login at the same iteration count ($(thousands $high_iterations)) at least 2×: $(met "$login_ratio >= 2") (${login_ratio}×); and at most 10% above the raw hash:"
  echo "  $(met "$login_over <= 10") (CPU per login $(awk -v c="${cpu_us[tollgate:login_high]}" 'BEGIN { printf "%.1f", c / 1000 }') ms against $hash_tollgate_ms ms for the hash: ${login_over}% above; all the work of a login"
  echo "  but the hash's iterations is at most the CPU of a login at $(thousands $low_iterations): $(awk -v c="${cpu_us[tollgate:login_low]}" -v h="${cpu_us[tollgate:login_high]}" 'BEGIN { printf "%.2f ms, %.1f%% of the login at %s", c / 1000, c / h * 100, "1,000,000" }'))."
  echo "- tollgate's peak RSS under this load below 64 MB: $(met "$peak_mb < 64") ($peak_mb MB of 10^6 bytes; the large-store server: $(mb "${peak[tollgate:big]}") MB)."
  echo "- with the large store, refresh and verify lose less than 20% of their rate: refresh $(met "$big_refresh > -20")"
  echo "  ($(thousands "${rps[tollgate:refresh_big]}") against $(thousands "${rps[tollgate:refresh]}") requests/s: ${big_refresh}%), verify $(met "$big_verify > -20")"
  echo "  ($(thousands "${rps[tollgate:verify_big]}") against $(thousands "${rps[tollgate:verify]}"): ${big_verify}%)."
} >"$report"
echo
cat "$report"

if [[ $record == true ]]; then
  record_block BENCHMARKS.md '<!-- bench/load.sh --record: begin -->' '<!-- bench/load.sh --record: end -->' "$report"
  say "recorded in BENCHMARKS.md"
fi

say "done"
report_failed || exit 1
