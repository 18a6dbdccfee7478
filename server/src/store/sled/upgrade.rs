//! The upgrade of a format 1 data folder (JSON records: an outstanding record, a
//! blacklist entry, a user index entry, a family index entry and an expiry entry per
//! token) to format 2 ([`super::record`]), in place, on its first open.
//!
//! Format 2 lives in trees of their own (`v2.*`), so the upgrade reads format 1's trees
//! and writes format 2's beside them; the format marker changes only once every record
//! is written and flushed, then format 1's trees are dropped. Progress is stored under
//! [`CURSOR_KEY`] (the stage and the last key done) after each flushed batch: a killed
//! upgrade resumes from there at the next open (writing a record again is harmless: the
//! same bytes). On a terminal it shows its progress on one line; elsewhere one line per
//! tenth.

use std::io::IsTerminal as _;

use sled::{Db, Tree};

use super::{
    format::{decode, FORMAT, FORMAT_KEY, FORMAT_V1},
    record::{
        encode_family, expiry_key, family_token_key, id_key, user_family_key, Listed, TokenRecord,
        EXPIRY_FAMILY, EXPIRY_LISTED,
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

/// The trees format 2 writes.
pub(super) type V2<'a> = super::tx::Trees<'a, Tree>;

/// Upgrades `db` to format 2 if it holds format 1 (its marker is `marker`).
pub(super) fn upgrade(db: &Db, v2: &V2<'_>) -> Result<(), StoreError> {
    let outstanding = db.open_tree("outstanding")?;
    let blacklist = db.open_tree("blacklist")?;
    let families = db.open_tree("families")?;
    let total = outstanding.len() + blacklist.len() + families.len();
    let mut progress = Progress::new(total);
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
                    .insert(id_key(id), encode_family(&family, flush_at))?;
                Ok(())
            },
        )?;
    }
    db.insert(FORMAT_KEY, FORMAT)?;
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

/// Whether the stored marker is format 1's.
pub(super) fn is_v1(marker: &[u8]) -> bool {
    marker == FORMAT_V1
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
struct Progress {
    total: usize,
    done: usize,
    shown: usize,
    terminal: bool,
    started: std::time::Instant,
}

impl Progress {
    fn new(total: usize) -> Self {
        eprintln!(
            "upgrading the data folder's store to format 2 ({total} token, blacklist and family records; resumable if stopped)"
        );
        Self {
            total,
            done: 0,
            shown: 0,
            terminal: std::io::stderr().is_terminal(),
            started: std::time::Instant::now(),
        }
    }

    fn step(&mut self) {
        self.done += 1;
        let total = self.total.max(1);
        if self.terminal {
            if self.done % 1000 == 0 {
                eprint!("\rupgrading: {} of {} records", self.done, self.total);
            }
        } else {
            let tenth = self.done * 10 / total;
            if tenth > self.shown {
                self.shown = tenth;
                eprintln!(
                    "upgrading: {}% ({} of {} records)",
                    tenth * 10,
                    self.done,
                    self.total
                );
            }
        }
    }

    fn done(&self) {
        if self.terminal {
            eprintln!();
        }
        eprintln!(
            "upgraded the store to format 2 in {:.1} s",
            self.started.elapsed().as_secs_f64()
        );
    }
}
