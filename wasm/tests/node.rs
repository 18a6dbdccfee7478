//! The adapter itself, in a JS engine (wasm-bindgen-test-runner under Node): tokens go
//! in through the token buffer, results come out as JSON text in the result buffer,
//! errors arrive as `TollgateError` objects with the core's `.code`.
#![cfg(target_arch = "wasm32")]

use tollgate_wasm::{
    decode_token, expires_at, is_expired, put_token, result_text, seconds_left, take_error,
    Verifier, FAILED,
};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::wasm_bindgen_test;

const SECRET: &[u8] = b"tollgate-test-vectors-hmac-secret-0123456789abcdefghijklmnopqrstuvwxyz";
/// The shared vectors made by tollgate-core's generator.
const VECTORS: &str = include_str!("../../tests/vectors/generated.json");

fn vector(name: &str) -> serde_json::Value {
    let all: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    all["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap()
        .clone()
}

#[wasm_bindgen::prelude::wasm_bindgen(
    inline_js = "export function js_get(o, k) { return o == null ? undefined : String(o[k]); }"
)]
extern "C" {
    fn js_get(object: &JsValue, key: &str) -> Option<String>;
}

/// The `.code` and `.message` of a thrown value.
fn code_of(err: JsValue) -> (String, String) {
    let get = |key: &str| js_get(&err, key).unwrap_or_default();
    (get("code"), get("message"))
}

/// A result-length call's outcome: the result text, or the error it left.
fn outcome(len: u32) -> Result<String, JsValue> {
    if len == FAILED {
        Err(take_error())
    } else {
        Ok(result_text(len as usize))
    }
}

fn decode(token: &str, payload_only: bool) -> Result<String, JsValue> {
    outcome(decode_token(put_token(token), payload_only))
}

fn verify(
    verifier: &Verifier,
    token: &str,
    now: f64,
    blacklist: Option<String>,
) -> Result<String, JsValue> {
    outcome(verifier.verify_token(put_token(token), now, blacklist))
}

#[wasm_bindgen_test]
fn decode_returns_json_text() {
    let v = vector("gen-hs256-access");
    let token = v["token"].as_str().unwrap();
    let text = decode(token, false).unwrap();
    let decoded: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(decoded["payload"], v["claims"]);
    assert_eq!(decoded["header"]["alg"], "HS256");
    // The second time the header is known: the payload alone, the same payload.
    let payload: serde_json::Value = serde_json::from_str(&decode(token, true).unwrap()).unwrap();
    assert_eq!(payload, v["claims"]);
    let exp = v["claims"]["exp"].as_f64().unwrap();
    assert_eq!(expires_at(put_token(token)).unwrap(), Some(exp));
    assert!(is_expired(put_token(token), exp, 0.0).unwrap());
    assert_eq!(seconds_left(put_token(token), exp - 5.0).unwrap(), 5.0);
    // A token over the limit is refused by its length alone.
    let (code, _) =
        code_of(outcome(decode_token(tollgate_wasm::max_token_len() + 1, false)).unwrap_err());
    assert_eq!(code, "token_too_large");
}

#[wasm_bindgen_test]
fn errors_are_tollgate_errors_with_codes() {
    let (code, message) = code_of(decode("garbage", false).unwrap_err());
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("token_malformed", "Token is invalid")
    );
    let v = vector("gen-hs256-access");
    let token = v["token"].as_str().unwrap();
    let verifier = Verifier::hmac(SECRET, r#"{"algorithm":"HS256","type":"access"}"#).unwrap();
    let exp = v["claims"]["exp"].as_f64().unwrap();
    let (code, message) = code_of(verify(&verifier, token, exp, None).unwrap_err());
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("token_expired", "Token is expired")
    );
    let (code, _) = code_of(verify(&verifier, token, f64::NAN, None).unwrap_err());
    assert_eq!(code, "argument_invalid");
    let (code, _) = code_of(Verifier::hmac(b"short", r#"{"algorithm":"HS256"}"#).unwrap_err());
    assert_eq!(code, "key_weak");
    let (code, _) =
        code_of(Verifier::hmac(SECRET, r#"{"algorithm":"HS256","bogus":1}"#).unwrap_err());
    assert_eq!(code, "argument_invalid");
}

#[wasm_bindgen_test]
fn verify_returns_claims_and_honours_the_blacklist() {
    let v = vector("gen-hs256-access");
    let token = v["token"].as_str().unwrap();
    let now = v["now"].as_f64().unwrap();
    let verifier = Verifier::hmac(SECRET, r#"{"algorithm":"HS256","type":"access"}"#).unwrap();
    let claims: serde_json::Value =
        serde_json::from_str(&verify(&verifier, token, now, None).unwrap()).unwrap();
    assert_eq!(claims, v["claims"]);
    let blacklist = serde_json::json!([v["claims"]["jti"]]).to_string();
    let (code, _) = code_of(verify(&verifier, token, now, Some(blacklist)).unwrap_err());
    assert_eq!(code, "token_blacklisted");
}

#[wasm_bindgen_test]
fn lifetime_policy_options_reach_the_core() {
    let v = vector("gen-hs256-access");
    let token = v["token"].as_str().unwrap();
    let now = v["now"].as_f64().unwrap();
    let outcome = |options: &str| {
        let verifier = Verifier::hmac(SECRET, options).map_err(code_of)?;
        verify(&verifier, token, now, None).map_err(code_of)
    };
    // The token: iat 1700000000, exp + 1800, verified 100 s after iat.
    assert!(outcome(r#"{"algorithm":"HS256","maxTokenAge":100,"maxLifetime":1800}"#).is_ok());
    let code = |options: &str| outcome(options).unwrap_err().0;
    assert_eq!(
        code(r#"{"algorithm":"HS256","maxTokenAge":99}"#),
        "token_too_old"
    );
    assert_eq!(
        code(r#"{"algorithm":"HS256","maxLifetime":1799}"#),
        "token_lifetime_too_long"
    );
    assert_eq!(
        code(r#"{"algorithm":"HS256","maxTokenAge":"99"}"#),
        "argument_invalid"
    );
    assert_eq!(
        code(r#"{"algorithm":"HS256","maxLifetime":0}"#),
        "setting_invalid"
    );
}
