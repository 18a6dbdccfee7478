//! The JSON reader and writer against serde_json, the vectors and their edge cases.

use super::*;
use alloc::vec;

/// The reference: serde_json with a visitor that rejects duplicate keys (what
/// tollgate used before the hand-written reader).
mod oracle {
    use alloc::{string::String, vec::Vec};
    use core::fmt;

    use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Number, Value};

    pub struct Strict(pub Value);

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
                if map.insert(key, value).is_some() {
                    return Err(de::Error::custom("duplicate key"));
                }
            }
            Ok(Value::Object(map))
        }
    }

    pub fn parse(bytes: &[u8]) -> Option<Value> {
        serde_json::from_slice::<Strict>(bytes).ok().map(|s| s.0)
    }
}

/// Equal, except that floats may differ in the last place (serde_json's default
/// float parser is not always correctly rounded; core's is).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() && y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            // Without `std` the reader's floats are within a few units in the last
            // place (see `parse_float`); with it, within serde_json's own one.
            let ulps = if cfg!(feature = "std") { 1 } else { 16 };
            x == y || (x.to_bits().abs_diff(y.to_bits()) <= ulps && x.signum() == y.signum())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((k, a), (l, b))| k == l && same(a, b))
        }
        _ => a == b,
    }
}

/// The checking reader reads every member of `scanned` as the building reader built
/// it into `object`, at every depth.
fn assert_same_reading(object: &[(String, Value)], scanned: &Object<'_>) {
    // The same keys (as a set: past 16 members the scan's entries are sorted).
    let mut keys: Vec<String> = scanned.keys().map(|k| k.decode().into_owned()).collect();
    let mut expected: Vec<String> = object.iter().map(|(k, _)| k.clone()).collect();
    keys.sort();
    expected.sort();
    assert_eq!(keys, expected);
    for (key, value) in object {
        let json = scanned.get(key).expect("a member the builder found");
        assert!(scanned.contains(key));
        assert_same_value(json, value);
    }
    assert!(scanned.get("\u{0}no such key").is_none());
    assert_eq!(scanned.members().count(), object.len());
    for (key, json) in scanned.members() {
        // The value `get` found (and checked above): not again, which would be
        // exponential in the nesting.
        let found = scanned.get(&key.decode()).expect("the key");
        assert_eq!(json.text(), found.text());
    }
}

/// A value read in place is the value built.
fn assert_same_value(json: Json<'_>, value: &Value) {
    // Its text is exactly that value's.
    assert_eq!(parse(json.text().as_bytes()).as_ref(), Some(value));
    assert_eq!(json.as_u64(), value.as_u64(), "{value}");
    assert_eq!(json.is_number(), value.is_number(), "{value}");
    let string = json.as_str();
    assert_eq!(
        string.map(|s| s.decode().into_owned()).as_deref(),
        value.as_str()
    );
    if let (Some(string), Some(built)) = (string, value.as_str()) {
        assert_eq!(string.len(), built.len());
        assert!(string.eq_str(built));
        assert_eq!(string.as_plain().is_some(), !json.text().contains('\\'));
    }
    match (json.items(), value) {
        (Some(items), Value::Array(built)) => {
            let items: Vec<Json<'_>> = items.collect();
            assert_eq!(items.len(), built.len(), "{value}");
            for (item, built) in items.iter().zip(built) {
                assert_same_value(*item, built);
            }
        }
        (None, Value::Array(_)) => panic!("an array not read as one: {value}"),
        (Some(_), _) => panic!("read as an array: {value}"),
        (None, _) => {}
    }
    if let Value::Object(built) = value {
        let nested = Object::scan(json.text()).expect("a nested object scans");
        let built: Vec<(String, Value)> =
            built.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_same_reading(&built, &nested);
    }
}

fn check_against_oracle(input: &[u8]) {
    // The checking reader accepts exactly the objects the building reader does, and
    // reads the same members.
    let object = parse_object(input);
    let scanned = core::str::from_utf8(input).ok().and_then(Object::scan);
    assert_eq!(
        object.is_some(),
        scanned.is_some(),
        "{:?}",
        alloc::string::String::from_utf8_lossy(input)
    );
    if let (Some(object), Some(scanned)) = (object, scanned) {
        assert_same_reading(&object, &scanned);
    }
    let ours = parse(input);
    // The checking reader on any value (`check_json`): the same verdict, the same
    // value read in place.
    let checked = core::str::from_utf8(input).ok().and_then(check);
    assert_eq!(checked.is_some(), ours.is_some());
    if let (Some(checked), Some(built)) = (checked, &ours) {
        assert_same_value(checked, built);
        assert_eq!(checked.is_null(), built.is_null());
    }
    let theirs = oracle::parse(input);
    let agree = match (&ours, &theirs) {
        (Some(a), Some(b)) => same(a, b),
        (None, None) => true,
        _ => false,
    };
    assert!(
        agree,
        "{:?}: ours {ours:?}, serde_json {theirs:?}",
        alloc::string::String::from_utf8_lossy(input)
    );
}

