#!/usr/bin/env bash
# Runs the README's "Several replicas" recipe, as written, and checks what it printed:
# three replicas of `tollgate serve` on a fresh database of the PostgreSQL cluster of
# scripts/postgres.sh (start it first; the test command does). The only changes: the
# recipe's ports 8001-8003 become free ones, the database is a fresh one given in
# TOLLGATE_DATABASE_URL (the recipe's "yours"), and hashing is cheap.
#
#   scripts/readme-replicas.sh path/to/tollgate
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
binary="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

url="$("$root/scripts/postgres.sh" createdb readme_replicas)"
recipe="$(sed -n '/^<!-- replicas -->$/,/^<!-- \/replicas -->$/p' "$root/README.md" | sed '1,2d;$d' | sed '$d')"
[ -n "$recipe" ] || { echo "README.md has no <!-- replicas --> block" >&2; exit 1; }
read -r -a ports < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
recipe="$(sed -e "s/\b8001\b/${ports[0]}/g" -e "s/\b8002\b/${ports[1]}/g" -e "s/\b8003\b/${ports[2]}/g" <<<"$recipe")"

# The trap stops the replicas (the recipe's own jobs) if the recipe fails half-way.
output="$(cd "$work" && PATH="$(dirname "$binary"):$PATH" TOLLGATE_DATABASE_URL="$url" \
  TOLLGATE_PBKDF2_ITERATIONS=1000 timeout 120 bash -euo pipefail -c \
  "trap 'kill \$(jobs -p) 2>/dev/null || true' EXIT
$recipe" 2>"$work/stderr")" || { cat "$work/stderr" >&2; echo "$output" >&2; exit 1; }
passed=0
failed=0
for expected in \
  'one successor, on two replicas' \
  'tollgate-refresh-reuse: grace' \
  '{"status":"OK, goodbye, all refresh tokens blacklisted"}' \
  '{"detail":"Token is blacklisted","code":"token_not_valid"}'; do
  if grep -qF -- "$expected" <<<"$output"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "README replicas: missing $expected" >&2; fi
done
[ "$failed" -eq 0 ] || { echo "$output" >&2; cat "$work/stderr" >&2; }
echo "readme-replicas: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
