//! The token and family records and keys of formats 2 and 3: a compact binary encoding
//! (a leading version byte, fixed-width big-endian numbers, ids of 32 lowercase hex
//! digits as their 16 bytes) instead of format 1's JSON, and one record per token that
//! holds its blacklist state too (format 1 kept a second record in a second tree).
//!
//! A token record (tree `v3.tokens`, key [`id_key`] of the jti; the same in format 2's
//! `v2.tokens`):
//!
//! ```text
//! 1                  record version
//! flags              bit 0: outstanding (else a blacklist entry alone), bit 1: sliding
//! user_id            u64
//! created_at_ms      u64
//! expires_at         u64
//! token_sha256       hex (see `put_hex`)
//! family             id
//! reason             0 not blacklisted, 1 rotated, 2 logout, 3 user, 4 reuse
//! [blacklisted_at    u64                      when reason != 0]
//! [successor         0, or 1 and an id        when reason != 0]
//! ```
//!
//! A family record (tree `v3.families`, key [`id_key`] of the family): version 3,
//! user_id, created_at_ms, expires_at, flush_at (the time of its entry in the expiry
//! index, see [`super::tokens`]), revoked_at (0 or 1 and u64), login and last refresh
//! (0, or 1 and `at_ms`, user agent and address as strings), first_chunk and
//! next_chunk (u32 each), then the [`id_key`]s of its newest tokens to the record's end
//! ([`FamilyRecord`], at most [`INLINE_MEMBERS`]). Adding a token to a full record moves
//! its inline ids as one chunk record into tree `v3.family_chunks` (key [`chunk_key`]:
//! `id_key(family) ++ u32 BE number`, value: the ids one after another) and bumps
//! next_chunk; the flush rewrites chunks without the ids gone, deletes emptied ones and
//! moves first_chunk past them. So a rotation rewrites a record of its fixed fields
//! plus at most 544 bytes of ids and, every 32nd time, writes one 544-byte chunk,
//! whatever the chain's length
//! (format 3 first kept every id inline, version 2 of the family record: 68 KB
//! rewritten per refresh for a 4,000-token chain; such a record still reads, as one
//! without chunks). Format 2's family record (version
//! byte 1) ended before the tokens: it kept them as one `family ++ jti` key per token
//! in a tree of their own (`v2.family_tokens`), a sled record (and about 200 bytes of
//! sled's file) per token that format 3 saves.

use crate::store::{
    BlacklistReason, Blacklisted, Family, Outstanding, Seen, StoreError, StoredKind,
};

const VERSION: u8 = 1;
const OUTSTANDING: u8 = 1;
const SLIDING: u8 = 2;

/// An id (jti, family) as a key: `0 ++ 16 bytes` for 32 lowercase hex digits (every
/// tollgate and Simple JWT jti), else `1 ++ len ++ bytes` (ids are at most 255 bytes).
/// Prefix-free, so an id followed by another is a key too.
pub(super) fn id_key(id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(18);
    put_id(&mut out, id);
    out
}

/// [`id_key`] without an allocation, for reads.
pub(super) struct IdKey {
    bytes: [u8; 257],
    len: usize,
}

impl IdKey {
    pub(super) fn new(id: &str) -> Self {
        let mut bytes = [0u8; 257];
        let len = if let Some(raw) = compact_hex::<16>(id) {
            bytes[1..17].copy_from_slice(&raw);
            17
        } else {
            let raw = &id.as_bytes()[..id.len().min(255)];
            bytes[0] = 1;
            bytes[1] = raw.len() as u8;
            bytes[2..2 + raw.len()].copy_from_slice(raw);
            2 + raw.len()
        };
        Self { bytes, len }
    }
}

