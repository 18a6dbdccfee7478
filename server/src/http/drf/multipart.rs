//! multipart/form-data: Django's `django.http.multipartparser`.

use super::codecs::{decode_replace, Codec};
use super::header_params::{parse_header_parameters, HeaderParams, Undecodable};
use super::pystr::{bytes_strip, is_ascii_space, py_isprintable, py_strip};
use super::values::{PyStr, Val};
use super::{Reject, MAX_NUMBER_FIELDS, MAX_NUMBER_FILES, MULTIPART_MAX_HEADER};

/// The request stream behind Django's outer `LazyStream`. The body (at most 64 KiB) is
/// one chunk for Django (its upload handlers read 64 KiB at a time), and everything
/// Django ungets is a suffix of what it just read, so the stream is a position.
struct MainStream<'a> {
    body: &'a [u8],
    pos: usize,
}

/// One part: a `LazyStream` over a `BoundaryIter`.
struct PartStream {
    leftover: Vec<u8>,
    boundary_done: bool,
}

fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl PartStream {
    /// `BoundaryIter.__next__`.
    fn boundary_next(&mut self, main: &mut MainStream<'_>, separator: &[u8]) -> Option<Vec<u8>> {
        if self.boundary_done {
            return None;
        }
        let rollback = separator.len() + 6;
        let chunk = &main.body[main.pos..];
        if chunk.is_empty() {
            self.boundary_done = true;
            return None;
        }
        let chunk_start = main.pos;
        if let Some(index) = find_bytes(chunk, separator) {
            let mut end = index;
            // Back up over CRLF (each byte independently).
            if end > 0 && chunk[end - 1] == b'\n' {
                end -= 1;
            }
            if end > 0 && chunk[end - 1] == b'\r' {
                end -= 1;
            }
            main.pos = chunk_start + index + separator.len();
            self.boundary_done = true;
            return Some(chunk[..end].to_vec());
        }
        if chunk.len() <= rollback {
            main.pos = main.body.len();
            self.boundary_done = true;
            Some(chunk.to_vec())
        } else {
            // Keep the tail back in case it holds a partial boundary.
            main.pos = main.body.len() - rollback;
            Some(chunk[..chunk.len() - rollback].to_vec())
        }
    }

    /// `LazyStream.__next__`.
    fn next_chunk(&mut self, main: &mut MainStream<'_>, separator: &[u8]) -> Option<Vec<u8>> {
        if !self.leftover.is_empty() {
            return Some(std::mem::take(&mut self.leftover));
        }
        self.boundary_next(main, separator)
    }

    fn unget(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            let mut joined = bytes.to_vec();
            joined.append(&mut self.leftover);
            self.leftover = joined;
        }
    }

    /// `LazyStream.read(size)`.
    fn read(&mut self, size: usize, main: &mut MainStream<'_>, separator: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut remaining = size;
        while remaining != 0 {
            let Some(chunk) = self.next_chunk(main, separator) else {
                break;
            };
            let n = remaining.min(chunk.len());
            out.extend_from_slice(&chunk[..n]);
            self.unget(&chunk[n..]);
            remaining -= n;
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemType {
    Raw,
    Field,
    File,
}

/// One part header as `parse_boundary_stream` stores it: (value, params as bytes).
type PartHeader = (String, Vec<(String, Vec<u8>)>);
/// Part headers by lowercased name (a repeated header: the last one wins).
type PartHeaders = Vec<(String, PartHeader)>;

fn part_header<'a>(headers: &'a PartHeaders, name: &str) -> Option<&'a PartHeader> {
    headers
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, h)| h)
}

fn part_param<'a>(params: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    params
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_slice())
}

