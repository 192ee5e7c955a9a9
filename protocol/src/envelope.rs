//! The message envelope (DESIGN.md §2, byte layout in `docs/PROTOCOL.md` §4).
//!
//! A random 32-byte content key `K` is expanded with HKDF-SHA256 into the
//! payload key and a key commitment. The padded payload is encrypted with
//! ChaCha20-Poly1305 under the payload key with the envelope header as
//! associated data; `K` is HPKE-sealed to every recipient holder epoch with the
//! same header as HPKE `aad`; the sending device signs everything with
//! Ed25519. The commitment in the signed header guarantees that every
//! recipient (the archive key included) decrypts the same plaintext.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::codec::{DecodeError, Reader, Writer, object_type};
use crate::ids::{HolderId, MessageId, ThreadId};
use crate::keys::{DeviceKeys, HolderEpoch, HolderKeyPair, HolderPublicKey, IdentityKey};
use crate::primitives::{self, SEALED_SECRET_LEN, context, info};
use crate::rng::{Entropy, OsEntropy, RandomnessError};

/// The envelope format version this crate writes and reads.
pub const ENVELOPE_VERSION: u8 = 1;
/// The most recipient holder epochs one envelope may name.
pub const MAX_RECIPIENTS: usize = 16;
/// The largest plaintext payload, in bytes (64 KiB). Files travel as
/// attachments, referenced from the payload.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Payloads are padded to a multiple of this many bytes.
pub const PADDING_BLOCK: usize = 256;

const HEADER_FIXED_LEN: usize = 2 + 16 + 16 + 32 + 32 + 1;
const RECIPIENT_LEN: usize = 16 + 4;
const WRAPPED_LEN: usize = 32 + SEALED_SECRET_LEN;
const TAG_LEN: usize = 16;
const SIGNATURE_LEN: usize = 64;
const MAX_PADDED_LEN: usize = padded_len(MAX_PAYLOAD_BYTES);

/// The largest valid encoded envelope, in bytes.
pub const MAX_ENVELOPE_BYTES: usize = HEADER_FIXED_LEN
    + MAX_RECIPIENTS * (RECIPIENT_LEN + WRAPPED_LEN)
    + 4
    + MAX_PADDED_LEN
    + TAG_LEN
    + SIGNATURE_LEN;

const fn padded_len(payload_len: usize) -> usize {
    (payload_len / PADDING_BLOCK + 1) * PADDING_BLOCK
}

/// Why an envelope could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// An envelope needs at least one recipient.
    #[error("an envelope needs at least one recipient")]
    NoRecipients,
    /// More than [`MAX_RECIPIENTS`] recipients.
    #[error("too many recipients: at most {MAX_RECIPIENTS}")]
    TooManyRecipients,
    /// The same holder epoch was named twice.
    #[error("a recipient holder epoch is listed twice")]
    DuplicateRecipient,
    /// The payload is larger than [`MAX_PAYLOAD_BYTES`].
    #[error("payload is larger than {MAX_PAYLOAD_BYTES} bytes")]
    PayloadTooLarge,
    /// Randomness could not be drawn.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// A recipient key was rejected by HPKE (for example a low-order point).
    #[error("a recipient's public key was rejected")]
    BadRecipientKey,
}

/// Why an envelope could not be opened. Decryption failures are one opaque
/// variant: it does not say which step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The bytes are not a well-formed envelope.
    #[error("malformed envelope: {0}")]
    Malformed(#[from] DecodeError),
    /// The signature does not verify under the sender key it names.
    #[error("the envelope's signature does not verify")]
    BadSignature,
    /// The envelope names another thread than the one it was delivered in.
    #[error("the envelope belongs to another thread")]
    WrongThread,
    /// The envelope names another message id than the one it was delivered as.
    #[error("the envelope carries another message id")]
    WrongMessage,
    /// The holder epoch used to open is not among the envelope's recipients.
    #[error("this key is not a recipient of the envelope")]
    NotARecipient,
    /// The envelope could not be decrypted.
    #[error("the envelope could not be decrypted")]
    DecryptionFailed,
}

/// Where an envelope was delivered: the fields its header must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryContext {
    /// The thread the server delivered the envelope in.
    pub thread_id: ThreadId,
    /// The message id the server delivered it as.
    pub message_id: MessageId,
}

