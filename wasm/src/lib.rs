//! tollgate-wasm: the WebAssembly adapter behind the npm package `tollgate`.
//!
//! It only converts between JS and tollgate-core and maps errors; every token rule lives
//! in the core. Errors are thrown as the package's `TollgateError` with the core's
//! stable `.code`.
//!
//! Crossing the boundary is most of the cost of a decode, so tokens and results do not
//! cross as wasm-bindgen strings (a malloc, a JS loop over the characters and a free
//! per string). Two buffers are reused instead: JS writes the token's UTF-8 into the
//! token buffer with `TextEncoder.encodeInto` and passes its length; results are JSON
//! text written into the result buffer, which JS reads with one `TextDecoder.decode`
//! and one `JSON.parse`. Results are the token's own JSON text (checked by the core's
//! strict reader), never re-serialized.

use std::cell::RefCell;

use tollgate_core::{
    check_json, Algorithm, Audience, ClaimNames, Error, Expect, JsonObject, JsonValue, TokenKind,
    VerifierSettings, VerifyingKey, MAX_TOKEN_LEN,
};
use wasm_bindgen::prelude::*;

/// The allocator: talc instead of std's dlmalloc, smaller in the module (BENCHMARKS.md,
/// "The validator's size"). wasm32 without threads only, as talc's docs prescribe.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[wasm_bindgen(module = "/js/error.js")]
extern "C" {
    #[wasm_bindgen(js_name = tollgateError)]
    fn tollgate_error(code: &str, message: &str) -> JsValue;
}

/// The one conversion from a core error to what JS sees.
fn fail(err: Error) -> JsValue {
    tollgate_error(err.code(), &err.message())
}

#[wasm_bindgen(module = "/js/native.js")]
extern "C" {
    /// The runtime's native signature check for key `index` of the verifier being run
    /// (see js/native.js); asked only after every check before the signature math passed.
    #[wasm_bindgen(js_name = nativeVerify)]
    fn native_verify(index: usize, message: &[u8], signature: &[u8]) -> bool;
}

fn invalid_argument(message: &str) -> JsValue {
    tollgate_error("argument_invalid", message)
}

/// Seconds since the epoch from JS: a finite, non-negative number (fractions dropped).
fn seconds(value: f64, name: &str) -> Result<u64, JsValue> {
    if (0.0..1e15).contains(&value) {
        Ok(value as u64)
    } else {
        Err(invalid_argument(
            &[name, " must be a non-negative number of seconds"].concat(),
        ))
    }
}

thread_local! {
    static TOKEN: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static RESULT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static ERROR: RefCell<Option<JsValue>> = const { RefCell::new(None) };
    /// The last token decoded: the next one from the same issuer reuses its checked
    /// header (see `tollgate_core::decode_reusing`).
    static LAST: RefCell<Option<tollgate_core::Decoded>> = const { RefCell::new(None) };
}

/// Decodes `token` for `f`, reusing the last decoded token's header when it is the
/// same; the result is kept as the last one.
fn decode<R>(
    token: &str,
    f: impl FnOnce(&tollgate_core::Decoded) -> Result<R, Error>,
) -> Result<R, Error> {
    let decoded = LAST.with_borrow(|last| tollgate_core::decode_reusing(token, last.as_ref()))?;
    let result = f(&decoded);
    LAST.set(Some(decoded));
    result
}

/// What the result-length calls return when they failed: the error waits in
/// [`take_error`]. (A `Result` return makes wasm-bindgen allocate a JS array on every
/// call, a measurable part of a decode.)
pub const FAILED: u32 = u32::MAX;

/// A result length, or [`FAILED`] with the error kept for [`take_error`].
fn length_or_failed(result: Result<usize, JsValue>) -> u32 {
    match result {
        Ok(len) => len as u32,
        Err(err) => {
            ERROR.with_borrow_mut(|slot| *slot = Some(err));
            FAILED
        }
    }
}

/// The error of the last call that returned [`FAILED`] (a TollgateError).
#[wasm_bindgen(js_name = takeError)]
pub fn take_error() -> JsValue {
    ERROR
        .with_borrow_mut(Option::take)
        .unwrap_or_else(|| invalid_argument("no error to take"))
}

/// The longest token accepted, in UTF-8 bytes. JS passes a longer string's length
/// without copying it: the core refuses it by length alone.
#[wasm_bindgen(js_name = maxTokenLen)]
pub fn max_token_len() -> usize {
    MAX_TOKEN_LEN
}

