//! The schema's versions: SQL migrations embedded in the binary, applied in order under
//! an advisory lock (replicas starting together, or `tollgate db migrate` beside them,
//! apply each once), and read without any DDL, so a role that may not create tables
//! can open a database whose schema is current.

use super::{db_error, StoreError};

/// The migrations, in order: version `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("rotate.sql"),
    include_str!("throttle.sql"),
    include_str!("keys.sql"),
    include_str!("audit.sql"),
];

/// The advisory lock key migrations run under (any replica starting at once waits).
pub(super) const MIGRATION_LOCK: i64 = 0x746f_6c6c_6761_7465; // "tollgate"

/// The newest schema version this binary knows.
pub fn known() -> i32 {
    i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX)
}

/// The schema version the database holds (0: none), read without writing.
pub async fn applied(client: &tokio_postgres::Client) -> Result<i32, StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('tollgate_migrations') IS NOT NULL", &[])
        .await
        .map_err(db_error)?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let version = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM tollgate_migrations",
            &[],
        )
        .await
        .map_err(db_error)?
        .get(0);
    Ok(version)
}

/// A schema newer than this binary's: refused (its tables may mean something else).
fn newer(applied: i32) -> StoreError {
    StoreError::Corrupt(format!(
        "the database's tollgate schema is version {applied}, newer than this binary's {}: run a tollgate as new as the database",
        known()
    ))
}

/// Applies the migrations the database lacks, each in its own transaction, under an
/// advisory lock held for the whole run. Returns the versions before and after.
pub async fn migrate(client: &mut tokio_postgres::Client) -> Result<(i32, i32), StoreError> {
    let before = applied(client).await?;
    if before == known() {
        return Ok((before, before));
    }
    if before > known() {
        return Err(newer(before));
    }
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_error)?;
    let result = async {
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS tollgate_migrations (\
                 version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
            )
            .await
            .map_err(db_error)?;
        // Again under the lock: another process may have migrated meanwhile.
        let applied = applied(client).await?;
        if applied > known() {
            return Err(newer(applied));
        }
        for (version, sql) in (1..)
            .zip(MIGRATIONS)
            .skip(usize::try_from(applied).unwrap_or(0))
        {
            let tx = client.transaction().await.map_err(db_error)?;
            tx.batch_execute(sql).await.map_err(db_error)?;
            tx.execute(
                "INSERT INTO tollgate_migrations (version) VALUES ($1)",
                &[&version],
            )
            .await
            .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
        }
        Ok(())
    }
    .await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_error)?;
    result?;
    Ok((before, known()))
}
