//! `jwk_url` (Simple JWT's `JWK_URL`): verifying keys from an outside JWKS, for Bearer
//! tokens another issuer signed. Cached and refreshed by the rules of the npm package's
//! `remoteJwks` (`pkg/src/remote.js`, pkg/README.md "Keys from a URL"):
//!
//! - the endpoint's `Cache-Control: max-age` is kept within [`MIN_AGE_MS`] and
//!   [`MAX_AGE_MS`] (the latter when it sends none); expired keys are revalidated with
//!   `If-None-Match` when the endpoint sent an `ETag`;
//! - a token whose `kid` the cache does not hold refetches at most once per
//!   [`COOLDOWN_MS`] (counted from the last attempt), as does an endpoint that fails;
//! - a failed or invalid answer never replaces good keys; they keep serving up to
//!   [`STALE_MAX_MS`] past their lifetime, then every such token is refused;
//! - a fetch that does not answer within [`TIMEOUT`] fails, a body over [`MAX_BYTES`]
//!   or with more than [`MAX_KEYS`] keys is invalid, redirects are not followed;
//! - HMAC (`oct`) keys and private keys make the JWKS invalid (never trusted from a
//!   URL), and every key is read as the configured `algorithm` (a key with another
//!   `alg` makes it invalid): the token's header never picks the algorithm.
//!
//! The cache is asked only for a token whose `kid` none of the server's own keys has,
//! so the server's own tokens never wait on the endpoint.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use serde_json::Value;
use tollgate_core::{Algorithm, VerifyingKey};

/// Shortest lifetime of fetched keys, whatever the endpoint's `max-age`.
pub const MIN_AGE_MS: u64 = 30_000;
/// Longest lifetime of fetched keys (and the lifetime when no `max-age` is sent).
pub const MAX_AGE_MS: u64 = 600_000;
/// At most one fetch per this long for an unknown `kid` or a failing endpoint.
pub const COOLDOWN_MS: u64 = 30_000;
/// How long past their lifetime cached keys serve while the endpoint fails.
pub const STALE_MAX_MS: u64 = 3_600_000;
/// A fetch (connect, TLS, request, whole body) that takes longer fails.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// A longer body is invalid.
pub const MAX_BYTES: usize = 64 * 1024;
/// A JWKS with more keys is invalid.
pub const MAX_KEYS: usize = 32;
/// Longest `jwk_url` accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Why the endpoint gave no keys. Logged (never sent to clients, whose tokens get
/// "Token is invalid").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteError {
    /// Connection refused, DNS, TLS, HTTP error status.
    FetchFailed(String),
    /// No answer within [`TIMEOUT`].
    Timeout,
    /// Not a usable JWKS (why).
    Invalid(String),
}

impl RemoteError {
    /// Stable code (the package's).
    pub fn code(&self) -> &'static str {
        match self {
            Self::FetchFailed(_) => "jwks_fetch_failed",
            Self::Timeout => "jwks_timeout",
            Self::Invalid(_) => "jwks_invalid",
        }
    }
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::FetchFailed(why) => write!(f, "fetch failed: {why}"),
            Self::Timeout => write!(f, "no answer within {} s", TIMEOUT.as_secs()),
            Self::Invalid(why) => write!(f, "not a usable JWKS: {why}"),
        }
    }
}

/// A parsed `jwk_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwkUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query (`/.well-known/jwks.json`).
    pub path: String,
}

impl JwkUrl {
    /// `http://host[:port]/path` or `https://...`; no user info, no fragment.
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.len() > MAX_URL_LEN {
            return Err(format!("longer than {MAX_URL_LEN} bytes"));
        }
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err("an http:// or https:// URL".into());
        };
        if url.contains(['#', ' ', '\\']) || url.chars().any(|c| !c.is_ascii_graphic()) {
            return Err("no fragment, spaces or non-ASCII characters".into());
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) if rest[at..].starts_with('/') => (&rest[..at], rest[at..].to_string()),
            Some(at) => (&rest[..at], format!("/{}", &rest[at..])),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err("no user name or password in the URL".into());
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                if host.starts_with('[') || !host.contains(':') {
                    let port = port.parse::<u16>().map_err(|_| "a port from 1 to 65535")?;
                    (host, port)
                } else {
                    (authority, default_port)
                }
            }
            _ => (authority, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err("a host (and a port from 1 to 65535)".into());
        }
        Ok(Self {
            tls,
            host: host.to_string(),
            port,
            path,
        })
    }

    fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match (self.tls, self.port) {
            (true, 443) | (false, 80) => host,
            (_, port) => format!("{host}:{port}"),
        }
    }
}

