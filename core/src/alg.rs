//! Algorithms and keys: a thin, closed layer over jwt-compact's algorithm implementations.
//!
//! The set is closed on purpose (HS256/384/512, EdDSA over Ed25519, ES256/384/512,
//! RS256/384/512, PS256/384/512). There is no `none` and no way to pick an algorithm
//! from a token.
//!
//! RSA: verification (public-key operations only) uses RustCrypto's `rsa` crate, whose
//! private-key operations are not constant-time (RUSTSEC-2023-0071); nothing here ever
//! uses them. Signing, an issuer's need (feature `rsa-sign`), goes through `ring`.

use alloc::{string::String, vec::Vec};
use core::fmt;

use base64ct::Encoding as _;
#[cfg(feature = "pem-private")]
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use jwt_compact::{
    alg::{Ed25519, Es256, Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key},
    Algorithm as JwtAlgorithm, AlgorithmSignature,
};
use serde_json::{Map, Value};
#[cfg(feature = "es512")]
use sha2::Sha512;
use sha2::{Digest as _, Sha256};

#[cfg(feature = "es512")]
use self::es512::NonceStream;
use self::jwk::{members_json, public_jwk_members, thumbprint, Jwk};
#[cfg(feature = "rsa-sign")]
pub(crate) use self::rsa::rsa_public;
#[cfg(feature = "rsa")]
use self::rsa::{rsa_signature_well_formed, rsa_verify};
use self::rsa::{rsa_signer, rsa_verifier, RsaSource};
use crate::Error;

#[cfg(feature = "es512")]
mod es512;
mod jwk;
mod rsa;
#[cfg(feature = "rsa-sign")]
mod rsa_sign;

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
    /// ECDSA over P-384 with SHA-384.
    Es384,
    /// ECDSA over P-521 with SHA-512.
    Es512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256 (MGF1 SHA-256, 32-byte salt).
    Ps256,
    /// RSASSA-PSS with SHA-384 (MGF1 SHA-384, 48-byte salt).
    Ps384,
    /// RSASSA-PSS with SHA-512 (MGF1 SHA-512, 64-byte salt).
    Ps512,
}

impl Algorithm {
    /// All supported algorithms.
    pub const ALL: [Algorithm; 13] = [
        Algorithm::Hs256,
        Algorithm::Hs384,
        Algorithm::Hs512,
        Algorithm::EdDsa,
        Algorithm::Es256,
        Algorithm::Es384,
        Algorithm::Es512,
        Algorithm::Rs256,
        Algorithm::Rs384,
        Algorithm::Rs512,
        Algorithm::Ps256,
        Algorithm::Ps384,
        Algorithm::Ps512,
    ];

    /// The shortest RSA modulus accepted, in bits (NIST SP 800-131A; RFC 7518 section 3.3
    /// requires 2048 too).
    pub const MIN_RSA_BITS: usize = 2048;
    /// The longest RSA modulus accepted, in bits: bounds the work of one verification.
    pub const MAX_RSA_BITS: usize = 4096;

    /// The JOSE name (`alg` header value).
    pub fn name(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
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

    /// Whether this build has the algorithm: HS*, EdDSA and ES256 always; RS*/PS*,
    /// ES384 and ES512 with the features `rsa`, `es384` and `es512`. Keys of an
    /// algorithm not built in are refused with `algorithm_unsupported`.
    pub fn is_available(self) -> bool {
        match self {
            Self::Es384 => cfg!(feature = "es384"),
            Self::Es512 => cfg!(feature = "es512"),
            alg if alg.is_rsa() => cfg!(feature = "rsa"),
            _ => true,
        }
    }

    /// True for RS256/384/512 and PS256/384/512.
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            Self::Rs256 | Self::Rs384 | Self::Rs512 | Self::Ps256 | Self::Ps384 | Self::Ps512
        )
    }

    /// The JWK `kty` of this algorithm's keys and, for curves, the `crv`.
    fn jwk_kty_crv(self) -> (&'static str, Option<&'static str>) {
        match self {
            Self::Hs256 | Self::Hs384 | Self::Hs512 => ("oct", None),
            Self::EdDsa => ("OKP", Some("Ed25519")),
            Self::Es256 => ("EC", Some("P-256")),
            Self::Es384 => ("EC", Some("P-384")),
            Self::Es512 => ("EC", Some("P-521")),
            _ => ("RSA", None),
        }
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
    #[cfg(feature = "es384")]
    Es384(p384::ecdsa::SigningKey),
    #[cfg(feature = "es512")]
    Es512(p521::ecdsa::SigningKey),
    #[cfg(feature = "rsa-sign")]
    Rsa(Algorithm, alloc::sync::Arc<self::rsa_sign::RsaSigner>),
}