/// The algorithms this module verifies, comma-separated (the default module: HS*, EdDSA,
/// ES256; the `tollgate/rsa` module: also RS*, PS*, ES384, ES512).
#[wasm_bindgen]
pub fn algorithms() -> String {
    let mut names = String::from("HS256,HS384,HS512,EdDSA,ES256");
    for (alg, name) in [
        (Algorithm::Es384, ",ES384"),
        (Algorithm::Es512, ",ES512"),
        (Algorithm::Rs256, ",RS256,RS384,RS512,PS256,PS384,PS512"),
    ] {
        if alg.is_available() {
            names.push_str(name);
        }
    }
    names
}

/// Room for any accepted token as `TextEncoder.encodeInto` may need it (3 bytes per
/// UTF-16 unit at worst).
const TOKEN_CAPACITY: usize = MAX_TOKEN_LEN * 3;
/// Room for any result: a token's decoded header and payload are shorter than the token.
const RESULT_CAPACITY: usize = MAX_TOKEN_LEN + 64;

/// The address of the token buffer, `TOKEN_CAPACITY` bytes that never move, so JS
/// asks once.
#[wasm_bindgen(js_name = tokenBuffer)]
pub fn token_buffer() -> usize {
    TOKEN.with_borrow_mut(|buffer| {
        buffer.resize(TOKEN_CAPACITY, 0);
        buffer.as_ptr() as usize
    })
}

/// The address of the result buffer: reserved once, never moved (results always fit).
#[wasm_bindgen(js_name = resultBuffer)]
pub fn result_buffer() -> usize {
    RESULT.with_borrow_mut(|buffer| {
        buffer.clear();
        buffer.reserve_exact(RESULT_CAPACITY);
        buffer.as_ptr() as usize
    })
}

/// Copies `token` into the token buffer, as the JS wrapper does: for Rust callers
/// (the wasm-bindgen tests). Returns the length to pass.
pub fn put_token(token: &str) -> usize {
    token_buffer();
    TOKEN.with_borrow_mut(|buffer| {
        let len = token.len().min(TOKEN_CAPACITY);
        buffer[..len].copy_from_slice(&token.as_bytes()[..len]);
    });
    token.len()
}

/// The text of a result of `len` bytes (for Rust callers, as [`put_token`]).
pub fn result_text(len: usize) -> String {
    RESULT.with_borrow(|buffer| String::from_utf8_lossy(&buffer[..len]).into_owned())
}

/// Runs `f` on the `len`-byte token in the token buffer.
fn with_token<R>(len: usize, f: impl FnOnce(&str) -> Result<R, Error>) -> Result<R, JsValue> {
    if len > MAX_TOKEN_LEN {
        return Err(fail(Error::TokenTooLarge));
    }
    TOKEN.with_borrow(|buffer| {
        let bytes = buffer.get(..len).ok_or(Error::TokenMalformed);
        let token = bytes.and_then(|b| std::str::from_utf8(b).map_err(|_| Error::TokenMalformed));
        token.and_then(f).map_err(fail)
    })
}

/// Writes `parts` as the result; returns its length. The buffer is never grown (JS
/// holds its address): a result that would not fit, which no accepted token makes, is
/// refused.
fn emit(parts: &[&str]) -> Result<usize, Error> {
    RESULT.with_borrow_mut(|buffer| {
        buffer.clear();
        buffer.reserve_exact(RESULT_CAPACITY);
        let len = parts.iter().map(|p| p.len()).sum();
        if len > buffer.capacity() {
            return Err(Error::TokenTooLarge);
        }
        for part in parts {
            buffer.extend_from_slice(part.as_bytes());
        }
        Ok(len)
    })
}

/// Decodes the token in the token buffer, unverified: the result is
/// `{"header":{..},"payload":{..}}`, or with `payload_only` just the payload (the JS
/// wrapper already holds this header: tokens from one issuer share it).
#[wasm_bindgen(js_name = decodeToken)]
pub fn decode_token(len: usize, payload_only: bool) -> u32 {
    length_or_failed(with_token(len, |token| {
        decode(token, |decoded| {
            if payload_only {
                return emit(&[decoded.payload_json()]);
            }
            emit(&[
                "{\"header\":",
                decoded.header_json(),
                ",\"payload\":",
                decoded.payload_json(),
                "}",
            ])
        })
    }))
}

/// `f` of the token in the token buffer, decoded: one copy of the decoding code for the
/// three time queries below (each with its own closure it was three, about 1 KB apiece of
/// the module; BENCHMARKS.md, "the validator's size, third round").
fn time_query(
    len: usize,
    f: &dyn Fn(&tollgate_core::Decoded) -> Result<f64, Error>,
) -> Result<f64, JsValue> {
    with_token(len, |token| decode(token, f))
}

