//! The conformance suite: one function per guarantee of [`Store`], which every backend
//! runs as its own named tests through [`crate::store_conformance!`].
//!
//! A backend passes when each case passes; each case was seen to fail with its
//! guarantee broken (the commit that added the suite names the break of each).

use std::any::Any;

use crate::store::{
    AuditEntry, BlacklistReason, Blacklisting, KeyState, Outstanding, Revocation, RotateRule,
    Rotation, Seen, Store, StoreError, StoredKey, StoredKind, User,
};

/// A store under test: opens it (again), and keeps what it lives in (a temporary
/// folder, a throwaway database) for as long as the case runs.
pub struct Subject {
    open: Box<dyn Fn() -> Result<Store, StoreError> + Send + Sync>,
    /// Whether [`Subject::replica`] opens a second handle (a replica) or shares one.
    replicas: bool,
    _keep: Box<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject").finish_non_exhaustive()
    }
}

impl Subject {
    /// `open` opens the same (initially empty) store each time it is called; `keep`
    /// is dropped after the case.
    pub fn new(
        open: impl Fn() -> Result<Store, StoreError> + Send + Sync + 'static,
        keep: impl Any + Send + Sync,
    ) -> Self {
        Self {
            open: Box::new(open),
            replicas: false,
            _keep: Box::new(keep),
        }
    }

    /// A store that several processes share (PostgreSQL): each [`Subject::replica`] is
    /// opened as another process would (its own connection pool), so the race cases
    /// run across replicas.
    pub fn with_replicas(mut self) -> Self {
        self.replicas = true;
        self
    }

    /// Another replica of `store` when the backend has replicas, else `store` again
    /// (sled: one process owns the store).
    pub fn replica(&self, store: &Store) -> Store {
        if self.replicas {
            self.open()
        } else {
            store.clone()
        }
    }

    pub(crate) fn open(&self) -> Store {
        (self.open)().expect("the store under test opens")
    }

    /// Drops `store` (the case's last handle) without flushing it and opens the store
    /// again, as a restart does: what a use case returned `Ok` for must be there. A
    /// backend may let go of its store a moment after the drop (sled's lock is released
    /// when its background flush lets go of the database), so a `Locked` open is tried
    /// again for up to 5 s.
    pub(crate) async fn reopen(&self, store: Store) -> Store {
        drop(store);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match (self.open)() {
                Err(StoreError::Locked(_)) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                opened => return opened.expect("the store under test opens again"),
            }
        }
    }
}

/// Runs every case of the suite as a test of its own, named after the case, on the
/// [`Subject`] that `$subject` makes (evaluated once per case).
#[macro_export]
macro_rules! store_conformance {
    ($subject:expr) => {
        $crate::store_conformance!(@cases $subject;
            concurrent_rotations_of_one_token_have_exactly_one_successor,
            a_replay_revokes_the_family_and_later_rotations_are_refused,
            a_rotated_token_has_its_one_successor_within_the_interval_while_unused,
            sessions_are_the_live_families_of_a_user,
            a_rotation_racing_a_user_revocation_leaves_no_live_token_older_than_the_stamp,
            a_token_never_seen_is_adopted,
            an_inactive_users_token_is_not_rotated_when_activity_is_required,
            what_was_written_is_read_back_after_a_reopen,
            the_clock_floor_survives_a_reopen,
            usernames_are_unique,
            a_flush_removes_only_what_expired_before_the_floor,
            signing_key_states_only_move_forward_with_one_current,
            the_key_set_is_bounded_and_old_records_pruned,
            the_audit_trail_keeps_the_newest_entries_in_order,
        );
        $crate::store_conformance!(@keys $subject;
            concurrent_key_rotations_give_one_new_current,
            a_revoked_key_is_replaced_in_the_same_change,
            a_previous_key_retires_once_its_tokens_have_expired,
            automatic_rotation_publishes_the_next_key_ahead,
            concurrent_key_adds_stop_at_the_bound,
            a_full_key_set_refuses_growth_but_rotates_to_its_next_key,
            automatic_rotation_for_years_keeps_the_set_bounded,
        );
    };
    // The key set's life (`crate::keyset`) on the store's one change, by backend.
    (@keys $subject:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::keyset::conformance::$case($subject).await;
            }
        )*
    };
    (@cases $subject:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::store::conformance::$case($subject).await;
            }
        )*
    };
}

const OWNER: u64 = 7;

async fn with_owner(subject: &Subject) -> Store {
    let store = subject.open();
    store
        .add_user(User::new(OWNER, "owner", "", "!".into(), 0), false)
        .await
        .expect("add the owner of the test tokens");
    store
}

fn token(jti: &str, family: &str, created_at_ms: u64, expires_at: u64) -> Outstanding {
    Outstanding {
        jti: jti.into(),
        user_id: OWNER,
        kind: StoredKind::Refresh,
        family: family.into(),
        created_at_ms,
        expires_at,
        token_sha256: String::new(),
    }
}

