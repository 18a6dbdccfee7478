//! `tollgate serve`: the server's life from start to shutdown.

use std::sync::Arc;

use crate::{
    app::App,
    clock::{system_clock, wall_ms},
    commands::{fail, new_user, socket, CliError, Context},
    config::{self, Config, LogFormat},
    store::{Backend, Store, StoreError},
};

fn init_logging(format: LogFormat) {
    // hyper reports a client that hangs up mid-request as a connection "error": that is
    // the client's doing, not the server's, so it is not logged by default.
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOLLGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,warp::server=off"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The demo user created on an empty database, so the README's tour works at once.
pub const DEMO_USER: (&str, &str) = ("demo", "tollgate-demo");

/// `tollgate serve`: opens the store, starts the background tasks and the admin
/// socket, serves until SIGINT or SIGTERM, drains, and closes the store.
pub fn serve(config: Config, demo_user: bool) -> Result<(), CliError> {
    init_logging(config.log_format);
    let store = Store::open_backend(&config.backend)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| fail("runtime", e.to_string()))?;
    runtime.block_on(async move {
        if demo_user && store.counts().users == 0 {
            let (name, pass) = DEMO_USER;
            let joined = (wall_ms() / 1000) as i64;
            let email = Some("demo@example.com".into());
            let user = new_user(name, email, pass, config.pbkdf2_iterations, joined);
            let unique_email = config.username_field == config::UsernameField::Email;
            match store.add_user(user, unique_email).await {
                Ok(_) => println!("created demo user {name:?} with password {pass:?} (change it: tollgate users set-password {name})"),
                // Another replica on the same database created it first.
                Err(StoreError::Duplicate(..)) => {}
                Err(err) => return Err(err.into()),
            }
        }
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|e| fail("bind_failed", format!("cannot listen on {}: {e}", config.bind)))?;
        let addr = listener.local_addr().map_err(|e| fail("bind_failed", e.to_string()))?;
        let interval = config.flush_expired_interval;
        let leeway = config.tokens.leeway();
        let app = Arc::new(App::new(config, store.clone(), system_clock()));
        // A key set in the store signs from the first request on (and a set this
        // configuration cannot open stops the start, rather than signing with another key).
        app.tokens.keys().reload().await?;
        tracing::info!(%addr, algorithm = %app.config.tokens.algorithm(), data_dir = %app.config.data_dir.display(), "tollgate listening");
        // The admin socket is up before anyone is told the server is ready. sled allows
        // one process, so the commands reach it through this server; on PostgreSQL they
        // open the database themselves, beside any number of servers.
        let admin = match app.config.backend {
            Backend::Sled(_) => Some(
                socket::listen(Context {
                    config: (*app.config).clone(),
                    store: store.clone(),
                    clock: app.clock(),
                    actor: crate::commands::Actor { name: "socket".into(), via: "socket" },
                    keys: Some(Arc::clone(app.tokens.keys())),
                })
                .map_err(|e| fail("admin_socket", e.to_string()))?,
            ),
            Backend::Postgres(_) | Backend::Django(_) => None,
        };
        println!("tollgate listening on http://{addr}/");
        let flusher = tokio::spawn(flush_expired_periodically(Arc::clone(&app), interval, leeway));
        let supervisor = tokio::spawn(store.clone().supervise());
        let key_reloader = tokio::spawn({
            let clock = app.clock();
            Arc::clone(app.tokens.keys()).reload_periodically(move || clock())
        });
        crate::handlers::serve(listener, Arc::clone(&app), shutdown_signal()).await;
        flusher.abort();
        supervisor.abort();
        key_reloader.abort();
        if let Some(admin) = admin {
            admin.close();
        }
        tracing::info!("draining done, flushing the store");
        // The next start's clock begins no earlier than this one ends.
        store.raise_clock_floor(app.now_ms()).await?;
        store.flush().await?;
        Ok::<(), CliError>(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested: draining in-flight requests");
}

async fn flush_expired_periodically(app: Arc<App>, every_secs: u64, leeway: u64) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(every_secs));
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = app.now_ms() / 1000;
        match app.store.flush_expired(now, leeway).await {
            Ok(flushed) => tracing::info!(
                outstanding = flushed.outstanding,
                blacklisted = flushed.blacklisted,
                "flushed expired tokens"
            ),
            Err(err) => tracing::error!(error = %err, "flushing expired tokens failed"),
        }
    }
}
