//! `tests/vectors/generated.json` must be exactly what the generator writes today.

use std::{fs, path::PathBuf};

#[test]
fn generated_vectors_have_not_drifted() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors");
    let keys = serde_json::from_str(&fs::read_to_string(dir.join("keys.json")).unwrap()).unwrap();
    let fresh = tollgate_tests::without_random_signatures(&tollgate_tests::generate(&keys));
    let committed = tollgate_tests::without_random_signatures(
        &fs::read_to_string(dir.join("generated.json")).unwrap(),
    );
    assert!(
        fresh == committed,
        "tests/vectors/generated.json is stale: run `cargo run -p tollgate-tests --bin gen-vectors` and review the diff"
    );
}
