//! Sessions: a user's token families, listed and ended as devices.

use tollgate_core::{Expect, TokenKind};

use super::{records::canonical_user_id, Denied, Tokens};
use crate::store::Session;

impl Tokens {
    /// The user's live sessions, newest login first.
    pub async fn sessions(&self, user_id: u64) -> Result<Vec<Session>, Denied> {
        Ok(self.store.sessions(user_id, self.now()).await?)
    }

    /// Ends one of the user's sessions, durably: every token of it is refused from now
    /// on (its access tokens too, with `session_id_claim`). An id that is not one of the
    /// user's sessions is [`Denied::SessionNotFound`], whether it exists or not.
    pub async fn revoke_session(&self, user_id: u64, id: &str) -> Result<(), Denied> {
        match self.store.family(id).await? {
            Some(family) if family.user_id == user_id => {}
            _ => return Err(Denied::SessionNotFound),
        }
        self.store.revoke_session(id, self.now()).await?;
        Ok(())
    }

    /// Ends every live session of the user but `keep`, durably; how many were ended.
    pub async fn revoke_other_sessions(&self, user_id: u64, keep: &str) -> Result<usize, Denied> {
        let mut revoked = 0;
        for session in self.store.sessions(user_id, self.now()).await? {
            if session.id != keep {
                self.store.revoke_session(&session.id, self.now()).await?;
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    /// The session a refresh token of `user_id` belongs to, to tell which is the
    /// caller's: its family as stored (its own jti for a token the store never saw). A
    /// token of another user does not say.
    pub async fn session_of(&self, user_id: u64, token: &str) -> Result<String, Denied> {
        let verified = self
            .keys
            .in_force()
            .verifier(token)
            .verify(token, Expect::Kind(TokenKind::Refresh), self.now(), |_| {
                false
            })
            .map_err(Denied::Token)?;
        if verified.user_id().and_then(canonical_user_id) != Some(user_id) {
            return Err(Denied::SessionUnknown);
        }
        Ok(match self.store.outstanding(verified.jti()).await? {
            Some(record) => record.family,
            None => verified.jti().to_string(),
        })
    }
}
