//! Every error the HTTP API can answer with, and the one table that maps each to its
//! status, exact JSON body and headers (Simple JWT's and DRF's, to the letter).

use serde_json::{json, Value};

use crate::{
    http::drf::Reject,
    store::StoreError,
    tokens::{ClassErrors, Denied},
    users::{throttle::throttled_body, LoginDenied},
};

/// The header naming what a rotated-out refresh token presented again got: `grace`
/// (the same successor, within the reuse interval) or `replay` (its family revoked).
pub const REUSE_HEADER: &str = "tollgate-refresh-reuse";

/// An API error. `Reply::from(ApiError)` is the only place bodies are written.
#[derive(Debug)]
#[non_exhaustive]
pub enum ApiError {
    /// A token failed verification: 401 `token_not_valid` with the core's message.
    Token(tollgate_core::Error),
    /// A rotated-out refresh token replayed (its family revoked): to the client a
    /// blacklisted token, named in `Tollgate-Refresh-Reuse: replay`.
    Replayed,
    /// Obtain with wrong credentials, unknown or inactive user.
    NoActiveAccount,
    /// Refresh for an inactive or deleted user.
    NoActiveAccountForToken,
    /// Verify of a blacklisted token (400, as Simple JWT's verify serializer).
    VerifyBlacklisted,
    /// No usable Authorization header.
    NotAuthenticated,
    /// `Bearer` alone or with more than one value.
    BadAuthorizationHeader,
    /// The Bearer token failed as an access token (as each of `auth_token_classes`).
    AccessToken(ClassErrors),
    /// A valid access token without a user id claim (or a non-canonical one).
    NoUserIdentification,
    UserNotFound,
    UserInactive,
    PasswordChanged,
    /// The access token's session was revoked (with `session_id_claim`).
    SessionRevoked,
    /// `DELETE /api/sessions/<id>/` of an id that is not one of the caller's sessions.
    SessionNotFound,
    /// `revoke-others` without a way to tell the caller's session.
    SessionUnknown,
    /// The request body or fields were refused (status and body from DRF's rules).
    Body(Reject),
    /// Too many login attempts: wait this many seconds.
    Throttled(u64),
    MethodNotAllowed {
        method: String,
        allow: &'static str,
    },
    NotFound,
    /// Body over the 64 KiB limit, refused before parsing.
    PayloadTooLarge,
    /// The body ended (the client closed its side) before its declared length.
    BodyIncomplete,
    /// The body did not arrive within the body timeout.
    BodyTimeout,
    /// Authorization header over 8 KiB, refused before parsing.
    HeaderTooLarge,
    /// Cookie mode: no refresh token cookie (or an empty one).
    RefreshCookieMissing,
    /// Cookie mode: the refresh cookie's value is not RFC 6265 cookie-octets.
    RefreshCookieMalformed,
    /// Cookie mode: several refresh cookies with different values (say, one planted
    /// from a sibling subdomain): refused rather than guessing.
    RefreshCookieAmbiguous,
    /// `Cookie` headers over 8 KiB together, refused before parsing.
    CookieHeaderTooLarge,
    /// Cookie mode: the request failed the CSRF check (why, in words).
    CsrfFailed(&'static str),
    /// The store failed (disk full, I/O): nothing was acknowledged.
    Unavailable(StoreError),
    /// The password hashing pool is gone (shutting down).
    ShuttingDown,
    /// A fault of the server's own data or configuration (never of the request),
    /// with the core's error code.
    Internal(&'static str),
    /// `/api/admin/`: the caller is not active staff (403, no data).
    AdminForbidden,
    /// `/api/admin/`: a change by staff who is not a superuser (403).
    SuperuserRequired,
    /// `/api/admin/`: a refused input or a failed admin command, with its stable code
    /// (400, 404 or 409; 503 when the store failed).
    Admin {
        status: u16,
        code: &'static str,
        detail: String,
    },
}

/// Status, body and extra headers of an error.
#[derive(Debug)]
pub struct ErrorReply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// Stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Token(_) | Self::Replayed => "token_not_valid",
            Self::NoActiveAccount => "no_active_account",
            Self::NoActiveAccountForToken => "no_active_account",
            Self::VerifyBlacklisted => "token_blacklisted",
            Self::NotAuthenticated => "not_authenticated",
            Self::BadAuthorizationHeader => "bad_authorization_header",
            Self::AccessToken(_) => "token_not_valid",
            Self::NoUserIdentification => "token_not_valid",
            Self::UserNotFound => "user_not_found",
            Self::UserInactive => "user_inactive",
            Self::PasswordChanged => "password_changed",
            Self::SessionRevoked => "session_revoked",
            Self::SessionNotFound => "session_not_found",
            Self::SessionUnknown => "session_unknown",
            Self::Body(reject) if reject.status == 415 => "unsupported_media_type",
            Self::Body(_) => "invalid",
            Self::Throttled(_) => "throttled",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::NotFound => "not_found",
            Self::PayloadTooLarge => "payload_too_large",
            Self::BodyIncomplete => "body_incomplete",
            Self::BodyTimeout => "request_timeout",
            Self::HeaderTooLarge => "header_too_large",
            Self::RefreshCookieMissing => "refresh_cookie_missing",
            Self::RefreshCookieMalformed => "refresh_cookie_malformed",
            Self::RefreshCookieAmbiguous => "refresh_cookie_ambiguous",
            Self::CookieHeaderTooLarge => "cookie_header_too_large",
            Self::CsrfFailed(_) => "csrf_failed",
            Self::Unavailable(_) => "store_unavailable",
            Self::ShuttingDown => "shutting_down",
            Self::Internal(code) => code,
            Self::AdminForbidden => "permission_denied",
            Self::SuperuserRequired => "superuser_required",
            Self::Admin { code, .. } => code,
        }
    }

    /// The status of the reply.
    pub fn status(&self) -> u16 {
        self.reply("").status
    }

    /// The reply. `realm_header` is the `WWW-Authenticate` value every 401 carries.
    pub fn reply(&self, realm_header: &str) -> ErrorReply {
        let (status, body) = match self {
            Self::Token(err) => (
                401,
                json!({"detail": err.to_string(), "code": "token_not_valid"}),
            ),
            Self::Replayed => (
                401,
                json!({"detail": tollgate_core::Error::Blacklisted.to_string(), "code": "token_not_valid"}),
            ),
            Self::NoActiveAccount => (
                401,
                json!({"detail": "No active account found with the given credentials"}),
            ),
            Self::NoActiveAccountForToken => (
                401,
                json!({"detail": "No active account found for the given token."}),
            ),
            Self::VerifyBlacklisted => (400, json!({"non_field_errors": ["Token is blacklisted"]})),
            Self::NotAuthenticated => (
                401,
                json!({"detail": "Authentication credentials were not provided."}),
            ),
            Self::BadAuthorizationHeader => (
                401,
                json!({
                    "detail": "Authorization header must contain two space-delimited values",
                    "code": "bad_authorization_header"
                }),
            ),
            Self::AccessToken(errors) => {
                let messages: Vec<Value> = errors
                    .iter()
                    .map(|(kind, err)| {
                        let class = match kind {
                            tollgate_core::TokenKind::Access => "AccessToken",
                            tollgate_core::TokenKind::Refresh => "RefreshToken",
                            tollgate_core::TokenKind::Sliding => "SlidingToken",
                        };
                        json!({"token_class": class, "token_type": kind.name(), "message": err.to_string()})
                    })
                    .collect();
                (
                    401,
                    json!({
                        "detail": "Given token not valid for any token type",
                        "code": "token_not_valid",
                        "messages": messages
                    }),
                )
            }
            Self::NoUserIdentification => (
                401,
                json!({
                    "detail": "Token contained no recognizable user identification",
                    "code": "token_not_valid"
                }),
            ),
            Self::UserNotFound => (
                401,
                json!({"detail": "User not found", "code": "user_not_found"}),
            ),
            Self::UserInactive => (
                401,
                json!({"detail": "User is inactive", "code": "user_inactive"}),
            ),
            Self::PasswordChanged => (
                401,
                json!({"detail": "The user's password has been changed.", "code": "password_changed"}),
            ),
            Self::SessionRevoked => (
                401,
                json!({"detail": "The session of this token was revoked.", "code": "session_revoked"}),
            ),
            Self::SessionNotFound => (
                404,
                json!({"detail": "Not found.", "code": "session_not_found"}),
            ),
            Self::SessionUnknown => (
                400,
                json!({
                    "detail": "Which session is yours cannot be told: send your refresh token as \"refresh\" (or turn on session_id_claim).",
                    "code": "session_unknown"
                }),
            ),
            Self::Body(reject) => (reject.status, reject.body.clone()),
            Self::Throttled(wait) => (429, throttled_body(*wait)),
            Self::MethodNotAllowed { method, .. } => (
                405,
                json!({"detail": format!("Method \"{method}\" not allowed.")}),
            ),
            Self::NotFound => (404, json!({"detail": "Not found."})),
            Self::PayloadTooLarge => (
                413,
                json!({"detail": "Request body is larger than 64 KiB.", "code": "payload_too_large"}),
            ),
            Self::BodyIncomplete => (
                400,
                json!({"detail": "The request body ended before its declared length.", "code": "body_incomplete"}),
            ),
            Self::BodyTimeout => (
                408,
                json!({"detail": "The request body did not arrive in time.", "code": "request_timeout"}),
            ),
            Self::HeaderTooLarge => (
                431,
                json!({"detail": "Authorization header is larger than 8 KiB.", "code": "header_too_large"}),
            ),
            Self::RefreshCookieMissing => (
                401,
                json!({"detail": "No refresh token cookie was sent.", "code": "refresh_cookie_missing"}),
            ),
            Self::RefreshCookieMalformed => (
                400,
                json!({"detail": "The refresh token cookie is malformed.", "code": "refresh_cookie_malformed"}),
            ),
            Self::RefreshCookieAmbiguous => (
                400,
                json!({"detail": "Several refresh token cookies with different values were sent.", "code": "refresh_cookie_ambiguous"}),
            ),
            Self::CookieHeaderTooLarge => (
                431,
                json!({"detail": "Cookie header is larger than 8 KiB.", "code": "cookie_header_too_large"}),
            ),
            Self::CsrfFailed(reason) => (
                403,
                json!({"detail": format!("CSRF check failed: {reason}."), "code": "csrf_failed"}),
            ),
            Self::Unavailable(_) => (
                503,
                json!({"detail": "Service temporarily unavailable, try again later.", "code": "store_unavailable"}),
            ),
            Self::ShuttingDown => (
                503,
                json!({"detail": "Service temporarily unavailable, try again later.", "code": "shutting_down"}),
            ),
            Self::Internal(code) => (
                500,
                json!({"detail": "A server error occurred.", "code": code}),
            ),
            Self::AdminForbidden => (
                403,
                json!({"detail": "You do not have permission to perform this action.", "code": "permission_denied"}),
            ),
            Self::SuperuserRequired => (
                403,
                json!({"detail": "Only a superuser may do this.", "code": "superuser_required"}),
            ),
            Self::Admin {
                status,
                code,
                detail,
            } => (*status, json!({"detail": detail, "code": code})),
        };
        let mut headers = Vec::new();
        if status == 401 {
            headers.push(("www-authenticate", realm_header.to_string()));
        }
        match self {
            Self::Throttled(wait) => headers.push(("retry-after", wait.to_string())),
            Self::Admin { status: 503, .. } => headers.push(("retry-after", "1".into())),
            Self::MethodNotAllowed { allow, .. } => headers.push(("allow", (*allow).to_string())),
            Self::Unavailable(_) | Self::ShuttingDown => headers.push(("retry-after", "1".into())),
            Self::Replayed => headers.push((REUSE_HEADER, "replay".into())),
            _ => {}
        }
        ErrorReply {
            status,
            body,
            headers,
        }
    }

    /// One example of every variant, for the totality test and docs.
    pub fn examples() -> Vec<ApiError> {
        vec![
            Self::Token(tollgate_core::Error::Expired),
            Self::Replayed,
            Self::NoActiveAccount,
            Self::NoActiveAccountForToken,
            Self::VerifyBlacklisted,
            Self::NotAuthenticated,
            Self::BadAuthorizationHeader,
            Self::AccessToken(vec![(
                tollgate_core::TokenKind::Access,
                tollgate_core::Error::WrongType,
            )]),
            Self::NoUserIdentification,
            Self::UserNotFound,
            Self::UserInactive,
            Self::PasswordChanged,
            Self::SessionRevoked,
            Self::SessionNotFound,
            Self::SessionUnknown,
            Self::Body(Reject {
                status: 415,
                body: json!({"detail": "Unsupported media type \"text/plain\" in request."}),
            }),
            Self::Throttled(7),
            Self::MethodNotAllowed {
                method: "GET".into(),
                allow: "POST, OPTIONS",
            },
            Self::NotFound,
            Self::PayloadTooLarge,
            Self::BodyIncomplete,
            Self::BodyTimeout,
            Self::HeaderTooLarge,
            Self::RefreshCookieMissing,
            Self::RefreshCookieMalformed,
            Self::RefreshCookieAmbiguous,
            Self::CookieHeaderTooLarge,
            Self::CsrfFailed("the Tollgate-CSRF: 1 header is missing"),
            Self::Unavailable(StoreError::Io("disk full".into())),
            Self::ShuttingDown,
            Self::Internal("claims_too_large"),
            Self::AdminForbidden,
            Self::SuperuserRequired,
            Self::Admin {
                status: 404,
                code: "user_not_found",
                detail: "no user 7".into(),
            },
        ]
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        Self::Unavailable(err)
    }
}

