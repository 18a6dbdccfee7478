//! Pieces of sled transactions shared by the store's use cases.

use serde::Deserialize;
use std::cell::RefCell;

use sled::{
    transaction::{ConflictableTransactionError, TransactionError, TransactionalTree},
    IVec, Tree,
};

use super::{
    format::decode,
    record::{
        chunk_key, expiry_key, id_key, user_family_key, FamilyRecord, IdKey, Listed, TokenRecord,
        EXPIRY_FAMILY,
    },
};
use crate::store::{Family, Outstanding, Seen, StoreError};

pub(super) type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

pub(super) fn tx_decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> TxResult<T> {
    decode(bytes).map_err(ConflictableTransactionError::Abort)
}

/// Any decoding error as a transaction's abort.
pub(super) fn tx<T>(result: Result<T, StoreError>) -> TxResult<T> {
    result.map_err(ConflictableTransactionError::Abort)
}

/// A decoded (JSON) record, if the key is there.
pub(super) fn get<T: for<'de> Deserialize<'de>>(
    tree: &Tree,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    tree.get(key)?.map(|bytes| decode(&bytes)).transpose()
}

/// A token's record (outstanding, blacklisted or both), if the store has one.
pub(super) fn record(tokens: &Tree, jti: &str) -> Result<Option<TokenRecord>, StoreError> {
    tokens
        .get(IdKey::new(jti))?
        .map(|bytes| TokenRecord::decode(jti, &bytes))
        .transpose()
}

/// Inside a transaction (or a staged change): a token's record.
pub(super) fn tx_record(tokens: &impl Kv, jti: &str) -> TxResult<Option<TokenRecord>> {
    match tokens.get(IdKey::new(jti).as_ref())? {
        Some(bytes) => Ok(Some(tx(TokenRecord::decode(jti, &bytes))?)),
        None => Ok(None),
    }
}

/// Inside a transaction: a family's record (with the time of its expiry entry and its
/// tokens).
pub(super) fn tx_family(families: &impl Kv, family: &str) -> TxResult<Option<FamilyRecord>> {
    match families.get(IdKey::new(family).as_ref())? {
        Some(bytes) => Ok(Some(tx(FamilyRecord::decode(&bytes))?)),
        None => Ok(None),
    }
}

pub(super) fn abort<T>(err: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(err))
}

/// The five trees of format 3 a token's recording writes: plain trees for the upgrade
/// (`Trees<'_, Tree>`), transactional or staged ones ([`Kv`]).
pub(super) struct Trees<'a, T> {
    pub tokens: &'a T,
    pub families: &'a T,
    pub user_families: &'a T,
    pub expiry: &'a T,
    pub chunks: &'a T,
}

impl<'a, T> Trees<'a, T> {
    pub fn of(
        tokens: &'a T,
        families: &'a T,
        user_families: &'a T,
        expiry: &'a T,
        chunks: &'a T,
    ) -> Self {
        Self {
            tokens,
            families,
            user_families,
            expiry,
            chunks,
        }
    }
}

/// What a use case's reads and writes go through: a sled transaction's tree, or a
/// [`Staged`] change of a plain tree.
pub(super) trait Kv {
    fn get(&self, key: &[u8]) -> TxResult<Option<IVec>>;
    fn insert(&self, key: impl AsRef<[u8]>, value: impl Into<IVec>) -> TxResult<()>;
}

impl Kv for TransactionalTree {
    fn get(&self, key: &[u8]) -> TxResult<Option<IVec>> {
        Ok(TransactionalTree::get(self, key)?)
    }
    fn insert(&self, key: impl AsRef<[u8]>, value: impl Into<IVec>) -> TxResult<()> {
        TransactionalTree::insert(self, key.as_ref(), value)?;
        Ok(())
    }
}

/// The writes of a [`Staged`] change, in the order the use case made them: (tree,
/// key, value).
#[derive(Default)]
pub(super) struct Writes<'a> {
    log: RefCell<Vec<(&'a Tree, IVec, IVec)>>,
}

impl<'a> Writes<'a> {
    /// A tree whose reads see these writes and whose writes join them.
    pub fn tree<'s>(&'s self, tree: &'a Tree) -> Staged<'s, 'a> {
        Staged { tree, writes: self }
    }

    /// Applies the writes to sled **last first**, one plain write each (no sled
    /// transaction: sled 0.34.7 seals and syncs its log twice for every transaction's
    /// commit, see [`super::tokens`]). A use case makes its deciding write first (a
    /// rotation: the old token blacklisted with its successor), so that write lands
    /// last: sled recovers a prefix of its log after a crash, and a prefix of these
    /// writes is then a state the use case allows (a successor recorded, the old
    /// token not yet rotated: it rotates again). A key written twice is written once,
    /// with its last value.
    pub fn apply(self) -> Result<(), StoreError> {
        for (tree, key, value) in self.in_apply_order() {
            tree.insert(key, value)?;
        }
        Ok(())
    }

    /// The writes as [`Writes::apply`] makes them: last first, each key once.
    pub fn in_apply_order(self) -> Vec<(&'a Tree, IVec, IVec)> {
        let mut log = self.log.into_inner();
        log.reverse();
        let mut ordered: Vec<(&'a Tree, IVec, IVec)> = Vec::with_capacity(log.len());
        for (tree, key, value) in log {
            if !ordered
                .iter()
                .any(|(t, k, _)| std::ptr::eq(*t, tree) && *k == key)
            {
                ordered.push((tree, key, value));
            }
        }
        ordered
    }
}

