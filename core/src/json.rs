//! JSON in the one canonical form tollgate accepts and the exact bytes Python writes.
//!
//! Reading: a small recursive-descent reader that accepts exactly what serde_json's
//! `from_slice` accepts (RFC 8259, UTF-8, no BOM, the same number and escape rules, the
//! same recursion limit of 127 nested values) and builds serde_json's `Value`, with one
//! difference that matters for tokens: duplicate keys are rejected at every depth, where
//! serde_json keeps the last one and lets a token say two things at once
//! (`{"alg":"none","alg":"HS256"}`). Floats are parsed with core's correctly rounded
//! parser (as Python and JavaScript do). It is hand-written rather than a serde visitor
//! because serde's deserializer machinery was over a quarter of the WebAssembly
//! validator's size; `tests::matches_serde_json` checks the two agree.
//!
//! Writing: Simple JWT serializes claims with `json.dumps(payload, separators=(",", ":"))`,
//! which escapes every non-ASCII character (and DEL) as `\uXXXX` and prints floats with
//! Python's `repr`. [`write_python_object`] reproduces those bytes, so a token minted here is
//! byte-for-byte the token Simple JWT would mint.

use alloc::{borrow::Cow, format, string::String, vec::Vec};
use core::{fmt, ops::Range};

use serde_json::{Map, Number, Value};

/// The bytes that end the plain run of a string: the quote, a backslash, controls.
const STRING_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Values nested deeper than this are refused (serde_json's limit).
pub const MAX_DEPTH: usize = 127;

/// Parses a JSON object into its entries in document order, rejecting duplicate keys.
pub(crate) fn parse_object(bytes: &[u8]) -> Option<Vec<(String, Value)>> {
    let members = Reader::new(core::str::from_utf8(bytes).ok()?).top_object::<true>()?;
    Some(
        members
            .into_iter()
            .map(|m| (m.key.into_owned(), m.value))
            .collect(),
    )
}

/// A JSON object checked exactly as [`parse_object`] checks it, without building values:
/// its top-level members' keys and where their values sit, each value read on demand.
pub(crate) struct Object<'a> {
    text: &'a str,
    members: Vec<Member<'a>>,
}

impl<'a> Object<'a> {
    /// `None` if `text` is not one JSON object that [`parse_object`] would accept.
    pub(crate) fn scan(text: &'a str) -> Option<Self> {
        let members = Reader::new(text).top_object::<false>()?;
        Some(Self { text, members })
    }

    fn member(&self, key: &str) -> Option<&Member<'a>> {
        self.members.iter().find(|m| m.key == key)
    }

    /// Whether the object has the member `key`.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.member(key).is_some()
    }

    /// The value of member `key`, built now.
    pub(crate) fn get(&self, key: &str) -> Option<Value> {
        // The scan checked this text with the same grammar, so it parses. (Sliced as bytes:
        // a `str` slice would link core's char-boundary panic and its formatting into the
        // WebAssembly module, BENCHMARKS.md "The validator's size".)
        parse(self.text.as_bytes().get(self.member(key)?.span.clone())?)
    }

    /// The members' keys, in document order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|m| m.key.as_ref())
    }
}

/// Parses any JSON value (duplicate keys rejected at every depth). `None` if `text` is
/// not exactly one JSON value.
pub fn parse(text: &[u8]) -> Option<Value> {
    let mut reader = Reader::new(core::str::from_utf8(text).ok()?);
    reader.skip_ws();
    let value = reader.value::<true>(0)?;
    reader.end()?;
    Some(value)
}

/// An object member as read: with `BUILD` its value, otherwise `Value::Null`.
pub(crate) struct Member<'a> {
    pub(crate) key: Cow<'a, str>,
    value: Value,
    /// Where the value's text sits in the input.
    pub(crate) span: Range<usize>,
}

