//! The refresh cookie (`refresh_transport = "cookie"`): reading it from `Cookie`, writing
//! `Set-Cookie`, and the CSRF check every request that sets or reads it must pass.
//!
//! One cookie per path that reads it (same name, one `Set-Cookie` each): `Path` takes a
//! single path, and a common prefix (`/api/`) would send the refresh token with every
//! API call, `/api/me/` included, where nothing needs it.

use http::{header, HeaderMap, HeaderValue};

use super::{errors::ApiError, reply::Reply};
use crate::config::RefreshCookie;

/// `Cookie` headers over this many bytes (all of them together) are refused unread.
pub const MAX_COOKIE_HEADER: usize = 8 * 1024;

/// The header a cookie-mode request must carry, with the value [`CSRF_VALUE`]. A
/// cross-site form or "simple" request cannot set it, and a cross-origin `fetch` that
/// sets it is preflighted, which only `cors_allowed_origins` pass.
pub const CSRF_HEADER: &str = "tollgate-csrf";
pub const CSRF_VALUE: &str = "1";

/// The paths the refresh cookie is sent to: refresh, blacklist, logout, and ending the
/// other sessions (where it tells which session is the caller's).
pub const COOKIE_PATHS: [&str; 4] = [
    "/api/token/refresh/",
    "/api/token/blacklist/",
    "/api/logout/",
    "/api/sessions/revoke-others/",
];

/// Browsers keep at most 4096 bytes of a cookie's name and value; a longer one is
/// dropped without a word, which would log the user out at once.
pub const MAX_BROWSER_COOKIE: usize = 4096;

/// The refresh token of the request's cookie named `name`.
///
/// Lenient about other cookies (other applications on the host may set anything),
/// strict about ours: its value must be cookie-octets (RFC 6265; optionally quoted),
/// and every cookie of that name must carry the same value, so a cookie planted from a
/// sibling subdomain is refused rather than silently preferred or ignored. An empty
/// value counts as none (a client that kept a cleared cookie).
pub fn refresh_token(headers: &HeaderMap, name: &str) -> Result<String, ApiError> {
    let values = headers.get_all(header::COOKIE);
    let total: usize = values.iter().map(|v| v.len() + 2).sum();
    if total > MAX_COOKIE_HEADER + 2 {
        return Err(ApiError::CookieHeaderTooLarge);
    }
    let mut found: Option<&[u8]> = None;
    for value in values {
        for pair in value.as_bytes().split(|&b| b == b';') {
            let pair = trim(pair);
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            if trim(&pair[..eq]) != name.as_bytes() {
                continue;
            }
            let mut token = trim(&pair[eq + 1..]);
            if let [b'"', inner @ .., b'"'] = token {
                token = inner;
            }
            if !token.iter().all(|&b| is_cookie_octet(b)) {
                return Err(ApiError::RefreshCookieMalformed);
            }
            if token.is_empty() {
                continue;
            }
            match found {
                Some(seen) if seen != token => return Err(ApiError::RefreshCookieAmbiguous),
                _ => found = Some(token),
            }
        }
    }
    let token = found.ok_or(ApiError::RefreshCookieMissing)?;
    // Cookie-octets are ASCII.
    Ok(String::from_utf8_lossy(token).into_owned())
}

