//! What is inside an envelope: the message a person wrote, and the
//! encrypted attachments it refers to (PROTOCOL.md §4.4 and §4.5).
//!
//! The payload is UTF-8 JSON, so a client in any language can produce it.
//! An attachment is encrypted on its own with a fresh random key, uploaded
//! as an opaque blob, and referenced from the payload by id, size, the
//! SHA-256 of the stored blob and that key. The envelope's signature
//! therefore covers the attachment too: the blob's hash is in it.
//!
//! ```
//! use samtale_protocol::payload::{AttachmentKey, MessagePayload, seal_attachment, open_attachment};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = AttachmentKey::generate()?;
//! let blob = seal_attachment(&key, b"%PDF-1.7 ...")?;
//! let back = open_attachment(&key, &blob)?;
//! assert_eq!(&back[..], b"%PDF-1.7 ...");
//!
//! let payload = MessagePayload::text("Her er bevillingen.");
//! let bytes = payload.to_bytes()?;
//! assert_eq!(MessagePayload::from_bytes(&bytes)?.text, "Her er bevillingen.");
//! # Ok(()) }
//! ```

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::envelope::MAX_PAYLOAD_BYTES;
use crate::ids::AttachmentId;
use crate::rng::{RandomnessError, fill_random};

/// The payload format version this crate writes and reads.
pub const PAYLOAD_VERSION: u8 = 1;

/// The attachment blob format version (its first byte).
pub const ATTACHMENT_VERSION: u8 = 1;

/// Associated data for attachment encryption (domain separation).
const ATTACHMENT_AAD: &[u8] = b"samtale/v1/attachment";

/// The most attachments one message may refer to.
pub const MAX_ATTACHMENTS: usize = 16;

/// The longest file name kept, in bytes.
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// The decrypted content of an envelope.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagePayload {
    /// Format version; [`PAYLOAD_VERSION`].
    pub v: u8,
    /// The text the sender wrote (may be empty when files are attached).
    pub text: String,
    /// Files sent with the message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentRef>,
}

impl std::fmt::Debug for MessagePayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessagePayload")
            .field("text_len", &self.text.len())
            .field("attachments", &self.attachments.len())
            .finish()
    }
}

impl Drop for MessagePayload {
    fn drop(&mut self) {
        self.text.zeroize();
    }
}

/// A reference to an encrypted attachment: everything needed to fetch,
/// check and decrypt it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentRef {
    /// The blob's id on the server.
    pub id: AttachmentId,
    /// The file name the sender chose (no directories).
    pub name: String,
    /// Its media type, e.g. `application/pdf`.
    pub media_type: String,
    /// The plaintext size in bytes.
    pub size: u64,
    /// SHA-256 of the stored (encrypted) blob, lowercase hex.
    pub blob_sha256: String,
    /// The key the blob is encrypted with.
    pub key: AttachmentKey,
}

impl std::fmt::Debug for AttachmentRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentRef")
            .field("id", &self.id)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// A 32-byte single-use attachment key. Zeroized on drop; serialised as
/// base64url only inside an encrypted payload.
#[derive(Clone, PartialEq, Eq)]
pub struct AttachmentKey(Zeroizing<[u8; 32]>);

impl AttachmentKey {
    /// A fresh random key from the operating system.
    pub fn generate() -> Result<Self, RandomnessError> {
        let mut key = Zeroizing::new([0u8; 32]);
        fill_random(key.as_mut())?;
        Ok(Self(key))
    }
}

impl Serialize for AttachmentKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(crate::b64::encode(self.0.as_ref()));
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for AttachmentKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let bytes = Zeroizing::new(
            crate::b64::decode(&text).map_err(|_| serde::de::Error::custom("invalid base64"))?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| serde::de::Error::custom("an attachment key is 32 bytes"))?;
        Ok(Self(Zeroizing::new(key)))
    }
}

/// Why a payload or an attachment could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The payload is not valid JSON of the expected shape.
    #[error("the message content is malformed")]
    Malformed,
    /// A version this client does not know.
    #[error("the message was written by a newer client (format {0}); update samtale")]
    UnknownVersion(u8),
    /// The encoded payload is larger than an envelope can carry.
    #[error("the message is too long: at most {MAX_PAYLOAD_BYTES} bytes")]
    TooLarge,
    /// Too many attachments or a bad file name.
    #[error("{0}")]
    Invalid(&'static str),
    /// The attachment blob does not decrypt with its key.
    #[error("the attachment could not be decrypted (damaged or the wrong file)")]
    AttachmentCorrupt,
    /// The blob's hash differs from the one the sender signed.
    #[error("the attachment does not match the hash the sender signed")]
    AttachmentHashMismatch,
    /// The system's random number generator failed.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
}

