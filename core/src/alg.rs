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
    Algorithm as JwtAlgorithm, AlgorithmSignature,
};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

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

/// A JWK's members as tollgate reads them (RFC 7517, 7518 section 6, RFC 8037).
///
/// Read by hand (with the crate's strict JSON reader) rather than through jwt-compact's
/// serde types: the rules are few, and serde's machinery does not belong in the
/// WebAssembly validator.
struct Jwk {
    members: Map<String, Value>,
    kid: Option<String>,
}

impl Jwk {
    /// Parses `text` as a JWK for `alg`: `kty` (and `crv`) must fit the algorithm, and
    /// `alg` and `use`, if present, must say this algorithm and `sig`.
    fn parse(text: &str, alg: Algorithm) -> Result<Self, Error> {
        Self::from_value(
            crate::json::parse(text.as_bytes()).ok_or(Error::KeyInvalid)?,
            alg,
        )
    }

    fn from_value(value: Value, alg: Algorithm) -> Result<Self, Error> {
        let Value::Object(members) = value else {
            return Err(Error::KeyInvalid);
        };
        let string = |name: &str| match members.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(Error::KeyInvalid),
        };
        if string("alg")?.is_some_and(|a| a != alg.name())
            || string("use")?.is_some_and(|u| u != "sig")
        {
            return Err(Error::KeyAlgorithmMismatch);
        }
        let (kty, crv) = match alg {
            Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512 => ("oct", None),
            Algorithm::EdDsa => ("OKP", Some("Ed25519")),
            Algorithm::Es256 => ("EC", Some("P-256")),
        };
        match string("kty")? {
            Some(found) if found == kty => {}
            Some("oct" | "OKP" | "EC" | "RSA") => return Err(Error::KeyAlgorithmMismatch),
            _ => return Err(Error::KeyInvalid),
        }
        if let Some(crv) = crv {
            match string("crv")? {
                Some(found) if found == crv => {}
                Some(_) => return Err(Error::KeyAlgorithmMismatch),
                None => return Err(Error::KeyInvalid),
            }
        }
        let kid = string("kid")?.map(String::from);
        Ok(Self { members, kid })
    }

    /// A base64url member (decoded in constant time: it may be secret).
    fn bytes(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        match self.members.get(name) {
            None => Ok(None),
            Some(Value::String(text)) => Base64UrlUnpadded::decode_vec(text)
                .map(Some)
                .map_err(|_| Error::KeyInvalid),
            Some(_) => Err(Error::KeyInvalid),
        }
    }

    fn required(&self, name: &str) -> Result<Vec<u8>, Error> {
        self.bytes(name)?.ok_or(Error::KeyInvalid)
    }

    /// The SEC1 uncompressed point of an EC key's `x` and `y`.
    fn ec_point(&self) -> Result<Vec<u8>, Error> {
        let (x, y) = (self.required("x")?, self.required("y")?);
        if x.len() != 32 || y.len() != 32 {
            return Err(Error::KeyInvalid);
        }
        Ok([&[0x04][..], &x, &y].concat())
    }
}

/// The required members of a public (or `oct`) JWK, in lexicographic order: the
/// input of its RFC 7638 thumbprint and the body of its JWKS entry.
fn public_jwk_members(key: &VerifyingInner) -> Vec<(&'static str, String)> {
    let b64 = |bytes: &[u8]| Base64UrlUnpadded::encode_string(bytes);
    match key {
        VerifyingInner::Hs256(k) => alloc::vec![("k", b64(k.as_ref())), ("kty", "oct".into())],
        VerifyingInner::Hs384(k) => alloc::vec![("k", b64(k.as_ref())), ("kty", "oct".into())],
        VerifyingInner::Hs512(k) => alloc::vec![("k", b64(k.as_ref())), ("kty", "oct".into())],
        VerifyingInner::EdDsa(k) => alloc::vec![
            ("crv", "Ed25519".into()),
            ("kty", "OKP".into()),
            ("x", b64(k.as_bytes())),
        ],
        VerifyingInner::Es256(k) => {
            let point = k.to_encoded_point(false);
            let (x, y) = (point.x().map(|x| b64(x)), point.y().map(|y| b64(y)));
            alloc::vec![
                ("crv", "P-256".into()),
                ("kty", "EC".into()),
                ("x", x.unwrap_or_default()),
                ("y", y.unwrap_or_default()),
            ]
        }
    }
}

