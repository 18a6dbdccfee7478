//! What the server says about itself: its public keys, health and metrics.

use bytes::Bytes;
use http::{header, HeaderValue, Response};
use serde_json::json;

use crate::{
    app::App,
    http::reply::{self, Reply},
};

/// `GET /.well-known/jwks.json`.
pub fn jwks(app: &App) -> Reply {
    let mut reply = reply::json(200, &json!({ "keys": app.tokens.public_jwks() }));
    reply.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
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
