//! Codecs: Python's `codecs.lookup` and the decoders of the codecs tollgate implements.

use super::header_to_str;

/// The Python codecs tollgate decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Codec {
    Utf8,
    /// `utf-8-sig`: UTF-8 that drops a leading byte order mark.
    Utf8Sig,
    Ascii,
    Latin1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CodecLookup {
    /// `codecs.lookup` raises `LookupError`.
    Unknown,
    Known(Codec),
    /// Python has this codec; tollgate does not implement it.
    Unsupported,
}

/// Alias keys of `encodings.aliases` naming a codec tollgate does not implement
/// (CPython 3.11 on Linux; names already normalized).
const PY_CODEC_ALIASES_OTHER: &str = "\
    037 1026 1125 1140 1250 1251 1252 1253 1254 1255 1256 1257 1258 273 424 437 500 775 850 \
    852 855 857 858 860 861 862 863 864 865 866 869 932 936 949 950 arabic asmo_708 base64 \
    base_64 big5_hkscs big5_tw bz2 chinese cp1051 cp1361 cp154 cp866u cp936 cp_gr cp_is csbig5 \
    csibm037 csibm1026 csibm273 csibm424 csibm500 csibm855 csibm857 csibm858 csibm860 csibm861 \
    csibm863 csibm864 csibm865 csibm866 csibm869 csiso2022jp csiso2022kr csiso58gb231280 \
    csisolatin2 csisolatin3 csisolatin4 csisolatin5 csisolatin6 csisolatinarabic \
    csisolatincyrillic csisolatingreek csisolatinhebrew cskoi8r cspc775baltic \
    cspc850multilingual cspc862latinhebrew cspc8codepage437 cspcp852 csptcp154 csshiftjis \
    cyrillic cyrillic_asian ebcdic_cp_be ebcdic_cp_ca ebcdic_cp_ch ebcdic_cp_he ebcdic_cp_nl \
    ebcdic_cp_us ebcdic_cp_wt ecma_114 ecma_118 elot_928 euc_cn euc_jis2004 euccn eucgb2312_cn \
    eucjis2004 eucjisx0213 eucjp euckr gb18030_2000 gb2312_1980 gb2312_80 greek greek8 hebrew \
    hex hkscs hz_gb hz_gb_2312 hzgb ibm037 ibm039 ibm1026 ibm1051 ibm1125 ibm1140 ibm273 \
    ibm424 ibm437 ibm500 ibm775 ibm850 ibm852 ibm855 ibm857 ibm858 ibm860 ibm861 ibm862 ibm863 \
    ibm864 ibm865 ibm866 ibm869 iso2022jp iso2022jp_1 iso2022jp_2 iso2022jp_2004 iso2022jp_3 \
    iso2022jp_ext iso2022kr iso_2022_jp iso_2022_jp_1 iso_2022_jp_2 iso_2022_jp_2004 \
    iso_2022_jp_3 iso_2022_jp_ext iso_2022_kr iso_8859_10 iso_8859_10_1992 iso_8859_11 \
    iso_8859_11_2001 iso_8859_13 iso_8859_14 iso_8859_14_1998 iso_8859_15 iso_8859_16 \
    iso_8859_16_2001 iso_8859_2 iso_8859_2_1987 iso_8859_3 iso_8859_3_1988 iso_8859_4 \
    iso_8859_4_1988 iso_8859_5 iso_8859_5_1988 iso_8859_6 iso_8859_6_1987 iso_8859_7 \
    iso_8859_7_1987 iso_8859_8 iso_8859_8_1988 iso_8859_9 iso_8859_9_1989 iso_celtic \
    iso_ir_101 iso_ir_109 iso_ir_110 iso_ir_126 iso_ir_127 iso_ir_138 iso_ir_144 iso_ir_148 \
    iso_ir_157 iso_ir_166 iso_ir_199 iso_ir_226 iso_ir_58 jisx0213 korean ks_c_5601 \
    ks_c_5601_1987 ks_x_1001 ksc5601 ksx1001 kz_1048 l10 l2 l3 l4 l5 l6 l7 l8 l9 latin10 \
    latin2 latin3 latin4 latin5 latin6 latin7 latin8 latin9 mac_centeuro maccentraleurope \
    maccyrillic macgreek maciceland macintosh maclatin2 macroman macturkish ms1361 ms932 ms936 \
    ms949 ms950 ms_kanji mskanji pt154 quopri quoted_printable quotedprintable r8 rk1048 \
    roman8 rot13 ruscii s_jis s_jis_2004 s_jisx0213 shiftjis shiftjis2004 shiftjisx0213 sjis \
    sjis_2004 sjisx0213 strk1048_2002 thai tis620 tis_620_0 tis_620_2529_0 tis_620_2529_1 u16 \
    u32 u7 u_jis uhc ujis unicode_1_1_utf_7 unicodebigunmarked unicodelittleunmarked utf16 \
    utf32 utf7 utf_16be utf_16le utf_32be utf_32le uu windows_1250 windows_1251 windows_1252 \
    windows_1253 windows_1254 windows_1255 windows_1256 windows_1257 windows_1258 \
    x_mac_japanese x_mac_korean x_mac_simp_chinese x_mac_trad_chinese zip zlib";