/// `parse_boundary_stream`.
fn parse_boundary_stream(
    part: &mut PartStream,
    main: &mut MainStream<'_>,
    separator: &[u8],
) -> Result<(ItemType, PartHeaders), Reject> {
    let chunk = part.read(MULTIPART_MAX_HEADER, main, separator);
    let Some(header_end) = find_bytes(&chunk, b"\r\n\r\n") else {
        part.unget(&chunk);
        if chunk.len() < MULTIPART_MAX_HEADER {
            return Ok((ItemType::Raw, Vec::new()));
        }
        // The next try would read 2048 bytes, over MAX_TOTAL_HEADER_SIZE.
        return Err(Reject::multipart("Request max total header size exceeded."));
    };
    part.unget(&chunk[header_end + 4..]);
    let mut item_type = ItemType::Raw;
    let mut headers: PartHeaders = Vec::new();
    let header = &chunk[..header_end];
    let mut lines: Vec<&[u8]> = Vec::new();
    let mut rest = header;
    while let Some(i) = find_bytes(rest, b"\r\n") {
        lines.push(&rest[..i]);
        rest = &rest[i + 2..];
    }
    lines.push(rest);
    for line in lines {
        // line.decode() (strict UTF-8) and parse_header_parameters: a ValueError skips the line.
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        let Ok(parsed) = parse_header_parameters(line) else {
            continue;
        };
        // A name or file name tollgate cannot decode: the line is skipped (see module docs).
        if parsed.get("name").is_err() || parsed.get("filename").is_err() {
            continue;
        }
        let Some((name, value)) = parsed.key.split_once(':') else {
            continue;
        };
        let params: Vec<(String, Vec<u8>)> = parsed
            .params
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?.into_bytes())))
            .collect();
        if name == "content-disposition" {
            item_type = ItemType::Field;
            if part_param(&params, "filename").is_some_and(|f| !f.is_empty()) {
                item_type = ItemType::File;
            }
        }
        headers.push((name.to_owned(), (value.to_owned(), params)));
    }
    Ok((item_type, headers))
}

/// `MultiPartParser(META, stream, upload_handlers, encoding).parse()` with the default
/// upload handlers, then `request.data`: text values, then files.
pub(super) fn parse_multipart(
    content_type: &str,
    header: &HeaderParams,
    body: &[u8],
    codec: Result<Codec, Reject>,
) -> Result<Vec<(String, Val)>, Reject> {
    if !content_type.starts_with("multipart/") {
        return Err(Reject::multipart(format!(
            "Invalid Content-Type: {content_type}"
        )));
    }
    if !content_type.is_ascii() {
        return Err(Reject::multipart(format!(
            "Invalid non-ASCII Content-Type in multipart: {content_type}"
        )));
    }
    let boundary = match header.get("boundary") {
        Ok(None) => return Err(Reject::multipart("Invalid boundary in multipart: None")),
        Ok(Some(b)) => b,
        Err(Undecodable) => return Err(Reject::unsupported(content_type)),
    };
    // boundary_re = [ -~]{0,200}[!-~], fullmatch
    let valid = !boundary.is_empty()
        && boundary.len() <= 201
        && boundary.bytes().all(|b| (b' '..=b'~').contains(&b))
        && boundary.as_bytes()[boundary.len() - 1] != b' ';
    if !valid {
        return Err(Reject::multipart(format!(
            "Invalid boundary in multipart: {boundary}"
        )));
    }
    let codec = codec?;
    let separator: Vec<u8> = [b"--".as_slice(), boundary.as_bytes()].concat();
    let mut main = MainStream { body, pos: 0 };
    let mut post: Vec<(String, Val)> = Vec::new();
    let mut files: Vec<(String, Val)> = Vec::new();
    let mut pending_file: Option<(String, String)> = None;
    let mut num_post_keys = 0usize;
    let mut num_files = 0usize;
    // InterBoundaryIter: a new part while the stream has bytes left.
    while main.pos < main.body.len() {
        let mut part = PartStream {
            leftover: Vec::new(),
            boundary_done: false,
        };
        let (item_type, headers) = parse_boundary_stream(&mut part, &mut main, &separator)?;
        // A file is complete once the next part starts (`handle_file_complete`); a file
        // that is the last part is never completed and is dropped.
        if let Some((field_name, file_name)) = pending_file.take() {
            files.push((field_name, Val::File(file_name)));
        }
        if item_type != ItemType::File {
            num_post_keys += 1;
            // "2 accounts for empty raw fields before and after the last boundary."
            if MAX_NUMBER_FIELDS + 2 < num_post_keys {
                return Err(Reject::too_many_fields());
            }
        }
        let Some((_, disposition)) = part_header(&headers, "content-disposition") else {
            continue;
        };
        let Some(field_name) = part_param(disposition, "name") else {
            continue;
        };
        let field_name = decode_replace(codec, bytes_strip(field_name));
        let base64 = part_header(&headers, "content-transfer-encoding")
            .is_some_and(|(value, _)| py_strip(value) == "base64");
        match item_type {
            ItemType::Field => {
                let mut data = Vec::new();
                while let Some(chunk) = part.next_chunk(&mut main, &separator) {
                    data.extend_from_slice(&chunk);
                }
                if base64 {
                    if let Some(decoded) = a2b_base64(&data) {
                        data = decoded;
                    }
                }
                post.push((
                    field_name,
                    Val::Str(PyStr {
                        text: decode_replace(codec, &data),
                        surrogate: None,
                    }),
                ));
            }
            ItemType::File => {
                num_files += 1;
                if num_files > MAX_NUMBER_FILES {
                    return Err(Reject::too_many_files());
                }
                let raw_name = part_param(disposition, "filename").unwrap_or_default();
                let Some(file_name) = sanitize_file_name(&decode_replace(codec, raw_name)) else {
                    continue;
                };
                let mut remainder: Vec<u8> = Vec::new();
                while let Some(chunk) = part.next_chunk(&mut main, &separator) {
                    if !base64 {
                        continue;
                    }
                    // Decode whitespace-stripped data in multiples of 4, carrying the rest.
                    remainder.extend(chunk.iter().copied().filter(|&b| !is_ascii_space(b)));
                    let aligned = remainder.len() / 4 * 4;
                    if aligned == 0 {
                        continue;
                    }
                    if a2b_base64(&remainder[..aligned]).is_none() {
                        return Err(Reject::multipart("Could not decode base64 data."));
                    }
                    remainder.drain(..aligned);
                }
                if !remainder.is_empty() {
                    return Err(Reject::multipart("Could not decode base64 data."));
                }
                pending_file = Some((field_name, file_name));
            }
            ItemType::Raw => {}
        }
    }
    post.extend(files);
    Ok(post)
}