/// The token's `exp` (epoch seconds), or undefined when it has none.
#[wasm_bindgen(js_name = expiresAt)]
pub fn expires_at(len: usize) -> Result<Option<f64>, JsValue> {
    let exp = time_query(len, &|d| Ok(d.expires_at()?.map_or(-1.0, |exp| exp as f64)))?;
    Ok((exp >= 0.0).then_some(exp))
}

/// `exp <= now - leeway`.
#[wasm_bindgen(js_name = isExpired)]
pub fn is_expired(len: usize, now: f64, leeway: f64) -> Result<bool, JsValue> {
    let (now, leeway) = (seconds(now, "now")?, seconds(leeway, "leeway")?);
    Ok(time_query(len, &|d| {
        Ok(f64::from(u8::from(d.is_expired(now, leeway)?)))
    })? > 0.0)
}

/// Seconds until `exp` (0 once expired).
#[wasm_bindgen(js_name = secondsLeft)]
pub fn seconds_left(len: usize, now: f64) -> Result<f64, JsValue> {
    let now = seconds(now, "now")?;
    time_query(len, &|d| Ok(d.seconds_left(now)? as f64))
}

/// Verifier options, as the JS wrapper passes them (JSON text; it checks the types
/// first, so the errors here are for direct callers of the wasm module).
#[derive(Default)]
struct Options {
    algorithm: String,
    leeway: u64,
    audience: Option<Audience>,
    issuer: Option<String>,
    /// "access", "refresh", "sliding", "sliding_refresh", "untyped" or absent (any type).
    token_type: Option<String>,
    required_claims: Vec<String>,
    user_id_claim: Option<String>,
    token_type_claim: Option<String>,
    jti_claim: Option<String>,
    refresh_exp_claim: Option<String>,
    max_token_age: Option<u64>,
    max_lifetime: Option<u64>,
}

/// JSON read with the core's strict reader in place (`check_json`, `JsonObject`): no
/// `serde_json::Value` is built anywhere in the module (BENCHMARKS.md, the validator's
/// size).
fn string_list(value: JsonValue<'_>) -> Option<Vec<String>> {
    value
        .items()?
        .map(|v| v.as_str().map(|s| s.decode().into_owned()))
        .collect()
}

fn parse_options(options_json: &str) -> Result<(Options, Algorithm), JsValue> {
    let Some(fields) = JsonObject::scan(options_json) else {
        return Err(invalid_argument("options must be a JSON object"));
    };
    let mut options = Options::default();
    // The first failing option in key order is the one reported (as when the options
    // were a sorted map).
    let mut failure: Option<(String, JsValue)> = None;
    for (name, value) in fields.members() {
        let name = name.decode();
        if value.is_null() || failure.as_ref().is_some_and(|(first, _)| **first < *name) {
            continue;
        }
        let text = || value.as_str().map(|s| s.decode().into_owned());
        let ok = match name.as_ref() {
            "algorithm" => text().map(|a| options.algorithm = a),
            "leeway" => value.as_u64().map(|l| options.leeway = l),
            "audience" => match text() {
                Some(one) => Some(Audience::One(one)),
                None => string_list(value).map(Audience::Many),
            }
            .map(|a| options.audience = Some(a)),
            "issuer" => text().map(|i| options.issuer = Some(i)),
            "type" => text().map(|t| options.token_type = Some(t)),
            "requiredClaims" => string_list(value).map(|r| options.required_claims = r),
            "userIdClaim" => text().map(|c| options.user_id_claim = Some(c)),
            "tokenTypeClaim" => text().map(|c| options.token_type_claim = Some(c)),
            "jtiClaim" => text().map(|c| options.jti_claim = Some(c)),
            "refreshExpClaim" => text().map(|c| options.refresh_exp_claim = Some(c)),
            "maxTokenAge" => value.as_u64().map(|s| options.max_token_age = Some(s)),
            "maxLifetime" => value.as_u64().map(|s| options.max_lifetime = Some(s)),
            _ => {
                let err = invalid_argument(&["options: unknown option ", &name].concat());
                failure = Some((name.into_owned(), err));
                continue;
            }
        };
        if ok.is_none() {
            let err = invalid_argument(&["options.", &name, " has the wrong type"].concat());
            failure = Some((name.into_owned(), err));
        }
    }
    if let Some((_, err)) = failure {
        return Err(err);
    }
    let algorithm = Algorithm::from_name(&options.algorithm).map_err(fail)?;
    Ok((options, algorithm))
}

