//! The embedded database: users, outstanding tokens, the blacklist and token families,
//! in sled.
//!
//! Every key is a stable id (user id, jti), never token text. Operations that must be
//! atomic (rotation, revocation) are sled transactions over several trees. Nothing here
//! is durable until [`Store::durable`] returns: handlers call it before they reply, and
//! concurrent callers share one flush (group commit).

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicI64, AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use serde::{Deserialize, Serialize};
use sled::{
    transaction::{ConflictableTransactionError, TransactionError, TransactionalTree},
    Transactional, Tree,
};
use tokio::sync::{watch, Notify};

/// Why a store operation failed. None of these is the client's fault.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process holds the database (sled allows one).
    Locked(PathBuf),
    /// The files are not a readable sled database.
    Corrupt(String),
    /// The disk said no (full, read-only, I/O error).
    Io(String),
    /// A record could not be decoded: a bug or a foreign write.
    Decode(String),
    /// A username or email is already taken.
    Duplicate(&'static str, String),
    /// No such user.
    NoSuchUser(String),
}

impl StoreError {
    /// Stable code for logs and CLI exit messages.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Locked(_) => "store_locked",
            Self::Corrupt(_) => "store_corrupt",
            Self::Io(_) => "store_io",
            Self::Decode(_) => "store_decode",
            Self::Duplicate(..) => "user_exists",
            Self::NoSuchUser(_) => "user_not_found",
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Locked(path) => write!(
                f,
                "the database in {} is in use by another process (is `tollgate serve` running?)",
                path.display()
            ),
            Self::Corrupt(why) => write!(
                f,
                "the database is corrupt or not a tollgate database: {why}"
            ),
            Self::Io(why) => write!(f, "storage I/O error: {why}"),
            Self::Decode(why) => write!(f, "cannot decode a stored record: {why}"),
            Self::Duplicate(field, value) => {
                write!(f, "a user with {field} {value:?} already exists")
            }
            Self::NoSuchUser(name) => write!(f, "no user {name:?}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<sled::Error> for StoreError {
    fn from(err: sled::Error) -> Self {
        match err {
            sled::Error::Corruption { .. } => Self::Corrupt(err.to_string()),
            sled::Error::Io(io) => Self::Io(io.to_string()),
            other => Self::Io(other.to_string()),
        }
    }
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(err: TransactionError<StoreError>) -> Self {
        match err {
            TransactionError::Abort(err) => err,
            TransactionError::Storage(err) => err.into(),
        }
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// A user, with the fields Django's `auth.User` has plus free-form attributes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct User {
    pub id: u64,
    pub username: String,
    #[serde(default)]
    pub email: String,
    /// Django's encoded form: `pbkdf2_sha256$iterations$salt$hash`.
    pub password: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    pub is_active: bool,
    #[serde(default)]
    pub is_staff: bool,
    #[serde(default)]
    pub is_superuser: bool,
    #[serde(default)]
    pub last_login: Option<i64>,
    pub date_joined: i64,
    /// Free-form attributes (`role = "planner"`), copyable into tokens.
    #[serde(default)]
    pub attrs: BTreeMap<String, serde_json::Value>,
    /// Refresh and sliding tokens created before this instant (ms) are revoked: set by
    /// password change, deactivation and logout-all.
    #[serde(default)]
    pub refresh_revoked_before_ms: u64,
    /// Access tokens issued before this instant (ms) fail: set by password change and
    /// deactivation only (logout leaves access tokens to expire, as Simple JWT does).
    #[serde(default)]
    pub access_revoked_before_ms: u64,
    /// Why tokens were last revoked in bulk.
    #[serde(default)]
    pub revoked_reason: Option<Revocation>,
}

impl User {
    /// An active user with no attributes; `id` 0 means "next free id" to
    /// [`Store::add_user`].
    pub fn new(id: u64, username: &str, email: &str, password: String, date_joined: i64) -> Self {
        Self {
            id,
            username: username.into(),
            email: email.into(),
            password,
            first_name: String::new(),
            last_name: String::new(),
            is_active: true,
            is_staff: false,
            is_superuser: false,
            last_login: None,
            date_joined,
            attrs: BTreeMap::new(),
            refresh_revoked_before_ms: 0,
            access_revoked_before_ms: 0,
            revoked_reason: None,
        }
    }

    /// The value of a user field by name, for copying into token claims.
    pub fn field(&self, name: &str) -> Option<serde_json::Value> {
        use serde_json::Value;
        Some(match name {
            "id" => Value::from(self.id),
            "username" => Value::from(self.username.as_str()),
            "email" => Value::from(self.email.as_str()),
            "first_name" => Value::from(self.first_name.as_str()),
            "last_name" => Value::from(self.last_name.as_str()),
            "is_active" => Value::from(self.is_active),
            "is_staff" => Value::from(self.is_staff),
            "is_superuser" => Value::from(self.is_superuser),
            _ => return self.attrs.get(name).cloned(),
        })
    }
}

/// Why tokens were revoked in bulk.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Revocation {
    PasswordChanged,
    Deactivated,
    LogoutAll,
}

/// The kind of a stored (refresh or sliding) token.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StoredKind {
    Refresh,
    Sliding,
}

/// An outstanding token (Simple JWT's `OutstandingToken`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Outstanding {
    pub jti: String,
    pub user_id: u64,
    pub kind: StoredKind,
    /// The jti of the login that started this chain of rotations.
    pub family: String,
    pub created_at_ms: u64,
    /// After this (epoch seconds) no token of this record can verify: the record may go.
    pub expires_at: u64,
    /// SHA-256 of the token text, hex: identifies it without storing a credential.
    pub token_sha256: String,
}

