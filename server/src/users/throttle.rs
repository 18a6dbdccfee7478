//! Login throttling with Django REST framework's `SimpleRateThrottle` semantics.
//!
//! Simple JWT has no brute-force protection; tollgate adds DRF's own throttle so that a
//! frontend already handling DRF's 429 (`{"detail":"Request was throttled. Expected
//! available in N seconds."}` plus `Retry-After`) needs no change. The algorithm is DRF's
//! sliding log, step for step:
//! - each key keeps the times of its *allowed* requests, newest first;
//! - on a request, entries are dropped from the oldest end while `oldest <= now - period`
//!   (so a request exactly one period after the oldest one is allowed again);
//! - if `count` entries remain the request is refused and *not* recorded (hammering while
//!   throttled does not extend the wait), otherwise `now` is recorded at the front;
//! - the wait is `ceil(remaining / available)` seconds with `remaining = period - (now -
//!   oldest)` and `available = count - len + 1`.
//!
//! Two deliberate differences: time is whole milliseconds (DRF uses float seconds, whose
//! rounding can move a wait by one second exactly at whole-second boundaries), and the
//! state is bounded (DRF relies on its cache, whose default `LocMemCache` keeps 300 keys).

use std::collections::hash_map::HashMap;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use sha2::{Digest as _, Sha256};

use crate::store::postgres::ThrottleCheck;

/// A DRF throttle rate: at most `count` requests per `period_secs` seconds and key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period_secs: u64,
}

/// Parses DRF's rate syntax, `<count>/<period>`, where DRF reads only the first letter of
/// the period: `s`, `m`, `h` or `d` (lowercase), so `5/min`, `5/minute` and `5/m` are
/// equal, and (as in DRF) `5/month` means five per *minute* and `5/decade` five per day.
///
/// Stricter than DRF on the count, which must be plain ASCII digits from 1 to 2^32 - 1:
/// Python's `int()` also accepts signs, underscores, surrounding spaces and non-ASCII
/// digits, and DRF takes `0/min` (or a negative count) as "refuse every request", which
/// for a login endpoint is a lock-out, almost certainly a typo.
pub fn parse_rate(s: &str) -> Result<Rate, String> {
    let invalid = |why: &str| format!("invalid throttle rate {s:?}: {why}");
    let mut parts = s.split('/');
    let (Some(count), Some(period), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid(
            "expected <count>/<period>, e.g. 5/min, 100/hour, 10/s, 1000/day",
        ));
    };
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("the count must be a decimal integer"));
    }
    let count: u32 = count
        .parse()
        .map_err(|_| invalid("the count is too large"))?;
    if count == 0 {
        return Err(invalid("the count must be at least 1"));
    }
    let period_secs = match period.as_bytes().first() {
        Some(b's') => 1,
        Some(b'm') => 60,
        Some(b'h') => 3600,
        Some(b'd') => 86400,
        _ => {
            return Err(invalid(
                "the period must start with s, m, h or d (second, minute, hour, day)",
            ))
        }
    };
    Ok(Rate { count, period_secs })
}

/// DRF's 429 body for a wait of `wait_secs` seconds, singular for exactly 1 (DRF's
/// `ngettext`: "1 second.", "0 seconds.", "2 seconds.").
pub fn throttled_body(wait_secs: u64) -> serde_json::Value {
    let unit = if wait_secs == 1 { "second" } else { "seconds" };
    serde_json::json!({
        "detail": format!("Request was throttled. Expected available in {wait_secs} {unit}.")
    })
}

/// Power of two well above the core count: contention on one lock stays rare.
const SHARDS: usize = 16;

/// Keys are stored as the first 128 bits of their SHA-256: memory per key does not depend
/// on what the caller uses as a key (a username from a request body can be long), and
/// collisions are out of reach.
type KeyDigest = [u8; 16];

#[derive(Debug)]
struct Entry {
    /// Allowed requests in ms, newest at the front: DRF's `history` list.
    history: VecDeque<u64>,
    /// Shard-local logical clock of the last check: least recently checked keys are
    /// evicted first when the shard is full (the order LocMemCache culls in).
    last_seen: u64,
}

