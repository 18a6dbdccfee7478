//! `/api/admin/`: the staff console's API (issue #18), JSON with Bearer access tokens.
//!
//! Active staff (`is_staff`) may read; only superusers (`is_superuser`) may change
//! anything, as Django's admin lets a superuser do everything and staff only what they
//! are given. Anyone else gets 403 `permission_denied` and no data, whatever the path.
//! Every change runs as the admin command the command line runs
//! ([`crate::commands::execute`]: the same checks, the same store calls, the same audit
//! entry, durable before the answer), and every listing shows records through the same
//! functions as the command line's `--json` (`user_json`, `session_json`, ...), so the
//! two cannot disagree. Inputs are bounded and checked, each refusal with a stable code.

use std::sync::{atomic::Ordering, Arc};

use serde_json::{json, Map, Value};

use super::account::authenticate;
use crate::{
    app::App,
    clock::iso8601,
    commands::{
        execute, key_json, session_json, token_json, user_json, Actor, AdminCommand, CliError,
        Context, Input, KeysCommand, SessionsCommand, TokensCommand, UsersCommand,
    },
    http::{
        errors::ApiError,
        reply::{self, Reply},
        Request,
    },
    store::{AuditEntry, User, MAX_AUDIT_PAGE},
};

/// Default and largest page of a listing.
pub const PAGE: usize = 50;
pub const MAX_PAGE: usize = 200;
/// Largest offset into a listing.
const MAX_OFFSET: usize = 1_000_000_000;
/// Longest search text, password, email, and most attributes in one request.
const MAX_SEARCH: usize = 150;
const MAX_PASSWORD: usize = 1024;
const MAX_EMAIL: usize = 254;
const MAX_ATTRS: usize = 32;
/// Longest attribute value, as JSON.
const MAX_ATTR_VALUE: usize = 1024;
/// Most query parameters one request may carry.
const MAX_PARAMS: usize = 16;

const GET: &str = "GET, HEAD, OPTIONS";
const POST: &str = "POST, OPTIONS";
const GET_POST: &str = "GET, HEAD, POST, OPTIONS";
const DELETE: &str = "DELETE, OPTIONS";

/// Every error code the admin API answers with beyond the rest of the API's (its own
/// input checks, and the admin commands' failures it passes on): for the OpenAPI
/// document's `ErrorCode` list.
pub const CODES: &[&str] = &[
    "permission_denied",
    "superuser_required",
    "query_too_large",
    "query_unknown",
    "query_repeated",
    "query_invalid",
    "limit_invalid",
    "offset_invalid",
    "q_invalid",
    "user_invalid",
    "state_invalid",
    "expires_invalid",
    "before_invalid",
    "body_not_object",
    "json_invalid",
    "field_required",
    "field_invalid",
    "field_unknown",
    "username_invalid",
    "email_required",
    "attr_invalid",
    "password_blank",
    "user_exists",
    "token_not_found",
    "key_algorithm_not_allowed",
    "key_unknown",
    "key_next_missing",
    "key_next_too_recent",
    "key_rotation_raced",
    "key_set_full",
    "key_rule",
    "key_encryption_key_missing",
    "key_unsealable",
    "key_generate_failed",
    "key_set_unusable",
    "audit_failed",
    "admin_failed",
    "store_io",
    "store_locked",
    "store_connect",
    "store_corrupt",
    "store_decode",
    "store_incompatible",
];

/// A 400 (or other) refusal with its stable code.
fn refuse(status: u16, code: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::Admin {
        status,
        code,
        detail: detail.into(),
    }
}

fn bad(code: &'static str, detail: impl Into<String>) -> ApiError {
    refuse(400, code, detail)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Delete,
}

/// The path's segments after `/api/admin/` (it ends with `/`), or `None`.
fn segments(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix("/api/admin/")?.strip_suffix('/')?;
    Some(rest.split('/').collect())
}

/// The `Allow` of an admin path, `None` when it is not an endpoint: the one table of
/// the admin API's endpoints and their methods (the OpenAPI part `admin` lists the same).
pub fn allow(path: &str) -> Option<&'static str> {
    let parts = segments(path)?;
    Some(match parts.as_slice() {
        ["users"] | ["keys"] => GET_POST,
        ["users", _] | ["users", _, "sessions"] | ["tokens"] | ["figures"] | ["audit"] => GET,
        ["users", _, "deactivate" | "password" | "attrs" | "logout-all"]
        | ["tokens", _, "blacklist"]
        | ["tokens", "flush-expired"]
        | ["keys", "rotate"]
        | ["keys", _, "revoke"] => POST,
        ["sessions", _] => DELETE,
        _ => return None,
    })
}

