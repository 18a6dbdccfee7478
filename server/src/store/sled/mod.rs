//! The sled backend: users, outstanding tokens, the blacklist and token families in one
//! sled database per data folder.
//!
//! Every key is a stable id (user id, jti), never token text. Use cases that change a
//! user's records take that user's lock ([`Inner::lock_user`]); the rotation, the hot
//! one, then reads and stages its writes and applies them as plain writes, deciding
//! write last ([`tx::Writes`]: sled 0.34.7 seals and syncs its log twice for every
//! transaction, which defeats group commit); the rarer ones (login, revocations, user
//! changes) are sled transactions over several trees. Each writing use case then waits
//! for a flush that started after its write ([`commit`]: one flush serves every caller
//! waiting). sled stays failed after an I/O error, so the database
//! lives in a slot that [`SledStore::supervise`] reopens; sled allows one process per
//! database ([`StoreError::Locked`]).

mod audit;
mod commit;
mod compact;
mod dump;
mod format;
mod keys;
mod record;
mod rotate;
#[cfg(test)]
mod tests;
mod tokens;
mod tx;
mod upgrade;
mod users;

use std::{
    collections::HashMap,
    fmt,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicI64, AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use sled::Tree;

use self::{
    commit::GroupCommit,
    format::{
        decode, encode, stored_clock_floor, CACHE_BYTES, CLOCK_FLOOR_KEY, COMPRESSED, COMPRESSION,
        COUNTS_KEY, FORMAT, FORMAT_KEY,
    },
};
use crate::store::{Counts, Health, StoreError, User};

/// The sled backend: the database in `<data folder>/db`.
#[derive(Clone)]
pub struct SledStore {
    slot: Arc<Slot>,
}

/// The open database, or none while it is being reopened after an I/O error.
struct Slot {
    path: PathBuf,
    current: std::sync::RwLock<Option<Arc<Inner>>>,
    /// A flush failed (disk full, I/O error): sled stays failed until reopened.
    failed: std::sync::atomic::AtomicBool,
    /// See [`SledStore::clock_floor_ms`]; here, not in `Inner`, so that reading it (on every
    /// request) takes no lock and it survives a reopen.
    clock_floor_ms: AtomicU64,
    /// See [`SledStore::user_shared`].
    decoded_users: Mutex<HashMap<u64, Decoded<User>>>,
}

/// A record as decoded from the stored bytes it is kept with.
struct Decoded<T> {
    bytes: Box<[u8]>,
    value: Arc<T>,
}

/// How many decoded users [`SledStore::user_shared`] keeps (about 1 KiB each); past that a
/// new one takes the place of an arbitrary other.
const DECODED_USERS: usize = 1024;

struct Inner {
    db: sled::Db,
    users: Tree,
    usernames: Tree,
    emails: Tree,
    /// Format 3 ([`record`]): a token's record, its blacklist state included, by jti.
    tokens: Tree,
    /// Family records (with the ids of their tokens), by family id.
    families: Tree,
    /// `user id ++ family`: the families of a user.
    user_families: Tree,
    /// `time ++ kind ++ id`: one entry per family (and per blacklist entry kept alone)
    /// for the flush of expired records.
    expiry: Tree,
    /// `family ++ u32 BE number`: the older token ids of a family, moved out of its
    /// record [`record::INLINE_MEMBERS`] at a time.
    family_chunks: Tree,
    commit: GroupCommit,
    counts: Counters,
    /// The user locks ([`Inner::lock_user`]).
    users_locked: UserLocks,
}

/// Locks held by every use case that changes a user's token records, families or user
/// record, so that those changes exclude one another as sled's transactions did (a
/// rotation is not a sled transaction: see [`tx::Writes`]). Striped: users whose ids
/// share a stripe wait for each other, which only costs time.
struct UserLocks([std::sync::Mutex<()>; USER_LOCK_STRIPES]);

const USER_LOCK_STRIPES: usize = 64;

impl Default for UserLocks {
    fn default() -> Self {
        Self(std::array::from_fn(|_| std::sync::Mutex::new(())))
    }
}

impl Inner {
    /// The lock of `user_id`'s records (never held across an `await`, never two at once).
    fn lock_user(&self, user_id: u64) -> std::sync::MutexGuard<'_, ()> {
        // Fibonacci hashing spreads consecutive ids over the stripes.
        let stripe = (user_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize;
        self.users_locked.0[stripe % USER_LOCK_STRIPES]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// Record counts, kept as writes commit: sled's `len` walks a whole tree (seconds for
/// a million tokens, and the walk pulls every page through the cache). A clean close
/// stores them under [`COUNTS_KEY`] for the next open; after a crash they are counted.
#[derive(Default)]
struct Counters {
    users: AtomicI64,
    outstanding: AtomicI64,
    blacklisted: AtomicI64,
}

/// Records one committed write added (negative: removed).
#[derive(Debug, Default, Clone, Copy)]
struct Delta {
    outstanding: i64,
    blacklisted: i64,
}

impl Counters {
    fn add(&self, delta: Delta) {
        self.outstanding
            .fetch_add(delta.outstanding, Ordering::Relaxed);
        self.blacklisted
            .fetch_add(delta.blacklisted, Ordering::Relaxed);
    }

    fn get(&self) -> [u64; 3] {
        [&self.users, &self.outstanding, &self.blacklisted]
            .map(|n| u64::try_from(n.load(Ordering::Relaxed)).unwrap_or(0))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Best effort: without the key the next open counts.
        if self
            .db
            .insert(COUNTS_KEY, encode(&self.counts.get()))
            .is_ok()
        {
            let _ = self.db.flush();
        }
    }
}

/// Opens sled's database at `path` (in the data folder `dir`), compressed (format 3) or
/// not (formats 1 and 2, to upgrade them).
fn open_db(dir: &Path, path: &Path, compressed: bool) -> Result<sled::Db, StoreError> {
    sled::Config::new()
        .path(path)
        .mode(sled::Mode::HighThroughput)
        // sled's default page cache is 1 GiB; the working set of a token store is
        // the recent tokens, and memory must stay flat as the store grows.
        .cache_capacity(CACHE_BYTES)
        .use_compression(compressed)
        .compression_factor(COMPRESSION)
        .open()
        .map_err(|err| match err {
            sled::Error::Io(io)
                if io.kind() == std::io::ErrorKind::WouldBlock
                    || io.to_string().contains("could not acquire lock") =>
            {
                StoreError::Locked(dir.to_path_buf())
            }
            other => StoreError::from(other),
        })
}

/// Format 3's token trees, in the order [`open_v3_trees`] gives them: tokens, families,
/// user families, the expiry index, family chunks.
const V3_TREES: [&str; 5] = [
    "v3.tokens",
    "v3.families",
    "v3.user_families",
    "v3.expiry",
    "v3.family_chunks",
];

/// Opens (or creates) format 3's token trees ([`V3_TREES`]) in `db`.
fn open_v3_trees(db: &sled::Db) -> sled::Result<[sled::Tree; 5]> {
    let [a, b, c, d, e] = V3_TREES.map(|name| db.open_tree(name));
    Ok([a?, b?, c?, d?, e?])
}

/// `[users, outstanding, blacklisted]` counted (after a crash): a walk of the token
/// records.
fn count_records(inner: &Inner) -> Result<[u64; 3], StoreError> {
    let mut counts = [inner.users.len() as u64, 0, 0];
    for item in inner.tokens.iter() {
        let (key, value) = item?;
        let jti = record::Reader::new(&key).id()?;
        let record = record::TokenRecord::decode(&jti, &value)?;
        counts[1] += u64::from(record.outstanding);
        counts[2] += u64::from(record.listed.is_some());
    }
    Ok(counts)
}

impl fmt::Debug for SledStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.slot.path)
            .finish()
    }
}

