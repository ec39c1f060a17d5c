//! The four codecs a v2 batch may compress its records with, in the framings Kafka's
//! clients actually produce.
//!
//! Decompression never trusts a size declared by the input: streams are read through
//! `take(max_len + 1)` and snappy's declared block lengths are checked against the budget
//! before anything is allocated, so a decompression bomb costs at most `max_len` bytes.

use super::RecordsError;
use std::io::{Read, Write};

/// The codec in bits 0-2 of a batch's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None = 0,
    Gzip = 1,
    Snappy = 2,
    Lz4 = 3,
    Zstd = 4,
}

impl Compression {
    /// Reads the codec from batch attributes; ids 5-7 are reserved and rejected.
    pub fn from_attributes(attributes: i16) -> Result<Self, RecordsError> {
        match attributes & 0x07 {
            0 => Ok(Self::None),
            1 => Ok(Self::Gzip),
            2 => Ok(Self::Snappy),
            3 => Ok(Self::Lz4),
            4 => Ok(Self::Zstd),
            id => Err(RecordsError::UnknownCompression(id as u8)),
        }
    }
}

/// Zstd level Kafka's producer uses by default (`compression.zstd.level`).
const ZSTD_LEVEL: i32 = 3;

/// Block size of snappy-java's `SnappyOutputStream`, which Kafka's Java client uses.
const SNAPPY_BLOCK: usize = 32 * 1024;

/// snappy-java's stream header: magic, then version 1 and minimum compatible version 1.
const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";

/// Compresses `data` the way Kafka's Java producer does: gzip, xerial-framed snappy,
/// an LZ4 frame of independent 64 KiB blocks, or a zstd frame.
pub fn compress(codec: Compression, data: &[u8]) -> Vec<u8> {
    match codec {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(data).expect("writing to a Vec cannot fail");
            encoder.finish().expect("writing to a Vec cannot fail")
        }
        Compression::Snappy => compress_snappy_xerial(data),
        Compression::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            encoder.write_all(data).expect("writing to a Vec cannot fail");
            encoder.finish().expect("writing to a Vec cannot fail")
        }
        Compression::Zstd => zstd::bulk::compress(data, ZSTD_LEVEL).expect("zstd with a valid level cannot fail"),
    }
}

/// Decompresses `data`, failing with [`RecordsError::DecompressedTooLarge`] as soon as the
/// output would exceed `max_len` bytes.
pub fn decompress(codec: Compression, data: &[u8], max_len: usize) -> Result<Vec<u8>, RecordsError> {
    match codec {
        Compression::None => read_capped(data, max_len),
        // Java's GZIPInputStream reads concatenated members, so we do too.
        Compression::Gzip => read_capped(flate2::read::MultiGzDecoder::new(data), max_len),
        Compression::Snappy => decompress_snappy(data, max_len),
        Compression::Lz4 => read_capped(lz4_flex::frame::FrameDecoder::new(data), max_len),
        // The decoder keeps zstd's default window limit (2^27), as zstd-jni does.
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(codec_error)?;
            read_capped(decoder, max_len)
        }
    }
}

fn read_capped(reader: impl Read, max_len: usize) -> Result<Vec<u8>, RecordsError> {
    let mut out = Vec::new();
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(limit).read_to_end(&mut out).map_err(codec_error)?;
    if out.len() > max_len {
        return Err(RecordsError::DecompressedTooLarge { limit: max_len });
    }
    Ok(out)
}

fn codec_error(error: impl std::fmt::Display) -> RecordsError {
    RecordsError::Compression(error.to_string())
}

/// Writes snappy-java's framing: the header, then `[i32 length][raw block]` per 32 KiB.
/// librdkafka writes raw blocks instead, but reads this framing, as every client does.
fn compress_snappy_xerial(data: &[u8]) -> Vec<u8> {
    let mut out = XERIAL_HEADER.to_vec();
    let mut encoder = snap::raw::Encoder::new();
    for chunk in data.chunks(SNAPPY_BLOCK) {
        let block = encoder
            .compress_vec(chunk)
            .expect("a 32 KiB block is within snappy's limits");
        let len = u32::try_from(block.len()).expect("a compressed 32 KiB block fits in u32");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&block);
    }
    out
}

