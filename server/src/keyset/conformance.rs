//! Conformance cases of the key set's life ([`crate::keyset`]: rotate, revoke) on the
//! store's one atomic change, run by every backend through [`crate::store_conformance!`].

use crate::{
    keyset::{self, Kek, Revoked, Rotated},
    store::{
        conformance::{states, Subject},
        KeyState,
    },
};

/// Of 16 concurrent rotations from one state (on two replicas) one is done and the others
/// are told which key won: one new current key, the old one previous.
pub async fn concurrent_key_rotations_give_one_new_current(subject: Subject) {
    let store = subject.open();
    let replica = subject.replica(&store);
    let kek = Kek::from_bytes([9; 32]);
    let alg = tollgate_core::Algorithm::EdDsa;
    let first = keyset::rotate(&store, &kek, None, alg, 1_000, 0)
        .await
        .unwrap();
    let Rotated::Done { current: old, .. } = first else {
        panic!("{first:?}")
    };
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = if i % 2 == 0 { &store } else { &replica }.clone();
            let (kek, old) = (kek.clone(), old.clone());
            tokio::spawn(async move {
                keyset::rotate(&store, &kek, Some(&old), alg, 2_000, 0)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let done: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            Rotated::Done { current, previous } => Some((current.clone(), previous.clone())),
            Rotated::Lost { .. } => None,
        })
        .collect();
    assert_eq!(done.len(), 1, "{outcomes:?}");
    let (new, previous) = done[0].clone();
    assert_eq!(previous.as_deref(), Some(old.as_str()));
    for outcome in &outcomes {
        if let Rotated::Lost { current } = outcome {
            assert_eq!(current.as_deref(), Some(new.as_str()));
        }
    }
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(
        states(&keys),
        {
            let mut want = vec![(old.clone(), KeyState::Previous), (new, KeyState::Current)];
            want.sort();
            want
        },
        "{keys:?}"
    );
    for key in &keys {
        keyset::open(&kek, key).expect("every stored key opens under the kek");
    }
}

/// Revoking the current key puts the next key (or a fresh one) in its place in the same
/// change; an unknown kid is refused with nothing written; a revoked key stays revoked.
pub async fn a_revoked_key_is_replaced_in_the_same_change(subject: Subject) {
    let store = subject.open();
    let kek = Kek::from_bytes([3; 32]);
    let alg = tollgate_core::Algorithm::EdDsa;
    keyset::rotate(&store, &kek, None, alg, 1_000, 0)
        .await
        .unwrap();
    let next = keyset::add(&store, &kek, alg, 1_500).await.unwrap();
    let before = store.signing_keys().await.unwrap();
    let err = keyset::revoke(&store, &kek, "no-such-kid", alg, 2_000)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "key_unknown");
    assert_eq!(store.signing_keys().await.unwrap(), before);
    let current = before
        .iter()
        .find(|k| k.state == KeyState::Current)
        .unwrap()
        .kid
        .clone();
    let revoked = keyset::revoke(&store, &kek, &current, alg, 2_000)
        .await
        .unwrap();
    assert_eq!(
        revoked,
        Revoked::Done {
            replacement: Some(next.kid.clone())
        }
    );
    // Again with no next key: a fresh one signs.
    let revoked = keyset::revoke(&store, &kek, &next.kid, alg, 3_000)
        .await
        .unwrap();
    let Revoked::Done {
        replacement: Some(fresh),
    } = revoked
    else {
        panic!("{revoked:?}")
    };
    assert_eq!(
        keyset::revoke(&store, &kek, &current, alg, 4_000)
            .await
            .unwrap(),
        Revoked::Already
    );
    let keys = store.signing_keys().await.unwrap();
    let mut want = vec![
        (current, KeyState::Revoked),
        (next.kid, KeyState::Revoked),
        (fresh, KeyState::Current),
    ];
    want.sort();
    assert_eq!(states(&keys), want);
    let revoked = keys.iter().find(|k| k.state == KeyState::Revoked).unwrap();
    assert_eq!(revoked.retired_ms, Some(2_000));
    assert!(keyset::open(&kek, revoked).is_ok());
    let err = keyset::open(&Kek::from_bytes([4; 32]), revoked).unwrap_err();
    assert_eq!(err.code(), "key_unsealable");
}

