//! A chunked output buffer.
//!
//! Small fields are written into one growing buffer; a large `bytes`/`records` value is
//! not copied but appended as its own chunk, and a file region stays one, so a Fetch
//! response's record bytes reach the socket without a copy (a vectored write of the
//! memory chunks, `sendfile` for the regions).

use bytes::{BufMut, Bytes, BytesMut};

use super::payload::Payload;
use crate::error::EncodeError;
use crate::uuid::Uuid;
use crate::varint::put_uvarint;

/// Values at least this long are kept as their own chunk instead of being copied.
const ZERO_COPY_MIN_LEN: usize = 512;

#[derive(Debug, Default)]
pub struct EncodeBuf {
    chunks: Vec<Payload>,
    current: BytesMut,
    chunks_len: usize,
}

impl EncodeBuf {
    pub fn new() -> EncodeBuf {
        EncodeBuf::default()
    }

    /// Total bytes written.
    pub fn len(&self) -> usize {
        self.chunks_len + self.current.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn put_i8(&mut self, v: i8) {
        self.current.put_i8(v);
    }

    pub fn put_bool(&mut self, v: bool) {
        self.current.put_u8(u8::from(v));
    }

    pub fn put_i16(&mut self, v: i16) {
        self.current.put_i16(v);
    }

    pub fn put_u16(&mut self, v: u16) {
        self.current.put_u16(v);
    }

    pub fn put_i32(&mut self, v: i32) {
        self.current.put_i32(v);
    }

    pub fn put_u32(&mut self, v: u32) {
        self.current.put_u32(v);
    }

    pub fn put_i64(&mut self, v: i64) {
        self.current.put_i64(v);
    }

    pub fn put_f64(&mut self, v: f64) {
        self.current.put_f64(v);
    }

    pub fn put_uuid(&mut self, v: &Uuid) {
        self.current.put_slice(&v.0);
    }

    pub fn put_uvarint(&mut self, v: u32) {
        put_uvarint(&mut self.current, v);
    }

    pub fn put_slice(&mut self, v: &[u8]) {
        self.current.put_slice(v);
    }

    /// A length prefix: `i16`/`i32` in classic versions, unsigned varint of N+1 in
    /// flexible ones.
    fn put_length(&mut self, flexible: bool, wide: bool, len: usize, field: &'static str) -> Result<(), EncodeError> {
        let max = if flexible {
            u32::MAX as usize - 1
        } else if wide {
            i32::MAX as usize
        } else {
            i16::MAX as usize
        };
        if len > max {
            return Err(EncodeError::TooLong { field, len });
        }
        match (flexible, wide) {
            (true, _) => self.put_uvarint(len as u32 + 1),
            (false, true) => self.put_i32(len as i32),
            (false, false) => self.put_i16(len as i16),
        }
        Ok(())
    }

    pub fn put_string(&mut self, flexible: bool, v: &str, field: &'static str) -> Result<(), EncodeError> {
        self.put_length(flexible, false, v.len(), field)?;
        self.put_slice(v.as_bytes());
        Ok(())
    }

    pub fn put_nullable_string(
        &mut self,
        flexible: bool,
        v: Option<&str>,
        field: &'static str,
    ) -> Result<(), EncodeError> {
        match v {
            Some(v) => self.put_string(flexible, v, field),
            None => {
                self.put_null_string(flexible);
                Ok(())
            }
        }
    }

    pub fn put_null_string(&mut self, flexible: bool) {
        if flexible {
            self.put_uvarint(0);
        } else {
            self.put_i16(-1);
        }
    }

    pub fn put_bytes(&mut self, flexible: bool, v: &Bytes, field: &'static str) -> Result<(), EncodeError> {
        self.put_length(flexible, true, v.len(), field)?;
        self.put_shared(v);
        Ok(())
    }

    /// A response's `records`: as [`EncodeBuf::put_bytes`], a file region as its own chunk.
    pub fn put_payload(&mut self, flexible: bool, v: &Payload, field: &'static str) -> Result<(), EncodeError> {
        match v {
            Payload::Memory(bytes) => self.put_bytes(flexible, bytes, field),
            Payload::File(_) => {
                self.put_length(flexible, true, v.len(), field)?;
                self.push_chunk(v.clone());
                Ok(())
            }
        }
    }

    /// Null bytes and null arrays share one encoding: length -1, or 0 when compact.
    pub fn put_null_bytes(&mut self, flexible: bool) {
        if flexible {
            self.put_uvarint(0);
        } else {
            self.put_i32(-1);
        }
    }

    pub fn put_array_len(&mut self, flexible: bool, len: usize, field: &'static str) -> Result<(), EncodeError> {
        self.put_length(flexible, true, len, field)
    }

    pub fn put_null_array(&mut self, flexible: bool) {
        self.put_null_bytes(flexible);
    }

    /// Appends shared bytes, as a separate chunk (no copy) when they are large.
    pub fn put_shared(&mut self, v: &Bytes) {
        if v.len() < ZERO_COPY_MIN_LEN {
            self.current.put_slice(v);
            return;
        }
        self.push_chunk(Payload::Memory(v.clone()));
    }

    /// Appends everything written to `other`, moving its chunks.
    pub fn append(&mut self, other: EncodeBuf) {
        for chunk in other.into_chunks() {
            match chunk {
                Payload::Memory(bytes) => self.put_shared(&bytes),
                region @ Payload::File(_) => self.push_chunk(region),
            }
        }
    }

    /// Ends the current buffer and appends `chunk` after it, uncopied.
    fn push_chunk(&mut self, chunk: Payload) {
        self.seal_current();
        self.chunks_len += chunk.len();
        self.chunks.push(chunk);
    }

    fn seal_current(&mut self) {
        if !self.current.is_empty() {
            let sealed = self.current.split().freeze();
            self.chunks_len += sealed.len();
            self.chunks.push(Payload::Memory(sealed));
        }
    }

    /// The output as chunks, in order, ready for a vectored write (and `sendfile`).
    pub fn into_chunks(mut self) -> Vec<Payload> {
        self.seal_current();
        self.chunks
    }

    /// The output as one contiguous buffer: copies, and reads file regions (for tests
    /// and the small messages the broker writes to its own logs, which have none).
    ///
    /// # Panics
    /// If a file region cannot be read: its maker promised its bytes stay.
    pub fn to_contiguous(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.len());
        for chunk in &self.chunks {
            out.put_slice(&chunk.to_bytes().expect("a file region of the output is readable"));
        }
        out.put_slice(&self.current);
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_values_are_chunks_not_copies() {
        let big = Bytes::from(vec![7u8; 4096]);
        let mut buf = EncodeBuf::new();
        buf.put_i32(1);
        buf.put_shared(&big);
        buf.put_i16(2);
        assert_eq!(buf.len(), 4 + 4096 + 2);
        let chunks = buf.into_chunks();
        assert_eq!(chunks.len(), 3);
        let Payload::Memory(records) = &chunks[1] else {
            panic!("not a memory chunk");
        };
        assert_eq!(records.as_ptr(), big.as_ptr(), "the record bytes were copied");
    }

    #[test]
    fn small_values_are_coalesced() {
        let mut buf = EncodeBuf::new();
        buf.put_shared(&Bytes::from_static(b"abc"));
        buf.put_i8(1);
        assert_eq!(buf.to_contiguous().as_ref(), b"abc\x01");
        assert_eq!(buf.into_chunks().len(), 1);
    }
}
