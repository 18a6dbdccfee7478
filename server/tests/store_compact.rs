//! `tollgate store compact`: a sled folder copied into a new database that takes its
//! place keeps every record of every tree byte for byte (users, the stored signing
//! keys, sessions, blacklisted and outstanding tokens, a family's chunks, the counts
//! and the clock floor), and the server then serves the same tokens; it is refused
//! while a server holds the folder and for a PostgreSQL configuration; a compaction
//! killed with SIGKILL midway leaves a folder that opens with every record, and the
//! next compaction completes. `tokens seed` and `store compact` open the store once
//! more at their end, so that sled writes its snapshot then.

mod common;

use std::{
    collections::BTreeMap,
    io::{BufRead as _, BufReader},
    path::Path,
    process::{Command, Stdio},
};

use common::{add_user, request, tollgate, Server};
use serde_json::{json, Value};

const KEK: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// `tollgate` with the key-encryption key (for the stored signing keys).
fn with_kek(data: &Path) -> Command {
    let mut cmd = tollgate(data);
    cmd.env("TOLLGATE_KEY_ENCRYPTION_KEY", KEK);
    cmd
}

/// A tree's records, in key order.
type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// Every record of every tree of the stopped folder's sled database, by tree name.
fn dump(data: &Path) -> BTreeMap<Vec<u8>, Records> {
    // No flusher thread: it would hold the database (and its lock) for up to its
    // interval after the drop, and the next command would find the folder held.
    let db = sled::Config::new()
        .path(data.join("db"))
        .flush_every_ms(None)
        .open()
        .unwrap();
    db.tree_names()
        .into_iter()
        .map(|name| {
            let tree = db.open_tree(&name).unwrap();
            let records = tree
                .iter()
                .map(|item| {
                    let (key, value) = item.unwrap();
                    (key.to_vec(), value.to_vec())
                })
                .collect();
            (name.to_vec(), records)
        })
        .collect()
}

/// Runs `cmd` with `args`: (success, stdout, stderr).
fn run(mut cmd: Command, args: &[&str]) -> (bool, String, String) {
    let out = cmd.args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn compact(data: &Path) -> String {
    let (ok, out, err) = run(tollgate(data), &["store", "compact"]);
    assert!(ok, "store compact failed: {err}");
    assert!(
        out.contains("compacted ") && out.contains(" bytes"),
        "{out}"
    );
    err
}

/// Whether sled's newest snapshot (`snap.<LSN in hex>`, written at open in sled 0.34.7)
/// covers most of the log: then the next open does not replay a bulk write. The LSN
/// counts the log's bytes; a snapshot from before a bulk write has a small one.
fn snapshot_is_recent(data: &Path) -> bool {
    let db = data.join("db");
    let newest = std::fs::read_dir(&db)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().ok()?;
            u64::from_str_radix(name.strip_prefix("snap.")?, 16).ok()
        })
        .max()
        .unwrap_or(0);
    let log = std::fs::metadata(db.join("db")).unwrap().len();
    eprintln!("newest snapshot at LSN {newest}, log file {log} bytes");
    newest * 2 > log
}

fn refresh(addr: std::net::SocketAddr, token: &str) -> (u16, Value) {
    let body = json!({"refresh": token});
    request(addr, "POST", "/api/token/refresh/", None, Some(&body)).unwrap()
}

