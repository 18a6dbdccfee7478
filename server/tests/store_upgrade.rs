//! A format 1 data folder (JSON records, written here as format 1 laid them out) is
//! upgraded to format 2 then format 3 on its first open, and an upgrade killed with
//! SIGKILL midway, in either step, resumes at the next open: every token comes out with
//! its blacklist state, its family and its user, once. (`legacy_store.rs` opens a
//! folder a real earlier release wrote.)

mod common;

use std::{
    collections::HashMap,
    io::{BufRead as _, BufReader},
    path::Path,
    process::Stdio,
};

use common::{token_records, tollgate};
use serde_json::{json, Value};

const TOKENS: u64 = 40_000;

/// The jti of token `n`: 32 hex digits, as tollgate's and Simple JWT's.
fn jti(n: u64) -> String {
    format!("0190{n:028x}")
}

/// Writes a format 1 store: user 1, `TOKENS` tokens in families of two (the first of
/// each blacklisted as rotated into the second), every index format 1 kept. 80,000
/// records in all: the upgrade flushes and stores its cursor every 20,000, so a kill at
/// 40% comes after at least one.
fn write_v1(data: &Path) {
    std::fs::create_dir_all(data).unwrap();
    let db = sled::open(data.join("db")).unwrap();
    db.insert("format", "tollgate-store-1").unwrap();
    let user =
        json!({"id": 1, "username": "alice", "password": "!", "is_active": true, "date_joined": 0});
    db.open_tree("users")
        .unwrap()
        .insert(1u64.to_be_bytes(), serde_json::to_vec(&user).unwrap())
        .unwrap();
    db.open_tree("usernames")
        .unwrap()
        .insert("alice", &1u64.to_be_bytes())
        .unwrap();
    let tree = |name: &str| db.open_tree(name).unwrap();
    let (outstanding, blacklist, families, user_tokens, family_tokens, expiry) = (
        tree("outstanding"),
        tree("blacklist"),
        tree("families"),
        tree("user_tokens"),
        tree("family_tokens"),
        tree("expiry"),
    );
    let far = 4_000_000_000u64;
    for n in 0..TOKENS {
        let id = jti(n);
        let family = jti(n - n % 2);
        let record = json!({"jti": id, "user_id": 1, "kind": "refresh", "family": family,
            "created_at_ms": 1_700_000_000_000u64 + n, "expires_at": far + n,
            "token_sha256": format!("{n:064x}")});
        outstanding
            .insert(id.as_bytes(), serde_json::to_vec(&record).unwrap())
            .unwrap();
        let mut key = 1u64.to_be_bytes().to_vec();
        key.extend_from_slice(id.as_bytes());
        user_tokens.insert(key, &[]).unwrap();
        let mut key = vec![family.len() as u8];
        key.extend_from_slice(family.as_bytes());
        key.extend_from_slice(id.as_bytes());
        family_tokens.insert(key, &[]).unwrap();
        let mut key = (far + n).to_be_bytes().to_vec();
        key.push(0);
        key.extend_from_slice(id.as_bytes());
        expiry.insert(key, &[]).unwrap();
        if n % 2 == 0 {
            let entry = json!({"jti": id, "blacklisted_at": 5, "reason": "rotated",
                "expires_at": far + n, "successor": jti(n + 1)});
            blacklist
                .insert(id.as_bytes(), serde_json::to_vec(&entry).unwrap())
                .unwrap();
        } else {
            let record = json!({"user_id": 1, "created_at_ms": 1_700_000_000_000u64 + n - 1,
                "expires_at": far + n, "revoked_at": null});
            families
                .insert(family.as_bytes(), serde_json::to_vec(&record).unwrap())
                .unwrap();
        }
    }
    db.flush().unwrap();
}

fn check(records: &HashMap<String, Value>) {
    assert_eq!(records.len() as u64, TOKENS);
    for n in 0..TOKENS {
        let record = &records[&jti(n)];
        assert_eq!(record["family"], jti(n - n % 2), "{record}");
        assert_eq!(record["user_id"], 1);
        assert_eq!(record["expires_at"], 4_000_000_000u64 + n);
        let blacklisted = &record["blacklisted"];
        if n % 2 == 0 {
            assert_eq!(blacklisted["reason"], "rotated", "{record}");
            assert_eq!(blacklisted["successor"], jti(n + 1), "{record}");
        } else {
            assert!(blacklisted.is_null(), "{record}");
        }
    }
}

/// Runs `tokens list` on `data` until it reports 40% of an upgrade's records done after
/// `armed` holds for what it said before, then kills it with SIGKILL; returns what it
/// said.
fn killed_at(data: &Path, armed: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut child = tollgate(data)
        .args(["tokens", "list", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut said: Vec<String> = Vec::new();
    let mut killed = false;
    for line in stderr.lines() {
        let line = line.unwrap();
        if line.starts_with("upgrading: 40%") && armed(&said) {
            child.kill().unwrap();
            killed = true;
        }
        said.push(line);
        if killed {
            break;
        }
    }
    child.wait().unwrap();
    assert!(killed, "no progress before the kill: {said:?}");
    said
}

#[test]
fn a_format_1_folder_is_upgraded_and_a_killed_upgrade_resumes() {
    if common::backend() != "sled" {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_v1(&data);
    // The first open: killed once it has said it made progress (format 1 to 2).
    let said = killed_at(&data, |_| true);
    assert!(
        !said
            .iter()
            .any(|l| l.starts_with("upgraded") || l.contains("format 3")),
        "finished before the kill: {said:?}"
    );
    // The second: resumes, finishes format 2, is killed in the copy to format 3.
    let said = killed_at(&data, |said| {
        said.iter()
            .any(|l| l.starts_with("upgrading the data folder's store to format 3"))
    });
    assert!(
        said.iter()
            .any(|l| l.starts_with("upgraded the store to format 2")),
        "{said:?}"
    );
    assert!(
        !said
            .iter()
            .any(|l| l.starts_with("upgraded the store to format 3")),
        "finished before the kill: {said:?}"
    );
    assert!(data.join("db.3").is_dir() && data.join("db").is_dir());
    // The next open resumes and finishes; the one after finds format 3.
    let out = tollgate(&data)
        .args(["tokens", "list", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resumed = String::from_utf8_lossy(&out.stderr);
    assert!(
        resumed.contains("upgraded the store to format 3") && !resumed.contains("to format 2"),
        "{resumed}"
    );
    // The new database took the old one's place; the old one is gone.
    assert!(!data.join("db.3").exists() && !data.join("db.2").exists());
    let records: HashMap<String, Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).unwrap();
            (r["jti"].as_str().unwrap().to_string(), r)
        })
        .collect();
    check(&records);
    let again = tollgate(&data).args(["users", "list"]).output().unwrap();
    assert!(again.status.success());
    assert!(!String::from_utf8_lossy(&again.stderr).contains("upgrading"));
    check(&token_records(tollgate(&data)));
}