/// What the cache holds.
#[derive(Debug, Default)]
struct State {
    keys: Option<Arc<Vec<VerifyingKey>>>,
    fetched_at_ms: u64,
    ttl_ms: u64,
    last_attempt_ms: Option<u64>,
    etag: Option<String>,
    last_error: Option<RemoteError>,
    fetches: u64,
}

/// The keys of one JWKS URL, for one algorithm.
#[derive(Debug)]
pub struct RemoteJwks {
    url: JwkUrl,
    shown: String,
    algorithm: Algorithm,
    /// Held across a fetch: concurrent requests share it.
    state: tokio::sync::Mutex<State>,
}

/// An answer of the endpoint.
enum Fetched {
    Keys {
        keys: Vec<VerifyingKey>,
        max_age: Option<u64>,
        etag: Option<String>,
    },
    NotModified {
        max_age: Option<u64>,
    },
}

impl RemoteJwks {
    pub fn new(url: JwkUrl, shown: &str, algorithm: Algorithm) -> Self {
        Self {
            url,
            shown: shown.to_string(),
            algorithm,
            state: tokio::sync::Mutex::new(State::default()),
        }
    }

    /// The configured algorithm: the only one its keys verify.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Requests made to the endpoint so far.
    pub async fn fetch_count(&self) -> u64 {
        self.state.lock().await.fetches
    }

    /// The keys to check a token whose header names `kid`, at `now_ms`: the cached ones
    /// while fresh, else (and for a `kid` they lack) what a fetch brings, at most once
    /// per cooldown; stale keys while the endpoint fails, up to [`STALE_MAX_MS`].
    pub async fn keys_for(
        &self,
        kid: Option<&str>,
        now_ms: u64,
    ) -> Result<Arc<Vec<VerifyingKey>>, RemoteError> {
        let mut state = self.state.lock().await;
        let expired = state.keys.is_none()
            || now_ms >= state.fetched_at_ms.saturating_add(state.ttl_ms)
            || now_ms < state.fetched_at_ms;
        let unknown = match (&state.keys, kid) {
            (Some(keys), Some(kid)) => !keys.iter().any(|k| k.kid() == kid),
            _ => false,
        };
        let cooled = state
            .last_attempt_ms
            .is_none_or(|at| now_ms < at || now_ms.saturating_sub(at) >= COOLDOWN_MS);
        if (expired || unknown) && cooled {
            state.last_attempt_ms = Some(now_ms);
            state.fetches += 1;
            let etag = state.keys.as_ref().and(state.etag.clone());
            let answer = tokio::time::timeout(TIMEOUT, self.fetch(etag))
                .await
                .unwrap_or(Err(RemoteError::Timeout));
            match answer {
                Ok(Fetched::Keys {
                    keys,
                    max_age,
                    etag,
                }) => {
                    state.keys = Some(Arc::new(keys));
                    state.etag = etag;
                    state.fetched_at_ms = now_ms;
                    state.ttl_ms = lifetime_ms(max_age);
                    state.last_error = None;
                }
                Ok(Fetched::NotModified { max_age }) => {
                    state.fetched_at_ms = now_ms;
                    state.ttl_ms = lifetime_ms(max_age);
                    state.last_error = None;
                }
                Err(err) => {
                    tracing::warn!(url = %self.shown, code = err.code(), error = %err, "jwk_url: the JWKS could not be fetched; cached keys (if any) stay");
                    state.last_error = Some(err);
                }
            }
        }
        let failed = || {
            state
                .last_error
                .clone()
                .unwrap_or(RemoteError::FetchFailed("not fetched yet".into()))
        };
        match &state.keys {
            None => Err(failed()),
            Some(_)
                if now_ms
                    >= state
                        .fetched_at_ms
                        .saturating_add(state.ttl_ms)
                        .saturating_add(STALE_MAX_MS) =>
            {
                Err(failed())
            }
            Some(keys) => Ok(Arc::clone(keys)),
        }
    }

