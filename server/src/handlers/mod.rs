//! One handler per endpoint: fields in, one policy call (`crate::tokens`,
//! `crate::users`), reply out. A new endpoint is a `Route` variant
//! (`crate::http::route`), a line in [`dispatch`] and a handler here.

mod account;
mod meta;
mod tokens;

use std::sync::atomic::Ordering;

use crate::{
    app::App,
    http::{
        drf::{self, Fields, Trim},
        errors::ApiError,
        reply::Reply,
        route::Route,
        static_files, Request,
    },
    tokens::Denied,
};

/// The endpoint `route` names, its method already checked.
pub async fn dispatch(app: &App, req: &Request, route: Route) -> Result<Reply, ApiError> {
    match route {
        Route::TokenObtain => tokens::obtain(app, req, tollgate_core::TokenKind::Refresh).await,
        Route::TokenSliding => tokens::obtain(app, req, tollgate_core::TokenKind::Sliding).await,
        Route::TokenRefresh => tokens::refresh(app, req).await,
        Route::TokenVerify => tokens::verify(app, req).await,
        Route::TokenBlacklist => tokens::blacklist(app, req).await,
        Route::TokenSlidingRefresh => tokens::refresh_sliding(app, req).await,
        Route::Logout => account::logout(app, req).await,
        Route::Me => account::me(app, req).await,
        Route::Jwks => Ok(meta::jwks(app)),
        Route::Healthz => Ok(meta::healthz()),
        Route::Metrics => Ok(meta::metrics(app)),
        Route::OtherApi | Route::Static => {
            let config = &app.config;
            static_files::serve(config.www_dir.as_deref(), config.pkg_dir.as_deref(), req).await
        }
    }
}

/// The one field `name` of a token endpoint's body, as DRF's `CharField` reads it.
fn one_string(fields: &Fields, name: &str) -> Result<String, ApiError> {
    let values = drf::strings(fields, &[(name, Trim::Yes)])?;
    let [value] = <[String; 1]>::try_from(values).map_err(|_| ApiError::NotFound)?;
    Ok(value)
}

/// The answer to a refused token operation; a replay is also counted.
fn denied(app: &App, denied: Denied) -> ApiError {
    if matches!(denied, Denied::Replayed) {
        app.metrics.reuse_detections.fetch_add(1, Ordering::Relaxed);
    }
    denied.into()
}
