//! End-to-end tests of the port: the DRF oracle corpus, spec examples, limits and noise.

use super::multipart::sanitize_file_name;
use super::*;
use base64::Engine as _;

/// Written by `server/tests/data/gen_drf_bodies.py` from real DRF 3.16.1 answers.
const CORPUS: &str = include_str!("../../../tests/data/drf_bodies.json");

/// What the oracle view answers: the cleaned values and `bool(data.get("all"))`, or
/// the rejection.
fn answer(content_type: Option<&str>, body: &[u8], specs: &[(&str, Trim)]) -> Value {
    let result = parse(content_type, body)
        .and_then(|fields| strings(&fields, specs).map(|values| (values, fields.truthy("all"))));
    match result {
        Ok((values, all)) => json!({ "status": 200, "values": values, "all": all }),
        Err(reject) => json!({ "status": reject.status, "body": reject.body }),
    }
}

fn up(content_type: &str, body: &str) -> Value {
    answer(
        Some(content_type),
        body.as_bytes(),
        &[("username", Trim::Yes), ("password", Trim::No)],
    )
}

#[test]
fn drf_oracle_corpus() {
    let cases: Vec<Value> = serde_json::from_str(CORPUS).expect("corpus is JSON");
    assert!(cases.len() >= 80, "corpus too small: {}", cases.len());
    replay(&cases);
}

