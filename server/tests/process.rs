//! The `tollgate` binary as a process: one server per data folder, clear errors on a
//! second process or a corrupt database, SIGTERM drains, and kill -9 loses nothing that
//! was acknowledged.

use std::{
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{json, Value};

mod common;

use common::{add_user, jti, metric, request, run_with_stdin, store_records, tollgate, Server};

/// One request without credentials; (status, JSON body).
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    request(addr, method, path, None, body)
}

/// `POST /api/token/` with these credentials.
fn obtain(addr: SocketAddr, username: &str, password: &str) -> std::io::Result<(u16, Value)> {
    let credentials = json!({"username": username, "password": password});
    http(addr, "POST", "/api/token/", Some(&credentials))
}

fn login(addr: SocketAddr, name: &str, password: &str) -> String {
    let (status, body) = obtain(addr, name, password).unwrap();
    assert_eq!(status, 200, "{body}");
    body["refresh"].as_str().unwrap().to_string()
}

/// Whether the store under test is sled's, for what only sled has (one process per data
/// folder, its files, the admin socket that follows from it); said when skipped.
fn on_sled(what: &str) -> bool {
    let sled = common::backend() == "sled";
    if !sled {
        eprintln!("{what}: not the store's on {}", common::backend());
    }
    sled
}

/// A refresh of `refresh` is refused with Simple JWT's "Token is blacklisted".
fn assert_blacklisted(addr: SocketAddr, refresh: &str) {
    let (status, body) = http(
        addr,
        "POST",
        "/api/token/refresh/",
        Some(&json!({"refresh": refresh})),
    )
    .unwrap();
    assert_eq!(
        (status, body),
        (
            401,
            json!({"detail": "Token is blacklisted", "code": "token_not_valid"})
        )
    );
}

#[test]
fn a_second_process_on_the_same_folder_fails_clearly() {
    if !on_sled("one process per sled folder") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_user(&data, "alice", "pw-alice");
    let server = Server::start(&data);
    let out = tollgate(&data)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use by another process"), "{stderr}");
    assert!(stderr.contains("store_locked"), "{stderr}");
    server.kill9();
}