/// Of 64 concurrent rotations of one token (on two replicas) exactly one gets `Done`, only its successor
/// is recorded, in the old token's family; the others are told it was rotated.
pub async fn concurrent_rotations_of_one_token_have_exactly_one_successor(subject: Subject) {
    let store = with_owner(&subject).await;
    let replica = subject.replica(&store);
    let old = token("a", "a", 1, 100);
    store.record_login(&old, None, None).await.unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            // Half of them on another replica.
            let store = if i % 2 == 0 { &store } else { &replica }.clone();
            let old = old.clone();
            tokio::spawn(async move {
                let new = token(&format!("n{i:02}"), "?", 2, 200);
                store
                    .rotate(&old, &new, RotateRule::BLACKLIST, 10, None)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let done = outcomes.iter().filter(|o| **o == Rotation::Done).count();
    assert_eq!(done, 1, "{outcomes:?}");
    for outcome in outcomes.iter().filter(|o| **o != Rotation::Done) {
        assert_eq!(
            *outcome,
            Rotation::AlreadyBlacklisted(BlacklistReason::Rotated)
        );
    }
    let tokens = store.tokens(Some(OWNER)).await.unwrap();
    assert_eq!(tokens.len(), 2, "the old token and one successor");
    assert!(tokens.iter().all(|(t, _)| t.family == "a"));
    let entry = store
        .blacklisted("a")
        .await
        .unwrap()
        .expect("old blacklisted");
    assert_eq!(entry.reason, BlacklistReason::Rotated);
}

/// A replay of a rotated-out token revokes its family: every member is blacklisted,
/// the family is marked, and no member can be rotated afterwards.
pub async fn a_replay_revokes_the_family_and_later_rotations_are_refused(subject: Subject) {
    let store = with_owner(&subject).await;
    let a = token("a", "a", 1, 100);
    store.record_login(&a, None, None).await.unwrap();
    let b = token("b", "?", 2, 150);
    assert_eq!(
        store
            .rotate(&a, &b, RotateRule::BLACKLIST, 1, None)
            .await
            .unwrap(),
        Rotation::Done
    );
    let (replayed, revoked) = store.revoke_family_of("a", 2).await.unwrap().unwrap();
    assert_eq!(
        (replayed.jti.as_str(), replayed.family.as_str()),
        ("a", "a")
    );
    assert_eq!(revoked, 1, "b is newly blacklisted (a already was)");
    let entry = store
        .blacklisted("b")
        .await
        .unwrap()
        .expect("b blacklisted");
    assert_eq!(entry.reason, BlacklistReason::Reuse);
    assert!(store
        .family("a")
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());
    let b = token("b", "a", 2, 150);
    assert_eq!(
        store
            .rotate(&b, &token("c", "?", 3, 200), RotateRule::BLACKLIST, 3, None)
            .await
            .unwrap(),
        Rotation::AlreadyBlacklisted(BlacklistReason::Reuse)
    );
    assert!(store.outstanding("c").await.unwrap().is_none());
    // Without blacklisting on rotation, the family mark alone stops the chain.
    let d = token("d", "d", 1, 100);
    store.record_login(&d, None, None).await.unwrap();
    let e = token("e", "?", 2, 150);
    assert_eq!(
        store
            .rotate(&d, &e, RotateRule::KEEP, 1, None)
            .await
            .unwrap(),
        Rotation::Done
    );
    store.revoke_family_of("d", 2).await.unwrap().unwrap();
    let e = token("e", "d", 2, 150);
    let refused = store
        .rotate(&e, &token("f", "?", 3, 200), RotateRule::KEEP, 3, None)
        .await;
    assert_ne!(refused.unwrap(), Rotation::Done);
    assert!(store.outstanding("f").await.unwrap().is_none());
    assert!(store
        .revoke_family_of("unknown", 4)
        .await
        .unwrap()
        .is_none());
}

/// The reuse interval: a rotated-out token's successor is found again (by every one of
/// concurrent callers, on any replica, after a reopen too) while it is younger than the
/// interval and unused; not once it was rotated, logged out, its family or its user
/// revoked, nor for a token that was logged out rather than rotated. Time is real: a
/// backend may measure the interval on a clock of its own (PostgreSQL: the database's).
pub async fn a_rotated_token_has_its_one_successor_within_the_interval_while_unused(
    subject: Subject,
) {
    // Long enough for every check on a loaded machine; the expiry uses a short one.
    const INTERVAL: u64 = 30_000;
    let store = with_owner(&subject).await;
    let replica = subject.replica(&store);
    let chain = |name: &str, at_ms: u64| {
        let old = token(
            &format!("{name}0"),
            &format!("{name}0"),
            at_ms - 5,
            in_a_day(),
        );
        let new = token(&format!("{name}1"), "?", at_ms, in_a_day());
        (old, new)
    };
    let (a0, a1) = chain("a", wall_ms());
    store.record_login(&a0, None, None).await.unwrap();
    assert_eq!(
        store
            .rotate(&a0, &a1, RotateRule::BLACKLIST, 1_000, None)
            .await
            .unwrap(),
        Rotation::Done
    );
    let found_within = |store: &Store, jti: &'static str, interval: u64| {
        let store = store.clone();
        async move {
            let found = store
                .successor_in_grace(jti, wall_ms(), interval)
                .await
                .unwrap();
            found.map(|record| (record.jti, record.family))
        }
    };
    let found = |store: &Store, jti: &'static str| found_within(store, jti, INTERVAL);
    let a1_in_a0 = Some(("a1".to_string(), "a0".to_string()));
    assert_eq!(found(&store, "a0").await, a1_in_a0);
    assert_eq!(found(&replica, "a0").await, a1_in_a0);
    let tasks: Vec<_> = (0..32)
        .map(|i| tokio::spawn(found(if i % 2 == 0 { &store } else { &replica }, "a0")))
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), a1_in_a0);
    }
    // Younger than the interval no more: a replay.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(found_within(&store, "a0", 200).await, None);
    assert_eq!(found_within(&replica, "a0", 200).await, None);
    drop(replica);
    let store = subject.reopen(store).await;
    let replica = subject.replica(&store);
    assert_eq!(found(&store, "a0").await, a1_in_a0);
    // The successor used (rotated): a0 has none any more; a1 has a2.
    let a2 = token("a2", "?", wall_ms(), in_a_day());
    let a1 = token("a1", "a0", a1.created_at_ms, a1.expires_at);
    assert_eq!(
        replica
            .rotate(&a1, &a2, RotateRule::BLACKLIST, 1_000, None)
            .await
            .unwrap(),
        Rotation::Done
    );
    assert_eq!(found(&store, "a0").await, None);
    assert_eq!(
        found(&store, "a1").await,
        Some(("a2".to_string(), "a0".to_string()))
    );
    // The successor logged out.
    let a2 = token("a2", "a0", a2.created_at_ms, a2.expires_at);
    replica
        .blacklist(&a2, BlacklistReason::Logout, 1_000)
        .await
        .unwrap();
    assert_eq!(found(&store, "a1").await, None);
    // A logged-out token has no successor, nor does one the store never saw.
    assert_eq!(found(&store, "a2").await, None);
    assert_eq!(found(&store, "zz").await, None);
    // The family revoked (a replay elsewhere in it).
    let (b0, b1) = chain("b", wall_ms());
    store.record_login(&b0, None, None).await.unwrap();
    assert_eq!(
        store
            .rotate(&b0, &b1, RotateRule::BLACKLIST, 2_000, None)
            .await
            .unwrap(),
        Rotation::Done
    );
    replica
        .revoke_family_of("b0", 2_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found(&store, "b0").await, None);
    // The user's tokens revoked after the rotation.
    let (c0, c1) = chain("c", wall_ms());
    store.record_login(&c0, None, None).await.unwrap();
    assert_eq!(
        store
            .rotate(&c0, &c1, RotateRule::BLACKLIST, 3_000, None)
            .await
            .unwrap(),
        Rotation::Done
    );
    replica
        .revoke_user(OWNER, Revocation::LogoutAll, c1.created_at_ms + 1, |_| {})
        .await
        .unwrap();
    assert_eq!(found(&store, "c0").await, None);
}

