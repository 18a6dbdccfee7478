//! The audit trail on sled: a tree of its own, keyed by the entry's id (big-endian, so
//! in order), JSON values. An append takes the next id by compare-and-swap on the key
//! (concurrent appends each get their own), deletes what falls out of the newest `keep`,
//! and waits for the group commit.

use super::SledStore;
use crate::store::{AuditEntry, StoreError};

const TREE: &str = "audit";

fn decode(bytes: &[u8]) -> Result<AuditEntry, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Decode(format!("audit entry: {e}")))
}

impl SledStore {
    pub async fn record_audit(&self, entry: AuditEntry, keep: usize) -> Result<u64, StoreError> {
        let id = self.watch(self.append_audit(entry, keep))?;
        self.durable().await?;
        Ok(id)
    }

    fn append_audit(&self, entry: AuditEntry, keep: usize) -> Result<u64, StoreError> {
        let tree = self.inner()?.db.open_tree(TREE)?;
        let entry = entry.bounded();
        loop {
            let next = match tree.last()? {
                Some((key, _)) => id_of(&key)? + 1,
                None => 1,
            };
            let value = serde_json::to_vec(&AuditEntry {
                id: next,
                ..entry.clone()
            })
            .map_err(|e| StoreError::Decode(e.to_string()))?;
            let swapped = tree.compare_and_swap(next.to_be_bytes(), None::<&[u8]>, Some(value))?;
            if swapped.is_err() {
                continue;
            }
            // Keep the newest `keep`: ids below `next + 1 - keep` go.
            let first_kept = (next + 1).saturating_sub(keep.max(1) as u64);
            for old in tree.range(..first_kept.to_be_bytes()) {
                let (key, _) = old?;
                tree.remove(key)?;
            }
            return Ok(next);
        }
    }

    pub fn audit(&self, before: Option<u64>, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let tree = self.watch(self.inner()?.db.open_tree(TREE).map_err(StoreError::from))?;
        let range = match before {
            Some(before) => tree.range(..before.to_be_bytes()),
            None => tree.range::<&[u8], _>(..),
        };
        range
            .rev()
            .take(limit)
            .map(|item| {
                let (_, value) = item?;
                decode(&value)
            })
            .collect()
    }
}

fn id_of(key: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(key)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Decode("audit key".into()))
}
