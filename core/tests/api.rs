//! The public API beyond the shared vectors: keys, settings, minting, decoding.

use std::{fs, path::PathBuf};

use serde_json::{json, Value};
use tollgate_core::{
    decode, Algorithm, Audience, ClaimNames, Claims, Error, Expect, Jti, Settings, SigningKey,
    TokenKind, Verifier, VerifierSettings, VerifyingKey,
};

const NOW: u64 = 1_700_000_000;
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The public-key algorithms whose signatures are deterministic, with their key in
/// keys.json (PS* is the one randomized family).
const DETERMINISTIC_KEYS: [(Algorithm, &str); 6] = [
    (Algorithm::EdDsa, "ed25519"),
    (Algorithm::Es256, "es256"),
    (Algorithm::Es384, "es384"),
    (Algorithm::Es512, "es512"),
    (Algorithm::Rs256, "rsa"),
    (Algorithm::Rs512, "rsa"),
];

fn keys() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/keys.json");
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn hs256() -> Settings {
    Settings::builder(SigningKey::hmac(Algorithm::Hs256, SECRET).unwrap())
        .build()
        .unwrap()
}

fn jti(n: u8) -> Jti {
    Jti::from_random_bytes([n; 16])
}

/// Asserts `result` failed with `code`.
fn check_err<T: std::fmt::Debug>(result: Result<T, Error>, code: &str) {
    match result {
        Err(err) => assert_eq!(err.code(), code, "{err}"),
        Ok(value) => panic!("expected {code}, got {value:?}"),
    }
}

#[test]
fn weak_and_misused_keys_are_refused() {
    check_err(SigningKey::hmac(Algorithm::Hs256, b""), "key_weak");
    check_err(
        SigningKey::hmac(Algorithm::Hs256, &SECRET[..31]),
        "key_weak",
    );
    assert!(SigningKey::hmac(Algorithm::Hs256, &SECRET[..32]).is_ok());
    check_err(
        SigningKey::hmac(Algorithm::Hs384, &SECRET[..47]),
        "key_weak",
    );
    assert!(SigningKey::hmac(Algorithm::Hs384, &SECRET[..48]).is_ok());
    check_err(
        SigningKey::hmac(Algorithm::Hs512, &SECRET[..63]),
        "key_weak",
    );
    assert!(SigningKey::hmac(Algorithm::Hs512, SECRET).is_ok());
    // A public key PEM is not an HMAC secret, however long.
    let pem = keys()["ed25519"]["public_pem"]
        .as_str()
        .unwrap()
        .to_string();
    check_err(
        VerifyingKey::hmac(Algorithm::Hs256, pem.as_bytes()),
        "key_weak",
    );
    check_err(
        SigningKey::hmac(Algorithm::EdDsa, SECRET),
        "key_algorithm_mismatch",
    );
    check_err(
        VerifyingKey::from_pem(Algorithm::Hs256, &pem),
        "key_algorithm_mismatch",
    );
    check_err(
        VerifyingKey::from_pem(Algorithm::EdDsa, "not a pem"),
        "key_invalid",
    );
    check_err(
        SigningKey::from_raw(Algorithm::EdDsa, &[1; 31]),
        "key_invalid",
    );
    check_err(
        SigningKey::from_raw(Algorithm::Es256, &[0; 32]),
        "key_invalid",
    );
    check_err(
        VerifyingKey::from_raw(Algorithm::Es256, &[4; 65]),
        "key_invalid",
    );
}

#[test]
fn algorithms_by_name_only_the_supported_ones() {
    for alg in Algorithm::ALL {
        assert_eq!(Algorithm::from_name(alg.name()), Ok(alg));
    }
    for name in [
        "none", "None", "hs256", "rs256", "Ps256", "ES256K", "RS1", "PS256 ", "",
    ] {
        check_err(Algorithm::from_name(name), "algorithm_unsupported");
    }
}

