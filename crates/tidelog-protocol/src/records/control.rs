//! Control records, and the transaction markers: the control batches that end a
//! transaction in a partition.
//!
//! A control record's key is `version i16 (0) | type i16`, as Kafka's `ControlRecordType`
//! writes it: 0 = ABORT and 1 = COMMIT are transaction markers, 2 to 6 are KRaft's (see
//! [`crate::metadata`]). A marker is a batch with the transactional and control bits set, the
//! producer's id and epoch, no sequence, and one record whose value is `version i16 (0) |
//! coordinator_epoch i32`, as Kafka's `EndTransactionMarker` writes them.

use super::{RecordBatch, RecordBatchBuilder, RecordsError};
use bytes::{Buf, BufMut};

/// The outcome a marker records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlType {
    Abort,
    Commit,
}

impl ControlType {
    /// The marker of a transaction that commits (`true`) or aborts, as the coordinator's
    /// state and WriteTxnMarkers' `transaction_result` give it.
    pub fn from_commit(commit: bool) -> ControlType {
        match commit {
            true => ControlType::Commit,
            false => ControlType::Abort,
        }
    }

    fn code(self) -> i16 {
        match self {
            ControlType::Abort => 0,
            ControlType::Commit => 1,
        }
    }
}

/// The key of a control record of type `control_type`.
pub fn control_key(control_type: i16) -> [u8; 4] {
    let mut key = [0; 4];
    key[2..].copy_from_slice(&control_type.to_be_bytes());
    key
}

/// The type in a control record's key. Like Kafka, a key of a later version is read as
/// version 0: the type still follows the version.
pub fn control_type(key: Option<&[u8]>) -> Result<i16, RecordsError> {
    match key {
        Some(&[_, _, high, low, ..]) => Ok(i16::from_be_bytes([high, low])),
        _ => Err(RecordsError::InvalidLength {
            field: "control record key",
            length: key.map_or(-1, |k| k.len() as i32),
        }),
    }
}

/// A decoded transaction marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnMarker {
    pub control_type: ControlType,
    pub coordinator_epoch: i32,
}

/// The marker batch a transaction coordinator writes, at base offset 0 (the log assigns
/// the real one).
pub fn marker_batch(producer_id: i64, producer_epoch: i16, marker: TxnMarker, timestamp: i64) -> RecordBatch {
    let key = control_key(marker.control_type.code());
    let mut value = Vec::with_capacity(6);
    value.put_i16(0);
    value.put_i32(marker.coordinator_epoch);
    let mut builder = RecordBatchBuilder::new(0)
        .producer(producer_id, producer_epoch, -1)
        .transactional(true)
        .control(true);
    builder.append(timestamp, Some(&key), Some(&value), &[]);
    builder.build()
}

/// Reads the marker of a control batch. `None` for a control record of another type
/// (Kafka reserves the key's type for future control records, which readers skip).
pub fn read_marker(batch: &RecordBatch) -> Result<Option<TxnMarker>, RecordsError> {
    let malformed = |field| RecordsError::InvalidLength { field, length: -1 };
    let record = batch
        .records(1 << 10)?
        .next()
        .ok_or(RecordsError::RecordCountMismatch { declared: 1, actual: 0 })??;
    let control_type = match control_type(record.key.as_deref())? {
        0 => ControlType::Abort,
        1 => ControlType::Commit,
        _ => return Ok(None),
    };
    let mut value = record.value.ok_or(malformed("transaction marker value"))?;
    if value.len() < 6 {
        return Err(malformed("transaction marker value"));
    }
    let _version = value.get_i16();
    Ok(Some(TxnMarker {
        control_type,
        coordinator_epoch: value.get_i32(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_reads_back_with_kafkas_header_fields() {
        let marker = TxnMarker {
            control_type: ControlType::Commit,
            coordinator_epoch: 7,
        };
        let batch = marker_batch(42, 3, marker, 1_700_000_000_000);
        assert!(batch.is_control() && batch.is_transactional());
        assert_eq!(
            (batch.producer_id(), batch.producer_epoch(), batch.base_sequence()),
            (42, 3, -1)
        );
        assert_eq!(batch.record_count(), 1);
        batch.verify_crc().unwrap();
        assert_eq!(read_marker(&batch).unwrap(), Some(marker));
        let abort = TxnMarker {
            control_type: ControlType::Abort,
            coordinator_epoch: 0,
        };
        assert_eq!(read_marker(&marker_batch(1, 0, abort, 0)).unwrap(), Some(abort));
    }
}
