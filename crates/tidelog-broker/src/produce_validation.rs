//! Checks a produce request's record set before anything of it is written.
//!
//! Only batch headers and CRCs are examined, never individual records: every batch must be
//! a whole, intact v2 batch within `max.message.bytes`, whose record count matches its
//! offset range. One bad batch refuses the partition's whole record set.

use bytes::Bytes;
use tidelog_protocol::records::{RecordBatch, RecordsError};
use tidelog_protocol::ErrorCode;

/// Why a record set was refused: the error code for the partition and a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub code: ErrorCode,
    pub message: String,
}

fn refused(code: ErrorCode, message: impl Into<String>) -> Refused {
    Refused {
        code,
        message: message.into(),
    }
}

/// The batches of a valid record set, in order.
#[derive(Debug)]
pub struct ValidBatches {
    pub batches: Vec<RecordBatch>,
    /// Offsets the set takes: the sum of every batch's offset range.
    pub offset_count: i64,
}

pub fn validate(records: Option<&Bytes>, max_message_bytes: i32) -> Result<ValidBatches, Refused> {
    let records = match records {
        Some(r) if !r.is_empty() => r,
        _ => return Err(refused(ErrorCode::INVALID_RECORD, "Produce request has no records")),
    };
    let mut batches = Vec::new();
    let mut offset_count = 0i64;
    for batch in RecordBatch::iter_batches(records.clone()) {
        let batch = batch.map_err(|e| match e {
            RecordsError::InvalidMagic(_) => refused(ErrorCode::INVALID_RECORD, format!("{e}: only v2 record batches")),
            e => refused(ErrorCode::CORRUPT_MESSAGE, e.to_string()),
        })?;
        if batch.size_in_bytes() > max_message_bytes.max(0) as usize {
            return Err(refused(
                ErrorCode::MESSAGE_TOO_LARGE,
                format!(
                    "The batch is {} bytes, larger than max.message.bytes {max_message_bytes}",
                    batch.size_in_bytes()
                ),
            ));
        }
        batch
            .verify_crc()
            .map_err(|e| refused(ErrorCode::CORRUPT_MESSAGE, e.to_string()))?;
        if batch.record_count() <= 0 || i64::from(batch.record_count()) != i64::from(batch.last_offset_delta()) + 1 {
            return Err(refused(
                ErrorCode::INVALID_RECORD,
                format!(
                    "Record count {} does not match the batch's last offset delta {}",
                    batch.record_count(),
                    batch.last_offset_delta()
                ),
            ));
        }
        if batch.is_control() {
            return Err(refused(
                ErrorCode::INVALID_RECORD,
                "Clients may not write control batches",
            ));
        }
        offset_count += i64::from(batch.last_offset_delta()) + 1;
        batches.push(batch);
    }
    Ok(ValidBatches { batches, offset_count })
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use tidelog_protocol::records::RecordBatchBuilder;

    use super::*;

    fn batch(records: usize) -> Bytes {
        let mut b = RecordBatchBuilder::new(0);
        for i in 0..records {
            b.append(1000 + i as i64, Some(b"k"), Some(b"value"), &[]);
        }
        b.build().as_bytes().clone()
    }

    fn concat(parts: &[&[u8]]) -> Bytes {
        let mut out = BytesMut::new();
        for p in parts {
            out.extend_from_slice(p);
        }
        out.freeze()
    }

    #[test]
    fn accepts_intact_batches_and_counts_offsets() {
        let set = concat(&[&batch(3), &batch(2)]);
        let valid = validate(Some(&set), 1_000_000).unwrap();
        assert_eq!((valid.batches.len(), valid.offset_count), (2, 5));
    }

    #[test]
    fn refuses_corrupt_torn_oversized_and_empty_sets() {
        let good = batch(3);
        let mut flipped = good.to_vec();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        let code = |set: Option<&Bytes>, max| validate(set, max).unwrap_err().code;
        assert_eq!(code(Some(&Bytes::from(flipped)), 1_000_000), ErrorCode::CORRUPT_MESSAGE);
        assert_eq!(
            code(Some(&good.slice(..good.len() - 1)), 1_000_000),
            ErrorCode::CORRUPT_MESSAGE
        );
        assert_eq!(code(Some(&good), 10), ErrorCode::MESSAGE_TOO_LARGE);
        assert_eq!(code(Some(&Bytes::new()), 1_000_000), ErrorCode::INVALID_RECORD);
        assert_eq!(code(None, 1_000_000), ErrorCode::INVALID_RECORD);
        let mut magic1 = good.to_vec();
        magic1[16] = 1;
        assert_eq!(code(Some(&Bytes::from(magic1)), 1_000_000), ErrorCode::INVALID_RECORD);
    }
}
