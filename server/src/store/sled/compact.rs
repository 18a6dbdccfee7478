//! `tollgate store compact`: the data folder's database copied, every tree in key
//! order, into a new database that takes its place, offline.
//!
//! sled 0.34.7 never gives a deleted or rewritten record's space back to the file
//! system: it reuses it for later writes inside its file (see BENCHMARKS.md, "Issue #19,
//! item 2"). A copy written in key order holds only the live records, so it is the
//! compaction sled allows. The copy is the format upgrade's ([`super::upgrade`]): the
//! new database at [`NEXT`], its format marker written last and flushed, then
//! [`switch`]ed in by renames that [`super::upgrade::settle`] finishes after a crash.
//! A compaction stopped before its switch leaves the old database in place and a
//! partial new one, deleted by the next open ([`discard_partial`]) or compaction (it
//! starts over: unlike the upgrade, it keeps no cursor).

use std::path::Path;

use sled::{Db, Tree};

use super::{
    format::{FORMAT, FORMAT_KEY},
    upgrade::{compressed, io, switch, Progress, NEXT},
};
use crate::store::StoreError;

/// Records written between two flushes of the new database (memory stays flat).
const BATCH: usize = 20_000;

/// Copies every tree of `old` (open at `dir/db`, format 3) into a new database at
/// [`NEXT`] (compressed as `old` is), then switches it in. `open` opens a sled
/// database (compressed or not).
pub(super) fn compact(
    dir: &Path,
    old: Db,
    open: impl Fn(&Path, bool) -> Result<Db, StoreError>,
) -> Result<(), StoreError> {
    match old.get(FORMAT_KEY)? {
        Some(format) if format.as_ref() == FORMAT => {}
        _ => return Err(StoreError::Corrupt("not a format 3 database".into())),
    }
    discard_partial(dir)?;
    let next = dir.join(NEXT);
    let new = open(&next, compressed(&dir.join("db")).unwrap_or(false))?;
    // Every tree, the default one (the marker, the counts, the clock floor) included:
    // what the store keeps is read from sled, not from a list here.
    let names = old.tree_names();
    let trees = names
        .iter()
        .map(|name| {
            if *name == old.name() {
                Ok(((*old).clone(), (*new).clone()))
            } else {
                Ok((old.open_tree(name)?, new.open_tree(name)?))
            }
        })
        .collect::<Result<Vec<(Tree, Tree)>, StoreError>>()?;
    let total = trees.iter().map(|(from, _)| from.len()).sum();
    let mut progress = Progress::new(
        format!(
            "compacting the data folder's store ({total} records in {} trees, copied into {NEXT}; started over if stopped)",
            trees.len()
        ),
        total,
        "compacting",
        "compacted the store".into(),
    );
    let mut in_batch = 0;
    for (from, to) in &trees {
        for item in from.iter() {
            let (key, value) = item?;
            progress.step();
            // The marker says the new database is complete: written last.
            if key == FORMAT_KEY && from.name() == old.name() {
                continue;
            }
            to.insert(key, value)?;
            in_batch += 1;
            if in_batch == BATCH {
                new.flush()?;
                in_batch = 0;
            }
        }
    }
    drop(trees);
    new.insert(FORMAT_KEY, FORMAT)?;
    new.flush()?;
    progress.done();
    switch(dir, old, new)
}

/// Deletes a new database that a compaction stopped before its switch left beside the
/// current one (called once `dir/db` is open and of the current format, so [`NEXT`] is
/// no upgrade's to resume).
pub(super) fn discard_partial(dir: &Path) -> Result<(), StoreError> {
    let next = dir.join(NEXT);
    if next.exists() {
        std::fs::remove_dir_all(&next).map_err(|e| io(&next, e))?;
    }
    Ok(())
}
