//! Refreshing: a refresh token rotated into a new one (or an access token alone), a
//! sliding token slid; a rotated-out token presented again revokes its family.

use serde_json::Value;
use tollgate_core::{Error as TokenError, Expect, Jti, Pending, TokenKind, Verified};

use super::{
    records::{canonical_user_id, issued_ms, jti_at, outstanding, sliding_expiry, token_sha256},
    Denied, Tokens,
};
use crate::store::{
    BlacklistReason, Outstanding, RotateRule, Rotation, Seen, Stored, StoredKind, User,
};

/// The answer to a refresh: a new access token, and the rotated refresh token when
/// rotation is on.
#[derive(Debug)]
pub struct Refreshed {
    pub access: String,
    pub refresh: Option<Rotated>,
    /// The refresh token was rotated out moments ago and this is its successor again
    /// (the reuse interval), not a new one.
    pub grace: bool,
}

/// The refresh token that replaces the one presented, with its `exp` (a cookie's
/// lifetime).
#[derive(Debug)]
pub struct Rotated {
    pub token: String,
    pub exp: u64,
}

/// A refresh or sliding token that passed its checks, or a refresh token that passed
/// every check but that it was rotated out (presented again); with what the store held
/// about it when it was checked.
pub(super) enum Presented {
    Live(Verified, Stored),
    RotatedOut(Verified, Stored),
}

impl Tokens {
    /// Verifies a refresh or sliding token, asking the store's blacklist between the
    /// signature check and the remaining claim checks (Simple JWT's order). The same
    /// read fetches the token's user and record, for the caller (one round trip). A
    /// rotated-out token that fails another check too is a replay at once.
    async fn verify_presented(&self, token: &str, kind: TokenKind) -> Result<Presented, Denied> {
        let pending = self.pending(token, kind)?;
        self.presented(pending).await
    }

    /// A token's signature and registered claims checked, the store not asked yet.
    fn pending(&self, token: &str, kind: TokenKind) -> Result<Pending, Denied> {
        self.keys
            .in_force()
            .verifier(token)
            .verify_pending(token, Expect::Kind(kind), self.now())
            .map_err(Denied::Token)
    }

    /// [`Tokens::verify_presented`] once the signature was checked.
    async fn presented(&self, pending: Pending) -> Result<Presented, Denied> {
        let stored = match pending.jti() {
            Some(jti) => {
                let user_id = pending.user_id().and_then(canonical_user_id);
                self.store.presented(jti, user_id).await?
            }
            None => Stored::default(),
        };
        match &stored.blacklisted {
            Some(entry) if entry.reason == BlacklistReason::Rotated => {
                match pending.finish(false) {
                    Ok(verified) => Ok(Presented::RotatedOut(verified, stored)),
                    Err(_) => Err(self.replayed(&entry.jti).await?),
                }
            }
            entry => match pending.finish(entry.is_some()) {
                Ok(verified) => Ok(Presented::Live(verified, stored)),
                Err(err) => Err(Denied::Token(err)),
            },
        }
    }

