//! The accept loop (hyper's connections, no warp filter on the way) and the one warp
//! filter for `warp::test`: every request read within its limits, routed once, checked
//! for its method, handed to the [`Endpoints`] (`crate::handlers` implements them), and
//! answered with the headers every reply carries.
//!
//! Requests are routed by hand rather than with warp's path filters so that 404, 405
//! (with `Allow`), 413 and 415 come out exactly as DRF writes them.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Instant};

use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Uri};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use warp::Filter;

use super::{
    cors,
    errors::ApiError,
    idle::{self, Activity},
    reply::{self, Reply},
    request::{read_body, Request},
    route::Route,
    wake::Coalesced,
};
use crate::{app::App, metrics};

/// What answers a request once it is routed and its method checked: the endpoints.
/// `crate::handlers` implements it; this layer knows nothing of what they do.
pub trait Endpoints: Clone + Send + Sync + 'static {
    fn respond<'a>(
        &'a self,
        app: &'a App,
        req: &'a Request,
        route: Route,
    ) -> impl Future<Output = Result<Reply, ApiError>> + Send + 'a;

    /// Whether the request's credentials authenticate a user (for endpoints that need
    /// one: see [`Route::authenticated`]).
    fn authenticate<'a>(
        &'a self,
        app: &'a App,
        req: &'a Request,
    ) -> impl Future<Output = Result<(), ApiError>> + Send + 'a;
}

/// Headers on every answer: built once, not parsed from text per request.
static X_CONTENT_TYPE_OPTIONS: HeaderName = HeaderName::from_static("x-content-type-options");
static X_FRAME_OPTIONS: HeaderName = HeaderName::from_static("x-frame-options");
static REFERRER_POLICY: HeaderName = HeaderName::from_static("referrer-policy");

/// Answers one request.
async fn handle(app: Arc<App>, endpoints: &impl Endpoints, req: Request) -> Reply {
    let started = Instant::now();
    let route = Route::of(req.path());
    let mut reply = match respond(&app, endpoints, &req, route).await {
        Ok(reply) => reply,
        Err(err) => reply::error(&err, route.name(), &app.realm),
    };
    if let Some(allow) = route.allow() {
        if !reply.headers().contains_key(header::ALLOW) {
            reply
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
    }
    let config = &app.config;
    cors::add_headers(
        &config.cors_allowed_origins,
        &config.auth_header_name,
        &req,
        &mut reply,
    );
    let h = reply.headers_mut();
    h.insert(
        X_CONTENT_TYPE_OPTIONS.clone(),
        HeaderValue::from_static("nosniff"),
    );
    h.insert(X_FRAME_OPTIONS.clone(), HeaderValue::from_static("DENY"));
    h.insert(
        REFERRER_POLICY.clone(),
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept, Origin"));
    app.metrics.observe(
        metrics::route_index(route.name()),
        reply.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    reply
}

/// `OPTIONS`, then the endpoint's methods (405 with `Allow` for others, after a 401 for
/// an endpoint that needs a user, as DRF), then the endpoint itself.
async fn respond(
    app: &App,
    endpoints: &impl Endpoints,
    req: &Request,
    route: Route,
) -> Result<Reply, ApiError> {
    let method = &req.method;
    if *method == Method::OPTIONS {
        return cors::options(req, route).ok_or(ApiError::NotFound);
    }
    if let Some(allow) = route.allow() {
        if !route.allows(method) {
            if route.authenticated() {
                endpoints.authenticate(app, req).await?;
            }
            return Err(ApiError::MethodNotAllowed {
                method: method.as_str().to_string(),
                allow,
            });
        }
    }
    endpoints.respond(app, req, route).await
}

/// Serves the API on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish. Each connection is hyper's, and each request goes straight to [`handle`]:
/// warp's filter chain ([`routes`], which `warp::test` uses) would add a boxed request
/// body, a boxed reply body, a copy of the header map and its thread-local route to
/// every request, for nothing this API uses (BENCHMARKS.md, "tollgate against a bare
/// warp route"). warp's own server has no limit on how long a connection may sit without
/// asking anything, so a client that stops halfway through its request line or headers
/// would hold its connection forever; here [`idle::watch`] closes a connection that has
/// not started a request within the idle timeout of its accept or its last answer (and
/// [`read_body`] answers 408 after the body timeout). Each request carries its peer
/// address in [`Request::remote`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    endpoints: impl Endpoints,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::{
        rt::{TokioExecutor, TokioIo},
        server::{conn::auto::Builder, graceful::GracefulShutdown},
    };
    let idle_timeout = app.idle_timeout;
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let activity = Activity::new();
        let service = {
            let activity = Arc::clone(&activity);
            let app = Arc::clone(&app);
            let endpoints = endpoints.clone();
            hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let busy = activity.begin();
                let app = Arc::clone(&app);
                let endpoints = endpoints.clone();
                async move {
                    let (head, body) = req.into_parts();
                    let body = if body.is_end_stream() {
                        Ok(Bytes::new())
                    } else {
                        read_body(app.body_timeout, &head.headers, frames(body)).await
                    };
                    let req = Request {
                        method: head.method,
                        uri: head.uri,
                        headers: head.headers,
                        remote: Some(peer),
                        body,
                    };
                    let reply = handle(app, &endpoints, req).await;
                    drop(busy);
                    Ok::<_, Infallible>(reply.map(OneChunk::new))
                }
            })
        };
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            // Off explicitly: hyper's own timer (which needs `.timer(..)` to run) would
            // be a second limit beside the idle watch.
            builder.http1().header_read_timeout(None);
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let task = std::pin::pin!(async move {
                tokio::select! {
                    // The connection first: a request head that arrived with the deadline
                    // starts its request (and so is not idle) before the watch looks.
                    biased;
                    ended = watcher.watch(connection) => if let Err(err) = ended {
                        tracing::debug!(error = %err, "connection ended with an error");
                    },
                    () = idle::watch(activity, idle_timeout) => {
                        tracing::debug!("closed a connection idle or stalled past the idle timeout");
                    }
                }
            });
            // hyper's body channel wakes this task from inside its own poll: answered
            // here by polling again, not by the scheduler waking another worker.
            Coalesced::new(task).await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The whole API as one warp filter, for `warp::test` and embedding; [`serve`] hands
