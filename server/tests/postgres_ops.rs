//! Operating tollgate on PostgreSQL (issue #15): TLS by `sslmode` against a cluster that
//! demands it, `db migrate` / `db check`, `store copy` from a sled folder, and one clear
//! line for every bad database URL. Needs the test command's PostgreSQL
//! (`TOLLGATE_TEST_DATABASE_URL`); the TLS cluster is started here.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::{json, Value};

mod common;

/// The schema version this binary knows (store/postgres/migrate.rs), and what
/// `db migrate` applies to an empty database.
const SCHEMA: i32 = 5;
const APPLIED: &str = "1, 2, 3, 4, 5";

use common::{request, tollgate, Server, SECRET};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");

/// The binary with only these settings (no backend chosen by the test suite).
fn bare(data: &Path, url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TOLLGATE_DATA_DIR", data)
        .env("TOLLGATE_SIGNING_KEY", SECRET)
        .env("TOLLGATE_PBKDF2_ITERATIONS", "1000")
        .env("TOLLGATE_DATABASE_URL", url);
    cmd
}

/// `tollgate ARGS` on the database `url`: (success, stdout, stderr).
fn run(data: &Path, url: &str, args: &[&str]) -> (bool, String, String) {
    let out: Output = bare(data, url).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A command that must fail with exactly one line on stderr containing `expected`.
fn fails_with_one_line(data: &Path, url: &str, args: &[&str], expected: &str) -> String {
    let (ok, stdout, stderr) = run(data, url, args);
    assert!(!ok, "{args:?} on {url} succeeded: {stdout}");
    assert!(stderr.contains(expected), "{args:?} on {url}: {stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "{args:?} on {url}: {stderr}"
    );
    stderr
}

/// A psql statement on the database `url` (trust authentication on the test cluster).
fn psql(url: &str, sql: &str) -> String {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-X",
        "-q",
        "-t",
        "-A",
        "-v",
        "ON_ERROR_STOP=1",
        url,
        "-c",
        sql,
    ]);
    succeed(&mut cmd).trim().to_string()
}