/// `binascii.a2b_base64(data, strict_mode=False)`: characters outside the alphabet are
/// skipped, decoding stops at a complete padding; None is `binascii.Error`.
fn a2b_base64(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() / 4 * 3);
    let mut quad_pos = 0;
    let mut left: u8 = 0;
    let mut pads = 0;
    for &c in data {
        if c == b'=' {
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    return Some(out);
                }
            }
            continue;
        }
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        pads = 0;
        match quad_pos {
            0 => {
                quad_pos = 1;
                left = v;
            }
            1 => {
                quad_pos = 2;
                out.push((left << 2) | (v >> 4));
                left = v & 0x0f;
            }
            2 => {
                quad_pos = 3;
                out.push((left << 4) | (v >> 2));
                left = v & 0x03;
            }
            _ => {
                quad_pos = 0;
                out.push((left << 6) | v);
                left = 0;
            }
        }
    }
    (quad_pos == 0).then_some(out)
}

/// HTML5 named references whose expansion is not plain printable text (or is a path
/// separator or a dot), which is all `sanitize_file_name` can observe.
const SPECIAL_ENTITIES: &[(&str, &str)] = &[
    ("ApplyFunction;", "\u{2061}"),
    ("InvisibleComma;", "\u{2063}"),
    ("InvisibleTimes;", "\u{2062}"),
    ("MediumSpace;", "\u{205f}"),
    ("NegativeMediumSpace;", "\u{200b}"),
    ("NegativeThickSpace;", "\u{200b}"),
    ("NegativeThinSpace;", "\u{200b}"),
    ("NegativeVeryThinSpace;", "\u{200b}"),
    ("NewLine;", "\n"),
    ("NoBreak;", "\u{2060}"),
    ("NonBreakingSpace;", "\u{a0}"),
    ("Tab;", "\t"),
    ("ThickSpace;", "\u{205f}\u{200a}"),
    ("ThinSpace;", "\u{2009}"),
    ("VeryThinSpace;", "\u{200a}"),
    ("ZeroWidthSpace;", "\u{200b}"),
    ("af;", "\u{2061}"),
    ("bsol;", "\\"),
    ("emsp13;", "\u{2004}"),
    ("emsp14;", "\u{2005}"),
    ("emsp;", "\u{2003}"),
    ("ensp;", "\u{2002}"),
    ("hairsp;", "\u{200a}"),
    ("ic;", "\u{2063}"),
    ("it;", "\u{2062}"),
    ("lrm;", "\u{200e}"),
    ("nbsp", "\u{a0}"),
    ("nbsp;", "\u{a0}"),
    ("numsp;", "\u{2007}"),
    ("period;", "."),
    ("puncsp;", "\u{2008}"),
    ("rlm;", "\u{200f}"),
    ("shy", "\u{ad}"),
    ("shy;", "\u{ad}"),
    ("sol;", "/"),
    ("thinsp;", "\u{2009}"),
    ("zwj;", "\u{200d}"),
    ("zwnj;", "\u{200c}"),
];

