//! The server's signing-key set (issue #16): keys kept in the store so that replicas
//! share them, each with a kid, an algorithm and a state (next -> current -> previous ->
//! retired, or revoked), their private halves sealed under the key-encryption key of the
//! configuration ([`Kek`]). This module holds the life of a key (add, rotate, revoke) on
//! top of the store's one atomic change ([`Store::update_signing_keys`], which also
//! enforces the rules: states only move forward, one current key).
//!
//! With no stored key set the configured `signing_key` signs exactly as before.

pub mod conformance;
mod kek;
pub mod live;
mod material;

use std::fmt;

use tollgate_core::{Algorithm, SigningKey};

pub use kek::Kek;
pub use live::{LiveKeys, RELOAD_EVERY};
pub use material::{generate_key_text, parse_key_text};

use crate::store::{KeyState, Store, StoreError, StoredKey};

/// Why a key-set operation failed, with a stable code.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyError {
    /// No key has this kid.
    Unknown(String),
    /// The configuration does not allow keys of this algorithm.
    AlgorithmNotAllowed(String),
    /// No `key_encryption_key` is configured: stored keys cannot be sealed or opened.
    NoKek,
    /// A stored key does not open under the configured key-encryption key (another
    /// key, or a record changed behind the server's back).
    Unsealable(String),
    /// Fresh key material could not be made.
    Generate(String),
    /// The stored keys do not make usable token settings.
    Unusable(String),
    /// A rotation to a public key nobody has been shown yet: `keys add` publishes one.
    NoNext,
    /// The next key was published too recently for caches of the JWKS to hold it.
    NextTooRecent {
        kid: String,
        signs_from_ms: u64,
    },
    Store(StoreError),
}