impl AsRef<[u8]> for IdKey {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

fn put_id(out: &mut Vec<u8>, id: &str) {
    if let Some(raw) = compact_hex::<16>(id) {
        out.push(0);
        out.extend_from_slice(&raw);
    } else {
        let bytes = &id.as_bytes()[..id.len().min(255)];
        out.push(1);
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
}

/// A hash kept as hex: its bytes when it is `2 * N` lowercase hex digits.
fn put_hex(out: &mut Vec<u8>, hex: &str) {
    if let Some(raw) = compact_hex::<32>(hex) {
        out.push(0);
        out.extend_from_slice(&raw);
    } else {
        out.push(1);
        put_str(out, hex);
    }
}

fn compact_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let b = hex.as_bytes();
    if b.len() != 2 * N {
        return None;
    }
    let mut raw = [0u8; N];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        raw[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(raw)
}

fn to_hex(raw: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(raw.len() * 2);
    for b in raw {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..len as usize]);
}

fn put_seen(out: &mut Vec<u8>, seen: Option<&Seen>) {
    match seen {
        None => out.push(0),
        Some(seen) => {
            out.push(1);
            put_u64(out, seen.at_ms);
            put_str(out, &seen.user_agent);
            put_str(out, &seen.ip);
        }
    }
}

/// Reads what the `put_*` functions wrote; any shortfall is a decode error.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.bytes.len() < n {
            return Err(StoreError::Decode("a stored record is cut short".into()));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes(b.try_into().unwrap_or_default()))
    }

    fn u64(&mut self) -> Result<u64, StoreError> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes(b.try_into().unwrap_or_default()))
    }

    fn string(&mut self, bytes: &[u8]) -> Result<String, StoreError> {
        String::from_utf8(bytes.to_vec())
            .map_err(|_| StoreError::Decode("a stored id is not UTF-8".into()))
    }

    pub(super) fn id(&mut self) -> Result<String, StoreError> {
        match self.u8()? {
            0 => Ok(to_hex(self.take(16)?)),
            1 => {
                let len = usize::from(self.u8()?);
                let bytes = self.take(len)?;
                self.string(bytes)
            }
            _ => Err(StoreError::Decode("unknown id tag".into())),
        }
    }

    fn hex(&mut self) -> Result<String, StoreError> {
        match self.u8()? {
            0 => Ok(to_hex(self.take(32)?)),
            1 => self.str(),
            _ => Err(StoreError::Decode("unknown hash tag".into())),
        }
    }

    fn str(&mut self) -> Result<String, StoreError> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().unwrap_or_default());
        let bytes = self.take(len as usize)?;
        self.string(bytes)
    }

    fn seen(&mut self) -> Result<Option<Seen>, StoreError> {
        Ok(match self.u8()? {
            0 => None,
            _ => Some(Seen {
                at_ms: self.u64()?,
                user_agent: self.str()?,
                ip: self.str()?,
            }),
        })
    }

    fn version(&mut self) -> Result<(), StoreError> {
        match self.u8()? {
            VERSION => Ok(()),
            other => Err(StoreError::Decode(format!(
                "unknown record version {other}"
            ))),
        }
    }
}

/// A token's blacklist state inside its record.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Listed {
    pub reason: BlacklistReason,
    pub at: u64,
    pub successor: Option<String>,
}

/// One token's record: what format 1 kept as an outstanding record and a blacklist entry.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TokenRecord {
    /// Outstanding (else only blacklisted: a blacklist entry whose token record a
    /// store it was copied from did not have).
    pub outstanding: bool,
    pub token: Outstanding,
    pub listed: Option<Listed>,
}

fn reason_byte(reason: BlacklistReason) -> u8 {
    match reason {
        BlacklistReason::Rotated => 1,
        BlacklistReason::Logout => 2,
        BlacklistReason::User => 3,
        BlacklistReason::Reuse => 4,
    }
}

impl TokenRecord {
    pub(super) fn new(token: Outstanding) -> Self {
        Self {
            outstanding: true,
            token,
            listed: None,
        }
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        let t = &self.token;
        let mut out = Vec::with_capacity(96);
        out.push(VERSION);
        let mut flags = 0;
        if self.outstanding {
            flags |= OUTSTANDING;
        }
        if t.kind == StoredKind::Sliding {
            flags |= SLIDING;
        }
        out.push(flags);
        put_u64(&mut out, t.user_id);
        put_u64(&mut out, t.created_at_ms);
        put_u64(&mut out, t.expires_at);
        put_hex(&mut out, &t.token_sha256);
        put_id(&mut out, &t.family);
        match &self.listed {
            None => out.push(0),
            Some(listed) => {
                out.push(reason_byte(listed.reason));
                put_u64(&mut out, listed.at);
                match &listed.successor {
                    None => out.push(0),
                    Some(s) => {
                        out.push(1);
                        put_id(&mut out, s);
                    }
                }
            }
        }
        out
    }

