//! Settings as typed data, named after Simple JWT's `SIMPLE_JWT` keys in lower case.
//!
//! Raw values go into [`SettingsBuilder`]; [`SettingsBuilder::build`] validates them once
//! (weak keys, empty claim names, zero lifetimes) and returns [`Settings`], which cannot
//! be in an invalid state afterwards.

use alloc::{string::String, vec::Vec};
use core::fmt;

use base64ct::{Base64UrlUnpadded, Encoding as _};

use crate::{Algorithm, Error, SigningKey, VerifyingKey};

/// The expected audience(s): a single string or a list, encoded in tokens as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// `"aud": "api"`.
    One(String),
    /// `"aud": ["api", "admin"]`.
    Many(Vec<String>),
}

impl Audience {
    pub(crate) fn contains(&self, aud: &str) -> bool {
        match self {
            Self::One(one) => one == aud,
            Self::Many(many) => many.iter().any(|a| a == aud),
        }
    }

    pub(crate) fn to_value(&self) -> serde_json::Value {
        match self {
            Self::One(one) => one.as_str().into(),
            Self::Many(many) => many.iter().map(String::as_str).collect(),
        }
    }

    fn validate(&self) -> Result<(), Error> {
        let ok = match self {
            Self::One(one) => !one.is_empty(),
            Self::Many(many) => !many.is_empty() && many.iter().all(|a| !a.is_empty()),
        };
        ok.then_some(())
            .ok_or(Error::SettingInvalid("audience must be non-empty strings"))
    }
}

/// Names of the claims Simple JWT lets you rename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    /// `USER_ID_CLAIM`, default `user_id`.
    pub user_id: String,
    /// `TOKEN_TYPE_CLAIM`, default `token_type`.
    pub token_type: String,
    /// `JTI_CLAIM`, default `jti`.
    pub jti: String,
    /// `SLIDING_TOKEN_REFRESH_EXP_CLAIM`, default `refresh_exp`.
    pub refresh_exp: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            user_id: "user_id".into(),
            token_type: "token_type".into(),
            jti: "jti".into(),
            refresh_exp: "refresh_exp".into(),
        }
    }
}

/// Claims tollgate sets itself; custom claims may not use these names.
pub(crate) const REGISTERED: [&str; 5] = ["exp", "iat", "nbf", "aud", "iss"];

impl ClaimNames {
    fn validate(&self) -> Result<(), Error> {
        let names = [
            self.user_id.as_str(),
            self.token_type.as_str(),
            self.jti.as_str(),
            self.refresh_exp.as_str(),
        ];
        if names.iter().any(|n| n.is_empty() || n.len() > 64) {
            return Err(Error::SettingInvalid(
                "claim names must be 1 to 64 bytes long",
            ));
        }
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) || REGISTERED.contains(name) {
                return Err(Error::SettingInvalid(
                    "claim names must differ from each other and from exp/iat/nbf/aud/iss",
                ));
            }
        }
        Ok(())
    }

    /// True if `name` is managed by tollgate (and so not a custom claim).
    pub fn is_reserved(&self, name: &str) -> bool {
        REGISTERED.contains(&name)
            || name == self.user_id
            || name == self.token_type
            || name == self.jti
            || name == self.refresh_exp
    }
}

/// How a [`crate::Verifier`] checks tokens: everything except the signing side.
#[derive(Debug, Clone)]
pub struct VerifierSettings {
    pub(crate) algorithm: Algorithm,
    pub(crate) keys: Vec<VerifyingKey>,
    pub(crate) leeway: u64,
    pub(crate) audience: Option<Audience>,
    pub(crate) issuer: Option<String>,
    pub(crate) claims: ClaimNames,
    pub(crate) required: Vec<String>,
    pub(crate) max_token_age: Option<u64>,
    pub(crate) max_lifetime: Option<u64>,
}

