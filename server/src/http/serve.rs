//! The accept loop and the one warp filter: every request read within its limits,
//! routed once, checked for its method, handed to the [`Endpoints`] (`crate::handlers`
//! implements them), and answered with the headers every reply carries.
//!
//! Requests are routed by hand rather than with warp's path filters so that 404, 405
//! (with `Allow`), 413 and 415 come out exactly as DRF writes them.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Instant};

use http::{header, HeaderMap, HeaderValue, Method};
use warp::Filter;

use super::{
    cors,
    errors::ApiError,
    idle::{self, Activity},
    reply::{self, Reply},
    request::{read_body, ClientAddr, Request},
    route::Route,
};
use crate::app::App;

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

/// Answers one request.
async fn handle(app: Arc<App>, endpoints: &impl Endpoints, req: Request) -> Reply {
    let started = Instant::now();
    let route = Route::of(&req.path);
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
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(header::VARY, HeaderValue::from_static("Accept, Origin"));
    app.metrics.observe(
        route.name(),
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
/// finish. warp's own server has no limit on how long a connection may sit without
/// asking anything, so a client that stops halfway through its request line or headers
/// would hold its connection forever; here [`idle::watch`] closes a connection that has
/// not started a request within the idle timeout of its accept or its last answer (and
/// [`read_body`] answers 408 after the body timeout). Each request carries its peer
/// address as [`ClientAddr`].
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
    let filter = routes(app, endpoints);
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
        let service = warp::service(filter.clone());
        let service = {
            let activity = Arc::clone(&activity);
            hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                let busy = activity.begin();
                req.extensions_mut().insert(ClientAddr(peer));
                let mut service = service.clone();
                async move {
                    let reply = tower_service::Service::call(&mut service, req).await;
                    drop(busy);
                    reply
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
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The whole API as one warp filter.
pub fn routes(
    app: Arc<App>,
    endpoints: impl Endpoints,
) -> impl Filter<Extract = (Reply,), Error = warp::Rejection> + Clone {
    warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::addr::remote())
        .and(warp::ext::optional::<ClientAddr>())
        .and(warp::body::stream())
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: String,
                  headers: HeaderMap,
                  remote: Option<SocketAddr>,
                  client: Option<ClientAddr>,
                  stream| {
                let app = Arc::clone(&app);
                let endpoints = endpoints.clone();
                async move {
                    let body = read_body(app.body_timeout, &headers, stream).await;
                    let req = Request {
                        method,
                        path: path.as_str().to_string(),
                        query,
                        headers,
                        remote: client.map(|c| c.0).or(remote),
                        body,
                    };
                    handle(app, &endpoints, req).await
                }
            },
        )
}
