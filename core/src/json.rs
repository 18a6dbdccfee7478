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
//! Checking: a token's header and payload are read by [`Object::scan`], the same grammar
//! and the same verdicts (duplicate keys refused at every depth) without building a
//! `Value` or allocating: it keeps where the top-level members' keys and values sit, and
//! a check reads the one claim it needs in place ([`Json`]: a number as u64, a string
//! compared or decoded only if it has escapes, an array's items). `Value`s are built only
//! for callers that ask for the claims as a map (`Verified::claims`, minting).
//! `tests::checking_reader_matches_*` run both readers on every vector and edge case.
//!
//! Writing: Simple JWT serializes claims with `json.dumps(payload, separators=(",", ":"))`,
//! which escapes every non-ASCII character (and DEL) as `\uXXXX` and prints floats with
//! Python's `repr`. [`write_python_object`] reproduces those bytes, so a token minted here is
//! byte-for-byte the token Simple JWT would mint.

use alloc::{borrow::Cow, format, string::String, vec::Vec};
use core::{cmp::Ordering, fmt};

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
    Reader::new(core::str::from_utf8(bytes).ok()?).top_object()
}

/// Parses any JSON value (duplicate keys rejected at every depth). `None` if `text` is
/// not exactly one JSON value.
pub fn parse(text: &[u8]) -> Option<Value> {
    let mut reader = Reader::new(core::str::from_utf8(text).ok()?);
    reader.skip_ws();
    let value = reader.value(0)?;
    reader.end()?;
    Some(value)
}

/// The reader that builds values ([`parse`], [`parse_object`]); [`Object::scan`] runs
/// the same grammar through its methods without building anything.
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
    fn top_object(mut self) -> Option<Vec<(String, Value)>> {
        self.skip_ws();
        if self.peek() != Some(b'{') {
            return None;
        }
        let members = self.members(0)?;
        self.end()?;
        (!has_duplicate_keys(&members)).then_some(members)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let rest = self.bytes.get(self.pos..)?;
        rest.starts_with(word).then(|| self.pos += word.len())
    }

    /// A value at nesting `depth` (the number of arrays and objects around it).
    fn value(&mut self, depth: usize) -> Option<Value> {
        match self.peek()? {
            b'{' => {
                let members = self.members(depth)?;
                let mut map = Map::new();
                for (key, value) in members {
                    if map.insert(key, value).is_some() {
                        return None;
                    }
                }
                Some(Value::Object(map))
            }
            b'[' => self.array(depth),
            b'"' => Some(Value::String(self.string()?.into_owned())),
            b'n' => self.literal(b"null").map(|()| Value::Null),
            b't' => self.literal(b"true").map(|()| Value::Bool(true)),
            b'f' => self.literal(b"false").map(|()| Value::Bool(false)),
            b'-' | b'0'..=b'9' => self.number().map(Value::Number),
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

    fn array(&mut self, depth: usize) -> Option<Value> {
        let depth = self.open(depth)?;
        let mut items = Vec::new();
        if self.eat(b']').is_none() {
            loop {
                items.push(self.value(depth)?);
                if !self.next_or_close(b']')? {
                    break;
                }
            }
        }
        Some(Value::Array(items))
    }

    /// The members of an object, in order; the caller checks for duplicate keys.
    fn members(&mut self, depth: usize) -> Option<Vec<(String, Value)>> {
        let depth = self.open(depth)?;
        let mut members = Vec::with_capacity(if depth == 1 { 12 } else { 4 });
        if self.eat(b'}').is_some() {
            return Some(members);
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?.into_owned();
            self.skip_ws();
            self.eat(b':')?;
            self.skip_ws();
            let value = self.value(depth)?;
            members.push((key, value));
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
                    if c == b'u' {
                        let ch = self.unicode_escape()?;
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        continue;
                    }
                    out.push(short_escape(c)?);
                }
                0..=0x1f => return None,
                b => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    /// A string at `"`, checked exactly as [`Reader::string`] reads it, without building
    /// it: whether it has escapes.
    fn skip_string(&mut self) -> Option<bool> {
        self.pos += 1;
        let mut escaped = false;
        loop {
            let rest = self.bytes.get(self.pos..)?;
            self.pos += rest.iter().position(|&b| STRING_STOP[usize::from(b)])?;
            match *self.bytes.get(self.pos)? {
                b'"' => {
                    self.pos += 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    let c = *self.bytes.get(self.pos + 1)?;
                    self.pos += 2;
                    if c == b'u' {
                        self.unicode_escape()?;
                    } else {
                        short_escape(c)?;
                    }
                }
                // A control character.
                _ => return None,
            }
        }
    }

    fn hex4(&mut self) -> Option<u16> {
        let n = hex4(self.bytes.get(self.pos..)?)?;
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

/// The byte a two-character escape (`\n`, `\"`, ...) stands for; `None` for any other
/// character after the backslash (`u` included: four hex digits follow it).
fn short_escape(c: u8) -> Option<u8> {
    Some(match c {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'b' => 8,
        b'f' => 12,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        _ => return None,
    })
}

/// Four hex digits at the start of `digits`.
fn hex4(digits: &[u8]) -> Option<u16> {
    let mut n = 0u16;
    for &d in digits.get(..4)? {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return None,
        };
        n = (n << 4) | u16::from(v);
    }
    Some(n)
}

// The checking reader: [`Object::scan`] accepts exactly the objects [`parse_object`]
// accepts, with duplicate keys refused at every depth, and builds nothing: what it keeps
// is where each top-level member's key and value sit in the text, in a few hundred bytes
// on the stack (a heap vector only past `INLINE` keys in the objects open at once). A
// string is decoded only when a caller asks for it and it has escapes; keys with escapes
// are compared by their decoded bytes, so `"a"` and `"\u0061"` are the same key.

/// Where one member of an object sits in the text: its key between the quotes (escapes
/// not decoded) and its value. Offsets are u32: [`Object::scan`] refuses longer texts.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    key: (u32, u32),
    value: (u32, u32),
    escaped: bool,
}

impl Entry {
    fn key<'t>(&self, text: &'t [u8]) -> &'t [u8] {
        text.get(self.key.0 as usize..self.key.1 as usize)
            .unwrap_or_default()
    }
}

