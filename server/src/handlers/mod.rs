//! One handler per endpoint: fields in, one policy call (`crate::tokens`,
//! `crate::users`), reply out. A new endpoint is a `Route` variant
//! (`crate::http::route`), a line in [`dispatch`] and a handler here.

mod account;
pub mod admin;
mod meta;
mod sessions;
mod tokens;

use std::{future::Future, sync::atomic::Ordering, sync::Arc};

use serde_json::Value;
use warp::Filter;

use crate::{
    app::App,
    config::{RefreshCookie, RefreshTransport},
    http::{
        cookie,
        drf::{self, Fields, Trim},
        errors::ApiError,
        reply::{self, Reply},
        route::Route,
        static_files, Endpoints, Request,
    },
    store::Seen,
    tokens::Denied,
};

/// The API's endpoints, as the HTTP layer asks for them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Api;

impl Endpoints for Api {
    fn respond<'a>(
        &'a self,
        app: &'a App,
        req: &'a Request,
        route: Route,
    ) -> impl Future<Output = Result<Reply, ApiError>> + Send + 'a {
        dispatch(app, req, route)
    }

    async fn authenticate(&self, app: &App, req: &Request) -> Result<(), ApiError> {
        account::authenticate(app, req).await.map(|_| ())
    }
}

/// The whole API as one warp filter (for `warp::test` and `warp::serve`).
pub fn routes(app: Arc<App>) -> impl Filter<Extract = (Reply,), Error = warp::Rejection> + Clone {
    crate::http::routes(app, Api)
}

/// Serves the API on `listener` until `shutdown` resolves (see [`crate::http::serve`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) {
    crate::http::serve(listener, app, Api, shutdown).await;
}

/// The endpoint `route` names, its method already checked.
///
/// The endpoints that hash a password or wait for a durable write run boxed: their
/// futures hold the store's use cases and are several times larger than the others, and
/// hyper moves the request's future (copying it) as it polls; an allocation costs little
/// beside a flush. The read-only hot paths (`/api/me/`, verify) stay inline, so the
/// request future stays as small as theirs (with every handler inline, callgrind counted
/// about 700 more instructions of `memcpy` per answer on every route).
pub async fn dispatch(app: &App, req: &Request, route: Route) -> Result<Reply, ApiError> {
    use tollgate_core::TokenKind::{Refresh, Sliding};
    match route {
        Route::TokenObtain => Box::pin(tokens::obtain(app, req, Refresh)).await,
        Route::TokenSliding => Box::pin(tokens::obtain(app, req, Sliding)).await,
        Route::TokenRefresh => Box::pin(tokens::refresh(app, req)).await,
        Route::TokenVerify => tokens::verify(app, req).await,
        Route::TokenBlacklist => Box::pin(tokens::blacklist(app, req)).await,
        Route::TokenSlidingRefresh => Box::pin(tokens::refresh_sliding(app, req)).await,
        Route::Logout => Box::pin(account::logout(app, req)).await,
        Route::Me => account::me(app, req).await,
        Route::Sessions => Box::pin(sessions::list(app, req)).await,
        Route::Session => Box::pin(sessions::revoke(app, req)).await,
        Route::SessionsRevokeOthers => Box::pin(sessions::revoke_others(app, req)).await,
        Route::Admin => Box::pin(admin::respond(app, req)).await,
        Route::Jwks => Ok(meta::jwks(app, req)),
        Route::Healthz => Ok(meta::healthz()),
        Route::Metrics => Ok(meta::metrics(app)),
        Route::Schema => meta::schema(),
        Route::SchemaDocs => Ok(meta::schema_docs()),
        Route::OtherApi | Route::Static => {
            let config = &app.config;
            let (www, pkg) = (config.www_dir.as_deref(), config.pkg_dir.as_deref());
            Box::pin(static_files::serve(www, pkg, req)).await
        }
    }
}

/// The one field `name` of a token endpoint's body, as DRF's `CharField` reads it.
fn one_string(fields: &Fields, name: &str) -> Result<String, ApiError> {
    let values = drf::strings(fields, &[(name, Trim::Yes)])?;
    let [value] = <[String; 1]>::try_from(values).map_err(|_| ApiError::NotFound)?;
    Ok(value)
}

/// The client a login or refresh comes from, as its session records it.
fn seen(app: &App, req: &Request) -> Seen {
    let user_agent = req
        .headers
        .get(http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
        .unwrap_or_default();
    let ip = req.remote.map(|a| a.ip().to_string()).unwrap_or_default();
    Seen::new(app.now_ms(), &user_agent, ip)
}

/// The answer to a refused token operation; a replay is also counted.
fn denied(app: &App, denied: Denied) -> ApiError {
    if matches!(denied, Denied::Replayed) {
        app.metrics.reuse_detections.fetch_add(1, Ordering::Relaxed);
    }
    denied.into()
}

/// In cookie mode, the cookie's settings once the request has passed the CSRF check
/// (`None` in JSON mode). Login, refresh, blacklist and logout call it first.
fn cookie_mode<'a>(app: &'a App, req: &Request) -> Option<Result<&'a RefreshCookie, ApiError>> {
    let config = &app.config;
    let RefreshTransport::Cookie(cookie) = &config.refresh_transport else {
        return None;
    };
    Some(cookie::csrf_check(&req.headers, &config.cors_allowed_origins, cookie).map(|()| cookie))
}

/// The error reply to `err` (on `route`) with the refresh cookie cleared.
fn with_cookie_cleared(app: &App, route: &str, err: &ApiError, cookie: &RefreshCookie) -> Reply {
    let mut reply = reply::error(err, route, &app.realm);
    cookie::clear(&mut reply, cookie);
    reply
}

/// The answer of a cookie-mode blacklist or logout: `body` or the error, with the
/// cookie cleared, except after a store failure (5xx: nothing changed, the client may
/// try again).
fn cleared_after(
    app: &App,
    route: &str,
    result: Result<Value, ApiError>,
    cookie: &RefreshCookie,
) -> Result<Reply, ApiError> {
    match result {
        Ok(body) => {
            let mut reply = reply::json(200, &body);
            cookie::clear(&mut reply, cookie);
            Ok(reply)
        }
        Err(err) if err.status() < 500 => Ok(with_cookie_cleared(app, route, &err, cookie)),
        Err(err) => Err(err),
    }
}
