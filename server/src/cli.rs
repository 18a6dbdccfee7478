//! The command line: `tollgate serve`, `users ...`, `tokens ...`, `keys generate`.

use std::{
    fmt::Write as _,
    io::{BufRead as _, IsTerminal as _},
    path::PathBuf,
    sync::Arc,
};

use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    app::{system_clock, App},
    config::{self, Config, LogFormat, Sources},
    import, password, seed,
    store::{now_ms, Revocation, Store, StoreError, User},
};

/// tollgate: a JWT access/refresh token server with Simple JWT's HTTP contract.
#[derive(Debug, Parser)]
#[command(name = "tollgate", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML). Default: tollgate.toml in the working folder, if any.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data folder (overrides `data_dir` and TOLLGATE_DATA_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (and its demo page).
    Serve(ServeArgs),
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Inspect and revoke tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides `bind`), e.g. 127.0.0.1:8000.
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// Do not create the demo user on an empty database.
    #[arg(long)]
    pub no_demo_user: bool,
}

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

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Write a new signing key for the configured algorithm into the data folder.
    Generate {
        /// Replace an existing key (every token it signed stops verifying).
        #[arg(long)]
        force: bool,
    },
}

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

fn fail(code: &'static str, message: impl Into<String>) -> CliError {
    CliError {
        code: code.into(),
        message: message.into(),
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let mut sources = Sources::from_process_env(cli.config.clone());
    if let Some(dir) = &cli.data_dir {
        sources
            .flags
            .insert("data_dir".into(), dir.display().to_string());
    }
    match cli.command {
        Command::Serve(args) => {
            if let Some(bind) = &args.bind {
                sources.flags.insert("bind".into(), bind.clone());
            }
            let config = Config::load(&sources, true)?;
            serve(config, !args.no_demo_user)
        }
        Command::Keys(KeysCommand::Generate { force }) => keys_generate(&sources, force),
        Command::Users(cmd) => admin_command(&sources, AdminCommand::Users(cmd)),
        Command::Tokens(TokensCommand::Seed {
            outstanding,
            blacklisted,
            expired_percent,
        }) => seed_offline(
            &sources,
            seed::Plan {
                outstanding,
                blacklisted,
                expired_percent,
            },
        ),
        Command::Tokens(cmd) => admin_command(&sources, AdminCommand::Tokens(cmd)),
    }
}

/// A command that reads or changes the database: run directly, or, when the server
/// holds the database, through its admin socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum AdminCommand {
    Users(UsersCommand),
    Tokens(TokensCommand),
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

fn resolve_input(cmd: &AdminCommand) -> Result<Input, CliError> {
    let mut input = Input::default();
    match cmd {
        AdminCommand::Users(UsersCommand::Add { password_stdin, .. })
        | AdminCommand::Users(UsersCommand::SetPassword { password_stdin, .. }) => {
            input.password = Some(read_password(*password_stdin)?);
        }
        AdminCommand::Users(UsersCommand::Import { file }) => {
            let size = std::fs::metadata(file)
                .map_err(|e| fail("import_unreadable", format!("{}: {e}", file.display())))?
                .len();
            if size > MAX_IMPORT_BYTES {
                return Err(fail(
                    "import_too_large",
                    format!("{} is over 256 MiB", file.display()),
                ));
            }
            let text = std::fs::read_to_string(file)
                .map_err(|e| fail("import_unreadable", format!("{}: {e}", file.display())))?;
            input.file = Some(text);
        }
        _ => {}
    }
    Ok(input)
}

/// Runs an admin command against an open store; returns what to print.
pub fn execute(
    config: &Config,
    store: &Store,
    cmd: AdminCommand,
    input: &Input,
) -> Result<String, CliError> {
    let mut out = String::new();
    let result = match cmd {
        AdminCommand::Users(cmd) => users(config, store, cmd, input, &mut out),
        AdminCommand::Tokens(cmd) => tokens(config, store, cmd, &mut out),
    };
    // Whatever was written before a failure is made durable too.
    store.flush()?;
    result.map(|()| out)
}

fn admin_command(sources: &Sources, cmd: AdminCommand) -> Result<(), CliError> {
    let config = Config::load(sources, true)?;
    let input = resolve_input(&cmd)?;
    let output = match Store::open(&config.data_dir) {
        Ok(store) => execute(&config, &store, cmd, &input)?,
        // The server holds the database: ask it to run the command.
        Err(StoreError::Locked(dir)) => crate::admin::call(&config.data_dir, &cmd, &input)
            .map_err(|err| match err {
                crate::admin::CallError::NoServer => StoreError::Locked(dir).into(),
                crate::admin::CallError::Failed(err) => err,
            })?,
        Err(other) => return Err(other.into()),
    };
    print!("{output}");
    Ok(())
}

/// `tokens seed` writes the database directly (key by key, see `Store::bulk_load`): never
/// beside a server.
fn seed_offline(sources: &Sources, plan: seed::Plan) -> Result<(), CliError> {
    let config = Config::load(sources, true)?;
    let store = match Store::open(&config.data_dir) {
        Err(StoreError::Locked(dir)) => {
            return Err(fail(
                "seed_offline",
                format!(
                    "a server holds the database in {}: stop it first (seeding writes the store directly)",
                    dir.display()
                ),
            ))
        }
        other => other?,
    };
    let started = std::time::Instant::now();
    let mut random = [0u8; 8];
    let _ = getrandom::getrandom(&mut random);
    let mut reported = 0;
    let seeded = seed::seed(
        &config,
        &store,
        plan,
        now_ms(),
        u64::from_le_bytes(random),
        |written| {
            if written >= reported + 100_000 {
                reported = written;
                eprintln!("seeded {written} of {} tokens", plan.outstanding);
            }
        },
    )
    .map_err(|err| match err {
        seed::SeedError::Plan(why) => fail("seed_invalid", why),
        seed::SeedError::Store(err) => err.into(),
        seed::SeedError::Token(err) => fail(err.code(), err.to_string()),
    })?;
    println!(
        "seeded {} outstanding refresh tokens ({} blacklisted, {} already expired) in {} families of {} users in {:.1} s",
        seeded.outstanding,
        seeded.blacklisted,
        seeded.expired,
        seeded.families,
        seeded.users,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn init_logging(format: LogFormat) {
    // hyper reports a client that hangs up mid-request as a connection "error": that is
    // the client's doing, not the server's, so it is not logged by default.
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOLLGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,warp::server=off"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The demo user created on an empty database, so the README's tour works at once.
pub const DEMO_USER: (&str, &str) = ("demo", "tollgate-demo");

fn serve(config: Config, demo_user: bool) -> Result<(), CliError> {
    init_logging(config.log_format);
    let store = Store::open(&config.data_dir)?;
    if demo_user && store.counts().users == 0 {
        let (name, pass) = DEMO_USER;
        let user = new_user(
            name,
            Some("demo@example.com".into()),
            pass,
            config.pbkdf2_iterations,
        );
        store.add_user(user, config.username_field == config::UsernameField::Email)?;
        store.flush()?;
        println!("created demo user {name:?} with password {pass:?} (change it: tollgate users set-password {name})");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| fail("runtime", e.to_string()))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|e| fail("bind_failed", format!("cannot listen on {}: {e}", config.bind)))?;
        let addr = listener.local_addr().map_err(|e| fail("bind_failed", e.to_string()))?;
        let interval = config.flush_expired_interval;
        let leeway = config.tokens.leeway();
        let app = Arc::new(App::new(config, store.clone(), system_clock()));
        tracing::info!(%addr, algorithm = %app.config.tokens.algorithm(), data_dir = %app.config.data_dir.display(), "tollgate listening");
        // The admin socket is up before anyone is told the server is ready.
        let admin = crate::admin::listen(app.config.clone(), store.clone())
            .map_err(|e| fail("admin_socket", e.to_string()))?;
        println!("tollgate listening on http://{addr}/");
        let flusher = tokio::spawn(flush_expired_periodically(Arc::clone(&app), interval, leeway));
        let reopener = tokio::spawn(reopen_when_failed(store.clone()));
        crate::app::serve(listener, Arc::clone(&app), shutdown_signal()).await;
        flusher.abort();
        reopener.abort();
        admin.close();
        tracing::info!("draining done, flushing the store");
        // The next start's clock begins no earlier than this one ends.
        store.raise_clock_floor(app.now_ms())?;
        store.flush()?;
        Ok::<(), CliError>(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested: draining in-flight requests");
}

/// After a failed flush (a full disk, an I/O error) sled stays failed: reopen it, every
/// second until it works, so the server recovers by itself once the disk does.
async fn reopen_when_failed(store: Store) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        if !store.failed() {
            continue;
        }
        let store = store.clone();
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

async fn flush_expired_periodically(app: Arc<App>, every_secs: u64, leeway: u64) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(every_secs));
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = app.now_ms() / 1000;
        let store = app.store.clone();
        match tokio::task::spawn_blocking(move || store.flush_expired(now, leeway)).await {
            Ok(Ok(flushed)) => tracing::info!(
                outstanding = flushed.outstanding,
                blacklisted = flushed.blacklisted,
                "flushed expired tokens"
            ),
            Ok(Err(err)) => tracing::error!(error = %err, "flushing expired tokens failed"),
            Err(_) => return,
        }
    }
}

fn new_user(username: &str, email: Option<String>, password_text: &str, iterations: u32) -> User {
    let password = password::make_password(password_text, iterations);
    let joined = (now_ms() / 1000) as i64;
    User::new(
        0,
        username,
        email.as_deref().unwrap_or(""),
        password,
        joined,
    )
}

fn read_password(from_stdin: bool) -> Result<String, CliError> {
    let password = if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| fail("password_unreadable", e.to_string()))?;
        line.trim_end_matches(['\n', '\r']).to_string()
    } else {
        let first = rpassword::prompt_password("Password: ")
            .map_err(|e| fail("password_unreadable", e.to_string()))?;
        let again = rpassword::prompt_password("Password (again): ")
            .map_err(|e| fail("password_unreadable", e.to_string()))?;
        if first != again {
            return Err(fail("password_mismatch", "the passwords differ"));
        }
        first
    };
    if password.is_empty() {
        return Err(fail("password_blank", "the password may not be blank"));
    }
    Ok(password)
}

