//! sled's record format: tree keys, the format marker and the stored values (JSON
//! records). An existing `tollgate-data` folder is read with exactly these.

use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// sled's page cache, as sled counts it: the serialized size of the cached pages. Their
/// size in memory is about 2.5 times that (16 MiB gave 54 MB of RSS after 60,000 logins
/// and 19,000 refreshes, 4 MiB 37 MB, at the same rates: the working set of a token
/// store is the right-hand edge of its trees, where new tokens go). See BENCHMARKS.md.
pub(super) const CACHE_BYTES: u64 = 4 * 1024 * 1024;

pub(super) const FORMAT_KEY: &[u8] = b"format";
pub(super) const FORMAT: &[u8] = b"tollgate-store-1";
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

/// `user id ++ jti`: every token ever issued to a user.
pub(super) fn user_token_key(user_id: u64, jti: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + jti.len());
    key.extend_from_slice(&user_id.to_be_bytes());
    key.extend_from_slice(jti.as_bytes());
    key
}

/// `len(family) ++ family ++ jti`: every token of a family.
pub(super) fn family_token_key(family: &str, jti: &str) -> Vec<u8> {
    let mut key = family_prefix(family);
    key.extend_from_slice(jti.as_bytes());
    key
}

pub(super) fn family_prefix(family: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + family.len() + 32);
    // jti values are at most 255 bytes (tollgate-core's MAX_ID_LEN).
    key.push(u8::try_from(family.len()).unwrap_or(u8::MAX));
    key.extend_from_slice(family.as_bytes());
    key
}

/// `expires_at ++ kind ++ id`: what to delete, in expiry order.
pub(super) fn expiry_key(expires_at: u64, kind: u8, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(9 + id.len());
    key.extend_from_slice(&expires_at.to_be_bytes());
    key.push(kind);
    key.extend_from_slice(id.as_bytes());
    key
}

pub(super) const EXPIRY_TOKEN: u8 = 0;
pub(super) const EXPIRY_FAMILY: u8 = 1;

impl From<sled::Error> for StoreError {
    fn from(err: sled::Error) -> Self {
        match err {
            sled::Error::Corruption { .. } => Self::Corrupt(err.to_string()),
            sled::Error::Io(io) => Self::Io(io.to_string()),
            other => Self::Io(other.to_string()),
        }
    }
}