/// A day from now, in epoch seconds (an expiry every backend can store, Django's
/// timestamps included).
fn in_a_day() -> u64 {
    wall_ms() / 1000 + 86_400
}

/// Now on the wall clock, in ms.
fn wall_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Sessions: a user's families with a live token, newest login first, with the client
/// of the login and of the last rotation; a logged-out, expired, revoked or other
/// user's family is not one; ending a session blacklists its tokens and refuses its
/// rotation.
pub async fn sessions_are_the_live_families_of_a_user(subject: Subject) {
    let store = with_owner(&subject).await;
    store
        .add_user(User::new(OWNER + 1, "other", "", "!".into(), 0), false)
        .await
        .unwrap();
    let seen = |at_ms: u64, agent: &str| Seen::new(at_ms, agent, "192.0.2.1".into());
    let login = |jti: &'static str, at_ms: u64, expires_at: u64, agent: &'static str| {
        let store = store.clone();
        async move {
            let token = token(jti, jti, at_ms, expires_at);
            store
                .record_login(&token, None, Some(&seen(at_ms, agent)))
                .await
                .unwrap();
            token
        }
    };
    let phone = login("phone", 1_000, 900, "Phone").await;
    login("laptop", 2_000, 900, "Laptop").await;
    let gone = login("gone", 3_000, 900, "Gone").await;
    login("old", 500, 50, "Expired").await;
    let mut other = token("theirs", "theirs", 4_000, 900);
    other.user_id = OWNER + 1;
    store.record_login(&other, None, None).await.unwrap();
    // The phone refreshes: its session's last refresh.
    let next = token("phone2", "?", 5_000, 950);
    let rotated = store
        .rotate(
            &phone,
            &next,
            RotateRule::BLACKLIST,
            5,
            Some(&seen(5_000, "Phone 2")),
        )
        .await
        .unwrap();
    assert_eq!(rotated, Rotation::Done);
    // "gone" logged out: no live token left.
    store
        .blacklist(&gone, BlacklistReason::Logout, 6)
        .await
        .unwrap();
    let sessions = store.sessions(OWNER, 100).await.unwrap();
    let ids: Vec<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["laptop", "phone"]);
    let phone_session = &sessions[1].family;
    assert_eq!(phone_session.login, Some(seen(1_000, "Phone")));
    assert_eq!(phone_session.last_refresh, Some(seen(5_000, "Phone 2")));
    assert_eq!(phone_session.expires_at, 950);
    assert_eq!(sessions[0].family.last_refresh, None);
    // Durable: a reopen shows the same.
    let store = subject.reopen(store).await;
    assert_eq!(store.sessions(OWNER, 100).await.unwrap(), sessions);
    // Ending the phone's session: its tokens are blacklisted, its chain cannot grow.
    let ended = store.revoke_session("phone", 7).await.unwrap().unwrap();
    assert_eq!(ended.user_id, OWNER);
    assert!(store.blacklisted("phone2").await.unwrap().is_some());
    let next = token("phone2", "phone", 5_000, 950);
    let refused = store
        .rotate(
            &next,
            &token("phone3", "?", 8_000, 990),
            RotateRule::BLACKLIST,
            8,
            None,
        )
        .await
        .unwrap();
    assert_ne!(refused, Rotation::Done);
    let ids: Vec<String> = store
        .sessions(OWNER, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, ["laptop"]);
    assert!(store.revoke_session("nothing", 9).await.unwrap().is_none());
    // Past every token's expiry there is no session.
    assert!(store.sessions(OWNER, 1_000).await.unwrap().is_empty());
}

