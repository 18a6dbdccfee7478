#!/usr/bin/env bash
# The OpenAPI document against a live server: openapi-spec-validator checks
# /api/schema/, Chromium renders /api/schema/docs/, then schemathesis generates requests for every operation and checks every
# answer against the document (no 5xx; status, content type, headers and body as
# documented). A fresh server on 127.0.0.1 with a throwaway data folder, stopped at the
# end. Usage: tests/openapi/run.sh path/to/tollgate
#   OPENAPI_VENV   the venv (default: <repo>/.venv-openapi), made or updated by
#                           scripts/ensure-venv.sh from tests/openapi/requirements.txt
#   OPENAPI_EXAMPLES  examples per operation and phase (default: 100)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
binary="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
venv="${OPENAPI_VENV:-$root/.venv-openapi}"
examples="${OPENAPI_EXAMPLES:-100}"
bash "$root/scripts/ensure-venv.sh" "$venv" "$root/tests/openapi/requirements.txt"

work="$(mktemp -d)"
cleanup() { if [ -n "${pid:-}" ]; then kill "$pid" 2>/dev/null || true; fi; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# One server, one schemathesis run. MODE names it; the rest are `TOLLGATE_*` settings.
# Fast hashing and no login throttle (schemathesis logs in thousands of times; the 429 is
# documented and tested elsewhere); everything else is the default configuration.
run() {
  local mode="$1" dir="$work/$1" n="$2"
  shift 2
  mkdir -p "$dir"
  local log="$dir/server.log"
  # Admin mode: a superuser made offline before the server starts (so no demo user), its
  # token for the admin API's operations only, whose real answers (not only the 403 every
  # other user gets) are then checked against the document.
  local user=demo password=tollgate-demo only=()
  if [ "$mode" = admin ]; then
    user=root password=openapi-admin-password only=(--include-path-regex '^/api/admin/')
    (cd "$dir" && printf '%s\n' "$password" |
      "$binary" users add --staff --superuser --password-stdin "$user" >/dev/null)
  fi
  (cd "$dir" && exec env TOLLGATE_PBKDF2_ITERATIONS=1000 TOLLGATE_LOGIN_THROTTLE_USERNAME=1000000/min \
    TOLLGATE_LOGIN_THROTTLE_IP=1000000/min "$@" "$binary" serve --bind 127.0.0.1:0 >"$log" 2>&1) &
  pid=$!
  for _ in $(seq 200); do
    grep -q "tollgate listening on" "$log" 2>/dev/null && break
    sleep 0.05
  done
  local base
  base="$(sed -n 's/^tollgate listening on \(http:[^ ]*\)\/$/\1/p' "$log")"
  [ -n "$base" ] || { cat "$log" >&2; exit 1; }

  if [ "$mode" = json ]; then
    curl -fsS "$base/api/schema/" -o "$work/openapi.json"
    "$venv/bin/openapi-spec-validator" "$work/openapi.json"
    # The page for people, in Chromium (playwright-core from tests/runtimes).
    node "$root/tests/openapi/docs-page.mjs" "$base" "$dir"
  fi

  # The user's access token, so the Bearer operations answer 200 too (logout and the
  # session operations it drives leave access tokens valid: they are stateless).
  local access
  access="$(curl -fsS -H 'content-type: application/json' -H 'tollgate-csrf: 1' \
    -d "{\"username\":\"$user\",\"password\":\"$password\"}" "$base/api/token/" |
    "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["access"])')"

  local report="$dir/junit.xml" status
  set +e
  # From the throwaway folder: schemathesis keeps a cache of what it found in ./.schemathesis.
  (cd "$dir" && exec "$venv/bin/schemathesis" run "$base/api/schema/" \
    --url "$base" \
    --header "Authorization: Bearer $access" \
    "${only[@]}" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$n" \
    --workers 2 \
    --suppress-health-check all \
    --no-color \
    --report junit --report-junit-path "$report") >"$dir/schemathesis.out" 2>&1
  status=$?
  set -e
  echo "== $mode mode"
  sed -n '/^Test cases:/,/^$/p' "$dir/schemathesis.out"
  # On a failure: schemathesis's ERRORS and FAILURES sections (each with the request that
  # met it, as curl), which sit above the warnings and summary, then the summary.
  if [ "$status" -ne 0 ]; then
    sed -n '/^=* \(ERRORS\|FAILURES\) =*$/,/^=* WARNINGS =*$/p' "$dir/schemathesis.out" | head -n 300 || true
    tail -n 40 "$dir/schemathesis.out"
  fi
  "$venv/bin/python" - "$report" "$status" "$mode" <<'PY'
import sys, xml.etree.ElementTree as ET
report, status, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cases = ET.parse(report).getroot().findall(".//testcase")
failed = [c.get("name") for c in cases if c.find("failure") is not None or c.find("error") is not None]
for c in cases:
    for what in ("failure", "error"):
        for e in c.findall(what):
            print(f"{c.get('name')}: {what}: {(e.get('message') or '')[:500]}\n{(e.text or '')[:2000]}")
print(f"schemathesis ({mode} mode): {len(cases)} operations, {len(failed)} failed ({', '.join(failed) or 'none'}), exit {status}")
sys.exit(1 if failed or status else 0)
PY
  # Nothing of the server's own went wrong meanwhile either.
  if grep -q 'ERROR\|panicked' "$log"; then grep 'ERROR\|panicked' "$log" >&2; exit 1; fi
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

run json "$examples"
# Cookie mode (refresh token in an HttpOnly cookie, CSRF header required), which the
# document describes too: fewer examples, the same checks.
run cookie "$((examples / 4 + 1))" TOLLGATE_REFRESH_TRANSPORT=cookie TOLLGATE_REFRESH_COOKIE_SECURE=false
# The admin API with a superuser's token (every change it makes is to the throwaway store),
# with a key-encryption key so that adding, rotating and revoking keys really happen.
run admin "$((examples / 4 + 1))" \
  TOLLGATE_KEY_ENCRYPTION_KEY="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
