//! RSA keys (RS256/384/512, PS256/384/512) for [`super`]: public keys from DER, PEM or
//! JWK members within tollgate's size bounds, the signature check, and the hand-over to
//! [`super::rsa_sign`] for signing keys.
//!
//! Compiled in every build: without the `rsa` feature (the npm package's default module)
//! only the fallbacks remain, which say `algorithm_unsupported`.

#[cfg(feature = "rsa")]
use rsa::{traits::PublicKeyParts as _, BigUint, RsaPublicKey};
#[cfg(all(feature = "rsa", not(feature = "rsa-sign")))]
use sha2::{Digest as _, Sha256};

#[cfg(feature = "rsa")]
use super::pem_body;
use super::{Algorithm, Jwk, SigningInner, VerifyingInner};
use crate::Error;

#[cfg(feature = "rsa")]
/// An RSA public key from its modulus and exponent (big-endian), within the size bounds:
/// under [`Algorithm::MIN_RSA_BITS`] is a weak key, over [`Algorithm::MAX_RSA_BITS`]
/// (or an exponent below 3 or even) an invalid one.
pub(crate) fn rsa_public(n: &[u8], e: &[u8]) -> Result<RsaPublicKey, Error> {
    let odd = e.last().is_some_and(|last| last & 1 == 1);
    let (n, e) = (BigUint::from_bytes_be(n), BigUint::from_bytes_be(e));
    let bits = n.bits();
    if bits > Algorithm::MAX_RSA_BITS {
        return Err(Error::KeyInvalid);
    }
    if bits < Algorithm::MIN_RSA_BITS {
        return Err(Error::WeakKey);
    }
    if e < BigUint::from(3u8) || !odd {
        return Err(Error::KeyInvalid);
    }
    RsaPublicKey::new_with_max_size(n, e, Algorithm::MAX_RSA_BITS).map_err(|_| Error::KeyInvalid)
}

#[cfg(feature = "rsa")]
/// An RSASSA-PKCS1-v1_5 or RSASSA-PSS signature check (RFC 8017). The signature must be
/// exactly the modulus's length and, as an integer, below it (the crate checks this for
/// PKCS#1 v1.5 only; checked here for both, so `s + n` is never a second signature).
/// PSS salts must be exactly the hash's length, as RFC 7518 section 3.5 says.
pub(super) fn rsa_verify(
    alg: Algorithm,
    key: &RsaPublicKey,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let modulus = key.n().to_bytes_be();
    if !in_range(&modulus, signature) {
        return false;
    }
    rsa_check(alg, key, &modulus, message, signature)
}

#[cfg(feature = "rsa")]
/// The shape [`rsa_verify`] requires of a signature before any arithmetic: exactly the
/// modulus's length and below it (for the runtime's native math, which is handed only
/// signatures of this shape).
pub(super) fn rsa_signature_well_formed(key: &RsaPublicKey, signature: &[u8]) -> bool {
    in_range(&key.n().to_bytes_be(), signature)
}

#[cfg(feature = "rsa")]
fn in_range(modulus: &[u8], signature: &[u8]) -> bool {
    signature.len() == modulus.len() && signature < modulus
}

/// The signature check of [`rsa_verify`] by ring, where it is compiled in (the server): the
/// same RFC 8017 rules (PSS salt of the hash's length, `s < n`), about 20 times faster than
/// `rsa` natively. Both paths pass every shared vector (the core's tests take this one,
/// the npm package's module the other).
#[cfg(feature = "rsa-sign")]
fn rsa_check(
    alg: Algorithm,
    key: &RsaPublicKey,
    modulus: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    super::rsa_sign::verify(alg, modulus, &key.e().to_bytes_be(), message, signature)
}

/// The signature check of [`rsa_verify`] by RustCrypto's `rsa` (public-key operations only).
#[cfg(all(feature = "rsa", not(feature = "rsa-sign")))]
fn rsa_check(
    alg: Algorithm,
    key: &RsaPublicKey,
    _modulus: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    use rsa::{Pkcs1v15Sign, Pss};
    use sha2::{Sha384, Sha512};
    let result = match alg {
        Algorithm::Rs256 => key.verify(
            Pkcs1v15Sign::new::<Sha256>(),
            &Sha256::digest(message),
            signature,
        ),
        Algorithm::Rs384 => key.verify(
            Pkcs1v15Sign::new::<Sha384>(),
            &Sha384::digest(message),
            signature,
        ),
        Algorithm::Rs512 => key.verify(
            Pkcs1v15Sign::new::<Sha512>(),
            &Sha512::digest(message),
            signature,
        ),
        Algorithm::Ps256 => key.verify(Pss::new::<Sha256>(), &Sha256::digest(message), signature),
        Algorithm::Ps384 => key.verify(Pss::new::<Sha384>(), &Sha384::digest(message), signature),
        Algorithm::Ps512 => key.verify(Pss::new::<Sha512>(), &Sha512::digest(message), signature),
        _ => return false,
    };
    result.is_ok()
}