#[test]
fn pem_jwk_and_thumbprints_agree() {
    let keys = keys();
    for (alg, name) in DETERMINISTIC_KEYS
        .into_iter()
        .chain([(Algorithm::Ps512, "rsa")])
    {
        let entry = &keys[name];
        let signing = SigningKey::from_pem(alg, entry["private_pem"].as_str().unwrap()).unwrap();
        let from_jwk = SigningKey::from_jwk(alg, &entry["private_jwk"].to_string()).unwrap();
        let public = VerifyingKey::from_pem(alg, entry["public_pem"].as_str().unwrap()).unwrap();
        // RFC 7638 thumbprints, checked against the independent Python/jose computation.
        assert_eq!(signing.kid(), entry["kid"].as_str().unwrap());
        assert_eq!(public.kid(), entry["kid"].as_str().unwrap());
        assert_eq!(from_jwk.verifying_key().thumbprint(), public.thumbprint());
        // Export: the public JWK, with kid/alg/use, never the private part.
        let jwk = public.to_public_jwk().unwrap();
        assert_eq!(jwk["kid"], entry["kid"]);
        assert_eq!(jwk["alg"], alg.name());
        assert_eq!(jwk["use"], "sig");
        assert!(jwk.get("d").is_none());
        for member in ["x", "y", "n", "e"] {
            assert_eq!(
                jwk.get(member),
                entry["public_jwk"].get(member),
                "{alg} {member}"
            );
        }
        // PKCS#8 export round-trips.
        let pem = signing.to_pkcs8_pem().unwrap();
        let again = SigningKey::from_pem(alg, &pem).unwrap();
        assert_eq!(again.kid(), signing.kid());
        // A JWK pinned to another algorithm, or of another key type, is refused.
        let mut pinned = entry["public_jwk"].clone();
        pinned["alg"] = json!("HS256");
        check_err(
            VerifyingKey::from_jwk(alg, &pinned.to_string()),
            "key_algorithm_mismatch",
        );
        let other = if alg == Algorithm::EdDsa {
            Algorithm::Es256
        } else {
            Algorithm::EdDsa
        };
        check_err(
            VerifyingKey::from_jwk(other, &entry["public_jwk"].to_string()),
            "key_algorithm_mismatch",
        );
    }
    let hmac = VerifyingKey::hmac(
        Algorithm::Hs256,
        keys["hmac"]["secret"].as_str().unwrap().as_bytes(),
    )
    .unwrap();
    assert_eq!(hmac.kid(), keys["hmac"]["kid"].as_str().unwrap());
    assert_eq!(
        hmac.to_public_jwk(),
        None,
        "HMAC secrets are never published"
    );
    check_err(
        VerifyingKey::from_jwk(Algorithm::Hs256, "{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}"),
        "key_weak",
    );
    check_err(
        VerifyingKey::from_jwk(Algorithm::Hs256, "{\"kty\":\"oct\"}"),
        "key_invalid",
    );
    check_err(
        VerifyingKey::from_jwk(Algorithm::Hs256, "[]"),
        "key_invalid",
    );
}

#[test]
fn jwk_members_are_checked() {
    let keys = keys();
    for (alg, name) in [(Algorithm::EdDsa, "ed25519"), (Algorithm::Es256, "es256")] {
        let private = &keys[name]["private_jwk"];
        let public = &keys[name]["public_jwk"];
        let edit = |base: &Value, member: &str, value: Value| {
            let mut jwk = base.clone();
            match value {
                Value::Null => jwk.as_object_mut().unwrap().remove(member),
                value => jwk.as_object_mut().unwrap().insert(member.into(), value),
            };
            jwk.to_string()
        };
        // A private JWK whose public part is another key's, or missing, is refused.
        let other = if alg == Algorithm::EdDsa {
            "es256"
        } else {
            "ed25519"
        };
        let wrong_x = keys[other]["public_jwk"]["x"].clone();
        let private_cases = [("x", wrong_x), ("x", Value::Null), ("d", Value::Null)];
        for (member, value) in private_cases {
            let jwk = edit(private, member, value);
            check_err(SigningKey::from_jwk(alg, &jwk), "key_invalid");
        }
        // Another key type or curve is a mismatch; junk is invalid.
        let public_cases = [
            ("kty", json!("RSA"), "key_algorithm_mismatch"),
            ("crv", json!("X25519"), "key_algorithm_mismatch"),
            ("use", json!("enc"), "key_algorithm_mismatch"),
            ("kty", json!("nope"), "key_invalid"),
            ("kty", Value::Null, "key_invalid"),
            ("crv", Value::Null, "key_invalid"),
            ("kid", json!(7), "key_invalid"),
            ("x", json!("AA=="), "key_invalid"),
            ("x", json!(1), "key_invalid"),
        ];
        for (member, value, code) in public_cases {
            let jwk = edit(public, member, value);
            check_err(VerifyingKey::from_jwk(alg, &jwk), code);
        }
        // A duplicate member is refused like a duplicate claim.
        let text = public.to_string();
        let dup = format!("{{\"kty\":\"x\",{}", &text[1..]);
        check_err(VerifyingKey::from_jwk(alg, &dup), "key_invalid");
        // Member names are read decoded (`\u0078` is `x`); members tollgate does not
        // read are ignored, whatever their value.
        let escaped = text.replacen("\"x\"", "\"\\u0078\"", 1);
        assert_ne!(escaped, text);
        let unknown = format!("{{\"x5c\":[1,{{}}],\"dp\":null,{}", &escaped[1..]);
        let read = VerifyingKey::from_jwk(alg, &unknown).unwrap();
        assert_eq!(read.thumbprint(), keys[name]["kid"].as_str().unwrap());
        // A given kid is kept; the thumbprint is the default.
        let named = VerifyingKey::from_jwk(alg, &edit(public, "kid", json!("k1"))).unwrap();
        assert_eq!(named.kid(), "k1");
        assert_eq!(named.thumbprint(), keys[name]["kid"].as_str().unwrap());
    }
}