impl KeyError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unknown(_) => "key_unknown",
            Self::AlgorithmNotAllowed(_) => "key_algorithm_not_allowed",
            Self::NoKek => "key_encryption_key_missing",
            Self::Unsealable(_) => "key_unsealable",
            Self::Generate(_) => "key_generate_failed",
            Self::Unusable(_) => "key_set_unusable",
            Self::NoNext => "key_next_missing",
            Self::NextTooRecent { .. } => "key_next_too_recent",
            Self::Store(err) => err.code(),
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(kid) => write!(f, "no signing key has kid {kid:?}"),
            Self::AlgorithmNotAllowed(alg) => write!(
                f,
                "the configuration does not allow {alg} keys (allowed_algorithms)"
            ),
            Self::NoKek => f.write_str(
                "no key_encryption_key configured (TOLLGATE_KEY_ENCRYPTION_KEY or key_encryption_key_file: 32 random bytes, hex or base64); stored keys are sealed under it",
            ),
            Self::Unsealable(kid) => write!(
                f,
                "the stored key {kid:?} does not open under the configured key_encryption_key (another key, or the record was changed)"
            ),
            Self::Generate(why) => write!(f, "cannot make a key: {why}"),
            Self::Unusable(why) => write!(f, "the stored keys cannot sign: {why}"),
            Self::NoNext => f.write_str(
                "no next key to rotate to: `tollgate keys add` publishes one, which may sign once JWKS caches hold it (--now rotates to a fresh key at once)",
            ),
            Self::NextTooRecent { kid, signs_from_ms } => write!(
                f,
                "the next key {kid} was published too recently for JWKS caches to hold it: it may sign from {signs_from_ms} (Unix ms; --now rotates anyway)"
            ),
            Self::Store(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for KeyError {}

impl From<StoreError> for KeyError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// A stored key opened: its record and the signing key it holds.
#[derive(Debug, Clone)]
pub struct OpenedKey {
    pub record: StoredKey,
    pub key: SigningKey,
}

/// A fresh key of `algorithm`, sealed for `state`, created at `now_ms`.
pub fn fresh_key(
    kek: &Kek,
    algorithm: Algorithm,
    state: KeyState,
    now_ms: u64,
) -> Result<StoredKey, KeyError> {
    let text = generate_key_text(algorithm).map_err(KeyError::Generate)?;
    let text = text.trim_end_matches('\n');
    let key = parse_key_text(algorithm, text).map_err(|e| KeyError::Generate(e.to_string()))?;
    let mut record = StoredKey::new(key.kid(), algorithm.name(), state, now_ms);
    record.sealed = kek.seal(&record, text.as_bytes())?;
    Ok(record)
}

/// Opens a stored key: its private key, checked against its record's kid.
pub fn open(kek: &Kek, record: &StoredKey) -> Result<OpenedKey, KeyError> {
    let unsealable = || KeyError::Unsealable(record.kid.clone());
    let text = kek.open(record)?;
    let algorithm = Algorithm::from_name(&record.algorithm).map_err(|_| unsealable())?;
    let text = std::str::from_utf8(&text).map_err(|_| unsealable())?;
    let key = parse_key_text(algorithm, text).map_err(|_| unsealable())?;
    if key.kid() != record.kid {
        return Err(unsealable());
    }
    Ok(OpenedKey {
        record: record.clone(),
        key,
    })
}

/// `record` moved to `state` at `now_ms`: stamped and sealed again (the state is part of
/// the associated data).
fn moved(
    kek: &Kek,
    record: &StoredKey,
    state: KeyState,
    now_ms: u64,
) -> Result<StoredKey, KeyError> {
    let text = kek.open(record)?;
    let mut next = record.clone();
    next.state = state;
    match state {
        KeyState::Current => next.activated_ms = Some(now_ms),
        KeyState::Previous => next.deactivated_ms = Some(now_ms),
        KeyState::Retired | KeyState::Revoked => {
            if record.state == KeyState::Current {
                next.deactivated_ms = Some(now_ms);
            }
            next.retired_ms = Some(now_ms);
        }
        KeyState::Next => {}
    }
    next.sealed = kek.seal(&next, &text)?;
    Ok(next)
}

/// The key that signs next: the oldest `next` key made current, else `fresh`.
fn incoming(
    kek: &Kek,
    keys: &[StoredKey],
    fresh: &StoredKey,
    now_ms: u64,
) -> Result<StoredKey, KeyError> {
    match keys.iter().find(|k| k.state == KeyState::Next) {
        Some(next) => moved(kek, next, KeyState::Current, now_ms),
        None => Ok(fresh.clone()),
    }
}

/// Keys may be added for the algorithms of `allowed_algorithms` (the configured one by
/// default).
pub fn check_allowed(allowed: &[Algorithm], asked: Algorithm) -> Result<(), KeyError> {
    if allowed.contains(&asked) {
        Ok(())
    } else {
        Err(KeyError::AlgorithmNotAllowed(asked.name().into()))
    }
}

/// Adds a fresh key as `next`: published and verifying, not signing until [`rotate`].
pub async fn add(
    store: &Store,
    kek: &Kek,
    algorithm: Algorithm,
    now_ms: u64,
) -> Result<StoredKey, KeyError> {
    let fresh = fresh_key(kek, algorithm, KeyState::Next, now_ms)?;
    store
        .update_signing_keys(|_| (vec![fresh.clone()], ()))
        .await?;
    Ok(fresh)
}

/// What [`rotate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotated {
    /// `current` signs now; `previous` (if any) stopped signing.
    Done {
        current: String,
        previous: Option<String>,
    },
    /// Another rotation moved the set on since `from` was read: `current` signs.
    Lost { current: Option<String> },
}

/// How long a next key of a public-key algorithm is published before a rotation makes
/// it sign: two JWKS cache lifetimes (`jwks_max_age`, seconds), plus the period in which
/// servers take a change up.
pub fn publish_ahead_ms(algorithm: Algorithm, jwks_max_age: u64) -> u64 {
    if algorithm.is_hmac() {
        // Nothing is published: verifiers of HMAC tokens hold the secret.
        return 0;
    }
    jwks_max_age
        .saturating_mul(2000)
        .saturating_add(RELOAD_EVERY.as_millis() as u64)
}