/// The reader. `BUILD = false` checks the same grammar without building values or
/// allocating (except for the keys of nested objects and escaped strings).
struct Reader<'a> {
    /// The whole input, checked as UTF-8 once: strings are then sliced out of it
    /// between ASCII quotes, which are always character boundaries.
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Only whitespace may follow the value.
    fn end(&mut self) -> Option<()> {
        self.skip_ws();
        (self.pos == self.bytes.len()).then_some(())
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// The whole input as one object, its keys unique.
    fn top_object<const BUILD: bool>(mut self) -> Option<Vec<Member<'a>>> {
        self.skip_ws();
        if self.peek() != Some(b'{') {
            return None;
        }
        let members = self.members::<BUILD>(0)?;
        self.end()?;
        (!has_duplicate_keys(&members)).then_some(members)
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Option<Value> {
        let rest = self.bytes.get(self.pos..)?;
        rest.starts_with(word).then(|| {
            self.pos += word.len();
            value
        })
    }

    /// A value at nesting `depth` (the number of arrays and objects around it).
    fn value<const BUILD: bool>(&mut self, depth: usize) -> Option<Value> {
        match self.peek()? {
            b'{' => {
                let members = self.members::<BUILD>(depth)?;
                if !BUILD {
                    return (!has_duplicate_keys(&members)).then_some(Value::Null);
                }
                let mut map = Map::new();
                for m in members {
                    if map.insert(m.key.into_owned(), m.value).is_some() {
                        return None;
                    }
                }
                Some(Value::Object(map))
            }
            b'[' => self.array::<BUILD>(depth),
            b'"' => {
                let text = self.string()?;
                Some(if BUILD {
                    Value::String(text.into_owned())
                } else {
                    Value::Null
                })
            }
            b'n' => self.literal(b"null", Value::Null),
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'-' | b'0'..=b'9' => {
                self.number()
                    .map(|n| if BUILD { Value::Number(n) } else { Value::Null })
            }
            _ => None,
        }
    }

    /// Opens an array or object: its contents sit one level deeper.
    fn open(&mut self, depth: usize) -> Option<usize> {
        let depth = depth + 1;
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        self.skip_ws();
        Some(depth)
    }

    /// After a member or item: `,` (true: another follows) or the closing bracket.
    fn next_or_close(&mut self, close: u8) -> Option<bool> {
        self.skip_ws();
        let c = self.peek()?;
        self.pos += 1;
        if c == b',' {
            self.skip_ws();
            Some(true)
        } else {
            (c == close).then_some(false)
        }
    }

    fn array<const BUILD: bool>(&mut self, depth: usize) -> Option<Value> {
        let depth = self.open(depth)?;
        let mut items = Vec::new();
        if self.eat(b']').is_none() {
            loop {
                let item = self.value::<BUILD>(depth)?;
                if BUILD {
                    items.push(item);
                }
                if !self.next_or_close(b']')? {
                    break;
                }
            }
        }
        Some(if BUILD {
            Value::Array(items)
        } else {
            Value::Null
        })
    }

    /// The members of an object, in order; the caller checks for duplicate keys.
    fn members<const BUILD: bool>(&mut self, depth: usize) -> Option<Vec<Member<'a>>> {
        let depth = self.open(depth)?;
        let mut members = Vec::with_capacity(if depth == 1 { 12 } else { 4 });
        if self.eat(b'}').is_some() {
            return Some(members);
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            self.skip_ws();
            self.eat(b':')?;
            self.skip_ws();
            let start = self.pos;
            let value = self.value::<BUILD>(depth)?;
            members.push(Member {
                key,
                value,
                span: start..self.pos,
            });
            if !self.next_or_close(b'}')? {
                return Some(members);
            }
        }
    }

    /// A string at `"`: borrowed when it has no escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.pos += 1;
        let start = self.pos;
        let bytes = self.bytes;
        // Fast path: up to the closing quote without escapes.
        let plain = bytes[start..]
            .iter()
            .position(|&b| STRING_STOP[usize::from(b)])?;
        self.pos = start + plain;
        match bytes[self.pos] {
            b'"' => {
                let text = self.text.get(start..self.pos)?;
                self.pos += 1;
                return Some(Cow::Borrowed(text));
            }
            b'\\' => {}
            _ => return None,
        }
        let mut out = Vec::with_capacity(self.pos - start + 16);
        out.extend_from_slice(&bytes[start..self.pos]);
        loop {
            match *bytes.get(self.pos)? {
                b'"' => {
                    self.pos += 1;
                    return String::from_utf8(out).ok().map(Cow::Owned);
                }
                b'\\' => {
                    self.pos += 1;
                    let c = *bytes.get(self.pos)?;
                    self.pos += 1;
                    let short = match c {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 8,
                        b'f' => 12,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            let ch = self.unicode_escape()?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                            continue;
                        }
                        _ => return None,
                    };
                    out.push(short);
                }
                0..=0x1f => return None,
                b => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    fn hex4(&mut self) -> Option<u16> {
        let digits = self.bytes.get(self.pos..self.pos + 4)?;
        let mut n = 0u16;
        for &d in digits {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return None,
            };
            n = (n << 4) | u16::from(v);
        }
        self.pos += 4;
        Some(n)
    }

    /// After `\u`: one code point; a surrogate must be a complete pair (as serde_json).
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        let code = match first {
            0xd800..=0xdbff => {
                if self.bytes.get(self.pos..self.pos + 2)? != b"\\u" {
                    return None;
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&second) {
                    return None;
                }
                0x10000 + ((u32::from(first) - 0xd800) << 10) + (u32::from(second) - 0xdc00)
            }
            0xdc00..=0xdfff => return None,
            _ => u32::from(first),
        };
        char::from_u32(code)
    }

    /// A number by JSON's grammar. Integers become u64 (non-negative) or i64 (negative)
    /// when they fit, anything else an f64; like serde_json, `-0` is the float -0.0 and
    /// numbers beyond f64's range are refused.
    fn number(&mut self) -> Option<Number> {
        let bytes = self.bytes;
        let start = self.pos;
        let negative = self.eat(b'-').is_some();
        let digits = |r: &mut Self| {
            let from = r.pos;
            while let Some(b'0'..=b'9') = r.peek() {
                r.pos += 1;
            }
            r.pos - from
        };
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                digits(self);
            }
            _ => return None,
        }
        let int_end = self.pos;
        let mut integer = true;
        if self.eat(b'.').is_some() {
            integer = false;
            if digits(self) == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return None;
            }
        }
        if integer {
            let digits = &bytes[start + usize::from(negative)..int_end];
            // Up to 19 digits cannot overflow a u64 (and need no 128-bit multiply in wasm).
            let magnitude = if digits.len() <= 19 {
                Some(
                    digits
                        .iter()
                        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')),
                )
            } else {
                digits.iter().try_fold(0u64, |n, d| {
                    n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
                })
            };
            match (negative, magnitude) {
                (false, Some(n)) => return Some(n.into()),
                (true, Some(0)) => return Number::from_f64(-0.0),
                (true, Some(n)) if n <= 1 << 63 => return Some((n.wrapping_neg() as i64).into()),
                _ => {}
            }
        }
        let value = parse_float(&bytes[start..self.pos])?;
        Number::from_f64(value).filter(|_| value.is_finite())
    }
}

