//! Runs every shared vector in `tests/vectors/*.json` through tollgate-core and checks
//! the exact outcome: decoded header and claims on success, code and message on failure.

use std::{collections::BTreeSet, fs, path::PathBuf};

use base64ct::{Base64UrlUnpadded, Encoding as _};
use serde::Deserialize;
use serde_json::Value;
use tollgate_core::{
    Algorithm, Audience, Error, Expect, TokenKind, Verifier, VerifierSettings, VerifyingKey,
};

#[derive(Deserialize)]
struct File {
    source: String,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    name: String,
    #[serde(default)]
    description: String,
    algorithm: String,
    key: Value,
    now: u64,
    #[serde(default)]
    leeway: u64,
    #[serde(default)]
    audience: Option<Value>,
    #[serde(default)]
    issuer: Option<String>,
    expect_type: String,
    #[serde(default)]
    blacklisted: Vec<String>,
    #[serde(default)]
    required_claims: Vec<String>,
    #[serde(default)]
    max_token_age: Option<u64>,
    #[serde(default)]
    max_lifetime: Option<u64>,
    token: String,
    expect_fail: bool,
    #[serde(default)]
    header: Option<Value>,
    #[serde(default)]
    claims: Option<Value>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

fn keys() -> Value {
    serde_json::from_str(&fs::read_to_string(vectors_dir().join("keys.json")).unwrap()).unwrap()
}

/// One verifying key from a name in keys.json or an inline JWK.
fn key(keys: &Value, alg: Algorithm, spec: &Value) -> VerifyingKey {
    match spec {
        Value::String(name) => {
            let entry = &keys[name.as_str()];
            if alg.is_hmac() {
                VerifyingKey::hmac(alg, entry["secret"].as_str().unwrap().as_bytes()).unwrap()
            } else {
                let pem = VerifyingKey::from_pem(alg, entry["public_pem"].as_str().unwrap())
                    .unwrap_or_else(|e| panic!("{name} for {alg}: {e}"));
                // The JWK form of the same key must give the same key id (thumbprint).
                let jwk = VerifyingKey::from_jwk(alg, &entry["public_jwk"].to_string()).unwrap();
                assert_eq!(pem.thumbprint(), jwk.thumbprint());
                assert_eq!(jwk.kid(), entry["kid"].as_str().unwrap());
                pem.with_kid(entry["kid"].as_str().unwrap())
            }
        }
        jwk => VerifyingKey::from_jwk(alg, &jwk.to_string()).unwrap(),
    }
}

fn verifier(keys: &Value, v: &Vector) -> Verifier {
    let alg = Algorithm::from_name(&v.algorithm).unwrap();
    let list: Vec<VerifyingKey> = match v.key.get("keys") {
        Some(Value::Array(set)) => set.iter().map(|k| key(keys, alg, k)).collect(),
        _ => vec![key(keys, alg, &v.key)],
    };
    let audience = match &v.audience {
        None | Some(Value::Null) => None,
        Some(Value::String(one)) => Some(Audience::One(one.clone())),
        Some(Value::Array(many)) => Some(Audience::Many(
            many.iter().map(|a| a.as_str().unwrap().into()).collect(),
        )),
        Some(other) => panic!("{}: bad audience {other}", v.name),
    };
    Verifier::new(
        VerifierSettings::with_keys(alg, list)
            .leeway(v.leeway)
            .audience(audience)
            .issuer(v.issuer.clone())
            .required_claims(v.required_claims.clone())
            .max_token_age(v.max_token_age)
            .max_lifetime(v.max_lifetime),
    )
    .unwrap()
}

fn run(verifier: &Verifier, v: &Vector) -> Result<tollgate_core::Verified, Error> {
    let blacklisted = |jti: &str| v.blacklisted.iter().any(|b| b == jti);
    let (expect, sliding_refresh) = match v.expect_type.as_str() {
        "access" => (Expect::Kind(TokenKind::Access), false),
        "refresh" => (Expect::Kind(TokenKind::Refresh), false),
        "sliding" => (Expect::Kind(TokenKind::Sliding), false),
        "sliding_refresh" => (Expect::Kind(TokenKind::Sliding), true),
        "untyped" => (Expect::Untyped, false),
        other => panic!("{}: unknown expect_type {other}", v.name),
    };
    let one_step = verifier.verify(&v.token, expect, v.now, blacklisted);
    // The two-step form (the server awaits its blacklist between the steps) agrees.
    let two_step = verifier
        .verify_pending(&v.token, expect, v.now)
        .and_then(|pending| {
            let listed = pending.jti().is_some_and(blacklisted);
            pending.finish(listed)
        });
    match (&one_step, &two_step) {
        (Ok(one), Ok(two)) => assert_eq!(one.payload_json(), two.payload_json(), "{}", v.name),
        (Err(one), Err(two)) => assert_eq!(one.code(), two.code(), "{}", v.name),
        _ => panic!("{}: {one_step:?} but two steps gave {two_step:?}", v.name),
    }
    // With the signature math handed out (the npm package's native crypto), and answered
    // by the same keys' math: the same outcome; and math is only asked for well-formed
    // signatures of the candidate keys.
    let keys = verifier.keys();
    let handed_out = verifier.verify_with_signature_math(
        &v.token,
        expect,
        v.now,
        blacklisted,
        |index, message, signature| {
            let key = &keys[index];
            assert!(key.signature_well_formed(signature), "{}", v.name);
            key.verify_signature(message, signature)
        },
    );
    match (&one_step, &handed_out) {
        (Ok(one), Ok(out)) => assert_eq!(one.payload_json(), out.payload_json(), "{}", v.name),
        (Err(one), Err(out)) => assert_eq!(one, out, "{}", v.name),
        _ => panic!("{}: {one_step:?} but handed out {handed_out:?}", v.name),
    }
    let verified = one_step?;
    if sliding_refresh {
        verifier.check_refresh_exp(&verified, v.now)?;
    }
    Ok(verified)
}

/// Checks one vector; returns the error code it produced (or "ok").
fn check(keys: &Value, source: &str, v: &Vector) -> String {
    let verifier = verifier(keys, v);
    let name = &v.name;
    match (run(&verifier, v), v.expect_fail) {
        (Ok(verified), false) => {
            assert_eq!(
                Some(&verified.claims().to_value()),
                v.claims.as_ref(),
                "{name}"
            );
            assert_eq!(
                Some(&verified.header().to_value()),
                v.header.as_ref(),
                "{name}"
            );
            // Python writes ASCII-escaped JSON; so must tollgate, byte for byte.
            if !source.starts_with("jose") {
                let payload = v.token.split('.').nth(1).unwrap();
                let payload = Base64UrlUnpadded::decode_vec(payload).unwrap();
                assert_eq!(
                    verified.claims().to_json(),
                    String::from_utf8(payload).unwrap(),
                    "{name}: re-serialized claims differ from the token's bytes"
                );
            }
            "ok".into()
        }
        (Err(err), true) => {
            assert_eq!(Some(err.code()), v.code.as_deref(), "{name}");
            assert_eq!(Some(err.to_string()), v.message.clone(), "{name}");
            err.code().into()
        }
        (Ok(_), true) => panic!("{name}: verified but expected {:?}", v.code),
        (Err(err), false) => panic!("{name}: expected success, got {} ({err})", err.code()),
    }
}

#[test]
fn every_vector_file_passes() {
    let keys = keys();
    let mut files: Vec<PathBuf> = fs::read_dir(vectors_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| p.file_name().unwrap() != "keys.json")
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "generated.json",
        "jose.json",
        "pyjwt.json",
        "simplejwt.json",
    ] {
        assert!(names.iter().any(|n| n == expected), "missing {expected}");
    }

