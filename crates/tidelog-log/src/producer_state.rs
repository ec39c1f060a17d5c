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
//!
//! Transactions (KIP-98) are tracked here too: a producer's first transactional batch opens
//! its transaction at that batch's offset, and a transaction marker (a control batch, the
//! only kind of batch whose record is decoded) closes it. A closed transaction stays
//! *unstable* until its marker is durable, so that the last stable offset never passes a
//! marker a crash could still take away; the first offset of the oldest unstable
//! transaction bounds what read_committed consumers may see.

use std::collections::{BTreeMap, HashMap, VecDeque};

use tidelog_protocol::records::{BatchHeader, ControlType, TxnMarker};

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
    /// The coordinator epoch of the last marker written for it (-1 before any): a marker
    /// from an older coordinator is a zombie's.
    pub coordinator_epoch: i32,
    /// Where its ongoing transaction starts, if one is open.
    pub current_txn_first_offset: Option<i64>,
}

impl ProducerEntry {
    fn new(epoch: i16, last_timestamp: i64) -> Self {
        Self {
            epoch,
            batches: VecDeque::with_capacity(BATCHES_REMEMBERED),
            last_timestamp,
            coordinator_epoch: -1,
            current_txn_first_offset: None,
        }
    }

    /// The sequence of its last record, if a batch of the current epoch is remembered.
    pub fn last_seq(&self) -> Option<i32> {
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
    /// INVALID_TXN_STATE: a non-transactional batch while the producer's transaction is
    /// open.
    #[error("producer {producer_id} wrote a non-transactional batch inside its transaction")]
    InvalidTxnState { producer_id: i64 },
    /// TRANSACTION_COORDINATOR_FENCED: a marker from a coordinator older than the one that
    /// wrote the producer's last marker.
    #[error("marker for producer {producer_id} from coordinator epoch {coordinator_epoch}, after {current}")]
    TransactionCoordinatorFenced {
        producer_id: i64,
        coordinator_epoch: i32,
        current: i32,
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

/// The batch's producer fields, read from its header (and, for a control batch, its
/// marker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_seq: i32,
    pub last_seq: i32,
    pub max_timestamp: i64,
    pub transactional: bool,
    /// Set for a control batch: the transaction marker it holds. Markers carry no sequence.
    pub marker: Option<TxnMarker>,
}

impl ProducerBatch {
    /// The producer fields of a data batch, or `None` for a batch without a producer id.
    /// A control batch needs its marker too: see [`ProducerBatch::with_marker`].
    pub fn of(header: &BatchHeader) -> Option<Self> {
        (header.producer_id() >= 0).then(|| Self {
            producer_id: header.producer_id(),
            epoch: header.producer_epoch(),
            first_seq: header.base_sequence(),
            last_seq: increment_sequence(header.base_sequence(), header.last_offset_delta()),
            max_timestamp: header.max_timestamp(),
            transactional: header.is_transactional(),
            marker: None,
        })
    }

    pub fn with_marker(self, marker: TxnMarker) -> Self {
        Self {
            marker: Some(marker),
            ..self
        }
    }
}

/// A transaction a marker ended, spanning `first_offset..=last_offset` (the marker's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub aborted: bool,
}

/// A transaction that still holds back the last stable offset: open (`end` is `None`) or
/// ended by a marker at `end` that may not be durable yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct UnstableTxn {
    producer_id: i64,
    end: Option<i64>,
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
    /// Transactions by first offset, oldest first: the first one not yet stable is the
    /// first unstable offset.
    unstable: BTreeMap<i64, UnstableTxn>,
}