impl SledStore {
    /// Opens (or creates) the database in `dir`. A database held by another process,
    /// or one that cannot be read, is an error: never a fresh empty database.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let inner = Self::open_inner(dir)?;
        Ok(Self {
            slot: Arc::new(Slot {
                path: dir.to_path_buf(),
                clock_floor_ms: AtomicU64::new(stored_clock_floor(inner.db.get(CLOCK_FLOOR_KEY)?)),
                decoded_users: Mutex::default(),
                current: std::sync::RwLock::new(Some(Arc::new(inner))),
                failed: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    fn open_inner(dir: &Path) -> Result<Inner, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Io(format!("{}: {e}", dir.display())))?;
        // Password hashes and token records: for the owner only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| StoreError::Io(format!("{}: {e}", dir.display())))?;
        }
        upgrade::settle(dir)?;
        let path = dir.join("db");
        let existed = path.exists();
        // An existing database opens with its own compression setting.
        let open = |path: &Path| {
            let compressed = upgrade::compressed(path).unwrap_or(COMPRESSED);
            open_db(dir, path, compressed)
        };
        let mut db = open(&path)?;
        if db.get(FORMAT_KEY)?.is_some_and(|f| upgrade::is_old(&f)) {
            upgrade::to_format_3(dir, db, |path, compressed| open_db(dir, path, compressed))?;
            // Opened again: sled 0.34.7 writes its snapshot only at open, so this open
            // replays the copy's log once and the next one does not.
            db = reopened(|| open(&path))?;
        }
        let [tokens, families, user_families, expiry, family_chunks] = open_v3_trees(&db)?;
        let tree = |name: &str| db.open_tree(name);
        match db.get(FORMAT_KEY)? {
            Some(format) if format.as_ref() == FORMAT => {}
            Some(other) => {
                return Err(StoreError::Corrupt(format!(
                    "unknown format {:?}",
                    String::from_utf8_lossy(&other)
                )))
            }
            None if existed && !db.is_empty() => {
                return Err(StoreError::Corrupt("no format marker".into()))
            }
            None => {
                db.insert(FORMAT_KEY, FORMAT)?;
                db.flush()?;
            }
        }
        // A current database beside a new one: a compaction stopped before its switch.
        compact::discard_partial(dir)?;
        let stored_counts = match db.remove(COUNTS_KEY)? {
            Some(bytes) => {
                // Removed durably before any other write: after a crash, the next open
                // counts instead of trusting counts this process went on to change.
                db.flush()?;
                Some(decode::<[u64; 3]>(&bytes)?)
            }
            None => None,
        };
        let inner = Inner {
            users: tree("users")?,
            usernames: tree("usernames")?,
            emails: tree("emails")?,
            tokens,
            families,
            user_families,
            expiry,
            family_chunks,
            commit: GroupCommit::new(),
            counts: Counters::default(),
            users_locked: UserLocks::default(),
            db,
        };
        let [users, outstanding, blacklisted] = match stored_counts {
            Some(counts) => counts,
            None => count_records(&inner)?,
        };
        for (counter, n) in [
            (&inner.counts.users, users),
            (&inner.counts.outstanding, outstanding),
            (&inner.counts.blacklisted, blacklisted),
        ] {
            counter.store(i64::try_from(n).unwrap_or(i64::MAX), Ordering::Relaxed);
        }
        Ok(inner)
    }

    /// The open database, or `Unavailable`-mapped I/O error while it is reopened.
    fn inner(&self) -> Result<Arc<Inner>, StoreError> {
        let current = self.slot.current.read().unwrap_or_else(|e| e.into_inner());
        current
            .clone()
            .ok_or_else(|| StoreError::Io("the store is being reopened after an I/O error".into()))
    }

    /// Marks the store failed when `result` is an error: sled does not recover from a
    /// failed flush by itself (a full disk stays an error after space returns).
    fn watch<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(err) = &result {
            self.note_failure(err);
        }
        result
    }

