//! Parse, verify, mint: the life of a token inside tollgate-core.
//!
//! `Untrusted::parse(&str)` checks only the envelope (size, segments, base64url, header).
//! `Verifier::verify` turns it into a [`Verified`] token in Simple JWT's order: signature
//! with the configured algorithm, registered claims, caller's blacklist, `exp` present,
//! jti present, token type. Claims of a token are only reachable from [`Verified`] (or,
//! deliberately named, from [`Decoded`] for clients that just display them).

use alloc::{string::String, vec::Vec};

use crate::{
    b64,
    claims::canonical_time,
    json::{Json, JsonStr, Object},
    settings::VerifierSettings,
    Algorithm, Audience, Claims, Error, VerifyingKey,
};

mod mint;

pub use self::mint::Issued;

/// Tokens longer than this are refused before any parsing (Simple JWT has no limit).
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Longest jti, user id, kid, issuer or token type string accepted in a token.
pub const MAX_ID_LEN: usize = 255;

/// The kinds of token Simple JWT issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// Short-lived, stateless, sent as `Authorization: Bearer`.
    Access,
    /// Long-lived, stored as outstanding, rotated and blacklisted.
    Refresh,
    /// Both in one: refreshed until its `refresh_exp`.
    Sliding,
}

impl TokenKind {
    /// The value of the token type claim.
    pub fn name(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
            Self::Sliding => "sliding",
        }
    }

    /// Parses a token type claim value.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Access, Self::Refresh, Self::Sliding]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

/// What a verification expects of the token type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Exactly this kind.
    Kind(TokenKind),
    /// Any kind, even none (Simple JWT's `UntypedToken`, used by the verify endpoint).
    Untyped,
}

impl From<TokenKind> for Expect {
    fn from(kind: TokenKind) -> Self {
        Expect::Kind(kind)
    }
}

/// A token id: 16 random bytes, written as 32 lowercase hex digits like Python's
/// `uuid4().hex`. Randomness comes from the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jti([u8; 16]);

impl Jti {
    /// Makes a UUIDv4 from 16 random bytes (the version and variant bits are set, as
    /// `uuid4()` does, leaving 122 random bits).
    pub fn from_random_bytes(mut bytes: [u8; 16]) -> Self {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Self(bytes)
    }

    /// A time-ordered UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random
    /// bits. Still 32 lowercase hex digits, so Simple JWT's format is kept; the server
    /// uses the embedded time to tell whether an access token was issued before or
    /// after a password change within the same second.
    pub fn v7(unix_ms: u64, random: [u8; 10]) -> Self {
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&unix_ms.to_be_bytes()[2..]);
        bytes[6..].copy_from_slice(&random);
        bytes[6] = (bytes[6] & 0x0f) | 0x70;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Self(bytes)
    }

    /// The milliseconds of a UUIDv7 jti in its 32-hex form; `None` for anything else
    /// (a uuid4 from Simple JWT, a foreign id).
    pub fn v7_unix_ms(jti: &str) -> Option<u64> {
        let b = jti.as_bytes();
        let is_hex = |c: &u8| c.is_ascii_digit() || (b'a'..=b'f').contains(c);
        if b.len() != 32
            || !b.iter().all(is_hex)
            || b[12] != b'7'
            || !matches!(b[16], b'8' | b'9' | b'a' | b'b')
        {
            return None;
        }
        u64::from_str_radix(&jti[..12], 16).ok()
    }

    /// Exactly these 16 bytes (no version bits set): for reproducing a given jti.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The jti written by [`Jti::to_hex`] (32 lowercase hex digits), as its exact
    /// bytes; `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<Self> {
        fn digit(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            }
        }
        let text = hex.as_bytes();
        if text.len() != 32 {
            return None;
        }
        let mut bytes = [0u8; 16];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            *byte = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Some(Self(bytes))
    }

    /// 32 lowercase hex digits.
    pub fn to_hex(self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(32);
        for b in self.0 {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        out
    }
}

/// A string read from a token's JSON: where it sits in the token's decoded text (its
/// header's JSON followed by its payload's), or decoded when it had escapes (the only
/// case that allocates).
#[derive(Debug, Clone)]
enum Text {
    At(u32, u32),
    Decoded(String),
}

