//! A bounds-checked reader over one frame.
//!
//! Every read checks the bytes left first, and every length read from the wire is checked
//! against the bytes left before anything is allocated: an array of N elements needs at
//! least N bytes, a string of N bytes needs N bytes. `bytes` and `records` fields come out
//! as zero-copy slices of the frame.

use bytes::{Buf, Bytes};

use crate::error::DecodeError;
use crate::uuid::Uuid;
use crate::varint::read_uvarint;

/// The most an array reserves before its elements are read. A count is only checked
/// against the bytes left (one byte per element), an element can take over a hundred bytes
/// of memory, and nested arrays all check against the same bytes: reserving by count let
/// a 2 KiB input reserve 312 KiB.
const MAX_RESERVE_BYTES: usize = 4096;

#[derive(Debug, Clone)]
pub struct Reader {
    buf: Bytes,
}

impl Reader {
    pub fn new(buf: Bytes) -> Reader {
        Reader { buf }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// The unread bytes, without copying.
    pub fn into_bytes(self) -> Bytes {
        self.buf
    }

    fn need(&self, needed: usize) -> Result<(), DecodeError> {
        if self.buf.len() < needed {
            return Err(DecodeError::Truncated {
                needed,
                remaining: self.buf.len(),
            });
        }
        Ok(())
    }

    /// Fails unless the whole input was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            left => Err(DecodeError::TrailingBytes(left)),
        }
    }

    pub fn i8(&mut self) -> Result<i8, DecodeError> {
        self.need(1)?;
        Ok(self.buf.get_i8())
    }

    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.i8()? != 0)
    }

    pub fn i16(&mut self) -> Result<i16, DecodeError> {
        self.need(2)?;
        Ok(self.buf.get_i16())
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        self.need(2)?;
        Ok(self.buf.get_u16())
    }

    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        self.need(4)?;
        Ok(self.buf.get_i32())
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        self.need(4)?;
        Ok(self.buf.get_u32())
    }

    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        self.need(8)?;
        Ok(self.buf.get_i64())
    }

    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        self.need(8)?;
        Ok(self.buf.get_f64())
    }

    pub fn uuid(&mut self) -> Result<Uuid, DecodeError> {
        self.need(16)?;
        let mut raw = [0u8; 16];
        self.buf.copy_to_slice(&mut raw);
        Ok(Uuid(raw))
    }

    pub fn uvarint(&mut self) -> Result<u32, DecodeError> {
        let mut slice: &[u8] = &self.buf;
        let value = read_uvarint(&mut slice)?;
        let used = self.buf.len() - slice.len();
        self.buf.advance(used);
        Ok(value)
    }

    /// The next `len` bytes as a slice of the frame.
    pub fn take(&mut self, len: usize) -> Result<Bytes, DecodeError> {
        if len > self.buf.len() {
            return Err(DecodeError::LengthExceedsInput {
                claimed: len,
                remaining: self.buf.len(),
            });
        }
        Ok(self.buf.split_to(len))
    }

    /// A reader over the next `len` bytes (a tagged field's body).
    pub fn sub_reader(&mut self, len: usize) -> Result<Reader, DecodeError> {
        Ok(Reader::new(self.take(len)?))
    }

    /// A length prefix: `i16`/`i32` in classic versions, unsigned varint of N+1 in flexible
    /// ones. `None` is null (-1, or 0 in the compact form).
    fn length(&mut self, flexible: bool, wide: bool) -> Result<Option<usize>, DecodeError> {
        let len: i64 = if flexible {
            i64::from(self.uvarint()?) - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        match len {
            -1 => Ok(None),
            n if n < 0 => Err(DecodeError::InvalidLength(n)),
            n => Ok(Some(n as usize)),
        }
    }

    pub fn nullable_string(&mut self, flexible: bool) -> Result<Option<String>, DecodeError> {
        match self.length(flexible, false)? {
            None => Ok(None),
            Some(len) => {
                let raw = self.take(len)?;
                let text = std::str::from_utf8(&raw).map_err(|_| DecodeError::InvalidUtf8)?;
                Ok(Some(text.to_owned()))
            }
        }
    }

    pub fn string(&mut self, flexible: bool, field: &'static str) -> Result<String, DecodeError> {
        self.nullable_string(flexible)?
            .ok_or(DecodeError::UnexpectedNull(field))
    }

    pub fn nullable_bytes(&mut self, flexible: bool) -> Result<Option<Bytes>, DecodeError> {
        match self.length(flexible, true)? {
            None => Ok(None),
            Some(len) => Ok(Some(self.take(len)?)),
        }
    }

    pub fn bytes(&mut self, flexible: bool, field: &'static str) -> Result<Bytes, DecodeError> {
        self.nullable_bytes(flexible)?.ok_or(DecodeError::UnexpectedNull(field))
    }

    /// An array's element count, refused when it claims more elements than there are bytes
    /// left (every element takes at least one byte).
    pub fn nullable_array_len(&mut self, flexible: bool) -> Result<Option<usize>, DecodeError> {
        let len = self.length(flexible, true)?;
        if let Some(n) = len {
            if n > self.buf.len() {
                return Err(DecodeError::LengthExceedsInput {
                    claimed: n,
                    remaining: self.buf.len(),
                });
            }
        }
        Ok(len)
    }

    pub fn array_len(&mut self, flexible: bool, field: &'static str) -> Result<usize, DecodeError> {
        self.nullable_array_len(flexible)?
            .ok_or(DecodeError::UnexpectedNull(field))
    }

    /// The number of tagged fields, bounded like an array length.
    pub fn tagged_field_count(&mut self) -> Result<usize, DecodeError> {
        let n = self.uvarint()? as usize;
        if n > self.buf.len() {
            return Err(DecodeError::LengthExceedsInput {
                claimed: n,
                remaining: self.buf.len(),
            });
        }
        Ok(n)
    }

    /// Reads a tagged-field section, handing each field's tag and bytes to `field`, which
    /// ignores the tags it does not know (those of later versions). For the hand-written
    /// records of the internal topics; generated messages keep unknown fields instead.
    pub fn tagged_fields(
        &mut self,
        mut field: impl FnMut(u32, Reader) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        for _ in 0..self.tagged_field_count()? {
            let tag = self.uvarint()?;
            let len = self.uvarint()? as usize;
            field(tag, Reader::new(self.take(len)?))?;
        }
        Ok(())
    }

    /// Reads `n` elements with `element`. `n` was checked against the bytes left, and the
    /// first allocation is capped in bytes, so memory grows only with elements actually read.
    pub fn elements<T>(
        &mut self,
        n: usize,
        mut element: impl FnMut(&mut Reader) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let reserve = n.min(self.buf.len()).min(MAX_RESERVE_BYTES / size_of::<T>().max(1));
        let mut out = Vec::with_capacity(reserve);
        for _ in 0..n {
            out.push(element(self)?);
        }
        Ok(out)
    }
}
