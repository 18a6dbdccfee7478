//! The server's signing keys as the store keeps them (issue #16): one record per key,
//! its private half sealed under the key-encryption key (see [`crate::keyset`]), and the
//! rules every backend enforces on a change of the set, whatever asked for it: states
//! only move forward (next -> current -> previous -> retired, or revoked from any of
//! them), a set that has a current key keeps exactly one, and the set stays bounded: at
//! most [`MAX_VERIFYING`] keys that verify, and no more than [`KEPT_DROPPED`] retired or
//! revoked records once a key is added.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::StoreError;

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published (verifies), not signing yet.
    Next,
    /// Signs (and verifies). At most one.
    Current,
    /// Signed before; verifies the tokens it signed until they expire.
    Previous,
    /// No longer verifies (every token it signed has expired).
    Retired,
    /// Refused at once: its tokens no longer verify.
    Revoked,
}

impl KeyState {
    pub const ALL: [KeyState; 5] = [
        Self::Next,
        Self::Current,
        Self::Previous,
        Self::Retired,
        Self::Revoked,
    ];

    /// The name stored and shown (`next`, `current`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Previous => "previous",
            Self::Retired => "retired",
            Self::Revoked => "revoked",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether a key in this state may be moved to `to` (or stay): forward only.
    pub fn may_become(self, to: KeyState) -> bool {
        use KeyState::*;
        self == to
            || matches!(
                (self, to),
                (Next, Current | Retired | Revoked)
                    | (Current, Previous | Revoked)
                    | (Previous, Retired | Revoked)
            )
    }

    /// Whether tokens signed by a key in this state verify.
    pub fn verifies(self) -> bool {
        matches!(self, Self::Next | Self::Current | Self::Previous)
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One signing key of the set. `sealed` is the private key encrypted under the
/// key-encryption key with the kid, algorithm and state as associated data
/// ([`crate::keyset::Kek`]): a copy of the store alone gives no signing key, and a row
/// whose state was changed behind the server's back no longer opens.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    pub kid: String,
    /// The JWS algorithm name (`HS256`, `EdDSA`, `ES256`).
    pub algorithm: String,
    pub state: KeyState,
    /// Unix ms.
    pub created_ms: u64,
    /// When it became current.
    pub activated_ms: Option<u64>,
    /// When it stopped signing (became previous, or was revoked while current).
    pub deactivated_ms: Option<u64>,
    /// When it was retired or revoked.
    pub retired_ms: Option<u64>,
    #[serde(with = "sealed_b64")]
    pub sealed: Vec<u8>,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("state", &self.state)
            .field("created_ms", &self.created_ms)
            .field("activated_ms", &self.activated_ms)
            .field("deactivated_ms", &self.deactivated_ms)
            .field("retired_ms", &self.retired_ms)
            .field("sealed", &format_args!("<{} bytes>", self.sealed.len()))
            .finish()
    }
}

impl StoredKey {
    /// A record created at `created_ms`, nothing sealed yet.
    pub fn new(kid: &str, algorithm: &str, state: KeyState, created_ms: u64) -> Self {
        Self {
            kid: kid.into(),
            algorithm: algorithm.into(),
            state,
            created_ms,
            activated_ms: (state == KeyState::Current).then_some(created_ms),
            deactivated_ms: None,
            retired_ms: None,
            sealed: Vec::new(),
        }
    }
}

mod sealed_b64 {
    use base64::Engine as _;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

/// The most keys that verify (next, current and previous) a set may hold. Each is
/// published in the JWKS and tried by verifiers; a set only grows past it by a mistake
/// (`keys add` or `keys rotate --now` in a loop), which is refused with
/// [`StoreError::KeySetFull`] rather than published.
pub const MAX_VERIFYING: usize = 16;

/// How many retired or revoked records a set keeps (the newest by the time they stopped
/// verifying): older ones are pruned whenever a change adds a key, so a set that rotates
/// by itself for years holds at most `MAX_VERIFYING + KEPT_DROPPED` records. They only
/// serve `keys list` (a token whose kid is unknown is refused as one of a revoked key is).
pub const KEPT_DROPPED: usize = 32;

/// A change of the set as a backend writes it: the set after it, and the kids of the
/// records it prunes (to delete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    pub after: Vec<StoredKey>,
    pub pruned: Vec<String>,
}