    /// Records that an operation failed with `err`: an I/O error (a full or failing
    /// disk) leaves sled failed, so the store is marked for [`SledStore::reopen`].
    fn note_failure(&self, err: &StoreError) {
        if matches!(err, StoreError::Io(_)) {
            self.slot.failed.store(true, Ordering::SeqCst);
        }
    }

    /// True after a flush failed, until [`SledStore::reopen`] succeeds.
    fn failed(&self) -> bool {
        self.slot.failed.load(Ordering::SeqCst)
    }

    /// Reopens a failed store (the server calls this every second while
    /// [`SledStore::failed`]): new calls are answered `Unavailable` meanwhile, calls in
    /// flight finish first (at most `patience`), then the database is closed and opened
    /// again, which replays sled's log as after a crash. Acknowledged writes were
    /// flushed before they were acknowledged, so nothing acknowledged is lost.
    pub fn reopen(&self, patience: std::time::Duration) -> Result<(), StoreError> {
        if !self.failed() {
            return Ok(());
        }
        let taken = self
            .slot
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut old) = taken {
            let deadline = std::time::Instant::now() + patience;
            loop {
                match Arc::try_unwrap(old) {
                    Ok(inner) => {
                        drop(inner);
                        break;
                    }
                    Err(shared) if std::time::Instant::now() < deadline => {
                        old = shared;
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    Err(shared) => {
                        *self.slot.current.write().unwrap_or_else(|e| e.into_inner()) =
                            Some(shared);
                        return Err(StoreError::Io("store still in use, not reopened".into()));
                    }
                }
            }
        }
        let inner = Self::open_inner(&self.slot.path)?;
        *self.slot.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(inner));
        self.slot.failed.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Waits until every write made before this call is on disk. Concurrent callers
    /// share one flush, so durability does not serialise the server.
    async fn durable(&self) -> Result<(), StoreError> {
        let inner = self.inner()?;
        let result = inner.commit.wait(Arc::downgrade(&inner)).await;
        self.watch(result)
    }

    /// The earliest time (Unix ms) the server may act at: the latest time it persisted,
    /// at each flush of expired tokens and at shutdown. The server's clock is the wall
    /// clock or this, whichever is later, so a clock stepped back never revives what an
    /// earlier moment expired, and never brings back a token whose records a flush
    /// forgot (see [`SledStore::flush_expired`]).
    pub fn clock_floor_ms(&self) -> u64 {
        self.slot.clock_floor_ms.load(Ordering::SeqCst)
    }

