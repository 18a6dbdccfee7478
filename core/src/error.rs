//! The one error type of tollgate-core.
//!
//! Every failure has a stable [`Error::code`]: the server puts it in logs and metrics,
//! the npm package puts it on `TollgateError.code`. Codes are API and never change
//! meaning; the messages of token failures are Simple JWT's exact English texts, so the
//! server can answer with them unchanged.

use alloc::{borrow::Cow, string::String};
use core::fmt;

/// Everything that can go wrong in tollgate-core.
///
/// Token failures are deliberately coarse: everything that happens before the claims
/// are trusted says "Token is invalid" (the code tells a developer which check it was,
/// but nothing says which byte was wrong).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The token is longer than [`crate::MAX_TOKEN_LEN`]; nothing of it was parsed.
    TokenTooLarge,
    /// Not three canonical base64url segments holding a JSON object header and claims,
    /// or duplicate JSON keys, or invalid UTF-8.
    TokenMalformed,
    /// The header asks for something tollgate never does: `crit`, `b64`, `cty`,
    /// `zip`/`enc` (JWE), or a `typ` other than JWT.
    HeaderUnsupported,
    /// The header's `alg` is not the one algorithm the verifier is configured with.
    AlgorithmMismatch,
    /// The header names a `kid` the verifier has no key for.
    KeyUnknown,
    /// The signature does not verify with the configured key.
    SignatureInvalid,
    /// A registered claim has the wrong type or an out-of-range value
    /// (times must be integers between 0 and the end of year 9999).
    ClaimInvalid,
    /// `nbf` or `iat` lies in the future beyond the leeway.
    NotYetValid,
    /// The token's `aud` does not contain any configured audience.
    AudienceMismatch,
    /// The token's `iss` is not the configured issuer.
    IssuerMismatch,
    /// `exp <= now - leeway`.
    Expired,
    /// `now - iat` is more than the verifier's `max_token_age` (plus leeway).
    TooOld,
    /// `exp - iat` (or a sliding token's refresh-expiry claim minus `iat`) is more than
    /// the verifier's `max_lifetime`; without `iat`, `exp - now` is (beyond the leeway).
    LifetimeTooLong,
    /// The caller's blacklist holds the token's jti.
    Blacklisted,
    /// No `exp` claim.
    NoExp,
    /// No jti claim.
    NoId,
    /// No token type claim.
    NoType,
    /// The token type is not the expected one.
    WrongType,
    /// A sliding token without its refresh-expiry claim (the claim's name is kept for
    /// the message).
    NoRefreshExp(String),
    /// A sliding token whose refresh-expiry claim has passed.
    RefreshExpExpired(String),
    /// A claim the verifier was configured to require is absent.
    ClaimMissing(String),
    /// A key that is too short, empty, or an HMAC secret that is really a PEM key.
    WeakKey,
    /// Key material that cannot be parsed (bad PEM, JWK, length or curve point).
    KeyInvalid,
    /// A key (or JWK) for another algorithm than the configured one.
    KeyAlgorithmMismatch,
    /// An algorithm name tollgate does not support (`none` included).
    AlgorithmUnsupported,
    /// A setting with an invalid value; the text names it.
    SettingInvalid(&'static str),
    /// A custom claim would overwrite a claim tollgate manages (`exp`, `jti`, ...).
    ClaimReserved(String),
    /// The token that would be minted is larger than [`crate::MAX_TOKEN_LEN`].
    ClaimsTooLarge,
    /// The operation needs a signing key but the settings only have a verifying key.
    NoSigningKey,
}

