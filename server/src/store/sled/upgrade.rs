//! The upgrades of a data folder on its first open: format 1 (JSON records: an
//! outstanding record, a blacklist entry, a user index entry, a family index entry and
//! an expiry entry per token) to format 2 in place, then format 2 to format 3
//! ([`super::record`]) into a new database.
//!
//! Format 2 lives in trees of their own (`v2.*`), so the first upgrade reads format 1's
//! trees and writes format 2's beside them; the format marker changes only once every
//! record is written and flushed, then format 1's trees are dropped.
//!
//! The second upgrade writes a new database beside the old (`db.3`), copying every
//! record (format 2's family memberships into the family records and, past 32 ids, their
//! chunk records): sled never returns the space of deleted records to the file system
//! (see BENCHMARKS.md), so an upgrade in place would leave the folder as large as format
//! 2's; and a new database may be compressed ([`super::format::COMPRESSED`], which
//! sled fixes when it creates one).
//! Once it is complete and flushed (its marker written last), the old database is
//! moved aside (`db.2`), the new one takes its name (`db`), and the old one is deleted.
//! [`settle`] finishes a switch that a crash interrupted.
//!
//! Progress is stored under [`CURSOR_KEY`] (the stage and the last key done) after each
//! flushed batch, in the database being written: a killed upgrade resumes from there at
//! the next open (writing a record again is harmless: the same bytes). On a terminal it
//! shows its progress on one line; elsewhere one line per tenth.

use std::{io::IsTerminal as _, path::Path};

use sled::{Db, Tree};

use super::{
    format::{decode, COMPRESSED, FORMAT, FORMAT_KEY, FORMAT_V1, FORMAT_V2},
    record::{
        decode_family_v2, encode_family_v2, expiry_key, family_token_key, id_key, user_family_key,
        FamilyRecord, Listed, Reader, TokenRecord, EXPIRY_FAMILY, EXPIRY_LISTED,
    },
};
use crate::store::{Blacklisted, Family, Outstanding, StoreError};

/// The upgrade's progress: a stage byte, then the last format 1 key it wrote.
pub(super) const CURSOR_KEY: &[u8] = b"upgrade.cursor";
/// Format 1's token trees, dropped once the upgrade is done.
pub(super) const V1_TREES: [&str; 6] = [
    "outstanding",
    "blacklist",
    "families",
    "user_tokens",
    "family_tokens",
    "expiry",
];
/// Records written between two flushes (and cursor updates).
const BATCH: usize = 20_000;

const STAGE_TOKENS: u8 = 1;
const STAGE_LISTED: u8 = 2;
const STAGE_FAMILIES: u8 = 3;

/// Format 2's token trees.
pub(super) const V2_TREES: [&str; 5] = [
    "v2.tokens",
    "v2.families",
    "v2.family_tokens",
    "v2.user_families",
    "v2.expiry",
];

const STAGE3_OTHERS: u8 = 0x31;
const STAGE3_TOKENS: u8 = 0x32;
const STAGE3_FAMILIES: u8 = 0x33;
const STAGE3_USER_FAMILIES: u8 = 0x34;
const STAGE3_EXPIRY: u8 = 0x35;

/// The trees format 2 writes.
pub(super) struct V2 {
    tokens: Tree,
    families: Tree,
    family_tokens: Tree,
    user_families: Tree,
    expiry: Tree,
}

impl V2 {
    fn open(db: &Db) -> Result<Self, StoreError> {
        let [tokens, families, family_tokens, user_families, expiry] =
            V2_TREES.map(|name| db.open_tree(name));
        Ok(Self {
            tokens: tokens?,
            families: families?,
            family_tokens: family_tokens?,
            user_families: user_families?,
            expiry: expiry?,
        })
    }
}

/// The database being written by an upgrade to format 3 or a compaction
/// ([`super::compact`]); the name is format 3's upgrade's, which folders stopped
/// midway by earlier releases hold.
pub(super) const NEXT: &str = "db.3";
/// The old database once the new one has replaced it (deleted next).
const RETIRED: &str = "db.2";

/// Whether sled's database at `path` is compressed: `None` if it has none yet.
pub(super) fn compressed(path: &Path) -> Option<bool> {
    let conf = std::fs::read(path.join("conf")).ok()?;
    Some(String::from_utf8_lossy(&conf).contains("use_compression: true"))
}

/// Whether `marker` is format 1's or 2's.
pub(super) fn is_old(marker: &[u8]) -> bool {
    marker == FORMAT_V1 || marker == FORMAT_V2
}