/// A rotation racing a user revocation, 1,000 times: the rotation commits before the
/// stamp (and its new token is blacklisted with the others) or is refused; either way
/// no token created before the stamp stays live.
pub async fn a_rotation_racing_a_user_revocation_leaves_no_live_token_older_than_the_stamp(
    subject: Subject,
) {
    let store = with_owner(&subject).await;
    // The revocation on another replica.
    let replica = subject.replica(&store);
    for round in 0..1_000u64 {
        // Each round's tokens are created after the last round's stamp, before its own.
        let base = 1_000 + round * 10;
        let old = token(&format!("o{round}"), &format!("o{round}"), base + 1, 10_000);
        store.record_login(&old, None, None).await.unwrap();
        let new = token(&format!("n{round}"), "?", base + 2, 10_000);
        let rotation = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .rotate(&old, &new, RotateRule::BLACKLIST, 1, None)
                    .await
                    .unwrap()
            })
        };
        let revocation = {
            let store = replica.clone();
            tokio::spawn(async move {
                store
                    .revoke_user(OWNER, Revocation::LogoutAll, base + 5, |_| {})
                    .await
                    .unwrap()
            })
        };
        // Either outcome is right: committed before the stamp, or refused after it.
        rotation.await.unwrap();
        revocation.await.unwrap();
        for jti in [format!("o{round}"), format!("n{round}")] {
            let live = store.outstanding(&jti).await.unwrap().is_some()
                && store.blacklisted(&jti).await.unwrap().is_none();
            assert!(!live, "round {round}: {jti} escaped the revocation");
        }
    }
    let user = store.user(OWNER).await.unwrap().unwrap();
    assert_eq!(user.refresh_revoked_before_ms, 1_000 + 999 * 10 + 6);
}

/// With `require_active`, an inactive user's token is refused (`NoActiveUser`), nothing
/// written, an unseen one not adopted; a token blacklisted for another reason than its
/// rotation says so whatever its user, a rotated-out one needs an active user too;
/// without `require_active` the inactive user's token rotates.
pub async fn an_inactive_users_token_is_not_rotated_when_activity_is_required(subject: Subject) {
    let store = with_owner(&subject).await;
    let rule = RotateRule {
        blacklist_old: true,
        require_active: true,
    };
    let a = token("a", "a", 1, 100);
    store.record_login(&a, None, None).await.unwrap();
    let logged_out = token("l", "l", 1, 100);
    store.record_login(&logged_out, None, None).await.unwrap();
    store
        .blacklist(&logged_out, BlacklistReason::Logout, 1)
        .await
        .unwrap();
    let b = token("b", "?", 2, 150);
    assert_eq!(
        store.rotate(&a, &b, rule, 1, None).await.unwrap(),
        Rotation::Done
    );
    store
        .update_user(OWNER, |u| u.is_active = false)
        .await
        .unwrap();
    let b = token("b", "a", 2, 150);
    let c = token("c", "?", 3, 200);
    assert_eq!(
        store.rotate(&b, &c, rule, 2, None).await.unwrap(),
        Rotation::NoActiveUser
    );
    assert!(
        store.outstanding("c").await.unwrap().is_none(),
        "nothing written"
    );
    assert!(
        store.blacklisted("b").await.unwrap().is_none(),
        "nothing written"
    );
    let unseen = token("u", "u", 1, 100);
    assert_eq!(
        store.rotate(&unseen, &c, rule, 2, None).await.unwrap(),
        Rotation::NoActiveUser
    );
    assert!(
        store.outstanding("u").await.unwrap().is_none(),
        "not adopted"
    );
    let d = token("d", "?", 3, 200);
    assert_eq!(
        store.rotate(&logged_out, &d, rule, 2, None).await.unwrap(),
        Rotation::AlreadyBlacklisted(BlacklistReason::Logout)
    );
    assert_eq!(
        store.rotate(&a, &d, rule, 2, None).await.unwrap(),
        Rotation::NoActiveUser,
        "rotated out, its user inactive"
    );
    assert_eq!(
        store
            .rotate(&b, &c, RotateRule::BLACKLIST, 2, None)
            .await
            .unwrap(),
        Rotation::Done,
        "activity not required"
    );
}

