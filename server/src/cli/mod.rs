//! The command line: parses `tollgate ...` and runs it: `serve` ([`serve`]), the admin
//! commands (`crate::commands`, directly or through a running server's admin socket),
//! `tokens seed` and `keys generate`.

mod db;
mod serve;

use std::{
    io::{BufRead as _, IsTerminal as _},
    path::PathBuf,
};

use clap::{Args, Parser, Subcommand};

use crate::{
    clock::{monotonic, system_clock, wall_ms},
    commands::{
        execute, fail, seed, socket, AdminCommand, CliError, Context, Input,
        KeysCommand as StoredKeys, SessionsCommand, TokensCommand, UsersCommand, MAX_IMPORT_BYTES,
    },
    config::{self, Config, Sources},
    store::{Store, StoreError},
};

pub use serve::DEMO_USER;

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
    /// Inspect and end users' sessions (one per login).
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Migrate or check the PostgreSQL database's schema.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Move a store between backends (sled -> PostgreSQL), or compact a sled folder.
    #[command(subcommand)]
    Store(db::StoreCommand),
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

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Write a new signing key for the configured algorithm into the data folder.
    Generate {
        /// Replace an existing key (every token it signed stops verifying).
        #[arg(long)]
        force: bool,
    },
    /// The signing-key set in the store (shared by replicas, taken up without restart).
    #[command(flatten)]
    Stored(StoredKeys),
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
            serve::serve(config, !args.no_demo_user)
        }
        Command::Keys(KeysCommand::Generate { force }) => keys_generate(&sources, force),
        Command::Keys(KeysCommand::Stored(cmd)) => admin_command(&sources, AdminCommand::Keys(cmd)),
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
        Command::Sessions(cmd) => admin_command(&sources, AdminCommand::Sessions(cmd)),
        Command::Db(cmd) => db::run(&sources, cmd),
        Command::Store(cmd) => db::store(&sources, cmd),
    }
}

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

fn admin_command(sources: &Sources, cmd: AdminCommand) -> Result<(), CliError> {
    let config = Config::load(sources, true)?;
    let input = resolve_input(&cmd)?;
    let output = match Store::open_backend(&config.backend) {
        Ok(store) => block_on(async move {
            let ctx = context(config, store, system_clock());
            execute(&ctx, cmd, &input).await
        })?,
        // The server holds the database: ask it to run the command.
        Err(StoreError::Locked(dir)) => {
            socket::call(&config.data_dir, &cmd, &input).map_err(|err| match err {
                socket::CallError::NoServer => StoreError::Locked(dir).into(),
                socket::CallError::Failed(err) => err,
            })?
        }
        Err(other) => return Err(other.into()),
    };
    print!("{output}");
    Ok(())
}

/// What a command runs against on the command line: the store opened here, and the
/// wall clock held above the store's clock floor (the time the last server stopped at),
/// so that a clock stepped back never stamps a revocation before a token it must revoke.
fn context(config: Config, store: Store, wall: crate::clock::Clock) -> Context {
    let clock = monotonic(wall, store.clone());
    Context {
        config,
        store,
        clock,
        actor: crate::commands::Actor::command_line(),
        keys: None,
    }
}

/// Runs `future` on a runtime of its own (the commands outside `serve`).
fn block_on<T>(
    future: impl std::future::Future<Output = Result<T, CliError>>,
) -> Result<T, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail("runtime", e.to_string()))?
        .block_on(future)
}