pub(super) fn io(path: &Path, err: std::io::Error) -> StoreError {
    StoreError::Io(format!("{}: {err}", path.display()))
}

/// Syncs `dir` itself, so that renames in it are durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| io(dir, e))
}

/// Finishes a switch ([`switch`]) that a crash interrupted: the old database moved
/// aside, the new one not yet in its place (then it is complete: it is moved only
/// once its marker is written), or the old one not yet deleted.
pub(super) fn settle(dir: &Path) -> Result<(), StoreError> {
    let (db, next, retired) = (dir.join("db"), dir.join(NEXT), dir.join(RETIRED));
    if !db.exists() && next.exists() && retired.exists() {
        std::fs::rename(&next, &db).map_err(|e| io(&next, e))?;
        sync_dir(dir)?;
    }
    if retired.exists() && db.exists() && !next.exists() {
        std::fs::remove_dir_all(&retired).map_err(|e| io(&retired, e))?;
    }
    Ok(())
}

/// Upgrades the format 1 or 2 database `old` (open at `dir/db`; the caller checked its
/// marker) to format 3, which takes its place ([`switch`]). `open` opens a sled
/// database (compressed or not).
pub(super) fn to_format_3(
    dir: &Path,
    old: Db,
    open: impl Fn(&Path, bool) -> Result<Db, StoreError>,
) -> Result<(), StoreError> {
    let v2 = V2::open(&old)?;
    if old
        .get(FORMAT_KEY)?
        .is_some_and(|f| f.as_ref() == FORMAT_V1)
    {
        upgrade(&old, &v2)?;
    } else {
        drop_v1_trees(&old)?;
    }
    let next = dir.join(NEXT);
    let new = open(&next, compressed(&next).unwrap_or(COMPRESSED))?;
    copy_to_format_3(&old, &v2, &new)?;
    drop(v2);
    switch(dir, old, new)
}

/// Puts the complete database `new` (open at [`NEXT`], its marker written) in the place
/// of `old` (open at `dir/db`): `new` flushed and closed, `old` moved aside
/// ([`RETIRED`]), `new` renamed to `db`, the folder synced, then `old` closed and
/// deleted. `old` stays open (and so locked) through the renames: a server starting
/// meanwhile is refused, or (between the renames) finishes the switch itself
/// ([`settle`]). A crash at any point leaves the old database in place or the new one
/// complete.
pub(super) fn switch(dir: &Path, old: Db, new: Db) -> Result<(), StoreError> {
    let (path, next, retired) = (dir.join("db"), dir.join(NEXT), dir.join(RETIRED));
    new.flush()?;
    drop(new);
    std::fs::rename(&path, &retired).map_err(|e| io(&path, e))?;
    std::fs::rename(&next, &path).map_err(|e| io(&next, e))?;
    sync_dir(dir)?;
    drop(old);
    std::fs::remove_dir_all(&retired).map_err(|e| io(&retired, e))
}