/// Members kept inline; more (in the objects open at once) move to the heap.
const INLINE: usize = 24;

/// A stack of entries: those of the document's own object at the bottom, above them the
/// members of the nested objects being read (dropped once each is checked).
#[derive(Debug)]
struct Entries {
    inline: [Entry; INLINE],
    len: usize,
    /// All the entries once there were more than `INLINE`.
    spill: Vec<Entry>,
}

impl Entries {
    fn new() -> Self {
        Self {
            inline: [Entry::default(); INLINE],
            len: 0,
            spill: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        if self.spill.is_empty() {
            self.len
        } else {
            self.spill.len()
        }
    }

    fn push(&mut self, entry: Entry) {
        if self.spill.is_empty() {
            if self.len < INLINE {
                self.inline[self.len] = entry;
                self.len += 1;
                return;
            }
            self.spill.reserve(2 * INLINE);
            self.spill.extend_from_slice(&self.inline);
        }
        self.spill.push(entry);
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
        self.spill.truncate(len);
    }

    fn as_slice(&self) -> &[Entry] {
        if self.spill.is_empty() {
            self.inline.get(..self.len).unwrap_or_default()
        } else {
            &self.spill
        }
    }

    fn as_mut_slice(&mut self) -> &mut [Entry] {
        if self.spill.is_empty() {
            self.inline.get_mut(..self.len).unwrap_or_default()
        } else {
            &mut self.spill
        }
    }
}

/// The bytes of a checked string's text (between its quotes) with escapes decoded.
#[derive(Debug, Clone)]
struct Unescaped<'a> {
    raw: &'a [u8],
    /// The rest of a `\u` escape's UTF-8 encoding.
    pending: [u8; 4],
    from: u8,
    to: u8,
}

