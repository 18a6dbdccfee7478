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
    Ok(reply::json_bytes(200, me_body(user.id, &user.username)))
}

/// `{"id":…,"username":…}` in a buffer of exactly its length when the username needs
/// no escaping (the usual case): `Bytes` then takes the buffer over as it is, where a
/// buffer with room to spare costs a second allocation.
fn me_body(id: u64, username: &str) -> Vec<u8> {
    const HEAD: &[u8] = b"{\"id\":";
    const MIDDLE: &[u8] = b",\"username\":\"";
    let digits = id.checked_ilog10().unwrap_or(0) as usize + 1;
    let plain = username
        .bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\');
    let exact = HEAD.len() + digits + MIDDLE.len() + username.len() + 2;
    let mut body = Vec::with_capacity(if plain { exact } else { exact + 32 });
    body.extend_from_slice(HEAD);
    // Writing a number or a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut body, &id);
    body.extend_from_slice(&MIDDLE[..MIDDLE.len() - 1]);
    let _ = serde_json::to_writer(&mut body, username);
    body.push(b'}');
    body
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

#[cfg(test)]
mod tests {
    use super::me_body;

    #[test]
    fn me_body_is_the_json_of_its_two_fields_in_a_buffer_of_its_length() {
        for (id, name) in [
            (0, "bench"),
            (9, "a"),
            (10, "ünïcode"),
            (u64::MAX, "x"),
            (42, ""),
            (7, "quote\"back\\slash"),
            (7, "tab\tnew\nline"),
        ] {
            let body = me_body(id, name);
            let expected =
                serde_json::to_vec(&serde_json::json!({"id": id, "username": name})).unwrap();
            assert_eq!(body, expected, "{id} {name:?}");
            let plain = !name.contains(['"', '\\', '\t', '\n']);
            if plain {
                assert_eq!(body.len(), body.capacity(), "{id} {name:?}");
            }
        }
    }
}
