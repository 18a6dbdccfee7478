#!/usr/bin/env bash
# Instructions per answer of two builds of the tollgate server, counted by valgrind's
# callgrind: a steadier companion to bench/compare.sh, whose wall-clock and CPU-time
# figures on a shared machine cannot show a change of a few percent.
#
#   bench/instructions.sh BASELINE_BIN CURRENT_BIN               N = 2,000 requests per phase,
#                                                                3 rounds (about 9 minutes)
#   bench/instructions.sh BASELINE_BIN CURRENT_BIN --requests N  another N
#   bench/instructions.sh BASELINE_BIN CURRENT_BIN --rounds R    another number of rounds
#                                                                (odd is best: medians)
# The same binary as both sides shows how repeatable the counts are.
#
# Needs valgrind (callgrind_control), python3 and curl; builds nothing. In each round, for
# each binary (baseline first in odd rounds, current first in even ones): a fresh data
# folder with one user (`tollgate users add`, PBKDF2 at 1,000 iterations), the same random
# HS256 key, `tollgate serve` on 127.0.0.1 under
#   valgrind --tool=callgrind --dump-instr=no
# with bench/lib.sh's settings (no TOLLGATE_* from the caller, login throttles raised).
# A python3 client (http.client, one keep-alive connection per phase, one request at a
# time) first warms every route up (20 requests each, not measured), then runs the phases
# of N requests each; around each measured one `callgrind_control -z` zeroes the counters
# and `callgrind_control -d` dumps them (one file per phase):
#   login            POST /api/token/
#   (mint)           N more logins whose refresh tokens the refresh phase uses: not measured
#   refresh          POST /api/token/refresh/ (rotation on), each with its own unused token
#   verify           POST /api/token/verify/ with one access token
#   me               GET /api/me/ with `Authorization: Bearer` that token
#   idle             5 s without requests: the server's background work (timers, sled's
#                    flusher), which any phase's window also holds for its wall time
# Every answer must be 200 with the expected body (login and refresh: an access and a
# refresh token), and the server's /metrics must count the same answers.
# Instructions per answer = all of the server process's Ir (every thread, user space only:
# the kernel's work, fsync included, is not counted) in the phase / its answers. They are
# not exactly the same from one server run to the next (about 1% on the fast rows: glibc
# malloc's fast-path hits and tokio's parking depend on the run's heap and timing), hence
# the rounds: the report gives per phase each build's median over the rounds, the ratio
# current / baseline, the rounds' own ratios and each build's spread; and for refresh and
# verify the functions whose Ir per answer (over all rounds) differ most, self and
# inclusive (the dumps are parsed here: callgrind_annotate 3.19 books the cost of calls in
# progress at a zero, `calls=0` lines, as the caller's self cost). tollgate's functions
# are matched across builds without their module path (a moved function keeps its key).
# Each server stops with SIGTERM after its phases; the work folder (dumps
# BUILD.rROUND.PHASE.callgrind, server logs, report.md) is kept and printed, the data
# folders removed. Exits non-zero if an answer was not 200 or the counts disagree.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command_line="bench/instructions.sh$(printf ' %q' "$@")"

usage() {
  echo "usage: bench/instructions.sh BASELINE_BIN CURRENT_BIN [--requests N] [--rounds R]" >&2
  exit 2
}
count=2000 rounds=3 baseline_bin="" current_bin=""
while (($# > 0)); do
  case "$1" in
    --requests | --rounds)
      (($# >= 2)) || usage
      if [[ $1 == --requests ]]; then count=$2; else rounds=$2; fi
      shift ;;
    -h | --help) sed -n '2,44p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) usage ;;
    *)
      if [[ -z $baseline_bin ]]; then baseline_bin=$1
      elif [[ -z $current_bin ]]; then current_bin=$1
      else usage; fi ;;
  esac
  shift
done
[[ -n $baseline_bin && -n $current_bin ]] || usage
[[ $count =~ ^[1-9][0-9]*$ ]] || { echo "--requests takes a whole number from 1" >&2; exit 2; }
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "--rounds takes a whole number from 1" >&2; exit 2; }
executable() { [[ -f $1 && -x $1 ]] || { echo "not an executable file: $1" >&2; exit 2; }; realpath "$1"; }
baseline_bin="$(executable "$baseline_bin")"
current_bin="$(executable "$current_bin")"
for tool in valgrind callgrind_control python3 curl sha256sum; do
  command -v "$tool" >/dev/null || { echo "bench/instructions.sh needs $tool" >&2; exit 1; }
done
cd "$root"

