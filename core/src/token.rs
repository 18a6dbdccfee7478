//! Parse, verify, mint: the life of a token inside tollgate-core.
//!
//! `Untrusted::parse(&str)` checks only the envelope (size, segments, base64url, header).
//! `Verifier::verify` turns it into a [`Verified`] token in Simple JWT's order: signature
//! with the configured algorithm, registered claims, caller's blacklist, `exp` present,
//! jti present, token type. Claims of a token are only reachable from [`Verified`] (or,
//! deliberately named, from [`Decoded`] for clients that just display them).

use alloc::{
    string::{String, ToString as _},
    vec::Vec,
};

use serde_json::Value;

use crate::{
    claims::canonical_time, json::Object, settings::VerifierSettings, Algorithm, Claims, Error,
    Settings, VerifyingKey,
};

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

/// A token whose envelope parsed; nothing in it is trusted yet.
#[derive(Debug)]
pub struct Untrusted<'a> {
    signed: &'a str,
    header_json: String,
    alg: String,
    kid: Option<String>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

fn b64(segment: &str) -> Result<Vec<u8>, Error> {
    crate::b64::decode(segment.as_bytes()).ok_or(Error::TokenMalformed)
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

/// A header segment that passed [`check_header`].
struct Header {
    json: String,
    alg: String,
    kid: Option<String>,
}

/// Decodes and checks a header segment without building it (claims are built only
/// for a verified token, or on request from a decoded one).
fn check_header(segment: &str) -> Result<Header, Error> {
    let json = String::from_utf8(b64(segment)?).map_err(|_| Error::TokenMalformed)?;
    let header = Object::scan(&json).ok_or(Error::TokenMalformed)?;
    let get = |name: &str| header.get(name);
    let alg = match get("alg") {
        Some(Value::String(alg)) => alg,
        _ => return Err(Error::TokenMalformed),
    };
    let kid = match get("kid") {
        None => None,
        Some(Value::String(kid)) if kid.len() <= MAX_ID_LEN => Some(kid),
        Some(_) => return Err(Error::TokenMalformed),
    };
    match get("typ") {
        None => {}
        Some(Value::String(typ)) if typ.eq_ignore_ascii_case("JWT") => {}
        Some(_) => return Err(Error::HeaderUnsupported),
    }
    // `crit` asks for extensions we do not implement; `b64`, `cty`, `zip`, `enc` change
    // what the signature or payload means. `jku`, `jwk`, `x5u`, `x5c` are ignored:
    // keys come from configuration only.
    let unsupported = ["crit", "b64", "cty", "zip", "enc"];
    if header.keys().any(|key| unsupported.contains(&key)) {
        return Err(Error::HeaderUnsupported);
    }
    drop(header);
    Ok(Header { json, alg, kid })
}

impl<'a> Untrusted<'a> {
    /// Checks size, the three base64url segments (canonical: no padding, no stray bits)
    /// and the header. Does not look at the claims.
    pub fn parse(token: &'a str) -> Result<Self, Error> {
        let (h, p, s) = segments(token)?;
        let header = check_header(h)?;
        Ok(Self {
            signed: &token[..h.len() + 1 + p.len()],
            header_json: header.json,
            alg: header.alg,
            kid: header.kid,
            payload: b64(p)?,
            signature: b64(s)?,
        })
    }

    /// The `alg` the token claims (not trusted; the verifier's configuration decides).
    pub fn alg(&self) -> &str {
        &self.alg
    }

    /// The `kid` the token names, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}

/// A token whose signature and claims have been checked.
///
/// The claims were checked in place (the strict reader, then each claim the checks need
/// read on its own); the whole set is built only on request, since authenticating a
/// request needs no more than the user id.
#[derive(Debug, Clone)]
pub struct Verified {
    header_json: String,
    payload_json: String,
    kind: Option<TokenKind>,
    jti: Option<String>,
    user_id: Option<String>,
    exp: u64,
}

impl Verified {
    /// The header parameters (built on each call).
    pub fn header(&self) -> Claims {
        let header = Claims::parse(self.header_json.as_bytes());
        // The text passed the same reader's checks when the token was verified.
        debug_assert!(header.is_some());
        header.unwrap_or_default()
    }

    /// The claims, in the token's order (built on each call).
    pub fn claims(&self) -> Claims {
        let claims = Claims::parse(self.payload_json.as_bytes());
        debug_assert!(claims.is_some());
        claims.unwrap_or_default()
    }

    /// The header exactly as signed: JSON text that passed the strict reader.
    pub fn header_json(&self) -> &str {
        &self.header_json
    }

    /// The payload exactly as signed: JSON text that passed the strict reader (so it
    /// means what [`Verified::claims`] says), for handing on without re-serializing.
    pub fn payload_json(&self) -> &str {
        &self.payload_json
    }

    /// The token kind named by its type claim.
    pub fn kind(&self) -> Option<TokenKind> {
        self.kind
    }

    /// The jti (always present after verification).
    pub fn jti(&self) -> &str {
        self.jti.as_deref().unwrap_or_default()
    }

    /// The user id claim, if present (a string; its meaning is the caller's).
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// `exp`, epoch seconds (always present after verification).
    pub fn exp(&self) -> u64 {
        self.exp
    }
}

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

    /// [`Verifier::verify`] in two steps, for a blacklist the caller has to wait for
    /// (a database across a network): the signature and registered claims are checked
    /// here; [`Pending::finish`] takes the blacklist's answer about [`Pending::jti`] and
    /// makes the remaining checks, in Simple JWT's order (blacklist, `exp`, jti, type).
    pub fn verify_pending(&self, token: &str, expect: Expect, now: u64) -> Result<Pending, Error> {
        let token = Untrusted::parse(token)?;
        let checks = self.check_untrusted(&token, expect, now)?;
        Ok(Pending {
            checks,
            header_json: token.header_json,
            payload: token.payload,
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
        let listed = checks.jti.as_deref().is_some_and(is_blacklisted);
        let checked = checks.finish(listed)?;
        Ok(checked.with_json(token.header_json.clone(), token.payload.clone()))
    }

    fn check_untrusted(
        &self,
        token: &Untrusted<'_>,
        expect: Expect,
        now: u64,
    ) -> Result<Checks, Error> {
        let s = &self.settings;
        if token.alg != s.algorithm.name() {
            return Err(Error::AlgorithmMismatch);
        }
        let message = token.signed.as_bytes();
        let signed_ok = match token.kid() {
            Some(kid) if s.keys.len() > 1 => s
                .keys
                .iter()
                .find(|k| k.kid() == kid)
                .ok_or(Error::KeyUnknown)?
                .verify(message, &token.signature),
            // One key (as Simple JWT, which ignores `kid`) or no `kid`: try each key.
            _ => s.keys.iter().any(|k| k.verify(message, &token.signature)),
        };
        if !signed_ok {
            return Err(Error::SignatureInvalid);
        }
        let payload = core::str::from_utf8(&token.payload).map_err(|_| Error::TokenMalformed)?;
        let claims = Object::scan(payload).ok_or(Error::TokenMalformed)?;
        self.check(&claims, expect, now)
    }

    fn check(&self, claims: &Object<'_>, expect: Expect, now: u64) -> Result<Checks, Error> {
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
            if iss.as_ref() != Some(expected) {
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
        let user_id = user_id(claims, &names.user_id)?;

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
                (Expect::Kind(kind), Ok(Some(t))) if t != kind.name() => Some(Error::WrongType),
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
                .as_deref()
                .and_then(TokenKind::from_name),
            jti,
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
        let payload = Object::scan(&token.payload_json).ok_or(Error::TokenMalformed)?;
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

/// What [`Verifier::check`] found in a token's claims; the JSON texts come after.
struct Checked {
    kind: Option<TokenKind>,
    jti: String,
    user_id: Option<String>,
    exp: u64,
}

/// The outcome of every check but the blacklist: the claims they read, and the first
/// check after the blacklist that failed.
#[derive(Debug)]
struct Checks {
    kind: Option<TokenKind>,
    jti: Option<String>,
    user_id: Option<String>,
    exp: u64,
    deferred: Option<Error>,
}

impl Checks {
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
            jti: self.jti.unwrap_or_default(),
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
    header_json: String,
    payload: Vec<u8>,
}

impl Pending {
    /// The jti to look up in the blacklist (absent: nothing to look up, and
    /// [`Pending::finish`] fails with [`Error::NoId`] or an earlier check).
    pub fn jti(&self) -> Option<&str> {
        self.checks.jti.as_deref()
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
        self.checks.user_id.as_deref()
    }

    /// The verified token, given whether the blacklist holds [`Pending::jti`]; else
    /// the first failing check in Simple JWT's order (blacklist, `exp`, jti, type,
    /// required claims).
    pub fn finish(self, blacklisted: bool) -> Result<Verified, Error> {
        let checked = self.checks.finish(blacklisted)?;
        Ok(checked.with_json(self.header_json, self.payload))
    }
}

impl Checked {
    /// The verified token, `payload` being the bytes the strict reader accepted.
    fn with_json(self, header_json: String, payload: Vec<u8>) -> Verified {
        Verified {
            header_json,
            // The strict reader accepted these bytes, so they are UTF-8.
            payload_json: String::from_utf8(payload).unwrap_or_default(),
            kind: self.kind,
            jti: Some(self.jti),
            user_id: self.user_id,
            exp: self.exp,
        }
    }
}

/// A time claim in canonical form: an integer from 0 to [`crate::MAX_TIME`].
/// `Some(Err(()))` means present but not canonical.
fn get_time(claims: &Object<'_>, name: &str) -> Option<Result<u64, ()>> {
    claims.get(name).map(|v| canonical_time(&v).ok_or(()))
}

/// The user id claim: a string like any id, or a non-negative JSON integer (minted by
/// Simple JWT versions that kept integer ids; Django looks it up as the same user), given
/// as its decimal string.
fn user_id(claims: &Object<'_>, name: &str) -> Result<Option<String>, Error> {
    match claims.get(name) {
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|id| Some(id.to_string()))
            .ok_or(Error::ClaimInvalid),
        _ => optional_string(claims, name),
    }
}

/// A claim that, if present, must be a non-empty string of bounded length.
fn optional_string(claims: &Object<'_>, name: &str) -> Result<Option<String>, Error> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_ID_LEN => Ok(Some(s)),
        Some(_) => Err(Error::ClaimInvalid),
    }
}

fn check_audience(claims: &Object<'_>, expected: Option<&crate::Audience>) -> Result<(), Error> {
    let aud = claims.get("aud");
    let found: Vec<&str> = match &aud {
        None => Vec::new(),
        Some(Value::String(one)) => alloc::vec![one.as_str()],
        Some(Value::Array(many)) => many
            .iter()
            .map(|v| v.as_str().ok_or(Error::ClaimInvalid))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(Error::ClaimInvalid),
    };
    match expected {
        Some(expected) if !found.iter().any(|aud| expected.contains(aud)) => {
            Err(Error::AudienceMismatch)
        }
        _ => Ok(()),
    }
}

/// A freshly minted token with the facts a store needs.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The compact JWS.
    pub token: String,
    /// Its jti.
    pub jti: String,
    /// Its `iat`.
    pub iat: u64,
    /// Its `exp`.
    pub exp: u64,
    /// Its claims, in order.
    pub claims: Claims,
}

impl Settings {
    /// Mints a token for `user_id` with `custom` claims appended (in their order), like
    /// Simple JWT's `Token.for_user` plus a `get_token` override. Sliding tokens get the
    /// refresh-expiry claim.
    pub fn mint(
        &self,
        kind: TokenKind,
        user_id: &str,
        custom: &Claims,
        now: u64,
        jti: Jti,
    ) -> Result<Issued, Error> {
        let names = self.claim_names();
        if let Some((name, _)) = custom.iter().find(|(name, _)| names.is_reserved(name)) {
            return Err(Error::ClaimReserved(name.into()));
        }
        let mut claims = self.fresh_claims(kind, now, jti)?;
        if kind == TokenKind::Sliding {
            let refresh_exp = now + self.sliding_token_refresh_lifetime;
            claims.set(&names.refresh_exp, refresh_exp);
        }
        claims.set(&names.user_id, user_id);
        for (name, value) in custom.iter() {
            claims.set(name, value.clone());
        }
        self.sign(claims, now)
    }

    /// The access token of a verified refresh token: every claim copied except type,
    /// `exp`, `iat` and jti, which are new.
    pub fn access_from_refresh(
        &self,
        refresh: &Verified,
        now: u64,
        jti: Jti,
    ) -> Result<Issued, Error> {
        expect_kind(refresh, TokenKind::Refresh)?;
        let names = self.claim_names();
        let mut claims = self.fresh_claims(TokenKind::Access, now, jti)?;
        for (name, value) in refresh.claims().iter() {
            if name != names.token_type && name != "exp" && name != "iat" && name != names.jti {
                claims.set(name, value.clone());
            }
        }
        self.sign(claims, now)
    }

    /// The rotated successor of a verified refresh token: the same claims in the same
    /// order, with a new jti, `exp` and `iat`.
    pub fn rotate_refresh(&self, refresh: &Verified, now: u64, jti: Jti) -> Result<Issued, Error> {
        expect_kind(refresh, TokenKind::Refresh)?;
        let mut claims = refresh.claims();
        claims.set(&self.claim_names().jti, jti.to_hex());
        claims.set("exp", self.expiry(TokenKind::Refresh, now)?);
        claims.set("iat", now);
        self.sign(claims, now)
    }

    /// A refreshed sliding token: same jti and refresh-expiry, new `exp` and `iat`.
    /// Check [`Verifier::check_refresh_exp`] first.
    pub fn refresh_sliding(&self, sliding: &Verified, now: u64) -> Result<Issued, Error> {
        expect_kind(sliding, TokenKind::Sliding)?;
        let mut claims = sliding.claims();
        claims.set("exp", self.expiry(TokenKind::Sliding, now)?);
        claims.set("iat", now);
        self.sign(claims, now)
    }

    fn expiry(&self, kind: TokenKind, now: u64) -> Result<u64, Error> {
        let lifetime = match kind {
            TokenKind::Access => self.access_token_lifetime,
            TokenKind::Refresh => self.refresh_token_lifetime,
            TokenKind::Sliding => self.sliding_token_lifetime,
        };
        now.checked_add(lifetime)
            .filter(|exp| *exp <= crate::claims::MAX_TIME)
            .ok_or(Error::SettingInvalid("now + lifetime is past year 9999"))
    }

    /// `{type, exp, iat, jti}`: the order Simple JWT's `Token.__init__` creates.
    fn fresh_claims(&self, kind: TokenKind, now: u64, jti: Jti) -> Result<Claims, Error> {
        let names = self.claim_names();
        Ok(Claims::new()
            .with(&names.token_type, kind.name())
            .with("exp", self.expiry(kind, now)?)
            .with("iat", now)
            .with(&names.jti, jti.to_hex()))
    }

    fn sign(&self, mut claims: Claims, now: u64) -> Result<Issued, Error> {
        let key = self.signing_key.as_ref().ok_or(Error::NoSigningKey)?;
        let v = &self.verifier.settings;
        // Simple JWT's TokenBackend.encode sets these last (in place if copied over).
        if let Some(audience) = &v.audience {
            claims.set("aud", audience.to_value());
        }
        if let Some(issuer) = &v.issuer {
            claims.set("iss", issuer.as_str());
        }
        let mut payload = Vec::with_capacity(256);
        claims.write_json(&mut payload);
        let mut buf = Vec::with_capacity(self.header_b64.len() + 2 * payload.len() + 100);
        buf.extend_from_slice(self.header_b64.as_bytes());
        buf.push(b'.');
        append_b64(&mut buf, &payload);
        let signature = key.sign(&buf);
        buf.push(b'.');
        append_b64(&mut buf, &signature);
        // base64url output is ASCII.
        let token = String::from_utf8(buf).map_err(|_| Error::ClaimsTooLarge)?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::ClaimsTooLarge);
        }
        let names = &v.claims;
        let jti = claims.get_str(&names.jti).unwrap_or_default().into();
        let exp = claims
            .get("exp")
            .and_then(Value::as_u64)
            .unwrap_or_default();
        Ok(Issued {
            token,
            jti,
            iat: now,
            exp,
            claims,
        })
    }
}

fn append_b64(buf: &mut Vec<u8>, bytes: &[u8]) {
    crate::b64::encode_into(bytes, buf);
}

fn expect_kind(token: &Verified, kind: TokenKind) -> Result<(), Error> {
    if token.kind == Some(kind) {
        Ok(())
    } else {
        Err(Error::WrongType)
    }
}

/// A token's header and claims read WITHOUT checking the signature: for clients that
/// display a token or schedule its refresh, never for authorization.
///
/// The payload is checked exactly as a verification would read it (strict JSON, no
/// duplicate keys), but claims are only built when asked for: displaying a token needs
/// its text, scheduling a refresh needs `exp`.
#[derive(Debug, Clone)]
pub struct Decoded {
    header_segment: String,
    header_json: String,
    payload_json: String,
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
    let header_json = match previous {
        Some(previous) if previous.header_segment == h => previous.header_json.clone(),
        _ => check_header(h)?.json,
    };
    let payload_json = String::from_utf8(b64(p)?).map_err(|_| Error::TokenMalformed)?;
    b64(s)?;
    let payload = Object::scan(&payload_json).ok_or(Error::TokenMalformed)?;
    let exp = get_time(&payload, "exp");
    drop(payload);
    Ok(Decoded {
        header_segment: h.into(),
        header_json,
        payload_json,
        exp,
    })
}

impl Decoded {
    /// The header parameters (built on each call).
    pub fn header(&self) -> Claims {
        Claims::parse(self.header_json.as_bytes()).unwrap_or_default()
    }

    /// The claims, in the token's order (built on each call).
    pub fn claims(&self) -> Claims {
        Claims::parse(self.payload_json.as_bytes()).unwrap_or_default()
    }

    /// The header as the token carries it: JSON text that passed the strict reader.
    pub fn header_json(&self) -> &str {
        &self.header_json
    }

    /// The payload as the token carries it: JSON text that passed the strict reader.
    pub fn payload_json(&self) -> &str {
        &self.payload_json
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
