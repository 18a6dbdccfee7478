//! tollgate-wasm: the WebAssembly adapter behind the npm package `tollgate`.
//!
//! It only converts between JS and tollgate-core and maps errors; every token rule lives
//! in the core. Results cross into JS as JSON text (one `JSON.parse` in the wrapper is
//! much cheaper than building objects property by property across the boundary), and
//! errors are thrown as the package's `TollgateError` with the core's stable `.code`.

use serde::Deserialize;
use tollgate_core::{
    Algorithm, Audience, ClaimNames, Error, Expect, TokenKind, VerifierSettings, VerifyingKey,
};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/js/error.js")]
extern "C" {
    #[wasm_bindgen(js_name = tollgateError)]
    fn tollgate_error(code: &str, message: &str) -> JsValue;
}

/// The one conversion from a core error to what JS sees.
fn fail(err: Error) -> JsValue {
    tollgate_error(err.code(), &err.to_string())
}

fn invalid_argument(message: &str) -> JsValue {
    tollgate_error("argument_invalid", message)
}

/// Seconds since the epoch from JS: a finite, non-negative number (fractions dropped).
fn seconds(value: f64, name: &str) -> Result<u64, JsValue> {
    if (0.0..1e15).contains(&value) {
        Ok(value as u64)
    } else {
        Err(invalid_argument(&format!(
            "{name} must be a non-negative number of seconds"
        )))
    }
}

/// `{"header":{..},"payload":{..}}` of a token, unverified.
#[wasm_bindgen(js_name = decodeJson)]
pub fn decode_json(token: &str) -> Result<String, JsValue> {
    let decoded = tollgate_core::decode(token).map_err(fail)?;
    Ok(format!(
        "{{\"header\":{},\"payload\":{}}}",
        decoded.header.to_json(),
        decoded.claims.to_json()
    ))
}

/// The token's `exp` (epoch seconds), or undefined when it has none.
#[wasm_bindgen(js_name = expiresAt)]
pub fn expires_at(token: &str) -> Result<Option<f64>, JsValue> {
    let decoded = tollgate_core::decode(token).map_err(fail)?;
    Ok(decoded.expires_at().map_err(fail)?.map(|exp| exp as f64))
}

/// `exp <= now - leeway`.
#[wasm_bindgen(js_name = isExpired)]
pub fn is_expired(token: &str, now: f64, leeway: f64) -> Result<bool, JsValue> {
    let decoded = tollgate_core::decode(token).map_err(fail)?;
    decoded
        .is_expired(seconds(now, "now")?, seconds(leeway, "leeway")?)
        .map_err(fail)
}

/// Seconds until `exp` (0 once expired).
#[wasm_bindgen(js_name = secondsLeft)]
pub fn seconds_left(token: &str, now: f64) -> Result<f64, JsValue> {
    let decoded = tollgate_core::decode(token).map_err(fail)?;
    Ok(decoded.seconds_left(seconds(now, "now")?).map_err(fail)? as f64)
}

/// A string or a list of strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Verifier options, as the JS wrapper passes them (JSON text).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    algorithm: String,
    #[serde(default)]
    leeway: u64,
    #[serde(default)]
    audience: Option<OneOrMany>,
    #[serde(default)]
    issuer: Option<String>,
    /// "access", "refresh", "sliding", "sliding_refresh" or absent (any type).
    #[serde(default, rename = "type")]
    token_type: Option<String>,
    #[serde(default)]
    required_claims: Vec<String>,
    #[serde(default)]
    user_id_claim: Option<String>,
    #[serde(default)]
    token_type_claim: Option<String>,
    #[serde(default)]
    jti_claim: Option<String>,
    #[serde(default)]
    refresh_exp_claim: Option<String>,
}

/// A verifier built once from keys and options; `verify` is synchronous.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Verifier {
    inner: tollgate_core::Verifier,
    expect: Expect,
    sliding_refresh: bool,
}

fn parse_options(options_json: &str) -> Result<(Options, Algorithm), JsValue> {
    let options: Options = serde_json::from_str(options_json)
        .map_err(|e| invalid_argument(&format!("options: {e}")))?;
    let algorithm = Algorithm::from_name(&options.algorithm).map_err(fail)?;
    Ok((options, algorithm))
}