/// A validly signed token the store never saw (minted by the site tollgate replaces)
/// is adopted: by `adopt`, or by its first rotation, which then extends its family.
pub async fn a_token_never_seen_is_adopted(subject: Subject) {
    let store = with_owner(&subject).await;
    let migrated = token("m", "m", 1, 100);
    store.adopt(&migrated).await.unwrap();
    store.adopt(&migrated).await.unwrap();
    assert_eq!(
        store.outstanding("m").await.unwrap(),
        Some(migrated.clone())
    );
    assert_eq!(store.counts().outstanding, 1, "adopting twice records once");
    let unseen = token("u", "u", 1, 100);
    let new = token("v", "?", 2, 150);
    assert_eq!(
        store
            .rotate(&unseen, &new, RotateRule::BLACKLIST, 1, None)
            .await
            .unwrap(),
        Rotation::Done
    );
    assert_eq!(store.outstanding("u").await.unwrap(), Some(unseen));
    assert_eq!(store.outstanding("v").await.unwrap().unwrap().family, "u");
    let entry = store.blacklisted("u").await.unwrap().unwrap();
    assert_eq!(entry.reason, BlacklistReason::Rotated);
    // A token of a user the store does not have is refused, its successor not written.
    let mut stranger = token("x", "x", 1, 100);
    stranger.user_id = 99;
    let successor = token("y", "?", 2, 150);
    let refused = store
        .rotate(&stranger, &successor, RotateRule::BLACKLIST, 1, None)
        .await;
    assert_eq!(refused.unwrap(), Rotation::NoActiveUser);
    assert!(
        store.outstanding("x").await.unwrap().is_none(),
        "not adopted"
    );
    assert!(store.outstanding("y").await.unwrap().is_none());
    // Blacklisting an unseen token adopts it too; twice is refused.
    let logout = token("l", "l", 1, 100);
    let first = store.blacklist(&logout, BlacklistReason::Logout, 2).await;
    assert_eq!(first.unwrap(), Blacklisting::Done);
    assert!(store.outstanding("l").await.unwrap().is_some());
    let second = store.blacklist(&logout, BlacklistReason::Logout, 3).await;
    assert_eq!(
        second.unwrap(),
        Blacklisting::AlreadyBlacklisted(BlacklistReason::Logout)
    );
}

/// Everything a use case wrote is there after the store is closed and opened again.
pub async fn what_was_written_is_read_back_after_a_reopen(subject: Subject) {
    let store = with_owner(&subject).await;
    let mut alice = User::new(0, "alice", "a@example.com", "hash".into(), 5);
    alice.attrs.insert("role".into(), "planner".into());
    let alice = store.add_user(alice, true).await.unwrap();
    let a = Outstanding {
        user_id: alice.id,
        ..token("a", "a", 1, 100)
    };
    store.record_login(&a, Some(42), None).await.unwrap();
    let b = Outstanding {
        user_id: alice.id,
        ..token("b", "?", 2, 150)
    };
    assert_eq!(
        store
            .rotate(&a, &b, RotateRule::BLACKLIST, 3, None)
            .await
            .unwrap(),
        Rotation::Done
    );
    let c = token("c", "c", 4, 300);
    store.record_login(&c, None, None).await.unwrap();
    store
        .blacklist(&c, BlacklistReason::Logout, 5)
        .await
        .unwrap();
    store
        .revoke_user(OWNER, Revocation::PasswordChanged, 6_000, |u| {
            u.password = "new".into()
        })
        .await
        .unwrap();
    let counts = store.counts();

    let store = subject.reopen(store).await;
    let back = store.user(alice.id).await.unwrap().unwrap();
    assert_eq!(back.last_login, Some(42));
    assert_eq!(back.attrs, alice.attrs);
    assert_eq!(
        store.user_by_email("a@example.com").await.unwrap(),
        Some(back)
    );
    let owner = store.user_by_username("owner").await.unwrap().unwrap();
    assert_eq!(owner.password, "new");
    assert_eq!(owner.refresh_revoked_before_ms, 6_001);
    assert_eq!(owner.access_revoked_before_ms, 6_001);
    assert_eq!(owner.revoked_reason, Some(Revocation::PasswordChanged));
    assert_eq!(store.outstanding("b").await.unwrap().unwrap().family, "a");
    let reason = |e: Option<crate::store::Blacklisted>| e.map(|e| e.reason);
    assert_eq!(
        reason(store.blacklisted("a").await.unwrap()),
        Some(BlacklistReason::Rotated)
    );
    assert_eq!(
        reason(store.blacklisted("c").await.unwrap()),
        Some(BlacklistReason::Logout)
    );
    assert!(store.blacklisted("b").await.unwrap().is_none());
    assert_eq!(store.tokens(None).await.unwrap().len(), 3);
    assert_eq!(store.users().await.unwrap().len(), 2);
    assert_eq!(store.counts(), counts);
}

