#!/usr/bin/env bash
# tollgate beside a real Django 5.2 + Simple JWT 5.5.1 site on one PostgreSQL database:
# runs README.md's "Beside a Django site" recipe as written and checks what it printed,
# checks that the conformance suite's fixture (server/tests/data/django_schema.sql) is what
# Django's migrations create, and that bad input (a database without Django's migrations,
# a user id beyond 32 bits) gives one error line, a non-zero exit and no write.
# Usage: tests/django/beside.sh path/to/tollgate   (PostgreSQL: scripts/postgres.sh's
# cluster in $TOLLGATE_TEST_PG_DIR, started if needed; the venv: tests/django/.venv)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
binary="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
bash "$root/scripts/ensure-venv.sh" "$root/tests/django/.venv" "$root/tests/django/requirements.txt"
"$root/scripts/postgres.sh" start >/dev/null
pgbin="${TOLLGATE_TEST_PG_BIN:-/usr/lib/postgresql/15/bin}"
work="$(mktemp -d)"
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export PATH="$root/tests/django/.venv/bin:$(dirname "$binary"):$PATH"
export SIGNING_KEY="tollgate-beside-django-test-key-0123456789abcdefghijklmnopqrstuvwxyz"
passed=0 failed=0
check() { # NAME CONDITION...
  local name="$1"; shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "beside-django: FAILED $name" >&2; fi
}
sql() { "$pgbin/psql" -Atq "$1" -c "$2"; }

# 1. The fixture is what real Django's migrations create.
url="$("$root/scripts/postgres.sh" createdb django_fixture)"
(cd "$root/tests/django/site" && DATABASE_URL="$url" python manage.py migrate -v0)
"$root/tests/django/dump-schema.sh" "$url" >"$work/dumped.sql"
grep -v '^-- ' "$root/server/tests/data/django_schema.sql" >"$work/fixture.sql"
check "the fixture equals the schema Django's migrations create" diff -u "$work/fixture.sql" "$work/dumped.sql"

# 2. A database without Django's migrations: one error line, non-zero, nothing written.
url="$("$root/scripts/postgres.sh" createdb django_missing)"
status=0
TOLLGATE_DATABASE_URL="$url" TOLLGATE_DJANGO_SCHEMA=true TOLLGATE_SIGNING_KEY="$SIGNING_KEY" \
  timeout 30 tollgate serve --no-demo-user --bind 127.0.0.1:0 >"$work/out" 2>"$work/err" || status=$?
check "missing migrations: non-zero exit" test "$status" -ne 0
check "missing migrations: one error line naming auth_user" \
  bash -c '[ "$(wc -l <"$1")" -eq 1 ] && grep -q "no table auth_user" "$1"' _ "$work/err"
check "missing migrations: nothing written" test "$(sql "$url" "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" = 0
cat "$work/err" >&2

# 3. The README recipe, as written, on a fresh database.
url="$("$root/scripts/postgres.sh" createdb django_site)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
recipe="$(sed -n '/^<!-- django -->$/,/^<!-- \/django -->$/p' "$root/README.md" | sed '1,2d;$d' | sed '$d')"
output="$(cd "$root" && DATABASE_URL="$url" BASE="http://127.0.0.1:$port" TOLLGATE_BIND="127.0.0.1:$port" \
  TOLLGATE_PBKDF2_ITERATIONS=1000 bash -euo pipefail -c "$recipe" 2>"$work/recipe.err")" || {
  echo "$output"; cat "$work/recipe.err" >&2; exit 1; }
blacklisted='{"detail":"Token is blacklisted","code":"token_not_valid"}'
check "tollgate's logout answered" grep -qxF '{}' <<<"$output"
check "Django's refresh view refuses tollgate's logout, tollgate refuses Django's blacklist" \
  test "$(grep -cxF "$blacklisted" <<<"$output")" -eq 2
check "Django's blacklist view took tollgate's token" grep -qxF 'django blacklist: 200' <<<"$output"
check "Django's admin query lists tollgate's tokens" grep -qxF '2 outstanding, 2 blacklisted' <<<"$output"
check "flushexpiredtokens and flush ran" grep -qxF 'flushed' <<<"$output"

# 4. A user id beyond Django's 32 bits: one error line, non-zero, nothing written (the
#    user before it in the file is not imported either).
cat >"$work/users.json" <<'JSON'
[{"model": "auth.user", "pk": 7, "fields": {"password": "pbkdf2_sha256$1000$s$x", "username": "fits", "first_name": "", "last_name": "", "email": "", "is_staff": false, "is_superuser": false, "last_login": null, "is_active": true, "date_joined": "2024-03-01T12:00:00Z"}},
 {"model": "auth.user", "pk": 4294967296, "fields": {"password": "pbkdf2_sha256$1000$s$x", "username": "wide", "first_name": "", "last_name": "", "email": "", "is_staff": false, "is_superuser": false, "last_login": null, "is_active": true, "date_joined": "2024-03-01T12:00:00Z"}}]
JSON
status=0
TOLLGATE_DATABASE_URL="$url" TOLLGATE_DJANGO_SCHEMA=true TOLLGATE_SIGNING_KEY="$SIGNING_KEY" \
  tollgate users import "$work/users.json" >"$work/out" 2>"$work/err" || status=$?
check "64-bit user id: non-zero exit" test "$status" -ne 0
check "64-bit user id: one error line" \
  bash -c '[ "$(wc -l <"$1")" -eq 1 ] && grep -q "32-bit" "$1"' _ "$work/err"
check "64-bit user id: nothing written" test "$(sql "$url" "SELECT count(*) FROM auth_user")" = 0
cat "$work/err" >&2

[ "$failed" -eq 0 ] || echo "$output" >&2
echo "beside-django: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