impl ProducerStateManager {
    pub fn entry(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Every producer with its state (DescribeProducers), in no particular order.
    pub fn producers(&self) -> impl Iterator<Item = (i64, &ProducerEntry)> {
        self.producers.iter().map(|(id, entry)| (*id, entry))
    }

    /// The first offset of the oldest transaction that is open, or ended by a marker at or
    /// past `durable_end` (the offset below which the log is durable); `None` when every
    /// transaction is decided and durable. The last stable offset is this bounded by the
    /// high watermark.
    pub fn first_unstable_offset(&self, durable_end: i64) -> Option<i64> {
        self.unstable
            .iter()
            .find(|(_, txn)| txn.end.is_none_or(|end| end >= durable_end))
            .map(|(first, _)| *first)
    }

    /// Forgets ended transactions whose markers are below `durable_end`: they no longer
    /// hold anything back.
    pub fn forget_stable_txns(&mut self, durable_end: i64) {
        self.unstable
            .retain(|_, txn| txn.end.is_none_or(|end| end >= durable_end));
    }

    /// The last stable offset Kafka records with an aborted transaction in the transaction
    /// index: the first offset of the oldest other open transaction, else the offset after
    /// the marker.
    pub fn last_stable_offset_after(&self, completed: &CompletedTxn) -> i64 {
        self.unstable
            .iter()
            .find(|(_, txn)| txn.end.is_none() && txn.producer_id != completed.producer_id)
            .map_or(completed.last_offset + 1, |(first, _)| *first)
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
    /// `checkProducerEpoch` and `checkSequence`, and for transactions that a data batch
    /// inside an open transaction is transactional and that a marker comes from a current
    /// epoch and coordinator). A marker may carry a newer epoch: KIP-890 coordinators bump
    /// the epoch when they end a transaction.
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
        if let Some(marker) = batch.marker {
            if marker.coordinator_epoch < entry.coordinator_epoch {
                return Err(ProducerError::TransactionCoordinatorFenced {
                    producer_id: batch.producer_id,
                    coordinator_epoch: marker.coordinator_epoch,
                    current: entry.coordinator_epoch,
                });
            }
            return Ok(());
        }
        if entry.current_txn_first_offset.is_some() && !batch.transactional {
            return Err(ProducerError::InvalidTxnState {
                producer_id: batch.producer_id,
            });
        }
        // Coordinator writes on the producer's behalf (transactional offset commits) carry
        // no sequence: only their epoch is checked.
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
            if let (None, Some(duplicate)) = (batch.marker, staged.find_duplicate(batch)) {
                return Ok(Validated::Duplicate(duplicate));
            }
            staged.check(batch)?;
            staged.record(batch, *first_offset, *last_offset);
        }
        Ok(Validated::Append)
    }

