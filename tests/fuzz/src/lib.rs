//! What the fuzz targets share: verifiers built once from `tests/vectors/keys.json`
//! and the properties every token must satisfy, whatever its bytes.
//!
//! A property that fails is a panic, which libFuzzer reports as a crash with the input
//! that caused it; so is a hang (`-timeout`) or a runaway allocation (`-malloc_limit_mb`,
//! `-rss_limit_mb`), as `scripts/fuzz.sh` runs the targets.

use std::sync::OnceLock;

use serde_json::Value;
use tollgate_core::{
    decode, decode_reusing, Algorithm, Audience, Error, Expect, SigningKey, TokenKind, Untrusted,
    Verifier, VerifierSettings, VerifyingKey, MAX_TOKEN_LEN,
};

/// The clock of the shared vectors (`tests/src/lib.rs`): generated tokens are valid now.
pub const NOW: u64 = 1_700_000_100;

const KEYS: &str = include_str!("../../vectors/keys.json");

/// Everything the targets verify with, built once per process.
pub struct Fixtures {
    /// The HS256 key of the vectors, to sign what the `signed_claims` target builds.
    pub hs256: SigningKey,
    /// HS256, EdDSA, ES256, an EdDSA key set selected by `kid`, and HS256 with leeway,
    /// audience, issuer and a required claim.
    pub verifiers: Vec<Verifier>,
}

/// The shared fixtures.
pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let keys: Value = serde_json::from_str(KEYS).expect("keys.json");
        let secret = keys["hmac"]["secret"].as_str().expect("secret").as_bytes();
        let public = |alg, name: &str| {
            let pem = keys[name]["public_pem"].as_str().expect("pem");
            VerifyingKey::from_pem(alg, pem)
                .expect("public key")
                .with_kid(keys[name]["kid"].as_str().expect("kid"))
        };
        let hs256 = SigningKey::hmac(Algorithm::Hs256, secret).expect("hmac key");
        let verifiers = vec![
            Verifier::for_key(hs256.verifying_key()),
            Verifier::for_key(public(Algorithm::EdDsa, "ed25519")),
            Verifier::for_key(public(Algorithm::Es256, "es256")),
            Verifier::new(VerifierSettings::with_keys(
                Algorithm::EdDsa,
                vec![
                    public(Algorithm::EdDsa, "ed25519-other"),
                    public(Algorithm::EdDsa, "ed25519"),
                ],
            ))
            .expect("key set"),
            Verifier::new(
                VerifierSettings::new(hs256.verifying_key())
                    .leeway(30)
                    .audience(Some(Audience::Many(vec!["api".into(), "admin".into()])))
                    .issuer(Some("https://auth.example".into()))
                    .required_claims(vec!["user_id".into()])
                    .max_token_age(Some(600))
                    .max_lifetime(Some(3600)),
            )
            .expect("strict verifier"),
        ];
        Fixtures { hs256, verifiers }
    })
}

const EXPECTS: [Expect; 4] = [
    Expect::Untyped,
    Expect::Kind(TokenKind::Access),
    Expect::Kind(TokenKind::Refresh),
    Expect::Kind(TokenKind::Sliding),
];

fn known(err: &Error) {
    assert!(
        Error::ALL_CODES.contains(&err.code()),
        "unknown code {}",
        err.code()
    );
    assert!(err.is_token_error(), "{} from a token", err.code());
}

/// Every path a token takes through tollgate-core, with the properties that must hold
/// for any input: parse, verify (every verifier, every expected type, with and without
/// the jti blacklisted), the sliding-refresh check, decode and decode with a reused
/// header. `previous` is another token, to exercise `decode_reusing`.
pub fn check_token(token: &str, previous: &str) {
    let parsed = Untrusted::parse(token);
    if token.len() > MAX_TOKEN_LEN {
        assert!(matches!(parsed, Err(Error::TokenTooLarge)));
        assert!(matches!(decode(token), Err(Error::TokenTooLarge)));
    }
    let decoded = decode(token);
    if let Ok(prev) = decode(previous) {
        // Reusing a header (when the segments match) must change nothing.
        let reused = decode_reusing(token, Some(&prev));
        assert_eq!(format!("{reused:?}"), format!("{decoded:?}"));
    }
    for verifier in &fixtures().verifiers {
        for expect in EXPECTS {
            let result = verifier.verify(token, expect, NOW, |_| false);
            match (&parsed, &result) {
                (Err(parse_err), Err(err)) => assert_eq!(parse_err, err),
                (Err(parse_err), Ok(_)) => panic!("parse failed ({parse_err}) but verify passed"),
                _ => {}
            }
            match result {
                Err(err) => known(&err),
                Ok(verified) => {
                    // Only a token the decoder accepts can verify, with the same claims.
                    let decoded = decoded.as_ref().expect("verified but not decodable");
                    assert_eq!(decoded.claims(), verified.claims());
                    assert_eq!(decoded.payload_json(), verified.payload_json());
                    assert_eq!(decoded.header_json(), verified.header_json());
                    // Claims are built on request from text the strict reader took.
                    assert!(tollgate_core::parse_json(verified.payload_json()).is_some());
                    assert_eq!(decoded.expires_at(), Ok(Some(verified.exp())));
                    assert!(!verified.jti().is_empty());
                    assert!(verified.exp() <= tollgate_core::MAX_TIME);
                    // The claims write back to JSON the strict reader takes.
                    let json = verified.claims().to_json();
                    assert!(tollgate_core::parse_json(&json).is_some(), "{json}");
                    // The blacklist is asked with the verified jti, and wins.
                    let jti = verified.jti().to_owned();
                    let again = verifier.verify(token, expect, NOW, |j| j == jti);
                    assert!(matches!(again, Err(Error::Blacklisted)), "{again:?}");
                    if let Err(err) = verifier.check_refresh_exp(&verified, NOW) {
                        known(&err);
                    }
                }
            }
        }
    }
    if let Err(err) = decoded {
        known(&err);
    }
}

/// Splits fuzz input in two at the first NUL byte (the second part may be empty).
pub fn split_at_nul(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}
