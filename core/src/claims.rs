//! Claims as an ordered list, because key order is part of Simple JWT's bytes.
//!
//! Python dicts keep insertion order and assignment to an existing key keeps its place;
//! [`Claims::set`] does the same, so rotating a token re-serializes it exactly as Simple
//! JWT would. Nested objects are kept as `serde_json::Value` (sorted keys).

use alloc::{string::String, vec::Vec};

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::json::{self, Json};

/// The latest time a token may carry: 9999-12-31T23:59:59Z, the end of Python's datetime.
pub const MAX_TIME: u64 = 253_402_300_799;

/// JSON claims (or header parameters) in document order, keys unique.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claims {
    entries: Vec<(String, Value)>,
}

impl Claims {
    /// No claims.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn from_entries(entries: Vec<(String, Value)>) -> Self {
        Self { entries }
    }

    /// Parses a JSON object, rejecting duplicate keys at every depth.
    pub(crate) fn parse(bytes: &[u8]) -> Option<Self> {
        json::parse_object(bytes).map(Self::from_entries)
    }

    /// Adds or replaces a claim; a replaced claim keeps its position (as a Python dict).
    pub fn set(&mut self, key: &str, value: impl Into<Value>) {
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key.into(), value)),
        }
    }

    /// Builder form of [`Claims::set`].
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.set(key, value);
        self
    }

    /// The value of a claim.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A claim that must be a string, if present.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// Removes a claim, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let pos = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(pos).1)
    }

    /// The claims in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of claims.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no claims.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Compact JSON exactly as Python's `json.dumps(..., separators=(",", ":"))` writes it.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(64 + 24 * self.entries.len());
        self.write_json(&mut out);
        // The writer only ever writes ASCII.
        String::from_utf8(out).unwrap_or_default()
    }

    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        json::write_python_object(self.iter(), out);
    }

    /// The claims as a JSON object value (keys sorted: order is lost).
    pub fn to_value(&self) -> Value {
        Value::Object(self.entries.iter().cloned().collect())
    }
}

impl Serialize for Claims {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (k, v) in &self.entries {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Claims {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut claims = Claims::new();
        for (k, v) in iter {
            let key: String = k.into();
            claims.set(&key, v);
        }
        claims
    }
}

/// An integer from 0 to [`MAX_TIME`]; floats, negatives, strings and larger values are not.
pub(crate) fn canonical_time(value: Json<'_>) -> Option<u64> {
    value.as_u64().filter(|t| *t <= MAX_TIME)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_keeps_position_like_a_python_dict() {
        let mut claims = Claims::new()
            .with("token_type", "refresh")
            .with("exp", 10)
            .with("jti", "a");
        claims.set("exp", 20);
        claims.set("user_id", "1");
        assert_eq!(
            claims.to_json(),
            r#"{"token_type":"refresh","exp":20,"jti":"a","user_id":"1"}"#
        );
        assert_eq!(claims.remove("jti"), Some(json!("a")));
        assert_eq!(claims.len(), 3);
    }

    #[test]
    fn canonical_times() {
        // Read in place, exactly as the built value's `as_u64` up to MAX_TIME.
        let time = |value: &Value| {
            let text = alloc::format!(r#"{{"t":{value}}}"#);
            let object = json::Object::scan(&text).expect("an object");
            let found = canonical_time(object.get("t").expect("t"));
            assert_eq!(found, value.as_u64().filter(|t| *t <= MAX_TIME), "{value}");
            found
        };
        assert_eq!(time(&json!(0)), Some(0));
        assert_eq!(time(&json!(MAX_TIME)), Some(MAX_TIME));
        for bad in [
            json!(MAX_TIME + 1),
            json!(-1),
            json!(1.0),
            json!(1.5),
            json!("1"),
            json!(true),
            json!(null),
            json!([1]),
            json!(u64::MAX),
            json!(-0.0),
            json!(1e3),
        ] {
            assert_eq!(time(&bad), None, "{bad}");
        }
    }
}