    pub(super) fn decode(jti: &str, bytes: &[u8]) -> Result<Self, StoreError> {
        let mut r = Reader::new(bytes);
        r.version()?;
        let flags = r.u8()?;
        let token = Outstanding {
            jti: jti.to_string(),
            user_id: r.u64()?,
            created_at_ms: r.u64()?,
            expires_at: r.u64()?,
            token_sha256: r.hex()?,
            family: r.id()?,
            kind: if flags & SLIDING == 0 {
                StoredKind::Refresh
            } else {
                StoredKind::Sliding
            },
        };
        let reason = match r.u8()? {
            0 => None,
            1 => Some(BlacklistReason::Rotated),
            2 => Some(BlacklistReason::Logout),
            3 => Some(BlacklistReason::User),
            4 => Some(BlacklistReason::Reuse),
            _ => return Err(StoreError::Decode("unknown blacklist reason".into())),
        };
        let listed = match reason {
            None => None,
            Some(reason) => Some(Listed {
                reason,
                at: r.u64()?,
                successor: match r.u8()? {
                    0 => None,
                    _ => Some(r.id()?),
                },
            }),
        };
        Ok(Self {
            outstanding: flags & OUTSTANDING != 0,
            token,
            listed,
        })
    }

    /// A blacklist entry whose token the store has no record of (copied from another
    /// store): kept in a record of its own, in no family.
    pub(super) fn listed_alone(entry: &Blacklisted) -> Self {
        Self {
            outstanding: false,
            token: Outstanding {
                jti: entry.jti.clone(),
                user_id: 0,
                kind: StoredKind::Refresh,
                family: entry.jti.clone(),
                created_at_ms: 0,
                expires_at: entry.expires_at,
                token_sha256: String::new(),
            },
            listed: Some(Listed {
                reason: entry.reason,
                at: entry.blacklisted_at,
                successor: entry.successor.clone(),
            }),
        }
    }

    /// The token's blacklist entry, if it is blacklisted.
    pub(super) fn blacklisted(&self) -> Option<Blacklisted> {
        self.listed.as_ref().map(|listed| Blacklisted {
            jti: self.token.jti.clone(),
            blacklisted_at: listed.at,
            reason: listed.reason,
            expires_at: self.token.expires_at,
            successor: listed.successor.clone(),
        })
    }

    pub(super) fn outstanding(self) -> Option<Outstanding> {
        self.outstanding.then_some(self.token)
    }
}

/// The family record's version: 3 (its newest tokens' ids at its end, older ones in
/// chunk records). Version 2, format 3's first family record (every id inline, no chunk
/// numbers), still reads: as a record with no chunks.
const FAMILY_VERSION: u8 = 3;
const FAMILY_VERSION_INLINE: u8 = 2;

/// At most this many token ids are kept inline in a family record: adding one more
/// moves them as one chunk record into `v3.family_chunks` ([`chunk_key`]), so that a
/// rotation rewrites a record of bounded size however long its family's chain is.
pub(super) const INLINE_MEMBERS: usize = 32;

/// A family record (format 3): the family, the time its entry in the expiry index is
/// at, the range of its chunk records' numbers (`first_chunk..next_chunk`; a number
/// in it may have no record left, the flush deletes emptied chunks) and the ids of its
/// newest tokens (each as [`id_key`] writes it, one after another, at most
/// [`INLINE_MEMBERS`]: the family's membership, which format 2 kept as one
/// `family ++ jti` record per token).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FamilyRecord {
    pub family: Family,
    pub flush_at: u64,
    pub first_chunk: u32,
    pub next_chunk: u32,
    inline: usize,
    members: Vec<u8>,
}

/// A chunk of a family's token ids to write under [`chunk_key`]`(family, number)`.
pub(super) type Chunk = (u32, Vec<u8>);

impl FamilyRecord {
    pub(super) fn new(family: Family, flush_at: u64) -> Self {
        Self {
            family,
            flush_at,
            first_chunk: 0,
            next_chunk: 0,
            inline: 0,
            members: Vec::new(),
        }
    }