impl<'a> Unescaped<'a> {
    fn new(raw: &'a [u8]) -> Self {
        Self {
            raw,
            pending: [0; 4],
            from: 0,
            to: 0,
        }
    }

    /// After `\u`: the code point (a surrogate pair, checked by the scan, is one).
    fn code_point(&mut self) -> Option<char> {
        let first = u32::from(hex4(self.raw)?);
        self.raw = self.raw.get(4..)?;
        let code = if (0xd800..0xdc00).contains(&first) {
            let second = u32::from(hex4(self.raw.get(2..)?)?);
            self.raw = self.raw.get(6..)?;
            0x10000 + ((first - 0xd800) << 10) + second.checked_sub(0xdc00)?
        } else {
            first
        };
        char::from_u32(code)
    }
}

impl Iterator for Unescaped<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        if self.from < self.to {
            let byte = self.pending.get(usize::from(self.from)).copied();
            self.from += 1;
            return byte;
        }
        let (&b, rest) = self.raw.split_first()?;
        self.raw = rest;
        if b != b'\\' {
            return Some(b);
        }
        let (&c, rest) = self.raw.split_first()?;
        self.raw = rest;
        if c != b'u' {
            return short_escape(c);
        }
        let ch = self.code_point()?;
        let mut utf8 = [0u8; 4];
        let len = ch.encode_utf8(&mut utf8).len();
        self.pending = utf8;
        (self.from, self.to) = (1, len as u8);
        Some(utf8[0])
    }
}

// The paths for strings with escapes (rare) stay out of line, one copy each: the core
// is built at opt-level 3 in the WebAssembly module, which would otherwise inline the
// decoder into every comparison (BENCHMARKS.md, the checking reader's size).

/// The order of two keys' decoded bytes (`x` and `y` as in the text, escapes and all).
#[inline(never)]
fn cmp_unescaped(x: &[u8], y: &[u8]) -> Ordering {
    Unescaped::new(x).cmp(Unescaped::new(y))
}

/// Whether a string's decoded bytes are `other`.
#[inline(never)]
fn eq_unescaped(raw: &[u8], other: &[u8]) -> bool {
    Unescaped::new(raw).eq(other.iter().copied())
}

/// The length of a string's decoded bytes.
#[inline(never)]
fn unescaped_len(raw: &[u8]) -> usize {
    Unescaped::new(raw).count()
}

/// A string's decoded text.
#[inline(never)]
fn unescape(raw: &[u8]) -> String {
    // Decoding a checked string of UTF-8 text gives UTF-8 text.
    String::from_utf8(Unescaped::new(raw).collect()).unwrap_or_default()
}

fn same_key(text: &[u8], a: &Entry, b: &Entry) -> bool {
    let (x, y) = (a.key(text), b.key(text));
    if a.escaped || b.escaped {
        cmp_unescaped(x, y).is_eq()
    } else {
        x == y
    }
}

fn key_before(text: &[u8], a: &Entry, b: &Entry) -> bool {
    let (x, y) = (a.key(text), b.key(text));
    if a.escaped || b.escaped {
        cmp_unescaped(x, y).is_lt()
    } else {
        x < y
    }
}

/// Whether two of an object's members have the same key. Members are few in a token; a
/// quadratic scan beats anything else there, and past 16 an in-place heapsort keeps
/// hostile inputs at n log n without allocating (it reorders the entries: lookups by
/// name do not care).
fn has_duplicate_entries(text: &[u8], entries: &mut [Entry]) -> bool {
    if entries.len() <= 16 {
        return entries
            .iter()
            .enumerate()
            .any(|(i, e)| entries[..i].iter().any(|other| same_key(text, e, other)));
    }
    heapsort(entries, |a, b| key_before(text, a, b));
    entries.windows(2).any(|w| same_key(text, &w[0], &w[1]))
}