/// A key that verifies tokens: the HMAC secret, or an Ed25519 / ECDSA / RSA public key.
#[derive(Clone)]
pub struct VerifyingKey {
    inner: VerifyingInner,
    kid: String,
}

#[derive(Clone)]
enum VerifyingInner {
    /// HS256, HS384 or HS512 (one variant: one copy of the secret's code).
    Hmac(Algorithm, HmacSecret),
    EdDsa(ed25519_dalek::VerifyingKey),
    Es256(P256Key),
    #[cfg(feature = "es384")]
    Es384(p384::ecdsa::VerifyingKey),
    #[cfg(feature = "es512")]
    Es512(p521::ecdsa::VerifyingKey),
    /// Boxed: the big integers are large beside the other variants.
    #[cfg(feature = "rsa")]
    Rsa(Algorithm, alloc::boxed::Box<::rsa::RsaPublicKey>),
}

/// An HMAC secret as a verifying key holds it: zeroized on drop, as jwt-compact's keys
/// are, but a plain `Vec` rather than their `SmallVec`, whose code and `Debug` stay out of
/// the WebAssembly module then (BENCHMARKS.md, "the validator's size, third round").
#[derive(Clone)]
struct HmacSecret(zeroize::Zeroizing<Vec<u8>>);

impl HmacSecret {
    fn new(secret: &[u8]) -> Self {
        Self(zeroize::Zeroizing::new(secret.to_vec()))
    }

    /// Whether `signature` is the HMAC of `message` under this secret, compared in
    /// constant time (as jwt-compact's `verify_signature`); a signature of another length
    /// is refused.
    fn verify<M: hmac::Mac + hmac::digest::KeyInit>(
        &self,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(&self.0) else {
            return false;
        };
        mac.update(message);
        mac.verify_slice(signature).is_ok()
    }
}

/// An ES256 public key: p256's key and its point's `x || y` (big-endian, 32 bytes each),
/// kept for the JWK members and the thumbprint.
#[derive(Clone)]
struct P256Key {
    key: p256::ecdsa::VerifyingKey,
    xy: [u8; 64],
}

