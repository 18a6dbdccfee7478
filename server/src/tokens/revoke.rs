//! Revoking: one refresh token (blacklist endpoint, logout), or every token of a user
//! (logout-all).

use tollgate_core::{Error as TokenError, TokenKind};

use super::{records::canonical_user_id, Denied, Tokens};
use crate::store::{BlacklistReason, Blacklisting, Revocation, StoredKind};

impl Tokens {
    /// Blacklists one refresh token (blacklist endpoint and logout), durably.
    pub async fn blacklist(&self, token: &str) -> Result<(), Denied> {
        let (verified, stored) = self.verify_stored(token, TokenKind::Refresh).await?;
        let user_id = verified.user_id().and_then(canonical_user_id).unwrap_or(0);
        let (record, _) = self.record_of(
            &verified,
            token,
            user_id,
            StoredKind::Refresh,
            stored.outstanding,
        );
        match self
            .store
            .blacklist(&record, BlacklistReason::Logout, self.now())
            .await?
        {
            Blacklisting::Done => Ok(()),
            Blacklisting::AlreadyBlacklisted(_) => Err(Denied::Token(TokenError::Blacklisted)),
        }
    }

    /// Revokes every refresh and sliding token of a user (logout-all), durably.
    pub async fn logout_all(&self, user_id: u64) -> Result<usize, Denied> {
        let stamp = self.now_ms();
        let revoked = self
            .store
            .revoke_user(user_id, Revocation::LogoutAll, stamp, |_| {})
            .await?;
        Ok(revoked)
    }
}