/// Copies format 2's database `old` into format 3's `new`, resuming after the cursor
/// stored in `new`; writes format 3's marker last.
fn copy_to_format_3(old: &Db, v2: &V2, new: &Db) -> Result<(), StoreError> {
    let [tokens, families, user_families, expiry, chunks] = super::open_v3_trees(new)?;
    let total = v2.tokens.len() + v2.families.len() + v2.user_families.len() + v2.expiry.len();
    let mut progress = Progress::upgrade(total, 3);
    let (mut stage, mut after) = match new.get(CURSOR_KEY)? {
        Some(cursor) if !cursor.is_empty() => (cursor[0], Some(cursor[1..].to_vec())),
        _ => (STAGE3_OTHERS, None),
    };
    if stage == STAGE3_OTHERS {
        // Users, their indexes, the audit log, the signing keys, the clock floor, the
        // counts (the same records: the upgrade changes no count).
        for name in old.tree_names() {
            let skip = name == old.name()
                || V2_TREES
                    .iter()
                    .chain(&V1_TREES)
                    .any(|t| name == t.as_bytes());
            if skip {
                continue;
            }
            let (from, to) = (old.open_tree(&name)?, new.open_tree(&name)?);
            for item in from.iter() {
                let (key, value) = item?;
                to.insert(key, value)?;
            }
        }
        for item in old.iter() {
            let (key, value) = item?;
            if key != FORMAT_KEY && key != CURSOR_KEY {
                new.insert(key, value)?;
            }
        }
        checkpoint(new, STAGE3_TOKENS, Some(&[]))?;
        stage = STAGE3_TOKENS;
        after = None;
    }
    fn copy(to: &Tree) -> impl Fn(&[u8], &[u8]) -> Result<(), StoreError> + '_ {
        move |key, value| {
            to.insert(key, value)?;
            Ok(())
        }
    }
    if stage == STAGE3_TOKENS {
        let from = &v2.tokens;
        batches(new, from, stage, after.take(), &mut progress, copy(&tokens))?;
        stage = STAGE3_FAMILIES;
    }
    if stage == STAGE3_FAMILIES {
        batches(
            new,
            &v2.families,
            stage,
            after.take(),
            &mut progress,
            |key, value| {
                let (family, flush_at) = decode_family_v2(value)?;
                let mut record = FamilyRecord::new(family, flush_at);
                for item in v2.family_tokens.scan_prefix(key) {
                    let (member, _) = item?;
                    let jti = Reader::new(&member[key.len()..]).id()?;
                    if let Some((number, ids)) = record.add_member(&jti) {
                        let mut chunk = key.to_vec();
                        chunk.extend_from_slice(&number.to_be_bytes());
                        chunks.insert(chunk, ids)?;
                    }
                }
                families.insert(key, record.encode())?;
                Ok(())
            },
        )?;
        stage = STAGE3_USER_FAMILIES;
    }
    if stage == STAGE3_USER_FAMILIES {
        let from = &v2.user_families;
        batches(
            new,
            from,
            stage,
            after.take(),
            &mut progress,
            copy(&user_families),
        )?;
        stage = STAGE3_EXPIRY;
    }
    if stage == STAGE3_EXPIRY {
        batches(
            new,
            &v2.expiry,
            stage,
            after.take(),
            &mut progress,
            copy(&expiry),
        )?;
    }
    new.insert(FORMAT_KEY, FORMAT)?;
    new.remove(CURSOR_KEY)?;
    new.flush()?;
    progress.done();
    Ok(())
}

/// Upgrades `db` from format 1 to format 2 (its marker is format 1's).
fn upgrade(db: &Db, v2: &V2) -> Result<(), StoreError> {
    let outstanding = db.open_tree("outstanding")?;
    let blacklist = db.open_tree("blacklist")?;
    let families = db.open_tree("families")?;
    let total = outstanding.len() + blacklist.len() + families.len();
    let mut progress = Progress::upgrade(total, 2);
    let (mut stage, mut after) = match db.get(CURSOR_KEY)? {
        Some(cursor) if !cursor.is_empty() => (cursor[0], Some(cursor[1..].to_vec())),
        _ => (STAGE_TOKENS, None),
    };
    if stage == STAGE_TOKENS {
        batches(
            db,
            &outstanding,
            STAGE_TOKENS,
            after.take(),
            &mut progress,
            |key, value| {
                let token: Outstanding = decode(value)?;
                let jti = std::str::from_utf8(key).unwrap_or_default();
                let mut record = TokenRecord::new(token);
                record.token.jti = jti.to_string();
                if let Some(entry) = blacklist.get(key)? {
                    let entry: Blacklisted = decode(&entry)?;
                    record.listed = Some(Listed {
                        reason: entry.reason,
                        at: entry.blacklisted_at,
                        successor: entry.successor,
                    });
                }
                let t = &record.token;
                v2.family_tokens
                    .insert(family_token_key(&t.family, jti), &[])?;
                v2.user_families
                    .insert(user_family_key(t.user_id, &t.family), &[])?;
                v2.tokens.insert(id_key(jti), record.encode())?;
                Ok(())
            },
        )?;
        stage = STAGE_LISTED;
    }
    if stage == STAGE_LISTED {
        // Blacklist entries without a token record.
        batches(
            db,
            &blacklist,
            STAGE_LISTED,
            after.take(),
            &mut progress,
            |key, value| {
                if outstanding.contains_key(key)? {
                    return Ok(());
                }
                let mut entry: Blacklisted = decode(value)?;
                entry.jti = String::from_utf8_lossy(key).into_owned();
                v2.expiry
                    .insert(expiry_key(entry.expires_at, EXPIRY_LISTED, &entry.jti), &[])?;
                v2.tokens.insert(
                    id_key(&entry.jti),
                    TokenRecord::listed_alone(&entry).encode(),
                )?;
                Ok(())
            },
        )?;
        stage = STAGE_FAMILIES;
    }
    if stage == STAGE_FAMILIES {
        batches(
            db,
            &families,
            STAGE_FAMILIES,
            after.take(),
            &mut progress,
            |key, value| {
                let family: Family = decode(value)?;
                let id = std::str::from_utf8(key).unwrap_or_default();
                // Its tokens' earliest expiry is not at hand: the family's creation is at or
                // before it (a token expires after it is issued), so the first flush after
                // the upgrade visits each family once and moves its entry where it belongs.
                let flush_at = (family.created_at_ms / 1000).min(family.expires_at);
                v2.expiry
                    .insert(expiry_key(flush_at, EXPIRY_FAMILY, id), &[])?;
                v2.user_families
                    .insert(user_family_key(family.user_id, id), &[])?;
                v2.families
                    .insert(id_key(id), encode_family_v2(&family, flush_at))?;
                Ok(())
            },
        )?;
    }
    db.insert(FORMAT_KEY, FORMAT_V2)?;
    db.remove(CURSOR_KEY)?;
    db.flush()?;
    progress.done();
    drop_v1_trees(db)
}