/// `tokens seed` writes the database directly (key by key, see `Store::bulk_load`): never
/// beside a server.
fn seed_offline(sources: &Sources, plan: seed::Plan) -> Result<(), CliError> {
    let config = Config::load(sources, true)?;
    let store = match Store::open_backend(&config.backend) {
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
    let now_ms = monotonic(system_clock(), store.clone())();
    let seeding = seed::seed(
        &config,
        &store,
        plan,
        now_ms,
        u64::from_le_bytes(random),
        |written| {
            if written >= reported + 100_000 {
                reported = written;
                eprintln!("seeded {written} of {} tokens", plan.outstanding);
            }
        },
    );
    let seeded = block_on(async {
        seeding.await.map_err(|err| match err {
            seed::SeedError::Plan(why) => fail("seed_invalid", why),
            seed::SeedError::Store(err) => err.into(),
            seed::SeedError::Token(err) => fail(err.code(), err.to_string()),
        })
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
    if let crate::store::Backend::Sled(dir) = &config.backend {
        // Closed and opened once: sled replays the seed's log now and writes its
        // snapshot, so the server's first open does not (see BENCHMARKS.md, "Issue #19,
        // item 2, fourth round").
        drop(store);
        let started = std::time::Instant::now();
        crate::store::sled::SledStore::settle_log(dir)?;
        eprintln!(
            "reopened the store once in {:.1} s (sled's snapshot written)",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
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
        let backup = path.with_extension(format!("replaced-{}", wall_ms() / 1000));
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::User;

    /// A kid is base64url: one in 64 begins with `-`, which is the kid, not an option.
    #[test]
    fn a_kid_beginning_with_a_hyphen_is_a_kid() {
        let cli = Cli::try_parse_from(["tollgate", "keys", "revoke", "-Kx_y"]).unwrap();
        assert!(
            matches!(&cli.command, Command::Keys(KeysCommand::Stored(StoredKeys::Revoke { kid })) if kid == "-Kx_y"),
            "{cli:?}"
        );
        assert!(Cli::try_parse_from(["tollgate", "keys", "revoke"]).is_err());
    }

    /// The server ran until `FLOOR` (and issued tokens then); the machine's clock is then
    /// set back an hour and a password changed, a user deactivated and logged out from
    /// the command line: every stamp is after `FLOOR`, so those tokens are revoked.
    #[tokio::test]
    async fn command_line_revocations_are_stamped_after_the_servers_last_time() {
        const FLOOR: u64 = 2_000_000_000_000;
        let dir = tempfile::tempdir().unwrap();
        let mut sources = Sources::default();
        let data = dir.path().join("data");
        sources
            .flags
            .insert("data_dir".into(), data.display().to_string());
        sources.env.insert(
            "TOLLGATE_SIGNING_KEY".into(),
            "tollgate-test-vectors-hmac-secret-0123456789abcdefghijklmnopqrstuvwxyz".into(),
        );
        sources
            .env
            .insert("TOLLGATE_PBKDF2_ITERATIONS".into(), "1000".into());
        let config = Config::load(&sources, false).unwrap();
        let store = Store::open(&data).unwrap();
        for name in ["alice", "bob", "carol"] {
            let user = User::new(0, name, "", "!".into(), 0);
            store.add_user(user, false).await.unwrap();
        }
        store.raise_clock_floor(FLOOR).await.unwrap();
        let stepped_back = Arc::new(|| FLOOR - 3_600_000);
        let ctx = context(config, store.clone(), stepped_back);
        let commands = [
            UsersCommand::SetPassword {
                username: "alice".into(),
                password_stdin: true,
            },
            UsersCommand::Deactivate {
                username: "bob".into(),
            },
        ];
        let input = Input {
            password: Some("a new password".into()),
            file: None,
        };
        for cmd in commands {
            execute(&ctx, AdminCommand::Users(cmd), &input)
                .await
                .unwrap();
        }
        let logout = TokensCommand::Blacklist {
            user: "carol".into(),
        };
        execute(&ctx, AdminCommand::Tokens(logout), &input)
            .await
            .unwrap();
        for name in ["alice", "bob", "carol"] {
            let user = store.user_by_username(name).await.unwrap().unwrap();
            assert!(user.refresh_revoked_before_ms > FLOOR, "{name}: {user:?}");
            if name != "carol" {
                assert!(user.access_revoked_before_ms > FLOOR, "{name}: {user:?}");
            }
        }
    }
}
