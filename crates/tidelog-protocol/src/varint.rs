//! Variable-length integers: the unsigned form used by flexible message versions
//! (compact lengths, tagged fields) and the zig-zag form used inside records.
//!
//! Readers take a byte slice and advance it; they never read past its end and reject
//! encodings longer than the type allows, so hostile input cannot loop or overflow.

use thiserror::Error;

/// A varint that runs off the end of the input or is longer than its type allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum VarintError {
    #[error("varint truncated")]
    Truncated,
    #[error("varint too long")]
    TooLong,
}

fn read_raw(buf: &mut &[u8], max_bytes: usize) -> Result<u64, VarintError> {
    let mut value: u64 = 0;
    for i in 0..max_bytes {
        let (&byte, rest) = buf.split_first().ok_or(VarintError::Truncated)?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(VarintError::TooLong)
}

/// Reads an unsigned 32-bit varint (at most 5 bytes).
pub fn read_uvarint(buf: &mut &[u8]) -> Result<u32, VarintError> {
    let value = read_raw(buf, 5)?;
    u32::try_from(value).map_err(|_| VarintError::TooLong)
}

/// Reads a zig-zag encoded signed 32-bit varint (at most 5 bytes).
pub fn read_varint(buf: &mut &[u8]) -> Result<i32, VarintError> {
    let raw = read_uvarint(buf)?;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// Reads a zig-zag encoded signed 64-bit varint (at most 10 bytes).
pub fn read_varlong(buf: &mut &[u8]) -> Result<i64, VarintError> {
    let raw = read_raw(buf, 10)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

fn put_raw(out: &mut impl bytes::BufMut, mut value: u64) {
    while value >= 0x80 {
        out.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

/// Writes an unsigned 32-bit varint.
pub fn put_uvarint(out: &mut impl bytes::BufMut, value: u32) {
    put_raw(out, u64::from(value));
}

/// Writes a zig-zag encoded signed 32-bit varint.
pub fn put_varint(out: &mut impl bytes::BufMut, value: i32) {
    put_raw(out, u64::from(((value << 1) ^ (value >> 31)) as u32));
}

/// Writes a zig-zag encoded signed 64-bit varint.
pub fn put_varlong(out: &mut impl bytes::BufMut, value: i64) {
    put_raw(out, ((value << 1) ^ (value >> 63)) as u64);
}

/// Bytes taken by `value` as an unsigned varint.
pub fn uvarint_len(value: u32) -> usize {
    match value {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

/// Bytes taken by `value` as a zig-zag varint.
pub fn varint_len(value: i32) -> usize {
    uvarint_len(((value << 1) ^ (value >> 31)) as u32)
}

/// Bytes taken by `value` as a zig-zag varlong.
pub fn varlong_len(value: i64) -> usize {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    let mut len = 1;
    while raw >= 0x80 {
        raw >>= 7;
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_edge_values() {
        for v in [0, 1, -1, 63, -64, 64, i32::MAX, i32::MIN] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v));
            assert_eq!(read_varint(&mut out.as_slice()), Ok(v));
        }
        for v in [0, 1, -1, i64::MAX, i64::MIN, 1 << 40] {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            assert_eq!(out.len(), varlong_len(v));
            assert_eq!(read_varlong(&mut out.as_slice()), Ok(v));
        }
        for v in [0, 127, 128, 16383, 16384, u32::MAX] {
            let mut out = Vec::new();
            put_uvarint(&mut out, v);
            assert_eq!(out.len(), uvarint_len(v));
            assert_eq!(read_uvarint(&mut out.as_slice()), Ok(v));
        }
    }

    #[test]
    fn rejects_truncated_and_overlong() {
        assert_eq!(read_uvarint(&mut [0x80u8].as_slice()), Err(VarintError::Truncated));
        assert_eq!(read_uvarint(&mut [0xffu8; 6].as_slice()), Err(VarintError::TooLong));
        // Five bytes whose value overflows u32.
        assert_eq!(
            read_uvarint(&mut [0xff, 0xff, 0xff, 0xff, 0x7f].as_slice()),
            Err(VarintError::TooLong)
        );
        assert_eq!(read_varlong(&mut [0xffu8; 11].as_slice()), Err(VarintError::TooLong));
    }
}