fn build(
    options: Options,
    algorithm: Algorithm,
    keys: Vec<VerifyingKey>,
) -> Result<Verifier, JsValue> {
    let defaults = ClaimNames::default();
    let claims = ClaimNames {
        user_id: options.user_id_claim.unwrap_or(defaults.user_id),
        token_type: options.token_type_claim.unwrap_or(defaults.token_type),
        jti: options.jti_claim.unwrap_or(defaults.jti),
        refresh_exp: options.refresh_exp_claim.unwrap_or(defaults.refresh_exp),
    };
    let (expect, sliding_refresh) = match options.token_type.as_deref() {
        None | Some("untyped") => (Expect::Untyped, false),
        Some("access") => (Expect::Kind(TokenKind::Access), false),
        Some("refresh") => (Expect::Kind(TokenKind::Refresh), false),
        Some("sliding") => (Expect::Kind(TokenKind::Sliding), false),
        Some("sliding_refresh") => (Expect::Kind(TokenKind::Sliding), true),
        Some(other) => {
            return Err(invalid_argument(&format!(
                "type {other:?}: use access, refresh, sliding, sliding_refresh or untyped"
            )))
        }
    };
    let audience = match options.audience {
        None => None,
        Some(OneOrMany::One(one)) => Some(Audience::One(one)),
        Some(OneOrMany::Many(many)) => Some(Audience::Many(many)),
    };
    let settings = VerifierSettings::with_keys(algorithm, keys)
        .leeway(options.leeway)
        .audience(audience)
        .issuer(options.issuer)
        .claim_names(claims)
        .required_claims(options.required_claims);
    Ok(Verifier {
        inner: tollgate_core::Verifier::new(settings).map_err(fail)?,
        expect,
        sliding_refresh,
    })
}

#[wasm_bindgen]
impl Verifier {
    /// An HMAC verifier (the secret's bytes; the wrapper encodes string secrets as UTF-8).
    pub fn hmac(secret: &[u8], options_json: &str) -> Result<Verifier, JsValue> {
        let (options, algorithm) = parse_options(options_json)?;
        let key = VerifyingKey::hmac(algorithm, secret).map_err(fail)?;
        build(options, algorithm, vec![key])
    }

    /// An SPKI public key in PEM (EdDSA, ES256).
    pub fn pem(pem: &str, options_json: &str) -> Result<Verifier, JsValue> {
        let (options, algorithm) = parse_options(options_json)?;
        let key = VerifyingKey::from_pem(algorithm, pem).map_err(fail)?;
        build(options, algorithm, vec![key])
    }

    /// A JWKS (`{"keys":[...]}`) or one JWK: the keys usable with the configured
    /// algorithm are kept (others, e.g. for another algorithm, are skipped); a token's
    /// `kid` picks among them.
    pub fn jwks(jwks_json: &str, options_json: &str) -> Result<Verifier, JsValue> {
        let (options, algorithm) = parse_options(options_json)?;
        let value: serde_json::Value =
            serde_json::from_str(jwks_json).map_err(|_| fail(Error::KeyInvalid))?;
        let members = match value.get("keys") {
            Some(serde_json::Value::Array(keys)) => keys.clone(),
            _ => vec![value],
        };
        let mut keys = Vec::new();
        let mut last_error = Error::KeyInvalid;
        for member in &members {
            match VerifyingKey::from_jwk(algorithm, &member.to_string()) {
                Ok(key) => keys.push(key),
                Err(err) => last_error = err,
            }
        }
        if keys.is_empty() {
            return Err(fail(last_error));
        }
        build(options, algorithm, keys)
    }

    /// Verifies at `now` (epoch seconds): the claims as JSON text, or a TollgateError.
    /// `blacklist_json`, if given, is a JSON array of revoked jti values (checked where
    /// Simple JWT checks its blacklist: after the signature, before exp/jti/type).
    pub fn verify(
        &self,
        token: &str,
        now: f64,
        blacklist_json: Option<String>,
    ) -> Result<String, JsValue> {
        let now = seconds(now, "now")?;
        let blacklist: Vec<String> = match blacklist_json {
            None => Vec::new(),
            Some(text) => serde_json::from_str(&text)
                .map_err(|_| invalid_argument("blacklist must be an array of jti strings"))?,
        };
        let verified = self
            .inner
            .verify(token, self.expect, now, |jti| {
                blacklist.iter().any(|b| b == jti)
            })
            .map_err(fail)?;
        if self.sliding_refresh {
            self.inner.check_refresh_exp(&verified, now).map_err(fail)?;
        }
        Ok(verified.claims().to_json())
    }

    /// The number of keys kept (for diagnostics and tests).
    #[wasm_bindgen(getter, js_name = keyCount)]
    pub fn key_count(&self) -> usize {
        self.inner.keys().len()
    }
}
