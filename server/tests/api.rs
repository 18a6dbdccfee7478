//! The HTTP contract (../shared/spec/http-api.md), in-process through `warp::test`
//! against a temporary store and a fixed clock, plus one test over real HTTP.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use serde_json::{json, Value};
use tempfile::TempDir;
use tollgate_core::{Algorithm, Claims, Expect, SigningKey, TokenKind};
use tollgate_server::{
    config::{Config, Sources},
    routes,
    store::{Store, User},
    users::password,
    App,
};

mod common;

const SECRET: &str = "tollgate-test-vectors-hmac-secret-0123456789abcdefghijklmnopqrstuvwxyz";
const T0: u64 = 1_700_000_100;
const REALM: &str = "Bearer realm=\"api\"";

struct Harness {
    app: Arc<App>,
    clock: Arc<AtomicU64>,
    _dir: TempDir,
}

struct Resp {
    status: u16,
    body: Value,
    raw: String,
    headers: http::HeaderMap,
}

fn user(id: u64, username: &str, pass: &str, active: bool) -> User {
    let hash = password::make_password_with_salt(pass, "fixedsalt", 1000);
    let mut user = User::new(id, username, &format!("{username}@example.com"), hash, 0);
    user.is_active = active;
    user.attrs.insert("role".into(), json!("planner"));
    user
}

async fn harness(env: &[(&str, &str)]) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut sources = Sources::default();
    sources
        .flags
        .insert("data_dir".into(), dir.path().display().to_string());
    let defaults = [
        ("signing_key", SECRET),
        ("pbkdf2_iterations", "1000"),
        ("login_throttle_username", "1000/min"),
        ("login_throttle_ip", "1000/min"),
    ];
    for (k, v) in defaults.iter().chain(env) {
        sources
            .env
            .insert(format!("TOLLGATE_{}", k.to_uppercase()), v.to_string());
    }
    let config = Config::load(&sources, true).unwrap();
    let store = common::open_store(dir.path());
    for (id, name, pass, active) in [
        (1, "alice", "alice-password", true),
        (2, "bob", "bob-password", false),
        (42, "carol", "carol-password", true),
    ] {
        store
            .add_user(user(id, name, pass, active), false)
            .await
            .unwrap();
    }
    harness_on(config, store, dir, T0 * 1000)
}

/// A server on `store` (kept in `dir`) whose wall clock starts at `at_ms`.
fn harness_on(config: Config, store: Store, dir: TempDir, at_ms: u64) -> Harness {
    let clock = Arc::new(AtomicU64::new(at_ms));
    let c = Arc::clone(&clock);
    let app = Arc::new(App::new(
        config,
        store,
        Arc::new(move || c.load(Ordering::SeqCst)),
    ));
    Harness {
        app,
        clock,
        _dir: dir,
    }
}

impl Harness {
    fn advance(&self, secs: u64) {
        self.advance_ms(secs * 1000);
    }

