//! Login throttles on PostgreSQL, shared by every replica (throttle.sql): the same rules
//! as the in-memory [`crate::users::throttle::Throttle`] of a single sled-backed server.

use super::{big, db_error, prepared, unbig, PgStore};
use crate::store::StoreError;

/// One throttle's check of a login attempt: the key's digest, and at most `count`
/// attempts per `period_ms`.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleCheck {
    pub key: [u8; 16],
    pub count: u32,
    pub period_ms: u64,
}

impl PgStore {
    /// Counts one login attempt against each check of `checks` at
    /// `now_ms`, in one round trip (keys locked in the order given, so two attempts never
    /// wait on each other). Per check: `None` if it was allowed (and recorded), else
    /// the wait in whole seconds.
    pub async fn throttle(
        &self,
        checks: [ThrottleCheck; 2],
        now_ms: u64,
    ) -> Result<[Option<u64>; 2], StoreError> {
        let client = self.client().await?;
        let [user, ip] = checks;
        let row = client
            .query_one(
                &prepared(
                    &client,
                    "SELECT tollgate_throttle($1, $2, $3, $4), tollgate_throttle($5, $2, $6, $7)",
                )
                .await?,
                &[
                    &user.key.as_slice(),
                    &big(now_ms),
                    &i64::from(user.count),
                    &big(user.period_ms),
                    &ip.key.as_slice(),
                    &i64::from(ip.count),
                    &big(ip.period_ms),
                ],
            )
            .await
            .map_err(db_error);
        let row = self.watch(row)?;
        let wait = |i: usize| Some(unbig(row.get(i))).filter(|&w| w > 0);
        Ok([wait(0), wait(1)])
    }
}