/// `KEY=VALUE`: VALUE as JSON if it parses (numbers, true, "quoted"), else as text.
fn parse_attr(text: &str) -> Result<(String, Option<Value>), CliError> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| fail("attr_invalid", format!("{text:?}: expected KEY=VALUE")))?;
    if key.is_empty()
        || key.len() > 64
        || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(fail(
            "attr_invalid",
            format!("{key:?}: attribute names are 1-64 letters, digits or _"),
        ));
    }
    if value.is_empty() {
        return Ok((key.into(), None));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into()));
    Ok((key.into(), Some(value)))
}

fn find_user(store: &Store, username: &str) -> Result<User, CliError> {
    store
        .user_by_username(username)?
        .ok_or_else(|| StoreError::NoSuchUser(username.into()).into())
}

fn users(
    config: &Config,
    store: &Store,
    cmd: UsersCommand,
    input: &Input,
    out: &mut String,
) -> Result<(), CliError> {
    let unique_email = config.username_field == config::UsernameField::Email;
    match cmd {
        UsersCommand::Add {
            username,
            email,
            staff,
            superuser,
            inactive,
            attrs,
            password_stdin,
        } => {
            let username = username.trim().to_string();
            if username.is_empty() || username.len() > 150 {
                return Err(fail(
                    "username_invalid",
                    "usernames are 1 to 150 characters (Django's limit)",
                ));
            }
            if unique_email && email.as_deref().unwrap_or("").is_empty() {
                return Err(fail(
                    "email_required",
                    "username_field is email: --email is required",
                ));
            }
            let mut parsed = Vec::new();
            for attr in &attrs {
                parsed.push(parse_attr(attr)?);
            }
            let _ = password_stdin;
            let password_text = input.password()?;
            let mut user = new_user(&username, email, &password_text, config.pbkdf2_iterations);
            user.is_staff = staff;
            user.is_superuser = superuser;
            user.is_active = !inactive;
            for (key, value) in parsed {
                if let Some(value) = value {
                    user.attrs.insert(key, value);
                }
            }
            let user = store.add_user(user, unique_email)?;
            let _ = writeln!(out, "added user {:?} (id {})", user.username, user.id);
        }
        UsersCommand::List { json } => {
            for user in store.users()? {
                if json {
                    let line = serde_json::json!({
                        "id": user.id, "username": user.username, "email": user.email,
                        "is_active": user.is_active, "is_staff": user.is_staff,
                        "is_superuser": user.is_superuser, "last_login": user.last_login,
                        "date_joined": user.date_joined, "attrs": user.attrs,
                    });
                    let _ = writeln!(out, "{line}");
                } else {
                    let attrs = serde_json::to_string(&user.attrs).unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "{:>6}  {:<24} {:<32} active={} staff={} attrs={attrs}",
                        user.id, user.username, user.email, user.is_active, user.is_staff
                    );
                }
            }
        }
        UsersCommand::SetPassword {
            username,
            password_stdin,
        } => {
            let user = find_user(store, &username)?;
            let _ = password_stdin;
            let password_text = input.password()?;
            let encoded = password::make_password(&password_text, config.pbkdf2_iterations);
            store.update_user(user.id, |u| u.password = encoded.clone())?;
            let revoked = store.revoke_user(user.id, Revocation::PasswordChanged, now_ms())?;
            let _ = writeln!(
                out,
                "password changed for {username:?}; {revoked} refresh tokens revoked"
            );
        }
        UsersCommand::SetAttr { username, attrs } => {
            let user = find_user(store, &username)?;
            let mut parsed = Vec::new();
            for attr in &attrs {
                parsed.push(parse_attr(attr)?);
            }
            store.update_user(user.id, |u| {
                for (key, value) in &parsed {
                    match value {
                        Some(value) => u.attrs.insert(key.clone(), value.clone()),
                        None => u.attrs.remove(key),
                    };
                }
            })?;
            let _ = writeln!(out, "attributes of {username:?} updated");
        }
        UsersCommand::Deactivate { username } => {
            let user = find_user(store, &username)?;
            let revoked = store.revoke_user(user.id, Revocation::Deactivated, now_ms())?;
            let _ = writeln!(
                out,
                "deactivated {username:?}; {revoked} refresh tokens revoked"
            );
        }
        UsersCommand::Import { file } => {
            // The file was read where the command was typed (it may be a relative path
            // the server, behind the admin socket, cannot see).
            let text = input.file.as_deref().ok_or_else(|| {
                fail("import_unreadable", format!("{}: not read", file.display()))
            })?;
            let imported =
                import::parse_dumpdata(text).map_err(|e| fail(e.code(), e.to_string()))?;
            // All or nothing: refuse before writing if any user already exists.
            for record in &imported {
                if store.user(record.id)?.is_some() {
                    return Err(StoreError::Duplicate("id", record.id.to_string()).into());
                }
                if store.user_by_username(&record.username)?.is_some() {
                    return Err(StoreError::Duplicate("username", record.username.clone()).into());
                }
            }
            let mut added = 0;
            for record in imported {
                let mut user = User::new(
                    record.id,
                    &record.username,
                    &record.email,
                    record.password,
                    record.date_joined,
                );
                user.first_name = record.first_name;
                user.last_name = record.last_name;
                user.is_active = record.is_active;
                user.is_staff = record.is_staff;
                user.is_superuser = record.is_superuser;
                user.last_login = record.last_login;
                store.add_user(user, unique_email)?;
                added += 1;
            }
            let _ = writeln!(out, "imported {added} users");
        }
    }
    Ok(())
}