impl MessagePayload {
    /// A text message without attachments.
    pub fn text(text: &str) -> Self {
        Self {
            v: PAYLOAD_VERSION,
            text: text.to_owned(),
            attachments: Vec::new(),
        }
    }

    /// Encodes as JSON, checking the limits.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, PayloadError> {
        self.check()?;
        let bytes = Zeroizing::new(serde_json::to_vec(self).map_err(|_| PayloadError::Malformed)?);
        if bytes.len() > MAX_PAYLOAD_BYTES {
            return Err(PayloadError::TooLarge);
        }
        Ok(bytes)
    }

    /// Decodes an opened envelope's payload.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayloadError> {
        #[derive(Deserialize)]
        struct Version {
            v: u8,
        }
        let version: Version =
            serde_json::from_slice(bytes).map_err(|_| PayloadError::Malformed)?;
        if version.v != PAYLOAD_VERSION {
            return Err(PayloadError::UnknownVersion(version.v));
        }
        // serde would also take an attachment written as a JSON array (its
        // fields in order); §4.4 says each is an object, and the other
        // implementations refuse the array form, so this one does too.
        let shape: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|_| PayloadError::Malformed)?;
        if let Some(list) = shape
            .get("attachments")
            .and_then(serde_json::Value::as_array)
            && !list.iter().all(serde_json::Value::is_object)
        {
            return Err(PayloadError::Malformed);
        }
        let payload: Self = serde_json::from_slice(bytes).map_err(|_| PayloadError::Malformed)?;
        payload.check()?;
        Ok(payload)
    }

    fn check(&self) -> Result<(), PayloadError> {
        if self.attachments.len() > MAX_ATTACHMENTS {
            return Err(PayloadError::Invalid("at most 16 attachments per message"));
        }
        for a in &self.attachments {
            if a.name.is_empty()
                || a.name.len() > MAX_FILE_NAME_BYTES
                || a.name.contains(['/', '\\', '\0'])
                || a.name == "."
                || a.name == ".."
            {
                return Err(PayloadError::Invalid(
                    "an attachment's file name must be 1–255 bytes without directories",
                ));
            }
            if a.blob_sha256.len() != 64 || !a.blob_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(PayloadError::Invalid(
                    "an attachment's hash must be 64 hex digits",
                ));
            }
        }
        Ok(())
    }
}