/// The clock floor only rises, and a reopened store (a restart) starts from it; a flush
/// at an earlier wall clock acts at the floor.
pub async fn the_clock_floor_survives_a_reopen(subject: Subject) {
    let store = with_owner(&subject).await;
    assert_eq!(store.clock_floor_ms(), 0);
    store.flush_expired(5_000, 60).await.unwrap();
    assert_eq!(store.clock_floor_ms(), 5_000_000);
    store.raise_clock_floor(1_000).await.unwrap();
    assert_eq!(store.clock_floor_ms(), 5_000_000);
    let store = subject.reopen(store).await;
    assert_eq!(store.clock_floor_ms(), 5_000_000);
    store.flush_expired(10, 0).await.unwrap();
    assert_eq!(store.clock_floor_ms(), 5_000_000);
    store.raise_clock_floor(7_000_000).await.unwrap();
    let store = subject.reopen(store).await;
    assert_eq!(store.clock_floor_ms(), 7_000_000);
}

/// Usernames are unique, also between concurrent adds and across renames; emails too
/// when asked.
pub async fn usernames_are_unique(subject: Subject) {
    let store = subject.open();
    let alice = User::new(0, "alice", "a@example.com", "!".into(), 0);
    let first = store.add_user(alice.clone(), true).await.unwrap();
    assert!(matches!(
        store.add_user(alice.clone(), true).await,
        Err(StoreError::Duplicate("username", _))
    ));
    let bob = User {
        username: "bob".into(),
        ..alice.clone()
    };
    assert!(matches!(
        store.add_user(bob.clone(), true).await,
        Err(StoreError::Duplicate("email", _))
    ));
    let bob = store.add_user(bob, false).await.unwrap();
    assert_ne!(bob.id, first.id);
    assert!(store.user_by_username("Alice").await.unwrap().is_none());
    let taken = store.update_user(bob.id, |u| u.username = "alice".into());
    assert!(matches!(
        taken.await,
        Err(StoreError::Duplicate("username", _))
    ));
    store
        .update_user(first.id, |u| u.username = "alice2".into())
        .await
        .unwrap();
    assert!(store.user_by_username("alice").await.unwrap().is_none());
    let renamed = store.user_by_username("alice2").await.unwrap().unwrap();
    assert_eq!(renamed.id, first.id);
    // Sixteen adds of one name at once: one user.
    let tasks: Vec<_> = (0..16u64)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let carol = User::new(100 + i, "carol", "", "!".into(), 0);
                store.add_user(carol, false).await.is_ok()
            })
        })
        .collect();
    let mut added = 0;
    for task in tasks {
        added += usize::from(task.await.unwrap());
    }
    assert_eq!(added, 1);
    let users = store.users().await.unwrap();
    assert_eq!(users.iter().filter(|u| u.username == "carol").count(), 1);
    assert!(matches!(
        store.update_user(999, |_| {}).await,
        Err(StoreError::NoSuchUser(_))
    ));
}

/// A flush removes the records of tokens expired at or before `now - leeway` (and
/// their blacklist entries and families), never a token that can still verify, and
/// acts at the clock floor when called with an earlier time.
pub async fn a_flush_removes_only_what_expired_before_the_floor(subject: Subject) {
    let store = with_owner(&subject).await;
    for (jti, expires_at) in [("old", 100), ("mid", 4_000), ("new", 9_000)] {
        store
            .record_login(&token(jti, jti, 1, expires_at), None, None)
            .await
            .unwrap();
    }
    let old = token("old", "old", 1, 100);
    store
        .blacklist(&old, BlacklistReason::Logout, 50)
        .await
        .unwrap();
    let flushed = store.flush_expired(99, 0).await.unwrap();
    assert_eq!(flushed, Default::default());
    assert_eq!(
        store.flush_expired(159, 60).await.unwrap(),
        Default::default()
    );
    let flushed = store.flush_expired(160, 60).await.unwrap();
    let removed = (flushed.outstanding, flushed.blacklisted, flushed.families);
    assert_eq!(removed, (1, 1, 1));
    assert!(store.outstanding("old").await.unwrap().is_none());
    assert!(store.blacklisted("old").await.unwrap().is_none());
    assert!(store.family("old").await.unwrap().is_none());
    // Past the floor: a flush called with an earlier time acts at the floor.
    store.raise_clock_floor(5_000_000).await.unwrap();
    let flushed = store.flush_expired(10, 0).await.unwrap();
    assert_eq!(flushed.outstanding, 1);
    assert!(store.outstanding("mid").await.unwrap().is_none());
    let left: Vec<_> = store.tokens(Some(OWNER)).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0.jti, "new");
    assert_eq!(store.counts().outstanding, 1);
    assert_eq!(store.counts().blacklisted, 0);
}

