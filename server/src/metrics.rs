//! Prometheus text metrics, kept in atomics (no locks on the request path).

use std::{
    fmt::Write as _,
    sync::atomic::{AtomicU64, Ordering},
};

use crate::store::{Counts, Health};

/// The routes metrics are labelled with (a closed set: no label explosion from paths).
pub const ROUTES: [&str; 13] = [
    "token_obtain",
    "token_refresh",
    "token_verify",
    "token_blacklist",
    "token_sliding",
    "token_sliding_refresh",
    "logout",
    "me",
    "jwks",
    "healthz",
    "metrics",
    "static",
    "other",
];

/// Status classes counted per route.
const STATUSES: [u16; 12] = [200, 204, 304, 400, 401, 403, 404, 405, 413, 415, 429, 503];

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Counters and histograms.
#[derive(Debug)]
pub struct Metrics {
    requests: Vec<AtomicU64>,
    other_status: Vec<AtomicU64>,
    latency: Vec<AtomicU64>,
    latency_sum_us: Vec<AtomicU64>,
    latency_count: Vec<AtomicU64>,
    pub logins_ok: AtomicU64,
    pub logins_failed: AtomicU64,
    pub logins_throttled: AtomicU64,
    pub refreshes_ok: AtomicU64,
    pub refreshes_failed: AtomicU64,
    /// Replays: a rotated-out refresh token presented again, its family revoked.
    pub reuse_detections: AtomicU64,
    /// Reuses within the reuse interval: the same successor handed out again.
    pub reuse_grace: AtomicU64,
}

fn zeros(n: usize) -> Vec<AtomicU64> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: zeros(ROUTES.len() * STATUSES.len()),
            other_status: zeros(ROUTES.len()),
            latency: zeros(ROUTES.len() * BUCKETS.len()),
            latency_sum_us: zeros(ROUTES.len()),
            latency_count: zeros(ROUTES.len()),
            logins_ok: AtomicU64::new(0),
            logins_failed: AtomicU64::new(0),
            logins_throttled: AtomicU64::new(0),
            refreshes_ok: AtomicU64::new(0),
            refreshes_failed: AtomicU64::new(0),
            reuse_detections: AtomicU64::new(0),
            reuse_grace: AtomicU64::new(0),
        }
    }
}

/// The index of `route` in [`ROUTES`] (`other` for a name not there), for
/// [`Metrics::observe`]; the request path looks it up once per route, not per request.
pub fn route_index(route: &str) -> usize {
    ROUTES
        .iter()
        .position(|r| *r == route)
        .unwrap_or(ROUTES.len() - 1)
}

