//! Checks a produce request's record set before anything of it is written.
//!
//! Only batch headers and CRCs are examined: every batch must be a whole, intact v2 batch
//! within `max.message.bytes`, whose record count matches its offset range. Records are
//! read only for a compacted topic, whose records must all have keys. One bad batch
//! refuses the partition's whole record set.

use bytes::Bytes;
use tidelog_protocol::records::{RecordBatch, RecordsError};
use tidelog_protocol::ErrorCode;

/// Why a record set was refused: the error code for the partition, a message, and the
/// records at fault (KIP-467: each one's index in its batch, and why).
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub code: ErrorCode,
    pub message: String,
    pub record_errors: Vec<(i32, String)>,
}

fn refused(code: ErrorCode, message: impl Into<String>) -> Refused {
    Refused {
        code,
        message: message.into(),
        record_errors: Vec::new(),
    }
}

/// The most a compressed batch of a compacted topic may decompress to while its keys are
/// checked: far above any batch `max.message.bytes` lets in at a sane compression ratio.
const MAX_DECOMPRESSED_BYTES: usize = 256 << 20;

/// Kafka's refusal of keyless records in a compacted topic, naming each one.
fn keyless_records(batches: &[RecordBatch], partition: &str) -> Result<(), Refused> {
    let mut errors = Vec::new();
    for batch in batches {
        let records = batch
            .records(MAX_DECOMPRESSED_BYTES)
            .map_err(|e| refused(ErrorCode::CORRUPT_MESSAGE, e.to_string()))?;
        for (index, record) in records.enumerate() {
            let record = record.map_err(|e| refused(ErrorCode::CORRUPT_MESSAGE, e.to_string()))?;
            if record.key.is_none() {
                let why = format!("Compacted topic cannot accept message without key in topic partition {partition}");
                errors.push((index as i32, why));
            }
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = errors
        .iter()
        .take(3)
        .map(|(index, why)| format!("RecordError(batchIndex={index}, message='{why}')"))
        .collect();
    Err(Refused {
        code: ErrorCode::INVALID_RECORD,
        message: format!(
            "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
            errors.len(),
            shown.join(", ")
        ),
        record_errors: errors,
    })
}

/// The batches of a valid record set, in order.
#[derive(Debug)]
pub struct ValidBatches {
    pub batches: Vec<RecordBatch>,
    /// Offsets the set takes: the sum of every batch's offset range.
    pub offset_count: i64,
}

/// `compacted_partition` names the partition (`topic-N`) when its topic is compacted.
pub fn validate(
    records: Option<&Bytes>,
    max_message_bytes: i32,
    compacted_partition: Option<&str>,
) -> Result<ValidBatches, Refused> {
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
    // Kafka allows one batch per partition in a v3+ request (every version served here). A
    // torn or corrupt set is CORRUPT_MESSAGE first (checked above), as before.
    if batches.len() > 1 {
        return Err(refused(
            ErrorCode::INVALID_RECORD,
            "Produce requests are only allowed to contain exactly one record batch per partition",
        ));
    }
    if let Some(partition) = compacted_partition {
        keyless_records(&batches, partition)?;
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
    fn accepts_one_intact_batch_and_counts_its_offsets() {
        let valid = validate(Some(&batch(3)), 1_000_000, None).unwrap();
        assert_eq!((valid.batches.len(), valid.offset_count), (1, 3));
        let two = concat(&[&batch(3), &batch(2)]);
        assert_eq!(
            validate(Some(&two), 1_000_000, None).unwrap_err().code,
            ErrorCode::INVALID_RECORD
        );
    }

    #[test]
    fn refuses_corrupt_torn_oversized_and_empty_sets() {
        let good = batch(3);
        let mut flipped = good.to_vec();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        let code = |set: Option<&Bytes>, max| validate(set, max, None).unwrap_err().code;
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

    #[test]
    fn a_compacted_topic_refuses_keyless_records_naming_each() {
        let mut b = RecordBatchBuilder::new(0);
        b.append(1000, Some(b"k"), Some(b"v"), &[]);
        b.append(1001, None, Some(b"v"), &[]);
        b.append(1002, None, None, &[]);
        let set = b.build().as_bytes().clone();
        assert!(validate(Some(&set), 1_000_000, None).is_ok());
        let refused = validate(Some(&set), 1_000_000, Some("t-0")).unwrap_err();
        assert_eq!(refused.code, ErrorCode::INVALID_RECORD);
        let indexes: Vec<i32> = refused.record_errors.iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, [1, 2]);
        assert!(
            refused.message.contains("due to 2 record errors"),
            "{}",
            refused.message
        );
        assert!(validate(Some(&batch(2)), 1_000_000, Some("t-0")).is_ok());
    }
}