/// Answers every request under `/api/admin/`: the caller first (401, then 403 for
/// anyone but active staff, whatever the path), then the path (404) and the method (405
/// with `Allow`), then a superuser for any change.
pub async fn respond(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let caller = authenticate(app, req).await?.user;
    // Django's admin: active staff only (also where `check_user_is_active` is off).
    if !(caller.is_staff && caller.is_active) {
        return Err(ApiError::AdminForbidden);
    }
    let (Some(allow), Some(parts)) = (allow(req.path()), segments(req.path())) else {
        return Err(ApiError::NotFound);
    };
    let method = match req.method {
        http::Method::GET | http::Method::HEAD if allow.starts_with("GET") => Method::Get,
        http::Method::POST if allow.contains("POST") => Method::Post,
        http::Method::DELETE if allow == DELETE => Method::Delete,
        _ => {
            return Err(ApiError::MethodNotAllowed {
                method: req.method.as_str().to_string(),
                allow,
            })
        }
    };
    if method != Method::Get {
        superuser(&caller)?;
    }
    match (method, parts.as_slice()) {
        (Method::Get, ["users"]) => users(app, req).await,
        (Method::Post, ["users"]) => create_user(app, &caller, req).await,
        (Method::Get, ["users", id]) => {
            query(req, &[])?;
            let user = user_by_id(app, id).await?;
            Ok(reply::json(200, &user_json(&user)))
        }
        (Method::Get, ["users", id, "sessions"]) => {
            query(req, &[])?;
            let user = user_by_id(app, id).await?;
            let now = app.now_ms() / 1000;
            let sessions = app.store.sessions(user.id, now).await?;
            let results: Vec<Value> = sessions.iter().map(session_json).collect();
            Ok(reply::json(
                200,
                &json!({"count": results.len(), "results": results}),
            ))
        }
        (Method::Post, ["users", id, action]) => {
            let user = user_by_id(app, id).await?;
            change_user(app, &caller, req, user, action).await
        }
        (Method::Delete, ["sessions", id]) => {
            let cmd = SessionsCommand::Revoke { id: (*id).into() };
            let detail = run(app, &caller, AdminCommand::Sessions(cmd), Input::default()).await?;
            Ok(reply::json(200, &json!({"detail": detail})))
        }
        (Method::Get, ["tokens"]) => tokens(app, req).await,
        (Method::Post, ["tokens", "flush-expired"]) => {
            no_more_fields(&json_body(req)?)?;
            let cmd = AdminCommand::Tokens(TokensCommand::FlushExpired);
            let detail = run(app, &caller, cmd, Input::default()).await?;
            Ok(reply::json(200, &json!({"detail": detail})))
        }
        (Method::Post, ["tokens", jti, "blacklist"]) => {
            no_more_fields(&json_body(req)?)?;
            let cmd = TokensCommand::Revoke { jti: (*jti).into() };
            let detail = run(app, &caller, AdminCommand::Tokens(cmd), Input::default()).await?;
            Ok(reply::json(200, &json!({"detail": detail})))
        }
        (Method::Get, ["keys"]) => {
            query(req, &[])?;
            keys(app).await
        }
        (Method::Post, ["keys"]) => {
            let mut body = json_body(req)?;
            let algorithm = optional_string(&mut body, "algorithm", 16)?;
            no_more_fields(&body)?;
            keys_changed(app, &caller, KeysCommand::Add { algorithm }).await
        }
        (Method::Post, ["keys", "rotate"]) => {
            let mut body = json_body(req)?;
            let now = optional_bool(&mut body, "now")?.unwrap_or(false);
            no_more_fields(&body)?;
            keys_changed(app, &caller, KeysCommand::Rotate { now }).await
        }
        (Method::Post, ["keys", kid, "revoke"]) => {
            no_more_fields(&json_body(req)?)?;
            let cmd = KeysCommand::Revoke { kid: (*kid).into() };
            keys_changed(app, &caller, cmd).await
        }
        (Method::Get, ["figures"]) => {
            query(req, &[])?;
            Ok(reply::json(200, &figures(app)))
        }
        (Method::Get, ["audit"]) => audit(app, req).await,
        // `allow` and this match list the same endpoints (the tests call each).
        _ => Err(ApiError::NotFound),
    }
}

