//! Servers on PostgreSQL, as processes: the round trips each endpoint takes (counted by
//! the server at its sockets, `tollgate_database_round_trips_total`, and held to the
//! numbers ARCHITECTURE.md states in "Round trips", so a change that adds one fails
//! here), and login throttles that count the attempts of every replica. (Restarts,
//! kills and races under load: replicas.rs.)

mod common;

use std::{
    io::Write as _,
    net::SocketAddr,
    process::Stdio,
    time::{Duration, Instant},
};

use common::{fresh_database, metric, request, tollgate, Server};
use serde_json::{json, Value};

const TRIPS: &str = "tollgate_database_round_trips_total";

/// The fewest round trips `step` took over a few tries: the server's once-a-second
/// housekeeping (one round trip) may land inside one try, never inside all of them.
fn fewest(addr: SocketAddr, mut step: impl FnMut() -> u16, expect_status: u16) -> u64 {
    (0..4)
        .map(|_| {
            let before = metric(addr, TRIPS);
            assert_eq!(step(), expect_status);
            metric(addr, TRIPS) - before
        })
        .min()
        .unwrap()
}

/// `alice` with `password`, on the database at `url`.
fn add_alice(data: &std::path::Path, url: &str, password: &str) {
    let mut add = tollgate(data)
        .env("TOLLGATE_DATABASE_URL", url)
        .args(["users", "add", "alice", "--password-stdin"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    assert!(add.wait().unwrap().success());
}

fn post(addr: SocketAddr, path: &str, body: Value) -> (u16, Value) {
    request(addr, "POST", path, None, Some(&body)).unwrap()
}

#[test]
fn each_endpoint_takes_its_stated_round_trips_to_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let url = fresh_database();
    add_alice(&data, &url, "correct horse battery");
    // Reuse interval on (the default): a rotated-out token presented again at once gets
    // its successor again.
    let server = Server::start_with(&data, &[("TOLLGATE_DATABASE_URL", url.as_str())]);
    let addr = server.addr;
    let credentials = json!({"username": "alice", "password": "correct horse battery"});
    let login = || post(addr, "/api/token/", credentials.clone());
    // Warm every pooled connection's statement cache: a statement is prepared once per
    // connection (one more round trip the first time).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut pairs = Vec::new();
    while pairs.len() < 64 && Instant::now() < deadline {
        let (status, body) = login();
        assert_eq!(status, 200, "{body}");
        let (status, next) = post(
            addr,
            "/api/token/refresh/",
            json!({"refresh": body["refresh"]}),
        );
        assert_eq!(status, 200, "{next}");
        let _ = request(addr, "GET", "/api/me/", next["access"].as_str(), None).unwrap();
        let _ = post(
            addr,
            "/api/token/verify/",
            json!({"token": next["refresh"]}),
        );
        let _ = post(
            addr,
            "/api/token/refresh/",
            json!({"refresh": body["refresh"]}),
        );
        let _ = post(
            addr,
            "/api/token/blacklist/",
            json!({"refresh": next["refresh"]}),
        );
        pairs.push(body);
    }

    let mut tokens = Vec::new();
    let login_trips = fewest(
        addr,
        || {
            let (status, body) = login();
            tokens.push(body);
            status
        },
        200,
    );
    let mut next = tokens.iter();
    let mut rotated = Vec::new();
    let refresh_trips = fewest(
        addr,
        || {
            let old = next.next().unwrap();
            let (status, body) = post(
                addr,
                "/api/token/refresh/",
                json!({"refresh": old["refresh"]}),
            );
            rotated.push((old.clone(), body));
            status
        },
        200,
    );
    let (old, new) = rotated.last().unwrap().clone();
    let access = new["access"].as_str().unwrap();
    let me_trips = fewest(
        addr,
        || {
            request(addr, "GET", "/api/me/", Some(access), None)
                .unwrap()
                .0
        },
        200,
    );
    let verify_trips = fewest(
        addr,
        || post(addr, "/api/token/verify/", json!({"token": new["refresh"]})).0,
        200,
    );
    let grace_trips = fewest(
        addr,
        || {
            post(
                addr,
                "/api/token/refresh/",
                json!({"refresh": old["refresh"]}),
            )
            .0
        },
        200,
    );
    let mut live = rotated.iter().map(|(_, new)| new["refresh"].clone());
    let logout_trips = fewest(
        addr,
        || {
            post(
                addr,
                "/api/token/blacklist/",
                json!({"refresh": live.next().unwrap()}),
            )
            .0
        },
        200,
    );
    let counted = [
        ("login", login_trips),
        ("refresh", refresh_trips),
        ("refresh again (reuse interval)", grace_trips),
        ("verify", verify_trips),
        ("/api/me/", me_trips),
        ("blacklist (logout)", logout_trips),
    ];
    eprintln!("round trips: {counted:?}");
    // ARCHITECTURE.md, "Round trips": the numbers, and why each is what it is.
    assert_eq!(
        counted,
        [
            ("login", 6),
            ("refresh", 1),
            ("refresh again (reuse interval)", 2),
            ("verify", 1),
            ("/api/me/", 1),
            ("blacklist (logout)", 6),
        ]
    );
    // Its sessions carry its name and pid, as pg_stat_activity shows them to operators
    // (and to Server::kill9, which waits for a killed server's sessions to end).
    assert!(common::sessions_of(&url, server.child.id()) > 0);
    drop(server);
}

/// Three replicas with a username throttle of 5 per minute: the attempts on all of them
/// count against one budget (wrong passwords too, as in DRF), and the sixth is refused
/// with DRF's 429 and `Retry-After`, whichever replica it reaches.
#[test]
fn login_throttles_count_the_attempts_of_every_replica() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database();
    let settings = [
        ("TOLLGATE_DATABASE_URL", url.as_str()),
        ("TOLLGATE_LOGIN_THROTTLE_USERNAME", "5/min"),
    ];
    let replicas: Vec<Server> = (0..3)
        .map(|i| {
            let data = dir.path().join(format!("replica{i}"));
            std::fs::create_dir_all(&data).unwrap();
            if i == 0 {
                add_alice(&data, &url, "correct horse battery");
            }
            Server::start_with(&data, &settings)
        })
        .collect();
    let attempt = |i: usize, password: &str| {
        let body = json!({"username": "alice", "password": password});
        post(replicas[i % 3].addr, "/api/token/", body)
    };
    for i in 0..5 {
        let password = if i % 2 == 0 {
            "wrong"
        } else {
            "correct horse battery"
        };
        let (status, body) = attempt(i, password);
        assert_eq!(
            status,
            if i % 2 == 0 { 401 } else { 200 },
            "attempt {i}: {body}"
        );
    }
    for i in 5..8 {
        let (status, body) = attempt(i, "correct horse battery");
        assert_eq!(status, 429, "attempt {i} on replica {}: {body}", i % 3);
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("Request was throttled. Expected available in "),
            "{detail}"
        );
    }
    // Another username is not affected.
    let (status, _) = post(
        replicas[2].addr,
        "/api/token/",
        json!({"username": "bob", "password": "x"}),
    );
    assert_eq!(status, 401);
}