/// Sorts `v` in place (a few lines of code, where `sort_unstable` would add kilobytes to
/// the WebAssembly module).
fn heapsort<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let sift_down = |v: &mut [T], mut node: usize| loop {
        let mut child = 2 * node + 1;
        if child >= v.len() {
            break;
        }
        if child + 1 < v.len() && less(&v[child], &v[child + 1]) {
            child += 1;
        }
        if !less(&v[node], &v[child]) {
            break;
        }
        v.swap(node, child);
        node = child;
    };
    for node in (0..v.len() / 2).rev() {
        sift_down(v, node);
    }
    for end in (1..v.len()).rev() {
        v.swap(0, end);
        sift_down(&mut v[..end], 0);
    }
}

/// The checking reader's state: the building reader's cursor, and the entries.
struct Scan<'a> {
    reader: Reader<'a>,
    entries: Entries,
}

impl<'a> Scan<'a> {
    /// Checks that `text` is one value (with `object`, an object) and whitespace: the
    /// reader's state after it (the document's members, if an object) and where the
    /// value sits. Texts over 4 GiB are refused (offsets are u32).
    fn document(text: &'a str, object: bool) -> Option<(Self, core::ops::Range<usize>)> {
        u32::try_from(text.len()).ok()?;
        let mut scan = Scan {
            reader: Reader::new(text),
            entries: Entries::new(),
        };
        scan.reader.skip_ws();
        let start = scan.reader.pos;
        if object && scan.reader.peek() != Some(b'{') {
            return None;
        }
        scan.value(0)?;
        let end = scan.reader.pos;
        scan.reader.end()?;
        Some((scan, start..end))
    }

    /// A value at nesting `depth`, checked as [`Reader::value`] reads it.
    fn value(&mut self, depth: usize) -> Option<()> {
        let r = &mut self.reader;
        match r.peek()? {
            b'{' => self.object(depth),
            b'[' => {
                let depth = r.open(depth)?;
                if r.eat(b']').is_none() {
                    loop {
                        self.value(depth)?;
                        if !self.reader.next_or_close(b']')? {
                            break;
                        }
                    }
                }
                Some(())
            }
            b'"' => r.skip_string().map(drop),
            b'n' => r.literal(b"null"),
            b't' => r.literal(b"true"),
            b'f' => r.literal(b"false"),
            b'-' | b'0'..=b'9' => r.number().map(drop),
            _ => None,
        }
    }

    /// An object at `{`: its members are pushed, checked for duplicate keys and, unless
    /// it is the document itself (`depth` 0), dropped again.
    fn object(&mut self, depth: usize) -> Option<()> {
        let inner = self.reader.open(depth)?;
        let base = self.entries.len();
        if self.reader.eat(b'}').is_none() {
            loop {
                let r = &mut self.reader;
                if r.peek()? != b'"' {
                    return None;
                }
                let key_start = r.pos + 1;
                let escaped = r.skip_string()?;
                let key_end = r.pos - 1;
                r.skip_ws();
                r.eat(b':')?;
                r.skip_ws();
                let value_start = r.pos;
                self.value(inner)?;
                // The text is at most u32::MAX bytes long (checked by `Object::scan`).
                let at = |pos: usize| pos as u32;
                self.entries.push(Entry {
                    key: (at(key_start), at(key_end)),
                    value: (at(value_start), at(self.reader.pos)),
                    escaped,
                });
                if !self.reader.next_or_close(b'}')? {
                    break;
                }
            }
        }
        let members = self.entries.as_mut_slice().get_mut(base..)?;
        if has_duplicate_entries(self.reader.bytes, members) {
            return None;
        }
        if depth > 0 {
            self.entries.truncate(base);
        }
        Some(())
    }
}

/// A JSON object checked exactly as `parse_json` reads an object, without building values
/// or allocating: where its top-level members' keys and values sit, each value read on
/// demand ([`Json`]).
///
/// Public as `tollgate_core::JsonObject`, for callers that read JSON input without
/// building `Value`s (the WebAssembly adapter's options and key sets).
#[derive(Debug)]
pub struct Object<'a> {
    text: &'a str,
    entries: Entries,
}

