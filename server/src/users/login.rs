//! A login's credentials checked: throttles first, the password hash on the blocking
//! pool with bounded concurrency, then the user read again.

use std::{net::IpAddr, sync::Arc};

use tokio::sync::Semaphore;

use super::{
    password,
    throttle::{shared_check, Rate, Throttle},
    UsernameField,
};
use crate::{
    clock::Clock,
    store::{postgres::PgStore, Store, StoreError, User},
};

/// What a login check needs of the configuration.
#[derive(Debug, Clone)]
pub struct LoginSettings {
    pub username_field: UsernameField,
    pub pbkdf2_iterations: u32,
    /// Password hashes computed at once, at most.
    pub hash_concurrency: usize,
    pub throttle_username: Rate,
    pub throttle_ip: Rate,
    /// Inactive users cannot log in (Simple JWT's `CHECK_USER_IS_ACTIVE`).
    pub check_user_is_active: bool,
}

/// Why a login was refused.
#[derive(Debug)]
pub enum LoginDenied {
    /// Too many attempts for this username or address: wait this many seconds.
    Throttled(u64),
    /// Wrong credentials, unknown or inactive user.
    NoActiveAccount,
    /// The hashing pool is gone (shutting down).
    ShuttingDown,
    Store(StoreError),
}

impl From<StoreError> for LoginDenied {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// Checks logins; shared by every request.
pub struct Logins {
    settings: LoginSettings,
    store: Store,
    clock: Clock,
    hash_pool: Arc<Semaphore>,
    throttles: Throttles,
}

/// Where the login throttles keep their counts.
enum Throttles {
    /// In this process: one server owns its sled store.
    Local { user: Throttle, ip: Throttle },
    /// In the database: every replica counts every replica's attempts.
    Shared(PgStore),
}

impl std::fmt::Debug for Logins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logins").finish_non_exhaustive()
    }
}

impl Logins {
    pub fn new(settings: LoginSettings, store: Store, clock: Clock) -> Self {
        Self {
            hash_pool: Arc::new(Semaphore::new(settings.hash_concurrency)),
            throttles: match &store {
                Store::Sled(_) => Throttles::Local {
                    user: Throttle::new(settings.throttle_username, 100_000),
                    ip: Throttle::new(settings.throttle_ip, 100_000),
                },
                Store::Postgres(pg) => Throttles::Shared(pg.clone()),
            },
            settings,
            store,
            clock,
        }
    }

    /// The active user `login` names if `password` is theirs, and the instant (ms) the
    /// login counts from.
    ///
    /// Unknown users cost the same hashing work as a wrong password. A correct password
    /// stored with other parameters is re-hashed, as Django does on login. Hashing takes
    /// long (about 0.1 s per million iterations), so the user is read again afterwards: a
    /// password change or deactivation that committed meanwhile fails the login, and one
    /// that commits later is stamped after this instant, so it revokes these tokens.
    pub async fn check(
        &self,
        login: String,
        password: String,
        ip: IpAddr,
    ) -> Result<(User, u64), LoginDenied> {
        let now_ms = (self.clock)();
        let ip = ip.to_string();
        let [wait_user, wait_ip] = match &self.throttles {
            Throttles::Local { user, ip: by_ip } => [
                user.check(&login, now_ms).err(),
                by_ip.check(&ip, now_ms).err(),
            ],
            Throttles::Shared(store) => {
                let checks = [
                    shared_check("username", &login, self.settings.throttle_username),
                    shared_check("ip", &ip, self.settings.throttle_ip),
                ];
                store.throttle(checks, now_ms).await?
            }
        };
        if let Some(wait) = wait_user.max(wait_ip) {
            return Err(LoginDenied::Throttled(wait));
        }
        let (user, at) = self.check_credentials(login, password).await?;
        match user {
            Some(user) if user.is_active || !self.settings.check_user_is_active => Ok((user, at)),
            _ => Err(LoginDenied::NoActiveAccount),
        }
    }

    async fn check_credentials(
        &self,
        login: String,
        password: String,
    ) -> Result<(Option<User>, u64), LoginDenied> {
        let permit = Arc::clone(&self.hash_pool)
            .acquire_owned()
            .await
            .map_err(|_| LoginDenied::ShuttingDown)?;
        let user = match self.settings.username_field {
            UsernameField::Username => self.store.user_by_username(&login).await?,
            UsernameField::Email => self.store.user_by_email(&login).await?,
        };
        let iterations = self.settings.pbkdf2_iterations;
        let stored = user.as_ref().map(|u| u.password.clone());
        let (correct, replacement) = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let Some(stored) = stored else {
                password::dummy_check(&password, iterations);
                return (false, None);
            };
            let verdict = password::verify_password(&password, &stored, iterations);
            let replacement = (verdict.is_correct && verdict.must_update)
                .then(|| password::make_password(&password, iterations));
            (verdict.is_correct, replacement)
        })
        .await
        .map_err(|_| LoginDenied::ShuttingDown)?;
        let at = (self.clock)();
        let Some(user) = user.filter(|_| correct) else {
            return Ok((None, at));
        };
        let verified = user.password;
        let current = match &replacement {
            // Compare and set: only the hash that was verified is replaced.
            Some(new) => match self
                .store
                .update_user(user.id, |u| {
                    if u.password == verified {
                        u.password = new.clone();
                    }
                })
                .await
            {
                Ok(current) => current,
                // Deleted during the hash: as a wrong password (it used to be a 503).
                Err(StoreError::NoSuchUser(_)) => return Ok((None, at)),
                Err(err) => return Err(err.into()),
            },
            None => match self.store.user(user.id).await? {
                Some(current) => current,
                None => return Ok((None, at)),
            },
        };
        let unchanged = match &replacement {
            Some(new) => current.password == *new,
            None => current.password == verified,
        };
        Ok((unchanged.then_some(current), at))
    }
}
