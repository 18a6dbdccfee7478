//! What the process-level tests share: the `tollgate` binary with test settings, a
//! server process that never outlives its test, and one-shot HTTP requests.
#![allow(dead_code)] // Each test file uses its own subset.

use std::{
    collections::HashMap,
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::Value;

pub const SECRET: &str = "tollgate-test-vectors-hmac-secret-0123456789abcdefghijklmnopqrstuvwxyz";

/// The binary with a fixed key, cheap hashing, no throttling, `data_dir`, and the store
/// backend under test ([`backend_settings`]).
pub fn tollgate(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TOLLGATE_SIGNING_KEY", SECRET)
        .env("TOLLGATE_PBKDF2_ITERATIONS", "1000")
        .env("TOLLGATE_LOGIN_THROTTLE_USERNAME", "100000/min")
        .env("TOLLGATE_LOGIN_THROTTLE_IP", "100000/min")
        .env("TOLLGATE_DATA_DIR", data_dir)
        .envs(backend_settings(data_dir))
        .current_dir(data_dir.parent().unwrap());
    cmd
}

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// The PostgreSQL database it serves from, if any.
    database: Option<String>,
}

impl Drop for Server {
    /// A failing test must not leave a server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn start(data_dir: &Path) -> Server {
        Self::start_with(data_dir, &[])
    }

    /// A server with extra `TOLLGATE_*` settings.
    pub fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        let mut cmd = tollgate(data_dir);
        cmd.envs(env.iter().copied());
        Self::spawn(cmd)
    }

    /// `cmd serve --bind 127.0.0.1:0 --no-demo-user`, once it listens.
    pub fn spawn(mut cmd: Command) -> Server {
        let database = cmd
            .get_envs()
            .find(|(key, _)| *key == "TOLLGATE_DATABASE_URL")
            .and_then(|(_, url)| url)
            .map(|url| url.to_string_lossy().into_owned());
        let mut child = cmd
            .args(["serve", "--bind", "127.0.0.1:0", "--no-demo-user"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("server exited before listening")
                .unwrap();
            if let Some(rest) = line.strip_prefix("tollgate listening on http://") {
                break rest.trim_end_matches('/').parse().unwrap();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            addr,
            database,
        }
    }

    /// A server process started some other way (killed when dropped).
    pub fn from_child(child: Child, addr: SocketAddr) -> Server {
        Server {
            child,
            addr,
            database: None,
        }
    }

    /// SIGKILL, then, on PostgreSQL, waits until the database has ended the dead
    /// process's sessions: a statement it sent just before dying still runs (and
    /// commits) there, so what the store holds is only settled once they are gone.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        if let Some(url) = self.database.take() {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            // Its own sessions only: other replicas of the database stay.
            while sessions_of(&url, self.child.id()) > 0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the killed server's database sessions did not end in 20 s"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// One HTTP/1.1 request on a fresh connection, with an optional Bearer token;
/// (status, JSON body or null).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let answer = exchange(stream, method, path, bearer, body)?;
    Ok((answer.status, answer.body))
}

/// An answer: its status, header block (lower case, each line ending in CRLF) and JSON
/// body (or null).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: String,
    pub body: Value,
}

impl Answer {
    /// Whether the answer has the header `name: value` (both lower case).
    pub fn has_header(&self, name: &str, value: &str) -> bool {
        self.headers.contains(&format!("\r\n{name}: {value}\r\n"))
    }
}

/// One request on `stream`, an open connection (closed after the answer).
pub fn exchange(
    mut stream: TcpStream,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> std::io::Result<Answer> {
    let addr = stream.peer_addr()?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response {response:?}")))?;
    let split = response.find("\r\n\r\n").unwrap_or(response.len());
    Ok(Answer {
        status,
        headers: format!("{}\r\n", response[..split].to_ascii_lowercase()),
        body: response
            .get(split + 4..)
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null),
    })
}

/// A `tollgate` command with `input` on stdin, which must succeed.
pub fn run_with_stdin(data_dir: &Path, args: &[&str], input: &str) {
    let mut cmd = tollgate(data_dir);
    cmd.args(args);
    stdout_of(cmd, input);
}

/// Asks a process to stop (SIGTERM), as an init system does.
pub fn sigterm(child: &Child) {
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(sent.success(), "kill -TERM {pid}");
}

/// What a command, which must succeed, printed with `input` on stdin.
pub fn stdout_of(mut cmd: Command, input: &str) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `tollgate users add name` with the password on stdin.
pub fn add_user(data_dir: &Path, name: &str, password: &str) {
    let args = ["users", "add", name, "--password-stdin"];
    run_with_stdin(data_dir, &args, &format!("{password}\n"));
}

/// Every token record of the stopped server's store, by jti.
pub fn store_records(data: &Path) -> HashMap<String, Value> {
    token_records(tollgate(data))
}

/// Every token record of the store `tollgate` (a command without arguments) opens, by jti.
pub fn token_records(mut tollgate: Command) -> HashMap<String, Value> {
    tollgate.args(["tokens", "list", "--json"]);
    stdout_of(tollgate, "")
        .lines()
        .map(|l| {
            let record: Value = serde_json::from_str(l).unwrap();
            (record["jti"].as_str().unwrap().to_string(), record)
        })
        .collect()
}

/// The jti of a token (decoded, not verified).
pub fn jti(token: &str) -> String {
    tollgate_core::decode(token)
        .unwrap()
        .claims()
        .get_str("jti")
        .unwrap()
        .to_string()
}

