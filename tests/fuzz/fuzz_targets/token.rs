//! Any text as a token, through every verifier and the decoder: `check_token`'s
//! properties hold, nothing panics. Input: `token NUL previous-token` (the second, for
//! `decode_reusing`, may be absent). Bytes that are not UTF-8 arrive as the server
//! would never pass them, so they are replaced, as a lossy client library would.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (token, previous) = tollgate_fuzz::split_at_nul(data);
    tollgate_fuzz::check_token(
        &String::from_utf8_lossy(token),
        &String::from_utf8_lossy(previous),
    );
});