impl From<Denied> for ApiError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::Token(err) => Self::Token(err),
            Denied::Replayed => Self::Replayed,
            Denied::NoActiveAccountForToken => Self::NoActiveAccountForToken,
            Denied::VerifyBlacklisted => Self::VerifyBlacklisted,
            Denied::AccessToken(err) => Self::AccessToken(err),
            Denied::NoUserIdentification => Self::NoUserIdentification,
            Denied::UserNotFound => Self::UserNotFound,
            Denied::UserInactive => Self::UserInactive,
            Denied::PasswordChanged => Self::PasswordChanged,
            Denied::SessionRevoked => Self::SessionRevoked,
            Denied::SessionNotFound => Self::SessionNotFound,
            Denied::SessionUnknown => Self::SessionUnknown,
            Denied::Store(err) => Self::Unavailable(err),
            Denied::Internal(code) => Self::Internal(code),
        }
    }
}

impl From<LoginDenied> for ApiError {
    fn from(denied: LoginDenied) -> Self {
        match denied {
            LoginDenied::Throttled(wait) => Self::Throttled(wait),
            LoginDenied::NoActiveAccount => Self::NoActiveAccount,
            LoginDenied::ShuttingDown => Self::ShuttingDown,
            LoginDenied::Store(err) => Self::Unavailable(err),
        }
    }
}