/// A previous key is retired once every token it signed has expired (it stopped signing
/// `after` ago), by itself, once, also when two replicas try together; a current or next
/// key never is.
pub async fn a_previous_key_retires_once_its_tokens_have_expired(subject: Subject) {
    let store = subject.open();
    let replica = subject.replica(&store);
    let kek = Kek::from_bytes([6; 32]);
    let alg = tollgate_core::Algorithm::EdDsa;
    let Rotated::Done { current: first, .. } = keyset::rotate(&store, &kek, None, alg, 1_000, 0)
        .await
        .unwrap()
    else {
        panic!("the first rotation is done")
    };
    let Rotated::Done {
        current: second, ..
    } = keyset::rotate(&store, &kek, Some(&first), alg, 5_000, 0)
        .await
        .unwrap()
    else {
        panic!("the second rotation is done")
    };
    let next = keyset::add(&store, &kek, alg, 5_000).await.unwrap();
    const AFTER: u64 = 60_000;
    let early = keyset::retire_due(&store, &kek, 5_000 + AFTER - 1, AFTER)
        .await
        .unwrap();
    assert_eq!(early, Vec::<String>::new());
    let (a, b) = tokio::join!(
        keyset::retire_due(&store, &kek, 5_000 + AFTER, AFTER),
        keyset::retire_due(&replica, &kek, 5_000 + AFTER, AFTER),
    );
    let mut retired = a.unwrap();
    retired.extend(b.unwrap());
    assert_eq!(retired, std::slice::from_ref(&first), "retired once");
    let mut want = vec![
        (first, KeyState::Retired),
        (second, KeyState::Current),
        (next.kid, KeyState::Next),
    ];
    want.sort();
    assert_eq!(states(&store.signing_keys().await.unwrap()), want);
}

/// `signing_key_rotation` on EdDSA: a next key is added a publishing period before the
/// current key is due (once, whichever replica asks), and the set rotates to it when due.
pub async fn automatic_rotation_publishes_the_next_key_ahead(subject: Subject) {
    let store = subject.open();
    let replica = subject.replica(&store);
    let kek = Kek::from_bytes([2; 32]);
    let alg = tollgate_core::Algorithm::EdDsa;
    let hold = keyset::publish_ahead_ms(alg, keyset::DEFAULT_JWKS_MAX_AGE);
    const PERIOD: u64 = 3_600_000;
    let t0 = 1_000_000;
    let step = |store, now| {
        let kek = kek.clone();
        async move {
            keyset::rotate_if_due(store, &kek, alg, now, PERIOD, hold)
                .await
                .unwrap()
        }
    };
    // No stored key signs yet: publish one now, sign with it once it has been published.
    assert_eq!(step(&store, t0).await, None);
    assert_eq!(step(&replica, t0 + 1).await, None);
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(keys.len(), 1, "one next key, added once: {keys:?}");
    assert_eq!(keys[0].state, KeyState::Next);
    assert_eq!(step(&store, t0 + hold - 1).await, None);
    let Some(Rotated::Done { current: first, .. }) = step(&replica, t0 + hold).await else {
        panic!("due")
    };
    assert_eq!(first, keys[0].kid);
    let t1 = t0 + hold;
    assert_eq!(step(&store, t1 + PERIOD - hold - 1).await, None);
    assert_eq!(store.signing_keys().await.unwrap().len(), 1);
    assert_eq!(step(&store, t1 + PERIOD - hold).await, None);
    assert_eq!(store.signing_keys().await.unwrap().len(), 2, "the next key");
    let Some(Rotated::Done { current, previous }) = step(&store, t1 + PERIOD).await else {
        panic!("due")
    };
    assert_eq!(previous, Some(first.clone()));
    let mut want = vec![(first, KeyState::Previous), (current, KeyState::Current)];
    want.sort();
    assert_eq!(states(&store.signing_keys().await.unwrap()), want);
}

/// The key set's bound holds between replicas: from a set two keys short of
/// [`crate::store::MAX_VERIFYING`], of 8 concurrent `keys add` on two replicas exactly
/// two are done and the others are `key_set_full`, with nothing half-written.
pub async fn concurrent_key_adds_stop_at_the_bound(subject: Subject) {
    use crate::store::MAX_VERIFYING;
    let store = subject.open();
    let replica = subject.replica(&store);
    let kek = Kek::from_bytes([5; 32]);
    let alg = tollgate_core::Algorithm::EdDsa;
    keyset::rotate(&store, &kek, None, alg, 1_000, 0)
        .await
        .unwrap();
    for i in 0..MAX_VERIFYING as u64 - 3 {
        keyset::add(&store, &kek, alg, 1_001 + i).await.unwrap();
    }
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = if i % 2 == 0 { &store } else { &replica }.clone();
            let kek = kek.clone();
            tokio::spawn(async move { keyset::add(&store, &kek, alg, 2_000).await })
        })
        .collect();
    let (mut done, mut full) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => done += 1,
            Err(err) => {
                assert_eq!(err.code(), "key_set_full", "{err}");
                full += 1;
            }
        }
    }
    assert_eq!((done, full), (2, 6));
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(keys.len(), MAX_VERIFYING, "{keys:?}");
    assert!(keys.iter().all(|k| k.state.verifies()));
    for key in &keys {
        keyset::open(&kek, key).expect("every stored key opens under the kek");
    }
}