impl Text {
    /// `value`, a slice of `base`.
    fn at(base: &str, value: &str) -> Self {
        // A token's text is at most 8 KiB: the offsets fit.
        let start = (value.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
        Self::At(start as u32, (start + value.len()) as u32)
    }

    /// A string of `base`'s JSON.
    fn of(base: &str, value: JsonStr<'_>) -> Self {
        match value.as_plain() {
            Some(plain) => Self::at(base, plain),
            None => Self::Decoded(value.decode().into_owned()),
        }
    }

    fn get<'t>(&'t self, base: &'t str) -> &'t str {
        match self {
            Self::At(start, end) => base.get(*start as usize..*end as usize).unwrap_or_default(),
            Self::Decoded(text) => text,
        }
    }
}

/// A token whose envelope parsed; nothing in it is trusted yet.
#[derive(Debug)]
pub struct Untrusted<'a> {
    signed: &'a str,
    /// The signature's base64url (checked canonical), decoded when it is checked.
    signature: &'a str,
    /// The header's JSON, then the payload's when it is UTF-8 (`payload_utf8`).
    text: String,
    header_len: usize,
    payload_utf8: bool,
    alg: Text,
    kid: Option<Text>,
}

/// The three segments of a compact JWS within the size limit, or an error.
fn segments(token: &str) -> Result<(&str, &str, &str), Error> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::TokenTooLarge);
    }
    let (h, rest) = token.split_once('.').ok_or(Error::TokenMalformed)?;
    let (p, s) = rest.split_once('.').ok_or(Error::TokenMalformed)?;
    if s.contains('.') || h.is_empty() || p.is_empty() {
        return Err(Error::TokenMalformed);
    }
    Ok((h, p, s))
}

/// Decodes a base64url segment after the end of `out`.
fn b64_append(segment: &str, out: &mut Vec<u8>) -> Result<(), Error> {
    b64::decode_append(segment.as_bytes(), out).ok_or(Error::TokenMalformed)
}

/// What the checks need of a header: its `alg` and `kid`, within `base`.
struct Header {
    alg: Text,
    kid: Option<Text>,
}

/// Checks a decoded header, the text of `base` from `start` on, without building it
/// (claims are built only for a verified token, or on request from a decoded one).
fn check_header(base: &str, start: usize) -> Result<Header, Error> {
    let json = base.get(start..).ok_or(Error::TokenMalformed)?;
    let header = Object::scan(json).ok_or(Error::TokenMalformed)?;
    let get = |name: &str| header.get(name);
    let alg = get("alg")
        .and_then(Json::as_str)
        .ok_or(Error::TokenMalformed)?;
    let kid = match get("kid").map(Json::as_str) {
        None => None,
        Some(Some(kid)) if kid.len() <= MAX_ID_LEN => Some(kid),
        Some(_) => return Err(Error::TokenMalformed),
    };
    match get("typ").map(Json::as_str) {
        None => {}
        Some(Some(typ)) if typ.decode().eq_ignore_ascii_case("JWT") => {}
        Some(_) => return Err(Error::HeaderUnsupported),
    }
    // `crit` asks for extensions we do not implement; `b64`, `cty`, `zip`, `enc` change
    // what the signature or payload means. `jku`, `jwk`, `x5u`, `x5c` are ignored:
    // keys come from configuration only.
    let unsupported = ["crit", "b64", "cty", "zip", "enc"];
    if header
        .keys()
        .any(|key| unsupported.iter().any(|name| key.eq_str(name)))
    {
        return Err(Error::HeaderUnsupported);
    }
    Ok(Header {
        alg: Text::of(base, alg),
        kid: kid.map(|kid| Text::of(base, kid)),
    })
}

