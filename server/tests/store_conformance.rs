//! The storage interface's conformance suite (`tollgate_server::store::conformance`),
//! one named test per guarantee, on every backend.

mod common;

mod sled {
    use tollgate_server::store::{conformance::Subject, Store};

    /// A sled store in a fresh temporary folder.
    fn subject() -> Subject {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        Subject::new(move || Store::open(&path), dir)
    }

    tollgate_server::store_conformance!(subject());
}

/// PostgreSQL: the cluster `scripts/postgres.sh` keeps (the test command starts it and
/// names it in `TOLLGATE_TEST_DATABASE_URL`), a fresh database per case.
mod postgres {
    use tollgate_server::store::{conformance::Subject, Backend, Store};

    /// Every open is a new connection pool on the case's database: a replica of its own,
    /// and the race cases run across two of them.
    fn subject() -> Subject {
        let url = super::common::fresh_database();
        Subject::new(
            move || Store::open_backend(&Backend::Postgres(url.clone())),
            (),
        )
        .with_replicas()
    }

    tollgate_server::store_conformance!(subject());
}

/// Login throttles on PostgreSQL: shared by replicas, with Django REST framework's
/// rules step for step (the scenarios the in-memory throttle is held to).
mod postgres_throttles {
    use serde_json::Value;
    use tollgate_server::{
        store::{Backend, Store},
        users::throttle::{parse_rate, shared_check, Rate},
    };

    fn replicas(n: usize) -> Vec<tollgate_server::store::postgres::PgStore> {
        let url = super::common::fresh_database();
        (0..n)
            .map(
                |_| match Store::open_backend(&Backend::Postgres(url.clone())).unwrap() {
                    Store::Postgres(pg) => pg,
                    Store::Sled(_) => unreachable!("a postgres:// URL opens PostgreSQL"),
                },
            )
            .collect()
    }

    const UNLIMITED: Rate = Rate {
        count: u32::MAX,
        period_secs: 1,
    };

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn every_drf_scenario_step_matches_across_replicas() {
        let data: Value = serde_json::from_str(include_str!("data/django_throttle.json")).unwrap();
        let stores = replicas(2);
        let mut steps = 0;
        for (n, scenario) in data["scenarios"].as_array().unwrap().iter().enumerate() {
            let rate = parse_rate(scenario["rate"].as_str().unwrap()).unwrap();
            for (i, step) in scenario["steps"].as_array().unwrap().iter().enumerate() {
                // Steps alternate between the replicas; keys are the scenario's own.
                let key = format!("{n}/{}", step["key"].as_str().unwrap());
                let now = step["t_ms"].as_u64().unwrap();
                let checks = [
                    shared_check("username", &key, rate),
                    shared_check("ip", "scenario", UNLIMITED),
                ];
                let [wait, _] = stores[i % 2].throttle(checks, now).await.unwrap();
                let expected = if step["allowed"].as_bool().unwrap() {
                    None
                } else {
                    Some(step["wait_secs"].as_u64().unwrap())
                };
                assert_eq!(wait, expected, "{} step {i} {step}", scenario["rate"]);
                steps += 1;
            }
        }
        assert!(steps > 700, "{steps}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_attempts_on_three_replicas_are_counted_once_each() {
        let stores = replicas(3);
        let rate = parse_rate("10/min").unwrap();
        let tasks: Vec<_> = (0..60)
            .map(|i| {
                let store = stores[i % 3].clone();
                tokio::spawn(async move {
                    let checks = [
                        shared_check("username", "alice", rate),
                        shared_check("ip", &format!("10.0.0.{i}"), UNLIMITED),
                    ];
                    store.throttle(checks, 1_000_000).await.unwrap()[0]
                })
            })
            .collect();
        let mut allowed = 0;
        for task in tasks {
            if task.await.unwrap().is_none() {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 10, "the rate holds across replicas");
        // A minute later the log has moved on.
        let checks = [
            shared_check("username", "alice", rate),
            shared_check("ip", "x", UNLIMITED),
        ];
        assert_eq!(
            stores[0].throttle(checks, 1_060_000).await.unwrap()[0],
            None
        );
    }
}

/// PostgreSQL beside a Django site (`django_schema`): users in Django's `auth_user`,
/// tokens also in Simple JWT's tables. A fresh database per case, with the schema Django's
/// migrations create.
mod django {
    use tollgate_server::store::{conformance::Subject, Backend, Store};

    fn subject() -> Subject {
        let url = super::common::fresh_django_database();
        Subject::new(
            move || Store::open_backend(&Backend::Django(url.clone())),
            (),
        )
        .with_replicas()
    }

    tollgate_server::store_conformance!(subject());
}

/// The expired-token flush runs on one replica at a time: while another holds the
/// flush's advisory lock (as a replica's flush does for its whole transaction), a flush
/// waits for it, then runs.
mod postgres_flush {
    use std::time::Duration;

    use tollgate_server::store::{postgres::FLUSH_LOCK, Backend, Store};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_flush_waits_for_another_replicas_flush() {
        let url = super::common::fresh_database();
        let store = Store::open_backend(&Backend::Postgres(url.clone())).unwrap();
        let (mut other, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let holding = other.transaction().await.unwrap();
        holding
            .execute("SELECT pg_advisory_xact_lock($1)", &[&FLUSH_LOCK])
            .await
            .unwrap();
        let flush = tokio::spawn({
            let store = store.clone();
            async move { store.flush_expired(2_000_000_000, 0).await }
        });
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(
            !flush.is_finished(),
            "a flush ran while another replica's held the lock"
        );
        holding.commit().await.unwrap();
        let flushed = tokio::time::timeout(Duration::from_secs(10), flush)
            .await
            .expect("the flush ran once the lock was free")
            .unwrap();
        assert!(flushed.is_ok(), "{flushed:?}");
    }
}
