//! Algorithms and keys: a thin, closed layer over jwt-compact's algorithm implementations.
//!
//! The set is closed on purpose (HS256/384/512, EdDSA over Ed25519, ES256). There is no
//! `none`, no RSA (RUSTSEC-2023-0071) and no way to pick an algorithm from a token.

use alloc::{string::String, vec::Vec};
use core::fmt;

use base64ct::{Base64UrlUnpadded, Encoding as _};
#[cfg(feature = "pem-private")]
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use jwt_compact::{
    alg::{Ed25519, Es256, Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key},
    jwk::JsonWebKey,
    Algorithm as JwtAlgorithm, AlgorithmSignature,
};
use sha2::Sha256;

use crate::Error;

/// A signing algorithm. The verifier's configuration picks exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256 (Simple JWT's default).
    Hs256,
    /// HMAC with SHA-384.
    Hs384,
    /// HMAC with SHA-512.
    Hs512,
    /// EdDSA over Ed25519 (RFC 8037).
    EdDsa,
    /// ECDSA over P-256 with SHA-256.
    Es256,
}

impl Algorithm {
    /// All supported algorithms.
    pub const ALL: [Algorithm; 5] = [
        Algorithm::Hs256,
        Algorithm::Hs384,
        Algorithm::Hs512,
        Algorithm::EdDsa,
        Algorithm::Es256,
    ];

    /// The JOSE name (`alg` header value).
    pub fn name(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
        }
    }

    /// Parses a JOSE algorithm name, case-sensitively, as JOSE requires.
    pub fn from_name(name: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.name() == name)
            .ok_or(Error::AlgorithmUnsupported)
    }

    /// True for the HMAC algorithms, whose one secret both signs and verifies.
    pub fn is_hmac(self) -> bool {
        matches!(self, Self::Hs256 | Self::Hs384 | Self::Hs512)
    }

    /// The shortest HMAC secret accepted: the hash output size (RFC 7518, section 3.2).
    pub fn min_hmac_secret_len(self) -> usize {
        match self {
            Self::Hs384 => 48,
            Self::Hs512 => 64,
            _ => 32,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A key that signs tokens. Only the issuing server holds one.
#[derive(Clone)]
pub struct SigningKey {
    inner: SigningInner,
    kid: String,
}

#[derive(Clone)]
enum SigningInner {
    Hs256(Hs256Key),
    Hs384(Hs384Key),
    Hs512(Hs512Key),
    EdDsa(ed25519_dalek::SigningKey),
    Es256(p256::ecdsa::SigningKey),
}

/// A key that verifies tokens: the HMAC secret, or an Ed25519 / P-256 public key.
#[derive(Clone)]
pub struct VerifyingKey {
    inner: VerifyingInner,
    kid: String,
}

#[derive(Clone)]
enum VerifyingInner {
    Hs256(Hs256Key),
    Hs384(Hs384Key),
    Hs512(Hs512Key),
    EdDsa(ed25519_dalek::VerifyingKey),
    Es256(p256::ecdsa::VerifyingKey),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm())
            .field("kid", &self.kid)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("VerifyingKey");
        s.field("algorithm", &self.algorithm())
            .field("kid", &self.kid);
        if self.algorithm().is_hmac() {
            s.field("secret", &"<redacted>");
        }
        s.finish()
    }
}

fn check_hmac_secret(alg: Algorithm, secret: &[u8]) -> Result<(), Error> {
    if !alg.is_hmac() {
        return Err(Error::KeyAlgorithmMismatch);
    }
    // A PEM public key used as an HMAC secret is the classic algorithm-confusion attack.
    let trimmed = secret.trim_ascii_start();
    if secret.len() < alg.min_hmac_secret_len()
        || trimmed.starts_with(b"-----BEGIN")
        || trimmed.starts_with(b"ssh-")
    {
        return Err(Error::WeakKey);
    }
    Ok(())
}