/// A blacklisted token (Simple JWT's `BlacklistedToken`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Blacklisted {
    pub jti: String,
    pub blacklisted_at: u64,
    pub reason: BlacklistReason,
    pub expires_at: u64,
}

/// Why a token is on the blacklist.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BlacklistReason {
    /// Replaced by its rotated successor: presenting it again is a replay.
    Rotated,
    /// Logged out (blacklist endpoint or logout).
    Logout,
    /// Every token of the user was revoked.
    User,
    /// Its family was revoked after a replay.
    Reuse,
}

/// A token family: every refresh token descended from one login.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Family {
    pub user_id: u64,
    pub created_at_ms: u64,
    pub expires_at: u64,
    pub revoked_at: Option<u64>,
}

/// Outcome of a rotation attempt.
#[derive(Debug, PartialEq)]
pub enum Rotation {
    /// The old token is blacklisted (if configured) and the new one recorded.
    Done,
    /// Someone else rotated or blacklisted it first.
    AlreadyBlacklisted(BlacklistReason),
    /// The family was revoked (replay detected).
    FamilyRevoked,
    /// The user's tokens were revoked (or the user is gone) after this one was created.
    UserRevoked,
}

/// Outcome of blacklisting one token.
#[derive(Debug, PartialEq)]
pub enum Blacklisting {
    Done,
    AlreadyBlacklisted(BlacklistReason),
}

/// Counts for metrics and the CLI.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub users: usize,
    pub outstanding: usize,
    pub blacklisted: usize,
}

/// What `flush_expired` removed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Flushed {
    pub outstanding: usize,
    pub blacklisted: usize,
    pub families: usize,
}

/// The database.
#[derive(Clone)]
pub struct Store {
    slot: Arc<Slot>,
}

/// The open database, or none while it is being reopened after an I/O error.
struct Slot {
    path: PathBuf,
    current: std::sync::RwLock<Option<Arc<Inner>>>,
    /// A flush failed (disk full, I/O error): sled stays failed until reopened.
    failed: std::sync::atomic::AtomicBool,
    /// See [`Store::clock_floor_ms`]; here, not in `Inner`, so that reading it (on every
    /// request) takes no lock and it survives a reopen.
    clock_floor_ms: AtomicU64,
    /// See [`Store::user_shared`].
    decoded_users: Mutex<HashMap<u64, Decoded<User>>>,
}

/// A record as decoded from the stored bytes it is kept with.
struct Decoded<T> {
    bytes: Box<[u8]>,
    value: Arc<T>,
}

/// How many decoded users [`Store::user_shared`] keeps (about 1 KiB each); past that a
/// new one takes the place of an arbitrary other.
const DECODED_USERS: usize = 1024;

struct Inner {
    db: sled::Db,
    users: Tree,
    usernames: Tree,
    emails: Tree,
    outstanding: Tree,
    blacklist: Tree,
    families: Tree,
    user_tokens: Tree,
    family_tokens: Tree,
    expiry: Tree,
    commit: GroupCommit,
    counts: Counters,
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

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.slot.path)
            .finish()
    }
}

/// sled's page cache, as sled counts it: the serialized size of the cached pages. Their
/// size in memory is about 2.5 times that (16 MiB gave 54 MB of RSS after 60,000 logins
/// and 19,000 refreshes, 4 MiB 37 MB, at the same rates: the working set of a token
/// store is the right-hand edge of its trees, where new tokens go). See BENCHMARKS.md.
const CACHE_BYTES: u64 = 4 * 1024 * 1024;

const FORMAT_KEY: &[u8] = b"format";
const FORMAT: &[u8] = b"tollgate-store-1";
/// `[users, outstanding, blacklisted]`, written on a clean close, removed on open.
const COUNTS_KEY: &[u8] = b"counts";
/// The stored clock floor (see [`Store::clock_floor_ms`]), big-endian milliseconds.
const CLOCK_FLOOR_KEY: &[u8] = b"clock_floor_ms";

/// The value under [`CLOCK_FLOOR_KEY`] (0 when absent or not 8 bytes).
fn stored_clock_floor(bytes: Option<sled::IVec>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
        .map_or(0, u64::from_be_bytes)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Our records are plain structs of strings and numbers: serializing cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Decode(e.to_string()))
}

fn tx_decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> TxResult<T> {
    decode(bytes).map_err(ConflictableTransactionError::Abort)
}

/// A decoded record, if the key is there.
fn get<T: for<'de> Deserialize<'de>>(tree: &Tree, key: &[u8]) -> Result<Option<T>, StoreError> {
    tree.get(key)?.map(|bytes| decode(&bytes)).transpose()
}

/// Inside a transaction: why `jti` is blacklisted, if it is.
fn tx_blacklisted(blacklist: &TransactionalTree, jti: &str) -> TxResult<Option<BlacklistReason>> {
    match blacklist.get(jti.as_bytes())? {
        Some(bytes) => Ok(Some(tx_decode::<Blacklisted>(&bytes)?.reason)),
        None => Ok(None),
    }
}

/// Inside a transaction: the stored record of `token`, or `token` itself and `false`
/// when the store has never seen it (a migrated token, to be recorded).
fn tx_stored(
    outstanding: &TransactionalTree,
    token: &Outstanding,
) -> TxResult<(Outstanding, bool)> {
    match outstanding.get(token.jti.as_bytes())? {
        Some(bytes) => Ok((tx_decode(&bytes)?, true)),
        None => Ok((token.clone(), false)),
    }
}

fn user_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// `user id ++ jti`: every token ever issued to a user.
fn user_token_key(user_id: u64, jti: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + jti.len());
    key.extend_from_slice(&user_id.to_be_bytes());
    key.extend_from_slice(jti.as_bytes());
    key
}

