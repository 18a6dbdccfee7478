//! The caller's sessions (token families, one per login): list them, end one, end all
//! but the caller's.

use serde_json::{json, Value};

use super::{account::authenticate, cookie_mode, denied, one_string};
use crate::{
    app::App,
    clock::iso8601,
    http::{
        cookie,
        errors::ApiError,
        reply::{self, Reply},
        route::session_id,
        Request,
    },
    store::{Seen, Session},
};

/// `GET /api/sessions/`: the caller's live sessions, newest login first; `current` is
/// whether it is the one of the request's access token (`null` when the server cannot
/// tell: without `session_id_claim`, access tokens do not name their session).
pub async fn list(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let caller = authenticate(app, req).await?;
    let sessions = app
        .tokens
        .sessions(caller.user.id)
        .await
        .map_err(|err| denied(app, err))?;
    let knows_current = app.config.session_id_claim.is_some();
    let body: Vec<Value> = sessions
        .iter()
        .map(|session| {
            let current =
                knows_current.then(|| caller.session.as_deref() == Some(session.id.as_str()));
            session_json(session, current)
        })
        .collect();
    Ok(reply::json(200, &Value::Array(body)))
}

fn session_json(session: &Session, current: Option<bool>) -> Value {
    let family = &session.family;
    let seen = |seen: &Option<Seen>| {
        seen.as_ref()
            .map(|s| json!({"user_agent": s.user_agent, "ip": s.ip}))
    };
    json!({
        "id": session.id,
        "created_at": iso8601(family.created_at_ms),
        "last_refreshed_at": family.last_refresh.as_ref().map(|s| iso8601(s.at_ms)),
        "expires_at": iso8601(family.expires_at.saturating_mul(1000)),
        "login": seen(&family.login),
        "last_refresh": seen(&family.last_refresh),
        "current": current,
    })
}

/// `DELETE /api/sessions/<id>/`: ends one of the caller's sessions (204); an id that
/// is not one of them is 404, whoever's it is.
pub async fn revoke(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let caller = authenticate(app, req).await?;
    let id = session_id(req.path()).ok_or(ApiError::SessionNotFound)?;
    app.tokens
        .revoke_session(caller.user.id, id)
        .await
        .map_err(|err| denied(app, err))?;
    Ok(reply::empty(204))
}

/// `POST /api/sessions/revoke-others/`: ends every session of the caller but the
/// caller's own, named by the access token (`session_id_claim`) or by the caller's
/// refresh token (`refresh` in the body; the cookie in cookie mode); `{"revoked": n}`.
pub async fn revoke_others(app: &App, req: &Request) -> Result<Reply, ApiError> {
    // The refresh cookie is sent here too (`http::cookie::COOKIE_PATHS`): checked
    // against cross-site requests first, as on logout.
    let cookie = cookie_mode(app, req).transpose()?;
    let caller = authenticate(app, req).await?;
    let keep = match caller.session {
        Some(id) => id,
        None => {
            let refresh = match cookie {
                Some(cookie) => cookie::refresh_token(&req.headers, &cookie.name)
                    .map_err(|_| ApiError::SessionUnknown)?,
                None => {
                    let fields = req.fields()?;
                    if !fields.truthy("refresh") {
                        return Err(ApiError::SessionUnknown);
                    }
                    one_string(&fields, "refresh")?
                }
            };
            app.tokens
                .session_of(caller.user.id, &refresh)
                .await
                .map_err(|err| denied(app, err))?
        }
    };
    let revoked = app
        .tokens
        .revoke_other_sessions(caller.user.id, &keep)
        .await
        .map_err(|err| denied(app, err))?;
    Ok(reply::json(200, &json!({"revoked": revoked})))
}