/// Most leeway accepted: a day. More is almost certainly a unit mistake.
pub const MAX_LEEWAY: u64 = 86_400;
/// Longest token lifetime accepted: ten years.
pub const MAX_LIFETIME: u64 = 10 * 366 * 86_400;

/// Validated settings of an issuer (the server): verifier settings plus signing key,
/// lifetimes and rotation policy.
#[derive(Clone)]
pub struct Settings {
    pub(crate) verifier: crate::Verifier,
    pub(crate) signing_key: Option<SigningKey>,
    pub(crate) header_b64: String,
    pub(crate) access_token_lifetime: u64,
    pub(crate) refresh_token_lifetime: u64,
    pub(crate) sliding_token_lifetime: u64,
    pub(crate) sliding_token_refresh_lifetime: u64,
    pub(crate) rotate_refresh_tokens: bool,
    pub(crate) blacklist_after_rotation: bool,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keys print redacted through their own Debug.
        f.debug_struct("Settings")
            .field("verifier", &self.verifier)
            .field("signing_key", &self.signing_key)
            .field("access_token_lifetime", &self.access_token_lifetime)
            .field("refresh_token_lifetime", &self.refresh_token_lifetime)
            .field("sliding_token_lifetime", &self.sliding_token_lifetime)
            .field(
                "sliding_token_refresh_lifetime",
                &self.sliding_token_refresh_lifetime,
            )
            .field("rotate_refresh_tokens", &self.rotate_refresh_tokens)
            .field("blacklist_after_rotation", &self.blacklist_after_rotation)
            .finish()
    }
}

impl Settings {
    /// Starts from Simple JWT's defaults with this signing key (HMAC: the secret).
    pub fn builder(signing_key: SigningKey) -> SettingsBuilder {
        SettingsBuilder::new(signing_key)
    }

    /// The verifier these settings imply.
    pub fn verifier(&self) -> &crate::Verifier {
        &self.verifier
    }

    /// The configured algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.verifier.settings.algorithm
    }

    /// The signing key.
    pub fn signing_key(&self) -> Option<&SigningKey> {
        self.signing_key.as_ref()
    }

    /// Claim names in use.
    pub fn claim_names(&self) -> &ClaimNames {
        &self.verifier.settings.claims
    }

    /// `ACCESS_TOKEN_LIFETIME` in seconds.
    pub fn access_token_lifetime(&self) -> u64 {
        self.access_token_lifetime
    }

    /// `REFRESH_TOKEN_LIFETIME` in seconds.
    pub fn refresh_token_lifetime(&self) -> u64 {
        self.refresh_token_lifetime
    }

    /// `SLIDING_TOKEN_LIFETIME` in seconds.
    pub fn sliding_token_lifetime(&self) -> u64 {
        self.sliding_token_lifetime
    }

    /// `SLIDING_TOKEN_REFRESH_LIFETIME` in seconds.
    pub fn sliding_token_refresh_lifetime(&self) -> u64 {
        self.sliding_token_refresh_lifetime
    }

    /// `ROTATE_REFRESH_TOKENS`.
    pub fn rotate_refresh_tokens(&self) -> bool {
        self.rotate_refresh_tokens
    }

    /// `BLACKLIST_AFTER_ROTATION`.
    pub fn blacklist_after_rotation(&self) -> bool {
        self.blacklist_after_rotation
    }

    /// `LEEWAY` in seconds.
    pub fn leeway(&self) -> u64 {
        self.verifier.settings.leeway
    }

    /// The longest lifetime a verified token may have, in seconds (see
    /// [`SettingsBuilder::max_token_lifetime`]).
    pub fn max_token_lifetime(&self) -> u64 {
        self.verifier.settings.max_lifetime.unwrap_or(MAX_LIFETIME)
    }

    /// These settings with other keys (a server's key set changed): `signing_key` signs,
    /// it and `others` verify, and minted tokens carry the signing key's `kid` when
    /// `include_kid`. Every key must be of the signing key's algorithm.
    pub fn with_keys(
        &self,
        signing_key: SigningKey,
        others: Vec<VerifyingKey>,
        include_kid: bool,
    ) -> Result<Settings, Error> {
        let algorithm = signing_key.algorithm();
        let mut keys = Vec::with_capacity(1 + others.len());
        keys.push(signing_key.verifying_key());
        keys.extend(others);
        let mut verifier_settings = self.verifier.settings.clone();
        verifier_settings.algorithm = algorithm;
        verifier_settings.keys = keys;
        let verifier = crate::Verifier::new(verifier_settings)?;
        let header_b64 = header_b64(algorithm, include_kid.then(|| signing_key.kid()));
        Ok(Settings {
            verifier,
            signing_key: Some(signing_key),
            header_b64,
            ..self.clone()
        })
    }
}

