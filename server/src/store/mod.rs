//! The storage interface: every use case the server and the admin commands have of the
//! database, as one method each, over a closed set of backends.
//!
//! Each writing method is one atomic unit that is durable when it returns: a caller
//! that got `Ok` may acknowledge it (nothing acknowledged is lost), and a caller that
//! got `Err` acknowledged nothing. Concurrent callers share flushes (group commit), so
//! durability does not serialise the server. Reads see every write that returned.
//!
//! The methods are `async` so that a networked backend can wait on its database; the
//! backends are an enum (not a boxed trait object), so the hot paths box no future.
//! What every backend must guarantee is written on each method and proved by the
//! conformance suite ([`conformance`]), which each backend runs as its own tests; how
//! sled keeps them (transactions over several trees, group commit, reopening after an
//! I/O error, the one-process lock, its record format) stays in [`sled`].
//! ARCHITECTURE.md, "The storage seam", says what a new backend has to prove.

mod audit;
pub mod conformance;
pub mod copy;
mod keys;
mod model;
pub mod postgres;
pub mod sled;

use std::{path::Path, sync::Arc};

pub use audit::{AuditEntry, AUDIT_KEPT, MAX_AUDIT_FIELD, MAX_AUDIT_PAGE};
pub use keys::{
    apply_change as apply_key_change, KeyChange, KeyState, StoredKey, KEPT_DROPPED, MAX_VERIFYING,
};
pub use model::{
    BlacklistReason, Blacklisted, Blacklisting, Counts, Family, Flushed, Health, Outstanding,
    Revocation, RotateRule, Rotation, Seen, Session, StoreError, Stored, StoredKind, User,
};

/// The database, whichever backend keeps it. Cheap to clone (shared handles).
#[derive(Debug, Clone)]
pub enum Store {
    /// sled in a local data folder: one process, the default.
    Sled(sled::SledStore),
    /// PostgreSQL: any number of processes (replicas) on one database.
    Postgres(postgres::PgStore),
}

/// Which backend, and where: read from the configuration.
#[derive(Clone, PartialEq, Eq)]
pub enum Backend {
    /// sled in `<data_dir>/db`.
    Sled(std::path::PathBuf),
    /// PostgreSQL at this `postgres://` URL.
    Postgres(String),
    /// PostgreSQL at this URL, beside a Django site whose tables hold the users and
    /// Simple JWT's outstanding and blacklisted tokens (`django_schema = true`).
    Django(String),
}

impl std::fmt::Debug for Backend {
    /// A database URL may carry a password: only its kind is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sled(dir) => f.debug_tuple("Sled").field(dir).finish(),
            Self::Postgres(_) => f.write_str("Postgres(..)"),
            Self::Django(_) => f.write_str("Django(..)"),
        }
    }
}

/// Calls the same method on whichever backend `$store` is.
macro_rules! each_backend {
    ($store:expr, $s:ident => $body:expr) => {
        match $store {
            Store::Sled($s) => $body,
            Store::Postgres($s) => $body,
        }
    };
}

/// A read: sled answers at once (its pages are in memory or a read away), PostgreSQL
/// after a round trip, within [`postgres::CALL_LIMIT`].
macro_rules! each_backend_read {
    ($store:expr, $s:ident => $body:expr) => {
        match $store {
            Store::Sled($s) => $body,
            Store::Postgres($s) => $s.bounded($body).await,
        }
    };
}

/// A write on the request path (`$body` a future): PostgreSQL's within
/// [`postgres::CALL_LIMIT`].
macro_rules! each_backend_write {
    ($store:expr, $s:ident => $body:expr) => {
        match $store {
            Store::Sled($s) => $body.await,
            Store::Postgres($s) => $s.bounded($body).await,
        }
    };
}

/// A read of everything (an administrator's listing, a bulk load): as long as the
/// database's own statement timeout allows.
macro_rules! each_backend_bulk {
    ($store:expr, $s:ident => $body:expr) => {
        match $store {
            Store::Sled($s) => $body,
            Store::Postgres($s) => $body.await,
        }
    };
}