/// Codec modules of the `encodings` package that are not alias keys, for codecs tollgate
/// does not implement.
const PY_CODEC_MODULES_OTHER: &str = "\
    base64_codec big5 big5hkscs bz2_codec charmap cp037 cp1006 cp1026 cp1125 cp1140 cp1250 \
    cp1251 cp1252 cp1253 cp1254 cp1255 cp1256 cp1257 cp1258 cp273 cp424 cp437 cp500 cp720 \
    cp737 cp775 cp850 cp852 cp855 cp856 cp857 cp858 cp860 cp861 cp862 cp863 cp864 cp865 cp866 \
    cp869 cp874 cp875 cp932 cp949 cp950 euc_jis_2004 euc_jisx0213 euc_jp euc_kr gb18030 gb2312 \
    gbk hex_codec hp_roman8 hz idna iso2022_jp iso2022_jp_1 iso2022_jp_2 iso2022_jp_2004 \
    iso2022_jp_3 iso2022_jp_ext iso2022_kr iso8859_10 iso8859_11 iso8859_13 iso8859_14 \
    iso8859_15 iso8859_16 iso8859_2 iso8859_3 iso8859_4 iso8859_5 iso8859_6 iso8859_7 \
    iso8859_8 iso8859_9 johab koi8_r koi8_t koi8_u kz1048 mac_arabic mac_croatian mac_cyrillic \
    mac_farsi mac_greek mac_iceland mac_latin2 mac_roman mac_romanian mac_turkish palmos \
    ptcp154 punycode quopri_codec raw_unicode_escape rot_13 shift_jis shift_jis_2004 \
    shift_jisx0213 tis_620 undefined unicode_escape utf_16 utf_16_be utf_16_le utf_32 \
    utf_32_be utf_32_le utf_7 uu_codec zlib_codec";

fn alias_codec(norm: &str) -> Option<CodecLookup> {
    let known = |codec| Some(CodecLookup::Known(codec));
    match norm {
        "646" | "ansi_x3.4_1968" | "ansi_x3.4_1986" | "ansi_x3_4_1968" | "cp367" | "csascii"
        | "ibm367" | "iso646_us" | "iso_646.irv_1991" | "iso_ir_6" | "us" | "us_ascii" => {
            known(Codec::Ascii)
        }
        "8859" | "cp819" | "csisolatin1" | "ibm819" | "iso8859" | "iso8859_1" | "iso_8859_1"
        | "iso_8859_1_1987" | "iso_ir_100" | "l1" | "latin" | "latin1" => known(Codec::Latin1),
        "cp65001" | "u8" | "utf" | "utf8" | "utf8_ucs2" | "utf8_ucs4" => known(Codec::Utf8),
        _ if PY_CODEC_ALIASES_OTHER
            .split_ascii_whitespace()
            .any(|name| name == norm) =>
        {
            Some(CodecLookup::Unsupported)
        }
        _ => None,
    }
}

fn module_codec(norm: &str) -> CodecLookup {
    match norm {
        "ascii" => CodecLookup::Known(Codec::Ascii),
        "latin_1" => CodecLookup::Known(Codec::Latin1),
        "utf_8" => CodecLookup::Known(Codec::Utf8),
        "utf_8_sig" => CodecLookup::Known(Codec::Utf8Sig),
        _ if PY_CODEC_MODULES_OTHER
            .split_ascii_whitespace()
            .any(|name| name == norm) =>
        {
            CodecLookup::Unsupported
        }
        _ => CodecLookup::Unknown,
    }
}

/// `codecs.lookup(name)`: `_Py_normalize_encoding` (ASCII alphanumerics and dots kept and
/// lowercased, every other run becomes one `_`), then `encodings.search_function` (alias
/// table, also with dots replaced, then a module of that name).
pub(super) fn lookup_codec(name: &str) -> CodecLookup {
    let mut norm = String::new();
    let mut punct = false;
    for &b in name.as_bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' {
            if punct && !norm.is_empty() {
                norm.push('_');
            }
            punct = false;
            norm.push(char::from(b.to_ascii_lowercase()));
        } else {
            punct = true;
        }
    }
    if let Some(found) = alias_codec(&norm).or_else(|| alias_codec(&norm.replace('.', "_"))) {
        return found;
    }
    if norm.is_empty() || norm.contains('.') {
        return CodecLookup::Unknown;
    }
    module_codec(&norm)
}

