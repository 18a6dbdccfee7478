//! The PostgreSQL backend (issue #15): the store in one database that any number of
//! `tollgate serve` processes (replicas) share.
//!
//! Every writing use case is one transaction (a rotation: one statement, the function
//! `tollgate_rotate` of `rotate.sql`), committed with `synchronous_commit = on` (checked
//! at open) before it returns, so a caller may acknowledge it. Races between replicas
//! are settled by the database: row locks (`FOR UPDATE` on the token being rotated and
//! its family, `FOR SHARE` on its user, so a revocation in progress is waited for and
//! then seen), `ON CONFLICT DO NOTHING` for "exactly one", and advisory locks for the
//! user table's uniqueness rules and the expired-token flush. No revocation state is
//! cached: every request reads what is committed, within [`CALL_LIMIT`]. The schema
//! (`schema.sql`, `rotate.sql`, `throttle.sql`, `keys.sql`; tables prefixed `tollgate_`) is applied
//! at open under an advisory lock, once ([`migrate`]); the connection is made as the
//! URL's `sslmode` says ([`connect`]), on sockets that count round trips ([`sockets`]).

mod audit;
mod connect;
mod copy;
mod django;
mod keys;
mod migrate;
mod sockets;
mod throttle;
mod tokens;
mod users;

pub use connect::{one_line, DatabaseUrl, Verify};
pub use throttle::ThrottleCheck;
pub use tokens::FLUSH_LOCK;

