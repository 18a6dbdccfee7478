//! Opening the pool's connections on a socket that counts round trips.
//!
//! A round trip is one burst of messages to the database answered before the next
//! burst: statements pipelined in one write count once, a statement prepared and then
//! executed counts twice. Counted at the socket (the first write after a read starts a
//! new trip), so nothing that talks to the database can escape the count, BEGIN and
//! COMMIT included. The count is `/metrics`' `tollgate_database_round_trips_total`, and
//! the tests hold each endpoint to its number (ARCHITECTURE.md, "Round trips").
//!
//! A URL with one host (a name, an address or a socket folder) and one port is
//! connected here; anything richer (several hosts, `hostaddr`) is left to
//! tokio-postgres's own connect, whose trips are not counted.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use deadpool_postgres::Connect;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpStream, UnixStream},
    task::JoinHandle,
};
use tokio_postgres::{
    config::Host,
    tls::{MakeTlsConnect, TlsConnect},
    Client, Config, Error,
};

/// The socket under a connection: TCP or a Unix socket, counting round trips.
pub struct Counted {
    inner: Socket,
    trips: Arc<AtomicU64>,
    /// The last operation was a read that returned data (a write now starts a trip).
    answered: AtomicBool,
}

enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = match &mut this.inner {
            Socket::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_read(cx, buf),
        };
        if buf.filled().len() > before {
            this.answered.store(true, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = match &mut this.inner {
            Socket::Tcp(s) => Pin::new(s).poll_write(cx, data),
            Socket::Unix(s) => Pin::new(s).poll_write(cx, data),
        };
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0)
            && this.answered.swap(false, Ordering::Relaxed)
        {
            this.trips.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Socket::Tcp(s) => Pin::new(s).poll_flush(cx),
            Socket::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().inner {
            Socket::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Socket::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Connects the pool's connections (see the module's docs) with the TLS connector `tls`.
pub struct CountingConnect<T> {
    pub tls: T,
    pub trips: Arc<AtomicU64>,
}

impl<T> Connect for CountingConnect<T>
where
    T: MakeTlsConnect<Counted>
        + MakeTlsConnect<tokio_postgres::Socket>
        + Clone
        + Sync
        + Send
        + 'static,
    <T as MakeTlsConnect<Counted>>::Stream: Sync + Send,
    <T as MakeTlsConnect<Counted>>::TlsConnect: Sync + Send,
    <<T as MakeTlsConnect<Counted>>::TlsConnect as TlsConnect<Counted>>::Future: Send,
    <T as MakeTlsConnect<tokio_postgres::Socket>>::Stream: Sync + Send,
    <T as MakeTlsConnect<tokio_postgres::Socket>>::TlsConnect: Sync + Send,
    <<T as MakeTlsConnect<tokio_postgres::Socket>>::TlsConnect as TlsConnect<
        tokio_postgres::Socket,
    >>::Future: Send,
{
    fn connect(
        &self,
        config: &Config,
    ) -> Pin<Box<dyn Future<Output = Result<(Client, JoinHandle<()>), Error>> + Send + '_>> {
        let config = config.clone();
        let mut tls = self.tls.clone();
        let trips = self.trips.clone();
        Box::pin(async move {
            // Anything this module does not connect itself, and any failure to, goes to
            // tokio-postgres's own connect: its errors say what went wrong.
            let counted = match single_host(&config) {
                Some((host, port)) => open(host, port, &config).await.ok(),
                None => None,
            };
            let Some((inner, hostname)) = counted else {
                let (client, connection) = config.connect(tls).await?;
                return Ok((client, spawn(connection)));
            };
            let stream = Counted {
                inner,
                trips,
                answered: AtomicBool::new(true),
            };
            let Ok(connector) =
                <T as MakeTlsConnect<Counted>>::make_tls_connect(&mut tls, &hostname)
            else {
                let (client, connection) = config.connect(tls).await?;
                return Ok((client, spawn(connection)));
            };
            let (client, connection) = config.connect_raw(stream, connector).await?;
            Ok((client, spawn(connection)))
        })
    }
}

/// The socket to `host`, and the name TLS checks the certificate against.
async fn open(host: &Host, port: u16, config: &Config) -> io::Result<(Socket, String)> {
    let timeout = config.get_connect_timeout().copied();
    Ok(match host {
        Host::Tcp(name) => {
            let stream = within(timeout, TcpStream::connect((name.as_str(), port))).await?;
            // As tokio-postgres: no Nagle delay (a statement is one small write),
            // keepalives, the user timeout.
            stream.set_nodelay(true)?;
            let socket = socket2::SockRef::from(&stream);
            if config.get_keepalives() {
                let mut keepalive =
                    socket2::TcpKeepalive::new().with_time(config.get_keepalives_idle());
                if let Some(interval) = config.get_keepalives_interval() {
                    keepalive = keepalive.with_interval(interval);
                }
                if let Some(retries) = config.get_keepalives_retries() {
                    keepalive = keepalive.with_retries(retries);
                }
                socket.set_tcp_keepalive(&keepalive)?;
            }
            socket.set_tcp_user_timeout(config.get_tcp_user_timeout().copied())?;
            (Socket::Tcp(stream), name.clone())
        }
        Host::Unix(dir) => {
            let path = dir.join(format!(".s.PGSQL.{port}"));
            (
                Socket::Unix(within(timeout, UnixStream::connect(path)).await?),
                String::new(),
            )
        }
    })
}

fn spawn<F>(connection: F) -> JoinHandle<()>
where
    F: Future<Output = Result<(), Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("database connection closed: {e}");
        }
    })
}

/// The URL's one host and port, if it names exactly one (and no `hostaddr`).
fn single_host(config: &Config) -> Option<(&Host, u16)> {
    let ([host], ports) = (config.get_hosts(), config.get_ports()) else {
        return None;
    };
    let port = match ports {
        [] => 5432,
        [port] => *port,
        _ => return None,
    };
    config.get_hostaddrs().is_empty().then_some((host, port))
}

async fn within<T>(
    timeout: Option<Duration>,
    connect: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match timeout {
        Some(limit) => tokio::time::timeout(limit, connect)
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
        None => connect.await,
    }
}