    async fn send(&self, req: warp::test::RequestBuilder) -> Resp {
        let res = req.reply(&routes(Arc::clone(&self.app))).await;
        let body = if res.body().is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(res.body())
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(res.body()).into()))
        };
        let raw = String::from_utf8_lossy(res.body()).into_owned();
        Resp {
            status: res.status().as_u16(),
            body,
            raw,
            headers: res.headers().clone(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(
            warp::test::request()
                .method("POST")
                .path(path)
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    async fn post_raw(&self, path: &str, content_type: Option<&str>, body: &[u8]) -> Resp {
        let mut req = warp::test::request().method("POST").path(path).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        self.send(req).await
    }

    async fn get(&self, path: &str, authorization: Option<&str>) -> Resp {
        let mut req = warp::test::request().method("GET").path(path);
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        self.send(req).await
    }

    async fn login(&self, username: &str, pass: &str) -> (String, String) {
        let r = self
            .post(
                "/api/token/",
                json!({"username": username, "password": pass}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        (
            r.body["refresh"].as_str().unwrap().into(),
            r.body["access"].as_str().unwrap().into(),
        )
    }

    /// `POST /api/logout/` with `token` as Bearer.
    async fn logout_with(&self, token: &str, body: Value) -> Resp {
        self.send(
            warp::test::request()
                .method("POST")
                .path("/api/logout/")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    async fn me(&self, access: &str) -> Resp {
        self.get("/api/me/", Some(&format!("Bearer {access}")))
            .await
    }
}

fn check(resp: &Resp, status: u16, body: Value) {
    assert_eq!((resp.status, &resp.body), (status, &body));
    if status == 401 {
        assert_eq!(resp.headers["www-authenticate"], REALM);
    }
    assert_eq!(resp.headers["content-type"], "application/json");
}

fn token_error(detail: &str) -> Value {
    json!({"detail": detail, "code": "token_not_valid"})
}

fn access_error(message: &str) -> Value {
    json!({
        "detail": "Given token not valid for any token type",
        "code": "token_not_valid",
        "messages": [{"token_class": "AccessToken", "token_type": "access", "message": message}]
    })
}

fn claims_of(token: &str) -> Value {
    tollgate_core::decode(token).unwrap().claims().to_value()
}

/// A token signed with the server's key but shaped by hand.
fn forge(claims: Claims) -> String {
    let header = base64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = base64url(claims.to_json().as_bytes());
    let input = format!("{header}.{payload}");
    let key = SigningKey::hmac(Algorithm::Hs256, SECRET.as_bytes()).unwrap();
    format!("{input}.{}", base64url(&key.sign(input.as_bytes())))
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn obtain_pair_has_simple_jwt_claims() {
    let h = harness(&[]).await;
    let login = h
        .post(
            "/api/token/",
            json!({"username": "alice", "password": "alice-password"}),
        )
        .await;
    assert!(login.raw.starts_with("{\"refresh\":"), "{}", login.raw);
    let (refresh, access) = h.login("alice", "alice-password").await;
    let c = claims_of(&access);
    assert_eq!(c["token_type"], "access");
    assert_eq!(c["user_id"], "1");
    assert_eq!(c["username"], "alice");
    assert_eq!(c["email"], "alice@example.com");
    assert_eq!(c["is_staff"], false);
    assert_eq!(c["exp"], T0 + 1800);
    assert_eq!(c["iat"], T0);
    let r = claims_of(&refresh);
    assert_eq!(r["token_type"], "refresh");
    assert_eq!(r["exp"], T0 + 3 * 86_400);
    // Header exactly Simple JWT's.
    assert!(access.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."));
    // Form and multipart bodies work too.
    let form = h
        .post_raw(
            "/api/token/",
            Some("application/x-www-form-urlencoded"),
            b"username=alice&password=alice-password",
        )
        .await;
    assert_eq!(form.status, 200, "{}", form.body);
    let multipart = b"--XyZ\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nalice\r\n--XyZ\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nalice-password\r\n--XyZ--\r\n";
    let mp = h
        .post_raw(
            "/api/token/",
            Some("multipart/form-data; boundary=XyZ"),
            multipart,
        )
        .await;
    assert_eq!(mp.status, 200, "{}", mp.body);
}

#[tokio::test]
async fn obtain_failures() {
    let h = harness(&[]).await;
    let no_account = json!({"detail": "No active account found with the given credentials"});
    for (u, p) in [
        ("alice", "wrong"),
        ("nobody", "alice-password"),
        ("bob", "bob-password"),
        ("alice", " alice-password"),
    ] {
        let r = h
            .post("/api/token/", json!({"username": u, "password": p}))
            .await;
        check(&r, 401, no_account.clone());
    }
    // The username is trimmed; the password is taken as sent.
    let r = h
        .post(
            "/api/token/",
            json!({"username": "  alice ", "password": "alice-password"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = h.post("/api/token/", json!({})).await;
    check(
        &r,
        400,
        json!({"username": ["This field is required."], "password": ["This field is required."]}),
    );
    let r = h
        .post("/api/token/", json!({"username": "", "password": null}))
        .await;
    check(
        &r,
        400,
        json!({"username": ["This field may not be blank."], "password": ["This field may not be null."]}),
    );
    let r = h
        .post(
            "/api/token/",
            json!({"username": ["a"], "password": {"x": 1}}),
        )
        .await;
    check(
        &r,
        400,
        json!({"username": ["Not a valid string."], "password": ["Not a valid string."]}),
    );
    let r = h.post("/api/token/", json!([1])).await;
    check(
        &r,
        400,
        json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    );
    let r = h.post("/api/token/", json!("x")).await;
    check(
        &r,
        400,
        json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}),
    );
    let r = h.post("/api/token/", Value::Null).await;
    check(&r, 400, json!({"non_field_errors": ["No data provided"]}));
    let r = h
        .post_raw("/api/token/", Some("application/json"), b"{bad")
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error - "),
        "{}",
        r.body
    );
    let r = h
        .post_raw("/api/token/", Some("text/plain"), b"username=alice")
        .await;
    check(
        &r,
        415,
        json!({"detail": "Unsupported media type \"text/plain\" in request."}),
    );
    let r = h
        .post_raw("/api/token/", Some("application/json"), b"")
        .await;
    check(
        &r,
        400,
        json!({"username": ["This field is required."], "password": ["This field is required."]}),
    );
}

#[tokio::test]
async fn methods_sizes_and_unknown_paths() {
    let h = harness(&[]).await;
    let r = h.get("/api/token/", None).await;
    check(&r, 405, json!({"detail": "Method \"GET\" not allowed."}));
    assert_eq!(r.headers["allow"], "POST, OPTIONS");
    let r = h
        .send(
            warp::test::request()
                .method("DELETE")
                .path("/api/token/refresh/"),
        )
        .await;
    check(&r, 405, json!({"detail": "Method \"DELETE\" not allowed."}));
    // DRF authenticates before it dispatches on the method: without credentials an
    // endpoint that needs a user answers 401 to any method (with its Allow header).
    let r = h.post("/api/me/", json!({})).await;
    check(
        &r,
        401,
        json!({"detail": "Authentication credentials were not provided."}),
    );
    assert_eq!(r.headers["allow"], "GET, HEAD, OPTIONS");
    let big = vec![b' '; 64 * 1024 + 1];
    let r = h
        .post_raw("/api/token/", Some("application/json"), &big)
        .await;
    assert_eq!(r.status, 413);
    let r = h.get("/api/nothing/", None).await;
    check(&r, 404, json!({"detail": "Not found."}));
    let long = format!("Bearer {}", "a".repeat(9000));
    let r = h.get("/api/me/", Some(&long)).await;
    assert_eq!(r.status, 431);
}

#[tokio::test]
async fn refresh_rotates_and_blacklists() {
    let h = harness(&[]).await;
    let (refresh, _) = h.login("alice", "alice-password").await;
    h.advance(60);
    let r = h
        .post("/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Key order as Simple JWT writes it (login answers refresh first, refresh access first).
    assert!(r.raw.starts_with("{\"access\":"), "{}", r.raw);
    let new_refresh = r.body["refresh"].as_str().unwrap().to_string();
    let access = claims_of(r.body["access"].as_str().unwrap());
    assert_eq!(access["username"], "alice");
    assert_eq!(access["iat"], T0 + 60);
    let rotated = claims_of(&new_refresh);
    assert_eq!(rotated["exp"], T0 + 60 + 3 * 86_400);
    assert_ne!(rotated["jti"], claims_of(&refresh)["jti"]);
    // The old one is blacklisted; replaying it once the reuse interval (10 s) is over
    // revokes the family (the new one too).
    h.advance(10);
    let r = h
        .post("/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    check(&r, 401, token_error("Token is blacklisted"));
    assert_eq!(r.headers["tollgate-refresh-reuse"], "replay");
    let r = h
        .post("/api/token/refresh/", json!({"refresh": new_refresh}))
        .await;
    check(&r, 401, token_error("Token is blacklisted"));
    // Another login (another family) is unaffected.
    let (other, _) = h.login("alice", "alice-password").await;
    let r = h
        .post("/api/token/refresh/", json!({"refresh": other}))
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn reuse_detection_can_be_turned_off() {
    let h = harness(&[("reuse_detection", "false")]).await;
    let (refresh, _) = h.login("alice", "alice-password").await;
    let r = h
        .post("/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    let new_refresh = r.body["refresh"].as_str().unwrap().to_string();
    h.advance(10);
    let r = h
        .post("/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    check(&r, 401, token_error("Token is blacklisted"));
    let r = h
        .post("/api/token/refresh/", json!({"refresh": new_refresh}))
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn refresh_without_rotation() {
    let h = harness(&[("rotate_refresh_tokens", "false")]).await;
    let (refresh, _) = h.login("alice", "alice-password").await;
    for _ in 0..2 {
        let r = h
            .post("/api/token/refresh/", json!({"refresh": refresh}))
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["access"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_token_create_exactly_one_successor() {
    let h = Arc::new(harness(&[]).await);
    let (refresh, _) = h.login("alice", "alice-password").await;
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let h = Arc::clone(&h);
        let refresh = refresh.clone();
        tasks.push(tokio::spawn(async move {
            h.post("/api/token/refresh/", json!({"refresh": refresh}))
                .await
        }));
    }
    let mut successors = std::collections::BTreeSet::new();
    let (mut first, mut grace) = (0, 0);
    for task in tasks {
        let r = task.await.unwrap();
        match (r.status, r.headers.get("tollgate-refresh-reuse")) {
            (200, None) => first += 1,
            (200, Some(reuse)) if reuse == "grace" => grace += 1,
            (401, Some(reuse)) if reuse == "replay" => {
                assert_eq!(r.body, token_error("Token is blacklisted"))
            }
            (status, reuse) => panic!("unexpected {status} {reuse:?}: {}", r.body),
        }
        if r.status == 200 {
            successors.insert(r.body["refresh"].as_str().unwrap().to_string());
        }
    }
    // One rotation; every other request got that same successor (the clock stands
    // still, so all are within the reuse interval).
    assert_eq!((first, grace, successors.len()), (1, 63, 1));
    let metrics = h.get("/metrics", None).await.raw;
    assert!(metrics.contains("tollgate_refreshes_total{result=\"ok\"} 1"));
    assert!(metrics.contains("tollgate_refresh_reuse_total{cause=\"grace\"} 63"));
    let successor = successors.pop_first().unwrap();
    let r = h
        .post("/api/token/refresh/", json!({"refresh": successor}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

impl Harness {
    fn advance_ms(&self, ms: u64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
        common::shift_database_clock(self._dir.path(), ms);
    }

    async fn refresh(&self, token: &str) -> Resp {
        self.post("/api/token/refresh/", json!({"refresh": token}))
            .await
    }
}

fn reuse_header(r: &Resp) -> Option<&str> {
    r.headers
        .get("tollgate-refresh-reuse")
        .map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn a_second_refresh_within_the_reuse_interval_gets_the_same_successor() {
    let h = harness(&[]).await;
    let (refresh, _) = h.login("alice", "alice-password").await;
    h.advance(60);
    let first = h.refresh(&refresh).await;
    assert_eq!((first.status, reuse_header(&first)), (200, None));
    // A second tab (or a retry after a lost answer) 50 ms later: the same successor,
    // a fresh access token of the same claims, no new branch, nothing revoked.
    h.advance_ms(50);
    let second = h.refresh(&refresh).await;
    assert_eq!((second.status, reuse_header(&second)), (200, Some("grace")));
    assert!(second.raw.starts_with("{\"access\":"), "{}", second.raw);
    assert_eq!(second.body["refresh"], first.body["refresh"]);
    let (a1, a2) = (
        claims_of(first.body["access"].as_str().unwrap()),
        claims_of(second.body["access"].as_str().unwrap()),
    );
    assert_ne!(a1["jti"], a2["jti"]);
    for claim in ["token_type", "user_id", "username", "role", "iat", "exp"] {
        assert_eq!(a1[claim], a2[claim], "{claim}");
    }
    let successor = first.body["refresh"].as_str().unwrap();
    // The successor works: the first tab refreshes with it.
    h.advance(1);
    let next = h.refresh(successor).await;
    assert_eq!((next.status, reuse_header(&next)), (200, None));
    // The successor was used: the rotated-out token is now a replay, within the
    // interval or not, and revokes the family.
    let third = h.refresh(&refresh).await;
    check(&third, 401, token_error("Token is blacklisted"));
    assert_eq!(reuse_header(&third), Some("replay"));
    let after = h.refresh(next.body["refresh"].as_str().unwrap()).await;
    check(&after, 401, token_error("Token is blacklisted"));
    let metrics = h.get("/metrics", None).await.raw;
    assert!(metrics.contains("tollgate_refresh_reuse_total{cause=\"grace\"} 1"));
    assert!(metrics.contains("tollgate_refresh_reuse_total{cause=\"replay\"} 1"));
}

#[tokio::test]
async fn past_the_reuse_interval_a_second_refresh_is_a_replay() {
    for (settings, wait_ms) in [
        (vec![], 10_000),
        (vec![("refresh_reuse_interval", "3")], 3_000),
        (vec![("refresh_reuse_interval", "0")], 0),
    ] {
        let h = harness(&settings).await;
        let (refresh, _) = h.login("alice", "alice-password").await;
        let first = h.refresh(&refresh).await;
        assert_eq!(first.status, 200);
        if wait_ms > 0 {
            // Just inside the interval: still the same successor. (PostgreSQL measures
            // it on the database's clock, which also runs on in real time meanwhile.)
            let inside = if common::backend() == "postgres" {
                500
            } else {
                1
            };
            h.advance_ms(wait_ms - inside);
            let r = h.refresh(&refresh).await;
            assert_eq!(r.body["refresh"], first.body["refresh"], "{settings:?}");
            h.advance_ms(inside);
        }
        let r = h.refresh(&refresh).await;
        check(&r, 401, token_error("Token is blacklisted"));
        assert_eq!(reuse_header(&r), Some("replay"), "{settings:?}");
        let successor = first.body["refresh"].as_str().unwrap();
        check(
            &h.refresh(successor).await,
            401,
            token_error("Token is blacklisted"),
        );
    }
}

#[tokio::test]
async fn no_successor_is_handed_out_again_once_it_was_logged_out_or_revoked() {
    let h = harness(&[]).await;
    // The successor logged out (blacklist endpoint) within the interval.
    let (refresh, _) = h.login("alice", "alice-password").await;
    let first = h.refresh(&refresh).await;
    let successor = first.body["refresh"].as_str().unwrap();
    let r = h
        .post("/api/token/blacklist/", json!({"refresh": successor}))
        .await;
    assert_eq!(r.status, 200);
    let r = h.refresh(&refresh).await;
    check(&r, 401, token_error("Token is blacklisted"));
    assert_eq!(reuse_header(&r), Some("replay"));
    // Every session of the user revoked (log out everywhere) within the interval.
    let (refresh, access) = h.login("alice", "alice-password").await;
    let first = h.refresh(&refresh).await;
    assert_eq!(first.status, 200);
    let r = h.logout_with(&access, json!({"all": "1"})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    h.advance_ms(1);
    let r = h.refresh(&refresh).await;
    check(&r, 401, token_error("Token is blacklisted"));
    // A deactivated user gets no successor either.
    let (refresh, _) = h.login("carol", "carol-password").await;
    assert_eq!(h.refresh(&refresh).await.status, 200);
    h.app
        .store
        .update_user(42, |u| u.is_active = false)
        .await
        .unwrap();
    check(
        &h.refresh(&refresh).await,
        401,
        json!({"detail": "No active account found for the given token."}),
    );
}

#[tokio::test]
async fn refresh_token_failures() {
    let h = harness(&[]).await;
    let (refresh, access) = h.login("alice", "alice-password").await;
    let cases = [
        (json!({"refresh": "garbage"}), "Token is invalid"),
        (json!({"refresh": access}), "Token has wrong type"),
        (
            json!({"refresh": format!("{refresh}x")}),
            "Token is invalid",
        ),
    ];
    for (body, detail) in cases {
        let r = h.post("/api/token/refresh/", body).await;
        check(&r, 401, token_error(detail));
    }
    let r = h.post("/api/token/refresh/", json!({})).await;
    check(&r, 400, json!({"refresh": ["This field is required."]}));
    // No jti: Simple JWT answers 500 here; tollgate says what is wrong.
    let no_jti = forge(
        Claims::new()
            .with("token_type", "refresh")
            .with("exp", T0 + 100)
            .with("user_id", "1"),
    );
    let r = h
        .post("/api/token/refresh/", json!({"refresh": no_jti}))
        .await;
    check(&r, 401, token_error("Token has no id"));
    let no_type = forge(
        Claims::new()
            .with("exp", T0 + 100)
            .with("jti", "abc")
            .with("user_id", "1"),
    );
    check(
        &h.post("/api/token/refresh/", json!({"refresh": no_type}))
            .await,
        401,
        token_error("Token has no type"),
    );
    let no_exp = forge(
        Claims::new()
            .with("token_type", "refresh")
            .with("jti", "abc")
            .with("user_id", "1"),
    );
    check(
        &h.post("/api/token/refresh/", json!({"refresh": no_exp}))
            .await,
        401,
        token_error("Token has no 'exp' claim"),
    );
    // user_id like "01" never resolves to user 1.
    let odd = forge(
        Claims::new()
            .with("token_type", "refresh")
            .with("exp", T0 + 100)
            .with("jti", "j1")
            .with("user_id", "01"),
    );
    check(
        &h.post("/api/token/refresh/", json!({"refresh": odd})).await,
        401,
        token_error("Token is invalid"),
    );
    // Deleted (unknown) and inactive users: 401, never a 500.
    let gone = forge(
        Claims::new()
            .with("token_type", "refresh")
            .with("exp", T0 + 100)
            .with("jti", "j2")
            .with("user_id", "999"),
    );
    check(
        &h.post("/api/token/refresh/", json!({"refresh": gone}))
            .await,
        401,
        json!({"detail": "No active account found for the given token."}),
    );
    let inactive = forge(
        Claims::new()
            .with("token_type", "refresh")
            .with("exp", T0 + 100)
            .with("jti", "j3")
            .with("user_id", "2"),
    );
    check(
        &h.post("/api/token/refresh/", json!({"refresh": inactive}))
            .await,
        401,
        json!({"detail": "No active account found for the given token."}),
    );
    // Expired: exp == now.
    h.advance(3 * 86_400);
    check(
        &h.post("/api/token/refresh/", json!({"refresh": refresh}))
            .await,
        401,
        token_error("Token is expired"),
    );
}

#[tokio::test]
async fn verify_endpoint() {
    let h = harness(&[]).await;
    let (refresh, access) = h.login("alice", "alice-password").await;
    for token in [&refresh, &access] {
        check(
            &h.post("/api/token/verify/", json!({"token": token})).await,
            200,
            json!({}),
        );
    }
    check(
        &h.post("/api/token/verify/", json!({"token": "x.y.z"}))
            .await,
        401,
        token_error("Token is invalid"),
    );
    check(
        &h.post("/api/token/verify/", json!({})).await,
        400,
        json!({"token": ["This field is required."]}),
    );
    h.post("/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    check(
        &h.post("/api/token/verify/", json!({"token": refresh}))
            .await,
        400,
        json!({"non_field_errors": ["Token is blacklisted"]}),
    );
    h.advance(1800);
    check(
        &h.post("/api/token/verify/", json!({"token": access})).await,
        401,
        token_error("Token is expired"),
    );
}

#[tokio::test]
async fn blacklist_endpoint() {
    let h = harness(&[]).await;
    let (refresh, access) = h.login("alice", "alice-password").await;
    check(
        &h.post("/api/token/blacklist/", json!({"refresh": refresh}))
            .await,
        200,
        json!({}),
    );
    check(
        &h.post("/api/token/blacklist/", json!({"refresh": refresh}))
            .await,
        401,
        token_error("Token is blacklisted"),
    );
    check(
        &h.post("/api/token/refresh/", json!({"refresh": refresh}))
            .await,
        401,
        token_error("Token is blacklisted"),
    );
    check(
        &h.post("/api/token/blacklist/", json!({"refresh": access}))
            .await,
        401,
        token_error("Token has wrong type"),
    );
}

#[tokio::test]
async fn sliding_tokens() {
    let h = harness(&[]).await;
    let r = h
        .post(
            "/api/token/sliding/",
            json!({"username": "alice", "password": "alice-password"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.body["token"].as_str().unwrap().to_string();
    let c = claims_of(&token);
    assert_eq!(c["token_type"], "sliding");
    assert_eq!(c["refresh_exp"], T0 + 86_400);
    assert!(
        c.get("username").is_none(),
        "sliding tokens carry no custom claims"
    );
    // Not accepted as a Bearer token.
    check(
        &h.me(&token).await,
        401,
        access_error("Token has wrong type"),
    );
    h.advance(200);
    let r = h
        .post("/api/token/sliding/refresh/", json!({"token": token}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let slid = claims_of(r.body["token"].as_str().unwrap());
    assert_eq!(slid["exp"], T0 + 200 + 300);
    assert_eq!(slid["jti"], c["jti"]);
    assert_eq!(slid["refresh_exp"], c["refresh_exp"]);
    // Past its exp it cannot slide any more.
    h.advance(300);
    check(
        &h.post("/api/token/sliding/refresh/", json!({"token": token}))
            .await,
        401,
        token_error("Token is expired"),
    );
    let missing = forge(
        Claims::new()
            .with("token_type", "sliding")
            .with("exp", T0 + 9999)
            .with("jti", "s1")
            .with("user_id", "1"),
    );
    check(
        &h.post("/api/token/sliding/refresh/", json!({"token": missing}))
            .await,
        401,
        token_error("Token has no 'refresh_exp' claim"),
    );
    let passed = forge(
        Claims::new()
            .with("token_type", "sliding")
            .with("exp", T0 + 9999)
            .with("jti", "s2")
            .with("refresh_exp", T0)
            .with("user_id", "1"),
    );
    check(
        &h.post("/api/token/sliding/refresh/", json!({"token": passed}))
            .await,
        401,
        token_error("Token 'refresh_exp' claim has expired"),
    );
    // Simple JWT skips the user check here; tollgate does not.
    let inactive = forge(
        Claims::new()
            .with("token_type", "sliding")
            .with("exp", T0 + 9999)
            .with("jti", "s3")
            .with("refresh_exp", T0 + 99_999)
            .with("user_id", "2"),
    );
    check(
        &h.post("/api/token/sliding/refresh/", json!({"token": inactive}))
            .await,
        401,
        json!({"detail": "No active account found for the given token."}),
    );
}

/// Simple JWT's body for a Bearer token that failed as each class, in order.
fn classes_error(messages: &[(&str, &str)]) -> Value {
    let messages: Vec<Value> = messages
        .iter()
        .map(|(kind, message)| {
            let class = format!("{}{}Token", kind[..1].to_uppercase(), &kind[1..]);
            json!({"token_class": class, "token_type": kind, "message": message})
        })
        .collect();
    json!({
        "detail": "Given token not valid for any token type",
        "code": "token_not_valid",
        "messages": messages
    })
}

/// `auth_token_classes = ["sliding"]` (Simple JWT's `AUTH_TOKEN_CLASSES = SlidingToken`):
/// a sliding session authenticates, and logging it out (blacklisting its token) ends it
/// at once, which Simple JWT's gotchas say it cannot: the blacklist is asked on every
/// request.
#[tokio::test]
async fn a_sliding_session_authenticates_and_logs_out() {
    let h = harness(&[("auth_token_classes", "sliding")]).await;
    let r = h
        .post(
            "/api/token/sliding/",
            json!({"username": "alice", "password": "alice-password"}),
        )
        .await;
    let token = r.body["token"].as_str().unwrap().to_string();
    check(
        &h.me(&token).await,
        200,
        json!({"id": 1, "username": "alice"}),
    );
    // Access tokens no longer authenticate.
    let (_, access) = h.login("alice", "alice-password").await;
    check(
        &h.me(&access).await,
        401,
        classes_error(&[("sliding", "Token has wrong type")]),
    );
    // A slid token is the same session (same jti) and authenticates too.
    h.advance(100);
    let slid = h
        .post("/api/token/sliding/refresh/", json!({"token": token}))
        .await;
    let slid = slid.body["token"].as_str().unwrap().to_string();
    check(
        &h.me(&slid).await,
        200,
        json!({"id": 1, "username": "alice"}),
    );
    // Logout with the sliding token as Bearer and as the token to blacklist.
    let logout = h.logout_with(&slid, json!({"refresh_token": slid})).await;
    check(&logout, 200, json!({"status": "OK, goodbye"}));
    let blacklisted = classes_error(&[("sliding", "Token is blacklisted")]);
    check(&h.me(&slid).await, 401, blacklisted.clone());
    check(&h.me(&token).await, 401, blacklisted.clone());
    // The blacklist endpoint keeps Simple JWT's rule: refresh tokens only.
    let other = h
        .post(
            "/api/token/sliding/",
            json!({"username": "alice", "password": "alice-password"}),
        )
        .await;
    let other = other.body["token"].as_str().unwrap().to_string();
    check(
        &h.post("/api/token/blacklist/", json!({"refresh": other}))
            .await,
        401,
        token_error("Token has wrong type"),
    );
    check(
        &h.me(&other).await,
        200,
        json!({"id": 1, "username": "alice"}),
    );
    // Logout-all (every refresh and sliding token of the user) ends it too.
    let all = h.logout_with(&other, json!({"all": "1"})).await;
    assert_eq!(all.status, 200, "{}", all.body);
    check(&h.me(&other).await, 401, blacklisted);
}

/// Both classes: each is tried in order, and a token that fails both gets both messages.
#[tokio::test]
async fn access_and_sliding_both_authenticate() {
    let h = harness(&[("auth_token_classes", "access,sliding")]).await;
    let (refresh, access) = h.login("alice", "alice-password").await;
    check(
        &h.me(&access).await,
        200,
        json!({"id": 1, "username": "alice"}),
    );
    let r = h
        .post(
            "/api/token/sliding/",
            json!({"username": "carol", "password": "carol-password"}),
        )
        .await;
    let sliding = r.body["token"].as_str().unwrap().to_string();
    check(
        &h.me(&sliding).await,
        200,
        json!({"id": 42, "username": "carol"}),
    );
    check(
        &h.me(&refresh).await,
        401,
        classes_error(&[
            ("access", "Token has wrong type"),
            ("sliding", "Token has wrong type"),
        ]),
    );
    check(
        &h.get("/api/me/", Some("Bearer garbage")).await,
        401,
        classes_error(&[
            ("access", "Token is invalid"),
            ("sliding", "Token is invalid"),
        ]),
    );
    // An access token still cannot be blacklisted by logout.
    let logout = h
        .logout_with(&sliding, json!({"refresh_token": access}))
        .await;
    check(&logout, 401, token_error("Token has wrong type"));
}

/// `auth_header_name` (Simple JWT's `AUTH_HEADER_NAME = "HTTP_X_ACCESS_TOKEN"`): the token
/// comes in that header, `Authorization` is ignored, and CORS lets browsers send it.
#[tokio::test]
async fn auth_header_name_moves_the_token() {
    let h = harness(&[
        ("auth_header_name", "HTTP_X_ACCESS_TOKEN"),
        ("cors_allowed_origins", "https://app.example.com"),
    ])
    .await;
    let (_, access) = h.login("alice", "alice-password").await;
    let with = |name: &str, value: String| {
        warp::test::request()
            .method("GET")
            .path("/api/me/")
            .header(name, value)
    };
    check(
        &h.send(with("x-access-token", format!("Bearer {access}")))
            .await,
        200,
        json!({"id": 1, "username": "alice"}),
    );
    check(
        &h.send(with("authorization", format!("Bearer {access}")))
            .await,
        401,
        json!({"detail": "Authentication credentials were not provided."}),
    );
    check(
        &h.send(with("X-Access-Token", "Bearer".into())).await,
        401,
        json!({"detail": "Authorization header must contain two space-delimited values", "code": "bad_authorization_header"}),
    );
    let preflight = h
        .send(
            warp::test::request()
                .method("OPTIONS")
                .path("/api/me/")
                .header("origin", "https://app.example.com")
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", "x-access-token"),
        )
        .await;
    assert_eq!(preflight.status, 200);
    assert_eq!(
        preflight.headers["access-control-allow-headers"],
        "authorization, content-type, tollgate-csrf, x-access-token"
    );
}

/// A `token_type` claim that is not a string is Simple JWT's "Token has wrong type"
/// wherever a type is expected (its classes compare it with their own), not "Token is
/// invalid".
#[tokio::test]
async fn a_token_type_that_is_not_a_string_is_a_wrong_type() {
    let h = harness(&[]).await;
    for (n, token_type) in [
        json!(1),
        json!(["access"]),
        json!(null),
        json!({"t": "access"}),
    ]
    .into_iter()
    .enumerate()
    {
        let claims = |kind: &str| {
            Claims::new()
                .with("token_type", token_type.clone())
                .with("exp", T0 + 100)
                .with("jti", format!("{kind}{n}"))
                .with("user_id", "1")
        };
        check(
            &h.me(&forge(claims("a"))).await,
            401,
            access_error("Token has wrong type"),
        );
        check(
            &h.post(
                "/api/token/refresh/",
                json!({"refresh": forge(claims("r"))}),
            )
            .await,
            401,
            token_error("Token has wrong type"),
        );
    }
}

/// A JWKS endpoint on 127.0.0.1 serving whatever `body` holds (with `Cache-Control:
/// max-age=60`), counting its requests.
fn jwks_endpoint(body: Arc<std::sync::Mutex<String>>, hits: Arc<AtomicU64>) -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            hits.fetch_add(1, Ordering::SeqCst);
            let body = body.lock().unwrap().clone();
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: public, max-age=60\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    format!("http://{addr}/.well-known/jwks.json")
}

/// `jwk_url` (Simple JWT's `JWK_URL`): a token an outside issuer signed, with a key its
/// JWKS serves, authenticates its user (who must exist here); once the key leaves the
/// JWKS and the cache has refreshed, the token is refused. The server's own tokens never
/// ask the endpoint, and an unknown kid refetches at most once per cooldown.
#[tokio::test]
async fn tokens_signed_by_a_key_from_jwk_url_authenticate() {
    let keys: Value = serde_json::from_str(include_str!("../../tests/vectors/keys.json")).unwrap();
    let public = |name: &str, kid: &str| {
        let mut jwk = keys[name]["public_jwk"].clone();
        jwk["kid"] = json!(kid);
        json!({"keys": [jwk]}).to_string()
    };
    let body = Arc::new(std::sync::Mutex::new(public("ed25519", "outside-1")));
    let hits = Arc::new(AtomicU64::new(0));
    let url = jwks_endpoint(Arc::clone(&body), Arc::clone(&hits));
    let own_key = keys["ed25519-other"]["private_pem"].as_str().unwrap();
    let h = harness(&[
        ("algorithm", "EdDSA"),
        ("signing_key", own_key),
        ("jwk_url", &url),
    ])
    .await;
    let outside = SigningKey::from_pem(
        Algorithm::EdDsa,
        keys["ed25519"]["private_pem"].as_str().unwrap(),
    )
    .unwrap();
    let sign = |kid: &str, user_id: &str, jti: &str| {
        let header =
            base64url(format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{kid}"}}"#).as_bytes());
        let claims = Claims::new()
            .with("token_type", "access")
            .with("exp", T0 + 3600)
            .with("iat", T0)
            .with("jti", jti)
            .with("user_id", user_id);
        let input = format!("{header}.{}", base64url(claims.to_json().as_bytes()));
        format!("{input}.{}", base64url(&outside.sign(input.as_bytes())))
    };
    let alice = json!({"id": 1, "username": "alice"});
    // The server's own tokens verify with its own key, without a fetch.
    let (_, own) = h.login("alice", "alice-password").await;
    check(&h.me(&own).await, 200, alice.clone());
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    let token = sign("outside-1", "1", "o1");
    check(&h.me(&token).await, 200, alice.clone());
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    check(
        &h.me(&sign("outside-1", "999", "o2")).await,
        401,
        json!({"detail": "User not found", "code": "user_not_found"}),
    );
    // A kid the JWKS lacks: refused; within the cooldown no refetch.
    let invalid = access_error("Token is invalid");
    check(
        &h.me(&sign("outside-9", "1", "o3")).await,
        401,
        invalid.clone(),
    );
    check(
        &h.me(&sign("outside-9", "1", "o4")).await,
        401,
        invalid.clone(),
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // The key leaves the JWKS: still cached (max-age=60), then refused after the refresh.
    *body.lock().unwrap() = public("ed25519-other", "outside-2");
    h.advance(30);
    check(&h.me(&token).await, 200, alice.clone());
    h.advance(31);
    check(&h.me(&token).await, 401, invalid.clone());
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    // An HMAC key served by the endpoint is never taken: the JWKS is invalid, the cached
    // keys stay (up to the stale limit).
    *body.lock().unwrap() =
        json!({"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldA", "kid": "outside-1"}]})
            .to_string();
    h.advance(61);
    check(&h.me(&token).await, 401, invalid);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    check(&h.me(&own).await, 200, alice);
}

/// `/api/schema/` serves the assembled OpenAPI document, `/api/schema/docs/` the page
/// that renders it, under a policy that runs its own style and script only.
#[tokio::test]
async fn the_openapi_document_and_its_page() {
    let h = harness(&[]).await;
    let r = h.get("/api/schema/", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers["content-type"],
        "application/vnd.oai.openapi+json"
    );
    assert_eq!(r.body["openapi"], "3.1.0");
    assert!(r.body["paths"]["/api/token/"]["post"].is_object());
    let page = h.get("/api/schema/docs/", None).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(page.raw.contains("fetch(\"/api/schema/\""));
    let wrong = h.post("/api/schema/", json!({})).await;
    check(
        &wrong,
        405,
        json!({"detail": "Method \"POST\" not allowed."}),
    );
}

#[tokio::test]
async fn bearer_authentication_rows() {
    let h = harness(&[]).await;
    let (refresh, access) = h.login("alice", "alice-password").await;
    let r = h.me(&access).await;
    check(&r, 200, json!({"id": 1, "username": "alice"}));
    assert_eq!(r.raw, r#"{"id":1,"username":"alice"}"#);
    let r = h.get("/api/me/", Some("Bearer")).await;
    assert_eq!(
        r.raw,
        r#"{"detail":"Authorization header must contain two space-delimited values","code":"bad_authorization_header"}"#
    );
    let r = h.post("/api/token/", json!({})).await;
    assert_eq!(
        r.raw,
        r#"{"username":["This field is required."],"password":["This field is required."]}"#
    );
    let not_provided = json!({"detail": "Authentication credentials were not provided."});
    for header in [
        None,
        Some(""),
        Some("Basic abc"),
        Some("bearer abc"),
        Some(&format!("Token {access}")),
    ] {
        check(
            &h.get("/api/me/", header.map(|s| s as &str)).await,
            401,
            not_provided.clone(),
        );
    }
    let bad_header = json!({"detail": "Authorization header must contain two space-delimited values", "code": "bad_authorization_header"});
    check(
        &h.get("/api/me/", Some("Bearer")).await,
        401,
        bad_header.clone(),
    );
    check(
        &h.get("/api/me/", Some("Bearer a b")).await,
        401,
        bad_header,
    );
    check(
        &h.get("/api/me/", Some("Bearer garbage")).await,
        401,
        access_error("Token is invalid"),
    );
    check(
        &h.me(&refresh).await,
        401,
        access_error("Token has wrong type"),
    );
    // Whitespace runs split the header.
    check(
        &h.get("/api/me/", Some(&format!("Bearer \t  {access}")))
            .await,
        200,
        json!({"id": 1, "username": "alice"}),
    );
    let no_user = forge(
        Claims::new()
            .with("token_type", "access")
            .with("exp", T0 + 100)
            .with("jti", "a1"),
    );
    check(
        &h.me(&no_user).await,
        401,
        json!({"detail": "Token contained no recognizable user identification", "code": "token_not_valid"}),
    );
    let no_jti = forge(
        Claims::new()
            .with("token_type", "access")
            .with("exp", T0 + 100)
            .with("user_id", "1"),
    );
    check(&h.me(&no_jti).await, 401, access_error("Token has no id"));
    let gone = forge(
        Claims::new()
            .with("token_type", "access")
            .with("exp", T0 + 100)
            .with("jti", "a2")
            .with("user_id", "999"),
    );
    check(
        &h.me(&gone).await,
        401,
        json!({"detail": "User not found", "code": "user_not_found"}),
    );
    let inactive = forge(
        Claims::new()
            .with("token_type", "access")
            .with("exp", T0 + 100)
            .with("jti", "a3")
            .with("user_id", "2"),
    );
    check(
        &h.me(&inactive).await,
        401,
        json!({"detail": "User is inactive", "code": "user_inactive"}),
    );
    h.advance(1800);
    check(&h.me(&access).await, 401, access_error("Token is expired"));
}

#[tokio::test]
async fn password_change_and_deactivation_revoke() {
    let h = harness(&[]).await;
    let (refresh, access) = h.login("alice", "alice-password").await;
    // Authenticated once first, so the server holds alice's decoded record when the
    // revocation commits: the next request must still see the change.
    assert_eq!(h.me(&access).await.status, 200);
    h.advance(1);
    let store = &h.app.store;
    store
        .revoke_user(
            1,
            tollgate_server::store::Revocation::PasswordChanged,
            h.clock.load(Ordering::SeqCst),
            |_| {},
        )
        .await
        .unwrap();
    check(
        &h.me(&access).await,
        401,
        json!({"detail": "The user's password has been changed.", "code": "password_changed"}),
    );
    check(
        &h.post("/api/token/refresh/", json!({"refresh": refresh}))
            .await,
        401,
        token_error("Token is blacklisted"),
    );
    // A login in the same second after the change works (jti carries milliseconds).
    h.clock.fetch_add(5, Ordering::SeqCst);
    let (_, fresh) = h.login("alice", "alice-password").await;
    check(
        &h.me(&fresh).await,
        200,
        json!({"id": 1, "username": "alice"}),
    );
    store
        .revoke_user(
            1,
            tollgate_server::store::Revocation::Deactivated,
            h.clock.load(Ordering::SeqCst),
            |_| {},
        )
        .await
        .unwrap();
    check(
        &h.me(&fresh).await,
        401,
        json!({"detail": "User is inactive", "code": "user_inactive"}),
    );
}

#[tokio::test]
async fn logout_one_and_all() {
    let h = harness(&[]).await;
    let (r1, access) = h.login("alice", "alice-password").await;
    let (r2, _) = h.login("alice", "alice-password").await;
    let (r3, _) = h.login("alice", "alice-password").await;
    let bearer = format!("Bearer {access}");
    let logout = |body: Value| {
        warp::test::request()
            .method("POST")
            .path("/api/logout/")
            .header("authorization", bearer.clone())
            .header("content-type", "application/json")
            .body(body.to_string())
    };
    check(
        &h.send(logout(json!({}))).await,
        400,
        json!({"refresh_token": ["This field is required."]}),
    );
    check(
        &h.send(logout(json!({"refresh_token": "nope"}))).await,
        401,
        token_error("Token is invalid"),
    );
    check(
        &h.send(logout(json!({"refresh_token": r1}))).await,
        200,
        json!({"status": "OK, goodbye"}),
    );
    check(
        &h.post("/api/token/refresh/", json!({"refresh": r1})).await,
        401,
        token_error("Token is blacklisted"),
    );
    // A rotated-away token is revoked too by logout-all.
    let rotated = h
        .post("/api/token/refresh/", json!({"refresh": r2}))
        .await
        .body["refresh"]
        .as_str()
        .unwrap()
        .to_string();
    for falsy in [json!({"all": false}), json!({"all": ""})] {
        check(
            &h.send(logout(falsy)).await,
            400,
            json!({"refresh_token": ["This field is required."]}),
        );
    }
    check(
        &h.send(logout(json!({"all": "0"}))).await,
        200,
        json!({"status": "OK, goodbye, all refresh tokens blacklisted"}),
    );
    for token in [&r3, &rotated] {
        check(
            &h.post("/api/token/refresh/", json!({"refresh": token}))
                .await,
            401,
            token_error("Token is blacklisted"),
        );
    }
    // Access tokens are stateless: still good until they expire.
    check(
        &h.me(&access).await,
        200,
        json!({"id": 1, "username": "alice"}),
    );
    // Without a Bearer token there is no logout.
    let r = h.post("/api/logout/", json!({"all": true})).await;
    check(
        &r,
        401,
        json!({"detail": "Authentication credentials were not provided."}),
    );
}

#[tokio::test]
async fn simple_jwt_tokens_are_accepted_and_recorded() {
    // tests/vectors/simplejwt.json: tokens minted by djangorestframework-simplejwt 5.5.1
    // with the same key, for user 42 (carol here).
    let vectors: Value =
        serde_json::from_str(include_str!("../../tests/vectors/simplejwt.json")).unwrap();
    let token = |name: &str| {
        vectors["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let h = harness(&[]).await;
    let access = token("simplejwt-access");
    check(
        &h.me(&access).await,
        200,
        json!({"id": 42, "username": "carol"}),
    );
    let refresh = token("simplejwt-refresh");
    let r = h
        .post("/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // It was recorded and rotated like any other: a replay is refused.
    h.advance(10);
    check(
        &h.post("/api/token/refresh/", json!({"refresh": refresh}))
            .await,
        401,
        token_error("Token is blacklisted"),
    );
    assert!(h
        .app
        .store
        .outstanding(claims_of(&refresh)["jti"].as_str().unwrap())
        .await
        .unwrap()
        .is_some());
    // tollgate's own tokens verify with the same key in tollgate-core's verifier.
    let settings = &h.app.config.tokens;
    let new_access = r.body["access"].as_str().unwrap();
    settings
        .verifier()
        .verify(new_access, Expect::Kind(TokenKind::Access), T0, |_| false)
        .unwrap();
}

#[tokio::test]
async fn login_throttling() {
    let h = harness(&[("login_throttle_username", "3/min")]).await;
    for _ in 0..3 {
        let r = h
            .post(
                "/api/token/",
                json!({"username": "alice", "password": "wrong"}),
            )
            .await;
        assert_eq!(r.status, 401);
    }
    let r = h
        .post(
            "/api/token/",
            json!({"username": "alice", "password": "alice-password"}),
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.body);
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    assert!(r.body["detail"]
        .as_str()
        .unwrap()
        .starts_with("Request was throttled. Expected available in "));
    // Other usernames are not affected; after the window alice may try again.
    assert_eq!(
        h.post(
            "/api/token/",
            json!({"username": "carol", "password": "carol-password"})
        )
        .await
        .status,
        200
    );
    h.advance(61);
    assert_eq!(
        h.post(
            "/api/token/",
            json!({"username": "alice", "password": "alice-password"})
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn jwks_health_metrics_and_cors() {
    let h = harness(&[("cors_allowed_origins", "https://app.example.com")]).await;
    check(
        &h.get("/.well-known/jwks.json", None).await,
        200,
        json!({"keys": []}),
    );
    assert_eq!(h.get("/healthz", None).await.body, json!({"status": "ok"}));
    h.login("alice", "alice-password").await;
    let res = warp::test::request()
        .path("/metrics")
        .reply(&routes(Arc::clone(&h.app)))
        .await;
    let text = String::from_utf8_lossy(res.body());
    assert!(
        text.contains("tollgate_requests_total{route=\"token_obtain\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(text.contains("tollgate_logins_total{result=\"ok\"} 1"));
    assert!(text.contains("tollgate_outstanding_tokens 1"));
    let pre = h
        .send(
            warp::test::request()
                .method("OPTIONS")
                .path("/api/token/")
                .header("origin", "https://app.example.com")
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type"),
        )
        .await;
    assert_eq!(pre.status, 200);
    assert_eq!(
        pre.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(pre.headers["access-control-allow-credentials"], "true");
    assert!(pre.headers["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    let other = h
        .send(
            warp::test::request()
                .method("OPTIONS")
                .path("/api/token/")
                .header("origin", "https://evil.example")
                .header("access-control-request-method", "POST"),
        )
        .await;
    assert!(!other.headers.contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn eddsa_server_publishes_its_key() {
    let keys: Value = serde_json::from_str(include_str!("../../tests/vectors/keys.json")).unwrap();
    let pem = keys["ed25519"]["private_pem"].as_str().unwrap();
    let h = harness(&[("algorithm", "EdDSA"), ("signing_key", pem)]).await;
    let r = h.get("/.well-known/jwks.json", None).await;
    assert_eq!(r.status, 200);
    let jwk = &r.body["keys"][0];
    assert_eq!(jwk["kid"], keys["ed25519"]["kid"]);
    assert_eq!(jwk["x"], keys["ed25519"]["public_jwk"]["x"]);
    assert!(jwk.get("d").is_none());
    let (_, access) = h.login("alice", "alice-password").await;
    assert!(access.starts_with(&base64url(br#"{"alg":"EdDSA","typ":"JWT"}"#)));
    check(
        &h.me(&access).await,
        200,
        json!({"id": 1, "username": "alice"}),
    );
}

/// RS*, PS*, ES384 and ES512 servers (issue #17), with a Simple JWT site's keys: tokens are
/// signed with the configured algorithm, the JWKS publishes the signing key and the previous
/// one (public parts only), and tokens PyJWT and Simple JWT made with either verify.
#[tokio::test]
async fn rsa_and_larger_curve_servers_sign_publish_and_verify() {
    let keys: Value = serde_json::from_str(include_str!("../../tests/vectors/keys.json")).unwrap();
    let mut vectors = Vec::new();
    for text in [
        include_str!("../../tests/vectors/pyjwt.json"),
        include_str!("../../tests/vectors/simplejwt.json"),
    ] {
        let file: Value = serde_json::from_str(text).unwrap();
        vectors.extend(file["vectors"].as_array().unwrap().iter().cloned());
    }
    let token = |name: &str| {
        let v = vectors.iter().find(|v| v["name"] == name).unwrap();
        v["token"].as_str().unwrap().to_string()
    };
    for (alg, name) in [
        ("RS256", "rsa"),
        ("PS384", "rsa"),
        ("ES384", "es384"),
        ("ES512", "es512"),
    ] {
        let other = format!("{name}-other");
        let h = harness(&[
            ("algorithm", alg),
            ("signing_key", keys[name]["private_pem"].as_str().unwrap()),
            (
                "previous_verifying_keys",
                keys[&other]["public_pem"].as_str().unwrap(),
            ),
        ])
        .await;
        let r = h.get("/.well-known/jwks.json", None).await;
        assert_eq!(r.status, 200, "{alg}");
        let published = r.body["keys"].as_array().unwrap();
        let kids: Vec<&str> = published
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        for key in [name, other.as_str()] {
            assert!(
                kids.contains(&keys[key]["kid"].as_str().unwrap()),
                "{alg}: {kids:?}"
            );
        }
        for jwk in published {
            assert_eq!(jwk["alg"], alg);
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(jwk.get(private).is_none(), "{alg}: {private} published");
            }
        }
        let (refresh, access) = h.login("alice", "alice-password").await;
        assert_eq!(claims_of_header(&access)["alg"], alg);
        check(
            &h.me(&access).await,
            200,
            json!({"id": 1, "username": "alice"}),
        );
        // A second refresh within the reuse interval gets the same successor: minted
        // again, the same text (RS256, ES*: deterministic signatures) or, for RSA-PSS's
        // random salts, the same header and claims under a new signature.
        h.advance(60);
        let first = h.refresh(&refresh).await;
        h.advance_ms(50);
        let second = h.refresh(&refresh).await;
        assert_eq!(
            (second.status, reuse_header(&second)),
            (200, Some("grace")),
            "{alg}: {}",
            second.raw
        );
        let (one, two) = (
            first.body["refresh"].as_str().unwrap(),
            second.body["refresh"].as_str().unwrap(),
        );
        assert_eq!(
            one.rsplit_once('.').unwrap().0,
            two.rsplit_once('.').unwrap().0,
            "{alg}"
        );
        assert_eq!(one == two, !alg.starts_with("PS"), "{alg}");
        let next = h.refresh(two).await;
        assert_eq!((next.status, reuse_header(&next)), (200, None), "{alg}");
        let a = alg.to_lowercase();
        for name in [
            format!("pyjwt-{a}-access-valid"),
            format!("pyjwt-{a}-wrong-key"), // signed with the previous key
            format!("simplejwt-{a}-access"),
        ] {
            let r = h
                .post("/api/token/verify/", json!({"token": token(&name)}))
                .await;
            check(&r, 200, json!({}));
        }
        let r = h
            .post(
                "/api/token/verify/",
                json!({"token": token("pyjwt-hs256-access-valid")}),
            )
            .await;
        assert_eq!(r.status, 401, "{alg}: an HS256 token");
    }
}

/// The decoded header of a token (not verified).
fn claims_of_header(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn real_http_on_loopback() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let h = harness(&[]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        warp::serve(routes(Arc::clone(&h.app)))
            .incoming(listener)
            .graceful(async {
                let _ = rx.await;
            })
            .run(),
    );
    let body = r#"{"username":"alice","password":"alice-password"}"#;
    let request = format!(
        "POST /api/token/ HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response
        .to_ascii_lowercase()
        .contains("content-type: application/json"));
    let json_start = response.find("\r\n\r\n").unwrap() + 4;
    let body: Value = serde_json::from_str(&response[json_start..]).unwrap();
    assert!(body["access"].is_string() && body["refresh"].is_string());
    tx.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn email_as_username_field() {
    let h = harness(&[("username_field", "email")]).await;
    let r = h
        .post(
            "/api/token/",
            json!({"email": "alice@example.com", "password": "alice-password"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h
        .post(
            "/api/token/",
            json!({"username": "alice", "password": "alice-password"}),
        )
        .await;
    check(&r, 400, json!({"email": ["This field is required."]}));
}

#[tokio::test]
async fn update_last_login_when_configured() {
    let h = harness(&[("update_last_login", "true")]).await;
    assert_eq!(h.app.store.user(1).await.unwrap().unwrap().last_login, None);
    h.login("alice", "alice-password").await;
    assert_eq!(
        h.app.store.user(1).await.unwrap().unwrap().last_login,
        Some(T0 as i64)
    );
    let h = harness(&[]).await;
    h.login("alice", "alice-password").await;
    assert_eq!(
        h.app.store.user(1).await.unwrap().unwrap().last_login,
        None,
        "off by default"
    );
}

#[tokio::test]
async fn login_throttling_per_client_address() {
    let h = harness(&[("login_throttle_ip", "2/min")]).await;
    let from = |ip: &str, user: &str| {
        warp::test::request()
            .method("POST")
            .path("/api/token/")
            .remote_addr(format!("{ip}:40000").parse().unwrap())
            .header("content-type", "application/json")
            .body(json!({"username": user, "password": "nope"}).to_string())
    };
    assert_eq!(h.send(from("10.0.0.1", "u1")).await.status, 401);
    assert_eq!(h.send(from("10.0.0.1", "u2")).await.status, 401);
    let r = h.send(from("10.0.0.1", "u3")).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(
        h.send(from("10.0.0.2", "u4")).await.status,
        401,
        "other addresses are not affected"
    );
}

#[tokio::test]
async fn a_token_too_large_for_its_claims_is_a_server_fault_not_a_401() {
    let h = harness(&[("token_claims", "username,bio")]).await;
    h.app
        .store
        .update_user(1, |u| {
            u.attrs.insert("bio".into(), json!("x".repeat(9000)));
        })
        .await
        .unwrap();
    let r = h
        .post(
            "/api/token/",
            json!({"username": "alice", "password": "alice-password"}),
        )
        .await;
    check(
        &r,
        500,
        json!({"detail": "A server error occurred.", "code": "claims_too_large"}),
    );
}

#[tokio::test]
async fn user_attributes_are_copied_into_tokens_when_listed() {
    let h = harness(&[("token_claims", "username,role,is_staff")]).await;
    let (refresh, access) = h.login("alice", "alice-password").await;
    let c = claims_of(&access);
    assert_eq!(c["role"], "planner");
    assert!(c.get("email").is_none(), "only the listed claims");
    let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 8, "{keys:?}");
    // Rotation and derived access tokens keep them.
    let r = h
        .post("/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(
        claims_of(r.body["access"].as_str().unwrap())["role"],
        "planner"
    );
    assert_eq!(
        claims_of(r.body["refresh"].as_str().unwrap())["role"],
        "planner"
    );
}

/// The server's clock never goes back (issue #7): a wall clock stepped back does not
/// revive an expired access or refresh token, nor a logged-out refresh token whose
/// records a flush of expired tokens already forgot; neither after a restart on the
/// same store, whose clock floor was raised by that flush.
#[tokio::test]
async fn a_clock_stepped_back_revives_nothing() {
    let h = harness(&[]).await;
    let (logged_out, access) = h.login("alice", "alice-password").await;
    let (kept, _) = h.login("alice", "alice-password").await;
    let r = h
        .post("/api/token/blacklist/", json!({"refresh": logged_out}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Forward past every lifetime, then flush what expired.
    h.advance(30 * 86_400);
    check(&h.me(&access).await, 401, access_error("Token is expired"));
    let r = h
        .post("/api/token/refresh/", json!({"refresh": kept}))
        .await;
    check(&r, 401, token_error("Token is expired"));
    let now = h.app.now_ms() / 1000;
    let flushed = h.app.store.flush_expired(now, 0).await.unwrap();
    assert!(
        flushed.blacklisted >= 1 && flushed.outstanding >= 2,
        "{flushed:?}"
    );
    assert!(h
        .app
        .store
        .blacklisted(claims_of(&logged_out)["jti"].as_str().unwrap())
        .await
        .unwrap()
        .is_none());

    // The wall clock goes back to a minute after the logins.
    h.clock.store((T0 + 60) * 1000, Ordering::SeqCst);
    check(&h.me(&access).await, 401, access_error("Token is expired"));
    for token in [&kept, &logged_out] {
        let r = h
            .post("/api/token/refresh/", json!({"refresh": token}))
            .await;
        check(&r, 401, token_error("Token is expired"));
    }

    // A restart: the database closed and opened again from its folder (the floor is read
    // back from disk), the wall clock still a minute after the logins.
    let Harness { app, _dir: dir, .. } = h;
    let config = (*app.config).clone();
    app.store.flush().await.unwrap();
    drop(app);
    let store = common::open_store(dir.path());
    let restarted = harness_on(config, store, dir, (T0 + 60) * 1000);
    check(
        &restarted.me(&access).await,
        401,
        access_error("Token is expired"),
    );
    let r = restarted
        .post("/api/token/refresh/", json!({"refresh": logged_out}))
        .await;
    check(&r, 401, token_error("Token is expired"));
    // New logins are issued at the server's time, and work.
    let (fresh, fresh_access) = restarted.login("alice", "alice-password").await;
    assert_eq!(restarted.me(&fresh_access).await.status, 200);
    assert!(claims_of(&fresh)["iat"].as_u64().unwrap() >= T0 + 30 * 86_400);
}

// ---- sessions (issue #12) ----

impl Harness {
    /// A login from a client that says `user_agent`.
    async fn login_as(&self, username: &str, pass: &str, user_agent: &str) -> (String, String) {
        let r = self
            .send(
                warp::test::request()
                    .method("POST")
                    .path("/api/token/")
                    .remote_addr("192.0.2.7:5000".parse().unwrap())
                    .header("user-agent", user_agent)
                    .header("content-type", "application/json")
                    .body(json!({"username": username, "password": pass}).to_string()),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        (
            r.body["refresh"].as_str().unwrap().into(),
            r.body["access"].as_str().unwrap().into(),
        )
    }

    async fn bearer(&self, method: &str, path: &str, access: &str, body: Option<Value>) -> Resp {
        let mut req = warp::test::request()
            .method(method)
            .path(path)
            .header("authorization", format!("Bearer {access}"));
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        self.send(req).await
    }

    async fn sessions(&self, access: &str) -> Vec<Value> {
        let r = self.bearer("GET", "/api/sessions/", access, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body.as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn sessions_are_listed_per_device_with_their_last_refresh() {
    let h = harness(&[("session_id_claim", "sid")]).await;
    let (phone_refresh, phone) = h.login_as("alice", "alice-password", "Phone/1.0").await;
    h.advance(5);
    let (_, laptop) = h.login_as("alice", "alice-password", "Laptop/2.0").await;
    // Someone else's session is never listed.
    h.login_as("carol", "carol-password", "Carol/1.0").await;
    h.advance(5);
    let r = h
        .send(
            warp::test::request()
                .method("POST")
                .path("/api/token/refresh/")
                .remote_addr("198.51.100.9:6000".parse().unwrap())
                .header("user-agent", "Phone/1.1")
                .header("content-type", "application/json")
                .body(json!({"refresh": phone_refresh}).to_string()),
        )
        .await;
    assert_eq!(r.status, 200);
    let sessions = h.sessions(&laptop).await;
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let (newest, oldest) = (&sessions[0], &sessions[1]);
    let sid = |access: &str| claims_of(access)["sid"].as_str().unwrap().to_string();
    assert_eq!(newest["id"], sid(&laptop));
    assert_eq!(oldest["id"], sid(&phone));
    assert_eq!(newest["current"], true);
    assert_eq!(oldest["current"], false);
    assert_eq!(
        newest["login"],
        json!({"user_agent": "Laptop/2.0", "ip": "192.0.2.7"})
    );
    assert_eq!(newest["last_refresh"], Value::Null);
    assert_eq!(newest["last_refreshed_at"], Value::Null);
    assert_eq!(oldest["created_at"], "2023-11-14T22:15:00Z");
    assert_eq!(oldest["last_refreshed_at"], "2023-11-14T22:15:10Z");
    assert_eq!(
        oldest["last_refresh"],
        json!({"user_agent": "Phone/1.1", "ip": "198.51.100.9"})
    );
    // The session id is the login refresh token's jti, carried by every token after it.
    assert_eq!(claims_of(&phone_refresh)["sid"], sid(&phone));
    let rotated = r.body["refresh"].as_str().unwrap();
    assert_eq!(claims_of(rotated)["sid"], sid(&phone));
    assert_eq!(
        claims_of(r.body["access"].as_str().unwrap())["sid"],
        sid(&phone)
    );
    // The phone sees itself as current.
    let from_phone = h.sessions(&phone).await;
    assert_eq!(from_phone[1]["current"], true);
}

#[tokio::test]
async fn revoking_a_session_refuses_its_tokens_at_once() {
    let h = harness(&[("session_id_claim", "sid")]).await;
    let (phone_refresh, phone) = h.login_as("alice", "alice-password", "Phone").await;
    let (laptop_refresh, laptop) = h.login_as("alice", "alice-password", "Laptop").await;
    let phone_sid = claims_of(&phone)["sid"].as_str().unwrap().to_string();
    let r = h
        .bearer(
            "DELETE",
            &format!("/api/sessions/{phone_sid}/"),
            &laptop,
            None,
        )
        .await;
    assert_eq!((r.status, &r.raw), (204, &String::new()));
    // Its access token is refused at once, not when it expires; its refresh token too.
    check(
        &h.me(&phone).await,
        401,
        json!({"detail": "The session of this token was revoked.", "code": "session_revoked"}),
    );
    check(
        &h.refresh(&phone_refresh).await,
        401,
        token_error("Token is blacklisted"),
    );
    // The other session is untouched.
    assert_eq!(h.me(&laptop).await.status, 200);
    assert_eq!(h.refresh(&laptop_refresh).await.status, 200);
    let ids: Vec<Value> = h
        .sessions(&laptop)
        .await
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(ids, [claims_of(&laptop)["sid"].clone()]);
    // Ending it again is still 204 (it is the caller's); ending the caller's own ends it.
    let r = h
        .bearer(
            "DELETE",
            &format!("/api/sessions/{phone_sid}/"),
            &laptop,
            None,
        )
        .await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn another_users_session_is_not_found_and_never_shown() {
    let h = harness(&[("session_id_claim", "sid")]).await;
    let (_, alice) = h.login_as("alice", "alice-password", "A").await;
    let (carol_refresh, carol) = h.login_as("carol", "carol-password", "C").await;
    let carol_sid = claims_of(&carol)["sid"].as_str().unwrap().to_string();
    let not_found = json!({"detail": "Not found.", "code": "session_not_found"});
    for id in [carol_sid.as_str(), "0123456789abcdef0123456789abcdef", "x"] {
        let r = h
            .bearer("DELETE", &format!("/api/sessions/{id}/"), &alice, None)
            .await;
        check(&r, 404, not_found.clone());
    }
    // Carol's session is intact.
    assert_eq!(h.refresh(&carol_refresh).await.status, 200);
    // Ids that cannot be one are plain 404s of the API; no session endpoint without a
    // user, whatever the method.
    for path in [
        "/api/sessions/a%2Fb/",
        "/api/sessions/a/b/",
        "/api/sessions//",
    ] {
        let r = h.bearer("DELETE", path, &alice, None).await;
        assert_eq!(r.status, 404, "{path}");
    }
    let not_provided = json!({"detail": "Authentication credentials were not provided."});
    for (method, path) in [
        ("GET", "/api/sessions/"),
        ("DELETE", "/api/sessions/abc/"),
        ("POST", "/api/sessions/revoke-others/"),
        ("PUT", "/api/sessions/"),
        ("POST", "/api/me/"),
        ("GET", "/api/logout/"),
    ] {
        let r = h
            .send(warp::test::request().method(method).path(path))
            .await;
        check(&r, 401, not_provided.clone());
    }
    // Authenticated, a wrong method is DRF's 405.
    let r = h.bearer("POST", "/api/me/", &alice, None).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.body, json!({"detail": "Method \"POST\" not allowed."}));
    let r = h
        .bearer("GET", "/api/sessions/revoke-others/", &alice, None)
        .await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn revoke_others_keeps_the_callers_session() {
    // With the session claim: the access token names the caller's session.
    let h = harness(&[("session_id_claim", "sid")]).await;
    let (r1, a1) = h.login_as("alice", "alice-password", "one").await;
    let (r2, _) = h.login_as("alice", "alice-password", "two").await;
    let (r3, a3) = h.login_as("alice", "alice-password", "three").await;
    let (carol_refresh, _) = h.login_as("carol", "carol-password", "carol").await;
    let r = h
        .bearer("POST", "/api/sessions/revoke-others/", &a3, Some(json!({})))
        .await;
    check(&r, 200, json!({"revoked": 2}));
    for (refresh, status) in [(&r1, 401), (&r2, 401), (&r3, 200), (&carol_refresh, 200)] {
        assert_eq!(h.refresh(refresh).await.status, status);
    }
    assert_eq!(h.me(&a1).await.status, 401);
    assert_eq!(h.sessions(&a3).await.len(), 1);

    // Without it (Simple JWT's exact payload, the default): the caller's refresh token
    // says which session is theirs; without one the server cannot tell.
    let h = harness(&[]).await;
    let (r1, _) = h.login_as("alice", "alice-password", "one").await;
    let (r2, a2) = h.login_as("alice", "alice-password", "two").await;
    assert!(claims_of(&a2).get("sid").is_none());
    let sessions = h.sessions(&a2).await;
    assert!(
        sessions.iter().all(|s| s["current"].is_null()),
        "{sessions:?}"
    );
    let unknown = h
        .bearer("POST", "/api/sessions/revoke-others/", &a2, Some(json!({})))
        .await;
    assert_eq!(
        (unknown.status, &unknown.body["code"]),
        (400, &json!("session_unknown"))
    );
    // Another user's refresh token does not name a session of the caller.
    let (carol_refresh, _) = h.login_as("carol", "carol-password", "carol").await;
    let r = h
        .bearer(
            "POST",
            "/api/sessions/revoke-others/",
            &a2,
            Some(json!({"refresh": carol_refresh})),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["code"]),
        (400, &json!("session_unknown"))
    );
    let r = h
        .bearer(
            "POST",
            "/api/sessions/revoke-others/",
            &a2,
            Some(json!({"refresh": r2})),
        )
        .await;
    check(&r, 200, json!({"revoked": 1}));
    assert_eq!(h.refresh(&r1).await.status, 401);
    assert_eq!(h.refresh(&r2).await.status, 200);
    assert_eq!(h.refresh(&carol_refresh).await.status, 200);
}

#[tokio::test]
async fn a_user_id_minted_as_a_json_integer_is_the_same_user() {
    let h = harness(&[]).await;
    let access = forge(
        Claims::new()
            .with("token_type", "access")
            .with("exp", T0 + 300)
            .with("iat", T0)
            .with("jti", "int-access")
            .with("user_id", 1),
    );
    check(
        &h.me(&access).await,
        200,
        json!({"id": 1, "username": "alice"}),
    );
    let refresh = forge(
        Claims::new()
            .with("token_type", "refresh")
            .with("exp", T0 + 3600)
            .with("iat", T0)
            .with("jti", "int-refresh")
            .with("user_id", 1),
    );
    let r = h.refresh(&refresh).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Rotation keeps the claim as it was minted.
    assert_eq!(claims_of(r.body["refresh"].as_str().unwrap())["user_id"], 1);
    for bad in [json!(-1), json!(1.5), json!("01")] {
        let token = forge(
            Claims::new()
                .with("token_type", "access")
                .with("exp", T0 + 300)
                .with("jti", "bad")
                .with("user_id", bad.clone()),
        );
        assert_eq!(h.me(&token).await.status, 401, "{bad}");
    }
}

#[test]
fn session_claim_settings_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["user_id", "jti", "exp", "username"] {
        let mut sources = Sources::default();
        sources
            .flags
            .insert("data_dir".into(), dir.path().display().to_string());
        sources
            .env
            .insert("TOLLGATE_SIGNING_KEY".into(), SECRET.into());
        sources
            .env
            .insert("TOLLGATE_SESSION_ID_CLAIM".into(), bad.into());
        let err = Config::load(&sources, true).unwrap_err();
        assert_eq!(err.setting, "session_id_claim", "{bad}");
    }
}

/// Issue #17: a validly signed token the configuration would never mint (exp in year
/// 9999, or a lifetime past the longest configured one) is refused everywhere, with the
/// answer of any other invalid token; `max_token_lifetime` raises the bound.
#[tokio::test]
async fn tokens_past_max_token_lifetime_are_refused() {
    let h = harness(&[]).await;
    let token = |kind: &str, jti: &str, exp: u64| {
        forge(
            Claims::new()
                .with("token_type", kind)
                .with("exp", exp)
                .with("iat", T0)
                .with("jti", jti)
                .with("user_id", "1"),
        )
    };
    let forever = token("access", "f1", tollgate_core::MAX_TIME);
    check(&h.me(&forever).await, 401, access_error("Token is invalid"));
    let r = h
        .post("/api/token/verify/", json!({"token": forever}))
        .await;
    check(&r, 401, token_error("Token is invalid"));
    // The default bound is the longest lifetime (refresh: 3 days), to the second.
    let refresh = token("refresh", "f2", T0 + 3 * 86_400 + 1);
    let r = h
        .post("/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    check(&r, 401, token_error("Token is invalid"));
    let refresh = token("refresh", "f3", T0 + 3 * 86_400);
    let r = h
        .post("/api/token/refresh/", json!({"refresh": refresh}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Without iat, exp - now is bounded instead.
    let no_iat = forge(
        Claims::new()
            .with("token_type", "access")
            .with("exp", T0 + 3 * 86_400 + 1)
            .with("jti", "f4")
            .with("user_id", "1"),
    );
    check(&h.me(&no_iat).await, 401, access_error("Token is invalid"));
    // The server's own tokens pass.
    let (_, access) = h.login("alice", "alice-password").await;
    assert_eq!(h.me(&access).await.status, 200);

    let h = harness(&[("max_token_lifetime", "30d")]).await;
    let month = token("access", "f5", T0 + 30 * 86_400);
    assert_eq!(h.me(&month).await.status, 200);
    check(&h.me(&forever).await, 401, access_error("Token is invalid"));
}
