//! Writes tests/vectors/generated.json (or the path given) from tests/vectors/keys.json.

use std::{env, fs, path::PathBuf, process::ExitCode};

fn main() -> ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors");
    let out = env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("generated.json"));
    let keys = match fs::read_to_string(root.join("keys.json")) {
        Ok(text) => serde_json::from_str(&text).expect("keys.json is JSON"),
        Err(err) => {
            eprintln!("gen-vectors: cannot read keys.json: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(err) = fs::write(&out, tollgate_tests::generate(&keys)) {
        eprintln!("gen-vectors: cannot write {}: {err}", out.display());
        return ExitCode::FAILURE;
    }
    println!("gen-vectors: wrote {}", out.display());
    ExitCode::SUCCESS
}