use std::{
    fmt,
    sync::{
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;

use crate::store::{Counts, Health, StoreError};

/// The advisory lock key of the user table's uniqueness checks (per transaction).
const USERS_LOCK: i64 = 0x746f_6c6c_7573_6572;

/// Every connection's session settings: commits wait for the WAL flush, and no
/// statement, lock wait or idle transaction can hold the database for long. The URL's
/// own `options` come after them (and win: a `synchronous_commit` turned off there is
/// refused at open, as one set on the server is).
const SESSION_OPTIONS: &str = "-c synchronous_commit=on -c statement_timeout=10000 \
     -c lock_timeout=5000 -c idle_in_transaction_session_timeout=30000";

/// The longest a use case on the request path waits for the database: beyond the
/// database's own statement (10 s) and lock-wait (5 s) timeouts, so that it only ends
/// waits on a database that does not answer at all.
pub const CALL_LIMIT: Duration = Duration::from_secs(12);

/// The PostgreSQL store: a pool of connections (cheap to clone).
#[derive(Clone)]
pub struct PgStore {
    shared: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    /// See [`crate::store::Store::clock_floor_ms`]: the database's value as last read or
    /// raised here (read on every request, so kept in memory; refreshed by `supervise`).
    clock_floor_ms: AtomicU64,
    /// `[users, outstanding, blacklisted]`: this replica's writes as they commit, and every
    /// replica's as `supervise` recounts them every 30 s (no walk per scrape).
    counts: [AtomicI64; 3],
    /// The last call failed to reach the database.
    unreachable: AtomicBool,
    /// Round trips to the database by the pool's connections (see [`sockets`]).
    trips: Arc<AtomicU64>,
    /// Beside a Django site (`django_schema`): see [`django`].
    django: bool,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: never shown.
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

/// A database error as the store's: unreachable or refused (503 to clients).
pub(super) fn db_error(err: tokio_postgres::Error) -> StoreError {
    match err.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => {
            StoreError::Duplicate("key", err.to_string())
        }
        // "error connecting to server" alone does not say why: the causes too.
        _ => StoreError::Io(format!("database: {}", one_line(&err))),
    }
}

fn pool_error(err: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Io(format!("database connection: {}", one_line(&err)))
}

/// `sql` prepared on `client`'s connection once (deadpool's statement cache): every later
/// use is one round trip, where an unprepared statement costs three (prepare, execute,
/// close).
pub(super) async fn prepared<C: GenericClient>(
    client: &C,
    sql: &str,
) -> Result<tokio_postgres::Statement, StoreError> {
    client.prepare_cached(sql).await.map_err(db_error)
}

/// A `u64` as PostgreSQL's `bigint` (every value tollgate stores fits: ids, Unix
/// seconds and milliseconds).
pub(super) fn big(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A `bigint` read back (never negative as written).
pub(super) fn unbig(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl PgStore {
    /// Connects to the database at `url`, applies the schema migrations it lacks (under
    /// an advisory lock: replicas starting together apply them once), checks that
    /// commits are synchronous, and reads the clock floor. Connections of the pool are
    /// opened on demand afterwards.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, false)
    }

    /// [`PgStore::open`] beside a Django site: the database must hold Django's `auth` and
    /// `token_blacklist` tables (checked first), which then keep users and tokens too.
    pub fn open_django(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, true)
    }

    fn open_with(url: &str, django: bool) -> Result<Self, StoreError> {
        let url = database_url(url)?;
        let tls = url.connector().map_err(StoreError::Connect)?;
        let setup = with_connection(&url, &tls, async move |client| {
            require_synchronous(client).await?;
            if django {
                django::check_django_tables(client).await?;
            }
            migrate::migrate(client).await?;
            if django {
                django::migrate(client).await?;
            } else {
                django::refuse_django_database(client).await?;
            }
            let (clock_floor_ms, counts) = read_state(client).await?;
            Ok(Setup {
                clock_floor_ms,
                counts,
            })
        })?;
        let trips = Arc::new(AtomicU64::new(0));
        let connect = sockets::CountingConnect {
            tls,
            trips: trips.clone(),
        };
        let manager = Manager::from_connect(
            url.config,
            connect,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let size = std::thread::available_parallelism().map_or(4, |n| n.get() * 4);
        let pool = Pool::builder(manager)
            .max_size(size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| StoreError::Io(format!("database pool: {e}")))?;
        let store = Self {
            shared: Arc::new(Shared {
                pool,
                clock_floor_ms: AtomicU64::new(setup.clock_floor_ms),
                counts: setup.counts.map(|n| AtomicI64::new(big(n))),
                unreachable: AtomicBool::new(false),
                trips,
                django,
            }),
        };
        Ok(store)
    }

    /// Whether the store is beside a Django site (its SQL differs in a few places).
    pub(super) fn django(&self) -> bool {
        self.shared.django
    }

    /// A connection of the pool; a failure marks the store unreachable.
    pub(super) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        let client = self.shared.pool.get().await.map_err(pool_error);
        self.watch(client)
    }

    /// `call`, a use case on the request path, given at most [`CALL_LIMIT`]: a database
    /// that stops answering without closing its connections (a frozen host, a network
    /// that drops packets) gets a 503 after that, never a request that waits for ever.
    pub async fn bounded<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let answer = tokio::time::timeout(CALL_LIMIT, call).await;
        self.watch(answer.unwrap_or_else(|_| {
            Err(StoreError::Io(format!(
                "the database did not answer within {} s",
                CALL_LIMIT.as_secs()
            )))
        }))
    }

    /// Notes whether a call reached the database.
    pub(super) fn watch<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        match &result {
            Err(StoreError::Io(_)) => self.shared.unreachable.store(true, Ordering::Relaxed),
            _ => self.shared.unreachable.store(false, Ordering::Relaxed),
        }
        result
    }

    pub fn health(&self) -> Health {
        if self.shared.unreachable.load(Ordering::Relaxed) {
            Health::Unreachable
        } else {
            Health::Ready
        }
    }

    /// Every second: whether the database answers and its clock floor; every 30 s the
    /// record counts of every replica's writes (a count walks the tables: with a
    /// million tokens, tens of milliseconds of the database's CPU), this replica's own
    /// writes being counted as they commit meanwhile.
    pub async fn supervise(self) {
        const RECOUNT_EVERY: u32 = 30;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        for n in 0u32.. {
            tick.tick().await;
            let recount = n % RECOUNT_EVERY == RECOUNT_EVERY - 1;
            let read = self.read_state(recount).await;
            if let Ok((floor, counts)) = self.watch(read) {
                self.shared
                    .clock_floor_ms
                    .fetch_max(floor, Ordering::SeqCst);
                for (slot, count) in self.shared.counts.iter().zip(counts.into_iter().flatten()) {
                    slot.store(big(count), Ordering::Relaxed);
                }
            }
        }
    }

    /// The clock floor, and the record counts when `count`.
    async fn read_state(&self, count: bool) -> Result<(u64, Option<[u64; 3]>), StoreError> {
        let client = self.client().await?;
        if count {
            let (floor, counts) = read_state(&client).await?;
            return Ok((floor, Some(counts)));
        }
        let row = client
            .query_one(
                &prepared(
                    &client,
                    "SELECT value FROM tollgate_meta WHERE key = 'clock_floor_ms'",
                )
                .await?,
                &[],
            )
            .await
            .map_err(db_error)?;
        Ok((unbig(row.get(0)), None))
    }

    /// Every write is committed when its use case returns: nothing to flush.
    pub async fn flush_all(&self) -> Result<(), StoreError> {
        Ok(())
    }

    pub fn clock_floor_ms(&self) -> u64 {
        self.shared.clock_floor_ms.load(Ordering::SeqCst)
    }

    pub async fn raise_clock_floor(&self, ms: u64) -> Result<(), StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                &prepared(
                    &client,
                    "UPDATE tollgate_meta SET value = GREATEST(value, $1) \
                 WHERE key = 'clock_floor_ms' RETURNING value",
                )
                .await?,
                &[&big(ms)],
            )
            .await
            .map_err(db_error);
        let floor = unbig(self.watch(row)?.get(0));
        self.shared
            .clock_floor_ms
            .fetch_max(floor, Ordering::SeqCst);
        Ok(())
    }

    /// Counts this replica's committed writes: `[users, outstanding, blacklisted]`.
    pub(super) fn count(&self, delta: [i64; 3]) {
        for (slot, d) in self.shared.counts.iter().zip(delta) {
            slot.fetch_add(d, Ordering::Relaxed);
        }
    }

    /// Round trips to the database so far, by this process's pool (see [`sockets`]).
    pub fn round_trips(&self) -> u64 {
        self.shared.trips.load(Ordering::Relaxed)
    }

    pub fn counts(&self) -> Counts {
        let [users, outstanding, blacklisted] = self
            .shared
            .counts
            .each_ref()
            .map(|c| c.load(Ordering::Relaxed));
        let size = |n: i64| usize::try_from(n).unwrap_or(0);
        Counts {
            users: size(users),
            outstanding: size(outstanding),
            blacklisted: size(blacklisted),
        }
    }
}