    /// [`Tokens::verify_presented`] where a rotated-out token is always a replay.
    pub(super) async fn verify_stored(
        &self,
        token: &str,
        kind: TokenKind,
    ) -> Result<(Verified, Stored), Denied> {
        match self.verify_presented(token, kind).await? {
            Presented::Live(verified, stored) => Ok((verified, stored)),
            Presented::RotatedOut(verified, _) => Err(self.replayed(verified.jti()).await?),
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

    /// A rotated-out refresh token presented again (a second tab, a retry after a lost
    /// answer, or a thief): within the reuse interval and while its successor is
    /// unused, the same successor again, with a fresh access token; else a replay.
    async fn reused(&self, verified: &Verified, user: Option<User>) -> Result<Refreshed, Denied> {
        self.token_user(verified, user)?;
        self.grace_or_replay(verified).await
    }

    /// [`Tokens::reused`] once its user was found active.
    async fn grace_or_replay(&self, verified: &Verified) -> Result<Refreshed, Denied> {
        let interval_ms = self.config.refresh_reuse_interval.saturating_mul(1000);
        if interval_ms > 0 {
            let now_ms = self.now_ms();
            let successor = self
                .store
                .successor_in_grace(verified.jti(), now_ms, interval_ms)
                .await?;
            if let Some(successor) = successor {
                return self.handed_out_again(verified, &successor, now_ms);
            }
        }
        Err(self.replayed(verified.jti()).await?)
    }

    /// The successor `successor` of `verified`, minted again: rotation is a function
    /// of the token, the instant and the jti (signatures are deterministic: HMAC,
    /// Ed25519, ES256/ES384 with RFC 6979, ES512, RS*), so the same text comes out, and
    /// the store keeps no live token text. RSA-PSS salts are random: there the same
    /// header and claims come out under a new signature ([`token_sha256`] leaves PS*
    /// signatures out). The access token is a fresh one of the same claims:
    /// access tokens are not stored, and a copy of the first answer's would only have
    /// less of its lifetime left.
    fn handed_out_again(
        &self,
        verified: &Verified,
        successor: &Outstanding,
        now_ms: u64,
    ) -> Result<Refreshed, Denied> {
        let settings = self.settings();
        let jti = Jti::from_hex(&successor.jti);
        let again = jti
            .map(|jti| settings.rotate_refresh(verified, successor.created_at_ms / 1000, jti))
            .transpose()?
            .filter(|again| token_sha256(&again.token) == successor.token_sha256);
        let Some(again) = again else {
            // The signing key or settings changed since the rotation: the successor
            // cannot be given out again, and a new one would make two.
            tracing::warn!(family = %successor.family, "the successor of a rotated-out refresh token cannot be minted again (the signing key or token settings changed since)");
            return Err(Denied::Token(TokenError::Blacklisted));
        };
        let access = settings.access_from_refresh(verified, now_ms / 1000, jti_at(now_ms))?;
        Ok(Refreshed {
            access: access.token,
            refresh: Some(Rotated {
                token: again.token,
                exp: again.exp,
            }),
            grace: true,
        })
    }

    /// The user a refresh/sliding token belongs to (`user`: as the store held it), if
    /// it may still be used.
    fn token_user(&self, verified: &Verified, user: Option<User>) -> Result<User, Denied> {
        let Some(raw) = verified.user_id() else {
            return Err(Denied::NoActiveAccountForToken);
        };
        canonical_user_id(raw).ok_or(Denied::Token(TokenError::ClaimInvalid))?;
        match user {
            Some(user) if user.is_active || !self.config.check_user_is_active => Ok(user),
            _ => Err(Denied::NoActiveAccountForToken),
        }
    }

    /// The stored record of a verified token, or the one it would have had (a token
    /// from the Simple JWT site tollgate replaces; flushed tokens have expired), and
    /// whether the store knows it.
    pub(super) fn record_of(
        &self,
        verified: &Verified,
        token: &str,
        user_id: u64,
        kind: StoredKind,
        stored: Option<Outstanding>,
    ) -> (Outstanding, bool) {
        if let Some(record) = stored {
            return (record, true);
        }
        let expires_at = match kind {
            StoredKind::Refresh => verified.exp(),
            StoredKind::Sliding => verified
                .claims()
                .get(&self.settings().claim_names().refresh_exp)
                .and_then(Value::as_u64)
                .map_or(verified.exp(), |r| sliding_expiry(r, &self.settings())),
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
        (record, false)
    }

    /// `POST /api/token/refresh/`: a new access token, and with rotation a new refresh
    /// token that replaces this one (exactly one successor, durable before it is
    /// returned; the client `seen` becomes its session's last refresh).
    ///
    /// With rotation, a token that passed every check but the blacklist goes straight to
    /// the store's rotation, which asks the blacklist and the user itself (one round trip
    /// on PostgreSQL): the answer is the same as asking first, since the blacklist comes
    /// first in Simple JWT's order and is all that is left to decide.
    pub async fn refresh(&self, token: &str, seen: Option<&Seen>) -> Result<Refreshed, Denied> {
        let pending = self.pending(token, TokenKind::Refresh)?;
        let user_id = pending.user_id().and_then(canonical_user_id);
        if let Some(user_id) = user_id.filter(|_| {
            pending.passes_unless_blacklisted() && self.settings().rotate_refresh_tokens()
        }) {
            let verified = pending.finish(false).map_err(Denied::Token)?;
            let (old, _) = self.record_of(&verified, token, user_id, StoredKind::Refresh, None);
            return self.rotate_refresh(&verified, &old, user_id, seen).await;
        }
        // A check failed, or no rotation: the store is asked first, as Simple JWT does.
        let (verified, stored) = match self.presented(pending).await? {
            Presented::Live(verified, stored) => (verified, stored),
            Presented::RotatedOut(verified, stored) => {
                return self.reused(&verified, stored.user).await
            }
        };
        let user = self.token_user(&verified, stored.user)?;
        let (old, known) = self.record_of(
            &verified,
            token,
            user.id,
            StoredKind::Refresh,
            stored.outstanding,
        );
        if user.refresh_revoked(old.created_at_ms) {
            return Err(Denied::Token(TokenError::Blacklisted));
        }
        let settings = self.settings();
        if settings.rotate_refresh_tokens() {
            return self.rotate_refresh(&verified, &old, user.id, seen).await;
        }
        let now_ms = self.now_ms();
        let access = settings.access_from_refresh(&verified, now_ms / 1000, jti_at(now_ms))?;
        if !known {
            self.store.adopt(&old).await?;
        }
        Ok(Refreshed {
            access: access.token,
            refresh: None,
            grace: false,
        })
    }

    /// Rotates the verified refresh token `verified` (stored as `old`, or to be adopted
    /// so) into a new one: the store checks its blacklist entry, its user (active, when
    /// Simple JWT's `CHECK_USER_IS_ACTIVE` is on; not revoked since) and its family.
    async fn rotate_refresh(
        &self,
        verified: &Verified,
        old: &Outstanding,
        user_id: u64,
        seen: Option<&Seen>,
    ) -> Result<Refreshed, Denied> {
        let settings = self.settings();
        let now_ms = self.now_ms();
        let now = now_ms / 1000;
        let access = settings.access_from_refresh(verified, now, jti_at(now_ms))?;
        let rotated = settings.rotate_refresh(verified, now, jti_at(now_ms))?;
        let new = outstanding(
            &rotated.token,
            &rotated.jti,
            user_id,
            StoredKind::Refresh,
            now_ms,
            rotated.exp,
        );
        let rule = RotateRule {
            blacklist_old: settings.blacklist_after_rotation(),
            require_active: self.config.check_user_is_active,
        };
        match self.store.rotate(old, &new, rule, now, seen).await? {
            Rotation::Done => Ok(Refreshed {
                access: access.token,
                refresh: Some(Rotated {
                    token: rotated.token,
                    exp: rotated.exp,
                }),
                grace: false,
            }),
            // Rotated before (a second tab, a retry) or just now by a concurrent refresh;
            // the store found its user active.
            Rotation::AlreadyBlacklisted(BlacklistReason::Rotated) => {
                self.grace_or_replay(verified).await
            }
            Rotation::AlreadyBlacklisted(_) | Rotation::FamilyRevoked | Rotation::UserRevoked => {
                Err(Denied::Token(TokenError::Blacklisted))
            }
            Rotation::NoActiveUser => Err(Denied::NoActiveAccountForToken),
        }
    }

    /// The record of a sliding token of `user` (and whether the store knows it), unless
    /// the user logged out everywhere (or was revoked) since it was issued.
    pub(super) fn live_sliding(
        &self,
        verified: &Verified,
        token: &str,
        user: &User,
        stored: Option<Outstanding>,
    ) -> Result<(Outstanding, bool), Denied> {
        let (record, known) = self.record_of(verified, token, user.id, StoredKind::Sliding, stored);
        if user.refresh_revoked(record.created_at_ms) {
            return Err(Denied::Token(TokenError::Blacklisted));
        }
        Ok((record, known))
    }

    /// `POST /api/token/sliding/refresh/`: the same sliding token with a new `exp`.
    pub async fn refresh_sliding(&self, token: &str) -> Result<String, Denied> {
        let (verified, stored) = self.verify_stored(token, TokenKind::Sliding).await?;
        let settings = self.settings();
        settings
            .verifier()
            .check_refresh_exp(&verified, self.now())
            .map_err(Denied::Token)?;
        let user = self.token_user(&verified, stored.user)?;
        let (record, known) = self.live_sliding(&verified, token, &user, stored.outstanding)?;
        let slid = settings.refresh_sliding(&verified, self.now())?;
        if !known {
            self.store.adopt(&record).await?;
        }
        Ok(slid.token)
    }
}
