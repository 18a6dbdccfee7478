//! The request body parser (`tollgate_server::http::drf`): a Content-Type line, then at most
//! 64 KiB of body (the server refuses more before parsing). Any input is fields or a
//! 400/415 rejection, never a panic, and reading the fields the endpoints read is total.
//! Input: `content-type NUL body`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_server::http::drf::{header_to_str, parse, strings, Trim};

fuzz_target!(|data: &[u8]| {
    let (content_type, body) = tollgate_fuzz::split_at_nul(data);
    let body = &body[..body.len().min(tollgate_server::http::MAX_BODY)];
    let content_type = header_to_str(content_type);
    match parse(Some(&content_type), body) {
        Ok(fields) => {
            for specs in [
                &[("username", Trim::Yes), ("password", Trim::No)][..],
                &[("refresh", Trim::Yes)][..],
                &[("token", Trim::Yes)][..],
            ] {
                if let Err(reject) = strings(&fields, specs) {
                    assert_eq!(reject.status, 400, "{}", reject.body);
                }
            }
            fields.truthy("all");
        }
        Err(reject) => assert!(
            matches!(reject.status, 400 | 415),
            "{} {}",
            reject.status,
            reject.body
        ),
    }
});
