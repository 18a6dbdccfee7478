//! What the server says about itself: its public keys, health and metrics.

use bytes::Bytes;
use http::{header, HeaderValue, Response};
use serde_json::json;

use crate::{
    app::App,
    http::{
        errors::ApiError,
        reply::{self, Reply},
        request::Request,
    },
};

/// `GET /.well-known/jwks.json`: the public keys in force (next, current and previous
/// keys of the stored set, or the configured ones), with `Cache-Control` and an `ETag`
/// (a digest of the body): a request whose `If-None-Match` names it gets `304`.
pub fn jwks(app: &App, req: &Request) -> Reply {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut reply = reply::json(200, &json!({ "keys": app.tokens.public_jwks() }));
    let digest = sha2::Sha256::digest(reply.body());
    let etag = format!(
        "\"{}\"",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
    );
    let matches = req
        .headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().trim_start_matches("W/"))
        .any(|v| v == etag || v == "*");
    if matches {
        *reply.status_mut() = http::StatusCode::NOT_MODIFIED;
        *reply.body_mut() = Bytes::new();
        reply.headers_mut().remove(header::CONTENT_TYPE);
    }
    let headers = reply.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&format!("public, max-age={}", app.config.jwks_max_age))
            .unwrap_or(HeaderValue::from_static("public, max-age=300")),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    reply
}

/// `GET /healthz`: the process answers (the store's health is in `/metrics`).
pub fn healthz() -> Reply {
    reply::json(200, &json!({"status": "ok"}))
}

/// `GET /metrics`: Prometheus text.
pub fn metrics(app: &App) -> Reply {
    let text = app.metrics.render(
        app.store.counts(),
        app.store.health(),
        app.store.round_trips(),
    );
    let mut reply = Response::new(Bytes::from(text));
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    reply
}

/// `GET /api/schema/`: the OpenAPI 3.1 document (`crate::openapi`).
pub fn schema() -> Result<Reply, ApiError> {
    let document = crate::openapi::document().ok_or(ApiError::Internal("schema_invalid"))?;
    let mut reply = Response::new(document.clone());
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.oai.openapi+json"),
    );
    Ok(reply)
}

/// `GET /api/schema/docs/`: the document rendered for people, under a policy that lets
/// its own style and script run and nothing else.
pub fn schema_docs() -> Reply {
    let (html, csp) = crate::openapi::docs_page();
    let mut reply = Response::new(html.clone());
    let headers = reply.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(csp) = HeaderValue::from_str(csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    reply
}