#[test]
fn debug_output_never_shows_secrets() {
    let key = SigningKey::hmac(Algorithm::Hs256, SECRET).unwrap();
    let settings = Settings::builder(key.clone()).build().unwrap();
    for text in [
        format!("{key:?}"),
        format!("{:?}", key.verifying_key()),
        format!("{settings:?}"),
    ] {
        assert!(!text.contains("0123456789abcdef"), "{text}");
        assert!(text.contains("redacted"), "{text}");
    }
}

#[test]
fn settings_are_validated_once() {
    let key = || SigningKey::hmac(Algorithm::Hs256, SECRET).unwrap();
    check_err(
        Settings::builder(key()).access_token_lifetime(0).build(),
        "setting_invalid",
    );
    check_err(
        Settings::builder(key())
            .refresh_token_lifetime(20 * 365 * 86_400)
            .build(),
        "setting_invalid",
    );
    check_err(
        Settings::builder(key()).leeway(86_401).build(),
        "setting_invalid",
    );
    check_err(
        Settings::builder(key()).issuer(Some(String::new())).build(),
        "setting_invalid",
    );
    check_err(
        Settings::builder(key())
            .audience(Some(Audience::Many(vec![])))
            .build(),
        "setting_invalid",
    );
    let same = ClaimNames {
        jti: "user_id".into(),
        ..ClaimNames::default()
    };
    check_err(
        Settings::builder(key()).claim_names(same).build(),
        "setting_invalid",
    );
    let registered = ClaimNames {
        token_type: "exp".into(),
        ..ClaimNames::default()
    };
    check_err(
        Settings::builder(key()).claim_names(registered).build(),
        "setting_invalid",
    );
    let ed = VerifyingKey::from_pem(
        Algorithm::EdDsa,
        keys()["ed25519"]["public_pem"].as_str().unwrap(),
    )
    .unwrap();
    check_err(
        Settings::builder(key())
            .previous_keys(vec![ed.clone()])
            .build(),
        "key_algorithm_mismatch",
    );
    check_err(
        Verifier::new(VerifierSettings::with_keys(Algorithm::EdDsa, vec![])),
        "setting_invalid",
    );
    let s = Settings::builder(key()).build().unwrap();
    assert_eq!(
        (
            s.access_token_lifetime(),
            s.refresh_token_lifetime(),
            s.sliding_token_lifetime(),
            s.sliding_token_refresh_lifetime()
        ),
        (1800, 3 * 86_400, 300, 86_400),
        "Simple JWT's defaults"
    );
    assert!(s.rotate_refresh_tokens() && s.blacklist_after_rotation());
    assert_eq!(s.leeway(), 0);
}

#[test]
fn minted_claims_have_simple_jwt_shape() {
    let s = hs256();
    let custom = Claims::new()
        .with("username", "alice")
        .with("is_staff", true);
    let t = s
        .mint(TokenKind::Access, "7", &custom, NOW, jti(1))
        .unwrap();
    let header = t.token.split('.').next().unwrap();
    assert_eq!(
        header, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
        "{{\"alg\":\"HS256\",\"typ\":\"JWT\"}}"
    );
    let keys: Vec<&str> = t.claims.iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "token_type",
            "exp",
            "iat",
            "jti",
            "user_id",
            "username",
            "is_staff"
        ]
    );
    assert_eq!(t.exp, NOW + 1800);
    assert_eq!(t.iat, NOW);
    assert_eq!(t.jti.len(), 32);
    assert!(t
        .jti
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(&t.jti[12..13], "4", "uuid4 version nibble");
    assert_eq!(t.claims.get_str("user_id"), Some("7"));

    let sliding = s
        .mint(TokenKind::Sliding, "7", &Claims::new(), NOW, jti(2))
        .unwrap();
    let keys: Vec<&str> = sliding.claims.iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        ["token_type", "exp", "iat", "jti", "refresh_exp", "user_id"]
    );
    assert_eq!(
        sliding.claims.get("refresh_exp"),
        Some(&json!(NOW + 86_400))
    );
    assert_eq!(sliding.exp, NOW + 300);

    for reserved in [
        "exp",
        "iat",
        "nbf",
        "aud",
        "iss",
        "jti",
        "token_type",
        "user_id",
        "refresh_exp",
    ] {
        let custom = Claims::new().with(reserved, 1);
        check_err(
            s.mint(TokenKind::Access, "7", &custom, NOW, jti(3)),
            "claim_reserved",
        );
    }
    let huge = Claims::new().with("blob", "x".repeat(9000));
    check_err(
        s.mint(TokenKind::Access, "7", &huge, NOW, jti(4)),
        "claims_too_large",
    );
    check_err(
        s.mint(
            TokenKind::Access,
            "7",
            &Claims::new(),
            tollgate_core::MAX_TIME,
            jti(5),
        ),
        "setting_invalid",
    );
}

