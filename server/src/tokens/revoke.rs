//! Revoking: one refresh token (blacklist endpoint, logout), or every token of a user
//! (logout-all).

use tollgate_core::{Error as TokenError, TokenKind};

use super::{records::canonical_user_id, Denied, Tokens};
use crate::store::{BlacklistReason, Blacklisting, Revocation, StoredKind};

impl Tokens {
    /// Blacklists one refresh token (blacklist endpoint and logout), durably.
    pub async fn blacklist(&self, token: &str) -> Result<(), Denied> {
        self.blacklist_kind(token, TokenKind::Refresh).await
    }

    /// Logout's blacklist: a refresh token, or, when sliding tokens authenticate requests
    /// (`auth_token_classes`), the sliding token of a sliding session.
    pub async fn logout(&self, token: &str) -> Result<(), Denied> {
        let sliding = self.config.auth_token_classes.contains(&TokenKind::Sliding);
        match self.blacklist_kind(token, TokenKind::Refresh).await {
            Err(Denied::Token(TokenError::WrongType)) if sliding => {
                self.blacklist_kind(token, TokenKind::Sliding).await
            }
            other => other,
        }
    }

    async fn blacklist_kind(&self, token: &str, kind: TokenKind) -> Result<(), Denied> {
        let (verified, stored) = self.verify_stored(token, kind).await?;
        let stored_kind = match kind {
            TokenKind::Sliding => StoredKind::Sliding,
            _ => StoredKind::Refresh,
        };
        let user_id = verified.user_id().and_then(canonical_user_id).unwrap_or(0);
        let (record, _) =
            self.record_of(&verified, token, user_id, stored_kind, stored.outstanding);
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
