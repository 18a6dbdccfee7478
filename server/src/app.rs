//! The server's shared state: configuration, store, clock and metrics, and the token
//! and login services built on them. Built once by `tollgate serve` (or a test) and
//! shared by every request.

use std::{sync::Arc, time::Duration};

use crate::{
    clock::{monotonic, Clock},
    config::Config,
    metrics::Metrics,
    store::Store,
    tokens::Tokens,
    users::{LoginSettings, Logins},
};

/// How long a connection may go without starting a request, counted from its accept or
/// its last answer (then it is closed: this covers a client stalled in its request line
/// or headers), and how long a client may take to send a body (then 408), unless
/// [`App::with_timeouts`] says otherwise.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything a request needs.
pub struct App {
    pub config: Arc<Config>,
    pub store: Store,
    pub metrics: Metrics,
    pub tokens: Tokens,
    pub logins: Logins,
    clock: Clock,
    /// `WWW-Authenticate`'s value: the first configured header type.
    pub realm: String,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Builds the application state. `clock` is the wall clock (or a test's); the app
    /// runs on [`monotonic`] of it.
    pub fn new(config: Config, store: Store, clock: Clock) -> Self {
        let clock = monotonic(clock, store.clone());
        let config = Arc::new(config);
        let realm = format!("{} realm=\"api\"", config.auth_header_types[0]);
        Self {
            tokens: Tokens::new(Arc::clone(&config), store.clone(), Arc::clone(&clock)),
            logins: Logins::new(login_settings(&config), store.clone(), Arc::clone(&clock)),
            metrics: Metrics::default(),
            realm,
            clock,
            config,
            store,
            idle_timeout: IDLE_TIMEOUT,
            body_timeout: BODY_TIMEOUT,
        }
    }

    /// Other limits for slow clients (tests use short ones).
    #[must_use]
    pub fn with_timeouts(mut self, idle: Duration, body: Duration) -> Self {
        self.idle_timeout = idle;
        self.body_timeout = body;
        self
    }

    /// The server's clock (Unix ms; see [`monotonic`]).
    pub fn now_ms(&self) -> u64 {
        (self.clock)()
    }

    /// The clock itself, for the admin commands run inside the server: their stamps
    /// then follow every time the server has used.
    pub fn clock(&self) -> Clock {
        Arc::clone(&self.clock)
    }
}

/// What the login check needs of the configuration.
fn login_settings(config: &Config) -> LoginSettings {
    LoginSettings {
        username_field: config.username_field,
        pbkdf2_iterations: config.pbkdf2_iterations,
        hash_concurrency: config.hash_concurrency,
        throttle_username: config.login_throttle_username,
        throttle_ip: config.login_throttle_ip,
        check_user_is_active: config.check_user_is_active,
    }
}
