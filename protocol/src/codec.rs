//! The canonical binary encoding shared by every signed object.
//!
//! Integers are big-endian, fixed-size fields are raw bytes, strings carry a
//! `u16` length prefix and must be UTF-8, and a decoder must consume its input
//! exactly: trailing bytes are an error. There is exactly one encoding of each
//! value, so signatures and hashes over encodings are well defined.

use thiserror::Error;

/// Why a byte string is not a valid encoding of the expected object.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended before the object was complete.
    #[error("input is truncated")]
    Truncated,
    /// Bytes were left over after a complete object.
    #[error("{0} unexpected bytes after the end of the object")]
    TrailingBytes(usize),
    /// The object type byte is not the one expected here.
    #[error("wrong object type {found:#04x}, expected {expected:#04x}")]
    WrongType {
        /// The type byte that was expected.
        expected: u8,
        /// The type byte that was found.
        found: u8,
    },
    /// The object's version is not one this implementation understands.
    #[error("unsupported version {0}")]
    UnsupportedVersion(u8),
    /// A field holds a value outside its documented range.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// The object is larger than the documented limit.
    #[error("object is too large")]
    TooLarge,
}

/// Appends canonical encodings to a byte vector.
#[derive(Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
        }
    }

    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    pub(crate) fn u16(&mut self, v: u16) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(crate) fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }

    /// A UTF-8 string with a `u16` length prefix. Callers validate the length
    /// limit before encoding; a string over 65,535 bytes is cut at the limit
    /// only in the impossible case that validation was skipped.
    pub(crate) fn str(&mut self, v: &str) -> &mut Self {
        let len = u16::try_from(v.len()).unwrap_or(u16::MAX);
        self.u16(len);
        self.bytes(&v.as_bytes()[..usize::from(len)])
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads canonical encodings from a byte slice, never panicking.
pub(crate) struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { input, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let out = self
            .input
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A `u16`-prefixed UTF-8 string of at most `max` bytes.
    pub(crate) fn str(&mut self, max: usize, what: &'static str) -> Result<String, DecodeError> {
        let len = usize::from(self.u16()?);
        if len > max {
            return Err(DecodeError::Invalid(what));
        }
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Invalid(what))
    }

    /// Checks the two leading bytes every object starts with.
    pub(crate) fn header(&mut self, object_type: u8, version: u8) -> Result<(), DecodeError> {
        let found = self.u8()?;
        if found != object_type {
            return Err(DecodeError::WrongType {
                expected: object_type,
                found,
            });
        }
        let v = self.u8()?;
        if v != version {
            return Err(DecodeError::UnsupportedVersion(v));
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        match self.input.len() - self.pos {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// Object type bytes: the first byte of every encoded object.
pub(crate) mod object_type {
    pub(crate) const ENVELOPE: u8 = 0x01;
    pub(crate) const GRANT: u8 = 0x02;
    pub(crate) const DEVICE_CERTIFICATE: u8 = 0x03;
    pub(crate) const MEMBERSHIP_RECORD: u8 = 0x04;
    pub(crate) const HOLDER_KEY: u8 = 0x05;
    pub(crate) const RECEIPT: u8 = 0x06;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_rejects_trailing_bytes_and_truncation() {
        let mut w = Writer::default();
        w.u8(1).u16(2).u32(3).u64(4).str("hej");
        let bytes = w.into_vec();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u16(), Ok(2));
        assert_eq!(r.u32(), Ok(3));
        assert_eq!(r.u64(), Ok(4));
        assert_eq!(r.str(10, "s").as_deref(), Ok("hej"));
        assert!(r.finish().is_ok());

        let mut r = Reader::new(&bytes[..bytes.len() - 1]);
        r.take(15).ok();
        assert_eq!(r.str(10, "s"), Err(DecodeError::Truncated));

        let mut longer = bytes.clone();
        longer.push(0);
        let mut r = Reader::new(&longer);
        r.take(bytes.len()).ok();
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes(1)));
    }

    #[test]
    fn a_string_over_its_limit_or_not_utf8_is_invalid() {
        let mut w = Writer::default();
        w.str("abcdef");
        let bytes = w.into_vec();
        assert_eq!(
            Reader::new(&bytes).str(5, "name"),
            Err(DecodeError::Invalid("name"))
        );
        let bad = [0u8, 2, 0xff, 0xfe];
        assert_eq!(
            Reader::new(&bad).str(5, "name"),
            Err(DecodeError::Invalid("name"))
        );
    }
}
