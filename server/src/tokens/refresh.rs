//! Refreshing: a refresh token rotated into a new one (or an access token alone), a
//! sliding token slid; a rotated-out token presented again revokes its family.

use serde_json::Value;
use tollgate_core::{Error as TokenError, Expect, TokenKind, Verified};

use super::{
    records::{canonical_user_id, issued_ms, jti_at, outstanding, sliding_expiry},
    Denied, Tokens,
};
use crate::store::{BlacklistReason, Outstanding, Rotation, StoredKind, User};

/// The answer to a refresh: a new access token, and the rotated refresh token when
/// rotation is on.
#[derive(Debug)]
pub struct Refreshed {
    pub access: String,
    pub refresh: Option<Rotated>,
}

/// The refresh token that replaces the one presented, with its `exp` (a cookie's
/// lifetime).
#[derive(Debug)]
pub struct Rotated {
    pub token: String,
    pub exp: u64,
}

impl Tokens {
    /// Verifies a refresh or sliding token, asking the store's blacklist between the
    /// signature check and the remaining claim checks (Simple JWT's order); a replayed
    /// rotated-out refresh token revokes its whole family.
    pub(super) async fn verify_stored(
        &self,
        token: &str,
        kind: TokenKind,
    ) -> Result<Verified, Denied> {
        let pending = self
            .config
            .tokens
            .verifier()
            .verify_pending(token, Expect::Kind(kind), self.now())
            .map_err(Denied::Token)?;
        let entry = match pending.jti() {
            Some(jti) => self.store.blacklisted(jti).await?,
            None => None,
        };
        let rotated = entry
            .as_ref()
            .filter(|e| e.reason == BlacklistReason::Rotated)
            .map(|e| e.jti.clone());
        match pending.finish(entry.is_some()) {
            Err(TokenError::Blacklisted) => match rotated {
                Some(jti) => Err(self.replayed(&jti).await?),
                None => Err(Denied::Token(TokenError::Blacklisted)),
            },
            Err(err) => Err(Denied::Token(err)),
            Ok(verified) => Ok(verified),
        }
    }

    /// A rotated-out token came back: revokes its family (when reuse detection is on)
    /// and says how to answer.
    async fn replayed(&self, jti: &str) -> Result<Denied, Denied> {
        if !self.config.reuse_detection {
            return Ok(Denied::Token(TokenError::Blacklisted));
        }
        let Some((record, revoked)) = self.store.revoke_family_of(jti, self.now()).await? else {
            return Ok(Denied::Token(TokenError::Blacklisted));
        };
        tracing::warn!(family = %record.family, user_id = record.user_id, revoked, "refresh token replay: family revoked");
        Ok(Denied::Replayed)
    }

    /// The user a refresh/sliding token belongs to, if it may still be used.
    async fn token_user(&self, verified: &Verified) -> Result<User, Denied> {
        let Some(raw) = verified.user_id() else {
            return Err(Denied::NoActiveAccountForToken);
        };
        let id = canonical_user_id(raw).ok_or(Denied::Token(TokenError::ClaimInvalid))?;
        match self.store.user(id).await? {
            Some(user) if user.is_active || !self.config.check_user_is_active => Ok(user),
            _ => Err(Denied::NoActiveAccountForToken),
        }
    }

    /// The stored record of a verified token, or the one it would have had (a token
    /// from the Simple JWT site tollgate replaces; flushed tokens have expired), and
    /// whether the store knows it.
    pub(super) async fn record_of(
        &self,
        verified: &Verified,
        token: &str,
        user_id: u64,
        kind: StoredKind,
    ) -> Result<(Outstanding, bool), Denied> {
        if let Some(record) = self.store.outstanding(verified.jti()).await? {
            return Ok((record, true));
        }
        let expires_at = match kind {
            StoredKind::Refresh => verified.exp(),
            StoredKind::Sliding => verified
                .claims()
                .get(&self.config.tokens.claim_names().refresh_exp)
                .and_then(Value::as_u64)
                .map_or(verified.exp(), |r| sliding_expiry(r, &self.config.tokens)),
        };
        let created_at_ms = issued_ms(verified);
        let record = outstanding(
            token,
            verified.jti(),
            user_id,
            kind,
            created_at_ms,
            expires_at,
        );
        Ok((record, false))
    }

    /// `POST /api/token/refresh/`: a new access token, and with rotation a new refresh
    /// token that replaces this one (exactly one successor, durable before it is
    /// returned).
    pub async fn refresh(&self, token: &str) -> Result<Refreshed, Denied> {
        let verified = self.verify_stored(token, TokenKind::Refresh).await?;
        let user = self.token_user(&verified).await?;
        let (old, known) = self
            .record_of(&verified, token, user.id, StoredKind::Refresh)
            .await?;
        if old.created_at_ms < user.refresh_revoked_before_ms {
            return Err(Denied::Token(TokenError::Blacklisted));
        }
        let settings = &self.config.tokens;
        let now_ms = self.now_ms();
        let now = now_ms / 1000;
        let access = settings.access_from_refresh(&verified, now, jti_at(now_ms))?;
        if !settings.rotate_refresh_tokens() {
            if !known {
                self.store.adopt(&old).await?;
            }
            return Ok(Refreshed {
                access: access.token,
                refresh: None,
            });
        }
        let rotated = settings.rotate_refresh(&verified, now, jti_at(now_ms))?;
        let new = outstanding(
            &rotated.token,
            &rotated.jti,
            user.id,
            StoredKind::Refresh,
            now_ms,
            rotated.exp,
        );
        let blacklist_old = settings.blacklist_after_rotation();
        match self.store.rotate(&old, &new, blacklist_old, now).await? {
            Rotation::Done => Ok(Refreshed {
                access: access.token,
                refresh: Some(Rotated {
                    token: rotated.token,
                    exp: rotated.exp,
                }),
            }),
            Rotation::AlreadyBlacklisted(BlacklistReason::Rotated) => {
                Err(self.replayed(&old.jti).await?)
            }
            Rotation::AlreadyBlacklisted(_) | Rotation::FamilyRevoked | Rotation::UserRevoked => {
                Err(Denied::Token(TokenError::Blacklisted))
            }
        }
    }

    /// `POST /api/token/sliding/refresh/`: the same sliding token with a new `exp`.
    pub async fn refresh_sliding(&self, token: &str) -> Result<String, Denied> {
        let verified = self.verify_stored(token, TokenKind::Sliding).await?;
        let settings = &self.config.tokens;
        settings
            .verifier()
            .check_refresh_exp(&verified, self.now())
            .map_err(Denied::Token)?;
        let user = self.token_user(&verified).await?;
        let (record, known) = self
            .record_of(&verified, token, user.id, StoredKind::Sliding)
            .await?;
        if record.created_at_ms < user.refresh_revoked_before_ms {
            return Err(Denied::Token(TokenError::Blacklisted));
        }
        let slid = settings.refresh_sliding(&verified, self.now())?;
        if !known {
            self.store.adopt(&record).await?;
        }
        Ok(slid.token)
    }
}