/// A decoded envelope. Its fields are authentic only after a successful
/// [`Envelope::open`] or [`Envelope::verify_signature`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    thread_id: ThreadId,
    message_id: MessageId,
    sender: IdentityKey,
    key_commitment: [u8; 32],
    recipients: Vec<HolderEpoch>,
    header_len: usize,
    bytes: Vec<u8>,
}

/// A successfully opened envelope.
pub struct OpenedMessage {
    /// The device that signed the envelope. Check its certificate (staff) or
    /// device list (citizen) before showing the message.
    pub sender: IdentityKey,
    /// The plaintext payload, padding removed. Zeroized on drop.
    pub payload: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for OpenedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedMessage")
            .field("sender", &self.sender)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

struct ContentKeys {
    payload_key: Zeroizing<[u8; 32]>,
    commitment: [u8; 32],
}

fn expand_content_key(k: &[u8; 32]) -> ContentKeys {
    let hk = Hkdf::<Sha256>::new(None, k);
    let mut okm = Zeroizing::new([0u8; 64]);
    // 64 bytes is far below HKDF-SHA256's 8,160-byte limit.
    let _ = hk.expand(b"samtale/v1/payload", okm.as_mut());
    let mut payload_key = Zeroizing::new([0u8; 32]);
    payload_key.copy_from_slice(&okm[..32]);
    let mut commitment = [0u8; 32];
    commitment.copy_from_slice(&okm[32..]);
    ContentKeys {
        payload_key,
        commitment,
    }
}

const ZERO_NONCE: [u8; 12] = [0u8; 12];

fn encode_header(
    w: &mut Writer,
    thread_id: &ThreadId,
    message_id: &MessageId,
    sender: &IdentityKey,
    commitment: &[u8; 32],
    recipients: &[HolderEpoch],
) {
    w.u8(object_type::ENVELOPE)
        .u8(ENVELOPE_VERSION)
        .bytes(thread_id.as_bytes())
        .bytes(message_id.as_bytes())
        .bytes(&sender.to_bytes())
        .bytes(commitment)
        // Callers check 1..=MAX_RECIPIENTS first.
        .u8(u8::try_from(recipients.len()).unwrap_or(u8::MAX));
    for r in recipients {
        w.bytes(r.holder.as_bytes()).u32(r.epoch);
    }
}

impl Envelope {
    /// Seals `payload` from `sender` to each holder epoch in `recipients`.
    pub fn seal(
        sender: &DeviceKeys,
        thread_id: ThreadId,
        message_id: MessageId,
        recipients: &[HolderPublicKey],
        payload: &[u8],
    ) -> Result<Self, SealError> {
        Self::seal_with(
            &mut OsEntropy,
            sender,
            thread_id,
            message_id,
            recipients,
            payload,
        )
    }

    /// Seals with caller-supplied randomness: the content key (32 bytes), then
    /// one 32-byte HPKE ephemeral IKM per recipient, in order. For test vectors.
    #[doc(hidden)]
    pub fn seal_with_fixed_randomness(
        randomness: &[u8],
        sender: &DeviceKeys,
        thread_id: ThreadId,
        message_id: MessageId,
        recipients: &[HolderPublicKey],
        payload: &[u8],
    ) -> Result<Self, SealError> {
        let mut entropy = crate::rng::FixedEntropy::new(randomness);
        Self::seal_with(
            &mut entropy,
            sender,
            thread_id,
            message_id,
            recipients,
            payload,
        )
    }

    fn seal_with(
        entropy: &mut dyn Entropy,
        sender: &DeviceKeys,
        thread_id: ThreadId,
        message_id: MessageId,
        recipients: &[HolderPublicKey],
        payload: &[u8],
    ) -> Result<Self, SealError> {
        if recipients.is_empty() {
            return Err(SealError::NoRecipients);
        }
        if recipients.len() > MAX_RECIPIENTS {
            return Err(SealError::TooManyRecipients);
        }
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(SealError::PayloadTooLarge);
        }
        let epochs: Vec<HolderEpoch> = recipients
            .iter()
            .map(HolderPublicKey::holder_epoch)
            .collect();
        if has_duplicates(&epochs) {
            return Err(SealError::DuplicateRecipient);
        }

        let mut k = Zeroizing::new([0u8; 32]);
        entropy.fill(k.as_mut())?;
        let keys = expand_content_key(&k);
        let sender_key = sender.public().identity;