#[test]
fn matches_serde_json_on_edge_cases() {
    let cases: &[&[u8]] = &[
        b"null",
        b"true",
        b"false",
        b"nul",
        b"truex",
        b" true ",
        b"\t\n\r 1 \n",
        b"\x0c1",
        b"0",
        b"-0",
        b"-0.0",
        b"01",
        b"-01",
        b"1.",
        b".5",
        b"+1",
        b"-",
        b"1e",
        b"1e+",
        b"1E-2",
        b"1e400",
        b"-1e400",
        b"1e-400",
        b"18446744073709551615",
        b"18446744073709551616",
        b"-9223372036854775808",
        b"-9223372036854775809",
        b"123456789012345678901234567890",
        b"0.1",
        b"1.7976931348623157e308",
        b"2.2250738585072014e-308",
        b"5e-324",
        b"1.0e+1",
        b"Infinity",
        b"NaN",
        b"0x10",
        br#""""#,
        br#""a""#,
        br#""\u00e9""#,
        br#""\u00E9""#,
        br#""\ud83c\udf89""#,
        br#""\ud83c""#,
        br#""\udf89""#,
        br#""\ud83c\u0041""#,
        br#""\ud83cx""#,
        br#""\u12""#,
        br#""\x""#,
        br#""\/\b\f\n\r\t\"\\""#,
        b"\"a\x01\"",
        b"\"\xff\"",
        b"\"\xc3\xa9\"",
        b"\"\xed\xa0\x80\"",
        b"\"a",
        b"\"\\",
        b"[]",
        b"[1,]",
        b"[,1]",
        b"[1 2]",
        b"[ 1 , 2 ]",
        b"{}",
        b"{,}",
        b"{\"a\"}",
        b"{\"a\":}",
        b"{\"a\":1,}",
        b"{a:1}",
        b"{\"a\" : 1 , \"b\" : [ ] }",
        br#"{"a":1,"a":1}"#,
        br#"{"a":1,"\u0061":2}"#,
        br#"[{"x":1,"x":2}]"#,
        b"\xef\xbb\xbf{}",
        b"{} x",
        b"{}{}",
        b"",
        b" ",
        b"[1]]",
    ];
    for case in cases {
        check_against_oracle(case);
    }
    for depth in [1, 2, 126, 127, 128, 129, 300] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        check_against_oracle(arrays.as_bytes());
        let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        check_against_oracle(objects.as_bytes());
    }
}

/// Random documents from JSON-ish fragments, then mutated byte by byte: the reader
/// and serde_json (with duplicate keys rejected) accept the same inputs and read the
/// same values.
#[test]
fn matches_serde_json_on_random_inputs() {
    const FRAGMENTS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        " ",
        "\"",
        "\"k\"",
        "\"k\":",
        "\"j\":",
        "1",
        "-",
        "0",
        "12",
        ".5",
        "e3",
        "E-1",
        "1e999",
        "true",
        "false",
        "null",
        "\\u00e9",
        "\\ud83c",
        "\\udf89",
        "\\n",
        "\\",
        "é",
        "\u{7f}",
        "\t",
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..60_000 {
        let mut doc = Vec::new();
        for _ in 0..(next() % 24) {
            let f = FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize];
            doc.extend_from_slice(f.as_bytes());
        }
        check_against_oracle(&doc);
        if !doc.is_empty() {
            let i = (next() % doc.len() as u64) as usize;
            doc[i] = next() as u8;
            check_against_oracle(&doc);
        }
    }
    // Well-formed documents, so that acceptance is exercised too.
    for i in 0..5_000u64 {
        let v = next();
        let doc = format!(
            r#"{{"user_id":"{i}","n":{},"f":{}.{}e{},"neg":-{},"s":"a\u00e9\"{}","a":[{},null,true,{{"x":[]}}]}}"#,
            v,
            v % 1000,
            v % 97,
            (v % 40) as i64 - 20,
            v >> 1,
            v % 7,
            v as f64 / 3.0,
        );
        check_against_oracle(doc.as_bytes());
        assert!(parse(doc.as_bytes()).is_some(), "{doc}");
    }
}

