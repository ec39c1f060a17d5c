//! Idempotent producers' state in one partition: per producer id, its epoch and the
//! sequence and offset ranges of its last five batches, as Kafka's `ProducerStateManager`.
//!
//! An append is checked batch header by batch header (producer id, epoch, base sequence,
//! last offset delta), never by record: a retried batch equal to one of the last five is a
//! duplicate and is answered with its original offsets; a batch from an older epoch is
//! refused; a batch that does not follow the last sequence is out of order. The rules are
//! those of Kafka's `ProducerAppendInfo`, including Kafka's leniency for a producer the
//! partition has no state for (any sequence is accepted, since its state may have expired
//! or its batches been deleted by retention).

use std::collections::{HashMap, VecDeque};

use tidelog_protocol::records::BatchHeader;

/// How many batches per producer are remembered for duplicate detection; producers keep at
/// most five requests in flight per partition (`max.in.flight.requests.per.connection`).
pub const BATCHES_REMEMBERED: usize = 5;

/// Kafka's `producer.id.expiration.ms` default: a day.
pub const DEFAULT_PRODUCER_ID_EXPIRATION_MS: i64 = 86_400_000;

/// A producer's batch as remembered: its sequence and offset ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// What one producer id has written to the partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    pub epoch: i16,
    /// Oldest first; at most [`BATCHES_REMEMBERED`].
    pub batches: VecDeque<BatchMetadata>,
    /// The largest timestamp of its last batch, which expiration is judged by.
    pub last_timestamp: i64,
}

impl ProducerEntry {
    fn last_seq(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_seq)
    }

    fn push(&mut self, batch: BatchMetadata) {
        if self.batches.len() == BATCHES_REMEMBERED {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
    }
}

/// Why a batch is refused; the broker answers each with Kafka's error code of that name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProducerError {
    /// INVALID_PRODUCER_EPOCH: a newer epoch of this producer id has written already.
    #[error("producer {producer_id} epoch {epoch} is older than the current epoch {current}")]
    InvalidProducerEpoch { producer_id: i64, epoch: i16, current: i16 },
    /// OUT_OF_ORDER_SEQUENCE_NUMBER: the batch does not follow the producer's last one.
    #[error("producer {producer_id} sent sequence {first_seq} after {last_seq:?} (epoch {epoch})")]
    OutOfOrderSequence {
        producer_id: i64,
        epoch: i16,
        first_seq: i32,
        last_seq: Option<i32>,
    },
}

/// What [`ProducerStateManager::validate_append`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validated {
    /// Write the batches.
    Append,
    /// A retry of this batch, already written: answer with its offsets, write nothing.
    Duplicate(BatchMetadata),
}

/// The batch's producer fields, read from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_seq: i32,
    pub last_seq: i32,
    pub max_timestamp: i64,
}

impl ProducerBatch {
    /// The producer fields of a batch, or `None` for a batch without a producer id.
    pub fn of(header: &BatchHeader) -> Option<Self> {
        (header.producer_id() >= 0).then(|| Self {
            producer_id: header.producer_id(),
            epoch: header.producer_epoch(),
            first_seq: header.base_sequence(),
            last_seq: increment_sequence(header.base_sequence(), header.last_offset_delta()),
            max_timestamp: header.max_timestamp(),
        })
    }
}

/// The base sequence of a batch outside any sequence: transaction markers and the records
/// coordinators write on a producer's behalf (Kafka's `RecordBatch.NO_SEQUENCE`).
pub const NO_SEQUENCE: i32 = -1;

/// The sequence `increment` after `sequence`, wrapping from `i32::MAX` to 0 as Kafka's do.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

fn in_sequence(last_seq: i32, next_seq: i32) -> bool {
    i64::from(next_seq) == i64::from(last_seq) + 1 || (next_seq == 0 && last_seq == i32::MAX)
}