        let padded = padded_len(payload.len());
        let total = HEADER_FIXED_LEN
            + recipients.len() * (RECIPIENT_LEN + WRAPPED_LEN)
            + 4
            + padded
            + TAG_LEN
            + SIGNATURE_LEN;
        let mut w = Writer::with_capacity(total);
        encode_header(
            &mut w,
            &thread_id,
            &message_id,
            &sender_key,
            &keys.commitment,
            &epochs,
        );
        let header_len = w.len();

        for r in recipients {
            let mut ikm = Zeroizing::new([0u8; 32]);
            entropy.fill(ikm.as_mut())?;
            let header = &w.as_slice()[..header_len];
            let (enc, ct) =
                primitives::hpke_seal_secret(r.key.as_bytes(), info::CONTENT_KEY, header, &k, *ikm)
                    .ok_or(SealError::BadRecipientKey)?;
            w.bytes(&enc).bytes(&ct);
        }

        let mut plaintext = Zeroizing::new(Vec::with_capacity(padded + TAG_LEN));
        plaintext.extend_from_slice(payload);
        plaintext.push(0x80);
        plaintext.resize(padded, 0);
        let cipher = ChaCha20Poly1305::new_from_slice(keys.payload_key.as_slice())
            .map_err(|_| SealError::PayloadTooLarge)?;
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(ZERO_NONCE),
                Payload {
                    msg: &plaintext,
                    aad: &w.as_slice()[..header_len],
                },
            )
            .map_err(|_| SealError::PayloadTooLarge)?;
        w.u32(u32::try_from(ciphertext.len()).map_err(|_| SealError::PayloadTooLarge)?)
            .bytes(&ciphertext);

        let signature = primitives::sign(sender.signing_key(), context::ENVELOPE, w.as_slice());
        w.bytes(&signature);

