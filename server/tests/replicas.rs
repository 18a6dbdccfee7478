//! Replicas (issue #15): three `tollgate serve` processes on one PostgreSQL database,
//! with the same signing key, each on its own port and data folder, and requests spread
//! over them. What one replica acknowledges, every other one honours at once, and
//! neither the loss of a replica (`kill -9`) nor a crash of the database
//! (`pg_ctl -m immediate`) loses anything acknowledged, answers 500 or hangs.
//!
//! PostgreSQL only: like every PostgreSQL test here it fails (it does not skip) without
//! `TOLLGATE_TEST_DATABASE_URL`, which the test command sets. The database restarts run
//! on clusters of this file's own (`$TOLLGATE_TEST_PG_DIR-restarts`, `-frozen`), never on
//! the shared one; a frozen database (its processes SIGSTOPped) gets 503s within the
//! store's call limit.

mod common;

use std::{
    collections::{HashMap, HashSet},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Barrier, Mutex,
    },
    time::{Duration, Instant},
};

use common::{jti, Answer, Server};
use serde_json::{json, Value};

/// The longest any answer may take, the database down or not.
const ANSWER_LIMIT: Duration = Duration::from_secs(8);

/// Simple JWT's refusal of a blacklisted refresh token.
fn blacklisted() -> Value {
    json!({"detail": "Token is blacklisted", "code": "token_not_valid"})
}

/// The answer while the store cannot be reached (with `Retry-After: 1`).
fn unavailable() -> Value {
    json!({"code": "store_unavailable", "detail": "Service temporarily unavailable, try again later."})
}

/// The refresh token of an answer (empty if none).
fn refresh_of(answer: &Answer) -> &str {
    answer.body["refresh"].as_str().unwrap_or_default()
}

/// A connection opened now and a request sent on it later ([`Pending::send`]): many
/// clients can be made to send at one instant.
struct Pending(TcpStream);

impl Pending {
    fn open(addr: SocketAddr) -> std::io::Result<Pending> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(ANSWER_LIMIT * 2))?;
        stream.set_write_timeout(Some(ANSWER_LIMIT))?;
        Ok(Pending(stream))
    }

    fn send(
        self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> std::io::Result<Answer> {
        common::exchange(self.0, method, path, bearer, body)
    }
}

fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> std::io::Result<Answer> {
    Pending::open(addr)?.send(method, path, bearer, body)
}

fn post(addr: SocketAddr, path: &str, bearer: Option<&str>, body: Value) -> Answer {
    call(addr, "POST", path, bearer, Some(&body)).unwrap()
}

fn refresh(addr: SocketAddr, token: &str) -> Answer {
    post(addr, "/api/token/refresh/", None, json!({"refresh": token}))
}

fn login(addr: SocketAddr, user: &str, password: &str) -> Answer {
    let answer = post(
        addr,
        "/api/token/",
        None,
        json!({"username": user, "password": password}),
    );
    assert_eq!(answer.status, 200, "login of {user}: {answer:?}");
    answer
}

fn assert_blacklisted(answer: &Answer, what: &str) {
    assert_eq!(
        (answer.status, &answer.body),
        (401, &blacklisted()),
        "{what}"
    );
}

/// One database the replicas share, the folder of their data folders, and the CLI on it.
struct Shared {
    url: String,
    dir: tempfile::TempDir,
}

impl Shared {
    /// A fresh database on the test command's cluster.
    fn fresh() -> Shared {
        Shared::on(common::fresh_database())
    }