/// A key record as a backend sees it (the rules hold whatever the sealed bytes are).
fn key_record(kid: &str, state: KeyState) -> StoredKey {
    let mut key = StoredKey::new(kid, "EdDSA", state, 1);
    key.activated_ms = None;
    key.sealed = vec![1, 2, 3];
    key
}

/// Writes `upserts` as one change of the key set.
async fn change_keys(store: &Store, upserts: Vec<StoredKey>) -> Result<(), StoreError> {
    store
        .update_signing_keys(move |_| (upserts.clone(), ()))
        .await
}

/// A key set as (kid, state) pairs, sorted.
pub fn states(keys: &[StoredKey]) -> Vec<(String, KeyState)> {
    let mut states: Vec<_> = keys.iter().map(|k| (k.kid.clone(), k.state)).collect();
    states.sort();
    states
}

/// The key set's rules hold in the store itself: a state never moves backwards, two keys
/// are never current, a set with a current key keeps one; a refused change writes
/// nothing; what was written is there after a reopen.
pub async fn signing_key_states_only_move_forward_with_one_current(subject: Subject) {
    use KeyState::*;
    let store = subject.open();
    assert_eq!(store.signing_keys().await.unwrap(), Vec::new());
    change_keys(
        &store,
        vec![key_record("a", Current), key_record("b", Next)],
    )
    .await
    .unwrap();
    let refused: Vec<Vec<StoredKey>> = vec![
        vec![key_record("c", Current)],
        vec![key_record("b", Current)],
        vec![key_record("a", Next)],
        vec![key_record("a", Previous)],
        vec![key_record("d", Previous)],
        vec![key_record("a", Revoked), key_record("e", Retired)],
        vec![key_record("b", Previous)],
    ];
    for upserts in refused {
        let err = change_keys(&store, upserts.clone()).await.unwrap_err();
        assert_eq!(err.code(), "key_rule", "{upserts:?}: {err}");
    }
    let mut other_algorithm = key_record("b", Next);
    other_algorithm.algorithm = "HS256".into();
    let err = change_keys(&store, vec![other_algorithm])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "key_rule");
    let before = vec![("a".to_string(), Current), ("b".to_string(), Next)];
    assert_eq!(states(&store.signing_keys().await.unwrap()), before);
    // A rotation: the current key steps down and the next one signs, in one change.
    change_keys(
        &store,
        vec![key_record("b", Current), key_record("a", Previous)],
    )
    .await
    .unwrap();
    for back in [key_record("a", Current), key_record("b", Next)] {
        let err = change_keys(&store, vec![back, key_record("b", Previous)])
            .await
            .unwrap_err();
        assert_eq!(err.code(), "key_rule");
    }
    change_keys(&store, vec![key_record("a", Retired)])
        .await
        .unwrap();
    let err = change_keys(&store, vec![key_record("a", Previous)])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "key_rule");
    let store = subject.reopen(store).await;
    let after = vec![("a".to_string(), Retired), ("b".to_string(), Current)];
    assert_eq!(states(&store.signing_keys().await.unwrap()), after);
    assert_eq!(store.signing_keys().await.unwrap()[0].sealed, vec![1, 2, 3]);
}

/// `kid` moved to `state` (retired or revoked) at `at_ms`.
fn dropped_record(kid: &str, state: KeyState, at_ms: u64) -> StoredKey {
    let mut key = key_record(kid, state);
    key.retired_ms = Some(at_ms);
    key
}

