//! The target side of `tollgate store copy` ([`crate::store::copy`]): a whole store
//! written in one transaction, on tables locked against every other writer and found
//! empty, counted before COMMIT (the signing-key set's table included).

use tokio_postgres::{types::ToSql, Transaction};

use super::{big, db_error, tokens::kind_name, tokens::reason_name, users::encode, PgStore};
use crate::store::copy::{Copied, CopyError, Dump};

/// Rows per statement: each batch is one `INSERT ... SELECT FROM unnest(...)` (one
/// round trip), small enough to keep the parameters' memory bounded.
const BATCH: usize = 5_000;

/// Inserts rows in batches: `columns` builds each column's array for a slice of rows.
async fn insert_all<T>(
    tx: &Transaction<'_>,
    sql: &str,
    rows: &[T],
    columns: impl Fn(&[T]) -> Vec<Box<dyn ToSql + Sync + Send>>,
) -> Result<(), CopyError> {
    for chunk in rows.chunks(BATCH) {
        let params = columns(chunk);
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        tx.execute(sql, &refs).await.map_err(db_error)?;
    }
    Ok(())
}

fn column<T, V: ToSql + Sync + Send + 'static>(
    rows: &[T],
    value: impl Fn(&T) -> V,
) -> Box<dyn ToSql + Sync + Send> {
    Box::new(rows.iter().map(value).collect::<Vec<V>>())
}

/// The record counts of tollgate's tables, and the clock floor.
async fn counts(tx: &Transaction<'_>) -> Result<Copied, CopyError> {
    let row = tx
        .query_one(
            "SELECT (SELECT count(*) FROM tollgate_users), (SELECT count(*) FROM tollgate_tokens), \
             (SELECT count(*) FROM tollgate_blacklist), (SELECT count(*) FROM tollgate_families), \
             (SELECT value FROM tollgate_meta WHERE key = 'clock_floor_ms'), \
             (SELECT count(*) FROM tollgate_signing_keys)",
            &[],
        )
        .await
        .map_err(db_error)?;
    let n = |i: usize| super::unbig(row.get::<_, i64>(i));
    Ok(Copied {
        users: n(0),
        tokens: n(1),
        blacklisted: n(2),
        families: n(3),
        keys: n(5),
        clock_floor_ms: n(4),
    })
}

impl PgStore {
    /// Writes `dump` into this (empty) database in one transaction; refused, writing
    /// nothing, when any tollgate table holds a row.
    pub async fn load_dump(&self, dump: &Dump) -> Result<Copied, CopyError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        // A copy may take longer than a request may; no other writer gets in meanwhile.
        tx.batch_execute(
            "SET LOCAL statement_timeout = 0; \
             LOCK TABLE tollgate_users, tollgate_tokens, tollgate_blacklist, tollgate_families, \
             tollgate_signing_keys IN EXCLUSIVE MODE",
        )
        .await
        .map_err(db_error)?;
        let before = counts(&tx).await?;
        if before.users + before.tokens + before.blacklisted + before.families + before.keys > 0 {
            return Err(CopyError::TargetNotEmpty(before));
        }
        insert_all(
            &tx,
            "INSERT INTO tollgate_users (id, username, email, record) \
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])",
            &dump.users,
            |rows| {
                vec![
                    column(rows, |u| big(u.id)),
                    column(rows, |u| u.username.clone()),
                    column(rows, |u| u.email.clone()),
                    column(rows, encode),
                ]
            },
        )
        .await?;
        insert_all(
            &tx,
            "INSERT INTO tollgate_tokens (jti, user_id, kind, family, created_at_ms, expires_at, token_sha256) \
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[])",
            &dump.tokens,
            |rows| {
                vec![
                    column(rows, |t| t.jti.clone()),
                    column(rows, |t| big(t.user_id)),
                    column(rows, |t| kind_name(t.kind).to_string()),
                    column(rows, |t| t.family.clone()),
                    column(rows, |t| big(t.created_at_ms)),
                    column(rows, |t| big(t.expires_at)),
                    column(rows, |t| t.token_sha256.clone()),
                ]
            },
        )
        .await?;
        insert_all(
            &tx,
            "INSERT INTO tollgate_blacklist (jti, blacklisted_at, reason, expires_at, successor) \
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::text[])",
            &dump.blacklist,
            |rows| {
                vec![
                    column(rows, |b| b.jti.clone()),
                    column(rows, |b| big(b.blacklisted_at)),
                    column(rows, |b| reason_name(b.reason).to_string()),
                    column(rows, |b| big(b.expires_at)),
                    column(rows, |b| b.successor.clone()),
                ]
            },
        )
        .await?;
        let seen =
            |s: &Option<crate::store::Seen>| s.as_ref().and_then(|s| serde_json::to_string(s).ok());
        insert_all(
            &tx,
            "INSERT INTO tollgate_families (id, user_id, created_at_ms, expires_at, revoked_at, login, last_refresh) \
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::text[])",
            &dump.families,
            |rows| {
                vec![
                    column(rows, |(id, _)| id.clone()),
                    column(rows, |(_, f)| big(f.user_id)),
                    column(rows, |(_, f)| big(f.created_at_ms)),
                    column(rows, |(_, f)| big(f.expires_at)),
                    column(rows, |(_, f)| f.revoked_at.map(big)),
                    column(rows, |(_, f)| seen(&f.login)),
                    column(rows, |(_, f)| seen(&f.last_refresh)),
                ]
            },
        )
        .await?;
        // Verbatim, still sealed: the same key-encryption key opens them here.
        insert_all(
            &tx,
            "INSERT INTO tollgate_signing_keys \
             (kid, algorithm, state, created_ms, activated_ms, deactivated_ms, retired_ms, sealed) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], \
             $6::bigint[], $7::bigint[], $8::bytea[])",
            &dump.keys,
            |rows| {
                vec![
                    column(rows, |k| k.kid.clone()),
                    column(rows, |k| k.algorithm.clone()),
                    column(rows, |k| k.state.name().to_string()),
                    column(rows, |k| big(k.created_ms)),
                    column(rows, |k| k.activated_ms.map(big)),
                    column(rows, |k| k.deactivated_ms.map(big)),
                    column(rows, |k| k.retired_ms.map(big)),
                    column(rows, |k| k.sealed.clone()),
                ]
            },
        )
        .await?;
        tx.execute(
            "UPDATE tollgate_meta SET value = GREATEST(value, $1) WHERE key = 'clock_floor_ms'",
            &[&big(dump.clock_floor_ms)],
        )
        .await
        .map_err(db_error)?;
        let expected = dump.counts();
        let found = counts(&tx).await?;
        let floor_ok = found.clock_floor_ms >= expected.clock_floor_ms;
        let same = Copied {
            clock_floor_ms: expected.clock_floor_ms,
            ..found
        } == expected;
        if !floor_ok || !same {
            return Err(CopyError::Mismatch { expected, found });
        }
        tx.commit().await.map_err(db_error)?;
        self.count([big(found.users), big(found.tokens), big(found.blacklisted)]);
        Ok(found)
    }
}
