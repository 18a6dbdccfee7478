//! Cookie mode (`refresh_transport = "cookie"`, issue #12 item 4): the refresh token in
//! an HttpOnly cookie, the CSRF check, CORS with credentials, the settings, odd `Cookie`
//! headers; and the JSON transport untouched. In-process through `warp::test` with a
//! fixed clock, plus real HTTP where a request needs repeated or raw headers.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use serde_json::{json, Value};
use tempfile::TempDir;
use tollgate_server::{
    config::{Config, Sources},
    routes,
    store::User,
    users::password,
    App,
};

mod common;

const SECRET: &str = "tollgate-test-vectors-hmac-secret-0123456789abcdefghijklmnopqrstuvwxyz";
const T0: u64 = 1_700_000_100;
const REALM: &str = "Bearer realm=\"api\"";
/// The default refresh lifetime (3 days), the cookie's `Max-Age` at login.
const REFRESH_LIFETIME: u64 = 259_200;
const PATHS: [&str; 4] = [
    "/api/token/refresh/",
    "/api/token/blacklist/",
    "/api/logout/",
    "/api/sessions/revoke-others/",
];
const APP_ORIGIN: &str = "https://app.example.com";

struct Harness {
    app: Arc<App>,
    clock: Arc<AtomicU64>,
    _dir: TempDir,
}

#[derive(Debug)]
struct Resp {
    status: u16,
    body: Value,
    raw: String,
    headers: http::HeaderMap,
}

impl Resp {
    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    /// The token the reply's `Set-Cookie`s carry (the same on every path).
    fn cookie_token(&self) -> String {
        let cookies = self.set_cookies();
        assert_eq!(cookies.len(), PATHS.len(), "{cookies:?}");
        let value = |c: &String| {
            c.strip_prefix("tollgate_refresh=")
                .and_then(|rest| rest.split(';').next())
                .unwrap()
                .to_string()
        };
        let token = value(&cookies[0]);
        assert!(cookies.iter().all(|c| value(c) == token), "{cookies:?}");
        token
    }
}

/// A request's extra headers.
type Headers<'a> = &'a [(&'a str, &'a str)];

/// What a cookie-mode request carries by default: the CSRF header.
const CSRF: (&str, &str) = ("tollgate-csrf", "1");

fn config(env: &[(&str, &str)]) -> (Config, TempDir) {
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
    (Config::load(&sources, true).unwrap(), dir)
}