#[test]
fn derived_tokens_need_the_right_kind() {
    let s = hs256();
    let v = s.verifier();
    let access = s
        .mint(TokenKind::Access, "7", &Claims::new(), NOW, jti(1))
        .unwrap();
    let access = v
        .verify(&access.token, Expect::Untyped, NOW, |_| false)
        .unwrap();
    check_err(
        s.access_from_refresh(&access, NOW, jti(2)),
        "token_wrong_type",
    );
    check_err(s.rotate_refresh(&access, NOW, jti(2)), "token_wrong_type");
    check_err(s.refresh_sliding(&access, NOW), "token_wrong_type");

    let refresh = s
        .mint(
            TokenKind::Refresh,
            "7",
            &Claims::new().with("role", "planner"),
            NOW,
            jti(3),
        )
        .unwrap();
    let refresh = v
        .verify(&refresh.token, TokenKind::Refresh.into(), NOW + 10, |_| {
            false
        })
        .unwrap();
    let rotated = s.rotate_refresh(&refresh, NOW + 10, jti(4)).unwrap();
    assert_ne!(rotated.jti, refresh.jti());
    assert_eq!(rotated.exp, NOW + 10 + 3 * 86_400);
    assert_eq!(rotated.claims.get_str("role"), Some("planner"));
    let access = s.access_from_refresh(&refresh, NOW + 10, jti(5)).unwrap();
    assert_eq!(access.claims.get_str("role"), Some("planner"));
    assert_eq!(access.claims.get("iat"), Some(&json!(NOW + 10)));
}

#[test]
fn verifying_only_settings_cannot_sign_but_verify() {
    let keys = keys();
    let alg = Algorithm::EdDsa;
    let signing =
        SigningKey::from_pem(alg, keys["ed25519"]["private_pem"].as_str().unwrap()).unwrap();
    let s = Settings::builder(signing).build().unwrap();
    let t = s
        .mint(TokenKind::Access, "1", &Claims::new(), NOW, jti(1))
        .unwrap();
    let public: Value = keys["ed25519"]["public_jwk"].clone();
    let edge = Verifier::for_key(VerifyingKey::from_jwk(alg, &public.to_string()).unwrap());
    let verified = edge
        .verify(&t.token, TokenKind::Access.into(), NOW, |_| false)
        .unwrap();
    assert_eq!(verified.user_id(), Some("1"));
    assert_eq!(verified.kind(), Some(TokenKind::Access));
    assert_eq!(verified.exp(), NOW + 1800);
    assert_eq!(verified.jti(), t.jti);
}

#[test]
fn decode_and_expiry_helpers() {
    let s = hs256();
    let t = s
        .mint(TokenKind::Access, "7", &Claims::new(), NOW, jti(1))
        .unwrap();
    let d = decode(&t.token).unwrap();
    assert_eq!(d.header().to_value(), json!({"alg": "HS256", "typ": "JWT"}));
    assert_eq!(d.claims(), t.claims);
    assert_eq!(d.payload_json(), t.claims.to_json());
    assert_eq!(d.expires_at(), Ok(Some(NOW + 1800)));
    assert_eq!(d.is_expired(NOW + 1799, 0), Ok(false));
    assert_eq!(d.is_expired(NOW + 1800, 0), Ok(true));
    assert_eq!(d.is_expired(NOW + 1800, 1), Ok(false));
    assert_eq!(d.seconds_left(NOW + 1000), Ok(800));
    assert_eq!(d.seconds_left(NOW + 5000), Ok(0));
    // decode does not check the signature, but does insist on the canonical envelope.
    let (signed, _) = t.token.rsplit_once('.').unwrap();
    assert!(decode(&format!("{signed}.AAAA")).is_ok());
    check_err(decode(&format!("{signed}=.x")), "token_malformed");
    check_err(decode("a.b"), "token_malformed");
    check_err(decode(&"a".repeat(9000)), "token_too_large");
    let no_exp = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig";
    check_err(decode(no_exp).unwrap().is_expired(NOW, 0), "token_no_exp");
    assert_eq!(decode(no_exp).unwrap().expires_at(), Ok(None));
}

#[test]
fn the_blacklist_sees_the_jti_after_the_signature() {
    let s = hs256();
    let t = s
        .mint(TokenKind::Refresh, "7", &Claims::new(), NOW, jti(1))
        .unwrap();
    let mut asked = Vec::new();
    let ok = s
        .verifier()
        .verify(&t.token, TokenKind::Refresh.into(), NOW, |j| {
            asked.push(j.to_string());
            false
        });
    assert!(ok.is_ok());
    assert_eq!(asked, vec![t.jti.as_str()]);
    // A forged token never reaches the blacklist (no oracle, no store lookup).
    let (signed, _) = t.token.rsplit_once('.').unwrap();
    let forged = format!("{signed}.{}", "A".repeat(43));
    let mut called = false;
    let err = s
        .verifier()
        .verify(&forged, TokenKind::Refresh.into(), NOW, |_| {
            called = true;
            true
        });
    check_err(err, "token_signature_invalid");
    assert!(!called);
}

