//! tollgate mints the very bytes Simple JWT mints: the tokens in
//! `tests/vectors/simplejwt.json` (made by djangorestframework-simplejwt's own token
//! classes) are reproduced from the same inputs, signature included (ES256 aside: its
//! signatures are randomized in Python, so only header and payload are compared).

use std::{fs, path::PathBuf};

use serde_json::Value;
use tollgate_core::{Algorithm, Claims, Expect, Jti, Settings, TokenKind};
use tollgate_tests::{signing_key, ISSUED_AT};

fn vectors() -> (Value, Value) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors");
    let read = |name: &str| -> Value {
        serde_json::from_str(&fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    (read("keys.json"), read("simplejwt.json"))
}

fn token_of<'a>(file: &'a Value, name: &str) -> &'a str {
    file["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"))["token"]
        .as_str()
        .unwrap()
}

fn jti(n: u8) -> Jti {
    let mut bytes = [0; 16];
    bytes[15] = n;
    Jti::from_bytes(bytes)
}

/// How Simple JWT made a token, replayed with tollgate.
enum How {
    Mint(TokenKind, &'static str, u8),
    FromRefresh(&'static str, u64, u8),
    Rotate(&'static str, u64, u8),
    Slide(&'static str, u64),
}

fn check(alg: Algorithm, vector: &str, how: How) {
    let (keys, file) = vectors();
    let key_name = match alg {
        Algorithm::EdDsa => "ed25519",
        Algorithm::Es256 => "es256",
        _ => "hmac",
    };
    let settings = Settings::builder(signing_key(&keys, alg, key_name))
        .build()
        .unwrap();
    let custom = |username: &str| {
        Claims::new()
            .with("username", username)
            .with("email", "alice@example.com")
            .with("is_staff", false)
    };
    let parse = |name: &str, kind: TokenKind| {
        settings
            .verifier()
            .verify(token_of(&file, name), Expect::Kind(kind), ISSUED_AT, |_| {
                false
            })
            .unwrap()
    };
    let issued = match how {
        How::Mint(kind, username, n) => {
            settings.mint(kind, "42", &custom(username), ISSUED_AT, jti(n))
        }
        How::FromRefresh(refresh, now, n) => {
            settings.access_from_refresh(&parse(refresh, TokenKind::Refresh), now, jti(n))
        }
        How::Rotate(refresh, now, n) => {
            settings.rotate_refresh(&parse(refresh, TokenKind::Refresh), now, jti(n))
        }
        How::Slide(sliding, now) => {
            settings.refresh_sliding(&parse(sliding, TokenKind::Sliding), now)
        }
    }
    .unwrap();
    let expected = token_of(&file, vector);
    if alg == Algorithm::Es256 {
        let signed = |t: &str| t.rsplit_once('.').unwrap().0.to_string();
        assert_eq!(signed(&issued.token), signed(expected), "{vector}");
    } else {
        assert_eq!(issued.token, expected, "{vector}");
    }
}

#[test]
fn refresh_token() {
    check(
        Algorithm::Hs256,
        "simplejwt-refresh",
        How::Mint(TokenKind::Refresh, "alice", 1),
    );
}

#[test]
fn access_token_from_refresh() {
    check(
        Algorithm::Hs256,
        "simplejwt-access",
        How::FromRefresh("simplejwt-refresh", ISSUED_AT, 2),
    );
}

#[test]
fn access_token_after_refresh() {
    check(
        Algorithm::Hs256,
        "simplejwt-refreshed-access",
        How::FromRefresh("simplejwt-refresh", ISSUED_AT + 600, 3),
    );
}

#[test]
fn rotated_refresh_token() {
    check(
        Algorithm::Hs256,
        "simplejwt-rotated-refresh",
        How::Rotate("simplejwt-refresh", ISSUED_AT + 600, 4),
    );
}

#[test]
fn sliding_token_and_its_refresh() {
    check(
        Algorithm::Hs256,
        "simplejwt-sliding",
        How::Mint(TokenKind::Sliding, "alice", 5),
    );
    check(
        Algorithm::Hs256,
        "simplejwt-slid",
        How::Slide("simplejwt-sliding", ISSUED_AT + 200),
    );
}

#[test]
fn non_ascii_claims_are_escaped_like_python() {
    check(
        Algorithm::Hs256,
        "simplejwt-unicode-username",
        How::Mint(TokenKind::Access, "José Ünal 日本 🎉", 7),
    );
}

#[test]
fn asymmetric_algorithms() {
    check(
        Algorithm::EdDsa,
        "simplejwt-eddsa-refresh",
        How::Mint(TokenKind::Refresh, "alice", 8),
    );
    check(
        Algorithm::EdDsa,
        "simplejwt-eddsa-access",
        How::FromRefresh("simplejwt-eddsa-refresh", ISSUED_AT, 9),
    );
    check(
        Algorithm::Es256,
        "simplejwt-es256-refresh",
        How::Mint(TokenKind::Refresh, "alice", 10),
    );
    check(
        Algorithm::Es256,
        "simplejwt-es256-access",
        How::FromRefresh("simplejwt-es256-refresh", ISSUED_AT, 11),
    );
}