async fn harness(env: &[(&str, &str)]) -> Harness {
    let (config, dir) = config(env);
    let store = common::open_store(dir.path());
    let hash = password::make_password_with_salt("alice-password", "fixedsalt", 1000);
    let alice = User::new(1, "alice", "alice@example.com", hash, 0);
    store.add_user(alice, false).await.unwrap();
    let clock = Arc::new(AtomicU64::new(T0 * 1000));
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

/// Cookie mode with an explicitly listed origin.
async fn cookie_harness(env: &[(&str, &str)]) -> Harness {
    let mut all = vec![
        ("refresh_transport", "cookie"),
        ("cors_allowed_origins", APP_ORIGIN),
    ];
    all.extend_from_slice(env);
    harness(&all).await
}

impl Harness {
    fn advance(&self, secs: u64) {
        self.clock.fetch_add(secs * 1000, Ordering::SeqCst);
        common::shift_database_clock(self._dir.path(), secs * 1000);
    }

    async fn post(&self, path: &str, headers: Headers<'_>, body: Value) -> Resp {
        let mut req = warp::test::request()
            .method("POST")
            .path(path)
            .header("content-type", "application/json")
            .body(body.to_string());
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = req.reply(&routes(Arc::clone(&self.app))).await;
        let raw = String::from_utf8_lossy(res.body()).into_owned();
        Resp {
            status: res.status().as_u16(),
            body: serde_json::from_str(&raw).unwrap_or(Value::Null),
            raw,
            headers: res.headers().clone(),
        }
    }

    /// A cookie-mode login: the reply (checked 200) and the refresh token of its cookie.
    async fn login(&self) -> (Resp, String) {
        let r = self
            .post(
                "/api/token/",
                &[CSRF],
                json!({"username": "alice", "password": "alice-password"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.raw);
        let token = r.cookie_token();
        (r, token)
    }

    /// A cookie-mode POST with the refresh cookie `token` and the CSRF header.
    async fn with_cookie(&self, path: &str, token: &str, extra: Headers<'_>) -> Resp {
        let cookie = format!("tollgate_refresh={token}");
        let mut headers = vec![("cookie", cookie.as_str()), CSRF];
        headers.extend_from_slice(extra);
        self.post(path, &headers, json!({})).await
    }
}

fn check(resp: &Resp, status: u16, body: Value) {
    assert_eq!((resp.status, &resp.body), (status, &body), "{}", resp.raw);
    if status == 401 {
        assert_eq!(resp.headers["www-authenticate"], REALM);
    }
}

fn token_error(detail: &str) -> Value {
    json!({"detail": detail, "code": "token_not_valid"})
}

fn csrf_failed(reason: &str) -> Value {
    json!({"detail": format!("CSRF check failed: {reason}."), "code": "csrf_failed"})
}

const MISSING: &str = "No refresh token cookie was sent.";

/// The exact `Set-Cookie`s that set `token` (or clear, with `""` and 0).
fn expected_cookies(token: &str, max_age: u64, attributes: &str) -> Vec<String> {
    PATHS
        .iter()
        .map(|p| format!("tollgate_refresh={token}; Path={p}; Max-Age={max_age}{attributes}"))
        .collect()
}

const DEFAULT_ATTRS: &str = "; HttpOnly; Secure; SameSite=Strict";

fn cleared() -> Vec<String> {
    expected_cookies("", 0, DEFAULT_ATTRS)
}

fn claims(token: &str) -> Value {
    tollgate_core::decode(token).unwrap().claims().to_value()
}

#[tokio::test]
async fn login_sets_the_cookie_with_exact_attributes_and_no_refresh_in_the_body() {
    let h = cookie_harness(&[]).await;
    let (r, token) = h.login().await;
    let body = r.body.as_object().unwrap();
    assert_eq!(body.keys().collect::<Vec<_>>(), ["access"], "{}", r.raw);
    assert!(!r.raw.contains(&token));
    assert_eq!(
        claims(body["access"].as_str().unwrap())["token_type"],
        "access"
    );
    let refresh = claims(&token);
    assert_eq!(refresh["token_type"], "refresh");
    assert_eq!(refresh["exp"], T0 + REFRESH_LIFETIME);
    assert_eq!(
        r.set_cookies(),
        expected_cookies(&token, REFRESH_LIFETIME, DEFAULT_ATTRS)
    );

    // Domain when set; Max-Age follows the configured lifetime.
    let h = cookie_harness(&[
        ("refresh_cookie_domain", "example.com"),
        ("refresh_cookie_name", "rt"),
        ("refresh_token_lifetime", "1h"),
    ])
    .await;
    let r = h
        .post(
            "/api/token/",
            &[CSRF],
            json!({"username": "alice", "password": "alice-password"}),
        )
        .await;
    let cookies = r.set_cookies();
    let token = cookies[0]
        .strip_prefix("rt=")
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    let expected: Vec<String> = PATHS
        .iter()
        .map(|p| {
            format!("rt={token}; Path={p}; Max-Age=3600; Domain=example.com; HttpOnly; Secure; SameSite=Strict")
        })
        .collect();
    assert_eq!(cookies, expected);

    // Not Secure only with the setting off, which a loopback bind allows.
    let h = cookie_harness(&[("refresh_cookie_secure", "false")]).await;
    let (r, token) = h.login().await;
    assert_eq!(
        r.set_cookies(),
        expected_cookies(&token, REFRESH_LIFETIME, "; HttpOnly; SameSite=Strict")
    );

    // Sliding tokens are unchanged: in the body, no cookie.
    let r = h
        .post(
            "/api/token/sliding/",
            &[],
            json!({"username": "alice", "password": "alice-password"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert!(r.body["token"].is_string());
    assert!(r.set_cookies().is_empty());
}

#[tokio::test]
async fn refresh_by_cookie_rotates_and_the_old_cookie_is_then_refused() {
    let h = cookie_harness(&[]).await;
    let (_, first) = h.login().await;
    h.advance(100);
    let r = h.with_cookie("/api/token/refresh/", &first, &[]).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let body = r.body.as_object().unwrap();
    assert_eq!(body.keys().collect::<Vec<_>>(), ["access"], "{}", r.raw);
    let second = r.cookie_token();
    assert_ne!(second, first);
    assert_eq!(claims(&second)["exp"], T0 + 100 + REFRESH_LIFETIME);
    assert_eq!(
        r.set_cookies(),
        expected_cookies(&second, REFRESH_LIFETIME, DEFAULT_ATTRS)
    );
    // The new one works...
    let r = h.with_cookie("/api/token/refresh/", &second, &[]).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let third = r.cookie_token();
    // ...the old one is refused (a replay: the family goes), and a refused refresh
    // clears the cookie.
    let r = h.with_cookie("/api/token/refresh/", &first, &[]).await;
    check(&r, 401, token_error("Token is blacklisted"));
    assert_eq!(r.set_cookies(), cleared());
    let r = h.with_cookie("/api/token/refresh/", &third, &[]).await;
    check(&r, 401, token_error("Token is blacklisted"));
    assert_eq!(r.set_cookies(), cleared());
    let r = h.with_cookie("/api/token/refresh/", "garbage", &[]).await;
    check(&r, 401, token_error("Token is invalid"));
    assert_eq!(r.set_cookies(), cleared());
}

#[tokio::test]
async fn the_body_is_not_a_way_around_the_cookie() {
    let h = cookie_harness(&[]).await;
    let (_, token) = h.login().await;
    for (path, field) in [
        ("/api/token/refresh/", "refresh"),
        ("/api/token/blacklist/", "refresh"),
    ] {
        let r = h.post(path, &[CSRF], json!({ field: token })).await;
        check(
            &r,
            401,
            json!({"detail": MISSING, "code": "refresh_cookie_missing"}),
        );
    }
    // The token is still good: nothing above used it.
    let r = h.with_cookie("/api/token/refresh/", &token, &[]).await;
    assert_eq!(r.status, 200, "{}", r.raw);
}

#[tokio::test]
async fn logout_and_blacklist_by_cookie_blacklist_and_clear() {
    let h = cookie_harness(&[]).await;
    let (r, token) = h.login().await;
    let access = r.body["access"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {access}");
    // A failed Bearer check leaves the cookie (the client refreshes and tries again).
    let r = h
        .with_cookie("/api/logout/", &token, &[("authorization", "Bearer x")])
        .await;
    assert_eq!(r.status, 401, "{}", r.raw);
    assert!(r.set_cookies().is_empty());
    let r = h
        .with_cookie("/api/logout/", &token, &[("authorization", &bearer)])
        .await;
    check(&r, 200, json!({"status": "OK, goodbye"}));
    assert_eq!(r.set_cookies(), cleared());
    let r = h.with_cookie("/api/token/refresh/", &token, &[]).await;
    check(&r, 401, token_error("Token is blacklisted"));
    // Already invalid: still cleared.
    let r = h
        .with_cookie("/api/logout/", &token, &[("authorization", &bearer)])
        .await;
    check(&r, 401, token_error("Token is blacklisted"));
    assert_eq!(r.set_cookies(), cleared());
    let r = h
        .post(
            "/api/logout/",
            &[CSRF, ("authorization", &bearer)],
            json!({}),
        )
        .await;
    check(
        &r,
        401,
        json!({"detail": MISSING, "code": "refresh_cookie_missing"}),
    );
    assert_eq!(r.set_cookies(), cleared());

    // Blacklist.
    let (_, token) = h.login().await;
    let r = h.with_cookie("/api/token/blacklist/", &token, &[]).await;
    check(&r, 200, json!({}));
    assert_eq!(r.set_cookies(), cleared());
    let r = h.with_cookie("/api/token/blacklist/", &token, &[]).await;
    check(&r, 401, token_error("Token is blacklisted"));
    assert_eq!(r.set_cookies(), cleared());
    let r = h.with_cookie("/api/token/refresh/", &token, &[]).await;
    check(&r, 401, token_error("Token is blacklisted"));

    // Logout everywhere needs no cookie, and clears it.
    let (_, token) = h.login().await;
    let r = h
        .post(
            "/api/logout/",
            &[CSRF, ("authorization", &bearer)],
            json!({"all": "1"}),
        )
        .await;
    check(
        &r,
        200,
        json!({"status": "OK, goodbye, all refresh tokens blacklisted"}),
    );
    assert_eq!(r.set_cookies(), cleared());
    let r = h.with_cookie("/api/token/refresh/", &token, &[]).await;
    check(&r, 401, token_error("Token is blacklisted"));
}

#[tokio::test]
async fn a_missing_cookie_is_refresh_cookie_missing() {
    let h = cookie_harness(&[]).await;
    for path in ["/api/token/refresh/", "/api/token/blacklist/"] {
        for cookie in [None, Some("other=1"), Some("tollgate_refresh=")] {
            let mut headers = vec![CSRF];
            headers.extend(cookie.map(|c| ("cookie", c)));
            let r = h.post(path, &headers, json!({})).await;
            check(
                &r,
                401,
                json!({"detail": MISSING, "code": "refresh_cookie_missing"}),
            );
            assert_eq!(r.set_cookies(), cleared(), "{path} {cookie:?}");
        }
    }
}

#[tokio::test]
async fn cross_site_requests_are_refused() {
    let h = cookie_harness(&[]).await;
    let (_, token) = h.login().await;
    let cookie = format!("tollgate_refresh={token}");
    // A cross-site form or simple request: the cookie but no Tollgate-CSRF.
    for path in PATHS {
        let r = h.post(path, &[("cookie", &cookie)], json!({})).await;
        check(
            &r,
            403,
            csrf_failed("the Tollgate-CSRF: 1 header is missing"),
        );
        assert!(r.set_cookies().is_empty());
    }
    let login = json!({"username": "alice", "password": "alice-password"});
    let r = h.post("/api/token/", &[], login.clone()).await;
    check(
        &r,
        403,
        csrf_failed("the Tollgate-CSRF: 1 header is missing"),
    );
    assert!(r.set_cookies().is_empty());
    let r = h
        .with_cookie("/api/token/refresh/", &token, &[("tollgate-csrf", "true")])
        .await;
    // Another value than 1.
    check(
        &r,
        403,
        csrf_failed("the Tollgate-CSRF header must be sent once, as 1"),
    );
    // The header, from a foreign origin.
    for origin in ["https://evil.example", "null", "http://app.example.com"] {
        let r = h
            .with_cookie("/api/token/refresh/", &token, &[("origin", origin)])
            .await;
        check(&r, 403, csrf_failed("the request's Origin is not allowed"));
        assert!(!r.headers.contains_key("access-control-allow-credentials"));
        assert!(r.set_cookies().is_empty());
    }
    // Nothing above used the token: from the listed origin it refreshes, with
    // credentials allowed and the reuse header exposed.
    let r = h
        .with_cookie("/api/token/refresh/", &token, &[("origin", APP_ORIGIN)])
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.headers["access-control-allow-origin"], APP_ORIGIN);
    assert_eq!(r.headers["access-control-allow-credentials"], "true");
    assert_eq!(
        r.headers["access-control-expose-headers"],
        "Tollgate-Refresh-Reuse"
    );
    // The server's own origin, from Host (https: the cookie is Secure).
    let token = r.cookie_token();
    let own = [
        ("host", "auth.example.com"),
        ("origin", "https://auth.example.com"),
    ];
    let r = h.with_cookie("/api/token/refresh/", &token, &own).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    let token = r.cookie_token();
    let plain = [
        ("host", "auth.example.com"),
        ("origin", "http://auth.example.com"),
    ];
    let r = h.with_cookie("/api/token/refresh/", &token, &plain).await;
    assert_eq!(r.status, 403, "{}", r.raw);
    let r = h
        .post(
            "/api/token/",
            &[CSRF, ("origin", "https://evil.example")],
            login,
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.raw);
}

#[tokio::test]
async fn an_origin_matched_only_by_a_wildcard_gets_no_credentials() {
    // Cookie mode: `*` does not pass the CSRF check.
    let h = harness(&[
        ("refresh_transport", "cookie"),
        ("cors_allowed_origins", "*"),
    ])
    .await;
    let (_, token) = h.login().await;
    let r = h
        .with_cookie(
            "/api/token/refresh/",
            &token,
            &[("origin", "https://other.example")],
        )
        .await;
    check(&r, 403, csrf_failed("the request's Origin is not allowed"));
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    assert!(!r.headers.contains_key("access-control-allow-credentials"));
    assert!(!r.headers.contains_key("access-control-expose-headers"));
    // JSON mode: the wildcard answer, never with credentials.
    let h = harness(&[("cors_allowed_origins", "*")]).await;
    let r = h
        .post(
            "/api/token/",
            &[("origin", "https://other.example")],
            json!({"username": "alice", "password": "alice-password"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    assert!(!r.headers.contains_key("access-control-allow-credentials"));
}

#[tokio::test]
async fn the_preflight_allows_the_csrf_header_and_delete() {
    let h = cookie_harness(&[]).await;
    let res = warp::test::request()
        .method("OPTIONS")
        .path("/api/token/refresh/")
        .header("origin", APP_ORIGIN)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, tollgate-csrf",
        )
        .reply(&routes(Arc::clone(&h.app)))
        .await;
    assert_eq!(res.status(), 200);
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], APP_ORIGIN);
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(
        h["access-control-allow-headers"],
        "authorization, content-type, tollgate-csrf"
    );
    assert_eq!(
        h["access-control-allow-methods"],
        "GET, POST, DELETE, OPTIONS"
    );
}

#[tokio::test]
async fn the_json_transport_sets_no_cookie_and_reads_none() {
    let h = harness(&[]).await;
    let login = json!({"username": "alice", "password": "alice-password"});
    let r = h.post("/api/token/", &[], login).await;
    assert_eq!(r.status, 200);
    assert!(r.raw.starts_with("{\"refresh\":\""), "{}", r.raw);
    assert!(!r.headers.contains_key("set-cookie"));
    let refresh = r.body["refresh"].as_str().unwrap().to_string();
    let access = r.body["access"].as_str().unwrap().to_string();
    // A refresh cookie is not read: the field is required as in Simple JWT.
    let cookie = format!("tollgate_refresh={refresh}");
    let r = h
        .post("/api/token/refresh/", &[("cookie", &cookie)], json!({}))
        .await;
    check(&r, 400, json!({"refresh": ["This field is required."]}));
    assert!(!r.headers.contains_key("set-cookie"));
    let r = h
        .post("/api/token/refresh/", &[], json!({"refresh": refresh}))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.raw.starts_with("{\"access\":\""), "{}", r.raw);
    assert!(r.body["refresh"].is_string());
    assert!(!r.headers.contains_key("set-cookie"));
    let refresh = r.body["refresh"].as_str().unwrap().to_string();
    let r = h
        .post(
            "/api/logout/",
            &[("authorization", &format!("Bearer {access}"))],
            json!({"refresh_token": refresh}),
        )
        .await;
    check(&r, 200, json!({"status": "OK, goodbye"}));
    assert!(!r.headers.contains_key("set-cookie"));
    let r = h
        .post("/api/token/blacklist/", &[], json!({"refresh": refresh}))
        .await;
    check(&r, 401, token_error("Token is blacklisted"));
    assert!(!r.headers.contains_key("set-cookie"));
}

#[test]
fn bad_cookie_settings_stop_the_server_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (env, bind, setting) in [
        (
            [("TOLLGATE_REFRESH_COOKIE_SECURE", "false")],
            "0.0.0.0:0",
            "refresh_cookie_secure",
        ),
        (
            [("TOLLGATE_REFRESH_COOKIE_NAME", "bad name")],
            "127.0.0.1:0",
            "refresh_cookie_name",
        ),
        (
            [("TOLLGATE_REFRESH_COOKIE_DOMAIN", ".example.com")],
            "127.0.0.1:0",
            "refresh_cookie_domain",
        ),
        (
            [("TOLLGATE_REFRESH_TRANSPORT", "cookies")],
            "127.0.0.1:0",
            "refresh_transport",
        ),
    ] {
        let out = common::tollgate(&data)
            .envs(env)
            .args(["serve", "--bind", bind, "--no-demo-user"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{env:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("`{setting}`")), "{stderr}");
    }
    // In-process: the same checks, and what passes.
    let err = Config::load(
        &{
            let mut s = Sources::default();
            s.flags
                .insert("data_dir".into(), data.display().to_string());
            s.flags.insert("bind".into(), "[::]:8000".into());
            s.env
                .insert("TOLLGATE_REFRESH_COOKIE_SECURE".into(), "false".into());
            s
        },
        true,
    )
    .unwrap_err();
    assert_eq!(err.setting, "refresh_cookie_secure");
    let (config, _dir) = config(&[
        ("refresh_transport", "cookie"),
        ("refresh_cookie_secure", "false"),
    ]);
    assert!(format!("{config:?}").contains("secure: false"));
}

/// Odd `Cookie` headers over real HTTP (repeated lines and raw bytes need it): a clear
/// 4xx with a stable code, never a 500.
#[tokio::test]
async fn odd_cookie_headers_get_clear_answers() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let h = cookie_harness(&[]).await;
    let (_, token) = h.login().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tollgate_server::serve(
        listener,
        Arc::clone(&h.app),
        async {
            let _ = rx.await;
        },
    ));
    let send = |cookie_lines: Vec<u8>| async move {
        let mut request = format!(
            "POST /api/token/blacklist/ HTTP/1.1\r\nHost: {addr}\r\nTollgate-CSRF: 1\r\nContent-Length: 0\r\nConnection: close\r\n"
        )
        .into_bytes();
        request.extend_from_slice(&cookie_lines);
        request.extend_from_slice(b"\r\n");
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(&request).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let response = String::from_utf8_lossy(&response).into_owned();
        let status: u16 = response[9..12].parse().unwrap();
        let body = response
            .find("\r\n\r\n")
            .and_then(|i| serde_json::from_str::<Value>(&response[i + 4..]).ok())
            .unwrap_or(Value::Null);
        (
            status,
            body["code"].as_str().unwrap_or("").to_string(),
            response,
        )
    };
    let line = |value: &[u8]| [b"Cookie: ", value, b"\r\n"].concat();
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (line(b""), 401, "refresh_cookie_missing"),
        (line(b";;;; ;"), 401, "refresh_cookie_missing"),
        (
            line(b"=; ==; tollgate_refresh"),
            401,
            "refresh_cookie_missing",
        ),
        (
            line(b"tollgate_refresh=a\"b"),
            400,
            "refresh_cookie_malformed",
        ),
        (
            line(b"tollgate_refresh=\xff\xfe"),
            400,
            "refresh_cookie_malformed",
        ),
        (
            line(b"tollgate_refresh=a\\b"),
            400,
            "refresh_cookie_malformed",
        ),
        (
            line(b"tollgate_refresh=x; tollgate_refresh=y"),
            400,
            "refresh_cookie_ambiguous",
        ),
        (
            [
                line(b"tollgate_refresh=x"),
                line(b"a=1; tollgate_refresh=y"),
            ]
            .concat(),
            400,
            "refresh_cookie_ambiguous",
        ),
        (line(&[b'a'; 9 * 1024]), 431, "cookie_header_too_large"),
        (
            (0..20).flat_map(|_| line(&[b'a'; 500])).collect(),
            431,
            "cookie_header_too_large",
        ),
        (
            line(format!("x=é; {}", "k=v; ".repeat(1000)).as_bytes()),
            401,
            "refresh_cookie_missing",
        ),
        (
            line(b"tollgate_refresh=not.a.token"),
            401,
            "token_not_valid",
        ),
        // Many cookies that are not ours, with non-ASCII bytes: ours is still found.
        (
            [
                line(b"a=\xe9t\xe9; b=\"q\""),
                line(format!("tollgate_refresh={token}").as_bytes()),
                line(format!("c=3; tollgate_refresh=\"{token}\"").as_bytes()),
            ]
            .concat(),
            200,
            "",
        ),
    ];
    for (lines, status, code) in cases {
        let (got, got_code, response) = send(lines.clone()).await;
        let shown = String::from_utf8_lossy(&lines[..lines.len().min(80)]).into_owned();
        assert_eq!(
            (got, got_code.as_str()),
            (status, code),
            "{shown}: {response}"
        );
    }
    // Beyond hyper's own header buffer: hyper's 431 without a body, not a 500.
    let (status, _, _) = send(line(&vec![b'a'; 512 * 1024])).await;
    assert_eq!(status, 431);
    tx.send(()).unwrap();
    server.await.unwrap();
}

/// The binary, set up by environment as a developer would on `http://127.0.0.1`: cookie
/// mode without `Secure`, the page served from the server's own origin.
#[test]
fn a_development_server_on_loopback_by_environment() {
    use std::io::{Read as _, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::add_user(&data, "alice", "alice-password");
    let server = common::Server::start_with(
        &data,
        &[
            ("TOLLGATE_REFRESH_TRANSPORT", "cookie"),
            ("TOLLGATE_REFRESH_COOKIE_SECURE", "false"),
        ],
    );
    let addr = server.addr;
    let post = |path: &str, headers: &str, body: &str| {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    let login = r#"{"username":"alice","password":"alice-password"}"#;
    let response = post("/api/token/", "", login);
    assert!(response.starts_with("HTTP/1.1 403 "), "{response}");
    let response = post("/api/token/", "Tollgate-CSRF: 1\r\n", login);
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    let cookies: Vec<&str> = response
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .collect();
    assert_eq!(cookies.len(), PATHS.len(), "{response}");
    let token = cookies[0]
        .strip_prefix("tollgate_refresh=")
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    // A real clock: a second may turn between the token's `iat` and the answer.
    let expected = |max_age: u64| {
        format!("tollgate_refresh={token}; Path=/api/token/refresh/; Max-Age={max_age}; HttpOnly; SameSite=Strict")
    };
    assert!(
        cookies[0] == expected(REFRESH_LIFETIME) || cookies[0] == expected(REFRESH_LIFETIME - 1),
        "{}",
        cookies[0]
    );
    let response = post(
        "/api/token/refresh/",
        &format!("Tollgate-CSRF: 1\r\nCookie: tollgate_refresh={token}\r\n"),
        "",
    );
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    assert!(
        response.contains("set-cookie: tollgate_refresh="),
        "{response}"
    );
    assert!(!response.contains(token), "{response}");
}

/// Two tabs share the cookie jar: a refresh racing another with the same cookie gets the
/// same successor back in the cookie (the reuse interval), named in the header.
#[tokio::test]
async fn a_second_tab_within_the_reuse_interval_gets_the_same_cookie() {
    let h = cookie_harness(&[]).await;
    let (_, first) = h.login().await;
    h.advance(1);
    let one = h.with_cookie("/api/token/refresh/", &first, &[]).await;
    let two = h.with_cookie("/api/token/refresh/", &first, &[]).await;
    assert_eq!((one.status, two.status), (200, 200), "{}", two.raw);
    assert_eq!(one.cookie_token(), two.cookie_token());
    assert_eq!(two.headers["tollgate-refresh-reuse"], "grace");
    assert!(!one.headers.contains_key("tollgate-refresh-reuse"));
    assert_eq!(
        two.set_cookies(),
        expected_cookies(&two.cookie_token(), REFRESH_LIFETIME, DEFAULT_ATTRS)
    );
}

/// In cookie mode the refresh cookie also goes to `revoke-others`, where it tells which
/// session is the caller's (no session claim needed).
#[tokio::test]
async fn revoke_others_by_cookie() {
    let h = cookie_harness(&[]).await;
    let (_, other) = h.login().await;
    let (r, mine) = h.login().await;
    let bearer = format!("Bearer {}", r.body["access"].as_str().unwrap());
    let r = h
        .with_cookie(
            "/api/sessions/revoke-others/",
            &mine,
            &[("authorization", &bearer)],
        )
        .await;
    check(&r, 200, json!({"revoked": 1}));
    let r = h.with_cookie("/api/token/refresh/", &other, &[]).await;
    check(&r, 401, token_error("Token is blacklisted"));
    let r = h.with_cookie("/api/token/refresh/", &mine, &[]).await;
    assert_eq!(r.status, 200, "{}", r.raw);
    // Without the cookie the server cannot tell; without the CSRF header it refuses.
    let r = h
        .post(
            "/api/sessions/revoke-others/",
            &[("authorization", &bearer), CSRF],
            json!({}),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["code"]),
        (400, &json!("session_unknown"))
    );
    let cookie = format!("tollgate_refresh={mine}");
    let r = h
        .post(
            "/api/sessions/revoke-others/",
            &[("authorization", &bearer), ("cookie", &cookie)],
            json!({}),
        )
        .await;
    assert_eq!((r.status, &r.body["code"]), (403, &json!("csrf_failed")));
}
