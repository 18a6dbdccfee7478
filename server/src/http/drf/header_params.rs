//! Header parameters: `django.utils.http.parse_header_parameters` + `email.message.get_params`.

use super::codecs::{decode_replace, lookup_codec, Codec, CodecLookup};
use super::form::url_unquote;
use super::pystr::py_strip;
use super::MAX_INT_DIGITS;

/// A parsed `Content-Type`-like header: the lowercased main value and the parameters in
/// order (a repeated name: the last one wins, as in the dict Django builds). A value is
/// None when it is RFC 2231-encoded in a charset Python knows and tollgate does not
/// decode; that only matters if the parameter is used.
#[derive(Debug, Clone, Default)]
pub(super) struct HeaderParams {
    pub(super) key: String,
    pub(super) params: Vec<(String, Option<String>)>,
}

/// A parameter value tollgate cannot decode (see [`HeaderParams`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Undecodable;

impl HeaderParams {
    pub(super) fn get(&self, name: &str) -> Result<Option<&str>, Undecodable> {
        match self.params.iter().rev().find(|(key, _)| key == name) {
            None => Ok(None),
            Some((_, Some(value))) => Ok(Some(value)),
            Some((_, None)) => Err(Undecodable),
        }
    }
}

/// Django cannot parse the header (a `ValueError` or `TypeError` in Python).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct InvalidHeader;

/// A parameter value after `email.utils.decode_params`.
enum ParamValue {
    Plain(String),
    /// RFC 2231 extended value: (charset, language, quoted text).
    Extended(Option<String>, String),
}

/// `django.utils.http.parse_header_parameters`.
pub(super) fn parse_header_parameters(line: &str) -> Result<HeaderParams, InvalidHeader> {
    if line.is_empty() {
        return Ok(HeaderParams::default());
    }
    if !line.contains(';') {
        return Ok(HeaderParams {
            key: py_strip(line).to_lowercase(),
            params: Vec::new(),
        });
    }
    // `Message._get_params_preserve`.
    let raw: Vec<(String, String)> = parseparam(line)
        .into_iter()
        .map(|p| match p.split_once('=') {
            Some((name, value)) => (py_strip(name).to_owned(), py_strip(value).to_owned()),
            None => (py_strip(&p).to_owned(), String::new()),
        })
        .collect();
    let decoded = decode_params(raw)?;
    let mut out = HeaderParams::default();
    let mut iter = decoded.into_iter();
    if let Some((first, _)) = iter.next() {
        out.key = first.to_lowercase();
    }
    for (name, value) in iter {
        if name.is_empty() {
            continue;
        }
        let value = match value {
            ParamValue::Plain(v) => Some(email_unquote(&v).into_owned()),
            ParamValue::Extended(charset, quoted) => {
                let text = email_unquote(&quoted);
                collapse_rfc2231_value(charset.as_deref(), text)?
            }
        };
        out.params.push((name, value));
    }
    Ok(out)
}

/// `email.message._parseparam`: split on `;` outside double quotes, lowercase and strip
/// parameter names. Counting is incremental so long headers stay linear.
fn parseparam(line: &str) -> Vec<String> {
    let s = format!(";{line}");
    let bytes = s.as_bytes();
    let find = |from: usize, start: usize| -> Option<usize> {
        bytes
            .get(start + from..)?
            .iter()
            .position(|&b| b == b';')
            .map(|p| p + from)
    };
    let mut plist = Vec::new();
    let mut start = 0;
    while bytes.get(start) == Some(&b';') {
        start += 1;
        let mut end = find(0, start);
        // (s.count('"', 0, end) - s.count('\\"', 0, end)) % 2, maintained incrementally.
        let (mut quotes, mut escaped, mut counted) = (0usize, 0usize, 0usize);
        while let Some(e) = end.filter(|&e| e > 0) {
            while counted < e {
                if bytes[start + counted] == b'"' {
                    quotes += 1;
                    if counted > 0 && bytes[start + counted - 1] == b'\\' {
                        escaped += 1;
                    }
                }
                counted += 1;
            }
            if (quotes - escaped) % 2 == 0 {
                break;
            }
            end = find(e + 1, start);
        }
        let end = end.unwrap_or(bytes.len() - start);
        let f = &s[start..start + end];
        let f = match f.find('=') {
            Some(i) => format!(
                "{}={}",
                py_strip(&f[..i]).to_lowercase(),
                py_strip(&f[i + 1..])
            ),
            None => f.to_owned(),
        };
        plist.push(py_strip(&f).to_owned());
        start += end;
    }
    plist
}

/// `email.utils.unquote`.
fn email_unquote(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().nth(1).is_some() {
        if s.starts_with('"') && s.ends_with('"') {
            return s[1..s.len() - 1]
                .replace("\\\\", "\\")
                .replace("\\\"", "\"")
                .into();
        }
        if s.starts_with('<') && s.ends_with('>') {
            return s[1..s.len() - 1].into();
        }
    }
    s.into()
}

/// `email.utils.quote`.
fn email_quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A parsed RFC 2231 continuation number (`int(num)`), compared like Python ints.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ContinuationNumber {
    len: usize,
    digits: String,
}

