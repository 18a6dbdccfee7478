//! Token policy: what issuing, refreshing, verifying and revoking a token means, on top
//! of the core (signing, claims) and the store (records). No HTTP and no backend here:
//! handlers call one method per endpoint and map [`Denied`] to an answer.

mod access;
mod issue;
pub mod records;
mod refresh;
mod revoke;
mod sessions;

use std::sync::Arc;

use serde_json::Value;

use crate::{
    clock::Clock,
    config::Config,
    keyset::LiveKeys,
    store::{Store, StoreError},
};

pub use access::Authenticated;
pub use issue::Issued;
pub use refresh::{Refreshed, Rotated};

/// What a Bearer token failed as each token class that may authenticate requests.
pub type ClassErrors = Vec<(tollgate_core::TokenKind, tollgate_core::Error)>;

/// Why a token operation was refused (or could not be carried out).
#[derive(Debug)]
#[non_exhaustive]
pub enum Denied {
    /// A refresh, sliding or verified token failed its checks (Simple JWT's message).
    Token(tollgate_core::Error),
    /// A rotated-out refresh token was presented again: its family was revoked. To the
    /// client it is a blacklisted token.
    Replayed,
    /// The user of a refresh or sliding token is gone or inactive.
    NoActiveAccountForToken,
    /// `verify` of a blacklisted token.
    VerifyBlacklisted,
    /// The Bearer token failed as every class of `auth_token_classes` (an access token
    /// by default): each class's failure, in order.
    AccessToken(ClassErrors),
    /// A valid access token without a (canonical) user id claim.
    NoUserIdentification,
    UserNotFound,
    UserInactive,
    /// The access token was issued before a password change or deactivation.
    PasswordChanged,
    /// The access token's session (`session_id_claim`) was revoked.
    SessionRevoked,
    /// No session of the caller has this id.
    SessionNotFound,
    /// Which session is the caller's cannot be told (no session claim, no refresh token).
    SessionUnknown,
    /// The store failed: nothing was acknowledged.
    Store(StoreError),
    /// A fault of the server's own data or configuration, with the core's code.
    Internal(&'static str),
}

impl From<StoreError> for Denied {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<tollgate_core::Error> for Denied {
    /// A token's fault is the client's; anything else (say, user attributes that make a
    /// token larger than 8 KiB) is the server's.
    fn from(err: tollgate_core::Error) -> Self {
        if err.is_token_error() {
            Self::Token(err)
        } else {
            Self::Internal(err.code())
        }
    }
}

/// The token service: configuration, store and clock, shared by every request.
pub struct Tokens {
    config: Arc<Config>,
    store: Store,
    clock: Clock,
    /// The keys in force: the configured ones, or the store's key set.
    keys: Arc<LiveKeys>,
    /// `jwk_url`'s keys, for Bearer tokens none of the keys in force signed.
    remote: Option<crate::remote_jwks::RemoteJwks>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").finish_non_exhaustive()
    }
}

impl Tokens {
    /// `clock` is the server's (monotonic) clock.
    pub fn new(config: Arc<Config>, store: Store, clock: Clock) -> Self {
        let keys = Arc::new(LiveKeys::new(
            config.tokens.clone(),
            config.key_encryption_key.clone(),
            config
                .signing_key_rotation
                .map(|secs| secs.saturating_mul(1000)),
            crate::keyset::publish_ahead_ms(config.tokens.algorithm(), config.jwks_max_age),
            config.allowed_algorithms.clone(),
            store.clone(),
        ));
        let remote = config.jwk_url.as_ref().map(|(url, shown)| {
            crate::remote_jwks::RemoteJwks::new(url.clone(), shown, config.tokens.algorithm())
        });
        Self {
            config,
            store,
            clock,
            keys,
            remote,
        }
    }

    /// The keys in force, shared with the task that reloads them and the admin socket.
    pub fn keys(&self) -> &Arc<LiveKeys> {
        &self.keys
    }

    /// The token settings in force (their keys follow the stored key set).
    fn settings(&self) -> Arc<tollgate_core::Settings> {
        self.keys.settings()
    }

    fn now_ms(&self) -> u64 {
        (self.clock)()
    }

    fn now(&self) -> u64 {
        self.now_ms() / 1000
    }

    /// The public keys of the verifying keys in force, as JWKs (none for HMAC).
    pub fn public_jwks(&self) -> Vec<Value> {
        self.keys
            .in_force()
            .keys()
            .filter_map(|k| k.to_public_jwk())
            .collect()
    }
}
