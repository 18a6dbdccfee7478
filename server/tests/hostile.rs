//! Hostile input over real HTTP (issue #7): every token vector against the endpoints,
//! key URLs that must never be fetched, odd `Authorization` headers, odd and huge
//! bodies, slow clients, ES256 twins of revoked tokens, weak keys. Each test starts
//! the server's filter on `127.0.0.1:0` and speaks raw HTTP/1.1 to it, so repeated
//! headers and bytes `warp::test` would refuse reach the server as a client sends them.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};
use tollgate_core::{Algorithm, SigningKey};
use tollgate_server::{
    config::{Config, Sources},
    http::{MAX_AUTH_HEADER, MAX_BODY},
    serve,
    store::User,
    users::password,
    App,
};

mod common;

const KEYS: &str = include_str!("../../tests/vectors/keys.json");
/// The vectors' clock (tests/src/lib.rs `VERIFY_AT`): their valid tokens are valid now.
const NOW: u64 = 1_700_000_100;
const ALICE: (&str, &str) = ("alice", "alice-password");
/// The header and body timeouts of the test servers (30 s in `tollgate serve`).
const STALL: Duration = Duration::from_secs(2);

fn keys() -> Value {
    serde_json::from_str(KEYS).unwrap()
}

/// A server on a loopback port with the vectors' HMAC key, users alice (1) and
/// carol (42, the vectors' `user_id`), and a clock stopped at [`NOW`].
struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn config(dir: &TempDir, settings: &[(&str, &str)]) -> Result<Config, String> {
    let mut sources = Sources::default();
    sources
        .flags
        .insert("data_dir".into(), dir.path().display().to_string());
    let keys = keys();
    let defaults = [
        ("signing_key", keys["hmac"]["secret"].as_str().unwrap()),
        ("pbkdf2_iterations", "1000"),
        ("login_throttle_username", "1000/min"),
        ("login_throttle_ip", "1000/min"),
    ];
    for (name, value) in defaults.iter().chain(settings) {
        sources.env.insert(
            format!("TOLLGATE_{}", name.to_uppercase()),
            value.to_string(),
        );
    }
    Config::load(&sources, true).map_err(|e| e.to_string())
}

async fn start(settings: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir, settings).unwrap();
    let store = common::open_store(dir.path());
    for (id, name, pass) in [(1, ALICE.0, ALICE.1), (42, "carol", "carol-password")] {
        let hash = password::make_password_with_salt(pass, "fixedsalt", 1000);
        let user = User::new(id, name, &format!("{name}@example.com"), hash, 0);
        store.add_user(user, false).await.unwrap();
    }
    let app = App::new(config, store, Arc::new(|| NOW * 1000)).with_timeouts(STALL, STALL);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(serve(listener, Arc::new(app), std::future::pending()));
    Server {
        addr,
        task,
        _dir: dir,
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Status and exact JSON body, typed as JSON; every 401 carries the realm.
    fn check(&self, status: u16, body: &Value, context: &str) {
        assert_eq!((self.status, &self.json()), (status, body), "{context}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{context}"
        );
        if status == 401 {
            assert_eq!(
                self.header("www-authenticate"),
                Some("Bearer realm=\"api\""),
                "{context}"
            );
        }
    }
}

