//! Receipts: a device's signed statement that it received or read a thread
//! up to a sequence number. Byte layout in `docs/PROTOCOL.md` §9.

use serde::{Deserialize, Serialize};

use crate::codec::{DecodeError, Reader, Writer, object_type};
use crate::ids::ThreadId;
use crate::keys::{DeviceKeys, IdentityKey};
use crate::primitives::{self, context};

/// Receipt format version.
pub const RECEIPT_VERSION: u8 = 1;
/// Length of an encoded receipt.
pub const RECEIPT_LEN: usize = 2 + 16 + 8 + 1 + 8 + 32 + 64;

/// What a receipt says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptKind {
    /// The device has stored the messages.
    Delivered,
    /// A person has seen them.
    Read,
}

/// Why a receipt is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The bytes are not a receipt.
    #[error("malformed receipt: {0}")]
    Malformed(#[from] DecodeError),
    /// The signature does not verify.
    #[error("the receipt's signature does not verify")]
    BadSignature,
}

/// A signed receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The thread.
    pub thread_id: ThreadId,
    /// Every message up to and including this sequence number.
    pub up_to_seq: u64,
    /// Delivered or read.
    pub kind: ReceiptKind,
    /// When (Unix milliseconds, as the device claims).
    pub at_ms: u64,
    /// The signing device.
    pub device: IdentityKey,
    bytes: Vec<u8>,
}

impl Receipt {
    /// Signs a receipt.
    pub fn sign(
        device: &DeviceKeys,
        thread_id: ThreadId,
        up_to_seq: u64,
        kind: ReceiptKind,
        at_ms: u64,
    ) -> Self {
        let key = device.public().identity;
        let mut w = Writer::with_capacity(RECEIPT_LEN);
        w.u8(object_type::RECEIPT)
            .u8(RECEIPT_VERSION)
            .bytes(thread_id.as_bytes())
            .u64(up_to_seq)
            .u8(match kind {
                ReceiptKind::Delivered => 1,
                ReceiptKind::Read => 2,
            })
            .u64(at_ms)
            .bytes(&key.to_bytes());
        let sig = primitives::sign(device.signing_key(), context::RECEIPT, w.as_slice());
        w.bytes(&sig);
        Self {
            thread_id,
            up_to_seq,
            kind,
            at_ms,
            device: key,
            bytes: w.into_vec(),
        }
    }

    /// Decodes and verifies a receipt.
    pub fn decode_and_verify(bytes: &[u8]) -> Result<Self, ReceiptError> {
        let mut r = Reader::new(bytes);
        r.header(object_type::RECEIPT, RECEIPT_VERSION)?;
        let thread_id = ThreadId::from_bytes(r.array()?);
        let up_to_seq = r.u64()?;
        let kind = match r.u8()? {
            1 => ReceiptKind::Delivered,
            2 => ReceiptKind::Read,
            _ => return Err(DecodeError::Invalid("receipt kind").into()),
        };
        let at_ms = r.u64()?;
        let device =
            IdentityKey::from_bytes(&r.array()?).map_err(|_| DecodeError::Invalid("device key"))?;
        r.take(64)?;
        r.finish()?;
        if !primitives::verify_trailing(device.verifying_key(), context::RECEIPT, bytes) {
            return Err(ReceiptError::BadSignature);
        }
        Ok(Self {
            thread_id,
            up_to_seq,
            kind,
            at_ms,
            device,
            bytes: bytes.to_vec(),
        })
    }

    /// The encoded receipt.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}
