//! 128-bit identifiers for threads, messages, holders and accounts.
//!
//! On the wire (JSON) an identifier is written in the lowercase, hyphenated
//! UUID form (`8-4-4-4-12` hex digits); inside binary objects it is 16 raw
//! bytes. New identifiers are random (UUID version 4 layout).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::rng::{RandomnessError, fill_random};

/// An identifier string is not a lowercase hyphenated UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an identifier: expected 36 characters like 0b0d6a4e-4f1c-4e8a-9d3b-2c6f1a7e5d90")]
pub struct ParseIdError;

fn parse_uuid(s: &str) -> Result<[u8; 16], ParseIdError> {
    let b = s.as_bytes();
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return Err(ParseIdError);
    }
    let mut out = [0u8; 16];
    let mut i = 0;
    let mut nibbles = b.iter().filter(|c| **c != b'-');
    while i < 16 {
        let hi = nibbles
            .next()
            .and_then(|c| hex_value(*c))
            .ok_or(ParseIdError)?;
        let lo = nibbles
            .next()
            .and_then(|c| hex_value(*c))
            .ok_or(ParseIdError)?;
        out[i] = (hi << 4) | lo;
        i += 1;
    }
    Ok(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn format_uuid(bytes: &[u8; 16], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            f.write_str("-")?;
        }
        write!(f, "{byte:02x}")?;
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; 16]);

        impl $name {
            /// Wraps 16 raw bytes.
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }

            /// The 16 raw bytes.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }

            /// A fresh random identifier (UUID version 4 layout).
            pub fn random() -> Result<Self, RandomnessError> {
                let mut bytes = [0u8; 16];
                fill_random(&mut bytes)?;
                bytes[6] = (bytes[6] & 0x0f) | 0x40;
                bytes[8] = (bytes[8] & 0x3f) | 0x80;
                Ok(Self(bytes))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                format_uuid(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(", stringify!($name))?;
                format_uuid(&self.0, f)?;
                f.write_str(")")
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_uuid(s).map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::openapi::uuid_schema()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A thread: one conversation between a team and one or more citizens.
    ThreadId
);
id_type!(
    /// A message, chosen at random by the sending client (resends reuse it).
    MessageId
);
id_type!(
    /// A key holder (team key, citizen key or archive key), across its epochs.
    HolderId
);
id_type!(
    /// An organisation (municipality).
    OrgId
);
id_type!(
    /// A team (department inbox) inside an organisation.
    TeamId
);
id_type!(
    /// An account: a staff member or a citizen.
    AccountId
);
id_type!(
    /// A device registered with the server.
    DeviceId
);
id_type!(
    /// An encrypted attachment blob, referenced from inside an envelope.
    AttachmentId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identifier_round_trips_through_its_text_form() {
        let id = ThreadId::from_bytes([
            0x0b, 0x0d, 0x6a, 0x4e, 0x4f, 0x1c, 0x4e, 0x8a, 0x9d, 0x3b, 0x2c, 0x6f, 0x1a, 0x7e,
            0x5d, 0x90,
        ]);
        let text = id.to_string();
        assert_eq!(text, "0b0d6a4e-4f1c-4e8a-9d3b-2c6f1a7e5d90");
        assert_eq!(text.parse::<ThreadId>(), Ok(id));
        let json = serde_json::to_string(&id).unwrap_or_default();
        assert_eq!(json, "\"0b0d6a4e-4f1c-4e8a-9d3b-2c6f1a7e5d90\"");
    }

    #[test]
    fn uppercase_short_or_unhyphenated_identifiers_are_rejected() {
        for bad in [
            "0B0D6A4E-4F1C-4E8A-9D3B-2C6F1A7E5D90",
            "0b0d6a4e4f1c4e8a9d3b2c6f1a7e5d90",
            "0b0d6a4e-4f1c-4e8a-9d3b-2c6f1a7e5d9",
            "0b0d6a4e-4f1c-4e8a-9d3b-2c6f1a7e5d9g",
        ] {
            assert_eq!(bad.parse::<ThreadId>(), Err(ParseIdError), "{bad}");
        }
    }

    #[test]
    fn random_identifiers_differ_and_carry_the_version_bits() {
        let (Ok(a), Ok(b)) = (MessageId::random(), MessageId::random()) else {
            panic!("no randomness");
        };
        assert_ne!(a, b);
        assert_eq!(a.as_bytes()[6] >> 4, 4);
    }
}
