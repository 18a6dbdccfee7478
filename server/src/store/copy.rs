//! `tollgate store copy`: everything a sled folder holds, moved into PostgreSQL. The
//! source is read whole ([`Dump`]), then written in one transaction on a target that
//! holds no tollgate data (nothing is merged, nothing half-written), and counted again
//! in that transaction before it commits.
//!
//! The signing-key set (issue #16) is copied record for record, still sealed: the
//! associated data of a sealed key is its kid, algorithm and state, nothing of the store
//! it lives in, so the same `key_encryption_key` opens it on the target, and the copy
//! itself never needs that key (nor can it read a private key).

use super::{Blacklisted, Family, Outstanding, Store, StoreError, StoredKey, User};

/// The whole content of a store, as the backends keep it.
#[derive(Debug, Default)]
pub struct Dump {
    pub users: Vec<User>,
    pub tokens: Vec<Outstanding>,
    /// Every blacklist entry (also of tokens whose outstanding record is gone).
    pub blacklist: Vec<Blacklisted>,
    /// Families by id.
    pub families: Vec<(String, Family)>,
    /// The signing-key set, every record as stored (sealed).
    pub keys: Vec<StoredKey>,
    pub clock_floor_ms: u64,
}

impl Dump {
    /// What the target must hold afterwards.
    pub fn counts(&self) -> Copied {
        Copied {
            users: self.users.len() as u64,
            tokens: self.tokens.len() as u64,
            blacklisted: self.blacklist.len() as u64,
            families: self.families.len() as u64,
            keys: self.keys.len() as u64,
            clock_floor_ms: self.clock_floor_ms,
        }
    }
}

/// Record counts of a copy (or of a target that was not empty).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    pub users: u64,
    pub tokens: u64,
    pub blacklisted: u64,
    pub families: u64,
    /// Signing-key records, whatever their state.
    pub keys: u64,
    pub clock_floor_ms: u64,
}

impl std::fmt::Display for Copied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} users, {} outstanding tokens, {} blacklisted, {} families, {} signing keys, clock floor {} ms",
            self.users,
            self.tokens,
            self.blacklisted,
            self.families,
            self.keys,
            self.clock_floor_ms
        )
    }
}

/// Why a copy wrote nothing.
#[derive(Debug)]
pub enum CopyError {
    /// The target already holds tollgate data (these counts): copying would merge two
    /// stores, whose user ids and tokens may collide.
    TargetNotEmpty(Copied),
    /// Written and counted, the target did not hold what was read: rolled back.
    Mismatch {
        expected: Copied,
        found: Copied,
    },
    /// Only sled -> PostgreSQL is a copy tollgate makes.
    Unsupported,
    Store(StoreError),
}

impl From<StoreError> for CopyError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// Copies `source` (a sled store no server holds) into `target` (PostgreSQL).
pub async fn copy(source: &Store, target: &Store) -> Result<Copied, CopyError> {
    match (source, target) {
        (Store::Sled(sled), Store::Postgres(pg)) => {
            let dump = sled.dump()?;
            pg.load_dump(&dump).await
        }
        _ => Err(CopyError::Unsupported),
    }
}
