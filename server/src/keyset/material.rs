//! Key material as text: what the data folder's key file, a `signing_key` setting and a
//! sealed stored key hold (the HMAC secret text, or PKCS#8 PEM / a private JWK).

use tollgate_core::{Algorithm, SigningKey};

/// Fresh key material as text: 64 random bytes in base64url for HMAC (used as the secret
/// text, like Django's SECRET_KEY), PKCS#8 PEM otherwise (for RS*/PS* a new 2048-bit RSA
/// key).
pub fn generate_key_text(algorithm: Algorithm) -> Result<String, String> {
    let random = |len: usize| {
        let mut bytes = vec![0u8; len];
        getrandom::getrandom(&mut bytes)
            .map(|()| bytes)
            .map_err(|e| format!("no randomness: {e}"))
    };
    if algorithm.is_hmac() {
        use base64::Engine as _;
        return Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random(64)?) + "\n");
    }
    if algorithm.is_rsa() {
        return generate_rsa(algorithm);
    }
    // An ECDSA scalar of the curve's size (Ed25519: the 32-byte seed); one out of range
    // (negligibly rare, P-521's top byte masked to its one bit) is drawn again.
    let size = match algorithm {
        Algorithm::Es384 => 48,
        Algorithm::Es512 => 66,
        _ => 32,
    };
    for _ in 0..8 {
        let mut bytes = random(size)?;
        if algorithm == Algorithm::Es512 {
            bytes[0] &= 0x01;
        }
        if let Ok(key) = SigningKey::from_raw(algorithm, &bytes) {
            return key.to_pkcs8_pem().map_err(|e| e.to_string());
        }
    }
    Err("could not generate a key".into())
}

/// A new 2048-bit RSA key (e = 65537) from the operating system's randomness, through
/// RustCrypto's `rsa` (its key generation runs once, here; signing is ring's).
fn generate_rsa(algorithm: Algorithm) -> Result<String, String> {
    use rsa::pkcs8::EncodePrivateKey as _;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, Algorithm::MIN_RSA_BITS)
        .map_err(|e| format!("could not generate an RSA key: {e}"))?;
    let der = key.to_pkcs8_der().map_err(|e| e.to_string())?;
    SigningKey::from_raw(algorithm, der.as_bytes())
        .and_then(|key| key.to_pkcs8_pem())
        .map_err(|e| e.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `keys generate` and `keys add` for every public-key algorithm: PKCS#8 PEM that
    /// parses back as a key of that algorithm, a new one each time.
    #[test]
    fn generated_keys_parse_back_for_every_algorithm() {
        // RSA once (key generation takes seconds); its key serves all six RSA algorithms.
        let public = [
            Algorithm::EdDsa,
            Algorithm::Es256,
            Algorithm::Es384,
            Algorithm::Es512,
        ];
        for algorithm in public.into_iter().chain([Algorithm::Ps512]) {
            let text = generate_key_text(algorithm).unwrap();
            assert!(
                text.starts_with("-----BEGIN PRIVATE KEY-----"),
                "{algorithm}"
            );
            let key = parse_key_text(algorithm, &text).unwrap();
            assert_eq!(key.algorithm(), algorithm);
            if algorithm.is_rsa() {
                assert_eq!(
                    parse_key_text(Algorithm::Rs256, &text).unwrap().kid(),
                    key.kid()
                );
                continue;
            }
            let again = parse_key_text(algorithm, &generate_key_text(algorithm).unwrap()).unwrap();
            assert_ne!(key.kid(), again.kid(), "{algorithm}");
        }
    }
}
