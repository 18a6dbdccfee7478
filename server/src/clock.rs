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
        // Read first: within a millisecond every call but the first finds the time
        // already there, and a load keeps the line shared between the cores where a
        // read-modify-write on every request would move it back and forth.
        let seen = latest.load(Ordering::SeqCst);
        if t <= seen {
            return seen;
        }
        latest.fetch_max(t, Ordering::SeqCst).max(t)
    })
}

/// Unix milliseconds as an RFC 3339 UTC timestamp to the second, as DRF writes a
/// `DateTimeField` in UTC (`2026-12-06T06:02:22Z`).
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (never negative here).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::iso8601;

    #[test]
    fn timestamps_in_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_796_536_942_999), "2026-12-06T06:02:22Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(4_107_542_399_000), "2100-02-28T23:59:59Z");
        assert_eq!(iso8601(253_402_300_799_000), "9999-12-31T23:59:59Z");
    }
}
