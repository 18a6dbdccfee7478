#!/usr/bin/env bash
# Manages one throwaway PostgreSQL cluster for tests and benchmarks, in a directory of
# its own, never the system's cluster. Every command is idempotent.
#
#   scripts/postgres.sh start [DIR]          # prints postgres://tollgate@127.0.0.1:PORT/tollgate
#   scripts/postgres.sh start --tls [DIR]    # the same, but TCP clients must use TLS (see below)
#   scripts/postgres.sh url [DIR]            # the running cluster's URL, or exit 1
#   scripts/postgres.sh createdb NAME [DIR]  # drops and recreates database NAME, prints its URL
#   scripts/postgres.sh kill [DIR]           # stops it at once (a crash), keeping DIR; `start` recovers it
#   scripts/postgres.sh freeze [DIR]         # SIGSTOPs its processes (a frozen host); `thaw` resumes them
#   scripts/postgres.sh stop [DIR]           # stops the cluster and removes DIR
#
# DIR defaults to $TOLLGATE_TEST_PG_DIR, else ${TMPDIR:-/tmp}/tollgate-pg. It holds data/ (the
# cluster), socket/ (its Unix socket), log (the server log) and url. The only line on
# stdout is a URL; everything else goes to stderr.
#
# `start` on a DIR whose cluster was killed (kill -9, a reboot) starts the same data
# again, so PostgreSQL runs crash recovery: a durability test can kill the server and
# look for its committed rows. Settings are durable on purpose (fsync, synchronous_commit).
# `kill` does that to a running cluster (`pg_ctl stop -m immediate`: no checkpoint, every
# session cut), for tests of clients that must survive a database restart. `freeze`
# stops every process of the cluster with SIGSTOP (connections stay open, nothing
# answers), for tests of clients that must not wait for ever; `thaw` sends SIGCONT, and
# `stop` thaws first.
#
# `start --tls` makes a new cluster that refuses TCP connections without TLS (pg_hba
# `hostnossl ... reject`): DIR/tls/ca.crt is a throwaway CA, and the server's certificate,
# signed by it, is for the host name db.tollgate.test (no IP address), so a client
# connects with postgres://tollgate@db.tollgate.test:PORT/tollgate?hostaddr=127.0.0.1.
# It needs the openssl command. A DIR that already holds a cluster keeps its settings.
#
# As root the server runs as the `postgres` user (initdb and pg_ctl refuse root);
# as anyone else it runs as that user. Binaries: $TOLLGATE_TEST_PG_BIN, else PostgreSQL 15's,
# else the newest installed; Debian's postgresql-15 is installed (apt) only if none is.
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit 1; }
usage() { sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

cmd="${1:-}"
[ $# -gt 0 ] && shift
tls=""
if [ "$cmd" = start ] && [ "${1:-}" = --tls ]; then tls=1; shift; fi
case "$cmd" in
  start | stop | kill | freeze | thaw | url) [ $# -le 1 ] || usage ;;
  createdb) { [ $# -ge 1 ] && [ $# -le 2 ]; } || usage; name="$1"; shift ;;
  *) usage ;;
esac
dir="${1:-${TOLLGATE_TEST_PG_DIR:-${TMPDIR:-/tmp}/tollgate-pg}}"
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac # pg_ctl and the socket need an absolute path
dir="${dir%/}"
data="$dir/data" sock="$dir/socket"
marker="$dir/.tollgate-pg" # only a DIR holding this file is ever removed

# From / (postgres may not enter the caller's cwd), and without fd 9, the lock below: a
# server started with it open would hold the lock for its whole life.
if [ "$(id -u)" -eq 0 ]; then
  as_pg() { (cd / && runuser -u postgres -- "$@") 9<&-; }
else
  as_pg() { (cd / && "$@") 9<&-; }
fi

find_bin() {
  if [ -n "${TOLLGATE_TEST_PG_BIN:-}" ]; then
    echo "$TOLLGATE_TEST_PG_BIN"
  elif [ -x /usr/lib/postgresql/15/bin/initdb ]; then
    echo /usr/lib/postgresql/15/bin
  else
    # The newest installed major version, if any (sort -V: 9.6 < 15 < 16).
    find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null |
      sort -V | tail -n 1 | xargs -r dirname
  fi
}
bin="$(find_bin)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  [ -z "${TOLLGATE_TEST_PG_BIN:-}" ] || die "no initdb in TOLLGATE_TEST_PG_BIN=$TOLLGATE_TEST_PG_BIN"
  [ "$(id -u)" -eq 0 ] || die "PostgreSQL is not installed and installing it needs root"
  echo "installing postgresql-15 (apt)" >&2
  apt-get update -qq >&2
  # postgresql-common first, told not to create (and start) a system cluster "main".
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-common >&2
  conf=/etc/postgresql-common/createcluster.conf
  sed -i 's/^#\{0,1\} *create_main_cluster *=.*/create_main_cluster = false/' "$conf"
  grep -q '^create_main_cluster = false' "$conf" || echo 'create_main_cluster = false' >>"$conf"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >&2 ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  bin="$(find_bin)"
  { [ -n "$bin" ] && [ -x "$bin/initdb" ]; } || die "PostgreSQL installed, but no initdb found"
fi

# One command at a time per DIR (parallel test runners may all call `start`). The lock
# file stays beside DIR: removing it would let two commands hold two different locks.
mkdir -p "$(dirname "$dir")"
[ -e "$dir.lock" ] || : >"$dir.lock"
exec 9<"$dir.lock"
flock -w 60 9 ||
  die "$dir.lock busy for 60 s; pids with it open, this one included: $(fuser "$dir.lock" 2>/dev/null)"

# The pid and port of the server: lines 1 and 4 of postmaster.pid.
pid() { sed -n 1p "$data/postmaster.pid"; }
port() { sed -n 4p "$data/postmaster.pid"; }
# pg_ctl status only asks whether the pid exists; a killed server stays a zombie until
# its parent (init, or a subreaper) reaps it, and a pid can be reused by then.
live_postgres() { # live_postgres PID: a postgres process that is not a zombie
  [[ "$1" =~ ^[0-9]+$ ]] || return 1
  ps -o stat=,comm= -p "$1" | awk '$1 !~ /^Z/ && $2 == "postgres" { ok = 1 } END { exit !ok }'
}
running() {
  [ -f "$data/postmaster.pid" ] && as_pg "$bin/pg_ctl" status -D "$data" >/dev/null 2>&1 &&
    live_postgres "$(pid)"
}
url() { echo "postgres://tollgate@127.0.0.1:$(port)/${1:-tollgate}"; }
psql_admin() { "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$(port)" -U tollgate -d postgres "$@"; }

free_port() { # an unused loopback port: the kernel's pick, else a scan from 55432
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    local p
    for ((p = 55432; p < 56432; p++)); do
      (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    die "no free port in 55432-56431"
  fi
}

start_server() { # start_server PORT: pg_ctl start, waiting until it accepts connections
  as_pg "$bin/pg_ctl" start -w -t 60 -D "$data" -l "$dir/log" -o "-p $1" >/dev/null
}

enable_tls() { # a CA and a server certificate for db.tollgate.test; TCP without TLS refused
  command -v openssl >/dev/null || die "start --tls needs the openssl command"
  local t="$dir/tls"
  mkdir -p "$t"
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=tollgate test CA" \
      -keyout "$t/ca.key" -out "$t/ca.crt"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=db.tollgate.test" \
      -keyout "$t/server.key" -out "$t/server.csr"
    printf 'subjectAltName = DNS:db.tollgate.test\nbasicConstraints = CA:FALSE\n' >"$t/ext"
    openssl x509 -req -in "$t/server.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" \
      -CAcreateserial -days 30 -extfile "$t/ext" -out "$t/server.crt"
  } >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; die "openssl failed"; }
  cp "$t/server.crt" "$t/server.key" "$data/"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$data/server.crt" "$data/server.key"
  chmod 0600 "$data/server.key"
  chmod 0755 "$t"
  cat >>"$data/postgresql.conf" <<EOF
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
EOF
  # The first matching line wins: TCP without TLS is refused, the rest as initdb made it.
  { printf 'hostnossl all all 0.0.0.0/0 reject\nhostnossl all all ::/0 reject\n'; cat "$data/pg_hba.conf"; } \
    >"$data/pg_hba.conf.new"
  mv "$data/pg_hba.conf.new" "$data/pg_hba.conf"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$data/pg_hba.conf"
}

start() {
  if running; then
    url | tee "$dir/url"
    return
  fi
  if [ -e "$dir" ] && [ ! -f "$marker" ]; then
    [ -z "$(ls -A "$dir")" ] || die "$dir exists and was not made by this script; not touching it"
  fi
  # A Unix socket path holds at most 107 bytes: DIR/socket/.s.PGSQL.NNNNN
  [ "${#sock}" -le 90 ] || die "DIR is too long for a Unix socket path: $dir"
  if [ -f "$data/PG_VERSION" ]; then
    echo "restarting the stopped cluster in $data (crash recovery if it was killed)" >&2
    # postgres ignores a lock file whose process is gone, but not one whose process is a
    # zombie not yet reaped ("lock file ... already exists"): such lock files go, and so
    # do those whose pid now belongs to something other than postgres.
    local lock owner
    for lock in "$data/postmaster.pid" "$sock"/.s.PGSQL.*.lock; do
      [ -f "$lock" ] || continue
      owner="$(sed -n 1p "$lock")"
      if live_postgres "$owner"; then
        [ "$lock" != "$data/postmaster.pid" ] ||
          die "pid $owner of $lock is alive but the server does not answer; see $dir/log"
      else
        rm -f "$lock" "${lock%.lock}"
      fi
    done
  else
    # Nothing, or a half-made cluster (an initdb that was interrupted): start afresh.
    rm -rf "$data"
    mkdir -p "$dir" "$sock"
    touch "$marker"
    if [ "$(id -u)" -eq 0 ]; then
      as_pg test -x "$dir" || {
        rm -rf "$dir"
        die "user postgres cannot reach $dir (a parent directory is closed to it); pick another DIR"
      }
      chown postgres: "$dir" "$sock"
    fi
    chmod 0700 "$dir" "$sock"
    echo "initdb $data" >&2
    # Trust authentication, safe enough here: the server listens only on 127.0.0.1 (no
    # other machine reaches it; a local user could, as with any loopback test server)
    # and on a socket in a directory only its owner and root can enter, and it holds
    # nothing but throwaway test data.
    as_pg "$bin/initdb" -D "$data" --username=tollgate --auth=trust --encoding=UTF8 \
      --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    cat >>"$data/postgresql.conf" <<EOF

# scripts/postgres.sh: a throwaway cluster for tollgate's tests and benchmarks
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sock'
fsync = on
synchronous_commit = on
max_connections = 200
EOF
    [ -z "$tls" ] || enable_tls
  fi
  # The previous port if it is still free (a restarted cluster keeps its URL), else a new one;
  # another process can take the port between the check and the bind, so retry.
  local p attempt
  p="$(sed -n 's|^postgres://tollgate@127.0.0.1:\([0-9]*\)/.*|\1|p' "$dir/url" 2>/dev/null || true)"
  for attempt in 1 2 3 4 5; do
    if [ -z "$p" ] || (: <"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then p="$(free_port)"; fi
    echo "starting postgres on 127.0.0.1:$p (log: $dir/log)" >&2
    start_server "$p" && break
    running && break # -w gave up but the server came up after all
    [ "$attempt" -lt 5 ] || { tail -n 20 "$dir/log" >&2; die "postgres did not start"; }
    [ "$attempt" -lt 2 ] || p="" # then another port
    sleep 0.2
  done
  if ! psql_admin -tAc "select 1 from pg_database where datname = 'tollgate'" 2>/dev/null | grep -q 1; then
    psql_admin -c 'create database tollgate' >&2
  fi
  url | tee "$dir/url"
}

stop() {
  if [ ! -e "$dir" ]; then return; fi
  [ -f "$marker" ] || die "$dir was not made by this script; not removing it"
  signal_all CONT # a frozen cluster could not stop
  if running; then
    as_pg "$bin/pg_ctl" stop -w -m fast -D "$data" >/dev/null
  fi
  rm -rf "$dir"
}

signal_all() { # SIGNAL: to the postmaster and every process it started
  local pid
  pid="$(head -n 1 "$data/postmaster.pid" 2>/dev/null)" || return 0
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  # shellcheck disable=SC2046 # one word per child pid
  command kill -"$1" "$pid" $(pgrep -P "$pid") 2>/dev/null || true
}

kill() { # a crash: immediate shutdown, data kept for `start` (crash recovery)
  if running; then
    as_pg "$bin/pg_ctl" stop -w -t 60 -m immediate -D "$data" >/dev/null
  fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  kill) kill ;;
  freeze)
    running || die "no cluster running in $dir"
    signal_all STOP
    ;;
  thaw) signal_all CONT ;;
  url)
    running || die "no cluster running in $dir"
    url
    ;;
  createdb)
    # Lower-case identifiers only: no quoting in SQL, none in the URL.
    [[ "$name" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "database name must match [a-z_][a-z0-9_]{0,62}: $name"
    case "$name" in
      tollgate | postgres | template0 | template1) die "refusing to recreate database $name" ;;
    esac
    running || die "no cluster running in $dir (run: scripts/postgres.sh start)"
    # FORCE ends the sessions a previous test left open on it.
    psql_admin -c "set client_min_messages = warning" \
      -c "drop database if exists $name with (force)" -c "create database $name" >&2
    url "$name"
    ;;
esac