iterations=1000
warmup=20
idle_seconds=5
bench_user=bench
bench_email=bench@example.com
bench_password="bench-$RANDOM-$RANDOM-password"
started=$SECONDS
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"

# The work folder is kept (the dumps are the point); on exit the server is stopped and the
# data folders removed.
work="$(mktemp -d "${TMPDIR:-/tmp}/tollgate-instructions.XXXXXX")"
server_kind=tollgate
# stop_callgrind_server: SIGTERM, then waits (the server drains and flushes its store, and
# callgrind writes its last dump; slow under valgrind) up to 60 s before SIGKILL.
stop_callgrind_server() {
  [[ -n $server_pid ]] || return 0
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 600); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$server_pid" 2>/dev/null; then
      echo "the server did not stop within 60 s of SIGTERM; SIGKILL" >&2
      kill -KILL "$server_pid" 2>/dev/null || true
    fi
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap 'stop_callgrind_server; rm -rf "$work"/data-*' EXIT
trap 'exit 130' INT TERM

only_bench_settings
TOLLGATE_SIGNING_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
export TOLLGATE_SIGNING_KEY

# --- the client: phases, zero and dump around the measured ones -----------------------
cat >"$work/drive.py" <<'PY'
"""Runs the phases against one server under callgrind; writes NAME.phases.json."""
import http.client, json, os, subprocess, sys, time

port, pid, name, work, n, warmup, idle_seconds, user, password = sys.argv[1:]
n, warmup, idle_seconds = int(n), int(warmup), float(idle_seconds)
SETTLE = 0.3  # s before a zero and before a dump: the last answer's trailing work is done
creds = json.dumps({"username": user, "password": password})
JSON = {"Content-Type": "application/json"}
results, dumps = {}, 0


def die(msg):
    print(f"drive.py ({name}): {msg}", file=sys.stderr)
    sys.exit(1)


def control(*args):
    r = subprocess.run(["callgrind_control", *args, pid], capture_output=True, text=True)
    if r.returncode != 0 or "OK" not in r.stdout:
        die(f"callgrind_control {' '.join(args)} failed: {r.stdout}{r.stderr}")


def dump(phase):
    global dumps
    control("-d", phase)
    dumps += 1
    src = os.path.join(work, f"{name}.callgrind.{dumps}")
    for _ in range(600):
        if os.path.exists(src):
            with open(src, "rb") as f:
                f.seek(max(0, os.path.getsize(src) - 200))
                if b"\ntotals:" in f.read():
                    break
        time.sleep(0.1)
    else:
        die(f"no complete dump {src}")
    os.rename(src, os.path.join(work, f"{name}.{phase}.callgrind"))


def connect():
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=300)
    c.request("GET", "/healthz")  # the connection is accepted outside the window
    r = c.getresponse()
    r.read()
    if r.status != 200:
        die(f"/healthz answered {r.status}")
    return c


def login(c, _):
    c.request("POST", "/api/token/", creds, JSON)
    return c.getresponse()


def has_pair(body):
    try:
        j = json.loads(body)
        return bool(j.get("access")) and bool(j.get("refresh"))
    except ValueError:
        return False


def run(phase, send, count, check, measured, keep=None):
    c = connect()
    if measured:
        time.sleep(SETTLE)
        control("-z")
    ok, bad, t0 = 0, {}, time.monotonic()
    for i in range(count):
        r = send(c, i)
        body = r.read()
        if r.status == 200 and check(body):
            ok += 1
            if keep is not None:
                keep.append(json.loads(body))
        else:
            key = f"{r.status} {body[:80]!r}"
            bad[key] = bad.get(key, 0) + 1
    seconds = time.monotonic() - t0
    if measured:
        time.sleep(SETTLE)
        dump(phase)
    c.close()
    results[phase] = {"requests": count, "answers": ok, "bad": bad, "seconds": seconds,
                      "measured": measured}
    if bad:
        print(f"drive.py ({name}): {phase}: not 200 or unexpected body: {bad}", file=sys.stderr)


def refresh_with(tokens):
    def send(c, i):
        c.request("POST", "/api/token/refresh/", json.dumps({"refresh": tokens[i]}), JSON)
        return c.getresponse()
    return send


def verify_with(access):
    body = json.dumps({"token": access})
    def send(c, _):
        c.request("POST", "/api/token/verify/", body, JSON)
        return c.getresponse()
    return send


def me_with(access):
    headers = {"Authorization": "Bearer " + access}
    def send(c, _):
        c.request("GET", "/api/me/", headers=headers)
        return c.getresponse()
    return send