impl<'a> Untrusted<'a> {
    /// Checks size, the three base64url segments (canonical: no padding, no stray bits)
    /// and the header. Does not look at the claims.
    pub fn parse(token: &'a str) -> Result<Self, Error> {
        let (h, p, s) = segments(token)?;
        // One buffer for the header's and the payload's JSON: the only allocation of a
        // token without escaped strings.
        let header_len = b64::decoded_len(h.as_bytes());
        let mut text = Vec::with_capacity(header_len + b64::decoded_len(p.as_bytes()));
        b64_append(h, &mut text)?;
        let header = check_header(
            core::str::from_utf8(&text).map_err(|_| Error::TokenMalformed)?,
            0,
        )?;
        b64_append(p, &mut text)?;
        if !b64::is_canonical(s.as_bytes()) {
            return Err(Error::TokenMalformed);
        }
        // A payload that is not UTF-8 fails where the claims are read, after the
        // signature (as before this buffer): only the header is kept.
        let (text, payload_utf8) = match String::from_utf8(text) {
            Ok(text) => (text, true),
            Err(err) => {
                let mut header = err.into_bytes();
                header.truncate(header_len);
                (String::from_utf8(header).unwrap_or_default(), false)
            }
        };
        Ok(Self {
            // Up to the second '.', a character boundary; `get` rather than indexing keeps
            // core's char-boundary panic out of the WebAssembly module.
            signed: token
                .get(..h.len() + 1 + p.len())
                .ok_or(Error::TokenMalformed)?,
            signature: s,
            text,
            header_len,
            payload_utf8,
            alg: header.alg,
            kid: header.kid,
        })
    }

    /// The `alg` the token claims (not trusted; the verifier's configuration decides).
    pub fn alg(&self) -> &str {
        self.alg.get(&self.text)
    }

    /// The `kid` the token names, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_ref().map(|kid| kid.get(&self.text))
    }

    /// The payload's JSON text (not yet checked), if it is UTF-8.
    fn payload(&self) -> Option<&str> {
        self.text
            .get(self.header_len..)
            .filter(|_| self.payload_utf8)
    }
}

/// A token whose signature and claims have been checked.
///
/// The claims were checked in place (the strict reader, then each claim the checks need
/// read on its own); the whole set is built only on request, since authenticating a
/// request needs no more than the user id.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The header's JSON, then the payload's.
    text: String,
    header_len: usize,
    kind: Option<TokenKind>,
    jti: Text,
    user_id: Option<Text>,
    exp: u64,
}

impl Verified {
    /// The header parameters (built on each call).
    pub fn header(&self) -> Claims {
        let header = Claims::parse(self.header_json().as_bytes());
        // The text passed the same reader's checks when the token was verified.
        debug_assert!(header.is_some());
        header.unwrap_or_default()
    }

    /// The claims, in the token's order (built on each call).
    pub fn claims(&self) -> Claims {
        let claims = Claims::parse(self.payload_json().as_bytes());
        debug_assert!(claims.is_some());
        claims.unwrap_or_default()
    }

    /// The header exactly as signed: JSON text that passed the strict reader.
    pub fn header_json(&self) -> &str {
        self.text.get(..self.header_len).unwrap_or_default()
    }

    /// The payload exactly as signed: JSON text that passed the strict reader (so it
    /// means what [`Verified::claims`] says), for handing on without re-serializing.
    pub fn payload_json(&self) -> &str {
        self.text.get(self.header_len..).unwrap_or_default()
    }

    /// The token kind named by its type claim.
    pub fn kind(&self) -> Option<TokenKind> {
        self.kind
    }

    /// The jti (always present after verification).
    pub fn jti(&self) -> &str {
        self.jti.get(&self.text)
    }

    /// The user id claim, if present (a string; its meaning is the caller's).
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_ref().map(|id| id.get(&self.text))
    }

    /// `exp`, epoch seconds (always present after verification).
    pub fn exp(&self) -> u64 {
        self.exp
    }
}

/// The signature check of one candidate key: `(index in keys(), key, message, signature)`.
type SignatureCheck<'a> = dyn FnMut(usize, &VerifyingKey, &[u8], &[u8]) -> bool + 'a;

/// Checks tokens against one configured algorithm and its keys.
#[derive(Debug, Clone)]
pub struct Verifier {
    pub(crate) settings: VerifierSettings,
}

impl Verifier {
    /// Validates the settings (keys all of the configured algorithm, sane leeway...).
    pub fn new(settings: VerifierSettings) -> Result<Self, Error> {
        settings.validate()?;
        Ok(Self { settings })
    }

    /// A verifier for one key with Simple JWT's defaults.
    pub fn for_key(key: VerifyingKey) -> Self {
        Self {
            settings: VerifierSettings::new(key),
        }
    }