/// A request as raw bytes: each header line exactly as given (repeats allowed), then
/// `Content-Length` for the body and `Connection: close`.
fn request(method: &str, path: &str, headers: &[&[u8]], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n").into_bytes();
    for line in headers {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    if method == "POST" {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(body);
    out
}

/// Reads a response until the server closes (`Connection: close`) or resets the
/// connection (it may, after refusing a body it did not read), within 10 seconds.
async fn read_response(stream: &mut TcpStream) -> Resp {
    parse_response(&read_raw(stream).await)
}

/// Everything the server sends until it closes the connection.
async fn read_raw(stream: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let read_all = async {
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            raw.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_all)
        .await
        .expect("the server neither answered nor closed within 10 s");
    raw
}

fn parse_response(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let resp = Resp {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    assert!(
        resp.header("transfer-encoding").is_none(),
        "chunked response"
    );
    if let Some(declared) = resp.header("content-length") {
        assert_eq!(
            declared.parse::<usize>().unwrap(),
            resp.body.len(),
            "truncated response"
        );
    }
    resp
}

impl Server {
    async fn send(&self, raw: &[u8]) -> Resp {
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(raw).await.unwrap();
        read_response(&mut stream).await
    }

    async fn post(&self, path: &str, content_type: Option<&str>, body: &[u8]) -> Resp {
        let header = content_type.map(|t| format!("Content-Type: {t}"));
        let headers: Vec<&[u8]> = header.iter().map(|h| h.as_bytes()).collect();
        self.send(&request("POST", path, &headers, body)).await
    }

    async fn post_json(&self, path: &str, body: &Value) -> Resp {
        self.post(path, Some("application/json"), body.to_string().as_bytes())
            .await
    }

    /// `{field: token}` as JSON.
    async fn post_field(&self, path: &str, field: &str, token: &str) -> Resp {
        self.post_json(path, &json!({ field: token })).await
    }

    /// `GET /api/me/` with these header lines.
    async fn me(&self, headers: &[&[u8]]) -> Resp {
        self.send(&request("GET", "/api/me/", headers, b"")).await
    }

    async fn login(&self) -> (String, String) {
        let r = self
            .post_json(
                "/api/token/",
                &json!({"username": ALICE.0, "password": ALICE.1}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.json());
        let body = r.json();
        (
            body["refresh"].as_str().unwrap().into(),
            body["access"].as_str().unwrap().into(),
        )
    }
}

/// Simple JWT's 401 for a bad token in a body field.
fn token_error(detail: &str) -> Value {
    json!({"detail": detail, "code": "token_not_valid"})
}

/// The 401 for a Bearer token: the same code, and the message per token class tried.
fn access_error(message: &str) -> Value {
    let mut body = token_error("Given token not valid for any token type");
    body["messages"] =
        json!([{"token_class": "AccessToken", "token_type": "access", "message": message}]);
    body
}

fn not_provided() -> Value {
    json!({"detail": "Authentication credentials were not provided."})
}

fn bad_header() -> Value {
    json!({"detail": "Authorization header must contain two space-delimited values", "code": "bad_authorization_header"})
}

fn too_large_body() -> Value {
    json!({"detail": "Request body is larger than 64 KiB.", "code": "payload_too_large"})
}

fn too_large_header() -> Value {
    json!({"detail": "Authorization header is larger than 8 KiB.", "code": "header_too_large"})
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS of these header and claims JSON texts, HMAC-signed with `secret`.
fn hs256(secret: &str, header: &str, claims: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let key = SigningKey::hmac(Algorithm::Hs256, secret.as_bytes()).unwrap();
    format!("{input}.{}", b64(&key.sign(input.as_bytes())))
}

/// The shared vectors a default server (HS256 with the vectors' key, no leeway,
/// audience, issuer, blacklist, required claims or lifetime policy, clock at [`NOW`]) must answer
/// exactly as tollgate-core does.
fn server_vectors() -> Vec<Value> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/");
    let mut out = Vec::new();
    for file in [
        "generated.json",
        "pyjwt.json",
        "simplejwt.json",
        "jose.json",
    ] {
        let text = std::fs::read_to_string(format!("{dir}{file}")).unwrap();
        let vectors: Value = serde_json::from_str(&text).unwrap();
        for v in vectors["vectors"].as_array().unwrap() {
            let default = |name: &str| v.get(name).is_none_or(|x| x.is_null() || x == &json!([]));
            if v["algorithm"] == "HS256"
                && v["key"] == "hmac"
                && v["now"] == NOW
                && v.get("leeway").is_none_or(|l| l == 0)
                && [
                    "audience",
                    "issuer",
                    "blacklisted",
                    "required_claims",
                    "max_token_age",
                    "max_lifetime",
                ]
                .into_iter()
                .all(default)
            {
                out.push(v.clone());
            }
        }
    }
    out
}

/// Every applicable vector against a running server, through `POST /api/token/verify/`
/// and as a Bearer token on `GET /api/me/`: exactly the core's outcome in Simple JWT's
/// bodies, never a 500.
#[tokio::test]
async fn every_vector_over_http() {
    let server = start(&[]).await;
    let (mut verified, mut bearers) = (0, 0);
    for v in server_vectors() {
        verified += usize::from(verify_row(&server, &v).await);
        bearers += usize::from(bearer_row(&server, &v).await);
    }
    assert!(verified >= 160, "only {verified} vectors verified");
    assert!(bearers >= 150, "only {bearers} vectors as Bearer tokens");
}

/// A vector through the verify endpoint: its message as a 401, `{}` for a valid token
/// (including those whose `jku`, `x5u`, `x5c` or `kid` must be ignored), 413 when too
/// large for a body. False for tokens the `token` field changes (whitespace trimmed,
/// NUL refused, as DRF's CharField does: rows of `odd_bodies`) and for outcomes that
/// depend on the expected type, which this endpoint does not check.
async fn verify_row(server: &Server, v: &Value) -> bool {
    let token = v["token"].as_str().unwrap();
    let code = v["code"].as_str().unwrap_or("ok");
    if token.is_empty()
        || token.contains('\0')
        || token.trim() != token
        || v["expect_type"] == "sliding_refresh"
        || ["token_wrong_type", "token_no_type"].contains(&code)
    {
        return false;
    }
    let body = json!({ "token": token }).to_string();
    let r = server
        .post(
            "/api/token/verify/",
            Some("application/json"),
            body.as_bytes(),
        )
        .await;
    let name = v["name"].as_str().unwrap();
    if body.len() > MAX_BODY {
        r.check(413, &too_large_body(), name);
    } else if v["expect_fail"] == true {
        r.check(401, &token_error(v["message"].as_str().unwrap()), name);
    } else {
        r.check(200, &json!({}), name);
    }
    true
}

/// An access-type vector as a Bearer token: its message in the access-token shape, 431
/// above the header limit, the user (or the missing user id) for a valid token. False
/// for tokens with whitespace or control bytes (rows of `odd_authorization_headers`) and
/// for headers past hyper's own limit (`authorization_header_limits`).
async fn bearer_row(server: &Server, v: &Value) -> bool {
    let token = v["token"].as_str().unwrap();
    let header = format!("Authorization: Bearer {token}");
    if v["expect_type"] != "access"
        || token.is_empty()
        || token.bytes().any(|b| b <= b' ' || b == 0x7f)
        || header.len() > 64 * 1024
    {
        return false;
    }
    let r = server.me(&[header.as_bytes()]).await;
    let name = v["name"].as_str().unwrap();
    let user_id = &v["claims"]["user_id"];
    if header.len() - "Authorization: ".len() > MAX_AUTH_HEADER {
        r.check(431, &too_large_header(), name);
    } else if v["expect_fail"] == true {
        r.check(401, &access_error(v["message"].as_str().unwrap()), name);
    } else if user_id == "42" {
        r.check(200, &json!({"id": 42, "username": "carol"}), name);
    } else if user_id == 1 {
        // An integer user id (older Simple JWT sites) is the user of that id.
        r.check(200, &json!({"id": 1, "username": "alice"}), name);
    } else {
        assert!(user_id.is_null(), "{name}");
        let detail = "Token contained no recognizable user identification";
        r.check(401, &token_error(detail), name);
    }
    true
}

/// `jku` and `x5u` pointing at a listener we control: whatever the signature, the
/// server never connects to it (keys come from configuration only).
#[tokio::test]
async fn key_urls_in_headers_are_never_fetched() {
    let server = start(&[]).await;
    let trap = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", trap.local_addr().unwrap());
    let header =
        format!(r#"{{"alg":"HS256","jku":"{url}/jwks.json","x5u":"{url}/cert.pem","typ":"JWT"}}"#);
    let claims = format!(
        r#"{{"token_type":"access","exp":{},"iat":{NOW},"jti":"trap","user_id":"1"}}"#,
        NOW + 60
    );
    let keys = keys();
    let attacker = hs256(
        keys["hmac-other"]["secret"].as_str().unwrap(),
        &header,
        &claims,
    );
    let genuine = hs256(keys["hmac"]["secret"].as_str().unwrap(), &header, &claims);
    let verify = |t: &str| json!({ "token": t });
    server
        .post_json("/api/token/verify/", &verify(&attacker))
        .await
        .check(401, &token_error("Token is invalid"), "attacker-signed");
    let bearer = format!("Authorization: Bearer {attacker}");
    server.me(&[bearer.as_bytes()]).await.check(
        401,
        &access_error("Token is invalid"),
        "attacker-signed bearer",
    );
    server
        .post_json("/api/token/verify/", &verify(&genuine))
        .await
        .check(200, &json!({}), "signed with the configured key");
    let bearer = format!("Authorization: Bearer {genuine}");
    server.me(&[bearer.as_bytes()]).await.check(
        200,
        &json!({"id": 1, "username": "alice"}),
        "genuine bearer",
    );
    let fetched = tokio::time::timeout(Duration::from_millis(300), trap.accept()).await;
    assert!(fetched.is_err(), "the server connected to {url}");
}

/// Odd `Authorization` headers: repeated (joined with commas, as WSGI servers do, so
/// they never authenticate), non-ASCII, tabs and other whitespace, another scheme.
#[tokio::test]
async fn odd_authorization_headers() {
    let server = start(&[]).await;
    let (refresh, access) = server.login().await;
    let alice = json!({"id": 1, "username": "alice"});
    let auth = |value: &str| format!("Authorization: {value}").into_bytes();
    let bearer = auth(&format!("Bearer {access}"));
    let rows: Vec<(&str, Vec<Vec<u8>>, u16, Value)> = vec![
        ("one header", vec![bearer.clone()], 200, alice.clone()),
        (
            "the same header twice",
            vec![bearer.clone(), bearer.clone()],
            401,
            bad_header(),
        ),
        (
            "an empty second header",
            vec![bearer.clone(), b"Authorization: ".to_vec()],
            401,
            access_error("Token is invalid"),
        ),
        (
            "Basic first, then Bearer",
            vec![auth("Basic YWxpY2U6eA=="), bearer.clone()],
            401,
            not_provided(),
        ),
        (
            "Bearer with a refresh token, then an access token",
            vec![auth(&format!("Bearer {refresh}")), bearer.clone()],
            401,
            bad_header(),
        ),
        (
            "tabs around and inside",
            vec![auth(&format!("\tBearer\t\t{access}\t"))],
            200,
            alice.clone(),
        ),
        (
            "lower-case header name",
            vec![format!("authorization: Bearer {access}").into_bytes()],
            200,
            alice.clone(),
        ),
        (
            "lower-case scheme",
            vec![auth(&format!("bearer {access}"))],
            401,
            not_provided(),
        ),
        (
            "Cyrillic letters in the scheme",
            vec![auth(&format!("Веаrer {access}"))],
            401,
            not_provided(),
        ),
        (
            "UTF-8 in the token",
            vec![auth(&format!("Bearer é{access}"))],
            401,
            access_error("Token is invalid"),
        ),
        (
            "a Latin-1 byte in the token (not UTF-8)",
            vec![[&b"Authorization: Bearer \xff"[..], access.as_bytes()].concat()],
            401,
            access_error("Token is invalid"),
        ),
        (
            "a comma after the token",
            vec![auth(&format!("Bearer {access},"))],
            401,
            access_error("Token is invalid"),
        ),
        (
            "the token twice",
            vec![auth(&format!("Bearer {access} {access}"))],
            401,
            bad_header(),
        ),
        ("scheme only", vec![auth("Bearer")], 401, bad_header()),
        ("whitespace only", vec![auth(" \t ")], 401, not_provided()),
    ];
    for (name, headers, status, body) in rows {
        let headers: Vec<&[u8]> = headers.iter().map(Vec::as_slice).collect();
        server.me(&headers).await.check(status, &body, name);
    }
    // Control bytes are not allowed in a header value: hyper refuses the request
    // before the application sees it.
    for byte in [0u8, 0x01, 0x0b, 0x0c, 0x7f] {
        let header = [&b"Authorization: Bearer a"[..], &[byte], b"b"].concat();
        let r = server.me(&[&header]).await;
        assert_eq!(
            (r.status, r.body.as_slice()),
            (400, &b""[..]),
            "byte {byte:#x}"
        );
    }
    // The Authorization header is ignored by the token endpoints.
    let r = server
        .send(&request(
            "POST",
            "/api/token/verify/",
            &[
                b"Authorization: Bearer garbage",
                b"Content-Type: application/json",
            ],
            json!({ "token": access }).to_string().as_bytes(),
        ))
        .await;
    r.check(200, &json!({}), "Authorization on verify");
}

/// Long headers: the application's 8 KiB limit on `Authorization` (431 with a JSON
/// body) up to hyper's buffer, then hyper's own 431; the server answers on after both.
#[tokio::test]
async fn authorization_header_limits() {
    let server = start(&[]).await;
    let (_, access) = server.login().await;
    let value = |len: usize| format!("Bearer {}", "a".repeat(len - "Bearer ".len()));
    for (len, status, body) in [
        (MAX_AUTH_HEADER, 401, access_error("Token is invalid")),
        (MAX_AUTH_HEADER + 1, 431, too_large_header()),
        (64 * 1024, 431, too_large_header()),
    ] {
        let header = format!("Authorization: {}", value(len));
        server
            .me(&[header.as_bytes()])
            .await
            .check(status, &body, &format!("{len} bytes"));
    }
    // A mebibyte of header is refused by hyper itself, before routing.
    let header = format!("Authorization: {}", value(1 << 20));
    let started = Instant::now();
    let r = server.me(&[header.as_bytes()]).await;
    assert_eq!((r.status, r.body.as_slice()), (431, &b""[..]));
    assert!(started.elapsed() < Duration::from_secs(5));
    // So are a thousand headers.
    let many: Vec<Vec<u8>> = (0..1000)
        .map(|i| format!("X-{i}: x").into_bytes())
        .collect();
    let many: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
    let r = server.me(&many).await;
    assert_eq!((r.status, r.body.as_slice()), (431, &b""[..]));
    let bearer = format!("Authorization: Bearer {access}");
    server.me(&[bearer.as_bytes()]).await.check(
        200,
        &json!({"id": 1, "username": "alice"}),
        "after the refusals",
    );
}

/// Odd bodies, with DRF's exact answers: other content types, truncated JSON, form and
/// multipart, numbers and other types where strings belong, byte order marks, invalid
/// UTF-8, NUL, surrounding whitespace, deep nesting. All sent to the verify endpoint,
/// whose one field is `token`.
#[tokio::test]
async fn odd_bodies() {
    let server = start(&[]).await;
    let (_, access) = server.login().await;
    let verify = "/api/token/verify/";
    let invalid = token_error("Token is invalid");

    // Content types no parser takes: 415, naming the type as sent.
    for (content_type, body) in [
        (Some("text/plain"), "token=x"),
        (None, r#"{"token":"x"}"#),
        (Some("application/xml"), "<token>x</token>"),
        (Some("application/json-patch+json"), "{}"),
    ] {
        let detail = format!(
            "Unsupported media type \"{}\" in request.",
            content_type.unwrap_or("")
        );
        let r = server.post(verify, content_type, body.as_bytes()).await;
        r.check(415, &json!({ "detail": detail }), body);
    }

    // Bodies a parser refuses or reads oddly.
    let multipart_open = "--B\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\nabc\r\n-";
    let json_error = |reason: &str| json!({ "detail": format!("JSON parse error - {reason}") });
    let parsing: Vec<(&str, &[u8], u16, Value)> = vec![
        ("application/json", br#"{"token": "abc"#, 400, json_error("Unterminated string starting at: line 1 column 11 (char 10)")),
        ("application/json", br#"{"token": "abc""#, 400, json_error("Expecting ',' delimiter: line 1 column 16 (char 15)")),
        ("application/json", b"{\"token\": \"\xff\"}", 400, json_error("'utf-8' codec can't decode byte 0xff in position 11: invalid start byte")),
        ("application/json", b"\xef\xbb\xbf{}", 400, json_error("Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)")),
        ("application/json", &[b'['; 2000], 400, json_error("maximum recursion depth exceeded while decoding a JSON array from a unicode string")),
        ("application/json", b"[]", 400, json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})),
        ("application/x-www-form-urlencoded", b"token=%E", 401, invalid.clone()),
        ("multipart/form-data", b"--x\r\n", 400, json!({"detail": "Multipart form parse error - Invalid boundary in multipart: None"})),
        ("multipart/form-data; boundary=B", multipart_open.as_bytes(), 401, invalid.clone()),
    ];
    for (content_type, body, status, expected) in parsing {
        let r = server.post(verify, Some(content_type), body).await;
        r.check(status, &expected, &String::from_utf8_lossy(body));
    }

    // Values of the `token` field (CharField: numbers as text, whitespace trimmed).
    let not_string = json!({"token": ["Not a valid string."]});
    let fields: Vec<(String, u16, Value)> = vec![
        ("123".into(), 401, invalid.clone()),
        ("1e400".into(), 401, invalid.clone()),
        ("true".into(), 400, not_string.clone()),
        (format!("[\"{access}\"]"), 400, not_string.clone()),
        (format!("{{\"token\": \"{access}\"}}"), 400, not_string),
        (
            "null".into(),
            400,
            json!({"token": ["This field may not be null."]}),
        ),
        (
            "\"\"".into(),
            400,
            json!({"token": ["This field may not be blank."]}),
        ),
        (
            format!("\"{access}\\u0000\""),
            400,
            json!({"token": ["Null characters are not allowed."]}),
        ),
        (format!("\" \\t{access}\\r\\n \""), 200, json!({})),
    ];
    for (value, status, expected) in fields {
        let body = format!(r#"{{"token": {value}}}"#);
        let r = server
            .post(verify, Some("application/json"), body.as_bytes())
            .await;
        r.check(status, &expected, &body);
    }

    // Numbers for username and password are their text: a failed login, not a 400.
    let numbers = json!({"username": 1, "password": 2.5});
    let no_account = json!({"detail": "No active account found with the given credentials"});
    let r = server.post_json("/api/token/", &numbers).await;
    r.check(401, &no_account, "numbers for strings");
}

/// Bodies over 64 KiB are refused by length, without being read or parsed: a huge
/// declared length is answered at once, a chunked body is cut at the limit.
#[tokio::test]
async fn huge_bodies_are_refused_before_parsing() {
    let server = start(&[]).await;
    let login = json!({"username": ALICE.0, "password": ALICE.1}).to_string();
    let exact = format!("{login}{}", " ".repeat(MAX_BODY - login.len()));
    let r = server
        .post("/api/token/", Some("application/json"), exact.as_bytes())
        .await;
    assert_eq!(r.status, 200, "exactly 64 KiB is read");
    let over = format!("{exact} ");
    server
        .post("/api/token/", Some("application/json"), over.as_bytes())
        .await
        .check(413, &too_large_body(), "64 KiB + 1");

    // Ten gigabytes declared, nothing sent: the answer comes without waiting for them.
    let started = Instant::now();
    let head = "POST /api/token/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n";
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let r = read_response(&mut stream).await;
    r.check(413, &too_large_body(), "10 GB declared");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Chunked, no length: read up to the limit, then refused; the rest is never read.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = "POST /api/token/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, " ".repeat(16 * 1024));
    let send_mib = async {
        for _ in 0..64 {
            if stream.write_all(chunk.as_bytes()).await.is_err() {
                break; // the server answered and closed
            }
        }
    };
    // Never all sent: the server stops reading at the limit.
    let _ = tokio::time::timeout(Duration::from_secs(2), send_mib).await;
    let r = read_response(&mut stream).await;
    r.check(413, &too_large_body(), "1 MiB chunked");
}

/// Alice's login body and the whole raw request carrying it.
fn alice_login() -> (String, Vec<u8>) {
    let login = json!({"username": ALICE.0, "password": ALICE.1}).to_string();
    let headers: &[&[u8]] = &[b"Content-Type: application/json"];
    let raw = request("POST", "/api/token/", headers, login.as_bytes());
    (login, raw)
}

/// Slow clients: a request trickled one byte at a time is answered; stalled
/// connections (mid request line, mid headers, mid body) do not hold up others.
#[tokio::test]
async fn slow_clients() {
    let server = start(&[]).await;
    let (login, raw) = alice_login();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    for byte in &raw {
        stream.write_all(&[*byte]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let r = read_response(&mut stream).await;
    assert_eq!(r.status, 200, "{:?}", r.json());

    let body_at = raw.len() - login.len();
    let mut stalled = Vec::new();
    // 0: a connection that sends nothing at all.
    for cut in [0, 5, 40, body_at, body_at + 10] {
        for _ in 0..10 {
            let mut s = TcpStream::connect(server.addr).await.unwrap();
            s.write_all(&raw[..cut]).await.unwrap();
            stalled.push(s);
        }
    }
    let started = Instant::now();
    let r = server.send(&raw).await;
    assert_eq!(r.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?} with 50 stalled connections",
        started.elapsed()
    );
    // Before the timeout they are still open: nothing read, no end of stream.
    for i in [0, 10, 20] {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(100), stalled[i].read(&mut byte));
        let read = read.await;
        assert!(
            read.is_err(),
            "stalled connection {i} ended early: {read:?}"
        );
    }
    // A stalled body completed in time is still answered.
    let late = stalled.last_mut().unwrap();
    late.write_all(&raw[body_at + 10..]).await.unwrap();
    assert_eq!(read_response(late).await.status, 200);

    // A keep-alive connection is answered, then closed once it has been idle for the
    // timeout (counted from the answer, not from the accept).
    let keep_alive = String::from_utf8(raw.clone())
        .unwrap()
        .replace("Connection: close\r\n", "");
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(STALL / 2).await;
    idle.write_all(keep_alive.as_bytes()).await.unwrap();
    let answered = Instant::now();
    let r = read_response(&mut idle).await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let closed_after = answered.elapsed();
    assert!(
        closed_after >= STALL - Duration::from_millis(100) && closed_after < STALL * 2,
        "an idle keep-alive connection closed {closed_after:?} after its answer"
    );

    // Past the timeouts: a connection stalled in its request line or headers is closed
    // without an answer; one stalled in its body gets 408 with its exact body.
    tokio::time::sleep(STALL + Duration::from_millis(500)).await;
    for (i, stream) in stalled.iter_mut().take(49).enumerate() {
        if i < 30 {
            let raw = read_raw(stream).await;
            assert!(
                raw.is_empty(),
                "stalled headers got {:?}",
                String::from_utf8_lossy(&raw)
            );
        } else {
            let r = read_response(stream).await;
            assert_eq!(r.status, 408, "stalled body: {:?}", r.json());
            assert_eq!(
                r.json(),
                json!({"detail": "The request body did not arrive in time.", "code": "request_timeout"})
            );
        }
    }
}

/// A body cut short (the client closes its side before the declared length) is 400
/// `body_incomplete`, not a size error.
#[tokio::test]
async fn truncated_bodies_are_incomplete_not_too_large() {
    let server = start(&[]).await;
    let (_, raw) = alice_login();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&raw[..raw.len() - 10]).await.unwrap();
    stream.shutdown().await.unwrap();
    let r = read_response(&mut stream).await;
    assert_eq!(r.status, 400, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json(),
        json!({"detail": "The request body ended before its declared length.", "code": "body_incomplete"})
    );
}

/// P-256's order n, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// The other valid ES256 signature of the same token: (r, n - s).
fn es256_twin(token: &str) -> String {
    use base64::Engine as _;
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let mut sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .unwrap();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(P256_N[i]) - i16::from(sig[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        sig[32 + i] = d.rem_euclid(256) as u8;
    }
    let twin = format!("{signed}.{}", b64(&sig));
    assert_ne!(twin, token);
    twin
}

/// ES256 signatures are malleable; the blacklist is keyed by jti, so the twin of a
/// rotated-out or blacklisted refresh token is refused, and replaying it revokes the
/// family like the original would.
#[tokio::test]
async fn es256_twins_of_revoked_tokens_stay_revoked() {
    let keys = keys();
    let pem = keys["es256"]["private_pem"].as_str().unwrap();
    let server = start(&[("algorithm", "ES256"), ("signing_key", pem)]).await;
    let (rotated_out, _) = server.login().await;
    let (blacklisted, _) = server.login().await;
    let (twin_rotated_out, twin_blacklisted) = (es256_twin(&rotated_out), es256_twin(&blacklisted));
    server
        .post_field("/api/token/verify/", "token", &twin_rotated_out)
        .await
        .check(200, &json!({}), "the twin of a valid token is valid");
    let r = server
        .post_field("/api/token/refresh/", "refresh", &rotated_out)
        .await;
    assert_eq!(r.status, 200);
    let rotated = r.json()["refresh"].as_str().unwrap().to_string();
    // Within the reuse interval the twin is the token itself: the same successor again,
    // never a second one.
    let r = server
        .post_field("/api/token/refresh/", "refresh", &twin_rotated_out)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["refresh"].as_str(), Some(rotated.as_str()));
    // Once that successor was used, the twin is a replay, as the original would be.
    let r = server
        .post_field("/api/token/refresh/", "refresh", &rotated)
        .await;
    assert_eq!(r.status, 200);
    let rotated = r.json()["refresh"].as_str().unwrap().to_string();
    server
        .post_field("/api/token/blacklist/", "refresh", &blacklisted)
        .await
        .check(200, &json!({}), "blacklist");

    let refused = token_error("Token is blacklisted");
    let verify_refused = json!({"non_field_errors": ["Token is blacklisted"]});
    for (path, field, token, status, body, context) in [
        (
            "refresh",
            "refresh",
            &twin_rotated_out,
            401,
            &refused,
            "twin of a rotated-out token",
        ),
        (
            "refresh",
            "refresh",
            &rotated,
            401,
            &refused,
            "its replay revoked the family",
        ),
        (
            "verify",
            "token",
            &twin_rotated_out,
            400,
            &verify_refused,
            "verify of that twin",
        ),
        (
            "refresh",
            "refresh",
            &twin_blacklisted,
            401,
            &refused,
            "twin of a blacklisted token",
        ),
        (
            "blacklist",
            "refresh",
            &twin_blacklisted,
            401,
            &refused,
            "blacklisting that twin",
        ),
    ] {
        let r = server
            .post_field(&format!("/api/token/{path}/"), field, token)
            .await;
        r.check(status, body, context);
    }
}

/// Empty and short HMAC secrets are refused when the configuration is loaded, so a
/// server never starts with one (RFC 7518: at least the hash's output length).
#[test]
fn weak_hmac_keys_are_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "s".repeat(64);
    for (name, settings) in [
        ("empty", vec![("signing_key", "")]),
        ("31 bytes for HS256", vec![("signing_key", &secret[..31])]),
        (
            "47 bytes for HS384",
            vec![("algorithm", "HS384"), ("signing_key", &secret[..47])],
        ),
        (
            "63 bytes for HS512",
            vec![("algorithm", "HS512"), ("signing_key", &secret[..63])],
        ),
    ] {
        let err = config(&dir, &settings).unwrap_err();
        assert!(err.contains("key_weak"), "{name}: {err}");
    }
    for (alg, len) in [("HS256", 32), ("HS384", 48), ("HS512", 64)] {
        let settings = [("algorithm", alg), ("signing_key", &secret[..len])];
        assert!(config(&dir, &settings).is_ok(), "{alg} with {len} bytes");
    }
}

/// The real binary at the most verbose log level, through logins (good and bad),
/// refreshes, a replay that revokes a family, Bearer calls and garbage: its log
/// never holds the signing key, a password or any token.
#[test]
fn secrets_never_reach_the_logs() {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    struct Child(std::process::Child);
    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let secret = keys()["hmac-other"]["secret"].as_str().unwrap().to_string();
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("TOLLGATE_DATA_DIR", dir.path())
            .env("TOLLGATE_SIGNING_KEY", &secret)
            .env("TOLLGATE_PBKDF2_ITERATIONS", "1000")
            .env("TOLLGATE_LOG", "trace")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Read all along, so a verbose log never fills the pipe and stalls the server.
    let mut stderr = child.0.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut log = String::new();
        stderr.read_to_string(&mut log).unwrap();
        log
    });
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let addr: SocketAddr = loop {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "no address");
        if let Some(rest) = line.trim().strip_prefix("tollgate listening on http://") {
            break rest.trim_end_matches('/').parse().unwrap();
        }
    };
    let send = |raw: &[u8]| {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(raw).unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).unwrap();
        parse_response(&out)
    };
    let post = |path: &str, body: &Value| {
        let raw = request(
            "POST",
            path,
            &[b"Content-Type: application/json"],
            body.to_string().as_bytes(),
        );
        send(&raw).json()
    };
    let (user, password) = ("demo", "tollgate-demo");
    let wrong = "a-wrong-password-that-must-not-be-logged";
    let mut secrets = vec![secret.clone(), password.to_string(), wrong.to_string()];
    post("/api/token/", &json!({"username": user, "password": wrong}));
    let pair = post(
        "/api/token/",
        &json!({"username": user, "password": password}),
    );
    let (refresh, access) = (
        pair["refresh"].as_str().unwrap(),
        pair["access"].as_str().unwrap(),
    );
    let rotated = post("/api/token/refresh/", &json!({ "refresh": refresh }));
    // The successor used, then the rotated-out token again: a replay, family revoked.
    post(
        "/api/token/refresh/",
        &json!({ "refresh": rotated["refresh"] }),
    );
    post("/api/token/refresh/", &json!({ "refresh": refresh }));
    let bearer = format!("Authorization: Bearer {access}");
    send(&request("GET", "/api/me/", &[bearer.as_bytes()], b""));
    let forged = hs256(&secret, r#"{"alg":"HS384","typ":"JWT"}"#, r#"{"jti":"x"}"#);
    post("/api/token/verify/", &json!({ "token": forged }));
    for token in [
        refresh,
        access,
        rotated["refresh"].as_str().unwrap(),
        &forged,
    ] {
        // Any segment of a token would do: header segments are shared, so not those.
        secrets.extend(token.split('.').skip(1).map(String::from));
    }
    drop(child); // killed: everything it logged is in the pipe
    let log = log.join().unwrap();
    assert!(
        log.contains("refresh token replay: family revoked"),
        "{log}"
    );
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "logged: {secret}");
    }
}