#[test]
fn error_messages_are_simple_jwts() {
    let cases = [
        (Error::TokenMalformed, "Token is invalid"),
        (Error::Expired, "Token is expired"),
        (Error::Blacklisted, "Token is blacklisted"),
        (Error::NoExp, "Token has no 'exp' claim"),
        (Error::NoId, "Token has no id"),
        (Error::NoType, "Token has no type"),
        (Error::WrongType, "Token has wrong type"),
        (
            Error::NoRefreshExp("refresh_exp".into()),
            "Token has no 'refresh_exp' claim",
        ),
        (
            Error::RefreshExpExpired("refresh_exp".into()),
            "Token 'refresh_exp' claim has expired",
        ),
    ];
    for (err, message) in cases {
        assert_eq!(err.to_string(), message);
        assert!(err.is_token_error());
    }
    assert!(!Error::WeakKey.is_token_error());
}

#[test]
fn uuid7_jti_carries_its_millisecond() {
    let ms = 1_700_000_000_123;
    let jti = Jti::v7(ms, [0xff; 10]).to_hex();
    assert_eq!(jti.len(), 32);
    assert_eq!(&jti[12..13], "7");
    assert_eq!(Jti::v7_unix_ms(&jti), Some(ms));
    assert_eq!(
        Jti::v7_unix_ms(&Jti::from_random_bytes([1; 16]).to_hex()),
        None
    );
    assert_eq!(Jti::v7_unix_ms(&jti.to_uppercase()), None);
    assert_eq!(Jti::v7_unix_ms("not-a-jti"), None);
}

#[test]
fn required_claims_are_checked_last() {
    let s = hs256();
    let t = s
        .mint(
            TokenKind::Access,
            "7",
            &Claims::new().with("role", "x"),
            NOW,
            jti(1),
        )
        .unwrap();
    let key = VerifyingKey::hmac(Algorithm::Hs256, SECRET).unwrap();
    let need = |claims: &[&str]| {
        Verifier::new(
            VerifierSettings::new(key.clone())
                .required_claims(claims.iter().map(|c| c.to_string()).collect()),
        )
        .unwrap()
    };
    assert!(need(&["role", "user_id"])
        .verify(&t.token, Expect::Untyped, NOW, |_| false)
        .is_ok());
    let err = need(&["role", "tenant"])
        .verify(&t.token, Expect::Untyped, NOW, |_| false)
        .unwrap_err();
    assert_eq!(
        (err.code(), err.to_string().as_str()),
        ("token_claim_missing", "Token has no 'tenant' claim")
    );
    let err = need(&["tenant"])
        .verify(&t.token, TokenKind::Refresh.into(), NOW, |_| false)
        .unwrap_err();
    assert_eq!(err.code(), "token_wrong_type", "type first");
    check_err(
        Verifier::new(VerifierSettings::new(key).required_claims(vec![String::new()])),
        "setting_invalid",
    );
}

#[test]
fn public_pem_only_in_its_exact_spki_shapes() {
    use base64ct::{Base64, Base64UrlUnpadded, Encoding as _};
    let keys = keys();
    let es = &keys["es256"];
    let reference =
        VerifyingKey::from_jwk(Algorithm::Es256, &es["public_jwk"].to_string()).unwrap();
    // The same key as a compressed point in SPKI.
    let x = Base64UrlUnpadded::decode_vec(es["public_jwk"]["x"].as_str().unwrap()).unwrap();
    let y = Base64UrlUnpadded::decode_vec(es["public_jwk"]["y"].as_str().unwrap()).unwrap();
    let oids = [
        0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
        0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ];
    let mut der = vec![0x30, 0x39];
    der.extend(oids);
    der.extend([0x03, 0x22, 0x00, 0x02 | (y[31] & 1)]);
    der.extend(&x);
    let pem = |der: &[u8], label: &str| {
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            Base64::encode_string(der)
        )
    };
    let compressed = VerifyingKey::from_pem(Algorithm::Es256, &pem(&der, "PUBLIC KEY")).unwrap();
    assert_eq!(compressed.thumbprint(), reference.thumbprint());
    // Anything else is refused: another label, trailing bytes, another curve's key.
    check_err(
        VerifyingKey::from_pem(Algorithm::Es256, &pem(&der, "RSA PUBLIC KEY")),
        "key_invalid",
    );
    let mut longer = der.clone();
    longer.push(0);
    check_err(
        VerifyingKey::from_pem(Algorithm::Es256, &pem(&longer, "PUBLIC KEY")),
        "key_invalid",
    );
    let ed_pem = keys["ed25519"]["public_pem"].as_str().unwrap();
    check_err(
        VerifyingKey::from_pem(Algorithm::Es256, ed_pem),
        "key_invalid",
    );
    check_err(
        VerifyingKey::from_pem(Algorithm::EdDsa, es["public_pem"].as_str().unwrap()),
        "key_invalid",
    );
    check_err(
        VerifyingKey::from_pem(
            Algorithm::EdDsa,
            "-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----",
        ),
        "key_invalid",
    );
    // A point not on the curve.
    let mut bad = der.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    bad[last - 1] ^= 0xff;
    let _ = VerifyingKey::from_pem(Algorithm::Es256, &pem(&bad, "PUBLIC KEY")); // error or another valid point; never a panic
}

