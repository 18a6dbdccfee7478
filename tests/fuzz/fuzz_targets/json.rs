//! The strict JSON reader (`tollgate_core::parse_json`): any text either fails or is a
//! value that writes back to text the reader takes again, as the same value. The
//! checking reader that tokens are read with (`check_json`, `JsonObject::scan`) gives the
//! same verdict on every text and reads every member of an object as the building
//! reader built it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let value = tollgate_core::parse_json(text);
    check_in_place(text, value.as_ref());
    if let Some(value) = value {
        let written = serde_json::to_string(&value).expect("a parsed value serializes");
        let again = tollgate_core::parse_json(&written).expect("written JSON reads back");
        assert_eq!(value, again, "{written}");
    }
});

/// The checking reader against the building reader's `value` of `text`.
fn check_in_place(text: &str, value: Option<&serde_json::Value>) {
    let checked = tollgate_core::check_json(text);
    assert_eq!(checked.is_some(), value.is_some(), "{text:?}");
    if let (Some(checked), Some(value)) = (checked, value) {
        assert_eq!(
            tollgate_core::parse_json(checked.text()).as_ref(),
            Some(value)
        );
    }
    let object = tollgate_core::JsonObject::scan(text);
    let map = value.and_then(serde_json::Value::as_object);
    assert_eq!(object.is_some(), map.is_some(), "{text:?}");
    if let (Some(object), Some(map)) = (object, map) {
        assert_eq!(object.keys().count(), map.len(), "{text:?}");
        for (key, built) in map {
            let found = object.get(key).expect("a member the building reader found");
            assert_eq!(
                tollgate_core::parse_json(found.text()).as_ref(),
                Some(built)
            );
            assert_eq!(found.as_u64(), built.as_u64(), "{text:?}");
            let string = found.as_str().map(|s| s.decode().into_owned());
            assert_eq!(string.as_deref(), built.as_str(), "{text:?}");
        }
    }
}
