//! JSON: CPython's `Modules/_json.c` scanner, iteratively.

use super::values::{PyStr, Val};
use super::{MAX_INT_DIGITS, MAX_JSON_DEPTH};

enum JsonError {
    /// `JSONDecodeError(message, doc, pos)`.
    Decode(&'static str, usize),
    /// A plain `ValueError` raised while scanning (int digit limit, NaN/Infinity).
    Value(String),
    /// `StopIteration(pos)` from `scan_once`: becomes "Expecting value" at `pos`.
    Stop(usize),
    /// Nesting deeper than `MAX_JSON_DEPTH` ("object" or "array").
    Depth(&'static str),
}

pub(super) enum Top {
    Dict(Vec<(PyStr, Val)>),
    Other(Val),
}

fn is_json_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn skip_ws(s: &[char], mut idx: usize) -> usize {
    while idx < s.len() && is_json_space(s[idx]) {
        idx += 1;
    }
    idx
}

/// `json.loads(text, parse_constant=strict_constant)`; Err is the exception text.
pub(super) fn json_loads(s: &[char]) -> Result<Top, String> {
    let message = |msg: &str, pos: usize| {
        let before = &s[..pos];
        let line = before.iter().filter(|&&c| c == '\n').count() + 1;
        let column = match before.iter().rposition(|&c| c == '\n') {
            Some(nl) => pos - nl,
            None => pos + 1,
        };
        format!("{msg}: line {line} column {column} (char {pos})")
    };
    if s.first() == Some(&'\u{feff}') {
        return Err(message("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0));
    }
    let start = skip_ws(s, 0);
    match scan(s, start) {
        Ok((top, end)) => {
            let end = skip_ws(s, end);
            if end != s.len() {
                Err(message("Extra data", end))
            } else {
                Ok(top)
            }
        }
        Err(JsonError::Stop(pos)) => Err(message("Expecting value", pos)),
        Err(JsonError::Decode(msg, pos)) => Err(message(msg, pos)),
        Err(JsonError::Value(text)) => Err(text),
        Err(JsonError::Depth(kind)) => Err(format!(
            "maximum recursion depth exceeded while decoding a JSON {kind} from a unicode string"
        )),
    }
}

enum Frame {
    Array,
    Object {
        /// Kept only for the top-level object.
        pairs: Option<Vec<(PyStr, Val)>>,
        key: PyStr,
    },
}

/// Reads `"key" :` and the whitespace after it, as `_parse_object_unicode` does.
fn read_key(s: &[char], idx: usize) -> Result<(PyStr, usize), JsonError> {
    if idx >= s.len() || s[idx] != '"' {
        return Err(JsonError::Decode(
            "Expecting property name enclosed in double quotes",
            idx,
        ));
    }
    let (key, next) = scanstring(s, idx + 1)?;
    let idx = skip_ws(s, next);
    if idx >= s.len() || s[idx] != ':' {
        return Err(JsonError::Decode("Expecting ':' delimiter", idx));
    }
    Ok((key, skip_ws(s, idx + 1)))
}

fn matches_at(s: &[char], idx: usize, word: &str) -> bool {
    word.chars()
        .enumerate()
        .all(|(i, c)| s.get(idx + i) == Some(&c))
}

fn out_of_range(constant: &str) -> JsonError {
    JsonError::Value(format!(
        "Out of range float values are not JSON compliant: '{constant}'"
    ))
}

/// `scan_once_unicode` with the recursion of `_parse_object_unicode` /
/// `_parse_array_unicode` unrolled onto an explicit stack.
fn scan(s: &[char], start: usize) -> Result<(Top, usize), JsonError> {
    let len = s.len();
    let mut stack: Vec<Frame> = Vec::new();
    let mut idx = start;
    loop {
        // scan_once at `idx`: either a complete value, or a container was opened.
        if idx >= len {
            return Err(JsonError::Stop(idx));
        }
        let (mut value, mut next) = match s[idx] {
            '"' => {
                let (text, next) = scanstring(s, idx + 1)?;
                (Val::Str(text), next)
            }
            c @ ('{' | '[') => {
                let object = c == '{';
                if stack.len() >= MAX_JSON_DEPTH {
                    return Err(JsonError::Depth(if object { "object" } else { "array" }));
                }
                let top = stack.is_empty();
                let inner = skip_ws(s, idx + 1);
                let close = if object { '}' } else { ']' };
                if inner < len && s[inner] == close {
                    if top && object {
                        return Ok((Top::Dict(Vec::new()), inner + 1));
                    }
                    (
                        if object {
                            Val::Object(false)
                        } else {
                            Val::Array(false)
                        },
                        inner + 1,
                    )
                } else if object {
                    let (key, after) = read_key(s, inner)?;
                    stack.push(Frame::Object {
                        pairs: top.then(Vec::new),
                        key,
                    });
                    idx = after;
                    continue;
                } else {
                    stack.push(Frame::Array);
                    idx = inner;
                    continue;
                }
            }
            'n' if idx + 3 < len && matches_at(s, idx + 1, "ull") => (Val::Null, idx + 4),
            't' if idx + 3 < len && matches_at(s, idx + 1, "rue") => (Val::Bool(true), idx + 4),
            'f' if idx + 4 < len && matches_at(s, idx + 1, "alse") => (Val::Bool(false), idx + 5),
            'N' if idx + 2 < len && matches_at(s, idx + 1, "aN") => {
                return Err(out_of_range("NaN"))
            }
            'I' if idx + 7 < len && matches_at(s, idx + 1, "nfinity") => {
                return Err(out_of_range("Infinity"))
            }
            '-' if idx + 8 < len && matches_at(s, idx + 1, "Infinity") => {
                return Err(out_of_range("-Infinity"))
            }
            _ => match_number(s, idx)?,
        };
        // A value is complete: hand it to the enclosing containers.
        loop {
            match stack.last_mut() {
                None => return Ok((Top::Other(value), next)),
                Some(Frame::Array) => {
                    idx = skip_ws(s, next);
                    if idx < len && s[idx] == ']' {
                        stack.pop();
                        value = Val::Array(true);
                        next = idx + 1;
                        continue;
                    }
                    if idx >= len || s[idx] != ',' {
                        return Err(JsonError::Decode("Expecting ',' delimiter", idx));
                    }
                    idx = skip_ws(s, idx + 1);
                    break;
                }
                Some(Frame::Object { pairs, key }) => {
                    if let Some(pairs) = pairs {
                        pairs.push((std::mem::take(key), value));
                    }
                    idx = skip_ws(s, next);
                    if idx < len && s[idx] == '}' {
                        if let Some(Frame::Object {
                            pairs: Some(pairs), ..
                        }) = stack.pop()
                        {
                            return Ok((Top::Dict(pairs), idx + 1));
                        }
                        value = Val::Object(true);
                        next = idx + 1;
                        continue;
                    }
                    if idx >= len || s[idx] != ',' {
                        return Err(JsonError::Decode("Expecting ',' delimiter", idx));
                    }
                    let (new_key, after) = read_key(s, skip_ws(s, idx + 1))?;
                    *key = new_key;
                    idx = after;
                    break;
                }
            }
        }
    }
}

fn hex_value(c: char) -> Option<u32> {
    c.to_digit(16)
}

/// `scanstring_unicode` (strict mode); `end` is the index after the opening quote.
fn scanstring(s: &[char], mut end: usize) -> Result<(PyStr, usize), JsonError> {
    let len = s.len();
    let begin = end - 1;
    let mut out = PyStr::default();
    loop {
        // The first quote, backslash or control character (one pass, no bounds checks).
        let stop = s[end..]
            .iter()
            .position(|&c| c == '"' || c == '\\' || (c as u32) <= 0x1f);
        let Some(offset) = stop else {
            return Err(JsonError::Decode("Unterminated string starting at", begin));
        };
        let mut next = end + offset;
        if (s[next] as u32) <= 0x1f {
            return Err(JsonError::Decode("Invalid control character at", next));
        }
        let terminator = s[next];
        out.text.extend(&s[end..next]);
        next += 1;
        if terminator == '"' {
            return Ok((out, next));
        }
        if next == len {
            return Err(JsonError::Decode("Unterminated string starting at", begin));
        }
        let escape = s[next];
        if escape != 'u' {
            end = next + 1;
            let c = match escape {
                '"' | '\\' | '/' => escape,
                'b' => '\u{8}',
                'f' => '\u{c}',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                _ => return Err(JsonError::Decode("Invalid \\escape", end - 2)),
            };
            out.text.push(c);
        } else {
            next += 1;
            end = next + 4;
            if end >= len {
                return Err(JsonError::Decode("Invalid \\uXXXX escape", next - 1));
            }
            let mut code = 0u32;
            for &digit in &s[next..end] {
                code = (code << 4)
                    | hex_value(digit)
                        .ok_or(JsonError::Decode("Invalid \\uXXXX escape", end - 5))?;
            }
            next = end;
            if (0xD800..=0xDBFF).contains(&code)
                && end + 6 < len
                && s[next] == '\\'
                && s[next + 1] == 'u'
            {
                next += 2;
                end += 6;
                let mut low = 0u32;
                for &digit in &s[next..end] {
                    low = (low << 4)
                        | hex_value(digit)
                            .ok_or(JsonError::Decode("Invalid \\uXXXX escape", end - 5))?;
                }
                if (0xDC00..=0xDFFF).contains(&low) {
                    code = 0x10000 + (((code - 0xD800) << 10) | (low - 0xDC00));
                } else {
                    end -= 6;
                }
            }
            out.push_code(code);
        }
    }
}

/// `_match_number_unicode`.
fn match_number(s: &[char], start: usize) -> Result<(Val, usize), JsonError> {
    let end_idx = s.len() - 1;
    let digit = |i: usize| s[i].is_ascii_digit();
    let mut idx = start;
    if s[idx] == '-' {
        idx += 1;
        if idx > end_idx {
            return Err(JsonError::Stop(start));
        }
    }
    if ('1'..='9').contains(&s[idx]) {
        idx += 1;
        while idx <= end_idx && digit(idx) {
            idx += 1;
        }
    } else if s[idx] == '0' {
        idx += 1;
    } else {
        return Err(JsonError::Stop(start));
    }
    let mut is_float = false;
    if idx < end_idx && s[idx] == '.' && digit(idx + 1) {
        is_float = true;
        idx += 2;
        while idx <= end_idx && digit(idx) {
            idx += 1;
        }
    }
    if idx < end_idx && (s[idx] == 'e' || s[idx] == 'E') {
        let e_start = idx;
        idx += 1;
        if idx < end_idx && (s[idx] == '-' || s[idx] == '+') {
            idx += 1;
        }
        while idx <= end_idx && digit(idx) {
            idx += 1;
        }
        if digit(idx - 1) {
            is_float = true;
        } else {
            idx = e_start;
        }
    }
    let text: String = s[start..idx].iter().collect();
    if is_float {
        // Same correctly rounded result as PyFloat_FromString (overflow gives inf).
        let value = text.parse::<f64>().unwrap_or(f64::NAN);
        return Ok((Val::Float(value), idx));
    }
    let negative = text.starts_with('-');
    let digits = text.len() - usize::from(negative);
    if digits > MAX_INT_DIGITS {
        return Err(JsonError::Value(format!(
            "Exceeds the limit ({MAX_INT_DIGITS} digits) for integer string conversion: \
             value has {digits} digits; use sys.set_int_max_str_digits() to increase the limit"
        )));
    }
    let text = if text == "-0" { "0".to_owned() } else { text };
    Ok((Val::Int(text), idx))
}
