//! Tokens on PostgreSQL: outstanding tokens, the blacklist and families, each use case
//! one transaction (or, for revocations, a committed mark and then the blacklisting, as
//! on sled).
//!
//! Lock order, the same in every use case, so two never wait on each other: the token
//! being rotated (`FOR UPDATE`), its user (`FOR SHARE`), its family (`FOR UPDATE`).

use tokio_postgres::{Row, Transaction};

use super::{
    big, db_error, unbig,
    users::{decode as decode_user, encode as encode_user},
    PgStore,
};
use crate::store::{
    BlacklistReason, Blacklisted, Blacklisting, Family, Flushed, Outstanding, Rotation, Seen,
    Session, StoreError, StoredKind,
};

/// The advisory lock key of the expired-token flush: one replica at a time.
const FLUSH_LOCK: i64 = 0x746f_6c6c_666c_7573;

const TOKEN_COLUMNS: &str = "jti, user_id, kind, family, created_at_ms, expires_at, token_sha256";
const FAMILY_COLUMNS: &str =
    "id, user_id, created_at_ms, expires_at, revoked_at, login, last_refresh";

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
    let added = tx
        .execute(
            "INSERT INTO tollgate_tokens (jti, user_id, kind, family, created_at_ms, expires_at, token_sha256) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (jti) DO NOTHING",
            &[
                &token.jti,
                &big(token.user_id),
                &kind_name(token.kind),
                &token.family,
                &big(token.created_at_ms),
                &big(token.expires_at),
                &token.token_sha256,
            ],
        )
        .await
        .map_err(db_error)?;
    if added == 0 {
        return Ok(false);
    }
    let seen = seen_text(seen);
    tx.execute(
        "INSERT INTO tollgate_families (id, user_id, created_at_ms, expires_at, login) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET \
         expires_at = GREATEST(tollgate_families.expires_at, EXCLUDED.expires_at), \
         last_refresh = COALESCE(EXCLUDED.login, tollgate_families.last_refresh)",
        &[
            &token.family,
            &big(token.user_id),
            &big(token.created_at_ms),
            &big(token.expires_at),
            &seen,
        ],
    )
    .await
    .map_err(db_error)?;
    Ok(true)
}

/// The stored token `jti`, locked for the rest of the transaction.
async fn locked_token(tx: &Transaction<'_>, jti: &str) -> Result<Option<Outstanding>, StoreError> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM tollgate_tokens WHERE jti = $1 FOR UPDATE");
    let row = tx
        .query_opt(sql.as_str(), &[&jti])
        .await
        .map_err(db_error)?;
    row.map(|r| token_at(&r, 0)).transpose()
}

async fn blacklist_reason(
    tx: &Transaction<'_>,
    jti: &str,
) -> Result<Option<BlacklistReason>, StoreError> {
    let row = tx
        .query_opt(
            "SELECT reason FROM tollgate_blacklist WHERE jti = $1",
            &[&jti],
        )
        .await
        .map_err(db_error)?;
    row.map(|r| reason_of(r.get(0))).transpose()
}

