//! Group commit: one flush of sled serves every caller waiting for durability.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use tokio::sync::{watch, Notify};

use super::Inner;
use crate::store::StoreError;

/// Group commit: callers take a ticket, one background flush covers every ticket taken
/// before it started.
pub(super) struct GroupCommit {
    shared: Arc<CommitShared>,
    started: std::sync::Once,
}

struct CommitShared {
    requested: AtomicU64,
    wake: Notify,
    /// (highest ticket flushed, error of that flush)
    done: watch::Sender<(u64, Option<String>)>,
}

impl GroupCommit {
    pub(super) fn new() -> Self {
        Self {
            shared: Arc::new(CommitShared {
                requested: AtomicU64::new(0),
                wake: Notify::new(),
                done: watch::channel((0, None)).0,
            }),
            started: std::sync::Once::new(),
        }
    }

    pub(super) async fn wait(&self, store: std::sync::Weak<Inner>) -> Result<(), StoreError> {
        self.started.call_once(|| {
            tokio::spawn(flusher(store, Arc::clone(&self.shared)));
        });
        let shared = &self.shared;
        let mut rx = shared.done.subscribe();
        let ticket = shared.requested.fetch_add(1, Ordering::SeqCst) + 1;
        // `notify_one` keeps a permit when the flusher is busy: no wake-up is lost.
        shared.wake.notify_one();
        loop {
            {
                let (flushed, error) = &*rx.borrow_and_update();
                if *flushed >= ticket {
                    return match error {
                        None => Ok(()),
                        Some(err) => Err(StoreError::Io(err.clone())),
                    };
                }
            }
            if rx.changed().await.is_err() {
                return Err(StoreError::Io("the flush task stopped".into()));
            }
        }
    }
}

/// Holds the store only weakly, so dropping the last `Store` closes the database.
async fn flusher(store: std::sync::Weak<Inner>, shared: Arc<CommitShared>) {
    let mut flushed = 0;
    loop {
        shared.wake.notified().await;
        let target = shared.requested.load(Ordering::SeqCst);
        if target <= flushed {
            continue;
        }
        let Some(inner) = store.upgrade() else {
            return;
        };
        let db = inner.db.clone();
        drop(inner);
        let result = db.flush_async().await;
        drop(db);
        flushed = target;
        shared
            .done
            .send_replace((target, result.err().map(|e| e.to_string())));
    }
}