/// `email.utils.decode_params`.
fn decode_params(
    params: Vec<(String, String)>,
) -> Result<Vec<(String, ParamValue)>, InvalidHeader> {
    let mut iter = params.into_iter();
    let mut out = Vec::new();
    if let Some((name, value)) = iter.next() {
        out.push((name, ParamValue::Plain(value)));
    }
    // Insertion-ordered map of RFC 2231 parameter name -> continuations.
    type Continuation = (Option<ContinuationNumber>, String, bool);
    let mut rfc2231: Vec<(String, Vec<Continuation>)> = Vec::new();
    let mut rfc2231_index: std::collections::HashMap<String, usize> =
        std::collections::HashMap::new();
    for (name, value) in iter {
        let encoded = name.ends_with('*');
        let value = email_unquote(&value).into_owned();
        match rfc2231_continuation(&name) {
            Some((base, num)) => {
                let num = match num {
                    None => None,
                    Some(digits) => {
                        let trimmed = digits.trim_start_matches('0');
                        if digits.len() > MAX_INT_DIGITS {
                            return Err(InvalidHeader); // int() raises ValueError
                        }
                        Some(ContinuationNumber {
                            len: trimmed.len(),
                            digits: trimmed.to_owned(),
                        })
                    }
                };
                match rfc2231_index.get(base) {
                    Some(&i) => rfc2231[i].1.push((num, value, encoded)),
                    None => {
                        rfc2231_index.insert(base.to_owned(), rfc2231.len());
                        rfc2231.push((base.to_owned(), vec![(num, value, encoded)]));
                    }
                }
            }
            None => out.push((
                name,
                ParamValue::Plain(format!("\"{}\"", email_quote(&value))),
            )),
        }
    }
    for (name, mut continuations) in rfc2231 {
        let numbered = continuations.iter().filter(|c| c.0.is_some()).count();
        if numbered != 0 && numbered != continuations.len() {
            // Sorting compares None with an int: TypeError.
            return Err(InvalidHeader);
        }
        continuations.sort();
        let mut value = String::new();
        let mut extended = false;
        for (_, s, encoded) in continuations {
            if encoded {
                value.push_str(&url_unquote(&s, Codec::Latin1));
                extended = true;
            } else {
                value.push_str(&s);
            }
        }
        let value = email_quote(&value);
        if extended {
            // decode_rfc2231: charset'language'text, or (None, None, value).
            let parts: Vec<&str> = value.splitn(3, '\'').collect();
            let (charset, text) = if parts.len() <= 2 {
                (None, value.as_str())
            } else {
                (Some(parts[0].to_owned()), parts[2])
            };
            out.push((name, ParamValue::Extended(charset, format!("\"{text}\""))));
        } else {
            out.push((name, ParamValue::Plain(format!("\"{value}\""))));
        }
    }
    Ok(out)
}

/// `^(?P<name>\w+)\*((?P<num>[0-9]+)\*?)?$` (ASCII): (name, number digits).
fn rfc2231_continuation(name: &str) -> Option<(&str, Option<&str>)> {
    let (base, rest) = name.split_once('*')?;
    if base.is_empty() || !base.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    if rest.is_empty() {
        return Some((base, None));
    }
    let digits = rest.strip_suffix('*').unwrap_or(rest);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((base, Some(digits)))
}

/// Django's check of an RFC 2231 charset, then `email.utils.collapse_rfc2231_value`.
fn collapse_rfc2231_value(
    charset: Option<&str>,
    text: std::borrow::Cow<'_, str>,
) -> Result<Option<String>, InvalidHeader> {
    let codec = match charset {
        // decode_rfc2231 could not split the value: the fallback charset.
        None => Codec::Ascii,
        // str(rawbytes, "") raises LookupError, caught: the text unquoted.
        Some("") => return Ok(Some(email_unquote(&text).into_owned())),
        Some(charset) => match lookup_codec(charset) {
            CodecLookup::Known(codec) => codec,
            CodecLookup::Unknown => return Err(InvalidHeader),
            CodecLookup::Unsupported => return Ok(None),
        },
    };
    // bytes(text, "raw-unicode-escape")
    let mut raw = Vec::with_capacity(text.len());
    for c in text.chars() {
        let code = c as u32;
        if code < 0x100 {
            raw.push(code as u8);
        } else if code < 0x10000 {
            raw.extend_from_slice(format!("\\u{code:04x}").as_bytes());
        } else {
            raw.extend_from_slice(format!("\\U{code:08x}").as_bytes());
        }
    }
    Ok(Some(decode_replace(codec, &raw)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_parameters() {
        let p =
            parse_header_parameters(r#"Multipart/Form-Data; Boundary="a\"b;c" ; charset=UTF-8"#)
                .expect("parses");
        assert_eq!(p.key, "multipart/form-data");
        assert_eq!(p.get("boundary"), Ok(Some("a\"b;c")));
        assert_eq!(p.get("charset"), Ok(Some("UTF-8")));
        let p = parse_header_parameters("a/b; x*0*=utf-8''%C3%A9; x*1=t").expect("parses");
        assert_eq!(p.get("x"), Ok(Some("\u{e9}t")));
        let p = parse_header_parameters("a/b; x*=cp1252''y; z=1").expect("parses");
        assert_eq!(p.get("x"), Err(Undecodable));
        assert_eq!(p.get("z"), Ok(Some("1")));
        assert_eq!(
            parse_header_parameters("a/b; x*=bogus''y").unwrap_err(),
            InvalidHeader
        );
        assert_eq!(
            parse_header_parameters("a/b; x*=y; x*0=z").unwrap_err(),
            InvalidHeader
        );
    }
}
