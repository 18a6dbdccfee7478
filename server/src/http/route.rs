//! The routes of the API: every path matched once, into an enum.

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
    Jwks,
    Healthz,
    Metrics,
    /// Another path under `/api/`: 404.
    OtherApi,
    /// Anything else: the demo page and the npm package, if configured.
    Static,
}

/// `Allow` of the POST endpoints.
const POST: Option<&str> = Some("POST, OPTIONS");
/// `Allow` of the GET endpoints.
const GET: Option<&str> = Some("GET, HEAD, OPTIONS");

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
            "/.well-known/jwks.json" => Self::Jwks,
            "/healthz" => Self::Healthz,
            "/metrics" => Self::Metrics,
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
            Self::Jwks => "jwks",
            Self::Healthz => "healthz",
            Self::Metrics => "metrics",
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
            | Self::Logout => POST,
            Self::Me | Self::Jwks | Self::Healthz | Self::Metrics => GET,
            Self::OtherApi | Self::Static => None,
        }
    }

    /// Whether the endpoint takes POST (else GET and HEAD).
    pub fn is_post(self) -> bool {
        self.allow() == POST
    }
}