is_empty_object = lambda b: b.strip() == b"{}"
is_me = lambda b: json.loads(b).get("username") == user

# Warm-up, not measured: every route once and again (lazy initialisation, allocator).
pairs = []
run("warmup_login", login, warmup, has_pair, False, pairs)
if len(pairs) < warmup:
    die("warm-up logins failed")
run("warmup_refresh", refresh_with([p["refresh"] for p in pairs]), warmup, has_pair, False)
run("warmup_verify", verify_with(pairs[-1]["access"]), warmup, is_empty_object, False)
run("warmup_me", me_with(pairs[-1]["access"]), warmup, is_me, False)

run("login", login, n, has_pair, True)
minted = []
run("mint", login, n, has_pair, False, minted)
if len(minted) < n:
    die("minting refresh tokens failed")
access = minted[-1]["access"]
run("refresh", refresh_with([p["refresh"] for p in minted]), n, has_pair, True)
run("verify", verify_with(access), n, is_empty_object, True)
run("me", me_with(access), n, is_me, True)

# Background: no requests for a while.
control("-z")
t0 = time.monotonic()
time.sleep(idle_seconds)
results["idle"] = {"requests": 0, "answers": 0, "bad": {}, "measured": True,
                   "seconds": time.monotonic() - t0}
dump("idle")

# The server's own count of 200 answers per route, against the client's.
c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=300)
c.request("GET", "/metrics")
metrics = c.getresponse().read().decode()
c.close()
counted = {}
for line in metrics.splitlines():
    if line.startswith("tollgate_requests_total{"):
        labels, value = line.rsplit(" ", 1)
        if 'status="200"' in labels:
            route = labels.split('route="', 1)[1].split('"', 1)[0]
            counted[route] = counted.get(route, 0) + int(float(value))
    elif line.startswith("tollgate_reuse_detections_total "):
        counted["reuse_detections"] = int(float(line.split()[1]))
answered = lambda *ps: sum(results[p]["answers"] for p in ps)
expected = {"token_obtain": answered("warmup_login", "login", "mint"),
            "token_refresh": answered("warmup_refresh", "refresh"),
            "token_verify": answered("warmup_verify", "verify"),
            "me": answered("warmup_me", "me"), "reuse_detections": 0}
mismatch = {k: (v, counted.get(k)) for k, v in expected.items() if counted.get(k) != v}
with open(os.path.join(work, f"{name}.phases.json"), "w") as f:
    json.dump({"phases": results, "server_counted": counted, "mismatch": mismatch}, f, indent=1)
if mismatch:
    die(f"the server's /metrics disagree with the client (expected, counted): {mismatch}")
if any(r["bad"] for r in results.values()):
    sys.exit(1)
PY

# --- the report: totals per phase, function differences ---------------------------------
cat >"$work/analyze.py" <<'PY'
"""Reads NAME.PHASE.callgrind and NAME.phases.json of baseline and current; prints markdown."""
import json, os, re, sys
from collections import defaultdict

work = sys.argv[1]
PHASES = [("login", "login, PBKDF2 1,000 iterations (POST /api/token/)"),
          ("refresh", "refresh with rotation, an unused token each (POST /api/token/refresh/)"),
          ("verify", "verify, one access token (POST /api/token/verify/)"),
          ("me", "GET /api/me/ (Bearer)")]
TOP = 10
NAME_REF = re.compile(r"\((\d+)\)(?: (.*))?$")


def parse(path):
    """Total Ir (summary:), self Ir per function (recursion levels 'N merged), and
    inclusive Ir per outermost function (self + its calls to other functions)."""
    names, total, totals = {}, None, None
    self_cost, incl_calls = defaultdict(int), defaultdict(int)
    fn = cfn = None
    in_call = False

    def resolve(s):
        m = NAME_REF.match(s.strip())
        if not m:
            return s.strip()
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names[m.group(1)]

    with open(path, errors="replace") as f:
        for line in f:
            c = line[:1]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                cost = int(parts[1]) if len(parts) > 1 else 0
                if in_call:
                    if cfn != fn:
                        incl_calls[fn] += cost
                    in_call = False
                else:
                    self_cost[fn] += cost
            elif line.startswith("fn="):
                fn = resolve(line[3:])
            elif line.startswith("cfn="):
                cfn = resolve(line[4:])
            elif line.startswith("calls="):
                in_call = True
            elif line.startswith("summary:"):
                total = int(line.split()[1])
            elif line.startswith("totals:"):
                totals = int(line.split()[1])
    merged = defaultdict(int)
    for f, v in self_cost.items():
        merged[re.sub(r"'\d+$", "", f)] += v
    inclusive = {f: self_cost[f] + incl_calls[f] for f in set(self_cost) | set(incl_calls)
                 if not re.search(r"'\d+$", f)}
    if total is None or sum(self_cost.values()) != totals:
        sys.exit(f"{path}: not read as expected (self costs {sum(self_cost.values())}, totals {totals})")
    return total, merged, inclusive