        Ok(Self {
            thread_id,
            message_id,
            sender: sender_key,
            key_commitment: keys.commitment,
            recipients: epochs,
            header_len,
            bytes: w.into_vec(),
        })
    }

    /// Decodes and structurally validates an envelope. Does not verify the
    /// signature: [`Envelope::open`] and [`Envelope::verify_signature`] do.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(DecodeError::TooLarge);
        }
        let mut r = Reader::new(bytes);
        r.header(object_type::ENVELOPE, ENVELOPE_VERSION)?;
        let thread_id = ThreadId::from_bytes(r.array()?);
        let message_id = MessageId::from_bytes(r.array()?);
        let sender =
            IdentityKey::from_bytes(&r.array()?).map_err(|_| DecodeError::Invalid("sender key"))?;
        let key_commitment = r.array()?;
        let n = usize::from(r.u8()?);
        if n == 0 || n > MAX_RECIPIENTS {
            return Err(DecodeError::Invalid("recipient count"));
        }
        let mut recipients = Vec::with_capacity(n);
        for _ in 0..n {
            recipients.push(HolderEpoch {
                holder: HolderId::from_bytes(r.array()?),
                epoch: r.u32()?,
            });
        }
        if has_duplicates(&recipients) {
            return Err(DecodeError::Invalid("duplicate recipient"));
        }
        let header_len = r.position();
        r.take(n * WRAPPED_LEN)?;
        let ct_len = usize::try_from(r.u32()?).map_err(|_| DecodeError::TooLarge)?;
        if !(PADDING_BLOCK + TAG_LEN..=MAX_PADDED_LEN + TAG_LEN).contains(&ct_len)
            || !(ct_len - TAG_LEN).is_multiple_of(PADDING_BLOCK)
        {
            return Err(DecodeError::Invalid("payload length"));
        }
        r.take(ct_len)?;
        r.take(SIGNATURE_LEN)?;
        r.finish()?;
        Ok(Self {
            thread_id,
            message_id,
            sender,
            key_commitment,
            recipients,
            header_len,
            bytes: bytes.to_vec(),
        })
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Consumes the envelope, returning its encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The thread named in the header.
    pub fn thread_id(&self) -> ThreadId {
        self.thread_id
    }

    /// The message id named in the header.
    pub fn message_id(&self) -> MessageId {
        self.message_id
    }

    /// The device that claims to have signed the envelope.
    pub fn sender(&self) -> IdentityKey {
        self.sender
    }

    /// The recipient holder epochs, in order.
    pub fn recipients(&self) -> &[HolderEpoch] {
        &self.recipients
    }

    /// The key commitment: equal for every recipient of one envelope.
    pub fn key_commitment(&self) -> &[u8; 32] {
        &self.key_commitment
    }

    /// Checks the Ed25519 signature against the sender key in the header.
    /// The server calls this (and compares the sender with the authenticated
    /// device) before accepting a message.
    pub fn verify_signature(&self) -> bool {
        primitives::verify_trailing(self.sender.verifying_key(), context::ENVELOPE, &self.bytes)
    }

    /// Opens the envelope with one holder epoch's private key: verifies the
    /// signature, then that the header matches `delivered`, then decrypts.
    pub fn open(
        &self,
        delivered: &DeliveryContext,
        holder: &HolderKeyPair,
    ) -> Result<OpenedMessage, OpenError> {
        self.open_disclosing(delivered, holder).map(|(m, _)| m)
    }

    /// Like [`Envelope::open`], and also returns the message's content key,
    /// for a journal export: with it anyone can check that this envelope,
    /// and only this one, decrypts to the journaled text (see
    /// [`Envelope::open_with_content_key`]).
    pub fn open_disclosing(
        &self,
        delivered: &DeliveryContext,
        holder: &HolderKeyPair,
    ) -> Result<(OpenedMessage, ContentKey), OpenError> {
        self.check_header(delivered)?;
        let index = self
            .recipients
            .iter()
            .position(|r| *r == holder.epoch())
            .ok_or(OpenError::NotARecipient)?;
        let header = &self.bytes[..self.header_len];
        let at = self.header_len + index * WRAPPED_LEN;
        let mut enc = [0u8; 32];
        enc.copy_from_slice(&self.bytes[at..at + 32]);
        let mut sealed = [0u8; SEALED_SECRET_LEN];
        sealed.copy_from_slice(&self.bytes[at + 32..at + WRAPPED_LEN]);
        let k =
            primitives::hpke_open_secret(holder.secret(), info::CONTENT_KEY, header, &enc, &sealed)
                .ok_or(OpenError::DecryptionFailed)?;
        let key = ContentKey(k);
        let opened = self.decrypt(&key)?;
        Ok((opened, key))
    }

    /// Opens the envelope with a disclosed content key (from a journal
    /// export): verifies the signature and the header, checks the key
    /// against the commitment the sender signed, then decrypts. A key for
    /// another envelope fails the commitment.
    pub fn open_with_content_key(
        &self,
        delivered: &DeliveryContext,
        key: &ContentKey,
    ) -> Result<OpenedMessage, OpenError> {
        self.check_header(delivered)?;
        self.decrypt(key)
    }

    fn check_header(&self, delivered: &DeliveryContext) -> Result<(), OpenError> {
        if !self.verify_signature() {
            return Err(OpenError::BadSignature);
        }
        if self.thread_id != delivered.thread_id {
            return Err(OpenError::WrongThread);
        }
        if self.message_id != delivered.message_id {
            return Err(OpenError::WrongMessage);
        }
        Ok(())
    }

    fn decrypt(&self, key: &ContentKey) -> Result<OpenedMessage, OpenError> {
        let header = &self.bytes[..self.header_len];
        let keys = expand_content_key(&key.0);
        if !bool::from(keys.commitment.ct_eq(&self.key_commitment)) {
            return Err(OpenError::DecryptionFailed);
        }
        let ct_at = self.header_len + self.recipients.len() * WRAPPED_LEN + 4;
        let ct = &self.bytes[ct_at..self.bytes.len() - SIGNATURE_LEN];
        let cipher = ChaCha20Poly1305::new_from_slice(keys.payload_key.as_slice())
            .map_err(|_| OpenError::DecryptionFailed)?;
        let mut padded = Zeroizing::new(
            cipher
                .decrypt(
                    &Nonce::from(ZERO_NONCE),
                    Payload {
                        msg: ct,
                        aad: header,
                    },
                )
                .map_err(|_| OpenError::DecryptionFailed)?,
        );
        let end = unpad(&padded).ok_or(OpenError::DecryptionFailed)?;
        padded.truncate(end);
        Ok(OpenedMessage {
            sender: self.sender,
            payload: padded,
        })
    }
}

/// One message's 32-byte content key. It opens that envelope only (the
/// signed header commits to it), so a journal export that already holds
/// the message's text may disclose it for re-verification. Zeroized on
/// drop; never printed.
pub struct ContentKey(Zeroizing<[u8; 32]>);

impl ContentKey {
    /// A disclosed key, as read from a journal export.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key's bytes, for writing into a journal export.
    pub fn to_bytes(&self) -> [u8; 32] {
        *self.0
    }
}

impl std::fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContentKey(***)")
    }
}