fn superuser(caller: &User) -> Result<(), ApiError> {
    if caller.is_superuser {
        Ok(())
    } else {
        Err(ApiError::SuperuserRequired)
    }
}

/// Runs an admin command as `caller`, off the async workers (commands hash passwords),
/// and returns what the command line would print (trimmed).
async fn run(
    app: &App,
    caller: &User,
    cmd: AdminCommand,
    input: Input,
) -> Result<String, ApiError> {
    let ctx = Context {
        config: (*app.config).clone(),
        store: app.store.clone(),
        clock: app.clock(),
        actor: Actor {
            name: caller.username.clone(),
            via: "api",
        },
        keys: Some(Arc::clone(app.tokens.keys())),
    };
    let runtime = tokio::runtime::Handle::current();
    let result = tokio::task::spawn_blocking(move || runtime.block_on(execute(&ctx, cmd, &input)))
        .await
        .unwrap_or_else(|_| {
            Err(CliError {
                code: "admin_failed".into(),
                message: "the command stopped unexpectedly".into(),
            })
        });
    match result {
        Ok(out) => Ok(out.trim_end().to_string()),
        Err(err) => Err(command_error(err)),
    }
}

/// A failed command's answer: its code, with the status its kind of failure has.
fn command_error(err: CliError) -> ApiError {
    let code: &'static str = match err.code {
        std::borrow::Cow::Borrowed(code) => code,
        std::borrow::Cow::Owned(_) => "admin_failed",
    };
    let status = match code {
        "user_not_found" | "session_not_found" | "token_not_found" | "key_unknown" => 404,
        // The configuration has no key-encryption key: the message says which setting.
        "user_exists" | "key_rotation_raced" | "key_encryption_key_missing" => 409,
        "store_io" | "store_locked" | "store_connect" | "audit_failed" | "admin_failed" => 503,
        "store_corrupt"
        | "store_decode"
        | "key_set_unusable"
        | "key_unsealable"
        | "key_generate_failed"
        | "store_incompatible" => 500,
        _ => 400,
    };
    let detail = if status >= 500 {
        // The store's own words stay in the log.
        tracing::error!(code, error = %err.message, "an admin command failed");
        "The server could not do this now; nothing was acknowledged.".to_string()
    } else {
        err.message
    };
    refuse(status, code, detail)
}

/// The user a path segment names (a decimal id), or 404 `user_not_found`.
async fn user_by_id(app: &App, id: &str) -> Result<User, ApiError> {
    let not_found = || refuse(404, "user_not_found", format!("no user with id {id:?}"));
    let id: u64 = parse_decimal(id).ok_or_else(not_found)?;
    app.store.user(id).await?.ok_or_else(not_found)
}

/// A decimal `u64` written as such (no sign, no leading zeros but "0", at most 20 digits).
fn parse_decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.len() <= 20
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

// ---- query strings ----

/// The query's parameters, each at most once and each one of `known` (400 otherwise).
fn query(req: &Request, known: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let mut params = Map::new();
    if req.query().is_empty() {
        return Ok(params);
    }
    if req.query().len() > 2048 || req.query().split('&').count() > MAX_PARAMS {
        return Err(bad("query_too_large", "The query string is too long."));
    }
    for pair in req.query().split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (unquote(name)?, unquote(value)?);
        if !known.contains(&name.as_str()) {
            return Err(bad(
                "query_unknown",
                format!(
                    "Unknown query parameter {name:?} (known: {}).",
                    known.join(", ")
                ),
            ));
        }
        if params.insert(name.clone(), Value::String(value)).is_some() {
            return Err(bad(
                "query_repeated",
                format!("Query parameter {name:?} given twice."),
            ));
        }
    }
    Ok(params)
}

/// Percent-decoding (and `+` as space) into UTF-8, or 400 `query_invalid`.
fn unquote(text: &str) -> Result<String, ApiError> {
    let invalid = || {
        bad(
            "query_invalid",
            "The query string is not valid UTF-8 percent-encoding.",
        )
    };
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = |b: Option<&u8>| b.and_then(|&b| char::from(b).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) else {
                    return Err(invalid());
                };
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| invalid())
}

fn param<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    params.get(name).and_then(Value::as_str)
}

/// A number parameter within `0..=max`, or 400 `<code>`.
fn number(
    params: &Map<String, Value>,
    name: &str,
    code: &'static str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, ApiError> {
    let Some(text) = param(params, name) else {
        return Ok(None);
    };
    match parse_decimal(text) {
        Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(bad(
            code,
            format!("{name} must be a whole number from {min} to {max}."),
        )),
    }
}

