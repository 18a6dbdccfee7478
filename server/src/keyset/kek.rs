//! The key-encryption key: seals the private halves of stored signing keys with
//! XChaCha20-Poly1305 (ARCHITECTURE.md, "Decisions", says why this cipher).
//!
//! A sealed key is `1 ++ nonce (24 bytes) ++ ciphertext and tag`; the associated data is
//! the record's kid, algorithm and state, so a record copied under another kid, or moved
//! to another state by a write that did not come through tollgate, no longer opens.

use std::fmt;

use chacha20poly1305::{
    aead::{Aead as _, KeyInit as _, Payload},
    XChaCha20Poly1305, XNonce,
};

use super::KeyError;
use crate::store::StoredKey;

const VERSION: u8 = 1;
const NONCE: usize = 24;

/// 32 secret bytes from the configuration (`key_encryption_key`). Never printed.
#[derive(Clone)]
pub struct Kek([u8; 32]);

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

impl Kek {
    /// The key itself (tests).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// 32 bytes written as 64 hex digits, or base64 / base64url (padded or not).
    /// Surrounding whitespace (a file's final newline) is ignored.
    pub fn from_text(text: &str) -> Result<Self, String> {
        use base64::Engine as _;
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|e| e.to_string())?
        } else {
            let unpadded = text.trim_end_matches('=');
            let engines = [
                base64::engine::general_purpose::STANDARD_NO_PAD,
                base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ];
            engines
                .iter()
                .find_map(|e| e.decode(unpadded).ok())
                .ok_or("not hex or base64")?
        };
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            format!(
                "{} bytes: a key-encryption key is 32 random bytes (64 hex digits, or 43 base64 characters), e.g. `openssl rand -hex 32`",
                b.len()
            )
        })?;
        Ok(Self(bytes))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&self.0).into())
    }

    fn aad(record: &StoredKey) -> Vec<u8> {
        let mut aad = b"tollgate signing key v1\0".to_vec();
        for part in [&record.kid, &record.algorithm, record.state.name()] {
            aad.extend_from_slice(part.as_bytes());
            aad.push(0);
        }
        aad
    }

    /// Seals `plaintext` (the private key's text) for `record` as it stands.
    pub fn seal(&self, record: &StoredKey, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut nonce = [0u8; NONCE];
        getrandom::getrandom(&mut nonce).map_err(|e| KeyError::Generate(e.to_string()))?;
        let aad = Self::aad(record);
        let sealed = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| KeyError::Generate("sealing failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens `record.sealed`: the private key's text, or [`KeyError::Unsealable`].
    pub fn open(&self, record: &StoredKey) -> Result<Vec<u8>, KeyError> {
        let unsealable = || KeyError::Unsealable(record.kid.clone());
        let sealed = &record.sealed;
        if sealed.len() < 1 + NONCE || sealed[0] != VERSION {
            return Err(unsealable());
        }
        let aad = Self::aad(record);
        let nonce: [u8; NONCE] = sealed[1..1 + NONCE].try_into().map_err(|_| unsealable())?;
        self.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed[1 + NONCE..],
                    aad: &aad,
                },
            )
            .map_err(|_| unsealable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::KeyState;

    fn record(kid: &str, state: KeyState) -> StoredKey {
        StoredKey::new(kid, "EdDSA", state, 1)
    }

    #[test]
    fn a_sealed_key_opens_only_under_its_kek_kid_and_state() {
        let kek = Kek::from_bytes([7; 32]);
        let mut a = record("a", KeyState::Next);
        a.sealed = kek.seal(&a, b"private").unwrap();
        assert_eq!(kek.open(&a).unwrap(), b"private");
        assert!(!a.sealed.windows(7).any(|w| w == b"private"));
        let code = |r: Result<Vec<u8>, KeyError>| r.unwrap_err().code();
        assert_eq!(code(Kek::from_bytes([8; 32]).open(&a)), "key_unsealable");
        let mut swapped = a.clone();
        swapped.kid = "b".into();
        assert_eq!(code(kek.open(&swapped)), "key_unsealable");
        let mut revived = a.clone();
        revived.state = KeyState::Current;
        assert_eq!(code(kek.open(&revived)), "key_unsealable");
        let mut cut = a.clone();
        cut.sealed.truncate(10);
        assert_eq!(code(kek.open(&cut)), "key_unsealable");
    }

    #[test]
    fn kek_text_is_hex_or_base64_of_32_bytes() {
        let hex = "00".repeat(31) + "ff";
        assert_eq!(Kek::from_text(&hex).unwrap().0[31], 0xff);
        assert_eq!(Kek::from_text(&format!("{hex}\n")).unwrap().0[31], 0xff);
        let b64 = "A".repeat(43);
        assert_eq!(Kek::from_text(&b64).unwrap().0, [0; 32]);
        for bad in [
            "",
            "short",
            &"00".repeat(16),
            &"A".repeat(44),
            "zz".repeat(32).as_str(),
        ] {
            assert!(Kek::from_text(bad).is_err(), "{bad}");
        }
    }
}
