//! Users on PostgreSQL: one row per user (its record as JSON, username and email as
//! indexed columns). Writes to the table take a transaction advisory lock, so the
//! uniqueness rules (usernames; emails when asked) hold between replicas too.

use std::sync::Arc;

use deadpool_postgres::Transaction;

use super::{big, db_error, prepared, unbig, PgStore, USERS_LOCK};
use crate::store::{Revocation, StoreError, User};

pub(super) fn decode(text: &str) -> Result<User, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Decode(e.to_string()))
}

pub(super) fn encode(user: &User) -> String {
    // A plain struct of strings, numbers and JSON values: serializing cannot fail.
    serde_json::to_string(user).unwrap_or_default()
}

/// Inside a transaction that holds [`USERS_LOCK`]: whether a column already holds `value`
/// (for another user than `except`).
async fn taken(
    tx: &Transaction<'_>,
    column: &str,
    value: &str,
    except: u64,
) -> Result<bool, StoreError> {
    let sql =
        format!("SELECT 1 FROM tollgate_users WHERE {column} = $1 AND id <> $2::bigint LIMIT 1");
    let row = tx
        .query_opt(&prepared(tx, sql.as_str()).await?, &[&value, &big(except)])
        .await
        .map_err(db_error)?;
    Ok(row.is_some())
}