/// The bound holds in the store itself: a change leaving more than
/// [`crate::store::MAX_VERIFYING`] keys that verify is `key_set_full` and writes nothing
/// (rotating to a next key, which adds none, still works); a change that adds a key prunes
/// the retired and revoked records beyond the newest [`crate::store::KEPT_DROPPED`]
/// (oldest first), one that adds none prunes nothing; what remains is there after a
/// reopen.
pub async fn the_key_set_is_bounded_and_old_records_pruned(subject: Subject) {
    use crate::store::{KEPT_DROPPED, MAX_VERIFYING};
    use KeyState::*;
    let store = subject.open();
    let mut full = vec![key_record("cur", Current)];
    full.extend((1..MAX_VERIFYING).map(|i| key_record(&format!("n{i:02}"), Next)));
    change_keys(&store, full).await.unwrap();
    let before = store.signing_keys().await.unwrap();
    assert_eq!(before.len(), MAX_VERIFYING);
    for upserts in [
        vec![key_record("extra", Next)],
        // A fresh current key with the old one stepping down: one more that verifies.
        vec![key_record("extra", Current), key_record("cur", Previous)],
    ] {
        let err = change_keys(&store, upserts.clone()).await.unwrap_err();
        assert_eq!(err.code(), "key_set_full", "{upserts:?}: {err}");
        assert!(err.to_string().contains("keys revoke"), "{err}");
    }
    assert_eq!(
        store.signing_keys().await.unwrap(),
        before,
        "nothing written"
    );
    // Rotating to a next key adds none: allowed on a full set.
    change_keys(
        &store,
        vec![key_record("n01", Current), key_record("cur", Previous)],
    )
    .await
    .unwrap();
    // Room again once one stops verifying.
    change_keys(&store, vec![dropped_record("cur", Revoked, 10)])
        .await
        .unwrap();
    change_keys(&store, vec![key_record("extra", Next)])
        .await
        .unwrap();
    for i in 2..MAX_VERIFYING {
        let state = if i % 2 == 0 { Revoked } else { Retired };
        change_keys(
            &store,
            vec![dropped_record(&format!("n{i:02}"), state, 10 + i as u64)],
        )
        .await
        .unwrap();
    }
    // Keys added and dropped one by one: 15 dropped so far, then 25 more.
    for i in 0..25u64 {
        let kid = format!("k{i:02}");
        change_keys(&store, vec![key_record(&kid, Next)])
            .await
            .unwrap();
        let state = if i % 2 == 0 { Revoked } else { Retired };
        change_keys(&store, vec![dropped_record(&kid, state, 100 + i)])
            .await
            .unwrap();
    }
    let keys = store.signing_keys().await.unwrap();
    let dropped: Vec<&StoredKey> = keys.iter().filter(|k| !k.state.verifies()).collect();
    // 40 dropped in all; the last add left the newest 32, the drop after it one more.
    assert_eq!(dropped.len(), KEPT_DROPPED + 1, "{keys:?}");
    let mut kids: Vec<&str> = dropped.iter().map(|k| k.kid.as_str()).collect();
    kids.sort();
    let mut want: Vec<String> = (8..MAX_VERIFYING).map(|i| format!("n{i:02}")).collect();
    want.extend((0..25).map(|i| format!("k{i:02}")));
    want.sort();
    assert_eq!(kids, want, "the oldest (cur, n02..n07) pruned");
    change_keys(&store, vec![key_record("last", Next)])
        .await
        .unwrap();
    let store = subject.reopen(store).await;
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(
        keys.iter().filter(|k| !k.state.verifies()).count(),
        KEPT_DROPPED
    );
    assert!(
        !keys.iter().any(|k| k.kid == "n08"),
        "the oldest went first"
    );
    let verifying = states(&keys)
        .into_iter()
        .filter(|(_, s)| s.verifies())
        .collect::<Vec<_>>();
    assert_eq!(
        verifying,
        vec![
            ("extra".to_string(), Next),
            ("last".to_string(), Next),
            ("n01".to_string(), Current),
        ]
    );
}

fn audit_entry(n: usize) -> AuditEntry {
    AuditEntry {
        id: 0,
        at_ms: 1_000 + n as u64,
        actor: format!("admin{n}"),
        via: "api".into(),
        action: "users.deactivate".into(),
        target: format!("user{n}"),
        outcome: "ok".into(),
    }
}

/// The audit trail: ids grow (also between concurrent appends on replicas), reads are
/// newest first and page with `before`, only the newest `keep` entries stay, texts are
/// bounded, and every append returned is there after a reopen.
pub async fn the_audit_trail_keeps_the_newest_entries_in_order(subject: Subject) {
    let store = subject.open();
    assert_eq!(store.audit(None, 10).await.unwrap(), vec![]);
    let keep = 5;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(store.record_audit(audit_entry(n), keep).await.unwrap());
    }
    // Four at once, two of them on another replica.
    let other = subject.replica(&store);
    let concurrent = (3..7).map(|n| {
        let store = if n % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        tokio::spawn(async move { store.record_audit(audit_entry(n), keep).await.unwrap() })
    });
    for handle in concurrent.collect::<Vec<_>>() {
        ids.push(handle.await.unwrap());
    }
    drop(other);
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 7, "every append has its own id: {ids:?}");
    assert!(ids[0] < ids[1] && ids[1] < ids[2], "{ids:?}");
    let mut long = audit_entry(9);
    long.target = "é".repeat(300);
    let last = store.record_audit(long, keep).await.unwrap();
    assert!(last > *sorted.last().unwrap());
    let store = subject.reopen(store).await;
    let all = store.audit(None, 100).await.unwrap();
    assert_eq!(all.len(), keep, "only the newest {keep} stay: {all:?}");
    let got: Vec<u64> = all.iter().map(|e| e.id).collect();
    let mut want: Vec<u64> = sorted[3..].iter().rev().copied().collect();
    want.insert(0, last);
    assert_eq!(got, want, "newest first");
    assert_eq!(all[0].target.len(), crate::store::MAX_AUDIT_FIELD);
    assert_eq!(all[0].actor, "admin9");
    assert_eq!((all[0].at_ms, all[0].via.as_str()), (1_009, "api"));
    let page = store.audit(Some(all[1].id), 2).await.unwrap();
    assert_eq!(page, all[2..4].to_vec());
}
