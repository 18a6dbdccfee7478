//! Faults under load (issue #7): kill -9 at random moments during a mixed load of logins,
//! refreshes, logouts and logouts-everywhere, then restart and check what was promised:
//! every acknowledged answer is still true.
//!
//! `TOLLGATE_FAULT_ROUNDS` sets the number of kill/restart rounds (default 4 in the test
//! command; `TOLLGATE_FAULT_ROUNDS=50 cargo test -p tollgate-server --test faults` for a
//! long run). Each round's kill moment and every worker's choices come from a seeded
//! generator, printed on failure.

mod common;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use common::{add_user, jti, request, store_records, tollgate, Server};
use serde_json::{json, Value};

/// What the server acknowledged (a 200), in the order the worker saw it.
#[derive(Debug, Clone)]
enum Acked {
    /// A login's refresh token.
    Issued { user: String, refresh: String },
    /// A rotation: `old` was exchanged for `new`.
    Rotated { old: String, new: String },
    /// `/api/token/blacklist/` of this refresh token.
    LoggedOut { refresh: String },
    /// `/api/logout/ {"all":"1"}`: every refresh token of `user` acknowledged before it.
    LoggedOutEverywhere { user: String, before: Vec<String> },
    /// `replayed`, rotated and its successor rotated too, was refused with 401: reuse
    /// detection revoked its family, `current` (the latest token) included.
    ReuseDetected { replayed: String, current: String },
    /// `replayed`, just rotated into `successor` (unused yet), presented again within
    /// the reuse interval: the same `successor` came back.
    Grace { replayed: String, successor: String },
}

/// A small deterministic generator (xorshift64*), so a failing round can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn post(
    addr: std::net::SocketAddr,
    path: &str,
    bearer: Option<&str>,
    body: Value,
) -> Option<Value> {
    match request(addr, "POST", path, bearer, Some(&body)) {
        Ok((200, body)) => Some(body),
        _ => None,
    }
}

/// One user's session loop until `stop` or the server dies: what it was told is pushed
/// to `acked` only after the 200 arrived.
fn worker(
    addr: std::net::SocketAddr,
    user: String,
    seed: u64,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Acked>>>,
) {
    let mut rng = Rng(seed | 1);
    let credentials = json!({"username": user, "password": format!("pw-{user}")});
    let push = |a: Acked| acked.lock().unwrap().push(a);
    // A login: its answer (for the access token) and its refresh token, acknowledged.
    let login = || {
        let body = post(addr, "/api/token/", None, credentials.clone())?;
        let refresh = body["refresh"].as_str().unwrap().to_string();
        push(Acked::Issued {
            user: user.clone(),
            refresh: refresh.clone(),
        });
        Some((body, refresh))
    };
    let Some((mut tokens, first)) = login() else {
        return;
    };
    let mut mine = vec![first];
    // The token the current one was rotated from, and the one before that, while they
    // share a family.
    let mut predecessor: Option<String> = None;
    let mut older: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        let refresh = mine.last().unwrap().clone();
        let roll = rng.below(100);
        if (60..65).contains(&roll) {
            if let Some(replayed) = predecessor.clone() {
                // A second tab: the just-rotated token again, within the interval.
                let body = json!({"refresh": replayed});
                let Some(body) = post(addr, "/api/token/refresh/", None, body) else {
                    return;
                };
                assert_eq!(body["refresh"].as_str(), Some(refresh.as_str()));
                push(Acked::Grace {
                    replayed,
                    successor: refresh,
                });
                continue;
            }
        }
        if (65..70).contains(&roll) {
            if let Some(replayed) = older.take() {
                predecessor = None;
                let body = json!({"refresh": replayed});
                match request(addr, "POST", "/api/token/refresh/", None, Some(&body)) {
                    Ok((401, _)) => {}
                    _ => return,
                }
                push(Acked::ReuseDetected {
                    replayed,
                    current: refresh,
                });
                mine.pop();
                let Some((body, new)) = login() else {
                    return;
                };
                tokens = body;
                mine.push(new);
                continue;
            }
        }
        if roll < 70 {
            let body = json!({"refresh": refresh});
            let Some(body) = post(addr, "/api/token/refresh/", None, body) else {
                return;
            };
            let new = body["refresh"].as_str().unwrap().to_string();
            push(Acked::Rotated {
                old: refresh.clone(),
                new: new.clone(),
            });
            older = predecessor.replace(refresh);
            tokens = body;
            mine.push(new);
            continue;
        }
        if roll < 80 {
            let body = json!({"refresh": refresh});
            if post(addr, "/api/token/blacklist/", None, body).is_none() {
                return;
            }
            push(Acked::LoggedOut { refresh });
            (predecessor, older) = (None, None);
            mine.pop();
            if !mine.is_empty() {
                continue;
            }
        } else if roll >= 95 {
            let access = tokens["access"].as_str().unwrap().to_string();
            if post(addr, "/api/logout/", Some(&access), json!({"all": "1"})).is_none() {
                return;
            }
            push(Acked::LoggedOutEverywhere {
                user: user.clone(),
                before: std::mem::take(&mut mine),
            });
        }
        // A fresh login: 80..95, or after the last token was logged out.
        (predecessor, older) = (None, None);
        let Some((body, new)) = login() else {
            return;
        };
        tokens = body;
        mine.push(new);
    }
}

