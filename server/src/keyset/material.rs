//! Key material as text: what the data folder's key file, a `signing_key` setting and a
//! sealed stored key hold (the HMAC secret text, or PKCS#8 PEM / a private JWK).

use tollgate_core::{Algorithm, SigningKey};

/// Fresh key material as text: 64 random bytes in base64url for HMAC (used as the secret
/// text, like Django's SECRET_KEY), PKCS#8 PEM otherwise.
pub fn generate_key_text(algorithm: Algorithm) -> Result<String, String> {
    let mut bytes = [0u8; 64];
    getrandom::getrandom(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    if algorithm.is_hmac() {
        use base64::Engine as _;
        return Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes) + "\n");
    }
    // A P-256 scalar may (with negligible probability) be out of range: retry.
    for chunk in bytes.chunks(32) {
        if let Ok(key) = SigningKey::from_raw(algorithm, chunk) {
            return key.to_pkcs8_pem().map_err(|e| e.to_string());
        }
    }
    Err("could not generate a key".into())
}

/// A signing key from its text: the HMAC secret as given, else a private JWK or PEM.
pub fn parse_key_text(
    algorithm: Algorithm,
    text: &str,
) -> Result<SigningKey, tollgate_core::Error> {
    if algorithm.is_hmac() {
        SigningKey::hmac(algorithm, text.as_bytes())
    } else if text.trim_start().starts_with('{') {
        SigningKey::from_jwk(algorithm, text)
    } else {
        SigningKey::from_pem(algorithm, text)
    }
}
