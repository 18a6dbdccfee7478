//! A request as the handlers see it: method, path, headers, peer and a body read within
//! its limits (size and time).

use std::{future::Future as _, net::SocketAddr, task::Poll, time::Duration};

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
            .map(|v| String::from_utf8_lossy(v.as_bytes()));
        Ok(drf::parse(content_type.as_deref(), body)?)
    }
}

/// Reads the body, refusing more than [`MAX_BODY`] bytes without buffering them, and a
/// body that does not arrive within `timeout`.
///
/// Two things every body pays for nothing are skipped (BENCHMARKS.md, "Issue #19 item 3,
/// third round"): a body that arrives as one chunk (nearly every one: hyper hands over
/// what its read buffer holds) is that chunk, not a copy of it (`Buf::copy_to_bytes`
/// takes a `Bytes` over as it is); and the read is polled once before the timer is set,
/// since a body already in hyper's channel is ready at once, and a tokio timer costs its
/// runtime handle (a shared reference count) and, when dropped, the time driver's one
/// lock even if it never started. A body not complete at that first poll gets the whole
/// `timeout` from then on.
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
        // The body while it is one chunk; from a second chunk on, a copy that grows.
        let mut whole: Option<Bytes> = None;
        // No declared length (a chunked body): grow as it comes.
        let mut body = Vec::new();
        let mut len = 0;
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = stream.next().await {
            // hyper ends the stream with an error when the connection closes early.
            let mut chunk = chunk.map_err(|_| BodyError::Incomplete)?;
            let n = chunk.remaining();
            if len + n > MAX_BODY {
                return Err(BodyError::TooLarge);
            }
            len += n;
            if len == n && whole.is_none() && body.is_empty() {
                whole = Some(chunk.copy_to_bytes(n));
                continue;
            }
            if let Some(first) = whole.take() {
                body.reserve(declared.map_or(len, |d| (d as usize).max(len)));
                body.extend_from_slice(&first);
            }
            while chunk.has_remaining() {
                let part = chunk.chunk();
                body.extend_from_slice(part);
                let n = part.len();
                chunk.advance(n);
            }
        }
        Ok(whole.unwrap_or_else(|| Bytes::from(body)))
    };
    let mut read = std::pin::pin!(read);
    if let Poll::Ready(done) = std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await
    {
        return done;
    }
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(BodyError::Timeout))
}

#[cfg(test)]
mod tests {
    use std::{convert::Infallible, io};

    use futures_util::stream;

    use super::*;

    const T: Duration = Duration::from_secs(30);

    fn declaring(len: usize) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, len.into());
        headers
    }

    /// A body read from `chunks`, all of them ready at once.
    async fn read(headers: &HeaderMap, chunks: &[&[u8]]) -> Result<Bytes, BodyError> {
        let chunks: Vec<Result<Bytes, Infallible>> = chunks
            .iter()
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        read_body(T, headers, stream::iter(chunks)).await
    }

    #[tokio::test]
    async fn a_body_in_one_chunk_is_that_chunk_not_a_copy() {
        let chunk = Bytes::from_static(br#"{"token":"a.b.c"}"#);
        let chunks = vec![Ok::<_, Infallible>(chunk.clone())];
        let body = read_body(T, &declaring(chunk.len()), stream::iter(chunks))
            .await
            .unwrap();
        assert_eq!(body, chunk);
        assert_eq!(
            body.as_ptr(),
            chunk.as_ptr(),
            "the chunk itself, not a copy"
        );
    }

    /// The one-chunk path gives what the general one gives: every split of a body into
    /// chunks (empty ones included, declared or not) reads as the same bytes.
    #[tokio::test]
    async fn every_split_of_a_body_reads_as_the_same_bytes() {
        let whole: &[u8] = br#"{"token":"eyJhbGciOiJIUzI1NiJ9.e30.sig"}"#;
        for declared in [Some(whole.len()), None] {
            let headers = declared.map_or_else(HeaderMap::new, declaring);
            assert_eq!(read(&headers, &[whole]).await.unwrap(), whole);
            assert_eq!(read(&headers, &[b"", whole]).await.unwrap(), whole);
            assert_eq!(read(&headers, &[whole, b""]).await.unwrap(), whole);
            for at in 0..=whole.len() {
                let (a, b) = whole.split_at(at);
                assert_eq!(read(&headers, &[a, b]).await.unwrap(), whole, "at {at}");
                let (b, c) = b.split_at(b.len() / 2);
                assert_eq!(read(&headers, &[a, b, c]).await.unwrap(), whole);
                assert_eq!(read(&headers, &[a, b"", b, c]).await.unwrap(), whole);
            }
        }
        assert_eq!(read(&HeaderMap::new(), &[]).await.unwrap(), Bytes::new());
        assert_eq!(read(&HeaderMap::new(), &[b""]).await.unwrap(), Bytes::new());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_in_one_chunk_or_several() {
        let big = vec![b'x'; MAX_BODY + 1];
        assert_eq!(
            read(&declaring(big.len()), &[&big]).await,
            Err(BodyError::TooLarge)
        );
        assert_eq!(
            read(&HeaderMap::new(), &[&big]).await,
            Err(BodyError::TooLarge)
        );
        let (a, b) = big.split_at(MAX_BODY);
        assert_eq!(
            read(&HeaderMap::new(), &[a, b]).await,
            Err(BodyError::TooLarge)
        );
        assert_eq!(read(&HeaderMap::new(), &[a]).await.unwrap().len(), MAX_BODY);
    }

    #[tokio::test]
    async fn a_connection_closed_mid_body_is_incomplete() {
        let chunks = vec![
            Ok(Bytes::from_static(b"{\"tok")),
            Err(io::Error::other("closed")),
        ];
        let body = read_body(T, &declaring(20), stream::iter(chunks)).await;
        assert_eq!(body, Err(BodyError::Incomplete));
    }

    /// The timer is set only when the body is not all there at the first poll, and then
    /// it still runs: a body that stops arriving gets 408, one that arrives in time is read.
    #[tokio::test(start_paused = true)]
    async fn a_body_not_there_at_once_still_has_its_timeout() {
        let stalled = stream::iter([Ok::<_, Infallible>(Bytes::from_static(b"{\"to"))])
            .chain(stream::pending());
        let started = tokio::time::Instant::now();
        // Bounded: without its timer the read would wait for ever.
        let body = tokio::time::timeout(2 * T, read_body(T, &declaring(20), stalled)).await;
        assert_eq!(body, Ok(Err(BodyError::Timeout)));
        assert_eq!(started.elapsed(), T);

        let late = stream::once(async {
            tokio::time::sleep(T - Duration::from_secs(1)).await;
            Ok::<_, Infallible>(Bytes::from_static(b"{}"))
        });
        assert_eq!(
            read_body(T, &declaring(2), late).await.unwrap(),
            Bytes::from_static(b"{}")
        );
        let too_late = stream::once(async {
            tokio::time::sleep(T + Duration::from_secs(1)).await;
            Ok::<_, Infallible>(Bytes::from_static(b"{}"))
        });
        assert_eq!(
            read_body(T, &declaring(2), too_late).await,
            Err(BodyError::Timeout)
        );
    }
}
