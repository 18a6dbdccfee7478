//! The demo page (`www_dir`) and the npm package it imports (`pkg_dir`, at `/pkg/`).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Response};

use super::{errors::ApiError, reply::Reply, request::Request};

/// The staff console's policy: its own scripts, styles and API only; no inline script or
/// style, no plugin, no framing, no form posted elsewhere (SECURITY.md).
pub const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The file a GET or HEAD names, from `www_dir` or (under `/pkg/`) `pkg_dir`; 404 for
/// anything else, hidden files and paths that leave the folder included.
pub async fn serve(
    www_dir: Option<&Path>,
    pkg_dir: Option<&Path>,
    req: &Request,
) -> Result<Reply, ApiError> {
    let (dir, rel) = match req.path().strip_prefix("/pkg/") {
        Some(rel) => (pkg_dir, rel),
        None => (www_dir, req.path().trim_start_matches('/')),
    };
    let Some(dir) = dir else {
        return Err(ApiError::NotFound);
    };
    if req.method != Method::GET && req.method != Method::HEAD {
        return Err(ApiError::NotFound);
    }
    // A folder's page: `/` and `/admin/` (the staff console).
    let index;
    let rel = if rel.is_empty() || rel.ends_with('/') {
        index = format!("{rel}index.html");
        index.as_str()
    } else {
        rel
    };
    if rel
        .split('/')
        .any(|part| part.is_empty() || part.starts_with('.'))
        || rel.contains('\\')
    {
        return Err(ApiError::NotFound);
    }
    let path: PathBuf = dir.join(rel);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError::NotFound)?;
    let mime = match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    };
    let mut reply = Response::new(Bytes::from(bytes));
    reply
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    reply
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if req.path().starts_with("/admin/") {
        reply.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONSOLE_CSP),
        );
    }
    Ok(reply)
}
