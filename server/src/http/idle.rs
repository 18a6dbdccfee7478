//! Closing connections that hold a socket without asking anything: a client stalled in
//! its request line or headers (slowloris), an idle keep-alive connection, a client that
//! never reads its answer.
//!
//! hyper's own `header_read_timeout` arms a boxed timer for every request of a
//! keep-alive connection and registers it with the timer wheel each time the
//! connection waits for its next request. Here a connection keeps one [`Activity`]
//! record that each request touches with a few atomic operations and one clock read,
//! and one [`watch`] per connection sleeps until the earliest moment the connection
//! could be due, about once per timeout. A connection closed for idleness is dropped
//! without a goodbye (the server speaks HTTP/1 only, where that is the norm).

use std::{
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::time::Instant;

/// What a connection's requests are doing, shared by its service and its [`watch`].
#[derive(Debug)]
pub struct Activity {
    /// When the connection was accepted; `idle_since` counts from here.
    base: Instant,
    /// Requests being answered (more than one only on a multiplexed connection).
    busy: AtomicUsize,
    /// Nanoseconds after `base` when the last request was answered (0: none yet).
    idle_since: AtomicU64,
}

/// Held while a request is answered; dropping it marks the connection idle from now.
#[derive(Debug)]
pub struct Busy(Arc<Activity>);

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            base: Instant::now(),
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
        })
    }

    /// Marks a request as started (its head has fully arrived).
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(self))
    }

    /// The earliest moment the connection can be closed, or `None` while it is
    /// answering a request.
    fn due(&self, timeout: Duration) -> Option<Instant> {
        if self.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        let idle_since = Duration::from_nanos(self.idle_since.load(Ordering::Acquire));
        Some(self.base + idle_since + timeout)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let since = self.0.base.elapsed().as_nanos();
        let since = u64::try_from(since).unwrap_or(u64::MAX);
        // Written before `busy` drops, so a watch that sees no request also sees this.
        self.0.idle_since.fetch_max(since, Ordering::AcqRel);
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Resolves once the connection has gone `timeout` without starting a request, counted
/// from its accept or its last answer, whichever is later. A connection answering a
/// request is never due (a stalled body is the body timeout's business).
pub async fn watch(activity: Arc<Activity>, timeout: Duration) {
    let mut deadline = activity.base + timeout;
    loop {
        tokio::time::sleep_until(deadline).await;
        match activity.due(timeout) {
            Some(due) if due <= Instant::now() => return,
            Some(due) => deadline = due,
            None => deadline = Instant::now() + timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(30);

    /// Runs `watch` on paused time and says when it resolved, relative to its start.
    async fn closes_after(activity: &Arc<Activity>, script: impl std::future::Future) -> Duration {
        let started = Instant::now();
        let watch = watch(Arc::clone(activity), T);
        tokio::pin!(watch);
        tokio::pin!(script);
        let mut script_done = false;
        loop {
            tokio::select! {
                () = &mut watch => return started.elapsed(),
                _ = &mut script, if !script_done => script_done = true,
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_never_asks_is_closed_after_the_timeout() {
        let activity = Activity::new();
        let took = closes_after(&activity, std::future::pending::<()>()).await;
        assert_eq!(took, T);
    }

    #[tokio::test(start_paused = true)]
    async fn each_answer_restarts_the_count_and_a_busy_connection_is_never_due() {
        let activity = Activity::new();
        let script = {
            let activity = Arc::clone(&activity);
            async move {
                // Answered at 20 s: due at 50 s, not 30 s.
                tokio::time::sleep(Duration::from_secs(20)).await;
                drop(activity.begin());
                // Then a request that takes 100 s (a slow handler): not closed meanwhile.
                tokio::time::sleep(Duration::from_secs(10)).await;
                let busy = activity.begin();
                tokio::time::sleep(Duration::from_secs(100)).await;
                drop(busy);
                // Answered at 130 s: closed at 160 s.
            }
        };
        let took = closes_after(&activity, script).await;
        assert_eq!(took, Duration::from_secs(160));
    }

    #[tokio::test(start_paused = true)]
    async fn overlapping_requests_keep_it_open_until_the_last_is_answered() {
        let activity = Activity::new();
        let script = {
            let activity = Arc::clone(&activity);
            async move {
                let first = activity.begin();
                let second = activity.begin();
                tokio::time::sleep(Duration::from_secs(40)).await;
                drop(first);
                tokio::time::sleep(Duration::from_secs(5)).await;
                drop(second);
            }
        };
        let took = closes_after(&activity, script).await;
        assert_eq!(took, Duration::from_secs(75));
    }
}
