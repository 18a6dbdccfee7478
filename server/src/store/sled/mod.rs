//! The sled backend: users, outstanding tokens, the blacklist and token families in one
//! sled database per data folder.
//!
//! Every key is a stable id (user id, jti), never token text. Use cases that must be
//! atomic (rotation, revocation) are sled transactions over several trees; each writing
//! use case then waits for a flush that started after its write ([`commit`]: one flush
//! serves every caller waiting). sled stays failed after an I/O error, so the database
//! lives in a slot that [`SledStore::supervise`] reopens; sled allows one process per
//! database ([`StoreError::Locked`]).

mod commit;
mod format;
#[cfg(test)]
mod tests;
mod tx;

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicI64, AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use sled::{Transactional, Tree};

use self::{
    commit::GroupCommit,
    format::{
        decode, encode, expiry_key, family_prefix, family_token_key, stored_clock_floor, user_key,
        user_token_key, CACHE_BYTES, CLOCK_FLOOR_KEY, COUNTS_KEY, EXPIRY_FAMILY, EXPIRY_TOKEN,
        FORMAT, FORMAT_KEY,
    },
    tx::{abort, get, insert_outstanding, tx_blacklisted, tx_decode, tx_stored},
};
use crate::store::{
    BlacklistReason, Blacklisted, Blacklisting, Counts, Family, Flushed, Health, Outstanding,
    Revocation, Rotation, StoreError, User,
};

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

    /// The data folder.
    pub fn path(&self) -> &Path {
        &self.slot.path
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

    /// Bytes used on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.inner()?.db.size_on_disk()?)
    }

    // ---- users ----

    /// Adds a user; `id` 0 means "next free id". Usernames (and non-empty emails when
    /// `unique_email`) must be unique.
    fn insert_user(&self, mut user: User, unique_email: bool) -> Result<User, StoreError> {
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

    /// [`SledStore::user`] for authenticating a request. The record is read from the
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
    fn change_user(&self, id: u64, change: impl Fn(&mut User)) -> Result<User, StoreError> {
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
    fn insert_token(&self, token: &Outstanding) -> Result<(), StoreError> {
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

    /// [`SledStore::insert_token`] and the user's `last_login`, in one transaction.
    fn insert_login(&self, token: &Outstanding, last_login: i64) -> Result<(), StoreError> {
        let i = &self.inner()?;
        let added = (
            &i.outstanding,
            &i.families,
            &i.user_tokens,
            &i.family_tokens,
            &i.expiry,
            &i.users,
        )
            .transaction(
                |(outstanding, families, user_tokens, family_tokens, expiry, users)| {
                    let added = insert_outstanding(
                        outstanding,
                        families,
                        user_tokens,
                        family_tokens,
                        expiry,
                        token,
                    )?;
                    let key = user_key(token.user_id);
                    // A user deleted since the password check: the token is recorded
                    // (and refused at its first refresh), no user is brought back.
                    if let Some(bytes) = users.get(key)? {
                        let mut user: User = tx_decode(&bytes)?;
                        user.last_login = Some(last_login);
                        users.insert(&key, encode(&user))?;
                    }
                    Ok(added)
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
    fn rotate_tx(
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
    fn blacklist_tx(
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
    fn revoke_family_tx(&self, family: &str, now: u64) -> Result<usize, StoreError> {
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
    fn revoke_user_tx(
        &self,
        user_id: u64,
        why: Revocation,
        stamp: u64,
        change: impl Fn(&mut User),
    ) -> Result<usize, StoreError> {
        let now = stamp / 1000;
        // Tokens issued in the very millisecond of the revocation count as before it.
        let stamp = stamp.saturating_add(1);
        self.change_user(user_id, |user| {
            change(user);
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
    fn delete_expired(&self, now: u64, leeway: u64) -> Result<Flushed, StoreError> {
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

    /// Writes token records with every index and family record that [`SledStore::record`]
    /// and [`SledStore::rotate`] would have written for them, plus their blacklist entries,
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

/// The use cases ([`crate::store::Store`]'s methods): each writing one does its
/// transaction, then waits until it is durable.
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

    pub async fn close(&self) -> Result<(), StoreError> {
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

    pub async fn add_user(&self, user: User, unique_email: bool) -> Result<User, StoreError> {
        let user = self.watch(self.insert_user(user, unique_email))?;
        self.durable().await?;
        Ok(user)
    }

    pub async fn import_users(
        &self,
        users: Vec<User>,
        unique_email: bool,
    ) -> Result<usize, StoreError> {
        // All or nothing: refused before writing if any user already exists.
        for user in &users {
            if self.user(user.id)?.is_some() {
                return Err(StoreError::Duplicate("id", user.id.to_string()));
            }
            if self.user_by_username(&user.username)?.is_some() {
                return Err(StoreError::Duplicate("username", user.username.clone()));
            }
        }
        let mut added = 0;
        for user in users {
            self.watch(self.insert_user(user, unique_email))?;
            added += 1;
        }
        self.durable().await?;
        Ok(added)
    }

    pub async fn update_user(
        &self,
        id: u64,
        change: impl Fn(&mut User),
    ) -> Result<User, StoreError> {
        let user = self.watch(self.change_user(id, change))?;
        self.durable().await?;
        Ok(user)
    }

    pub async fn revoke_user(
        &self,
        user_id: u64,
        why: Revocation,
        stamp_ms: u64,
        change: impl Fn(&mut User),
    ) -> Result<usize, StoreError> {
        let revoked = self.watch(self.revoke_user_tx(user_id, why, stamp_ms, change))?;
        self.durable().await?;
        Ok(revoked)
    }

    pub async fn record_login(
        &self,
        token: &Outstanding,
        last_login: Option<i64>,
    ) -> Result<(), StoreError> {
        let written = match last_login {
            Some(at) => self.insert_login(token, at),
            None => self.insert_token(token),
        };
        self.watch(written)?;
        self.durable().await
    }

    pub async fn adopt(&self, token: &Outstanding) -> Result<(), StoreError> {
        self.watch(self.insert_token(token))?;
        self.durable().await
    }

    pub async fn rotate(
        &self,
        old: &Outstanding,
        new: &Outstanding,
        blacklist_old: bool,
        now: u64,
    ) -> Result<Rotation, StoreError> {
        let rotation = self.watch(self.rotate_tx(old, new, blacklist_old, now))?;
        // Also when refused: an unknown `old` may have been adopted.
        self.durable().await?;
        Ok(rotation)
    }

    pub async fn blacklist(
        &self,
        token: &Outstanding,
        reason: BlacklistReason,
        now: u64,
    ) -> Result<Blacklisting, StoreError> {
        let outcome = self.watch(self.blacklist_tx(token, reason, now))?;
        if outcome == Blacklisting::Done {
            self.durable().await?;
        }
        Ok(outcome)
    }

    pub async fn revoke_family_of(
        &self,
        jti: &str,
        now: u64,
    ) -> Result<Option<(Outstanding, usize)>, StoreError> {
        let Some(record) = self.outstanding(jti)? else {
            return Ok(None);
        };
        let revoked = self.watch(self.revoke_family_tx(&record.family, now))?;
        self.durable().await?;
        Ok(Some((record, revoked)))
    }

    pub async fn flush_expired(&self, now: u64, leeway: u64) -> Result<Flushed, StoreError> {
        let now = now.max(self.clock_floor_ms() / 1000);
        self.raise_clock_floor(now.saturating_mul(1000)).await?;
        // Deleting walks the expired part of the store: off the async workers.
        let store = self.clone();
        let deleted = tokio::task::spawn_blocking(move || store.delete_expired(now, leeway))
            .await
            .map_err(|_| StoreError::Io("the flush of expired tokens stopped".into()))?;
        let flushed = self.watch(deleted)?;
        self.durable().await?;
        Ok(flushed)
    }
}