#[test]
fn a_corrupt_database_is_an_error_not_a_fresh_start() {
    if !on_sled("a sled folder's files") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_user(&data, "alice", "pw-alice");
    // Overwrite every file of the database with garbage.
    for entry in walk(&data.join("db")) {
        std::fs::write(&entry, vec![0xA5; 4096]).unwrap();
    }
    let out = tollgate(&data).args(["users", "list"]).output().unwrap();
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("store_"), "{stderr}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_user(&data, "alice", "pw-alice");
    let server = Server::start(&data);
    let addr = server.addr;
    let results = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let results = Arc::clone(&results);
            std::thread::spawn(move || {
                for _ in 0..20 {
                    match obtain(addr, "alice", "pw-alice") {
                        Ok((status, _)) => results.lock().unwrap().push(status),
                        Err(_) => break, // refused after shutdown began: never a half answer
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    common::sigterm(&server.child);
    for w in workers {
        w.join().unwrap();
    }
    let mut server = server;
    let status =
        wait_timeout(&mut server.child, Duration::from_secs(20)).expect("server did not exit");
    assert!(status.success(), "{status:?}");
    let results = results.lock().unwrap();
    assert!(!results.is_empty());
    assert!(results.iter().all(|s| *s == 200), "{results:?}");
    // Every login that got a 200 is in the store.
    let out = tollgate(&data)
        .args(["tokens", "list", "--json"])
        .output()
        .unwrap();
    let stored = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(stored, results.len());
}

fn wait_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

/// kill -9 during a refresh load, restart, check: every rotation that got a 200 is
/// durable (old jti blacklisted, new jti outstanding) and the successor works.
#[test]
fn kill_9_during_refreshes_loses_no_acknowledged_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_user(&data, "alice", "pw-alice");
    for round in 0..3 {
        let server = Server::start(&data);
        let addr = server.addr;
        let acked = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers: Vec<_> = (0..6)
            .map(|_| {
                let acked = Arc::clone(&acked);
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let Ok((200, body)) = obtain(addr, "alice", "pw-alice") else {
                        return;
                    };
                    let mut refresh = body["refresh"].as_str().unwrap().to_string();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        match http(
                            addr,
                            "POST",
                            "/api/token/refresh/",
                            Some(&json!({"refresh": refresh})),
                        ) {
                            Ok((200, body)) => {
                                let next = body["refresh"].as_str().unwrap().to_string();
                                acked.lock().unwrap().push((refresh.clone(), next.clone()));
                                refresh = next;
                            }
                            _ => return,
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300 + 200 * round));
        server.kill9();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        let acked = acked.lock().unwrap().clone();
        assert!(
            !acked.is_empty(),
            "round {round}: no rotation happened before the kill"
        );
        // With the server stopped, read the store directly.
        let records = store_records(&data);
        let find = |jti: &str| records.get(jti).cloned();
        for (old, new) in &acked {
            let old = find(&jti(old)).expect("rotated token lost");
            assert_eq!(old["blacklisted"]["reason"], "rotated", "{old}");
            let new = find(&jti(new)).expect("acknowledged successor lost");
            let _ = new;
        }
        // The latest acknowledged successor still refreshes after a restart, unless a
        // rotation the client never heard back about committed before the kill: then
        // that rotation's own successor is in the store, unrevoked.
        let server = Server::start(&data);
        let last = &acked.last().unwrap().1;
        let record = find(&jti(last)).unwrap();
        if record["blacklisted"].is_null() {
            let (status, body) = http(
                server.addr,
                "POST",
                "/api/token/refresh/",
                Some(&json!({"refresh": last})),
            )
            .unwrap();
            assert_eq!(status, 200, "round {round}: {body}");
        } else {
            assert_eq!(record["blacklisted"]["reason"], "rotated", "{record}");
            let successor = records.values().find(|r| {
                r["family"] == record["family"]
                    && r["blacklisted"].is_null()
                    && r["created_at_ms"].as_u64() >= record["created_at_ms"].as_u64()
            });
            assert!(
                successor.is_some(),
                "round {round}: rotated with no successor: {record}"
            );
        }
        server.kill9();
    }
}

#[test]
fn cli_users_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_user(&data, "alice", "pw-alice");
    let out = tollgate(&data)
        .args(["users", "add", "alice", "--password-stdin"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = tollgate(&data)
        .args(["users", "set-attr", "alice", "role=planner", "level=3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tollgate(&data)
        .args(["users", "list", "--json"])
        .output()
        .unwrap();
    let user: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(user["username"], "alice");
    assert_eq!(user["attrs"], json!({"role": "planner", "level": 3}));
    let server = Server::start(&data);
    let refresh = login(server.addr, "alice", "pw-alice");
    server.kill9();
    let out = tollgate(&data)
        .args(["tokens", "blacklist", "--user", "alice"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 tokens"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let server = Server::start(&data);
    assert_blacklisted(server.addr, &refresh);
    server.kill9();
    let out = tollgate(&data)
        .args(["users", "deactivate", "nobody"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("user_not_found"));
    let out = tollgate(&data)
        .args(["tokens", "flush-expired"])
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn cli_commands_reach_a_running_server_through_the_admin_socket() {
    if !on_sled("the admin socket (sled's one process)") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_user(&data, "alice", "pw-alice");
    let server = Server::start(&data);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data.join("admin.sock"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "owner-only socket");
    }
    // Added while the server runs, usable at once.
    add_user(&data, "dave", "pw-dave");
    let refresh = login(server.addr, "dave", "pw-dave");
    let out = tollgate(&data)
        .args(["users", "list", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    let out = tollgate(&data)
        .args(["tokens", "blacklist", "--user", "dave"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 tokens"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_blacklisted(server.addr, &refresh);
    // Errors come back with their codes.
    let out = tollgate(&data)
        .args(["users", "deactivate", "nobody"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("user_not_found"));
    // Password change through the socket revokes dave's access tokens at once.
    let (_, body) = obtain(server.addr, "dave", "pw-dave").unwrap();
    let access = body["access"].as_str().unwrap().to_string();
    let args = ["users", "set-password", "dave", "--password-stdin"];
    run_with_stdin(&data, &args, "pw-dave-2\n");
    let (status, body) = request(server.addr, "GET", "/api/me/", Some(&access), None).unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("password_changed")),
        "{body}"
    );
    let (status, _) = obtain(server.addr, "dave", "pw-dave-2").unwrap();
    assert_eq!(status, 200);
    server.kill9();
    // With the server gone (killed: the socket file is stale), commands open the store.
    let out = tollgate(&data).args(["users", "list"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn users_imported_from_django_log_in_with_their_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Imported through the running server's admin socket, from a relative path: the
    // command reads the file, the server never sees the path.
    let server = Server::start(&data);
    let dump = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/django_dumpdata_users.json"
    );
    std::fs::copy(dump, dir.path().join("dump.json")).unwrap();
    let import = || {
        tollgate(&data)
            .args(["users", "import", "dump.json"])
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = import();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("imported "));
    // Importing twice is refused (ids and usernames are unique), and changes nothing.
    let again = import();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("user_exists"));
    let cases = [
        ("alice", "alice-pass", 200),
        ("admin", "admin-pass", 200),
        ("carol", "carol-pass", 200), // pbkdf2_sha1, re-hashed on login
        (
            "jos\u{e9}.\u{65e5}\u{672c}",
            "p\u{e4}ss w\u{f6}rd \u{1f511}",
            200,
        ),
        ("inactive", "inactive-pass", 401),
        ("nopass", "", 400),
        ("alice", "wrong", 401),
    ];
    for (user, pass, expected) in cases {
        let (status, body) = obtain(server.addr, user, pass).unwrap();
        assert_eq!(status, expected, "{user}: {body}");
        if status == 200 {
            let claims = tollgate_core::decode(body["access"].as_str().unwrap())
                .unwrap()
                .claims();
            assert_eq!(claims.get_str("username"), Some(user));
            assert_eq!(claims.get("is_staff"), Some(&json!(user == "admin")));
        }
    }
    // carol's hash was upgraded to pbkdf2_sha256 and still works.
    let (status, _) = obtain(server.addr, "carol", "carol-pass").unwrap();
    assert_eq!(status, 200);
    server.kill9();
}

#[test]
fn the_server_flushes_expired_tokens_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_user(&data, "alice", "pw-alice");
    let server = Server::start_with(
        &data,
        &[
            ("TOLLGATE_REFRESH_TOKEN_LIFETIME", "1s"),
            ("TOLLGATE_FLUSH_EXPIRED_INTERVAL", "1s"),
        ],
    );
    let addr = server.addr;
    login(addr, "alice", "pw-alice");
    login(addr, "alice", "pw-alice");
    let outstanding = || metric(addr, "tollgate_outstanding_tokens");
    assert_eq!(outstanding(), 2);
    // Expired after 1 s; the task runs every second: gone within a few seconds.
    let start = Instant::now();
    while outstanding() != 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "never flushed");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(server);
}

#[test]
fn tokens_seed_fills_an_offline_store_and_refuses_a_served_one() {
    if !on_sled("seeding a sled folder offline") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_user(&data, "alice", "pw-alice");
    let seed = |args: &[&str]| {
        tollgate(&data)
            .args(["tokens", "seed"])
            .args(args)
            .output()
            .unwrap()
    };
    let out = seed(&[
        "--outstanding",
        "300",
        "--blacklisted",
        "100",
        "--expired-percent",
        "20",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("seeded 300 outstanding refresh tokens (100 blacklisted, "),
        "{stdout}"
    );
    assert!(
        stdout.contains(" in 200 families of 1 users in "),
        "{stdout}"
    );
    let out = seed(&["--outstanding", "10", "--blacklisted", "10"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("seed_invalid"));

    // The server serves the seeded store: its counts, and the user's logout-all finds
    // every seeded token.
    let server = Server::start(&data);
    assert_eq!(metric(server.addr, "tollgate_outstanding_tokens"), 300);
    assert_eq!(metric(server.addr, "tollgate_blacklisted_tokens"), 100);
    // Seeding beside a running server is refused, and changes nothing.
    let out = seed(&["--outstanding", "10"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("seed_offline"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tollgate(&data)
        .args(["tokens", "blacklist", "--user", "alice"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200 tokens of \"alice\" blacklisted\n"
    );
    server.kill9();
    // Offline, flush-expired removes the expired share (about 20%, never all).
    let out = tollgate(&data)
        .args(["tokens", "flush-expired"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let flushed: u64 = stdout
        .strip_prefix("flushed ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!((20..=120).contains(&flushed), "{stdout}");
    // The killed server left no counts behind: the next open counts the trees.
    let server = Server::start(&data);
    assert_eq!(
        metric(server.addr, "tollgate_outstanding_tokens"),
        300 - flushed
    );
    server.kill9();
}

/// `tollgate sessions list | revoke`, through a running server's admin socket and on a
/// stopped one's store.
#[test]
fn cli_sessions_list_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_user(&data, "erin", "pw-erin");
    add_user(&data, "frank", "pw-frank");
    let server = Server::start(&data);
    let first = login(server.addr, "erin", "pw-erin");
    let second = login(server.addr, "erin", "pw-erin");
    login(server.addr, "frank", "pw-frank");
    let list = |data: &Path| {
        let out = tollgate(data)
            .args(["sessions", "list", "--user", "erin", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    let sessions = list(&data);
    let ids: Vec<&str> = sessions.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [jti(&second), jti(&first)]);
    assert_eq!(sessions[0]["login"]["ip"], "127.0.0.1");
    let out = tollgate(&data)
        .args(["sessions", "revoke", &jti(&first)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_blacklisted(server.addr, &first);
    let (status, _) = http(
        server.addr,
        "POST",
        "/api/token/refresh/",
        Some(&json!({"refresh": second})),
    )
    .unwrap();
    assert_eq!(status, 200);
    for bad in ["0123456789abcdef0123456789abcdef", "not/an/id", ""] {
        let out = tollgate(&data)
            .args(["sessions", "revoke", bad])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("session_not_found"));
    }
    server.kill9();
    // The store alone (no server): the same answers.
    assert_eq!(list(&data).len(), 1);
    let out = tollgate(&data)
        .args(["sessions", "list", "--user", "nobody"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("user_not_found"));
}

/// Issue #15, bad input: a database URL of an unknown kind, a database that refuses the
/// connection, a replica that would sign with a key of its own: one clear line and a
/// non-zero exit, and no sled folder made in the database's place.
#[test]
fn a_bad_database_url_is_one_clear_line_and_a_failed_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (url, key, expected) in [
        (
            "mysql://a@localhost/db",
            true,
            "\"mysql\" is not a database tollgate knows",
        ),
        (
            "postgres://tollgate@127.0.0.1:1/none",
            true,
            "Connection refused",
        ),
        (
            "postgres://tollgate@127.0.0.1:1/none",
            false,
            "every replica must sign with the same key",
        ),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
        cmd.env_clear()
            .env("TOLLGATE_DATA_DIR", &data)
            .env("TOLLGATE_DATABASE_URL", url)
            .args(["serve", "--bind", "127.0.0.1:0"]);
        if key {
            cmd.env("TOLLGATE_SIGNING_KEY", common::SECRET);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{url}");
        assert!(stderr.contains(expected), "{url}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{url}: {stderr}");
        assert!(!data.join("db").exists(), "{url}: a sled folder was made");
    }
}

/// Issue #15: two replicas started together on one empty PostgreSQL database both come
/// up; one of them creates the demo user, and both let it log in.
#[test]
fn two_replicas_start_together_on_one_empty_database() {
    use std::io::{BufRead as _, BufReader};
    let url = common::fresh_database();
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut children: Vec<_> = dirs
        .iter()
        .map(|dir| {
            let child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
                .env_clear()
                .env("TOLLGATE_DATA_DIR", dir.path().join("data"))
                .env("TOLLGATE_DATABASE_URL", &url)
                .env("TOLLGATE_SIGNING_KEY", common::SECRET)
                .env("TOLLGATE_PBKDF2_ITERATIONS", "1000")
                .args(["serve", "--bind", "127.0.0.1:0"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            common::Server::from_child(child, "127.0.0.1:1".parse().unwrap())
        })
        .collect();
    let mut created = 0;
    for server in &mut children {
        let stdout = server.child.stdout.take().unwrap();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            created += usize::from(line.starts_with("created demo user"));
            if let Some(rest) = line.strip_prefix("tollgate listening on http://") {
                server.addr = rest.trim_end_matches('/').parse().unwrap();
                break;
            }
        }
    }
    assert_eq!(created, 1, "exactly one replica created the demo user");
    for server in &children {
        let (status, body) = obtain(server.addr, "demo", "tollgate-demo").unwrap();
        assert_eq!(status, 200, "{body}");
    }
}
