//! Tokens on PostgreSQL: outstanding tokens, the blacklist and families, each use case
//! one transaction (or, for revocations, a committed mark and then the blacklisting, as
//! on sled).
//!
//! Lock order, the same in every use case, so two never wait on each other: the token
//! being rotated (`FOR UPDATE`), its user (`FOR SHARE`), its family (`FOR UPDATE`).

use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::{
    big, db_error, prepared, unbig,
    users::{decode as decode_user, encode as encode_user},
    PgStore,
};
use crate::store::{
    BlacklistReason, Blacklisted, Blacklisting, Family, Flushed, Outstanding, RotateRule, Rotation,
    Seen, Session, StoreError, Stored, StoredKind,
};

/// The advisory lock key of the expired-token flush: one replica at a time.
pub const FLUSH_LOCK: i64 = 0x746f_6c6c_666c_7573;

const TOKEN_COLUMNS: &str = "jti, user_id, kind, family, created_at_ms, expires_at, token_sha256";
const FAMILY_COLUMNS: &str =
    "id, user_id, created_at_ms, expires_at, revoked_at, login, last_refresh";

/// `columns` (comma-separated) each prefixed with the table alias `alias`.
fn prefixed(alias: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn kind_name(kind: StoredKind) -> &'static str {
    match kind {
        StoredKind::Refresh => "refresh",
        StoredKind::Sliding => "sliding",
    }
}

pub(super) fn reason_name(reason: BlacklistReason) -> &'static str {
    match reason {
        BlacklistReason::Rotated => "rotated",
        BlacklistReason::Logout => "logout",
        BlacklistReason::User => "user",
        BlacklistReason::Reuse => "reuse",
    }
}

fn reason_of(name: &str) -> Result<BlacklistReason, StoreError> {
    Ok(match name {
        "rotated" => BlacklistReason::Rotated,
        "logout" => BlacklistReason::Logout,
        "user" => BlacklistReason::User,
        "reuse" => BlacklistReason::Reuse,
        other => return Err(StoreError::Decode(format!("blacklist reason {other:?}"))),
    })
}

/// A token row, its columns from `at` on in [`TOKEN_COLUMNS`] order.
fn token_at(row: &Row, at: usize) -> Result<Outstanding, StoreError> {
    let kind = match row.get::<_, &str>(at + 2) {
        "refresh" => StoredKind::Refresh,
        "sliding" => StoredKind::Sliding,
        other => return Err(StoreError::Decode(format!("token kind {other:?}"))),
    };
    Ok(Outstanding {
        jti: row.get(at),
        user_id: unbig(row.get(at + 1)),
        kind,
        family: row.get(at + 3),
        created_at_ms: unbig(row.get(at + 4)),
        expires_at: unbig(row.get(at + 5)),
        token_sha256: row.get(at + 6),
    })
}

fn blacklisted_at(row: &Row, at: usize) -> Result<Option<Blacklisted>, StoreError> {
    let Some(jti) = row.get::<_, Option<String>>(at) else {
        return Ok(None);
    };
    Ok(Some(Blacklisted {
        jti,
        blacklisted_at: unbig(row.get(at + 1)),
        reason: reason_of(row.get(at + 2))?,
        expires_at: unbig(row.get(at + 3)),
        successor: row.get(at + 4),
    }))
}

fn seen_of(text: Option<&str>) -> Result<Option<Seen>, StoreError> {
    text.map(|t| serde_json::from_str(t).map_err(|e| StoreError::Decode(e.to_string())))
        .transpose()
}

fn seen_text(seen: Option<&Seen>) -> Option<String> {
    seen.and_then(|s| serde_json::to_string(s).ok())
}

/// A family row in [`FAMILY_COLUMNS`] order: its id and record.
fn family_of(row: &Row) -> Result<(String, Family), StoreError> {
    Ok((
        row.get(0),
        Family {
            user_id: unbig(row.get(1)),
            created_at_ms: unbig(row.get(2)),
            expires_at: unbig(row.get(3)),
            revoked_at: row.get::<_, Option<i64>>(4).map(unbig),
            login: seen_of(row.get(5))?,
            last_refresh: seen_of(row.get(6))?,
        },
    ))
}