impl P256Key {
    /// A P-256 public key from its SEC1 encoding: uncompressed (`04 x y`) or compressed
    /// (`02 x` / `03 x`), the point on the curve with both coordinates below p (so never
    /// the identity).
    ///
    /// Read here rather than by p256's `from_sec1_bytes`: every read of sec1's
    /// `EncodedPoint` goes through an `expect` on its tag byte that keeps the `Debug`
    /// formatting of sec1's, der's and const-oid's errors in the WebAssembly module (about
    /// 4 KB gzip; BENCHMARKS.md, "the validator's size, third round"). Here the point p256
    /// reads is built in place from the checked coordinates, its tag the constant `04`, so
    /// the optimizer drops that `expect` (`scripts/build-pkg.sh` fails if the default
    /// module holds its message again) and no square root is taken for an uncompressed
    /// key. The keys accepted are the same, except p256's non-standard compact form
    /// (`05 x`), which OpenSSL, WebCrypto and JWKs never produce.
    fn from_sec1(bytes: &[u8]) -> Result<Self, Error> {
        use p256::{
            elliptic_curve::{sec1::FromEncodedPoint as _, subtle::ConstantTimeEq as _},
            FieldElement,
        };
        /// The curve's b (y² = x³ - 3x + b), big-endian.
        const B: [u8; 32] = [
            0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55, 0x76, 0x98,
            0x86, 0xbc, 0x65, 0x1d, 0x06, 0xb0, 0xcc, 0x53, 0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e,
            0x27, 0xd2, 0x60, 0x4b,
        ];
        let element = |bytes: &[u8]| FieldElement::from_slice(bytes).ok();
        let point = || -> Option<Self> {
            let (&tag, rest) = bytes.split_first()?;
            let x = element(rest.get(..32)?)?;
            let rhs = x.square() * x - x.double() - x + element(&B)?;
            let y = match (tag, rest.len()) {
                (4, 64) => element(&rest[32..]).filter(|y| bool::from(y.square().ct_eq(&rhs)))?,
                (2 | 3, 32) => {
                    let y: FieldElement = Option::from(rhs.sqrt())?;
                    if bool::from(y.is_odd()) == (tag == 3) {
                        y
                    } else {
                        -y
                    }
                }
                _ => return None,
            };
            let encoded =
                p256::EncodedPoint::from_affine_coordinates(&x.to_bytes(), &y.to_bytes(), false);
            // (Not `VerifyingKey::from_affine`: its identity check compares projective
            // points, two field inversions.)
            let public: p256::PublicKey =
                Option::from(p256::PublicKey::from_encoded_point(&encoded))?;
            let key = p256::ecdsa::VerifyingKey::from(public);
            let mut xy = [0; 64];
            xy[..32].copy_from_slice(&x.to_bytes());
            xy[32..].copy_from_slice(&y.to_bytes());
            Some(Self { key, xy })
        };
        point().ok_or(Error::KeyInvalid)
    }
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
pub(crate) fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
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

/// An ECDSA signing key from its big-endian scalar (exactly the curve's size).
fn ec_scalar(alg: Algorithm, bytes: &[u8]) -> Result<SigningInner, Error> {
    let invalid = |_| Error::KeyInvalid;
    Ok(match alg {
        Algorithm::Es256 if bytes.len() == 32 => {
            SigningInner::Es256(p256::ecdsa::SigningKey::from_slice(bytes).map_err(invalid)?)
        }
        #[cfg(feature = "es384")]
        Algorithm::Es384 if bytes.len() == 48 => {
            SigningInner::Es384(p384::ecdsa::SigningKey::from_slice(bytes).map_err(invalid)?)
        }
        #[cfg(feature = "es512")]
        Algorithm::Es512 if bytes.len() == 66 => {
            SigningInner::Es512(p521::ecdsa::SigningKey::from_slice(bytes).map_err(invalid)?)
        }
        Algorithm::Es256 => return Err(Error::KeyInvalid),
        #[cfg(feature = "es384")]
        Algorithm::Es384 => return Err(Error::KeyInvalid),
        #[cfg(feature = "es512")]
        Algorithm::Es512 => return Err(Error::KeyInvalid),
        _ => return Err(Error::AlgorithmUnsupported),
    })
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

    /// Raw key bytes: the HMAC secret, the 32-byte Ed25519 seed, the P-256, P-384 or
    /// P-521 scalar (big-endian, 32, 48 or 66 bytes), or for RSA a PKCS#8 or PKCS#1 DER
    /// private key (feature `rsa-sign`).
    pub fn from_raw(alg: Algorithm, bytes: &[u8]) -> Result<Self, Error> {
        let inner = match alg {
            Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512 => {
                return Self::hmac(alg, bytes)
            }
            Algorithm::EdDsa => {
                let seed: &[u8; 32] = bytes.try_into().map_err(|_| Error::KeyInvalid)?;
                SigningInner::EdDsa(ed25519_dalek::SigningKey::from_bytes(seed))
            }
            Algorithm::Es256 | Algorithm::Es384 | Algorithm::Es512 => ec_scalar(alg, bytes)?,
            _ => rsa_signer(alg, RsaSource::Der(bytes))?,
        };
        Ok(Self::with_default_kid(inner))
    }

    /// A PKCS#8 private key in PEM (`BEGIN PRIVATE KEY`), or for ES256/384/512 also
    /// SEC1 (`BEGIN EC PRIVATE KEY`), for RSA also PKCS#1 (`BEGIN RSA PRIVATE KEY`), as
    /// `openssl genpkey` and Simple JWT's docs produce. (Feature `pem-private`, and
    /// `rsa-sign` for RSA: only an issuer needs them.)
    #[cfg(feature = "pem-private")]
    pub fn from_pem(alg: Algorithm, pem: &str) -> Result<Self, Error> {
        use p256::pkcs8::DecodePrivateKey as _;
        let inner = match alg {
            Algorithm::EdDsa => SigningInner::EdDsa(
                ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|_| Error::KeyInvalid)?,
            ),
            Algorithm::Es256 => {
                let secret = p256::SecretKey::from_pkcs8_pem(pem)
                    .or_else(|_| p256::SecretKey::from_sec1_pem(pem))
                    .map_err(|_| Error::KeyInvalid)?;
                SigningInner::Es256(secret.into())
            }
            #[cfg(feature = "es384")]
            Algorithm::Es384 => {
                let secret = p384::SecretKey::from_pkcs8_pem(pem)
                    .or_else(|_| p384::SecretKey::from_sec1_pem(pem))
                    .map_err(|_| Error::KeyInvalid)?;
                SigningInner::Es384(secret.into())
            }
            #[cfg(feature = "es512")]
            Algorithm::Es512 => {
                let secret = p521::SecretKey::from_pkcs8_pem(pem)
                    .or_else(|_| p521::SecretKey::from_sec1_pem(pem))
                    .map_err(|_| Error::KeyInvalid)?;
                ec_scalar(alg, &secret.to_bytes())?
            }
            _ if alg.is_rsa() => rsa_signer(alg, RsaSource::Pem(pem))?,
            _ if alg.is_hmac() => return Err(Error::KeyAlgorithmMismatch),
            _ => return Err(Error::AlgorithmUnsupported),
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
            Algorithm::Es256 | Algorithm::Es384 | Algorithm::Es512 => {
                ec_scalar(alg, &jwk.required("d")?)?
            }
            _ => rsa_signer(alg, RsaSource::Jwk(&jwk))?,
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
            #[cfg(feature = "es384")]
            SigningInner::Es384(_) => Algorithm::Es384,
            #[cfg(feature = "es512")]
            SigningInner::Es512(_) => Algorithm::Es512,
            #[cfg(feature = "rsa-sign")]
            SigningInner::Rsa(alg, _) => alg,
        }
    }