    /// One request to the endpoint.
    async fn fetch(&self, etag: Option<String>) -> Result<Fetched, RemoteError> {
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            RemoteError::FetchFailed(format!("{}: {what}: {e}", self.shown))
        };
        let url = &self.url;
        let tcp = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|e| failed("connect", &e))?;
        let mut request = http::Request::get(url.path.as_str())
            .header(http::header::HOST, url.authority())
            .header(
                http::header::ACCEPT,
                "application/jwk-set+json, application/json",
            )
            .header(http::header::USER_AGENT, "tollgate");
        if let Some(etag) = etag {
            request = request.header(http::header::IF_NONE_MATCH, etag);
        }
        let request = request
            .body(String::new())
            .map_err(|e| failed("request", &e))?;
        let response = if url.tls {
            let tls = tls_connector()
                .map_err(|e| failed("TLS", &e))?
                .connect(
                    rustls::pki_types::ServerName::try_from(url.host.clone())
                        .map_err(|e| failed("TLS", &e))?,
                    tcp,
                )
                .await
                .map_err(|e| failed("TLS", &e))?;
            send(tls, request).await
        } else {
            send(tcp, request).await
        }
        .map_err(|e| failed("HTTP", &e))?;
        let (parts, body) = response;
        let max_age = parts
            .headers
            .get(http::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age_of);
        let status = parts.status.as_u16();
        if status == 304 {
            return Ok(Fetched::NotModified { max_age });
        }
        let invalid = |why: String| RemoteError::Invalid(format!("{}: {why}", self.shown));
        if (300..400).contains(&status) {
            return Err(invalid(format!(
                "answered a redirect ({status}), which is not followed"
            )));
        }
        if !(200..300).contains(&status) {
            return Err(failed("HTTP status", &status));
        }
        let kind = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if kind.to_ascii_lowercase().contains("html") {
            return Err(invalid(format!("answered {kind}, not a JWKS")));
        }
        let body = body.map_err(invalid)?;
        let jwks: Value = serde_json::from_slice(&body)
            .map_err(|_| invalid("answered a body that is not JSON".into()))?;
        let keys = self.keys_of(&jwks).map_err(invalid)?;
        let etag = parts
            .headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        Ok(Fetched::Keys {
            keys,
            max_age,
            etag,
        })
    }

    /// The usable keys of a JWKS (the package's `validate`).
    fn keys_of(&self, jwks: &Value) -> Result<Vec<VerifyingKey>, String> {
        let Some(members) = jwks.get("keys").and_then(Value::as_array) else {
            return Err("not a JWKS (no \"keys\" array)".into());
        };
        if members.len() > MAX_KEYS {
            return Err(format!("more than {MAX_KEYS} keys"));
        }
        let alg = self.algorithm.name();
        let mut keys: Vec<VerifyingKey> = Vec::new();
        for jwk in members {
            let Some(kty) = jwk.get("kty").and_then(Value::as_str) else {
                return Err("a key without kty".into());
            };
            let kid = jwk.get("kid");
            let name = kid
                .and_then(Value::as_str)
                .map_or("a key".to_string(), |kid| format!("key {kid:?}"));
            if kty == "oct" {
                return Err(format!(
                    "{name} is an HMAC (oct) key: HMAC keys are never accepted from a URL"
                ));
            }
            if jwk.get("d").is_some() {
                return Err(format!("{name} is a private key"));
            }
            if kid.is_some_and(|kid| !kid.is_string()) {
                return Err("a kid that is not a string".into());
            }
            if jwk.get("use").is_some_and(|u| u != "sig") {
                continue; // an encryption key: not ours
            }
            if jwk.get("alg").is_some_and(|a| a != alg) {
                return Err(format!("{name} is for another algorithm than {alg}"));
            }
            let key = VerifyingKey::from_jwk_value(self.algorithm, jwk.clone())
                .map_err(|e| format!("{name} is not a {alg} key ({})", e.code()))?;
            if keys.iter().any(|k| k.kid() == key.kid()) {
                return Err(format!("duplicate kid {:?}", key.kid()));
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err("no signature keys".into());
        }
        Ok(keys)
    }
}

/// The lifetime of fetched keys from the endpoint's `max-age` (seconds).
fn lifetime_ms(max_age: Option<u64>) -> u64 {
    max_age
        .map_or(MAX_AGE_MS, |secs| secs.saturating_mul(1000))
        .clamp(MIN_AGE_MS, MAX_AGE_MS)
}