/// hyper's requests to the same [`handle`] without warp's filter chain.
pub fn routes(
    app: Arc<App>,
    endpoints: impl Endpoints,
) -> impl Filter<Extract = (Reply,), Error = warp::Rejection> + Clone {
    warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::addr::remote())
        .and(warp::body::stream())
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: String,
                  headers: HeaderMap,
                  remote: Option<SocketAddr>,
                  stream| {
                let app = Arc::clone(&app);
                let endpoints = endpoints.clone();
                async move {
                    let body = read_body(app.body_timeout, &headers, stream).await;
                    // warp gives the path and the query apart; both came from a
                    // valid request target, so they make one again.
                    let target = if query.is_empty() {
                        path.as_str().to_string()
                    } else {
                        format!("{}?{query}", path.as_str())
                    };
                    let req = Request {
                        method,
                        uri: Uri::try_from(target).unwrap_or_else(|_| Uri::from_static("/")),
                        headers,
                        remote,
                        body,
                    };
                    handle(app, &endpoints, req).await
                }
            },
        )
}

/// A request body's data frames as a stream (trailers are skipped), for [`read_body`].
fn frames(
    mut body: Incoming,
) -> impl futures_util::Stream<Item = Result<Bytes, hyper::Error>> + Send {
    futures_util::stream::poll_fn(move |cx| loop {
        match Pin::new(&mut body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => return Poll::Ready(Some(Ok(data))),
                Err(_trailers) => continue,
            },
            Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(err))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        }
    })
}

/// A reply's body for hyper: its one chunk, or none (then hyper writes
/// `content-length: 0`, or nothing for a 204 or 304), its length known up front.
#[derive(Debug)]
pub struct OneChunk(Option<Bytes>);

impl OneChunk {
    fn new(bytes: Bytes) -> Self {
        Self((!bytes.is_empty()).then_some(bytes))
    }
}

impl hyper::body::Body for OneChunk {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.take().map(|bytes| Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.as_ref().map_or(0, |b| b.len() as u64))
    }
}