/// What opening reads.
struct Setup {
    clock_floor_ms: u64,
    counts: [u64; 3],
}

/// The URL parsed, with tollgate's session options before its own.
fn database_url(url: &str) -> Result<DatabaseUrl, StoreError> {
    let mut url = DatabaseUrl::parse(url).map_err(StoreError::Connect)?;
    let options = match url.config.get_options() {
        Some(own) => format!("{SESSION_OPTIONS} {own}"),
        None => SESSION_OPTIONS.to_string(),
    };
    url.config.options(&options);
    url.config.connect_timeout(Duration::from_secs(5));
    // Which process a session belongs to, in pg_stat_activity (the URL may name its own).
    if url.config.get_application_name().is_none() {
        url.config
            .application_name(format!("tollgate {}", std::process::id()));
    }
    // A database host that vanishes (a crash, a partition) closes its connections
    // within about 30 s rather than TCP's minutes: unanswered data for 20 s, or an idle
    // connection whose keepalive probes go unanswered.
    if url.config.get_tcp_user_timeout().is_none() {
        url.config.tcp_user_timeout(Duration::from_secs(20));
    }
    url.config.keepalives_idle(Duration::from_secs(15));
    url.config.keepalives_interval(Duration::from_secs(5));
    url.config.keepalives_retries(3);
    Ok(url)
}

