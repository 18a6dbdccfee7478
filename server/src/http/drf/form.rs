//! application/x-www-form-urlencoded: `QueryDict`.

use super::codecs::{decode_replace, decode_strict, Codec};
use super::values::{PyStr, Val};
use super::{header_to_str, Reject, MAX_NUMBER_FIELDS};

/// `QueryDict(body, encoding=...)`: decode the whole body (Latin-1 if that fails), then
/// `parse_qsl(keep_blank_values=True, max_num_fields=1000)`.
pub(super) fn parse_form(body: &[u8], codec: Codec) -> Result<Vec<(String, Val)>, Reject> {
    let qs = decode_strict(codec, body).unwrap_or_else(|| header_to_str(body));
    if qs.is_empty() {
        return Ok(Vec::new());
    }
    // Counts separators, empty fields included.
    if 1 + qs.matches('&').count() > MAX_NUMBER_FIELDS {
        return Err(Reject::too_many_fields());
    }
    let mut out = Vec::new();
    for field in qs.split('&') {
        if field.is_empty() {
            continue;
        }
        let (name, value) = field.split_once('=').unwrap_or((field, ""));
        let name = url_unquote(&name.replace('+', " "), codec);
        let value = url_unquote(&value.replace('+', " "), codec);
        out.push((
            name,
            Val::Str(PyStr {
                text: value,
                surrogate: None,
            }),
        ));
    }
    Ok(out)
}

/// `urllib.parse.unquote(string, encoding, errors="replace")`: only runs of ASCII are
/// percent-decoded (and decoded with the codec); other characters stay as they are.
pub(super) fn url_unquote(string: &str, codec: Codec) -> String {
    if !string.contains('%') {
        return string.to_owned();
    }
    let mut out = String::with_capacity(string.len());
    let mut rest = string;
    while !rest.is_empty() {
        let ascii_len = rest.bytes().take_while(u8::is_ascii).count();
        if ascii_len > 0 {
            let (run, tail) = rest.split_at(ascii_len);
            out.push_str(&decode_replace(codec, &unquote_to_bytes(run.as_bytes())));
            rest = tail;
        } else {
            let other_len = rest
                .char_indices()
                .find(|(_, c)| c.is_ascii())
                .map_or(rest.len(), |(i, _)| i);
            let (run, tail) = rest.split_at(other_len);
            out.push_str(run);
            rest = tail;
        }
    }
    out
}

/// `urllib.parse.unquote_to_bytes` on ASCII input.
fn unquote_to_bytes(run: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(run.len());
    let mut parts = run.split(|&b| b == b'%');
    out.extend_from_slice(parts.next().unwrap_or_default());
    for item in parts {
        let hex = |i: usize| item.get(i).and_then(|&b| char::from(b).to_digit(16));
        match (hex(0), hex(1)) {
            (Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                out.extend_from_slice(&item[2..]);
            }
            _ => {
                out.push(b'%');
                out.extend_from_slice(item);
            }
        }
    }
    out
}