    fn on(url: String) -> Shared {
        Shared {
            url,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The binary on the shared database, from a data folder of its own.
    fn tollgate(&self, name: &str) -> Command {
        let mut cmd = common::tollgate(&self.dir.path().join(name));
        cmd.env("TOLLGATE_DATABASE_URL", &self.url);
        cmd
    }

    /// A CLI command, which must succeed, with `input` on stdin; its stdout.
    fn cli(&self, args: &[&str], input: &str) -> String {
        let mut cmd = self.tollgate("cli");
        cmd.args(args);
        common::stdout_of(cmd, input)
    }

    fn add_user(&self, name: &str, password: &str) {
        let args = ["users", "add", name, "--password-stdin"];
        self.cli(&args, &format!("{password}\n"));
    }

    /// Every token record in the database, by jti.
    fn records(&self) -> HashMap<String, Value> {
        common::token_records(self.tollgate("cli"))
    }

    /// `n` replicas with these extra settings, each with a data folder of its own.
    fn replicas(&self, n: usize, env: &[(&str, &str)]) -> Vec<Server> {
        let mut env = env.to_vec();
        env.push(("TOLLGATE_DATABASE_URL", &self.url));
        (0..n)
            .map(|i| {
                let data = self.dir.path().join(format!("replica{i}"));
                Server::start_with(&data, &env)
            })
            .collect()
    }
}

/// 64 refreshes of `token` sent at one instant, spread over `replicas`.
fn refresh_all_at_once(replicas: &[Server], token: &str) -> Vec<Answer> {
    let n = 64;
    let barrier = Arc::new(Barrier::new(n));
    let clients: Vec<_> = (0..n)
        .map(|i| {
            let pending = Pending::open(replicas[i % replicas.len()].addr).unwrap();
            let (barrier, token) = (Arc::clone(&barrier), token.to_string());
            std::thread::spawn(move || {
                barrier.wait();
                let body = json!({"refresh": token});
                pending
                    .send("POST", "/api/token/refresh/", None, Some(&body))
                    .unwrap()
            })
        })
        .collect();
    clients.into_iter().map(|c| c.join().unwrap()).collect()
}

/// The stored state after concurrent refreshes of `token`: its family holds it and its
/// one `successor`, which its blacklist entry names. Every record, by jti.
fn one_successor(shared: &Shared, token: &str, successor: &str) -> HashMap<String, Value> {
    let records = shared.records();
    let family = &records[&jti(token)]["family"];
    let members: Vec<&Value> = records
        .values()
        .filter(|r| &r["family"] == family)
        .collect();
    assert_eq!(members.len(), 2, "the token and one successor: {members:?}");
    let entry = &records[&jti(token)]["blacklisted"];
    assert_eq!(entry["reason"], "rotated", "{entry}");
    assert_eq!(entry["successor"].as_str(), Some(jti(successor).as_str()));
    records
}

#[test]
fn concurrent_refreshes_on_three_replicas_make_one_successor() {
    let shared = Shared::fresh();
    shared.add_user("alice", "pw-alice");
    shared.add_user("bob", "pw-bob");

    // The reuse interval on (its default, 10 s): the first refresh rotates, and every
    // other one, on whichever replica, gets that same successor as a grace answer.
    let replicas = shared.replicas(3, &[]);
    let first = login(replicas[0].addr, "alice", "pw-alice");
    let answers = refresh_all_at_once(&replicas, refresh_of(&first));
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let successors: HashSet<&str> = answers.iter().map(refresh_of).collect();
    assert_eq!(successors.len(), 1, "two successors: {successors:?}");
    let graces = answers
        .iter()
        .filter(|a| a.has_header("tollgate-refresh-reuse", "grace"))
        .count();
    assert_eq!(graces, 63, "one rotation, 63 grace answers");
    let successor = refresh_of(&answers[0]).to_string();
    let records = one_successor(&shared, refresh_of(&first), &successor);
    assert!(records[&jti(&successor)]["blacklisted"].is_null());
    // The successor is live, on any replica.
    let next = refresh(replicas[2].addr, &successor);
    assert_eq!(next.status, 200, "{next:?}");
    assert!(!next.has_header("tollgate-refresh-reuse", "grace"));
    drop(replicas);

    // The reuse interval off: one rotation; every other refresh is a replay, refused,
    // and it revokes the family, the one successor included. Never a second successor.
    let replicas = shared.replicas(3, &[("TOLLGATE_REFRESH_REUSE_INTERVAL", "0")]);
    let first = login(replicas[1].addr, "bob", "pw-bob");
    let answers = refresh_all_at_once(&replicas, refresh_of(&first));
    let ok: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(ok.len(), 1, "{answers:?}");
    assert!(!ok[0].has_header("tollgate-refresh-reuse", "grace"));
    for answer in answers.iter().filter(|a| a.status != 200) {
        assert_blacklisted(answer, "a refresh that lost the race");
    }
    let successor = refresh_of(ok[0]).to_string();
    let records = one_successor(&shared, refresh_of(&first), &successor);
    assert_eq!(records[&jti(&successor)]["blacklisted"]["reason"], "reuse");
    for replica in &replicas {
        assert_blacklisted(&refresh(replica.addr, &successor), "the revoked successor");
    }
}

#[test]
fn a_revocation_on_one_replica_counts_at_once_on_the_others() {
    let shared = Shared::fresh();
    shared.add_user("alice", "pw-alice");
    shared.add_user("bob", "pw-bob");
    let replicas = shared.replicas(3, &[]);
    let [a, b, c] = [0, 1, 2].map(|i| replicas[i].addr);

    // Each replica has read alice's tokens and user before the revocations: nothing
    // it might have kept from those reads may outlive them.
    let phone = login(a, "alice", "pw-alice");
    let laptop = login(b, "alice", "pw-alice");
    let phone = refresh(b, refresh_of(&phone));
    let laptop = refresh(c, refresh_of(&laptop));
    assert_eq!((phone.status, laptop.status), (200, 200));
    let access = phone.body["access"].as_str().unwrap();
    for addr in [a, b, c] {
        let me = call(addr, "GET", "/api/me/", Some(access), None).unwrap();
        assert_eq!(me.status, 200, "{me:?}");
    }

    // One token logged out on A: refused on B at once.
    let tablet = login(c, "alice", "pw-alice");
    let out = post(
        a,
        "/api/token/blacklist/",
        None,
        json!({"refresh": refresh_of(&tablet)}),
    );
    assert_eq!(out.status, 200, "{out:?}");
    assert_blacklisted(
        &refresh(b, refresh_of(&tablet)),
        "logged out on A, refreshed on B",
    );

    // Logout-all on A: the next refresh on B and on C fails.
    let all = post(a, "/api/logout/", Some(access), json!({"all": "1"}));
    assert_eq!(
        (all.status, all.body.clone()),
        (
            200,
            json!({"status": "OK, goodbye, all refresh tokens blacklisted"})
        )
    );
    assert_blacklisted(
        &refresh(b, refresh_of(&phone)),
        "logout-all on A, refresh on B",
    );
    assert_blacklisted(
        &refresh(c, refresh_of(&laptop)),
        "logout-all on A, refresh on C",
    );

    // A password changed with the CLI: refresh tokens and older access tokens refused on
    // every replica at once; the old password too, the new one works.
    let session = login(b, "alice", "pw-alice");
    let access = session.body["access"].as_str().unwrap().to_string();
    shared.cli(
        &["users", "set-password", "alice", "--password-stdin"],
        "pw-alice-2\n",
    );
    assert_blacklisted(
        &refresh(c, refresh_of(&session)),
        "password changed, refresh on C",
    );
    let me = call(a, "GET", "/api/me/", Some(&access), None).unwrap();
    assert_eq!(
        me.status, 401,
        "an access token older than the password: {me:?}"
    );
    let old = post(
        b,
        "/api/token/",
        None,
        json!({"username": "alice", "password": "pw-alice"}),
    );
    assert_eq!(old.status, 401, "{old:?}");
    login(c, "alice", "pw-alice-2");

    // A user deactivated with the CLI: refused on every replica at once.
    let bob = login(a, "bob", "pw-bob");
    let access = bob.body["access"].as_str().unwrap().to_string();
    shared.cli(&["users", "deactivate", "bob"], "");
    for addr in [a, b, c] {
        let answer = refresh(addr, refresh_of(&bob));
        assert_eq!(answer.status, 401, "bob deactivated: {answer:?}");
        let me = call(addr, "GET", "/api/me/", Some(&access), None).unwrap();
        assert_eq!(me.status, 401, "bob deactivated: {me:?}");
    }
}

/// What a replica acknowledged (a 2xx), in the order the client saw it.
#[derive(Debug, Clone)]
enum Acked {
    /// A login's refresh token.
    Issued { user: String, refresh: String },
    /// A rotation: `old` was exchanged for `new`.
    Rotated { old: String, new: String },
    /// `/api/token/blacklist/` of this refresh token.
    LoggedOut { refresh: String },
    /// `/api/logout/ {"all":"1"}`: the user is stamped, and every refresh token
    /// acknowledged to this client before it is revoked.
    LoggedOutEverywhere { before: Vec<String> },
}

/// A small deterministic generator (xorshift64*), so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Mixed load on a set of replicas from one client thread per user: logins, refreshes,
/// logouts and logouts-everywhere, each request to a replica picked at random.
struct Load {
    replicas: Vec<SocketAddr>,
    /// Replicas that may fail to answer (killed): a failed connection to them is no fault.
    dead: Mutex<HashSet<SocketAddr>>,
    /// The database may be down: 503 `store_unavailable` with `Retry-After` is no fault.
    outages: bool,
    stop: AtomicBool,
    acked: Mutex<Vec<Acked>>,
    /// The refresh tokens the clients hold at the end: never revoked, never presented
    /// without an answer.
    live: Mutex<Vec<String>>,
    /// Answers that break the contract: a 500, an unexpected status, a hang.
    faults: Mutex<Vec<String>>,
    /// Per replica: answers while the database was up or down, and 503s.
    answered: Mutex<HashMap<SocketAddr, [usize; 2]>>,
    slowest: Mutex<Duration>,
}

/// What one request of the load came to.
enum Outcome {
    Acked(Answer),
    /// No answer, or an answer that acknowledges nothing (503): whatever it was
    /// about may or may not have happened.
    Unknown,
}

impl Load {
    fn new(replicas: Vec<SocketAddr>, outages: bool) -> Arc<Load> {
        Arc::new(Load {
            replicas,
            dead: Mutex::new(HashSet::new()),
            outages,
            stop: AtomicBool::new(false),
            acked: Mutex::new(Vec::new()),
            live: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            answered: Mutex::new(HashMap::new()),
            slowest: Mutex::new(Duration::ZERO),
        })
    }

    /// Starts one client per user; joined by [`Load::finish`].
    fn start(self: &Arc<Self>, users: &[String], seed: u64) -> Vec<std::thread::JoinHandle<()>> {
        users
            .iter()
            .enumerate()
            .map(|(i, user)| {
                let (load, user) = (Arc::clone(self), user.clone());
                let seed = seed.rotate_left(7 * i as u32) ^ (i as u64 + 1);
                std::thread::spawn(move || load.client(&user, Rng(seed | 1)))
            })
            .collect()
    }

    fn finish(&self, clients: Vec<std::thread::JoinHandle<()>>) {
        self.stop.store(true, Ordering::Relaxed);
        for client in clients {
            client.join().unwrap();
        }
    }

    fn fault(&self, text: String) {
        self.faults.lock().unwrap().push(text);
    }

    fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// One request to the replica `addr`, judged.
    fn request(&self, addr: SocketAddr, path: &str, bearer: Option<&str>, body: Value) -> Outcome {
        let started = Instant::now();
        let answer = call(addr, "POST", path, bearer, Some(&body));
        let took = started.elapsed();
        let answer = match answer {
            Ok(answer) => answer,
            Err(err) => {
                if !self.dead.lock().unwrap().contains(&addr) {
                    self.fault(format!("{path} on {addr}: no answer: {err}"));
                }
                return Outcome::Unknown;
            }
        };
        {
            let mut slowest = self.slowest.lock().unwrap();
            *slowest = (*slowest).max(took);
        }
        if took > ANSWER_LIMIT {
            self.fault(format!("{path} on {addr}: answered after {:?}", took));
        }
        let down = answer.status == 503;
        self.answered.lock().unwrap().entry(addr).or_default()[usize::from(down)] += 1;
        match answer.status {
            200 => Outcome::Acked(answer),
            503 if self.outages
                && answer.body == unavailable()
                && answer.has_header("retry-after", "1") =>
            {
                Outcome::Unknown
            }
            _ => {
                self.fault(format!("{path} on {addr}: {answer:?}"));
                Outcome::Unknown
            }
        }
    }

    /// One user's sessions until `stop`. A request with no acknowledgement (a killed
    /// replica, the database down) leaves its token in doubt: the client drops it (and
    /// after a logout-all in doubt, every token it held).
    fn client(&self, user: &str, mut rng: Rng) {
        let credentials = json!({"username": user, "password": format!("pw-{user}")});
        let ack = |a: Acked| self.acked.lock().unwrap().push(a);
        let mut mine: Vec<String> = Vec::new();
        let mut access: Option<String> = None;
        while !self.stop.load(Ordering::Relaxed) {
            let addr = self.replicas[rng.below(self.replicas.len() as u64) as usize];
            let roll = rng.below(100);
            let (current, access_now) = (mine.last().cloned(), access.clone());
            match (current, access_now) {
                (Some(current), _) if roll < 70 => {
                    let body = json!({"refresh": current});
                    mine.pop();
                    if let Outcome::Acked(answer) =
                        self.request(addr, "/api/token/refresh/", None, body)
                    {
                        let new = refresh_of(&answer).to_string();
                        ack(Acked::Rotated {
                            old: current,
                            new: new.clone(),
                        });
                        mine.push(new);
                        access = answer.body["access"].as_str().map(String::from);
                    }
                }
                (Some(current), _) if roll < 80 => {
                    let body = json!({"refresh": current});
                    mine.pop();
                    if let Outcome::Acked(_) =
                        self.request(addr, "/api/token/blacklist/", None, body)
                    {
                        ack(Acked::LoggedOut { refresh: current });
                    }
                }
                (Some(_), Some(bearer)) if roll < 85 => {
                    let before = std::mem::take(&mut mine);
                    let body = json!({"all": "1"});
                    if let Outcome::Acked(_) =
                        self.request(addr, "/api/logout/", Some(&bearer), body)
                    {
                        ack(Acked::LoggedOutEverywhere { before });
                    }
                }
                _ => {
                    if let Outcome::Acked(answer) =
                        self.request(addr, "/api/token/", None, credentials.clone())
                    {
                        let refresh = refresh_of(&answer).to_string();
                        ack(Acked::Issued {
                            user: user.to_string(),
                            refresh: refresh.clone(),
                        });
                        mine.push(refresh);
                        access = answer.body["access"].as_str().map(String::from);
                    } else {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        }
        self.live.lock().unwrap().extend(mine);
    }

    /// Every acknowledged answer is still true, in the database (read with the CLI) and
    /// on every replica in `addrs`: a rotated-out token gets nothing but its one
    /// successor, a logged-out one is refused, tokens held refresh, no 500 anywhere.
    fn check(&self, shared: &Shared, addrs: &[SocketAddr]) {
        let faults = self.faults.lock().unwrap().clone();
        assert!(faults.is_empty(), "{} faults: {faults:#?}", faults.len());
        let acked = self.acked.lock().unwrap().clone();
        let records = shared.records();
        let record = |token: &str| {
            records
                .get(&jti(token))
                .unwrap_or_else(|| panic!("acknowledged token lost: {token}"))
        };
        let mut user_ids: HashMap<&str, HashSet<u64>> = HashMap::new();
        // Refresh tokens that must not refresh any more, with the one successor a
        // rotated-out one may still be given (its successor unused, in doubt).
        let mut refused: Vec<(String, Option<String>)> = Vec::new();
        for a in &acked {
            match a {
                Acked::Issued { user, refresh } => {
                    let id = record(refresh)["user_id"].as_u64().unwrap();
                    user_ids.entry(user).or_default().insert(id);
                }
                Acked::Rotated { old, new } => {
                    let entry = &record(old)["blacklisted"];
                    assert_eq!(entry["reason"], "rotated", "{a:?}: {entry}");
                    assert_eq!(
                        entry["successor"].as_str(),
                        Some(jti(new).as_str()),
                        "{a:?}"
                    );
                    assert_eq!(record(new)["family"], record(old)["family"], "{a:?}");
                    refused.push((old.clone(), Some(new.clone())));
                }
                Acked::LoggedOut { refresh } => {
                    assert!(!record(refresh)["blacklisted"].is_null(), "{a:?}");
                    refused.push((refresh.clone(), None));
                }
                Acked::LoggedOutEverywhere { before } => {
                    for token in before {
                        assert!(!record(token)["blacklisted"].is_null(), "{a:?}: {token}");
                        refused.push((token.clone(), None));
                    }
                }
            }
        }
        assert!(
            user_ids.values().all(|ids| ids.len() == 1),
            "tokens recorded for the wrong user: {user_ids:?}"
        );
        // Tokens held refresh (first: their predecessors' successors are then used).
        let live = self.live.lock().unwrap().clone();
        for (i, token) in live.iter().enumerate() {
            let addr = addrs[i % addrs.len()];
            let answer = refresh(addr, token);
            assert_eq!(answer.status, 200, "a held token, on {addr}: {answer:?}");
        }
        for (i, (token, successor)) in refused.iter().enumerate() {
            let addr = addrs[i % addrs.len()];
            let answer = refresh(addr, token);
            let again = answer.status == 200 && Some(refresh_of(&answer)) == successor.as_deref();
            if !again {
                assert_blacklisted(
                    &answer,
                    &format!("a token that must not refresh, on {addr}"),
                );
            }
        }
        eprintln!(
            "{} acknowledged ({} rotations), {} held tokens refreshed, {} refused, slowest answer {:?}, answers [up, 503] per replica {:?}",
            acked.len(),
            acked.iter().filter(|a| matches!(a, Acked::Rotated { .. })).count(),
            live.len(),
            refused.len(),
            self.slowest.lock().unwrap(),
            self.answered.lock().unwrap(),
        );
    }
}

fn users(n: usize, shared: &Shared) -> Vec<String> {
    let users: Vec<String> = (0..n).map(|i| format!("user{i}")).collect();
    for user in &users {
        shared.add_user(user, &format!("pw-{user}"));
    }
    users
}

/// Waits until `done`, at most `limit`; whether it came.
fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

#[test]
fn kill_9_of_a_replica_under_load_loses_nothing_acknowledged() {
    let shared = Shared::fresh();
    let users = users(6, &shared);
    let mut replicas = shared.replicas(3, &[]);
    let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
    let load = Load::new(addrs.clone(), false);
    let clients = load.start(&users, 0x7e91_1ca5);
    assert!(
        wait_for(Duration::from_secs(20), || load.acked_count() >= 200),
        "the load did not start"
    );
    // The victim: a replica in the middle of answering.
    let victim = replicas.remove(1);
    load.dead.lock().unwrap().insert(victim.addr);
    victim.kill9();
    let at_kill = load.acked_count();
    // The others keep answering, the victim's share included.
    assert!(
        wait_for(Duration::from_secs(20), || load.acked_count()
            >= at_kill + 200),
        "the other replicas stopped answering"
    );
    load.finish(clients);
    let survivors: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
    load.check(&shared, &survivors);
}

/// A PostgreSQL cluster of this test's own (it is restarted), stopped and removed when
/// dropped.
struct Cluster {
    dir: PathBuf,
}

impl Cluster {
    /// `scripts/postgres.sh COMMAND DIR`: its output.
    fn script(&self, command: &str) -> String {
        common::postgres_sh(&[command, &self.dir.display().to_string()])
    }

    fn start() -> (Cluster, String) {
        Self::start_named("restarts")
    }

    /// A cluster in `$TOLLGATE_TEST_PG_DIR-<name>` (one name per test: tests run at once).
    fn start_named(name: &str) -> (Cluster, String) {
        assert!(
            std::env::var_os("TOLLGATE_TEST_DATABASE_URL").is_some(),
            "no PostgreSQL for the tests: run `scripts/postgres.sh start` and set \
             TOLLGATE_TEST_DATABASE_URL to the URL it prints (scripts/test.sh does both)"
        );
        let base = std::env::var("TOLLGATE_TEST_PG_DIR")
            .unwrap_or_else(|_| format!("{}/tollgate-pg", std::env::temp_dir().display()));
        let cluster = Cluster {
            dir: PathBuf::from(format!("{base}-{name}")),
        };
        cluster.script("stop"); // a run that was itself killed may have left one
        let url = cluster.script("start");
        (cluster, url)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // (`stop` thaws a frozen cluster first.)
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");
        let _ = Command::new(script)
            .arg("stop")
            .arg(&self.dir)
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_file(format!("{}.lock", self.dir.display()));
    }
}

/// `tollgate_store_health{state="..."}` of a replica is 1.
fn health_is(addr: SocketAddr, state: &str) -> bool {
    common::metric(addr, &format!("tollgate_store_health{{state=\"{state}\"}}")) == 1
}

#[test]
fn database_crashes_under_load_are_503s_and_lose_nothing_acknowledged() {
    let (cluster, url) = Cluster::start();
    let shared = Shared::on(url.clone());
    let users = users(6, &shared);
    let replicas = shared.replicas(3, &[]);
    let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
    let load = Load::new(addrs.clone(), true);
    let clients = load.start(&users, 0x9d_c0de);
    for round in 0..2 {
        let before = load.acked_count();
        assert!(
            wait_for(Duration::from_secs(20), || load.acked_count()
                >= before + 150),
            "round {round}: no load"
        );
        let answered = |i: usize| {
            load.answered
                .lock()
                .unwrap()
                .clone()
                .get(&addrs[i])
                .copied()
        };
        let unavailable_before: usize = (0..3).map(|i| answered(i).unwrap_or_default()[1]).sum();
        cluster.script("kill");
        let down = Instant::now();
        // Every replica notices (its store health says so), still answers /healthz (the
        // process is alive: nothing should restart it), and answers 503s, not 500s.
        for &addr in &addrs {
            assert!(
                wait_for(Duration::from_secs(10), || health_is(addr, "unreachable")),
                "round {round}: {addr} does not report the database unreachable"
            );
            let health = call(addr, "GET", "/healthz", None, None).unwrap();
            assert_eq!(health.status, 200, "{health:?}");
        }
        assert!(
            wait_for(Duration::from_secs(10), || {
                (0..3)
                    .map(|i| answered(i).unwrap_or_default()[1])
                    .sum::<usize>()
                    >= unavailable_before + 20
            }),
            "round {round}: no 503 while the database was down"
        );
        let acked_down = load.acked_count();
        // Back (crash recovery, the same port): every replica recovers by itself.
        assert_eq!(cluster.script("start"), url, "the cluster moved");
        let up = Instant::now();
        for &addr in &addrs {
            assert!(
                wait_for(Duration::from_secs(15), || health_is(addr, "ready")),
                "round {round}: {addr} did not recover"
            );
        }
        assert!(
            wait_for(Duration::from_secs(15), || load.acked_count()
                >= acked_down + 100),
            "round {round}: the load did not resume"
        );
        eprintln!(
            "round {round}: down {:?}, every replica ready {:?} after the restart",
            up - down,
            up.elapsed()
        );
    }
    load.finish(clients);
    load.check(&shared, &addrs);
}

/// A database that stops answering without closing its connections (its processes
/// stopped, as on a frozen host or behind a network that drops packets): each request
/// gets a 503 within the store's call limit (12 s) rather than waiting for ever, and the
/// replica answers again by itself once the database does.
#[test]
fn a_frozen_database_is_a_503_within_the_call_limit() {
    use tollgate_server::store::postgres::CALL_LIMIT;
    let (cluster, url) = Cluster::start_named("frozen");
    let shared = Shared::on(url);
    shared.add_user("alice", "alice-password");
    let replicas = shared.replicas(1, &[]);
    let addr = replicas[0].addr;
    let pair = login(addr, "alice", "alice-password");
    let access = pair.body["access"].as_str().unwrap().to_string();
    let token = refresh_of(&pair).to_string();
    cluster.script("freeze");
    let slow =
        |method: &'static str, path: &'static str, bearer: Option<String>, body: Option<Value>| {
            std::thread::spawn(move || {
                let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
                stream.set_read_timeout(Some(CALL_LIMIT * 3)).unwrap();
                let sent = Instant::now();
                let answer =
                    common::exchange(stream, method, path, bearer.as_deref(), body.as_ref())
                        .unwrap();
                (answer, sent.elapsed())
            })
        };
    // Several at once: more than the requests that are waiting inside the database,
    // others waiting for a pooled connection.
    let waiting: Vec<_> = (0..4)
        .map(|_| slow("GET", "/api/me/", Some(access.clone()), None))
        .chain((0..4).map(|_| {
            slow(
                "POST",
                "/api/token/refresh/",
                None,
                Some(json!({"refresh": token})),
            )
        }))
        .collect();
    for request in waiting {
        let (answer, took) = request.join().unwrap();
        assert_eq!(
            (answer.status, &answer.body),
            (503, &unavailable()),
            "{answer:?}"
        );
        assert!(
            took <= CALL_LIMIT + Duration::from_secs(3),
            "answered after {took:?}"
        );
    }
    cluster.script("thaw");
    assert!(
        wait_for(Duration::from_secs(30), || {
            call(addr, "GET", "/api/me/", Some(&access), None).is_ok_and(|a| a.status == 200)
        }),
        "the replica did not answer again once the database did"
    );
    let answer = refresh(addr, &token);
    assert_eq!(answer.status, 200, "{answer:?}");
}