/// A verifier built once from keys and options; `verify` is synchronous.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Verifier {
    inner: tollgate_core::Verifier,
    expect: Expect,
    sliding_refresh: bool,
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
        Some(_) => {
            return Err(invalid_argument(
                "options.type: use access, refresh, sliding, sliding_refresh or untyped",
            ))
        }
    };
    let settings = VerifierSettings::with_keys(algorithm, keys)
        .leeway(options.leeway)
        .audience(options.audience)
        .issuer(options.issuer)
        .claim_names(claims)
        .required_claims(options.required_claims)
        .max_token_age(options.max_token_age)
        .max_lifetime(options.max_lifetime);
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

    /// A public key in PEM: SPKI (EdDSA, ES*, RS*, PS*) or PKCS#1 (RS*, PS*).
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
        // ok_or_else: the error (a TollgateError with a stack) only when it is needed.
        // One pass of the checking reader for an object (a JWKS or one JWK); anything
        // else must still be JSON to be tried (and refused) as one key.
        let key_set = match JsonObject::scan(jwks_json) {
            Some(set) => set.get("keys").and_then(|keys| keys.items()),
            None => {
                check_json(jwks_json).ok_or_else(|| fail(Error::KeyInvalid))?;
                None
            }
        };
        let members: Vec<&str> = match key_set {
            Some(keys) => keys.map(|key| key.text()).collect(),
            None => vec![jwks_json],
        };
        let mut keys = Vec::new();
        let mut last_error = Error::KeyInvalid;
        for member in members {
            match VerifyingKey::from_jwk(algorithm, member) {
                Ok(key) => keys.push(key),
                Err(err) => last_error = err,
            }
        }
        if keys.is_empty() {
            return Err(fail(last_error));
        }
        build(options, algorithm, keys)
    }

    /// Verifies the token in the token buffer at `now` (epoch seconds): the result is
    /// the claims (the token's payload JSON), or a TollgateError is thrown.
    /// `blacklist_json`, if given, is a JSON array of revoked jti values (checked where
    /// Simple JWT checks its blacklist: after the signature, before exp/jti/type).
    #[wasm_bindgen(js_name = verifyToken)]
    pub fn verify_token(&self, len: usize, now: f64, blacklist_json: Option<String>) -> u32 {
        length_or_failed(self.verify_inner(len, now, blacklist_json, false))
    }

    /// [`Verifier::verify_token`] with the signature math of asymmetric keys done by the
    /// runtime (`nativeVerify` of js/native.js, for the key's index; see
    /// `tollgate_core::Verifier::verify_with_signature_math`): every other check, and
    /// every error, is the core's.
    #[wasm_bindgen(js_name = verifyTokenNative)]
    pub fn verify_token_native(&self, len: usize, now: f64, blacklist_json: Option<String>) -> u32 {
        length_or_failed(self.verify_inner(len, now, blacklist_json, true))
    }

    /// Key `index` as a public JWK (JSON text of its required members), for the runtime's
    /// native crypto to import; undefined for HMAC secrets (never exported) and past the
    /// last key.
    #[wasm_bindgen(js_name = publicJwk)]
    pub fn public_jwk(&self, index: usize) -> Option<String> {
        self.inner.keys().get(index)?.public_jwk_json()
    }

    fn verify_inner(
        &self,
        len: usize,
        now: f64,
        blacklist_json: Option<String>,
        native: bool,
    ) -> Result<usize, JsValue> {
        let now = seconds(now, "now")?;
        let blacklist: Vec<String> = match blacklist_json {
            None => Vec::new(),
            Some(text) => check_json(&text)
                .and_then(string_list)
                .ok_or_else(|| invalid_argument("blacklist must be an array of jti strings"))?,
        };
        with_token(len, |token| {
            let listed = |jti: &str| blacklist.iter().any(|b| b == jti);
            let verified = if native {
                self.inner.verify_with_signature_math(
                    token,
                    self.expect,
                    now,
                    listed,
                    native_verify,
                )?
            } else {
                self.inner.verify(token, self.expect, now, listed)?
            };
            if self.sliding_refresh {
                self.inner.check_refresh_exp(&verified, now)?;
            }
            emit(&[verified.payload_json()])
        })
    }

    /// The number of keys kept (for diagnostics and tests).
    #[wasm_bindgen(getter, js_name = keyCount)]
    pub fn key_count(&self) -> usize {
        self.inner.keys().len()
    }
}