const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// `bytes.decode(codec, errors="replace")`. Rust's lossy UTF-8 decoding replaces the same
/// maximal invalid subsequences with one U+FFFD each as CPython does.
pub(super) fn decode_replace(codec: Codec, bytes: &[u8]) -> String {
    match codec {
        Codec::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
        Codec::Utf8Sig => {
            String::from_utf8_lossy(bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes)).into_owned()
        }
        Codec::Ascii => bytes
            .iter()
            .map(|&b| if b < 0x80 { char::from(b) } else { '\u{FFFD}' })
            .collect(),
        Codec::Latin1 => header_to_str(bytes),
    }
}

/// `bytes.decode(codec)` (strict); None on `UnicodeDecodeError`.
pub(super) fn decode_strict(codec: Codec, bytes: &[u8]) -> Option<String> {
    match codec {
        Codec::Utf8 => String::from_utf8(bytes.to_vec()).ok(),
        Codec::Utf8Sig => {
            String::from_utf8(bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes).to_vec()).ok()
        }
        Codec::Ascii => bytes.is_ascii().then(|| header_to_str(bytes)),
        Codec::Latin1 => Some(header_to_str(bytes)),
    }
}

/// What DRF's JSON parser reads: `codecs.getreader(encoding)(stream).read()`. The stream
/// reader decodes with `final=False`, so an incomplete UTF-8 sequence at the very end of
/// the body is silently dropped instead of being an error.
pub(super) fn decode_json_stream(codec: Codec, body: &[u8]) -> Result<Vec<char>, String> {
    match codec {
        Codec::Utf8 => utf8_stream(body),
        Codec::Utf8Sig => {
            if body.len() < 3 && UTF8_BOM.starts_with(body) {
                // "not enough data to decide if this is a BOM": nothing is decoded.
                Ok(Vec::new())
            } else if let Some(rest) = body.strip_prefix(UTF8_BOM) {
                // Error positions are then relative to the bytes after the BOM.
                utf8_stream(rest)
            } else {
                utf8_stream(body)
            }
        }
        Codec::Ascii => match body.iter().position(|&b| b >= 0x80) {
            None => Ok(body.iter().map(|&b| char::from(b)).collect()),
            Some(pos) => Err(format!(
                "'ascii' codec can't decode byte 0x{:02x} in position {pos}: ordinal not in range(128)",
                body[pos]
            )),
        },
        Codec::Latin1 => Ok(body.iter().map(|&b| char::from(b)).collect()),
    }
}

/// `codecs.utf_8_decode(data, "strict", False)` with `UnicodeDecodeError.__str__` texts.
fn utf8_stream(data: &[u8]) -> Result<Vec<char>, String> {
    let err = match std::str::from_utf8(data) {
        Ok(text) => return Ok(text.chars().collect()),
        Err(err) => err,
    };
    let valid = err.valid_up_to();
    let decoded = String::from_utf8_lossy(&data[..valid]).chars().collect();
    let Some(len) = err.error_len() else {
        // Incomplete sequence at the end: kept for a later read that never comes.
        return Ok(decoded);
    };
    let first = data[valid];
    // CPython also waits for more data on a truncated surrogate encoding (ED A0..BF) when
    // it is exactly the last two bytes.
    if data.len() - valid == 2 && first == 0xED && (0xA0..=0xBF).contains(&data[valid + 1]) {
        return Ok(decoded);
    }
    let reason = if matches!(first, 0xC2..=0xF4) {
        "invalid continuation byte"
    } else {
        "invalid start byte"
    };
    Err(if len == 1 {
        format!("'utf-8' codec can't decode byte 0x{first:02x} in position {valid}: {reason}")
    } else {
        format!(
            "'utf-8' codec can't decode bytes in position {valid}-{}: {reason}",
            valid + len - 1
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_lookup_normalizes_like_python() {
        use CodecLookup::*;
        for (name, want) in [
            ("utf-8", Known(Codec::Utf8)),
            ("UTF8", Known(Codec::Utf8)),
            (" utf 8 ", Known(Codec::Utf8)),
            ("utf--8", Known(Codec::Utf8)),
            ("U.T.F.8", Unknown),
            ("utf.8", Unknown),
            ("utf-8-sig", Known(Codec::Utf8Sig)),
            ("latin-1", Known(Codec::Latin1)),
            ("ISO_8859-1:1987", Known(Codec::Latin1)),
            ("iso.8859.1", Known(Codec::Latin1)),
            ("ANSI_X3.4-1968", Known(Codec::Ascii)),
            ("us-ascii", Known(Codec::Ascii)),
            ("cp1252", Unsupported),
            ("windows-1252", Unsupported),
            ("utf-16", Unsupported),
            ("mbcs", Unknown),
            ("", Unknown),
            ("utf8mb4", Unknown),
        ] {
            assert_eq!(lookup_codec(name), want, "{name:?}");
        }
    }
}