impl<'a> Object<'a> {
    /// `None` if `text` is not one JSON object that `parse_json` would accept (or is
    /// longer than 4 GiB: only token segments, at most 8 KiB, are read this way).
    pub fn scan(text: &'a str) -> Option<Self> {
        let (scan, _) = Scan::document(text, true)?;
        Some(Self {
            text,
            entries: scan.entries,
        })
    }

    fn key(&self, entry: &Entry) -> JsonStr<'a> {
        JsonStr {
            raw: self
                .text
                .get(entry.key.0 as usize..entry.key.1 as usize)
                .unwrap_or_default(),
            escaped: entry.escaped,
        }
    }

    /// The value of member `key` (keys compared decoded).
    pub fn get(&self, key: &str) -> Option<Json<'a>> {
        let text = self.text.as_bytes();
        let entry = self.entries.as_slice().iter().find(|e| {
            if e.escaped {
                return self.key(e).eq_str(key);
            }
            // The lengths first: most keys differ there. Then byte by byte: claim names
            // are short, shorter than a call to memcmp.
            e.key.1.wrapping_sub(e.key.0) as usize == key.len()
                && e.key(text).iter().eq(key.as_bytes())
        })?;
        // Sliced with `get`: a `str` index would link core's char-boundary panic and its
        // formatting into the WebAssembly module (BENCHMARKS.md, "The validator's size").
        self.text
            .get(entry.value.0 as usize..entry.value.1 as usize)
            .map(Json)
    }

    /// Whether the object has the member `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The members' keys (in document order up to 16 members; any order beyond).
    pub fn keys(&self) -> impl Iterator<Item = JsonStr<'a>> + '_ {
        self.entries.as_slice().iter().map(|e| self.key(e))
    }

    /// The members, keys and values (in document order up to 16 members; any order
    /// beyond).
    pub fn members(&self) -> impl Iterator<Item = (JsonStr<'a>, Json<'a>)> + '_ {
        self.entries.as_slice().iter().filter_map(|e| {
            let value = self.text.get(e.value.0 as usize..e.value.1 as usize)?;
            Some((self.key(e), Json(value)))
        })
    }
}

/// The text of one value inside a checked document (public as
/// `tollgate_core::JsonValue`).
#[derive(Debug, Clone, Copy)]
pub struct Json<'a>(&'a str);

/// Checks that `text` is exactly one JSON value as `parse_json` reads it (duplicate keys
/// refused at every depth), without building it: the value, to read in place. `None`
/// for anything else, or a text longer than 4 GiB. Public as `tollgate_core::check_json`.
pub fn check(text: &str) -> Option<Json<'_>> {
    let (_, value) = Scan::document(text, false)?;
    text.get(value).map(Json)
}

impl<'a> Json<'a> {
    /// The value's JSON text.
    pub fn text(self) -> &'a str {
        self.0
    }

    /// A string value.
    pub fn as_str(self) -> Option<JsonStr<'a>> {
        let raw = self.0.strip_prefix('"')?.strip_suffix('"')?;
        Some(JsonStr {
            raw,
            escaped: raw.as_bytes().contains(&b'\\'),
        })
    }

    /// A number that is a non-negative integer within u64 (as `Value::as_u64`: the
    /// reader makes exactly those a u64; `-0`, fractions, exponents and larger integers
    /// are floats or negative).
    pub fn as_u64(self) -> Option<u64> {
        let digits = self.0.as_bytes();
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        digits.iter().try_fold(0u64, |n, d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
    }

    /// Whether the value is `null`.
    pub fn is_null(self) -> bool {
        self.0 == "null"
    }

    /// Whether the value is a number.
    pub fn is_number(self) -> bool {
        matches!(self.0.as_bytes().first(), Some(b'-' | b'0'..=b'9'))
    }

    /// The items of an array value.
    pub fn items(self) -> Option<Items<'a>> {
        self.0.starts_with('[').then_some(Items {
            text: self.0,
            pos: 1,
        })
    }
}