    /// The configured algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.settings.algorithm
    }

    /// The configured keys.
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.settings.keys
    }

    /// The configured leeway in seconds.
    pub fn leeway(&self) -> u64 {
        self.settings.leeway
    }

    /// The configured `max_token_age` in seconds, if any.
    pub fn max_token_age(&self) -> Option<u64> {
        self.settings.max_token_age
    }

    /// The configured `max_lifetime` in seconds, if any.
    pub fn max_lifetime(&self) -> Option<u64> {
        self.settings.max_lifetime
    }

    /// This verifier's checks (leeway, audience, issuer, claims) for other keys, all of
    /// `algorithm`: a server verifying the tokens of an algorithm it is migrating from.
    pub fn with_keys(&self, algorithm: Algorithm, keys: Vec<VerifyingKey>) -> Result<Self, Error> {
        let mut settings = self.settings.clone();
        settings.algorithm = algorithm;
        settings.keys = keys;
        Self::new(settings)
    }

    /// Parses and verifies `token` at time `now` (epoch seconds). `is_blacklisted` is
    /// asked about the jti after the signature and registered claims passed, as Simple
    /// JWT's `check_blacklist` is.
    pub fn verify(
        &self,
        token: &str,
        expect: Expect,
        now: u64,
        is_blacklisted: impl FnOnce(&str) -> bool,
    ) -> Result<Verified, Error> {
        let pending = self.verify_pending(token, expect, now)?;
        let listed = pending.jti().is_some_and(is_blacklisted);
        pending.finish(listed)
    }

    /// [`Verifier::verify`] with the signature math done by `signature_math(index,
    /// message, signature)`: the runtime's native crypto in the npm package, for the key
    /// `keys()[index]`. Everything else is this verifier's: the envelope, the header,
    /// `alg`, the key picked by `kid` (or each key in turn), the signature's shape
    /// ([`VerifyingKey::signature_well_formed`], checked before `signature_math` is
    /// asked), then the claims, in the same order and with the same errors. HMAC keys
    /// are always checked here (`signature_math` is not asked).
    pub fn verify_with_signature_math(
        &self,
        token: &str,
        expect: Expect,
        now: u64,
        is_blacklisted: impl FnOnce(&str) -> bool,
        mut signature_math: impl FnMut(usize, &[u8], &[u8]) -> bool,
    ) -> Result<Verified, Error> {
        let token = Untrusted::parse(token)?;
        let mut check = |index: usize, key: &VerifyingKey, message: &[u8], signature: &[u8]| {
            if key.algorithm().is_hmac() {
                return key.verify(message, signature);
            }
            key.signature_well_formed(signature) && signature_math(index, message, signature)
        };
        let checks = self.check_untrusted_with(&token, expect, now, &mut check)?;
        let listed = checks.jti(&token.text).is_some_and(is_blacklisted);
        let checked = checks.finish(listed)?;
        Ok(checked.with_text(token.text, token.header_len))
    }

    /// [`Verifier::verify`] in two steps, for a blacklist the caller has to wait for
    /// (a database across a network): the signature and registered claims are checked
    /// here; [`Pending::finish`] takes the blacklist's answer about [`Pending::jti`] and
    /// makes the remaining checks, in Simple JWT's order (blacklist, `exp`, jti, type).
    pub fn verify_pending(&self, token: &str, expect: Expect, now: u64) -> Result<Pending, Error> {
        let token = Untrusted::parse(token)?;
        let checks = self.check_untrusted(&token, expect, now)?;
        Ok(Pending {
            checks,
            text: token.text,
            header_len: token.header_len,
        })
    }

    /// [`Verifier::verify`] for a token already parsed.
    pub fn verify_untrusted(
        &self,
        token: &Untrusted<'_>,
        expect: Expect,
        now: u64,
        is_blacklisted: impl FnOnce(&str) -> bool,
    ) -> Result<Verified, Error> {
        let checks = self.check_untrusted(token, expect, now)?;
        let listed = checks.jti(&token.text).is_some_and(is_blacklisted);
        let checked = checks.finish(listed)?;
        Ok(checked.with_text(token.text.clone(), token.header_len))
    }

    fn check_untrusted(
        &self,
        token: &Untrusted<'_>,
        expect: Expect,
        now: u64,
    ) -> Result<Checks, Error> {
        self.check_untrusted_with(token, expect, now, &mut |_, key, message, signature| {
            key.verify(message, signature)
        })
    }

    /// [`Verifier::check_untrusted`] with `check(index, key, message, signature)` for the
    /// signature of each candidate key.
    fn check_untrusted_with(
        &self,
        token: &Untrusted<'_>,
        expect: Expect,
        now: u64,
        check: &mut SignatureCheck<'_>,
    ) -> Result<Checks, Error> {
        let s = &self.settings;
        if token.alg() != s.algorithm.name() {
            return Err(Error::AlgorithmMismatch);
        }
        let message = token.signed.as_bytes();
        // Decoded on the stack: no accepted signature is longer (RSA-4096's 512 bytes);
        // a longer one, which every key refuses, on the heap, so that it is refused by
        // the same checks as before.
        let encoded = token.signature.as_bytes();
        let len = b64::decoded_len(encoded);
        let (mut stack, mut heap) = ([0u8; 512], Vec::new());
        let signature: &mut [u8] = match stack.get_mut(..len) {
            Some(out) => out,
            None => {
                heap.resize(len, 0);
                &mut heap
            }
        };
        b64::decode_to(encoded, signature).ok_or(Error::TokenMalformed)?;
        let signature = &*signature;
        let signed_ok = match token.kid() {
            Some(kid) if s.keys.len() > 1 => {
                let index = s
                    .keys
                    .iter()
                    .position(|k| k.kid() == kid)
                    .ok_or(Error::KeyUnknown)?;
                check(index, &s.keys[index], message, signature)
            }
            // One key (as Simple JWT, which ignores `kid`) or no `kid`: try each key.
            _ => s
                .keys
                .iter()
                .enumerate()
                .any(|(index, k)| check(index, k, message, signature)),
        };
        if !signed_ok {
            return Err(Error::SignatureInvalid);
        }
        let payload = token.payload().ok_or(Error::TokenMalformed)?;
        let claims = Object::scan(payload).ok_or(Error::TokenMalformed)?;
        self.check(&claims, &token.text, expect, now)
    }

    /// The claims' checks; the strings kept are located within `base`, the token's text.
    fn check(
        &self,
        claims: &Object<'_>,
        base: &str,
        expect: Expect,
        now: u64,
    ) -> Result<Checks, Error> {
        let s = &self.settings;
        let names = &s.claims;
        let leeway = s.leeway;

        // Registered claims, in PyJWT's order: iat, nbf, exp, iss, aud.
        for name in ["iat", "nbf"] {
            if let Some(t) = get_time(claims, name) {
                if t.map_err(|()| Error::ClaimInvalid)? > now.saturating_add(leeway) {
                    return Err(Error::NotYetValid);
                }
            }
        }
        let exp = match get_time(claims, "exp") {
            Some(t) => Some(t.map_err(|()| Error::ClaimInvalid)?),
            None => None,
        };
        if exp.is_some_and(|exp| exp.saturating_add(leeway) <= now) {
            return Err(Error::Expired);
        }
        self.check_lifetime(claims, exp, now)?;
        let iss = optional_string(claims, "iss")?;
        if let Some(expected) = &s.issuer {
            if !iss.is_some_and(|iss| iss.eq_str(expected)) {
                return Err(Error::IssuerMismatch);
            }
        }
        check_audience(claims, s.audience.as_ref())?;
        optional_string(claims, "sub")?;
        if let Some(Err(())) = get_time(claims, &names.refresh_exp) {
            return Err(Error::ClaimInvalid);
        }
        let jti = optional_string(claims, &names.jti)?;
        // A type claim that is not a usable string is a wrong type where a type is
        // expected (Simple JWT compares it with the class's type: "Token has wrong
        // type"), and not a canonical token where none is.
        let token_type = match (optional_string(claims, &names.token_type), expect) {
            (Ok(token_type), _) => Ok(token_type),
            (Err(_), Expect::Kind(_)) => Err(Error::WrongType),
            (Err(err), Expect::Untyped) => return Err(err),
        };
        let user_id = user_id(claims, base, &names.user_id)?;

        // Then Simple JWT's `Token.verify`: blacklist (the caller's, in `Checks::finish`),
        // exp, jti, type. Those after the blacklist are made now and their first failure
        // kept, so the blacklist's answer can come later without changing the order.
        let deferred = if exp.is_none() {
            Some(Error::NoExp)
        } else if jti.is_none() {
            Some(Error::NoId)
        } else {
            let type_error = match (expect, &token_type) {
                (Expect::Untyped, _) => None,
                (Expect::Kind(_), Err(wrong)) => Some(wrong.clone()),
                (Expect::Kind(_), Ok(None)) => Some(Error::NoType),
                (Expect::Kind(kind), Ok(Some(t))) if !t.eq_str(kind.name()) => {
                    Some(Error::WrongType)
                }
                (Expect::Kind(_), Ok(Some(_))) => None,
            };
            type_error.or_else(|| {
                s.required
                    .iter()
                    .find(|c| !claims.contains(c))
                    .map(|missing| Error::ClaimMissing(missing.clone()))
            })
        };
        Ok(Checks {
            kind: token_type
                .ok()
                .flatten()
                .and_then(|t| TokenKind::from_name(&t.decode())),
            jti: jti.map(|jti| Text::of(base, jti)),
            user_id,
            exp: exp.unwrap_or(0),
            deferred,
        })
    }

    /// The lifetime policy: `max_token_age` (`now - iat`) and `max_lifetime` (`exp - iat`
    /// and `refresh_exp - iat`; without `iat`, `exp - now` beyond the leeway). Checked
    /// after `exp`, before `iss`; the times passed the canonical check.
    fn check_lifetime(&self, claims: &Object<'_>, exp: Option<u64>, now: u64) -> Result<(), Error> {
        let s = &self.settings;
        if s.max_token_age.is_none() && s.max_lifetime.is_none() {
            return Ok(());
        }
        let iat = match get_time(claims, "iat") {
            Some(t) => Some(t.map_err(|()| Error::ClaimInvalid)?),
            None => None,
        };
        if let Some(max_age) = s.max_token_age {
            let iat = iat.ok_or_else(|| Error::ClaimMissing("iat".into()))?;
            if now.saturating_sub(iat) > max_age.saturating_add(s.leeway) {
                return Err(Error::TooOld);
            }
        }
        if let Some(max_lifetime) = s.max_lifetime {
            let refresh_exp = match get_time(claims, &s.claims.refresh_exp) {
                Some(t) => Some(t.map_err(|()| Error::ClaimInvalid)?),
                None => None,
            };
            // iat is never past now + leeway here (checked first).
            let (start, bound) = match iat {
                Some(iat) => (iat, max_lifetime),
                None => (now, max_lifetime.saturating_add(s.leeway)),
            };
            if [exp, refresh_exp]
                .into_iter()
                .flatten()
                .any(|end| end.saturating_sub(start) > bound)
            {
                return Err(Error::LifetimeTooLong);
            }
        }
        Ok(())
    }

    /// The extra check of a sliding token being refreshed: its refresh-expiry claim
    /// must be present and not passed (with leeway), as Simple JWT's
    /// `check_exp("refresh_exp")`.
    pub fn check_refresh_exp(&self, token: &Verified, now: u64) -> Result<(), Error> {
        let name = &self.settings.claims.refresh_exp;
        let payload = Object::scan(token.payload_json()).ok_or(Error::TokenMalformed)?;
        let refresh_exp = match get_time(&payload, name) {
            None => return Err(Error::NoRefreshExp(name.clone())),
            Some(t) => t.map_err(|()| Error::ClaimInvalid)?,
        };
        if refresh_exp.saturating_add(self.settings.leeway) <= now {
            return Err(Error::RefreshExpExpired(name.clone()));
        }
        Ok(())
    }
}