    let mut outcomes = BTreeSet::new();
    let mut algorithms = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for path in &files {
        let file: File = serde_json::from_str(&fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!file.vectors.is_empty(), "{}", path.display());
        for v in &file.vectors {
            assert!(
                seen.insert(v.name.clone()),
                "duplicate vector name {}",
                v.name
            );
            assert!(!v.description.is_empty(), "{}: no description", v.name);
            outcomes.insert(check(&keys, &file.source, v));
            algorithms.insert(v.algorithm.clone());
            total += 1;
        }
    }
    assert!(total >= 150, "only {total} vectors");
    assert_eq!(algorithms.len(), Algorithm::ALL.len(), "{algorithms:?}");
    // Every token error the core can produce is exercised by at least one vector.
    for code in Error::ALL_CODES.iter().filter(|c| c.starts_with("token_")) {
        assert!(outcomes.contains(*code), "no vector produces {code}");
    }
}

/// The malleability vectors (tests/vectors/native/, `gen/gen_malleable.mjs`): the core's
/// verdicts the package's native signature math must match.
#[test]
fn native_malleability_vectors_pass() {
    let keys = keys();
    let path = vectors_dir().join("native/malleable.json");
    let file: File = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    assert!(file.vectors.len() >= 40);
    for v in &file.vectors {
        check(&keys, &file.source, v);
    }
}