#[test]
fn jti_hex_round_trips_exactly() {
    for jti in [Jti::v7(1_700_000_000_123, [0xab; 10]), jti(9)] {
        assert_eq!(Jti::from_hex(&jti.to_hex()), Some(jti));
    }
    let hex = jti(0xab).to_hex();
    for bad in [
        String::new(),
        hex.to_uppercase(),
        hex[..31].to_string(),
        format!("{hex}0"),
        format!("{}g", &hex[..31]),
        format!("{}é", &hex[..30]),
    ] {
        assert_eq!(Jti::from_hex(&bad), None, "{bad:?}");
    }
}

/// The server hands a rotated-out token's successor out again (the reuse interval) by
/// minting it again from the same token, instant and jti, instead of keeping live token
/// text in its store: that needs minting to be a function of its inputs, for every
/// algorithm (HMAC and Ed25519 are deterministic; ES256 signs with RFC 6979 nonces).
#[test]
fn rotating_the_same_token_at_the_same_instant_gives_the_same_text() {
    let keys = keys();
    let mut signers = vec![SigningKey::hmac(Algorithm::Hs256, SECRET).unwrap()];
    for alg in [Algorithm::Hs384, Algorithm::Hs512] {
        signers.push(SigningKey::hmac(alg, SECRET).unwrap());
    }
    for (alg, name) in DETERMINISTIC_KEYS {
        let pem = keys[name]["private_pem"].as_str().unwrap();
        signers.push(SigningKey::from_pem(alg, pem).unwrap());
    }
    for key in signers {
        let alg = key.algorithm();
        let s = Settings::builder(key).build().unwrap();
        let refresh = s
            .mint(
                TokenKind::Refresh,
                "7",
                &Claims::new().with("role", "x"),
                NOW,
                jti(3),
            )
            .unwrap();
        let refresh = s
            .verifier()
            .verify(&refresh.token, TokenKind::Refresh.into(), NOW + 5, |_| {
                false
            })
            .unwrap();
        let next = Jti::v7((NOW + 5) * 1000 + 17, [7; 10]);
        let first = s.rotate_refresh(&refresh, NOW + 5, next).unwrap();
        let again = s
            .rotate_refresh(&refresh, NOW + 5, Jti::from_hex(&first.jti).unwrap())
            .unwrap();
        assert_eq!(first.token, again.token, "{alg:?}");
        let other = s.rotate_refresh(&refresh, NOW + 6, next).unwrap();
        assert_ne!(first.token, other.token, "{alg:?}");
    }
}