/// What [`Verifier::check`] found in a token's claims; the JSON text comes after.
struct Checked {
    kind: Option<TokenKind>,
    jti: Text,
    user_id: Option<Text>,
    exp: u64,
}

/// The outcome of every check but the blacklist: the claims they read, and the first
/// check after the blacklist that failed.
#[derive(Debug)]
struct Checks {
    kind: Option<TokenKind>,
    jti: Option<Text>,
    user_id: Option<Text>,
    exp: u64,
    deferred: Option<Error>,
}

impl Checks {
    /// The jti, within the token's text `base`.
    fn jti<'t>(&'t self, base: &'t str) -> Option<&'t str> {
        self.jti.as_ref().map(|jti| jti.get(base))
    }

    /// Simple JWT's order: a blacklisted jti first, then the deferred failure.
    fn finish(self, blacklisted: bool) -> Result<Checked, Error> {
        if blacklisted && self.jti.is_some() {
            return Err(Error::Blacklisted);
        }
        if let Some(err) = self.deferred {
            return Err(err);
        }
        Ok(Checked {
            kind: self.kind,
            // Present: its absence is a deferred failure.
            jti: self.jti.unwrap_or(Text::At(0, 0)),
            user_id: self.user_id,
            exp: self.exp,
        })
    }
}

