//! Beside a Django site (`django_schema = true`): the PostgreSQL store on a database whose
//! Django migrations ran, sharing Django's users and Simple JWT's blacklist tables.
//!
//! Almost all of it is SQL (`django.sql`): users are Django's `auth_user` rows, seen
//! through a view of the same shape as tollgate's own user table (writes through it go to
//! `auth_user` and `tollgate_django_users`), and triggers on tollgate's token tables write
//! every outstanding token and blacklisting into Simple JWT's tables in the same
//! transaction. This module checks the Django tables at open, applies `django.sql`, and
//! holds the few statements that differ: the blacklist as Django wrote it too, and users'
//! ids and text fields fitted to `auth_user`'s columns.
//!
//! Which of Django's tables and columns it needs ([`DJANGO_COLUMNS`]) is checked at open:
//! a database without Django's `auth` and `token_blacklist` migrations is refused.

use tokio_postgres::{Client, Transaction};

use super::{db_error, migrate::MIGRATION_LOCK};
use crate::store::{StoreError, User};

/// The Django-mode migrations, in order (version `i + 1`), recorded in `tollgate_meta`
/// under `django_schema`. They run after tollgate's own.
const MIGRATIONS: &[&str] = &[include_str!("django.sql")];

/// The tables and columns of Django's `auth` and `token_blacklist` apps that tollgate
/// reads or writes (Django 5.2 and Simple JWT 5.5.1 create them).
pub const DJANGO_COLUMNS: &[(&str, &[&str])] = &[
    (
        "auth_user",
        &[
            "id",
            "password",
            "last_login",
            "is_superuser",
            "username",
            "first_name",
            "last_name",
            "email",
            "is_staff",
            "is_active",
            "date_joined",
        ],
    ),
    (
        "token_blacklist_outstandingtoken",
        &["id", "token", "created_at", "expires_at", "user_id", "jti"],
    ),
    (
        "token_blacklist_blacklistedtoken",
        &["id", "blacklisted_at", "token_id"],
    ),
];

/// The longest values `auth_user`'s columns take (Django's `max_length`).
const TEXT_LIMITS: &[(&str, usize)] = &[
    ("username", 150),
    ("email", 254),
    ("first_name", 150),
    ("last_name", 150),
    ("password", 128),
];

/// The blacklist entry of a jti, Django's included (see the view in `django.sql`).
pub(super) const BLACKLISTED: &str = "SELECT jti, blacklisted_at, reason, expires_at, successor \
     FROM tollgate_django_blacklist WHERE jti = $1 LIMIT 1";

/// Refuses a database without the Django tables and columns tollgate needs, naming the
/// first one missing.
pub(super) async fn check_django_tables(client: &Client) -> Result<(), StoreError> {
    for (table, columns) in DJANGO_COLUMNS {
        let rows = client
            .query(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1",
                &[table],
            )
            .await
            .map_err(db_error)?;
        let present: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let app = if table.starts_with("auth_") {
            "auth"
        } else {
            "token_blacklist"
        };
        if present.is_empty() {
            return Err(StoreError::Incompatible(format!(
                "django_schema: the database has no table {table}: run Django's migrations \
                 (`python manage.py migrate`, with the {app} app installed) first"
            )));
        }
        if let Some(column) = columns.iter().find(|c| !present.iter().any(|p| p == *c)) {
            return Err(StoreError::Incompatible(format!(
                "django_schema: the table {table} has no column {column}: run Django's \
                 migrations (`python manage.py migrate {app}`) first"
            )));
        }
    }
    Ok(())
}

/// Applies the Django-mode migrations the database lacks, under the migrations' advisory
/// lock. A database whose tollgate user table holds users (it was used without
/// `django_schema`) is refused: its users would be hidden.
pub(super) async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_error)?;
    let result = apply(client).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_error)?;
    result
}

