//! The sled backend's token use cases: outstanding tokens, the blacklist, families,
//! revocations and the flush of expired records (format 3: see [`super::record`]).

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::atomic::Ordering,
};

use sled::Transactional;

use super::{
    format::user_key,
    record::{
        chunk_key, decode_ids, expiry_key, id_key, retain_ids, user_family_key, FamilyRecord,
        Listed, Reader, TokenRecord, EXPIRY_FAMILY, EXPIRY_LISTED,
    },
    tx::{record, tx_decode, tx_family, tx_record, Trees},
    Delta, Inner, SledStore,
};
use crate::store::{
    BlacklistReason, Blacklisted, Blacklisting, Family, Flushed, Outstanding, Revocation,
    RotateRule, Rotation, Seen, Session, StoreError, Stored, User,
};

impl SledStore {
    /// Records a token with its family and indexes (a known token is written again,
    /// unchanged), and with `last_login` the user's last login, in one transaction.
    pub(super) fn insert_token(
        &self,
        token: &Outstanding,
        last_login: Option<i64>,
        seen: Option<&Seen>,
    ) -> Result<(), StoreError> {
        let i = &self.inner()?;
        let _locked = i.lock_user(token.user_id);
        let added = (
            &i.tokens,
            &i.families,
            &i.user_families,
            &i.expiry,
            &i.users,
            &i.family_chunks,
        )
            .transaction(|(tokens, families, user_families, expiry, users, chunks)| {
                let trees = Trees::of(tokens, families, user_families, expiry, chunks);
                let (added, _) = trees.insert_outstanding(token, seen, None, None, None)?;
                let key = user_key(token.user_id);
                // A user deleted since the password check: the token is recorded
                // (and refused at its first refresh), no user is brought back.
                if let (Some(at), Some(bytes)) = (last_login, users.get(key)?) {
                    let mut user: User = tx_decode(&bytes)?;
                    user.last_login = Some(at);
                    users.insert(&key, super::format::encode(&user))?;
                }
                Ok(added)
            })?;
        i.counts.add(Delta {
            outstanding: added,
            blacklisted: 0,
        });
        Ok(())
    }

    fn token_record(&self, jti: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.watch(self.inner().and_then(|i| record(&i.tokens, jti)))
    }

    /// The outstanding record of a jti.
    pub fn outstanding(&self, jti: &str) -> Result<Option<Outstanding>, StoreError> {
        Ok(self.token_record(jti)?.and_then(TokenRecord::outstanding))
    }

    /// The blacklist entry of a jti.
    pub fn blacklisted(&self, jti: &str) -> Result<Option<Blacklisted>, StoreError> {
        Ok(self.token_record(jti)?.and_then(|r| r.blacklisted()))
    }

    /// A presented token's blacklist entry, user and record: two reads (the blacklist
    /// state is in the token's record).
    pub fn presented(&self, jti: &str, user_id: Option<u64>) -> Result<Stored, StoreError> {
        let record = self.token_record(jti)?;
        Ok(Stored {
            blacklisted: record.as_ref().and_then(TokenRecord::blacklisted),
            user: match user_id {
                Some(id) => self.user_shared(id)?.map(|u| User::clone(&u)),
                None => None,
            },
            outstanding: record.and_then(TokenRecord::outstanding),
        })
    }

    /// A family record.
    pub fn family(&self, family: &str) -> Result<Option<Family>, StoreError> {
        let read = |i: std::sync::Arc<Inner>| {
            i.families
                .get(id_key(family))?
                .map(|bytes| FamilyRecord::decode(&bytes).map(|r| r.family))
                .transpose()
        };
        self.watch(self.inner().and_then(read))
    }

