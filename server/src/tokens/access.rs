//! Checking tokens that are not stored: an access token authenticating a request, and
//! any token at the verify endpoint.

use std::sync::Arc;

use tollgate_core::{Expect, TokenKind, Verified};

use super::{
    records::{canonical_user_id, issued_ms},
    Denied, Tokens,
};
use crate::store::User;

/// A request's authenticated user, and the session its access token names (with
/// `session_id_claim`).
#[derive(Debug)]
pub struct Authenticated {
    pub user: Arc<User>,
    pub session: Option<String>,
}

impl Tokens {
    /// Simple JWT's `JWTAuthentication` once the Bearer token is out of its header: the
    /// user of a valid access token, as stored now, and with `session_id_claim` the
    /// token's session, which must not have been revoked.
    pub async fn authenticate(&self, token: &[u8]) -> Result<Authenticated, Denied> {
        let token = std::str::from_utf8(token)
            .map_err(|_| Denied::AccessToken(tollgate_core::Error::TokenMalformed))?;
        let verified = self
            .keys
            .in_force()
            .verifier(token)
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
        let session = match &self.config.session_id_claim {
            Some(claim) => self.live_session(&verified, claim, user.id).await?,
            None => None,
        };
        Ok(Authenticated { user, session })
    }

    /// The session id a token carries in `claim`, if its session is live (not revoked
    /// nor gone); a token without the claim (minted before the setting, or adopted) has
    /// none.
    async fn live_session(
        &self,
        verified: &Verified,
        claim: &str,
        user_id: u64,
    ) -> Result<Option<String>, Denied> {
        let claims = verified.claims();
        let Some(id) = claims.get(claim) else {
            return Ok(None);
        };
        let id = id.as_str().ok_or(Denied::SessionRevoked)?;
        match self.store.family(id).await? {
            Some(family) if family.revoked_at.is_none() && family.user_id == user_id => {
                Ok(Some(id.to_string()))
            }
            _ => Err(Denied::SessionRevoked),
        }
    }

    /// `POST /api/token/verify/`: any token type, no user lookup; a blacklisted one is
    /// refused when rotation blacklists.
    pub async fn verify(&self, token: &str) -> Result<(), Denied> {
        let verified = self
            .keys
            .in_force()
            .verifier(token)
            .verify(token, Expect::Untyped, self.now(), |_| false)
            .map_err(Denied::Token)?;
        if self.settings().blacklist_after_rotation()
            && self.store.blacklisted(verified.jti()).await?.is_some()
        {
            return Err(Denied::VerifyBlacklisted);
        }
        Ok(())
    }
}
