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
