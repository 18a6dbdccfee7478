//! The sled backend's user use cases: users and their username and email indexes.

use std::sync::{atomic::Ordering, Arc};

use sled::{Transactional, Tree};

use super::{
    format::{decode, encode, user_key},
    tx::{abort, get, tx_decode},
    Decoded, Inner, SledStore, DECODED_USERS,
};
use crate::store::{StoreError, User};

impl SledStore {
    /// Adds a user; `id` 0 means "next free id". Usernames (and non-empty emails when
    /// `unique_email`) must be unique.
    pub(super) fn insert_user(
        &self,
        mut user: User,
        unique_email: bool,
    ) -> Result<User, StoreError> {
        let i = &self.inner()?;
        if user.id == 0 {
            let last = i.users.last()?.map(|(k, _)| k);
            let max = last
                .and_then(|k| <[u8; 8]>::try_from(k.as_ref()).ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            user.id = max + 1;
        }
        let record = encode(&user);
        (&i.users, &i.usernames, &i.emails).transaction(|(users, usernames, emails)| {
            if users.get(user_key(user.id))?.is_some() {
                return abort(StoreError::Duplicate("id", user.id.to_string()));
            }
            if usernames.get(user.username.as_bytes())?.is_some() {
                return abort(StoreError::Duplicate("username", user.username.clone()));
            }
            if !user.email.is_empty() {
                if unique_email && emails.get(user.email.as_bytes())?.is_some() {
                    return abort(StoreError::Duplicate("email", user.email.clone()));
                }
                emails.insert(user.email.as_bytes(), &user_key(user.id))?;
            }
            users.insert(&user_key(user.id), record.as_slice())?;
            usernames.insert(user.username.as_bytes(), &user_key(user.id))?;
            Ok(())
        })?;
        i.counts.users.fetch_add(1, Ordering::Relaxed);
        Ok(user)
    }

    /// A user by id.
    pub fn user(&self, id: u64) -> Result<Option<User>, StoreError> {
        self.watch(self.inner().and_then(|i| get(&i.users, &user_key(id))))
    }

    /// [`SledStore::user`] for authenticating a request. The record is read from the
    /// database every time (it is the truth: a password change or deactivation counts
    /// from the moment it commits), but decoding it is skipped when its bytes are the
    /// ones decoded last time for this user.
    pub fn user_shared(&self, id: u64) -> Result<Option<Arc<User>>, StoreError> {
        let read = |i: Arc<super::Inner>| Ok(i.users.get(user_key(id))?);
        let stored = self.watch(self.inner().and_then(read))?;
        let Some(bytes) = stored else {
            // Gone: nothing of it (its password hash included) stays in memory.
            self.decoded_users().remove(&id);
            return Ok(None);
        };
        self.decoded_user(id, &bytes).map(Some)
    }

    fn decoded_users(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<u64, Decoded<User>>> {
        self.slot
            .decoded_users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The user stored as `bytes`, decoded, or shared from the last decoding of the
    /// same bytes (see [`SledStore::user_shared`]; a rotation reads its user too).
    pub(super) fn decoded_user(&self, id: u64, bytes: &[u8]) -> Result<Arc<User>, StoreError> {
        if let Some(known) = self.decoded_users().get(&id).filter(|d| *d.bytes == *bytes) {
            return Ok(Arc::clone(&known.value));
        }
        let value = Arc::new(decode::<User>(bytes)?);
        let mut decoded = self.decoded_users();
        if decoded.len() >= DECODED_USERS && !decoded.contains_key(&id) {
            // Full: one entry makes room (any one: the map's order is arbitrary).
            if let Some(other) = decoded.keys().next().copied() {
                decoded.remove(&other);
            }
        }
        decoded.insert(
            id,
            Decoded {
                bytes: bytes.to_vec().into_boxed_slice(),
                value: Arc::clone(&value),
            },
        );
        Ok(value)
    }

    /// A user by username, exactly as stored (case-sensitive, as Django's default).
    pub fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.user_by_index(&self.inner()?.usernames, username)
    }

    /// A user by email (for `username_field = "email"`).
    pub fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.user_by_index(&self.inner()?.emails, email)
    }

    pub(super) fn user_by_index(
        &self,
        index: &Tree,
        value: &str,
    ) -> Result<Option<User>, StoreError> {
        let Some(id) = self.watch(index.get(value.as_bytes()).map_err(StoreError::from))? else {
            return Ok(None);
        };
        let id = <[u8; 8]>::try_from(id.as_ref())
            .map(u64::from_be_bytes)
            .map_err(|_| StoreError::Decode("user index".into()))?;
        self.user(id)
    }

    /// Every user, by id.
    pub fn users(&self) -> Result<Vec<User>, StoreError> {
        let read = |i: Arc<super::Inner>| i.users.iter().map(|item| decode(&item?.1)).collect();
        self.watch(self.inner().and_then(read))
    }

    /// Changes a user atomically. Username and email changes keep the indexes right.
    pub(super) fn change_user(
        &self,
        id: u64,
        change: impl Fn(&mut User),
    ) -> Result<User, StoreError> {
        let i = &self.inner()?;
        let _locked = i.lock_user(id);
        Self::change_user_locked(i, id, change)
    }

    /// [`SledStore::change_user`] with the user's lock held.
    pub(super) fn change_user_locked(
        i: &Inner,
        id: u64,
        change: impl Fn(&mut User),
    ) -> Result<User, StoreError> {
        let updated =
            (&i.users, &i.usernames, &i.emails).transaction(|(users, usernames, emails)| {
                let Some(bytes) = users.get(user_key(id))? else {
                    return abort(StoreError::NoSuchUser(id.to_string()));
                };
                let old: User = tx_decode(&bytes)?;
                let mut user = old.clone();
                change(&mut user);
                user.id = id;
                if user.username != old.username {
                    if usernames.get(user.username.as_bytes())?.is_some() {
                        return abort(StoreError::Duplicate("username", user.username.clone()));
                    }
                    usernames.remove(old.username.as_bytes())?;
                    usernames.insert(user.username.as_bytes(), &user_key(id))?;
                }
                if user.email != old.email {
                    emails.remove(old.email.as_bytes())?;
                    if !user.email.is_empty() {
                        emails.insert(user.email.as_bytes(), &user_key(id))?;
                    }
                }
                users.insert(&user_key(id), encode(&user))?;
                Ok(user)
            })?;
        Ok(updated)
    }
}

/// The use cases: each writing one does its transaction, then waits until it is durable.
impl SledStore {
    pub async fn add_user(&self, user: User, unique_email: bool) -> Result<User, StoreError> {
        let user = self.watch(self.insert_user(user, unique_email))?;
        self.durable().await?;
        Ok(user)
    }

    pub async fn import_users(
        &self,
        users: Vec<User>,
        unique_email: bool,
    ) -> Result<usize, StoreError> {
        // All or nothing: refused before writing if any user already exists.
        for user in &users {
            if self.user(user.id)?.is_some() {
                return Err(StoreError::Duplicate("id", user.id.to_string()));
            }
            if self.user_by_username(&user.username)?.is_some() {
                return Err(StoreError::Duplicate("username", user.username.clone()));
            }
        }
        let mut added = 0;
        for user in users {
            self.watch(self.insert_user(user, unique_email))?;
            added += 1;
        }
        self.durable().await?;
        Ok(added)
    }

    pub async fn update_user(
        &self,
        id: u64,
        change: impl Fn(&mut User),
    ) -> Result<User, StoreError> {
        let user = self.watch(self.change_user(id, change))?;
        self.durable().await?;
        Ok(user)
    }
}
