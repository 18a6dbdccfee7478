//! The `Authorization` header (or `auth_header_name`'s) as Simple JWT's
//! `JWTAuthentication` reads it.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};

use super::errors::ApiError;

/// Authorization headers over this are refused before parsing.
pub const MAX_AUTH_HEADER: usize = 8 * 1024;

/// The Bearer token of a request's `name` header(s) (`Authorization` unless
/// `auth_header_name` says otherwise), or why there is none. Repeated headers are joined
/// as WSGI servers do, so they never authenticate.
pub fn token_of<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    types: &[String],
) -> Result<Cow<'h, [u8]>, ApiError> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => check(None, types).map(Cow::Borrowed),
        (Some(one), None) => check(Some(one.as_bytes()), types).map(Cow::Borrowed),
        (Some(first), Some(second)) => {
            let joined = [first, second]
                .into_iter()
                .chain(values)
                .map(HeaderValue::as_bytes)
                .collect::<Vec<_>>()
                .join(&b","[..]);
            check(Some(&joined), types).map(|token| Cow::Owned(token.to_vec()))
        }
    }
}

fn check<'a>(value: Option<&'a [u8]>, types: &[String]) -> Result<&'a [u8], ApiError> {
    if value.is_some_and(|v| v.len() > MAX_AUTH_HEADER) {
        return Err(ApiError::HeaderTooLarge);
    }
    match bearer(value, types) {
        Bearer::Missing => Err(ApiError::NotAuthenticated),
        Bearer::Malformed => Err(ApiError::BadAuthorizationHeader),
        Bearer::Token(token) => Ok(token),
    }
}

/// What an Authorization header holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Bearer<'a> {
    /// No header, an empty one, or another scheme: "credentials were not provided".
    Missing,
    /// The scheme alone, or with more than one value.
    Malformed,
    /// The raw token bytes.
    Token(&'a [u8]),
}

/// Splits on runs of ASCII whitespace (Python's `bytes.split()`); the scheme must match
/// one of `types` exactly (case-sensitive, as Simple JWT compares bytes).
pub fn bearer<'a>(header: Option<&'a [u8]>, types: &[String]) -> Bearer<'a> {
    let Some(header) = header else {
        return Bearer::Missing;
    };
    // (limits) The usual header, `<scheme> <token>` with one space and no other
    // whitespace, without splitting byte by byte: every separator is at or below the
    // space, so two runs of bytes above it are the two parts. (About 1,500 instructions
    // less per request: BENCHMARKS.md, "tollgate against a bare warp route".)
    if let Some(space) = header.iter().position(|&b| b == b' ') {
        let (scheme, token) = (&header[..space], &header[space + 1..]);
        let above_space = |part: &[u8]| part.iter().fold(true, |all, &b| all & (b > b' '));
        if !scheme.is_empty() && !token.is_empty() && above_space(scheme) && above_space(token) {
            return if types.iter().any(|t| t.as_bytes() == scheme) {
                Bearer::Token(token)
            } else {
                Bearer::Missing
            };
        }
    }
    let mut parts = header
        .split(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .filter(|part| !part.is_empty());
    let Some(scheme) = parts.next() else {
        return Bearer::Missing;
    };
    if !types.iter().any(|t| t.as_bytes() == scheme) {
        return Bearer::Missing;
    }
    match (parts.next(), parts.next()) {
        (Some(token), None) => Bearer::Token(token),
        _ => Bearer::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(header: Option<&[u8]>, expected: Bearer<'_>) {
        assert_eq!(
            bearer(header, &["Bearer".to_string()]),
            expected,
            "{header:?}"
        );
    }

    #[test]
    fn simple_jwt_header_rules() {
        check(None, Bearer::Missing);
        check(Some(b""), Bearer::Missing);
        check(Some(b"   "), Bearer::Missing);
        check(Some(b"Basic abc"), Bearer::Missing);
        check(Some(b"bearer abc"), Bearer::Missing);
        check(Some(b"BEARER abc"), Bearer::Missing);
        check(Some(b"Bearer"), Bearer::Malformed);
        check(Some(b"Bearer a b"), Bearer::Malformed);
        check(Some(b"Bearer abc"), Bearer::Token(b"abc"));
        check(Some(b"  Bearer \t abc  "), Bearer::Token(b"abc"));
        check(Some(b"Bearer\tabc"), Bearer::Token(b"abc"));
        check(Some(b"Bearer \xffabc"), Bearer::Token(b"\xffabc"));
        assert_eq!(
            bearer(Some(b"JWT x"), &["Bearer".into(), "JWT".into()]),
            Bearer::Token(b"x")
        );
    }
}
