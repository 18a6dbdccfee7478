//! The sled backend's token use cases: outstanding tokens, the blacklist, families,
//! revocations and the flush of expired records.

use std::{collections::BTreeMap, sync::atomic::Ordering};

use sled::Transactional;

use super::{
    format::{
        decode, encode, expiry_key, family_prefix, family_token_key, user_key, user_token_key,
        EXPIRY_FAMILY, EXPIRY_TOKEN,
    },
    tx::{get, insert_outstanding, tx_blacklisted, tx_decode, tx_stored},
    Delta, SledStore,
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
        let added = (
            &i.outstanding,
            &i.families,
            &i.user_tokens,
            &i.family_tokens,
            &i.expiry,
            &i.users,
        )
            .transaction(
                |(outstanding, families, user_tokens, family_tokens, expiry, users)| {
                    let added = insert_outstanding(
                        outstanding,
                        families,
                        user_tokens,
                        family_tokens,
                        expiry,
                        token,
                        seen,
                    )?;
                    let key = user_key(token.user_id);
                    // A user deleted since the password check: the token is recorded
                    // (and refused at its first refresh), no user is brought back.
                    if let (Some(at), Some(bytes)) = (last_login, users.get(key)?) {
                        let mut user: User = tx_decode(&bytes)?;
                        user.last_login = Some(at);
                        users.insert(&key, encode(&user))?;
                    }
                    Ok(added)
                },
            )?;
        i.counts.add(Delta {
            outstanding: added,
            blacklisted: 0,
        });
        Ok(())
    }

    /// The outstanding record of a jti.
    pub fn outstanding(&self, jti: &str) -> Result<Option<Outstanding>, StoreError> {
        self.watch(
            self.inner()
                .and_then(|i| get(&i.outstanding, jti.as_bytes())),
        )
    }

    /// The blacklist entry of a jti.
    pub fn blacklisted(&self, jti: &str) -> Result<Option<Blacklisted>, StoreError> {
        self.watch(self.inner().and_then(|i| get(&i.blacklist, jti.as_bytes())))
    }

    /// A presented token's blacklist entry, user and record: three reads (sled's pages
    /// are in memory).
    pub fn presented(&self, jti: &str, user_id: Option<u64>) -> Result<Stored, StoreError> {
        Ok(Stored {
            blacklisted: self.blacklisted(jti)?,
            user: user_id.map(|id| self.user(id)).transpose()?.flatten(),
            outstanding: self.outstanding(jti)?,
        })
    }

    /// A family record.
    pub fn family(&self, family: &str) -> Result<Option<Family>, StoreError> {
        self.watch(
            self.inner()
                .and_then(|i| get(&i.families, family.as_bytes())),
        )
    }

    /// Rotates `old` into `new` in one transaction: of any number of concurrent
    /// rotations of one token, exactly one gets [`Rotation::Done`]. `old` is recorded
    /// first if the store has never seen it (a migrated token). Also says whether
    /// anything was written (the rotation, or that record alone).
    pub(super) fn rotate_tx(
        &self,
        old: &Outstanding,
        new: &Outstanding,
        rule: RotateRule,
        now: u64,
        seen: Option<&Seen>,
    ) -> Result<(Rotation, bool), StoreError> {
        let i = &self.inner()?;
        let (rotation, delta) = (
            &i.outstanding,
            &i.blacklist,
            &i.families,
            &i.user_tokens,
            &i.family_tokens,
            &i.expiry,
            &i.users,
        )
            .transaction(
                |(outstanding, blacklist, families, user_tokens, family_tokens, expiry, users)| {
                    let mut delta = Delta::default();
                    let (known, stored) = tx_stored(outstanding, old)?;
                    // Read the user inside the transaction: a revocation (logout-all,
                    // password change, deactivation) stamps the user before it lists
                    // the user's tokens, so a rotation either commits before the stamp
                    // (and its token is listed) or sees the stamp here and stops.
                    let user: Option<User> = match users.get(user_key(known.user_id))? {
                        Some(bytes) => Some(tx_decode(&bytes)?),
                        None => None,
                    };
                    let active = user
                        .as_ref()
                        .is_some_and(|u| u.is_active || !rule.require_active);
                    if let Some(reason) = tx_blacklisted(blacklist, &old.jti)? {
                        // A rotated-out token's answer (the reuse interval) is its
                        // user's too: it needs an active user.
                        if reason == BlacklistReason::Rotated && !active {
                            return Ok((Rotation::NoActiveUser, delta));
                        }
                        return Ok((Rotation::AlreadyBlacklisted(reason), delta));
                    }
                    let Some(user) = user.filter(|_| active) else {
                        return Ok((Rotation::NoActiveUser, delta));
                    };
                    if user.refresh_revoked(known.created_at_ms) {
                        return Ok((Rotation::UserRevoked, delta));
                    }
                    if !stored {
                        delta.outstanding += insert_outstanding(
                            outstanding,
                            families,
                            user_tokens,
                            family_tokens,
                            expiry,
                            old,
                            None,
                        )?;
                    }
                    if let Some(family) = families.get(known.family.as_bytes())? {
                        if tx_decode::<Family>(&family)?.revoked_at.is_some() {
                            return Ok((Rotation::FamilyRevoked, delta));
                        }
                    }
                    if rule.blacklist_old {
                        let entry = Blacklisted {
                            jti: known.jti.clone(),
                            blacklisted_at: now,
                            reason: BlacklistReason::Rotated,
                            expires_at: known.expires_at,
                            successor: Some(new.jti.clone()),
                        };
                        let previous = blacklist.insert(known.jti.as_bytes(), encode(&entry))?;
                        delta.blacklisted += i64::from(previous.is_none());
                    }
                    let mut new = new.clone();
                    new.family = known.family.clone();
                    delta.outstanding += insert_outstanding(
                        outstanding,
                        families,
                        user_tokens,
                        family_tokens,
                        expiry,
                        &new,
                        seen,
                    )?;
                    Ok((Rotation::Done, delta))
                },
            )?;
        i.counts.add(delta);
        let wrote = rotation == Rotation::Done || delta.outstanding > 0;
        Ok((rotation, wrote))
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
        let found = (&i.blacklist, &i.outstanding, &i.families, &i.users).transaction(
            |(blacklist, outstanding, families, users)| {
                let Some(bytes) = blacklist.get(jti.as_bytes())? else {
                    return Ok(None);
                };
                let entry: Blacklisted = tx_decode(&bytes)?;
                let successor = match entry.successor {
                    Some(s) if entry.reason == BlacklistReason::Rotated => s,
                    _ => return Ok(None),
                };
                // Rotated, logged out or revoked since: the successor was used.
                if blacklist.get(successor.as_bytes())?.is_some() {
                    return Ok(None);
                }
                let Some(bytes) = outstanding.get(successor.as_bytes())? else {
                    return Ok(None);
                };
                let record: Outstanding = tx_decode(&bytes)?;
                if now_ms.saturating_sub(record.created_at_ms) >= interval_ms {
                    return Ok(None);
                }
                if let Some(bytes) = families.get(record.family.as_bytes())? {
                    if tx_decode::<Family>(&bytes)?.revoked_at.is_some() {
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
            },
        )?;
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
        let (outcome, delta) = (
            &i.outstanding,
            &i.blacklist,
            &i.families,
            &i.user_tokens,
            &i.family_tokens,
            &i.expiry,
        )
            .transaction(
                |(outstanding, blacklist, families, user_tokens, family_tokens, expiry)| {
                    let mut delta = Delta::default();
                    if let Some(reason) = tx_blacklisted(blacklist, &token.jti)? {
                        return Ok((Blacklisting::AlreadyBlacklisted(reason), delta));
                    }
                    let (known, stored) = tx_stored(outstanding, token)?;
                    if !stored {
                        delta.outstanding += insert_outstanding(
                            outstanding,
                            families,
                            user_tokens,
                            family_tokens,
                            expiry,
                            token,
                            None,
                        )?;
                    }
                    let entry = Blacklisted {
                        jti: token.jti.clone(),
                        blacklisted_at: now,
                        reason,
                        expires_at: known.expires_at,
                        successor: None,
                    };
                    let previous = blacklist.insert(token.jti.as_bytes(), encode(&entry))?;
                    delta.blacklisted += i64::from(previous.is_none());
                    Ok((Blacklisting::Done, delta))
                },
            )?;
        i.counts.add(delta);
        Ok(outcome)
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
        i.families.transaction(|families| {
            if let Some(bytes) = families.get(family.as_bytes())? {
                let mut record: Family = tx_decode(&bytes)?;
                if record.revoked_at.is_none() {
                    record.revoked_at = Some(now);
                    families.insert(family.as_bytes(), encode(&record))?;
                }
            }
            Ok(())
        })?;
        // Rotations commit before the mark (and are listed below) or see it and stop.
        let mut jtis = Vec::new();
        for item in i.family_tokens.scan_prefix(family_prefix(family)) {
            let (key, _) = item?;
            let jti = &key[1 + family.len()..];
            jtis.push(String::from_utf8_lossy(jti).into_owned());
        }
        self.blacklist_all(&jtis, reason, now)
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
        self.change_user(user_id, |user| {
            change(user);
            user.stamp_revocation(why, stamp);
        })?;
        let mut jtis = Vec::new();
        for item in self.inner()?.user_tokens.scan_prefix(user_id.to_be_bytes()) {
            let (key, _) = item?;
            jtis.push(String::from_utf8_lossy(&key[8..]).into_owned());
        }
        self.blacklist_all(&jtis, BlacklistReason::User, now)
    }

    pub(super) fn blacklist_all(
        &self,
        jtis: &[String],
        reason: BlacklistReason,
        now: u64,
    ) -> Result<usize, StoreError> {
        let i = &self.inner()?;
        let mut count = 0;
        for jti in jtis {
            let added =
                (&i.outstanding, &i.blacklist).transaction(|(outstanding, blacklist)| {
                    if blacklist.get(jti.as_bytes())?.is_some() {
                        return Ok(false);
                    }
                    let Some(bytes) = outstanding.get(jti.as_bytes())? else {
                        return Ok(false);
                    };
                    let record: Outstanding = tx_decode(&bytes)?;
                    let entry = Blacklisted {
                        jti: jti.clone(),
                        blacklisted_at: now,
                        reason,
                        expires_at: record.expires_at,
                        successor: None,
                    };
                    blacklist.insert(jti.as_bytes(), encode(&entry))?;
                    Ok(true)
                })?;
            count += usize::from(added);
        }
        i.counts.add(Delta {
            outstanding: 0,
            blacklisted: i64::try_from(count).unwrap_or(i64::MAX),
        });
        Ok(count)
    }

    /// The live sessions of a user (see [`crate::store::Store::sessions`]): the user's
    /// tokens walked once, grouped by family.
    pub fn sessions(&self, user_id: u64, now: u64) -> Result<Vec<Session>, StoreError> {
        let listed = self.list_sessions(user_id, now);
        self.watch(listed)
    }

    fn list_sessions(&self, user_id: u64, now: u64) -> Result<Vec<Session>, StoreError> {
        let i = &self.inner()?;
        let mut live = BTreeMap::new();
        for item in i.user_tokens.scan_prefix(user_id.to_be_bytes()) {
            let (key, _) = item?;
            let jti = &key[8..];
            let Some(record) = get::<Outstanding>(&i.outstanding, jti)? else {
                continue;
            };
            if record.expires_at <= now
                || live.contains_key(&record.family)
                || i.blacklist.contains_key(jti)?
            {
                continue;
            }
            live.insert(record.family, ());
        }
        let mut sessions = Vec::new();
        for id in live.into_keys() {
            match get::<Family>(&i.families, id.as_bytes())? {
                Some(family) if family.revoked_at.is_none() && family.user_id == user_id => {
                    sessions.push(Session { id, family });
                }
                _ => {}
            }
        }
        sessions.sort_by_key(|s| std::cmp::Reverse(s.family.created_at_ms));
        Ok(sessions)
    }

    /// Tokens of one user (or all), with their blacklist entries.
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
        let records: Vec<Outstanding> = match user_id {
            Some(id) => {
                let mut out = Vec::new();
                for item in i.user_tokens.scan_prefix(id.to_be_bytes()) {
                    let (key, _) = item?;
                    if let Some(bytes) = i.outstanding.get(&key[8..])? {
                        out.push(decode(&bytes)?);
                    }
                }
                out
            }
            None => i
                .outstanding
                .iter()
                .map(|item| decode(&item?.1))
                .collect::<Result<_, _>>()?,
        };
        records
            .into_iter()
            .map(|record| {
                let entry = self.blacklisted(&record.jti)?;
                Ok((record, entry))
            })
            .collect()
    }

    /// Deletes outstanding tokens, blacklist entries and families that expired at or
    /// before `now - leeway` (epoch seconds): such tokens can no longer verify, so
    /// forgetting them changes no answer. Forgetting is only safe if they stay expired
    /// whatever the clock does later, so the clock floor is first raised to `now`,
    /// durably: a clock stepped back afterwards cannot make a forgotten (say, logged
    /// out) token valid again. `now` is itself never before the floor.
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
            let id = String::from_utf8_lossy(&key[9.min(key.len())..]).into_owned();
            match kind {
                Some(EXPIRY_TOKEN) => {
                    if let Some(bytes) = i.outstanding.remove(id.as_bytes())? {
                        let record: Outstanding = decode(&bytes)?;
                        i.user_tokens.remove(user_token_key(record.user_id, &id))?;
                        i.family_tokens
                            .remove(family_token_key(&record.family, &id))?;
                        flushed.outstanding += 1;
                        i.counts.outstanding.fetch_sub(1, Ordering::Relaxed);
                    }
                    if i.blacklist.remove(id.as_bytes())?.is_some() {
                        flushed.blacklisted += 1;
                        i.counts.blacklisted.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                Some(EXPIRY_FAMILY) if i.families.remove(id.as_bytes())?.is_some() => {
                    flushed.families += 1;
                }
                _ => {}
            }
            i.expiry.remove(&key)?;
        }
        Ok(flushed)
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
        let mut families: BTreeMap<&str, Family> = BTreeMap::new();
        for token in tokens {
            if i.outstanding
                .insert(token.jti.as_bytes(), encode(token))?
                .is_none()
            {
                i.counts.outstanding.fetch_add(1, Ordering::Relaxed);
            }
            i.user_tokens
                .insert(user_token_key(token.user_id, &token.jti), &[])?;
            i.family_tokens
                .insert(family_token_key(&token.family, &token.jti), &[])?;
            i.expiry
                .insert(expiry_key(token.expires_at, EXPIRY_TOKEN, &token.jti), &[])?;
            let family = families.entry(&token.family).or_insert_with(|| Family {
                user_id: token.user_id,
                created_at_ms: token.created_at_ms,
                expires_at: token.expires_at,
                revoked_at: None,
                login: None,
                last_refresh: None,
            });
            family.created_at_ms = family.created_at_ms.min(token.created_at_ms);
            family.expires_at = family.expires_at.max(token.expires_at);
        }
        for (id, family) in &families {
            i.families.insert(id.as_bytes(), encode(family))?;
            i.expiry
                .insert(expiry_key(family.expires_at, EXPIRY_FAMILY, id), &[])?;
        }
        for entry in blacklisted {
            if i.blacklist
                .insert(entry.jti.as_bytes(), encode(entry))?
                .is_none()
            {
                i.counts.blacklisted.fetch_add(1, Ordering::Relaxed);
            }
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