/// The RFC 7638 SHA-256 thumbprint, base64url: the hash of the required members in
/// lexicographic order, without whitespace (every value here is base64url or a fixed
/// name, so none needs escaping).
fn thumbprint(key: &VerifyingInner) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"{");
    for (i, (name, value)) in public_jwk_members(key).iter().enumerate() {
        if i > 0 {
            hasher.update(b",");
        }
        for part in ["\"", name, "\":\"", value, "\""] {
            hasher.update(part.as_bytes());
        }
    }
    hasher.update(b"}");
    Base64UrlUnpadded::encode_string(&hasher.finalize())
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
        let jwk = Jwk::parse(jwk, alg)?;
        let inner = match alg {
            Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512 => {
                return Ok(Self::hmac(alg, &jwk.required("k")?)?.with_kid_opt(jwk.kid));
            }
            Algorithm::EdDsa => {
                let seed: [u8; 32] = jwk
                    .required("d")?
                    .try_into()
                    .map_err(|_| Error::KeyInvalid)?;
                SigningInner::EdDsa(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
            Algorithm::Es256 => SigningInner::Es256(
                p256::ecdsa::SigningKey::from_slice(&jwk.required("d")?)
                    .map_err(|_| Error::KeyInvalid)?,
            ),
        };
        let key = Self::with_default_kid(inner);
        // The public members (required in a private JWK) must be this private key's.
        if VerifyingKey::from_parsed_jwk(alg, &jwk)?.kid != key.kid {
            return Err(Error::KeyInvalid);
        }
        Ok(key.with_kid_opt(jwk.kid))
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
            thumbprint(&key.inner)
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
        Self::with_jwk(alg, Jwk::parse(jwk, alg)?)
    }

    /// [`VerifyingKey::from_jwk`] for a JWK already parsed (a member of a JWKS).
    pub fn from_jwk_value(alg: Algorithm, jwk: Value) -> Result<Self, Error> {
        Self::with_jwk(alg, Jwk::from_value(jwk, alg)?)
    }

    fn with_jwk(alg: Algorithm, jwk: Jwk) -> Result<Self, Error> {
        let mut key = Self::from_parsed_jwk(alg, &jwk)?;
        if let Some(kid) = jwk.kid {
            key.kid = kid;
        }
        Ok(key)
    }

    /// The key of a JWK's public members, its kid the thumbprint.
    fn from_parsed_jwk(alg: Algorithm, jwk: &Jwk) -> Result<Self, Error> {
        match alg {
            Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512 => {
                Self::hmac(alg, &jwk.required("k")?)
            }
            Algorithm::EdDsa => Self::from_raw(alg, &jwk.required("x")?),
            Algorithm::Es256 => Self::from_raw(alg, &jwk.ec_point()?),
        }
    }

    fn with_default_kid(inner: VerifyingInner) -> Self {
        let mut key = Self {
            inner,
            kid: String::new(),
        };
        key.kid = thumbprint(&key.inner);
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

    /// The public key as a JWK with `kid`, `alg` and `use`, as served in a JWKS.
    /// `None` for HMAC secrets, which must never be published.
    pub fn to_public_jwk(&self) -> Option<Value> {
        if self.algorithm().is_hmac() {
            return None;
        }
        let mut object: Map<String, Value> = public_jwk_members(&self.inner)
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .collect();
        object.insert("kid".into(), self.kid.clone().into());
        object.insert("alg".into(), self.algorithm().name().into());
        object.insert("use".into(), "sig".into());
        Some(Value::Object(object))
    }

    /// The RFC 7638 SHA-256 thumbprint of the key, base64url (whatever `kid` says).
    pub fn thumbprint(&self) -> String {
        thumbprint(&self.inner)
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
