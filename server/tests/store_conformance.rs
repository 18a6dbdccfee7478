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

    /// Every open is a new connection pool on the case's database: a replica of its own.
    fn subject() -> Subject {
        let url = super::common::fresh_database();
        Subject::new(
            move || Store::open_backend(&Backend::Postgres(url.clone())),
            (),
        )
    }

    tollgate_server::store_conformance!(subject());
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
    }

    tollgate_server::store_conformance!(subject());
}