impl PgStore {
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
                        "SELECT record FROM tollgate_users WHERE id = $1 FOR UPDATE",
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
                        "UPDATE tollgate_users SET record = $2 WHERE id = $1",
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
            .query_opt(sql.as_str(), &[&jti])
            .await
            .map_err(db_error);
        self.watch(row)?.map(|r| token_at(&r, 0)).transpose()
    }

    pub async fn blacklisted(&self, jti: &str) -> Result<Option<Blacklisted>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT jti, blacklisted_at, reason, expires_at, successor \
                 FROM tollgate_blacklist WHERE jti = $1",
                &[&jti],
            )
            .await
            .map_err(db_error);
        match self.watch(row)? {
            Some(row) => blacklisted_at(&row, 0),
            None => Ok(None),
        }
    }

    pub async fn family(&self, family: &str) -> Result<Option<Family>, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT {FAMILY_COLUMNS} FROM tollgate_families WHERE id = $1");
        let row = client
            .query_opt(sql.as_str(), &[&family])
            .await
            .map_err(db_error);
        match self.watch(row)? {
            Some(row) => Ok(Some(family_of(&row)?.1)),
            None => Ok(None),
        }
    }

    pub async fn rotate(
        &self,
        old: &Outstanding,
        new: &Outstanding,
        blacklist_old: bool,
        now: u64,
        seen: Option<&Seen>,
    ) -> Result<Rotation, StoreError> {
        let mut client = self.client().await?;
        let done = async {
            let tx = client.transaction().await.map_err(db_error)?;
            let rotation = rotate_in(&tx, old, new, blacklist_old, now, seen).await?;
            // A refused rotation may still have adopted an unknown `old`: committed too.
            tx.commit().await.map_err(db_error)?;
            Ok(rotation)
        }
        .await;
        let (rotation, delta) = self.watch(done)?;
        self.count(delta);
        Ok(rotation)
    }

    pub async fn successor_in_grace(
        &self,
        jti: &str,
        now_ms: u64,
        interval_ms: u64,
    ) -> Result<Option<Outstanding>, StoreError> {
        let client = self.client().await?;
        // One statement: every condition read in one snapshot.
        let sql = format!(
            "SELECT {}, u.record FROM tollgate_blacklist b \
             JOIN tollgate_tokens s ON s.jti = b.successor \
             JOIN tollgate_families f ON f.id = s.family \
             JOIN tollgate_users u ON u.id = s.user_id \
             WHERE b.jti = $1 AND b.reason = 'rotated' AND $2 - s.created_at_ms < $3 \
             AND f.revoked_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM tollgate_blacklist sb WHERE sb.jti = s.jti)",
            TOKEN_COLUMNS
                .split(", ")
                .map(|c| format!("s.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let row = client
            .query_opt(sql.as_str(), &[&jti, &big(now_ms), &big(interval_ms)])
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
                    "INSERT INTO tollgate_blacklist (jti, blacklisted_at, reason, expires_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING",
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
                let reason = blacklist_reason(&tx, &token.jti).await?;
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
                .execute(
                    "UPDATE tollgate_families SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
                    &[&family, &big(now)],
                )
                .await
                .map_err(db_error)?;
            let revoked = client
                .execute(
                    "INSERT INTO tollgate_blacklist (jti, blacklisted_at, reason, expires_at) \
                     SELECT jti, $2, $3, expires_at FROM tollgate_tokens WHERE family = $1 \
                     ON CONFLICT (jti) DO NOTHING",
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
            .query(sql.as_str(), &[&big(user_id), &big(now)])
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
        let columns = TOKEN_COLUMNS
            .split(", ")
            .map(|c| format!("t.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, b.jti, b.blacklisted_at, b.reason, b.expires_at, b.successor \
             FROM tollgate_tokens t LEFT JOIN tollgate_blacklist b ON b.jti = t.jti \
             WHERE $1::bigint IS NULL OR t.user_id = $1 ORDER BY t.jti"
        );
        let rows = client
            .query(sql.as_str(), &[&user_id.map(big)])
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
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&FLUSH_LOCK])
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
                    .execute(sql.as_str(), &[&cutoff])
                    .await
                    .map_err(db_error)?;
                *count = usize::try_from(n).unwrap_or(usize::MAX);
            }
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
                delta[2] += big(tx.execute(
                    "INSERT INTO tollgate_blacklist (jti, blacklisted_at, reason, expires_at, successor) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (jti) DO NOTHING",
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

/// The rotation inside its transaction (see [`crate::store::Store::rotate`]).
async fn rotate_in(
    tx: &Transaction<'_>,
    old: &Outstanding,
    new: &Outstanding,
    blacklist_old: bool,
    now: u64,
    seen: Option<&Seen>,
) -> Result<(Rotation, [i64; 3]), StoreError> {
    let mut delta = [0i64; 3];
    // Concurrent rotations of one token queue here, on its row; the first to commit
    // wins and the others then see its blacklist entry.
    let known = match locked_token(tx, &old.jti).await? {
        Some(known) => known,
        None => {
            delta[1] += i64::from(insert_token(tx, old, None).await?);
            locked_token(tx, &old.jti)
                .await?
                .unwrap_or_else(|| old.clone())
        }
    };
    if let Some(reason) = blacklist_reason(tx, &known.jti).await? {
        return Ok((Rotation::AlreadyBlacklisted(reason), delta));
    }
    // The user read FOR SHARE: a revocation stamping it is waited for, then seen.
    let user = tx
        .query_opt(
            "SELECT record FROM tollgate_users WHERE id = $1 FOR SHARE",
            &[&big(known.user_id)],
        )
        .await
        .map_err(db_error)?;
    let revoked = match user {
        Some(row) => {
            let user = decode_user(row.get(0))?;
            user.refresh_revoked(known.created_at_ms)
        }
        None => true,
    };
    if revoked {
        return Ok((Rotation::UserRevoked, delta));
    }
    let family = tx
        .query_opt(
            "SELECT revoked_at FROM tollgate_families WHERE id = $1 FOR UPDATE",
            &[&known.family],
        )
        .await
        .map_err(db_error)?;
    if family.is_some_and(|row| row.get::<_, Option<i64>>(0).is_some()) {
        return Ok((Rotation::FamilyRevoked, delta));
    }
    if blacklist_old {
        delta[2] += 1;
        tx.execute(
            "INSERT INTO tollgate_blacklist (jti, blacklisted_at, reason, expires_at, successor) \
             VALUES ($1, $2, 'rotated', $3, $4)",
            &[&known.jti, &big(now), &big(known.expires_at), &new.jti],
        )
        .await
        .map_err(db_error)?;
    }
    let mut new = new.clone();
    new.family = known.family.clone();
    delta[1] += i64::from(insert_token(tx, &new, seen).await?);
    Ok((Rotation::Done, delta))
}