/// Runs `cmd`, which must succeed; its stdout.
fn succeed(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A cluster of `scripts/postgres.sh start --tls`, stopped when dropped.
struct TlsCluster {
    dir: PathBuf,
    port: u16,
}

impl TlsCluster {
    fn start() -> Self {
        let base =
            std::env::var("TOLLGATE_TEST_PG_DIR").unwrap_or_else(|_| "/tmp/tollgate-pg".into());
        let dir = PathBuf::from(format!("{base}-tls-{}", std::process::id()));
        let url = succeed(Command::new(SCRIPT).args(["start", "--tls"]).arg(&dir));
        let port = url
            .trim()
            .rsplit(':')
            .next()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        Self { dir, port }
    }

    /// A URL for host name `host` (reached at 127.0.0.1) with `query` appended.
    fn url(&self, user: &str, host: &str, query: &str) -> String {
        format!(
            "postgres://{user}@{host}:{}/tollgate?hostaddr=127.0.0.1{query}",
            self.port
        )
    }

    fn ca(&self) -> String {
        self.dir.join("tls/ca.crt").display().to_string()
    }

    /// SQL as the cluster's superuser on database `tollgate`, over its Unix socket.
    fn admin(&self, sql: &str) {
        let socket = self.dir.join("socket");
        let target = format!(
            "host={} port={} user=tollgate dbname=tollgate",
            socket.display(),
            self.port
        );
        psql(&target, sql);
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let _ = Command::new(SCRIPT).arg("stop").arg(&self.dir).output();
        let _ = std::fs::remove_file(format!("{}.lock", self.dir.display()));
    }
}

/// A second CA that signed nothing the server has.
fn wrong_ca(dir: &Path) -> String {
    let (key, crt) = (dir.join("wrong-ca.key"), dir.join("wrong-ca.crt"));
    let subject = ["-subj", "/CN=wrong CA", "-days", "1", "-nodes"];
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-x509", "-newkey", "rsa:2048"])
        .args(subject);
    succeed(cmd.arg("-keyout").arg(&key).arg("-out").arg(&crt));
    crt.display().to_string()
}

/// Issue #15: `sslmode` as libpq means it, on a cluster that refuses TCP without TLS.
#[test]
fn tls_by_sslmode_against_a_cluster_that_demands_it() {
    let cluster = TlsCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ca = cluster.ca();
    let right = |query: &str| cluster.url("tollgate", "db.tollgate.test", query);
    // verify-full with the right CA and host: the whole way, server included.
    let full = right(&format!("&sslmode=verify-full&sslrootcert={ca}"));
    let (ok, stdout, stderr) = run(&data, &full, &["db", "migrate"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!("tollgate schema version 0 -> {SCHEMA}")),
        "{stdout}"
    );
    let (ok, stdout, stderr) = run(&data, &full, &["db", "check"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("current; synchronous_commit on"),
        "{stdout}"
    );
    let mut add = bare(&data, &full);
    add.args(["users", "add", "alice", "--password-stdin"]);
    common::stdout_of(add, "pw-alice\n");
    let server = Server::spawn(bare(&data, &full));
    login(server.addr, "alice", "pw-alice");
    drop(server);
    // verify-ca checks the chain, not the name; require checks nothing (encryption only).
    let other = |query: &str| cluster.url("tollgate", "other.tollgate.test", query);
    for url in [
        other(&format!("&sslmode=verify-ca&sslrootcert={ca}")),
        other("&sslmode=require"),
        right("&sslmode=require"),
        right(""), // prefer: TLS since the server offers it
    ] {
        let (ok, _, stderr) = run(&data, &url, &["db", "check"]);
        assert!(ok, "{url}: {stderr}");
    }
    // A wrong host name, a wrong CA, no TLS: refused, one line, by every command.
    let wrong = wrong_ca(dir.path());
    for (url, expected) in [
        (
            other(&format!("&sslmode=verify-full&sslrootcert={ca}")),
            "certificate not valid for name \"other.tollgate.test\"",
        ),
        (
            right(&format!("&sslmode=verify-full&sslrootcert={wrong}")),
            "UnknownIssuer",
        ),
        (
            right(&format!("&sslmode=verify-ca&sslrootcert={wrong}")),
            "UnknownIssuer",
        ),
        (
            right(&format!("&sslmode=require&sslrootcert={wrong}")),
            "UnknownIssuer",
        ),
        (right("&sslmode=verify-full"), "UnknownIssuer"), // the system's roots
        (right("&sslmode=disable"), "pg_hba.conf rejects connection"),
        (
            right("&sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"),
            "sslrootcert /nonexistent/ca.pem: ",
        ),
    ] {
        for args in [
            &["db", "check"][..],
            &["users", "list"],
            &["serve", "--bind", "127.0.0.1:0"],
        ] {
            let line = fails_with_one_line(&data, &url, args, expected);
            assert!(line.contains("(store_connect)"), "{line}");
        }
    }
    // A role with a password, allowed to read and write the tables but not to create
    // any: a current schema needs no DDL. A wrong password: one line, not shown.
    cluster.admin("CREATE ROLE pwuser LOGIN PASSWORD 'right-pass'");
    cluster.admin("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO pwuser");
    let hba = cluster.dir.join("data/pg_hba.conf");
    let text = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(
        &hba,
        format!("hostssl all pwuser 127.0.0.1/32 scram-sha-256\n{text}"),
    )
    .unwrap();
    cluster.admin("SELECT pg_reload_conf()");
    let pw = |password: &str| {
        cluster.url(
            &format!("pwuser:{password}"),
            "db.tollgate.test",
            "&sslmode=require",
        )
    };
    for args in [&["db", "check"][..], &["users", "list"]] {
        let (ok, stdout, stderr) = run(&data, &pw("right-pass"), args);
        assert!(ok, "{stderr}");
        assert!(args[0] != "users" || stdout.contains("alice"), "{stdout}");
    }
    for args in [
        &["db", "check"][..],
        &["users", "list"],
        &["serve", "--bind", "127.0.0.1:0"],
    ] {
        let line = fails_with_one_line(
            &data,
            &pw("wrong-pass"),
            args,
            "password authentication failed for user \"pwuser\"",
        );
        assert!(!line.contains("wrong-pass"), "{line}");
    }
}

/// Issue #15: a malformed URL, nothing listening, an unknown database: one line and a
/// non-zero exit from `serve`, `db check` and the users/tokens commands, no password shown.
#[test]
fn bad_database_urls_are_one_clear_line_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let good = common::fresh_database();
    let unknown = format!(
        "{}_missing",
        good.replace("tollgate@", "tollgate:s3cret-pw@")
    );
    for (url, expected, code) in [
        (
            "postgres://u:s3cret-pw@localhost:notaport/db".to_string(),
            "invalid value for option `port`",
            "config_invalid",
        ),
        (
            "postgres://u:s3cret-pw@127.0.0.1:1/db".into(),
            "Connection refused",
            "store_connect",
        ),
        (unknown, "does not exist", "store_connect"),
        (
            format!("{good}?sslmode=sometimes"),
            "is not one of disable, prefer",
            "config_invalid",
        ),
    ] {
        for args in [
            &["serve", "--bind", "127.0.0.1:0"][..],
            &["db", "check"],
            &["db", "migrate"],
            &["users", "list"],
            &["tokens", "list"],
        ] {
            let line = fails_with_one_line(&data, &url, args, expected);
            assert!(line.contains(code), "{line}");
            assert!(!line.contains("s3cret-pw"), "{line}");
        }
        assert!(!data.join("db").exists(), "{url}: a sled folder was made");
    }
    // Without database_url the db commands say they are for PostgreSQL.
    let out = tollgate_sled(&data).args(["db", "check"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("db_not_postgres"),
        "{stderr}"
    );
}

/// The binary on sled, whatever backend the suite runs on.
fn tollgate_sled(data: &Path) -> Command {
    let mut cmd = tollgate(data);
    cmd.env_remove("TOLLGATE_DATABASE_URL");
    cmd
}

/// Issue #15: `db check` tells a database without the schema, one newer than the binary,
/// and one whose commits are not synchronous; `db migrate` applies, then has nothing to do.
#[test]
fn db_check_and_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = common::fresh_database();
    fails_with_one_line(
        &data,
        &url,
        &["db", "check"],
        &format!(
            "schema version 0, this binary's is {SCHEMA}: run `tollgate db migrate` (db_behind)"
        ),
    );
    let (ok, stdout, _) = run(&data, &url, &["db", "migrate"]);
    assert!(ok);
    assert!(
        stdout.trim().ends_with(&format!(
            "tollgate schema version 0 -> {SCHEMA} (applied {APPLIED})"
        )),
        "{stdout}"
    );
    let (ok, stdout, _) = run(&data, &url, &["db", "migrate"]);
    assert!(ok);
    assert!(
        stdout.contains(&format!("version {SCHEMA}, current: nothing to apply")),
        "{stdout}"
    );
    let (ok, stdout, _) = run(&data, &url, &["db", "check"]);
    assert!(ok, "{stdout}");
    // The URL's own options come after tollgate's: synchronous_commit off is refused.
    let lax = format!("{url}?options=-c%20synchronous_commit%3Doff");
    fails_with_one_line(
        &data,
        &lax,
        &["db", "check"],
        "synchronous_commit is \"off\", not \"on\"",
    );
    fails_with_one_line(
        &data,
        &lax,
        &["serve", "--bind", "127.0.0.1:0"],
        "synchronous_commit is \"off\"",
    );
    // A schema newer than the binary: check and serve refuse it.
    psql(
        &url,
        &format!(
            "INSERT INTO tollgate_migrations (version) VALUES ({})",
            SCHEMA + 1
        ),
    );
    fails_with_one_line(
        &data,
        &url,
        &["db", "check"],
        &format!(
            "version {} is newer than this binary's {SCHEMA}",
            SCHEMA + 1
        ),
    );
    fails_with_one_line(
        &data,
        &url,
        &["serve", "--bind", "127.0.0.1:0"],
        &format!("newer than this binary's {SCHEMA}"),
    );
    fails_with_one_line(
        &data,
        &url,
        &["db", "migrate"],
        &format!("newer than this binary's {SCHEMA}"),
    );
}

fn login(addr: std::net::SocketAddr, name: &str, password: &str) -> String {
    let body = json!({"username": name, "password": password});
    let (status, body) = request(addr, "POST", "/api/token/", None, Some(&body)).unwrap();
    assert_eq!(status, 200, "{body}");
    body["refresh"].as_str().unwrap().to_string()
}

fn refresh(addr: std::net::SocketAddr, token: &str) -> (u16, Value) {
    let body = json!({"refresh": token});
    request(addr, "POST", "/api/token/refresh/", None, Some(&body)).unwrap()
}

/// Every token record of a store, by jti, as `tokens list --json` shows them.
fn records(cmd: &mut Command) -> Vec<Value> {
    let mut all: Vec<Value> = succeed(cmd.args(["tokens", "list", "--json"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    all.sort_by_key(|r| r["jti"].as_str().unwrap().to_string());
    all
}

/// Issue #15: a sled folder with users, live, rotated, logged-out and replayed tokens is
/// copied into PostgreSQL (refused while its server runs, refused into a database with
/// tollgate data), and a server on PostgreSQL then answers as the sled one would have.
#[test]
fn store_copy_moves_a_sled_folder_into_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let no_grace = [("TOLLGATE_REFRESH_REUSE_INTERVAL", "0")];
    for name in ["alice", "bob", "carol"] {
        let mut cmd = tollgate_sled(&data);
        cmd.args(["users", "add", name, "--password-stdin"]);
        common::stdout_of(cmd, &format!("pw-{name}\n"));
    }
    let url = common::fresh_database();
    let mut sled = tollgate_sled(&data);
    sled.envs(no_grace);
    let server = Server::spawn(sled);
    let addr = server.addr;
    let rotated = login(addr, "alice", "pw-alice");
    let (status, body) = refresh(addr, &rotated);
    assert_eq!(status, 200, "{body}");
    let live = body["refresh"].as_str().unwrap().to_string();
    let logged_out = login(addr, "bob", "pw-bob");
    let (status, _) = request(
        addr,
        "POST",
        "/api/token/blacklist/",
        None,
        Some(&json!({"refresh": logged_out})),
    )
    .unwrap();
    assert_eq!(status, 200);
    let replayed = login(addr, "carol", "pw-carol");
    let (_, body) = refresh(addr, &replayed);
    let carol_next = body["refresh"].as_str().unwrap().to_string();
    assert_eq!(
        refresh(addr, &replayed).0,
        401,
        "the replay revokes carol's family"
    );
    // The server holds the folder: refused.
    let (ok, _, stderr) = run(&data, "", &["store", "copy", "--to", &url]);
    assert!(!ok && stderr.contains("copy_offline"), "{stderr}");
    // A graceful stop stores the clock floor.
    common::sigterm(&server.child);
    let mut server = server;
    assert!(server.child.wait().unwrap().success());
    let before = records(&mut tollgate_sled(&data));
    assert_eq!(before.len(), 5);
    let (ok, stdout, stderr) = run(&data, "", &["store", "copy", "--to", &url]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(
            "3 users, 5 outstanding tokens, 4 blacklisted, 3 families, 0 signing keys, clock floor"
        ),
        "{stdout}"
    );
    let floor: u64 = psql(
        &url,
        "SELECT value FROM tollgate_meta WHERE key = 'clock_floor_ms'",
    )
    .parse()
    .unwrap();
    assert!(floor > 1_700_000_000_000, "{floor}");
    assert!(
        stdout.contains(&format!("clock floor {floor} ms")),
        "{stdout}"
    );
    // A second copy would merge: refused, nothing written.
    let (ok, _, stderr) = run(&data, "", &["store", "copy", "--to", &url]);
    assert!(
        !ok && stderr.contains("copy_target_not_empty") && stderr.contains("3 users"),
        "{stderr}"
    );
    assert_eq!(psql(&url, "SELECT count(*) FROM tollgate_users"), "3");
    // The same records, and a server on PostgreSQL answers as sled's would.
    assert_eq!(records(&mut bare(&data, &url)), before);
    let mut pg = bare(&data, &url);
    pg.envs(no_grace);
    let server = Server::spawn(pg);
    let addr = server.addr;
    let (status, body) = refresh(addr, &live);
    assert_eq!(status, 200, "{body}");
    for token in [&rotated, &logged_out, &replayed, &carol_next] {
        let (status, body) = refresh(addr, token);
        assert_eq!(status, 401, "{body}");
    }
    login(addr, "bob", "pw-bob");
}

const KEK: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// `tollgate` with the key-encryption key and no login throttle.
fn with_kek(mut cmd: Command) -> Command {
    cmd.env("TOLLGATE_KEY_ENCRYPTION_KEY", KEK)
        .env("TOLLGATE_LOGIN_THROTTLE_USERNAME", "100000/min")
        .env("TOLLGATE_LOGIN_THROTTLE_IP", "100000/min");
    cmd
}

/// `keys ARGS`, which must succeed: its stdout.
fn keys(mut cmd: Command, args: &[&str]) -> String {
    succeed(cmd.arg("keys").args(args))
}

/// `keys list --json`, one JSON object per key (every field but the sealed key), sorted.
fn key_list(cmd: Command) -> Vec<Value> {
    let mut all: Vec<Value> = keys(cmd, &["list", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    all.sort_by_key(|k| k["kid"].as_str().unwrap().to_string());
    all
}

/// The kid of the key in `state` (exactly one).
fn kid_in(list: &[Value], state: &str) -> String {
    let found: Vec<&Value> = list.iter().filter(|k| k["state"] == state).collect();
    assert_eq!(found.len(), 1, "{list:?}");
    found[0]["kid"].as_str().unwrap().to_string()
}

/// The `kid` in a token's header.
fn kid_of(token: &str) -> String {
    use base64::Engine as _;
    let b64 = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .unwrap();
    let header: Value = serde_json::from_slice(&bytes).unwrap();
    header["kid"].as_str().unwrap_or_default().to_string()
}

/// Logs alice in until the access token is signed by `kid` (a server takes a change up
/// within its reload period): (access, refresh).
fn login_signed_by(addr: std::net::SocketAddr, kid: &str) -> (String, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(12);
    loop {
        let body = json!({"username": "alice", "password": "pw-alice"});
        let (status, body) = request(addr, "POST", "/api/token/", None, Some(&body)).unwrap();
        assert_eq!(status, 200, "{body}");
        let access = body["access"].as_str().unwrap().to_string();
        if kid_of(&access) == kid {
            return (access, body["refresh"].as_str().unwrap().to_string());
        }
        assert!(std::time::Instant::now() < deadline, "{kid} never signed");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn me(addr: std::net::SocketAddr, access: &str) -> u16 {
    request(addr, "GET", "/api/me/", Some(access), None)
        .unwrap()
        .0
}

/// Issue #16: `store copy` moves the signing-key set record for record, still sealed
/// (next, current, previous and revoked keys); a server on PostgreSQL with the same
/// key-encryption key then signs with the same current kid, verifies and refreshes the
/// previous key's tokens, and refuses the revoked key's; another key-encryption key
/// opens nothing; a database that holds only keys is not empty.
#[test]
fn store_copy_moves_the_signing_key_set_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cmd = tollgate_sled(&data);
    cmd.args(["users", "add", "alice", "--password-stdin"]);
    common::stdout_of(cmd, "pw-alice\n");
    let sled = || with_kek(tollgate_sled(&data));
    let server = Server::spawn(sled());
    let addr = server.addr;
    // Through the server's admin socket: taken up before each command answers.
    keys(sled(), &["rotate"]);
    let revoked = kid_in(&key_list(sled()), "current");
    let (access_revoked, _) = login_signed_by(addr, &revoked);
    keys(sled(), &["rotate"]);
    let previous = kid_in(&key_list(sled()), "current");
    let (access_previous, refresh_previous) = login_signed_by(addr, &previous);
    keys(sled(), &["revoke", &revoked]);
    assert_eq!(me(addr, &access_revoked), 401);
    keys(sled(), &["rotate"]);
    let current = kid_in(&key_list(sled()), "current");
    let (access_current, _) = login_signed_by(addr, &current);
    keys(sled(), &["add"]);
    let before = key_list(sled());
    let next = kid_in(&before, "next");
    assert_eq!(kid_in(&before, "previous"), previous);
    assert_eq!(kid_in(&before, "revoked"), revoked);
    common::sigterm(&server.child);
    let mut server = server;
    assert!(server.child.wait().unwrap().success());

    // A database holding only a key is not empty: refused, nothing written.
    let taken = common::fresh_database();
    keys(with_kek(bare(&data, &taken)), &["add"]);
    let (ok, _, stderr) = run(&data, "", &["store", "copy", "--to", &taken]);
    assert!(
        !ok && stderr.contains("copy_target_not_empty") && stderr.contains("1 signing keys"),
        "{stderr}"
    );
    assert_eq!(psql(&taken, "SELECT count(*) FROM tollgate_users"), "0");

    let url = common::fresh_database();
    let (ok, stdout, stderr) = run(&data, "", &["store", "copy", "--to", &url]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains(", 4 signing keys, "), "{stdout}");
    assert!(
        stdout.contains("need the same key_encryption_key"),
        "{stdout}"
    );
    // Record for record, the sealed keys byte for byte.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (from, to) = runtime.block_on(async {
        use tollgate_server::store::{Backend, Store};
        let from = Store::open(&data).unwrap().signing_keys().await.unwrap();
        let target = Store::open_backend(&Backend::Postgres(url.clone())).unwrap();
        (from, target.signing_keys().await.unwrap())
    });
    drop(runtime);
    let by_kid = |mut keys: Vec<tollgate_server::store::StoredKey>| {
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        keys
    };
    assert_eq!(by_kid(to), by_kid(from));
    let pg = || with_kek(bare(&data, &url));
    assert_eq!(key_list(pg()), before);

    // Another key-encryption key opens nothing on the target: refused, nothing changed.
    let mut other = bare(&data, &url);
    other.env("TOLLGATE_KEY_ENCRYPTION_KEY", "ff".repeat(32));
    let (ok, _, stderr) = {
        let out = other.args(["keys", "rotate"]).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(!ok && stderr.contains("(key_unsealable)"), "{stderr}");
    assert_eq!(key_list(pg()), before);

    let server = Server::spawn(pg());
    let addr = server.addr;
    let (access, _) = login_signed_by(addr, &current);
    assert_eq!(kid_of(&access), current, "the same current key signs");
    assert_eq!(me(addr, &access_current), 200);
    assert_eq!(me(addr, &access_previous), 200, "the previous key verifies");
    let (status, body) = refresh(addr, &refresh_previous);
    assert_eq!(status, 200, "{body}");
    assert_eq!(kid_of(body["access"].as_str().unwrap()), current);
    assert_eq!(me(addr, &access_revoked), 401, "revoked stays revoked");
    // The next key is there to rotate to.
    let rotated = keys(pg(), &["rotate"]);
    assert!(
        rotated.starts_with(&format!("{next} signs now")),
        "{rotated}"
    );
    login_signed_by(addr, &next);
    drop(server);
}
