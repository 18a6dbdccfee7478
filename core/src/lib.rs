//! tollgate-core: the token engine shared by the tollgate server and its WebAssembly
//! validator.
//!
//! It mints, verifies and decodes JSON Web Tokens exactly as
//! [djangorestframework-simplejwt](https://github.com/jazzband/djangorestframework-simplejwt)
//! does (same claims, same bytes, same error messages), minus Simple JWT's known
//! weaknesses: one canonical token form only, no algorithm from the header, bounded sizes.
//!
//! `#![no_std]` + `alloc`: there is no clock and no randomness in here. "Now" (epoch
//! seconds) and the random bytes of each jti are arguments, so every function is
//! deterministic. (One exception, behind the issuer-only `rsa-sign` feature: RSA-PSS
//! salts come from the operating system, through ring.)
//!
//! Algorithms: HS256/384/512, EdDSA and ES256 always; ES384, ES512 and RS*/PS* with the
//! features `es384`, `es512` and `rsa` (`all-algorithms`), which the WebAssembly
//! validator's default build leaves out for size.
//!
//! ```
//! use tollgate_core::{Claims, Expect, Jti, Settings, SigningKey, Algorithm, TokenKind};
//!
//! let key = SigningKey::hmac(Algorithm::Hs256, b"a secret of at least thirty-two bytes!")?;
//! let settings = Settings::builder(key).build()?;
//! let now = 1_700_000_000;
//! let custom = Claims::new().with("username", "alice");
//! let refresh = settings.mint(TokenKind::Refresh, "1", &custom, now, Jti::from_random_bytes([7; 16]))?;
//!
//! // Later: verify it, with the caller's blacklist.
//! let verified = settings.verifier().verify(&refresh.token, Expect::Kind(TokenKind::Refresh), now + 60, |_jti| false)?;
//! assert_eq!(verified.user_id(), Some("1"));
//! let access = settings.access_from_refresh(&verified, now + 60, Jti::from_random_bytes([8; 16]))?;
//! assert_eq!(access.claims.get_str("username"), Some("alice"));
//!
//! // An expired token fails with Simple JWT's message and a stable code.
//! let err = settings.verifier().verify(&access.token, TokenKind::Access.into(), access.exp, |_| false).unwrap_err();
//! assert_eq!((err.code(), err.to_string().as_str()), ("token_expired", "Token is expired"));
//! # Ok::<(), tollgate_core::Error>(())
//! ```
#![no_std]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

extern crate alloc;

mod alg;
mod b64;
mod claims;
mod error;
mod json;
mod settings;
mod token;

pub use crate::{
    alg::{Algorithm, SigningKey, VerifyingKey},
    claims::{Claims, MAX_TIME},
    error::Error,
    settings::{
        Audience, ClaimNames, Settings, SettingsBuilder, VerifierSettings, MAX_LEEWAY, MAX_LIFETIME,
    },
    token::{
        decode, decode_reusing, Decoded, Expect, Issued, Jti, Pending, TokenKind, Untrusted,
        Verified, Verifier, MAX_ID_LEN, MAX_TOKEN_LEN,
    },
};
pub use serde_json::Value;

/// Parses one JSON value the way tokens are parsed: strict RFC 8259, duplicate keys
/// refused at every depth, at most [`MAX_JSON_DEPTH`] levels of nesting. `None` for
/// anything else.
pub fn parse_json(text: &str) -> Option<Value> {
    json::parse(text.as_bytes())
}

pub use json::MAX_DEPTH as MAX_JSON_DEPTH;

/// The strict reader without `Value`s: [`check_json`] checks a text exactly as
/// [`parse_json`] reads it and gives the value to read in place ([`JsonValue`]: a string
/// compared or decoded only when asked, a number as u64, an array's items, an object's
/// members by name with [`JsonObject::scan`]). What tokens are checked with; the
/// WebAssembly adapter reads its options and key sets with it too, so that the module
/// carries no `Value`-building code.
pub use json::{
    check as check_json, Items as JsonItems, Json as JsonValue, JsonStr, Object as JsonObject,
};

/// The README's Rust examples, compiled and run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
