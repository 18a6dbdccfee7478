//! The local admin socket: `tollgate users ...` and `tollgate tokens ...` while the
//! server holds the database.
//!
//! sled allows one process per database, yet people expect `tollgate users add` to work
//! beside a running server (as `manage.py` does beside Django). The server listens on
//! `<data_dir>/admin.sock`, a Unix socket with owner-only permissions, and also checks
//! each peer's uid. One request per connection: a JSON line with the command and its
//! resolved inputs (password, import file), answered by one JSON line.

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};

use super::{execute, AdminCommand, CliError, Context, Input, MAX_IMPORT_BYTES};

/// The socket's path in a data folder.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.sock")
}

#[derive(Serialize, Deserialize)]
struct Request {
    command: AdminCommand,
    input: Input,
}

#[derive(Serialize, Deserialize)]
struct Response {
    result: Result<String, CliError>,
}

/// Why a call through the socket did not run.
#[derive(Debug)]
pub enum CallError {
    /// No server answers on the socket.
    NoServer,
    /// The server ran the command and it failed (or the exchange broke).
    Failed(CliError),
}

/// A running admin listener; `close` removes the socket.
#[derive(Debug)]
pub struct Listener {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    /// Stops accepting and removes the socket file.
    pub fn close(self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Starts listening in `ctx.config.data_dir`, running commands in `ctx` (the server's
/// store and clock). The caller holds the database, so a socket file left behind by a
/// crashed server is stale and replaced.
#[cfg(unix)]
pub fn listen(ctx: Context) -> std::io::Result<Listener> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = socket_path(&ctx.config.data_dir);
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    // Our own uid: the owner of the socket file we just created (std has no getuid).
    let own_uid = {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata(&path)?.uid()
    };
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let peer_ok = stream
                .peer_cred()
                .map(|c| c.uid() == own_uid)
                .unwrap_or(false);
            if !peer_ok {
                tracing::warn!("admin socket: refused a connection from another user");
                continue;
            }
            // On the audit trail as the account the socket's peer runs as (the server's
            // own: others are refused above).
            let mut ctx = ctx.clone();
            ctx.actor = super::Actor {
                name: format!("uid {own_uid}"),
                via: "socket",
            };
            tokio::spawn(async move {
                if let Err(err) = serve_one(stream, ctx).await {
                    tracing::warn!(error = %err, "admin socket: broken exchange");
                }
            });
        }
    });
    Ok(Listener { path, task })
}

#[cfg(not(unix))]
pub fn listen(ctx: Context) -> std::io::Result<Listener> {
    Ok(Listener {
        path: socket_path(&ctx.config.data_dir),
        task: tokio::spawn(async {}),
    })
}

#[cfg(unix)]
async fn serve_one(stream: tokio::net::UnixStream, ctx: Context) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = Vec::new();
    let mut reader = tokio::io::BufReader::new(read).take(MAX_IMPORT_BYTES + 1024 * 1024);
    reader.read_until(b'\n', &mut line).await?;
    let result = match serde_json::from_slice::<Request>(&line) {
        Ok(request) => {
            tracing::info!(command = ?command_name(&request.command), "admin command");
            // Off the async workers: commands hash passwords and may walk the store.
            let runtime = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                runtime.block_on(execute(&ctx, request.command, &request.input))
            })
            .await
            .unwrap_or_else(|_| {
                Err(CliError {
                    code: "admin_failed".into(),
                    message: "the command stopped unexpectedly".into(),
                })
            })
        }
        Err(err) => Err(CliError {
            code: "admin_bad_request".into(),
            message: format!("unreadable admin request: {err}"),
        }),
    };
    let mut answer = serde_json::to_vec(&Response { result }).unwrap_or_default();
    answer.push(b'\n');
    write.write_all(&answer).await?;
    write.shutdown().await
}

/// The command's name only: arguments may hold passwords.
fn command_name(command: &AdminCommand) -> String {
    let text = format!("{command:?}");
    text.split(['{', '(', ' '])
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sends a command to the server on `data_dir`'s socket (blocking; used by the CLI).
#[cfg(unix)]
pub fn call(data_dir: &Path, command: &AdminCommand, input: &Input) -> Result<String, CallError> {
    let path = socket_path(data_dir);
    let mut stream =
        std::os::unix::net::UnixStream::connect(&path).map_err(|_| CallError::NoServer)?;
    let broken = |e: std::io::Error| {
        CallError::Failed(CliError {
            code: "admin_io".into(),
            message: format!("admin socket {}: {e}", path.display()),
        })
    };
    let mut request = serde_json::to_vec(&Request {
        command: command.clone(),
        input: input.clone(),
    })
    .map_err(|e| broken(std::io::Error::other(e)))?;
    request.push(b'\n');
    stream.write_all(&request).map_err(broken)?;
    let mut line = String::new();
    BufReader::new(stream.take(MAX_IMPORT_BYTES))
        .read_line(&mut line)
        .map_err(broken)?;
    let response: Response =
        serde_json::from_str(&line).map_err(|e| broken(std::io::Error::other(e)))?;
    response.result.map_err(CallError::Failed)
}

#[cfg(not(unix))]
pub fn call(
    _data_dir: &Path,
    _command: &AdminCommand,
    _input: &Input,
) -> Result<String, CallError> {
    Err(CallError::NoServer)
}