    /// Adds a token to the family (once among the inline ids; the chunks are not
    /// searched: a new token's id is new, and a known token recorded again long after
    /// it moved into a chunk only repeats an id, which every reader of the members
    /// tolerates: a revocation skips a token already blacklisted, the flush a token
    /// already removed). When the inline ids are full they move out:
    /// the chunk returned must be written with the record.
    #[must_use]
    pub(super) fn add_member(&mut self, jti: &str) -> Option<Chunk> {
        let key = IdKey::new(jti);
        if self.has_member(key.as_ref()) {
            return None;
        }
        let spilled = (self.inline >= INLINE_MEMBERS).then(|| {
            let number = self.next_chunk;
            self.next_chunk += 1;
            self.inline = 0;
            (number, std::mem::take(&mut self.members))
        });
        self.members.extend_from_slice(key.as_ref());
        self.inline += 1;
        spilled
    }

    /// Whether any token is left in the family (inline or in a chunk).
    pub(super) fn has_members(&self) -> bool {
        !self.members.is_empty() || self.first_chunk < self.next_chunk
    }

    fn has_member(&self, key: &[u8]) -> bool {
        let mut rest = self.members.as_slice();
        while !rest.is_empty() {
            let len = member_len(rest);
            if rest.get(..len) == Some(key) {
                return true;
            }
            rest = rest.get(len..).unwrap_or_default();
        }
        false
    }

    /// The ids of the family's inline tokens (its newest), in the order they joined it.
    pub(super) fn members(&self) -> Result<Vec<String>, StoreError> {
        decode_ids(&self.members)
    }

    /// Keeps the inline members `keep` says yes to.
    pub(super) fn retain_members(&mut self, keep: impl Fn(&str) -> bool) -> Result<(), StoreError> {
        let kept = retain_ids(&self.members, keep)?;
        self.inline = kept.1;
        self.members = kept.0;
        Ok(())
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(72 + self.members.len());
        put_family(&mut out, FAMILY_VERSION, &self.family, self.flush_at);
        out.extend_from_slice(&self.first_chunk.to_be_bytes());
        out.extend_from_slice(&self.next_chunk.to_be_bytes());
        out.extend_from_slice(&self.members);
        out
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if version != FAMILY_VERSION && version != FAMILY_VERSION_INLINE {
            return Err(StoreError::Decode("unknown family record version".into()));
        }
        let (family, flush_at) = read_family(&mut r)?;
        let (first_chunk, next_chunk) = if version == FAMILY_VERSION {
            (r.u32()?, r.u32()?)
        } else {
            (0, 0)
        };
        if first_chunk > next_chunk {
            return Err(StoreError::Decode(
                "a family's chunk range is reversed".into(),
            ));
        }
        // The members' framing: checked here (without decoding each id: a rotation
        // reads its family's record), so that walking them later cannot run short.
        let members = r.bytes.to_vec();
        let inline = check_ids(&members)?;
        Ok(Self {
            family,
            flush_at,
            first_chunk,
            next_chunk,
            inline,
            members,
        })
    }
}

/// `id(family) ++ u32 BE number`: a chunk of a family's token ids (tree
/// `v3.family_chunks`; its value: the ids as [`id_key`]s, one after another).
pub(super) fn chunk_key(family: &str, number: u32) -> Vec<u8> {
    let mut key = id_key(family);
    key.extend_from_slice(&number.to_be_bytes());
    key
}

/// The ids of a chunk record (or of inline members).
pub(super) fn decode_ids(bytes: &[u8]) -> Result<Vec<String>, StoreError> {
    let mut r = Reader::new(bytes);
    let mut ids = Vec::new();
    while !r.bytes.is_empty() {
        ids.push(r.id()?);
    }
    Ok(ids)
}

/// The ids `keep` says yes to (encoded) and how many they are.
pub(super) fn retain_ids(
    bytes: &[u8],
    keep: impl Fn(&str) -> bool,
) -> Result<(Vec<u8>, usize), StoreError> {
    let mut kept = Vec::with_capacity(bytes.len());
    let mut count = 0;
    for id in decode_ids(bytes)? {
        if keep(&id) {
            put_id(&mut kept, &id);
            count += 1;
        }
    }
    Ok((kept, count))
}

/// Checks the framing of ids one after another; returns how many there are.
fn check_ids(bytes: &[u8]) -> Result<usize, StoreError> {
    let mut rest = bytes;
    let mut count = 0;
    while let Some(&tag) = rest.first() {
        let len = member_len(rest);
        if tag > 1 || rest.len() < len {
            return Err(StoreError::Decode(
                "a family's token ids are cut short".into(),
            ));
        }
        rest = &rest[len..];
        count += 1;
    }
    Ok(count)
}