/// Runs `work` on one connection to `url` (not from a pool), on a thread with a runtime
/// of its own: opening may be called inside the server's runtime (or a test's), where
/// blocking is not allowed. Its failures name the database.
fn with_connection<T: Send + 'static>(
    url: &DatabaseUrl,
    tls: &tokio_postgres_rustls::MakeRustlsConnect,
    work: impl AsyncFnOnce(&mut tokio_postgres::Client) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let (url, tls) = (url.clone(), tls.clone());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Io(e.to_string()))?;
        runtime.block_on(async {
            let (mut client, connection) = url.config.connect(tls).await.map_err(|e| {
                let mut why = one_line(&e);
                if why.contains("UnknownIssuer") {
                    why.push_str(" (the server's certificate is not signed by a CA in sslrootcert, or the system's roots)");
                }
                StoreError::Connect(format!("{}: {why}", url.target()))
            })?;
            let connection = tokio::spawn(connection);
            let done = work(&mut client).await.map_err(|e| opening(&url, e));
            drop(client);
            let _ = connection.await;
            done
        })
    })
    .join()
    .map_err(|_| StoreError::Io("opening the database stopped".into()))?
}

/// A failure while opening, naming the database; a schema too new stays what it is.
fn opening(url: &DatabaseUrl, err: StoreError) -> StoreError {
    match err {
        StoreError::Io(why) => {
            let why = why.strip_prefix("database: ").unwrap_or(&why).to_string();
            StoreError::Connect(format!("{}: {why}", url.target()))
        }
        other => other,
    }
}

/// The session's `synchronous_commit`.
async fn synchronous_commit(client: &tokio_postgres::Client) -> Result<String, StoreError> {
    Ok(client
        .query_one("SHOW synchronous_commit", &[])
        .await
        .map_err(db_error)?
        .get(0))
}

async fn require_synchronous(client: &tokio_postgres::Client) -> Result<(), StoreError> {
    let synchronous = synchronous_commit(client).await?;
    if synchronous != "on" {
        return Err(StoreError::Io(format!(
            "its synchronous_commit is {synchronous:?}, not \"on\": an answer could be lost after it was sent"
        )));
    }
    Ok(())
}

/// What `tollgate db check` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The version the database holds (0: no tollgate schema yet).
    pub applied: i32,
    /// The newest version this binary knows.
    pub known: i32,
    /// The session's `synchronous_commit` with tollgate's settings (must be "on").
    pub synchronous_commit: String,
    /// `user@host:port/database`.
    pub target: String,
}

/// Reads the schema version and `synchronous_commit` of the database at `url`, writing
/// nothing (`tollgate db check`).
pub fn inspect(url: &str) -> Result<SchemaStatus, StoreError> {
    let url = database_url(url)?;
    let tls = url.connector().map_err(StoreError::Connect)?;
    let target = url.target();
    with_connection(&url, &tls, async |client| {
        Ok(SchemaStatus {
            applied: migrate::applied(client).await?,
            known: migrate::known(),
            synchronous_commit: synchronous_commit(client).await?,
            target,
        })
    })
}

/// Applies the migrations the database at `url` lacks (`tollgate db migrate`); the
/// versions before and after, and the database as `user@host:port/database`.
pub fn migrate(url: &str) -> Result<(i32, i32, String), StoreError> {
    let url = database_url(url)?;
    let tls = url.connector().map_err(StoreError::Connect)?;
    let (before, after) = with_connection(&url, &tls, async |client| {
        require_synchronous(client).await?;
        migrate::migrate(client).await
    })?;
    Ok((before, after, url.target()))
}

async fn read_state(client: &tokio_postgres::Client) -> Result<(u64, [u64; 3]), StoreError> {
    let row = client
        .query_one(
            "SELECT (SELECT value FROM tollgate_meta WHERE key = 'clock_floor_ms'), \
             (SELECT count(*) FROM tollgate_users), (SELECT count(*) FROM tollgate_tokens), \
             (SELECT count(*) FROM tollgate_blacklist)",
            &[],
        )
        .await
        .map_err(db_error)?;
    let n = |i: usize| unbig(row.get::<_, i64>(i));
    Ok((n(0), [n(1), n(2), n(3)]))
}