/// The producer state of one partition.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStateManager {
    pub fn entry(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// The remembered batch `batch` repeats, if it is a retry of one of the producer's last
    /// five (same epoch and sequence range).
    pub fn find_duplicate(&self, batch: &ProducerBatch) -> Option<BatchMetadata> {
        if batch.first_seq == NO_SEQUENCE {
            return None;
        }
        let entry = self.producers.get(&batch.producer_id)?;
        if entry.epoch != batch.epoch {
            return None;
        }
        entry
            .batches
            .iter()
            .find(|b| b.first_seq == batch.first_seq && b.last_seq == batch.last_seq)
            .copied()
    }

    /// Checks that `batch` may follow what the producer wrote before (Kafka's
    /// `checkProducerEpoch` and `checkSequence`).
    pub fn check(&self, batch: &ProducerBatch) -> Result<(), ProducerError> {
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            return Ok(());
        };
        if batch.epoch < entry.epoch {
            return Err(ProducerError::InvalidProducerEpoch {
                producer_id: batch.producer_id,
                epoch: batch.epoch,
                current: entry.epoch,
            });
        }
        // Markers and coordinator writes only fence older epochs; they carry no sequence.
        if batch.first_seq == NO_SEQUENCE {
            return Ok(());
        }
        let out_of_order = || ProducerError::OutOfOrderSequence {
            producer_id: batch.producer_id,
            epoch: batch.epoch,
            first_seq: batch.first_seq,
            last_seq: entry.last_seq(),
        };
        if batch.epoch != entry.epoch {
            // A new epoch starts its sequences over.
            return match batch.first_seq {
                0 => Ok(()),
                _ => Err(out_of_order()),
            };
        }
        match entry.last_seq() {
            Some(last) if !in_sequence(last, batch.first_seq) => Err(out_of_order()),
            _ => Ok(()),
        }
    }

    /// Judges the producer batches of one append, each with the offsets it would get: a
    /// duplicate of a remembered batch makes the whole append a duplicate (as Kafka's
    /// `UnifiedLog` does), otherwise every batch must pass [`Self::check`] after the ones
    /// before it. Only the entries of producers in the append are copied.
    pub fn validate_append(&self, batches: &[(ProducerBatch, i64, i64)]) -> Result<Validated, ProducerError> {
        let mut staged = ProducerStateManager::default();
        for (batch, first_offset, last_offset) in batches {
            let id = batch.producer_id;
            if let (false, Some(entry)) = (staged.producers.contains_key(&id), self.producers.get(&id)) {
                staged.producers.insert(id, entry.clone());
            }
            if let Some(duplicate) = staged.find_duplicate(batch) {
                return Ok(Validated::Duplicate(duplicate));
            }
            staged.check(batch)?;
            staged.record(batch, *first_offset, *last_offset);
        }
        Ok(Validated::Append)
    }

    /// Records a batch written at `first_offset..=last_offset` (after [`Self::check`], or
    /// when replaying the log, which records what is there without checking it).
    pub fn record(&mut self, batch: &ProducerBatch, first_offset: i64, last_offset: i64) {
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch: batch.epoch,
                batches: VecDeque::with_capacity(BATCHES_REMEMBERED),
                last_timestamp: batch.max_timestamp,
            });
        if entry.epoch != batch.epoch {
            entry.epoch = batch.epoch;
            entry.batches.clear();
        }
        entry.last_timestamp = batch.max_timestamp;
        if batch.first_seq == NO_SEQUENCE {
            // A marker at a new epoch fences the old one; the next data batch starts at 0.
            return;
        }
        entry.push(BatchMetadata {
            first_seq: batch.first_seq,
            last_seq: batch.last_seq,
            first_offset,
            last_offset,
        });
    }

    /// Forgets producers whose last batch is older than `expiration_ms` (Kafka's
    /// `producer.id.expiration.ms`); returns how many.
    pub fn remove_expired(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers
            .retain(|_, entry| now_ms.saturating_sub(entry.last_timestamp) < expiration_ms);
        before - self.producers.len()
    }

    /// Forgets batches at or past `offset` (after a truncation); producers left without a
    /// batch are dropped.
    pub fn truncate_to(&mut self, offset: i64) {
        for entry in self.producers.values_mut() {
            entry.batches.retain(|b| b.last_offset < offset);
        }
        self.producers.retain(|_, entry| !entry.batches.is_empty());
    }

    pub fn clear(&mut self) {
        self.producers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PID: i64 = 7;

    fn batch(epoch: i16, first_seq: i32, records: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id: PID,
            epoch,
            first_seq,
            last_seq: increment_sequence(first_seq, records - 1),
            max_timestamp: 1_000,
        }
    }

    /// Checks and records `batch` at the given offset, as an append does.
    fn append(state: &mut ProducerStateManager, batch: ProducerBatch, first_offset: i64) -> Result<(), ProducerError> {
        state.check(&batch)?;
        let (first, last) = (i64::from(batch.first_seq), i64::from(batch.last_seq));
        let records = if last >= first {
            last - first + 1
        } else {
            last + i64::from(i32::MAX) - first + 2
        };
        state.record(&batch, first_offset, first_offset + records - 1);
        Ok(())
    }

    #[test]
    fn a_retry_of_one_of_the_last_five_batches_is_a_duplicate() {
        let mut state = ProducerStateManager::default();
        for i in 0..7 {
            append(&mut state, batch(0, i * 10, 10), i64::from(i) * 10).unwrap();
        }
        assert_eq!(state.find_duplicate(&batch(0, 0, 10)), None, "forgotten after five");
        assert_eq!(state.find_duplicate(&batch(0, 10, 10)), None);
        let duplicate = state.find_duplicate(&batch(0, 20, 10)).unwrap();
        assert_eq!((duplicate.first_offset, duplicate.last_offset), (20, 29));
        assert_eq!(state.find_duplicate(&batch(0, 60, 10)).unwrap().first_offset, 60);
        assert_eq!(state.find_duplicate(&batch(0, 60, 5)), None, "another range");
        assert_eq!(state.find_duplicate(&batch(1, 60, 10)), None, "another epoch");
    }

    #[test]
    fn a_gap_or_a_repeat_outside_the_remembered_batches_is_out_of_order() {
        let mut state = ProducerStateManager::default();
        append(&mut state, batch(0, 0, 5), 0).unwrap();
        for first_seq in [6, 4, 0, 1] {
            assert!(matches!(
                state.check(&batch(0, first_seq, 1)),
                Err(ProducerError::OutOfOrderSequence { .. })
            ));
        }
        append(&mut state, batch(0, 5, 1), 5).unwrap();
    }

    #[test]
    fn an_older_epoch_is_refused_and_a_newer_one_starts_at_sequence_zero() {
        let mut state = ProducerStateManager::default();
        append(&mut state, batch(3, 0, 5), 0).unwrap();
        assert!(matches!(
            state.check(&batch(2, 5, 1)),
            Err(ProducerError::InvalidProducerEpoch { current: 3, .. })
        ));
        assert!(matches!(
            state.check(&batch(4, 5, 1)),
            Err(ProducerError::OutOfOrderSequence { .. })
        ));
        append(&mut state, batch(4, 0, 2), 5).unwrap();
        let entry = state.entry(PID).unwrap();
        assert_eq!(
            (entry.epoch, entry.batches.len()),
            (4, 1),
            "the bump resets the batches"
        );
        assert_eq!(state.find_duplicate(&batch(3, 0, 5)), None);
        append(&mut state, batch(4, 2, 1), 7).unwrap();
    }

    #[test]
    fn batches_without_a_sequence_only_fence_older_epochs() {
        let mut state = ProducerStateManager::default();
        append(&mut state, batch(0, 0, 5), 0).unwrap();
        let marker = |epoch| ProducerBatch {
            first_seq: NO_SEQUENCE,
            last_seq: NO_SEQUENCE,
            ..batch(epoch, 0, 1)
        };
        append(&mut state, marker(0), 5).unwrap();
        append(&mut state, marker(0), 6).unwrap();
        assert_eq!(state.find_duplicate(&marker(0)), None, "never a duplicate");
        append(&mut state, batch(0, 5, 1), 7).unwrap();
        append(&mut state, marker(1), 8).unwrap();
        assert!(matches!(
            state.check(&batch(0, 6, 1)),
            Err(ProducerError::InvalidProducerEpoch { current: 1, .. })
        ));
        assert!(matches!(
            state.check(&marker(0)),
            Err(ProducerError::InvalidProducerEpoch { .. })
        ));
        append(&mut state, batch(1, 0, 1), 9).unwrap();
    }

    #[test]
    fn an_unknown_producer_may_start_at_any_sequence() {
        let mut state = ProducerStateManager::default();
        append(&mut state, batch(0, 42, 3), 0).unwrap();
        append(&mut state, batch(0, 45, 1), 3).unwrap();
    }

    #[test]
    fn sequences_wrap_from_i32_max_to_zero() {
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        let mut state = ProducerStateManager::default();
        append(&mut state, batch(0, i32::MAX - 2, 3), 0).unwrap();
        assert_eq!(state.entry(PID).unwrap().batches[0].last_seq, i32::MAX);
        append(&mut state, batch(0, 0, 2), 3).unwrap();
        let spanning = batch(0, 2, 1);
        append(&mut state, spanning, 5).unwrap();
        let mut state = ProducerStateManager::default();
        let across = batch(0, i32::MAX - 1, 4);
        assert_eq!(across.last_seq, 1);
        append(&mut state, across, 0).unwrap();
        assert_eq!(state.find_duplicate(&across).unwrap().last_offset, 3);
        append(&mut state, batch(0, 2, 1), 4).unwrap();
    }

    #[test]
    fn producers_expire_and_truncation_forgets_batches() {
        let mut state = ProducerStateManager::default();
        append(&mut state, batch(0, 0, 5), 0).unwrap();
        append(&mut state, batch(0, 5, 5), 5).unwrap();
        state.truncate_to(5);
        assert_eq!(state.entry(PID).unwrap().batches.len(), 1);
        assert_eq!(state.remove_expired(1_000 + 99, 100), 0);
        assert_eq!(state.remove_expired(1_000 + 100, 100), 1);
        assert!(state.is_empty());
    }
}
