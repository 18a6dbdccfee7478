//! The database's operations: `tollgate db migrate`, `tollgate db check` (PostgreSQL's
//! schema, for deploy pipelines) and `tollgate store copy --to postgres://...` (a sled
//! folder moved into PostgreSQL, offline, its signing-key set still sealed).
//!
//! They read only `database_url` and `data_dir` from the configuration: no signing key
//! is needed (or generated) to look after the database.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::block_on;
use crate::{
    commands::{fail, CliError},
    config::{self, Config, Sources},
    store::{
        copy::{copy, CopyError},
        postgres, Backend, Store, StoreError,
    },
};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Apply the schema migrations the PostgreSQL database lacks (under the advisory
    /// lock replicas migrate under) and print the versions.
    Migrate,
    /// Exit 0 when the PostgreSQL database's schema is this binary's and commits are
    /// synchronous; otherwise one line saying what is wrong and a non-zero exit.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy the sled data folder (users, tokens, families, blacklist, clock floor, the
    /// signing-key set) into an empty PostgreSQL database, in one transaction, and
    /// verify the counts. Offline: refused while a server holds the folder. Stored keys
    /// are copied sealed, as they are: servers on the target need the same
    /// key_encryption_key to open them (the copy itself does not).
    Copy {
        /// The PostgreSQL database to copy into (postgres://user@host:port/database).
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

/// The configured `data_dir` (default `./tollgate-data`).
fn data_dir(sources: &Sources) -> Result<PathBuf, CliError> {
    let dir = Config::peek(sources, "data_dir")?.unwrap_or_else(|| "./tollgate-data".into());
    Ok(PathBuf::from(dir))
}

/// The configured PostgreSQL URL; sled has no schema to migrate or check.
fn database_url(sources: &Sources) -> Result<String, CliError> {
    let url = Config::peek(sources, "database_url")?;
    let data_dir = data_dir(sources)?;
    match config::backend(url.as_deref(), &data_dir)? {
        Backend::Postgres(url) | Backend::Django(url) => Ok(url),
        Backend::Sled(_) => Err(fail(
            "db_not_postgres",
            "database_url is not set: the db commands look after a PostgreSQL database (sled's format is checked when it opens)",
        )),
    }
}

pub fn run(sources: &Sources, cmd: DbCommand) -> Result<(), CliError> {
    let url = database_url(sources)?;
    match cmd {
        DbCommand::Migrate => {
            let (before, after, target) = postgres::migrate(&url)?;
            if before == after {
                println!("{target}: tollgate schema version {after}, current: nothing to apply");
            } else {
                println!(
                    "{target}: tollgate schema version {before} -> {after} (applied {})",
                    (before + 1..=after)
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            Ok(())
        }
        DbCommand::Check => {
            let status = postgres::inspect(&url)?;
            let target = &status.target;
            if status.applied < status.known {
                return Err(fail(
                    "db_behind",
                    format!(
                        "{target}: tollgate schema version {}, this binary's is {}: run `tollgate db migrate`",
                        status.applied, status.known
                    ),
                ));
            }
            if status.applied > status.known {
                return Err(fail(
                    "db_ahead",
                    format!(
                        "{target}: tollgate schema version {} is newer than this binary's {}: run a tollgate as new as the database",
                        status.applied, status.known
                    ),
                ));
            }
            if status.synchronous_commit != "on" {
                return Err(fail(
                    "db_not_synchronous",
                    format!(
                        "{target}: synchronous_commit is {:?}, not \"on\": an answer could be lost after it was sent",
                        status.synchronous_commit
                    ),
                ));
            }
            println!(
                "{target}: tollgate schema version {}, current; synchronous_commit on",
                status.applied
            );
            Ok(())
        }
    }
}

pub fn store(sources: &Sources, cmd: StoreCommand) -> Result<(), CliError> {
    let StoreCommand::Copy { to } = cmd;
    let data_dir = data_dir(sources)?;
    let target_url = match config::backend(Some(&to), &data_dir)? {
        Backend::Postgres(url) | Backend::Django(url) => url,
        Backend::Sled(_) => return Err(fail("copy_target", "--to needs a postgres:// URL")),
    };
    let source = open_source(&data_dir)?;
    let target = Store::open_backend(&Backend::Postgres(target_url))?;
    let name = postgres::DatabaseUrl::parse(&to)
        .map(|u| u.target())
        .unwrap_or_default();
    let copied = block_on(async {
        copy(&source, &target).await.map_err(|err| match err {
            CopyError::TargetNotEmpty(found) => fail(
                "copy_target_not_empty",
                format!("{name} already holds tollgate data ({found}): copy into an empty database (nothing was written)"),
            ),
            CopyError::Mismatch { expected, found } => fail(
                "copy_mismatch",
                format!("{name} would hold {found} after the copy, not the {expected} read: rolled back, nothing was written"),
            ),
            CopyError::Unsupported => fail("copy_target", "only sled -> PostgreSQL is supported"),
            CopyError::Store(err) => err.into(),
        })
    })?;
    println!(
        "copied {} into {name}: {copied} (counted in the target before it committed)",
        data_dir.display()
    );
    if copied.keys > 0 {
        println!(
            "the signing keys are copied sealed: servers on {name} need the same key_encryption_key"
        );
    }
    Ok(())
}

/// The sled store in `data_dir`, which must exist and be held by no server.
fn open_source(data_dir: &Path) -> Result<Store, CliError> {
    if !data_dir.join("db").exists() {
        return Err(fail(
            "copy_source",
            format!(
                "no sled database in {} (set data_dir or --data-dir)",
                data_dir.display()
            ),
        ));
    }
    match Store::open(data_dir) {
        Err(StoreError::Locked(dir)) => Err(fail(
            "copy_offline",
            format!(
                "a server holds the sled database in {}: stop it first (store copy reads the folder offline)",
                dir.display()
            ),
        )),
        other => Ok(other?),
    }
}
