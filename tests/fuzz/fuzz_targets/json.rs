//! The strict JSON reader (`tollgate_core::parse_json`): any text either fails or is a
//! value that writes back to text the reader takes again, as the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(value) = tollgate_core::parse_json(text) {
        let written = serde_json::to_string(&value).expect("a parsed value serializes");
        let again = tollgate_core::parse_json(&written).expect("written JSON reads back");
        assert_eq!(value, again, "{written}");
    }
});