/// Records `token` with its family (created with `seen` as its login, or extended:
/// later expiry, `seen` as its last refresh); a known token is left as it is. Whether
/// the token was new.
async fn insert_token(
    tx: &Transaction<'_>,
    token: &Outstanding,
    seen: Option<&Seen>,
) -> Result<bool, StoreError> {
    let row = tx
        .query_one(
            &prepared(
                tx,
                "SELECT tollgate_record_token($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .await?,
            &[
                &token.jti,
                &big(token.user_id),
                &kind_name(token.kind),
                &token.family,
                &big(token.created_at_ms),
                &big(token.expires_at),
                &token.token_sha256,
                &seen_text(seen),
            ],
        )
        .await
        .map_err(db_error)?;
    Ok(row.get(0))
}

/// The stored token `jti`, locked for the rest of the transaction.
async fn locked_token(tx: &Transaction<'_>, jti: &str) -> Result<Option<Outstanding>, StoreError> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM tollgate_tokens WHERE jti = $1 FOR UPDATE");
    let row = tx
        .query_opt(&prepared(tx, sql.as_str()).await?, &[&jti])
        .await
        .map_err(db_error)?;
    row.map(|r| token_at(&r, 0)).transpose()
}

/// Why `jti` is blacklisted; beside Django (`django`), also by Django.
async fn blacklist_reason(
    tx: &Transaction<'_>,
    jti: &str,
    django: bool,
) -> Result<Option<BlacklistReason>, StoreError> {
    if django {
        let reason = super::django::blacklist_reason(tx, jti).await?;
        return reason.as_deref().map(reason_of).transpose();
    }
    let row = tx
        .query_opt(
            &prepared(tx, "SELECT reason FROM tollgate_blacklist WHERE jti = $1").await?,
            &[&jti],
        )
        .await
        .map_err(db_error)?;
    row.map(|r| reason_of(r.get(0))).transpose()
}

impl PgStore {
    /// Where blacklist entries are read: tollgate's table, or beside Django the view that
    /// adds the ones Django wrote.
    fn blacklist_view(&self) -> &'static str {
        if self.django() {
            "tollgate_django_blacklist"
        } else {
            "tollgate_blacklist"
        }
    }

    pub async fn record_login(
        &self,
        token: &Outstanding,
        last_login: Option<i64>,
        seen: Option<&Seen>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let done = async {
            let tx = client.transaction().await.map_err(db_error)?;
            let added = insert_token(&tx, token, seen).await?;
            if let Some(at) = last_login {
                let row = tx
                    .query_opt(
                        &prepared(
                            &tx,
                            "SELECT record FROM tollgate_users WHERE id = $1::bigint FOR UPDATE",
                        )
                        .await?,
                        &[&big(token.user_id)],
                    )
                    .await
                    .map_err(db_error)?;
                // A user deleted since the password check: no user is brought back.
                if let Some(row) = row {
                    let mut user = decode_user(row.get(0))?;
                    user.last_login = Some(at);
                    let record = encode_user(&user);
                    tx.execute(
                        &prepared(
                            &tx,
                            "UPDATE tollgate_users SET record = $2 WHERE id = $1::bigint",
                        )
                        .await?,
                        &[&big(token.user_id), &record],
                    )
                    .await
                    .map_err(db_error)?;
                }
            }
            tx.commit().await.map_err(db_error)?;
            Ok(added)
        }
        .await;
        let added = self.watch(done)?;
        self.count([0, i64::from(added), 0]);
        Ok(())
    }

    pub async fn adopt(&self, token: &Outstanding) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let done = async {
            let tx = client.transaction().await.map_err(db_error)?;
            let added = insert_token(&tx, token, None).await?;
            tx.commit().await.map_err(db_error)?;
            Ok(added)
        }
        .await;
        let added = self.watch(done)?;
        self.count([0, i64::from(added), 0]);
        Ok(())
    }

    pub async fn outstanding(&self, jti: &str) -> Result<Option<Outstanding>, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM tollgate_tokens WHERE jti = $1");
        let row = client
            .query_opt(&prepared(&client, sql.as_str()).await?, &[&jti])
            .await
            .map_err(db_error);
        self.watch(row)?.map(|r| token_at(&r, 0)).transpose()
    }

    pub async fn blacklisted(&self, jti: &str) -> Result<Option<Blacklisted>, StoreError> {
        let client = self.client().await?;
        let sql = if self.django() {
            super::django::BLACKLISTED
        } else {
            "SELECT jti, blacklisted_at, reason, expires_at, successor \
             FROM tollgate_blacklist WHERE jti = $1"
        };
        let row = client
            .query_opt(&prepared(&client, sql).await?, &[&jti])
            .await
            .map_err(db_error);
        match self.watch(row)? {
            Some(row) => blacklisted_at(&row, 0),
            None => Ok(None),
        }
    }

    /// One statement: the blacklist entry, the user and the token record, in one snapshot.
    pub async fn presented(&self, jti: &str, user_id: Option<u64>) -> Result<Stored, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT b.jti, b.blacklisted_at, b.reason, b.expires_at, b.successor, u.record, {} \
             FROM (SELECT $1::text AS jti, $2::bigint AS user_id) q \
             LEFT JOIN LATERAL (SELECT * FROM {} x WHERE x.jti = q.jti LIMIT 1) b ON true \
             LEFT JOIN tollgate_users u ON u.id = q.user_id \
             LEFT JOIN tollgate_tokens t ON t.jti = q.jti",
            prefixed("t", TOKEN_COLUMNS),
            self.blacklist_view()
        );
        let row = client
            .query_one(&prepared(&client, &sql).await?, &[&jti, &user_id.map(big)])
            .await
            .map_err(db_error);
        let row = self.watch(row)?;
        Ok(Stored {
            blacklisted: blacklisted_at(&row, 0)?,
            user: row.get::<_, Option<&str>>(5).map(decode_user).transpose()?,
            outstanding: match row.get::<_, Option<&str>>(6) {
                Some(_) => Some(token_at(&row, 6)?),
                None => None,
            },
        })
    }

    pub async fn family(&self, family: &str) -> Result<Option<Family>, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT {FAMILY_COLUMNS} FROM tollgate_families WHERE id = $1");
        let row = client
            .query_opt(&prepared(&client, sql.as_str()).await?, &[&family])
            .await
            .map_err(db_error);
        match self.watch(row)? {
            Some(row) => Ok(Some(family_of(&row)?.1)),
            None => Ok(None),
        }
    }

    /// One statement (`tollgate_rotate`, rotate.sql): one round trip, committed when
    /// it answers.
    pub async fn rotate(
        &self,
        old: &Outstanding,
        new: &Outstanding,
        rule: RotateRule,
        now: u64,
        seen: Option<&Seen>,
    ) -> Result<Rotation, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                &prepared(
                    &client,
                    "SELECT outcome, added, blacklisted FROM tollgate_rotate(\
                     $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                )
                .await?,
                &[
                    &old.jti,
                    &big(old.user_id),
                    &kind_name(old.kind),
                    &old.family,
                    &big(old.created_at_ms),
                    &big(old.expires_at),
                    &old.token_sha256,
                    &new.jti,
                    &kind_name(new.kind),
                    &big(new.created_at_ms),
                    &big(new.expires_at),
                    &new.token_sha256,
                    &rule.blacklist_old,
                    &rule.require_active,
                    &big(now),
                    &seen_text(seen),
                    &self.django(),
                ],
            )
            .await
            .map_err(db_error);
        let row = self.watch(row)?;
        let rotation = match row.get::<_, &str>(0) {
            "done" => Rotation::Done,
            "user_revoked" => Rotation::UserRevoked,
            "no_active_user" => Rotation::NoActiveUser,
            "family_revoked" => Rotation::FamilyRevoked,
            other => match other.strip_prefix("blacklisted:") {
                Some(reason) => Rotation::AlreadyBlacklisted(reason_of(reason)?),
                None => return Err(StoreError::Decode(format!("rotation outcome {other:?}"))),
            },
        };
        self.count([
            0,
            i64::from(row.get::<_, i32>(1)),
            i64::from(row.get::<_, i32>(2)),
        ]);
        Ok(rotation)
    }

    /// The interval is measured on the database's clock, from the successor's commit
    /// (`db_created_ms`) to now, so every replica answers alike whatever its own clock
    /// says; `_now_ms` (the replica's clock) is not used.
    pub async fn successor_in_grace(
        &self,
        jti: &str,
        _now_ms: u64,
        interval_ms: u64,
    ) -> Result<Option<Outstanding>, StoreError> {
        let client = self.client().await?;
        // One statement: every condition read in one snapshot.
        let sql = format!(
            "SELECT {}, u.record FROM tollgate_blacklist b \
             JOIN tollgate_tokens s ON s.jti = b.successor \
             JOIN tollgate_families f ON f.id = s.family \
             JOIN tollgate_users u ON u.id = s.user_id \
             WHERE b.jti = $1 AND b.reason = 'rotated' \
             AND tollgate_clock_ms() - s.db_created_ms < $2 \
             AND f.revoked_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM {} sb WHERE sb.jti = s.jti)",
            prefixed("s", TOKEN_COLUMNS),
            self.blacklist_view()
        );
        let row = client
            .query_opt(
                &prepared(&client, sql.as_str()).await?,
                &[&jti, &big(interval_ms)],
            )
            .await
            .map_err(db_error);
        let Some(row) = self.watch(row)? else {
            return Ok(None);
        };
        let successor = token_at(&row, 0)?;
        let user = decode_user(row.get(7))?;
        Ok((!user.refresh_revoked(successor.created_at_ms)).then_some(successor))
    }

    pub async fn blacklist(
        &self,
        token: &Outstanding,
        reason: BlacklistReason,
        now: u64,
    ) -> Result<Blacklisting, StoreError> {
        let mut client = self.client().await?;
        let done = async {
            let tx = client.transaction().await.map_err(db_error)?;
            let adopted = insert_token(&tx, token, None).await?;
            let known = locked_token(&tx, &token.jti)
                .await?
                .unwrap_or_else(|| token.clone());
            let added = tx
                .execute(
                    &prepared(
                        &tx,
                        "INSERT INTO tollgate_blacklist (jti, blacklisted_at, reason, expires_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING",
                    )
                    .await?,
                    &[
                        &token.jti,
                        &big(now),
                        &reason_name(reason),
                        &big(known.expires_at),
                    ],
                )
                .await
                .map_err(db_error)?;
            let outcome = if added == 1 {
                Blacklisting::Done
            } else {
                let reason = blacklist_reason(&tx, &token.jti, self.django()).await?;
                Blacklisting::AlreadyBlacklisted(reason.unwrap_or(BlacklistReason::Logout))
            };
            tx.commit().await.map_err(db_error)?;
            Ok((outcome, [0, i64::from(adopted), i64::from(added == 1)]))
        }
        .await;
        let (outcome, delta) = self.watch(done)?;
        self.count(delta);
        Ok(outcome)
    }

    /// Marks the family revoked (committed: no rotation extends it from then on), then
    /// blacklists every token in it. How many were newly blacklisted.
    async fn revoke_family(
        &self,
        family: &str,
        now: u64,
        reason: BlacklistReason,
    ) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let done = async {
            client
                .execute(&prepared(&client, "UPDATE tollgate_families SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1").await?,
                    &[&family, &big(now)],
                )
                .await
                .map_err(db_error)?;
            let revoked = client
                .execute(&prepared(&client, "INSERT INTO tollgate_blacklist (jti, blacklisted_at, reason, expires_at) \
                     SELECT jti, $2, $3, expires_at FROM tollgate_tokens WHERE family = $1 \
                     ON CONFLICT (jti) DO NOTHING").await?,
                    &[&family, &big(now), &reason_name(reason)],
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

    pub async fn revoke_family_of(
        &self,
        jti: &str,
        now: u64,
    ) -> Result<Option<(Outstanding, usize)>, StoreError> {
        let Some(record) = self.outstanding(jti).await? else {
            return Ok(None);
        };
        let revoked = self
            .revoke_family(&record.family, now, BlacklistReason::Reuse)
            .await?;
        Ok(Some((record, revoked)))
    }

    pub async fn sessions(&self, user_id: u64, now: u64) -> Result<Vec<Session>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {FAMILY_COLUMNS} FROM tollgate_families f \
             WHERE f.user_id = $1 AND f.revoked_at IS NULL AND EXISTS (\
               SELECT 1 FROM tollgate_tokens t WHERE t.family = f.id AND t.user_id = $1 \
               AND t.expires_at > $2 \
               AND NOT EXISTS (SELECT 1 FROM tollgate_blacklist b WHERE b.jti = t.jti)) \
             ORDER BY f.created_at_ms DESC, f.id"
        );
        let rows = client
            .query(
                &prepared(&client, sql.as_str()).await?,
                &[&big(user_id), &big(now)],
            )
            .await
            .map_err(db_error);
        self.watch(rows)?
            .iter()
            .map(|row| {
                let (id, family) = family_of(row)?;
                Ok(Session { id, family })
            })
            .collect()
    }

    pub async fn revoke_session(&self, id: &str, now: u64) -> Result<Option<Family>, StoreError> {
        let Some(family) = self.family(id).await? else {
            return Ok(None);
        };
        self.revoke_family(id, now, BlacklistReason::User).await?;
        Ok(Some(family))
    }

    pub async fn tokens(
        &self,
        user_id: Option<u64>,
    ) -> Result<Vec<(Outstanding, Option<Blacklisted>)>, StoreError> {
        let client = self.client().await?;
        let columns = prefixed("t", TOKEN_COLUMNS);
        let sql = format!(
            "SELECT {columns}, b.jti, b.blacklisted_at, b.reason, b.expires_at, b.successor \
             FROM tollgate_tokens t LEFT JOIN tollgate_blacklist b ON b.jti = t.jti \
             WHERE $1::bigint IS NULL OR t.user_id = $1 ORDER BY t.jti"
        );
        let rows = client
            .query(
                &prepared(&client, sql.as_str()).await?,
                &[&user_id.map(big)],
            )
            .await
            .map_err(db_error);
        self.watch(rows)?
            .iter()
            .map(|row| Ok((token_at(row, 0)?, blacklisted_at(row, 7)?)))
            .collect()
    }

    pub async fn flush_expired(&self, now: u64, leeway: u64) -> Result<Flushed, StoreError> {
        let now = now.max(self.clock_floor_ms() / 1000);
        self.raise_clock_floor(now.saturating_mul(1000)).await?;
        let cutoff = big(now.saturating_sub(leeway));
        let mut client = self.client().await?;
        let done = async {
            let tx = client.transaction().await.map_err(db_error)?;
            tx.execute(
                &prepared(&tx, "SELECT pg_advisory_xact_lock($1)").await?,
                &[&FLUSH_LOCK],
            )
            .await
            .map_err(db_error)?;
            let mut deleted = [0usize; 3];
            for (count, table) in deleted.iter_mut().zip([
                "tollgate_tokens",
                "tollgate_blacklist",
                "tollgate_families",
            ]) {
                let sql = format!("DELETE FROM {table} WHERE expires_at <= $1");
                let n = tx
                    .execute(&prepared(&tx, sql.as_str()).await?, &[&cutoff])
                    .await
                    .map_err(db_error)?;
                *count = usize::try_from(n).unwrap_or(usize::MAX);
            }
            // Login throttle keys whose whole log has expired (throttle.sql).
            tx.execute(
                &prepared(
                    &tx,
                    "WITH gone AS (DELETE FROM tollgate_throttle_keys WHERE expires_ms <= $1 \
                     RETURNING key) DELETE FROM tollgate_throttle_log \
                     WHERE key IN (SELECT key FROM gone)",
                )
                .await?,
                &[&big(now.saturating_mul(1000))],
            )
            .await
            .map_err(db_error)?;
            tx.commit().await.map_err(db_error)?;
            let [outstanding, blacklisted, families] = deleted;
            Ok(Flushed {
                outstanding,
                blacklisted,
                families,
            })
        }
        .await;
        let flushed = self.watch(done)?;
        self.count([
            0,
            -big(flushed.outstanding as u64),
            -big(flushed.blacklisted as u64),
        ]);
        Ok(flushed)
    }

    pub async fn bulk_load(
        &self,
        tokens: &[Outstanding],
        blacklisted: &[Blacklisted],
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let done = async {
            let tx = client.transaction().await.map_err(db_error)?;
            let mut delta = [0i64; 3];
            for token in tokens {
                delta[1] += i64::from(insert_token(&tx, token, None).await?);
            }
            for entry in blacklisted {
                delta[2] += big(tx.execute(&prepared(&tx, "INSERT INTO tollgate_blacklist (jti, blacklisted_at, reason, expires_at, successor) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (jti) DO NOTHING").await?,
                    &[
                        &entry.jti,
                        &big(entry.blacklisted_at),
                        &reason_name(entry.reason),
                        &big(entry.expires_at),
                        &entry.successor,
                    ],
                )
                .await
                .map_err(db_error)?);
            }
            tx.commit().await.map_err(db_error)?;
            Ok(delta)
        }
        .await;
        let delta = self.watch(done)?;
        self.count(delta);
        Ok(())
    }
}