/// A token whose signature and registered claims passed ([`Verifier::verify_pending`]),
/// waiting for the caller's blacklist.
#[derive(Debug)]
pub struct Pending {
    checks: Checks,
    text: String,
    header_len: usize,
}

impl Pending {
    /// The jti to look up in the blacklist (absent: nothing to look up, and
    /// [`Pending::finish`] fails with [`Error::NoId`] or an earlier check).
    pub fn jti(&self) -> Option<&str> {
        self.checks.jti(&self.text)
    }

    /// Whether [`Pending::finish`] succeeds unless the blacklist holds the jti: every
    /// other check passed. A caller may then act on the token (a rotation) and ask the
    /// blacklist in the same step, where the answer can only be "blacklisted" or done.
    pub fn passes_unless_blacklisted(&self) -> bool {
        self.checks.deferred.is_none() && self.checks.jti.is_some()
    }

    /// The user id claim, if the token has a valid one: with [`Pending::jti`], what a
    /// caller may read from its store in the same lookup as the blacklist.
    pub fn user_id(&self) -> Option<&str> {
        self.checks.user_id.as_ref().map(|id| id.get(&self.text))
    }

    /// The verified token, given whether the blacklist holds [`Pending::jti`]; else
    /// the first failing check in Simple JWT's order (blacklist, `exp`, jti, type,
    /// required claims).
    pub fn finish(self, blacklisted: bool) -> Result<Verified, Error> {
        let checked = self.checks.finish(blacklisted)?;
        Ok(checked.with_text(self.text, self.header_len))
    }
}