/// The DER bytes of a PEM block labelled `label` (standard base64, line breaks allowed).
fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    use base64ct::Base64;
    let pem = pem.trim();
    let begin = ["-----BEGIN ", label, "-----"].concat();
    let end = ["-----END ", label, "-----"].concat();
    let body = pem
        .strip_prefix(begin.as_str())?
        .strip_suffix(end.as_str())?;
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.len() > 4096 {
        return None;
    }
    Base64::decode_vec(&compact).ok()
}

/// The RFC 7638 SHA-256 thumbprint of a public (or `oct`) JWK, base64url.
fn thumbprint(jwk: &JsonWebKey<'_>) -> String {
    Base64UrlUnpadded::encode_string(&jwk.thumbprint::<Sha256>())
}

/// A JWK may pin an algorithm (`"alg"`); it must then be ours.
fn check_jwk_alg(jwk: &str, alg: Algorithm) -> Result<Option<String>, Error> {
    #[derive(serde::Deserialize)]
    struct Meta {
        #[serde(default)]
        alg: Option<String>,
        #[serde(default)]
        kid: Option<String>,
        #[serde(default, rename = "use")]
        use_: Option<String>,
    }
    let meta: Meta = serde_json::from_str(jwk).map_err(|_| Error::KeyInvalid)?;
    if meta.alg.is_some_and(|a| a != alg.name()) {
        return Err(Error::KeyAlgorithmMismatch);
    }
    if meta.use_.is_some_and(|u| u != "sig") {
        return Err(Error::KeyAlgorithmMismatch);
    }
    Ok(meta.kid)
}

fn jwk_error(err: jwt_compact::jwk::JwkError) -> Error {
    match err {
        jwt_compact::jwk::JwkError::UnexpectedKeyType { .. } => Error::KeyAlgorithmMismatch,
        jwt_compact::jwk::JwkError::UnexpectedValue { field, .. } if field == "crv" => {
            Error::KeyAlgorithmMismatch
        }
        _ => Error::KeyInvalid,
    }
}

impl SigningKey {
    /// An HMAC secret (its bytes as given; Simple JWT uses Django's `SECRET_KEY` text).
    pub fn hmac(alg: Algorithm, secret: &[u8]) -> Result<Self, Error> {
        check_hmac_secret(alg, secret)?;
        let inner = match alg {
            Algorithm::Hs256 => SigningInner::Hs256(Hs256Key::new(secret)),
            Algorithm::Hs384 => SigningInner::Hs384(Hs384Key::new(secret)),
            Algorithm::Hs512 => SigningInner::Hs512(Hs512Key::new(secret)),
            _ => return Err(Error::KeyAlgorithmMismatch),
        };
        Ok(Self::with_default_kid(inner))
    }

    /// Raw key bytes: the HMAC secret, the 32-byte Ed25519 seed, or the 32-byte P-256
    /// scalar (big-endian).
    pub fn from_raw(alg: Algorithm, bytes: &[u8]) -> Result<Self, Error> {
        let inner = match alg {
            Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512 => {
                return Self::hmac(alg, bytes)
            }
            Algorithm::EdDsa => {
                let seed: &[u8; 32] = bytes.try_into().map_err(|_| Error::KeyInvalid)?;
                SigningInner::EdDsa(ed25519_dalek::SigningKey::from_bytes(seed))
            }
            Algorithm::Es256 => SigningInner::Es256(
                p256::ecdsa::SigningKey::from_slice(bytes).map_err(|_| Error::KeyInvalid)?,
            ),
        };
        Ok(Self::with_default_kid(inner))
    }