/// Reads snappy-java's framing when the magic is present, else one raw snappy block,
/// which is what librdkafka and most non-Java clients write.
fn decompress_snappy(data: &[u8], max_len: usize) -> Result<Vec<u8>, RecordsError> {
    let mut out = Vec::new();
    let Some(framed) = data.strip_prefix(XERIAL_MAGIC) else {
        decompress_snappy_block(data, &mut out, max_len)?;
        return Ok(out);
    };
    // Skip the version and compatible-version fields; snappy-java does not check them either.
    let mut rest = framed.get(8..).ok_or(RecordsError::Truncated {
        needed: XERIAL_HEADER.len(),
        available: data.len(),
    })?;
    while !rest.is_empty() {
        let (len, after) = rest.split_first_chunk::<4>().ok_or(RecordsError::Truncated {
            needed: 4,
            available: rest.len(),
        })?;
        let len = u32::from_be_bytes(*len) as usize;
        if after.len() < len {
            return Err(RecordsError::Truncated {
                needed: len,
                available: after.len(),
            });
        }
        let (block, after) = after.split_at(len);
        decompress_snappy_block(block, &mut out, max_len)?;
        rest = after;
    }
    Ok(out)
}

/// Appends one raw snappy block to `out`, checking its declared length against the budget
/// before allocating (the decoder then fails if the block does not produce exactly that).
fn decompress_snappy_block(block: &[u8], out: &mut Vec<u8>, max_len: usize) -> Result<(), RecordsError> {
    let len = snap::raw::decompress_len(block).map_err(codec_error)?;
    if len > max_len - out.len() {
        return Err(RecordsError::DecompressedTooLarge { limit: max_len });
    }
    let start = out.len();
    out.resize(start + len, 0);
    snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(codec_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8 ^ (i / 997) as u8).collect()
    }

    #[test]
    fn round_trips_every_codec() {
        for codec in CODECS {
            for len in [0, 1, 100, SNAPPY_BLOCK, SNAPPY_BLOCK + 1, 200_000] {
                let data = sample(len);
                let packed = compress(codec, &data);
                assert_eq!(decompress(codec, &packed, len).unwrap(), data, "{codec:?} {len}");
            }
        }
    }

    #[test]
    fn output_one_byte_over_the_cap_is_rejected() {
        for codec in CODECS {
            let packed = compress(codec, &sample(1000));
            assert_eq!(
                decompress(codec, &packed, 999),
                Err(RecordsError::DecompressedTooLarge { limit: 999 }),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn snappy_writes_xerial_framing_and_reads_raw_blocks() {
        let data = sample(5000);
        let packed = compress(Compression::Snappy, &data);
        assert!(packed.starts_with(XERIAL_HEADER));
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(decompress(Compression::Snappy, &raw, data.len()).unwrap(), data);
    }

    #[test]
    fn lz4_writes_the_frame_flags_kafkas_java_reader_accepts() {
        let packed = compress(Compression::Lz4, &sample(100));
        // Magic, then FLG: version 1, independent blocks, no checksums or content size;
        // BD: 64 KiB blocks.
        assert_eq!(packed[..6], [0x04, 0x22, 0x4d, 0x18, 0x60, 0x40]);
    }

    #[test]
    fn snappy_rejects_truncated_framing() {
        let packed = compress(Compression::Snappy, &sample(5000));
        for cut in 1..packed.len() {
            if cut == XERIAL_HEADER.len() {
                continue; // a header alone is a valid empty stream
            }
            assert!(
                decompress(Compression::Snappy, &packed[..cut], 5000).is_err(),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn reserved_codec_ids_are_rejected() {
        assert_eq!(Compression::from_attributes(0x7c), Ok(Compression::Zstd));
        for id in 5..8 {
            assert_eq!(
                Compression::from_attributes(id),
                Err(RecordsError::UnknownCompression(id as u8))
            );
        }
    }
}