impl Checked {
    /// The verified token, `text` being its header's and payload's JSON, which the
    /// strict reader accepted.
    fn with_text(self, text: String, header_len: usize) -> Verified {
        Verified {
            text,
            header_len,
            kind: self.kind,
            jti: self.jti,
            user_id: self.user_id,
            exp: self.exp,
        }
    }
}

/// A time claim in canonical form: an integer from 0 to [`crate::MAX_TIME`].
/// `Some(Err(()))` means present but not canonical.
fn get_time(claims: &Object<'_>, name: &str) -> Option<Result<u64, ()>> {
    claims.get(name).map(|v| canonical_time(v).ok_or(()))
}

/// The user id claim: a string like any id, or a non-negative JSON integer (minted by
/// Simple JWT versions that kept integer ids; Django looks it up as the same user), given
/// as its decimal string (the number's own text: JSON integers have no leading zeros).
fn user_id(claims: &Object<'_>, base: &str, name: &str) -> Result<Option<Text>, Error> {
    match claims.get(name) {
        Some(number) if number.is_number() => number
            .as_u64()
            .map(|_| Some(Text::at(base, number.text())))
            .ok_or(Error::ClaimInvalid),
        _ => Ok(optional_string(claims, name)?.map(|id| Text::of(base, id))),
    }
}

/// A claim that, if present, must be a non-empty string of bounded length.
fn optional_string<'a>(claims: &Object<'a>, name: &str) -> Result<Option<JsonStr<'a>>, Error> {
    match claims.get(name).map(Json::as_str) {
        None => Ok(None),
        Some(Some(s)) if !s.is_empty() && s.len() <= MAX_ID_LEN => Ok(Some(s)),
        Some(_) => Err(Error::ClaimInvalid),
    }
}

fn check_audience(claims: &Object<'_>, expected: Option<&Audience>) -> Result<(), Error> {
    // Decoding allocates only for a string with escapes.
    let matches =
        |aud: JsonStr<'_>| expected.is_none_or(|expected| expected.contains(&aud.decode()));
    let found = match claims.get("aud") {
        None => false,
        Some(aud) => match (aud.as_str(), aud.items()) {
            (Some(one), _) => matches(one),
            (None, Some(many)) => {
                // Every item must be a string, whatever matches.
                let mut found = false;
                for item in many {
                    let one = item.as_str().ok_or(Error::ClaimInvalid)?;
                    found = found || matches(one);
                }
                found
            }
            (None, None) => return Err(Error::ClaimInvalid),
        },
    };
    if expected.is_some() && !found {
        return Err(Error::AudienceMismatch);
    }
    Ok(())
}