    /// A PKCS#8 private key in PEM (`BEGIN PRIVATE KEY`), or for ES256 also SEC1
    /// (`BEGIN EC PRIVATE KEY`), as `openssl genpkey` and Simple JWT's docs produce.
    /// (Feature `pem-private`: only an issuer needs it.)
    #[cfg(feature = "pem-private")]
    pub fn from_pem(alg: Algorithm, pem: &str) -> Result<Self, Error> {
        let inner = match alg {
            Algorithm::EdDsa => SigningInner::EdDsa(
                ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|_| Error::KeyInvalid)?,
            ),
            Algorithm::Es256 => {
                use p256::pkcs8::DecodePrivateKey as _;
                let secret = p256::SecretKey::from_pkcs8_pem(pem)
                    .or_else(|_| p256::SecretKey::from_sec1_pem(pem))
                    .map_err(|_| Error::KeyInvalid)?;
                SigningInner::Es256(secret.into())
            }
            _ => return Err(Error::KeyAlgorithmMismatch),
        };
        Ok(Self::with_default_kid(inner))
    }

    /// A private JWK (`oct` with `k`, `OKP`/Ed25519 with `d`, `EC`/P-256 with `d`).
    /// A `kid` in the JWK is kept; otherwise the RFC 7638 thumbprint is the kid.
    pub fn from_jwk(alg: Algorithm, jwk: &str) -> Result<Self, Error> {
        let kid = check_jwk_alg(jwk, alg)?;
        let key: JsonWebKey<'_> = serde_json::from_str(jwk).map_err(|_| Error::KeyInvalid)?;
        let inner = match alg {
            Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512 => {
                let JsonWebKey::Symmetric { secret } = &key else {
                    return Err(Error::KeyAlgorithmMismatch);
                };
                return Ok(Self::hmac(alg, secret)?.with_kid_opt(kid));
            }
            Algorithm::EdDsa => {
                SigningInner::EdDsa(ed25519_dalek::SigningKey::try_from(&key).map_err(jwk_error)?)
            }
            Algorithm::Es256 => {
                SigningInner::Es256(p256::ecdsa::SigningKey::try_from(&key).map_err(jwk_error)?)
            }
        };
        Ok(Self::with_default_kid(inner).with_kid_opt(kid))
    }

    fn with_default_kid(inner: SigningInner) -> Self {
        let mut key = Self {
            inner,
            kid: String::new(),
        };
        key.kid = key.verifying_key().kid;
        key
    }

    fn with_kid_opt(mut self, kid: Option<String>) -> Self {
        if let Some(kid) = kid {
            self.kid = kid;
        }
        self
    }

    /// Replaces the key id (by default the RFC 7638 thumbprint of the public key).
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self
    }

    /// The key id: the RFC 7638 thumbprint unless set otherwise.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self.inner {
            SigningInner::Hs256(_) => Algorithm::Hs256,
            SigningInner::Hs384(_) => Algorithm::Hs384,
            SigningInner::Hs512(_) => Algorithm::Hs512,
            SigningInner::EdDsa(_) => Algorithm::EdDsa,
            SigningInner::Es256(_) => Algorithm::Es256,
        }
    }

    /// The key that verifies this key's signatures (for HMAC, the same secret).
    pub fn verifying_key(&self) -> VerifyingKey {
        let inner = match &self.inner {
            SigningInner::Hs256(k) => VerifyingInner::Hs256(k.clone()),
            SigningInner::Hs384(k) => VerifyingInner::Hs384(k.clone()),
            SigningInner::Hs512(k) => VerifyingInner::Hs512(k.clone()),
            SigningInner::EdDsa(k) => VerifyingInner::EdDsa(k.verifying_key()),
            SigningInner::Es256(k) => VerifyingInner::Es256(*k.verifying_key()),
        };
        let mut key = VerifyingKey {
            inner,
            kid: String::new(),
        };
        let kid = if self.kid.is_empty() {
            thumbprint(&key.jwk())
        } else {
            self.kid.clone()
        };
        key.kid = kid;
        key
    }

    /// The private key as PKCS#8 PEM (asymmetric algorithms only), for `keys generate`.
    #[cfg(feature = "pem-private")]
    pub fn to_pkcs8_pem(&self) -> Result<String, Error> {
        let pem = match &self.inner {
            SigningInner::EdDsa(k) => k.to_pkcs8_pem(Default::default()),
            SigningInner::Es256(k) => {
                use p256::pkcs8::EncodePrivateKey as _;
                k.to_pkcs8_pem(Default::default())
            }
            _ => return Err(Error::KeyAlgorithmMismatch),
        };
        pem.map(|pem| String::from(pem.as_str()))
            .map_err(|_| Error::KeyInvalid)
    }

    /// Signs raw bytes (a JWS signing input `header.payload`), returning the raw
    /// signature. Minting goes through [`crate::Settings`]; this exists so that tests
    /// can build deliberately odd tokens.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        fn raw<A: JwtAlgorithm>(alg: A, key: &A::SigningKey, message: &[u8]) -> Vec<u8> {
            alg.sign(key, message).as_bytes().into_owned()
        }
        match &self.inner {
            SigningInner::Hs256(k) => raw(Hs256, k, message),
            SigningInner::Hs384(k) => raw(Hs384, k, message),
            SigningInner::Hs512(k) => raw(Hs512, k, message),
            SigningInner::EdDsa(k) => raw(Ed25519, k, message),
            SigningInner::Es256(k) => raw(Es256, k, message),
        }
    }
}

