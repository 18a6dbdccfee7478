//! The server's signing keys as the store keeps them (issue #16): one record per key,
//! its private half sealed under the key-encryption key (see [`crate::keyset`]), and the
//! rules every backend enforces on a change of the set, whatever asked for it: states
//! only move forward (next -> current -> previous -> retired, or revoked from any of
//! them), and a set that has a current key keeps exactly one.

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

/// The set after writing `upserts` over `stored` (records matched by kid), or
/// [`StoreError::KeyRule`] when the change breaks a rule: a state moved backwards, a
/// record's kid, algorithm or creation time changed, a new key that is neither next nor
/// current, two current keys, or a set that had a current key left without one. Every
/// backend checks a change with this before writing it, inside its atomic unit.
pub fn apply_change(
    stored: &[StoredKey],
    upserts: &[StoredKey],
) -> Result<Vec<StoredKey>, StoreError> {
    let mut after = stored.to_vec();
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
            }
        }
    }
    let current = |set: &[StoredKey]| set.iter().filter(|k| k.state == KeyState::Current).count();
    match (current(stored), current(&after)) {
        (_, n) if n > 1 => Err(StoreError::KeyRule("two current keys".into())),
        (1, 0) => Err(StoreError::KeyRule(
            "the set would have no current key: rotate to another first".into(),
        )),
        _ => Ok(after),
    }
}
