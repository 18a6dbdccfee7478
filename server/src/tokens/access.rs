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
    /// user of a valid token of one of `auth_token_classes` (tried in order, as Simple
    /// JWT's `get_validated_token`; every class's failure is reported), as stored now,
    /// and with `session_id_claim` the token's session, which must not have been revoked.
    pub async fn authenticate(&self, token: &[u8]) -> Result<Authenticated, Denied> {
        let classes = &self.config.auth_token_classes;
        let Ok(token) = std::str::from_utf8(token) else {
            let malformed = classes
                .iter()
                .map(|kind| (*kind, tollgate_core::Error::TokenMalformed));
            return Err(Denied::AccessToken(malformed.collect()));
        };
        let mut errors = Vec::new();
        let mut found = None;
        for kind in classes {
            match self.bearer_token(token, *kind).await {
                Ok(verified) => {
                    found = Some(verified);
                    break;
                }
                Err(Denied::Token(err)) => errors.push((*kind, err)),
                Err(other) => return Err(other),
            }
        }
        let Some(verified) = found else {
            return Err(Denied::AccessToken(errors));
        };
        let Some(raw) = verified.user_id() else {
            return Err(Denied::NoUserIdentification);
        };
        let id = canonical_user_id(raw).ok_or_else(|| {
            let kind = verified.kind().unwrap_or(TokenKind::Access);
            Denied::AccessToken(vec![(kind, tollgate_core::Error::ClaimInvalid)])
        })?;
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

    /// A Bearer token checked as a token of `kind`. An access token is stateless; a
    /// sliding token is asked about in the store on every request (its jti's blacklist
    /// entry, and its user's logout-all), so logging out ends a sliding session at once.
    async fn bearer_token(&self, token: &str, kind: TokenKind) -> Result<Verified, Denied> {
        if kind != TokenKind::Sliding {
            let in_force = self.keys.in_force();
            let verifier = in_force.verifier(token);
            if let Some(remote) = &self.remote {
                if let Some(outside) = self.outside_verifier(remote, verifier, token).await? {
                    return outside
                        .verify(token, Expect::Kind(kind), self.now(), |_| false)
                        .map_err(Denied::Token);
                }
            }
            return verifier
                .verify(token, Expect::Kind(kind), self.now(), |_| false)
                .map_err(Denied::Token);
        }
        let (verified, stored) = self.verify_stored(token, TokenKind::Sliding).await?;
        if let Some(user) = &stored.user {
            self.live_sliding(&verified, token, user, stored.outstanding)?;
        }
        Ok(verified)
    }

    /// With `jwk_url`: for a token whose `kid` none of the keys in force has, a verifier
    /// with `local`'s checks and the outside JWKS's keys (the configured algorithm's);
    /// `None` for the server's own tokens (no `kid`, or one of its keys'). A `kid` the
    /// JWKS lacks even after a refetch, or an endpoint that gives no keys, is "Token is
    /// invalid" (the endpoint's failure is logged).
    async fn outside_verifier(
        &self,
        remote: &crate::remote_jwks::RemoteJwks,
        local: &tollgate_core::Verifier,
        token: &str,
    ) -> Result<Option<tollgate_core::Verifier>, Denied> {
        let Ok(untrusted) = tollgate_core::Untrusted::parse(token) else {
            return Ok(None);
        };
        let Some(kid) = untrusted.kid() else {
            return Ok(None);
        };
        if local.keys().iter().any(|k| k.kid() == kid) {
            return Ok(None);
        }
        let unknown = Denied::Token(tollgate_core::Error::KeyUnknown);
        let keys = remote
            .keys_for(Some(kid), self.now_ms())
            .await
            .map_err(|_| Denied::Token(tollgate_core::Error::KeyUnknown))?;
        // The core tries a lone key whatever the kid says: the kid is checked here.
        let Some(key) = keys.iter().find(|k| k.kid() == kid) else {
            return Err(unknown);
        };
        local
            .with_keys(remote.algorithm(), vec![key.clone()])
            .map(Some)
            .map_err(|e| Denied::Internal(e.code()))
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