#[cfg(feature = "rsa")]
/// An RSA public key from DER: SPKI (`rsaEncryption`) or PKCS#1 `RSAPublicKey`.
fn rsa_public_der(der: &[u8], spki: bool) -> Result<RsaPublicKey, Error> {
    use rsa::{pkcs1::DecodeRsaPublicKey as _, pkcs8::DecodePublicKey as _};
    let parsed = if spki {
        RsaPublicKey::from_public_key_der(der)
    } else {
        RsaPublicKey::from_pkcs1_der(der).map_err(Into::into)
    };
    // Parsed with the crate's 4096-bit bound; checked again with tollgate's own rules.
    let key = parsed.map_err(|_| Error::KeyInvalid)?;
    rsa_public(&key.n().to_bytes_be(), &key.e().to_bytes_be())
}

/// Where an RSA key comes from.
#[cfg_attr(not(feature = "rsa"), allow(dead_code))]
pub(super) enum RsaSource<'a> {
    /// PKCS#8 or PKCS#1 DER (private), PKCS#1 DER (public).
    Der(&'a [u8]),
    /// PEM (private: PKCS#8 or PKCS#1; public: SPKI or PKCS#1).
    Pem(&'a str),
    Jwk(&'a Jwk<'a>),
}

/// An RSA signing key for `alg` (`algorithm_unsupported` without the `rsa-sign`
/// feature: a verifier never signs).
#[cfg(feature = "rsa-sign")]
pub(super) fn rsa_signer(alg: Algorithm, source: RsaSource<'_>) -> Result<SigningInner, Error> {
    use super::rsa_sign::RsaSigner;
    if !alg.is_rsa() {
        return Err(Error::KeyAlgorithmMismatch);
    }
    let signer = match source {
        RsaSource::Der(der) => RsaSigner::from_der(der)?,
        RsaSource::Pem(pem) => RsaSigner::from_pem(pem)?,
        RsaSource::Jwk(jwk) => RsaSigner::from_jwk(|name| jwk.required(name))?,
    };
    Ok(SigningInner::Rsa(alg, alloc::sync::Arc::new(signer)))
}

#[cfg(not(feature = "rsa-sign"))]
pub(super) fn rsa_signer(alg: Algorithm, _source: RsaSource<'_>) -> Result<SigningInner, Error> {
    Err(if alg.is_rsa() {
        Error::AlgorithmUnsupported
    } else {
        Error::KeyAlgorithmMismatch
    })
}

/// An RSA public key for `alg` (`algorithm_unsupported` without the `rsa` feature).
#[cfg(feature = "rsa")]
pub(super) fn rsa_verifier(alg: Algorithm, source: RsaSource<'_>) -> Result<VerifyingInner, Error> {
    let key = match source {
        RsaSource::Der(der) => rsa_public_der(der, false)?,
        RsaSource::Pem(pem) => match pem_body(pem, "PUBLIC KEY") {
            Some(der) => rsa_public_der(&der, true)?,
            None => {
                let der = pem_body(pem, "RSA PUBLIC KEY").ok_or(Error::KeyInvalid)?;
                rsa_public_der(&der, false)?
            }
        },
        RsaSource::Jwk(jwk) => rsa_public(&jwk.required("n")?, &jwk.required("e")?)?,
    };
    Ok(VerifyingInner::Rsa(alg, alloc::boxed::Box::new(key)))
}

#[cfg(not(feature = "rsa"))]
pub(super) fn rsa_verifier(
    _alg: Algorithm,
    _source: RsaSource<'_>,
) -> Result<VerifyingInner, Error> {
    Err(Error::AlgorithmUnsupported)
}

/// The RFC 7638 members of an RSA public key (`e`, `kty`, `n`), in that order.
#[cfg(feature = "rsa")]
pub(super) fn rsa_members(
    key: &RsaPublicKey,
) -> alloc::vec::Vec<(&'static str, alloc::string::String)> {
    use base64ct::{Base64UrlUnpadded, Encoding as _};
    alloc::vec![
        (
            "e",
            Base64UrlUnpadded::encode_string(&key.e().to_bytes_be())
        ),
        ("kty", "RSA".into()),
        (
            "n",
            Base64UrlUnpadded::encode_string(&key.n().to_bytes_be())
        ),
    ]
}