/// Encrypts a file for upload: `0x01 || ChaCha20-Poly1305(key, nonce = 0,
/// aad = "samtale/v1/attachment", file)`. The key is used once, so the
/// fixed nonce is safe.
pub fn seal_attachment(key: &AttachmentKey, file: &[u8]) -> Result<Vec<u8>, PayloadError> {
    let cipher = ChaCha20Poly1305::new_from_slice(key.0.as_ref())
        .map_err(|_| PayloadError::AttachmentCorrupt)?;
    let sealed = cipher
        .encrypt(
            &Nonce::default(),
            Payload {
                msg: file,
                aad: ATTACHMENT_AAD,
            },
        )
        .map_err(|_| PayloadError::AttachmentCorrupt)?;
    let mut out = Vec::with_capacity(1 + sealed.len());
    out.push(ATTACHMENT_VERSION);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts a downloaded blob.
pub fn open_attachment(
    key: &AttachmentKey,
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PayloadError> {
    let Some((&version, sealed)) = blob.split_first() else {
        return Err(PayloadError::AttachmentCorrupt);
    };
    if version != ATTACHMENT_VERSION {
        return Err(PayloadError::AttachmentCorrupt);
    }
    let cipher = ChaCha20Poly1305::new_from_slice(key.0.as_ref())
        .map_err(|_| PayloadError::AttachmentCorrupt)?;
    cipher
        .decrypt(
            &Nonce::default(),
            Payload {
                msg: sealed,
                aad: ATTACHMENT_AAD,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| PayloadError::AttachmentCorrupt)
}

/// Checks a downloaded blob against its reference and decrypts it.
pub fn open_referenced(
    reference: &AttachmentRef,
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PayloadError> {
    if blob_sha256(blob) != reference.blob_sha256 {
        return Err(PayloadError::AttachmentHashMismatch);
    }
    let file = open_attachment(&reference.key, blob)?;
    if file.len() as u64 != reference.size {
        return Err(PayloadError::AttachmentCorrupt);
    }
    Ok(file)
}

/// SHA-256 of a blob as lowercase hex, as in [`AttachmentRef::blob_sha256`].
pub fn blob_sha256(blob: &[u8]) -> String {
    let digest = Sha256::digest(blob);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(file: &[u8], blob: &[u8], key: AttachmentKey) -> AttachmentRef {
        AttachmentRef {
            id: AttachmentId::random().unwrap(),
            name: "bevilling.pdf".into(),
            media_type: "application/pdf".into(),
            size: file.len() as u64,
            blob_sha256: blob_sha256(blob),
            key,
        }
    }

    #[test]
    fn a_referenced_attachment_round_trips_and_any_flipped_byte_is_refused() {
        let key = AttachmentKey::generate().unwrap();
        let file = b"a small PDF".to_vec();
        let blob = seal_attachment(&key, &file).unwrap();
        let r = reference(&file, &blob, key);
        assert_eq!(&open_referenced(&r, &blob).unwrap()[..], &file[..]);
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 1;
            assert_eq!(
                open_referenced(&r, &bad).err(),
                Some(PayloadError::AttachmentHashMismatch)
            );
            assert!(open_attachment(&r.key, &bad).is_err());
        }
    }

    #[test]
    fn another_key_cannot_open_an_attachment() {
        let blob = seal_attachment(&AttachmentKey::generate().unwrap(), b"x").unwrap();
        assert_eq!(
            open_attachment(&AttachmentKey::generate().unwrap(), &blob).err(),
            Some(PayloadError::AttachmentCorrupt)
        );
        assert_eq!(
            open_attachment(&AttachmentKey::generate().unwrap(), &[]).err(),
            Some(PayloadError::AttachmentCorrupt)
        );
    }

    #[test]
    fn payloads_with_unknown_versions_fields_or_unsafe_names_are_refused() {
        assert_eq!(
            MessagePayload::from_bytes(br#"{"v":2,"text":"hej"}"#).err(),
            Some(PayloadError::UnknownVersion(2))
        );
        assert_eq!(
            MessagePayload::from_bytes(br#"{"v":1,"text":"hej","extra":1}"#).err(),
            Some(PayloadError::Malformed)
        );
        assert_eq!(
            MessagePayload::from_bytes(b"\xff").err(),
            Some(PayloadError::Malformed)
        );
        let key = AttachmentKey::generate().unwrap();
        let blob = seal_attachment(&key, b"x").unwrap();
        let mut p = MessagePayload::text("");
        let mut r = reference(b"x", &blob, key);
        r.name = "../../etc/passwd".into();
        p.attachments.push(r);
        assert!(matches!(p.to_bytes(), Err(PayloadError::Invalid(_))));
        let long = MessagePayload::text(&"a".repeat(MAX_PAYLOAD_BYTES));
        assert_eq!(long.to_bytes().err(), Some(PayloadError::TooLarge));
        // An attachment is an object: the same fields in an array are not.
        let key = AttachmentKey::generate().unwrap();
        let blob = seal_attachment(&key, b"x").unwrap();
        let mut p = MessagePayload::text("hej");
        p.attachments.push(reference(b"x", &blob, key));
        let good: serde_json::Value = serde_json::from_slice(&p.to_bytes().unwrap()).unwrap();
        assert!(MessagePayload::from_bytes(good.to_string().as_bytes()).is_ok());
        let mut array = good.clone();
        let fields: Vec<serde_json::Value> =
            ["id", "name", "media_type", "size", "blob_sha256", "key"]
                .iter()
                .map(|k| good["attachments"][0][*k].clone())
                .collect();
        array["attachments"][0] = serde_json::Value::Array(fields);
        assert_eq!(
            MessagePayload::from_bytes(array.to_string().as_bytes()).err(),
            Some(PayloadError::Malformed)
        );
    }

    #[test]
    fn debug_output_never_shows_text_or_keys() {
        let key = AttachmentKey::generate().unwrap();
        let blob = seal_attachment(&key, b"x").unwrap();
        let mut p = MessagePayload::text("Sofie Hansen 010203-1234");
        p.attachments.push(reference(b"x", &blob, key));
        let shown = format!("{p:?} {:?}", p.attachments[0]);
        assert!(
            !shown.contains("Sofie") && !shown.contains("key"),
            "{shown}"
        );
    }

    proptest! {
        #[test]
        fn any_text_round_trips(text in ".{0,300}") {
            let p = MessagePayload::text(&text);
            let bytes = p.to_bytes().unwrap();
            prop_assert_eq!(MessagePayload::from_bytes(&bytes).unwrap(), p);
        }
    }
}
