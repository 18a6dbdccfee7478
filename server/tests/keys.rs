//! The signing-key set in the store (issue #16): `tollgate keys list | add | rotate |
//! revoke` as processes, and a running server taking rotations and revocations up without
//! a restart. On the backend `TOLLGATE_TEST_BACKEND` names (sled by default).

mod common;

use std::{path::Path, process::Command, time::Duration};

use base64::Engine as _;
use serde_json::{json, Value};

use common::{add_user, request, tollgate, Server};

const KEK: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// `tollgate` with the key-encryption key configured.
fn with_kek(data: &Path) -> Command {
    let mut cmd = tollgate(data);
    cmd.env("TOLLGATE_KEY_ENCRYPTION_KEY", KEK);
    cmd
}

/// Runs `keys ARGS`: (success, stdout, stderr).
fn keys(mut cmd: Command, args: &[&str]) -> (bool, String, String) {
    let out = cmd.arg("keys").args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `keys ARGS` must fail with `code` (and say nothing on stdout).
fn refused(cmd: Command, args: &[&str], code: &str) {
    let (ok, out, err) = keys(cmd, args);
    assert!(!ok, "keys {args:?} succeeded: {out}");
    assert!(err.contains(&format!("({code})")), "keys {args:?}: {err}");
    assert_eq!(out, "");
}

/// The stored keys as `keys list --json` shows them: (kid, state) in store order.
fn listed(data: &Path) -> Vec<(String, String)> {
    let (ok, out, err) = keys(with_kek(data), &["list", "--json"]);
    assert!(ok, "{err}");
    out.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            (
                v["kid"].as_str().unwrap().into(),
                v["state"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn header(token: &str) -> Value {
    let b64 = token.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn keys_commands_change_the_stored_set_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (ok, out, err) = keys(tollgate(&data), &["list"]);
    assert!(ok, "{err}");
    assert!(out.contains("no signing keys in the store"), "{out}");
    // Every command that seals or opens a key needs the key-encryption key.
    for args in [&["add"][..], &["rotate"], &["revoke", "x"]] {
        refused(tollgate(&data), args, "key_encryption_key_missing");
    }
    let mut short = tollgate(&data);
    short.env("TOLLGATE_KEY_ENCRYPTION_KEY", "00ff");
    refused(short, &["rotate"], "config_invalid");
    refused(
        with_kek(&data),
        &["add", "--algorithm", "EdDSA"],
        "key_algorithm_not_allowed",
    );
    refused(
        with_kek(&data),
        &["add", "--algorithm", "none"],
        "key_algorithm_not_allowed",
    );
    refused(with_kek(&data), &["revoke", "no-such-kid"], "key_unknown");
    assert_eq!(listed(&data), Vec::new(), "nothing half-applied");

    let (ok, out, err) = keys(with_kek(&data), &["rotate"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("the configured signing key still verifies"),
        "{out}"
    );
    let (ok, out, err) = keys(with_kek(&data), &["add"]);
    assert!(ok, "{err}");
    assert!(out.contains("as next"), "{out}");
    let set = listed(&data);
    assert_eq!(set.len(), 2, "{set:?}");
    let kid_in = |state: &str| {
        set.iter()
            .find(|(_, s)| s == state)
            .unwrap_or_else(|| panic!("no {state} key: {set:?}"))
            .0
            .clone()
    };
    let (first, next) = (kid_in("current"), kid_in("next"));

    // Another key-encryption key opens nothing: refused, nothing changed.
    let mut other = tollgate(&data);
    other.env("TOLLGATE_KEY_ENCRYPTION_KEY", "ff".repeat(32));
    refused(other, &["rotate"], "key_unsealable");
    assert_eq!(listed(&data), set);

    let (ok, out, err) = keys(with_kek(&data), &["rotate"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with(&format!("{next} signs now; {first} is previous")),
        "{out}"
    );
    let (ok, out, err) = keys(with_kek(&data), &["revoke", &first]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        format!("{first} revoked: the tokens it signed are refused\n")
    );
    let (ok, out, _) = keys(with_kek(&data), &["revoke", &first]);
    assert!(ok);
    assert_eq!(out, format!("{first} was revoked already\n"));
    let mut after = listed(&data);
    after.sort();
    let mut want = vec![
        (first, "revoked".to_string()),
        (next, "current".to_string()),
    ];
    want.sort();
    assert_eq!(after, want);
    let (ok, out, _) = keys(with_kek(&data), &["list"]);
    assert!(ok && out.lines().count() == 2, "{out}");
}

/// Logs in as alice: (access, refresh).
fn login(addr: std::net::SocketAddr) -> (String, String) {
    let body = json!({"username": "alice", "password": "pw-alice-1"});
    let (status, body) = request(addr, "POST", "/api/token/", None, Some(&body)).unwrap();
    assert_eq!(status, 200, "{body}");
    (
        body["access"].as_str().unwrap().into(),
        body["refresh"].as_str().unwrap().into(),
    )
}

fn refresh(addr: std::net::SocketAddr, token: &str) -> (u16, Value) {
    let body = json!({"refresh": token});
    request(addr, "POST", "/api/token/refresh/", None, Some(&body)).unwrap()
}

fn me(addr: std::net::SocketAddr, access: &str) -> u16 {
    request(addr, "GET", "/api/me/", Some(access), None)
        .unwrap()
        .0
}

/// Runs `keys ARGS` beside the server (through its admin socket on sled, on the database
/// on PostgreSQL), which must succeed.
fn beside(data: &Path, args: &[&str]) -> String {
    let (ok, out, err) = keys(with_kek(data), args);
    assert!(ok, "keys {args:?}: {err}");
    out
}

/// Logs in until a token signed by `kid` comes back: at once through the admin socket,
/// within the reload period (5 s) on a replica that only reads the store.
fn login_signed_by(addr: std::net::SocketAddr, kid: &str) -> (String, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(12);
    loop {
        let (access, refresh) = login(addr);
        if header(&access)["kid"] == kid {
            return (access, refresh);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{kid} never signed: {}",
            header(&access)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn current_kid(data: &Path) -> String {
    listed(data)
        .into_iter()
        .find(|(_, s)| s == "current")
        .unwrap()
        .0
}

#[test]
fn a_running_server_takes_rotations_and_revocations_up_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    add_user(&data, "alice", "pw-alice-1");
    let server = Server::spawn(with_kek(&data));
    let addr = server.addr;

    // No key set: the configured key signs, Simple JWT's exact header.
    let (access0, refresh0) = login(addr);
    assert_eq!(header(&access0), json!({"alg": "HS256", "typ": "JWT"}));
    assert_eq!(
        access0.split('.').next().unwrap(),
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    );

    // Generation 1.
    beside(&data, &["rotate"]);
    let k1 = current_kid(&data);
    let (access1, refresh1) = login_signed_by(addr, &k1);
    assert_eq!(me(addr, &access1), 200);
    // The configured key's tokens keep working and refreshing.
    assert_eq!(me(addr, &access0), 200);
    let (status, body) = refresh(addr, &refresh0);
    assert_eq!(status, 200, "{body}");
    let refresh0 = body["refresh"].as_str().unwrap().to_string();
    assert_eq!(header(&refresh0)["kid"], k1.as_str());

    // Generations 2 and 3, through a published next key.
    beside(&data, &["add"]);
    beside(&data, &["rotate"]);
    let k2 = current_kid(&data);
    assert_ne!(k1, k2);
    let (access2, refresh2) = login_signed_by(addr, &k2);
    beside(&data, &["rotate"]);
    let k3 = current_kid(&data);
    let (access3, _) = login_signed_by(addr, &k3);
    // Tokens of every generation still verify and refresh.
    for access in [&access1, &access2, &access3] {
        assert_eq!(me(addr, access), 200, "{}", header(access));
    }
    let (status, body) = refresh(addr, &refresh1);
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(body["access"].as_str().unwrap())["kid"], k3.as_str());
    let (status, _) = refresh(addr, &refresh2);
    assert_eq!(status, 200);

    // A revoked key's tokens are refused at once (sled: before the command returns;
    // PostgreSQL: within the reload period).
    refused(with_kek(&data), &["revoke", "no-such-kid"], "key_unknown");
    beside(&data, &["revoke", &k2]);
    if common::backend() == "sled" {
        assert_eq!(
            me(addr, &access2),
            401,
            "through the admin socket: before it answered"
        );
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(12);
    while me(addr, &access2) != 401 {
        assert!(
            std::time::Instant::now() < deadline,
            "a revoked key's token still verifies"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(me(addr, &access3), 200);
    assert_eq!(me(addr, &access1), 200);

    // The JWKS: the keys in force (none for HMAC), cacheable, with an ETag that a
    // conditional request gets a 304 with.
    let answer = raw_get(addr, "/.well-known/jwks.json", "");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n{\"keys\":[]}"), "{answer}");
    assert!(
        answer.contains("\r\ncache-control: public, max-age=300\r\n"),
        "{answer}"
    );
    let etag = answer
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("an etag")
        .to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10,
        "{etag}"
    );
    let again = raw_get(
        addr,
        "/.well-known/jwks.json",
        &format!("If-None-Match: {etag}\r\n"),
    );
    assert!(again.starts_with("HTTP/1.1 304"), "{again}");
    let other = raw_get(
        addr,
        "/.well-known/jwks.json",
        "If-None-Match: \"other\"\r\n",
    );
    assert!(other.starts_with("HTTP/1.1 200"), "{other}");
    drop(server);
}

/// A GET with extra header lines, answered as raw text (header names as sent).
fn raw_get(addr: std::net::SocketAddr, path: &str, extra: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// A running server retires a previous key by itself once every token it signed has
/// expired (here: lifetimes of 2 s, no leeway), and its tokens are refused from then on.
#[test]
fn a_running_server_retires_previous_keys_when_their_tokens_have_expired() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    add_user(&data, "alice", "pw-alice-1");
    let mut cmd = with_kek(&data);
    for setting in [
        "TOLLGATE_ACCESS_TOKEN_LIFETIME",
        "TOLLGATE_REFRESH_TOKEN_LIFETIME",
        "TOLLGATE_SLIDING_TOKEN_LIFETIME",
    ] {
        cmd.env(setting, "2");
    }
    let server = Server::spawn(cmd);
    beside(&data, &["rotate"]);
    let first = current_kid(&data);
    beside(&data, &["rotate"]);
    let second = current_kid(&data);
    let states = |data: &Path| {
        let mut set = listed(data);
        set.sort();
        set
    };
    assert!(states(&data).contains(&(first.clone(), "previous".into())));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !states(&data).contains(&(first.clone(), "retired".into())) {
        assert!(std::time::Instant::now() < deadline, "{:?}", states(&data));
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(states(&data).contains(&(second, "current".into())));
    drop(server);
}

/// `tollgate` configured for EdDSA: the key `keys generate` wrote in `keydir`.
fn eddsa(data: &Path, keydir: &Path) -> Command {
    let mut cmd = with_kek(data);
    cmd.env_remove("TOLLGATE_SIGNING_KEY")
        .env("TOLLGATE_ALGORITHM", "EdDSA")
        .env("TOLLGATE_SIGNING_KEY_FILE", keydir.join("signing_key"));
    cmd
}

/// A server configured for EdDSA in `dir`, on a key `keys generate` wrote: (data
/// folder, key folder, server).
fn eddsa_server(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, Server) {
    let (data, keydir) = (dir.join("data"), dir.join("keys"));
    std::fs::create_dir_all(&data).unwrap();
    let mut generate = tollgate(&keydir);
    generate
        .env("TOLLGATE_ALGORITHM", "EdDSA")
        .args(["keys", "generate"]);
    assert!(generate.status().unwrap().success());
    let server = Server::spawn(eddsa(&data, &keydir));
    (data, keydir, server)
}

/// EdDSA: the JWKS publishes a next key as soon as it is added; a rotation to it waits
/// until it has been published for two JWKS cache lifetimes (`--now` does not), and
/// a rotation with nothing published is refused.
#[test]
fn a_public_next_key_is_published_before_it_may_sign() {
    let dir = tempfile::tempdir().unwrap();
    let (data, keydir, server) = eddsa_server(dir.path());
    let jwks = || {
        let (status, body) =
            request(server.addr, "GET", "/.well-known/jwks.json", None, None).unwrap();
        assert_eq!(status, 200);
        let mut kids: Vec<String> = body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect();
        kids.sort();
        kids
    };
    assert_eq!(jwks().len(), 1, "the configured key");
    refused(eddsa(&data, &keydir), &["rotate"], "key_next_missing");
    let (ok, out, err) = keys(eddsa(&data, &keydir), &["add"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("added EdDSA key "), "{out}");
    let next = listed(&data)[0].0.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(12);
    while !jwks().contains(&next) {
        assert!(
            std::time::Instant::now() < deadline,
            "the next key is never published"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(jwks().len(), 2, "the configured key and the next one");
    let (ok, _, err) = keys(eddsa(&data, &keydir), &["rotate"]);
    assert!(!ok && err.contains("(key_next_too_recent)"), "{err}");
    assert!(err.contains(&next), "{err}");
    assert_eq!(listed(&data), [(next.clone(), "next".to_string())]);
    let (ok, out, err) = keys(eddsa(&data, &keydir), &["rotate", "--now"]);
    assert!(ok, "{err}");
    assert!(out.starts_with(&format!("{next} signs now")), "{out}");
    drop(server);
}

/// `signing_key_rotation`: a running server rotates by itself (HMAC: at once when due),
/// and tokens of the keys before keep verifying; without a key-encryption key it is a
/// configuration error.
#[test]
fn signing_key_rotation_rotates_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    add_user(&data, "alice", "pw-alice-1");
    let mut no_kek = tollgate(&data);
    no_kek.env("TOLLGATE_SIGNING_KEY_ROTATION", "30d");
    refused(no_kek, &["list"], "config_invalid");
    let mut cmd = with_kek(&data);
    cmd.env("TOLLGATE_SIGNING_KEY_ROTATION", "2s");
    let server = Server::spawn(cmd);
    let (access0, _) = login(server.addr);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let set = listed(&data);
        let previous = set.iter().filter(|(_, s)| s == "previous").count();
        if previous >= 1 {
            assert_eq!(
                set.iter().filter(|(_, s)| s == "current").count(),
                1,
                "{set:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never rotated twice: {set:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let (access, _) = login_signed_by(server.addr, &current_kid(&data));
    assert_eq!(me(server.addr, &access0), 200);
    assert_eq!(me(server.addr, &access), 200);
    drop(server);
}

/// `allowed_algorithms`: HS256 -> EdDSA with nobody logged out. The EdDSA key is added,
/// published, and signs after the rotation; the HS256 tokens from before keep verifying
/// and refreshing (into EdDSA tokens); an algorithm not allowed is refused.
#[test]
fn an_hs256_to_eddsa_migration_logs_nobody_out() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    add_user(&data, "alice", "pw-alice-1");
    let allowing = |data: &Path| {
        let mut cmd = with_kek(data);
        cmd.env("TOLLGATE_ALLOWED_ALGORITHMS", "HS256,EdDSA");
        cmd
    };
    let mut unknown = with_kek(&data);
    unknown.env("TOLLGATE_ALLOWED_ALGORITHMS", "HS256,none");
    refused(unknown, &["list"], "config_invalid");
    let server = Server::spawn(allowing(&data));
    let addr = server.addr;
    let (access0, refresh0) = login(addr);
    assert_eq!(header(&access0)["alg"], "HS256");
    refused(
        allowing(&data),
        &["add", "--algorithm", "ES256"],
        "key_algorithm_not_allowed",
    );
    let (ok, out, err) = keys(allowing(&data), &["add", "--algorithm", "EdDSA"]);
    assert!(ok && out.starts_with("added EdDSA key"), "{out}{err}");
    let next = listed(&data)[0].0.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(12);
    loop {
        let (_, jwks) = request(addr, "GET", "/.well-known/jwks.json", None, None).unwrap();
        if jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == next.as_str())
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{jwks}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (ok, _, err) = keys(allowing(&data), &["rotate"]);
    assert!(!ok && err.contains("(key_next_too_recent)"), "{err}");
    beside(&data, &["rotate", "--now"]);
    let (access1, _) = login_signed_by(addr, &next);
    assert_eq!(header(&access1)["alg"], "EdDSA");
    assert_eq!(me(addr, &access1), 200);
    assert_eq!(
        me(addr, &access0),
        200,
        "the HS256 access token still verifies"
    );
    let (status, body) = refresh(addr, &refresh0);
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(body["access"].as_str().unwrap())["alg"], "EdDSA");
    // A token claiming an algorithm that is not allowed is refused.
    let forged = format!(
        "{}.{}",
        "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9",
        access0.split_once('.').unwrap().1
    );
    assert_eq!(me(addr, &forged), 401);
    drop(server);
}

/// The set's bound (ARCHITECTURE.md, "Decisions"): 16 keys that verify. EdDSA, with no
/// stored current key: 16 `keys add` publish 16 next keys (the JWKS: those and the
/// configured key); the 17th is `key_set_full`, saying what to do, with nothing added;
/// `rotate --now` to a next key still works, and a revoked key makes room again.
#[test]
fn a_full_key_set_refuses_another_key_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let (data, keydir, server) = eddsa_server(dir.path());
    for _ in 0..16 {
        let (ok, out, err) = keys(eddsa(&data, &keydir), &["add"]);
        assert!(ok && out.starts_with("added EdDSA key "), "{out}{err}");
    }
    let (ok, out, err) = keys(eddsa(&data, &keydir), &["add"]);
    assert!(!ok && out.is_empty(), "{out}");
    assert!(err.contains("(key_set_full)"), "{err}");
    assert!(
        err.contains("16 keys that verify") && err.contains("keys revoke"),
        "{err}"
    );
    let set = listed(&data);
    assert_eq!(set.len(), 16, "nothing added: {set:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(12);
    loop {
        let (status, body) =
            request(server.addr, "GET", "/.well-known/jwks.json", None, None).unwrap();
        assert_eq!(status, 200);
        let published = body["keys"].as_array().unwrap().len();
        if published == 17 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{published} keys published"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A rotation to a next key adds none.
    let (ok, out, err) = keys(eddsa(&data, &keydir), &["rotate", "--now"]);
    assert!(ok, "{err}");
    assert!(out.starts_with(&format!("{} signs now", set[0].0)), "{out}");
    refused(eddsa(&data, &keydir), &["add"], "key_set_full");
    let (ok, _, err) = keys(eddsa(&data, &keydir), &["revoke", &set[1].0]);
    assert!(ok, "{err}");
    let (ok, _, err) = keys(eddsa(&data, &keydir), &["add"]);
    assert!(ok, "{err}");
    let after = listed(&data);
    assert_eq!(after.len(), 17, "{after:?}");
    assert_eq!(after.iter().filter(|(_, s)| s == "revoked").count(), 1);
    drop(server);
}