async fn apply(client: &mut Client) -> Result<(), StoreError> {
    let applied: i64 = client
        .query_one(
            "SELECT COALESCE((SELECT value FROM tollgate_meta WHERE key = 'django_schema'), 0)",
            &[],
        )
        .await
        .map_err(db_error)?
        .get(0);
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if applied > known {
        return Err(StoreError::Corrupt(format!(
            "the database's Django-mode schema is version {applied}, newer than this binary's {known}"
        )));
    }
    if applied == 0 {
        let users: i64 = client
            .query_one("SELECT count(*) FROM tollgate_users", &[])
            .await
            .map_err(db_error)?
            .get(0);
        if users > 0 {
            return Err(StoreError::Incompatible(format!(
                "django_schema: this database holds {users} tollgate users of its own (it was \
                 used without django_schema); use a database of the Django site's own"
            )));
        }
    }
    for (version, sql) in (1i64..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(applied).unwrap_or(0))
    {
        let tx = client.transaction().await.map_err(db_error)?;
        tx.batch_execute(sql).await.map_err(db_error)?;
        tx.execute(
            "INSERT INTO tollgate_meta (key, value) VALUES ('django_schema', $1) \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&version],
        )
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
    }
    Ok(())
}

/// Without `django_schema`: refuses a database that was set up beside a Django site (its
/// users are Django's, which only the Django mode reads).
pub(super) async fn refuse_django_database(client: &Client) -> Result<(), StoreError> {
    let row = client
        .query_opt(
            "SELECT 1 FROM tollgate_meta WHERE key = 'django_schema'",
            &[],
        )
        .await
        .map_err(db_error)?;
    match row {
        Some(_) => Err(StoreError::Incompatible(
            "this database is set up beside a Django site: set django_schema = true".into(),
        )),
        None => Ok(()),
    }
}

/// Inside a rotation or a logout, after the token's own row was locked: why `jti` is
/// blacklisted, by tollgate or by Django. Django's OutstandingToken row is locked first
/// (`FOR UPDATE` conflicts with the key-share lock Django's BlacklistedToken insert takes
/// on it), so a blacklisting by Django in progress is waited for, and then seen by the
/// read (a statement of its own: a fresh snapshot).
pub(super) async fn blacklist_reason(
    tx: &Transaction<'_>,
    jti: &str,
) -> Result<Option<String>, StoreError> {
    tx.execute(
        "SELECT 1 FROM token_blacklist_outstandingtoken WHERE jti = $1 FOR UPDATE",
        &[&jti],
    )
    .await
    .map_err(db_error)?;
    let row = tx
        .query_opt(
            "SELECT reason FROM tollgate_django_blacklist WHERE jti = $1 LIMIT 1",
            &[&jti],
        )
        .await
        .map_err(db_error)?;
    Ok(row.map(|r| r.get(0)))
}

/// A user as `auth_user` can hold it: a 32-bit id (Django's `integer` column) and text
/// within Django's lengths. Anything else is refused here, whole, before any write.
pub(super) fn check_user(user: &User) -> Result<(), StoreError> {
    if i32::try_from(user.id).is_err() {
        return Err(StoreError::Incompatible(format!(
            "django_schema: user id {} does not fit Django's auth_user.id (a 32-bit integer, at most {})",
            user.id,
            i32::MAX
        )));
    }
    let fields = [
        &user.username,
        &user.email,
        &user.first_name,
        &user.last_name,
        &user.password,
    ];
    for ((name, limit), value) in TEXT_LIMITS.iter().zip(fields) {
        if value.chars().count() > *limit {
            return Err(StoreError::Incompatible(format!(
                "django_schema: user {:?}: {name} is longer than Django's {limit} characters",
                user.username
            )));
        }
    }
    Ok(())
}

/// The id Django would give the next user: its own sequence's next value.
pub(super) async fn next_id(tx: &Transaction<'_>) -> Result<u64, StoreError> {
    let id: i64 = tx
        .query_one(
            "SELECT nextval(pg_get_serial_sequence('auth_user', 'id'))",
            &[],
        )
        .await
        .map_err(db_error)?
        .get(0);
    Ok(super::unbig(id))
}