/// `len(family) ++ family ++ jti`: every token of a family.
fn family_token_key(family: &str, jti: &str) -> Vec<u8> {
    let mut key = family_prefix(family);
    key.extend_from_slice(jti.as_bytes());
    key
}

fn family_prefix(family: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + family.len() + 32);
    // jti values are at most 255 bytes (tollgate-core's MAX_ID_LEN).
    key.push(u8::try_from(family.len()).unwrap_or(u8::MAX));
    key.extend_from_slice(family.as_bytes());
    key
}

/// `expires_at ++ kind ++ id`: what to delete, in expiry order.
fn expiry_key(expires_at: u64, kind: u8, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(9 + id.len());
    key.extend_from_slice(&expires_at.to_be_bytes());
    key.push(kind);
    key.extend_from_slice(id.as_bytes());
    key
}

const EXPIRY_TOKEN: u8 = 0;
const EXPIRY_FAMILY: u8 = 1;

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Store {
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
        let path = dir.join("db");
        let existed = path.exists();
        let db = sled::Config::new()
            .path(&path)
            .mode(sled::Mode::HighThroughput)
            // sled's default page cache is 1 GiB; the working set of a token store is
            // the recent tokens, and memory must stay flat as the store grows.
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|err| match err {
                sled::Error::Io(io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("could not acquire lock") =>
                {
                    StoreError::Locked(dir.to_path_buf())
                }
                other => StoreError::from(other),
            })?;
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
        let tree = |name: &str| db.open_tree(name);
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
            outstanding: tree("outstanding")?,
            blacklist: tree("blacklist")?,
            families: tree("families")?,
            user_tokens: tree("user_tokens")?,
            family_tokens: tree("family_tokens")?,
            expiry: tree("expiry")?,
            commit: GroupCommit::new(),
            counts: Counters::default(),
            db,
        };
        let [users, outstanding, blacklisted] = match stored_counts {
            Some(counts) => counts,
            None => [&inner.users, &inner.outstanding, &inner.blacklist].map(|t| t.len() as u64),
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
    /// disk) leaves sled failed, so the store is marked for [`Store::reopen`].
    pub fn note_failure(&self, err: &StoreError) {
        if matches!(err, StoreError::Io(_)) {
            self.slot.failed.store(true, Ordering::SeqCst);
        }
    }

    /// True after a flush failed, until [`Store::reopen`] succeeds.
    pub fn failed(&self) -> bool {
        self.slot.failed.load(Ordering::SeqCst)
    }

    /// Reopens a failed store (the server calls this every second while
    /// [`Store::failed`]): new calls are answered `Unavailable` meanwhile, calls in
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

    /// The data folder.
    pub fn path(&self) -> &Path {
        &self.slot.path
    }

    /// Waits until every write made before this call is on disk. Concurrent callers
    /// share one flush, so durability does not serialise the server.
    pub async fn durable(&self) -> Result<(), StoreError> {
        let inner = self.inner()?;
        let result = inner.commit.wait(Arc::downgrade(&inner)).await;
        self.watch(result)
    }

    /// The earliest time (Unix ms) the server may act at: the latest time it persisted,
    /// at each flush of expired tokens and at shutdown. The server's clock is the wall
    /// clock or this, whichever is later, so a clock stepped back never revives what an
    /// earlier moment expired, and never brings back a token whose records a flush
    /// forgot (see [`Store::flush_expired`]).
    pub fn clock_floor_ms(&self) -> u64 {
        self.slot.clock_floor_ms.load(Ordering::SeqCst)
    }

    /// Raises the clock floor to `ms` (never lowers it), durably.
    pub fn raise_clock_floor(&self, ms: u64) -> Result<(), StoreError> {
        self.slot.clock_floor_ms.fetch_max(ms, Ordering::SeqCst);
        let inner = self.inner()?;
        let before = inner.db.fetch_and_update(CLOCK_FLOOR_KEY, |old| {
            let old = old.map_or(0, |b| stored_clock_floor(Some(b.into())));
            Some(old.max(ms).to_be_bytes().to_vec())
        })?;
        // Flushed only when the stored value rose. A failed flush marks the store for
        // reopening, which reads the stored value anew, so the next raise writes again.
        if stored_clock_floor(before) < ms {
            let flushed = inner.db.flush().map(drop).map_err(StoreError::from);
            self.watch(flushed)?;
        }
        Ok(())
    }

    /// Flushes synchronously (CLI commands, shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        let flushed = self.inner()?.db.flush().map(drop).map_err(StoreError::from);
        self.watch(flushed)
    }

    /// Bytes used on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.inner()?.db.size_on_disk()?)
    }

    // ---- users ----

    /// Adds a user; `id` 0 means "next free id". Usernames (and non-empty emails when
    /// `unique_email`) must be unique.
    pub fn add_user(&self, mut user: User, unique_email: bool) -> Result<User, StoreError> {
        let i = &self.inner()?;
        if user.id == 0 {
            let last = i.users.last()?.map(|(k, _)| k);
            let max = last
                .and_then(|k| <[u8; 8]>::try_from(k.as_ref()).ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            user.id = max + 1;
        }
        let record = encode(&user);
        (&i.users, &i.usernames, &i.emails).transaction(|(users, usernames, emails)| {
            if users.get(user_key(user.id))?.is_some() {
                return abort(StoreError::Duplicate("id", user.id.to_string()));
            }
            if usernames.get(user.username.as_bytes())?.is_some() {
                return abort(StoreError::Duplicate("username", user.username.clone()));
            }
            if !user.email.is_empty() {
                if unique_email && emails.get(user.email.as_bytes())?.is_some() {
                    return abort(StoreError::Duplicate("email", user.email.clone()));
                }
                emails.insert(user.email.as_bytes(), &user_key(user.id))?;
            }
            users.insert(&user_key(user.id), record.as_slice())?;
            usernames.insert(user.username.as_bytes(), &user_key(user.id))?;
            Ok(())
        })?;
        i.counts.users.fetch_add(1, Ordering::Relaxed);
        Ok(user)
    }

    /// A user by id.
    pub fn user(&self, id: u64) -> Result<Option<User>, StoreError> {
        get(&self.inner()?.users, &user_key(id))
    }

    /// [`Store::user`] for authenticating a request. The record is read from the
    /// database every time (it is the truth: a password change or deactivation counts
    /// from the moment it commits), but decoding it is skipped when its bytes are the
    /// ones decoded last time for this user.
    pub fn user_shared(&self, id: u64) -> Result<Option<Arc<User>>, StoreError> {
        let stored = self.inner()?.users.get(user_key(id))?;
        let lock = || {
            self.slot
                .decoded_users
                .lock()
                .unwrap_or_else(|e| e.into_inner())
        };
        let Some(bytes) = stored else {
            // Gone: nothing of it (its password hash included) stays in memory.
            lock().remove(&id);
            return Ok(None);
        };
        if let Some(known) = lock().get(&id).filter(|d| *d.bytes == *bytes) {
            return Ok(Some(Arc::clone(&known.value)));
        }
        let value = Arc::new(decode::<User>(&bytes)?);
        let mut decoded = lock();
        if decoded.len() >= DECODED_USERS && !decoded.contains_key(&id) {
            // Full: one entry makes room (any one: the map's order is arbitrary).
            if let Some(other) = decoded.keys().next().copied() {
                decoded.remove(&other);
            }
        }
        let bytes = bytes.to_vec().into_boxed_slice();
        decoded.insert(
            id,
            Decoded {
                bytes,
                value: Arc::clone(&value),
            },
        );
        Ok(Some(value))
    }

    /// A user by username, exactly as stored (case-sensitive, as Django's default).
    pub fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.user_by_index(&self.inner()?.usernames, username)
    }

    /// A user by email (for `username_field = "email"`).
    pub fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.user_by_index(&self.inner()?.emails, email)
    }

    fn user_by_index(&self, index: &Tree, value: &str) -> Result<Option<User>, StoreError> {
        let Some(id) = index.get(value.as_bytes())? else {
            return Ok(None);
        };
        let id = <[u8; 8]>::try_from(id.as_ref())
            .map(u64::from_be_bytes)
            .map_err(|_| StoreError::Decode("user index".into()))?;
        self.user(id)
    }

    /// Every user, by id.
    pub fn users(&self) -> Result<Vec<User>, StoreError> {
        self.inner()?
            .users
            .iter()
            .map(|item| decode(&item?.1))
            .collect()
    }

    /// Changes a user atomically. Username and email changes keep the indexes right.
    pub fn update_user(&self, id: u64, change: impl Fn(&mut User)) -> Result<User, StoreError> {
        let i = &self.inner()?;
        let updated =
            (&i.users, &i.usernames, &i.emails).transaction(|(users, usernames, emails)| {
                let Some(bytes) = users.get(user_key(id))? else {
                    return abort(StoreError::NoSuchUser(id.to_string()));
                };
                let old: User = tx_decode(&bytes)?;
                let mut user = old.clone();
                change(&mut user);
                user.id = id;
                if user.username != old.username {
                    if usernames.get(user.username.as_bytes())?.is_some() {
                        return abort(StoreError::Duplicate("username", user.username.clone()));
                    }
                    usernames.remove(old.username.as_bytes())?;
                    usernames.insert(user.username.as_bytes(), &user_key(id))?;
                }
                if user.email != old.email {
                    emails.remove(old.email.as_bytes())?;
                    if !user.email.is_empty() {
                        emails.insert(user.email.as_bytes(), &user_key(id))?;
                    }
                }
                users.insert(&user_key(id), encode(&user))?;
                Ok(user)
            })?;
        Ok(updated)
    }

    // ---- tokens ----

    /// Records a token issued at login (a new family) or an unknown but validly signed
    /// token presented for the first time (migration from Simple JWT).
    pub fn record(&self, token: &Outstanding) -> Result<(), StoreError> {
        let i = &self.inner()?;
        let added = (
            &i.outstanding,
            &i.families,
            &i.user_tokens,
            &i.family_tokens,
            &i.expiry,
        )
            .transaction(
                |(outstanding, families, user_tokens, family_tokens, expiry)| {
                    insert_outstanding(
                        outstanding,
                        families,
                        user_tokens,
                        family_tokens,
                        expiry,
                        token,
                    )
                },
            )?;
        i.counts.add(Delta {
            outstanding: added,
            blacklisted: 0,
        });
        Ok(())
    }

    /// The outstanding record of a jti.
    pub fn outstanding(&self, jti: &str) -> Result<Option<Outstanding>, StoreError> {
        get(&self.inner()?.outstanding, jti.as_bytes())
    }

    /// The blacklist entry of a jti.
    pub fn blacklisted(&self, jti: &str) -> Result<Option<Blacklisted>, StoreError> {
        get(&self.inner()?.blacklist, jti.as_bytes())
    }

    /// A family record.
    pub fn family(&self, family: &str) -> Result<Option<Family>, StoreError> {
        get(&self.inner()?.families, family.as_bytes())
    }

    /// Rotates `old` into `new` in one transaction: of any number of concurrent
    /// rotations of one token, exactly one gets [`Rotation::Done`]. `old` is recorded
    /// first if the store has never seen it (a migrated token).
    pub fn rotate(
        &self,
        old: &Outstanding,
        new: &Outstanding,
        blacklist_old: bool,
        now: u64,
    ) -> Result<Rotation, StoreError> {
        let i = &self.inner()?;
        let (rotation, delta) = (
            &i.outstanding,
            &i.blacklist,
            &i.families,
            &i.user_tokens,
            &i.family_tokens,
            &i.expiry,
            &i.users,
        )
            .transaction(
                |(outstanding, blacklist, families, user_tokens, family_tokens, expiry, users)| {
                    let mut delta = Delta::default();
                    if let Some(reason) = tx_blacklisted(blacklist, &old.jti)? {
                        return Ok((Rotation::AlreadyBlacklisted(reason), delta));
                    }
                    let (known, stored) = tx_stored(outstanding, old)?;
                    // Read the user inside the transaction: a revocation (logout-all,
                    // password change, deactivation) stamps the user before it lists
                    // the user's tokens, so a rotation either commits before the stamp
                    // (and its token is listed) or sees the stamp here and stops.
                    let revoked = match users.get(user_key(known.user_id))? {
                        Some(bytes) => {
                            let user: User = tx_decode(&bytes)?;
                            known.created_at_ms < user.refresh_revoked_before_ms
                        }
                        None => true,
                    };
                    if revoked {
                        return Ok((Rotation::UserRevoked, delta));
                    }
                    if !stored {
                        delta.outstanding += insert_outstanding(
                            outstanding,
                            families,
                            user_tokens,
                            family_tokens,
                            expiry,
                            old,
                        )?;
                    }
                    if let Some(family) = families.get(known.family.as_bytes())? {
                        if tx_decode::<Family>(&family)?.revoked_at.is_some() {
                            return Ok((Rotation::FamilyRevoked, delta));
                        }
                    }
                    if blacklist_old {
                        let entry = Blacklisted {
                            jti: known.jti.clone(),
                            blacklisted_at: now,
                            reason: BlacklistReason::Rotated,
                            expires_at: known.expires_at,
                        };
                        let previous = blacklist.insert(known.jti.as_bytes(), encode(&entry))?;
                        delta.blacklisted += i64::from(previous.is_none());
                    }
                    let mut new = new.clone();
                    new.family = known.family.clone();
                    delta.outstanding += insert_outstanding(
                        outstanding,
                        families,
                        user_tokens,
                        family_tokens,
                        expiry,
                        &new,
                    )?;
                    Ok((Rotation::Done, delta))
                },
            )?;
        i.counts.add(delta);
        Ok(rotation)
    }

    /// Blacklists one token (recording it first if unknown).
    pub fn blacklist(
        &self,
        token: &Outstanding,
        reason: BlacklistReason,
        now: u64,
    ) -> Result<Blacklisting, StoreError> {
        let i = &self.inner()?;
        let (outcome, delta) = (
            &i.outstanding,
            &i.blacklist,
            &i.families,
            &i.user_tokens,
            &i.family_tokens,
            &i.expiry,
        )
            .transaction(
                |(outstanding, blacklist, families, user_tokens, family_tokens, expiry)| {
                    let mut delta = Delta::default();
                    if let Some(reason) = tx_blacklisted(blacklist, &token.jti)? {
                        return Ok((Blacklisting::AlreadyBlacklisted(reason), delta));
                    }
                    let (known, stored) = tx_stored(outstanding, token)?;
                    if !stored {
                        delta.outstanding += insert_outstanding(
                            outstanding,
                            families,
                            user_tokens,
                            family_tokens,
                            expiry,
                            token,
                        )?;
                    }
                    let entry = Blacklisted {
                        jti: token.jti.clone(),
                        blacklisted_at: now,
                        reason,
                        expires_at: known.expires_at,
                    };
                    let previous = blacklist.insert(token.jti.as_bytes(), encode(&entry))?;
                    delta.blacklisted += i64::from(previous.is_none());
                    Ok((Blacklisting::Done, delta))
                },
            )?;
        i.counts.add(delta);
        Ok(outcome)
    }

    /// Revokes a family (after a replay): marks it revoked, so no rotation can extend it
    /// any more, then blacklists every token in it. Returns how many were blacklisted.
    pub fn revoke_family(&self, family: &str, now: u64) -> Result<usize, StoreError> {
        let i = &self.inner()?;
        i.families.transaction(|families| {
            if let Some(bytes) = families.get(family.as_bytes())? {
                let mut record: Family = tx_decode(&bytes)?;
                if record.revoked_at.is_none() {
                    record.revoked_at = Some(now);
                    families.insert(family.as_bytes(), encode(&record))?;
                }
            }
            Ok(())
        })?;
        // Rotations commit before the mark (and are listed below) or see it and stop.
        let mut jtis = Vec::new();
        for item in i.family_tokens.scan_prefix(family_prefix(family)) {
            let (key, _) = item?;
            let jti = &key[1 + family.len()..];
            jtis.push(String::from_utf8_lossy(jti).into_owned());
        }
        self.blacklist_all(&jtis, BlacklistReason::Reuse, now)
    }

    /// Revokes every refresh and sliding token ever issued to a user, rotated ones
    /// included, and stamps the user (`stamp`: now in ms) so that tokens minted
    /// concurrently, before the stamp, are refused too.
    pub fn revoke_user(
        &self,
        user_id: u64,
        why: Revocation,
        stamp: u64,
    ) -> Result<usize, StoreError> {
        let now = stamp / 1000;
        // Tokens issued in the very millisecond of the revocation count as before it.
        let stamp = stamp.saturating_add(1);
        self.update_user(user_id, |user| {
            user.refresh_revoked_before_ms = user.refresh_revoked_before_ms.max(stamp);
            if why != Revocation::LogoutAll {
                user.access_revoked_before_ms = user.access_revoked_before_ms.max(stamp);
            }
            user.revoked_reason = Some(why);
            if why == Revocation::Deactivated {
                user.is_active = false;
            }
        })?;
        let mut jtis = Vec::new();
        for item in self.inner()?.user_tokens.scan_prefix(user_id.to_be_bytes()) {
            let (key, _) = item?;
            jtis.push(String::from_utf8_lossy(&key[8..]).into_owned());
        }
        self.blacklist_all(&jtis, BlacklistReason::User, now)
    }

    fn blacklist_all(
        &self,
        jtis: &[String],
        reason: BlacklistReason,
        now: u64,
    ) -> Result<usize, StoreError> {
        let i = &self.inner()?;
        let mut count = 0;
        for jti in jtis {
            let added =
                (&i.outstanding, &i.blacklist).transaction(|(outstanding, blacklist)| {
                    if blacklist.get(jti.as_bytes())?.is_some() {
                        return Ok(false);
                    }
                    let Some(bytes) = outstanding.get(jti.as_bytes())? else {
                        return Ok(false);
                    };
                    let record: Outstanding = tx_decode(&bytes)?;
                    let entry = Blacklisted {
                        jti: jti.clone(),
                        blacklisted_at: now,
                        reason,
                        expires_at: record.expires_at,
                    };
                    blacklist.insert(jti.as_bytes(), encode(&entry))?;
                    Ok(true)
                })?;
            count += usize::from(added);
        }
        i.counts.add(Delta {
            outstanding: 0,
            blacklisted: i64::try_from(count).unwrap_or(i64::MAX),
        });
        Ok(count)
    }

    /// Tokens of one user (or all), with their blacklist entries.
    pub fn tokens(
        &self,
        user_id: Option<u64>,
    ) -> Result<Vec<(Outstanding, Option<Blacklisted>)>, StoreError> {
        let i = &self.inner()?;
        let records: Vec<Outstanding> = match user_id {
            Some(id) => {
                let mut out = Vec::new();
                for item in i.user_tokens.scan_prefix(id.to_be_bytes()) {
                    let (key, _) = item?;
                    if let Some(bytes) = i.outstanding.get(&key[8..])? {
                        out.push(decode(&bytes)?);
                    }
                }
                out
            }
            None => i
                .outstanding
                .iter()
                .map(|item| decode(&item?.1))
                .collect::<Result<_, _>>()?,
        };
        records
            .into_iter()
            .map(|record| {
                let entry = self.blacklisted(&record.jti)?;
                Ok((record, entry))
            })
            .collect()
    }

    /// Deletes outstanding tokens, blacklist entries and families that expired at or
    /// before `now - leeway` (epoch seconds): such tokens can no longer verify, so
    /// forgetting them changes no answer. Forgetting is only safe if they stay expired
    /// whatever the clock does later, so the clock floor is first raised to `now`,
    /// durably: a clock stepped back afterwards cannot make a forgotten (say, logged
    /// out) token valid again. `now` is itself never before the floor.
    pub fn flush_expired(&self, now: u64, leeway: u64) -> Result<Flushed, StoreError> {
        let now = now.max(self.clock_floor_ms() / 1000);
        self.raise_clock_floor(now.saturating_mul(1000))?;
        let cutoff = now.saturating_sub(leeway);
        let i = &self.inner()?;
        let mut flushed = Flushed::default();
        let end = (cutoff.saturating_add(1)).to_be_bytes();
        let keys: Vec<sled::IVec> = i
            .expiry
            .range(..end.as_slice())
            .keys()
            .collect::<Result<_, _>>()?;
        for key in keys {
            let kind = key.get(8).copied();
            let id = String::from_utf8_lossy(&key[9.min(key.len())..]).into_owned();
            match kind {
                Some(EXPIRY_TOKEN) => {
                    if let Some(bytes) = i.outstanding.remove(id.as_bytes())? {
                        let record: Outstanding = decode(&bytes)?;
                        i.user_tokens.remove(user_token_key(record.user_id, &id))?;
                        i.family_tokens
                            .remove(family_token_key(&record.family, &id))?;
                        flushed.outstanding += 1;
                        i.counts.outstanding.fetch_sub(1, Ordering::Relaxed);
                    }
                    if i.blacklist.remove(id.as_bytes())?.is_some() {
                        flushed.blacklisted += 1;
                        i.counts.blacklisted.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                Some(EXPIRY_FAMILY) if i.families.remove(id.as_bytes())?.is_some() => {
                    flushed.families += 1;
                }
                _ => {}
            }
            i.expiry.remove(&key)?;
        }
        Ok(flushed)
    }

    /// Writes token records with every index and family record that [`Store::record`]
    /// and [`Store::rotate`] would have written for them, plus their blacklist entries,
    /// key by key, without transactions: for offline use only (`tollgate tokens seed`,
    /// no server running). A family's tokens must all be in one call.
    ///
    /// Not sled batches: a batch holds one epoch guard for all its writes, so the tree
    /// nodes they replace cannot be freed before it ends (a seed of 1,000,000 tokens
    /// in batches of 20,000 grew past 24 GB); single writes let sled's epoch-based
    /// reclamation keep up.
    pub fn bulk_load(
        &self,
        tokens: &[Outstanding],
        blacklisted: &[Blacklisted],
    ) -> Result<(), StoreError> {
        let i = &self.inner()?;
        let mut families: BTreeMap<&str, Family> = BTreeMap::new();
        for token in tokens {
            if i.outstanding
                .insert(token.jti.as_bytes(), encode(token))?
                .is_none()
            {
                i.counts.outstanding.fetch_add(1, Ordering::Relaxed);
            }
            i.user_tokens
                .insert(user_token_key(token.user_id, &token.jti), &[])?;
            i.family_tokens
                .insert(family_token_key(&token.family, &token.jti), &[])?;
            i.expiry
                .insert(expiry_key(token.expires_at, EXPIRY_TOKEN, &token.jti), &[])?;
            let family = families.entry(&token.family).or_insert_with(|| Family {
                user_id: token.user_id,
                created_at_ms: token.created_at_ms,
                expires_at: token.expires_at,
                revoked_at: None,
            });
            family.created_at_ms = family.created_at_ms.min(token.created_at_ms);
            family.expires_at = family.expires_at.max(token.expires_at);
        }
        for (id, family) in &families {
            i.families.insert(id.as_bytes(), encode(family))?;
            i.expiry
                .insert(expiry_key(family.expires_at, EXPIRY_FAMILY, id), &[])?;
        }
        for entry in blacklisted {
            if i.blacklist
                .insert(entry.jti.as_bytes(), encode(entry))?
                .is_none()
            {
                i.counts.blacklisted.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
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

fn abort<T>(err: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(err))
}

/// Inserts an outstanding record with its indexes; creates or extends its family.
/// Returns 1 if the record is new, else 0 (for [`Counters`]).
fn insert_outstanding(
    outstanding: &TransactionalTree,
    families: &TransactionalTree,
    user_tokens: &TransactionalTree,
    family_tokens: &TransactionalTree,
    expiry: &TransactionalTree,
    token: &Outstanding,
) -> TxResult<i64> {
    let previous = outstanding.insert(token.jti.as_bytes(), encode(token))?;
    user_tokens.insert(user_token_key(token.user_id, &token.jti), &[])?;
    family_tokens.insert(family_token_key(&token.family, &token.jti), &[])?;
    expiry.insert(expiry_key(token.expires_at, EXPIRY_TOKEN, &token.jti), &[])?;
    let family = match families.get(token.family.as_bytes())? {
        Some(bytes) => {
            let mut family: Family = tx_decode(&bytes)?;
            if token.expires_at > family.expires_at {
                expiry.remove(expiry_key(family.expires_at, EXPIRY_FAMILY, &token.family))?;
                family.expires_at = token.expires_at;
            }
            family
        }
        None => Family {
            user_id: token.user_id,
            created_at_ms: token.created_at_ms,
            expires_at: token.expires_at,
            revoked_at: None,
        },
    };
    expiry.insert(
        expiry_key(family.expires_at, EXPIRY_FAMILY, &token.family),
        &[],
    )?;
    families.insert(token.family.as_bytes(), encode(&family))?;
    Ok(i64::from(previous.is_none()))
}

/// Group commit: callers take a ticket, one background flush covers every ticket taken
/// before it started.
struct GroupCommit {
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
    fn new() -> Self {
        Self {
            shared: Arc::new(CommitShared {
                requested: AtomicU64::new(0),
                wake: Notify::new(),
                done: watch::channel((0, None)).0,
            }),
            started: std::sync::Once::new(),
        }
    }

    async fn wait(&self, store: std::sync::Weak<Inner>) -> Result<(), StoreError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh store with user 7, the owner of every test token.
    fn store_with_user(dir: &tempfile::TempDir) -> Store {
        let store = Store::open(dir.path()).unwrap();
        store
            .add_user(User::new(7, "seven", "", "!".into(), 0), false)
            .unwrap();
        store
    }

    fn token(jti: &str, family: &str, expires_at: u64) -> Outstanding {
        Outstanding {
            jti: jti.into(),
            user_id: 7,
            kind: StoredKind::Refresh,
            family: family.into(),
            created_at_ms: 1,
            expires_at,
            token_sha256: String::new(),
        }
    }

    #[test]
    fn a_shared_user_is_the_stored_one_after_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_user(&dir);
        let first = store.user_shared(7).unwrap().unwrap();
        assert!(first.is_active);
        // Unchanged bytes: the decoded record is shared, not decoded again.
        assert!(Arc::ptr_eq(&first, &store.user_shared(7).unwrap().unwrap()));
        store.update_user(7, |u| u.is_active = false).unwrap();
        let changed = store.user_shared(7).unwrap().unwrap();
        assert!(!changed.is_active);
        assert_eq!(*changed, store.user(7).unwrap().unwrap());
        assert!(store.user_shared(8).unwrap().is_none());
    }

    #[test]
    fn shared_users_stay_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_user(&dir);
        let many = DECODED_USERS as u64 + 10;
        for id in 100..100 + many {
            let user = User::new(id, &format!("u{id}"), "", "!".into(), 0);
            store.add_user(user, false).unwrap();
            assert_eq!(store.user_shared(id).unwrap().unwrap().id, id);
        }
        let kept = store.slot.decoded_users.lock().unwrap().len();
        assert_eq!(kept, DECODED_USERS);
    }

    #[test]
    fn concurrent_rotations_of_one_token_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_user(&dir);
        store.record(&token("a", "a", 100)).unwrap();
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|i| {
                    let store = store.clone();
                    s.spawn(move || {
                        let new = token(&format!("n{i}"), "?", 200);
                        store.rotate(&token("a", "a", 100), &new, true, 10).unwrap()
                            == Rotation::Done
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(wins, 1);
        assert_eq!(
            store.blacklisted("a").unwrap().unwrap().reason,
            BlacklistReason::Rotated
        );
        // The winner's token joined the family.
        let members: Vec<_> = store.tokens(Some(7)).unwrap();
        assert_eq!(members.len(), 2);
        assert!(members.iter().all(|(t, _)| t.family == "a"));
    }

    #[test]
    fn revoked_family_blacklists_members_and_stops_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_user(&dir);
        store.record(&token("a", "a", 100)).unwrap();
        assert_eq!(
            store
                .rotate(&token("a", "a", 100), &token("b", "?", 150), true, 1)
                .unwrap(),
            Rotation::Done
        );
        assert_eq!(
            store.revoke_family("a", 2).unwrap(),
            1,
            "b is blacklisted (a already was)"
        );
        assert_eq!(
            store.blacklisted("b").unwrap().unwrap().reason,
            BlacklistReason::Reuse
        );
        assert_eq!(
            store
                .rotate(&token("b", "a", 150), &token("c", "?", 200), true, 3)
                .unwrap(),
            Rotation::AlreadyBlacklisted(BlacklistReason::Reuse)
        );
        assert!(store.family("a").unwrap().unwrap().revoked_at.is_some());
    }

    /// The clock floor is durable: a flush raises it to its `now`, a lower raise leaves
    /// it, and a reopened database (a restart) starts from it.
    #[test]
    fn the_clock_floor_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_user(&dir);
        assert_eq!(store.clock_floor_ms(), 0);
        store.flush_expired(5_000, 60).unwrap();
        assert_eq!(store.clock_floor_ms(), 5_000_000);
        store.raise_clock_floor(1_000).unwrap();
        assert_eq!(store.clock_floor_ms(), 5_000_000);
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.clock_floor_ms(), 5_000_000);
        // A flush at an earlier wall clock acts at the floor, not before it.
        store.flush_expired(10, 0).unwrap();
        assert_eq!(store.clock_floor_ms(), 5_000_000);
    }

    #[test]
    fn flush_expired_removes_only_the_expired() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_user(&dir);
        store.record(&token("old", "old", 100)).unwrap();
        store.record(&token("new", "new", 300)).unwrap();
        store
            .blacklist(&token("old", "old", 100), BlacklistReason::Logout, 50)
            .unwrap();
        assert_eq!(store.flush_expired(99, 0).unwrap(), Flushed::default());
        let flushed = store.flush_expired(100, 0).unwrap();
        assert_eq!(
            (flushed.outstanding, flushed.blacklisted, flushed.families),
            (1, 1, 1)
        );
        assert!(store.outstanding("old").unwrap().is_none());
        assert!(store.outstanding("new").unwrap().is_some());
        assert_eq!(store.tokens(Some(7)).unwrap().len(), 1);
    }

    #[test]
    fn rotation_after_a_user_revocation_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_user(&dir);
        store.record(&token("a", "a", 100)).unwrap();
        // The stamp commits; the rotation, which read nothing of it before, must see it.
        store
            .update_user(7, |u| u.refresh_revoked_before_ms = 2)
            .unwrap();
        assert_eq!(
            store
                .rotate(&token("a", "a", 100), &token("b", "?", 150), true, 1)
                .unwrap(),
            Rotation::UserRevoked
        );
        assert!(store.outstanding("b").unwrap().is_none());
        // An unknown token of a deleted or unknown user is refused too.
        let mut stranger = token("x", "x", 100);
        stranger.user_id = 99;
        assert_eq!(
            store
                .rotate(&stranger, &token("y", "?", 150), true, 1)
                .unwrap(),
            Rotation::UserRevoked
        );
    }

    #[tokio::test]
    async fn durable_writes_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.record(&token("a", "a", 100)).unwrap();
            let waits: Vec<_> = (0..10).map(|_| store.durable()).collect();
            for w in waits {
                w.await.unwrap();
            }
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(store.outstanding("a").unwrap().is_some());
    }

    #[test]
    fn counts_follow_every_write_and_a_clean_close() {
        let dir = tempfile::tempdir().unwrap();
        let walk = |store: &Store| {
            let i = &store.inner().unwrap();
            Counts {
                users: i.users.len(),
                outstanding: i.outstanding.len(),
                blacklisted: i.blacklist.len(),
            }
        };
        {
            let store = store_with_user(&dir);
            store.record(&token("a", "a", 100)).unwrap();
            store.record(&token("a", "a", 100)).unwrap();
            let new = token("b", "?", 150);
            store.rotate(&token("a", "a", 100), &new, true, 1).unwrap();
            // A migrated token is recorded, then rotated.
            let new = token("y", "?", 150);
            store.rotate(&token("x", "x", 100), &new, true, 1).unwrap();
            store
                .blacklist(&token("z", "z", 300), BlacklistReason::Logout, 2)
                .unwrap();
            store.revoke_family("a", 3).unwrap();
            store.revoke_user(7, Revocation::LogoutAll, 4_000).unwrap();
            store.flush_expired(100, 0).unwrap();
            let counts = store.counts();
            assert_eq!(counts, walk(&store));
            assert_eq!((counts.outstanding, counts.blacklisted), (3, 3));
        }
        // Closed cleanly: the counts are read back, and removed until the next close.
        let store = Store::open(dir.path()).unwrap();
        assert!(store.inner().unwrap().db.get(COUNTS_KEY).unwrap().is_none());
        assert_eq!(store.counts(), walk(&store));
    }

    #[cfg(unix)]
    #[test]
    fn the_data_folder_is_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let _store = Store::open(&data).unwrap();
        let mode = std::fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn users_unique_and_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let user = User::new(0, "alice", "a@example.com", "!".into(), 0);
        assert_eq!(store.add_user(user.clone(), true).unwrap().id, 1);
        assert!(matches!(
            store.add_user(user.clone(), true),
            Err(StoreError::Duplicate("username", _))
        ));
        let other = User {
            username: "bob".into(),
            ..user.clone()
        };
        assert!(matches!(
            store.add_user(other.clone(), true),
            Err(StoreError::Duplicate("email", _))
        ));
        assert_eq!(store.add_user(other, false).unwrap().id, 2);
        assert_eq!(store.user_by_username("alice").unwrap().unwrap().id, 1);
        assert!(store.user_by_username("Alice").unwrap().is_none());
        store
            .update_user(1, |u| u.username = "alice2".into())
            .unwrap();
        assert!(store.user_by_username("alice").unwrap().is_none());
        assert_eq!(store.user_by_username("alice2").unwrap().unwrap().id, 1);
    }
}