/// A token's header and claims read WITHOUT checking the signature: for clients that
/// display a token or schedule its refresh, never for authorization.
///
/// The payload is checked exactly as a verification would read it (strict JSON, no
/// duplicate keys), but claims are only built when asked for: displaying a token needs
/// its text, scheduling a refresh needs `exp`.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The header segment, then the header's JSON, then the payload's.
    text: String,
    segment_len: usize,
    header_end: usize,
    /// `exp`: absent, canonical, or present but not a canonical time.
    exp: Option<Result<u64, ()>>,
}

/// Reads a token without verifying it. The envelope must still be canonical.
pub fn decode(token: &str) -> Result<Decoded, Error> {
    decode_reusing(token, None)
}

/// [`decode`], reusing the header of `previous` when `token`'s header segment is the
/// same text (tokens from one issuer share theirs): that header passed the checks when
/// `previous` was decoded, and identical bytes pass them again, so only the payload
/// and signature are read. The result is exactly `decode(token)`'s.
pub fn decode_reusing(token: &str, previous: Option<&Decoded>) -> Result<Decoded, Error> {
    let (h, p, s) = segments(token)?;
    let previous = previous.filter(|previous| previous.header_segment() == h);
    let header_len = match previous {
        Some(previous) => previous.header_json().len(),
        None => b64::decoded_len(h.as_bytes()),
    };
    // One buffer, the only allocation of a token without escaped strings.
    let mut text = Vec::with_capacity(h.len() + header_len + b64::decoded_len(p.as_bytes()));
    text.extend_from_slice(h.as_bytes());
    match previous {
        Some(previous) => text.extend_from_slice(previous.header_json().as_bytes()),
        None => {
            b64_append(h, &mut text)?;
            let base = core::str::from_utf8(&text).map_err(|_| Error::TokenMalformed)?;
            check_header(base, h.len())?;
        }
    }
    let header_end = text.len();
    b64_append(p, &mut text)?;
    if !b64::is_canonical(s.as_bytes()) {
        return Err(Error::TokenMalformed);
    }
    let text = String::from_utf8(text).map_err(|_| Error::TokenMalformed)?;
    let payload = text.get(header_end..).ok_or(Error::TokenMalformed)?;
    let exp = get_time(&Object::scan(payload).ok_or(Error::TokenMalformed)?, "exp");
    Ok(Decoded {
        text,
        segment_len: h.len(),
        header_end,
        exp,
    })
}

impl Decoded {
    fn header_segment(&self) -> &str {
        self.text.get(..self.segment_len).unwrap_or_default()
    }

    /// The header parameters (built on each call).
    pub fn header(&self) -> Claims {
        Claims::parse(self.header_json().as_bytes()).unwrap_or_default()
    }

    /// The claims, in the token's order (built on each call).
    pub fn claims(&self) -> Claims {
        Claims::parse(self.payload_json().as_bytes()).unwrap_or_default()
    }

    /// The header as the token carries it: JSON text that passed the strict reader.
    pub fn header_json(&self) -> &str {
        self.text
            .get(self.segment_len..self.header_end)
            .unwrap_or_default()
    }

    /// The payload as the token carries it: JSON text that passed the strict reader.
    pub fn payload_json(&self) -> &str {
        self.text.get(self.header_end..).unwrap_or_default()
    }

    /// `exp`, if present and canonical.
    pub fn expires_at(&self) -> Result<Option<u64>, Error> {
        self.exp.transpose().map_err(|()| Error::ClaimInvalid)
    }

    /// `exp <= now - leeway`; a token without `exp` is an error, as in Simple JWT.
    pub fn is_expired(&self, now: u64, leeway: u64) -> Result<bool, Error> {
        let exp = self.expires_at()?.ok_or(Error::NoExp)?;
        Ok(exp.saturating_add(leeway) <= now)
    }

    /// Seconds until `exp` (0 once expired).
    pub fn seconds_left(&self, now: u64) -> Result<u64, Error> {
        let exp = self.expires_at()?.ok_or(Error::NoExp)?;
        Ok(exp.saturating_sub(now))
    }
}
