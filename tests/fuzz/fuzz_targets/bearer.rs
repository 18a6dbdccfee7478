//! The Authorization header parser (`tollgate_server::http::bearer::bearer`): any bytes give one
//! of its three answers, and a token is a non-empty run of the header without
//! whitespace, after a scheme that matched exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_server::http::bearer::{bearer, Bearer};

fuzz_target!(|data: &[u8]| {
    let types = ["Bearer".to_string(), "JWT".to_string()];
    if let Bearer::Token(token) = bearer(Some(data), &types) {
        assert!(!token.is_empty());
        assert!(!token.iter().any(u8::is_ascii_whitespace));
        let start = token.as_ptr() as usize - data.as_ptr() as usize;
        let scheme = std::str::from_utf8(&data[..start]).map(str::trim);
        assert!(matches!(scheme, Ok("Bearer" | "JWT")), "{data:?}");
    }
});
