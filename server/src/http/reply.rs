//! Writing replies: JSON bodies with their keys in DRF's order, and error replies from
//! the one table ([`super::errors`]).

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use serde_json::Value;

use super::errors::ApiError;

/// A response ready to send.
pub type Reply = Response<Bytes>;

/// Keys that lead a body, in DRF's order (the rest follow sorted): error bodies put
/// `detail` before `code`, field errors follow the serializer's field order.
const KEY_ORDER: &[&str] = &[
    "detail",
    "code",
    "messages",
    "non_field_errors",
    "username",
    "email",
    "password",
    "refresh",
    "access",
    "token",
    "refresh_token",
    "id",
    "status",
];

/// An answer without a body (`204 No Content`).
pub fn empty(status: u16) -> Reply {
    let mut reply = Reply::new(Bytes::new());
    *reply.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::NO_CONTENT);
    reply
}

/// `body` with status `status`, its keys in DRF's order.
pub fn json(status: u16, body: &Value) -> Reply {
    json_ordered(status, body, KEY_ORDER)
}

/// Serializes `body` with its top-level keys in `order` first (Simple JWT answers
/// `{"refresh","access"}` on login but `{"access","refresh"}` on refresh).
pub fn json_ordered(status: u16, body: &Value, order: &[&str]) -> Reply {
    // Writing JSON values into a Vec cannot fail, so the results are not looked at.
    let mut out = Vec::with_capacity(256);
    match body.as_object() {
        Some(map) => {
            let rank = |k: &str| order.iter().position(|o| *o == k).unwrap_or(order.len());
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            // Stable: keys outside `order` keep the map's (sorted) order.
            members.sort_by_key(|(k, _)| rank(k));
            out.push(b'{');
            for (i, (key, value)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut out, key);
                out.push(b':');
                let _ = serde_json::to_writer(&mut out, value);
            }
            out.push(b'}');
        }
        None => {
            let _ = serde_json::to_writer(&mut out, body);
        }
    }
    let mut reply = Response::new(Bytes::from(out));
    *reply.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    reply
}

/// A JSON body already written (`body` must be JSON), with status `status`: for the
/// hot paths, whose bodies are fixed or two fields, without building a [`Value`].
pub fn json_bytes(status: u16, body: impl Into<Bytes>) -> Reply {
    let mut reply = Response::new(body.into());
    *reply.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    reply
}

/// The reply to `err` on `route` (its name, for the log). A store failure is logged
/// here, without anything of the request.
pub fn error(err: &ApiError, route: &str, realm: &str) -> Reply {
    if let ApiError::Unavailable(store) = err {
        tracing::error!(route, code = store.code(), error = %store, "store failure");
    }
    let reply = err.reply(realm);
    let mut response = json(reply.status, &reply.body);
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
