//! The admin commands (`tollgate users ...`, `tollgate tokens ...`), run the same way
//! from the command line on a store no server holds and inside a running server through
//! its admin socket ([`socket`]). A new command is a variant here and a branch in
//! [`users`] or [`tokens`].

mod keys;
pub mod seed;
mod sessions;
pub mod socket;
mod tokens;
mod users;

pub use keys::key_json;
pub use sessions::session_json;
pub use tokens::token_json;
pub use users::{new_user, user_json};

use std::path::PathBuf;

use clap::Subcommand;
use serde::{Deserialize, Serialize};

use crate::{
    clock::Clock,
    config::{self, Config},
    store::{AuditEntry, Store, StoreError, AUDIT_KEPT},
};

#[derive(Debug, Clone, Subcommand, Serialize, Deserialize)]
pub enum UsersCommand {
    /// Add a user (password from --password-stdin, else prompted).
    Add {
        username: String,
        #[arg(long)]
        email: Option<String>,
        /// Staff user (`is_staff`).
        #[arg(long)]
        staff: bool,
        /// Superuser (`is_superuser`).
        #[arg(long)]
        superuser: bool,
        /// Create the user inactive.
        #[arg(long)]
        inactive: bool,
        /// Free-form attribute, repeatable: --attr role=planner (JSON values allowed).
        #[arg(long = "attr", value_name = "KEY=VALUE")]
        attrs: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Change a password (revokes the user's refresh tokens and older access tokens).
    SetPassword {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set free-form attributes: KEY=VALUE ... (an empty VALUE removes the key).
    SetAttr {
        username: String,
        #[arg(value_name = "KEY=VALUE", required = true)]
        attrs: Vec<String>,
    },
    /// Deactivate a user (revokes every token).
    Deactivate { username: String },
    /// Import users from `manage.py dumpdata auth.User` JSON.
    Import { file: PathBuf },
}

#[derive(Debug, Clone, Subcommand, Serialize, Deserialize)]
pub enum TokensCommand {
    /// List outstanding refresh and sliding tokens.
    List {
        /// Only this user's tokens.
        #[arg(long, value_name = "USERNAME")]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Blacklist every token of a user (log out everywhere).
    Blacklist {
        #[arg(long, value_name = "USERNAME")]
        user: String,
    },
    /// Blacklist one refresh or sliding token, by its jti (as `tokens list` shows it).
    Revoke {
        /// Jtis are hex or base64url and may begin with `-`: taken as the jti.
        #[arg(allow_hyphen_values = true)]
        jti: String,
    },
    /// Delete outstanding and blacklisted tokens that have expired.
    FlushExpired,
    /// Fill the store with refresh tokens as if the server had issued them, for load
    /// tests with a large store: real tokens of the existing users, in rotation chains,
    /// some already expired. Offline only: refused while a server holds the database.
    Seed {
        /// Outstanding token records to write (blacklisted ones included).
        #[arg(long, value_name = "N")]
        outstanding: u64,
        /// How many of them are blacklisted: rotated-out predecessors of live tokens.
        #[arg(long, value_name = "N", default_value_t = 0)]
        blacklisted: u64,
        /// About this share of the records has already expired (0 to 90).
        #[arg(long, value_name = "PERCENT", default_value_t = 10)]
        expired_percent: u8,
    },
}

#[derive(Debug, Clone, Subcommand, Serialize, Deserialize)]
pub enum SessionsCommand {
    /// List a user's live sessions (one per login: device, address, last refresh).
    List {
        #[arg(long, value_name = "USERNAME")]
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// End a session: every token of it is refused from now on.
    Revoke {
        /// The session's id, as `sessions list` shows it.
        id: String,
    },
}

/// `tollgate keys ...` on the signing-key set in the store.
#[derive(Debug, Clone, Subcommand, Serialize, Deserialize)]
pub enum KeysCommand {
    /// List the stored signing keys: kid, algorithm, state (next, current, previous,
    /// retired, revoked), times.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a fresh key as next: published in the JWKS, signing after `keys rotate`.
    Add {
        /// Its algorithm (default: the configured `algorithm`).
        #[arg(long, value_name = "ALGORITHM")]
        algorithm: Option<String>,
    },
    /// Make the next key sign; the current key becomes previous and keeps verifying the
    /// tokens it signed. EdDSA/ES256: the next key must have been published (`keys add`)
    /// at least two JWKS cache lifetimes ago (10 min 5 s). HMAC: a fresh key when there
    /// is no next one.
    Rotate {
        /// Rotate at once (to the next key, or a fresh one), even if JWKS caches may not
        /// hold it yet.
        #[arg(long)]
        now: bool,
    },
    /// Revoke a key at once: its tokens are refused (a current key is replaced).
    Revoke {
        /// The key's kid, as `keys list` shows it. Kids are base64url and may begin with
        /// `-`: taken as the kid, not as an option.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

/// A command that reads or changes the database: run directly, or, when the server
/// holds the database, through its admin socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum AdminCommand {
    Users(UsersCommand),
    Tokens(TokensCommand),
    Sessions(SessionsCommand),
    Keys(KeysCommand),
}

/// What a command needs from the terminal or the filesystem, resolved where the user
/// is (the password prompt, the import file), so that the server can run it as is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Input {
    pub password: Option<String>,
    pub file: Option<String>,
}

impl Input {
    fn password(&self) -> Result<String, CliError> {
        self.password
            .clone()
            .ok_or_else(|| fail("password_blank", "no password given"))
    }
}

/// Largest import file accepted (also the admin socket's message limit).
pub const MAX_IMPORT_BYTES: u64 = 256 * 1024 * 1024;

/// A failure of a command: a stable code and a message for the terminal.
#[derive(Debug, Serialize, Deserialize)]
pub struct CliError {
    pub code: std::borrow::Cow<'static, str>,
    pub message: String,
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl From<StoreError> for CliError {
    fn from(err: StoreError) -> Self {
        Self {
            code: err.code().into(),
            message: err.to_string(),
        }
    }
}

impl From<config::ConfigError> for CliError {
    fn from(err: config::ConfigError) -> Self {
        Self {
            code: err.code().into(),
            message: err.to_string(),
        }
    }
}

pub fn fail(code: &'static str, message: impl Into<String>) -> CliError {
    CliError {
        code: code.into(),
        message: message.into(),
    }
}

/// What a command runs against: the configuration, the store, and the clock its
/// stamps come from (the server's own inside the server, so a revocation is never
/// stamped earlier than a token the server issued; on the command line the wall clock
/// held above the store's clock floor).
#[derive(Clone)]
pub struct Context {
    pub config: Config,
    pub store: Store,
    pub clock: Clock,
    /// Who runs the commands, for the audit trail.
    pub actor: Actor,
    /// Inside a server: its keys in force, reloaded as soon as a `keys` command changed
    /// the stored set (before the command's answer, so the change is in force when the
    /// command returns).
    pub keys: Option<std::sync::Arc<crate::keyset::LiveKeys>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("config", &self.config)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Context {
    fn now_ms(&self) -> u64 {
        (self.clock)()
    }
}

/// Who runs an admin command, as the audit trail records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// A username (API), or the operating-system account (command line).
    pub name: String,
    /// `api`, `cli` or `socket` (see [`AuditEntry::via`]).
    pub via: &'static str,
}

impl Actor {
    /// The command line on the store itself: the account named by `USER` (or
    /// `LOGNAME`), as the shell says (anyone who can open the store could say otherwise).
    pub fn command_line() -> Self {
        let name = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Self { name, via: "cli" }
    }
}

/// The audit trail's action and target of a command that changes something (`None`
/// for a command that only reads).
fn audited(cmd: &AdminCommand) -> Option<(&'static str, String)> {
    Some(match cmd {
        AdminCommand::Users(cmd) => match cmd {
            UsersCommand::Add { username, .. } => ("users.add", username.trim().to_string()),
            UsersCommand::SetPassword { username, .. } => ("users.set_password", username.clone()),
            UsersCommand::SetAttr { username, .. } => ("users.set_attr", username.clone()),
            UsersCommand::Deactivate { username } => ("users.deactivate", username.clone()),
            UsersCommand::Import { file } => ("users.import", file.display().to_string()),
            UsersCommand::List { .. } => return None,
        },
        AdminCommand::Tokens(cmd) => match cmd {
            TokensCommand::Blacklist { user } => ("tokens.blacklist_user", user.clone()),
            TokensCommand::Revoke { jti } => ("tokens.revoke", jti.clone()),
            TokensCommand::FlushExpired => ("tokens.flush_expired", String::new()),
            TokensCommand::Seed { .. } => ("tokens.seed", String::new()),
            TokensCommand::List { .. } => return None,
        },
        AdminCommand::Sessions(cmd) => match cmd {
            SessionsCommand::Revoke { id } => ("sessions.revoke", id.clone()),
            SessionsCommand::List { .. } => return None,
        },
        AdminCommand::Keys(cmd) => match cmd {
            KeysCommand::Add { algorithm } => ("keys.add", algorithm.clone().unwrap_or_default()),
            KeysCommand::Rotate { now } => (
                "keys.rotate",
                if *now { "now".into() } else { String::new() },
            ),
            KeysCommand::Revoke { kid } => ("keys.revoke", kid.clone()),
            KeysCommand::List { .. } => return None,
        },
    })
}

/// The user named `username`, or `user_not_found`.
async fn find_user(store: &Store, username: &str) -> Result<crate::store::User, CliError> {
    store
        .user_by_username(username)
        .await?
        .ok_or_else(|| StoreError::NoSuchUser(username.into()).into())
}

/// Runs an admin command; returns what to print. Every write is durable when it
/// returns, a failed command's earlier writes included.
pub async fn execute(ctx: &Context, cmd: AdminCommand, input: &Input) -> Result<String, CliError> {
    let mut out = String::new();
    let keys_command = matches!(cmd, AdminCommand::Keys(_));
    let audit = audited(&cmd);
    let result = match cmd {
        AdminCommand::Users(cmd) => users::run(ctx, cmd, input, &mut out).await,
        AdminCommand::Tokens(cmd) => tokens::run(ctx, cmd, &mut out).await,
        AdminCommand::Sessions(cmd) => sessions::run(ctx, cmd, &mut out).await,
        AdminCommand::Keys(cmd) => keys::run(ctx, cmd, &mut out).await,
    };
    // Whatever a failed command wrote before it failed is made durable too.
    ctx.store.flush().await?;
    // Every change is on the audit trail before it is answered; a change done but not
    // recorded is answered as a failure (`audit_failed`), never as done.
    if let Some((action, target)) = audit {
        let entry = AuditEntry {
            id: 0,
            at_ms: ctx.now_ms(),
            actor: ctx.actor.name.clone(),
            via: ctx.actor.via.into(),
            action: action.into(),
            target,
            outcome: match &result {
                Ok(()) => "ok".into(),
                Err(err) => err.code.to_string(),
            },
        };
        if let Err(err) = ctx.store.record_audit(entry, AUDIT_KEPT).await {
            tracing::error!(error = %err, action, "the audit trail could not record an admin action");
            if result.is_ok() {
                return Err(fail(
                    "audit_failed",
                    format!("{action} was done, but the audit trail could not record it: {err}"),
                ));
            }
        }
    }
    if let (true, Some(keys)) = (keys_command, &ctx.keys) {
        if let Err(err) = keys.reload().await {
            tracing::error!(error = %err, code = err.code(), "the stored signing keys cannot be used; the keys in force stay");
            return Err(err.into());
        }
    }
    result.map(|()| out)
}
