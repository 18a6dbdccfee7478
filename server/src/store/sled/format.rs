//! sled's record format: the format marker, the database's own keys and the JSON
//! records formats 2 and 3 keep (users, the signing keys, the counts). Token records and
//! their keys are in [`super::record`]; a format 1 or 2 folder is upgraded on its first
//! open ([`super::upgrade`]).

use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// sled's page cache, as sled counts it: the serialized size of the cached pages. Their
/// size in memory is about 2.5 times that (16 MiB gave 54 MB of RSS after 60,000 logins
/// and 19,000 refreshes, 4 MiB 37 MB, at the same rates: the working set of a token
/// store is the right-hand edge of its trees, where new tokens go). See BENCHMARKS.md.
pub(super) const CACHE_BYTES: u64 = 4 * 1024 * 1024;

/// Whether a new database (a new data folder, or format 3's database written by the
/// upgrade) is compressed by sled (zstd, every log write alone; sled fixes the setting
/// when it creates a database, and opens an existing one with its own). Off: measured
/// at 1,000,000 tokens it took the folder from about 550 to 310 bytes per token but cost
/// a refresh 1.37x its instructions (zstd building its tables for every small write) and
/// made the replay of sled's log at open about 5.7 times slower: see BENCHMARKS.md.
/// Turning it on needs sled's `compression` feature (zstd, a C library) too; without it
/// a compressed database is refused at open (sled's "unsupported" error, not a panic).
pub(super) const COMPRESSED: bool = false;
/// zstd's level when [`COMPRESSED`].
pub(super) const COMPRESSION: i32 = 3;

pub(super) const FORMAT_KEY: &[u8] = b"format";
/// Format 3: format 2's records, a family's tokens listed in its record (no record per
/// token for it), in a database of its own written by the upgrade ([`super::record`]).
pub(super) const FORMAT: &[u8] = b"tollgate-store-3";
/// Format 2: binary token records, one per token, and one `family ++ jti` record per
/// token (upgraded at open).
pub(super) const FORMAT_V2: &[u8] = b"tollgate-store-2";
/// Format 1: JSON token records, blacklist entries apart (upgraded at open).
pub(super) const FORMAT_V1: &[u8] = b"tollgate-store-1";
/// `[users, outstanding, blacklisted]`, written on a clean close, removed on open.
pub(super) const COUNTS_KEY: &[u8] = b"counts";
/// The stored clock floor (see [`crate::store::Store::clock_floor_ms`]), big-endian milliseconds.
pub(super) const CLOCK_FLOOR_KEY: &[u8] = b"clock_floor_ms";

/// The value under [`CLOCK_FLOOR_KEY`] (0 when absent or not 8 bytes).
pub(super) fn stored_clock_floor(bytes: Option<sled::IVec>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
        .map_or(0, u64::from_be_bytes)
}

pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Our records are plain structs of strings and numbers: serializing cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

pub(super) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Decode(e.to_string()))
}

pub(super) fn user_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

impl From<sled::Error> for StoreError {
    fn from(err: sled::Error) -> Self {
        match err {
            sled::Error::Corruption { .. } => Self::Corrupt(err.to_string()),
            sled::Error::Io(io) => Self::Io(io.to_string()),
            other => Self::Io(other.to_string()),
        }
    }
}