/// HTML5 named references that may appear without a semicolon (the only ones
/// `html.unescape` matches as a prefix of a longer name).
const LEGACY_ENTITIES: &str = "\
    AElig AMP Aacute Acirc Agrave Aring Atilde Auml COPY Ccedil ETH Eacute Ecirc Egrave Euml \
    GT Iacute Icirc Igrave Iuml LT Ntilde Oacute Ocirc Ograve Oslash Otilde Ouml QUOT REG \
    THORN Uacute Ucirc Ugrave Uuml Yacute aacute acirc acute aelig agrave amp aring atilde \
    auml brvbar ccedil cedil cent copy curren deg divide eacute ecirc egrave eth euml frac12 \
    frac14 frac34 gt iacute icirc iexcl igrave iquest iuml laquo lt macr micro middot nbsp not \
    ntilde oacute ocirc ograve ordf ordm oslash otilde ouml para plusmn pound quot raquo reg \
    sect shy sup1 sup2 sup3 szlig thorn times uacute ucirc ugrave uml uuml yacute yen yuml";

/// Stand-in for an expansion made only of printable, non-separator characters.
const PLAIN: &str = "x";

fn named_reference(name: &str) -> std::borrow::Cow<'_, str> {
    if let Some((_, expansion)) = SPECIAL_ENTITIES.iter().find(|(n, _)| *n == name) {
        return (*expansion).into();
    }
    let bare = name.strip_suffix(';').unwrap_or(name);
    if bare.bytes().all(|b| b.is_ascii_alphanumeric()) {
        // A real entity (plain expansion), a longest legacy prefix followed by more
        // alphanumerics, or left as is: plain printable text in every case.
        return PLAIN.into();
    }
    // Not an entity (names are alphanumeric): the longest legacy prefix, then the rest as is.
    let chars: Vec<(usize, char)> = name.char_indices().collect();
    for x in (2..chars.len()).rev() {
        let prefix = &name[..chars[x].0];
        if LEGACY_ENTITIES
            .split_ascii_whitespace()
            .any(|legacy| legacy == prefix)
        {
            let expansion = SPECIAL_ENTITIES
                .iter()
                .find(|(n, _)| *n == prefix)
                .map_or(PLAIN, |(_, e)| e);
            return format!("{expansion}{}", &name[chars[x].0..]).into();
        }
    }
    format!("&{name}").into()
}

