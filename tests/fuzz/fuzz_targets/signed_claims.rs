//! Header and payload bytes chosen by the fuzzer, base64url-encoded and correctly
//! signed with the HS256 key: past the signature, so the strict header and claims
//! checks (types, times, duplicate keys, depth) see every input. Input:
//! `header-json NUL payload-json`.
#![no_main]

use base64ct::{Base64UrlUnpadded, Encoding as _};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (header, payload) = tollgate_fuzz::split_at_nul(data);
    let input = format!(
        "{}.{}",
        Base64UrlUnpadded::encode_string(header),
        Base64UrlUnpadded::encode_string(payload)
    );
    let signature = tollgate_fuzz::fixtures().hs256.sign(input.as_bytes());
    let token = format!("{input}.{}", Base64UrlUnpadded::encode_string(&signature));
    tollgate_fuzz::check_token(&token, "");
});