def load(build):
    """Per round of that build: its phases.json and its dumps, parsed."""
    runs = []
    r = 1
    while os.path.exists(os.path.join(work, f"{build}.r{r}.phases.json")):
        with open(os.path.join(work, f"{build}.r{r}.phases.json")) as f:
            phases = json.load(f)["phases"]
        dumps = {p: parse(os.path.join(work, f"{build}.r{r}.{p}.callgrind"))
                 for p in [p for p, _ in PHASES] + ["idle"]}
        runs.append((phases, dumps))
        r += 1
    return runs


def num(x, digits=0):
    return f"{x:,.{digits}f}"


def short(fn, width=110):
    return fn if len(fn) <= width else fn[: width - 1] + "…"


def median(xs):
    xs = sorted(xs)
    return xs[(len(xs) - 1) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


PATH_ONLY = re.compile(r"^(tollgate_server|tollgate_core)((::[A-Za-z_][A-Za-z0-9_]*)|(::\{\{closure\}\}))+$")


def fold(fn):
    """A function of tollgate's crates without its modules (so that a function that moved
    to another module keeps its key): from its type (CamelCase) or else from its name on;
    other names unchanged."""
    if not PATH_ONLY.match(fn):
        return fn
    parts = fn.split("::")
    crate = parts[0]
    for i, part in enumerate(parts[1:], 1):
        if part[:1].isupper():
            return crate + "::…::" + "::".join(parts[i:])
    i = len(parts) - 1
    while i > 1 and parts[i] == "{{closure}}":
        i -= 1
    return crate + "::…::" + "::".join(parts[i:])


def folded(runs, phase, idx):
    """Per function key: Ir over all rounds; the names behind each key."""
    by_key, names = defaultdict(int), defaultdict(set)
    for _, dumps in runs:
        for fn, v in dumps[phase][idx].items():
            by_key[fold(fn)] += v
            if v:
                names[fold(fn)].add(fn)
    return by_key, names


def label(key, nb, nc):
    b, c = nb.get(key, set()), nc.get(key, set())
    if b == c and len(b) == 1:
        return f"`{short(next(iter(b)))}`"
    if len(b) == 1 and len(c) == 1:
        return f"`{short(next(iter(b)), 60)}` → `{short(next(iter(c)), 60)}`"
    return f"`{short(key)}`"


base, cur = load("baseline"), load("current")
rounds = min(len(base), len(cur))
base, cur = base[:rounds], cur[:rounds]
n = base[0][0]["login"]["requests"]
per_answer = lambda runs, p: [d[p][0] / ph[p]["answers"] for ph, d in runs]
answers = lambda runs, p: sum(ph[p]["answers"] for ph, _ in runs)
spread = lambda xs: (max(xs) / min(xs) - 1) * 100
out = []
word = "round" if rounds == 1 else "rounds"
out.append(f"| phase ({num(n)} requests per round) | answers (200), baseline / current | "
           f"instructions per answer, baseline | current | current / baseline | "
           f"the {word}' own ratios | spread of the {word}, baseline / current |")
out.append("|---|---|---|---|---|---|---|")
for p, label_ in PHASES:
    xb, xc = per_answer(base, p), per_answer(cur, p)
    mb, mc = median(xb), median(xc)
    ratios = [c / b for b, c in zip(xb, xc)]
    out.append(f"| {label_} | {num(answers(base, p))} / {num(answers(cur, p))} | {num(mb)} | {num(mc)} | "
               f"**{mc / mb:.4f}** | {min(ratios):.4f} to {max(ratios):.4f} | "
               f"{spread(xb):.2f}% / {spread(xc):.2f}% |")
out.append("")
if rounds > 1:
    out.append(f"Figures per answer: medians over the {rounds} rounds (each a fresh server per build, "
               "the order of the builds swapped every round). Spread: (highest / lowest − 1) of a build's rounds.")
    out.append("")
rate = lambda runs: [d["idle"][0] / ph["idle"]["seconds"] for ph, d in runs]
share = lambda runs, p: max(d["idle"][0] / ph["idle"]["seconds"] * (ph[p]["seconds"] + 0.6) / d[p][0] * 100
                            for ph, d in runs)
out.append(f"Background while idle ({base[0][0]['idle']['seconds']:.0f} s without requests, after the phases): "
           f"{num(median(rate(base)))} instructions/s baseline, {num(median(rate(cur)))} current (medians). "
           f"A phase's window holds it for the phase's wall time + 0.6 s: at most "
           + ", ".join(f"{p} {max(share(base, p), share(cur, p)):.2f}%" for p, _ in PHASES)
           + " of the phase's instructions.")

for p in ("refresh", "verify"):
    ab, ac = answers(base, p), answers(cur, p)
    tb = sum(d[p][0] for _, d in base) / ab
    tc = sum(d[p][0] for _, d in cur) / ac
    for kind, idx, what in (
            ("self", 1, "self Ir (a function's own instructions, code inlined into it included)"),
            ("inclusive", 2, "inclusive Ir (self + callees; tollgate's functions found in both builds)")):
        fb, nb = folded(base, p, idx)
        fc, nc = folded(cur, p, idx)
        keys = set(fb) | set(fc)
        if kind == "inclusive":
            keys = {k for k in keys if k.startswith("tollgate_") and k in fb and k in fc}
        rows = sorted(((fc.get(k, 0) / ac - fb.get(k, 0) / ab, k) for k in keys),
                      key=lambda r: (-abs(r[0]), r[1]))[:TOP]
        out.append("")
        out.append(f"**{p}: top {TOP} functions by difference in {what}, per answer "
                   f"over all rounds** (the phase: {num(tb)} → {num(tc)}, {tc - tb:+,.0f})")
        out.append("")
        out.append("| function | baseline | current | difference |")
        out.append("|---|---|---|---|")
        for diff, k in rows:
            cell = lambda costs, a: num(costs[k] / a, 1) if k in costs else "—"
            out.append(f"| {label(k, nb, nc)} | {cell(fb, ab)} | {cell(fc, ac)} | {diff:+,.1f} |")
print("\n".join(out))
PY

# --- measuring ---------------------------------------------------------------------------
# measure NAME BINARY: the phases against that build under callgrind; dumps in $work.
measure() {
  local name=$1
  bin=$2
  say "$name: data folder, user, server under callgrind"
  tollgate_data "$name" "$iterations"
  local port
  port="$(free_port)"
  base="http://127.0.0.1:$port"
  server_log="$work/server-$name.log"
  (cd "$work" && exec valgrind --tool=callgrind --callgrind-out-file="$work/$name.callgrind" \
    --dump-instr=no "$bin" serve --bind "127.0.0.1:$port" --no-demo-user) >"$server_log" 2>&1 &
  server_pid=$!
  wait_up
  say "$name: warm-up, then login, (mint), refresh, verify, me: $(thousands "$count") requests each; idle ${idle_seconds} s"
  if ! python3 "$work/drive.py" "$port" "$server_pid" "$name" "$work" "$count" "$warmup" \
    "$idle_seconds" "$bench_user" "$bench_password"; then
    stop_callgrind_server
    echo "--- last lines of $server_log" >&2; tail -n 20 "$server_log" >&2
    echo "callgrind files and logs: $work" >&2
    exit 1
  fi
  say "$name: stop (SIGTERM)"
  stop_callgrind_server
  rm -rf "$work/data-$name"
}

identity() { echo "\`$1\` (sha256 $(sha256sum "$1" | cut -c1-12))"; }
say "work folder (kept): $work"
for round in $(seq "$rounds"); do
  if ((round % 2 == 1)); then
    measure "baseline.r$round" "$baseline_bin"; measure "current.r$round" "$current_bin"
  else
    measure "current.r$round" "$current_bin"; measure "baseline.r$round" "$baseline_bin"
  fi
done

report="$work/report.md"
{
  echo "Date: $(date -u +%Y-%m-%d). Machine: $(machine); $(valgrind --version)."
  echo "Command: \`$command_line\`."
  echo
  echo "- baseline: $(identity "$baseline_bin")"
  echo "- current: $(identity "$current_bin")"
  echo
  python3 "$work/analyze.py" "$work"
  echo
  echo "Instructions: all of the server process's instructions (every thread) that callgrind counted between"
  echo "\`callgrind_control -z\` and \`-d\` around the phase, over its answers (all 200 OK); one client request at a time."
  echo "User space only: the kernel's work (syscalls, network, sled's fsync on refresh) is not in them."
  echo "Dumps, logs: \`$work\` (BUILD.rROUND.PHASE.callgrind)."
} >"$report"
echo
cat "$report"
say "done; callgrind files in $work"