/// A full set refuses `keys add` and a rotation to a fresh key (`key_set_full`, nothing
/// changed), but still revokes (the replacement of a revoked current key takes its
/// place) and rotates to a next key; once previous keys retire there is room again.
pub async fn a_full_key_set_refuses_growth_but_rotates_to_its_next_key(subject: Subject) {
    use crate::store::MAX_VERIFYING;
    let store = subject.open();
    let kek = Kek::from_bytes([8; 32]);
    let alg = tollgate_core::Algorithm::EdDsa;
    let mut from: Option<String> = None;
    for i in 0..MAX_VERIFYING as u64 {
        let Rotated::Done { current, .. } =
            keyset::rotate(&store, &kek, from.as_deref(), alg, 1_000 + i, 0)
                .await
                .unwrap()
        else {
            panic!("rotation {i} is done")
        };
        from = Some(current);
    }
    let full = store.signing_keys().await.unwrap();
    assert_eq!(full.len(), MAX_VERIFYING);
    let err = keyset::add(&store, &kek, alg, 2_000).await.unwrap_err();
    assert_eq!(err.code(), "key_set_full");
    let err = keyset::rotate(&store, &kek, from.as_deref(), alg, 2_000, 0)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "key_set_full");
    // Automatic rotation on a full set: refused the same way (and logged by the server).
    let err = keyset::rotate_if_due(&store, &kek, tollgate_core::Algorithm::Hs256, 2_000, 1, 0)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "key_set_full");
    assert_eq!(store.signing_keys().await.unwrap(), full, "nothing changed");
    let current = from.unwrap();
    let Revoked::Done {
        replacement: Some(fresh),
    } = keyset::revoke(&store, &kek, &current, alg, 3_000)
        .await
        .unwrap()
    else {
        panic!("the current key is revoked and replaced")
    };
    let verifying =
        |keys: &[crate::store::StoredKey]| keys.iter().filter(|k| k.state.verifies()).count();
    assert_eq!(
        verifying(&store.signing_keys().await.unwrap()),
        MAX_VERIFYING
    );
    // The previous keys retire: room for next keys, and a rotation to one on a full set.
    let retired = keyset::retire_due(&store, &kek, 100_000, 10_000)
        .await
        .unwrap();
    assert_eq!(retired.len(), MAX_VERIFYING - 1);
    for i in 0..MAX_VERIFYING as u64 - 1 {
        keyset::add(&store, &kek, alg, 100_000 + i).await.unwrap();
    }
    let err = keyset::add(&store, &kek, alg, 200_000).await.unwrap_err();
    assert_eq!(err.code(), "key_set_full");
    let Rotated::Done { current, previous } =
        keyset::rotate(&store, &kek, Some(&fresh), alg, 200_000, 0)
            .await
            .unwrap()
    else {
        panic!("the rotation to the next key is done")
    };
    assert_eq!(previous.as_deref(), Some(fresh.as_str()));
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(verifying(&keys), MAX_VERIFYING);
    let oldest_next = keys
        .iter()
        .find(|k| k.created_ms == 100_000)
        .expect("the first next key");
    assert_eq!(
        (oldest_next.kid.as_str(), oldest_next.state),
        (current.as_str(), KeyState::Current)
    );
}

/// `signing_key_rotation` for years: a server rotating every period and retiring what
/// expired keeps the set bounded, the retired records beyond the newest
/// [`crate::store::KEPT_DROPPED`] pruned (oldest first) whenever a key is added.
pub async fn automatic_rotation_for_years_keeps_the_set_bounded(subject: Subject) {
    use crate::store::{KEPT_DROPPED, MAX_VERIFYING};
    let store = subject.open();
    let replica = subject.replica(&store);
    let kek = Kek::from_bytes([7; 32]);
    let alg = tollgate_core::Algorithm::Hs256;
    const PERIOD: u64 = 1_000;
    const AFTER: u64 = 1_500;
    let mut first = None;
    let mut last = None;
    for step in 0..45u64 {
        let store = if step % 2 == 0 { &store } else { &replica };
        let now = 1_000_000 + step * PERIOD;
        keyset::retire_due(store, &kek, now, AFTER).await.unwrap();
        let Some(Rotated::Done { current, .. }) =
            keyset::rotate_if_due(store, &kek, alg, now, PERIOD, 0)
                .await
                .unwrap()
        else {
            panic!("step {step}: due")
        };
        first.get_or_insert_with(|| current.clone());
        last = Some(current);
        let keys = store.signing_keys().await.unwrap();
        assert!(keys.len() <= MAX_VERIFYING + KEPT_DROPPED, "{}", keys.len());
    }
    let keys = store.signing_keys().await.unwrap();
    let retired = keys.iter().filter(|k| k.state == KeyState::Retired).count();
    assert_eq!(retired, KEPT_DROPPED, "{keys:?}");
    assert!(
        keys.iter().all(|k| k.kid != first.clone().unwrap()),
        "the first key was pruned"
    );
    let current: Vec<_> = keys
        .iter()
        .filter(|k| k.state == KeyState::Current)
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(Some(current[0].kid.clone()), last);
    // Every retired record left is newer than every one pruned: the 45 keys less the
    // current and the (one or two) previous ones, the newest 32 of them kept.
    let oldest_kept = keys
        .iter()
        .filter(|k| k.state == KeyState::Retired)
        .map(|k| k.created_ms)
        .min()
        .unwrap();
    let previous = keys
        .iter()
        .filter(|k| k.state == KeyState::Previous)
        .count() as u64;
    assert_eq!(
        oldest_kept,
        1_000_000 + (45 - 1 - previous - KEPT_DROPPED as u64) * PERIOD
    );
}
