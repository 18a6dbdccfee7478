//! A connection's task woken by its own poll, without a trip through the scheduler.
//!
//! hyper's request body is a channel between the connection's dispatcher and the
//! service's future, and both run inside the one task of the connection: when the
//! service first polls the body, the channel wakes the dispatcher ("send me the body"),
//! and when the dispatcher hands over the body's bytes and then closes the channel, it
//! wakes the service, each time the task that is being polled. The dispatcher's own
//! loop has already done that work by the time the poll returns, so these wakes are
//! for nothing; but tokio counts a task woken while it runs as a yield: the task goes
//! to the back of the worker's run queue and *another worker thread is woken* (a
//! `futex` call, then that thread's `epoll_wait` and `futex` wait) to come and take
//! it, and the task is polled once more. Every request with a body paid that (verify:
//! 6 system calls per answer against a GET's 3; BENCHMARKS.md, "tollgate against a
//! bare warp route").
//!
//! [`Coalesced`] polls its future with a waker of its own. A wake that arrives while
//! the future is being polled only marks it, and the future is polled again right away,
//! on the same thread (at most [`REPOLLS`] times per poll: then the wake goes to the
//! scheduler as before, so a future that always wakes itself still yields to others).
//! A wake at any other time, from any thread, goes to the task's waker at once. Nothing
//! is lost: every wake either reaches the task or is followed by a poll.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicU8, Ordering},
        Arc,
    },
    task::{Context, Poll, Wake, Waker},
};

use futures_util::task::AtomicWaker;

/// How many times one poll may poll its future again after a wake of its own.
pub const REPOLLS: usize = 4;

/// The future is being polled.
const POLLING: u8 = 1;
/// It was woken while being polled.
const WOKEN: u8 = 2;

/// What the waker handed to the future shares with [`Coalesced`].
#[derive(Debug, Default)]
struct Shared {
    state: AtomicU8,
    /// The task's own waker, as of the last poll.
    task: AtomicWaker,
}

impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // During a poll, the poll sees the mark and polls again; otherwise the task.
        if self.state.fetch_or(WOKEN, Ordering::AcqRel) & POLLING == 0 {
            self.task.wake();
        }
    }
}

/// `F`, whose wakes from inside its own poll are answered by polling it again at once
/// (see the module's documentation).
#[derive(Debug)]
pub struct Coalesced<F> {
    inner: F,
    shared: Arc<Shared>,
    /// Built once: every poll lends the same waker.
    waker: Waker,
}

impl<F: Future + Unpin> Coalesced<F> {
    pub fn new(inner: F) -> Self {
        let shared = Arc::new(Shared::default());
        let waker = Waker::from(Arc::clone(&shared));
        Self {
            inner,
            shared,
            waker,
        }
    }
}

impl<F: Future + Unpin> Future for Coalesced<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        this.shared.task.register(cx.waker());
        let mut own = Context::from_waker(&this.waker);
        for _ in 0..=REPOLLS {
            this.shared.state.store(POLLING, Ordering::Release);
            let poll = Pin::new(&mut this.inner).poll(&mut own);
            let state = this.shared.state.swap(0, Ordering::AcqRel);
            if poll.is_ready() || state & WOKEN == 0 {
                return poll;
            }
        }
        // Still waking itself: a yield, as without this wrapper.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn task() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        let waker = Waker::from(Arc::clone(&count));
        (count, waker)
    }

    /// Wakes itself `self_wakes` times (once per poll) before it is ready, and keeps
    /// the last waker it was given.
    struct SelfWaking {
        self_wakes: usize,
        polls: usize,
        waker: Option<Waker>,
    }

    impl Future for SelfWaking {
        type Output = usize;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            self.polls += 1;
            self.waker = Some(cx.waker().clone());
            if self.self_wakes == 0 {
                return Poll::Ready(self.polls);
            }
            self.self_wakes -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    fn self_waking(self_wakes: usize) -> SelfWaking {
        SelfWaking {
            self_wakes,
            polls: 0,
            waker: None,
        }
    }

    #[test]
    fn a_wake_during_its_own_poll_polls_again_without_waking_the_task() {
        let (count, waker) = task();
        let mut future = Coalesced::new(self_waking(3));
        let poll = Pin::new(&mut future).poll(&mut Context::from_waker(&waker));
        assert_eq!(poll, Poll::Ready(4));
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_future_that_keeps_waking_itself_still_yields_to_the_scheduler() {
        let (count, waker) = task();
        let mut future = Coalesced::new(self_waking(100));
        let poll = Pin::new(&mut future).poll(&mut Context::from_waker(&waker));
        assert_eq!(poll, Poll::Pending);
        assert_eq!(future.inner.polls, REPOLLS + 1);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "one wake: a yield");
    }

    #[test]
    fn a_wake_after_the_poll_reaches_the_task_from_any_thread() {
        let (count, waker) = task();
        // Pending without a wake of its own: waits for someone else.
        let mut future = Coalesced::new(std::future::poll_fn(|cx| {
            let _ = cx;
            Poll::<()>::Pending
        }));
        assert_eq!(
            Pin::new(&mut future).poll(&mut Context::from_waker(&waker)),
            Poll::Pending
        );
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        let lent = future.waker.clone();
        std::thread::spawn(move || lent.wake()).join().unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);

        // And a wake kept from an earlier poll, after a later one, still arrives.
        let (count, waker) = task();
        let mut future = Coalesced::new(self_waking(1));
        assert_eq!(
            Pin::new(&mut future).poll(&mut Context::from_waker(&waker)),
            Poll::Ready(2)
        );
        let kept = future.inner.waker.take().unwrap();
        kept.wake_by_ref();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_the_runtime_every_wake_from_elsewhere_is_seen() {
        // A channel fed from another task: each item arrives by a wake from outside.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
        let sender = tokio::spawn(async move {
            for i in 0..1000 {
                tx.send(i).await.unwrap();
            }
        });
        let sum = tokio::spawn(async move {
            let receive = std::pin::pin!(async move {
                let mut sum = 0u64;
                while let Some(i) = rx.recv().await {
                    sum += u64::from(i);
                }
                sum
            });
            Coalesced::new(receive).await
        });
        // A lost wake would hang the receiver: fail after a bound instead.
        let bound = std::time::Duration::from_secs(30);
        tokio::time::timeout(bound, sender).await.unwrap().unwrap();
        let sum = tokio::time::timeout(bound, sum).await.unwrap().unwrap();
        assert_eq!(sum, 999 * 1000 / 2);
    }
}
