//! Pieces of sled transactions shared by the store's use cases.

use serde::Deserialize;
use sled::{
    transaction::{ConflictableTransactionError, TransactionError, TransactionalTree},
    Tree,
};

use super::format::{
    decode, encode, expiry_key, family_token_key, user_token_key, EXPIRY_FAMILY, EXPIRY_TOKEN,
};
use crate::store::{BlacklistReason, Blacklisted, Family, Outstanding, Seen, StoreError};

pub(super) type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

pub(super) fn tx_decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> TxResult<T> {
    decode(bytes).map_err(ConflictableTransactionError::Abort)
}

/// A decoded record, if the key is there.
pub(super) fn get<T: for<'de> Deserialize<'de>>(
    tree: &Tree,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    tree.get(key)?.map(|bytes| decode(&bytes)).transpose()
}

/// Inside a transaction: why `jti` is blacklisted, if it is.
pub(super) fn tx_blacklisted(
    blacklist: &TransactionalTree,
    jti: &str,
) -> TxResult<Option<BlacklistReason>> {
    match blacklist.get(jti.as_bytes())? {
        Some(bytes) => Ok(Some(tx_decode::<Blacklisted>(&bytes)?.reason)),
        None => Ok(None),
    }
}

/// Inside a transaction: the stored record of `token`, or `token` itself and `false`
/// when the store has never seen it (a migrated token, to be recorded).
pub(super) fn tx_stored(
    outstanding: &TransactionalTree,
    token: &Outstanding,
) -> TxResult<(Outstanding, bool)> {
    match outstanding.get(token.jti.as_bytes())? {
        Some(bytes) => Ok((tx_decode(&bytes)?, true)),
        None => Ok((token.clone(), false)),
    }
}

pub(super) fn abort<T>(err: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(err))
}

/// Inserts an outstanding record with its indexes; creates its family (`seen` as the
/// login) or extends it (`seen` as the last refresh). Returns 1 if the record is new,
/// else 0 (for [`Counters`]).
pub(super) fn insert_outstanding(
    outstanding: &TransactionalTree,
    families: &TransactionalTree,
    user_tokens: &TransactionalTree,
    family_tokens: &TransactionalTree,
    expiry: &TransactionalTree,
    token: &Outstanding,
    seen: Option<&Seen>,
) -> TxResult<i64> {
    let previous = outstanding.insert(token.jti.as_bytes(), encode(token))?;
    user_tokens.insert(user_token_key(token.user_id, &token.jti), &[])?;
    family_tokens.insert(family_token_key(&token.family, &token.jti), &[])?;
    expiry.insert(expiry_key(token.expires_at, EXPIRY_TOKEN, &token.jti), &[])?;
    let family = match families.get(token.family.as_bytes())? {
        Some(bytes) => {
            let mut family: Family = tx_decode(&bytes)?;
            if token.expires_at > family.expires_at {
                expiry.remove(expiry_key(family.expires_at, EXPIRY_FAMILY, &token.family))?;
                family.expires_at = token.expires_at;
            }
            if seen.is_some() {
                family.last_refresh = seen.cloned();
            }
            family
        }
        None => Family {
            user_id: token.user_id,
            created_at_ms: token.created_at_ms,
            expires_at: token.expires_at,
            revoked_at: None,
            login: seen.cloned(),
            last_refresh: None,
        },
    };
    expiry.insert(
        expiry_key(family.expires_at, EXPIRY_FAMILY, &token.family),
        &[],
    )?;
    families.insert(token.family.as_bytes(), encode(&family))?;
    Ok(i64::from(previous.is_none()))
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(err: TransactionError<StoreError>) -> Self {
        match err {
            TransactionError::Abort(err) => err,
            TransactionError::Storage(err) => err.into(),
        }
    }
}