fn replay(cases: &[Value]) {
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let body = base64::engine::general_purpose::STANDARD
            .decode(case["body_b64"].as_str().expect("body_b64"))
            .expect("base64 body");
        let specs: Vec<(&str, Trim)> = case["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| {
                let trim = if f[1].as_bool().expect("trim flag") {
                    Trim::Yes
                } else {
                    Trim::No
                };
                (f[0].as_str().expect("field name"), trim)
            })
            .collect();
        let got = answer(case["content_type"].as_str(), &body, &specs);
        if got != case["expected"] {
            failures.push(format!(
                "{name}:\n  expected {}\n  got      {got}",
                case["expected"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn spec_examples() {
    assert_eq!(
        up("text/plain", "x"),
        json!({"status": 415, "body": {"detail": "Unsupported media type \"text/plain\" in request."}})
    );
    assert_eq!(
        answer(None, b"x", &[]),
        json!({"status": 415, "body": {"detail": "Unsupported media type \"\" in request."}})
    );
    assert_eq!(
        up("application/json", ""),
        json!({"status": 400, "body": {
            "username": ["This field is required."],
            "password": ["This field is required."]}})
    );
    assert_eq!(
        up("application/json", "[]"),
        json!({"status": 400, "body": {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}})
    );
    assert_eq!(
        up("application/json", "\"x\""),
        json!({"status": 400, "body": {"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}})
    );
    assert_eq!(
        up("application/json", "null"),
        json!({"status": 400, "body": {"non_field_errors": ["No data provided"]}})
    );
    assert_eq!(
        up(
            "application/json",
            r#"{"username":null,"password":[],"x":1}"#
        ),
        json!({"status": 400, "body": {
            "username": ["This field may not be null."],
            "password": ["Not a valid string."]}})
    );
    assert_eq!(
        up("application/json", r#"{"username":" 12 ","password":1.0}"#),
        json!({"status": 200, "values": ["12", "1.0"], "all": false})
    );
    assert_eq!(
        up("application/json", "{"),
        json!({"status": 400, "body": {"detail": "JSON parse error - Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"}})
    );
}

#[test]
fn truthy_values() {
    let all = |body: &str| {
        parse(Some("application/json"), body.as_bytes())
            .expect("parses")
            .truthy("all")
    };
    for yes in [
        r#""1""#,
        r#""0""#,
        "true",
        "1",
        "-1",
        "0.5",
        "[0]",
        r#"{"a":0}"#,
        "1e400",
    ] {
        assert!(all(&format!(r#"{{"all":{yes}}}"#)), "{yes}");
    }
    for no in [
        r#""""#, "false", "0", "-0", "0.0", "-0.0", "1e-400", "null", "[]", "{}",
    ] {
        assert!(!all(&format!(r#"{{"all":{no}}}"#)), "{no}");
    }
    assert!(!all("{}"));
    assert!(!all("[1]"));
    let form = |body: &str| {
        parse(Some("application/x-www-form-urlencoded"), body.as_bytes())
            .expect("parses")
            .truthy("all")
    };
    assert!(form("all=0"));
    assert!(!form("all="));
    assert!(!form("all=1&all="));
}

#[test]
fn depth_limit_is_an_error_not_a_crash() {
    let ok = format!("{{\"x\":{}{}}}", "[".repeat(999), "]".repeat(999));
    assert!(parse(Some("application/json"), ok.as_bytes()).is_ok());
    let deep = "[".repeat(MAX_JSON_DEPTH + 1);
    let err = parse(Some("application/json"), deep.as_bytes()).unwrap_err();
    assert_eq!(
        err.body,
        json!({"detail": "JSON parse error - maximum recursion depth exceeded while decoding a JSON array from a unicode string"})
    );
}

/// Worst cases at the 64 KiB limit stay fast and bounded (no quadratic blow-ups).
#[test]
fn adversarial_64k_bodies_are_cheap() {
    const N: usize = 64 * 1024;
    let started = std::time::Instant::now();
    let bodies: Vec<(String, Vec<u8>)> = vec![
        ("application/json".into(), "[".repeat(N).into_bytes()),
        (
            "application/json".into(),
            format!("\"{}\"", "\\u0041".repeat(N / 6 - 1)).into_bytes(),
        ),
        ("application/json".into(), "[1,".repeat(N / 3).into_bytes()),
        (
            "application/json".into(),
            format!("{{\"a\":{}}}", "9".repeat(N - 10)).into_bytes(),
        ),
        (
            "application/json".into(),
            format!("{{\"a\":0.{}}}", "9".repeat(N - 10)).into_bytes(),
        ),
        (
            "application/x-www-form-urlencoded".into(),
            "%".repeat(N).into_bytes(),
        ),
        (
            "application/x-www-form-urlencoded".into(),
            "a=%C3%A9".repeat(N / 8).into_bytes(),
        ),
        (
            "multipart/form-data; boundary=B".into(),
            "--B".repeat(N / 3).into_bytes(),
        ),
        (
            "multipart/form-data; boundary=B".into(),
            "-".repeat(N).into_bytes(),
        ),
        (
            format!("multipart/form-data; boundary={}", "-".repeat(200)),
            "-".repeat(N).into_bytes(),
        ),
        ("multipart/form-data; boundary=B".into(), {
            let mut b = Vec::new();
            while b.len() < N - 200 {
                b.extend_from_slice(b"--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"&nbsp;\"\r\n\r\nx\r\n");
            }
            b
        }),
        (
            format!("text/plain; {}", "a=\"\\\";".repeat(N / 6)),
            b"x".to_vec(),
        ),
        (format!("text/plain; {}", ";".repeat(N)), b"x".to_vec()),
        (
            format!(
                "text/plain{}",
                (0..N / 12)
                    .map(|i| format!(";n{i}*=''"))
                    .collect::<String>()
            ),
            b"x".to_vec(),
        ),
    ];
    for (content_type, body) in &bodies {
        let _ = parse(Some(content_type), body).map(|f| strings(&f, &[("a", Trim::Yes)]));
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

/// Arbitrary bytes under every parser never panic.
#[test]
fn no_panics_on_noise() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    const ALPHABET: &[u8] = b"{}[]\":,\\u0123456789abcdefABCDEF-+.eE nultrfasNIy\r\n\t%&=;*'<>/#\x00\x80\xc3\xa9\xed\xa0\xef\xbb\xbf\xff-B";
    let types = [
        "application/json",
        "application/json; charset=utf-8-sig",
        "application/json; charset=ascii",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=B",
    ];
    for _ in 0..20_000 {
        let len = (next() % 64) as usize;
        let body: Vec<u8> = (0..len)
            .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
            .collect();
        let content_type = types[(next() % types.len() as u64) as usize];
        if let Ok(fields) = parse(Some(content_type), &body) {
            let _ = strings(&fields, &[("a", Trim::Yes), ("B", Trim::No)]);
            let _ = fields.truthy("a");
        }
        let header = String::from_utf8_lossy(&body).into_owned();
        let _ = parse(Some(&header), b"x");
        let _ = sanitize_file_name(&header);
    }
}

/// The one-member fast path gives what the full path gives (the full path is reached
/// with `; charset=utf-8`, which decodes the same), and leaves alone what it must.
#[test]
fn one_plain_member_is_the_full_path() {
    let bodies: &[&[u8]] = &[
        b"{\"token\":\"eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.c2lnbmF0dXJl\"}",
        b"{\"token\": \"abc-DEF_09.x\"}",
        b"{\"refresh\":\"\"}",
        b"{\"\":\"x\"}",
        b"{\"token\":\"a b\"}",
        b"{\"token\":\"a\\\"b\"}",
        b"{\"token\":\"\\u0041\"}",
        b"{\"token\":\"a\",\"token\":\"b\"}",
        b"{\"token\":\"a\",\"x\":\"b\"}",
        b"{\"token\" : \"a\"}",
        b"{\"token\":\"\xc3\xa9\"}",
        b"{\"token\":1}",
        b"{\"token\":\"a\"} ",
        b"\xef\xbb\xbf{\"token\":\"a\"}",
        b"{\"token\":\"a\"",
    ];
    for body in bodies {
        let fast = one_plain_member(body);
        let full = parse(Some("application/json; charset=utf-8"), body);
        match (&fast, &full) {
            (Some(fast), Ok(full)) => assert_eq!(
                format!("{fast:?}"),
                format!("{full:?}"),
                "{}",
                String::from_utf8_lossy(body)
            ),
            (None, _) => {}
            (Some(_), Err(_)) => panic!("fast path on a refused body: {body:?}"),
        }
        assert_eq!(
            format!("{:?}", parse(Some("application/json"), body)),
            format!("{full:?}"),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let taken = bodies
        .iter()
        .filter(|b| one_plain_member(b).is_some())
        .count();
    assert_eq!(taken, 4, "the plain bodies take the fast path");
}