    /// The successor of the rotated-out `jti`, if it may be handed out again (see
    /// [`crate::store::Store::successor_in_grace`]): every condition read in one
    /// transaction, so a concurrent rotation, logout or revocation of the successor
    /// comes either before it (no successor) or after it.
    pub(super) fn successor_tx(
        &self,
        jti: &str,
        now_ms: u64,
        interval_ms: u64,
    ) -> Result<Option<Outstanding>, StoreError> {
        let i = &self.inner()?;
        // A token's user never changes: read it to take the user's lock.
        let Some(user_id) = record(&i.tokens, jti)?.map(|r| r.token.user_id) else {
            return Ok(None);
        };
        let _locked = i.lock_user(user_id);
        let found =
            (&i.tokens, &i.families, &i.users).transaction(|(tokens, families, users)| {
                let Some(entry) = tx_record(tokens, jti)?.and_then(|r| r.listed) else {
                    return Ok(None);
                };
                let successor = match entry.successor {
                    Some(s) if entry.reason == BlacklistReason::Rotated => s,
                    _ => return Ok(None),
                };
                let Some(record) = tx_record(tokens, &successor)? else {
                    return Ok(None);
                };
                // Rotated, logged out or revoked since: the successor was used.
                if record.listed.is_some() || !record.outstanding {
                    return Ok(None);
                }
                let record = record.token;
                if now_ms.saturating_sub(record.created_at_ms) >= interval_ms {
                    return Ok(None);
                }
                if let Some(family) = tx_family(families, &record.family)? {
                    if family.family.revoked_at.is_some() {
                        return Ok(None);
                    }
                }
                let Some(bytes) = users.get(user_key(record.user_id))? else {
                    return Ok(None);
                };
                let user: User = tx_decode(&bytes)?;
                if user.refresh_revoked(record.created_at_ms) {
                    return Ok(None);
                }
                Ok(Some(record))
            })?;
        Ok(found)
    }

    /// Blacklists one token (recording it first if unknown).
    pub(super) fn blacklist_tx(
        &self,
        token: &Outstanding,
        reason: BlacklistReason,
        now: u64,
    ) -> Result<Blacklisting, StoreError> {
        let i = &self.inner()?;
        let _locked = i.lock_user(token.user_id);
        let (outcome, delta) = (
            &i.tokens,
            &i.families,
            &i.user_families,
            &i.expiry,
            &i.family_chunks,
        )
            .transaction(|(tokens, families, user_families, expiry, chunks)| {
                let trees = Trees::of(tokens, families, user_families, expiry, chunks);
                let mut delta = Delta::default();
                let existing = tx_record(tokens, &token.jti)?;
                if let Some(listed) = existing.as_ref().and_then(|r| r.listed.as_ref()) {
                    return Ok((Blacklisting::AlreadyBlacklisted(listed.reason), delta));
                }
                let listed = Listed {
                    reason,
                    at: now,
                    successor: None,
                };
                match existing {
                    Some(record) if record.outstanding => {
                        let record = TokenRecord {
                            listed: Some(listed),
                            ..record
                        };
                        tokens.insert(id_key(&token.jti), record.encode())?;
                    }
                    existing => {
                        delta.outstanding += trees
                            .insert_outstanding(token, None, Some(listed), Some(existing), None)?
                            .0;
                    }
                }
                delta.blacklisted += 1;
                Ok((Blacklisting::Done, delta))
            })?;
        i.counts.add(delta);
        Ok(outcome)
    }

    /// The jtis of a family's tokens (in its record and its chunks).
    pub(super) fn family_jtis(i: &Inner, family: &str) -> Result<Vec<String>, StoreError> {
        match i.families.get(id_key(family))? {
            Some(bytes) => {
                let record = FamilyRecord::decode(&bytes)?;
                let mut jtis = Self::chunk_jtis(i, family, &record)?;
                jtis.extend(record.members()?);
                Ok(jtis)
            }
            None => Ok(Vec::new()),
        }
    }

    /// The jtis in a family's chunk records (its older tokens), oldest first: one point
    /// read per chunk number in the record's range (a number the flush emptied has no
    /// record). A chunk never changes but in the flush, which only drops gone ids.
    fn chunk_jtis(
        i: &Inner,
        family: &str,
        record: &FamilyRecord,
    ) -> Result<Vec<String>, StoreError> {
        let mut jtis = Vec::new();
        for number in record.first_chunk..record.next_chunk {
            if let Some(bytes) = i.family_chunks.get(chunk_key(family, number))? {
                jtis.extend(decode_ids(&bytes)?);
            }
        }
        Ok(jtis)
    }