/// A plain tree seen through a change not yet applied ([`Writes`]): its reads see the
/// change's writes. Only ever used by one thread, under the store's lock of the user
/// whose records it changes ([`super::Inner::lock_user`]).
pub(super) struct Staged<'s, 'a> {
    tree: &'a Tree,
    writes: &'s Writes<'a>,
}

impl Kv for Staged<'_, '_> {
    fn get(&self, key: &[u8]) -> TxResult<Option<IVec>> {
        let log = self.writes.log.borrow();
        if let Some((_, _, value)) = log
            .iter()
            .rev()
            .find(|(t, k, _)| std::ptr::eq(*t, self.tree) && k.as_ref() == key)
        {
            return Ok(Some(value.clone()));
        }
        drop(log);
        self.tree
            .get(key)
            .map_err(ConflictableTransactionError::Storage)
    }
    fn insert(&self, key: impl AsRef<[u8]>, value: impl Into<IVec>) -> TxResult<()> {
        let entry = (self.tree, IVec::from(key.as_ref()), value.into());
        self.writes.log.borrow_mut().push(entry);
        Ok(())
    }
}

/// The trees a token's recording writes, inside a transaction or a staged change.
impl<K: Kv> Trees<'_, K> {
    /// Records an outstanding token (`listed`: blacklisted at once) in its family;
    /// creates the family (`seen` as the login) or extends it (`seen` as the last
    /// refresh). `existing` is the token's record if the caller read it (`None`: read
    /// here); a blacklist state it held is kept. `family`: the family's record if the
    /// caller read it. Returns 1 if the token was not outstanding before, else 0, and
    /// the family's record as written (for a second token recorded in the same
    /// transaction: no read and decode of it again).
    ///
    /// The expiry index holds one entry per family, at or before the earliest expiry
    /// of its tokens (`flush_at` in the family record): a token that expires later than
    /// that, the usual case, writes no index entry.
    pub fn insert_outstanding(
        &self,
        token: &Outstanding,
        seen: Option<&Seen>,
        listed: Option<Listed>,
        existing: Option<Option<TokenRecord>>,
        family: Option<Option<FamilyRecord>>,
    ) -> TxResult<(i64, FamilyRecord)> {
        let existing = match existing {
            Some(known) => known,
            None => tx_record(self.tokens, &token.jti)?,
        };
        let was_outstanding = existing.as_ref().is_some_and(|r| r.outstanding);
        let mut record = TokenRecord::new(token.clone());
        record.listed = listed.or_else(|| existing.and_then(|r| r.listed));
        self.tokens.insert(id_key(&token.jti), record.encode())?;
        let family = match family {
            Some(read) => read,
            None => tx_family(self.families, &token.family)?,
        };
        let mut record = match family {
            Some(mut record) => {
                let family = &mut record.family;
                family.expires_at = family.expires_at.max(token.expires_at);
                if token.expires_at < record.flush_at {
                    record.flush_at = token.expires_at;
                    self.expiry.insert(
                        expiry_key(record.flush_at, EXPIRY_FAMILY, &token.family),
                        &[],
                    )?;
                }
                if seen.is_some() {
                    family.last_refresh = seen.cloned();
                }
                if family.user_id != token.user_id {
                    self.user_families
                        .insert(user_family_key(token.user_id, &token.family), &[])?;
                }
                record
            }
            None => {
                self.expiry.insert(
                    expiry_key(token.expires_at, EXPIRY_FAMILY, &token.family),
                    &[],
                )?;
                self.user_families
                    .insert(user_family_key(token.user_id, &token.family), &[])?;
                let family = Family {
                    user_id: token.user_id,
                    created_at_ms: token.created_at_ms,
                    expires_at: token.expires_at,
                    revoked_at: None,
                    login: seen.cloned(),
                    last_refresh: None,
                };
                FamilyRecord::new(family, token.expires_at)
            }
        };
        if let Some((number, ids)) = record.add_member(&token.jti) {
            self.chunks.insert(chunk_key(&token.family, number), ids)?;
        }
        self.families
            .insert(id_key(&token.family), record.encode())?;
        Ok((i64::from(!was_outstanding), record))
    }
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(err: TransactionError<StoreError>) -> Self {
        match err {
            TransactionError::Abort(err) => err,
            TransactionError::Storage(err) => err.into(),
        }
    }
}
