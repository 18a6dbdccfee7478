//! RSA signing keys (RS256/384/512, PS256/384/512): an issuer's need, behind the
//! `rsa-sign` feature.
//!
//! The private-key operation is ring's (constant-time, blinded), not RustCrypto `rsa`'s,
//! whose private-key operations leak timing (RUSTSEC-2023-0071); `rsa` only parses the
//! key here. The PSS salt is the one randomness inside tollgate-core: it comes from the
//! operating system through ring, since a salt passed in by every caller would buy
//! nothing but misuse. PKCS#1 v1.5 signatures (RS*) stay deterministic.
//!
//! Without the feature `alg.rs` has no RSA signing key variant, and every constructor
//! says `algorithm_unsupported`.

use alloc::{string::String, vec::Vec};
use core::fmt;

use base64ct::{Base64, Encoding as _};
use ring::{rand::SystemRandom, rsa::KeyPair, signature};
use rsa::{
    pkcs1::DecodeRsaPrivateKey as _,
    pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, SecretDocument},
    traits::PublicKeyParts as _,
    BigUint, RsaPrivateKey, RsaPublicKey,
};

use crate::{Algorithm, Error};

/// An RSA private key: ring's key pair, its public half, and its PKCS#8 DER (zeroed on
/// drop) for writing it back out (ring cannot export keys).
pub(crate) struct RsaSigner {
    pair: KeyPair,
    public: RsaPublicKey,
    pkcs8: SecretDocument,
}

impl fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaSigner")
            .field("bits", &(self.public.size() * 8))
            .finish_non_exhaustive()
    }
}

impl RsaSigner {
    /// PKCS#8 or PKCS#1 DER.
    pub(crate) fn from_der(der: &[u8]) -> Result<Self, Error> {
        let key = RsaPrivateKey::from_pkcs8_der(der)
            .or_else(|_| RsaPrivateKey::from_pkcs1_der(der))
            .map_err(|_| Error::KeyInvalid)?;
        Self::new(key)
    }

    /// `BEGIN PRIVATE KEY` (PKCS#8) or `BEGIN RSA PRIVATE KEY` (PKCS#1).
    pub(crate) fn from_pem(pem: &str) -> Result<Self, Error> {
        let der = super::pem_body(pem, "PRIVATE KEY")
            .or_else(|| super::pem_body(pem, "RSA PRIVATE KEY"))
            .ok_or(Error::KeyInvalid)?;
        Self::from_der(&der)
    }

    /// A private JWK's `n`, `e`, `d`, `p` and `q` (`dp`, `dq`, `qi` are recomputed).
    pub(crate) fn from_jwk(member: impl Fn(&str) -> Result<Vec<u8>, Error>) -> Result<Self, Error> {
        let int = |name: &str| member(name).map(|bytes| BigUint::from_bytes_be(&bytes));
        let (n, e, d) = (int("n")?, int("e")?, int("d")?);
        let primes = alloc::vec![int("p")?, int("q")?];
        let key = RsaPrivateKey::from_components(n, e, d, primes).map_err(|_| Error::KeyInvalid)?;
        Self::new(key)
    }

    fn new(key: RsaPrivateKey) -> Result<Self, Error> {
        // Size and exponent rules first: a weak key says `key_weak`, not `key_invalid`.
        let public = super::rsa_public(&key.n().to_bytes_be(), &key.e().to_bytes_be())?;
        key.validate().map_err(|_| Error::KeyInvalid)?;
        let pkcs8 = key.to_pkcs8_der().map_err(|_| Error::KeyInvalid)?;
        let pair = KeyPair::from_pkcs8(pkcs8.as_bytes()).map_err(|_| Error::KeyInvalid)?;
        Ok(Self {
            pair,
            public,
            pkcs8,
        })
    }

    pub(crate) fn public(&self) -> &RsaPublicKey {
        &self.public
    }

    pub(crate) fn to_pkcs8_pem(&self) -> String {
        let body = Base64::encode_string(self.pkcs8.as_bytes());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.extend(line.iter().map(|&b| char::from(b)));
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        pem
    }

    pub(crate) fn sign(&self, alg: Algorithm, message: &[u8]) -> Result<Vec<u8>, Error> {
        let padding: &'static dyn signature::RsaEncoding = match alg {
            Algorithm::Rs256 => &signature::RSA_PKCS1_SHA256,
            Algorithm::Rs384 => &signature::RSA_PKCS1_SHA384,
            Algorithm::Rs512 => &signature::RSA_PKCS1_SHA512,
            Algorithm::Ps256 => &signature::RSA_PSS_SHA256,
            Algorithm::Ps384 => &signature::RSA_PSS_SHA384,
            Algorithm::Ps512 => &signature::RSA_PSS_SHA512,
            _ => return Err(Error::KeyAlgorithmMismatch),
        };
        let mut signature = alloc::vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(padding, &SystemRandom::new(), message, &mut signature)
            .map_err(|_| Error::KeyInvalid)?;
        Ok(signature)
    }
}

/// An RS*/PS* signature check by ring (`n`, `e` big-endian; sizes already bounded).
pub(crate) fn verify(alg: Algorithm, n: &[u8], e: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let params: &'static signature::RsaParameters = match alg {
        Algorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return false,
    };
    signature::RsaPublicKeyComponents { n, e }
        .verify(params, message, signature)
        .is_ok()
}