impl From<tollgate_core::Error> for ApiError {
    /// A token's fault is the client's (401); anything else is the server's.
    fn from(err: tollgate_core::Error) -> Self {
        Denied::from(err).into()
    }
}

impl From<Reject> for ApiError {
    fn from(reject: Reject) -> Self {
        Self::Body(reject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_total_and_never_a_500() {
        let realm = "Bearer realm=\"api\"";
        let examples = ApiError::examples();
        assert_eq!(examples.len(), 34, "add new variants to examples()");
        for err in examples {
            let reply = err.reply(realm);
            // 500 only for the server's own faults, never for anything a client sends.
            let internal = matches!(err, ApiError::Internal(_));
            assert!(
                reply.status >= 400 && (reply.status != 500 || internal),
                "{err:?}"
            );
            assert!(reply.body.is_object(), "{err:?}");
            assert!(!err.code().is_empty());
            if reply.status == 401 {
                assert!(reply
                    .headers
                    .contains(&("www-authenticate", realm.to_string())));
            }
        }
    }

    #[test]
    fn exact_bodies() {
        let realm = "Bearer realm=\"api\"";
        let reply = ApiError::Token(tollgate_core::Error::Blacklisted).reply(realm);
        assert_eq!(
            reply.body,
            json!({"detail":"Token is blacklisted","code":"token_not_valid"})
        );
        let reply = ApiError::Throttled(12).reply(realm);
        assert_eq!(reply.status, 429);
        assert!(reply.headers.contains(&("retry-after", "12".into())));
        let reply = ApiError::MethodNotAllowed {
            method: "PUT".into(),
            allow: "POST, OPTIONS",
        }
        .reply(realm);
        assert_eq!(reply.body, json!({"detail":"Method \"PUT\" not allowed."}));
        let replayed = ApiError::Replayed.reply(realm);
        let blacklisted = ApiError::Token(tollgate_core::Error::Blacklisted).reply(realm);
        assert_eq!((replayed.status, &replayed.body), (401, &blacklisted.body));
        assert!(replayed.headers.contains(&(REUSE_HEADER, "replay".into())));
        assert!(reply.headers.contains(&("allow", "POST, OPTIONS".into())));
        let reply = ApiError::CsrfFailed("the request's Origin is not allowed").reply(realm);
        assert_eq!(reply.status, 403);
        assert_eq!(
            reply.body,
            json!({"detail":"CSRF check failed: the request's Origin is not allowed.","code":"csrf_failed"})
        );
        let reply = ApiError::RefreshCookieMissing.reply(realm);
        assert_eq!(reply.status, 401);
        assert_eq!(
            reply.body,
            json!({"detail":"No refresh token cookie was sent.","code":"refresh_cookie_missing"})
        );
    }
}
