//! The token endpoints: obtain (pair or sliding), refresh, verify, blacklist, sliding
//! refresh.

use std::{net::IpAddr, sync::atomic::Ordering};

use http::HeaderValue;
use serde_json::json;
use tollgate_core::TokenKind;

use super::{denied, one_string, seen};
use crate::{
    app::App,
    http::{
        drf::{self, Trim},
        errors::{ApiError, REUSE_HEADER},
        reply::{self, Reply},
        Request,
    },
    tokens::{Issued, Refreshed},
    users::LoginDenied,
};

/// `POST /api/token/` and `/api/token/sliding/`.
pub async fn obtain(app: &App, req: &Request, kind: TokenKind) -> Result<Reply, ApiError> {
    let fields = req.fields()?;
    let login_field = app.config.username_field;
    let values = drf::strings(
        &fields,
        &[(login_field.name(), Trim::Yes), ("password", Trim::No)],
    )?;
    let [login, password] =
        <[String; 2]>::try_from(values).map_err(|_| ApiError::NoActiveAccount)?;
    let ip = req
        .remote
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let metrics = &app.metrics;
    let (user, at_ms) = match app.logins.check(login, password, ip).await {
        Ok(found) => found,
        Err(err) => {
            let counter = match err {
                LoginDenied::Throttled(_) => Some(&metrics.logins_throttled),
                LoginDenied::NoActiveAccount => Some(&metrics.logins_failed),
                LoginDenied::ShuttingDown | LoginDenied::Store(_) => None,
            };
            if let Some(counter) = counter {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            return Err(err.into());
        }
    };
    let issued = app
        .tokens
        .issue(&user, at_ms, kind, Some(&seen(app, req)))
        .await
        .map_err(|err| denied(app, err))?;
    metrics.logins_ok.fetch_add(1, Ordering::Relaxed);
    let body = match issued {
        Issued::Pair { refresh, access } => json!({"refresh": refresh, "access": access}),
        Issued::Sliding { token } => json!({"token": token}),
    };
    Ok(reply::json(200, &body))
}

/// `POST /api/token/refresh/`.
pub async fn refresh(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let token = one_string(&req.fields()?, "refresh")?;
    let result = app.tokens.refresh(&token, Some(&seen(app, req))).await;
    let counter = match result {
        Ok(Refreshed { grace: true, .. }) => &app.metrics.reuse_grace,
        Ok(_) => &app.metrics.refreshes_ok,
        Err(_) => &app.metrics.refreshes_failed,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let refreshed = result.map_err(|err| denied(app, err))?;
    let body = match refreshed.refresh {
        Some(refresh) => json!({"access": refreshed.access, "refresh": refresh}),
        None => json!({"access": refreshed.access}),
    };
    let mut reply = reply::json_ordered(200, &body, &["access", "refresh"]);
    if refreshed.grace {
        reply
            .headers_mut()
            .insert(REUSE_HEADER, HeaderValue::from_static("grace"));
    }
    Ok(reply)
}

/// `POST /api/token/verify/`.
pub async fn verify(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let token = one_string(&req.fields()?, "token")?;
    app.tokens
        .verify(&token)
        .await
        .map_err(|err| denied(app, err))?;
    Ok(reply::json(200, &json!({})))
}

/// `POST /api/token/blacklist/`.
pub async fn blacklist(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let token = one_string(&req.fields()?, "refresh")?;
    app.tokens
        .blacklist(&token)
        .await
        .map_err(|err| denied(app, err))?;
    Ok(reply::json(200, &json!({})))
}

/// `POST /api/token/sliding/refresh/`.
pub async fn refresh_sliding(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let token = one_string(&req.fields()?, "token")?;
    let slid = app
        .tokens
        .refresh_sliding(&token)
        .await
        .map_err(|err| denied(app, err))?;
    Ok(reply::json(200, &json!({"token": slid})))
}