impl Error {
    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TokenTooLarge => "token_too_large",
            Self::TokenMalformed => "token_malformed",
            Self::HeaderUnsupported => "token_header_unsupported",
            Self::AlgorithmMismatch => "token_algorithm_mismatch",
            Self::KeyUnknown => "token_key_unknown",
            Self::SignatureInvalid => "token_signature_invalid",
            Self::ClaimInvalid => "token_claim_invalid",
            Self::NotYetValid => "token_not_yet_valid",
            Self::AudienceMismatch => "token_audience_mismatch",
            Self::IssuerMismatch => "token_issuer_mismatch",
            Self::Expired => "token_expired",
            Self::TooOld => "token_too_old",
            Self::LifetimeTooLong => "token_lifetime_too_long",
            Self::Blacklisted => "token_blacklisted",
            Self::NoExp => "token_no_exp",
            Self::NoId => "token_no_id",
            Self::NoType => "token_no_type",
            Self::WrongType => "token_wrong_type",
            Self::NoRefreshExp(_) => "token_no_refresh_exp",
            Self::RefreshExpExpired(_) => "token_refresh_exp_expired",
            Self::ClaimMissing(_) => "token_claim_missing",
            Self::WeakKey => "key_weak",
            Self::KeyInvalid => "key_invalid",
            Self::KeyAlgorithmMismatch => "key_algorithm_mismatch",
            Self::AlgorithmUnsupported => "algorithm_unsupported",
            Self::SettingInvalid(_) => "setting_invalid",
            Self::ClaimReserved(_) => "claim_reserved",
            Self::ClaimsTooLarge => "claims_too_large",
            Self::NoSigningKey => "no_signing_key",
        }
    }

    /// True for the errors a token (rather than a key or setting) causes: the ones the
    /// server answers with `401 token_not_valid`.
    pub fn is_token_error(&self) -> bool {
        self.code().starts_with("token_")
    }

    /// Every error code, for tests that check a mapping table is total.
    pub const ALL_CODES: &'static [&'static str] = &[
        "token_too_large",
        "token_malformed",
        "token_header_unsupported",
        "token_algorithm_mismatch",
        "token_key_unknown",
        "token_signature_invalid",
        "token_claim_invalid",
        "token_not_yet_valid",
        "token_audience_mismatch",
        "token_issuer_mismatch",
        "token_expired",
        "token_too_old",
        "token_lifetime_too_long",
        "token_blacklisted",
        "token_no_exp",
        "token_no_id",
        "token_no_type",
        "token_wrong_type",
        "token_no_refresh_exp",
        "token_refresh_exp_expired",
        "token_claim_missing",
        "key_weak",
        "key_invalid",
        "key_algorithm_mismatch",
        "algorithm_unsupported",
        "setting_invalid",
        "claim_reserved",
        "claims_too_large",
        "no_signing_key",
    ];
}

impl Error {
    /// The human-readable message (what `Display` writes), built without `core::fmt`:
    /// the WebAssembly validator sends it to JS with the code, and formatting machinery
    /// is size there (BENCHMARKS.md, "the validator's size, third round").
    pub fn message(&self) -> Cow<'static, str> {
        let text = match self {
            Self::TokenTooLarge
            | Self::TokenMalformed
            | Self::HeaderUnsupported
            | Self::AlgorithmMismatch
            | Self::KeyUnknown
            | Self::SignatureInvalid
            | Self::ClaimInvalid
            | Self::NotYetValid
            | Self::AudienceMismatch
            | Self::IssuerMismatch
            | Self::TooOld
            | Self::LifetimeTooLong => "Token is invalid",
            Self::Expired => "Token is expired",
            Self::Blacklisted => "Token is blacklisted",
            Self::NoExp => "Token has no 'exp' claim",
            Self::NoId => "Token has no id",
            Self::NoType => "Token has no type",
            Self::WrongType => "Token has wrong type",
            Self::NoRefreshExp(claim) | Self::ClaimMissing(claim) => {
                return ["Token has no '", claim, "' claim"].concat().into()
            }
            Self::RefreshExpExpired(claim) => {
                return ["Token '", claim, "' claim has expired"].concat().into()
            }
            Self::WeakKey => {
                "key is too weak (HMAC secrets need at least as many bytes as the hash output; \
                 PEM text is not an HMAC secret; RSA keys need 2048 bits; an Ed25519 key \
                 must not be of small order)"
            }
            Self::KeyInvalid => "key material cannot be parsed",
            Self::KeyAlgorithmMismatch => "key does not belong to the algorithm",
            Self::AlgorithmUnsupported => {
                "unsupported algorithm (use HS256, HS384, HS512, EdDSA, ES256, ES384, ES512, \
                     RS256, RS384, RS512, PS256, PS384 or PS512)"
            }
            Self::SettingInvalid(what) => return ["invalid setting: ", what].concat().into(),
            Self::ClaimReserved(claim) => {
                return [
                    "claim '",
                    claim,
                    "' is managed by tollgate and cannot be set",
                ]
                .concat()
                .into()
            }
            Self::ClaimsTooLarge => "claims make the token larger than 8 KiB",
            Self::NoSigningKey => "no signing key configured",
        };
        Cow::Borrowed(text)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_codes_is_complete_and_unique() {
        let mut codes = alloc::vec::Vec::from(Error::ALL_CODES);
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Error::ALL_CODES.len());
        assert!(Error::ALL_CODES.contains(&Error::NoSigningKey.code()));
        assert!(Error::ALL_CODES.contains(&Error::NoRefreshExp(String::new()).code()));
    }
}