/// `limit` and `offset` of a listing.
fn page(params: &Map<String, Value>, max: usize) -> Result<(usize, usize), ApiError> {
    let limit =
        number(params, "limit", "limit_invalid", 1, max as u64)?.map_or(PAGE, |n| n as usize);
    let offset =
        number(params, "offset", "offset_invalid", 0, MAX_OFFSET as u64)?.map_or(0, |n| n as usize);
    Ok((limit, offset))
}

/// One page of `items`: `{"count", "limit", "offset", "results"}`.
fn paged(items: Vec<Value>, limit: usize, offset: usize) -> Value {
    let count = items.len();
    let results: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    json!({"count": count, "limit": limit, "offset": offset, "results": results})
}

// ---- JSON bodies ----

/// The request's body: a JSON object (an empty body is `{}`), or 415/400.
fn json_body(req: &Request) -> Result<Map<String, Value>, ApiError> {
    let body = req.body.as_ref().map_err(|err| ApiError::from(*err))?;
    if body.is_empty() {
        return Ok(Map::new());
    }
    let content_type = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(refuse(
            415,
            "unsupported_media_type",
            "The admin API takes application/json bodies.",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad("body_not_object", "The body must be a JSON object.")),
        Err(_) => Err(bad("json_invalid", "The body is not valid JSON.")),
    }
}

fn field_error(name: &str, what: &str) -> ApiError {
    ApiError::Admin {
        status: 400,
        code: "field_invalid",
        detail: format!("{name}: {what}."),
    }
}

/// A string field of at most `max` characters (absent or null: `None`).
fn optional_string(
    body: &mut Map<String, Value>,
    name: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match body.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max && !s.chars().any(char::is_control) => {
            Ok(Some(s))
        }
        Some(Value::String(_)) => Err(field_error(
            name,
            &format!("at most {max} characters, no control characters"),
        )),
        Some(_) => Err(field_error(name, "must be a string")),
    }
}

fn required_string(
    body: &mut Map<String, Value>,
    name: &str,
    max: usize,
) -> Result<String, ApiError> {
    match optional_string(body, name, max)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(bad(
            "field_required",
            format!("{name}: this field is required and may not be blank."),
        )),
    }
}

fn optional_bool(body: &mut Map<String, Value>, name: &str) -> Result<Option<bool>, ApiError> {
    match body.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(_) => Err(field_error(name, "must be true or false")),
    }
}

/// Refuses fields nobody read (a typo must not pass silently).
fn no_more_fields(body: &Map<String, Value>) -> Result<(), ApiError> {
    match body.keys().next() {
        None => Ok(()),
        Some(name) => Err(bad("field_unknown", format!("{name}: unknown field."))),
    }
}

/// `{"attrs": {"key": value or null}}` as the command line's `KEY=VALUE` arguments
/// (null, or an empty string, removes the key; the command checks the names).
fn attr_args(body: &mut Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let attrs = match body.remove("attrs") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(field_error("attrs", "must be an object")),
    };
    if attrs.len() > MAX_ATTRS {
        return Err(field_error("attrs", &format!("at most {MAX_ATTRS} keys")));
    }
    attrs
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                Value::Null => String::new(),
                Value::String(s) if s.is_empty() => String::new(),
                other => other.to_string(),
            };
            if text.len() > MAX_ATTR_VALUE {
                return Err(field_error(
                    "attrs",
                    &format!("{key:?}: values are at most {MAX_ATTR_VALUE} bytes of JSON"),
                ));
            }
            Ok(format!("{key}={text}"))
        })
        .collect()
}

// ---- users ----

/// `GET /api/admin/users/?q=&username=&limit=&offset=`: by id; `q` matches usernames and
/// emails (case-insensitive, anywhere in them); `username` is one username exactly (as
/// the command line names users).
async fn users(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let params = query(req, &["q", "username", "limit", "offset"])?;
    let (limit, offset) = page(&params, MAX_PAGE)?;
    if let Some(name) = param(&params, "username") {
        if name.chars().count() > MAX_SEARCH {
            return Err(bad("username_invalid", "username: at most 150 characters."));
        }
        let found = app.store.user_by_username(name).await?;
        let items = found.iter().map(user_json).collect();
        return Ok(reply::json(200, &paged(items, limit, offset)));
    }
    let q = param(&params, "q").unwrap_or("").trim().to_lowercase();
    if q.chars().count() > MAX_SEARCH {
        return Err(bad(
            "q_invalid",
            format!("q: at most {MAX_SEARCH} characters."),
        ));
    }
    let users = app.store.users().await?;
    let found: Vec<Value> = users
        .iter()
        .filter(|u| {
            q.is_empty()
                || u.username.to_lowercase().contains(&q)
                || u.email.to_lowercase().contains(&q)
        })
        .map(user_json)
        .collect();
    Ok(reply::json(200, &paged(found, limit, offset)))
}

