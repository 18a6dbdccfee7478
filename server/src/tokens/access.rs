//! Checking tokens that are not stored: an access token authenticating a request, and
//! any token at the verify endpoint.

use std::sync::Arc;

use tollgate_core::{Expect, TokenKind};

use super::{
    records::{canonical_user_id, issued_ms},
    Denied, Tokens,
};
use crate::store::User;

impl Tokens {
    /// Simple JWT's `JWTAuthentication` once the Bearer token is out of its header: the
    /// user of a valid access token, as stored now.
    pub async fn authenticate(&self, token: &[u8]) -> Result<Arc<User>, Denied> {
        let token = std::str::from_utf8(token)
            .map_err(|_| Denied::AccessToken(tollgate_core::Error::TokenMalformed))?;
        let verified = self
            .config
            .tokens
            .verifier()
            .verify(token, Expect::Kind(TokenKind::Access), self.now(), |_| {
                false
            })
            .map_err(Denied::AccessToken)?;
        let Some(raw) = verified.user_id() else {
            return Err(Denied::NoUserIdentification);
        };
        let id = canonical_user_id(raw)
            .ok_or(Denied::AccessToken(tollgate_core::Error::ClaimInvalid))?;
        let user = self
            .store
            .user_shared(id)
            .await?
            .ok_or(Denied::UserNotFound)?;
        if self.config.check_user_is_active && !user.is_active {
            return Err(Denied::UserInactive);
        }
        if self.config.check_revoke_token && issued_ms(&verified) < user.access_revoked_before_ms {
            return Err(Denied::PasswordChanged);
        }
        Ok(user)
    }

    /// `POST /api/token/verify/`: any token type, no user lookup; a blacklisted one is
    /// refused when rotation blacklists.
    pub async fn verify(&self, token: &str) -> Result<(), Denied> {
        let verified = self
            .config
            .tokens
            .verifier()
            .verify(token, Expect::Untyped, self.now(), |_| false)
            .map_err(Denied::Token)?;
        if self.config.tokens.blacklist_after_rotation()
            && self.store.blacklisted(verified.jti()).await?.is_some()
        {
            return Err(Denied::VerifyBlacklisted);
        }
        Ok(())
    }
}
