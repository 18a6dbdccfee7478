//! A refresh's rotation on sled: not a sled transaction (sled 0.34.7 seals and syncs its
//! log twice for every transaction's commit), but the user's lock and staged writes
//! applied deciding write last ([`super::tx::Writes`]).

use sled::transaction::ConflictableTransactionError;

use super::{
    format::user_key,
    record::{id_key, Listed, TokenRecord},
    tx::{tx, tx_family, tx_record, Kv, Trees, TxResult, Writes},
    Delta, Inner, SledStore,
};
use crate::store::{BlacklistReason, Outstanding, RotateRule, Rotation, Seen, StoreError};

/// A rotation's inputs: the old token, the new one, the rule, now, the client seen.
pub(super) type RotateArgs<'t> = (
    &'t Outstanding,
    &'t Outstanding,
    RotateRule,
    u64,
    Option<&'t Seen>,
);

impl SledStore {
    /// Rotates `old` into `new` under the user's lock: of any number of concurrent
    /// rotations of one token, exactly one gets [`Rotation::Done`]. `old` is recorded
    /// first if the store has never seen it (a migrated token). Also says whether
    /// anything was written (the rotation, or that record alone).
    ///
    /// Reads the old token's record (its blacklist state with it), its user and its
    /// family; writes the old record (blacklisted), the new one and the family (which
    /// lists its tokens): three writes in two trees (format 2: four in four, format 1:
    /// nine in seven).
    pub(super) fn rotate_tx(
        &self,
        old: &Outstanding,
        new: &Outstanding,
        rule: RotateRule,
        now: u64,
        seen: Option<&Seen>,
    ) -> Result<(Rotation, bool), StoreError> {
        let i = &self.inner()?;
        // Not a sled transaction: sled 0.34.7's commit of a transaction (`pin_log`)
        // seals its log buffer before and after the transaction's reservation, two
        // writes and `sync_file_range`s on sled's thread pool per commit whatever group
        // commit does (BENCHMARKS.md, issue #19 item 1, fourth round). The user's lock
        // excludes every other change of the user's records, as the transaction did,
        // and the writes land deciding write last (see `tx::Writes`).
        let _locked = i.lock_user(old.user_id);
        let writes = Writes::default();
        let (rotation, delta) = self.rotate_staged(i, &writes, (old, new, rule, now, seen))?;
        writes.apply()?;
        i.counts.add(delta);
        let wrote = rotation == Rotation::Done || delta.outstanding > 0;
        Ok((rotation, wrote))
    }

    /// [`SledStore::rotate_tx`]'s reads, its writes staged in `writes` (not applied).
    pub(super) fn rotate_staged<'a>(
        &self,
        i: &'a Inner,
        writes: &Writes<'a>,
        args: RotateArgs<'_>,
    ) -> Result<(Rotation, Delta), StoreError> {
        let (tokens, families, user_families, expiry, chunks) = (
            writes.tree(&i.tokens),
            writes.tree(&i.families),
            writes.tree(&i.user_families),
            writes.tree(&i.expiry),
            writes.tree(&i.family_chunks),
        );
        let trees = Trees::of(&tokens, &families, &user_families, &expiry, &chunks);
        self.rotate_body(&trees, &writes.tree(&i.users), args)
            .map_err(|err| match err {
                ConflictableTransactionError::Abort(err) => err,
                ConflictableTransactionError::Storage(err) => err.into(),
                // Only sled's transactions conflict.
                _ => StoreError::Io("a staged change reported a conflict".into()),
            })
    }

    /// A rotation's reads and writes, through [`Kv`] trees.
    fn rotate_body<K: Kv>(
        &self,
        trees: &Trees<'_, K>,
        users: &K,
        (old, new, rule, now, seen): RotateArgs<'_>,
    ) -> TxResult<(Rotation, Delta)> {
        let (tokens, families) = (trees.tokens, trees.families);
        let mut delta = Delta::default();
        let existing = tx_record(tokens, &old.jti)?;
        let stored = existing.as_ref().filter(|r| r.outstanding);
        let known = stored.map_or(old, |r| &r.token);
        // Read the user under the user's lock: a revocation (logout-all,
        // password change, deactivation) stamps the user before it lists
        // the user's tokens, so a rotation either commits before the stamp
        // (and its token is listed) or sees the stamp here and stops.
        let user = match users.get(&user_key(known.user_id))? {
            Some(bytes) => Some(tx(self.decoded_user(known.user_id, &bytes))?),
            None => None,
        };
        let active = user
            .as_ref()
            .is_some_and(|u| u.is_active || !rule.require_active);
        if let Some(listed) = existing.as_ref().and_then(|r| r.listed.as_ref()) {
            // A rotated-out token's answer (the reuse interval) is its
            // user's too: it needs an active user.
            if listed.reason == BlacklistReason::Rotated && !active {
                return Ok((Rotation::NoActiveUser, delta));
            }
            return Ok((Rotation::AlreadyBlacklisted(listed.reason), delta));
        }
        let Some(user) = user.filter(|_| active) else {
            return Ok((Rotation::NoActiveUser, delta));
        };
        if user.refresh_revoked(known.created_at_ms) {
            return Ok((Rotation::UserRevoked, delta));
        }
        let known = known.clone();
        let was_stored = stored.is_some();
        let listed = rule.blacklist_old.then(|| Listed {
            reason: BlacklistReason::Rotated,
            at: now,
            successor: Some(new.jti.clone()),
        });
        let family = tx_family(families, &known.family)?;
        if family
            .as_ref()
            .is_some_and(|r| r.family.revoked_at.is_some())
        {
            if !was_stored {
                delta.outstanding += trees
                    .insert_outstanding(old, None, None, Some(existing), Some(family))?
                    .0;
            }
            return Ok((Rotation::FamilyRevoked, delta));
        }
        // The family as the new token's recording finds it: as read above,
        // or as recording `old` here just wrote it.
        let family = if was_stored {
            if let Some(listed) = listed {
                let record = TokenRecord {
                    outstanding: true,
                    token: known.clone(),
                    listed: Some(listed),
                };
                tokens.insert(id_key(&known.jti), record.encode())?;
                delta.blacklisted += 1;
            }
            family
        } else {
            let blacklisted = listed.is_some();
            let (added, written) =
                trees.insert_outstanding(old, None, listed, Some(existing), Some(family))?;
            delta.outstanding += added;
            delta.blacklisted += i64::from(blacklisted);
            Some(written)
        };
        let mut new = new.clone();
        new.family = known.family;
        delta.outstanding += trees
            .insert_outstanding(&new, seen, None, Some(None), Some(family))?
            .0;
        Ok((Rotation::Done, delta))
    }
}