impl Metrics {
    /// Counts one request on the route [`route_index`] gave. Four relaxed atomic
    /// additions: the request's status, its latency bucket (the smallest bound it is
    /// under; [`Metrics::render`] sums them into Prometheus's cumulative buckets), the
    /// latency sum and count.
    pub fn observe(&self, route: usize, status: u16, seconds: f64) {
        let r = route.min(ROUTES.len() - 1);
        match STATUSES.iter().position(|s| *s == status) {
            Some(s) => self.requests[r * STATUSES.len() + s].fetch_add(1, Ordering::Relaxed),
            None => self.other_status[r].fetch_add(1, Ordering::Relaxed),
        };
        if let Some(b) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.latency[r * BUCKETS.len() + b].fetch_add(1, Ordering::Relaxed);
        }
        let micros = (seconds * 1e6) as u64;
        self.latency_sum_us[r].fetch_add(micros, Ordering::Relaxed);
        self.latency_count[r].fetch_add(1, Ordering::Relaxed);
    }

    /// Renders the Prometheus text exposition format.
    /// `round_trips`: the store's database round trips, when it has a database.
    pub fn render(&self, counts: Counts, health: Health, round_trips: Option<u64>) -> String {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::with_capacity(8192);
        out.push_str("# HELP tollgate_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE tollgate_requests_total counter\n");
        for (r, route) in ROUTES.iter().enumerate() {
            for (s, status) in STATUSES.iter().enumerate() {
                let n = load(&self.requests[r * STATUSES.len() + s]);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "tollgate_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                    );
                }
            }
            let n = load(&self.other_status[r]);
            if n > 0 {
                let _ = writeln!(
                    out,
                    "tollgate_requests_total{{route=\"{route}\",status=\"other\"}} {n}"
                );
            }
        }
        out.push_str("# HELP tollgate_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE tollgate_request_duration_seconds histogram\n");
        for (r, route) in ROUTES.iter().enumerate() {
            let count = load(&self.latency_count[r]);
            if count == 0 {
                continue;
            }
            let mut n = 0;
            for (b, bound) in BUCKETS.iter().enumerate() {
                n += load(&self.latency[r * BUCKETS.len() + b]);
                let _ = writeln!(out, "tollgate_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "tollgate_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
            );
            let sum = load(&self.latency_sum_us[r]) as f64 / 1e6;
            let _ = writeln!(
                out,
                "tollgate_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "tollgate_request_duration_seconds_count{{route=\"{route}\"}} {count}"
            );
        }
        let counters = [
            (
                "tollgate_logins_total",
                "result=\"ok\"",
                &self.logins_ok,
                "Login attempts by result.",
            ),
            (
                "tollgate_logins_total",
                "result=\"failed\"",
                &self.logins_failed,
                "",
            ),
            (
                "tollgate_logins_total",
                "result=\"throttled\"",
                &self.logins_throttled,
                "",
            ),
            (
                "tollgate_refreshes_total",
                "result=\"ok\"",
                &self.refreshes_ok,
                "Token refreshes by result (ok: a new token; a successor handed out again is counted in tollgate_refresh_reuse_total).",
            ),
            (
                "tollgate_refreshes_total",
                "result=\"failed\"",
                &self.refreshes_failed,
                "",
            ),
            (
                "tollgate_refresh_reuse_total",
                "cause=\"grace\"",
                &self.reuse_grace,
                "Rotated-out refresh tokens presented again, by cause (grace: within the reuse interval, the same successor again; replay: the family revoked).",
            ),
            (
                "tollgate_refresh_reuse_total",
                "cause=\"replay\"",
                &self.reuse_detections,
                "",
            ),
        ];
        for (name, labels, value, help) in counters {
            if !help.is_empty() {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            }
            let _ = writeln!(out, "{name}{{{labels}}} {}", load(value));
        }
        let _ = writeln!(
            out,
            "# HELP tollgate_reuse_detections_total Replays of rotated refresh tokens (families revoked).\n# TYPE tollgate_reuse_detections_total counter\ntollgate_reuse_detections_total {}",
            load(&self.reuse_detections)
        );
        let gauges = [
            (
                "tollgate_blacklisted_tokens",
                "Blacklist entries in the store.",
                counts.blacklisted,
            ),
            (
                "tollgate_outstanding_tokens",
                "Outstanding refresh and sliding tokens in the store.",
                counts.outstanding,
            ),
            ("tollgate_users", "Users in the store.", counts.users),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        if let Some(trips) = round_trips {
            let _ = writeln!(
                out,
                "# HELP tollgate_database_round_trips_total Round trips to the database (PostgreSQL).\n# TYPE tollgate_database_round_trips_total counter\ntollgate_database_round_trips_total {trips}"
            );
        }
        out.push_str("# HELP tollgate_store_health The store's state (1 for the current one).\n");
        out.push_str("# TYPE tollgate_store_health gauge\n");
        for state in [Health::Ready, Health::Recovering, Health::Unreachable] {
            let _ = writeln!(
                out,
                "tollgate_store_health{{state=\"{}\"}} {}",
                state.name(),
                u8::from(state == health)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.observe(route_index("token_refresh"), 200, 0.002);
        m.observe(route_index("token_refresh"), 401, 0.0001);
        m.observe(route_index("nonsense"), 418, 3.0);
        m.reuse_detections.fetch_add(1, Ordering::Relaxed);
        let text = m.render(
            Counts {
                users: 1,
                outstanding: 2,
                blacklisted: 3,
            },
            Health::Recovering,
            Some(42),
        );
        assert!(text.contains("tollgate_database_round_trips_total 42"));
        assert!(text.contains("tollgate_requests_total{route=\"token_refresh\",status=\"200\"} 1"));
        assert!(text.contains("tollgate_requests_total{route=\"other\",status=\"other\"} 1"));
        assert!(text.contains(
            "tollgate_request_duration_seconds_bucket{route=\"token_refresh\",le=\"0.0025\"} 2"
        ));
        assert!(text.contains(
            "tollgate_request_duration_seconds_bucket{route=\"token_refresh\",le=\"0.001\"} 1"
        ));
        assert!(text.contains("tollgate_reuse_detections_total 1"));
        assert!(text.contains("tollgate_refresh_reuse_total{cause=\"replay\"} 1"));
        assert!(text.contains("tollgate_refresh_reuse_total{cause=\"grace\"} 0"));
        assert!(text.contains("tollgate_blacklisted_tokens 3"));
        assert!(text.contains("tollgate_store_health{state=\"recovering\"} 1"));
        assert!(text.contains("tollgate_store_health{state=\"ready\"} 0"));
    }
}