/// The refresh endpoint's answer to `refresh` on a running server.
fn refresh_status(addr: std::net::SocketAddr, refresh: &str) -> (u16, Value) {
    request(
        addr,
        "POST",
        "/api/token/refresh/",
        None,
        Some(&json!({"refresh": refresh})),
    )
    .unwrap()
}

#[test]
fn kill_9_during_mixed_load_breaks_no_acknowledged_answer() {
    let rounds: u64 = std::env::var("TOLLGATE_FAULT_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(4);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let users: Vec<String> = (0..6).map(|i| format!("user{i}")).collect();
    for user in &users {
        add_user(&data, user, &format!("pw-{user}"));
    }
    let mut rng = Rng(0x7011_6a7e ^ rounds);
    let mut reuse_detections = 0;
    for round in 0..rounds {
        let seed = rng.next();
        let kill_after = Duration::from_millis(150 + seed % 850);
        let context = format!("round {round} (seed {seed:#x}, kill after {kill_after:?})");
        let server = Server::start(&data);
        let addr = server.addr;
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = users
            .iter()
            .enumerate()
            .map(|(i, user)| {
                let (user, stop, acked) = (user.clone(), Arc::clone(&stop), Arc::clone(&acked));
                let seed = seed.rotate_left(i as u32 * 7) ^ i as u64;
                std::thread::spawn(move || worker(addr, user, seed, stop, acked))
            })
            .collect();
        std::thread::sleep(kill_after);
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        let acked = acked.lock().unwrap().clone();
        assert!(
            acked.iter().any(|a| matches!(a, Acked::Rotated { .. })),
            "{context}: nothing was rotated before the kill"
        );
        reuse_detections += acked
            .iter()
            .filter(|a| matches!(a, Acked::ReuseDetected { .. }))
            .count();

        // The store, read with the server stopped: every acknowledged fact is there.
        let records = store_records(&data);
        let record = |token: &str| {
            records
                .get(&jti(token))
                .unwrap_or_else(|| panic!("{context}: acknowledged token lost: {token}"))
        };
        let revoked = |token: &str| !record(token)["blacklisted"].is_null();
        // Tokens that must not refresh any more, with the one successor a rotated-out
        // token may still be handed again (within the reuse interval, still unused).
        let mut must_refuse: Vec<(String, Option<String>)> = Vec::new();
        for a in &acked {
            match a {
                Acked::Issued { .. } => {}
                Acked::Grace {
                    replayed,
                    successor,
                } => {
                    assert!(revoked(replayed), "{context}: rotated but usable: {a:?}");
                    record(successor);
                }
                Acked::Rotated { old, new } => {
                    let entry = &record(old)["blacklisted"];
                    assert!(
                        !entry.is_null(),
                        "{context}: rotated but not blacklisted: {a:?}"
                    );
                    record(new);
                    must_refuse.push((old.clone(), Some(new.clone())));
                }
                Acked::LoggedOut { refresh } => {
                    assert!(revoked(refresh), "{context}: logged out but usable: {a:?}");
                    must_refuse.push((refresh.clone(), None));
                }
                Acked::ReuseDetected { replayed, current } => {
                    assert!(
                        revoked(current),
                        "{context}: reuse of {replayed} detected, but its successor is usable"
                    );
                    must_refuse.push((current.clone(), None));
                }
                Acked::LoggedOutEverywhere { user, before } => {
                    for token in before {
                        assert!(
                            revoked(token),
                            "{context}: {user} logged out everywhere, but {token} is not revoked"
                        );
                        must_refuse.push((token.clone(), None));
                    }
                }
            }
        }
        // Every acknowledged login is recorded, for the user who logged in.
        let mut ids: HashMap<&str, Vec<u64>> = HashMap::new();
        for a in &acked {
            if let Acked::Issued { user, refresh } = a {
                ids.entry(user)
                    .or_default()
                    .push(record(refresh)["user_id"].as_u64().unwrap());
            }
        }
        let mut all: Vec<u64> = ids.values().flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        assert!(
            ids.values().all(|v| v.iter().all(|id| *id == v[0])) && all.len() == ids.len(),
            "{context}: tokens recorded for the wrong user: {ids:?}"
        );

        // Restarted, the server refuses every token it acknowledged as logged out or
        // revoked, and a rotated one gets nothing but its one successor: no refresh
        // token is both rotated and usable for a second branch.
        let server = Server::start(&data);
        for (token, successor) in &must_refuse {
            let (status, body) = refresh_status(server.addr, token);
            let again = status == 200 && body["refresh"].as_str() == successor.as_deref();
            assert!(
                status == 401 || again,
                "{context}: a revoked token refreshed: {status} {body}"
            );
        }
        server.kill9();
    }
    assert!(
        reuse_detections > 0,
        "no replay happened in {rounds} rounds"
    );
}

/// Issue #12: kill -9 while tabs refresh and refresh again inside the reuse interval.
/// After the restart, every successor that was answered is in the store, and the
/// rotated-out token, retried, still gets that same successor (the interval is 60 s
/// here, so a slow restart on a loaded machine cannot end it).
#[test]
fn kill_9_inside_the_reuse_interval_keeps_every_answered_successor() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let users: Vec<String> = (0..4).map(|i| format!("tab{i}")).collect();
    for user in &users {
        add_user(&data, user, &format!("pw-{user}"));
    }
    let settings = [("TOLLGATE_REFRESH_REUSE_INTERVAL", "60")];
    for round in 0..3u64 {
        let server = Server::start_with(&data, &settings);
        let addr = server.addr;
        // (rotated-out token, its successor), as answered, per tab; the last pair of a
        // tab has an unused successor.
        let answered = Arc::new(Mutex::new(HashMap::<String, Vec<(String, String)>>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let tabs: Vec<_> = users
            .iter()
            .map(|user| {
                let (user, stop, answered) =
                    (user.clone(), Arc::clone(&stop), Arc::clone(&answered));
                std::thread::spawn(move || {
                    let credentials = json!({"username": user, "password": format!("pw-{user}")});
                    let Some(body) = post(addr, "/api/token/", None, credentials) else {
                        return;
                    };
                    let mut current = body["refresh"].as_str().unwrap().to_string();
                    while !stop.load(Ordering::Relaxed) {
                        let body = json!({"refresh": current});
                        let Some(first) = post(addr, "/api/token/refresh/", None, body.clone())
                        else {
                            return;
                        };
                        let successor = first["refresh"].as_str().unwrap().to_string();
                        answered
                            .lock()
                            .unwrap()
                            .entry(user.clone())
                            .or_default()
                            .push((current.clone(), successor.clone()));
                        // The second tab, at once: the same successor.
                        let Some(second) = post(addr, "/api/token/refresh/", None, body) else {
                            return;
                        };
                        assert_eq!(second["refresh"].as_str(), Some(successor.as_str()));
                        current = successor;
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300 + 200 * round));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for tab in tabs {
            tab.join().unwrap();
        }
        let answered = answered.lock().unwrap().clone();
        let records = store_records(&data);
        let mut retried = 0;
        for pairs in answered.values() {
            for (_, successor) in pairs {
                assert!(
                    records.contains_key(&jti(successor)),
                    "round {round}: an answered successor is unknown to the store"
                );
            }
        }
        let server = Server::start_with(&data, &settings);
        for pairs in answered.values() {
            let Some((old, successor)) = pairs.last() else {
                continue;
            };
            let entry = &records[&jti(successor)]["blacklisted"];
            if entry.is_null() {
                // The answered successor is unused: the rotated-out token, retried (a
                // second tab, after the restart), gets it again, from the store.
                let (status, body) = refresh_status(server.addr, old);
                assert_eq!(
                    (status, body["refresh"].as_str()),
                    (200, Some(successor.as_str())),
                    "round {round}: the retried refresh did not get its successor"
                );
            } else {
                // The tab's own refresh of it committed but its answer was lost in the
                // kill: retried, it gets that very successor (unknown to the tab).
                let (status, body) = refresh_status(server.addr, successor);
                assert_eq!(status, 200, "round {round}: {body}");
                assert_eq!(
                    Some(jti(body["refresh"].as_str().unwrap())),
                    entry["successor"].as_str().map(String::from),
                    "round {round}: the retry got another successor than the committed one"
                );
            }
            retried += 1;
        }
        assert!(
            retried > 0,
            "round {round}: nothing was refreshed before the kill"
        );
        server.kill9();
    }
}

/// Whether the store under test lives in the data folder (sled): the disk faults below
/// are of that folder. On PostgreSQL the store's disk is the database's (its own faults:
/// the database stopped and restarted, issue #15).
fn on_sled(what: &str) -> bool {
    let sled = common::backend() == "sled";
    if !sled {
        eprintln!("{what}: not the store's on {}", common::backend());
    }
    sled
}

/// A tmpfs of a fixed size mounted for one test (unmounted when dropped): a disk that
/// can fill up, or be made read-only, without touching the machine's real disks.
/// Mounting needs root, which the test environment has (as CI does).
struct Tmpfs {
    path: std::path::PathBuf,
}

impl Tmpfs {
    fn mount(path: &std::path::Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .status()
            .expect("mount(8)");
        assert!(
            status.success(),
            "mounting a tmpfs needs root: this test cannot run here"
        );
        Tmpfs {
            path: path.to_path_buf(),
        }
    }

    fn remount(&self, options: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

/// Fills the file system holding `dir` until a write fails; returns the filler's path.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0xa5u8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
    path
}

const UNAVAILABLE: &str =
    r#"{"code":"store_unavailable","detail":"Service temporarily unavailable, try again later."}"#;

/// What a chain of refreshes got: the acknowledged rotations (old, new), the first
/// failure if any, and the last token that was still to be used.
type Chain = (Vec<(String, String)>, Option<(u16, Value)>, String);

/// Refreshes in a chain until one fails.
fn refresh_until_failure(addr: std::net::SocketAddr, mut refresh: String, limit: usize) -> Chain {
    let mut acked = Vec::new();
    for _ in 0..limit {
        match refresh_status(addr, &refresh) {
            (200, body) => {
                let new = body["refresh"].as_str().unwrap().to_string();
                acked.push((refresh, new.clone()));
                refresh = new;
            }
            failure => return (acked, Some(failure), refresh),
        }
    }
    (acked, None, refresh)
}

/// A full disk: writes answer 503 `store_unavailable` (nothing acknowledged), reads
/// still work, the server reopens its store by itself once space returns, and after a
/// kill and restart every acknowledged rotation is there.
#[test]
fn a_full_disk_is_a_clear_503_and_nothing_acknowledged_is_lost() {
    if !on_sled("the data folder's disk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&dir.path().join("fs"), "24m");
    let data = fs.path.join("data");
    add_user(&data, "alice", "pw-alice");
    let server = Server::start(&data);
    let (status, body) = request(
        server.addr,
        "POST",
        "/api/token/",
        None,
        Some(&json!({"username": "alice", "password": "pw-alice"})),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let first = body["refresh"].as_str().unwrap().to_string();
    let access = body["access"].as_str().unwrap().to_string();
    let filler = fill(&fs.path);

    let (acked, failure, last) = refresh_until_failure(server.addr, first, 20_000);
    let (status, body) = failure.expect("20,000 rotations fitted on a full disk");
    assert_eq!((status, body.to_string()), (503, UNAVAILABLE.to_string()));
    // Reads that need no write still work: health, and the access token on /api/me/.
    let (status, _) = request(server.addr, "GET", "/healthz", None, None).unwrap();
    assert_eq!(status, 200);
    let (status, me) = request(server.addr, "GET", "/api/me/", Some(&access), None).unwrap();
    assert_eq!(status, 200, "{me}");

    // Space returns: the same process recovers by itself (it reopens the store).
    std::fs::remove_file(filler).unwrap();
    let started = std::time::Instant::now();
    let successor = loop {
        match refresh_status(server.addr, &last) {
            (200, body) => break body["refresh"].as_str().unwrap().to_string(),
            (503, _) if started.elapsed() < Duration::from_secs(15) => {
                std::thread::sleep(Duration::from_millis(200));
            }
            other => panic!("after space returned: {other:?}"),
        }
    };
    eprintln!("recovered {:?} after space returned", started.elapsed());
    server.kill9();
    let records = store_records(&data);
    for (old, new) in &acked {
        let old = records.get(&jti(old)).expect("acknowledged rotation lost");
        assert!(!old["blacklisted"].is_null(), "{old}");
        assert!(
            records.contains_key(&jti(new)),
            "acknowledged successor lost"
        );
    }
    let server = Server::start(&data);
    let (_, failure, _) = refresh_until_failure(server.addr, successor, 5);
    assert!(failure.is_none(), "{failure:?}");
    server.kill9();
}

/// A command's exit status and stderr, killed if it runs past `limit`.
fn run_bounded(mut cmd: std::process::Command, limit: Duration) -> (Option<i32>, String) {
    use std::io::Read as _;
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

/// A data folder on a file system mounted read-only (a disk remounted read-only after
/// errors, a read-only volume): `serve` and the CLI fail at once with a clear message,
/// no panic; once writable again everything acknowledged before is there.
#[test]
fn a_read_only_data_folder_is_refused_clearly_and_nothing_is_lost() {
    if !on_sled("the data folder's disk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&dir.path().join("fs"), "64m");
    let data = fs.path.join("data");
    add_user(&data, "alice", "pw-alice");
    let server = Server::start(&data);
    let login = json!({"username": "alice", "password": "pw-alice"});
    let (status, body) = request(server.addr, "POST", "/api/token/", None, Some(&login)).unwrap();
    assert_eq!(status, 200, "{body}");
    let (acked, failure, last) =
        refresh_until_failure(server.addr, body["refresh"].as_str().unwrap().into(), 3);
    assert!(failure.is_none() && acked.len() == 3, "{failure:?}");
    server.kill9();

    fs.remount("ro");
    for args in [
        &["serve", "--bind", "127.0.0.1:0", "--no-demo-user"][..],
        &["tokens", "list", "--json"],
        &["users", "deactivate", "alice"],
    ] {
        let mut cmd = tollgate(&data);
        cmd.args(args).stdin(std::process::Stdio::null());
        let (status, stderr) = run_bounded(cmd, Duration::from_secs(30));
        assert!(
            status.is_some_and(|code| code != 0),
            "{args:?}: {status:?} {stderr}"
        );
        assert!(
            stderr.contains("Read-only file system") && !stderr.contains("panicked"),
            "{args:?}: unclear error: {stderr}"
        );
    }

    fs.remount("rw");
    let records = store_records(&data);
    for (old, new) in &acked {
        assert!(!records[&jti(old)]["blacklisted"].is_null());
        assert!(records.contains_key(&jti(new)));
    }
    let server = Server::start(&data);
    let (_, failure, _) = refresh_until_failure(server.addr, last, 3);
    assert!(failure.is_none(), "{failure:?}");
    server.kill9();
}
