//! A data folder written by an earlier release opens unchanged, and what its tokens were
//! promised still holds: live refresh and sliding tokens refresh, logged-out and
//! rotated-out ones stay refused (a rotated-out one is a replay that revokes its family),
//! and the CLI reads its users and token records.
//!
//! The fixture, `tests/data/store-v1.tar.gz` (the `data` folder) and
//! `tests/data/store-v1.json` (its users, passwords, tokens and settings), was written by
//! the `tollgate` binary of commit 94338f14c554e4c76012ec497d30f72e6cef0d9d (the release
//! before the server/src restructuring), with `env -i` and the settings of
//! `common::tollgate` (`TOLLGATE_SIGNING_KEY` = `common::SECRET`,
//! `TOLLGATE_PBKDF2_ITERATIONS=1000`, both login throttles `100000/min`) plus
//! `TOLLGATE_REFRESH_TOKEN_LIFETIME`, `TOLLGATE_SLIDING_TOKEN_LIFETIME` and
//! `TOLLGATE_SLIDING_TOKEN_REFRESH_LIFETIME` all `3660d` (tollgate-core's longest accepted
//! lifetime, ten years; longer is refused: the tokens expire on the manifest's
//! `valid_until_utc`, 2036-12-13, regenerate the fixture before then); access tokens keep
//! the default 30m. It was made at the manifest's `made_at_utc` by that machine's clock,
//! which the store keeps as its clock floor. In a fresh folder, from its parent:
//!
//! 1. `tollgate users add alice --password-stdin` (`pw-alice`), then `bob` (`pw-bob`);
//! 2. `tollgate serve --bind 127.0.0.1:0 --no-demo-user`, then, with curl:
//!    `POST /api/token/` as alice: refresh token A0; `POST /api/token/refresh/` A0: A
//!    (A0 is blacklisted as rotated, A is in A0's family); `POST /api/token/` as bob: B;
//!    `POST /api/token/` as alice: C, then `POST /api/token/blacklist/` C;
//!    `POST /api/token/sliding/` as bob: S;
//! 3. SIGTERM, wait for exit 0 (the clean close stores the record counts and the clock
//!    floor), remove `admin.sock` if left, and pack the folder at once (any later
//!    command that opens it rewrites sled's files):
//!    `tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -c data | gzip -9n`.
//!
//! The manifest was filled from the tokens the server answered and from `tollgate users
//! list --json` / `tollgate tokens list --json` of a copy unpacked from the archive. All
//! of it is test input: HS256 tokens signed with the public test secret.

mod common;

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
};

use common::{jti, metric, request, tollgate, Server, SECRET};
use serde_json::{json, Value};

const ARCHIVE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/store-v1.tar.gz");
const MANIFEST: &str = include_str!("data/store-v1.json");

fn manifest() -> Value {
    serde_json::from_str(MANIFEST).unwrap()
}

/// The fixture's settings, as the fixture's server had them.
fn settings(manifest: &Value) -> Vec<(String, String)> {
    let settings = manifest["settings"].as_object().unwrap();
    assert_eq!(settings["TOLLGATE_SIGNING_KEY"], SECRET);
    settings
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

/// The text of one of the fixture's tokens (`A0`, `A`, `B`, `C`, `S`).
fn token<'a>(manifest: &'a Value, name: &str) -> &'a str {
    manifest["tokens"][name]["token"].as_str().unwrap()
}

/// A fresh copy of the fixture's data folder: (its temporary parent, the folder).
fn unpack(manifest: &Value) -> (tempfile::TempDir, PathBuf) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let valid_until = manifest["valid_until"].as_u64().unwrap();
    assert!(
        now < valid_until,
        "the fixture's tokens expired at {}: regenerate it as the header of this file says",
        manifest["valid_until_utc"]
    );
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(ARCHIVE)
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "tar -xzf {ARCHIVE}: {status}");
    let data = dir.path().join("data");
    assert!(data.join("db").is_dir(), "no data/db in {ARCHIVE}");
    (dir, data)
}

