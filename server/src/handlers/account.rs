//! The endpoints of an authenticated user: who am I, and logout.

use serde_json::json;

use super::{cleared_after, cookie_mode, denied, one_string, tokens::blacklist_cookie};
use crate::{
    app::App,
    http::{
        bearer,
        errors::ApiError,
        reply::{self, Reply},
        Request,
    },
    tokens::Authenticated,
};

/// Simple JWT's `JWTAuthentication`: the user of the request's Bearer access token (and
/// its session, with `session_id_claim`).
pub(super) async fn authenticate(app: &App, req: &Request) -> Result<Authenticated, ApiError> {
    let config = &app.config;
    let token = bearer::token_of(
        &req.headers,
        &config.auth_header_name,
        &config.auth_header_types,
    )?;
    app.tokens
        .authenticate(&token)
        .await
        .map_err(|err| denied(app, err))
}

/// `GET /api/me/`: `{"id":…,"username":…}`, written straight into its buffer (the
/// bytes `reply::json_ordered` writes for the same two fields, without a JSON value).
pub async fn me(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let user = authenticate(app, req).await?.user;
    let mut body = Vec::with_capacity(32 + user.username.len());
    body.extend_from_slice(b"{\"id\":");
    // Writing a number or a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut body, &user.id);
    body.extend_from_slice(b",\"username\":");
    let _ = serde_json::to_writer(&mut body, &user.username);
    body.push(b'}');
    Ok(reply::json_bytes(200, body))
}

/// `POST /api/logout/`: one refresh token, or with `all` every token of the user. In
/// cookie mode the one token comes from the cookie (`refresh_token` in the body is not
/// used), and the cookie is cleared whatever became of the token, unless the store
/// failed; a failed Bearer check or a bad body leaves it, so the client can refresh its
/// access token and log out again.
pub async fn logout(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let cookie = cookie_mode(app, req).transpose()?;
    let user = authenticate(app, req).await?.user;
    let fields = req.fields()?;
    if let Some(cookie) = cookie {
        let result = if fields.truthy("all") {
            app.tokens
                .logout_all(user.id)
                .await
                .map(|_| json!({"status": "OK, goodbye, all refresh tokens blacklisted"}))
                .map_err(|err| denied(app, err))
        } else {
            blacklist_cookie(app, req, cookie)
                .await
                .map(|()| json!({"status": "OK, goodbye"}))
        };
        return cleared_after(app, "logout", result, cookie);
    }
    if fields.truthy("all") {
        app.tokens
            .logout_all(user.id)
            .await
            .map_err(|err| denied(app, err))?;
        let body = json!({"status": "OK, goodbye, all refresh tokens blacklisted"});
        return Ok(reply::json(200, &body));
    }
    let token = one_string(&fields, "refresh_token")?;
    app.tokens
        .logout(&token)
        .await
        .map_err(|err| denied(app, err))?;
    Ok(reply::json(200, &json!({"status": "OK, goodbye"})))
}