/// The sessions endpoints (issue #12) with odd input: ids that cannot be one, bodies
/// of every odd kind for `revoke-others`, and `User-Agent` headers that are huge or not
/// UTF-8 at login. Every answer is a 4xx with a stable code or a 2xx, never a 5xx, and a
/// stored user agent is cut to its bound.
#[tokio::test]
async fn odd_session_ids_bodies_and_user_agents() {
    let server = start(&[]).await;
    let long_agent = format!("User-Agent: {}", "é".repeat(5000));
    let odd_agent = b"User-Agent: Mozilla/5.0 \xff\xfe (odd)".to_vec();
    let body = json!({"username": ALICE.0, "password": ALICE.1}).to_string();
    for agent in [long_agent.as_bytes(), &odd_agent] {
        let headers: Vec<&[u8]> = vec![b"Content-Type: application/json", agent];
        let r = server
            .send(&request("POST", "/api/token/", &headers, body.as_bytes()))
            .await;
        assert_eq!(r.status, 200);
    }
    let (refresh, access) = server.login().await;
    let bearer = format!("Authorization: Bearer {access}");
    let get = |path: &str| request("GET", path, &[bearer.as_bytes()], b"");
    let r = server.send(&get("/api/sessions/")).await;
    assert_eq!(r.status, 200);
    let sessions = r.json();
    let agents: Vec<&str> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["login"]["user_agent"].as_str().unwrap())
        .collect();
    assert_eq!(agents.len(), 3);
    assert!(agents.iter().all(|a| a.len() <= 256), "{agents:?}");
    assert!(agents.contains(&"é".repeat(128).as_str()), "{agents:?}");
    assert!(
        agents.contains(&"Mozilla/5.0 \u{fffd}\u{fffd} (odd)"),
        "{agents:?}"
    );

    let not_found = json!({"detail": "Not found.", "code": "session_not_found"});
    let plain_not_found = json!({"detail": "Not found."});
    let long_id = "a".repeat(256);
    for (path, expected) in [
        (
            "/api/sessions/0123456789abcdef0123456789abcdef/".to_string(),
            &not_found,
        ),
        (format!("/api/sessions/{}/", "a".repeat(255)), &not_found),
        (format!("/api/sessions/{long_id}/"), &plain_not_found),
        ("/api/sessions/%00/".to_string(), &plain_not_found),
        ("/api/sessions/%2e%2e/".to_string(), &plain_not_found),
        ("/api/sessions/../".to_string(), &not_found),
        ("/api/sessions/a/b/".to_string(), &plain_not_found),
        ("/api/sessions/%C3%A9/".to_string(), &plain_not_found),
    ] {
        let r = server
            .send(&request("DELETE", &path, &[bearer.as_bytes()], b""))
            .await;
        r.check(404, expected, &path);
    }

    let unknown = |r: &Resp, context: &str| {
        assert_eq!(
            (r.status, &r.json()["code"]),
            (400, &json!("session_unknown")),
            "{context}"
        );
    };
    let revoke_others = "/api/sessions/revoke-others/";
    let headers: Vec<&[u8]> = vec![bearer.as_bytes(), b"Content-Type: application/json"];
    for (body, expect) in [
        ("{}", 400),
        (r#"{"refresh": null}"#, 400),
        (r#"{"refresh": ""}"#, 400),
        (r#"{"refresh": 12}"#, 401),
        (r#"{"refresh": ["x"]}"#, 400),
        (r#"{"refresh": "garbage"}"#, 401),
        ("[]", 400),
        ("nonsense", 400),
    ] {
        let r = server
            .send(&request("POST", revoke_others, &headers, body.as_bytes()))
            .await;
        assert_eq!(r.status, expect, "{body}: {:?}", r.json());
        if body == "{}" {
            unknown(&r, body);
        }
    }
    // The access token of the refresh token's own user, with that refresh token: the
    // two sessions from the odd logins end, this one stays.
    let body = json!({"refresh": refresh}).to_string();
    let r = server
        .send(&request("POST", revoke_others, &headers, body.as_bytes()))
        .await;
    r.check(200, &json!({"revoked": 2}), "revoke-others");
    let r = server.send(&get("/api/sessions/")).await;
    assert_eq!(r.json().as_array().unwrap().len(), 1);
}

/// Every answer's head, byte for byte but the date: the status line, the headers in the
/// order they are sent (the security headers on every answer, `Allow` on endpoints, CORS
/// for none here) and the body's length. The request path (`http::serve`) writes them; a
/// change there must not move a header.
#[tokio::test]
async fn answer_heads_are_exact() {
    let server = start(&[]).await;
    let (_, access) = server.login().await;
    let bearer = format!("Authorization: Bearer {access}").into_bytes();
    let verify = json!({ "token": access }).to_string();
    let common = "x-content-type-options: nosniff\r\nx-frame-options: DENY\r\nreferrer-policy: same-origin\r\nvary: Accept, Origin\r\n";
    let get_allow = "allow: GET, HEAD, OPTIONS\r\n";
    let post_allow = "allow: POST, OPTIONS\r\n";
    let json_type = "content-type: application/json\r\n";
    let rows: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "GET /api/me/",
            request("GET", "/api/me/", &[&bearer], b""),
            format!("HTTP/1.1 200 OK\r\n{json_type}{get_allow}{common}connection: close\r\ncontent-length: 27\r\n"),
        ),
        (
            "HEAD /api/me/",
            request("HEAD", "/api/me/", &[&bearer], b""),
            format!("HTTP/1.1 200 OK\r\n{json_type}{get_allow}{common}connection: close\r\ncontent-length: 27\r\n"),
        ),
        (
            "verify",
            request("POST", "/api/token/verify/", &[b"Content-Type: application/json"], verify.as_bytes()),
            format!("HTTP/1.1 200 OK\r\n{json_type}{post_allow}{common}connection: close\r\ncontent-length: 2\r\n"),
        ),
        (
            "GET /api/me/ without credentials",
            request("GET", "/api/me/", &[], b""),
            format!("HTTP/1.1 401 Unauthorized\r\n{json_type}www-authenticate: Bearer realm=\"api\"\r\n{get_allow}{common}connection: close\r\ncontent-length: 58\r\n"),
        ),
        (
            "an unknown path under /api/",
            request("GET", "/api/nothing/", &[], b""),
            format!("HTTP/1.1 404 Not Found\r\n{json_type}{common}connection: close\r\ncontent-length: 23\r\n"),
        ),
    ];
    for (name, raw, expected) in rows {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(&raw).await.unwrap();
        let answer = read_raw(&mut stream).await;
        let end = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("{name}: no head"));
        let head = String::from_utf8_lossy(&answer[..end + 2]);
        let without_date: String = head
            .split_inclusive("\r\n")
            .filter(|line| !line.starts_with("date: "))
            .collect();
        assert_eq!(without_date, expected, "{name}");
        assert!(head.contains("\r\ndate: "), "{name}: no date");
    }
}
