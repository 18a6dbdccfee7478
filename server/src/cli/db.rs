//! The database's operations: `tollgate db migrate`, `tollgate db check` (PostgreSQL's
//! schema, for deploy pipelines) and `tollgate store copy --to postgres://...` (a sled
//! folder moved into PostgreSQL, offline, its signing-key set still sealed) and
//! `tollgate store compact` (a sled folder's database rewritten, offline, to give the
//! space of deleted records back).
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
        postgres,
        sled::SledStore,
        Backend, Store, StoreError,
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
    /// Give the space of deleted and rewritten records back to the file system: copy the
    /// sled database (every tree) into a new one in the data folder, which then takes
    /// its place, and print the folder's size before and after. Offline: refused while
    /// a server holds the folder; needs free disk for the copy. A compaction stopped
    /// midway leaves the old database in place (the partial copy is deleted at the next
    /// open or compaction). sled only: PostgreSQL's space is VACUUM's.
    Compact,
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
    let to = match cmd {
        StoreCommand::Copy { to } => to,
        StoreCommand::Compact => return compact(sources),
    };
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
    let codes = (
        "copy_source",
        "copy_offline",
        "store copy reads the folder offline",
    );
    offline(data_dir, codes, Store::open)
}

/// `run(data_dir)` on the sled database in `data_dir`, which must exist (else the
/// error `codes.0`) and be held by no server (else `codes.1`, saying why: `codes.2`).
fn offline<T>(
    data_dir: &Path,
    codes: (&'static str, &'static str, &str),
    run: impl FnOnce(&Path) -> Result<T, StoreError>,
) -> Result<T, CliError> {
    if !data_dir.join("db").exists() {
        return Err(fail(
            codes.0,
            format!(
                "no sled database in {} (set data_dir or --data-dir)",
                data_dir.display()
            ),
        ));
    }
    match run(data_dir) {
        Err(StoreError::Locked(dir)) => Err(fail(
            codes.1,
            format!(
                "a server holds the sled database in {}: stop it first ({})",
                dir.display(),
                codes.2
            ),
        )),
        other => Ok(other?),
    }
}

/// `tollgate store compact`: the sled database copied into a new one (see
/// [`SledStore::compact`]), offline.
fn compact(sources: &Sources) -> Result<(), CliError> {
    let data_dir = data_dir(sources)?;
    let url = Config::peek(sources, "database_url")?;
    if !matches!(
        config::backend(url.as_deref(), &data_dir)?,
        Backend::Sled(_)
    ) {
        return Err(fail(
            "compact_not_sled",
            "database_url is set: store compact compacts a sled data folder (PostgreSQL gives space back with VACUUM)",
        ));
    }
    let started = std::time::Instant::now();
    let codes = (
        "compact_source",
        "compact_offline",
        "store compact rewrites the folder offline",
    );
    let (before, after) = offline(&data_dir, codes, SledStore::compact)?;
    // A small folder can grow: sled writes a new database's first segment whole.
    let (change, way) = if after <= before {
        (before - after, "smaller")
    } else {
        (after - before, "larger")
    };
    println!(
        "compacted {}: {before} -> {after} bytes ({:.1}% {way}) in {:.1} s",
        data_dir.display(),
        change as f64 * 100.0 / (before.max(1) as f64),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
