//! Base64url without padding (RFC 4648 §5), the JSON form of binary fields.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serializer};

/// Encodes bytes as unpadded base64url.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url; padding and the standard alphabet are rejected.
pub fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(text)
}

pub(crate) fn deserialize_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    decode(&s).map_err(|_| serde::de::Error::custom("invalid base64url (unpadded) data"))
}

/// `#[serde(with = "samtale_protocol::b64::bytes")]` for `Vec<u8>` fields.
pub mod bytes {
    use super::*;

    /// Serialises as unpadded base64url.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(v))
    }

    /// Deserialises unpadded base64url.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        deserialize_bytes(d)
    }
}

/// `#[serde(with = "samtale_protocol::b64::opt_bytes")]` for `Option<Vec<u8>>`
/// fields (absent or `null` is `None`).
pub mod opt_bytes {
    use super::*;

    /// Serialises `Some` as unpadded base64url and `None` as `null`.
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_some(&encode(bytes)),
            None => s.serialize_none(),
        }
    }

    /// Deserialises unpadded base64url or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        s.map(|s| {
            decode(&s).map_err(|_| serde::de::Error::custom("invalid base64url (unpadded) data"))
        })
        .transpose()
    }
}
