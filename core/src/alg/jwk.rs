//! The JWK reader (RFC 7517, 7518 section 6, RFC 8037) and the public JWK members of a
//! key, with its RFC 7638 thumbprint.

use alloc::{string::String, vec::Vec};

use base64ct::{Base64UrlUnpadded, Encoding as _};
use sha2::{Digest as _, Sha256};

use super::{Algorithm, VerifyingInner};
use crate::Error;

/// A JWK's members as tollgate reads them (RFC 7517, 7518 section 6, RFC 8037).
///
/// Read by hand (with the crate's strict JSON reader) rather than through jwt-compact's
/// serde types: the rules are few, and serde's machinery does not belong in the
/// WebAssembly validator.
///
/// The text is checked and its members read in one pass: the values of the members
/// tollgate reads ([`JWK_MEMBERS`]) kept in place (`JsonValue`s into the text), so that
/// reading a key builds no `serde_json::Value` (none of that code in the WebAssembly
/// module) and scans the text once. Other members are ignored.
pub(super) struct Jwk<'a> {
    /// The value of each of [`JWK_MEMBERS`], where present.
    values: [Option<crate::JsonValue<'a>>; JWK_MEMBERS.len()],
    pub(super) kid: Option<String>,
}

/// The members a JWK is read for: those checked, then the key material of every kind.
const JWK_MEMBERS: [&str; 13] = [
    "alg", "use", "kty", "crv", "kid", "k", "x", "y", "d", "n", "e", "p", "q",
];

impl<'a> Jwk<'a> {
    /// Parses `text` as a JWK for `alg`: `kty` (and `crv`) must fit the algorithm, and
    /// `alg` and `use`, if present, must say this algorithm and `sig`.
    pub(super) fn parse(text: &'a str, alg: Algorithm) -> Result<Self, Error> {
        let members = crate::JsonObject::scan(text).ok_or(Error::KeyInvalid)?;
        let mut jwk = Self {
            values: [None; JWK_MEMBERS.len()],
            kid: None,
        };
        for (key, value) in members.members() {
            if let Some(i) = JWK_MEMBERS.iter().position(|name| key.eq_str(name)) {
                jwk.values[i] = Some(value);
            }
        }
        if jwk.string("alg")?.is_some_and(|a| a != alg.name())
            || jwk.string("use")?.is_some_and(|u| u != "sig")
        {
            return Err(Error::KeyAlgorithmMismatch);
        }
        let (kty, crv) = alg.jwk_kty_crv();
        match jwk.string("kty")?.as_deref() {
            Some(found) if found == kty => {}
            Some("oct" | "OKP" | "EC" | "RSA") => return Err(Error::KeyAlgorithmMismatch),
            _ => return Err(Error::KeyInvalid),
        }
        if let Some(crv) = crv {
            match jwk.string("crv")?.as_deref() {
                Some(found) if found == crv => {}
                Some(_) => return Err(Error::KeyAlgorithmMismatch),
                None => return Err(Error::KeyInvalid),
            }
        }
        jwk.kid = jwk.string("kid")?.map(alloc::borrow::Cow::into_owned);
        Ok(jwk)
    }

    /// Member `name` (one of [`JWK_MEMBERS`]), if present: a string, else `KeyInvalid`.
    fn string(&self, name: &str) -> Result<Option<alloc::borrow::Cow<'a, str>>, Error> {
        let value = JWK_MEMBERS
            .iter()
            .position(|member| *member == name)
            .and_then(|i| self.values.get(i).copied().flatten());
        match value {
            None => Ok(None),
            Some(value) => value
                .as_str()
                .map(|s| Some(s.decode()))
                .ok_or(Error::KeyInvalid),
        }
    }

    /// A base64url member (decoded in constant time: it may be secret).
    pub(super) fn bytes(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        match self.string(name)? {
            None => Ok(None),
            Some(text) => Base64UrlUnpadded::decode_vec(&text)
                .map(Some)
                .map_err(|_| Error::KeyInvalid),
        }
    }

    pub(super) fn required(&self, name: &str) -> Result<Vec<u8>, Error> {
        self.bytes(name)?.ok_or(Error::KeyInvalid)
    }

    /// The SEC1 uncompressed point of an EC key's `x` and `y`, each `len` bytes
    /// (RFC 7518 section 6.2.1.2: the full coordinate size, leading zeros kept).
    pub(super) fn ec_point(&self, len: usize) -> Result<Vec<u8>, Error> {
        let (x, y) = (self.required("x")?, self.required("y")?);
        if x.len() != len || y.len() != len {
            return Err(Error::KeyInvalid);
        }
        Ok([&[0x04][..], &x, &y].concat())
    }
}

/// The required members of a public (or `oct`) JWK, in lexicographic order: the
/// input of its RFC 7638 thumbprint and the body of its JWKS entry.
pub(super) fn public_jwk_members(key: &VerifyingInner) -> Vec<(&'static str, String)> {
    let b64 = |bytes: &[u8]| Base64UrlUnpadded::encode_string(bytes);
    match key {
        VerifyingInner::Hmac(_, k) => alloc::vec![("k", b64(&k.0)), ("kty", "oct".into())],
        VerifyingInner::EdDsa(k) => alloc::vec![
            ("crv", "Ed25519".into()),
            ("kty", "OKP".into()),
            ("x", b64(k.as_bytes())),
        ],
        VerifyingInner::Es256(k) => ec_members("P-256", Some(&k.xy[..32]), Some(&k.xy[32..])),
        #[cfg(feature = "es384")]
        VerifyingInner::Es384(k) => {
            let point = k.to_encoded_point(false);
            ec_members(
                "P-384",
                point.x().map(|x| &x[..]),
                point.y().map(|y| &y[..]),
            )
        }
        #[cfg(feature = "es512")]
        VerifyingInner::Es512(k) => {
            let point = k.to_encoded_point(false);
            ec_members(
                "P-521",
                point.x().map(|x| &x[..]),
                point.y().map(|y| &y[..]),
            )
        }
        #[cfg(feature = "rsa")]
        VerifyingInner::Rsa(_, k) => super::rsa::rsa_members(k),
    }
}

fn ec_members(
    crv: &'static str,
    x: Option<&[u8]>,
    y: Option<&[u8]>,
) -> Vec<(&'static str, String)> {
    let b64 = |bytes: Option<&[u8]>| bytes.map(Base64UrlUnpadded::encode_string);
    alloc::vec![
        ("crv", crv.into()),
        ("kty", "EC".into()),
        ("x", b64(x).unwrap_or_default()),
        ("y", b64(y).unwrap_or_default()),
    ]
}

/// The RFC 7638 SHA-256 thumbprint, base64url: the hash of the required members in
/// lexicographic order, without whitespace (every value here is base64url or a fixed
/// name, so none needs escaping).
pub(super) fn thumbprint(key: &VerifyingInner) -> String {
    Base64UrlUnpadded::encode_string(&Sha256::digest(members_json(key).as_bytes()))
}

/// The required JWK members of a key as JSON text, in lexicographic order without
/// whitespace (RFC 7638's form; every value is base64url or a fixed name, so none needs
/// escaping).
pub(super) fn members_json(key: &VerifyingInner) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in public_jwk_members(key).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for part in ["\"", name, "\":\"", value, "\""] {
            out.push_str(part);
        }
    }
    out.push('}');
    out
}