/// A token of exactly these claims, signed with the HS256 test secret.
fn signed(claims: &Value) -> String {
    use base64ct::{Base64UrlUnpadded, Encoding as _};
    let key = SigningKey::hmac(Algorithm::Hs256, SECRET).unwrap();
    let head = Base64UrlUnpadded::encode_string(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = Base64UrlUnpadded::encode_string(claims.to_string().as_bytes());
    let message = format!("{head}.{body}");
    let signature = Base64UrlUnpadded::encode_string(&key.sign(message.as_bytes()));
    format!("{message}.{signature}")
}

fn policy(age: Option<u64>, lifetime: Option<u64>, leeway: u64) -> Verifier {
    let key = VerifyingKey::hmac(Algorithm::Hs256, SECRET).unwrap();
    let settings = VerifierSettings::new(key)
        .leeway(leeway)
        .max_token_age(age)
        .max_lifetime(lifetime);
    Verifier::new(settings).unwrap()
}

#[test]
fn lifetime_policy_max_token_age_and_max_lifetime() {
    let check = |verifier: &Verifier, claims: Value, now: u64, expected: Option<&str>| {
        let result = verifier.verify(&signed(&claims), Expect::Untyped, now, |_| false);
        match expected {
            None => assert!(result.is_ok(), "{claims} at {now}: {result:?}"),
            Some(code) => check_err(result, code),
        }
    };
    let claims = |iat: Option<u64>, exp: u64| {
        let mut c = json!({"exp": exp, "jti": "a"});
        if let Some(iat) = iat {
            c["iat"] = json!(iat);
        }
        c
    };
    // maxTokenAge: now - iat, with the leeway; a token without iat is refused.
    let aged = policy(Some(600), None, 0);
    check(&aged, claims(Some(NOW - 600), NOW + 10), NOW, None);
    check(
        &aged,
        claims(Some(NOW - 601), NOW + 10),
        NOW,
        Some("token_too_old"),
    );
    check(
        &aged,
        claims(None, NOW + 10),
        NOW,
        Some("token_claim_missing"),
    );
    let err = aged
        .verify(
            &signed(&claims(None, NOW + 10)),
            Expect::Untyped,
            NOW,
            |_| false,
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "Token has no 'iat' claim");
    check(
        &policy(Some(600), None, 5),
        claims(Some(NOW - 605), NOW + 10),
        NOW,
        None,
    );
    check(
        &policy(Some(600), None, 5),
        claims(Some(NOW - 606), NOW + 10),
        NOW,
        Some("token_too_old"),
    );
    // maxLifetime: exp - iat, whenever the token was issued; the message stays opaque.
    let short = policy(None, Some(3600), 0);
    check(&short, claims(Some(NOW - 10), NOW - 10 + 3600), NOW, None);
    check(
        &short,
        claims(Some(NOW - 10), NOW - 10 + 3601),
        NOW,
        Some("token_lifetime_too_long"),
    );
    let err = short
        .verify(
            &signed(&claims(Some(NOW), 253_402_300_799)),
            Expect::Untyped,
            NOW,
            |_| false,
        )
        .unwrap_err();
    assert_eq!(
        (err.code(), err.to_string().as_str()),
        ("token_lifetime_too_long", "Token is invalid")
    );
    // Without iat the token was issued by now at the latest: exp - now is the bound.
    check(&short, claims(None, NOW + 3600), NOW, None);
    check(
        &short,
        claims(None, NOW + 3601),
        NOW,
        Some("token_lifetime_too_long"),
    );
    check(
        &policy(None, Some(3600), 5),
        claims(None, NOW + 3605),
        NOW,
        None,
    );
    check(
        &policy(None, Some(3600), 5),
        claims(None, NOW + 3606),
        NOW,
        Some("token_lifetime_too_long"),
    );
    // A sliding token's refresh_exp is bounded as its exp is.
    let mut sliding = claims(Some(NOW), NOW + 60);
    sliding["refresh_exp"] = json!(NOW + 3601);
    check(&short, sliding, NOW, Some("token_lifetime_too_long"));
    // The earlier checks keep their codes: expiry comes first.
    check(
        &short,
        claims(Some(NOW - 9000), NOW - 1),
        NOW,
        Some("token_expired"),
    );
    // No policy: Simple JWT's answer.
    check(
        &policy(None, None, 0),
        claims(Some(NOW), 253_402_300_799),
        NOW,
        None,
    );
    // Policies are validated like the lifetimes: 1 s to 10 years.
    let key = VerifyingKey::hmac(Algorithm::Hs256, SECRET).unwrap();
    for (age, lifetime) in [
        (Some(0), None),
        (None, Some(0)),
        (Some(tollgate_core::MAX_LIFETIME + 1), None),
    ] {
        let settings = VerifierSettings::new(key.clone())
            .max_token_age(age)
            .max_lifetime(lifetime);
        check_err(Verifier::new(settings), "setting_invalid");
    }
}

#[test]
fn issuer_settings_refuse_tokens_they_would_never_mint() {
    // Default: the longest configured lifetime (refresh, 3 days).
    let settings = hs256();
    assert_eq!(settings.max_token_lifetime(), 3 * 86_400);
    let verifier = settings.verifier();
    let long = signed(
        &json!({"token_type": "access", "exp": 253_402_300_799_u64, "iat": NOW, "jti": "a"}),
    );
    check_err(
        verifier.verify(&long, Expect::Untyped, NOW, |_| false),
        "token_lifetime_too_long",
    );
    // Its own tokens of every kind pass, the sliding one (refresh_exp: 1 day) too.
    for kind in [TokenKind::Access, TokenKind::Refresh, TokenKind::Sliding] {
        let token = settings
            .mint(kind, "1", &Claims::new(), NOW, jti(1))
            .unwrap()
            .token;
        verifier
            .verify(&token, kind.into(), NOW + 1, |_| false)
            .unwrap();
    }
    // A refresh token of a configuration with a longer lifetime is refused...
    let longer = Settings::builder(SigningKey::hmac(Algorithm::Hs256, SECRET).unwrap())
        .refresh_token_lifetime(30 * 86_400)
        .build()
        .unwrap();
    let old = longer
        .mint(TokenKind::Refresh, "1", &Claims::new(), NOW, jti(2))
        .unwrap()
        .token;
    check_err(
        verifier.verify(&old, Expect::Untyped, NOW, |_| false),
        "token_lifetime_too_long",
    );
    // ...unless max_token_lifetime says so; it may not be below the longest lifetime.
    let lenient = Settings::builder(SigningKey::hmac(Algorithm::Hs256, SECRET).unwrap())
        .max_token_lifetime(Some(30 * 86_400))
        .build()
        .unwrap();
    lenient
        .verifier()
        .verify(&old, Expect::Untyped, NOW, |_| false)
        .unwrap();
    check_err(
        Settings::builder(SigningKey::hmac(Algorithm::Hs256, SECRET).unwrap())
            .max_token_lifetime(Some(86_400))
            .build(),
        "setting_invalid",
    );
}

#[test]
fn rsa_keys_under_2048_bits_are_weak() {
    let keys = keys();
    let weak = &keys["rsa-weak"];
    check_err(
        VerifyingKey::from_pem(Algorithm::Rs256, weak["public_pem"].as_str().unwrap()),
        "key_weak",
    );
    check_err(
        VerifyingKey::from_jwk(Algorithm::Ps256, &weak["public_jwk"].to_string()),
        "key_weak",
    );
    check_err(
        SigningKey::from_pem(Algorithm::Rs256, weak["private_pem"].as_str().unwrap()),
        "key_weak",
    );
    // An RSA key is not an EC or HMAC key, and an EC key not an RSA key.
    let rsa_pem = keys["rsa"]["public_pem"].as_str().unwrap();
    check_err(
        VerifyingKey::from_pem(Algorithm::Es256, rsa_pem),
        "key_invalid",
    );
    check_err(
        VerifyingKey::from_pem(
            Algorithm::Rs256,
            keys["es384"]["public_pem"].as_str().unwrap(),
        ),
        "key_invalid",
    );
    check_err(
        VerifyingKey::from_jwk(Algorithm::Es384, &keys["rsa"]["public_jwk"].to_string()),
        "key_algorithm_mismatch",
    );
}

#[test]
fn every_algorithm_mints_and_verifies_its_own_tokens() {
    let keys = keys();
    for alg in Algorithm::ALL {
        let key = if alg.is_hmac() {
            SigningKey::hmac(alg, SECRET).unwrap()
        } else {
            let name = match alg {
                Algorithm::EdDsa => "ed25519",
                Algorithm::Es256 => "es256",
                Algorithm::Es384 => "es384",
                Algorithm::Es512 => "es512",
                _ => "rsa",
            };
            SigningKey::from_pem(alg, keys[name]["private_pem"].as_str().unwrap()).unwrap()
        };
        let settings = Settings::builder(key).build().unwrap();
        let issued = settings
            .mint(TokenKind::Access, "1", &Claims::new(), NOW, jti(1))
            .unwrap();
        let verified = settings
            .verifier()
            .verify(&issued.token, TokenKind::Access.into(), NOW, |_| false)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(verified.user_id(), Some("1"), "{alg}");
        // Deterministic where the algorithm is (RS*, ES* through RFC 6979 or its kin).
        let again = settings
            .mint(TokenKind::Access, "1", &Claims::new(), NOW, jti(1))
            .unwrap();
        let randomized = matches!(alg, Algorithm::Ps256 | Algorithm::Ps384 | Algorithm::Ps512);
        assert_eq!(issued.token == again.token, !randomized, "{alg}");
        // A flipped signature bit fails.
        let mut bad = issued.token.into_bytes();
        let last = bad.len() - 3;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        check_err(
            settings.verifier().verify(
                std::str::from_utf8(&bad).unwrap(),
                TokenKind::Access.into(),
                NOW,
                |_| false,
            ),
            "token_signature_invalid",
        );
    }
}

#[test]
fn p384_and_p521_public_pem_compressed_too() {
    use base64ct::{Base64, Base64UrlUnpadded, Encoding as _};
    let keys = keys();
    // SPKI headers of a compressed point, written out independently of alg.rs.
    for (alg, name, header) in [
        (
            Algorithm::Es384,
            "es384",
            &[
                0x30, 0x46, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x32, 0x00,
            ][..],
        ),
        (
            Algorithm::Es512,
            "es512",
            &[
                0x30, 0x58, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                0x05, 0x2b, 0x81, 0x04, 0x00, 0x23, 0x03, 0x44, 0x00,
            ][..],
        ),
    ] {
        let jwk = &keys[name]["public_jwk"];
        let x = Base64UrlUnpadded::decode_vec(jwk["x"].as_str().unwrap()).unwrap();
        let y = Base64UrlUnpadded::decode_vec(jwk["y"].as_str().unwrap()).unwrap();
        let der = [header, &[0x02 | (y[y.len() - 1] & 1)], &x].concat();
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            Base64::encode_string(&der)
        );
        let compressed = VerifyingKey::from_pem(alg, &pem).unwrap();
        assert_eq!(
            compressed.kid(),
            keys[name]["kid"].as_str().unwrap(),
            "{alg}"
        );
        let uncompressed =
            VerifyingKey::from_pem(alg, keys[name]["public_pem"].as_str().unwrap()).unwrap();
        assert_eq!(uncompressed.kid(), compressed.kid());
        // The other curve's SPKI is refused.
        let other = if alg == Algorithm::Es384 {
            Algorithm::Es512
        } else {
            Algorithm::Es384
        };
        check_err(VerifyingKey::from_pem(other, &pem), "key_invalid");
    }
}