    /// The key that verifies this key's signatures (for HMAC, the same secret).
    pub fn verifying_key(&self) -> VerifyingKey {
        let inner = match &self.inner {
            SigningInner::Hs256(k) => {
                VerifyingInner::Hmac(Algorithm::Hs256, HmacSecret::new(k.as_ref()))
            }
            SigningInner::Hs384(k) => {
                VerifyingInner::Hmac(Algorithm::Hs384, HmacSecret::new(k.as_ref()))
            }
            SigningInner::Hs512(k) => {
                VerifyingInner::Hmac(Algorithm::Hs512, HmacSecret::new(k.as_ref()))
            }
            SigningInner::EdDsa(k) => VerifyingInner::EdDsa(k.verifying_key()),
            SigningInner::Es256(k) => {
                let point = k.verifying_key().to_encoded_point(false);
                let xy = point.as_bytes().get(1..).and_then(|xy| xy.try_into().ok());
                VerifyingInner::Es256(P256Key {
                    key: *k.verifying_key(),
                    xy: xy.unwrap_or([0; 64]),
                })
            }
            #[cfg(feature = "es384")]
            SigningInner::Es384(k) => VerifyingInner::Es384(*k.verifying_key()),
            #[cfg(feature = "es512")]
            SigningInner::Es512(k) => VerifyingInner::Es512(k.into()),
            #[cfg(feature = "rsa-sign")]
            SigningInner::Rsa(alg, k) => {
                VerifyingInner::Rsa(*alg, alloc::boxed::Box::new(k.public().clone()))
            }
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
            #[cfg(feature = "es384")]
            SigningInner::Es384(k) => {
                use p384::pkcs8::EncodePrivateKey as _;
                k.to_pkcs8_pem(Default::default())
            }
            #[cfg(feature = "es512")]
            SigningInner::Es512(k) => {
                use p521::pkcs8::EncodePrivateKey as _;
                p521::SecretKey::from_bytes(&k.to_bytes())
                    .map_err(|_| Error::KeyInvalid)?
                    .to_pkcs8_pem(Default::default())
            }
            #[cfg(feature = "rsa-sign")]
            SigningInner::Rsa(_, k) => return Ok(k.to_pkcs8_pem()),
            _ => return Err(Error::KeyAlgorithmMismatch),
        };
        pem.map(|pem| String::from(pem.as_str()))
            .map_err(|_| Error::KeyInvalid)
    }