/// The fixture is a sled data folder: what it checks is sled's format, whatever backend
/// the other suites run on (moving a sled folder to PostgreSQL is another tool's job).
fn sled_folder() -> bool {
    let sled = common::backend() == "sled";
    if !sled {
        eprintln!(
            "a sled data folder's format: not the store's on {}",
            common::backend()
        );
    }
    sled
}

/// A server on the folder with the fixture's settings.
fn start(data: &Path, manifest: &Value) -> Server {
    let settings = settings(manifest);
    let env: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Server::start_with(data, &env)
}

/// A `tollgate` command on the folder with the fixture's settings, which must succeed;
/// its output's JSON lines.
fn cli_json(data: &Path, manifest: &Value, args: &[&str]) -> Vec<Value> {
    let out = tollgate(data)
        .envs(settings(manifest))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `tollgate tokens list --json` of the stopped server's folder, by jti.
fn records(data: &Path, manifest: &Value) -> HashMap<String, Value> {
    cli_json(data, manifest, &["tokens", "list", "--json"])
        .into_iter()
        .map(|r| (r["jti"].as_str().unwrap().to_string(), r))
        .collect()
}

fn post(addr: SocketAddr, path: &str, body: Value) -> (u16, Value) {
    request(addr, "POST", path, None, Some(&body)).unwrap()
}

fn refresh(addr: SocketAddr, refresh: &str) -> (u16, Value) {
    post(addr, "/api/token/refresh/", json!({"refresh": refresh}))
}

/// A refresh that must succeed: (access, refresh).
fn refreshed(addr: SocketAddr, token: &str, what: &str) -> (String, String) {
    let (status, body) = refresh(addr, token);
    assert_eq!(status, 200, "{what}: {body}");
    let access = body["access"].as_str().unwrap().to_string();
    let next = body["refresh"].as_str().unwrap().to_string();
    assert_ne!(next, token, "{what}: not rotated");
    assert_ne!(jti(&next), jti(token), "{what}: not rotated");
    (access, next)
}

/// Simple JWT's answer to a blacklisted refresh token.
fn blacklisted() -> (u16, Value) {
    (
        401,
        json!({"detail": "Token is blacklisted", "code": "token_not_valid"}),
    )
}

/// `GET /api/me/` with `access` must answer this user.
fn assert_me(addr: SocketAddr, access: &str, id: u64, username: &str) {
    let (status, body) = request(addr, "GET", "/api/me/", Some(access), None).unwrap();
    assert_eq!(
        (status, body),
        (200, json!({"id": id, "username": username}))
    );
}

#[test]
fn the_old_store_opens_and_its_live_tokens_refresh() {
    if !sled_folder() {
        return;
    }
    let m = manifest();
    let (_dir, data) = unpack(&m);
    let server = start(&data, &m);
    let addr = server.addr;
    // The counts the old server stored at its clean close (or counted anew).
    assert_eq!(metric(addr, "tollgate_users"), 2);
    assert_eq!(metric(addr, "tollgate_outstanding_tokens"), 5);
    assert_eq!(metric(addr, "tollgate_blacklisted_tokens"), 2);

    // A, rotated once by the old server, rotates again, and so does its successor.
    let (access, a1) = refreshed(addr, token(&m, "A"), "A");
    assert_me(addr, &access, 1, "alice");
    let claims = tollgate_core::decode(&a1).unwrap().claims();
    assert_eq!(claims.get_str("user_id"), Some("1"));
    assert_eq!(claims.get_str("username"), Some("alice"));
    let (access, _a2) = refreshed(addr, &a1, "A's successor");
    assert_me(addr, &access, 1, "alice");

    // B, an independent login.
    let (access, _) = refreshed(addr, token(&m, "B"), "B");
    assert_me(addr, &access, 2, "bob");

    // S slides, keeping its jti, and the slid token slides again.
    let s = token(&m, "S");
    let (status, body) = post(addr, "/api/token/sliding/refresh/", json!({"token": s}));
    assert_eq!(status, 200, "S: {body}");
    let slid = body["token"].as_str().unwrap().to_string();
    assert_eq!(jti(&slid), jti(s));
    let (status, body) = post(addr, "/api/token/sliding/refresh/", json!({"token": slid}));
    assert_eq!(status, 200, "S slid: {body}");

    // The stored password hashes still check.
    for user in m["users"].as_array().unwrap() {
        let credentials = json!({"username": user["username"], "password": user["password"]});
        let (status, body) = post(addr, "/api/token/", credentials);
        assert_eq!(status, 200, "{user}: {body}");
        assert_me(
            addr,
            body["access"].as_str().unwrap(),
            user["id"].as_u64().unwrap(),
            user["username"].as_str().unwrap(),
        );
    }
    let (status, _) = post(
        addr,
        "/api/token/",
        json!({"username": "alice", "password": "pw-bob"}),
    );
    assert_eq!(status, 401);
    drop(server);

    // The refreshes went through the old records, not around them: a validly signed
    // token the store has never seen is also accepted (as a token migrated from Simple
    // JWT) but starts a family of its own.
    let records = records(&data, &m);
    let family = &m["tokens"]["A"]["family"];
    assert_eq!(family, &m["tokens"]["A0"]["jti"]);
    assert_eq!(records[&jti(&a1)]["family"], *family, "{records:?}");
    assert_eq!(
        records[&jti(token(&m, "A"))]["blacklisted"]["reason"],
        "rotated"
    );
}

#[test]
fn what_the_old_store_revoked_stays_revoked() {
    if !sled_folder() {
        return;
    }
    let m = manifest();
    let (_dir, data) = unpack(&m);
    let server = start(&data, &m);
    let addr = server.addr;

    // C was logged out.
    assert_eq!(refresh(addr, token(&m, "C")), blacklisted());
    let again = post(
        addr,
        "/api/token/blacklist/",
        json!({"refresh": token(&m, "C")}),
    );
    assert_eq!(again, blacklisted());
    assert_eq!(metric(addr, "tollgate_reuse_detections_total"), 0);

    // A0 was rotated out: presenting it is a replay, which revokes its family, A too.
    assert_eq!(refresh(addr, token(&m, "A0")), blacklisted());
    assert_eq!(metric(addr, "tollgate_reuse_detections_total"), 1);
    assert_eq!(refresh(addr, token(&m, "A")), blacklisted());
    // Another family is not touched.
    refreshed(addr, token(&m, "B"), "B");
    drop(server);

    let records = records(&data, &m);
    let reason = |name: &str| records[&jti(token(&m, name))]["blacklisted"]["reason"].clone();
    assert_eq!(reason("A0"), "rotated");
    assert_eq!(reason("A"), "reuse");
    assert_eq!(reason("C"), "logout");
}

#[test]
fn the_cli_reads_the_old_store() {
    if !sled_folder() {
        return;
    }
    let m = manifest();
    let (_dir, data) = unpack(&m);

    let users = cli_json(&data, &m, &["users", "list", "--json"]);
    let listed: Vec<(u64, &str)> = users
        .iter()
        .map(|u| (u["id"].as_u64().unwrap(), u["username"].as_str().unwrap()))
        .collect();
    let expected: Vec<(u64, &str)> = m["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["id"].as_u64().unwrap(), u["username"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(listed, [(1, "alice"), (2, "bob")]);
    assert!(users.iter().all(|u| u["is_active"] == true), "{users:?}");

    let records = records(&data, &m);
    let tokens = m["tokens"].as_object().unwrap();
    assert_eq!(records.len(), tokens.len(), "{records:?}");
    for (name, expected) in tokens {
        let record = records
            .get(expected["jti"].as_str().unwrap())
            .unwrap_or_else(|| panic!("{name} ({}) not listed", expected["jti"]));
        assert_eq!(jti(expected["token"].as_str().unwrap()), expected["jti"]);
        for field in ["kind", "user_id", "family", "expires_at"] {
            assert_eq!(
                record[field], expected[field],
                "{name}: {field} of {record}"
            );
        }
        let state = match &record["blacklisted"] {
            Value::Null => "outstanding".to_string(),
            entry => format!("blacklisted:{}", entry["reason"].as_str().unwrap()),
        };
        assert_eq!(state, expected["state"], "{name}: {record}");
    }
    // A is A0's rotated successor.
    assert_eq!(tokens["A"]["family"], tokens["A0"]["jti"]);
}
