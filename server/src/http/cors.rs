//! CORS for browser frontends on other origins, and DRF's answer to `OPTIONS`.

use bytes::Bytes;
use http::{header, HeaderValue, Method};
use serde_json::json;

use super::{reply, reply::Reply, request::Request, route::Route};

/// Response headers a script on a listed origin may read: `Tollgate-Refresh-Reuse`
/// tells a client that its refresh was refused as a replay.
const EXPOSE_HEADERS: &str = "Tollgate-Refresh-Reuse";

/// Request headers a script on a listed origin may send.
const ALLOW_HEADERS: &str = "authorization, content-type, tollgate-csrf";

/// CORS headers: only listed origins get them; credentials, and the response headers a
/// script may read, only for explicitly listed ones (never for `*`). A preflight may
/// send `auth_header` (`auth_header_name`) too.
pub fn add_headers(
    origins: &[String],
    auth_header: &header::HeaderName,
    req: &Request,
    reply: &mut Reply,
) {
    // No origin listed (the default): nothing to look up.
    if origins.is_empty() {
        return;
    }
    let Some(origin) = req
        .headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    else {
        return;
    };
    let listed = origins.iter().any(|o| o == origin);
    if !listed && !origins.iter().any(|o| o == "*") {
        return;
    }
    let h = reply.headers_mut();
    if listed {
        if let Ok(value) = HeaderValue::from_str(origin) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        }
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        if req.method != Method::OPTIONS {
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            );
        }
    } else {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    if req.method == Method::OPTIONS {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
        );
        let allow = if auth_header == header::AUTHORIZATION {
            HeaderValue::from_static(ALLOW_HEADERS)
        } else {
            HeaderValue::from_str(&format!("{ALLOW_HEADERS}, {auth_header}"))
                .unwrap_or(HeaderValue::from_static(ALLOW_HEADERS))
        };
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow);
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
}

/// The answer to `OPTIONS`: an empty 200 to a CORS preflight, DRF's metadata for an
/// endpoint, `None` (404) for other paths.
pub fn options(req: &Request, route: Route) -> Option<Reply> {
    let preflight = req.headers.contains_key(header::ORIGIN)
        && req
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let mut reply = reply::json(200, &json!({}));
        *reply.body_mut() = Bytes::new();
        reply.headers_mut().remove(header::CONTENT_TYPE);
        return Some(reply);
    }
    route.allow()?;
    Some(reply::json(
        200,
        &json!({
            "name": route.name(),
            "renders": ["application/json"],
            "parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"],
        }),
    ))
}