    /// The families a user's tokens are in.
    fn user_family_ids(i: &Inner, user_id: u64) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        for item in i.user_families.scan_prefix(user_id.to_be_bytes()) {
            let (key, _) = item?;
            ids.push(Reader::new(&key[8..]).id()?);
        }
        Ok(ids)
    }

    /// Revokes a family (after a replay): marks it revoked, so no rotation can extend it
    /// any more, then blacklists every token in it. Returns how many were blacklisted.
    pub(super) fn revoke_family_tx(
        &self,
        family: &str,
        now: u64,
        reason: BlacklistReason,
    ) -> Result<usize, StoreError> {
        let i = &self.inner()?;
        // The family's user never changes: read it to take the user's lock.
        let Some(user_id) = i
            .families
            .get(id_key(family))?
            .map(|bytes| FamilyRecord::decode(&bytes).map(|r| r.family.user_id))
            .transpose()?
        else {
            return Ok(0);
        };
        let _locked = i.lock_user(user_id);
        i.families.transaction(|families| {
            if let Some(mut record) = tx_family(families, family)? {
                if record.family.revoked_at.is_none() {
                    record.family.revoked_at = Some(now);
                    families.insert(id_key(family), record.encode())?;
                }
            }
            Ok(())
        })?;
        // Rotations commit before the mark (and are listed below) or see it and stop.
        let jtis = Self::family_jtis(i, family)?;
        self.blacklist_all(&jtis, reason, now, None)
    }

    /// Revokes every refresh and sliding token ever issued to a user, rotated ones
    /// included, and stamps the user (`stamp`: now in ms) so that tokens minted
    /// concurrently, before the stamp, are refused too.
    pub(super) fn revoke_user_tx(
        &self,
        user_id: u64,
        why: Revocation,
        stamp: u64,
        change: impl Fn(&mut User),
    ) -> Result<usize, StoreError> {
        let now = stamp / 1000;
        let i = &self.inner()?;
        let _locked = i.lock_user(user_id);
        Self::change_user_locked(i, user_id, |user| {
            change(user);
            user.stamp_revocation(why, stamp);
        })?;
        let mut jtis = Vec::new();
        for family in Self::user_family_ids(i, user_id)? {
            jtis.extend(Self::family_jtis(i, &family)?);
        }
        self.blacklist_all(&jtis, BlacklistReason::User, now, Some(user_id))
    }

    /// Blacklists each outstanding token of `jtis` not blacklisted yet (of `user` only,
    /// when given); one compare-and-swap each (sled's transactions exclude every other
    /// write while they commit, so a rotation sees each either before or after).
    pub(super) fn blacklist_all(
        &self,
        jtis: &[String],
        reason: BlacklistReason,
        now: u64,
        user: Option<u64>,
    ) -> Result<usize, StoreError> {
        let i = &self.inner()?;
        let mut count = 0;
        for jti in jtis {
            let key = id_key(jti);
            loop {
                let Some(before) = i.tokens.get(&key)? else {
                    break;
                };
                let mut record = TokenRecord::decode(jti, &before)?;
                if record.listed.is_some()
                    || !record.outstanding
                    || user.is_some_and(|u| u != record.token.user_id)
                {
                    break;
                }
                record.listed = Some(Listed {
                    reason,
                    at: now,
                    successor: None,
                });
                let swapped =
                    i.tokens
                        .compare_and_swap(&key, Some(before), Some(record.encode()))?;
                if swapped.is_ok() {
                    count += 1;
                    break;
                }
            }
        }
        i.counts.add(Delta {
            outstanding: 0,
            blacklisted: i64::try_from(count).unwrap_or(i64::MAX),
        });
        Ok(count)
    }

    /// The live sessions of a user (see [`crate::store::Store::sessions`]): the user's
    /// families, each with a token that is live.
    pub fn sessions(&self, user_id: u64, now: u64) -> Result<Vec<Session>, StoreError> {
        let listed = self.list_sessions(user_id, now);
        self.watch(listed)
    }

    fn list_sessions(&self, user_id: u64, now: u64) -> Result<Vec<Session>, StoreError> {
        let i = &self.inner()?;
        let mut sessions = Vec::new();
        for id in Self::user_family_ids(i, user_id)? {
            let Some(bytes) = i.families.get(id_key(&id))? else {
                continue;
            };
            let stored = FamilyRecord::decode(&bytes)?;
            let family = &stored.family;
            if family.revoked_at.is_some() || family.user_id != user_id {
                continue;
            }
            let is_live = |jti: &str| -> Result<bool, StoreError> {
                Ok(record(&i.tokens, jti)?.is_some_and(|record| {
                    record.outstanding
                        && record.listed.is_none()
                        && record.token.user_id == user_id
                        && record.token.expires_at > now
                }))
            };
            let any_live = |jtis: Vec<String>| -> Result<bool, StoreError> {
                for jti in jtis.iter().rev() {
                    if is_live(jti)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            };
            // The newest tokens first (inline), the chunks only if none of them is live.
            if any_live(stored.members()?)? || any_live(Self::chunk_jtis(i, &id, &stored)?)? {
                sessions.push(Session {
                    id,
                    family: stored.family,
                });
            }
        }
        sessions.sort_by(|a, b| {
            b.family
                .created_at_ms
                .cmp(&a.family.created_at_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(sessions)
    }

    /// Tokens of one user (or all), with their blacklist entries, by jti.
    pub fn tokens(
        &self,
        user_id: Option<u64>,
    ) -> Result<Vec<(Outstanding, Option<Blacklisted>)>, StoreError> {
        let listed = self.list_tokens(user_id);
        self.watch(listed)
    }

    fn list_tokens(
        &self,
        user_id: Option<u64>,
    ) -> Result<Vec<(Outstanding, Option<Blacklisted>)>, StoreError> {
        let i = &self.inner()?;
        let mut records: Vec<TokenRecord> = match user_id {
            Some(id) => {
                let mut jtis = BTreeSet::new();
                for family in Self::user_family_ids(i, id)? {
                    jtis.extend(Self::family_jtis(i, &family)?);
                }
                let mut out = Vec::new();
                for jti in jtis {
                    if let Some(record) = record(&i.tokens, &jti)? {
                        if record.token.user_id == id {
                            out.push(record);
                        }
                    }
                }
                out
            }
            None => self.all_records(i)?,
        };
        records.retain(|r| r.outstanding);
        records.sort_by(|a, b| a.token.jti.cmp(&b.token.jti));
        Ok(records
            .into_iter()
            .map(|r| {
                let entry = r.blacklisted();
                (r.token, entry)
            })
            .collect())
    }

    /// Every token record (outstanding or blacklisted), in key order.
    pub(super) fn all_records(&self, i: &Inner) -> Result<Vec<TokenRecord>, StoreError> {
        i.tokens
            .iter()
            .map(|item| {
                let (key, value) = item?;
                let jti = Reader::new(&key).id()?;
                TokenRecord::decode(&jti, &value)
            })
            .collect()
    }

    /// Deletes outstanding tokens, blacklist entries and families that expired at or
    /// before `now - leeway` (epoch seconds): such tokens can no longer verify, so
    /// forgetting them changes no answer. Forgetting is only safe if they stay expired
    /// whatever the clock does later, so the clock floor is first raised to `now`,
    /// durably: a clock stepped back afterwards cannot make a forgotten (say, logged
    /// out) token valid again. `now` is itself never before the floor.
    ///
    /// The expiry index holds one entry per family, at or before the earliest expiry of
    /// its tokens: each entry due is a family whose tokens are walked; the expired ones
    /// go, and the entry moves to the earliest expiry left (or the family goes with its
    /// last token).
    pub(super) fn delete_expired(&self, now: u64, leeway: u64) -> Result<Flushed, StoreError> {
        let cutoff = now.saturating_sub(leeway);
        let i = &self.inner()?;
        let mut flushed = Flushed::default();
        let end = (cutoff.saturating_add(1)).to_be_bytes();
        let keys: Vec<sled::IVec> = i
            .expiry
            .range(..end.as_slice())
            .keys()
            .collect::<Result<_, _>>()?;
        for key in keys {
            let kind = key.get(8).copied();
            let id = Reader::new(key.get(9..).unwrap_or_default()).id()?;
            match kind {
                Some(EXPIRY_FAMILY) => self.flush_family(i, &id, cutoff, &mut flushed)?,
                Some(EXPIRY_LISTED) => {
                    if let Some(record) = record(&i.tokens, &id)? {
                        if !record.outstanding && record.token.expires_at <= cutoff {
                            i.tokens.remove(id_key(&id))?;
                            flushed.blacklisted += 1;
                            i.counts.blacklisted.fetch_sub(1, Ordering::Relaxed);
                        }
                    }
                }
                _ => {}
            }
            i.expiry.remove(&key)?;
        }
        Ok(flushed)
    }

    /// One token of a family being flushed: removed if expired by `cutoff` (true: gone,
    /// also when it has no record), else its expiry counted into `earliest`.
    fn flush_token(
        i: &Inner,
        jti: &str,
        cutoff: u64,
        earliest: &mut Option<u64>,
        flushed: &mut Flushed,
    ) -> Result<bool, StoreError> {
        match record(&i.tokens, jti)? {
            Some(r) if r.token.expires_at > cutoff => {
                *earliest =
                    Some(earliest.map_or(r.token.expires_at, |e| e.min(r.token.expires_at)));
                Ok(false)
            }
            Some(r) => {
                i.tokens.remove(id_key(jti))?;
                if r.outstanding {
                    flushed.outstanding += 1;
                    i.counts.outstanding.fetch_sub(1, Ordering::Relaxed);
                }
                if r.listed.is_some() {
                    flushed.blacklisted += 1;
                    i.counts.blacklisted.fetch_sub(1, Ordering::Relaxed);
                }
                Ok(true)
            }
            None => Ok(true),
        }
    }

    /// One family's part of [`SledStore::delete_expired`].
    fn flush_family(
        &self,
        i: &Inner,
        id: &str,
        cutoff: u64,
        flushed: &mut Flushed,
    ) -> Result<(), StoreError> {
        let key = id_key(id);
        let Some(mut before) = i.families.get(&key)? else {
            return Ok(());
        };
        let stored = FamilyRecord::decode(&before)?;
        // A family's user never changes: its lock, taken after that read (a rotation in
        // between changes the record, which the compare-and-swap below finds, then
        // reads it again).
        let _locked = i.lock_user(stored.family.user_id);
        let mut earliest: Option<u64> = None;
        let mut gone = BTreeSet::new();
        // The chunks (older tokens) first: each rewritten without its ids gone, or
        // deleted when none is left. Only the flush changes a chunk once written.
        for number in stored.first_chunk..stored.next_chunk {
            let chunk_key = chunk_key(id, number);
            let Some(chunk) = i.family_chunks.get(&chunk_key)? else {
                continue;
            };
            let mut chunk_gone = BTreeSet::new();
            for jti in decode_ids(&chunk)? {
                if Self::flush_token(i, &jti, cutoff, &mut earliest, flushed)? {
                    chunk_gone.insert(jti);
                }
            }
            if chunk_gone.is_empty() {
                continue;
            }
            let (kept, count) = retain_ids(&chunk, |jti| !chunk_gone.contains(jti))?;
            if count == 0 {
                i.family_chunks.remove(&chunk_key)?;
            } else {
                i.family_chunks.insert(&chunk_key, kept)?;
            }
            gone.extend(chunk_gone);
        }
        for jti in stored.members()? {
            if Self::flush_token(i, &jti, cutoff, &mut earliest, flushed)? {
                gone.insert(jti);
            }
        }
        // The family record, without the tokens gone: removed with its last token, else
        // its entry moves (a compare-and-swap: a rotation may change the record
        // meanwhile, adding a token; then it is read again).
        let mut record = stored;
        loop {
            let flush_at = record.flush_at;
            record.retain_members(|jti| !gone.contains(jti))?;
            // Chunks emptied (by this flush or an earlier one) leave the range's start.
            let first_chunk = record.first_chunk;
            while record.first_chunk < record.next_chunk
                && !i
                    .family_chunks
                    .contains_key(chunk_key(id, record.first_chunk))?
            {
                record.first_chunk += 1;
            }
            // Removed with its last token once the family has expired, else rewritten
            // if anything changed.
            let remove =
                earliest.is_none() && record.family.expires_at <= cutoff && !record.has_members();
            if !remove {
                let next = match earliest {
                    Some(e) if flush_at > cutoff => e.min(flush_at),
                    Some(e) => e,
                    None => record.family.expires_at,
                };
                if next == flush_at
                    && flush_at > cutoff
                    && gone.is_empty()
                    && record.first_chunk == first_chunk
                {
                    return Ok(());
                }
                i.expiry.insert(expiry_key(next, EXPIRY_FAMILY, id), &[])?;
                record.flush_at = next;
            }
            let after = (!remove).then(|| record.encode());
            match i.families.compare_and_swap(&key, Some(&before), after)? {
                Ok(()) if remove => {
                    i.user_families
                        .remove(user_family_key(record.family.user_id, id))?;
                    for number in first_chunk..record.next_chunk {
                        i.family_chunks.remove(chunk_key(id, number))?;
                    }
                    flushed.families += 1;
                    return Ok(());
                }
                Ok(()) => return Ok(()),
                // Changed meanwhile: again with the record as it is now (gone: done).
                Err(changed) => {
                    let Some(current) = changed.current else {
                        return Ok(());
                    };
                    record = FamilyRecord::decode(&current)?;
                    before = current;
                }
            }
        }
    }

    /// Writes token records with every index and family record that [`SledStore::record`]
    /// and [`SledStore::rotate`] would have written for them, plus their blacklist entries,
    /// key by key, without transactions: for offline use only (`tollgate tokens seed`,
    /// no server running). A family's tokens must all be in one call.
    ///
    /// Not sled batches: a batch holds one epoch guard for all its writes, so the tree
    /// nodes they replace cannot be freed before it ends (a seed of 1,000,000 tokens
    /// in batches of 20,000 grew past 24 GB); single writes let sled's epoch-based
    /// reclamation keep up.
    pub fn bulk_load(
        &self,
        tokens: &[Outstanding],
        blacklisted: &[Blacklisted],
    ) -> Result<(), StoreError> {
        let i = &self.inner()?;
        let listed: BTreeMap<&str, &Blacklisted> =
            blacklisted.iter().map(|b| (b.jti.as_str(), b)).collect();
        let mut families: BTreeMap<&str, FamilyRecord> = BTreeMap::new();
        let mut seen_tokens = BTreeSet::new();
        for token in tokens {
            let existing = record(&i.tokens, &token.jti)?;
            let mut record = TokenRecord::new(token.clone());
            record.listed = match listed.get(token.jti.as_str()) {
                Some(entry) => Some(Listed {
                    reason: entry.reason,
                    at: entry.blacklisted_at,
                    successor: entry.successor.clone(),
                }),
                None => existing.as_ref().and_then(|r| r.listed.clone()),
            };
            if !existing.as_ref().is_some_and(|r| r.outstanding) {
                i.counts.outstanding.fetch_add(1, Ordering::Relaxed);
            }
            if record.listed.is_some() && existing.as_ref().is_none_or(|r| r.listed.is_none()) {
                i.counts.blacklisted.fetch_add(1, Ordering::Relaxed);
            }
            seen_tokens.insert(token.jti.as_str());
            i.tokens.insert(id_key(&token.jti), record.encode())?;
            let record = families.entry(&token.family).or_insert_with(|| {
                let family = Family {
                    user_id: token.user_id,
                    created_at_ms: token.created_at_ms,
                    expires_at: token.expires_at,
                    revoked_at: None,
                    login: None,
                    last_refresh: None,
                };
                FamilyRecord::new(family, token.expires_at)
            });
            if let Some((number, ids)) = record.add_member(&token.jti) {
                i.family_chunks
                    .insert(chunk_key(&token.family, number), ids)?;
            }
            record.flush_at = record.flush_at.min(token.expires_at);
            let family = &mut record.family;
            family.created_at_ms = family.created_at_ms.min(token.created_at_ms);
            family.expires_at = family.expires_at.max(token.expires_at);
            if token.user_id != family.user_id {
                i.user_families
                    .insert(user_family_key(token.user_id, &token.family), &[])?;
            }
        }
        for (id, record) in &families {
            i.families.insert(id_key(id), record.encode())?;
            i.expiry
                .insert(expiry_key(record.flush_at, EXPIRY_FAMILY, id), &[])?;
            i.user_families
                .insert(user_family_key(record.family.user_id, id), &[])?;
        }
        // Blacklist entries of tokens not loaded here.
        for entry in blacklisted {
            if seen_tokens.contains(entry.jti.as_str()) {
                continue;
            }
            let existing = record(&i.tokens, &entry.jti)?;
            let listed = Listed {
                reason: entry.reason,
                at: entry.blacklisted_at,
                successor: entry.successor.clone(),
            };
            let record = match existing {
                Some(record) => {
                    if record.listed.is_none() {
                        i.counts.blacklisted.fetch_add(1, Ordering::Relaxed);
                    }
                    TokenRecord {
                        listed: Some(listed),
                        ..record
                    }
                }
                None => {
                    i.counts.blacklisted.fetch_add(1, Ordering::Relaxed);
                    i.expiry
                        .insert(expiry_key(entry.expires_at, EXPIRY_LISTED, &entry.jti), &[])?;
                    TokenRecord::listed_alone(entry)
                }
            };
            i.tokens.insert(id_key(&entry.jti), record.encode())?;
        }
        Ok(())
    }
}

/// The use cases: each writing one does its transaction, then waits until it is durable.
impl SledStore {
    pub async fn revoke_user(
        &self,
        user_id: u64,
        why: Revocation,
        stamp_ms: u64,
        change: impl Fn(&mut User),
    ) -> Result<usize, StoreError> {
        let revoked = self.watch(self.revoke_user_tx(user_id, why, stamp_ms, change))?;
        self.durable().await?;
        Ok(revoked)
    }

    pub async fn record_login(
        &self,
        token: &Outstanding,
        last_login: Option<i64>,
        seen: Option<&Seen>,
    ) -> Result<(), StoreError> {
        self.watch(self.insert_token(token, last_login, seen))?;
        self.durable().await
    }

    pub async fn adopt(&self, token: &Outstanding) -> Result<(), StoreError> {
        self.watch(self.insert_token(token, None, None))?;
        self.durable().await
    }

    pub async fn revoke_session(&self, id: &str, now: u64) -> Result<Option<Family>, StoreError> {
        let Some(family) = self.family(id)? else {
            return Ok(None);
        };
        self.watch(self.revoke_family_tx(id, now, BlacklistReason::User))?;
        self.durable().await?;
        Ok(Some(family))
    }

    pub async fn rotate(
        &self,
        old: &Outstanding,
        new: &Outstanding,
        rule: RotateRule,
        now: u64,
        seen: Option<&Seen>,
    ) -> Result<Rotation, StoreError> {
        let (rotation, wrote) = self.watch(self.rotate_tx(old, new, rule, now, seen))?;
        // A refused rotation may still have adopted an unknown `old`.
        if wrote {
            self.durable().await?;
        }
        Ok(rotation)
    }

    pub async fn successor_in_grace(
        &self,
        jti: &str,
        now_ms: u64,
        interval_ms: u64,
    ) -> Result<Option<Outstanding>, StoreError> {
        let successor = self.watch(self.successor_tx(jti, now_ms, interval_ms))?;
        // The rotation that wrote it may not be durable yet (its own request is still
        // waiting for the flush): this answer waits for one too.
        if successor.is_some() {
            self.durable().await?;
        }
        Ok(successor)
    }

    pub async fn blacklist(
        &self,
        token: &Outstanding,
        reason: BlacklistReason,
        now: u64,
    ) -> Result<Blacklisting, StoreError> {
        let outcome = self.watch(self.blacklist_tx(token, reason, now))?;
        if outcome == Blacklisting::Done {
            self.durable().await?;
        }
        Ok(outcome)
    }

    pub async fn revoke_family_of(
        &self,
        jti: &str,
        now: u64,
    ) -> Result<Option<(Outstanding, usize)>, StoreError> {
        let Some(record) = self.outstanding(jti)? else {
            return Ok(None);
        };
        let revoked =
            self.watch(self.revoke_family_tx(&record.family, now, BlacklistReason::Reuse))?;
        self.durable().await?;
        Ok(Some((record, revoked)))
    }

    pub async fn flush_expired(&self, now: u64, leeway: u64) -> Result<Flushed, StoreError> {
        let now = now.max(self.clock_floor_ms() / 1000);
        self.raise_clock_floor(now.saturating_mul(1000)).await?;
        // Deleting walks the expired part of the store: off the async workers.
        let store = self.clone();
        let deleted = tokio::task::spawn_blocking(move || store.delete_expired(now, leeway))
            .await
            .map_err(|_| StoreError::Io("the flush of expired tokens stopped".into()))?;
        let flushed = self.watch(deleted)?;
        self.durable().await?;
        Ok(flushed)
    }
}