fn tokens(
    config: &Config,
    store: &Store,
    cmd: TokensCommand,
    out: &mut String,
) -> Result<(), CliError> {
    match cmd {
        TokensCommand::List { user, json } => {
            let user_id = match &user {
                Some(name) => Some(find_user(store, name)?.id),
                None => None,
            };
            for (record, blacklisted) in store.tokens(user_id)? {
                let status = match &blacklisted {
                    Some(entry) => format!("blacklisted:{:?}", entry.reason).to_lowercase(),
                    None => "outstanding".into(),
                };
                if json {
                    let _ = writeln!(
                        out,
                        "{}",
                        serde_json::json!({"jti": record.jti, "user_id": record.user_id, "kind": record.kind,
                            "family": record.family, "created_at_ms": record.created_at_ms,
                            "expires_at": record.expires_at, "blacklisted": blacklisted})
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "{}  user={:<6} {:?}  expires_at={}  {status}",
                        record.jti, record.user_id, record.kind, record.expires_at
                    );
                }
            }
        }
        TokensCommand::Blacklist { user } => {
            let found = find_user(store, &user)?;
            let revoked = store.revoke_user(found.id, Revocation::LogoutAll, now_ms())?;
            let _ = writeln!(out, "{revoked} tokens of {user:?} blacklisted");
        }
        TokensCommand::Seed { .. } => {
            // Only reachable through the admin socket: the server holds the database.
            return Err(fail(
                "seed_offline",
                "tokens seed runs on a database no server holds: stop the server first",
            ));
        }
        TokensCommand::FlushExpired => {
            let flushed = store.flush_expired(now_ms() / 1000, config.tokens.leeway())?;
            let _ = writeln!(
                out,
                "flushed {} outstanding and {} blacklisted tokens, {} families",
                flushed.outstanding, flushed.blacklisted, flushed.families
            );
        }
    }
    Ok(())
}

