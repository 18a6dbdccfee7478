//! Minting: a [`Settings`]'s access, refresh and sliding tokens, signed with its key.

use alloc::{string::String, vec::Vec};

use serde_json::Value;

use super::{Jti, TokenKind, Verified, MAX_TOKEN_LEN};
use crate::{Claims, Error, Settings};

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
    /// Check [`Verifier::check_refresh_exp`](super::Verifier::check_refresh_exp) first.
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
