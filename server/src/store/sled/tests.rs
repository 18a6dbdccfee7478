//! The sled backend's own tests (what every backend guarantees is in the conformance
//! suite, `crate::store::conformance`).

use super::*;
use crate::store::{
    BlacklistReason, Family, Outstanding, Revocation, RotateRule, Rotation, StoredKind,
};

/// A fresh store with user 7, the owner of every test token.
fn store_with_user(dir: &tempfile::TempDir) -> SledStore {
    let store = SledStore::open(dir.path()).unwrap();
    store
        .insert_user(User::new(7, "seven", "", "!".into(), 0), false)
        .unwrap();
    store
}

fn token(jti: &str, family: &str, expires_at: u64) -> Outstanding {
    Outstanding {
        jti: jti.into(),
        user_id: 7,
        kind: StoredKind::Refresh,
        family: family.into(),
        created_at_ms: 1,
        expires_at,
        token_sha256: String::new(),
    }
}

#[test]
fn a_shared_user_is_the_stored_one_after_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_user(&dir);
    let first = store.user_shared(7).unwrap().unwrap();
    assert!(first.is_active);
    // Unchanged bytes: the decoded record is shared, not decoded again.
    assert!(Arc::ptr_eq(&first, &store.user_shared(7).unwrap().unwrap()));
    store.change_user(7, |u| u.is_active = false).unwrap();
    let changed = store.user_shared(7).unwrap().unwrap();
    assert!(!changed.is_active);
    assert_eq!(*changed, store.user(7).unwrap().unwrap());
    assert!(store.user_shared(8).unwrap().is_none());
}

#[test]
fn shared_users_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_user(&dir);
    let many = DECODED_USERS as u64 + 10;
    for id in 100..100 + many {
        let user = User::new(id, &format!("u{id}"), "", "!".into(), 0);
        store.insert_user(user, false).unwrap();
        assert_eq!(store.user_shared(id).unwrap().unwrap().id, id);
    }
    let kept = store.slot.decoded_users.lock().unwrap().len();
    assert_eq!(kept, DECODED_USERS);
}

#[test]
fn counts_follow_every_write_and_a_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let walk = |store: &SledStore| {
        let [users, outstanding, blacklisted] = count_records(&store.inner().unwrap()).unwrap();
        Counts {
            users: users as usize,
            outstanding: outstanding as usize,
            blacklisted: blacklisted as usize,
        }
    };
    {
        let store = store_with_user(&dir);
        store
            .insert_token(&token("a", "a", 100), None, None)
            .unwrap();
        store
            .insert_token(&token("a", "a", 100), None, None)
            .unwrap();
        let new = token("b", "?", 150);
        store
            .rotate_tx(&token("a", "a", 100), &new, RotateRule::BLACKLIST, 1, None)
            .unwrap();
        // A migrated token is recorded, then rotated.
        let new = token("y", "?", 150);
        store
            .rotate_tx(&token("x", "x", 100), &new, RotateRule::BLACKLIST, 1, None)
            .unwrap();
        store
            .blacklist_tx(&token("z", "z", 300), BlacklistReason::Logout, 2)
            .unwrap();
        store
            .revoke_family_tx("a", 3, BlacklistReason::Reuse)
            .unwrap();
        store
            .revoke_user_tx(7, Revocation::LogoutAll, 4_000, |_| {})
            .unwrap();
        store.delete_expired(100, 0).unwrap();
        let counts = store.counts();
        assert_eq!(counts, walk(&store));
        assert_eq!((counts.outstanding, counts.blacklisted), (3, 3));
    }
    // Closed cleanly: the counts are read back, and removed until the next close.
    let store = SledStore::open(dir.path()).unwrap();
    assert!(store.inner().unwrap().db.get(COUNTS_KEY).unwrap().is_none());
    assert_eq!(store.counts(), walk(&store));
}

#[cfg(unix)]
#[test]
fn the_data_folder_is_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _store = SledStore::open(&data).unwrap();
    let mode = std::fs::metadata(&data).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