/// An Ed25519 key of small order verifies forged signatures (R of small order, S = 0) in
/// ed25519-dalek's `verify` and OpenSSL alike: it is refused as a key.
#[test]
fn small_order_ed25519_keys_are_weak() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let order_two = {
        let mut y = [0xff; 32];
        y[0] = 0xec;
        y[31] = 0x7f;
        y
    };
    for point in [identity, [0; 32], order_two] {
        let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": Base64UrlUnpadded::encode_string(&point)});
        let err = VerifyingKey::from_jwk(Algorithm::EdDsa, &jwk.to_string()).unwrap_err();
        assert!(matches!(err, Error::WeakKey | Error::KeyInvalid), "{err:?}");
    }
    let err = VerifyingKey::from_raw(Algorithm::EdDsa, &identity).unwrap_err();
    assert_eq!(err, Error::WeakKey);
}

/// What a decode tells a caller: the header and payload text and the expiry, or the error.
type DecodeAnswer = Result<(String, String, Result<Option<u64>, Error>), Error>;

fn decoded(result: Result<tollgate_core::Decoded, Error>) -> DecodeAnswer {
    result.map(|d| {
        (
            d.header_json().into(),
            d.payload_json().into(),
            d.expires_at(),
        )
    })
}

/// Reusing the previous token's header changes nothing: over every pair of
/// consecutive vector tokens (same or different headers, valid or not), and each
/// token after itself, `decode_reusing` answers exactly as `decode`.
#[test]
fn decode_reusing_a_header_agrees_with_decode() {
    let mut tokens = Vec::new();
    for entry in fs::read_dir(vectors_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") && path.file_name().unwrap() != "keys.json"
        {
            let file: File = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
            tokens.extend(file.vectors.into_iter().map(|v| v.token));
        }
    }
    assert!(tokens.len() > 200);
    let mut reused = 0;
    for pair in tokens
        .windows(2)
        .chain(tokens.iter().map(core::slice::from_ref))
    {
        let (previous, token) = (&pair[0], &pair[pair.len() - 1]);
        let Ok(decoded_previous) = tollgate_core::decode(previous) else {
            continue;
        };
        let expected = decoded(tollgate_core::decode(token));
        let got = decoded(tollgate_core::decode_reusing(
            token,
            Some(&decoded_previous),
        ));
        assert_eq!(got, expected, "{token} after {previous}");
        reused += usize::from(token.split('.').next() == previous.split('.').next());
    }
    // The shortcut itself was taken, many times.
    assert!(reused > 200, "{reused}");
}
