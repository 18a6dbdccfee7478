//! ES512's signing nonces for [`super`] (feature `es512`): p521 0.13 signs only with a
//! random number generator, and tollgate-core has none, so this one is derived from the key
//! and the message.

use sha2::Sha512;

/// The randomness of a P-521 ECDSA nonce, derived from the key and the message
/// (HMAC-SHA-512 of the message hash and a block counter, keyed with the private scalar):
/// a secret, uniformly distributed nonce that never repeats for two messages, as RFC 6979
/// intends. p521 0.13 signs only with an RNG (its RFC 6979 needs a 66-byte hash), and
/// tollgate-core has no randomness of its own; the signatures stay deterministic.
pub(super) struct NonceStream {
    mac: hmac::Hmac<Sha512>,
    block: [u8; 64],
    used: usize,
    counter: u32,
}

impl NonceStream {
    pub(super) fn new(key: &[u8], message_hash: &[u8]) -> Self {
        use hmac::Mac as _;
        let mut mac = <hmac::Hmac<Sha512> as hmac::Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"tollgate ES512 nonce");
        mac.update(message_hash);
        Self {
            mac,
            block: [0; 64],
            used: 64,
            counter: 0,
        }
    }
}

impl p521::elliptic_curve::rand_core::RngCore for NonceStream {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        use hmac::Mac as _;
        for byte in dest {
            if self.used == self.block.len() {
                let mut mac = self.mac.clone();
                mac.update(&self.counter.to_be_bytes());
                self.block.copy_from_slice(&mac.finalize().into_bytes());
                self.counter = self.counter.wrapping_add(1);
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
    }

    fn try_fill_bytes(
        &mut self,
        dest: &mut [u8],
    ) -> Result<(), p521::elliptic_curve::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl p521::elliptic_curve::rand_core::CryptoRng for NonceStream {}