/// How long a JWKS may be cached (`Cache-Control: max-age`, seconds) unless
/// `jwks_max_age` says otherwise.
pub const DEFAULT_JWKS_MAX_AGE: u64 = 300;
/// The longest `jwks_max_age` accepted (a day).
pub const MAX_JWKS_MAX_AGE: u64 = 86_400;

/// Makes the oldest `next` key current (a fresh key of `algorithm` when there is none),
/// and the current one previous, provided the current key is still `from` (as read by
/// the caller): of concurrent rotations from one state, one is done and the others are
/// told who won. With `hold_ms` > 0 the next key must have been published (created) at
/// least that long ago ([`KeyError::NextTooRecent`]), and a fresh one is refused
/// ([`KeyError::NoNext`]): verifiers caching the JWKS know a key before it signs.
pub async fn rotate(
    store: &Store,
    kek: &Kek,
    from: Option<&str>,
    algorithm: Algorithm,
    now_ms: u64,
    hold_ms: u64,
) -> Result<Rotated, KeyError> {
    let fresh = fresh_key(kek, algorithm, KeyState::Current, now_ms)?;
    store
        .update_signing_keys(|keys| {
            let current = keys.iter().find(|k| k.state == KeyState::Current);
            if current.map(|k| k.kid.as_str()) != from {
                let current = current.map(|k| k.kid.clone());
                return (Vec::new(), Ok(Rotated::Lost { current }));
            }
            let mut upserts = Vec::new();
            let result = (|| -> Result<Rotated, KeyError> {
                if hold_ms > 0 {
                    match keys.iter().find(|k| k.state == KeyState::Next) {
                        None => return Err(KeyError::NoNext),
                        Some(next) if next.created_ms.saturating_add(hold_ms) > now_ms => {
                            return Err(KeyError::NextTooRecent {
                                kid: next.kid.clone(),
                                signs_from_ms: next.created_ms.saturating_add(hold_ms),
                            })
                        }
                        Some(_) => {}
                    }
                }
                let incoming = incoming(kek, keys, &fresh, now_ms)?;
                if let Some(old) = current {
                    upserts.push(moved(kek, old, KeyState::Previous, now_ms)?);
                }
                let done = Rotated::Done {
                    current: incoming.kid.clone(),
                    previous: current.map(|k| k.kid.clone()),
                };
                upserts.push(incoming);
                Ok(done)
            })();
            match result {
                Ok(done) => (upserts, Ok(done)),
                Err(err) => (Vec::new(), Err(err)),
            }
        })
        .await?
}

/// What [`revoke`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// The key is revoked; `replacement` signs now when it was the current key.
    Done { replacement: Option<String> },
    /// It was revoked already.
    Already,
}

/// Revokes the key `kid` at once. The current key is replaced in the same unit by the
/// oldest next key, or a fresh key of `algorithm`, so the set always has one that signs.
pub async fn revoke(
    store: &Store,
    kek: &Kek,
    kid: &str,
    algorithm: Algorithm,
    now_ms: u64,
) -> Result<Revoked, KeyError> {
    let fresh = fresh_key(kek, algorithm, KeyState::Current, now_ms)?;
    store
        .update_signing_keys(|keys| {
            let result = (|| -> Result<(Vec<StoredKey>, Revoked), KeyError> {
                let key = keys
                    .iter()
                    .find(|k| k.kid == kid)
                    .ok_or_else(|| KeyError::Unknown(kid.into()))?;
                if key.state == KeyState::Revoked {
                    return Ok((Vec::new(), Revoked::Already));
                }
                let mut upserts = vec![moved(kek, key, KeyState::Revoked, now_ms)?];
                let mut replacement = None;
                if key.state == KeyState::Current {
                    let incoming = incoming(kek, keys, &fresh, now_ms)?;
                    replacement = Some(incoming.kid.clone());
                    upserts.push(incoming);
                }
                Ok((upserts, Revoked::Done { replacement }))
            })();
            match result {
                Ok((upserts, done)) => (upserts, Ok(done)),
                Err(err) => (Vec::new(), Err(err)),
            }
        })
        .await?
}

