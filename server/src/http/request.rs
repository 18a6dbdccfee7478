//! A request as the handlers see it: method, path, headers, peer and a body read within
//! its limits (size and time).

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use futures_util::StreamExt as _;
use http::{header, HeaderMap, Method, Uri};

use super::{
    drf::{self, Fields},
    errors::ApiError,
};

/// Request bodies over this are refused before parsing.
pub const MAX_BODY: usize = 64 * 1024;

/// A request with its body read. Its `Debug` shows neither headers nor body: they carry
/// Bearer tokens and passwords.
pub struct Request {
    pub method: Method,
    /// The request target as hyper parsed it (kept whole: its path and query are read
    /// in place, not copied into strings per request).
    pub uri: Uri,
    pub headers: HeaderMap,
    pub remote: Option<SocketAddr>,
    pub body: Result<Bytes, BodyError>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path())
            .field("remote", &self.remote)
            .field("body_len", &self.body.as_ref().map(Bytes::len))
            .finish_non_exhaustive()
    }
}

/// Why a request body could not be read (kept apart from [`ApiError`] so that it can
/// be copied into the answer wherever the body is needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    Incomplete,
    Timeout,
}

impl From<BodyError> for ApiError {
    fn from(err: BodyError) -> Self {
        match err {
            BodyError::TooLarge => ApiError::PayloadTooLarge,
            BodyError::Incomplete => ApiError::BodyIncomplete,
            BodyError::Timeout => ApiError::BodyTimeout,
        }
    }
}

impl Request {
    /// The path (`/api/me/`).
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The query string (without `?`; empty when none).
    pub fn query(&self) -> &str {
        self.uri.query().unwrap_or_default()
    }

    /// The body's fields, parsed as DRF parses them.
    pub fn fields(&self) -> Result<Fields, ApiError> {
        let body = self.body.as_ref().map_err(|err| ApiError::from(*err))?;
        let content_type = self
            .headers
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        Ok(drf::parse(content_type.as_deref(), body)?)
    }
}

/// Reads the body, refusing more than [`MAX_BODY`] bytes without buffering them, and a
/// body that does not arrive within `timeout`.
pub async fn read_body(
    timeout: Duration,
    headers: &HeaderMap,
    stream: impl futures_util::Stream<Item = Result<impl warp::Buf, impl std::error::Error>>,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(BodyError::TooLarge);
    }
    let read = async {
        // No declared length (a GET, a chunked body): grow as it comes, so that a
        // request without a body allocates nothing.
        let mut body = Vec::with_capacity(declared.map_or(0, |n| n as usize));
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = stream.next().await {
            // hyper ends the stream with an error when the connection closes early.
            let mut chunk = chunk.map_err(|_| BodyError::Incomplete)?;
            if body.len() + chunk.remaining() > MAX_BODY {
                return Err(BodyError::TooLarge);
            }
            while chunk.has_remaining() {
                let part = chunk.chunk();
                body.extend_from_slice(part);
                let n = part.len();
                chunk.advance(n);
            }
        }
        Ok(Bytes::from(body))
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(BodyError::Timeout))
}