/// Objects at the edges of the checking reader: duplicate keys at every depth and
/// spelled with escapes, more members than it keeps inline (at one level and over
/// the nested levels open at once), nesting at the limit, numbers at the edges of
/// u64, i64 and f64, lone surrogates.
#[test]
fn checking_reader_matches_on_object_edge_cases() {
    let mut cases: Vec<String> = [
        r#"{"a":1,"\u0061":2}"#,
        r#"{"\u0061":1,"a":2}"#,
        r#"{"\u0061":1,"\u0061":2}"#,
        r#"{"\u0061":1,"\u0062":2}"#,
        r#"{"\/":1,"/":2}"#,
        r#"{"\ud83c\udf89":1,"🎉":2}"#,
        r#"{"é":1,"\u00e9":2}"#,
        r#"{"é":1,"\u00E9":2,"x":3}"#,
        r#"{"a\"b":1,"a\u0022b":2}"#,
        r#"{"\n":1,"\u000a":2}"#,
        r#"{"\b\f\n\r\t":1}"#,
        r#"{"x":{"a":1,"\u0061":2}}"#,
        r#"{"x":[{"a":1},{"a":1}]}"#,
        r#"{"x":[{"a":1,"b":{"c":1,"c":2}}]}"#,
        r#"{"x":{"a":1},"y":{"a":1},"a":{"a":{"a":1}}}"#,
        r#"{"a":"\ud83c"}"#,
        r#"{"a":"\udf89"}"#,
        r#"{"\ud83c":1}"#,
        r#"{"a":"\ud83c\u0041"}"#,
        r#"{"a":18446744073709551615}"#,
        r#"{"a":18446744073709551616}"#,
        r#"{"a":-9223372036854775808}"#,
        r#"{"a":-9223372036854775809}"#,
        r#"{"a":-0}"#,
        r#"{"a":0}"#,
        r#"{"a":1e400}"#,
        r#"{"a":-1e400}"#,
        r#"{"a":1.7976931348623157e308}"#,
        r#"{"a":1.7976931348623159e308}"#,
        r#"{"a":253402300799,"b":253402300800,"c":1.0,"d":1e2,"e":"1"}"#,
        r#"{"aud":["a","\u0062",1,null,[],{}],"x":[[1,[2]],"]",",","\"]"]}"#,
        r#"{"a" : [ 1 , "x" , { "b" : [ ] } ] , "c" : { } }"#,
        "{\"a\":\n[\t1\r,2 ]\n}",
        r#"{"":1,"":2}"#,
        r#"{"":1,"\u0000":2}"#,
        "{\"a\":1,\"a\u{0}\":2}",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    // Around 16 (the quadratic check's limit) and 24 (the entries kept inline), with
    // and without a duplicate, plain or escaped, first or last.
    for n in [15, 16, 17, 23, 24, 25, 26, 40, 100, 400] {
        let keys: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
        let all = keys.join(",");
        cases.push(format!("{{{all}}}"));
        cases.push(format!("{{{all},\"k0\":1}}"));
        cases.push(format!("{{\"k{}\":1,{all}}}", n - 1));
        cases.push(format!("{{{all},\"\\u006b{}\":1}}", n / 2));
        cases.push(format!("{{{all},\"\\u006b{n}\":1}}"));
        // The same members nested, beside and inside one another.
        cases.push(format!("{{\"x\":{{{all}}},{all}}}"));
        cases.push(format!("{{{all},\"x\":{{{all},\"y\":{{{all}}}}}}}"));
        cases.push(format!("{{{all},\"x\":{{{all},\"k1\":0}}}}"));
        cases.push(format!("{{\"x\":[{{{all}}},{{{all}}}],\"y\":{{{all}}}}}"));
    }
    for depth in [1, 2, 125, 126, 127, 128, 129, 300] {
        // Objects and arrays nested `depth` deep in all (the document is one level).
        cases.push(format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)));
        cases.push(format!(
            "{{\"a\":{}{}}}",
            "[".repeat(depth - 1),
            "]".repeat(depth - 1)
        ));
        cases.push(format!(
            "{}{{\"a\":1,\"a\":2}}{}",
            "{\"a\":".repeat(depth),
            "}".repeat(depth)
        ));
    }
    for case in &cases {
        check_against_oracle(case.as_bytes());
        // Each also cut short at every byte: the readers refuse the same prefixes.
        if case.len() < 200 {
            for end in 0..case.len() {
                check_against_oracle(&case.as_bytes()[..end]);
            }
        }
    }
}

/// Every header and payload of the shared vectors (tollgate's own, PyJWT's, Simple
/// JWT's, jose's, the hostile and malleable sets): both readers, the same verdict and
/// the same members.
#[test]
fn checking_reader_matches_on_every_vector() {
    fn tokens<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
        match value {
            Value::String(s) if s.matches('.').count() == 2 => out.push(s),
            Value::Array(items) => items.iter().for_each(|v| tokens(v, out)),
            Value::Object(members) => members.values().for_each(|v| tokens(v, out)),
            _ => {}
        }
    }
    let files = [
        include_str!("../../../tests/vectors/generated.json"),
        include_str!("../../../tests/vectors/pyjwt.json"),
        include_str!("../../../tests/vectors/simplejwt.json"),
        include_str!("../../../tests/vectors/jose.json"),
        include_str!("../../../tests/vectors/native/malleable.json"),
    ];
    let (mut segments, mut accepted) = (0, 0);
    for file in files {
        let vectors: Value = serde_json::from_str(file).expect("a vector file");
        let mut found = Vec::new();
        tokens(&vectors, &mut found);
        for token in found {
            for segment in token.split('.').take(2) {
                let Some(bytes) = crate::b64::decode(segment.as_bytes()) else {
                    continue;
                };
                segments += 1;
                accepted += usize::from(parse_object(&bytes).is_some());
                check_against_oracle(&bytes);
            }
        }
    }
    // Most segments are well-formed; the hostile ones are not.
    assert!(segments > 1_000 && accepted > 900 && accepted < segments);
}

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
