//! The whole sled database read out for `tollgate store copy` ([`crate::store::copy`]).

use super::{
    record::{FamilyRecord, Reader},
    SledStore,
};
use crate::store::{copy::Dump, StoreError};

impl SledStore {
    /// Every user, token, blacklist entry, family and signing key, and the clock floor.
    pub fn dump(&self) -> Result<Dump, StoreError> {
        let i = &self.inner()?;
        let mut records = self.all_records(i)?;
        records.sort_by(|a, b| a.token.jti.cmp(&b.token.jti));
        let blacklist = records.iter().filter_map(|r| r.blacklisted()).collect();
        let tokens = records
            .into_iter()
            .filter_map(|r| r.outstanding())
            .collect();
        let mut families: Vec<_> = i
            .families
            .iter()
            .map(|item| {
                let (key, value) = item?;
                let id = Reader::new(&key).id()?;
                Ok((id, FamilyRecord::decode(&value)?.family))
            })
            .collect::<Result<_, StoreError>>()?;
        families.sort_by(|a, b| a.0.cmp(&b.0));
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
