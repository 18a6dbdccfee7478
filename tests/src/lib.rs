//! The deterministic generator of `tests/vectors/generated.json`.
//!
//! Fixed keys (`tests/vectors/keys.json`), a fixed clock and counter-based jti values,
//! so the output is identical on every run; `tests/it/vectors_drift.rs` fails when the
//! committed file differs from a fresh run. Each vector's expected outcome is written
//! down here by hand (the generator never asks the verifier what it thinks), so the
//! vectors can catch the verifier being wrong.

use base64ct::{Base64UrlUnpadded, Encoding as _};
use serde::Serialize;
use serde_json::{json, Value};
use tollgate_core::{Algorithm, Claims, Error, Jti, Settings, SigningKey, TokenKind, MAX_TIME};

/// When generated tokens are issued.
pub const ISSUED_AT: u64 = 1_700_000_000;
/// When they are verified, unless a vector says otherwise.
pub const VERIFY_AT: u64 = 1_700_000_100;

#[derive(Serialize)]
struct Vector {
    name: String,
    description: String,
    algorithm: &'static str,
    key: Value,
    now: u64,
    leeway: u64,
    audience: Value,
    issuer: Option<String>,
    expect_type: &'static str,
    blacklisted: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    required_claims: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_token_age: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_lifetime: Option<u64>,
    token: String,
    expect_fail: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    claims: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// A vector before its expectation is attached.
struct Case {
    name: String,
    description: String,
    algorithm: Algorithm,
    key: Value,
    now: u64,
    leeway: u64,
    audience: Value,
    issuer: Option<String>,
    expect_type: &'static str,
    blacklisted: Vec<String>,
    required_claims: Vec<String>,
    max_token_age: Option<u64>,
    max_lifetime: Option<u64>,
    token: String,
}

impl Case {
    fn new(name: &str, description: &str, algorithm: Algorithm, token: &str) -> Self {
        Self {
            name: format!("gen-{name}"),
            description: description.into(),
            algorithm,
            key: default_key_name(algorithm).into(),
            now: VERIFY_AT,
            leeway: 0,
            audience: Value::Null,
            issuer: None,
            expect_type: "access",
            blacklisted: Vec::new(),
            required_claims: Vec::new(),
            max_token_age: None,
            max_lifetime: None,
            token: token.into(),
        }
    }

    fn max_token_age(mut self, secs: u64) -> Self {
        self.max_token_age = Some(secs);
        self
    }

    fn max_lifetime(mut self, secs: u64) -> Self {
        self.max_lifetime = Some(secs);
        self
    }

    fn require(mut self, claim: &str) -> Self {
        self.required_claims.push(claim.into());
        self
    }

    fn expect(mut self, expect_type: &'static str) -> Self {
        self.expect_type = expect_type;
        self
    }

    fn now(mut self, now: u64) -> Self {
        self.now = now;
        self
    }

    fn leeway(mut self, leeway: u64) -> Self {
        self.leeway = leeway;
        self
    }

    fn key(mut self, key: Value) -> Self {
        self.key = key;
        self
    }

    fn audience(mut self, audience: Value) -> Self {
        self.audience = audience;
        self
    }

    fn issuer(mut self, issuer: &str) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    fn blacklisted(mut self, jti: &str) -> Self {
        self.blacklisted.push(jti.into());
        self
    }

    fn into_vector(self) -> Vector {
        Vector {
            name: self.name,
            description: self.description,
            algorithm: self.algorithm.name(),
            key: self.key,
            now: self.now,
            leeway: self.leeway,
            audience: self.audience,
            issuer: self.issuer,
            expect_type: self.expect_type,
            blacklisted: self.blacklisted,
            required_claims: self.required_claims,
            max_token_age: self.max_token_age,
            max_lifetime: self.max_lifetime,
            token: self.token,
            expect_fail: false,
            header: None,
            claims: None,
            code: None,
            message: None,
        }
    }
}

fn default_key_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::EdDsa => "ed25519",
        Algorithm::Es256 => "es256",
        Algorithm::Es384 => "es384",
        Algorithm::Es512 => "es512",
        alg if alg.is_rsa() => "rsa",
        _ => "hmac",
    }
}

/// The signing key named `name` in keys.json, for `alg`.
pub fn signing_key(keys: &Value, alg: Algorithm, name: &str) -> SigningKey {
    let entry = &keys[name];
    if alg.is_hmac() {
        SigningKey::hmac(alg, entry["secret"].as_str().expect("secret").as_bytes())
            .expect("hmac key")
    } else {
        SigningKey::from_pem(alg, entry["private_pem"].as_str().expect("pem")).expect("pem key")
    }
}

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// A token from raw header and payload bytes, signed with `key`: for shapes that
/// tollgate itself would never mint.
fn raw_token(key: &SigningKey, header: &str, payload: &[u8]) -> String {
    signed_segments(key, &b64(header.as_bytes()), &b64(payload))
}

/// A token whose first two segments are taken as written (non-canonical base64url
/// included) and correctly signed: only the canonical-form rule can refuse it.
fn signed_segments(key: &SigningKey, header: &str, payload: &str) -> String {
    let signing_input = format!("{header}.{payload}");
    let signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&signature))
}

/// `segment` with the lowest spare bit of its last character set: the same bytes to a
/// lenient decoder, a different string to the signature. `segment` must have spare bits
/// (its length is not a multiple of 4).
fn with_spare_bit(segment: &str) -> String {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    assert!(segment.len() % 4 != 0, "{segment} has no spare bits");
    let (head, last) = segment.split_at(segment.len() - 1);
    let idx = ALPHABET.find(last).unwrap();
    format!("{head}{}", ALPHABET.chars().nth(idx | 1).unwrap())
}

fn std_header(alg: Algorithm) -> Value {
    json!({"alg": alg.name(), "typ": "JWT"})
}