/// Drops what is left of format 1's token trees (after an upgrade, also one killed
/// after its marker changed).
pub(super) fn drop_v1_trees(db: &Db) -> Result<(), StoreError> {
    let names = db.tree_names();
    for name in V1_TREES {
        if names.iter().any(|n| n.as_ref() == name.as_bytes()) {
            db.drop_tree(name)?;
        }
    }
    Ok(())
}

/// Walks `tree` from after `after`, calling `write` for each record, flushing and
/// storing the cursor every [`BATCH`] records.
fn batches(
    db: &Db,
    tree: &Tree,
    stage: u8,
    after: Option<Vec<u8>>,
    progress: &mut Progress,
    mut write: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    use std::ops::Bound;
    let start = match &after {
        Some(key) => Bound::Excluded(key.as_slice()),
        None => Bound::Unbounded,
    };
    let mut in_batch = 0;
    let mut last: Option<sled::IVec> = None;
    for item in tree.range::<&[u8], _>((start, Bound::Unbounded)) {
        let (key, value) = item?;
        write(&key, &value)?;
        last = Some(key);
        in_batch += 1;
        progress.step();
        if in_batch == BATCH {
            checkpoint(db, stage, last.as_deref())?;
            in_batch = 0;
        }
    }
    checkpoint(db, stage, last.as_deref())
}

/// Makes the batch durable, then records that it is done.
fn checkpoint(db: &Db, stage: u8, last: Option<&[u8]>) -> Result<(), StoreError> {
    db.flush()?;
    if let Some(last) = last {
        let mut cursor = vec![stage];
        cursor.extend_from_slice(last);
        db.insert(CURSOR_KEY, cursor)?;
    }
    Ok(())
}

/// Progress on standard error: one line redrawn on a terminal, else a line per tenth.
pub(super) struct Progress {
    total: usize,
    done: usize,
    shown: usize,
    terminal: bool,
    started: std::time::Instant,
    /// "upgrading", "compacting": the progress lines' first word.
    doing: &'static str,
    /// What the last line says was done (before "in N s").
    finished: String,
}

impl Progress {
    /// An upgrade to format `format`.
    fn upgrade(total: usize, format: u8) -> Self {
        Self::new(
            format!("upgrading the data folder's store to format {format} ({total} token, blacklist and family records; resumable if stopped)"),
            total,
            "upgrading",
            format!("upgraded the store to format {format}"),
        )
    }

    /// Says `heading`, then counts `total` steps.
    pub(super) fn new(
        heading: String,
        total: usize,
        doing: &'static str,
        finished: String,
    ) -> Self {
        eprintln!("{heading}");
        Self {
            total,
            done: 0,
            shown: 0,
            terminal: std::io::stderr().is_terminal(),
            started: std::time::Instant::now(),
            doing,
            finished,
        }
    }

    pub(super) fn step(&mut self) {
        self.done += 1;
        let total = self.total.max(1);
        if self.terminal {
            if self.done % 1000 == 0 {
                eprint!("\r{}: {} of {} records", self.doing, self.done, self.total);
            }
        } else {
            let tenth = self.done * 10 / total;
            if tenth > self.shown {
                self.shown = tenth;
                eprintln!(
                    "{}: {}% ({} of {} records)",
                    self.doing,
                    tenth * 10,
                    self.done,
                    self.total
                );
            }
        }
    }

    pub(super) fn done(&self) {
        if self.terminal {
            eprintln!();
        }
        eprintln!(
            "{} in {:.1} s",
            self.finished,
            self.started.elapsed().as_secs_f64()
        );
    }
}