impl Store {
    /// Opens the sled store in the data folder `dir` (creating it): see
    /// [`sled::SledStore::open`].
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_backend(&Backend::Sled(dir.to_path_buf()))
    }

    /// Opens (or creates) the store `backend` names. A store held by another process,
    /// or one that cannot be read, is an error: never a fresh empty store.
    pub fn open_backend(backend: &Backend) -> Result<Self, StoreError> {
        match backend {
            Backend::Sled(dir) => Ok(Self::Sled(sled::SledStore::open(dir)?)),
            Backend::Postgres(url) => Ok(Self::Postgres(postgres::PgStore::open(url)?)),
            Backend::Django(url) => Ok(Self::Postgres(postgres::PgStore::open_django(url)?)),
        }
    }

    /// Whether calls can succeed now: [`Health::Ready`], or a backend recovering from a
    /// failure (calls fail with [`StoreError::Io`] meanwhile, answered 503).
    pub fn health(&self) -> Health {
        each_backend!(self, s => s.health())
    }

    /// Keeps the store usable for as long as the server runs (sled: reopens it after an
    /// I/O error, once a second until that works). The server spawns this once.
    pub async fn supervise(self) {
        each_backend!(self, s => s.supervise().await)
    }

    /// Makes every write made so far durable, also those of a use case that failed
    /// partway (the end of an admin command, the server's shutdown). Writes that
    /// returned `Ok` already were. The store stays open: a process releases it (sled:
    /// its lock) when its last handle is dropped.
    pub async fn flush(&self) -> Result<(), StoreError> {
        each_backend!(self, s => s.flush_all().await)
    }

    // ---- time ----

    /// The earliest time (Unix ms) the server may act at: the latest time persisted by
    /// [`Store::raise_clock_floor`] (at each flush of expired tokens and at shutdown).
    /// Read on every request: in memory, no I/O. Survives a reopen and a restart.
    pub fn clock_floor_ms(&self) -> u64 {
        each_backend!(self, s => s.clock_floor_ms())
    }

    /// Raises the clock floor to `ms` (never lowers it), durably.
    pub async fn raise_clock_floor(&self, ms: u64) -> Result<(), StoreError> {
        each_backend_write!(self, s => s.raise_clock_floor(ms))
    }

    // ---- signing keys ----

    /// The signing-key set (issue #16), oldest first; empty when the configured key
    /// alone signs.
    pub async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        each_backend_read!(self, s => s.signing_keys())
    }

    /// Changes the signing-key set atomically and durably: `change` sees the stored set
    /// (it may run more than once, so it must not act beyond its answer) and returns the
    /// records to write (matched by kid: changed or new) with its answer. Of concurrent
    /// changes (on any number of replicas) each sees the set the one before it wrote.
    /// The change is checked with [`apply_key_change`] in the same unit: a state moving
    /// backwards or two current keys is [`StoreError::KeyRule`], more than
    /// [`MAX_VERIFYING`] keys that verify is [`StoreError::KeySetFull`], and nothing is
    /// written; a change that adds a key also deletes the retired and revoked records
    /// beyond the newest [`KEPT_DROPPED`].
    pub async fn update_signing_keys<T>(
        &self,
        change: impl Fn(&[StoredKey]) -> (Vec<StoredKey>, T),
    ) -> Result<T, StoreError> {
        each_backend_write!(self, s => s.update_signing_keys(&change))
    }

    // ---- audit trail ----

    /// Appends an admin action to the audit trail, durably (`entry.id` is ignored: the
    /// store assigns the next id, higher than every earlier entry's, also between
    /// concurrent calls and replicas), and deletes the entries beyond the newest `keep`
    /// in the same unit. Returns the entry's id.
    pub async fn record_audit(&self, entry: AuditEntry, keep: usize) -> Result<u64, StoreError> {
        each_backend_write!(self, s => s.record_audit(entry, keep))
    }

    /// Up to `limit` entries of the audit trail, newest first, with ids below `before`
    /// when given (the next page: the last id of the page before).
    pub async fn audit(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        each_backend_read!(self, s => s.audit(before, limit))
    }

    // ---- users ----

    /// Adds a user, durably; `id` 0 means "next free id". Usernames (and non-empty
    /// emails when `unique_email`) are unique: a taken one is
    /// [`StoreError::Duplicate`], also between concurrent calls.
    pub async fn add_user(&self, user: User, unique_email: bool) -> Result<User, StoreError> {
        each_backend_write!(self, s => s.add_user(user, unique_email))
    }

    /// Adds several users with their own ids, durably: if any id or username is taken
    /// when the import starts, nothing is written (an import is an administrator's
    /// one-off; a user added concurrently by someone else fails the rest of it with
    /// [`StoreError::Duplicate`], as a second import of the same file does).
    pub async fn import_users(
        &self,
        users: Vec<User>,
        unique_email: bool,
    ) -> Result<usize, StoreError> {
        each_backend!(self, s => s.import_users(users, unique_email).await)
    }

    /// A user by id.
    pub async fn user(&self, id: u64) -> Result<Option<User>, StoreError> {
        each_backend_read!(self, s => s.user(id))
    }

    /// [`Store::user`] for authenticating a request: the stored record as of now (a
    /// password change or deactivation counts from its commit), possibly shared with
    /// other requests.
    pub async fn user_shared(&self, id: u64) -> Result<Option<Arc<User>>, StoreError> {
        each_backend_read!(self, s => s.user_shared(id))
    }

    /// A user by username, exactly as stored (case-sensitive, as Django's default).
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        each_backend_read!(self, s => s.user_by_username(username))
    }

    /// A user by email (for `username_field = "email"`).
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        each_backend_read!(self, s => s.user_by_email(email))
    }

    /// Every user, by id.
    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        each_backend_bulk!(self, s => s.users())
    }

    /// Changes a user atomically and durably: `change` sees the stored record (it may
    /// run more than once) and a concurrent change of the same user is never lost.
    /// Username and email stay unique. An unknown id is [`StoreError::NoSuchUser`].
    pub async fn update_user(
        &self,
        id: u64,
        change: impl Fn(&mut User),
    ) -> Result<User, StoreError> {
        each_backend_write!(self, s => s.update_user(id, change))
    }

    /// Revokes every refresh and sliding token ever issued to a user, rotated ones
    /// included, durably. The user is stamped first (`stamp_ms`: the server's clock),
    /// so that a rotation racing this call either committed before the stamp (and its
    /// token is among those blacklisted) or is refused: no live token created before
    /// the stamp survives. Password changes and deactivation also stamp access tokens;
    /// `change` is applied to the user in the same write as the stamp (a new password).
    /// Returns how many tokens were newly blacklisted.
    pub async fn revoke_user(
        &self,
        user_id: u64,
        why: Revocation,
        stamp_ms: u64,
        change: impl Fn(&mut User),
    ) -> Result<usize, StoreError> {
        each_backend_write!(self, s => s.revoke_user(user_id, why, stamp_ms, change))
    }

    // ---- tokens ----

    /// Records a token issued at login (a family of its own, whose `login` is `seen`),
    /// durably, together with the user's `last_login` when given.
    pub async fn record_login(
        &self,
        token: &Outstanding,
        last_login: Option<i64>,
        seen: Option<&Seen>,
    ) -> Result<(), StoreError> {
        each_backend_write!(self, s => s.record_login(token, last_login, seen))
    }

    /// Records a validly signed token the store has never seen (one minted by the
    /// Simple JWT site tollgate replaces), durably, so that it can be listed, revoked
    /// and flushed like the others. Recording a known token changes nothing.
    pub async fn adopt(&self, token: &Outstanding) -> Result<(), StoreError> {
        each_backend_write!(self, s => s.adopt(token))
    }

    /// The outstanding record of a jti.
    pub async fn outstanding(&self, jti: &str) -> Result<Option<Outstanding>, StoreError> {
        each_backend_read!(self, s => s.outstanding(jti))
    }

    /// The blacklist entry of a jti: the step between a token's signature check and its
    /// remaining claim checks (`tollgate_core::Pending`).
    pub async fn blacklisted(&self, jti: &str) -> Result<Option<Blacklisted>, StoreError> {
        each_backend_read!(self, s => s.blacklisted(jti))
    }

    /// What the store holds about a presented token, read at one instant (one round
    /// trip on PostgreSQL): its blacklist entry, its user (`user_id`, when the token names
    /// one) and its outstanding record.
    pub async fn presented(&self, jti: &str, user_id: Option<u64>) -> Result<Stored, StoreError> {
        each_backend_read!(self, s => s.presented(jti, user_id))
    }

    /// A family record.
    pub async fn family(&self, family: &str) -> Result<Option<Family>, StoreError> {
        each_backend_read!(self, s => s.family(family))
    }

    /// Rotates `old` into `new`, atomically and durably: of any number of concurrent
    /// rotations of one token exactly one gets [`Rotation::Done`] (and only its `new`
    /// is recorded, in `old`'s family); the others are told why not. `old` is adopted
    /// first if the store has never seen it. Refused (nothing written but that
    /// adoption) when `old` is blacklisted, its family revoked, or it was created
    /// before its user's revocation stamp (read in the same unit: see
    /// [`Store::revoke_user`]). A rotation that is done records `seen` as the family's
    /// `last_refresh`, in the same unit. Its user must exist, and be active when
    /// `require_active` ([`Rotation::NoActiveUser`]): checked after the blacklist (a
    /// token blacklisted for another reason than its rotation is
    /// [`Rotation::AlreadyBlacklisted`] whatever its user), so that the caller needs no
    /// read of its own before (PostgreSQL: one round trip for the whole refresh).
    pub async fn rotate(
        &self,
        old: &Outstanding,
        new: &Outstanding,
        rule: RotateRule,
        now: u64,
        seen: Option<&Seen>,
    ) -> Result<Rotation, StoreError> {
        each_backend_write!(self, s => s.rotate(old, new, rule, now, seen))
    }

    /// The successor of the rotated-out `jti` if it may be handed out again, to a client
    /// that presents `jti` a second time (a second tab, a retry after a lost answer):
    /// `jti` was rotated (not logged out or revoked), its successor was created less than
    /// `interval_ms` before `now_ms` (sled; PostgreSQL measures both instants on the
    /// database's clock, the one clock replicas share), and the successor is still unused and live (not
    /// blacklisted for any reason, its family not revoked, not created before its
    /// user's revocation stamp). Every condition holds at one instant (a concurrent
    /// rotation or revocation of the successor is either seen or comes after), and the
    /// successor is durable when this returns. `None`: a replay.
    pub async fn successor_in_grace(
        &self,
        jti: &str,
        now_ms: u64,
        interval_ms: u64,
    ) -> Result<Option<Outstanding>, StoreError> {
        each_backend_write!(self, s => s.successor_in_grace(jti, now_ms, interval_ms))
    }

    /// Blacklists one token (adopting it first if unknown), atomically and durably: of
    /// concurrent calls one gets [`Blacklisting::Done`].
    pub async fn blacklist(
        &self,
        token: &Outstanding,
        reason: BlacklistReason,
        now: u64,
    ) -> Result<Blacklisting, StoreError> {
        each_backend_write!(self, s => s.blacklist(token, reason, now))
    }

    /// A replay of the rotated-out `jti`: revokes its family durably (marked first, so
    /// no rotation can extend it any more, then every member blacklisted). Returns the
    /// replayed record and how many tokens were newly blacklisted, or `None` for a jti
    /// the store does not know.
    pub async fn revoke_family_of(
        &self,
        jti: &str,
        now: u64,
    ) -> Result<Option<(Outstanding, usize)>, StoreError> {
        each_backend_write!(self, s => s.revoke_family_of(jti, now))
    }

    /// The live sessions of a user at `now` (epoch seconds), newest login first: families
    /// not revoked with at least one token that is neither blacklisted nor expired.
    pub async fn sessions(&self, user_id: u64, now: u64) -> Result<Vec<Session>, StoreError> {
        each_backend_read!(self, s => s.sessions(user_id, now))
    }

    /// Ends a session: revokes the family `id` durably, as a replay would (marked first,
    /// so no rotation can extend it, then every member blacklisted with reason
    /// [`BlacklistReason::User`]). Returns the family as it was, or `None` when there is no
    /// such family (the caller checks whose it is first).
    pub async fn revoke_session(&self, id: &str, now: u64) -> Result<Option<Family>, StoreError> {
        each_backend_write!(self, s => s.revoke_session(id, now))
    }

    /// Tokens of one user (or all), with their blacklist entries.
    pub async fn tokens(
        &self,
        user_id: Option<u64>,
    ) -> Result<Vec<(Outstanding, Option<Blacklisted>)>, StoreError> {
        each_backend_bulk!(self, s => s.tokens(user_id))
    }

    /// Deletes outstanding tokens, blacklist entries and families that expired at or
    /// before `now - leeway` (epoch seconds), durably. Such tokens can no longer verify,
    /// so forgetting them changes no answer, provided they stay expired whatever the
    /// clock does later: the clock floor is first raised to `now` (itself never before
    /// the floor), durably, before anything is deleted.
    pub async fn flush_expired(&self, now: u64, leeway: u64) -> Result<Flushed, StoreError> {
        each_backend!(self, s => s.flush_expired(now, leeway).await)
    }

    /// Record counts, kept as writes commit (no walk of the store; for `/metrics`).
    pub fn counts(&self) -> Counts {
        each_backend!(self, s => s.counts())
    }

    /// Round trips to the database so far (PostgreSQL; `None` for sled, which has none).
    pub fn round_trips(&self) -> Option<u64> {
        match self {
            Self::Sled(_) => None,
            Self::Postgres(s) => Some(s.round_trips()),
        }
    }

    /// Writes token records with every index and family record [`Store::record_login`]
    /// and [`Store::rotate`] would have written for them, plus their blacklist entries,
    /// without the per-call atomicity: for offline use only (`tollgate tokens seed`, no
    /// server running), made durable by [`Store::flush`]. A family's tokens must all be
    /// in one call.
    pub async fn bulk_load(
        &self,
        tokens: &[Outstanding],
        blacklisted: &[Blacklisted],
    ) -> Result<(), StoreError> {
        each_backend_bulk!(self, s => s.bulk_load(tokens, blacklisted))
    }
}