    /// Signs raw bytes (a JWS signing input `header.payload`), returning the raw
    /// signature. Minting goes through [`crate::Settings`]; this exists so that tests
    /// can build deliberately odd tokens. Empty if [`SigningKey::try_sign`] fails.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.try_sign(message).unwrap_or_default()
    }

    /// [`SigningKey::sign`], with the one failure there is: an RSA-PSS signature whose
    /// random salt the operating system could not give (`key_invalid`).
    pub fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        fn raw<A: JwtAlgorithm>(alg: A, key: &A::SigningKey, message: &[u8]) -> Vec<u8> {
            alg.sign(key, message).as_bytes().into_owned()
        }
        Ok(match &self.inner {
            SigningInner::Hs256(k) => raw(Hs256, k, message),
            SigningInner::Hs384(k) => raw(Hs384, k, message),
            SigningInner::Hs512(k) => raw(Hs512, k, message),
            SigningInner::EdDsa(k) => raw(Ed25519, k, message),
            SigningInner::Es256(k) => raw(Es256, k, message),
            #[cfg(feature = "es384")]
            SigningInner::Es384(k) => {
                use p384::ecdsa::signature::Signer as _;
                let signature: p384::ecdsa::Signature = k.sign(message);
                signature.to_bytes().to_vec()
            }
            #[cfg(feature = "es512")]
            SigningInner::Es512(k) => {
                use p521::ecdsa::signature::RandomizedSigner as _;
                let mut nonces = NonceStream::new(&k.to_bytes(), &Sha512::digest(message));
                let signature: p521::ecdsa::Signature = k.sign_with_rng(&mut nonces, message);
                signature.to_bytes().to_vec()
            }
            #[cfg(feature = "rsa-sign")]
            SigningInner::Rsa(alg, k) => k.sign(*alg, message)?,
        })
    }
}

/// SPKI of an EC public key up to its point: `SEQUENCE { SEQUENCE { OID ecPublicKey, OID
/// curve } BIT STRING (0 unused bits, ...` for an uncompressed (`04 x y`) and a compressed
/// point on P-256 (prime256v1), P-384 (secp384r1) and P-521 (secp521r1).
const P256_UNCOMPRESSED: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const P256_COMPRESSED: &[u8] = &[
    0x30, 0x39, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x22, 0x00,
];
const P384_UNCOMPRESSED: &[u8] = &[
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
];
const P384_COMPRESSED: &[u8] = &[
    0x30, 0x46, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x32, 0x00,
];
const P521_UNCOMPRESSED: &[u8] = &[
    0x30, 0x81, 0x9b, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05,
    0x2b, 0x81, 0x04, 0x00, 0x23, 0x03, 0x81, 0x86, 0x00,
];
const P521_COMPRESSED: &[u8] = &[
    0x30, 0x58, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x23, 0x03, 0x44, 0x00,
];

impl VerifyingKey {
    /// An HMAC secret.
    pub fn hmac(alg: Algorithm, secret: &[u8]) -> Result<Self, Error> {
        // Built here rather than through `SigningKey`, whose code (signing, and the
        // SEC1 encoding of its public keys) the WebAssembly validator then leaves out.
        check_hmac_secret(alg, secret)?;
        Ok(Self::with_default_kid(VerifyingInner::Hmac(
            alg,
            HmacSecret::new(secret),
        )))
    }