impl VerifyingKey {
    /// An HMAC secret.
    pub fn hmac(alg: Algorithm, secret: &[u8]) -> Result<Self, Error> {
        Ok(SigningKey::hmac(alg, secret)?.verifying_key())
    }

    /// An SPKI public key in PEM (`BEGIN PUBLIC KEY`), as `openssl pkey -pubout` writes.
    ///
    /// The SPKI encodings of an Ed25519 key and of a P-256 key are fixed byte strings
    /// around the point, so they are matched exactly instead of going through a general
    /// DER parser: less code in the WebAssembly validator, and nothing but these two
    /// exact shapes is accepted.
    pub fn from_pem(alg: Algorithm, pem: &str) -> Result<Self, Error> {
        /// `SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING (32 bytes) }`
        const ED25519: &[u8] = &[
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        /// `SEQUENCE { SEQUENCE { OID ecPublicKey, OID prime256v1 } BIT STRING }`, with
        /// the lengths of an uncompressed (65-byte) or compressed (33-byte) point.
        const P256_OIDS: &[u8] = &[
            0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
            0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
        ];
        if alg.is_hmac() {
            return Err(Error::KeyAlgorithmMismatch);
        }
        let der = pem_body(pem, "PUBLIC KEY").ok_or(Error::KeyInvalid)?;
        let point = match alg {
            Algorithm::EdDsa => der.strip_prefix(ED25519).filter(|p| p.len() == 32),
            _ => {
                let uncompressed = [&[0x30, 0x59][..], P256_OIDS, &[0x03, 0x42, 0x00]].concat();
                let compressed = [&[0x30, 0x39][..], P256_OIDS, &[0x03, 0x22, 0x00]].concat();
                der.strip_prefix(uncompressed.as_slice())
                    .filter(|p| p.len() == 65)
                    .or_else(|| {
                        der.strip_prefix(compressed.as_slice())
                            .filter(|p| p.len() == 33)
                    })
            }
        };
        let point = point.ok_or(Error::KeyInvalid)?;
        Self::from_raw(alg, point)
    }

    /// Raw public key bytes: the 32-byte Ed25519 point or a SEC1 P-256 point.
    pub fn from_raw(alg: Algorithm, bytes: &[u8]) -> Result<Self, Error> {
        let inner = match alg {
            Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512 => {
                return Self::hmac(alg, bytes)
            }
            Algorithm::EdDsa => {
                let raw: &[u8; 32] = bytes.try_into().map_err(|_| Error::KeyInvalid)?;
                VerifyingInner::EdDsa(
                    ed25519_dalek::VerifyingKey::from_bytes(raw).map_err(|_| Error::KeyInvalid)?,
                )
            }
            Algorithm::Es256 => VerifyingInner::Es256(
                p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map_err(|_| Error::KeyInvalid)?,
            ),
        };
        Ok(Self::with_default_kid(inner))
    }

    /// A public JWK (or an `oct` JWK for HMAC). Private parts, if present, are ignored.
    /// A `kid` in the JWK is kept; otherwise the RFC 7638 thumbprint is the kid.
    pub fn from_jwk(alg: Algorithm, jwk: &str) -> Result<Self, Error> {
        let kid = check_jwk_alg(jwk, alg)?;
        let key: JsonWebKey<'_> = serde_json::from_str(jwk).map_err(|_| Error::KeyInvalid)?;
        let mut key = match alg {
            Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512 => {
                let JsonWebKey::Symmetric { secret } = &key else {
                    return Err(Error::KeyAlgorithmMismatch);
                };
                Self::hmac(alg, secret)?
            }
            Algorithm::EdDsa => Self::with_default_kid(VerifyingInner::EdDsa(
                ed25519_dalek::VerifyingKey::try_from(&key).map_err(jwk_error)?,
            )),
            Algorithm::Es256 => Self::with_default_kid(VerifyingInner::Es256(
                p256::ecdsa::VerifyingKey::try_from(&key).map_err(jwk_error)?,
            )),
        };
        if let Some(kid) = kid {
            key.kid = kid;
        }
        Ok(key)
    }

    fn with_default_kid(inner: VerifyingInner) -> Self {
        let mut key = Self {
            inner,
            kid: String::new(),
        };
        let kid = thumbprint(&key.jwk());
        key.kid = kid;
        key
    }

    /// Replaces the key id.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self
    }