/// The length of the id key at the start of `bytes` (checked by [`FamilyRecord::decode`]).
fn member_len(bytes: &[u8]) -> usize {
    match bytes.first() {
        Some(0) => 17,
        _ => 2 + usize::from(bytes.get(1).copied().unwrap_or(0)),
    }
}

/// A format 2 family record (the upgrade from format 1 writes them, the upgrade to
/// format 3 reads them).
pub(super) fn encode_family_v2(family: &Family, flush_at: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    put_family(&mut out, VERSION, family, flush_at);
    out
}

/// A format 2 family record: the family and its `flush_at`.
pub(super) fn decode_family_v2(bytes: &[u8]) -> Result<(Family, u64), StoreError> {
    let mut r = Reader::new(bytes);
    r.version()?;
    read_family(&mut r)
}

/// The fields a family record of either format starts with.
fn put_family(out: &mut Vec<u8>, version: u8, family: &Family, flush_at: u64) {
    out.push(version);
    put_u64(out, family.user_id);
    put_u64(out, family.created_at_ms);
    put_u64(out, family.expires_at);
    put_u64(out, flush_at);
    match family.revoked_at {
        None => out.push(0),
        Some(at) => {
            out.push(1);
            put_u64(out, at);
        }
    }
    put_seen(out, family.login.as_ref());
    put_seen(out, family.last_refresh.as_ref());
}

/// What [`put_family`] wrote after the version: the family and its `flush_at`.
fn read_family(r: &mut Reader<'_>) -> Result<(Family, u64), StoreError> {
    let user_id = r.u64()?;
    let created_at_ms = r.u64()?;
    let expires_at = r.u64()?;
    let flush_at = r.u64()?;
    let revoked_at = match r.u8()? {
        0 => None,
        _ => Some(r.u64()?),
    };
    let family = Family {
        user_id,
        created_at_ms,
        expires_at,
        revoked_at,
        login: r.seen()?,
        last_refresh: r.seen()?,
    };
    Ok((family, flush_at))
}

/// `id(family) ++ id(jti)`: the tokens of a family.
pub(super) fn family_token_key(family: &str, jti: &str) -> Vec<u8> {
    let mut key = id_key(family);
    put_id(&mut key, jti);
    key
}

/// `user id ++ id(family)`: the families of a user.
pub(super) fn user_family_key(user_id: u64, family: &str) -> Vec<u8> {
    let mut key = user_id.to_be_bytes().to_vec();
    put_id(&mut key, family);
    key
}

/// `expires_at ++ kind ++ id`: what the flush of expired records visits, in time order.
pub(super) fn expiry_key(at: u64, kind: u8, id: &str) -> Vec<u8> {
    let mut key = at.to_be_bytes().to_vec();
    key.push(kind);
    put_id(&mut key, id);
    key
}

