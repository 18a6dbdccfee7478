//! JSON in the one canonical form tollgate accepts and the exact bytes Python writes.
//!
//! Reading: serde_json's `Value` silently keeps the last of duplicate keys, which lets a
//! token say two things at once (`{"alg":"none","alg":"HS256"}`). [`Strict`] rejects
//! duplicates at every depth. Nesting is bounded by serde_json's recursion limit (128).
//!
//! Writing: Simple JWT serializes claims with `json.dumps(payload, separators=(",", ":"))`,
//! which escapes every non-ASCII character (and DEL) as `\uXXXX` and prints floats with
//! Python's `repr`. [`write_python_object`] reproduces those bytes, so a token minted here is
//! byte-for-byte the token Simple JWT would mint.

use alloc::{format, string::String, vec::Vec};
use core::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A JSON value parsed with duplicate keys rejected at every depth.
pub(crate) struct Strict(pub(crate) Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let Strict(value) = access.next_value()?;
            if map.contains_key(&key) {
                return Err(de::Error::custom("duplicate key"));
            }
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// Parses a JSON object into its entries in document order, rejecting duplicate keys.
pub(crate) fn parse_object(bytes: &[u8]) -> Option<Vec<(String, Value)>> {
    struct Entries(Vec<(String, Value)>);

    impl<'de> Deserialize<'de> for Entries {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_map(EntriesVisitor)
        }
    }

    struct EntriesVisitor;

    impl<'de> Visitor<'de> for EntriesVisitor {
        type Value = Entries;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Entries, A::Error> {
            let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(8));
            while let Some(key) = access.next_key::<String>()? {
                let Strict(value) = access.next_value()?;
                entries.push((key, value));
            }
            Ok(Entries(entries))
        }
    }

    let Entries(entries) = serde_json::from_slice(bytes).ok()?;
    if has_duplicate_keys(&entries) {
        return None;
    }
    Some(entries)
}

fn has_duplicate_keys(entries: &[(String, Value)]) -> bool {
    // Claims are few; a quadratic scan beats allocating for the common case, and the
    // 8 KiB token cap bounds the worst case.
    if entries.len() <= 16 {
        return entries
            .iter()
            .enumerate()
            .any(|(i, (key, _))| entries[..i].iter().any(|(other, _)| other == key));
    }
    let mut keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.windows(2).any(|pair| pair[0] == pair[1])
}

/// Writes JSON exactly as Python's `json.dumps(value, separators=(",", ":"))` does:
/// compact, non-ASCII and DEL escaped as lowercase `\uXXXX` (surrogate pairs above the
/// BMP), floats as Python's `repr`. Objects keep the order given.
pub(crate) fn write_python_object<'a>(
    entries: impl IntoIterator<Item = (&'a str, &'a Value)>,
    out: &mut Vec<u8>,
) {
    out.push(b'{');
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_python_string(key, out);
        out.push(b':');
        write_python_value(value, out);
    }
    out.push(b'}');
}

fn write_python_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                write_display(u, out);
            } else if let Some(i) = n.as_i64() {
                write_display(i, out);
            } else if let Some(f) = n.as_f64() {
                out.extend_from_slice(python_float_repr(f).as_bytes());
            }
        }
        Value::String(s) => write_python_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_python_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => write_python_object(map.iter().map(|(k, v)| (k.as_str(), v)), out),
    }
}

