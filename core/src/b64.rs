//! base64url without padding, for the public parts of tokens: table-driven and strict.
//!
//! base64ct (used for key material) is constant-time, which token segments do not need:
//! they are public, and signatures are compared in constant time by the MAC itself.
//! This decoder is several times faster and exactly as strict: no padding, no `+` `/`,
//! no whitespace, and the unused low bits of the last character must be zero, so every
//! byte string has exactly one accepted encoding.

use alloc::vec::Vec;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const INVALID: u8 = 0xff;

const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The length of the bytes `text` decodes to (6 bits per character, whole bytes).
pub(crate) fn decoded_len(text: &[u8]) -> usize {
    text.len() / 4 * 3 + (text.len() % 4) * 3 / 4
}

/// Decodes canonical unpadded base64url; `None` for anything else.
#[cfg(test)]
pub(crate) fn decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    decode_append(text, &mut out)?;
    Some(out)
}

/// Decodes canonical unpadded base64url after the end of `out` (left as it was on
/// failure); `None` for anything else.
pub(crate) fn decode_append(text: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let start = out.len();
    out.resize(start + decoded_len(text), 0);
    let decoded = out.get_mut(start..).and_then(|tail| decode_to(text, tail));
    if decoded.is_none() {
        out.truncate(start);
    }
    decoded
}

/// Decodes canonical unpadded base64url into `out`, exactly [`decoded_len`] bytes long;
/// `None` for anything else.
pub(crate) fn decode_to(text: &[u8], out: &mut [u8]) -> Option<()> {
    if text.len() % 4 == 1 || out.len() != decoded_len(text) {
        return None;
    }
    let (full, rest) = text.split_at(text.len() / 4 * 4);
    // INVALID has the top bits set and every sextet has them clear, so one OR over all
    // characters tells whether any was outside the alphabet.
    let mut seen = 0u8;
    for (chunk, bytes) in full.chunks_exact(4).zip(out.chunks_exact_mut(3)) {
        let [a, b, c, d] = [chunk[0], chunk[1], chunk[2], chunk[3]].map(|x| DECODE[usize::from(x)]);
        seen |= a | b | c | d;
        let n = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
        bytes.copy_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    let mut values = [0u8; 3];
    for (value, x) in values.iter_mut().zip(rest) {
        *value = DECODE[usize::from(*x)];
        seen |= *value;
    }
    if seen & 0xc0 != 0 || !last_bits_clear(rest.len(), values) {
        return None;
    }
    let tail = out.get_mut(full.len() / 4 * 3..)?;
    if let [first, ..] = tail {
        *first = values[0] << 2 | values[1] >> 4;
    }
    if let [_, second] = tail {
        *second = values[1] << 4 | values[2] >> 2;
    }
    Some(())
}

/// Whether the bits of the last character that fall outside whole bytes are zero (12
/// bits for 8: the low 4; 18 for 16: the low 2), `values` being the sextets of the
/// `rest` characters after the last full group of four.
fn last_bits_clear(rest: usize, values: [u8; 3]) -> bool {
    match rest {
        2 => values[1] & 0x0f == 0,
        3 => values[2] & 0x03 == 0,
        _ => true,
    }
}

/// Whether `text` is canonical unpadded base64url ([`decode_to`] would accept it),
/// decoding nothing.
pub(crate) fn is_canonical(text: &[u8]) -> bool {
    if text.len() % 4 == 1 {
        return false;
    }
    let seen = text
        .iter()
        .fold(0u8, |seen, &c| seen | DECODE[usize::from(c)]);
    let rest = &text[text.len() / 4 * 4..];
    let mut values = [0u8; 3];
    for (value, x) in values.iter_mut().zip(rest) {
        *value = DECODE[usize::from(*x)];
    }
    seen & 0xc0 == 0 && last_bits_clear(rest.len(), values)
}

/// Appends the unpadded base64url encoding of `bytes` to `out`.
pub(crate) fn encode_into(bytes: &[u8], out: &mut Vec<u8>) {
    out.reserve(bytes.len().div_ceil(3) * 4);
    let mut chunks = bytes.chunks_exact(3);
    for chunk in &mut chunks {
        let n = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
        out.extend_from_slice(&[
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            ALPHABET[(n >> 6) as usize & 63],
            ALPHABET[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => out.extend_from_slice(&[
            ALPHABET[usize::from(a >> 2)],
            ALPHABET[usize::from((a & 3) << 4)],
        ]),
        [a, b] => out.extend_from_slice(&[
            ALPHABET[usize::from(a >> 2)],
            ALPHABET[usize::from((a & 3) << 4 | b >> 4)],
            ALPHABET[usize::from((b & 15) << 2)],
        ]),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use base64ct::{Base64UrlUnpadded, Encoding as _};

    #[test]
    fn agrees_with_base64ct_everywhere() {
        // Every length 0..=64 over varied bytes: same encoding, and it decodes back.
        let data: Vec<u8> = (0..64u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in 0..=data.len() {
            let bytes = &data[..len];
            let mut ours = Vec::new();
            encode_into(bytes, &mut ours);
            assert_eq!(
                core::str::from_utf8(&ours).unwrap(),
                Base64UrlUnpadded::encode_string(bytes)
            );
            assert_eq!(decode(&ours).as_deref(), Some(bytes));
            assert!(is_canonical(&ours));
        }
    }

    #[test]
    fn refuses_every_other_spelling() {
        for bad in [
            &b"A"[..],
            b"AB=",
            b"AB==",
            b"ABC=",
            b"A+B/",
            b"AB C",
            b"AB\n",
            b"\xffAAA",
            b"AB",  // "A" = 0, "B" = 1: the low 4 bits of the last character are set
            b"AAB", // low 2 bits set
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
            assert!(!is_canonical(bad), "{bad:?}");
            assert!(
                Base64UrlUnpadded::decode_vec(core::str::from_utf8(bad).unwrap_or("\u{0}"))
                    .is_err(),
                "{bad:?}"
            );
        }
        assert_eq!(decode(b"AA"), Some(alloc::vec![0]));
        assert_eq!(decode(b""), Some(alloc::vec![]));
    }

    #[test]
    fn is_canonical_agrees_with_decode() {
        // Every string of up to 3 characters over the alphabet and a few bytes outside
        // it, and each behind a full group: the check-only path and the decoder agree.
        let chars: Vec<u8> = ALPHABET.iter().copied().chain(*b"=+/ .\x00\xff").collect();
        let mut cases: Vec<Vec<u8>> = vec![Vec::new()];
        for len in 1..=3 {
            let mut next = Vec::new();
            for case in cases.iter().filter(|c| c.len() == len - 1) {
                for &c in &chars {
                    let mut longer = case.clone();
                    longer.push(c);
                    next.push(longer);
                }
            }
            cases.extend(next);
        }
        for case in &cases {
            for prefix in [&b""[..], b"QUJD", b"QU=D"] {
                let text = [prefix, case.as_slice()].concat();
                assert_eq!(is_canonical(&text), decode(&text).is_some(), "{text:?}");
            }
        }
    }
}
