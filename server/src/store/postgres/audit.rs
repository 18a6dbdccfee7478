//! The audit trail on PostgreSQL (`audit.sql`): one row per entry, ids from a sequence;
//! an append and the deletion of what falls beyond the bound are one transaction.

use super::{big, db_error, unbig, PgStore};
use crate::store::{AuditEntry, StoreError};

const INSERT: &str = "INSERT INTO tollgate_audit (at_ms, actor, via, action, target, outcome) \
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";

/// Deletes every row but the newest `$1` (at most a few per append).
const PRUNE: &str = "DELETE FROM tollgate_audit WHERE id <= \
     (SELECT id FROM tollgate_audit ORDER BY id DESC OFFSET $1 LIMIT 1)";

const SELECT: &str = "SELECT id, at_ms, actor, via, action, target, outcome FROM tollgate_audit \
     WHERE id < $1 ORDER BY id DESC LIMIT $2";

impl PgStore {
    pub async fn record_audit(&self, entry: AuditEntry, keep: usize) -> Result<u64, StoreError> {
        let entry = entry.bounded();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let row = tx
            .query_one(
                INSERT,
                &[
                    &big(entry.at_ms),
                    &entry.actor,
                    &entry.via,
                    &entry.action,
                    &entry.target,
                    &entry.outcome,
                ],
            )
            .await
            .map_err(db_error)?;
        let keep = i64::try_from(keep.max(1)).unwrap_or(i64::MAX);
        tx.execute(PRUNE, &[&keep]).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(unbig(row.get(0)))
    }

    pub async fn audit(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let client = self.client().await?;
        let before = before.map_or(i64::MAX, big);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(SELECT, &[&before, &limit])
            .await
            .map_err(db_error)?;
        Ok(rows
            .iter()
            .map(|row| AuditEntry {
                id: unbig(row.get(0)),
                at_ms: unbig(row.get(1)),
                actor: row.get(2),
                via: row.get(3),
                action: row.get(4),
                target: row.get(5),
                outcome: row.get(6),
            })
            .collect())
    }
}