#[derive(Debug)]
struct Shard {
    map: HashMap<KeyDigest, Entry>,
    capacity: usize,
    tick: u64,
}

/// An in-memory DRF `SimpleRateThrottle` for any number of keys (IP addresses, usernames),
/// shared between request handlers (`Send + Sync`, lock per shard).
///
/// Memory is bounded: at most `max_keys` keys, each holding at most `rate.count`
/// timestamps (8 bytes each, in a buffer that may be up to twice that), so at most about
/// `max_keys * (16 * count + 100)` bytes. When a
/// shard is full, keys whose whole history has expired go first; if that frees fewer than
/// an eighth of the shard, the least recently checked keys go too, up to an eighth. Evicting
/// in batches keeps a flood of new keys at amortized constant cost; the price is that such
/// a flood (at least `max_keys` distinct keys) forgets the quietest keys early.
#[derive(Debug)]
pub struct Throttle {
    rate: Rate,
    shards: Box<[Mutex<Shard>]>,
}

impl Throttle {
    /// `max_keys` 0 is taken as 1.
    pub fn new(rate: Rate, max_keys: usize) -> Self {
        Self::with_shards(rate, max_keys, SHARDS)
    }

    fn with_shards(rate: Rate, max_keys: usize, shards: usize) -> Self {
        let max_keys = max_keys.max(1);
        // Never more shards than keys, so every shard can hold at least one key.
        let n = shards.clamp(1, max_keys);
        let shards = (0..n)
            .map(|i| {
                let capacity = max_keys / n + usize::from(i < max_keys % n);
                Mutex::new(Shard {
                    map: HashMap::new(),
                    capacity,
                    tick: 0,
                })
            })
            .collect();
        Throttle { rate, shards }
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Records a request for `key` at `now_ms` (Unix milliseconds) if the rate allows it,
    /// otherwise returns the wait in whole seconds (at least 1), for the 429 body
    /// ([`throttled_body`]) and the `Retry-After` header. The clock is an argument so
    /// tests are exact; a clock that steps backwards behaves as in DRF (entries stay in
    /// arrival order, so the wait can exceed the period).
    pub fn check(&self, key: &str, now_ms: u64) -> Result<(), u64> {
        let digest = key_digest(key);
        let index = usize::from(digest[0]) % self.shards.len();
        let Some(shard) = self.shards.get(index) else {
            return Ok(()); // unreachable: index is reduced modulo the shard count
        };
        let mut shard = lock(shard);
        shard.tick += 1;
        let tick = shard.tick;
        let rate = self.rate;
        let period_ms = period_ms(rate);
        if let Some(entry) = shard.map.get_mut(&digest) {
            entry.last_seen = tick;
            while entry
                .history
                .back()
                .is_some_and(|&t| expired(t, now_ms, period_ms))
            {
                entry.history.pop_back();
            }
            if entry.history.len() >= rate.count as usize {
                return Err(wait_secs(rate, &entry.history, now_ms));
            }
            entry.history.push_front(now_ms);
            return Ok(());
        }
        if rate.count == 0 {
            return Err(wait_secs(rate, &VecDeque::new(), now_ms));
        }
        shard.make_room(now_ms, period_ms);
        shard.map.insert(
            digest,
            Entry {
                history: VecDeque::from([now_ms]),
                last_seen: tick,
            },
        );
        Ok(())
    }

    /// Keys currently tracked (including ones whose history has expired but which have not
    /// been evicted yet).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).map.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Shard {
    fn make_room(&mut self, now_ms: u64, period_ms: u64) {
        if self.map.len() < self.capacity {
            return;
        }
        let batch = (self.capacity / 8).max(1);
        let before = self.map.len();
        self.map
            .retain(|_, e| !e.history.iter().all(|&t| expired(t, now_ms, period_ms)));
        let freed = before - self.map.len();
        let need = batch
            .saturating_sub(freed)
            .max((self.map.len() + 1).saturating_sub(self.capacity));
        if need == 0 {
            return;
        }
        let mut seen: Vec<u64> = self.map.values().map(|e| e.last_seen).collect();
        if need >= seen.len() {
            self.map.clear();
            return;
        }
        // Ticks are unique within a shard, so exactly `need` entries are at or below it.
        let (_, &mut threshold, _) = seen.select_nth_unstable(need - 1);
        self.map.retain(|_, e| e.last_seen > threshold);
    }
}

/// The check of a throttle shared by replicas (kept in the database) for `key` in
/// `scope` ("username", "ip") at `rate`: the key digested as [`Throttle`]'s own, with
/// the scope in front so that scopes never collide.
pub fn shared_check(scope: &str, key: &str, rate: Rate) -> ThrottleCheck {
    ThrottleCheck {
        key: key_digest(&format!("{scope}\0{key}")),
        count: rate.count,
        period_ms: period_ms(rate),
    }
}

fn key_digest(key: &str) -> KeyDigest {
    let full = Sha256::digest(key.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// A panic cannot happen while a shard is locked, but if one ever did, the shard's data
/// is still consistent (every update is a single push or pop): keep throttling.
fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn period_ms(rate: Rate) -> u64 {
    rate.period_secs.saturating_mul(1000)
}

/// DRF's `history[-1] <= now - duration`, without underflow when `now < duration`.
fn expired(t: u64, now_ms: u64, period_ms: u64) -> bool {
    i128::from(t) <= i128::from(now_ms) - i128::from(period_ms)
}

/// DRF's `wait()` followed by `Throttled`'s `math.ceil`, in exact integer milliseconds.
fn wait_secs(rate: Rate, history: &VecDeque<u64>, now_ms: u64) -> u64 {
    let period = i128::from(period_ms(rate));
    let remaining = match history.back() {
        Some(&oldest) => period - (i128::from(now_ms) - i128::from(oldest)),
        None => period,
    };
    // DRF returns no wait (and so no Retry-After) when available <= 0, which needs more
    // entries than `count`: a history longer than the rate, impossible here.
    let available = (i128::from(rate.count) - history.len() as i128 + 1).max(1);
    let divisor = available * 1000;
    let secs = (remaining + divisor - 1).div_euclid(divisor);
    u64::try_from(secs.max(1)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::sync::Arc;

    const DRF: &str = include_str!("../../tests/data/django_throttle.json");

    fn drf() -> Value {
        serde_json::from_str(DRF).expect("django_throttle.json parses")
    }

    const MIN: Rate = Rate {
        count: 3,
        period_secs: 60,
    };

    #[test]
    fn is_send_and_sync() {
        fn assert<T: Send + Sync>() {}
        assert::<Throttle>();
    }

    #[test]
    fn parse_rate_examples() {
        let r = |count, period_secs| Ok(Rate { count, period_secs });
        assert_eq!(parse_rate("5/min"), r(5, 60));
        assert_eq!(parse_rate("100/hour"), r(100, 3600));
        assert_eq!(parse_rate("10/s"), r(10, 1));
        assert_eq!(parse_rate("1000/day"), r(1000, 86400));
        assert_eq!(parse_rate("5/month"), r(5, 60));
        assert_eq!(parse_rate("4294967295/s"), r(u32::MAX, 1));
        for bad in [
            "", "5", "/min", "5/", "5/Min", "5/year", "5/min/x", "0/min", "x/s",
        ] {
            let err = parse_rate(bad).unwrap_err();
            assert!(err.contains("invalid throttle rate"), "{bad}: {err}");
        }
    }

    #[test]
    fn parse_rate_agrees_with_drf() {
        // DRF accepts these; tollgate refuses them on purpose (see parse_rate's docs).
        let stricter = [
            "0/min",
            "-1/min",
            "+5/min",
            " 5/min",
            "5 /min",
            "1_000/day",
            "\u{665}/min",
            "99999999999/s",
            "4294967296/s",
        ];
        let d = drf();
        for case in d["parse_rate"].as_array().unwrap() {
            let rate = case["rate"].as_str().unwrap();
            let ours = parse_rate(rate);
            match (&case["drf"], ours) {
                (Value::String(err), Ok(r)) => panic!("{rate:?}: DRF {err}, ours {r:?}"),
                (Value::String(_), Err(_)) => {}
                (drf, Ok(r)) => {
                    assert_eq!(drf["count"], r.count, "{rate:?}");
                    assert_eq!(drf["period_secs"], r.period_secs, "{rate:?}");
                }
                (drf, Err(e)) => assert!(stricter.contains(&rate), "{rate:?}: DRF {drf}, {e}"),
            }
        }
    }

    #[test]
    fn bodies_match_drf_rendering() {
        let d = drf();
        let mut n = 0;
        for b in d["bodies"].as_array().unwrap() {
            let Some(wait) = b["wait"].as_f64() else {
                continue; // DRF's wait=None body: unreachable here (see wait_secs)
            };
            let secs = wait.ceil() as u64;
            assert_eq!(b["status"], 429);
            assert_eq!(
                throttled_body(secs).to_string(),
                b["body"].as_str().unwrap()
            );
            if secs > 0 {
                assert_eq!(b["retry_after"], secs.to_string());
            }
            n += 1;
        }
        assert!(n >= 10);
        assert_eq!(
            throttled_body(1).to_string(),
            r#"{"detail":"Request was throttled. Expected available in 1 second."}"#
        );
    }

    #[test]
    fn every_drf_scenario_step_matches() {
        let d = drf();
        let scenarios = d["scenarios"].as_array().unwrap();
        let mut steps_checked = 0;
        for sc in scenarios {
            let rate = parse_rate(sc["rate"].as_str().unwrap()).unwrap();
            // Also at exactly full capacity (the scenarios use at most 3 keys).
            for t in [Throttle::new(rate, 1000), Throttle::with_shards(rate, 3, 1)] {
                for (i, step) in sc["steps"].as_array().unwrap().iter().enumerate() {
                    let key = step["key"].as_str().unwrap();
                    let now = step["t_ms"].as_u64().unwrap();
                    let got = t.check(key, now);
                    let ctx = format!("{} step {i} {step}", sc["rate"]);
                    if step["allowed"].as_bool().unwrap() {
                        assert_eq!(got, Ok(()), "{ctx}");
                    } else {
                        let wait = step["wait_secs"].as_u64().unwrap();
                        assert_eq!(got, Err(wait), "{ctx}");
                        assert_eq!(throttled_body(wait)["detail"], step["detail"], "{ctx}");
                    }
                    steps_checked += 1;
                }
            }
        }
        assert!(steps_checked > 1500, "{steps_checked}");
    }

    #[test]
    fn sliding_window_with_fixed_clock() {
        let t = Throttle::new(MIN, 100);
        assert_eq!(t.check("a", 10_000), Ok(()));
        assert_eq!(t.check("a", 20_000), Ok(()));
        assert_eq!(t.check("a", 30_000), Ok(()));
        assert_eq!(t.check("a", 30_001), Err(40));
        assert_eq!(t.check("b", 30_001), Ok(()));
        // Refused requests are not recorded.
        for now in (31_000..69_999).step_by(1_000) {
            assert!(t.check("a", now).is_err());
        }
        assert_eq!(t.check("a", 69_999), Err(1));
        assert_eq!(t.check("a", 70_000), Ok(()));
        assert_eq!(t.check("a", 70_000), Err(10));
        assert_eq!(t.check("a", 80_000), Ok(()));
        assert_eq!(t.check("a", 80_000), Err(10));
        // A long pause empties the history.
        for i in 0..3 {
            assert_eq!(t.check("a", 1_000_000 + i), Ok(()));
        }
    }

    #[test]
    fn wait_uses_drfs_formula() {
        let r = Rate {
            count: 2,
            period_secs: 10,
        };
        let mut h = VecDeque::from([5_000, 1_500]);
        assert_eq!(wait_secs(r, &h, 6_000), 6); // (10 - 4.5) / 1 = 5.5 -> 6
        h.push_front(5_500); // longer than the rate: available would be 0, clamped to 1
        assert_eq!(wait_secs(r, &h, 6_000), 6);
        h.clear();
        // DRF's formula on an empty history: 10 / (2 - 0 + 1) = 3.33 -> 4 (only reachable
        // with count 0, where it gives the whole period).
        assert_eq!(wait_secs(r, &h, 6_000), 4);
    }

    #[test]
    fn zero_count_refuses_everything_like_drf() {
        let t = Throttle::new(
            Rate {
                count: 0,
                period_secs: 60,
            },
            10,
        );
        assert_eq!(t.check("a", 0), Err(60));
        assert!(t.is_empty());
    }

    #[test]
    fn early_clock_does_not_underflow() {
        let t = Throttle::new(MIN, 10);
        for _ in 0..3 {
            assert_eq!(t.check("a", 0), Ok(()));
        }
        assert_eq!(t.check("a", 0), Err(60));
        assert_eq!(t.check("a", 59_999), Err(1));
        assert_eq!(t.check("a", 60_000), Ok(()));
        let huge = Throttle::new(
            Rate {
                count: 1,
                period_secs: u64::MAX,
            },
            10,
        );
        assert_eq!(huge.check("a", u64::MAX), Ok(()));
        assert!(huge.check("a", u64::MAX).unwrap_err() > 1);
        assert!(huge.check("a", 0).unwrap_err() > 1);
    }

    #[test]
    fn memory_stays_bounded() {
        let t = Throttle::new(
            Rate {
                count: 5,
                period_secs: 3600,
            },
            100,
        );
        for i in 0..20_000u64 {
            assert_eq!(t.check(&format!("flood-{i}"), i), Ok(()));
            if i % 1000 == 0 {
                assert!(t.len() <= 100);
            }
        }
        assert!(t.len() <= 100, "{}", t.len());
        assert!(t.len() >= 50, "{}", t.len());
        let tiny = Throttle::new(MIN, 0);
        for i in 0..100 {
            assert_eq!(tiny.check(&i.to_string(), 0), Ok(()));
            assert_eq!(tiny.len(), 1);
        }
    }

    #[test]
    fn eviction_prefers_expired_then_least_recently_checked() {
        let one = Rate {
            count: 1,
            period_secs: 60,
        };
        let t = Throttle::with_shards(one, 8, 1);
        for k in 0..8 {
            assert_eq!(t.check(&format!("k{k}"), 0), Ok(()));
        }
        assert_eq!(t.check("k0", 1), Err(60)); // k0 is now the most recently checked
        assert_eq!(t.check("new1", 2), Ok(())); // full: evicts k1, the least recent
        assert_eq!(t.len(), 8);
        assert_eq!(t.check("k0", 3), Err(60));
        assert_eq!(t.check("k2", 3), Err(60));
        assert_eq!(t.check("k1", 3), Ok(())); // forgotten, so allowed again (evicts k3)

        let t = Throttle::with_shards(one, 8, 1);
        assert_eq!(t.check("old", 0), Ok(()));
        for k in 1..8 {
            assert_eq!(t.check(&format!("k{k}"), 30_000), Ok(()));
        }
        assert_eq!(t.check("old", 59_000), Err(1)); // most recently checked, but...
        assert_eq!(t.check("new", 60_000), Ok(())); // ...expired: it goes, k1 stays
        assert_eq!(t.check("k1", 60_001), Err(30));
        assert_eq!(t.len(), 8);
    }

    #[test]
    fn concurrent_checks_never_exceed_the_rate() {
        let rate = Rate {
            count: 100,
            period_secs: 60,
        };
        let t = Arc::new(Throttle::new(rate, 10_000));
        let threads: Vec<_> = (0..8)
            .map(|n| {
                let t = Arc::clone(&t);
                std::thread::spawn(move || {
                    let mut allowed = 0;
                    for i in 0..200u64 {
                        if t.check("shared", 1_000 + i).is_ok() {
                            allowed += 1;
                        }
                        assert_eq!(t.check(&format!("own-{n}-{i}"), 1_000), Ok(()));
                    }
                    allowed
                })
            })
            .collect();
        let allowed: u32 = threads.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(allowed, 100);
        assert_eq!(t.len(), 1 + 8 * 200);
    }
}
