//! The signing-key set on sled: one JSON record (the whole set, at most 48 keys: see
//! [`crate::store::KEPT_DROPPED`]) under [`KEYS_KEY`], changed by compare-and-swap so
//! concurrent changes each see the last (a pruned record is simply not written again).

use super::{
    format::{decode, encode},
    SledStore,
};
use crate::store::{apply_key_change, StoreError, StoredKey};

/// The key set's record in the default tree.
const KEYS_KEY: &[u8] = b"signing_keys";

impl SledStore {
    pub fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let stored = self.watch(self.inner()?.db.get(KEYS_KEY).map_err(StoreError::from))?;
        stored.map_or(Ok(Vec::new()), |bytes| decode(&bytes))
    }

    pub async fn update_signing_keys<T>(
        &self,
        change: &impl Fn(&[StoredKey]) -> (Vec<StoredKey>, T),
    ) -> Result<T, StoreError> {
        let (answer, wrote) = self.watch(self.swap_keys(change))?;
        if wrote {
            self.durable().await?;
        }
        Ok(answer)
    }

    fn swap_keys<T>(
        &self,
        change: &impl Fn(&[StoredKey]) -> (Vec<StoredKey>, T),
    ) -> Result<(T, bool), StoreError> {
        let inner = self.inner()?;
        loop {
            let before = inner.db.get(KEYS_KEY)?;
            let keys: Vec<StoredKey> = match &before {
                Some(bytes) => decode(bytes)?,
                None => Vec::new(),
            };
            let (upserts, answer) = change(&keys);
            if upserts.is_empty() {
                return Ok((answer, false));
            }
            let after = apply_key_change(&keys, &upserts)?.after;
            let swapped = inner
                .db
                .compare_and_swap(KEYS_KEY, before, Some(encode(&after)))?;
            if swapped.is_ok() {
                return Ok((answer, true));
            }
        }
    }
}