/// `POST /api/admin/users/`: `{"username", "password", "email"?, "is_staff"?,
/// "is_superuser"?, "is_active"?, "attrs"?}` as `tollgate users add`; 201 with the user.
async fn create_user(app: &App, caller: &User, req: &Request) -> Result<Reply, ApiError> {
    let mut body = json_body(req)?;
    let username = required_string(&mut body, "username", 150)?;
    let password = required_string(&mut body, "password", MAX_PASSWORD)?;
    let email = optional_string(&mut body, "email", MAX_EMAIL)?.filter(|e| !e.is_empty());
    if email.as_deref().is_some_and(|e| !e.contains('@')) {
        return Err(field_error("email", "not an email address"));
    }
    let staff = optional_bool(&mut body, "is_staff")?.unwrap_or(false);
    let superuser = optional_bool(&mut body, "is_superuser")?.unwrap_or(false);
    let active = optional_bool(&mut body, "is_active")?.unwrap_or(true);
    let attrs = attr_args(&mut body)?;
    no_more_fields(&body)?;
    let cmd = UsersCommand::Add {
        username: username.clone(),
        email,
        staff,
        superuser,
        inactive: !active,
        attrs,
        password_stdin: false,
    };
    let input = Input {
        password: Some(password),
        file: None,
    };
    let detail = run(app, caller, AdminCommand::Users(cmd), input).await?;
    let user = app
        .store
        .user_by_username(username.trim())
        .await?
        .ok_or_else(|| refuse(404, "user_not_found", "the new user is gone already"))?;
    let mut body = user_json(&user);
    body["detail"] = Value::String(detail);
    Ok(reply::json(201, &body))
}

/// `POST /api/admin/users/<id>/{deactivate,password,attrs,logout-all}/`; 200 with the
/// user as it is now and the command's words.
async fn change_user(
    app: &App,
    caller: &User,
    req: &Request,
    user: User,
    action: &str,
) -> Result<Reply, ApiError> {
    let mut body = json_body(req)?;
    let username = user.username.clone();
    let mut input = Input::default();
    let cmd = match action {
        "deactivate" => AdminCommand::Users(UsersCommand::Deactivate { username }),
        "password" => {
            input.password = Some(required_string(&mut body, "password", MAX_PASSWORD)?);
            AdminCommand::Users(UsersCommand::SetPassword {
                username,
                password_stdin: false,
            })
        }
        "attrs" => {
            let attrs = attr_args(&mut body)?;
            if attrs.is_empty() {
                return Err(bad("field_required", "attrs: give at least one key."));
            }
            AdminCommand::Users(UsersCommand::SetAttr { username, attrs })
        }
        _ => AdminCommand::Tokens(TokensCommand::Blacklist { user: username }),
    };
    no_more_fields(&body)?;
    let detail = run(app, caller, cmd, input).await?;
    let now = app.store.user(user.id).await?.unwrap_or(user);
    let mut body = user_json(&now);
    body["detail"] = Value::String(detail);
    Ok(reply::json(200, &body))
}

// ---- tokens ----