    /// The key id: the RFC 7638 thumbprint unless set otherwise.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        match self.inner {
            VerifyingInner::Hs256(_) => Algorithm::Hs256,
            VerifyingInner::Hs384(_) => Algorithm::Hs384,
            VerifyingInner::Hs512(_) => Algorithm::Hs512,
            VerifyingInner::EdDsa(_) => Algorithm::EdDsa,
            VerifyingInner::Es256(_) => Algorithm::Es256,
        }
    }

    fn jwk(&self) -> JsonWebKey<'_> {
        match &self.inner {
            VerifyingInner::Hs256(k) => k.into(),
            VerifyingInner::Hs384(k) => k.into(),
            VerifyingInner::Hs512(k) => k.into(),
            VerifyingInner::EdDsa(k) => k.into(),
            VerifyingInner::Es256(k) => k.into(),
        }
    }

    /// The public key as a JWK with `kid`, `alg` and `use`, as served in a JWKS.
    /// `None` for HMAC secrets, which must never be published.
    pub fn to_public_jwk(&self) -> Option<serde_json::Value> {
        if self.algorithm().is_hmac() {
            return None;
        }
        let mut value = serde_json::to_value(self.jwk()).ok()?;
        let object = value.as_object_mut()?;
        object.insert("kid".into(), self.kid.clone().into());
        object.insert("alg".into(), self.algorithm().name().into());
        object.insert("use".into(), "sig".into());
        Some(value)
    }

    /// The RFC 7638 SHA-256 thumbprint of the key, base64url (whatever `kid` says).
    pub fn thumbprint(&self) -> String {
        thumbprint(&self.jwk())
    }

    /// Checks a raw JWS signature over `message`. Never panics on odd lengths.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        fn check<A: JwtAlgorithm>(
            alg: A,
            key: &A::VerifyingKey,
            message: &[u8],
            signature: &[u8],
        ) -> bool {
            // jwt-compact's HMAC `try_from_slice` panics on a wrong length: check first.
            if A::Signature::LENGTH.is_some_and(|len| len.get() != signature.len()) {
                return false;
            }
            match A::Signature::try_from_slice(signature) {
                Ok(sig) => alg.verify_signature(&sig, key, message),
                Err(_) => false,
            }
        }
        match &self.inner {
            VerifyingInner::Hs256(k) => check(Hs256, k, message, signature),
            VerifyingInner::Hs384(k) => check(Hs384, k, message, signature),
            VerifyingInner::Hs512(k) => check(Hs512, k, message, signature),
            VerifyingInner::EdDsa(k) => check(Ed25519, k, message, signature),
            VerifyingInner::Es256(k) => check(Es256, k, message, signature),
        }
    }
}