    /// An SPKI public key in PEM (`BEGIN PUBLIC KEY`), as `openssl pkey -pubout` writes,
    /// or for RSA also PKCS#1 (`BEGIN RSA PUBLIC KEY`).
    ///
    /// The SPKI encodings of an Ed25519 key and of an EC key are fixed byte strings
    /// around the point, so they are matched exactly instead of going through a general
    /// DER parser: less code in the WebAssembly validator, and nothing but these exact
    /// shapes is accepted. RSA keys go through the `rsa` crate's DER parser.
    pub fn from_pem(alg: Algorithm, pem: &str) -> Result<Self, Error> {
        /// `SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING (32 bytes) }`
        const ED25519: &[u8] = &[
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        if alg.is_hmac() {
            return Err(Error::KeyAlgorithmMismatch);
        }
        if alg.is_rsa() {
            return rsa_verifier(alg, RsaSource::Pem(pem)).map(Self::with_default_kid);
        }
        let der = pem_body(pem, "PUBLIC KEY").ok_or(Error::KeyInvalid)?;
        let forms: [(&[u8], usize); 2] = match alg {
            Algorithm::EdDsa => {
                let point = der.strip_prefix(ED25519).filter(|p| p.len() == 32);
                return Self::from_raw(alg, point.ok_or(Error::KeyInvalid)?);
            }
            Algorithm::Es256 => [(P256_UNCOMPRESSED, 65), (P256_COMPRESSED, 33)],
            Algorithm::Es384 => [(P384_UNCOMPRESSED, 97), (P384_COMPRESSED, 49)],
            _ => [(P521_UNCOMPRESSED, 133), (P521_COMPRESSED, 67)],
        };
        let point = forms
            .into_iter()
            .find_map(|(prefix, len)| der.strip_prefix(prefix).filter(|p| p.len() == len));
        Self::from_raw(alg, point.ok_or(Error::KeyInvalid)?)
    }

    /// Raw public key bytes: the 32-byte Ed25519 point, a SEC1 P-256, P-384 or P-521
    /// point (uncompressed `04 x y` or compressed `02 x`/`03 x`), or for RSA a PKCS#1
    /// `RSAPublicKey` in DER.
    pub fn from_raw(alg: Algorithm, bytes: &[u8]) -> Result<Self, Error> {
        let invalid = |_| Error::KeyInvalid;
        let inner = match alg {
            Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512 => {
                return Self::hmac(alg, bytes)
            }
            Algorithm::EdDsa => {
                let raw: &[u8; 32] = bytes.try_into().map_err(|_| Error::KeyInvalid)?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(raw).map_err(invalid)?;
                // A small-order point (8 of them, e.g. the identity) verifies forged
                // signatures (R small-order, S = 0) in ed25519-dalek's `verify` and in
                // OpenSSL alike: refused as a key, on every path.
                if key.is_weak() {
                    return Err(Error::WeakKey);
                }
                VerifyingInner::EdDsa(key)
            }
            Algorithm::Es256 => VerifyingInner::Es256(P256Key::from_sec1(bytes)?),
            #[cfg(feature = "es384")]
            Algorithm::Es384 => VerifyingInner::Es384(
                p384::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map_err(invalid)?,
            ),
            #[cfg(feature = "es512")]
            Algorithm::Es512 => VerifyingInner::Es512(
                p521::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map_err(invalid)?,
            ),
            _ if alg.is_rsa() => rsa_verifier(alg, RsaSource::Der(bytes))?,
            _ => return Err(Error::AlgorithmUnsupported),
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
        // Its text read back is the same JWK (keys unique, strings escaped, numbers
        // finite).
        let text = serde_json::to_string(&jwk).map_err(|_| Error::KeyInvalid)?;
        Self::from_jwk(alg, &text)
    }

    fn with_jwk(alg: Algorithm, jwk: Jwk<'_>) -> Result<Self, Error> {
        let mut key = Self::from_parsed_jwk(alg, &jwk)?;
        if let Some(kid) = jwk.kid {
            key.kid = kid;
        }
        Ok(key)
    }

    /// The key of a JWK's public members, its kid the thumbprint.
    fn from_parsed_jwk(alg: Algorithm, jwk: &Jwk<'_>) -> Result<Self, Error> {
        match alg {
            Algorithm::Hs256 | Algorithm::Hs384 | Algorithm::Hs512 => {
                Self::hmac(alg, &jwk.required("k")?)
            }
            Algorithm::EdDsa => Self::from_raw(alg, &jwk.required("x")?),
            Algorithm::Es256 => Self::from_raw(alg, &jwk.ec_point(32)?),
            Algorithm::Es384 => Self::from_raw(alg, &jwk.ec_point(48)?),
            Algorithm::Es512 => Self::from_raw(alg, &jwk.ec_point(66)?),
            _ => rsa_verifier(alg, RsaSource::Jwk(jwk)).map(Self::with_default_kid),
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
            VerifyingInner::Hmac(alg, _) => alg,
            VerifyingInner::EdDsa(_) => Algorithm::EdDsa,
            VerifyingInner::Es256(_) => Algorithm::Es256,
            #[cfg(feature = "es384")]
            VerifyingInner::Es384(_) => Algorithm::Es384,
            #[cfg(feature = "es512")]
            VerifyingInner::Es512(_) => Algorithm::Es512,
            #[cfg(feature = "rsa")]
            VerifyingInner::Rsa(alg, _) => alg,
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
        match &self.inner {
            VerifyingInner::Hmac(Algorithm::Hs256, k) => {
                k.verify::<hmac::Hmac<Sha256>>(message, signature)
            }
            VerifyingInner::Hmac(Algorithm::Hs384, k) => {
                k.verify::<hmac::Hmac<sha2::Sha384>>(message, signature)
            }
            VerifyingInner::Hmac(_, k) => k.verify::<hmac::Hmac<sha2::Sha512>>(message, signature),
            // What jwt-compact's `Ed25519`/`Es256` do, without their `try_from_slice`, whose
            // `anyhow::Error` links anyhow's and the curves' `Debug`/`Display` into the
            // WebAssembly module (BENCHMARKS.md, "the validator's size, second round").
            VerifyingInner::EdDsa(k) => {
                use ed25519_dalek::{Signature, Verifier as _};
                Signature::from_slice(signature).is_ok_and(|sig| k.verify(message, &sig).is_ok())
            }
            VerifyingInner::Es256(k) => {
                use p256::ecdsa::{signature::DigestVerifier as _, Signature};
                Signature::from_slice(signature).is_ok_and(|sig| {
                    k.key
                        .verify_digest(Sha256::new_with_prefix(message), &sig)
                        .is_ok()
                })
            }
            #[cfg(feature = "es384")]
            VerifyingInner::Es384(k) => {
                use p384::ecdsa::{signature::Verifier as _, Signature};
                Signature::from_slice(signature).is_ok_and(|sig| k.verify(message, &sig).is_ok())
            }
            #[cfg(feature = "es512")]
            VerifyingInner::Es512(k) => {
                use p521::ecdsa::{signature::Verifier as _, Signature};
                Signature::from_slice(signature).is_ok_and(|sig| k.verify(message, &sig).is_ok())
            }
            #[cfg(feature = "rsa")]
            VerifyingInner::Rsa(alg, k) => rsa_verify(*alg, k, message, signature),
        }
    }
}

/// The group order of Ed25519, ℓ = 2^252 + 27742317777372353535851937790883648493,
/// little-endian (as a signature's S is encoded).
const ED25519_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

impl VerifyingKey {
    /// The public key as JWK JSON text of its required members only (`kty`, `crv`, `x`,
    /// `y`, `n`, `e`: what a runtime's crypto imports), `None` for HMAC secrets. Far less
    /// code than [`VerifyingKey::to_public_jwk`] in the WebAssembly module.
    pub fn public_jwk_json(&self) -> Option<String> {
        (!self.algorithm().is_hmac()).then(|| members_json(&self.inner))
    }

    /// Checks a raw JWS signature over `message` with this key (shape and math), as a
    /// verifier does: for callers comparing other signature math against the core's.
    pub fn verify_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        self.verify(message, signature)
    }

    /// Whether `signature` has the shape this key's algorithm accepts, before any
    /// signature math: what [`VerifyingKey::verify_signature`] refuses without computing, so that a
    /// verifier handing the math to other code (the npm package's native crypto,
    /// `Verifier::verify_with_signature_math`) accepts exactly the same signatures.
    /// - ES256/384/512: raw `r || s` of exactly twice the field size (no DER), with
    ///   `0 < r, s < n` (high and low S both pass, as in `p256`/`p384`/`p521`).
    /// - EdDSA: 64 bytes, S canonical (`S < ℓ`, as ed25519-dalek 2 requires).
    /// - RS*/PS*: exactly the modulus's length and, as an integer, below the modulus.
    /// - HMAC: the hash's length.
    pub fn signature_well_formed(&self, signature: &[u8]) -> bool {
        match &self.inner {
            // The hash's output size, which is also the shortest secret accepted.
            VerifyingInner::Hmac(alg, _) => signature.len() == alg.min_hmac_secret_len(),
            VerifyingInner::EdDsa(_) => {
                let Some(s) = signature.get(32..64).filter(|_| signature.len() == 64) else {
                    return false;
                };
                // S < ℓ, compared from the most significant byte down.
                s.iter().rev().cmp(ED25519_ORDER.iter().rev()) == core::cmp::Ordering::Less
            }
            VerifyingInner::Es256(_) => p256::ecdsa::Signature::from_slice(signature).is_ok(),
            #[cfg(feature = "es384")]
            VerifyingInner::Es384(_) => p384::ecdsa::Signature::from_slice(signature).is_ok(),
            #[cfg(feature = "es512")]
            VerifyingInner::Es512(_) => p521::ecdsa::Signature::from_slice(signature).is_ok(),
            #[cfg(feature = "rsa")]
            VerifyingInner::Rsa(_, k) => rsa_signature_well_formed(k, signature),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `P256Key::from_sec1` accepts exactly the SEC1 points p256's `from_sec1_bytes`
    /// accepts (but its non-standard compact form), with the same coordinates.
    #[test]
    fn p256_sec1_reader_agrees_with_p256() {
        let p = [
            0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff,
        ];
        let mut inputs: Vec<Vec<u8>> = alloc::vec![
            alloc::vec![],
            alloc::vec![0],
            alloc::vec![4],
            [&[4][..], &[0; 64]].concat(),
            [&[2][..], &[0; 32]].concat(),
            [&[4][..], &p, &p].concat(),
            [&[2][..], &p].concat(),
        ];
        for seed in 1u8..=40 {
            let scalar = Sha256::digest([seed]);
            let key = p256::ecdsa::SigningKey::from_slice(&scalar).unwrap();
            let point = key.verifying_key().to_encoded_point(false);
            let sec1 = point.as_bytes().to_vec();
            let (x, y) = (&sec1[1..33], &sec1[33..]);
            let odd = y[31] & 1;
            inputs.push(sec1.clone());
            inputs.push([&[2 | odd][..], x].concat());
            inputs.push([&[3 - odd][..], x].concat());
            inputs.push([&[5][..], x].concat());
            inputs.push([&[6 | odd][..], x, y].concat());
            // y off the curve, the other y, a coordinate plus p, a short or long point.
            let mut off = sec1.clone();
            off[64] ^= 1;
            inputs.push(off);
            let other_y = p256::FieldElement::from_slice(y).unwrap().neg().to_bytes();
            inputs.push([&[4][..], x, &other_y].concat());
            let mut plus_p = [0u8; 32];
            let mut carry = 0u16;
            for i in (0..32).rev() {
                let sum = u16::from(y[i]) + u16::from(p[i]) + carry;
                plus_p[i] = sum as u8;
                carry = sum >> 8;
            }
            if carry == 0 {
                inputs.push([&[4][..], x, &plus_p].concat());
            }
            inputs.push(sec1[..64].to_vec());
            inputs.push([&sec1[..], &[0]].concat());
        }
        let mut accepted = 0;
        for input in &inputs {
            let ours = P256Key::from_sec1(input).ok();
            let theirs = p256::ecdsa::VerifyingKey::from_sec1_bytes(input)
                .ok()
                .filter(|_| input.first() != Some(&5));
            assert_eq!(ours.is_some(), theirs.is_some(), "{input:02x?}");
            if let (Some(ours), Some(theirs)) = (ours, theirs) {
                assert_eq!(ours.key, theirs);
                let point = theirs.to_encoded_point(false);
                assert_eq!(&ours.xy[..], &point.as_bytes()[1..]);
                accepted += 1;
            }
        }
        assert!(accepted >= 40 * 4, "{accepted}");
    }
}
