//! The routes of the API: every path matched once, into an enum.

use crate::store::Session;

/// What a request's path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    TokenObtain,
    TokenRefresh,
    TokenVerify,
    TokenBlacklist,
    TokenSliding,
    TokenSlidingRefresh,
    Logout,
    Me,
    /// `GET /api/sessions/`: the caller's sessions.
    Sessions,
    /// `DELETE /api/sessions/<id>/`: end one.
    Session,
    /// `POST /api/sessions/revoke-others/`.
    SessionsRevokeOthers,
    /// Anything under `/api/admin/`: the staff console's API (`crate::handlers::admin`
    /// routes it further and checks methods itself).
    Admin,
    Jwks,
    Healthz,
    Metrics,
    /// `GET /api/schema/`: the OpenAPI document (`crate::openapi`).
    Schema,
    /// `GET /api/schema/docs/`: the document rendered for people.
    SchemaDocs,
    /// Another path under `/api/`: 404.
    OtherApi,
    /// Anything else: the demo page and the npm package, if configured.
    Static,
}

/// `Allow` of the POST endpoints.
const POST: Option<&str> = Some("POST, OPTIONS");
/// `Allow` of the GET endpoints.
const GET: Option<&str> = Some("GET, HEAD, OPTIONS");
/// `Allow` of the DELETE endpoints.
const DELETE: Option<&str> = Some("DELETE, OPTIONS");

impl Route {
    /// The route of a path.
    pub fn of(path: &str) -> Self {
        match path {
            "/api/token/" => Self::TokenObtain,
            "/api/token/refresh/" => Self::TokenRefresh,
            "/api/token/verify/" => Self::TokenVerify,
            "/api/token/blacklist/" => Self::TokenBlacklist,
            "/api/token/sliding/" => Self::TokenSliding,
            "/api/token/sliding/refresh/" => Self::TokenSlidingRefresh,
            "/api/logout/" => Self::Logout,
            "/api/me/" => Self::Me,
            "/api/sessions/" => Self::Sessions,
            "/api/sessions/revoke-others/" => Self::SessionsRevokeOthers,
            p if session_id(p).is_some() => Self::Session,
            p if p.starts_with("/api/admin/") => Self::Admin,
            "/.well-known/jwks.json" => Self::Jwks,
            "/healthz" => Self::Healthz,
            "/metrics" => Self::Metrics,
            "/api/schema/" => Self::Schema,
            "/api/schema/docs/" => Self::SchemaDocs,
            p if p.starts_with("/api/") => Self::OtherApi,
            _ => Self::Static,
        }
    }

    /// The name metrics and DRF's OPTIONS answer use.
    pub fn name(self) -> &'static str {
        match self {
            Self::TokenObtain => "token_obtain",
            Self::TokenRefresh => "token_refresh",
            Self::TokenVerify => "token_verify",
            Self::TokenBlacklist => "token_blacklist",
            Self::TokenSliding => "token_sliding",
            Self::TokenSlidingRefresh => "token_sliding_refresh",
            Self::Logout => "logout",
            Self::Me => "me",
            Self::Sessions => "sessions",
            Self::Session => "session",
            Self::SessionsRevokeOthers => "sessions_revoke_others",
            Self::Admin => "admin",
            Self::Jwks => "jwks",
            Self::Healthz => "healthz",
            Self::Metrics => "metrics",
            Self::Schema => "schema",
            Self::SchemaDocs => "schema_docs",
            Self::OtherApi => "other",
            Self::Static => "static",
        }
    }

    /// The `Allow` header of an endpoint (none for paths that are not endpoints).
    pub fn allow(self) -> Option<&'static str> {
        match self {
            Self::TokenObtain
            | Self::TokenRefresh
            | Self::TokenVerify
            | Self::TokenBlacklist
            | Self::TokenSliding
            | Self::TokenSlidingRefresh
            | Self::Logout
            | Self::SessionsRevokeOthers => POST,
            Self::Me
            | Self::Sessions
            | Self::Jwks
            | Self::Healthz
            | Self::Metrics
            | Self::Schema
            | Self::SchemaDocs => GET,
            Self::Session => DELETE,
            Self::Admin | Self::OtherApi | Self::Static => None,
        }
    }

    /// Whether the endpoint takes `method` (OPTIONS is answered before).
    pub fn allows(self, method: &http::Method) -> bool {
        match self.allow() {
            POST => method == http::Method::POST,
            DELETE => method == http::Method::DELETE,
            _ => method == http::Method::GET || method == http::Method::HEAD,
        }
    }

    /// Whether the endpoint needs an authenticated user (DRF's `IsAuthenticated`): DRF
    /// authenticates before it looks at the method, so a wrong method from a caller
    /// who is not authenticated is a 401, not a 405.
    pub fn authenticated(self) -> bool {
        matches!(
            self,
            Self::Me
                | Self::Logout
                | Self::Sessions
                | Self::Session
                | Self::SessionsRevokeOthers
                | Self::Admin
        )
    }
}

/// The session id in `/api/sessions/<id>/` (see [`Session::is_valid_id`]).
pub fn session_id(path: &str) -> Option<&str> {
    let id = path.strip_prefix("/api/sessions/")?.strip_suffix('/')?;
    Session::is_valid_id(id).then_some(id)
}