fn std_header_text(alg: Algorithm) -> String {
    format!(r#"{{"alg":"{}","typ":"JWT"}}"#, alg.name())
}

struct Gen {
    keys: Value,
    vectors: Vec<Vector>,
    counter: u8,
}

impl Gen {
    fn jti(&mut self) -> Jti {
        self.counter += 1;
        let mut bytes = [0u8; 16];
        bytes[0] = 0x7a;
        bytes[15] = self.counter;
        Jti::from_random_bytes(bytes)
    }

    fn settings(&self, alg: Algorithm) -> Settings {
        let key = signing_key(&self.keys, alg, default_key_name(alg));
        Settings::builder(key).build().expect("settings")
    }

    fn key(&self, alg: Algorithm) -> SigningKey {
        signing_key(&self.keys, alg, default_key_name(alg))
    }

    fn push(&mut self, v: Vector) {
        assert!(
            self.vectors.iter().all(|other| other.name != v.name),
            "duplicate vector name {}",
            v.name
        );
        self.vectors.push(v);
    }

    fn ok(&mut self, case: Case, header: Value, claims: &Claims) {
        let mut v = case.into_vector();
        v.header = Some(header);
        v.claims = Some(claims.to_value());
        self.push(v);
    }

    fn fail(&mut self, case: Case, err: Error) {
        let mut v = case.into_vector();
        v.expect_fail = true;
        v.code = Some(err.code());
        v.message = Some(err.to_string());
        self.push(v);
    }
}

fn custom_claims(username: &str) -> Claims {
    Claims::new()
        .with("username", username)
        .with("email", format!("{}@example.com", username.to_lowercase()))
        .with("is_staff", false)
}

/// The error of a claim of the wrong JSON type: "Token is invalid", but a type claim
/// that is not a string is a wrong type where a type is expected (Simple JWT compares
/// it with its class's type).
fn claim_error(name: &str) -> Error {
    if name.starts_with("token-type") {
        Error::WrongType
    } else {
        Error::ClaimInvalid
    }
}

/// Simple JWT-shaped claims as JSON text, with `extra` spliced in after the jti.
fn claims_text(jti: &str, exp: &str, extra: &str) -> String {
    format!(
        r#"{{"token_type":"access","exp":{exp},"iat":{ISSUED_AT},"jti":"{jti}","user_id":"42"{extra}}}"#
    )
}

/// Every vector, as the JSON text committed in `tests/vectors/generated.json`.
pub fn generate(keys: &Value) -> String {
    let mut g = Gen {
        keys: keys.clone(),
        vectors: Vec::new(),
        counter: 0,
    };
    per_algorithm(&mut g);
    malleability(&mut g);
    lifetimes(&mut g);
    envelopes(&mut g);
    headers(&mut g);
    claim_values(&mut g);
    sizes(&mut g);
    simple_jwt_checks(&mut g);
    hostile(&mut g);
    lifetime_policy(&mut g);
    let file = json!({
        "source": "tollgate-core (tests/src/lib.rs, deterministic)",
        "vectors": g.vectors,
    });
    let mut text = serde_json::to_string_pretty(&file).expect("json");
    text.push('\n');
    text
}

/// Each algorithm: every kind minted, derived and rotated; tampering detected.
fn per_algorithm(g: &mut Gen) {
    for alg in Algorithm::ALL {
        let a = alg.name().to_lowercase();
        let settings = g.settings(alg);
        let custom = custom_claims("alice");
        let header = std_header(alg);

        let access = settings
            .mint(TokenKind::Access, "42", &custom, ISSUED_AT, g.jti())
            .unwrap();
        let case = Case::new(
            &format!("{a}-access"),
            "minted access token",
            alg,
            &access.token,
        );
        g.ok(case, header.clone(), &access.claims);

        let refresh = settings
            .mint(TokenKind::Refresh, "42", &custom, ISSUED_AT, g.jti())
            .unwrap();
        let case = Case::new(
            &format!("{a}-refresh"),
            "minted refresh token",
            alg,
            &refresh.token,
        )
        .expect("refresh");
        g.ok(case, header.clone(), &refresh.claims);

        let later = ISSUED_AT + 600;
        let verified = settings
            .verifier()
            .verify(&refresh.token, TokenKind::Refresh.into(), later, |_| false)
            .unwrap();
        let derived = settings
            .access_from_refresh(&verified, later, g.jti())
            .unwrap();
        let case = Case::new(
            &format!("{a}-access-from-refresh"),
            "access token derived from a refresh token: claims copied but type/exp/iat/jti",
            alg,
            &derived.token,
        )
        .now(later);
        g.ok(case, header.clone(), &derived.claims);

        let rotated = settings.rotate_refresh(&verified, later, g.jti()).unwrap();
        let case = Case::new(
            &format!("{a}-rotated-refresh"),
            "rotated refresh token: same claims in place, new jti/exp/iat",
            alg,
            &rotated.token,
        )
        .expect("refresh")
        .now(later);
        g.ok(case, header.clone(), &rotated.claims);

        let sliding = settings
            .mint(TokenKind::Sliding, "42", &Claims::new(), ISSUED_AT, g.jti())
            .unwrap();
        let case = Case::new(
            &format!("{a}-sliding"),
            "minted sliding token",
            alg,
            &sliding.token,
        )
        .expect("sliding_refresh");
        g.ok(case, header.clone(), &sliding.claims);

        // Tampering: the payload of another token under this token's signature.
        let parts: Vec<&str> = access.token.split('.').collect();
        let other_payload = refresh.token.split('.').nth(1).unwrap();
        let spliced = format!("{}.{}.{}", parts[0], other_payload, parts[2]);
        let case = Case::new(
            &format!("{a}-spliced-payload"),
            "payload of another token under this signature",
            alg,
            &spliced,
        );
        g.fail(case, Error::SignatureInvalid);

        let sig = Base64UrlUnpadded::decode_vec(parts[2]).unwrap();
        let short = format!("{}.{}.{}", parts[0], parts[1], b64(&sig[..sig.len() - 1]));
        let case = Case::new(
            &format!("{a}-signature-truncated"),
            "signature one byte short",
            alg,
            &short,
        );
        g.fail(case, Error::SignatureInvalid);

        let mut flipped = sig.clone();
        flipped[0] ^= 1;
        let flipped = format!("{}.{}.{}", parts[0], parts[1], b64(&flipped));
        let case = Case::new(
            &format!("{a}-signature-bit-flip"),
            "one signature bit flipped",
            alg,
            &flipped,
        );
        g.fail(case, Error::SignatureInvalid);

        let empty = format!("{}.{}.", parts[0], parts[1]);
        let case = Case::new(
            &format!("{a}-signature-empty"),
            "empty signature segment",
            alg,
            &empty,
        );
        g.fail(case, Error::SignatureInvalid);

        let other_name = format!("{}-other", default_key_name(alg));
        let case = Case::new(
            &format!("{a}-other-key"),
            "verified with a key that did not sign it",
            alg,
            &access.token,
        )
        .key(other_name.into());
        g.fail(case, Error::SignatureInvalid);
    }

    // Several keys (rotation): the token's kid picks one; an unknown kid is refused.
    for alg in [
        Algorithm::EdDsa,
        Algorithm::Es256,
        Algorithm::Es512,
        Algorithm::Rs256,
    ] {
        let a = alg.name().to_lowercase();
        let key = g.key(alg);
        let settings = Settings::builder(key.clone())
            .include_kid(true)
            .build()
            .unwrap();
        let access = settings
            .mint(TokenKind::Access, "42", &Claims::new(), ISSUED_AT, g.jti())
            .unwrap();
        let name = default_key_name(alg);
        let set = json!({"keys": [format!("{name}-other"), name]});
        let header = json!({"alg": alg.name(), "kid": key.kid(), "typ": "JWT"});
        let case = Case::new(
            &format!("{a}-kid-selects-key"),
            "kid picks the second key of a set",
            alg,
            &access.token,
        )
        .key(set.clone());
        g.ok(case, header, &access.claims);

        let other = signing_key(&g.keys, alg, &format!("{name}-other"));
        let unknown = raw_token(
            &other,
            &format!(
                r#"{{"alg":"{}","kid":"no-such-key","typ":"JWT"}}"#,
                alg.name()
            ),
            access.claims.to_json().as_bytes(),
        );
        let case = Case::new(
            &format!("{a}-kid-unknown"),
            "kid names no configured key",
            alg,
            &unknown,
        )
        .key(set);
        g.fail(case, Error::KeyUnknown);
    }
}

/// ECDSA signatures are malleable: (r, s) and (r, n - s) both verify. The blacklist is
/// keyed by jti, never by token text, so the twin of a revoked token stays revoked.
fn malleability(g: &mut Gen) {
    use p256::elliptic_curve::PrimeField as _;
    let alg = Algorithm::Es256;
    let settings = g.settings(alg);
    let refresh = settings
        .mint(TokenKind::Refresh, "42", &Claims::new(), ISSUED_AT, g.jti())
        .unwrap();
    let (signed, sig) = refresh.token.rsplit_once('.').unwrap();
    let sig = Base64UrlUnpadded::decode_vec(sig).unwrap();
    let mut s_bytes = p256::FieldBytes::default();
    s_bytes.copy_from_slice(&sig[32..]);
    let s = p256::Scalar::from_repr(s_bytes).unwrap();
    let mut twin_sig = sig[..32].to_vec();
    twin_sig.extend_from_slice(&(-s).to_repr());
    let twin = format!("{signed}.{}", b64(&twin_sig));
    assert_ne!(twin, refresh.token);
    let case = Case::new(
        "es256-malleable-twin",
        "(r, n - s): the other valid signature of the same token",
        alg,
        &twin,
    )
    .expect("refresh");
    g.ok(case, std_header(alg), &refresh.claims);
    let case = Case::new(
        "es256-malleable-twin-blacklisted",
        "the (r, n - s) twin of a blacklisted token is still blacklisted (keyed by jti)",
        alg,
        &twin,
    )
    .expect("refresh")
    .blacklisted(&refresh.jti);
    g.fail(case, Error::Blacklisted);
}

/// Expiry, leeway, nbf and iat boundaries (Simple JWT: `exp <= now - leeway` is expired).
fn lifetimes(g: &mut Gen) {
    let alg = Algorithm::Hs256;
    let settings = g.settings(alg);
    let access = settings
        .mint(
            TokenKind::Access,
            "42",
            &custom_claims("bob"),
            ISSUED_AT,
            g.jti(),
        )
        .unwrap();
    let exp = access.exp;
    let header = std_header(alg);
    let t = &access.token;
    g.fail(
        Case::new("expired-at-exp", "exp == now is expired", alg, t).now(exp),
        Error::Expired,
    );
    g.ok(
        Case::new("valid-one-second-before-exp", "exp == now + 1", alg, t).now(exp - 1),
        header.clone(),
        &access.claims,
    );
    g.fail(
        Case::new("expired-long-ago", "a year after exp", alg, t).now(exp + 366 * 86_400),
        Error::Expired,
    );
    g.ok(
        Case::new("leeway-keeps-valid", "exp == now - leeway + 1", alg, t)
            .now(exp + 29)
            .leeway(30),
        header.clone(),
        &access.claims,
    );
    g.fail(
        Case::new("leeway-edge-expired", "exp == now - leeway", alg, t)
            .now(exp + 30)
            .leeway(30),
        Error::Expired,
    );

    let key = g.key(alg);
    for (name, claim, offset, leeway, expected) in [
        ("nbf-now", "nbf", 0, 0, None),
        ("nbf-future", "nbf", 1, 0, Some(Error::NotYetValid)),
        ("nbf-future-within-leeway", "nbf", 10, 10, None),
        (
            "nbf-future-beyond-leeway",
            "nbf",
            11,
            10,
            Some(Error::NotYetValid),
        ),
        ("iat-future", "iat", 1, 0, Some(Error::NotYetValid)),
        ("iat-future-within-leeway", "iat", 5, 5, None),
    ] {
        let jti = g.jti().to_hex();
        let mut claims: Claims = Claims::new()
            .with("token_type", "access")
            .with("exp", VERIFY_AT + 1800)
            .with("iat", ISSUED_AT)
            .with("jti", jti.as_str())
            .with("user_id", "42");
        claims.set(claim, VERIFY_AT + offset);
        let token = raw_token(&key, &std_header_text(alg), claims.to_json().as_bytes());
        let case = Case::new(
            name,
            &format!("{claim} = now + {offset}, leeway {leeway}"),
            alg,
            &token,
        )
        .leeway(leeway);
        match expected {
            None => g.ok(case, header.clone(), &claims),
            Some(err) => g.fail(case, err),
        }
    }
}

/// The verifier's lifetime policy (issue #17): `max_token_age` (`now - iat`, with the
/// leeway; no `iat` is refused) and `max_lifetime` (`exp - iat` and `refresh_exp - iat`;
/// without `iat`, `exp - now` beyond the leeway). Fixed jti values: the counter's
/// sequence of the vectors above stays as it was.
fn lifetime_policy(g: &mut Gen) {
    let alg = Algorithm::Hs256;
    let key = g.key(alg);
    let header = std_header(alg);
    let claims = |jti: &str, iat: Option<u64>, exp: u64| {
        let mut c = Claims::new().with("token_type", "access").with("exp", exp);
        if let Some(iat) = iat {
            c.set("iat", iat);
        }
        c.with("jti", jti).with("user_id", "42")
    };
    let age = VERIFY_AT - ISSUED_AT;
    let issued = claims("policy-issued", Some(ISSUED_AT), ISSUED_AT + 1800);
    let issued_token = raw_token(&key, &std_header_text(alg), issued.to_json().as_bytes());
    let no_iat = claims("policy-no-iat", None, VERIFY_AT + 1800);
    let no_iat_token = raw_token(&key, &std_header_text(alg), no_iat.to_json().as_bytes());
    let forever = claims("policy-forever", Some(ISSUED_AT), MAX_TIME);
    let forever_token = raw_token(&key, &std_header_text(alg), forever.to_json().as_bytes());
    let t = issued_token.as_str();
    let cases = [
        (
            "max-token-age-edge",
            "now - iat == max_token_age",
            t,
            &issued,
            Some(age),
            None,
            0,
            None,
        ),
        (
            "max-token-age-passed",
            "now - iat == max_token_age + 1",
            t,
            &issued,
            Some(age - 1),
            None,
            0,
            Some(Error::TooOld),
        ),
        (
            "max-token-age-leeway",
            "now - iat == max_token_age + leeway",
            t,
            &issued,
            Some(age - 5),
            None,
            5,
            None,
        ),
        (
            "max-token-age-no-iat",
            "no iat under a max_token_age policy",
            &no_iat_token,
            &no_iat,
            Some(600),
            None,
            0,
            Some(Error::ClaimMissing("iat".into())),
        ),
        (
            "max-lifetime-edge",
            "exp - iat == max_lifetime",
            t,
            &issued,
            None,
            Some(1800),
            0,
            None,
        ),
        (
            "max-lifetime-passed",
            "exp - iat == max_lifetime + 1",
            t,
            &issued,
            None,
            Some(1799),
            0,
            Some(Error::LifetimeTooLong),
        ),
        (
            "max-lifetime-year-9999",
            "exp at the end of year 9999, max_lifetime 3 days",
            &forever_token,
            &forever,
            None,
            Some(3 * 86_400),
            0,
            Some(Error::LifetimeTooLong),
        ),
        (
            "max-lifetime-no-iat-edge",
            "no iat: exp - now == max_lifetime",
            &no_iat_token,
            &no_iat,
            None,
            Some(1800),
            0,
            None,
        ),
        (
            "max-lifetime-no-iat-passed",
            "no iat: exp - now == max_lifetime + 1",
            &no_iat_token,
            &no_iat,
            None,
            Some(1799),
            0,
            Some(Error::LifetimeTooLong),
        ),
        (
            "max-lifetime-no-iat-leeway",
            "no iat: exp - now == max_lifetime + leeway",
            &no_iat_token,
            &no_iat,
            None,
            Some(1795),
            5,
            None,
        ),
        (
            "max-both-edge",
            "both policies at their edges",
            t,
            &issued,
            Some(age),
            Some(1800),
            0,
            None,
        ),
    ];
    for (name, description, token, claims, max_age, max_lifetime, leeway, expected) in cases {
        let mut case = Case::new(&format!("policy-{name}"), description, alg, token).leeway(leeway);
        if let Some(secs) = max_age {
            case = case.max_token_age(secs);
        }
        if let Some(secs) = max_lifetime {
            case = case.max_lifetime(secs);
        }
        match expected {
            None => g.ok(case, header.clone(), claims),
            Some(err) => g.fail(case, err),
        }
    }
    // A sliding token's refresh_exp is bounded too: exp - iat is 5 min, refresh_exp - iat a day.
    let sliding = Claims::new()
        .with("token_type", "sliding")
        .with("exp", ISSUED_AT + 300)
        .with("iat", ISSUED_AT)
        .with("jti", "policy-sliding")
        .with("refresh_exp", ISSUED_AT + 86_400)
        .with("user_id", "42");
    let token = raw_token(&key, &std_header_text(alg), sliding.to_json().as_bytes());
    let case = |max: u64| {
        Case::new(
            &format!("policy-max-lifetime-sliding-{max}"),
            &format!("sliding token: refresh_exp - iat == 86400, max_lifetime {max}"),
            alg,
            &token,
        )
        .expect("sliding")
        .max_lifetime(max)
    };
    g.ok(case(86_400), header.clone(), &sliding);
    g.fail(case(86_399), Error::LifetimeTooLong);
}

/// The compact serialization: segments, base64url canonical form, sizes of parts.
fn envelopes(g: &mut Gen) {
    let alg = Algorithm::Hs256;
    let settings = g.settings(alg);
    let access = settings
        .mint(
            TokenKind::Access,
            "42",
            &custom_claims("carol"),
            ISSUED_AT,
            g.jti(),
        )
        .unwrap();
    let t = access.token.as_str();
    let parts: Vec<&str> = t.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    // HS256 signatures are 32 bytes: 43 base64url characters with 2 spare bits.
    let non_canonical = format!("{h}.{p}.{}", with_spare_bit(s));
    let std_alphabet = t.replace('-', "+").replace('_', "/");
    let cases: Vec<(&str, &str, String)> = vec![
        ("empty-string", "empty token", String::new()),
        ("one-segment", "no dots", h.to_string()),
        ("two-segments", "header.payload only", format!("{h}.{p}")),
        ("four-segments", "an extra segment", format!("{t}.{s}")),
        (
            "jwe-shaped",
            "five segments, as a JWE",
            format!("{h}..{p}.{s}.{s}"),
        ),
        ("empty-header", "empty header segment", format!(".{p}.{s}")),
        (
            "empty-payload",
            "empty payload segment",
            format!("{h}..{s}"),
        ),
        ("only-dots", "two dots", "..".into()),
        (
            "padding-header",
            "= padding on the header",
            format!("{h}=.{p}.{s}"),
        ),
        (
            "padding-signature",
            "= padding on the signature",
            format!("{t}="),
        ),
        (
            "standard-alphabet",
            "+ and / instead of - and _",
            std_alphabet,
        ),
        (
            "non-canonical-trailing-bits",
            "last signature character has non-zero spare bits",
            non_canonical,
        ),
        ("leading-space", "leading whitespace", format!(" {t}")),
        ("trailing-newline", "trailing newline", format!("{t}\n")),
        (
            "inner-space",
            "a space inside the payload",
            format!("{h}.{} {}.{s}", &p[..10], &p[10..]),
        ),
        (
            "bearer-prefix",
            "the whole Authorization value instead of the token",
            format!("Bearer {t}"),
        ),
        (
            "non-ascii",
            "a non-ASCII character in the payload",
            format!("{h}.{}é.{s}", &p[..p.len() - 1]),
        ),
        (
            "header-not-json",
            "header is base64 of plain text",
            format!("{}.{p}.{s}", b64(b"hello")),
        ),
        (
            "header-array",
            "header is a JSON array",
            format!("{}.{p}.{s}", b64(br#"["HS256"]"#)),
        ),
        (
            "header-alg-number",
            "alg is not a string",
            format!("{}.{p}.{s}", b64(br#"{"alg":256,"typ":"JWT"}"#)),
        ),
        (
            "header-no-alg",
            "header without alg",
            format!("{}.{p}.{s}", b64(br#"{"typ":"JWT"}"#)),
        ),
        (
            "header-kid-number",
            "kid is not a string",
            format!("{}.{p}.{s}", b64(br#"{"alg":"HS256","kid":1}"#)),
        ),
        (
            "header-duplicate-alg",
            "alg given twice (none, then HS256)",
            format!(
                "{}.{p}.{s}",
                b64(br#"{"alg":"none","alg":"HS256","typ":"JWT"}"#)
            ),
        ),
    ];
    for (name, description, token) in cases {
        g.fail(
            Case::new(name, description, alg, &token),
            Error::TokenMalformed,
        );
    }
    // Extra JSON after the header object, still base64url: not one object.
    let trailing = format!("{}.{p}.{s}", b64(br#"{"alg":"HS256","typ":"JWT"} "#));
    // Whitespace inside JSON is still JSON; this one parses, so only the signature fails.
    g.fail(
        Case::new(
            "header-trailing-json-space",
            "header JSON with a trailing space (re-encoded header, old signature)",
            alg,
            &trailing,
        ),
        Error::SignatureInvalid,
    );
}

/// Header parameters: the algorithm is pinned by configuration; unsafe parameters refused.
fn headers(g: &mut Gen) {
    let alg = Algorithm::Hs256;
    let key = g.key(alg);
    let jti = g.jti().to_hex();
    let claims_json = claims_text(&jti, &(VERIFY_AT + 1800).to_string(), "");
    let claims: Claims = serde_json::from_str::<serde_json::Map<String, Value>>(&claims_json)
        .unwrap()
        .into_iter()
        .collect();
    let payload = claims_json.as_bytes();

    for (label, alg_name) in [
        ("none", "none"),
        ("none-title", "None"),
        ("none-upper", "NONE"),
        ("none-mixed", "nOnE"),
    ] {
        let token = format!(
            "{}.{}.",
            b64(format!(r#"{{"alg":"{alg_name}","typ":"JWT"}}"#).as_bytes()),
            b64(payload)
        );
        g.fail(
            Case::new(
                &format!("alg-{label}"),
                &format!("unsigned token, alg {alg_name:?}"),
                alg,
                &token,
            ),
            Error::AlgorithmMismatch,
        );
    }
    for alg_name in ["hs256", "HS384", "RS256", "ES256", "EdDSA", ""] {
        let token = raw_token(
            &key,
            &format!(r#"{{"alg":"{alg_name}","typ":"JWT"}}"#),
            payload,
        );
        let label = if alg_name.is_empty() {
            "empty".to_string()
        } else {
            alg_name.to_lowercase()
        };
        let label = if alg_name == "hs256" {
            "hs256-lowercase".to_string()
        } else {
            label
        };
        g.fail(
            Case::new(
                &format!("header-alg-{label}"),
                &format!("alg {alg_name:?} for an HS256 verifier (signed with the HS256 key)"),
                alg,
                &token,
            ),
            Error::AlgorithmMismatch,
        );
    }

    let refused = [
        (
            "crit",
            r#"{"alg":"HS256","crit":["exp"],"exp":1,"typ":"JWT"}"#,
        ),
        ("crit-empty", r#"{"alg":"HS256","crit":[],"typ":"JWT"}"#),
        (
            "b64-false",
            r#"{"alg":"HS256","b64":false,"crit":["b64"],"typ":"JWT"}"#,
        ),
        (
            "b64-false-no-crit",
            r#"{"alg":"HS256","b64":false,"typ":"JWT"}"#,
        ),
        ("cty-jwt", r#"{"alg":"HS256","cty":"JWT","typ":"JWT"}"#),
        ("cty-cbor", r#"{"alg":"HS256","cty":"CBOR","typ":"JWT"}"#),
        ("zip", r#"{"alg":"HS256","typ":"JWT","zip":"DEF"}"#),
        ("enc", r#"{"alg":"HS256","enc":"A256GCM","typ":"JWT"}"#),
        ("typ-other", r#"{"alg":"HS256","typ":"at+jwt"}"#),
        ("typ-number", r#"{"alg":"HS256","typ":1}"#),
    ];
    for (name, header) in refused {
        let token = raw_token(&key, header, payload);
        g.fail(
            Case::new(
                &format!("header-{name}"),
                &format!("header {header}"),
                alg,
                &token,
            ),
            Error::HeaderUnsupported,
        );
    }

    // Key-bearing parameters are ignored, never used: the configured key decides.
    let ignored = [
        (
            "jku",
            r#"{"alg":"HS256","jku":"https://attacker.example/jwks.json","typ":"JWT"}"#,
        ),
        (
            "x5u",
            r#"{"alg":"HS256","typ":"JWT","x5u":"https://attacker.example/cert.pem"}"#,
        ),
        ("typ-absent", r#"{"alg":"HS256"}"#),
        ("typ-lowercase", r#"{"alg":"HS256","typ":"jwt"}"#),
        (
            "kid-path-traversal",
            r#"{"alg":"HS256","kid":"../../dev/null","typ":"JWT"}"#,
        ),
    ];
    for (name, header) in ignored {
        let token = raw_token(&key, header, payload);
        let header_value: Value = serde_json::from_str(header).unwrap();
        g.ok(
            Case::new(
                &format!("header-{name}-ignored"),
                &format!("signed with the configured key; {header} is not used"),
                alg,
                &token,
            ),
            header_value,
            &claims,
        );
    }

    // An embedded JWK with the attacker's own key signs nothing we accept.
    let ed = Algorithm::EdDsa;
    let attacker = signing_key(&g.keys, ed, "ed25519-other");
    let jwk = attacker.verifying_key().to_public_jwk().unwrap();
    let header = format!(r#"{{"alg":"EdDSA","jwk":{jwk},"typ":"JWT"}}"#);
    let token = raw_token(&attacker, &header, payload);
    g.fail(
        Case::new(
            "header-jwk-injection",
            "signed by the key embedded in the header's jwk",
            ed,
            &token,
        ),
        Error::SignatureInvalid,
    );

    // HMAC keyed with the verifier's public key (algorithm confusion), as HS256.
    let public_pem = g.keys["ed25519"]["public_pem"]
        .as_str()
        .unwrap()
        .to_string();
    let signing_input = format!("{}.{}", b64(std_header_text(alg).as_bytes()), b64(payload));
    let mac = hmac_sha256(public_pem.as_bytes(), signing_input.as_bytes());
    let token = format!("{signing_input}.{}", b64(&mac));
    g.fail(
        Case::new(
            "alg-confusion-hs256-with-public-pem",
            "HS256 token keyed with the EdDSA verifier's public PEM",
            ed,
            &token,
        ),
        Error::AlgorithmMismatch,
    );
}

/// HMAC-SHA256 straight from the hmac crate: tollgate's own key checks refuse PEM text
/// as an HMAC secret, which is exactly the key this vector needs.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Claim values in exactly one canonical form; anything else is `Token is invalid`.
fn claim_values(g: &mut Gen) {
    let alg = Algorithm::Hs256;
    let key = g.key(alg);
    let exp = (VERIFY_AT + 1800).to_string();
    let header = std_header_text(alg);
    let deep = format!(r#","deep":{}1{}"#, "[".repeat(200), "]".repeat(200));
    let long_jti = "a".repeat(256);
    let bad_claims: Vec<(&str, String)> = vec![
        ("exp-float", claims_text("j1", &format!("{exp}.0"), "")),
        ("exp-fraction", claims_text("j2", &format!("{exp}.5"), "")),
        ("exp-exponent", claims_text("j3", "1.7e9", "")),
        ("exp-string", claims_text("j4", &format!("\"{exp}\""), "")),
        ("exp-negative", claims_text("j5", "-1", "")),
        (
            "exp-past-year-9999",
            claims_text("j6", &(MAX_TIME + 1).to_string(), ""),
        ),
        (
            "exp-past-u64",
            claims_text("j7", "18446744073709551616", ""),
        ),
        ("exp-huge-integer", claims_text("j8", &"9".repeat(40), "")),
        ("exp-bool", claims_text("j9", "true", "")),
        ("exp-null", claims_text("j10", "null", "")),
        ("exp-array", claims_text("j11", &format!("[{exp}]"), "")),
        ("nbf-string", claims_text("j12", &exp, r#","nbf":"0""#)),
        (
            "iat-float",
            format!(
                r#"{{"token_type":"access","exp":{exp},"iat":1700000000.0,"jti":"j13","user_id":"42"}}"#
            ),
        ),
        (
            "user-id-float",
            format!(r#"{{"token_type":"access","exp":{exp},"jti":"j15","user_id":1.0}}"#),
        ),
        (
            "user-id-bool",
            format!(r#"{{"token_type":"access","exp":{exp},"jti":"j16","user_id":true}}"#),
        ),
        (
            "user-id-array",
            format!(r#"{{"token_type":"access","exp":{exp},"jti":"j17","user_id":["42"]}}"#),
        ),
        (
            "user-id-object",
            format!(r#"{{"token_type":"access","exp":{exp},"jti":"j18","user_id":{{"id":"42"}}}}"#),
        ),
        (
            "user-id-empty",
            format!(r#"{{"token_type":"access","exp":{exp},"jti":"j19","user_id":""}}"#),
        ),
        (
            "jti-number",
            format!(r#"{{"token_type":"access","exp":{exp},"jti":1,"user_id":"42"}}"#),
        ),
        (
            "jti-empty",
            format!(r#"{{"token_type":"access","exp":{exp},"jti":"","user_id":"42"}}"#),
        ),
        (
            "jti-too-long",
            format!(r#"{{"token_type":"access","exp":{exp},"jti":"{long_jti}","user_id":"42"}}"#),
        ),
        (
            "token-type-number",
            format!(r#"{{"token_type":1,"exp":{exp},"jti":"j20","user_id":"42"}}"#),
        ),
        ("aud-number", claims_text("j21", &exp, r#","aud":1"#)),
        (
            "aud-list-with-number",
            claims_text("j22", &exp, r#","aud":["api",1]"#),
        ),
        ("iss-number", claims_text("j23", &exp, r#","iss":1"#)),
        ("sub-number", claims_text("j24", &exp, r#","sub":42"#)),
        (
            "refresh-exp-string",
            claims_text("j25", &exp, r#","refresh_exp":"1""#),
        ),
    ];
    // A user id minted as a JSON integer (Simple JWT versions that kept integer ids):
    // the same user as its decimal string.
    let claims = Claims::new()
        .with("token_type", "access")
        .with("exp", VERIFY_AT + 1800)
        .with("jti", "j14")
        .with("user_id", 1);
    let token = raw_token(&key, &header, claims.to_json().as_bytes());
    g.ok(
        Case::new(
            "claim-user-id-integer",
            "a user_id claim that is a JSON integer (older Simple JWT sites): the user \"1\"",
            alg,
            &token,
        ),
        std_header(alg),
        &claims,
    );
    for (name, claims) in bad_claims {
        let token = raw_token(&key, &header, claims.as_bytes());
        g.fail(
            Case::new(
                &format!("claim-{name}"),
                &format!("claims {}", truncate(&claims)),
                alg,
                &token,
            ),
            claim_error(name),
        );
    }

    let malformed: Vec<(&str, Vec<u8>)> = vec![
        (
            "duplicate-jti",
            claims_text("j30", &exp, r#","jti":"j31""#).into_bytes(),
        ),
        (
            "duplicate-exp",
            claims_text("j32", &exp, &format!(r#","exp":{}"#, MAX_TIME)).into_bytes(),
        ),
        (
            "duplicate-nested",
            claims_text("j33", &exp, r#","profile":{"role":"user","role":"admin"}"#).into_bytes(),
        ),
        ("deep-nesting", claims_text("j34", &exp, &deep).into_bytes()),
        (
            "exp-out-of-f64-range",
            claims_text("j35", "1e400", "").into_bytes(),
        ),
        (
            "bom",
            [
                &b"\xef\xbb\xbf"[..],
                claims_text("j36", &exp, "").as_bytes(),
            ]
            .concat(),
        ),
        (
            "utf16",
            claims_text("j37", &exp, "")
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect(),
        ),
        (
            "invalid-utf8",
            [
                &br#"{"token_type":"access","exp":"#[..],
                exp.as_bytes(),
                &b",\"jti\":\"j38\",\"user_id\":\"4\xff2\"}"[..],
            ]
            .concat(),
        ),
        ("array", br#"[{"token_type":"access"}]"#.to_vec()),
        ("string", br#""access""#.to_vec()),
        ("null", b"null".to_vec()),
        (
            "trailing-garbage",
            [claims_text("j39", &exp, "").as_bytes(), b"x"].concat(),
        ),
        (
            "two-objects",
            [claims_text("j40", &exp, "").as_bytes(), b"{}"].concat(),
        ),
        ("empty", Vec::new()),
    ];
    for (name, claims) in malformed {
        let token = raw_token(&key, &header, &claims);
        g.fail(
            Case::new(
                &format!("claims-{name}"),
                &format!("signed claims that are not one canonical JSON object ({name})"),
                alg,
                &token,
            ),
            Error::TokenMalformed,
        );
    }

    // Canonical edge values that are fine.
    let max = claims_text(
        "j41",
        &MAX_TIME.to_string(),
        r#","nbf":0,"aud":["x","api"],"sub":"42","nested":{"a":"\u00e9","b":[1,2.5,null,true]}"#,
    );
    let token = raw_token(&key, &header, max.as_bytes());
    let claims: Claims = serde_json::from_str::<serde_json::Map<String, Value>>(&max)
        .unwrap()
        .into_iter()
        .collect();
    g.ok(
        Case::new(
            "claims-edge-values",
            "exp at the end of year 9999, nbf 0, audience list, nested values",
            alg,
            &token,
        )
        .audience("api".into()),
        std_header(alg),
        &claims,
    );
}

fn truncate(s: &str) -> String {
    if s.len() <= 120 {
        s.into()
    } else {
        format!("{}...", &s[..120])
    }
}

/// Size limits: 8 KiB is accepted, one byte more is refused before parsing.
fn sizes(g: &mut Gen) {
    let alg = Algorithm::Hs256;
    let settings = g.settings(alg);
    let jti = g.jti();
    // Find the padding that makes the token exactly MAX_TOKEN_LEN long.
    let base = settings
        .mint(
            TokenKind::Access,
            "42",
            &Claims::new().with("pad", ""),
            ISSUED_AT,
            jti,
        )
        .unwrap()
        .token
        .len();
    let mut pad = (tollgate_core::MAX_TOKEN_LEN - base) * 3 / 4;
    let exact = loop {
        let custom = Claims::new().with("pad", "x".repeat(pad));
        match settings.mint(TokenKind::Access, "42", &custom, ISSUED_AT, jti) {
            Ok(t) if t.token.len() == tollgate_core::MAX_TOKEN_LEN => break t,
            Ok(t) if t.token.len() < tollgate_core::MAX_TOKEN_LEN => pad += 1,
            _ => pad -= 1,
        }
    };
    g.ok(
        Case::new(
            "size-exactly-8k",
            "a token of exactly 8192 bytes",
            alg,
            &exact.token,
        ),
        std_header(alg),
        &exact.claims,
    );
    let too_large = format!("{}x", exact.token);
    g.fail(
        Case::new(
            "size-8k-plus-one",
            "8193 bytes: refused before parsing",
            alg,
            &too_large,
        ),
        Error::TokenTooLarge,
    );
    let huge = "a".repeat(1 << 20);
    g.fail(
        Case::new("size-1mib-garbage", "1 MiB of garbage", alg, &huge),
        Error::TokenTooLarge,
    );
}

/// Simple JWT's own checks after the signature: blacklist, exp, jti, type, refresh_exp.
fn simple_jwt_checks(g: &mut Gen) {
    let alg = Algorithm::Hs256;
    let key = g.key(alg);
    let settings = g.settings(alg);
    let header = std_header_text(alg);
    let exp = VERIFY_AT + 1800;
    let refresh = settings
        .mint(TokenKind::Refresh, "42", &Claims::new(), ISSUED_AT, g.jti())
        .unwrap();
    g.fail(
        Case::new(
            "refresh-blacklisted",
            "jti in the blacklist",
            alg,
            &refresh.token,
        )
        .expect("refresh")
        .blacklisted(&refresh.jti),
        Error::Blacklisted,
    );
    g.ok(
        Case::new(
            "refresh-other-jti-blacklisted",
            "another jti in the blacklist",
            alg,
            &refresh.token,
        )
        .expect("refresh")
        .blacklisted("0123456789abcdef0123456789abcdef"),
        std_header(alg),
        &refresh.claims,
    );
    g.fail(
        Case::new(
            "refresh-as-access",
            "refresh token where an access token is expected",
            alg,
            &refresh.token,
        ),
        Error::WrongType,
    );
    g.fail(
        Case::new(
            "refresh-as-sliding",
            "refresh token where a sliding token is expected",
            alg,
            &refresh.token,
        )
        .expect("sliding"),
        Error::WrongType,
    );
    g.ok(
        Case::new(
            "refresh-as-untyped",
            "verify endpoint accepts any type",
            alg,
            &refresh.token,
        )
        .expect("untyped"),
        std_header(alg),
        &refresh.claims,
    );
    g.ok(
        Case::new(
            "required-claim-present",
            "required claims present",
            alg,
            &refresh.token,
        )
        .expect("refresh")
        .require("user_id"),
        std_header(alg),
        &refresh.claims,
    );
    g.fail(
        Case::new(
            "required-claim-missing",
            "a required claim is absent (checked after the type)",
            alg,
            &refresh.token,
        )
        .expect("refresh")
        .require("user_id")
        .require("tenant"),
        Error::ClaimMissing("tenant".into()),
    );

    // (name, description, claims JSON, expected type, blacklisted jti, error)
    type Row<'a> = (
        &'a str,
        &'a str,
        String,
        &'static str,
        Option<&'a str>,
        Error,
    );
    let rows: Vec<Row<'_>> = vec![
        (
            "no-exp",
            "no exp claim",
            r#"{"token_type":"access","iat":1700000000,"jti":"k1","user_id":"42"}"#.into(),
            "access",
            None,
            Error::NoExp,
        ),
        (
            "no-jti",
            "no jti claim",
            format!(r#"{{"token_type":"access","exp":{exp},"user_id":"42"}}"#),
            "access",
            None,
            Error::NoId,
        ),
        (
            "no-type",
            "no token_type claim",
            format!(r#"{{"exp":{exp},"jti":"k2","user_id":"42"}}"#),
            "access",
            None,
            Error::NoType,
        ),
        (
            "no-exp-no-jti",
            "exp is checked before jti",
            r#"{"token_type":"access","user_id":"42"}"#.into(),
            "access",
            None,
            Error::NoExp,
        ),
        (
            "no-jti-no-type",
            "jti is checked before type",
            format!(r#"{{"exp":{exp},"user_id":"42"}}"#),
            "access",
            None,
            Error::NoId,
        ),
        (
            "blacklisted-before-no-exp",
            "blacklist is checked before exp presence",
            r#"{"token_type":"refresh","jti":"k4","user_id":"42"}"#.into(),
            "refresh",
            Some("k4"),
            Error::Blacklisted,
        ),
        (
            "expired-before-blacklist",
            "expiry (in the signature stage) beats the blacklist",
            format!(r#"{{"token_type":"refresh","exp":{VERIFY_AT},"jti":"k5","user_id":"42"}}"#),
            "refresh",
            Some("k5"),
            Error::Expired,
        ),
        (
            "sliding-no-refresh-exp",
            "sliding token without refresh_exp, being refreshed",
            format!(
                r#"{{"token_type":"sliding","exp":{exp},"iat":1700000000,"jti":"k6","user_id":"42"}}"#
            ),
            "sliding_refresh",
            None,
            Error::NoRefreshExp("refresh_exp".into()),
        ),
        (
            "sliding-refresh-exp-now",
            "refresh_exp == now has expired",
            format!(
                r#"{{"token_type":"sliding","exp":{exp},"iat":1700000000,"jti":"k7","refresh_exp":{VERIFY_AT},"user_id":"42"}}"#
            ),
            "sliding_refresh",
            None,
            Error::RefreshExpExpired("refresh_exp".into()),
        ),
    ];
    for (name, description, claims, expect, blacklisted, err) in rows {
        let token = raw_token(&key, &header, claims.as_bytes());
        let mut case = Case::new(name, description, alg, &token).expect(expect);
        if let Some(jti) = blacklisted {
            case = case.blacklisted(jti);
        }
        g.fail(case, err);
    }
    let untyped = format!(r#"{{"exp":{exp},"jti":"k3","user_id":"42"}}"#);
    let token = raw_token(&key, &header, untyped.as_bytes());
    let claims: Claims = serde_json::from_str::<serde_json::Map<String, Value>>(&untyped)
        .unwrap()
        .into_iter()
        .collect();
    g.ok(
        Case::new(
            "no-type-untyped",
            "no token_type is fine for the verify endpoint (UntypedToken)",
            alg,
            &token,
        )
        .expect("untyped"),
        std_header(alg),
        &claims,
    );
    let no_user = format!(r#"{{"token_type":"access","exp":{exp},"iat":1700000000,"jti":"k8"}}"#);
    let token = raw_token(&key, &header, no_user.as_bytes());
    let claims: Claims = serde_json::from_str::<serde_json::Map<String, Value>>(&no_user)
        .unwrap()
        .into_iter()
        .collect();
    g.ok(
        Case::new(
            "no-user-id",
            "verification does not require a user id (authentication does)",
            alg,
            &token,
        ),
        std_header(alg),
        &claims,
    );

    // Audience and issuer configured: minted tokens carry them, others are refused.
    let aud_settings = Settings::builder(key.clone())
        .audience(Some(tollgate_core::Audience::Many(vec![
            "api".into(),
            "admin".into(),
        ])))
        .issuer(Some("https://auth.example".into()))
        .build()
        .unwrap();
    let access = aud_settings
        .mint(TokenKind::Access, "42", &Claims::new(), ISSUED_AT, g.jti())
        .unwrap();
    let aud = json!(["api", "admin"]);
    g.ok(
        Case::new(
            "aud-iss-minted",
            "audience list and issuer appended last, as Simple JWT does",
            alg,
            &access.token,
        )
        .audience(aud.clone())
        .issuer("https://auth.example"),
        std_header(alg),
        &access.claims,
    );
    g.fail(
        Case::new(
            "aud-mismatch",
            "token for api/admin, verifier wants billing",
            alg,
            &access.token,
        )
        .audience("billing".into())
        .issuer("https://auth.example"),
        Error::AudienceMismatch,
    );
    g.fail(
        Case::new("iss-mismatch", "issuer differs", alg, &access.token)
            .audience(aud)
            .issuer("https://other.example"),
        Error::IssuerMismatch,
    );
    let plain = settings
        .mint(TokenKind::Access, "42", &Claims::new(), ISSUED_AT, g.jti())
        .unwrap();
    g.fail(
        Case::new(
            "aud-missing",
            "verifier wants an audience, token has none",
            alg,
            &plain.token,
        )
        .audience("api".into()),
        Error::AudienceMismatch,
    );
    g.fail(
        Case::new(
            "iss-missing",
            "verifier wants an issuer, token has none",
            alg,
            &plain.token,
        )
        .issuer("https://auth.example"),
        Error::IssuerMismatch,
    );
}

/// Where JWT libraries have failed before (issue #7): algorithm and key confusion,
/// key-bearing header parameters, non-canonical encodings that are correctly signed,
/// JSON edge cases, signature forms, sizes. Every row is refused (or, for parameters
/// that must be ignored, accepted) for the reason written here.
fn hostile(g: &mut Gen) {
    let alg = Algorithm::Hs256;
    let key = g.key(alg);
    let exp = (VERIFY_AT + 1800).to_string();
    let jti = g.jti().to_hex();
    let payload_text = claims_text(&jti, &exp, "");
    let claims: Claims = serde_json::from_str::<serde_json::Map<String, Value>>(&payload_text)
        .unwrap()
        .into_iter()
        .collect();
    let payload = b64(payload_text.as_bytes());
    let header = b64(std_header_text(alg).as_bytes());
    let token = signed_segments(&key, &header, &payload);

    hostile_headers(g, &key, &payload_text, &claims);
    hostile_encodings(g, &key, &header, &token);
    hostile_json(g, &key, &exp);
    hostile_key_confusion(g, &payload_text);
    hostile_signatures(g);
    hostile_sizes(g, &key, &payload);
}

/// Header parameters an attacker controls: never trusted, never fetched.
fn hostile_headers(g: &mut Gen, key: &SigningKey, payload_text: &str, claims: &Claims) {
    let alg = Algorithm::Hs256;
    let payload = payload_text.as_bytes();
    let other_secret = g.keys["hmac-other"]["secret"].as_str().unwrap();
    let attacker = SigningKey::hmac(alg, other_secret.as_bytes()).unwrap();
    let oct = b64(other_secret.as_bytes());
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let long_kid = "k".repeat(tollgate_core::MAX_ID_LEN + 1);
    // (name, description, header JSON bytes, signer, error)
    let rows: Vec<(&str, String, Vec<u8>, &SigningKey, Error)> = vec![
        (
            "alg-none-with-signature",
            "alg \"none\" with a valid HS256 signature attached".into(),
            br#"{"alg":"none","typ":"JWT"}"#.to_vec(),
            key,
            Error::AlgorithmMismatch,
        ),
        (
            "header-jwk-oct-injection",
            "an oct jwk in the header, signed with that secret (never trusted)".into(),
            format!(r#"{{"alg":"HS256","jwk":{{"kty":"oct","k":"{oct}"}},"typ":"JWT"}}"#)
                .into_bytes(),
            &attacker,
            Error::SignatureInvalid,
        ),
        (
            "header-kid-too-long",
            format!("a kid of {} bytes", long_kid.len()),
            format!(r#"{{"alg":"HS256","kid":"{long_kid}","typ":"JWT"}}"#).into_bytes(),
            key,
            Error::TokenMalformed,
        ),
        (
            "header-duplicate-alg-escaped",
            "alg given twice, the second spelled with a \\u escape".into(),
            br#"{"alg":"HS256","\u0061lg":"none","typ":"JWT"}"#.to_vec(),
            key,
            Error::TokenMalformed,
        ),
        (
            "header-bom",
            "a UTF-8 byte order mark before the header JSON".into(),
            [&b"\xef\xbb\xbf"[..], br#"{"alg":"HS256","typ":"JWT"}"#].concat(),
            key,
            Error::TokenMalformed,
        ),
        (
            "header-invalid-utf8",
            "a byte that is not UTF-8 inside a header string".into(),
            b"{\"alg\":\"HS256\",\"typ\":\"JWT\",\"x\":\"\xff\"}".to_vec(),
            key,
            Error::TokenMalformed,
        ),
        (
            "header-utf16",
            "the header JSON in UTF-16LE".into(),
            r#"{"alg":"HS256","typ":"JWT"}"#.encode_utf16().flat_map(u16::to_le_bytes).collect(),
            key,
            Error::TokenMalformed,
        ),
        (
            "header-deep-nesting",
            "an extra header member nested 200 arrays deep".into(),
            format!(r#"{{"alg":"HS256","typ":"JWT","x":{deep}}}"#).into_bytes(),
            key,
            Error::TokenMalformed,
        ),
    ];
    for (name, description, header, signer, err) in rows {
        let token = signed_segments(signer, &b64(&header), &b64(payload));
        g.fail(Case::new(name, &description, alg, &token), err);
    }

    let x5c =
        r#"{"alg":"HS256","typ":"JWT","x5c":["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}"#;
    g.ok(
        Case::new(
            "header-x5c-ignored",
            &format!("signed with the configured key; {x5c} is not used"),
            alg,
            &raw_token(key, x5c, payload),
        ),
        serde_json::from_str(x5c).unwrap(),
        claims,
    );

    // The same parameters with the attacker's own key: the configured key decides.
    let ed = Algorithm::EdDsa;
    let ed_attacker = signing_key(&g.keys, ed, "ed25519-other");
    for (name, member) in [
        ("jku", r#""jku":"https://attacker.example/jwks.json""#),
        ("x5u", r#""x5u":"https://attacker.example/cert.pem""#),
        (
            "x5c",
            r#""x5c":["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]"#,
        ),
    ] {
        let header = format!(r#"{{"alg":"EdDSA",{member},"typ":"JWT"}}"#);
        g.fail(
            Case::new(
                &format!("header-{name}-attacker-signed"),
                &format!("signed by a key the {name} points at, not the configured one"),
                ed,
                &raw_token(&ed_attacker, &header, payload),
            ),
            Error::SignatureInvalid,
        );
    }
    // With several keys a kid selects one by equality only: never a path or a query.
    let set = json!({"keys": ["ed25519-other", "ed25519"]});
    for (name, kid) in [
        ("path", "../../../../dev/null"),
        ("sql", "x' UNION SELECT 'secret"),
        ("url", "https://attacker.example/key.pem"),
    ] {
        let header = format!(r#"{{"alg":"EdDSA","kid":{},"typ":"JWT"}}"#, json!(kid));
        g.fail(
            Case::new(
                &format!("kid-injection-{name}"),
                &format!("kid {kid:?} with a key set: unknown, never looked up"),
                ed,
                &raw_token(&ed_attacker, &header, payload),
            )
            .key(set.clone()),
            Error::KeyUnknown,
        );
    }
}

/// Non-canonical base64url in correctly signed segments (a lenient decoder would accept
/// these), stray bytes, and the shapes of other formats.
fn hostile_encodings(g: &mut Gen, key: &SigningKey, header: &str, token: &str) {
    let alg = Algorithm::Hs256;
    // A payload whose length leaves spare bits, and one whose encoding has - or _.
    let odd = (0..)
        .map(|n| {
            claims_text(
                "odd",
                &VERIFY_AT.to_string(),
                &format!(r#","p":"{}""#, "x".repeat(n)),
            )
        })
        .find(|t| t.len() % 3 == 1)
        .unwrap();
    let odd = b64(odd.as_bytes());
    let url_safe = (0..)
        .map(|n| {
            b64(claims_text(
                "url",
                &VERIFY_AT.to_string(),
                &format!(r#","p":"{}""#, "?>".repeat(n)),
            )
            .as_bytes())
        })
        .find(|t| t.contains('-') && t.contains('_'))
        .unwrap();
    let (h, rest) = token.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let signed = |header: &str, payload: &str| signed_segments(key, header, payload);
    let rows: Vec<(&str, &str, String)> = vec![
        (
            "signed-padding-payload",
            "= padding on the payload, signed as written",
            signed(header, &format!("{odd}==")),
        ),
        (
            "signed-trailing-bits-payload",
            "non-zero spare bits in the payload, signed as written",
            signed(header, &with_spare_bit(&odd)),
        ),
        (
            "signed-standard-alphabet-payload",
            "+ and / in the payload, signed as written",
            signed(header, &url_safe.replace('-', "+").replace('_', "/")),
        ),
        (
            "signed-tab-in-payload",
            "a tab inside the payload, signed as written",
            signed(header, &format!("{}\t{}", &odd[..8], &odd[8..])),
        ),
        (
            "signed-line-break-in-header",
            "a MIME-style line break inside the header, signed as written",
            signed(&format!("{}\r\n{}", &header[..20], &header[20..]), &odd),
        ),
        (
            "nul-byte",
            "a NUL byte inside the payload",
            format!("{h}.{}\0{}.{s}", &p[..4], &p[4..]),
        ),
        ("trailing-crlf", "a trailing CR LF", format!("{token}\r\n")),
        (
            "trailing-dot",
            "a fourth, empty segment",
            format!("{token}."),
        ),
        (
            "leading-dot",
            "an empty segment before the header",
            format!(".{token}"),
        ),
        (
            "jwe-compact",
            "a JWE: alg dir, enc A256GCM, five segments",
            format!(
                "{}..{}.{}.{}",
                b64(br#"{"alg":"dir","enc":"A256GCM"}"#),
                b64(&[7; 12]),
                b64(b"ciphertext"),
                b64(&[9; 16])
            ),
        ),
        (
            "json-serialization",
            "the JWS JSON serialization instead of the compact one",
            format!(r#"{{"payload":"{p}","protected":"{h}","signature":"{s}"}}"#),
        ),
    ];
    for (name, description, token) in rows {
        g.fail(
            Case::new(name, description, alg, &token),
            Error::TokenMalformed,
        );
    }
}

/// Claim values at the edges of JSON and of integer types, signed with the right key.
fn hostile_json(g: &mut Gen, key: &SigningKey, exp: &str) {
    let alg = Algorithm::Hs256;
    let header = std_header_text(alg);
    let claim = |jti: &str, exp: &str, extra: &str| claims_text(jti, exp, extra);
    let invalid: Vec<(&str, String)> = vec![
        ("exp-i64-max", claim("h1", &i64::MAX.to_string(), "")),
        ("exp-past-i64", claim("h2", "9223372036854775808", "")),
        ("exp-i64-min", claim("h3", &i64::MIN.to_string(), "")),
        ("exp-exponent-integer", claim("h4", &format!("{exp}e0"), "")),
        (
            "iat-negative",
            claims_text("h5", exp, "").replace("1700000000", "-1"),
        ),
        ("nbf-float", claim("h6", exp, r#","nbf":0.0"#)),
        (
            "refresh-exp-negative",
            claim("h7", exp, r#","refresh_exp":-1"#),
        ),
        (
            "token-type-array",
            claim("h8", exp, "").replace(r#""access""#, r#"["access"]"#),
        ),
        (
            "jti-object",
            claim("h9", exp, "").replace(r#""h9""#, r#"{"id":"h9"}"#),
        ),
        (
            "user-id-null",
            claim("h10", exp, "").replace(r#""42""#, "null"),
        ),
        (
            "iss-array",
            claim("h11", exp, r#","iss":["https://auth.example"]"#),
        ),
    ];
    for (name, claims) in invalid {
        g.fail(
            Case::new(
                &format!("claim-{name}"),
                &format!("claims {}", truncate(&claims)),
                alg,
                &raw_token(key, &header, claims.as_bytes()),
            ),
            claim_error(name),
        );
    }
    let big = "9".repeat(4400);
    let malformed: Vec<(&str, String)> = vec![
        ("exp-leading-zero", claim("m1", &format!("0{exp}"), "")),
        ("exp-plus-sign", claim("m2", &format!("+{exp}"), "")),
        ("exp-nan", claim("m3", "NaN", "")),
        ("exp-infinity", claim("m4", "Infinity", "")),
        (
            "duplicate-jti-escaped",
            claim("m5", exp, r#","j\u0074i":"m6""#),
        ),
        (
            "duplicate-exp-escaped",
            claim("m7", exp, r#","\u0065xp":253402300799"#),
        ),
        (
            "huge-integer-custom-claim",
            claim("m8", exp, &format!(r#","big":{big}"#)),
        ),
        (
            "single-quotes",
            claim("m9", exp, "").replace(r#""user_id":"42""#, "'user_id':'42'"),
        ),
        ("trailing-comma", claim("m10", exp, ",")),
        ("comment", claim("m11", exp, "/* admin */")),
        (
            "control-character-in-string",
            claim("m12", exp, ",\"x\":\"a\u{1}b\""),
        ),
    ];
    for (name, claims) in malformed {
        g.fail(
            Case::new(
                &format!("claims-{name}"),
                &format!("signed claims that are not strict JSON ({name})"),
                alg,
                &raw_token(key, &header, claims.as_bytes()),
            ),
            Error::TokenMalformed,
        );
    }
}

/// HMAC keyed with public key material, for asymmetric verifiers (the PyJWT and
/// python-jose CVEs): the token's alg is never the verifier's, so it is refused.
fn hostile_key_confusion(g: &mut Gen, payload_text: &str) {
    let signing_input = format!(
        "{}.{}",
        b64(std_header_text(Algorithm::Hs256).as_bytes()),
        b64(payload_text.as_bytes())
    );
    for (alg, name, raw) in [
        (Algorithm::EdDsa, "ed25519", "x"),
        (Algorithm::Es256, "es256", "x"),
        (Algorithm::Rs256, "rsa", "n"),
    ] {
        let entry = g.keys[name].clone();
        let jwk = entry["public_jwk"].to_string();
        let x = Base64UrlUnpadded::decode_vec(entry["public_jwk"][raw].as_str().unwrap()).unwrap();
        let materials: [(&str, &[u8]); 3] = [
            (
                "public-pem",
                entry["public_pem"].as_str().unwrap().as_bytes(),
            ),
            ("public-jwk", jwk.as_bytes()),
            (if raw == "x" { "raw-x" } else { "raw-n" }, &x),
        ];
        for (label, secret) in materials {
            if alg == Algorithm::EdDsa && label == "public-pem" {
                continue; // gen-alg-confusion-hs256-with-public-pem
            }
            let mac = hmac_sha256(secret, signing_input.as_bytes());
            let a = alg.name().to_lowercase();
            g.fail(
                Case::new(
                    &format!("alg-confusion-{a}-hs256-with-{label}"),
                    &format!("HS256 token keyed with the {alg} verifier's {label}"),
                    alg,
                    &format!("{signing_input}.{}", b64(&mac)),
                ),
                Error::AlgorithmMismatch,
            );
        }
    }
}

/// Signature forms: all-zero (CVE-2022-21449, Java's "psychic signatures"), DER
/// instead of the raw r || s of JWS, and the other algorithm's length.
fn hostile_signatures(g: &mut Gen) {
    for alg in [
        Algorithm::EdDsa,
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::Es512,
        Algorithm::Rs256,
    ] {
        let a = alg.name().to_lowercase();
        let access = g
            .settings(alg)
            .mint(TokenKind::Access, "42", &Claims::new(), ISSUED_AT, g.jti())
            .unwrap();
        let (signed, sig) = access.token.rsplit_once('.').unwrap();
        let sig = Base64UrlUnpadded::decode_vec(sig).unwrap();
        let mut rows = vec![
            (
                "zero-signature",
                "a signature of 64 zero bytes".to_string(),
                vec![0u8; 64],
            ),
            (
                "signature-doubled",
                "the signature twice over".to_string(),
                [sig.clone(), sig.clone()].concat(),
            ),
        ];
        if alg == Algorithm::Es256 {
            rows.push((
                "der-signature",
                "the same (r, s) DER-encoded, as X.509 writes it".into(),
                der(&sig),
            ));
        }
        if alg == Algorithm::Rs256 {
            let n =
                Base64UrlUnpadded::decode_vec(g.keys["rsa"]["public_jwk"]["n"].as_str().unwrap())
                    .unwrap();
            rows.push((
                "signature-plus-modulus",
                "s + n: the same value mod n, so the same signature unless s < n is checked".into(),
                add_same_length(&sig, &n).expect("the fixed key and claims give s + n < 2^2048"),
            ));
            rows.push(("modulus-as-signature", "n itself (0 mod n)".into(), n));
        }
        for (name, description, bad) in rows {
            g.fail(
                Case::new(
                    &format!("{a}-{name}"),
                    &description,
                    alg,
                    &format!("{signed}.{}", b64(&bad)),
                ),
                Error::SignatureInvalid,
            );
        }
    }
}

/// a + b as big-endian numbers of the same length, if the sum has that length too.
fn add_same_length(a: &[u8], b: &[u8]) -> Option<Vec<u8>> {
    let mut sum = vec![0u8; a.len()];
    let mut carry = 0u16;
    for i in (0..a.len()).rev() {
        let total = u16::from(a[i]) + u16::from(b[i]) + carry;
        sum[i] = total as u8;
        carry = total >> 8;
    }
    (carry == 0).then_some(sum)
}

/// An ECDSA signature (raw r || s, 32 bytes each) in ASN.1 DER.
fn der(raw: &[u8]) -> Vec<u8> {
    let int = |x: &[u8]| {
        let x = &x[x.iter().position(|&b| b != 0).unwrap_or(x.len() - 1)..];
        let pad = x[0] & 0x80 != 0;
        let mut out = vec![0x02, (x.len() + usize::from(pad)) as u8];
        if pad {
            out.push(0);
        }
        out.extend_from_slice(x);
        out
    };
    let body = [int(&raw[..32]), int(&raw[32..])].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

/// Oversized parts are refused by length alone, before any decoding.
fn hostile_sizes(g: &mut Gen, key: &SigningKey, payload: &str) {
    let alg = Algorithm::Hs256;
    let huge_header = format!(
        r#"{{"alg":"HS256","typ":"JWT","x":"{}"}}"#,
        "x".repeat(9000)
    );
    let signature = b64(&key.sign(b"x")).repeat(300);
    let rows = [
        (
            "size-huge-header",
            "a 9 KB header: refused before it is decoded",
            signed_segments(key, &b64(huge_header.as_bytes()), payload),
        ),
        (
            "size-huge-signature",
            "a 12 KB signature segment",
            format!(
                "{}.{payload}.{signature}",
                b64(std_header_text(alg).as_bytes())
            ),
        ),
        ("size-many-dots", "9000 dots", ".".repeat(9000)),
    ];
    for (name, description, token) in rows {
        g.fail(
            Case::new(name, description, alg, &token),
            Error::TokenTooLarge,
        );
    }
}

/// `generated.json` text with the signature segment of every RSA-PSS token replaced by a
/// marker: PSS salts are random, so only those segments differ from run to run (ECDSA
/// here is deterministic, RFC 6979). The drift test compares files through this.
pub fn without_random_signatures(text: &str) -> String {
    let mut file: Value = serde_json::from_str(text).expect("generated.json is JSON");
    for vector in file["vectors"].as_array_mut().into_iter().flatten() {
        let Some(token) = vector["token"].as_str() else {
            continue;
        };
        let header = token.split('.').next().unwrap_or_default();
        let alg = Base64UrlUnpadded::decode_vec(header)
            .ok()
            .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
            .and_then(|h| h["alg"].as_str().map(String::from));
        if alg.is_some_and(|alg| alg.starts_with("PS")) {
            if let Some((signed, _)) = token.rsplit_once('.') {
                vector["token"] = format!("{signed}.<random PSS signature>").into();
            }
        }
    }
    file.to_string()
}
