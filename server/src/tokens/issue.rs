//! Issuing at login: a refresh and an access token (or one sliding token), recorded
//! before they are handed out.

use serde_json::Value;
use tollgate_core::{Claims, TokenKind};

use super::{
    records::{custom_claims, jti_at, outstanding, sliding_expiry},
    Denied, Tokens,
};
use crate::store::{Seen, StoredKind, User};

/// What a login hands out.
#[derive(Debug)]
pub enum Issued {
    /// `refresh_exp` is the refresh token's `exp` (a cookie's lifetime).
    Pair {
        refresh: String,
        access: String,
        refresh_exp: u64,
    },
    Sliding {
        token: String,
    },
}

impl Tokens {
    /// Mints the tokens of a login of `user` that counts from `at_ms` (after the
    /// password check) and records the refresh or sliding one, durably, with the user's
    /// `last_login` when configured and the client `seen` as the session's login. With
    /// `session_id_claim`, both tokens of a pair carry the session id (the refresh
    /// token's jti, which names its family).
    pub async fn issue(
        &self,
        user: &User,
        at_ms: u64,
        kind: TokenKind,
        seen: Option<&Seen>,
    ) -> Result<Issued, Denied> {
        let now = at_ms / 1000;
        let settings = self.settings();
        let user_id = user.id.to_string();
        let (record, issued) = if kind == TokenKind::Sliding {
            let token = settings.mint(
                TokenKind::Sliding,
                &user_id,
                &Claims::new(),
                now,
                jti_at(at_ms),
            )?;
            let refresh_exp = token
                .claims
                .get(&settings.claim_names().refresh_exp)
                .and_then(Value::as_u64)
                .unwrap_or(token.exp);
            let record = outstanding(
                &token.token,
                &token.jti,
                user.id,
                StoredKind::Sliding,
                at_ms,
                sliding_expiry(refresh_exp, &settings),
            );
            (record, Issued::Sliding { token: token.token })
        } else {
            let mut custom = custom_claims(&self.config.token_claims, user);
            let refresh_jti = jti_at(at_ms);
            if let Some(claim) = &self.config.session_id_claim {
                custom.set(claim, refresh_jti.to_hex());
            }
            let refresh = settings.mint(TokenKind::Refresh, &user_id, &custom, now, refresh_jti)?;
            let access = settings.mint(TokenKind::Access, &user_id, &custom, now, jti_at(at_ms))?;
            let record = outstanding(
                &refresh.token,
                &refresh.jti,
                user.id,
                StoredKind::Refresh,
                at_ms,
                refresh.exp,
            );
            let pair = Issued::Pair {
                refresh: refresh.token,
                access: access.token,
                refresh_exp: refresh.exp,
            };
            (record, pair)
        };
        let last_login = self.config.update_last_login.then_some(now as i64);
        self.store.record_login(&record, last_login, seen).await?;
        Ok(issued)
    }
}