fn numeric_reference(num: Option<u32>) -> String {
    // html._invalid_charrefs (Windows-1252 for C1 controls) and _invalid_codepoints.
    const CP1252: [u32; 32] = [
        0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039,
        0x152, 0x8d, 0x17d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
        0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
    ];
    let Some(num) = num.filter(|&n| n <= 0x10FFFF) else {
        return "\u{FFFD}".to_owned();
    };
    let mapped = match num {
        0 => 0xFFFD,
        0x0d => 0x0d,
        0x80..=0x9f => CP1252[(num - 0x80) as usize],
        0xD800..=0xDFFF => 0xFFFD,
        0x1..=0x8 | 0xb | 0xe..=0x1f | 0x7f | 0xfdd0..=0xfdef => return String::new(),
        n if n & 0xFFFE == 0xFFFE => return String::new(),
        n => n,
    };
    char::from_u32(mapped).map_or_else(String::new, String::from)
}

/// `html.unescape`, exact in everything `sanitize_file_name` can observe.
fn html_unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '&' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
        let j = i + 1;
        if chars.get(j) == Some(&'#') {
            let hex = matches!(chars.get(j + 1), Some('x' | 'X'));
            let digits_start = if hex { j + 2 } else { j + 1 };
            let mut k = digits_start;
            while k < chars.len()
                && (if hex {
                    chars[k].is_ascii_hexdigit()
                } else {
                    chars[k].is_ascii_digit()
                })
            {
                k += 1;
            }
            if k > digits_start {
                let digits: String = chars[digits_start..k].iter().collect();
                let digits = digits.trim_start_matches('0');
                let num = if digits.is_empty() {
                    Some(0)
                } else if digits.len() > 8 {
                    None
                } else {
                    u32::from_str_radix(digits, if hex { 16 } else { 10 }).ok()
                };
                out.push_str(&numeric_reference(num));
                i = if chars.get(k) == Some(&';') { k + 1 } else { k };
                continue;
            }
            out.push('&');
            i += 1;
            continue;
        }
        let mut k = j;
        while k < chars.len()
            && k - j < 32
            && !matches!(
                chars[k],
                '\t' | '\n' | '\u{c}' | ' ' | '<' | '&' | '#' | ';'
            )
        {
            k += 1;
        }
        if k == j {
            out.push('&');
            i += 1;
            continue;
        }
        if chars.get(k) == Some(&';') {
            k += 1;
        }
        let name: String = chars[j..k].iter().collect();
        out.push_str(&named_reference(&name));
        i = k;
    }
    out
}

/// `MultiPartParser.sanitize_file_name`; None means the part is skipped.
pub(super) fn sanitize_file_name(name: &str) -> Option<String> {
    let name = html_unescape(name);
    let name = name.rsplit('/').next().unwrap_or_default();
    let name = name.rsplit('\\').next().unwrap_or_default();
    let name: String = name.chars().filter(|&c| py_isprintable(c)).collect();
    if matches!(name.as_str(), "" | "." | "..") {
        None
    } else {
        Some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_like_binascii() {
        assert_eq!(a2b_base64(b"YWJj").as_deref(), Some(&b"abc"[..]));
        assert_eq!(a2b_base64(b"YQ==YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(a2b_base64(b"Y*Q=!=").as_deref(), Some(&b"a"[..]));
        assert_eq!(a2b_base64(b"YWJ"), None);
        assert_eq!(a2b_base64(b"Y"), None);
        assert_eq!(a2b_base64(b"=YWJj").as_deref(), Some(&b"abc"[..]));
    }

    #[test]
    fn file_names() {
        assert_eq!(sanitize_file_name("a/b\\c.txt").as_deref(), Some("c.txt"));
        assert_eq!(sanitize_file_name("..").as_deref(), None);
        assert_eq!(sanitize_file_name("&period;&period;").as_deref(), None);
        assert_eq!(sanitize_file_name("x&sol;").as_deref(), None);
        assert_eq!(sanitize_file_name("&#32;").as_deref(), Some(" "));
        assert_eq!(sanitize_file_name("&nbsp;&zwj;\u{200b}").as_deref(), None);
        assert_eq!(sanitize_file_name("&nbsp/").as_deref(), None);
        assert_eq!(
            sanitize_file_name("&#x110000;").as_deref(),
            Some("\u{fffd}")
        );
        assert_eq!(sanitize_file_name("&#128;").as_deref(), Some("\u{20ac}"));
        assert!(sanitize_file_name("&amp;").is_some());
    }
}
