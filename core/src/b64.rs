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

/// Decodes canonical unpadded base64url; `None` for anything else.
pub(crate) fn decode(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 {
        return None;
    }
    // Exactly the decoded length: 6 bits per character, whole bytes.
    let mut out = alloc::vec![0u8; text.len() * 3 / 4];
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
    if seen & 0xc0 != 0 {
        return None;
    }
    let tail = &mut out[full.len() / 4 * 3..];
    match rest.len() {
        0 => {}
        2 => {
            // 12 bits for 8: the low 4 bits must be zero.
            if values[1] & 0x0f != 0 {
                return None;
            }
            tail[0] = values[0] << 2 | values[1] >> 4;
        }
        _ => {
            // 18 bits for 16: the low 2 bits must be zero.
            if values[2] & 0x03 != 0 {
                return None;
            }
            tail[0] = values[0] << 2 | values[1] >> 4;
            tail[1] = values[1] << 4 | values[2] >> 2;
        }
    }
    Some(out)
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
            assert!(
                Base64UrlUnpadded::decode_vec(core::str::from_utf8(bad).unwrap_or("\u{0}"))
                    .is_err(),
                "{bad:?}"
            );
        }
        assert_eq!(decode(b"AA"), Some(alloc::vec![0]));
        assert_eq!(decode(b""), Some(alloc::vec![]));
    }
}