/// The set after writing `upserts` over `stored` (records matched by kid), or
/// [`StoreError::KeyRule`] when the change breaks a rule: a state moved backwards, a
/// record's kid, algorithm or creation time changed, a new key that is neither next nor
/// current, two current keys, or a set that had a current key left without one; or
/// [`StoreError::KeySetFull`] when it would leave more than [`MAX_VERIFYING`] keys that
/// verify, and more than before (a set already past the bound may still shrink or
/// rotate to a next key). A change that adds a key prunes the retired and revoked
/// records beyond the newest [`KEPT_DROPPED`]. Every backend checks a change with this
/// before writing it, inside its atomic unit, so replicas racing cannot pass the bound.
pub fn apply_change(stored: &[StoredKey], upserts: &[StoredKey]) -> Result<KeyChange, StoreError> {
    let mut after = stored.to_vec();
    let mut added = false;
    for (i, new) in upserts.iter().enumerate() {
        if upserts[..i].iter().any(|k| k.kid == new.kid) {
            return Err(StoreError::KeyRule(format!(
                "key {:?} changed twice in one change",
                new.kid
            )));
        }
        match after.iter_mut().find(|k| k.kid == new.kid) {
            Some(old) => {
                if !old.state.may_become(new.state) {
                    return Err(StoreError::KeyRule(format!(
                        "key {:?} cannot go from {} back to {}",
                        new.kid, old.state, new.state
                    )));
                }
                if old.algorithm != new.algorithm || old.created_ms != new.created_ms {
                    return Err(StoreError::KeyRule(format!(
                        "key {:?}: algorithm and creation time never change",
                        new.kid
                    )));
                }
                *old = new.clone();
            }
            None => {
                if !matches!(new.state, KeyState::Next | KeyState::Current) {
                    return Err(StoreError::KeyRule(format!(
                        "a new key starts as next or current, not {}",
                        new.state
                    )));
                }
                if new.kid.is_empty() || new.kid.len() > 255 {
                    return Err(StoreError::KeyRule("a kid is 1 to 255 bytes".into()));
                }
                after.push(new.clone());
                added = true;
            }
        }
    }
    let current = |set: &[StoredKey]| set.iter().filter(|k| k.state == KeyState::Current).count();
    match (current(stored), current(&after)) {
        (_, n) if n > 1 => return Err(StoreError::KeyRule("two current keys".into())),
        (1, 0) => {
            return Err(StoreError::KeyRule(
                "the set would have no current key: rotate to another first".into(),
            ))
        }
        _ => {}
    }
    let verifying = |set: &[StoredKey]| set.iter().filter(|k| k.state.verifies()).count();
    if verifying(&after) > MAX_VERIFYING && verifying(&after) > verifying(stored) {
        return Err(StoreError::KeySetFull(MAX_VERIFYING));
    }
    let mut pruned = Vec::new();
    if added {
        // Newest first by when they stopped verifying; the oldest beyond the bound go.
        let mut dropped: Vec<&StoredKey> = after.iter().filter(|k| !k.state.verifies()).collect();
        dropped.sort_by(|a, b| {
            let when = |k: &StoredKey| (k.retired_ms.unwrap_or(k.created_ms), k.created_ms);
            when(b).cmp(&when(a)).then_with(|| a.kid.cmp(&b.kid))
        });
        pruned = dropped
            .iter()
            .skip(KEPT_DROPPED)
            .map(|k| k.kid.clone())
            .collect();
        after.retain(|k| !pruned.contains(&k.kid));
    }
    Ok(KeyChange { after, pruned })
}