/// `GET /api/admin/tokens/?user=&state=&expires_after=&expires_before=&limit=&offset=`:
/// refresh and sliding tokens, newest first; `state` is `outstanding` (not blacklisted)
/// or `blacklisted`; the expiry bounds are Unix seconds (after: `>`, before: `<=`).
async fn tokens(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let params = query(
        req,
        &[
            "user",
            "state",
            "expires_after",
            "expires_before",
            "limit",
            "offset",
        ],
    )?;
    let (limit, offset) = page(&params, MAX_PAGE)?;
    let user = match param(&params, "user") {
        None | Some("") => None,
        Some(id) => Some(parse_decimal(id).ok_or_else(|| bad("user_invalid", "user: a user id."))?),
    };
    let state = match param(&params, "state") {
        None | Some("" | "all") => None,
        Some("outstanding") => Some(false),
        Some("blacklisted") => Some(true),
        Some(_) => {
            return Err(bad(
                "state_invalid",
                "state: one of all, outstanding, blacklisted.",
            ))
        }
    };
    let after = number(
        &params,
        "expires_after",
        "expires_invalid",
        0,
        i64::MAX as u64,
    )?;
    let before = number(
        &params,
        "expires_before",
        "expires_invalid",
        0,
        i64::MAX as u64,
    )?;
    let mut found = app.store.tokens(user).await?;
    found.retain(|(record, blacklisted)| {
        state.is_none_or(|b| b == blacklisted.is_some())
            && after.is_none_or(|t| record.expires_at > t)
            && before.is_none_or(|t| record.expires_at <= t)
    });
    found.sort_by(|a, b| (b.0.created_at_ms, &b.0.jti).cmp(&(a.0.created_at_ms, &a.0.jti)));
    let now = app.now_ms() / 1000;
    let items = found
        .iter()
        .map(|(record, blacklisted)| {
            let mut value = token_json(record, blacklisted.as_ref());
            value["state"] = json!(if blacklisted.is_some() {
                "blacklisted"
            } else {
                "outstanding"
            });
            value["expired"] = json!(record.expires_at <= now);
            value["expires"] = json!(iso8601(record.expires_at.saturating_mul(1000)));
            value
        })
        .collect();
    Ok(reply::json(200, &paged(items, limit, offset)))
}

// ---- keys ----

async fn keys(app: &App) -> Result<Reply, ApiError> {
    let keys = app.store.signing_keys().await?;
    let results: Vec<Value> = keys.iter().map(key_json).collect();
    Ok(reply::json(
        200,
        &json!({"count": results.len(), "configured_algorithm": app.config.tokens.algorithm().to_string(), "results": results}),
    ))
}

/// A keys command, answered with its words and the key set as it is now.
async fn keys_changed(app: &App, caller: &User, cmd: KeysCommand) -> Result<Reply, ApiError> {
    let detail = run(app, caller, AdminCommand::Keys(cmd), Input::default()).await?;
    let keys = app.store.signing_keys().await?;
    let results: Vec<Value> = keys.iter().map(key_json).collect();
    Ok(reply::json(
        200,
        &json!({"detail": detail, "results": results}),
    ))
}

// ---- figures and the audit trail ----

/// The counters of `/metrics` a console shows: since this process started.
fn figures(app: &App) -> Value {
    let m = &app.metrics;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let counts = app.store.counts();
    let now = app.now_ms();
    json!({
        "at": iso8601(now),
        "at_ms": now,
        "logins": {"ok": load(&m.logins_ok), "failed": load(&m.logins_failed), "throttled": load(&m.logins_throttled)},
        "refreshes": {"ok": load(&m.refreshes_ok), "failed": load(&m.refreshes_failed)},
        "replays_detected": load(&m.reuse_detections),
        "reuse_grace": load(&m.reuse_grace),
        "store": {"users": counts.users, "outstanding": counts.outstanding, "blacklisted": counts.blacklisted},
    })
}

fn audit_json(entry: &AuditEntry) -> Value {
    json!({
        "id": entry.id,
        "at": iso8601(entry.at_ms),
        "at_ms": entry.at_ms,
        "actor": entry.actor,
        "via": entry.via,
        "action": entry.action,
        "target": entry.target,
        "outcome": entry.outcome,
    })
}

/// `GET /api/admin/audit/?before=&limit=`: newest first; `next_before` pages on.
async fn audit(app: &App, req: &Request) -> Result<Reply, ApiError> {
    let params = query(req, &["before", "limit"])?;
    let limit = number(&params, "limit", "limit_invalid", 1, MAX_AUDIT_PAGE as u64)?
        .map_or(PAGE, |n| n as usize);
    let before = number(&params, "before", "before_invalid", 1, i64::MAX as u64)?;
    let entries = app.store.audit(before, limit).await?;
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let results: Vec<Value> = entries.iter().map(audit_json).collect();
    Ok(reply::json(
        200,
        &json!({"results": results, "next_before": next}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_canonical() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("42"), Some(42));
        for text in ["", "-1", "+1", "01", "1e3", " 1", "99999999999999999999999"] {
            assert_eq!(parse_decimal(text), None, "{text:?}");
        }
    }

    #[test]
    fn query_text_is_percent_decoded_utf8() {
        assert_eq!(unquote("a+b%20c%C3%A9").unwrap(), "a b cé");
        for text in ["%", "%2", "%zz", "%ff"] {
            assert_eq!(
                unquote(text).unwrap_err().code(),
                "query_invalid",
                "{text:?}"
            );
        }
    }
}