/// The items of a checked array, in order.
#[derive(Debug, Clone)]
pub struct Items<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for Items<'a> {
    type Item = Json<'a>;

    fn next(&mut self) -> Option<Json<'a>> {
        let bytes = self.text.as_bytes();
        while let Some(b' ' | b'\n' | b'\t' | b'\r' | b',') = bytes.get(self.pos) {
            self.pos += 1;
        }
        if *bytes.get(self.pos)? == b']' {
            return None;
        }
        let end = skip_value(bytes, self.pos)?;
        let item = self.text.get(self.pos..end)?;
        self.pos = end;
        Some(Json(item))
    }
}

/// The end of the checked value at `start`.
fn skip_value(bytes: &[u8], start: usize) -> Option<usize> {
    let skip_string = |mut at: usize| loop {
        at += 1;
        match *bytes.get(at)? {
            b'\\' => at += 1,
            b'"' => return Some(at + 1),
            _ => {}
        }
    };
    match *bytes.get(start)? {
        b'"' => skip_string(start),
        b'{' | b'[' => {
            let (mut at, mut depth) = (start, 0usize);
            loop {
                match *bytes.get(at)? {
                    b'"' => {
                        at = skip_string(at)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        _ => {
            let len = bytes
                .get(start..)?
                .iter()
                .position(|b| matches!(b, b',' | b']' | b'}' | b' ' | b'\n' | b'\t' | b'\r'));
            Some(len.map_or(bytes.len(), |len| start + len))
        }
    }
}

/// A string inside a checked document: its text between the quotes, escapes not yet
/// decoded.
#[derive(Debug, Clone, Copy)]
pub struct JsonStr<'a> {
    raw: &'a str,
    escaped: bool,
}

impl<'a> JsonStr<'a> {
    /// The string itself when it has no escapes.
    pub fn as_plain(self) -> Option<&'a str> {
        (!self.escaped).then_some(self.raw)
    }

    /// Whether the decoded string is `other`.
    pub fn eq_str(self, other: &str) -> bool {
        if self.escaped {
            eq_unescaped(self.raw.as_bytes(), other.as_bytes())
        } else {
            self.raw == other
        }
    }

    /// Whether the decoded string is empty.
    pub fn is_empty(self) -> bool {
        self.raw.is_empty()
    }

    /// The decoded length in bytes.
    pub fn len(self) -> usize {
        if self.escaped {
            unescaped_len(self.raw.as_bytes())
        } else {
            self.raw.len()
        }
    }

    /// The decoded string: borrowed without escapes, else built.
    pub fn decode(self) -> Cow<'a, str> {
        if self.escaped {
            Cow::Owned(unescape(self.raw.as_bytes()))
        } else {
            Cow::Borrowed(self.raw)
        }
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
    let mut at = 0;
    let mut fraction = false;
    while let Some(&c) = text.get(at) {
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
        at += 1;
    }
    if let Some(b'e' | b'E') = text.get(at) {
        let rest = text.get(at + 1..)?;
        let (sign, digits) = match rest.split_first()? {
            (b'-', d) => (-1, d),
            (b'+', d) => (1, d),
            _ => (1, rest),
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

fn has_duplicate_keys(members: &[(String, Value)]) -> bool {
    // Claims are few; a quadratic scan beats allocating for the common case, and the
    // 8 KiB token cap bounds the worst case. Beyond that, a map (the one the reader
    // already uses for nested objects, so no more code) keeps hostile inputs at
    // n log n.
    if members.len() <= 16 {
        return members
            .iter()
            .enumerate()
            .any(|(i, (key, _))| members[..i].iter().any(|(other, _)| other == key));
    }
    let mut seen = Map::new();
    !members
        .iter()
        .all(|(key, _)| seen.insert(key.clone(), Value::Null).is_none())
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
mod tests;