/// ISO/IEC 7816-4 unpadding: the payload ends at the last 0x80 byte, after
/// which only zeros may follow.
fn unpad(padded: &[u8]) -> Option<usize> {
    let last = padded.iter().rposition(|b| *b != 0)?;
    (padded[last] == 0x80).then_some(last)
}

fn has_duplicates(epochs: &[HolderEpoch]) -> bool {
    epochs
        .iter()
        .enumerate()
        .any(|(i, a)| epochs[..i].contains(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::HolderKind;

    fn holder(n: u8, kind: HolderKind) -> HolderKeyPair {
        HolderKeyPair::from_secret(
            HolderEpoch {
                holder: HolderId::from_bytes([n; 16]),
                epoch: 0,
            },
            kind,
            &[n; 32],
        )
    }

    #[test]
    fn a_disclosed_content_key_opens_its_own_envelope_and_no_other() {
        let sender = DeviceKeys::from_seeds(&[1; 32], &[2; 32]);
        let archive = holder(4, HolderKind::Archive);
        let thread = ThreadId::from_bytes([5; 16]);
        let (m1, m2) = (
            MessageId::from_bytes([6; 16]),
            MessageId::from_bytes([7; 16]),
        );
        let e1 = Envelope::seal(&sender, thread, m1, &[archive.public()], b"first").unwrap();
        let e2 = Envelope::seal(&sender, thread, m2, &[archive.public()], b"second").unwrap();
        let ctx1 = DeliveryContext {
            thread_id: thread,
            message_id: m1,
        };
        let ctx2 = DeliveryContext {
            thread_id: thread,
            message_id: m2,
        };
        let (opened, key) = e1.open_disclosing(&ctx1, &archive).unwrap();
        assert_eq!(&opened.payload[..], b"first");
        let again = ContentKey::from_bytes(key.to_bytes());
        assert_eq!(
            &e1.open_with_content_key(&ctx1, &again).unwrap().payload[..],
            b"first"
        );
        assert_eq!(
            e2.open_with_content_key(&ctx2, &again).unwrap_err(),
            OpenError::DecryptionFailed
        );
        assert_eq!(format!("{again:?}"), "ContentKey(***)");
    }

    #[test]
    fn the_padded_length_hides_the_exact_payload_length() {
        assert_eq!(padded_len(0), 256);
        assert_eq!(padded_len(255), 256);
        assert_eq!(padded_len(256), 512);
        assert_eq!(unpad(&[1, 2, 0x80, 0, 0]), Some(2));
        assert_eq!(unpad(&[1, 2, 0, 0]), None);
        assert_eq!(unpad(&[0, 0]), None);
    }

    #[test]
    fn an_envelope_with_mismatched_content_keys_is_refused_by_the_commitment() {
        // A malicious sender wraps a different content key to one holder.
        let sender = DeviceKeys::from_seeds(&[1; 32], &[2; 32]);
        let team = holder(3, HolderKind::Team);
        let archive = holder(4, HolderKind::Archive);
        let (thread, message) = (
            ThreadId::from_bytes([5; 16]),
            MessageId::from_bytes([6; 16]),
        );
        let good = Envelope::seal(
            &sender,
            thread,
            message,
            &[team.public(), archive.public()],
            b"hi",
        );
        let Ok(good) = good else { panic!("seal") };
        let mut bytes = good.as_bytes().to_vec();
        let header_len = good.header_len;
        let other_k = [9u8; 32];
        let Some((enc, ct)) = primitives::hpke_seal_secret(
            archive.public().key.as_bytes(),
            info::CONTENT_KEY,
            &bytes[..header_len],
            &other_k,
            [7; 32],
        ) else {
            panic!("wrap")
        };
        let at = header_len + WRAPPED_LEN;
        bytes[at..at + 32].copy_from_slice(&enc);
        bytes[at + 32..at + WRAPPED_LEN].copy_from_slice(&ct);
        let len = bytes.len();
        let sig = primitives::sign(sender.signing_key(), context::ENVELOPE, &bytes[..len - 64]);
        bytes[len - 64..].copy_from_slice(&sig);
        let Ok(forged) = Envelope::decode(&bytes) else {
            panic!("decode")
        };
        let ctx = DeliveryContext {
            thread_id: thread,
            message_id: message,
        };
        assert!(forged.open(&ctx, &team).is_ok());
        assert_eq!(
            forged.open(&ctx, &archive).err(),
            Some(OpenError::DecryptionFailed)
        );
    }
}