/// An I/O error (from a read or a write) marks the store failed: it reports
/// `Recovering` until a reopen, then works again with what it held.
#[test]
fn a_failed_store_recovers_by_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_user(&dir);
    assert_eq!(store.health(), Health::Ready);
    let failed: Result<(), StoreError> = store.watch(Err(StoreError::Io("disk".into())));
    assert!(failed.is_err());
    assert_eq!(store.health(), Health::Recovering);
    // As `supervise` does: sled may release its file lock a moment after the old
    // database is dropped, so a reopen is tried again until it works (here 5 s at most).
    let patience = std::time::Duration::from_secs(5);
    let deadline = std::time::Instant::now() + patience;
    while let Err(err) = store.reopen(patience) {
        assert!(std::time::Instant::now() < deadline, "not reopened: {err}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(store.health(), Health::Ready);
    assert_eq!(store.user(7).unwrap().unwrap().username, "seven");
}

/// An upgrade to format 3 killed between its two renames, or before it deleted the old
/// database, is finished by the next open: the new database in `db`, nothing else left.
#[test]
fn an_interrupted_switch_is_finished_at_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(store_with_user(&dir));
    let (db, next, retired) = (
        dir.path().join("db"),
        dir.path().join("db.3"),
        dir.path().join("db.2"),
    );
    // Killed after `db` moved to `db.2`, before `db.3` moved to `db`.
    std::fs::rename(&db, &next).unwrap();
    std::fs::create_dir(&retired).unwrap();
    std::fs::write(retired.join("conf"), b"old").unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.user(7).unwrap().unwrap().username, "seven");
    assert!(db.is_dir() && !next.exists() && !retired.exists());
    drop(store);
    // Killed after both renames, before the old database was deleted.
    std::fs::create_dir(&retired).unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.user(7).unwrap().unwrap().username, "seven");
    assert!(!retired.exists());
    drop(store);
    // A compaction killed before its switch: its partial copy is deleted.
    std::fs::create_dir(&next).unwrap();
    std::fs::write(next.join("conf"), b"partial").unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.user(7).unwrap().unwrap().username, "seven");
    assert!(db.is_dir() && !next.exists());
    drop(store);
    // And a compaction completes, then is refused while the store is open.
    let (before, after) = SledStore::compact(dir.path()).unwrap();
    assert!(before > 0 && after > 0);
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.user(7).unwrap().unwrap().username, "seven");
    assert!(matches!(
        SledStore::compact(dir.path()),
        Err(StoreError::Locked(_))
    ));
    assert!(!next.exists() && !retired.exists());
}

/// A family rotated far past [`record::INLINE_MEMBERS`] keeps a record of bounded size
/// (its older ids move out in chunks); every reader still sees them all, and the flush
/// rewrites, then deletes, the chunks as their tokens expire.
#[test]
fn a_long_chain_keeps_its_family_record_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_user(&dir);
    let jti = |n: u64| format!("{n:032x}");
    store
        .insert_token(&token(&jti(0), "f", 1000), None, None)
        .unwrap();
    let size = |store: &SledStore| {
        let i = store.inner().unwrap();
        i.families.get(record::id_key("f")).unwrap().unwrap().len()
    };
    let mut largest = 0;
    for n in 1..=250u64 {
        let (old, new) = (
            token(&jti(n - 1), "f", 999 + n),
            token(&jti(n), "f", 1000 + n),
        );
        store
            .rotate_tx(&old, &new, RotateRule::BLACKLIST, 1, None)
            .unwrap();
        if n == 64 {
            largest = size(&store);
        }
        assert!(size(&store) <= largest.max(64 + 17 * record::INLINE_MEMBERS));
    }
    let i = store.inner().unwrap();
    let all: Vec<String> = (0..=250).map(jti).collect();
    assert_eq!(SledStore::family_jtis(&i, "f").unwrap(), all);
    assert_eq!(i.family_chunks.len(), 250 / record::INLINE_MEMBERS);
    assert_eq!(store.sessions(7, 1).unwrap().len(), 1);
    // Tokens 0 to 100 expire: the chunks holding only them go, the next is rewritten.
    let flushed = store.delete_expired(1100, 0).unwrap();
    assert_eq!(flushed.blacklisted, 101);
    assert_eq!(SledStore::family_jtis(&i, "f").unwrap(), all[101..]);
    let first = 101 / record::INLINE_MEMBERS;
    assert_eq!(i.family_chunks.len(), 250 / record::INLINE_MEMBERS - first);
    let family = i.families.get(record::id_key("f")).unwrap().unwrap();
    assert_eq!(
        record::FamilyRecord::decode(&family).unwrap().first_chunk,
        first as u32
    );
    assert_eq!(
        store
            .revoke_family_tx("f", 2, BlacklistReason::Reuse)
            .unwrap(),
        1
    );
    assert!(store.sessions(7, 1).unwrap().is_empty());
    store.delete_expired(2000, 0).unwrap();
    assert!(i.families.is_empty() && i.family_chunks.is_empty());
    assert_eq!(store.counts().outstanding, 0);
}

/// A family whose only live token sits in a chunk (rotations that keep the old token,
/// then the newest ones blacklisted) is still a session, and revoking it reaches that
/// token.
#[test]
fn a_session_live_only_in_a_chunk_is_listed_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_user(&dir);
    let jti = |n: u64| format!("{n:032x}");
    let last = 2 * record::INLINE_MEMBERS as u64;
    store
        .insert_token(&token(&jti(0), "f", 5000), None, None)
        .unwrap();
    for n in 1..=last {
        let (old, new) = (token(&jti(n - 1), "f", 5000), token(&jti(n), "f", 5000));
        store
            .rotate_tx(&old, &new, RotateRule::KEEP, 1, None)
            .unwrap();
    }
    // Every token after the first is blacklisted: only token 0 (in the first chunk) lives.
    for n in 1..=last {
        store
            .blacklist_tx(&token(&jti(n), "f", 5000), BlacklistReason::Logout, 2)
            .unwrap();
    }
    let i = store.inner().unwrap();
    assert!(!i.family_chunks.is_empty());
    let inline =
        record::FamilyRecord::decode(&i.families.get(record::id_key("f")).unwrap().unwrap())
            .unwrap()
            .members()
            .unwrap();
    assert!(!inline.contains(&jti(0)));
    assert_eq!(store.sessions(7, 3).unwrap().len(), 1);
    assert_eq!(
        store
            .revoke_family_tx("f", 4, BlacklistReason::Reuse)
            .unwrap(),
        1
    );
    assert!(store.blacklisted(&jti(0)).unwrap().is_some());
    assert!(store.sessions(7, 5).unwrap().is_empty());
}