/// The store backend the tests run on: `TOLLGATE_TEST_BACKEND` (default `sled`, the one
/// backend so far), so that one test suite covers every backend.
pub fn backend() -> String {
    std::env::var("TOLLGATE_TEST_BACKEND").unwrap_or_else(|_| "sled".into())
}

/// The server settings that select [`backend`] for the test folder `data_dir` (none for
/// sled, the default; for PostgreSQL the folder's own database).
pub fn backend_settings(data_dir: &Path) -> Vec<(String, String)> {
    match backend().as_str() {
        "sled" => Vec::new(),
        "postgres" => vec![("TOLLGATE_DATABASE_URL".into(), database_for(data_dir))],
        other => panic!("TOLLGATE_TEST_BACKEND={other}: no such store backend"),
    }
}

/// A fresh store of [`backend`] in (or for) the test folder `dir`. A sled folder this
/// process just closed may stay locked a moment (sled's background threads drop their
/// handles after the store's), so `Locked` is retried for up to 2 s.
pub fn open_store(dir: &Path) -> tollgate_server::store::Store {
    use tollgate_server::store::{Backend, Store, StoreError};
    match backend().as_str() {
        "sled" => {
            let started = std::time::Instant::now();
            loop {
                match Store::open(dir) {
                    Err(StoreError::Locked(_))
                        if started.elapsed() < std::time::Duration::from_secs(2) =>
                    {
                        std::thread::sleep(std::time::Duration::from_millis(10))
                    }
                    opened => break opened.unwrap(),
                }
            }
        }
        "postgres" => Store::open_backend(&Backend::Postgres(database_for(dir))).unwrap(),
        other => panic!("TOLLGATE_TEST_BACKEND={other}: no such store backend"),
    }
}

/// The database of the test folder `dir`: made fresh on first use, the same after (as a
/// sled folder is, for every process a test starts on it).
pub fn database_for(dir: &Path) -> String {
    use std::{collections::HashMap, path::PathBuf, sync::Mutex};
    static DATABASES: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);
    let mut databases = DATABASES.lock().unwrap_or_else(|e| e.into_inner());
    databases
        .get_or_insert_with(HashMap::new)
        .entry(dir.to_path_buf())
        .or_insert_with(fresh_database)
        .clone()
}

/// The sessions the server process `pid` has open on the database `url` (it names them
/// `tollgate <pid>` in pg_stat_activity).
pub fn sessions_of(url: &str, pid: u32) -> i64 {
    let sql =
        format!("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tollgate {pid}'");
    sql_count(url, &sql)
}

/// `sql` (one row, one count) on the database `url`.
fn sql_count(url: &str, sql: &str) -> i64 {
    let sql = sql.to_string();
    on_database(url, |client| async move {
        client.query_one(&sql, &[]).await.unwrap().get::<_, i64>(0)
    })
}

/// `work` with a connection to the database `url`, on a thread and runtime of its own
/// (callers may be inside a test's runtime, where blocking is not allowed).
fn on_database<T, F, Fut>(url: &str, work: F) -> T
where
    T: Send + 'static,
    F: FnOnce(tokio_postgres::Client) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
{
    let url = url.to_string();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            work(client).await
        })
    })
    .join()
    .unwrap()
}

/// Moves the clock of the store of test folder `dir` on by `ms`, where the store has one
/// of its own (PostgreSQL measures the reuse interval on the database's clock): a test
/// that advances the server's clock calls this too.
pub fn shift_database_clock(dir: &Path, ms: u64) {
    if backend() != "postgres" {
        return;
    }
    on_database(&database_for(dir), move |client| async move {
        client
            .execute(
                "INSERT INTO tollgate_meta (key, value) VALUES ('clock_offset_ms', $1) \
                 ON CONFLICT (key) DO UPDATE SET value = tollgate_meta.value + $1",
                &[&i64::try_from(ms).unwrap()],
            )
            .await
            .unwrap();
    });
}

/// A fresh, empty database on the PostgreSQL cluster of `scripts/postgres.sh` (the test
/// command starts it and names it in `TOLLGATE_TEST_DATABASE_URL`); its URL.
pub fn fresh_database() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    assert!(
        std::env::var_os("TOLLGATE_TEST_DATABASE_URL").is_some(),
        "no PostgreSQL for the tests: run `scripts/postgres.sh start` and set \
         TOLLGATE_TEST_DATABASE_URL to the URL it prints (scripts/test.sh does both)"
    );
    let name = format!(
        "tollgate_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    postgres_sh(&["createdb", &name])
}

/// `scripts/postgres.sh ARGS`, which must succeed: its one line of output.
pub fn postgres_sh(args: &[&str]) -> String {
    let mut cmd = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/postgres.sh"
    ));
    cmd.args(args);
    stdout_of(cmd, "").trim().to_string()
}

/// One value of the server's /metrics.
pub fn metric(addr: SocketAddr, name: &str) -> u64 {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// A fresh database (see [`fresh_database`]) holding the schema real Django's migrations
/// create (`tests/data/django_schema.sql`, checked against Django by the test command), as
/// a Django site's database is before tollgate first runs beside it; its URL.
pub fn fresh_django_database() -> String {
    let url = fresh_database();
    let psql = std::env::var("TOLLGATE_TEST_PG_BIN")
        .unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into())
        + "/psql";
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/django_schema.sql");
    let out = Command::new(psql)
        .args(["-q", "-v", "ON_ERROR_STOP=1", "-f", fixture, &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    url
}
