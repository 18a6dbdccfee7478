//! The signing-key set on PostgreSQL (`keys.sql`): one row per key. A change is one
//! transaction holding the table's lock (self-exclusive, readers unaffected), so changes
//! from any number of replicas each see the last; the partial unique index keeps at most
//! one current key whatever writes the table. Records pruned by a change
//! ([`crate::store::KEPT_DROPPED`]) are deleted in its transaction.

use super::{big, db_error, unbig, PgStore};
use crate::store::{apply_key_change, KeyState, StoreError, StoredKey};

const SELECT: &str = "SELECT kid, algorithm, state, created_ms, activated_ms, deactivated_ms, \
     retired_ms, sealed FROM tollgate_signing_keys ORDER BY created_ms, kid";

const UPSERT: &str = "INSERT INTO tollgate_signing_keys \
     (kid, algorithm, state, created_ms, activated_ms, deactivated_ms, retired_ms, sealed) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (kid) DO UPDATE SET \
     state = EXCLUDED.state, activated_ms = EXCLUDED.activated_ms, \
     deactivated_ms = EXCLUDED.deactivated_ms, retired_ms = EXCLUDED.retired_ms, \
     sealed = EXCLUDED.sealed";

fn key_from(row: &tokio_postgres::Row) -> Result<StoredKey, StoreError> {
    let state: &str = row.get(2);
    let ms = |i: usize| row.get::<_, Option<i64>>(i).map(unbig);
    Ok(StoredKey {
        kid: row.get(0),
        algorithm: row.get(1),
        state: KeyState::from_name(state)
            .ok_or_else(|| StoreError::Decode(format!("key state {state:?}")))?,
        created_ms: unbig(row.get(3)),
        activated_ms: ms(4),
        deactivated_ms: ms(5),
        retired_ms: ms(6),
        sealed: row.get(7),
    })
}

impl PgStore {
    pub async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let client = self.client().await?;
        let rows = client.query(SELECT, &[]).await.map_err(db_error)?;
        rows.iter().map(key_from).collect()
    }

    pub async fn update_signing_keys<T>(
        &self,
        change: &impl Fn(&[StoredKey]) -> (Vec<StoredKey>, T),
    ) -> Result<T, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        tx.batch_execute("LOCK TABLE tollgate_signing_keys IN SHARE ROW EXCLUSIVE MODE")
            .await
            .map_err(db_error)?;
        let keys = tx
            .query(SELECT, &[])
            .await
            .map_err(db_error)?
            .iter()
            .map(key_from)
            .collect::<Result<Vec<_>, _>>()?;
        let (mut upserts, answer) = change(&keys);
        if upserts.is_empty() {
            return Ok(answer);
        }
        let change = apply_key_change(&keys, &upserts)?;
        if !change.pruned.is_empty() {
            tx.execute(
                "DELETE FROM tollgate_signing_keys WHERE kid = ANY($1)",
                &[&change.pruned],
            )
            .await
            .map_err(db_error)?;
        }
        // The key leaving `current` first, so the one-current index holds at every row.
        upserts.sort_by_key(|k| k.state == KeyState::Current);
        for key in &upserts {
            let ms = |v: Option<u64>| v.map(big);
            tx.execute(
                UPSERT,
                &[
                    &key.kid,
                    &key.algorithm,
                    &key.state.name(),
                    &big(key.created_ms),
                    &ms(key.activated_ms),
                    &ms(key.deactivated_ms),
                    &ms(key.retired_ms),
                    &key.sealed,
                ],
            )
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(answer)
    }
}
