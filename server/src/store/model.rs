//! What the store keeps (users, outstanding and blacklisted tokens, families) and what
//! its methods answer, whichever backend keeps them.

use std::{collections::BTreeMap, fmt, path::PathBuf};

use serde::{Deserialize, Serialize};

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
    /// The database cannot serve as configured, or cannot hold this value (beside a
    /// Django site: Django's migrations missing, a user id beyond Django's 32 bits).
    Incompatible(String),
    /// A networked database could not be opened: not reached, TLS refused, login or
    /// database refused (the message says which; never the password).
    Connect(String),
    /// A change of the signing-key set that breaks its rules (a state moving backwards,
    /// two current keys): see [`crate::store::apply_key_change`].
    KeyRule(String),
    /// A change that would leave more keys that verify (next, current, previous) than the
    /// set may hold (this bound): see [`crate::store::apply_key_change`].
    KeySetFull(usize),
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
            Self::Incompatible(_) => "store_incompatible",
            Self::Connect(_) => "store_connect",
            Self::KeyRule(_) => "key_rule",
            Self::KeySetFull(_) => "key_set_full",
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
            Self::Incompatible(why) => f.write_str(why),
            Self::Connect(why) => write!(f, "cannot use the database {why}"),
            Self::KeyRule(why) => write!(f, "refused change of the signing keys: {why}"),
            Self::KeySetFull(max) => write!(
                f,
                "the signing-key set already holds {max} keys that verify (next, current and previous), the most it may: revoke one (`tollgate keys revoke KID`) or wait until a previous key retires (once every token it signed has expired); nothing was changed"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

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
    /// [`crate::store::Store::add_user`].
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

    /// Stamps a bulk revocation made at `stamp_ms`: refresh and sliding tokens created
    /// before it are refused, access tokens too unless it is a logout-all, and a
    /// deactivation deactivates. Tokens issued in the very millisecond of the revocation
    /// count as before it. Every backend's `revoke_user` applies exactly this.
    pub fn stamp_revocation(&mut self, why: Revocation, stamp_ms: u64) {
        let stamp = stamp_ms.saturating_add(1);
        self.refresh_revoked_before_ms = self.refresh_revoked_before_ms.max(stamp);
        if why != Revocation::LogoutAll {
            self.access_revoked_before_ms = self.access_revoked_before_ms.max(stamp);
        }
        self.revoked_reason = Some(why);
        if why == Revocation::Deactivated {
            self.is_active = false;
        }
    }

    /// Whether a refresh or sliding token created at `created_at_ms` was revoked with
    /// every token of the user (password change, deactivation, logout-all).
    pub fn refresh_revoked(&self, created_at_ms: u64) -> bool {
        created_at_ms < self.refresh_revoked_before_ms
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
    /// The jti of the token this one was rotated into ([`BlacklistReason::Rotated`]):
    /// presented again within the reuse interval, the same successor is handed out
    /// (see [`crate::store::Store::successor_in_grace`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor: Option<String>,
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

/// A token family: every refresh token descended from one login. To its user, a
/// session (one device or browser).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Family {
    pub user_id: u64,
    pub created_at_ms: u64,
    pub expires_at: u64,
    pub revoked_at: Option<u64>,
    /// Who logged in (absent for families older than sessions, and adopted tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<Seen>,
    /// Who refreshed last (absent until the first rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refresh: Option<Seen>,
}

/// A client as a login or refresh saw it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Seen {
    pub at_ms: u64,
    /// The `User-Agent` header, at most [`Seen::MAX_USER_AGENT`] bytes (cut at a
    /// character boundary); empty when absent.
    pub user_agent: String,
    /// The client's address.
    pub ip: String,
}

impl Seen {
    pub const MAX_USER_AGENT: usize = 256;

    /// `user_agent` cut to its bound.
    pub fn new(at_ms: u64, user_agent: &str, ip: String) -> Self {
        let mut end = user_agent.len().min(Self::MAX_USER_AGENT);
        while !user_agent.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            at_ms,
            user_agent: user_agent[..end].to_string(),
            ip,
        }
    }
}

/// A live session of a user: a family with at least one token that is neither
/// blacklisted nor expired, and not revoked.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The family's id (the jti of its login's refresh token).
    pub id: String,
    pub family: Family,
}

impl Session {
    /// Whether `id` can name a session: 1 to 255 bytes of URL-safe unreserved characters
    /// (a token id: tollgate's and Simple JWT's are 32 hex digits), so it fits in a path
    /// segment as it is.
    pub fn is_valid_id(id: &str) -> bool {
        !id.is_empty()
            && id.len() <= 255
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    }
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
    /// The user's tokens were revoked after this one was created.
    UserRevoked,
    /// The token's user is gone, or inactive while the rotation asked for an active one:
    /// nothing written (an unseen token not adopted either).
    NoActiveUser,
}

/// What the store holds about a presented token ([`crate::store::Store::presented`]).
#[derive(Debug, Default)]
pub struct Stored {
    pub blacklisted: Option<Blacklisted>,
    pub user: Option<User>,
    pub outstanding: Option<Outstanding>,
}

/// How a rotation treats the old token and its user ([`crate::store::Store::rotate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotateRule {
    /// The old token is blacklisted (Simple JWT's `BLACKLIST_AFTER_ROTATION`).
    pub blacklist_old: bool,
    /// An inactive user's token is refused (Simple JWT's `CHECK_USER_IS_ACTIVE`).
    pub require_active: bool,
}

impl RotateRule {
    /// The old token blacklisted, the user's activity not asked.
    pub const BLACKLIST: Self = Self {
        blacklist_old: true,
        require_active: false,
    };

    /// The old token left as it is (not blacklisted), the user's activity not asked.
    pub const KEEP: Self = Self {
        blacklist_old: false,
        require_active: false,
    };
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

/// Whether the store can answer now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Calls can succeed.
    Ready,
    /// A failure was seen and the backend is recovering (sled: reopening after an I/O
    /// error); calls fail with [`StoreError::Io`] meanwhile.
    Recovering,
    /// The backend cannot be reached (a networked database that is down).
    Unreachable,
}

impl Health {
    /// The name `/metrics` shows.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Recovering => "recovering",
            Self::Unreachable => "unreachable",
        }
    }
}