/// The upgrade from format 2 moves a long family's older ids into chunk records, as
/// rotations would have.
#[test]
fn an_upgraded_long_family_has_its_ids_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let jti = |n: u64| format!("{n:032x}");
    {
        let db = sled::open(dir.path().join("db")).unwrap();
        db.insert(format::FORMAT_KEY, format::FORMAT_V2).unwrap();
        let tree = |name: &str| db.open_tree(name).unwrap();
        let (tokens, families, members) = (
            tree("v2.tokens"),
            tree("v2.families"),
            tree("v2.family_tokens"),
        );
        for n in 0..100 {
            let record = record::TokenRecord::new(token(&jti(n), "f", 1000 + n));
            tokens
                .insert(record::id_key(&jti(n)), record.encode())
                .unwrap();
            members
                .insert(record::family_token_key("f", &jti(n)), &[])
                .unwrap();
        }
        let family = Family {
            user_id: 7,
            created_at_ms: 1,
            expires_at: 1099,
            revoked_at: None,
            login: None,
            last_refresh: None,
        };
        families
            .insert(record::id_key("f"), record::encode_family_v2(&family, 1000))
            .unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    let i = store.inner().unwrap();
    let all: Vec<String> = (0..100).map(jti).collect();
    assert_eq!(SledStore::family_jtis(&i, "f").unwrap(), all);
    assert_eq!(i.family_chunks.len(), 100 / record::INLINE_MEMBERS);
}

/// A rotation is not a sled transaction (see `tx::Writes`): its writes land last first,
/// the old token's record (blacklisted, with its successor) last. sled recovers a
/// prefix of its log after a crash, so every prefix of those writes must leave a store
/// in which the old token rotates again (the client never had the successor), and all
/// of them the rotation done. Each prefix in a fresh store; also for a token the store
/// has never seen (adopted in the same writes) and for a family past its inline ids.
#[test]
fn every_prefix_of_a_rotations_writes_lets_the_old_token_rotate_again() {
    let jti = |n: u64| format!("{n:032x}");
    // (tokens recorded before, the token rotated): a fresh family, a family whose next
    // id starts a chunk, a token never seen.
    let cases: [(u64, Option<u64>); 3] = [(1, Some(0)), (33, Some(32)), (0, None)];
    for (recorded, rotated) in cases {
        let old = token(&jti(rotated.unwrap_or(500)), "f", 1000);
        let mut writes_seen = None;
        for k in 0.. {
            let dir = tempfile::tempdir().unwrap();
            let store = store_with_user(&dir);
            for n in 0..recorded {
                store
                    .insert_token(&token(&jti(n), "f", 1000), None, None)
                    .unwrap();
            }
            let i = store.inner().unwrap();
            let writes = tx::Writes::default();
            let new = token(&jti(900), "f", 1000);
            let (rotation, _) = store
                .rotate_staged(&i, &writes, (&old, &new, RotateRule::BLACKLIST, 1, None))
                .unwrap();
            assert_eq!(rotation, Rotation::Done);
            let ordered = writes.in_apply_order();
            let n = ordered.len();
            // The deciding write is the old token's record, applied last.
            let (tree, key, _) = ordered.last().unwrap();
            assert!(std::ptr::eq(*tree, &i.tokens));
            assert_eq!(key.as_ref(), record::id_key(&old.jti).as_slice());
            writes_seen = Some(n);
            for (tree, key, value) in ordered.into_iter().take(k) {
                tree.insert(key, value).unwrap();
            }
            let again = token(&jti(901), "f", 1000);
            let (rotation, _) = store
                .rotate_tx(&old, &again, RotateRule::BLACKLIST, 2, None)
                .unwrap();
            if k < n {
                assert_eq!(rotation, Rotation::Done, "prefix of {k} of {n} writes");
                let family = SledStore::family_jtis(&i, "f").unwrap();
                assert!(family.contains(&jti(901)), "prefix of {k}: {family:?}");
            } else {
                assert_eq!(
                    rotation,
                    Rotation::AlreadyBlacklisted(BlacklistReason::Rotated)
                );
                break;
            }
        }
        assert!(writes_seen.unwrap() >= 2, "{recorded} {rotated:?}");
    }
}