/// Retires every previous key that stopped signing at least `after_ms` before `now_ms`
/// (the longest token lifetime plus leeway: every token it signed has expired), in one
/// change; returns their kids. Concurrent calls (replicas) retire each key once.
pub async fn retire_due(
    store: &Store,
    kek: &Kek,
    now_ms: u64,
    after_ms: u64,
) -> Result<Vec<String>, KeyError> {
    let is_due = |k: &StoredKey| {
        k.state == KeyState::Previous
            && k.deactivated_ms
                .is_some_and(|at| at.saturating_add(after_ms) <= now_ms)
    };
    // A plain read first: the change (a table lock on PostgreSQL) only when one is due.
    if !store.signing_keys().await?.iter().any(is_due) {
        return Ok(Vec::new());
    }
    store
        .update_signing_keys(|keys| {
            let due = keys.iter().filter(|k| is_due(k));
            let moved: Result<Vec<StoredKey>, KeyError> = due
                .map(|k| moved(kek, k, KeyState::Retired, now_ms))
                .collect();
            match moved {
                Ok(retired) => {
                    let kids = retired.iter().map(|k| k.kid.clone()).collect();
                    (retired, Ok(kids))
                }
                Err(err) => (Vec::new(), Err(err)),
            }
        })
        .await?
}

/// How long after a key stops signing every token it signed has expired: the longest
/// token lifetime of `settings` (or a `max_token_lifetime` raised above them all) plus
/// its leeway, in ms.
pub fn retire_after_ms(settings: &tollgate_core::Settings) -> u64 {
    let longest = [
        settings.access_token_lifetime(),
        settings.refresh_token_lifetime(),
        settings.sliding_token_lifetime(),
    ]
    .into_iter()
    .max()
    .unwrap_or(0);
    // `max_token_lifetime` set above every configured lifetime keeps tokens of a longer
    // past lifetime valid: their keys must stay as long.
    let kept = settings.max_token_lifetime();
    let raised = kept > longest.max(settings.sliding_token_refresh_lifetime());
    let longest = if raised { kept } else { longest };
    longest
        .saturating_add(settings.leeway())
        .saturating_mul(1000)
}

/// One step of automatic rotation (`signing_key_rotation`, `period_ms`) at `now_ms`: a
/// next key is added when the current key is due within `hold_ms` ([`publish_ahead_ms`]; or now,
/// when no stored key signs yet), and the set rotates once the current key is due and
/// the next key has been published long enough. Replicas may all call this: the add
/// happens once (only while there is no next key) and of rotations from one state one
/// is done. `Some` when this call rotated.
pub async fn rotate_if_due(
    store: &Store,
    kek: &Kek,
    algorithm: Algorithm,
    now_ms: u64,
    period_ms: u64,
    hold_ms: u64,
) -> Result<Option<Rotated>, KeyError> {
    let keys = store.signing_keys().await?;
    let current = keys.iter().find(|k| k.state == KeyState::Current);
    let due_at = current
        .and_then(|c| c.activated_ms)
        .map_or(now_ms, |at| at.saturating_add(period_ms));
    let has_next = keys.iter().any(|k| k.state == KeyState::Next);
    if hold_ms > 0 && !has_next && now_ms.saturating_add(hold_ms) >= due_at {
        let fresh = fresh_key(kek, algorithm, KeyState::Next, now_ms)?;
        store
            .update_signing_keys(|keys| {
                let none_yet = !keys.iter().any(|k| k.state == KeyState::Next);
                (none_yet.then(|| fresh.clone()).into_iter().collect(), ())
            })
            .await?;
        return Ok(None);
    }
    if now_ms < due_at {
        return Ok(None);
    }
    let from = current.map(|c| c.kid.as_str());
    match rotate(store, kek, from, algorithm, now_ms, hold_ms).await {
        Ok(Rotated::Lost { .. }) | Err(KeyError::NextTooRecent { .. } | KeyError::NoNext) => {
            Ok(None)
        }
        Ok(done) => Ok(Some(done)),
        Err(err) => Err(err),
    }
}
