//! Frames: every request and response is an `i32` big-endian length and that many bytes.

use bytes::Bytes;
use thiserror::Error;

use crate::codec::{EncodeBuf, Payload};
use crate::error::EncodeError;

/// Kafka's default `socket.request.max.bytes`: 100 MiB.
pub const DEFAULT_MAX_FRAME_LEN: usize = 100 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("negative frame length {0}")]
    Negative(i32),
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
}

/// The body length announced by a 4-byte prefix, refused before any body is read when it
/// is negative or larger than `max`.
pub fn frame_len(prefix: [u8; 4], max: usize) -> Result<usize, FrameError> {
    let len = i32::from_be_bytes(prefix);
    if len < 0 {
        return Err(FrameError::Negative(len));
    }
    let len = len as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(len)
}

/// Prefixes an encoded message with its length: the chunks of one frame, in order. A body
/// longer than `i32::MAX` is refused: its prefix would read as negative.
pub fn into_frame(body: EncodeBuf) -> Result<Vec<Payload>, EncodeError> {
    let len = i32::try_from(body.len()).map_err(|_| EncodeError::TooLong {
        field: "frame",
        len: body.len(),
    })?;
    let mut chunks = Vec::with_capacity(2);
    chunks.push(Payload::Memory(Bytes::copy_from_slice(&len.to_be_bytes())));
    chunks.extend(body.into_chunks());
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_oversized_and_negative_prefixes() {
        assert_eq!(
            frame_len(0xffff_ffffu32.to_be_bytes(), DEFAULT_MAX_FRAME_LEN),
            Err(FrameError::Negative(-1))
        );
        let four_gib_minus = 0x7fff_ffffu32.to_be_bytes();
        assert!(matches!(
            frame_len(four_gib_minus, DEFAULT_MAX_FRAME_LEN),
            Err(FrameError::TooLarge { .. })
        ));
        assert_eq!(frame_len(100u32.to_be_bytes(), DEFAULT_MAX_FRAME_LEN), Ok(100));
    }

    #[test]
    fn refuses_bodies_longer_than_an_i32_prefix_can_say() {
        // 1 GiB of zero pages, never touched: the two chunks share it.
        let gib = Bytes::from(vec![0u8; 1 << 30]);
        let mut body = EncodeBuf::new();
        body.put_shared(&gib);
        body.put_shared(&gib);
        assert_eq!(
            into_frame(body),
            Err(EncodeError::TooLong {
                field: "frame",
                len: 1 << 31
            })
        );
    }
}