    /// Records a batch written at `first_offset..=last_offset` (after [`Self::check`], or
    /// when replaying the log, which records what is there without checking it). A
    /// transactional batch opens the producer's transaction if none is; a marker ends it
    /// and returns it.
    pub fn record(&mut self, batch: &ProducerBatch, first_offset: i64, last_offset: i64) -> Option<CompletedTxn> {
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerEntry::new(batch.epoch, batch.max_timestamp));
        if entry.epoch != batch.epoch {
            entry.epoch = batch.epoch;
            entry.batches.clear();
        }
        entry.last_timestamp = batch.max_timestamp;
        if let Some(marker) = batch.marker {
            entry.coordinator_epoch = marker.coordinator_epoch;
            // A marker without an open transaction still ends one: an empty one at itself.
            let first = entry.current_txn_first_offset.take().unwrap_or(first_offset);
            self.unstable.insert(
                first,
                UnstableTxn {
                    producer_id: batch.producer_id,
                    end: Some(first_offset),
                },
            );
            return Some(CompletedTxn {
                producer_id: batch.producer_id,
                first_offset: first,
                last_offset: first_offset,
                aborted: marker.control_type == ControlType::Abort,
            });
        }
        if batch.first_seq != NO_SEQUENCE {
            entry.push(BatchMetadata {
                first_seq: batch.first_seq,
                last_seq: batch.last_seq,
                first_offset,
                last_offset,
            });
        }
        if batch.transactional && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(first_offset);
            self.unstable.insert(
                first_offset,
                UnstableTxn {
                    producer_id: batch.producer_id,
                    end: None,
                },
            );
        }
        None
    }

    /// Forgets producers whose last batch is older than `expiration_ms` (Kafka's
    /// `producer.id.expiration.ms`), but never one with an open transaction, which still
    /// holds the last stable offset; returns how many.
    pub fn remove_expired(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, entry| {
            entry.current_txn_first_offset.is_some() || now_ms.saturating_sub(entry.last_timestamp) < expiration_ms
        });
        before - self.producers.len()
    }

    /// Restores a producer read from a snapshot, with its open transaction.
    pub(crate) fn load_entry(&mut self, producer_id: i64, entry: ProducerEntry) {
        if let Some(first) = entry.current_txn_first_offset {
            self.unstable.insert(first, UnstableTxn { producer_id, end: None });
        }
        self.producers.insert(producer_id, entry);
    }

    pub fn clear(&mut self) {
        self.producers.clear();
        self.unstable.clear();
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
            transactional: false,
            marker: None,
        }
    }

    fn txn_batch(producer_id: i64, epoch: i16, first_seq: i32, records: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id,
            transactional: true,
            ..batch(epoch, first_seq, records)
        }
    }

    fn marker(producer_id: i64, epoch: i16, control_type: ControlType, coordinator_epoch: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id,
            first_seq: -1,
            last_seq: -1,
            ..txn_batch(producer_id, epoch, 0, 1)
        }
        .with_marker(TxnMarker {
            control_type,
            coordinator_epoch,
        })
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
    fn coordinator_writes_without_a_sequence_are_checked_for_their_epoch_only() {
        let mut state = ProducerStateManager::default();
        let offsets_commit = |epoch| ProducerBatch {
            first_seq: NO_SEQUENCE,
            last_seq: NO_SEQUENCE,
            transactional: true,
            ..batch(epoch, 0, 1)
        };
        append(&mut state, offsets_commit(1), 0).unwrap();
        append(&mut state, offsets_commit(1), 1).unwrap();
        assert_eq!(state.find_duplicate(&offsets_commit(1)), None, "never a duplicate");
        assert!(state.entry(PID).unwrap().batches.is_empty(), "no sequence remembered");
        assert!(matches!(
            state.check(&offsets_commit(0)),
            Err(ProducerError::InvalidProducerEpoch { current: 1, .. })
        ));
        append(&mut state, offsets_commit(2), 2).unwrap();
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
    fn producers_expire() {
        let mut state = ProducerStateManager::default();
        append(&mut state, batch(0, 0, 5), 0).unwrap();
        assert_eq!(state.remove_expired(1_000 + 99, 100), 0);
        assert_eq!(state.remove_expired(1_000 + 100, 100), 1);
        assert!(state.is_empty());
    }

    #[test]
    fn a_transaction_opens_at_its_first_batch_and_a_marker_ends_it() {
        let mut state = ProducerStateManager::default();
        append(&mut state, txn_batch(1, 0, 0, 3), 10).unwrap();
        append(&mut state, txn_batch(2, 0, 0, 2), 13).unwrap();
        append(&mut state, txn_batch(1, 0, 3, 2), 15).unwrap();
        assert_eq!(state.entry(1).unwrap().current_txn_first_offset, Some(10));
        assert_eq!(state.first_unstable_offset(0), Some(10));

        let abort = marker(1, 0, ControlType::Abort, 4);
        state.check(&abort).unwrap();
        let completed = state.record(&abort, 17, 17).unwrap();
        assert_eq!(
            completed,
            CompletedTxn {
                producer_id: 1,
                first_offset: 10,
                last_offset: 17,
                aborted: true
            }
        );
        assert_eq!(
            state.last_stable_offset_after(&completed),
            13,
            "producer 2 is still open"
        );
        let entry = state.entry(1).unwrap();
        assert_eq!((entry.current_txn_first_offset, entry.coordinator_epoch), (None, 4));
        assert_eq!(entry.last_seq(), Some(4), "a marker keeps the sequences");

        // Until its marker is durable, the ended transaction still holds the LSO back.
        assert_eq!(state.first_unstable_offset(17), Some(10));
        assert_eq!(state.first_unstable_offset(18), Some(13));
        let commit = marker(2, 0, ControlType::Commit, 4);
        let completed = state.record(&commit, 18, 18).unwrap();
        assert!(!completed.aborted);
        assert_eq!(state.last_stable_offset_after(&completed), 19);
        assert_eq!(state.first_unstable_offset(19), None);
        state.forget_stable_txns(18);
        assert_eq!(
            state.first_unstable_offset(0),
            Some(13),
            "only the durable one is forgotten"
        );
    }

    #[test]
    fn markers_are_fenced_by_producer_and_coordinator_epochs_and_may_bump_the_epoch() {
        let mut state = ProducerStateManager::default();
        append(&mut state, txn_batch(PID, 3, 0, 2), 0).unwrap();
        assert!(matches!(
            state.check(&marker(PID, 2, ControlType::Commit, 0)),
            Err(ProducerError::InvalidProducerEpoch { current: 3, .. })
        ));
        state.record(&marker(PID, 3, ControlType::Commit, 5), 2, 2).unwrap();
        assert!(matches!(
            state.check(&marker(PID, 3, ControlType::Abort, 4)),
            Err(ProducerError::TransactionCoordinatorFenced { current: 5, .. })
        ));
        // KIP-890: the coordinator bumps the epoch with the marker; sequences start over.
        let bump = marker(PID, 4, ControlType::Abort, 5);
        state.check(&bump).unwrap();
        state.record(&bump, 3, 3).unwrap();
        let entry = state.entry(PID).unwrap();
        assert_eq!((entry.epoch, entry.last_seq()), (4, None));
        assert!(matches!(
            state.check(&txn_batch(PID, 3, 2, 1)),
            Err(ProducerError::InvalidProducerEpoch { .. })
        ));
        append(&mut state, txn_batch(PID, 4, 0, 1), 4).unwrap();
    }

    #[test]
    fn a_non_transactional_batch_inside_a_transaction_is_refused() {
        let mut state = ProducerStateManager::default();
        append(&mut state, txn_batch(PID, 0, 0, 1), 0).unwrap();
        assert!(matches!(
            state.check(&batch(0, 1, 1)),
            Err(ProducerError::InvalidTxnState { producer_id: PID })
        ));
        assert_eq!(
            state.remove_expired(i64::MAX, 100),
            0,
            "an open transaction never expires"
        );
    }

    #[test]
    fn a_marker_is_never_taken_for_a_retry() {
        let mut state = ProducerStateManager::default();
        let first = marker(PID, 0, ControlType::Abort, 0);
        assert_eq!(state.validate_append(&[(first, 0, 0)]), Ok(Validated::Append));
        state.record(&first, 0, 0);
        assert_eq!(state.validate_append(&[(first, 1, 1)]), Ok(Validated::Append));
    }
}