/// Seconds of `max-age` in a `Cache-Control` value (0 for `no-cache`/`no-store`).
fn max_age_of(value: &str) -> Option<u64> {
    let mut found = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            return Some(0);
        }
        if let Some(secs) = lower.strip_prefix("max-age=") {
            found = secs.trim_matches('"').parse().ok();
        }
    }
    found
}

/// The TLS connector for `https://` URLs: the system's roots, ring (as the PostgreSQL
/// connector, ARCHITECTURE.md "Decisions").
fn tls_connector() -> Result<tokio_rustls::TlsConnector, String> {
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) =
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if added == 0 {
        return Err("no system root certificates found (install ca-certificates)".into());
    }
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Sends `request` over `io` (HTTP/1.1, one request) and reads the body, bounded.
async fn send<IO>(
    io: IO,
    request: http::Request<String>,
) -> Result<(http::response::Parts, Result<Bytes, String>), hyper::Error>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use hyper::body::Body as _;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io)).await?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let response = sender.send_request(request).await;
    let result = match response {
        Ok(response) => {
            let (parts, mut body) = response.into_parts();
            let declared = parts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            let read = if declared.is_some_and(|n| n > MAX_BYTES) {
                Err(format!("the body is over {MAX_BYTES} bytes"))
            } else {
                let mut out = Vec::new();
                loop {
                    let frame =
                        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx))
                            .await;
                    match frame {
                        None => break Ok(Bytes::from(out)),
                        Some(Err(e)) => break Err(format!("the body failed: {e}")),
                        Some(Ok(frame)) => {
                            if let Ok(data) = frame.into_data() {
                                out.extend_from_slice(&data);
                                if out.len() > MAX_BYTES {
                                    break Err(format!("the body is over {MAX_BYTES} bytes"));
                                }
                            }
                        }
                    }
                }
            };
            Ok((parts, read))
        }
        Err(e) => Err(e),
    };
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = JwkUrl::parse("https://idp.example.com/.well-known/jwks.json").unwrap();
        assert_eq!(
            url,
            JwkUrl {
                tls: true,
                host: "idp.example.com".into(),
                port: 443,
                path: "/.well-known/jwks.json".into()
            }
        );
        let url = JwkUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((url.port, url.path.as_str()), (8080, "/"));
        assert_eq!(url.authority(), "127.0.0.1:8080");
        let url = JwkUrl::parse("http://[::1]:9/k?x=1").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 9));
        assert_eq!(url.path, "/k?x=1");
        for bad in [
            "",
            "ftp://x/",
            "http://",
            "http://user:pw@x/",
            "http://x:0/",
            "http://x:99999/",
            "http://x/#frag",
            "http://x/ y",
            "http://é/",
        ] {
            assert!(JwkUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cache_control() {
        assert_eq!(max_age_of("public, max-age=300"), Some(300));
        assert_eq!(max_age_of("no-store"), Some(0));
        assert_eq!(max_age_of("public"), None);
        assert_eq!(lifetime_ms(Some(0)), MIN_AGE_MS);
        assert_eq!(lifetime_ms(None), MAX_AGE_MS);
        assert_eq!(lifetime_ms(Some(99_999)), MAX_AGE_MS);
        assert_eq!(lifetime_ms(Some(120)), 120_000);
    }

    #[test]
    fn hmac_private_and_foreign_keys_make_a_jwks_invalid() {
        let remote = RemoteJwks::new(
            JwkUrl::parse("http://127.0.0.1/").unwrap(),
            "http://127.0.0.1/",
            Algorithm::EdDsa,
        );
        let keys: Value =
            serde_json::from_str(include_str!("../../tests/vectors/keys.json")).unwrap();
        let public = keys["ed25519"]["public_jwk"].clone();
        assert_eq!(
            remote
                .keys_of(&serde_json::json!({"keys": [public]}))
                .unwrap()
                .len(),
            1
        );
        for (jwks, why) in [
            (serde_json::json!({}), "no \"keys\""),
            (
                serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
                "HMAC",
            ),
            (
                serde_json::json!({"keys": [keys["ed25519"]["private_jwk"]]}),
                "private",
            ),
            (
                serde_json::json!({"keys": [keys["es256"]["public_jwk"]]}),
                "not a EdDSA key",
            ),
            (
                serde_json::json!({"keys": [public, public]}),
                "duplicate kid",
            ),
            (serde_json::json!({"keys": []}), "no signature keys"),
        ] {
            let err = remote.keys_of(&jwks).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
    }
}
