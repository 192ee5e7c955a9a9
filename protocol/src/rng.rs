//! Randomness. Every random value is drawn from the operating system up
//! front, fallibly, and then handed to the primitives. That keeps failures
//! typed (no panics deep in a library) and lets the test-vector generator
//! replay fixed bytes through exactly the same code path.

use std::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};

/// The operating system's random number generator failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random number generator is unavailable")]
pub struct RandomnessError;

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), RandomnessError> {
    getrandom::fill(buf).map_err(|_| RandomnessError)
}

/// A source of the random bytes one operation needs.
pub(crate) trait Entropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomnessError>;
}

/// The operating system.
pub(crate) struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomnessError> {
        fill_random(buf)
    }
}

/// Fixed bytes, consumed in order: used to generate and re-check test vectors.
pub(crate) struct FixedEntropy<'a> {
    bytes: &'a [u8],
}

impl<'a> FixedEntropy<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }
}

impl Entropy for FixedEntropy<'_> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomnessError> {
        if self.bytes.len() < buf.len() {
            return Err(RandomnessError);
        }
        let (head, tail) = self.bytes.split_at(buf.len());
        buf.copy_from_slice(head);
        self.bytes = tail;
        Ok(())
    }
}

/// Presents exactly 32 pre-drawn bytes to `hpke` as the ephemeral key's IKM.
///
/// HPKE's `Encap` draws one private-key-sized block (32 bytes for X25519). If
/// the library ever asked for more, the extra request is answered with zeros
/// and `overdrawn` is set, and the caller discards the result.
pub(crate) struct OneShotRng {
    ikm: [u8; 32],
    used: bool,
    pub(crate) overdrawn: bool,
}

impl OneShotRng {
    pub(crate) fn new(ikm: [u8; 32]) -> Self {
        Self {
            ikm,
            used: false,
            overdrawn: false,
        }
    }
}

impl Drop for OneShotRng {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.ikm);
    }
}

impl TryRng for OneShotRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        if !self.used && dst.len() == self.ikm.len() {
            dst.copy_from_slice(&self.ikm);
            self.used = true;
        } else {
            dst.fill(0);
            self.overdrawn = true;
        }
        Ok(())
    }
}

impl TryCryptoRng for OneShotRng {}
