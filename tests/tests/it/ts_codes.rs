//! `pkg/index.d.ts` types `TollgateError.code` as a union of the stable codes: its
//! `CoreErrorCode` must be exactly tollgate-core's `Error::ALL_CODES`, and its
//! `ServerErrorCode` must hold every code the server puts in a JSON body.

use std::{collections::BTreeSet, fs, path::PathBuf};

use tollgate_core::Error;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The string literals of `export type NAME = | "a" | "b" ...;` in index.d.ts.
fn union(types: &str, name: &str) -> BTreeSet<String> {
    let start = types
        .find(&format!("export type {name} ="))
        .unwrap_or_else(|| panic!("index.d.ts has no type {name}"));
    let body = &types[start..];
    let body = &body[..body.find(';').unwrap()];
    body.split('"')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

/// Every literal after `marker` in `text` (e.g. the `"code": "x"` of a JSON body).
fn literals_after(text: &str, marker: &str) -> BTreeSet<String> {
    text.match_indices(marker)
        .filter_map(|(at, _)| {
            let rest = &text[at + marker.len()..];
            let end = rest.find('"')?;
            Some(rest[..end].to_string())
        })
        .filter(|code| !code.is_empty())
        .collect()
}

#[test]
fn core_error_code_union_is_the_cores_list() {
    let types = fs::read_to_string(root().join("pkg/index.d.ts")).unwrap();
    let typed = union(&types, "CoreErrorCode");
    let core: BTreeSet<String> = Error::ALL_CODES.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        typed, core,
        "pkg/index.d.ts CoreErrorCode differs from tollgate-core's Error::ALL_CODES"
    );
}

#[test]
fn server_error_code_union_holds_every_body_code() {
    let types = fs::read_to_string(root().join("pkg/index.d.ts")).unwrap();
    let typed = union(&types, "ServerErrorCode");
    let mut server = BTreeSet::new();
    for file in ["server/src/http/errors.rs", "server/src/http/cookie.rs"] {
        let text = fs::read_to_string(root().join(file)).unwrap();
        server.extend(literals_after(&text, "\"code\": \""));
        server.extend(literals_after(&text, "Internal(\""));
    }
    assert!(server.len() >= 15, "only {server:?}: did the table move?");
    // A 500's code is one of the core's (typed by CoreErrorCode).
    let core: BTreeSet<&str> = Error::ALL_CODES.iter().copied().collect();
    let missing: Vec<&String> = server
        .iter()
        .filter(|c| !typed.contains(*c) && !core.contains(c.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "pkg/index.d.ts ServerErrorCode lacks {missing:?}"
    );
}
