//! Python string helpers: `str`/`bytes` whitespace, `str.isprintable()` and `repr(float)`.

/// `str.isspace()` (CPython: bidirectional class WS/B/S or category Zs), which unlike
/// Rust's `char::is_whitespace` includes U+001C..U+001F.
fn py_isspace(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | '\u{1c}'..='\u{20}'
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// `str.strip()`.
pub(super) fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}

/// `bytes.strip()` / `bytes.split()` whitespace (unlike `u8::is_ascii_whitespace`, with
/// the vertical tab).
pub(super) fn is_ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// `bytes.strip()`.
pub(super) fn bytes_strip(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|&c| !is_ascii_space(c))
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| !is_ascii_space(c))
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// `str.isprintable()`: false for categories Cc, Cf, Cs, Co, Zl, Zp and Zs except the
/// space. Unassigned code points (Cn, also non-printable in Python) are treated as
/// printable: that set changes with every Unicode version, hence with the Python build.
pub(super) fn py_isprintable(c: char) -> bool {
    const NON_PRINTABLE: &[(u32, u32)] = &[
        (0x0, 0x1f),
        (0x7f, 0xa0),
        (0xad, 0xad),
        (0x600, 0x605),
        (0x61c, 0x61c),
        (0x6dd, 0x6dd),
        (0x70f, 0x70f),
        (0x890, 0x891),
        (0x8e2, 0x8e2),
        (0x1680, 0x1680),
        (0x180e, 0x180e),
        (0x2000, 0x200f),
        (0x2028, 0x202f),
        (0x205f, 0x2064),
        (0x2066, 0x206f),
        (0x3000, 0x3000),
        (0xd800, 0xf8ff),
        (0xfeff, 0xfeff),
        (0xfff9, 0xfffb),
        (0x110bd, 0x110bd),
        (0x110cd, 0x110cd),
        (0x13430, 0x13438),
        (0x1bca0, 0x1bca3),
        (0x1d173, 0x1d17a),
        (0xe0001, 0xe0001),
        (0xe0020, 0xe007f),
        (0xf0000, 0xffffd),
        (0x100000, 0x10fffd),
    ];
    let c = c as u32;
    !NON_PRINTABLE.iter().any(|&(lo, hi)| lo <= c && c <= hi)
}

/// `repr(float)` (CPython's shortest round-trip digits, ties to even, exponent form
/// outside 1e-4 <= |x| < 1e16), which is what `CharField` stores for a JSON float.
pub(super) fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0.0");
    }
    // Rust's `{:e}` finds the shortest round-trip digit count, but on an exact tie between
    // two shortest candidates it rounds half up where CPython (dtoa mode 0) picks the
    // correctly rounded one (half to even): take the correctly rounded digits of that
    // length whenever they round-trip.
    let shortest = format!("{:e}", f.abs());
    let count = shortest
        .split_once('e')
        .map_or(1, |(m, _)| m.chars().filter(char::is_ascii_digit).count());
    let rounded = format!("{:.*e}", count.saturating_sub(1), f.abs());
    let sci = if rounded.parse::<f64>() == Ok(f.abs()) {
        rounded
    } else {
        shortest
    };
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let decpt = exponent + 1;
    let n = digits.len() as i64;
    let body = if -4 < decpt && decpt <= 16 {
        if decpt <= 0 {
            format!("0.{}{digits}", "0".repeat((-decpt) as usize))
        } else if decpt >= n {
            format!("{digits}{}.0", "0".repeat((decpt - n) as usize))
        } else {
            let (int_part, frac_part) = digits.split_at(decpt as usize);
            format!("{int_part}.{frac_part}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{first}{dot}{rest}e{exp_sign}{:02}", exponent.abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        for (f, want) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e15, "1000000000000000.0"),
            (9999999999999998.0, "9999999999999998.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1.5e-7, "1.5e-07"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (1e100, "1e+100"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (123456789.12345679, "123456789.12345679"),
        ] {
            assert_eq!(py_float_repr(f), want);
        }
        // Exact ties between two shortest candidates: CPython rounds half to even.
        for (exact, want) in [
            ("1292153538800571.25", "1292153538800571.2"),
            ("212148567521711.625", "212148567521711.62"),
        ] {
            let f: f64 = exact.parse().expect("float");
            assert_eq!(py_float_repr(f), want);
        }
    }
}