/// Raw settings, validated by [`SettingsBuilder::build`].
#[derive(Clone)]
pub struct SettingsBuilder {
    signing_key: SigningKey,
    extra_verifying_keys: Vec<VerifyingKey>,
    include_kid: bool,
    access_token_lifetime: u64,
    refresh_token_lifetime: u64,
    sliding_token_lifetime: u64,
    sliding_token_refresh_lifetime: u64,
    rotate_refresh_tokens: bool,
    blacklist_after_rotation: bool,
    leeway: u64,
    audience: Option<Audience>,
    issuer: Option<String>,
    claims: ClaimNames,
    max_token_lifetime: Option<u64>,
}

impl fmt::Debug for SettingsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SettingsBuilder")
            .field("signing_key", &self.signing_key)
            .finish_non_exhaustive()
    }
}

impl SettingsBuilder {
    /// Simple JWT's defaults: access 30 min, refresh 3 days, sliding 5 min, sliding
    /// refresh 1 day, rotation and blacklist-after-rotation on, leeway 0.
    pub fn new(signing_key: SigningKey) -> Self {
        Self {
            signing_key,
            extra_verifying_keys: Vec::new(),
            include_kid: false,
            access_token_lifetime: 30 * 60,
            refresh_token_lifetime: 3 * 86_400,
            sliding_token_lifetime: 5 * 60,
            sliding_token_refresh_lifetime: 86_400,
            rotate_refresh_tokens: true,
            blacklist_after_rotation: true,
            leeway: 0,
            audience: None,
            issuer: None,
            claims: ClaimNames::default(),
            max_token_lifetime: None,
        }
    }

    /// `ACCESS_TOKEN_LIFETIME` in seconds.
    pub fn access_token_lifetime(mut self, secs: u64) -> Self {
        self.access_token_lifetime = secs;
        self
    }

    /// `REFRESH_TOKEN_LIFETIME` in seconds.
    pub fn refresh_token_lifetime(mut self, secs: u64) -> Self {
        self.refresh_token_lifetime = secs;
        self
    }

    /// `SLIDING_TOKEN_LIFETIME` in seconds.
    pub fn sliding_token_lifetime(mut self, secs: u64) -> Self {
        self.sliding_token_lifetime = secs;
        self
    }

    /// `SLIDING_TOKEN_REFRESH_LIFETIME` in seconds.
    pub fn sliding_token_refresh_lifetime(mut self, secs: u64) -> Self {
        self.sliding_token_refresh_lifetime = secs;
        self
    }

    /// `ROTATE_REFRESH_TOKENS`.
    pub fn rotate_refresh_tokens(mut self, on: bool) -> Self {
        self.rotate_refresh_tokens = on;
        self
    }

    /// `BLACKLIST_AFTER_ROTATION`.
    pub fn blacklist_after_rotation(mut self, on: bool) -> Self {
        self.blacklist_after_rotation = on;
        self
    }

    /// `LEEWAY` in seconds.
    pub fn leeway(mut self, secs: u64) -> Self {
        self.leeway = secs;
        self
    }