async fn lock_users(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.execute(
        &prepared(tx, "SELECT pg_advisory_xact_lock($1)").await?,
        &[&USERS_LOCK],
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Inserts `user` (id 0: the next free one) inside a transaction holding the lock.
/// Beside Django (`django`), the id and fields must fit `auth_user`, and a new id is
/// Django's next.
async fn insert(
    tx: &Transaction<'_>,
    mut user: User,
    unique_email: bool,
    django: bool,
) -> Result<User, StoreError> {
    if django {
        super::django::check_user(&user)?;
        if user.id == 0 {
            user.id = super::django::next_id(tx).await?;
        }
    }
    if user.id == 0 {
        let next: i64 = tx
            .query_one(
                &prepared(tx, "SELECT COALESCE(MAX(id), 0) + 1 FROM tollgate_users").await?,
                &[],
            )
            .await
            .map_err(db_error)?
            .get(0);
        user.id = unbig(next);
    }
    if taken(tx, "id::text", &user.id.to_string(), 0).await? {
        return Err(StoreError::Duplicate("id", user.id.to_string()));
    }
    if taken(tx, "username", &user.username, 0).await? {
        return Err(StoreError::Duplicate("username", user.username.clone()));
    }
    if unique_email && !user.email.is_empty() && taken(tx, "email", &user.email, 0).await? {
        return Err(StoreError::Duplicate("email", user.email.clone()));
    }
    tx.execute(
        &prepared(
            tx,
            "INSERT INTO tollgate_users (id, username, email, record) VALUES ($1::bigint, $2, $3, $4)",
        )
        .await?,
        &[&big(user.id), &user.username, &user.email, &encode(&user)],
    )
    .await
    .map_err(db_error)?;
    Ok(user)
}

impl PgStore {
    async fn user_where(
        &self,
        sql: &str,
        value: &(dyn tokio_postgres::types::ToSql + Sync),
    ) -> Result<Option<User>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(&prepared(&client, sql).await?, &[value])
            .await
            .map_err(db_error);
        let row = self.watch(row)?;
        row.map(|r| decode(r.get(0))).transpose()
    }

    pub async fn user(&self, id: u64) -> Result<Option<User>, StoreError> {
        self.user_where(
            "SELECT record FROM tollgate_users WHERE id = $1::bigint",
            &big(id),
        )
        .await
    }

    /// One indexed read per authenticated request: no cache, so a password change or a
    /// deactivation on any replica counts from its commit.
    pub async fn user_shared(&self, id: u64) -> Result<Option<Arc<User>>, StoreError> {
        Ok(self.user(id).await?.map(Arc::new))
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.user_where(
            "SELECT record FROM tollgate_users WHERE username = $1",
            &username,
        )
        .await
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.user_where(
            "SELECT record FROM tollgate_users WHERE email = $1 AND email <> '' \
             ORDER BY id DESC LIMIT 1",
            &email,
        )
        .await
    }

    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &prepared(&client, "SELECT record FROM tollgate_users ORDER BY id").await?,
                &[],
            )
            .await
            .map_err(db_error);
        self.watch(rows)?.iter().map(|r| decode(r.get(0))).collect()
    }

    pub async fn add_user(&self, user: User, unique_email: bool) -> Result<User, StoreError> {
        let mut client = self.client().await?;
        let done = async {
            let tx = client.transaction().await.map_err(db_error)?;
            lock_users(&tx).await?;
            let user = insert(&tx, user, unique_email, self.django()).await?;
            tx.commit().await.map_err(db_error)?;
            Ok(user)
        }
        .await;
        let user = self.watch(done)?;
        self.count([1, 0, 0]);
        Ok(user)
    }

    pub async fn import_users(
        &self,
        users: Vec<User>,
        unique_email: bool,
    ) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let done = async {
            let tx = client.transaction().await.map_err(db_error)?;
            lock_users(&tx).await?;
            let mut added = 0;
            for user in users {
                insert(&tx, user, unique_email, self.django()).await?;
                added += 1;
            }
            tx.commit().await.map_err(db_error)?;
            Ok(added)
        }
        .await;
        let added = self.watch(done)?;
        self.count([big(added as u64), 0, 0]);
        Ok(added)
    }

    pub async fn update_user(
        &self,
        id: u64,
        change: impl Fn(&mut User),
    ) -> Result<User, StoreError> {
        let mut client = self.client().await?;
        let done = async {
            let tx = client.transaction().await.map_err(db_error)?;
            lock_users(&tx).await?;
            let user = change_user(&tx, id, &change).await?;
            tx.commit().await.map_err(db_error)?;
            Ok(user)
        }
        .await;
        self.watch(done)
    }

    /// The user stamped (with `change`) and committed first; then every token of the
    /// user blacklisted. A rotation reads the user `FOR SHARE`: it waits for the stamp's
    /// commit and then sees it, or committed before and its token is listed here.
    pub async fn revoke_user(
        &self,
        user_id: u64,
        why: Revocation,
        stamp_ms: u64,
        change: impl Fn(&mut User),
    ) -> Result<usize, StoreError> {
        let now = stamp_ms / 1000;
        let mut client = self.client().await?;
        let done = async {
            let tx = client.transaction().await.map_err(db_error)?;
            lock_users(&tx).await?;
            change_user(&tx, user_id, &|user: &mut User| {
                change(user);
                user.stamp_revocation(why, stamp_ms);
            })
            .await?;
            tx.commit().await.map_err(db_error)?;
            let revoked = client
                .execute(
                    &prepared(
                        &client,
                        "INSERT INTO tollgate_blacklist (jti, blacklisted_at, reason, expires_at) \
                     SELECT jti, $2, 'user', expires_at FROM tollgate_tokens WHERE user_id = $1 \
                     ON CONFLICT (jti) DO NOTHING",
                    )
                    .await?,
                    &[&big(user_id), &big(now)],
                )
                .await
                .map_err(db_error)?;
            Ok(usize::try_from(revoked).unwrap_or(usize::MAX))
        }
        .await;
        let revoked = self.watch(done)?;
        self.count([0, 0, big(revoked as u64)]);
        Ok(revoked)
    }
}

/// Inside a transaction holding the lock: the stored user changed by `change`, with
/// username (and email, if it changes, when another user has it) kept unique.
async fn change_user<F: Fn(&mut User)>(
    tx: &Transaction<'_>,
    id: u64,
    change: &F,
) -> Result<User, StoreError> {
    let row = tx
        .query_opt(
            &prepared(
                tx,
                "SELECT record FROM tollgate_users WHERE id = $1::bigint FOR UPDATE",
            )
            .await?,
            &[&big(id)],
        )
        .await
        .map_err(db_error)?;
    let Some(row) = row else {
        return Err(StoreError::NoSuchUser(id.to_string()));
    };
    let old = decode(row.get(0))?;
    let mut user = old.clone();
    change(&mut user);
    user.id = id;
    if user.username != old.username && taken(tx, "username", &user.username, id).await? {
        return Err(StoreError::Duplicate("username", user.username.clone()));
    }
    tx.execute(
        &prepared(
            tx,
            "UPDATE tollgate_users SET username = $2, email = $3, record = $4 WHERE id = $1::bigint",
        )
        .await?,
        &[&big(id), &user.username, &user.email, &encode(&user)],
    )
    .await
    .map_err(db_error)?;
    Ok(user)
}