#[test]
fn a_compacted_folder_keeps_every_record_and_serves_the_same_tokens() {
    if common::backend() != "sled" {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_user(&data, "alice", "a-long-enough-password-1");
    add_user(&data, "bob", "a-long-enough-password-2");
    let (ok, _, err) = run(with_kek(&data), &["keys", "add"]);
    assert!(ok, "{err}");
    let server = Server::start_with(&data, &[("TOLLGATE_KEY_ENCRYPTION_KEY", KEK)]);
    let login = |name: &str, password: &str| {
        let body = json!({"username": name, "password": password});
        let (status, body) =
            request(server.addr, "POST", "/api/token/", None, Some(&body)).unwrap();
        assert_eq!(status, 200, "{body}");
        body["refresh"].as_str().unwrap().to_string()
    };
    // A chain of 40 rotations: its family's older ids in a chunk record.
    let mut chain = vec![login("alice", "a-long-enough-password-1")];
    for _ in 0..40 {
        let (status, body) = refresh(server.addr, chain.last().unwrap());
        assert_eq!(status, 200, "{body}");
        chain.push(body["refresh"].as_str().unwrap().to_string());
    }
    let others: Vec<String> = (0..5)
        .map(|_| login("bob", "a-long-enough-password-2"))
        .collect();
    // A session logged out: its token blacklisted.
    let (status, _) = request(
        server.addr,
        "POST",
        "/api/token/blacklist/",
        None,
        Some(&json!({"refresh": others[0]})),
    )
    .unwrap();
    assert_eq!(status, 200);
    // A clean stop, which stores the counts (after a kill the compaction's first open
    // would count and store them, a record the dump before lacked).
    let mut server = server;
    common::sigterm(&server.child);
    assert!(server.child.wait().unwrap().success());
    let before = dump(&data);
    assert!(
        before
            .get(b"v3.family_chunks".as_slice())
            .is_some_and(|chunks| !chunks.is_empty()),
        "no family chunk to copy"
    );
    for tree in ["users", "audit", "v3.tokens", "v3.families"] {
        assert!(
            before.get(tree.as_bytes()).is_some_and(|t| !t.is_empty()),
            "{tree} is empty"
        );
    }
    let said = compact(&data);
    assert!(said.contains("compacted the store in"), "{said}");
    assert!(!data.join("db.3").exists() && !data.join("db.2").exists());
    assert_eq!(dump(&data), before, "a record changed in the compaction");
    // The server serves the same tokens: the last of the chain refreshes, a rotated
    // one and the logged-out one are refused.
    let server = Server::start_with(&data, &[("TOLLGATE_KEY_ENCRYPTION_KEY", KEK)]);
    let (status, body) = refresh(server.addr, &others[1]);
    assert_eq!(status, 200, "{body}");
    let (status, body) = refresh(server.addr, chain.last().unwrap());
    assert_eq!(status, 200, "{body}");
    for token in [&chain[3], &others[0]] {
        let (status, body) = refresh(server.addr, token);
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["detail"], "Token is blacklisted", "{body}");
    }
    // Refused while the server holds the folder, nothing changed.
    let (ok, out, err) = run(tollgate(&data), &["store", "compact"]);
    assert!(!ok && out.is_empty(), "{out}");
    assert!(err.contains("(compact_offline)"), "{err}");
    assert!(!data.join("db.3").exists());
    // And for a PostgreSQL configuration, whose space is VACUUM's.
    let mut pg = tollgate(&data);
    pg.env(
        "TOLLGATE_DATABASE_URL",
        "postgres://tollgate@127.0.0.1:1/tollgate",
    );
    let (ok, _, err) = run(pg, &["store", "compact"]);
    assert!(!ok && err.contains("(compact_not_sled)"), "{err}");
}

#[test]
fn a_killed_compaction_leaves_a_folder_that_opens_and_the_next_one_completes() {
    if common::backend() != "sled" {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_user(&data, "alice", "a-long-enough-password-1");
    let (ok, _, err) = run(
        tollgate(&data),
        &[
            "tokens",
            "seed",
            "--outstanding",
            "40000",
            "--blacklisted",
            "20000",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        snapshot_is_recent(&data),
        "the seed did not reopen the store"
    );
    let before = dump(&data);
    // Killed once it says 40% of the records are copied.
    let mut child = tollgate(&data)
        .args(["store", "compact"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        let armed = line.starts_with("compacting: 40%");
        said.push(line);
        if armed {
            child.kill().unwrap();
            break;
        }
    }
    child.wait().unwrap();
    assert!(
        said.iter().any(|l| l.starts_with("compacting: 40%"))
            && !said.iter().any(|l| l.starts_with("compacted")),
        "not killed midway: {said:?}"
    );
    assert!(data.join("db.3").is_dir(), "no partial copy: {said:?}");
    // The old database opens with every record; the partial copy is deleted then.
    let (ok, _, err) = run(tollgate(&data), &["users", "list"]);
    assert!(ok, "{err}");
    assert!(!data.join("db.3").exists(), "the partial copy was kept");
    assert_eq!(dump(&data), before);
    // The next compaction starts over and completes, and opens the new database once.
    compact(&data);
    assert!(!data.join("db.3").exists() && !data.join("db.2").exists());
    assert!(snapshot_is_recent(&data), "the compaction did not reopen");
    assert_eq!(dump(&data), before, "a record changed in the compaction");
}

/// The size of a folder, every file in it (what `du -sb` counts of files).
fn folder_bytes(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                folder_bytes(&entry.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

/// Issue #19's goal for the flush, at a small scale: a flush of expired tokens frees no
/// file space in sled, and the compaction after it leaves the folder at least 5%
/// smaller than before the flush.
#[test]
fn a_flush_then_a_compaction_shrinks_the_folder() {
    if common::backend() != "sled" {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_user(&data, "alice", "a-long-enough-password-1");
    let seed = [
        "tokens",
        "seed",
        "--outstanding",
        "40000",
        "--blacklisted",
        "20000",
        "--expired-percent",
        "20",
    ];
    let (ok, _, err) = run(tollgate(&data), &seed);
    assert!(ok, "{err}");
    let seeded = folder_bytes(&data);
    let (ok, out, err) = run(tollgate(&data), &["tokens", "flush-expired"]);
    assert!(ok && out.contains("flushed"), "{out} {err}");
    let flushed = folder_bytes(&data);
    compact(&data);
    let compacted = folder_bytes(&data);
    assert!(
        compacted * 100 <= seeded * 95,
        "seeded {seeded} B, flushed {flushed} B, compacted {compacted} B"
    );
}
