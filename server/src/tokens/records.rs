//! What the store keeps of an issued token, and what a token says of its user and its
//! issue time.

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tollgate_core::{Claims, Jti, Verified};

use crate::store::{Outstanding, StoredKind, User};

/// A UUIDv7 jti stamped `ms`: the instant the token counts as issued.
pub fn jti_at(ms: u64) -> Jti {
    let mut random = [0u8; 10];
    // getrandom only fails when the OS has no entropy source at all.
    let _ = getrandom::getrandom(&mut random);
    Jti::v7(ms, random)
}

/// The latest a sliding token (and every token slid from it) can still verify: a slide
/// is allowed until `refresh_exp` (+ leeway) and gives `exp = now + lifetime`, which
/// verifies until `exp + leeway`. Its records must outlive that.
pub fn sliding_expiry(refresh_exp: u64, settings: &tollgate_core::Settings) -> u64 {
    refresh_exp + 2 * settings.leeway() + settings.sliding_token_lifetime()
}

/// A user id claim in canonical decimal form: no sign, no leading zeros, no spaces.
pub fn canonical_user_id(raw: &str) -> Option<u64> {
    let canonical = !raw.is_empty()
        && raw.bytes().all(|b| b.is_ascii_digit())
        && (raw == "0" || !raw.starts_with('0'));
    canonical.then(|| raw.parse().ok()).flatten()
}

/// When a token was issued, in ms: exact for tollgate's UUIDv7 jtis, else from `iat`.
pub fn issued_ms(verified: &Verified) -> u64 {
    Jti::v7_unix_ms(verified.jti()).unwrap_or_else(|| {
        verified
            .claims()
            .get("iat")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            * 1000
    })
}

/// The user fields named in `token_claims`, in that order (missing attributes are left
/// out): the custom claims of every token minted for `user`.
pub fn custom_claims(token_claims: &[String], user: &User) -> Claims {
    let mut claims = Claims::new();
    for name in token_claims {
        if let Some(value) = user.field(name) {
            claims.set(name, value);
        }
    }
    claims
}

/// The record the store keeps for an issued refresh or sliding token (a family of its
/// own until [`crate::store::Store::rotate`] puts it in its predecessor's).
pub fn outstanding(
    token: &str,
    jti: &str,
    user_id: u64,
    kind: StoredKind,
    created_at_ms: u64,
    expires_at: u64,
) -> Outstanding {
    Outstanding {
        jti: jti.to_string(),
        user_id,
        kind,
        family: jti.to_string(),
        created_at_ms,
        expires_at,
        token_sha256: token_sha256(token),
    }
}

/// SHA-256 of a token's text, in hex: what the store keeps to identify it. For RS-PSS
/// (PS256/384/512), whose signatures carry a random salt, of its signing input
/// (`header.payload`) only: a successor minted again within the reuse interval then
/// matches, its new signature being as good as the first (revocation goes by jti, as for
/// ES256's two signatures of one token). Every other algorithm signs deterministically.
pub fn token_sha256(token: &str) -> String {
    let identified = if randomized_signature(token) {
        token.rsplit_once('.').map_or(token, |(input, _)| input)
    } else {
        token
    };
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(identified.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    hex
}

/// Whether the token's header names RSA-PSS (the core writes `alg` first).
fn randomized_signature(token: &str) -> bool {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .is_ok_and(|h| h.starts_with(br#"{"alg":"PS"#))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_in_canonical_form_only() {
        assert_eq!(canonical_user_id("1"), Some(1));
        assert_eq!(canonical_user_id("42"), Some(42));
        assert_eq!(canonical_user_id("0"), Some(0));
        for bad in [
            "",
            "01",
            " 1",
            "1 ",
            "+1",
            "-1",
            "1.0",
            "true",
            "١",
            "99999999999999999999999",
        ] {
            assert_eq!(canonical_user_id(bad), None, "{bad:?}");
        }
    }
}