/// A JSON number (already checked against the grammar) as the nearest f64: with the
/// `std` feature (the server, which re-serializes claims) by core's correctly rounded
/// parser.
#[cfg(feature = "std")]
fn parse_float(text: &[u8]) -> Option<f64> {
    core::str::from_utf8(text).ok()?.parse().ok()
}

/// A JSON number (already checked against the grammar) as an f64 without core's
/// 10 KB table of powers of five: exact when the digits fit in 2^53 and the power of
/// ten in 10^±22 (Clinger's fast path, which covers every float Python or JS writes
/// with up to 15 digits), otherwise within a few units in the last place, as
/// serde_json's default parser. The WebAssembly validator only checks floats for range
/// (times must be integers) and hands JavaScript the token's own JSON text, so this
/// never shows there.
#[cfg(not(feature = "std"))]
fn parse_float(text: &[u8]) -> Option<f64> {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    let (negative, text) = match text.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, text),
    };
    // Up to 19 significant digits, the decimal exponent adjusted for the rest.
    let (mut mantissa, mut digits, mut exp10) = (0u64, 0u32, 0i64);
    let mut iter = text.iter().peekable();
    let mut fraction = false;
    while let Some(&&c) = iter.peek() {
        match c {
            b'0'..=b'9' => {
                let leading_zero = mantissa == 0 && c == b'0';
                let kept = leading_zero || digits < 19;
                if !leading_zero && digits < 19 {
                    mantissa = mantissa * 10 + u64::from(c - b'0');
                    digits += 1;
                }
                match (fraction, kept) {
                    (true, true) => exp10 -= 1,
                    (false, false) => exp10 += 1, // a dropped integer digit
                    _ => {}
                }
            }
            b'.' => fraction = true,
            _ => break,
        }
        iter.next();
    }
    if let Some(b'e' | b'E') = iter.next() {
        let rest: Vec<u8> = iter.copied().collect();
        let (sign, digits) = match rest.split_first()? {
            (b'-', d) => (-1, d),
            (b'+', d) => (1, d),
            _ => (1, &rest[..]),
        };
        let e = digits
            .iter()
            .fold(0i64, |e, d| (e * 10 + i64::from(d - b'0')).min(100_000));
        exp10 += sign * e;
    }
    let mut value = mantissa as f64;
    if mantissa != 0 {
        if mantissa < 1 << 53 && (-22..=22).contains(&exp10) {
            let p = POW10[exp10.unsigned_abs() as usize];
            value = if exp10 < 0 { value / p } else { value * p };
        } else {
            // 10^|e| by squaring, in steps that stay finite (subnormal results too).
            let mut left = exp10.clamp(-800, 800);
            while left != 0 {
                let step = left.clamp(-300, 300);
                let (mut power, mut base, mut n) = (1.0f64, 10.0f64, step.unsigned_abs());
                while n > 0 {
                    if n & 1 == 1 {
                        power *= base;
                    }
                    base *= base;
                    n >>= 1;
                }
                value = if step < 0 {
                    value / power
                } else {
                    value * power
                };
                left -= step;
            }
        }
    }
    if value.is_infinite() {
        // Squaring's rounding can overshoot at the very top: the decimal overflows only
        // from f64::MAX plus half a unit in the last place, 1.797693134862315807..e308.
        let (mut m, mut e) = (mantissa, exp10);
        while m < 1_000_000_000_000_000_000 {
            m *= 10;
            e -= 1;
        }
        if e < 290 || (e == 290 && m < 1_797_693_134_862_315_807) {
            value = f64::MAX;
        }
    }
    Some(if negative { -value } else { value })
}

fn has_duplicate_keys(members: &[Member<'_>]) -> bool {
    // Claims are few; a quadratic scan beats allocating for the common case, and the
    // 8 KiB token cap bounds the worst case. Beyond that, a map (the one the reader
    // already uses for nested objects, so no more code) keeps hostile inputs at
    // n log n.
    if members.len() <= 16 {
        return members
            .iter()
            .enumerate()
            .any(|(i, m)| members[..i].iter().any(|other| other.key == m.key));
    }
    let mut seen = Map::new();
    !members.iter().all(|m| {
        seen.insert(String::from(m.key.as_ref()), Value::Null)
            .is_none()
    })
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

    fn check_against_oracle(input: &[u8]) {
        // The checking-only mode accepts exactly the objects the building mode does.
        let object = parse_object(input);
        let scanned = core::str::from_utf8(input).ok().and_then(Object::scan);
        assert_eq!(object.is_some(), scanned.is_some(), "{input:?}");
        if let (Some(object), Some(scanned)) = (object, scanned) {
            assert!(object.iter().map(|(k, _)| k.as_str()).eq(scanned.keys()));
            for (key, value) in &object {
                assert_eq!(scanned.get(key).as_ref(), Some(value));
            }
        }
        let ours = parse(input);
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