    /// `AUDIENCE`: put into minted tokens and required of verified ones.
    pub fn audience(mut self, audience: Option<Audience>) -> Self {
        self.audience = audience;
        self
    }

    /// `ISSUER`: put into minted tokens and required of verified ones.
    pub fn issuer(mut self, issuer: Option<String>) -> Self {
        self.issuer = issuer;
        self
    }

    /// Renamed claims (`USER_ID_CLAIM`, `TOKEN_TYPE_CLAIM`, `JTI_CLAIM`,
    /// `SLIDING_TOKEN_REFRESH_EXP_CLAIM`).
    pub fn claim_names(mut self, claims: ClaimNames) -> Self {
        self.claims = claims;
        self
    }

    /// The longest lifetime (`exp - iat`, and a sliding token's refresh-expiry minus
    /// `iat`) a verified token may have. `None` (the default): the longest of the four
    /// configured lifetimes, so a validly signed token these settings would never mint
    /// (`exp` in year 9999) is refused. It may not be shorter than that: the issuer
    /// would refuse its own tokens.
    pub fn max_token_lifetime(mut self, secs: Option<u64>) -> Self {
        self.max_token_lifetime = secs;
        self
    }

    /// Older keys still accepted for verification while keys rotate.
    pub fn previous_keys(mut self, keys: Vec<VerifyingKey>) -> Self {
        self.extra_verifying_keys = keys;
        self
    }

    /// Put the signing key's `kid` in the header of minted tokens (on when keys rotate).
    /// Off by default: Simple JWT's header is exactly `{"alg":..,"typ":"JWT"}`.
    pub fn include_kid(mut self, on: bool) -> Self {
        self.include_kid = on;
        self
    }

    /// Validates everything once.
    pub fn build(self) -> Result<Settings, Error> {
        let lifetimes = [
            self.access_token_lifetime,
            self.refresh_token_lifetime,
            self.sliding_token_lifetime,
            self.sliding_token_refresh_lifetime,
        ];
        if lifetimes.iter().any(|l| *l == 0 || *l > MAX_LIFETIME) {
            return Err(Error::SettingInvalid(
                "token lifetimes must be between 1 second and 10 years",
            ));
        }
        let longest = lifetimes.into_iter().max().unwrap_or(MAX_LIFETIME);
        let max_lifetime = self.max_token_lifetime.unwrap_or(longest);
        if max_lifetime < longest {
            return Err(Error::SettingInvalid(
                "max_token_lifetime must be at least the longest token lifetime (or the issuer refuses its own tokens)",
            ));
        }
        let algorithm = self.signing_key.algorithm();
        let mut keys = Vec::with_capacity(1 + self.extra_verifying_keys.len());
        keys.push(self.signing_key.verifying_key());
        keys.extend(self.extra_verifying_keys);
        let verifier = crate::Verifier::new(VerifierSettings {
            algorithm,
            keys,
            leeway: self.leeway,
            audience: self.audience,
            issuer: self.issuer,
            claims: self.claims,
            required: Vec::new(),
            max_token_age: None,
            max_lifetime: Some(max_lifetime),
        })?;
        let header_b64 = header_b64(algorithm, self.include_kid.then(|| self.signing_key.kid()));
        Ok(Settings {
            verifier,
            signing_key: Some(self.signing_key),
            header_b64,
            access_token_lifetime: self.access_token_lifetime,
            refresh_token_lifetime: self.refresh_token_lifetime,
            sliding_token_lifetime: self.sliding_token_lifetime,
            sliding_token_refresh_lifetime: self.sliding_token_refresh_lifetime,
            rotate_refresh_tokens: self.rotate_refresh_tokens,
            blacklist_after_rotation: self.blacklist_after_rotation,
        })
    }
}

