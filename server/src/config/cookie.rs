//! Cookie mode's settings: `refresh_transport` and `refresh_cookie_*`, validated.

use std::net::SocketAddr;

use super::ConfigError;

/// How refresh tokens travel between the server and a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshTransport {
    /// In JSON bodies, as Simple JWT does (the default).
    Json,
    /// In an `HttpOnly` cookie that page scripts cannot read; every request that sets or
    /// reads it must pass the CSRF check (`crate::http::cookie`).
    Cookie(RefreshCookie),
}

/// The refresh cookie's settings (`refresh_cookie_*`), validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshCookie {
    /// A legal cookie name (an RFC 7230 token), at most [`MAX_COOKIE_NAME`] bytes.
    pub name: String,
    /// `Domain`; `None` makes a host-only cookie (the safer default: sibling
    /// subdomains never see it).
    pub domain: Option<String>,
    /// `Secure`; `false` only with a loopback `bind` (plain-HTTP development).
    pub secure: bool,
}

/// Longest accepted `refresh_cookie_name`.
pub const MAX_COOKIE_NAME: usize = 64;

/// `refresh_transport` and the `refresh_cookie_*` settings. The cookie settings are
/// checked in either mode, so a mistake shows up before the mode is switched on.
pub(super) fn refresh_transport(
    transport: Option<String>,
    name: Option<String>,
    domain: Option<String>,
    secure: Option<bool>,
    bind: SocketAddr,
) -> Result<RefreshTransport, ConfigError> {
    let name = name.unwrap_or_else(|| "tollgate_refresh".into());
    let is_token_char = |c: char| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?={}".contains(c);
    if name.is_empty() || name.len() > MAX_COOKIE_NAME || !name.chars().all(is_token_char) {
        return Err(ConfigError::new(
            "refresh_cookie_name",
            format!(
                "{name:?}: a cookie name is 1 to {MAX_COOKIE_NAME} ASCII letters, digits or \
                 !#$%&'*+-.^_`|~ (no spaces, separators or control characters)"
            ),
        ));
    }
    let secure = secure.unwrap_or(true);
    // Browsers hold prefixed names to rules these settings would break.
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("__host-") {
        return Err(ConfigError::new(
            "refresh_cookie_name",
            format!("{name:?}: a __Host- cookie must have Path=/, and tollgate scopes the refresh cookie to the paths that read it"),
        ));
    }
    if lower.starts_with("__secure-") && !secure {
        return Err(ConfigError::new(
            "refresh_cookie_name",
            format!("{name:?}: a __Secure- cookie needs refresh_cookie_secure = true"),
        ));
    }
    let domain = domain.filter(|d| !d.is_empty());
    if let Some(domain) = &domain {
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if domain.len() > 253 || !domain.split('.').all(label_ok) {
            return Err(ConfigError::new(
                "refresh_cookie_domain",
                format!("{domain:?}: a host name like example.com (ASCII letters, digits, hyphens and dots; no leading dot, port or scheme)"),
            ));
        }
    }
    if !secure && !bind.ip().is_loopback() {
        return Err(ConfigError::new(
            "refresh_cookie_secure",
            format!("false is only for plain-HTTP development on a loopback address, and bind is {bind}"),
        ));
    }
    match transport.as_deref().unwrap_or("json") {
        "json" => Ok(RefreshTransport::Json),
        "cookie" => Ok(RefreshTransport::Cookie(RefreshCookie {
            name,
            domain: domain.map(|d| d.to_ascii_lowercase()),
            secure,
        })),
        other => Err(ConfigError::new(
            "refresh_transport",
            format!("{other:?}: use json or cookie"),
        )),
    }
}