    /// Raises the clock floor to `ms` (never lowers it); true if the stored value rose
    /// (and so has to be made durable).
    fn raise_clock_floor_sync(&self, ms: u64) -> Result<bool, StoreError> {
        self.slot.clock_floor_ms.fetch_max(ms, Ordering::SeqCst);
        let inner = self.inner()?;
        let before = inner.db.fetch_and_update(CLOCK_FLOOR_KEY, |old| {
            let old = old.map_or(0, |b| stored_clock_floor(Some(b.into())));
            Some(old.max(ms).to_be_bytes().to_vec())
        })?;
        Ok(stored_clock_floor(before) < ms)
    }

    /// Flushes synchronously (bulk loads, tests).
    fn flush(&self) -> Result<(), StoreError> {
        let flushed = self.inner()?.db.flush().map(drop).map_err(StoreError::from);
        self.watch(flushed)
    }

    /// Record counts, kept as writes commit (no tree walk).
    pub fn counts(&self) -> Counts {
        let [users, outstanding, blacklisted] = self
            .inner()
            .map_or([0; 3], |i| i.counts.get())
            .map(|n| n as usize);
        Counts {
            users,
            outstanding,
            blacklisted,
        }
    }
}

/// The data folder's size and its database's compaction.
impl SledStore {
    /// Compacts the database in the data folder `dir` offline ([`compact`]): opened
    /// and closed once as a server would (a stopped switch or upgrade finished, the
    /// counts stored), copied into a new database that takes its place, then opened
    /// and closed once more, so that sled writes its snapshot now and the server's next
    /// open does not replay the copy's log. [`StoreError::Locked`] while a server holds
    /// it. Returns the folder's bytes before and after.
    pub fn compact(dir: &Path) -> Result<(u64, u64), StoreError> {
        let before = folder_bytes(dir)?;
        drop(Self::open_inner(dir)?);
        let path = dir.join("db");
        let compressed = upgrade::compressed(&path).unwrap_or(COMPRESSED);
        let old = reopened(|| open_db(dir, &path, compressed))?;
        compact::compact(dir, old, |path, compressed| open_db(dir, path, compressed))?;
        Self::settle_log(dir)?;
        Ok((before, folder_bytes(dir)?))
    }

    /// Opens and closes the database in `dir` once: after a bulk write (`tokens seed`),
    /// sled replays its log then and writes its snapshot, so the server's next open
    /// does not (sled 0.34.7 writes its snapshot only at open).
    pub fn settle_log(dir: &Path) -> Result<(), StoreError> {
        drop(reopened(|| Self::open_inner(dir))?);
        Ok(())
    }
}

/// `open()` of a database this process has just closed: sled's background threads
/// may hold its file (and so its lock) a moment after the drop, so a `Locked` is
/// retried for up to a second (a server holding it is still refused).
fn reopened<T>(open: impl Fn() -> Result<T, StoreError>) -> Result<T, StoreError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        match open() {
            Err(StoreError::Locked(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// The bytes of the files under `dir` (what `du -sb` counts, less the folders' own).
pub fn folder_bytes(dir: &Path) -> Result<u64, StoreError> {
    let io = |e: std::io::Error| StoreError::Io(format!("{}: {e}", dir.display()));
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let meta = entry.metadata().map_err(io)?;
        total += if meta.is_dir() {
            folder_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// The database's life: health, recovery, closing, the clock floor.
impl SledStore {
    /// [`Health::Recovering`] from a failed flush until the reopen succeeds.
    pub fn health(&self) -> Health {
        let open = self
            .slot
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        if self.failed() || !open {
            Health::Recovering
        } else {
            Health::Ready
        }
    }

    /// After a failed flush (a full disk, an I/O error) sled stays failed: reopen it,
    /// every second until it works, so the server recovers by itself once the disk does.
    pub async fn supervise(self) {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            if !self.failed() {
                continue;
            }
            let store = self.clone();
            let patience = std::time::Duration::from_secs(5);
            match tokio::task::spawn_blocking(move || store.reopen(patience)).await {
                Ok(Ok(())) => tracing::warn!("the store failed and was reopened"),
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "the store failed; reopening failed too, retrying")
                }
                Err(_) => return,
            }
        }
    }

    pub async fn flush_all(&self) -> Result<(), StoreError> {
        let flushed = self.flush();
        self.watch(flushed)
    }

    pub async fn raise_clock_floor(&self, ms: u64) -> Result<(), StoreError> {
        // Made durable only when the stored value rose. A failed flush marks the store
        // for reopening, which reads the stored value anew, so the next raise writes
        // again.
        if self.watch(self.raise_clock_floor_sync(ms))? {
            self.durable().await?;
        }
        Ok(())
    }
}