impl VerifierSettings {
    /// Verifier settings for one key, with Simple JWT's defaults (leeway 0, no audience,
    /// no issuer, default claim names).
    pub fn new(key: VerifyingKey) -> Self {
        Self {
            algorithm: key.algorithm(),
            keys: alloc::vec![key],
            leeway: 0,
            audience: None,
            issuer: None,
            claims: ClaimNames::default(),
            required: Vec::new(),
            max_token_age: None,
            max_lifetime: None,
        }
    }

    /// Several keys of one algorithm (a JWKS): tokens with a `kid` use the matching key.
    pub fn with_keys(algorithm: Algorithm, keys: Vec<VerifyingKey>) -> Self {
        Self {
            algorithm,
            keys,
            leeway: 0,
            audience: None,
            issuer: None,
            claims: ClaimNames::default(),
            required: Vec::new(),
            max_token_age: None,
            max_lifetime: None,
        }
    }

    /// `LEEWAY` in seconds.
    pub fn leeway(mut self, secs: u64) -> Self {
        self.leeway = secs;
        self
    }

    /// Required audience(s).
    pub fn audience(mut self, audience: Option<Audience>) -> Self {
        self.audience = audience;
        self
    }

    /// Required issuer.
    pub fn issuer(mut self, issuer: Option<String>) -> Self {
        self.issuer = issuer;
        self
    }

    /// Renamed claims.
    pub fn claim_names(mut self, claims: ClaimNames) -> Self {
        self.claims = claims;
        self
    }

    /// Claims a token must carry (checked last, after the token type).
    pub fn required_claims(mut self, required: Vec<String>) -> Self {
        self.required = required;
        self
    }

    /// Refuse tokens issued more than `secs` ago (`now - iat`, beyond the leeway) with
    /// [`Error::TooOld`]. A token without `iat` cannot show its age and is refused with
    /// [`Error::ClaimMissing`] (`iat`) under this policy.
    pub fn max_token_age(mut self, secs: Option<u64>) -> Self {
        self.max_token_age = secs;
        self
    }

    /// Refuse tokens meant to live longer than `secs` with [`Error::LifetimeTooLong`]:
    /// `exp - iat`, and a sliding token's refresh-expiry claim minus `iat`. Without
    /// `iat` the token was issued at `now` at the latest, so `exp - now` (beyond the
    /// leeway) is the bound checked.
    pub fn max_lifetime(mut self, secs: Option<u64>) -> Self {
        self.max_lifetime = secs;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.keys.is_empty() {
            return Err(Error::SettingInvalid(
                "at least one verifying key is needed",
            ));
        }
        if self.keys.iter().any(|k| k.algorithm() != self.algorithm) {
            return Err(Error::KeyAlgorithmMismatch);
        }
        if self.leeway > MAX_LEEWAY {
            return Err(Error::SettingInvalid("leeway must be at most one day"));
        }
        if let Some(audience) = &self.audience {
            audience.validate()?;
        }
        if self.issuer.as_deref() == Some("") {
            return Err(Error::SettingInvalid("issuer must not be empty"));
        }
        let policy = [self.max_token_age, self.max_lifetime];
        if policy
            .into_iter()
            .flatten()
            .any(|s| s == 0 || s > MAX_LIFETIME)
        {
            return Err(Error::SettingInvalid(
                "max token age and max lifetime must be between 1 second and 10 years",
            ));
        }
        if self.required.iter().any(|c| c.is_empty() || c.len() > 64) {
            return Err(Error::SettingInvalid(
                "required claims are 1 to 64 bytes long",
            ));
        }
        self.claims.validate()
    }
}

/// `base64url({"alg":"..","typ":"JWT"})`, keys sorted as PyJWT sorts them.
fn header_b64(algorithm: Algorithm, kid: Option<&str>) -> String {
    let mut header = crate::Claims::new().with("alg", algorithm.name());
    if let Some(kid) = kid {
        header.set("kid", kid);
    }
    header.set("typ", "JWT");
    Base64UrlUnpadded::encode_string(header.to_json().as_bytes())
}
