//! The token endpoints: obtain (pair or sliding), refresh, verify, blacklist, sliding
//! refresh.

use std::{net::IpAddr, sync::atomic::Ordering};

use bytes::Bytes;
use http::HeaderValue;
use serde_json::json;
use tollgate_core::TokenKind;

use super::{cookie_mode, denied, one_string, seen, with_cookie_cleared};
use crate::{
    app::App,
    config::RefreshCookie,
    http::{
        cookie,
        drf::{self, Trim},
        errors::{ApiError, REUSE_HEADER},
        reply::{self, Reply},
        Request,
    },
    tokens::{Issued, Refreshed},
    users::LoginDenied,
};

/// `POST /api/token/` and `/api/token/sliding/`. In cookie mode the pair endpoint
/// answers `{"access"}` and sets the refresh token as a cookie.
pub async fn obtain(app: &App, req: &Request, kind: TokenKind) -> Result<Reply, ApiError> {
    let cookie = match kind {
        TokenKind::Refresh => cookie_mode(app, req).transpose()?,
        _ => None,
    };
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
        Issued::Pair {
            refresh,
            access,
            refresh_exp,
        } => match cookie {
            None => json!({"refresh": refresh, "access": access}),
            Some(cookie) => {
                let mut reply = reply::json(200, &json!({"access": access}));
                let max_age = refresh_exp.saturating_sub(app.now_ms() / 1000);
                cookie::set(&mut reply, cookie, &refresh, max_age)?;
                return Ok(reply);
            }
        },
        Issued::Sliding { token } => json!({"token": token}),
    };
    Ok(reply::json(200, &body))
}

/// `POST /api/token/refresh/`. In cookie mode the token comes from the cookie (the
/// body is not read), the rotated one goes back in it, and a 401 clears it.
pub async fn refresh(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let Some(cookie) = cookie_mode(app, req) else {
        let token = one_string(&req.fields()?, "refresh")?;
        return refresh_token(app, req, &token, None).await;
    };
    let cookie = cookie?;
    let result = match cookie::refresh_token(&req.headers, &cookie.name) {
        Ok(token) => refresh_token(app, req, &token, Some(cookie)).await,
        Err(err) => Err(err),
    };
    match result {
        Err(err) if err.status() == 401 => {
            Ok(with_cookie_cleared(app, "token_refresh", &err, cookie))
        }
        other => other,
    }
}

/// A refresh of `token`; with a cookie, the rotated token is set in it. A successor
/// handed out again (the reuse interval) is named in `Tollgate-Refresh-Reuse: grace`.
async fn refresh_token(
    app: &App,
    req: &Request,
    token: &str,
    cookie: Option<&RefreshCookie>,
) -> Result<Reply, ApiError> {
    let result = app.tokens.refresh(token, Some(&seen(app, req))).await;
    let counter = match result {
        Ok(Refreshed { grace: true, .. }) => &app.metrics.reuse_grace,
        Ok(_) => &app.metrics.refreshes_ok,
        Err(_) => &app.metrics.refreshes_failed,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let refreshed = result.map_err(|err| denied(app, err))?;
    let grace = refreshed.grace;
    let mut reply = match cookie {
        None => {
            let body = match refreshed.refresh {
                Some(refresh) => json!({"access": refreshed.access, "refresh": refresh.token}),
                None => json!({"access": refreshed.access}),
            };
            reply::json_ordered(200, &body, &["access", "refresh"])
        }
        Some(cookie) => {
            let mut reply = reply::json(200, &json!({"access": refreshed.access}));
            // Without rotation the cookie already holds the token in force, until its `exp`.
            if let Some(rotated) = refreshed.refresh {
                let max_age = rotated.exp.saturating_sub(app.now_ms() / 1000);
                cookie::set(&mut reply, cookie, &rotated.token, max_age)?;
            }
            reply
        }
    };
    if grace {
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
    Ok(reply::json_bytes(200, Bytes::from_static(b"{}")))
}

/// `POST /api/token/blacklist/`. In cookie mode the token comes from the cookie (the
/// body is not read), and the cookie is cleared whatever became of the token, unless the
/// store failed (then the client may try again).
pub async fn blacklist(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let Some(cookie) = cookie_mode(app, req) else {
        let token = one_string(&req.fields()?, "refresh")?;
        app.tokens
            .blacklist(&token)
            .await
            .map_err(|err| denied(app, err))?;
        return Ok(reply::json(200, &json!({})));
    };
    let cookie = cookie?;
    let result = blacklist_cookie(app, req, cookie).await;
    super::cleared_after(app, "token_blacklist", result.map(|()| json!({})), cookie)
}

/// Blacklists the refresh token of the request's cookie.
pub(super) async fn blacklist_cookie(
    app: &App,
    req: &Request,
    cookie: &RefreshCookie,
) -> Result<(), ApiError> {
    let token = cookie::refresh_token(&req.headers, &cookie.name)?;
    app.tokens
        .blacklist(&token)
        .await
        .map_err(|err| denied(app, err))
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
