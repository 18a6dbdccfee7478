//! The whole sled database read out for `tollgate store copy` ([`crate::store::copy`]).

use super::{format::decode, SledStore};
use crate::store::{copy::Dump, Blacklisted, Family, Outstanding, StoreError};

impl SledStore {
    /// Every user, token, blacklist entry, family and signing key, and the clock floor.
    pub fn dump(&self) -> Result<Dump, StoreError> {
        let i = &self.inner()?;
        let tokens = i
            .outstanding
            .iter()
            .map(|item| decode::<Outstanding>(&item?.1))
            .collect::<Result<_, _>>()?;
        let blacklist = i
            .blacklist
            .iter()
            .map(|item| decode::<Blacklisted>(&item?.1))
            .collect::<Result<_, _>>()?;
        let families = i
            .families
            .iter()
            .map(|item| {
                let (key, value) = item?;
                let id = String::from_utf8(key.to_vec())
                    .map_err(|_| StoreError::Decode("family id".into()))?;
                Ok((id, decode::<Family>(&value)?))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Dump {
            users: self.users()?,
            tokens,
            blacklist,
            families,
            keys: self.signing_keys()?,
            clock_floor_ms: self.clock_floor_ms(),
        })
    }
}