/// An entry of the expiry index for a family (its tokens, itself).
pub(super) const EXPIRY_FAMILY: u8 = 1;
/// An entry for a blacklist entry alone (no token record, no family).
pub(super) const EXPIRY_LISTED: u8 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    fn token(jti: &str, family: &str, sha: &str) -> Outstanding {
        Outstanding {
            jti: jti.into(),
            user_id: 7,
            kind: StoredKind::Sliding,
            family: family.into(),
            created_at_ms: 1_700_000_000_123,
            expires_at: 1_800_000_000,
            token_sha256: sha.into(),
        }
    }

    #[test]
    fn records_round_trip_and_stay_small() {
        let hex = "0193a0b1c2d37e4f8a9b0c1d2e3f4a5b";
        let sha = "ab".repeat(32);
        for (jti, family, sha) in [
            (hex, hex, sha.as_str()),
            ("a", "Ab-1", ""),
            ("", "x", "ABCD"),
            ("0193A0B1C2D37E4F8A9B0C1D2E3F4A5B", hex, "zz"),
        ] {
            for listed in [
                None,
                Some(Listed {
                    reason: BlacklistReason::Rotated,
                    at: 5,
                    successor: Some(hex.into()),
                }),
                Some(Listed {
                    reason: BlacklistReason::Reuse,
                    at: 6,
                    successor: None,
                }),
            ] {
                let record = TokenRecord {
                    outstanding: listed.is_none(),
                    token: token(jti, family, sha),
                    listed,
                };
                let bytes = record.encode();
                assert_eq!(TokenRecord::decode(jti, &bytes).unwrap(), record);
                for cut in 0..bytes.len() {
                    assert!(TokenRecord::decode(jti, &bytes[..cut]).is_err());
                }
            }
        }
        let record = TokenRecord::new(token(hex, hex, &sha));
        assert_eq!(record.encode().len(), 2 + 24 + 33 + 17 + 1);
        let family = Family {
            user_id: 7,
            created_at_ms: 1,
            expires_at: 2,
            revoked_at: Some(3),
            login: Some(Seen::new(4, "curl/8", "127.0.0.1".into())),
            last_refresh: None,
        };
        assert_eq!(
            decode_family_v2(&encode_family_v2(&family, 9)).unwrap(),
            (family.clone(), 9)
        );
        let mut record = FamilyRecord::new(family, 9);
        for id in [hex, "a", hex, "", "a"] {
            assert!(record.add_member(id).is_none());
        }
        let bytes = record.encode();
        let decoded = FamilyRecord::decode(&bytes).unwrap();
        assert_eq!(decoded, record);
        assert_eq!(decoded.members().unwrap(), [hex, "a", ""]);
        for cut in 0..bytes.len() {
            // Cut inside the fixed part or inside a member: an error, never a panic.
            let _ = FamilyRecord::decode(&bytes[..cut]);
        }
        assert!(FamilyRecord::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut kept = decoded;
        kept.retain_members(|id| id != "a").unwrap();
        assert_eq!(kept.members().unwrap(), [hex, ""]);
        assert_eq!(kept.encode().len(), bytes.len() - 3);
    }

    #[test]
    fn family_records_spill_their_members_into_chunks() {
        let family = Family {
            user_id: 7,
            created_at_ms: 1,
            expires_at: 2,
            revoked_at: None,
            login: None,
            last_refresh: None,
        };
        let mut record = FamilyRecord::new(family.clone(), 9);
        let mut chunks = Vec::new();
        for n in 0..2 * INLINE_MEMBERS + 5 {
            if let Some(chunk) = record.add_member(&format!("{n:032x}")) {
                chunks.push(chunk);
            }
        }
        assert_eq!(chunks.len(), 2);
        assert_eq!((chunks[0].0, chunks[1].0), (0, 1));
        assert_eq!(
            decode_ids(&chunks[1].1).unwrap()[0],
            format!("{INLINE_MEMBERS:032x}")
        );
        assert_eq!(chunks[0].1.len(), 17 * INLINE_MEMBERS);
        assert_eq!(record.members().unwrap().len(), 5);
        assert_eq!((record.first_chunk, record.next_chunk), (0, 2));
        let bytes = record.encode();
        assert_eq!(FamilyRecord::decode(&bytes).unwrap(), record);
        // Format 3's first family records (version 2: every id inline) still read.
        let fixed = encode_family_v2(&family, 9).len();
        let mut v2 = bytes[..fixed].to_vec();
        v2[0] = FAMILY_VERSION_INLINE;
        v2.extend_from_slice(&bytes[fixed + 8..]);
        let old = FamilyRecord::decode(&v2).unwrap();
        assert_eq!((old.first_chunk, old.next_chunk), (0, 0));
        assert_eq!(old.members().unwrap(), record.members().unwrap());
        // A reversed range is refused.
        let mut reversed = bytes.clone();
        reversed[fixed..fixed + 8].copy_from_slice(&[0, 0, 0, 3, 0, 0, 0, 2]);
        assert!(FamilyRecord::decode(&reversed).is_err());
        assert_eq!(
            chunk_key("f", 1)[..chunk_key("f", 1).len() - 4],
            id_key("f")
        );
    }

    #[test]
    fn keys_are_prefix_free() {
        let hex = "0193a0b1c2d37e4f8a9b0c1d2e3f4a5b";
        for id in [hex, "a", "", &"x".repeat(255)] {
            assert_eq!(IdKey::new(id).as_ref(), id_key(id).as_slice());
        }
        assert_eq!(id_key(hex).len(), 17);
        assert_ne!(family_token_key("a", "bc"), family_token_key("ab", "c"));
        let key = family_token_key(hex, "x");
        let mut r = Reader::new(&key);
        assert_eq!(r.id().unwrap(), hex);
        assert_eq!(r.id().unwrap(), "x");
    }
}