fn keys_generate(sources: &Sources, force: bool) -> Result<(), CliError> {
    // Only the algorithm and the data folder matter here; loading the whole
    // configuration would generate a key as a side effect.
    let algorithm_name = Config::peek(sources, "algorithm")?.unwrap_or_else(|| "HS256".into());
    let algorithm = tollgate_core::Algorithm::from_name(&algorithm_name)
        .map_err(|e| fail(e.code(), e.to_string()))?;
    let data_dir = Config::peek(sources, "data_dir")?.unwrap_or_else(|| "./tollgate-data".into());
    let path = config::data_dir_key_path(std::path::Path::new(&data_dir));
    if path.exists() {
        if !force {
            return Err(fail(
                "key_exists",
                format!(
                    "{} exists; --force replaces it (tokens it signed stop verifying)",
                    path.display()
                ),
            ));
        }
        let backup = path.with_extension(format!("replaced-{}", now_ms() / 1000));
        std::fs::rename(&path, &backup).map_err(|e| fail("key_io", e.to_string()))?;
        println!(
            "previous key moved to {}; to keep the tokens it signed valid until they expire, \
             list it in previous_verifying_keys",
            backup.display()
        );
    }
    let text = config::write_new_key(&path, algorithm)?;
    println!("wrote a new {algorithm} key to {}", path.display());
    if !algorithm.is_hmac() {
        if let Ok(key) = tollgate_core::SigningKey::from_pem(algorithm, &text) {
            if let Some(jwk) = key.verifying_key().to_public_jwk() {
                println!("public key (JWK): {jwk}");
            }
        }
    }
    Ok(())
}
