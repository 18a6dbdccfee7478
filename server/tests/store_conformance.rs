//! The storage interface's conformance suite (`tollgate_server::store::conformance`),
//! one named test per guarantee, on every backend.

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