fn write_display(n: impl fmt::Display, out: &mut Vec<u8>) {
    struct Sink<'a>(&'a mut Vec<u8>);
    impl fmt::Write for Sink<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0.extend_from_slice(s.as_bytes());
            Ok(())
        }
    }
    let _ = fmt::write(&mut Sink(out), format_args!("{n}"));
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn write_python_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, ch) in s.char_indices() {
        let short = match ch {
            '"' => Some(b'"'),
            '\\' => Some(b'\\'),
            '\n' => Some(b'n'),
            '\r' => Some(b'r'),
            '\t' => Some(b't'),
            '\u{8}' => Some(b'b'),
            '\u{c}' => Some(b'f'),
            ' '..='~' => continue,
            _ => None,
        };
        out.extend_from_slice(&bytes[start..i]);
        start = i + ch.len_utf8();
        if let Some(c) = short {
            out.extend_from_slice(&[b'\\', c]);
            continue;
        }
        let mut units = [0u16; 2];
        for unit in ch.encode_utf16(&mut units) {
            let u = *unit;
            out.extend_from_slice(&[
                b'\\',
                b'u',
                HEX[usize::from(u >> 12)],
                HEX[usize::from((u >> 8) & 0xf)],
                HEX[usize::from((u >> 4) & 0xf)],
                HEX[usize::from(u & 0xf)],
            ]);
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Python's `repr(float)`: shortest round-trip digits, fixed notation for exponents
/// -4..16, otherwise `d.ddde+XX`.
fn python_float_repr(value: f64) -> String {
    // serde_json prints the shortest round-trip digits (as Python's repr does), e.g.
    // "-1.5e-7", "100.0" or "1e16"; only the layout differs. Reusing its printer keeps
    // core::fmt's float formatting out of the WebAssembly build.
    let text = serde_json::to_string(&value).unwrap_or_default();
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (mantissa, e) = match rest.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (rest, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits = String::from(int_part);
    digits.push_str(frac_part);
    // The decimal exponent of the first digit of `digits`.
    let mut exp = int_part.len() as i32 - 1 + e;
    let leading = digits.len() - digits.trim_start_matches('0').len();
    digits.drain(..leading);
    exp -= leading as i32;
    let significant = digits.trim_end_matches('0').len();
    digits.truncate(significant);
    if digits.is_empty() {
        return format!("{sign}0.0");
    }
    if (-4..16).contains(&exp) {
        let point = exp + 1; // position of the decimal point within `digits`
        if point <= 0 {
            let zeros = "0".repeat(point.unsigned_abs() as usize);
            format!("{sign}0.{zeros}{digits}")
        } else {
            let point = point as usize;
            if digits.len() <= point {
                let zeros = "0".repeat(point - digits.len());
                format!("{sign}{digits}{zeros}.0")
            } else {
                format!("{sign}{}.{}", &digits[..point], &digits[point..])
            }
        }
    } else {
        let (first, others) = digits.split_at(1);
        let dot = if others.is_empty() { "" } else { "." };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!(
            "{sign}{first}{dot}{others}e{exp_sign}{:02}",
            exp.unsigned_abs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn python_escaping_matches_json_dumps() {
        // Expected bytes from CPython: json.dumps(s, separators=(",", ":")).
        let cases = [
            ("José", r#""Jos\u00e9""#),
            ("日本", r#""\u65e5\u672c""#),
            ("🎉", r#""\ud83c\udf89""#),
            ("a\"b\\c/d", r#""a\"b\\c/d""#),
            ("\n\t\u{1}\u{7f}", r#""\n\t\u0001\u007f""#),
        ];
        for (input, expected) in cases {
            let mut out = Vec::new();
            write_python_string(input, &mut out);
            assert_eq!(core::str::from_utf8(&out).unwrap(), expected, "{input:?}");
        }
    }

    #[test]
    fn python_float_repr_matches() {
        // Expected strings from CPython's repr().
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e16, "1e+16"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (123456789012345.0, "123456789012345.0"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (100.0, "100.0"),
            (1e15, "1000000000000000.0"),
            (1.25e-5, "1.25e-05"),
            (123.456, "123.456"),
            (0.000123, "0.000123"),
            (1e22, "1e+22"),
            (9007199254740993.0, "9007199254740992.0"),
        ];
        for (input, expected) in cases {
            assert_eq!(python_float_repr(input), expected);
        }
    }

    #[test]
    fn duplicate_keys_rejected_at_every_depth() {
        assert!(parse_object(br#"{"a":1,"b":2}"#).is_some());
        assert!(parse_object(br#"{"a":1,"a":2}"#).is_none());
        assert!(parse_object(br#"{"a":{"x":1,"x":1}}"#).is_none());
        assert!(parse_object(br#"{"a":[{"x":1,"x":1}]}"#).is_none());
        let many: String = (0..40).map(|i| format!("\"k{i}\":1,")).collect();
        let dup = format!("{{{many}\"k3\":2}}");
        assert!(parse_object(dup.as_bytes()).is_none());
        let ok = format!("{{{many}\"z\":2}}");
        assert_eq!(parse_object(ok.as_bytes()).unwrap().len(), 41);
    }

    #[test]
    fn non_objects_and_junk_rejected() {
        for input in [
            &b"[]"[..],
            b"1",
            b"\"x\"",
            b"{",
            b"\xef\xbb\xbf{}",
            b"{\"a\":1}x",
            b"{\"a\":\"\xff\"}",
        ] {
            assert!(parse_object(input).is_none(), "{input:?}");
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert!(parse_object(deep.as_bytes()).is_none());
        assert_eq!(parse_object(b"{}").unwrap(), vec![]);
    }
}
