#!/usr/bin/env bash
# Runs the README's curl tour, as written, against a fresh server and checks what it
# printed. Usage: scripts/readme-tour.sh path/to/tollgate
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
binary="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
work="$(mktemp -d)"
log="$work/server.log"
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# Fast hashing for the test; everything else is the default configuration.
(cd "$work" && TOLLGATE_PBKDF2_ITERATIONS=1000 exec "$binary" serve --bind 127.0.0.1:0 >"$log" 2>&1) &
pid=$!
for _ in $(seq 200); do
  grep -q "tollgate listening on" "$log" 2>/dev/null && break
  sleep 0.05
done
BASE="$(sed -n 's/^tollgate listening on \(http:[^ ]*\)\/$/\1/p' "$log")"
[ -n "$BASE" ] || { cat "$log" >&2; exit 1; }
grep -q 'created demo user "demo" with password "tollgate-demo"' "$log"

tour="$(sed -n '/^<!-- tour -->$/,/^<!-- \/tour -->$/p' "$root/README.md" | sed '1,2d;$d' | sed '$d')"
output="$(BASE="$BASE" bash -euo pipefail -c "$tour")"
passed=0
failed=0
for expected in \
  '{"id":1,"username":"demo"}' \
  '{}' \
  'tollgate-refresh-reuse: grace' \
  '{"detail":"Token is blacklisted","code":"token_not_valid"}{"detail":"Token is blacklisted","code":"token_not_valid"}' \
  '{"status":"OK, goodbye, all refresh tokens blacklisted"}' \
  '{"keys":[]}' \
  '{"status":"ok"}' \
  'tollgate_logins_total{result="ok"} 2'; do
  if grep -qF -- "$expected" <<<"$output"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "README tour: missing $expected" >&2; fi
done
[ "$failed" -eq 0 ] || { echo "$output" >&2; }
echo "readme-tour: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
