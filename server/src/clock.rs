//! One clock for the server and the command line: Unix milliseconds that never go back.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use crate::store::Store;

/// A clock in Unix milliseconds (injectable so tests can move time).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Wall-clock milliseconds since the epoch.
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(wall_ms)
}

/// `wall`, but never earlier than a time already returned, nor than the store's clock
/// floor (the time persisted at the last flush of expired tokens or shutdown): a wall
/// clock stepped back never revives a token that had expired, nor one whose records a
/// flush forgot, and a revocation stamped by the command line is never earlier than a
/// token the server issued. Stepped forward, tokens expire early (the safe side) and
/// time goes on from there.
pub fn monotonic(wall: Clock, store: Store) -> Clock {
    let latest = AtomicU64::new(0);
    Arc::new(move || {
        let t = wall().max(store.clock_floor_ms());
        latest.fetch_max(t, Ordering::SeqCst).max(t)
    })
}
