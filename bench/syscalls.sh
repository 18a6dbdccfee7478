#!/usr/bin/env bash
# System calls per refresh of one build of the tollgate server: N sequential refreshes with
# rotation (one keep-alive connection, one request at a time, each with its own unused
# refresh token from an unmeasured login) under `strace -c -f`, which prints the calls of
# every server thread by name. With one request at a time every answer waits for its own
# flush, so the counts compare builds without the batching of a loaded server.
#
#   bench/syscalls.sh BIN [N]      N = 500 (about half a minute)
#
# Needs strace (Debian package), python3 and curl; builds nothing. A fresh data folder and
# user, `tollgate serve` on 127.0.0.1 (PBKDF2 at 1,000 iterations, throttles raised), the
# server stopped with SIGTERM at the end. Prints strace's table (calls per name over the N
# answers) and exits non-zero if a refresh was not answered 200.
set -euo pipefail
bin=${1:?usage: bench/syscalls.sh BIN [N]} n=${2:-500}
command -v strace >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null; }
work=$(mktemp -d)
pid="" spid=""
cleanup() {
  [[ -z $spid ]] || kill -INT "$spid" 2>/dev/null || true
  [[ -z $pid ]] || { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT
while read -r name; do unset "$name"; done < <(compgen -e | grep '^TOLLGATE_' || true)
export TOLLGATE_SIGNING_KEY="bench-syscalls-$RANDOM$RANDOM-0123456789abcdefghijklmnopqrstuvwxyz"
export TOLLGATE_PBKDF2_ITERATIONS=1000 TOLLGATE_DATA_DIR="$work/data"
export TOLLGATE_LOGIN_THROTTLE_USERNAME=1000000000/s TOLLGATE_LOGIN_THROTTLE_IP=1000000000/s
cd "$work"
echo bench-password | "$bin" users add bench --password-stdin >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve --bind "127.0.0.1:$port" --no-demo-user >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
# drive PHASE: `login` writes N refresh tokens to $work/tokens; `refresh` spends them.
drive() {
  python3 - "$1" "$port" "$n" "$work/tokens" <<'PY'
import http.client, json, sys
phase, port, n, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
c = http.client.HTTPConnection("127.0.0.1", port)
def post(url, body):
    c.request("POST", url, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    return r.status, json.loads(r.read())
if phase == "login":
    tokens = [post("/api/token/", {"username": "bench", "password": "bench-password"})[1]["refresh"] for _ in range(n)]
    open(path, "w").write("\n".join(tokens))
else:
    bad = sum(post("/api/token/refresh/", {"refresh": t})[0] != 200 for t in open(path).read().split())
    sys.exit(f"{bad} refreshes not answered 200" if bad else 0)
PY
}
drive login
sleep 2 # the logins' flushes done
strace -c -f -o "$work/strace" -p "$pid" 2>/dev/null &
spid=$!
sleep 1 # attached to every thread
drive refresh
sleep 1
kill -INT "$spid"; wait "$spid" 2>/dev/null || true; spid=""
echo "$bin: system calls of $n sequential refreshes with rotation (strace -c -f)"
cat "$work/strace"