fn trim(bytes: &[u8]) -> &[u8] {
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// RFC 6265's `cookie-octet`: visible ASCII but `"`, `,`, `;` and `\`.
fn is_cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// Sets the refresh cookie to `token` on every path of [`COOKIE_PATHS`], to expire in
/// `max_age` seconds (when the token does). A cookie a browser would drop is a fault of
/// the configuration (too many claims), answered 500 rather than a silent logout.
pub fn set(
    reply: &mut Reply,
    cookie: &RefreshCookie,
    token: &str,
    max_age: u64,
) -> Result<(), ApiError> {
    if cookie.name.len() + 1 + token.len() > MAX_BROWSER_COOKIE {
        return Err(ApiError::Internal("refresh_cookie_too_large"));
    }
    append(reply, cookie, token, max_age);
    Ok(())
}

/// Clears the refresh cookie on every path of [`COOKIE_PATHS`] (`Max-Age=0`, with the
/// same name, `Domain` and `Path`, which is what a browser matches on).
pub fn clear(reply: &mut Reply, cookie: &RefreshCookie) {
    append(reply, cookie, "", 0);
}

fn append(reply: &mut Reply, cookie: &RefreshCookie, value: &str, max_age: u64) {
    for path in COOKIE_PATHS {
        let mut text = format!("{}={value}; Path={path}; Max-Age={max_age}", cookie.name);
        if let Some(domain) = &cookie.domain {
            text.push_str("; Domain=");
            text.push_str(domain);
        }
        text.push_str("; HttpOnly");
        if cookie.secure {
            text.push_str("; Secure");
        }
        text.push_str("; SameSite=Strict");
        // Name, domain and token were checked to be visible ASCII.
        if let Ok(value) = HeaderValue::from_str(&text) {
            reply.headers_mut().append(header::SET_COOKIE, value);
        }
    }
}

/// The CSRF check of a cookie-mode request: `Tollgate-CSRF: 1`, and an `Origin` (when
/// sent) that is the server's own or one listed in `cors_allowed_origins` (`*` does not
/// count). The server's own origin is `Host` with `https` when the cookie is `Secure`
/// (a browser sends a `Secure` cookie over TLS only, so a request carrying it came over
/// TLS, to the proxy in front of us), `http` otherwise (loopback development). Forwarded
/// headers are not trusted. A request without a single `Host` (HTTP/2 sends
/// `:authority` instead) has no own origin: only listed origins pass, which fails closed.
pub fn csrf_check(
    headers: &HeaderMap,
    allowed_origins: &[String],
    cookie: &RefreshCookie,
) -> Result<(), ApiError> {
    let mut marks = headers.get_all(CSRF_HEADER).iter();
    match (marks.next(), marks.next()) {
        (None, _) => {
            return Err(ApiError::CsrfFailed(
                "the Tollgate-CSRF: 1 header is missing",
            ))
        }
        (Some(value), None) if value == CSRF_VALUE => {}
        _ => {
            return Err(ApiError::CsrfFailed(
                "the Tollgate-CSRF header must be sent once, as 1",
            ))
        }
    }
    let mut origins = headers.get_all(header::ORIGIN).iter();
    let origin = match (origins.next(), origins.next()) {
        (None, _) => return Ok(()),
        (Some(origin), None) => origin.to_str().ok(),
        (Some(_), Some(_)) => None,
    };
    let allowed = origin.is_some_and(|origin| {
        origin != "*"
            && (allowed_origins.iter().any(|o| o == origin)
                || own_origin(headers, cookie.secure)
                    .is_some_and(|own| own.eq_ignore_ascii_case(origin)))
    });
    if allowed {
        Ok(())
    } else {
        Err(ApiError::CsrfFailed("the request's Origin is not allowed"))
    }
}

/// `scheme://host[:port]` of the request's single `Host`, without the scheme's default
/// port (browsers leave it out of `Origin`).
fn own_origin(headers: &HeaderMap, secure: bool) -> Option<String> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let (Some(host), None) = (hosts.next(), hosts.next()) else {
        return None;
    };
    let host = host.to_str().ok().filter(|h| !h.is_empty())?;
    let (scheme, default_port) = if secure {
        ("https", ":443")
    } else {
        ("http", ":80")
    };
    let host = host.strip_suffix(default_port).unwrap_or(host);
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::route::Route;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    fn read(pairs: &[(&str, &[u8])]) -> Result<String, &'static str> {
        refresh_token(&headers(pairs), "tollgate_refresh").map_err(|e| e.code())
    }

    #[test]
    fn the_cookie_paths_are_the_endpoints_that_read_it() {
        let routes = COOKIE_PATHS.map(Route::of);
        assert_eq!(
            routes,
            [
                Route::TokenRefresh,
                Route::TokenBlacklist,
                Route::Logout,
                Route::SessionsRevokeOthers
            ]
        );
    }

    #[test]
    fn reading_the_cookie() {
        assert_eq!(
            read(&[("cookie", b"tollgate_refresh=a.b.c")]),
            Ok("a.b.c".into())
        );
        assert_eq!(
            read(&[("cookie", b"x=1; tollgate_refresh=a.b.c ;y")]),
            Ok("a.b.c".into())
        );
        assert_eq!(
            read(&[("cookie", b"tollgate_refresh=\"a.b.c\"")]),
            Ok("a.b.c".into())
        );
        // The same value twice (two paths, two header lines) is one token.
        let two = [
            ("cookie", &b"tollgate_refresh=t"[..]),
            ("cookie", b"tollgate_refresh=t"),
        ];
        assert_eq!(read(&two), Ok("t".into()));
        // Other cookies may hold anything.
        assert_eq!(
            read(&[("cookie", b"other=\xff\xfe \"; tollgate_refresh=t")]),
            Ok("t".into())
        );
        assert_eq!(read(&[]), Err("refresh_cookie_missing"));
        assert_eq!(
            read(&[("cookie", b"Tollgate_refresh=t")]),
            Err("refresh_cookie_missing")
        );
        assert_eq!(
            read(&[("cookie", b"tollgate_refresh=")]),
            Err("refresh_cookie_missing")
        );
        assert_eq!(
            read(&[("cookie", b"tollgate_refresh")]),
            Err("refresh_cookie_missing")
        );
        assert_eq!(
            read(&[("cookie", b"tollgate_refresh=a b")]),
            Err("refresh_cookie_malformed")
        );
        assert_eq!(
            read(&[("cookie", b"tollgate_refresh=a,b")]),
            Err("refresh_cookie_malformed")
        );
        assert_eq!(
            read(&[("cookie", b"tollgate_refresh=\xc3\xa9")]),
            Err("refresh_cookie_malformed")
        );
        assert_eq!(
            read(&[("cookie", b"tollgate_refresh=\"t")]),
            Err("refresh_cookie_malformed")
        );
        assert_eq!(
            read(&[("cookie", b"tollgate_refresh=t; tollgate_refresh=u")]),
            Err("refresh_cookie_ambiguous")
        );
        let long = format!("tollgate_refresh=t; pad={}", "x".repeat(MAX_COOKIE_HEADER));
        assert_eq!(
            read(&[("cookie", long.as_bytes())]),
            Err("cookie_header_too_large")
        );
        let fits = format!(
            "tollgate_refresh=t; p={}",
            "x".repeat(MAX_COOKIE_HEADER - 22)
        );
        assert_eq!(fits.len(), MAX_COOKIE_HEADER);
        assert_eq!(read(&[("cookie", fits.as_bytes())]), Ok("t".into()));
    }

    fn csrf(pairs: &[(&str, &[u8])], secure: bool) -> Result<(), &'static str> {
        let cookie = RefreshCookie {
            name: "tollgate_refresh".into(),
            domain: None,
            secure,
        };
        let allowed = ["https://app.example.com".to_string(), "*".to_string()];
        csrf_check(&headers(pairs), &allowed, &cookie).map_err(|e| match e {
            ApiError::CsrfFailed(reason) => reason,
            _ => "other",
        })
    }

    #[test]
    fn the_csrf_check() {
        let mark: (&str, &[u8]) = ("tollgate-csrf", b"1");
        assert_eq!(csrf(&[mark], true), Ok(()));
        assert!(csrf(&[], true).unwrap_err().contains("missing"));
        assert!(csrf(&[("tollgate-csrf", b"0")], true).is_err());
        assert!(csrf(&[mark, mark], true).is_err());
        let with = |origin: &'static [u8], host: &'static [u8], secure| {
            csrf(&[mark, ("origin", origin), ("host", host)], secure)
        };
        assert_eq!(
            with(b"https://app.example.com", b"api.example.com", true),
            Ok(())
        );
        assert_eq!(
            with(b"https://api.example.com", b"api.example.com", true),
            Ok(())
        );
        assert_eq!(
            with(b"https://api.example.com", b"API.example.com:443", true),
            Ok(())
        );
        assert_eq!(
            with(b"http://127.0.0.1:8000", b"127.0.0.1:8000", false),
            Ok(())
        );
        // The scheme follows `Secure`: plain http is not the origin of a TLS site.
        assert!(with(b"http://api.example.com", b"api.example.com", true).is_err());
        assert!(with(b"https://127.0.0.1:8000", b"127.0.0.1:8000", false).is_err());
        assert!(with(b"https://evil.example", b"api.example.com", true).is_err());
        assert!(with(b"null", b"api.example.com", true).is_err());
        assert!(with(b"*", b"api.example.com", true).is_err());
        assert!(with(b"https://api.example.com:444", b"api.example.com", true).is_err());
        let two_origins = [
            mark,
            ("origin", b"https://app.example.com"),
            ("origin", b"https://app.example.com"),
        ];
        assert!(csrf(&two_origins, true).is_err());
    }
}
