//! What the coordinators share about their internal topics (`__consumer_offsets`,
//! `__transaction_state`): which partition a key lives in, appending key/value records
//! (a coordinator's state changes only once its record is durable), and replaying a
//! topic's batches at start.

use std::sync::Arc;

use bytes::Bytes;
use tidelog_log::LogError;
use tidelog_protocol::records::{RecordBatch, RecordBatchBuilder};
use tidelog_protocol::ErrorCode;
use tracing::{error, warn};

use crate::clock::now_ms;
use crate::partitions::{producer_error_code, Partition, Partitions};

/// Replay reads a partition in chunks of this size.
const REPLAY_CHUNK_BYTES: usize = 1 << 20;

/// A write to an internal topic, durable once the partition's high watermark reaches `end`.
pub struct PendingWrite {
    pub partition: Arc<Partition>,
    pub end: i64,
}

impl PendingWrite {
    pub async fn durable(&self) {
        self.partition.wait_durable(self.end).await;
    }
}

/// The partition of `key` among `partitions`: Java's `String.hashCode` of the key, made
/// non-negative as Kafka's `Utils.abs` does, modulo the partition count, so a key lives
/// where Kafka would put it.
pub fn partition_for(key: &str, partitions: i32) -> i32 {
    let hash = key
        .encode_utf16()
        .fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(i32::from(unit)));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions
}

/// The producer a batch is written for: a transactional offset commit is a transactional
/// batch of its producer, without a sequence, so the partition's markers end it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// Appends (key, value) records as one batch to `topic`'s partition `index`; a `None` value
/// is a tombstone.
pub fn append(
    partitions: &Partitions,
    topic: &str,
    index: i32,
    records: &[(Bytes, Option<Bytes>)],
    producer: Option<TxnProducer>,
) -> Result<Option<PendingWrite>, ErrorCode> {
    if records.is_empty() {
        return Ok(None);
    }
    let partition = partitions
        .get(topic, index)
        .ok_or(ErrorCode::COORDINATOR_NOT_AVAILABLE)?;
    let now = now_ms();
    let mut builder = RecordBatchBuilder::new(0);
    if let Some(p) = producer {
        builder = builder
            .producer(p.producer_id, p.producer_epoch, tidelog_log::NO_SEQUENCE)
            .transactional(true);
    }
    for (key, value) in records {
        builder.append(now, Some(key), value.as_deref(), &[]);
    }
    let info = partition
        .append(builder.build().as_bytes().clone())
        .map_err(|e| match e {
            // A transactional offset commit of a fenced producer epoch.
            LogError::Producer(e) => producer_error_code(&e),
            e => {
                error!(topic, error = %e, "cannot write to an internal topic");
                ErrorCode::KAFKA_STORAGE_ERROR
            }
        })?;
    partitions.flusher.mark_dirty(&partition);
    Ok(Some(PendingWrite {
        partition,
        end: info.last_offset + 1,
    }))
}

/// Feeds every batch of `topic`'s partitions `0..count`, in offset order, to `apply` with
/// its partition index.
pub fn replay(
    partitions: &Partitions,
    topic: &str,
    count: i32,
    mut apply: impl FnMut(i32, &RecordBatch),
) -> Result<(), LogError> {
    for index in 0..count {
        let Some(partition) = partitions.get(topic, index) else {
            continue;
        };
        let snapshot = partition.snapshot()?;
        let end = partition.high_watermark();
        let mut offset = snapshot.log_start_offset();
        'partition: while offset < end {
            let read = snapshot.read(offset, REPLAY_CHUNK_BYTES, end)?;
            if read.records.is_empty() {
                break;
            }
            let records = read.records.to_bytes().map_err(|source| LogError::Io {
                context: format!("read {topic}-{index} to replay it"),
                source,
            })?;
            for batch in RecordBatch::iter_batches(records) {
                let Ok(batch) = batch else {
                    // Recovery leaves no such batch below the high watermark; if one is
                    // there anyway, what follows it cannot be read either.
                    warn!(
                        topic,
                        partition = index,
                        offset,
                        "unreadable batch in an internal topic; replay stops there"
                    );
                    break 'partition;
                };
                offset = batch.next_offset();
                apply(index, &batch);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_partitions_as_in_kafka() {
        // "my-group".hashCode() is -1_906_497_762 in Java; "" hashes to 0.
        assert_eq!(partition_for("my-group", 50), 1_906_497_762 % 50);
        assert_eq!(partition_for("", 50), 0);
        // "polygenelubricants".hashCode() is Integer.MIN_VALUE, which Utils.abs makes 0.
        assert_eq!(partition_for("polygenelubricants", 50), 0);
    }
}
