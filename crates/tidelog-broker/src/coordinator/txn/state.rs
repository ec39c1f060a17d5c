//! One transactional id's state machine, as Kafka's transaction coordinator runs it
//! (KIP-98): pure transitions from the current metadata to the next, which the
//! coordinator writes to `__transaction_state` before it counts. No I/O here, so every
//! rule is testable on its own.
//!
//! ```text
//! Empty ──AddPartitions──► Ongoing ──EndTxn──► PrepareCommit ──markers──► CompleteCommit
//!   ▲                        │  └────EndTxn/timeout──► PrepareAbort ──markers──► CompleteAbort
//!   └──────InitProducerId (epoch + 1) from Empty or Complete*──────────────────────┘
//! ```
//!
//! Transactions v2 (KIP-890 part 2, [`TV_2`]) change two things: partitions join
//! implicitly (the partition leader adds them when a Produce v12 batch arrives, the group
//! coordinator at a TxnOffsetCommit v5), and every EndTxn bumps the producer epoch
//! ([`TxnMetadata::end_bumping`]): the markers carry the new epoch, which fences every
//! batch of the transaction still in flight, and the producer goes on with it. When the
//! epoch is exhausted the transaction ends at the last epoch and the producer goes on
//! with a new producer id at epoch 0.

use std::collections::BTreeSet;

use tidelog_protocol::ErrorCode;

/// Kafka's ClientTransactionVersion of a transaction ended or added to by a client of
/// transactions v1 (AddPartitionsToTxn, EndTxn up to v4): no epoch bump at the end.
pub const TV_0: i16 = 0;
/// The client transaction version of transactions v2 (Produce v12, TxnOffsetCommit v5,
/// AddPartitionsToTxn v5 from a partition leader, EndTxn v5).
pub const TV_2: i16 = 2;

/// No producer id (Kafka's NO_PRODUCER_ID).
pub const NO_PRODUCER_ID: i64 = -1;

/// A transaction's state, with Kafka's ids (the `TransactionStatus` byte of
/// `__transaction_state` values) and names (DescribeTransactions, ListTransactions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    /// Kafka's in-between state while it fences a producer by aborting with a bumped
    /// epoch; read from logs Kafka wrote, completed as an abort.
    PrepareEpochFence,
}

const STATES: [TxnState; 8] = [
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
    TxnState::Dead,
    TxnState::PrepareEpochFence,
];

impl TxnState {
    pub fn id(self) -> i8 {
        STATES.iter().position(|s| *s == self).expect("every state is listed") as i8
    }

    pub fn from_id(id: i8) -> Option<TxnState> {
        usize::try_from(id).ok().and_then(|i| STATES.get(i).copied())
    }

    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub fn from_name(name: &str) -> Option<TxnState> {
        STATES.iter().copied().find(|s| s.name() == name)
    }

    /// Waiting for its markers: the coordinator finishes these, also after a restart.
    pub fn is_preparing(self) -> bool {
        matches!(
            self,
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence
        )
    }
}

/// What the coordinator knows of one transactional id.
#[derive(Debug, Clone, PartialEq)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump (-1 if none since start; not written to the log, as
    /// in Kafka): a producer still holding it may re-init (KIP-360), to recover after the
    /// coordinator aborted its transaction, or to retry an InitProducerId whose answer it
    /// lost.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// The partitions written in the current (or last) transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// When the current transaction began; -1 before the first.
    pub start_ms: i64,
    pub last_update_ms: i64,
    /// The transaction version of the client that ran the current (or last) transaction,
    /// [`TV_0`] or [`TV_2`].
    pub client_version: i16,
    /// The producer id before the last one, after an EndTxn moved to a new one because the
    /// epoch was exhausted: a retry of that EndTxn still carries it.
    pub previous_producer_id: i64,
    /// While a transaction that exhausted the epoch ends: the producer id the producer
    /// goes on with, at epoch 0, once the markers are written.
    pub next_producer_id: i64,
}

/// What InitProducerId leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum Init {
    /// The producer may go on with this id and epoch.
    Ready,
    /// A transaction of the previous epoch is open: it is aborted at a bumped epoch (which
    /// fences its producer) and the caller retries once it completes.
    AbortFirst,
}

/// What EndTxn leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The Prepare state is to be written, then the markers.
    Prepare,
    /// A retry of an EndTxn already completed.
    AlreadyDone,
}

impl TxnMetadata {
    /// A transactional id seen for the first time, at epoch 0 of a new producer id.
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> TxnMetadata {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            producer_epoch: 0,
            last_producer_epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now_ms,
            client_version: TV_0,
            previous_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
        }
    }

    /// Whether `(producer_id, epoch)` is the producer id an EndTxn v5 just left behind at
    /// its exhausted epoch: the producer did not learn of the new one.
    fn holds_exhausted_previous(&self, producer_id: i64, epoch: i16) -> bool {
        self.previous_producer_id != NO_PRODUCER_ID
            && producer_id == self.previous_producer_id
            && epoch >= i16::MAX - 1
            && self.producer_epoch == 0
    }

    /// The producer id and epoch the producer uses once this transaction completes (what
    /// EndTxn v5 answers).
    pub fn ids_after_completion(&self) -> (i64, i16) {
        match self.next_producer_id {
            NO_PRODUCER_ID => (self.producer_id, self.producer_epoch),
            next => (next, 0),
        }
    }

    /// Checks the id and epoch a request carries against the current ones.
    fn check_producer(&self, producer_id: i64, producer_epoch: i16) -> Result<(), ErrorCode> {
        if producer_id != self.producer_id {
            return Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING);
        }
        if producer_epoch != self.producer_epoch {
            return Err(ErrorCode::PRODUCER_FENCED);
        }
        Ok(())
    }

    /// InitProducerId for an id already known. `expected` is the id and epoch the producer
    /// holds (KIP-360, v3+); `new_producer_id` gives a fresh id when the epoch cannot grow.
    pub fn init(
        &self,
        expected: Option<(i64, i16)>,
        timeout_ms: i32,
        now_ms: i64,
        new_producer_id: impl FnOnce() -> Result<i64, ErrorCode>,
    ) -> Result<(TxnMetadata, Init), ErrorCode> {
        // The producer holds the epoch before the last bump, or the id an EndTxn v5 left at
        // its exhausted epoch: it keeps the current one.
        let mut holds_last = false;
        if let Some((id, epoch)) = expected {
            holds_last = (self.last_producer_epoch >= 0 && (id, epoch) == (self.producer_id, self.last_producer_epoch))
                || self.holds_exhausted_previous(id, epoch);
            if (id, epoch) != (self.producer_id, self.producer_epoch) && !holds_last {
                return Err(ErrorCode::PRODUCER_FENCED);
            }
        }
        match self.state {
            TxnState::Ongoing => Ok((self.fence_and_abort(now_ms), Init::AbortFirst)),
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let mut next = self.clone();
                if holds_last {
                    // No bump: the current epoch is the one it is to use.
                } else if self.producer_epoch >= i16::MAX - 1 {
                    next.producer_id = new_producer_id()?;
                    next.producer_epoch = 0;
                    next.last_producer_epoch = -1;
                } else {
                    next.last_producer_epoch = self.producer_epoch;
                    next.producer_epoch += 1;
                }
                next.state = TxnState::Empty;
                next.partitions.clear();
                next.timeout_ms = timeout_ms;
                next.last_update_ms = now_ms;
                Ok((next, Init::Ready))
            }
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence | TxnState::Dead => {
                Err(ErrorCode::CONCURRENT_TRANSACTIONS)
            }
        }
    }

    /// The abort of an open transaction at the next epoch, so that the producer holding the
    /// current one is fenced (a newer producer took over, or the transaction timed out).
    pub fn fence_and_abort(&self, now_ms: i64) -> TxnMetadata {
        let mut next = self.clone();
        next.last_producer_epoch = self.producer_epoch;
        next.producer_epoch = self.producer_epoch.saturating_add(1).min(i16::MAX - 1);
        next.state = TxnState::PrepareAbort;
        next.last_update_ms = now_ms;
        next
    }

    /// The metadata to change for work in a transaction: a copy of the ongoing one, or,
    /// outside one, of a new transaction starting at `now_ms` with no partitions (the last
    /// transaction's are kept until then, for DescribeTransactions).
    fn in_transaction(&self, now_ms: i64) -> TxnMetadata {
        let mut next = self.clone();
        if self.state != TxnState::Ongoing {
            next.partitions.clear();
            next.start_ms = now_ms;
        }
        next
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, and the implicit adds of transactions v2,
    /// `client_version` [`TV_2`]): `None` when every partition is in the ongoing
    /// transaction already, so nothing needs writing.
    pub fn add_partitions(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
        client_version: i16,
        now_ms: i64,
    ) -> Result<Option<TxnMetadata>, ErrorCode> {
        self.check_producer(producer_id, producer_epoch)?;
        match self.state {
            TxnState::Ongoing if partitions.iter().all(|p| self.partitions.contains(p)) => Ok(None),
            TxnState::Ongoing | TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let mut next = self.in_transaction(now_ms);
                next.partitions.extend(partitions.iter().cloned());
                next.state = TxnState::Ongoing;
                next.client_version = client_version;
                next.last_update_ms = now_ms;
                Ok(Some(next))
            }
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
                Err(ErrorCode::CONCURRENT_TRANSACTIONS)
            }
            TxnState::Dead => Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING),
        }
    }

    /// Whether `producer_id` at `producer_epoch` may write to `partition` now (KIP-890
    /// verification): only inside its ongoing transaction, after adding the partition.
    pub fn verify(&self, producer_epoch: i16, partition: &(String, i32)) -> Result<(), ErrorCode> {
        if producer_epoch < self.producer_epoch {
            return Err(ErrorCode::INVALID_PRODUCER_EPOCH);
        }
        match self.state == TxnState::Ongoing
            && producer_epoch == self.producer_epoch
            && self.partitions.contains(partition)
        {
            true => Ok(()),
            false => Err(ErrorCode::INVALID_TXN_STATE),
        }
    }

    /// EndTxn: from Ongoing to PrepareCommit or PrepareAbort.
    pub fn end(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        now_ms: i64,
    ) -> Result<(TxnMetadata, End), ErrorCode> {
        self.check_producer(producer_id, producer_epoch)?;
        if self.state != TxnState::Ongoing {
            return self.retried_end(commit).unwrap_or(Err(ErrorCode::INVALID_TXN_STATE));
        }
        let mut next = self.clone();
        next.state = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        next.last_update_ms = now_ms;
        Ok((next, End::Prepare))
    }

    /// The answer to a retry of the EndTxn that led to the current state, `None` when
    /// the state is not one an EndTxn asking for `commit` leads to. Shared by [`Self::end`]
    /// and [`Self::end_bumping`], which differ only in what they answer otherwise.
    fn retried_end(&self, commit: bool) -> Option<Result<(TxnMetadata, End), ErrorCode>> {
        match (self.state, commit) {
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {
                Some(Ok((self.clone(), End::AlreadyDone)))
            }
            // Its markers are being written.
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Some(Err(ErrorCode::CONCURRENT_TRANSACTIONS))
            }
            _ => None,
        }
    }

    /// EndTxn v5 (transactions v2): from Ongoing to PrepareCommit or PrepareAbort at the
    /// next epoch, which the markers carry. An abort is accepted with no transaction open
    /// too (the producer's first batches may all have failed), so its epoch still moves on
    /// past any batch in flight. At an exhausted epoch, `new_producer_id` gives the id the
    /// producer goes on with. A retry of an EndTxn whose answer was lost carries the
    /// epoch (or producer id) from before the bump.
    pub fn end_bumping(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        now_ms: i64,
        new_producer_id: impl FnOnce() -> Result<i64, ErrorCode>,
    ) -> Result<(TxnMetadata, End), ErrorCode> {
        let bumped_by_last_end = self.client_version == TV_2
            && ((producer_id == self.producer_id && producer_epoch.checked_add(1) == Some(self.producer_epoch))
                || self.holds_exhausted_previous(producer_id, producer_epoch));
        if bumped_by_last_end {
            return self.retried_end(commit).unwrap_or(Err(ErrorCode::PRODUCER_FENCED));
        }
        self.check_producer(producer_id, producer_epoch)?;
        let prepared = match (self.state, commit) {
            (TxnState::Ongoing, true) => TxnState::PrepareCommit,
            (TxnState::Ongoing, false) => TxnState::PrepareAbort,
            (TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort, false) => TxnState::PrepareAbort,
            (TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence, _) => {
                return Err(ErrorCode::CONCURRENT_TRANSACTIONS)
            }
            _ => return Err(ErrorCode::INVALID_TXN_STATE),
        };
        let mut next = self.in_transaction(now_ms);
        if self.producer_epoch >= i16::MAX - 1 {
            next.next_producer_id = new_producer_id()?;
        }
        next.state = prepared;
        next.client_version = TV_2;
        next.last_producer_epoch = self.producer_epoch;
        next.producer_epoch = self.producer_epoch.saturating_add(1);
        next.last_update_ms = now_ms;
        Ok((next, End::Prepare))
    }

    /// The Complete state once every marker is durable. The partitions are kept, so that
    /// DescribeTransactions shows what the last transaction wrote. A transaction that
    /// exhausted the epoch hands over to its next producer id here.
    pub fn complete(&self, now_ms: i64) -> TxnMetadata {
        let mut next = self.clone();
        next.state = match self.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            _ => TxnState::CompleteAbort,
        };
        if self.next_producer_id != NO_PRODUCER_ID {
            next.previous_producer_id = self.producer_id;
            next.producer_id = self.next_producer_id;
            next.producer_epoch = 0;
            next.last_producer_epoch = -1;
            next.next_producer_id = NO_PRODUCER_ID;
        }
        next.last_update_ms = now_ms;
        next
    }

    /// An ongoing transaction open for longer than its timeout.
    pub fn is_timed_out(&self, now_ms: i64) -> bool {
        self.state == TxnState::Ongoing && now_ms > self.start_ms.saturating_add(i64::from(self.timeout_ms))
    }

    /// A transactional id unused for `expiration_ms` (`transactional.id.expiration.ms`),
    /// which is forgotten.
    pub fn is_expired(&self, now_ms: i64, expiration_ms: i64) -> bool {
        matches!(
            self.state,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        ) && now_ms.saturating_sub(self.last_update_ms) >= expiration_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> (String, i32) {
        ("t".to_string(), p)
    }

    fn no_new_id() -> Result<i64, ErrorCode> {
        panic!("no new producer id expected")
    }

    #[test]
    fn states_keep_kafkas_ids_and_names() {
        for (id, state) in STATES.iter().enumerate() {
            assert_eq!(TxnState::from_id(id as i8), Some(*state));
            assert_eq!(TxnState::from_name(state.name()), Some(*state));
        }
        assert_eq!(TxnState::PrepareEpochFence.id(), 7);
        assert_eq!(TxnState::from_id(8), None);
    }

    #[test]
    fn a_transaction_goes_from_empty_through_ongoing_to_complete() {
        let txn = TxnMetadata::new("tx", 7, 60_000, 1_000);
        let ongoing = txn.add_partitions(7, 0, &[tp(0)], TV_0, 2_000).unwrap().unwrap();
        assert_eq!((ongoing.state, ongoing.start_ms), (TxnState::Ongoing, 2_000));
        assert_eq!(
            ongoing.add_partitions(7, 0, &[tp(0)], TV_0, 2_500),
            Ok(None),
            "nothing new"
        );
        let more = ongoing.add_partitions(7, 0, &[tp(1)], TV_0, 3_000).unwrap().unwrap();
        assert_eq!(more.partitions.len(), 2);
        assert_eq!(more.start_ms, 2_000, "still the same transaction");
        assert_eq!(more.verify(0, &tp(1)), Ok(()));
        assert_eq!(more.verify(0, &tp(2)), Err(ErrorCode::INVALID_TXN_STATE));

        let (prepared, end) = more.end(7, 0, true, 4_000).unwrap();
        assert_eq!((prepared.state, end), (TxnState::PrepareCommit, End::Prepare));
        assert!(prepared.state.is_preparing());
        assert_eq!(
            prepared.add_partitions(7, 0, &[tp(2)], TV_0, 4_100),
            Err(ErrorCode::CONCURRENT_TRANSACTIONS)
        );
        assert_eq!(prepared.end(7, 0, true, 4_100), Err(ErrorCode::CONCURRENT_TRANSACTIONS));
        assert_eq!(prepared.end(7, 0, false, 4_100), Err(ErrorCode::INVALID_TXN_STATE));
        let done = prepared.complete(5_000);
        assert_eq!(done.state, TxnState::CompleteCommit);
        assert_eq!(done.end(7, 0, true, 5_100).unwrap().1, End::AlreadyDone, "a retry");
        assert_eq!(done.verify(0, &tp(0)), Err(ErrorCode::INVALID_TXN_STATE));

        let next = done.add_partitions(7, 0, &[tp(3)], TV_0, 6_000).unwrap().unwrap();
        assert_eq!(
            next.partitions.iter().collect::<Vec<_>>(),
            [&tp(3)],
            "a new transaction"
        );
        assert_eq!(next.start_ms, 6_000);
        let (aborting, _) = next.end(7, 0, false, 7_000).unwrap();
        assert_eq!(aborting.complete(7_100).state, TxnState::CompleteAbort);
    }

    #[test]
    fn reinit_bumps_the_epoch_and_fences_older_ones() {
        let txn = TxnMetadata::new("tx", 7, 60_000, 0);
        let (bumped, init) = txn.init(None, 30_000, 10, no_new_id).unwrap();
        assert_eq!(
            (bumped.producer_epoch, bumped.timeout_ms, init),
            (1, 30_000, Init::Ready)
        );
        assert_eq!(
            bumped.add_partitions(7, 0, &[tp(0)], TV_0, 20),
            Err(ErrorCode::PRODUCER_FENCED)
        );
        assert_eq!(bumped.end(7, 0, true, 20), Err(ErrorCode::PRODUCER_FENCED));
        assert_eq!(bumped.end(8, 1, true, 20), Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING));
        let (twice, _) = bumped.init(Some((7, 1)), 30_000, 20, no_new_id).unwrap();
        assert_eq!(twice.producer_epoch, 2, "KIP-360: the current epoch is bumped");
        assert_eq!(
            twice.init(Some((7, 0)), 30_000, 20, no_new_id),
            Err(ErrorCode::PRODUCER_FENCED),
            "KIP-360: an older epoch"
        );
        assert_eq!(bumped.verify(0, &tp(0)), Err(ErrorCode::INVALID_PRODUCER_EPOCH));

        let mut exhausted = bumped.clone();
        exhausted.producer_epoch = i16::MAX - 1;
        let (renewed, _) = exhausted.init(None, 30_000, 30, || Ok(1_000)).unwrap();
        assert_eq!((renewed.producer_id, renewed.producer_epoch), (1_000, 0));
    }

    #[test]
    fn reinit_during_a_transaction_aborts_it_at_a_bumped_epoch() {
        let ongoing = TxnMetadata::new("tx", 7, 60_000, 0)
            .add_partitions(7, 0, &[tp(0)], TV_0, 10)
            .unwrap()
            .unwrap();
        let (aborting, init) = ongoing.init(None, 60_000, 20, no_new_id).unwrap();
        assert_eq!(init, Init::AbortFirst);
        assert_eq!((aborting.state, aborting.producer_epoch), (TxnState::PrepareAbort, 1));
        assert_eq!(
            aborting.init(None, 60_000, 30, no_new_id),
            Err(ErrorCode::CONCURRENT_TRANSACTIONS)
        );
        let (ready, init) = aborting.complete(40).init(None, 60_000, 50, no_new_id).unwrap();
        assert_eq!(
            (ready.producer_epoch, init, ready.state),
            (2, Init::Ready, TxnState::Empty)
        );
    }

    #[test]
    fn only_ongoing_transactions_time_out_and_only_idle_ids_expire() {
        let txn = TxnMetadata::new("tx", 7, 1_000, 0);
        assert!(!txn.is_timed_out(5_000));
        let ongoing = txn.add_partitions(7, 0, &[tp(0)], TV_0, 100).unwrap().unwrap();
        assert!(!ongoing.is_timed_out(1_100));
        assert!(ongoing.is_timed_out(1_101));
        let fenced = ongoing.fence_and_abort(1_200);
        assert_eq!((fenced.state, fenced.producer_epoch), (TxnState::PrepareAbort, 1));
        // KIP-360: the timed-out producer re-inits with the epoch it holds and goes on with
        // the one the abort bumped to; an older epoch still is fenced.
        let (resumed, init) = fenced
            .complete(1_300)
            .init(Some((7, 0)), 1_000, 1_400, no_new_id)
            .unwrap();
        assert_eq!(
            (resumed.producer_epoch, resumed.state, init),
            (1, TxnState::Empty, Init::Ready)
        );
        let (bumped, _) = resumed.init(Some((7, 1)), 1_000, 1_500, no_new_id).unwrap();
        assert_eq!(bumped.producer_epoch, 2);
        assert_eq!(
            bumped.init(Some((7, 0)), 1_000, 1_600, no_new_id),
            Err(ErrorCode::PRODUCER_FENCED)
        );
        assert_eq!(
            bumped
                .init(Some((7, 1)), 1_000, 1_600, no_new_id)
                .unwrap()
                .0
                .producer_epoch,
            2,
            "a retry of the last InitProducerId gets the same epoch"
        );
        assert!(!ongoing.is_expired(1_000_000, 10));
        assert!(txn.is_expired(10, 10));
        assert!(!txn.is_expired(9, 10));
    }

    #[test]
    fn transactions_v2_bump_the_epoch_at_every_end() {
        let txn = TxnMetadata::new("tx", 7, 60_000, 0);
        let ongoing = txn.add_partitions(7, 0, &[tp(0)], TV_2, 10).unwrap().unwrap();
        assert_eq!((ongoing.state, ongoing.client_version), (TxnState::Ongoing, TV_2));
        let (committing, end) = ongoing.end_bumping(7, 0, true, 20, no_new_id).unwrap();
        assert_eq!(end, End::Prepare);
        assert_eq!(
            (
                committing.state,
                committing.producer_epoch,
                committing.last_producer_epoch
            ),
            (TxnState::PrepareCommit, 1, 0),
            "the markers carry the bumped epoch"
        );
        assert_eq!(committing.ids_after_completion(), (7, 1));
        assert_eq!(
            committing.end_bumping(7, 0, true, 25, no_new_id),
            Err(ErrorCode::CONCURRENT_TRANSACTIONS),
            "a retry while the markers are written"
        );
        let committed = committing.complete(30);
        assert_eq!((committed.producer_id, committed.producer_epoch), (7, 1));
        assert_eq!(committed.verify(0, &tp(0)), Err(ErrorCode::INVALID_PRODUCER_EPOCH));
        assert_eq!(
            committed.end_bumping(7, 0, true, 40, no_new_id).unwrap().1,
            End::AlreadyDone,
            "a retry of the EndTxn whose answer was lost"
        );
        assert_eq!(
            committed.end_bumping(7, 0, false, 40, no_new_id),
            Err(ErrorCode::PRODUCER_FENCED)
        );
        assert_eq!(
            committed.add_partitions(7, 0, &[tp(0)], TV_2, 40),
            Err(ErrorCode::PRODUCER_FENCED),
            "the old epoch cannot open a transaction"
        );

        // The next transaction, at the new epoch, then an abort.
        let next = committed.add_partitions(7, 1, &[tp(1)], TV_2, 50).unwrap().unwrap();
        assert_eq!((next.partitions.len(), next.start_ms), (1, 50));
        let (aborting, _) = next.end_bumping(7, 1, false, 60, no_new_id).unwrap();
        assert_eq!((aborting.state, aborting.producer_epoch), (TxnState::PrepareAbort, 2));

        // An abort with nothing added bumps too; a commit of nothing is refused.
        let aborted = aborting.complete(70);
        assert_eq!(
            aborted.end_bumping(7, 2, true, 80, no_new_id),
            Err(ErrorCode::INVALID_TXN_STATE)
        );
        let (empty_abort, _) = aborted.end_bumping(7, 2, false, 80, no_new_id).unwrap();
        assert_eq!(
            (
                empty_abort.state,
                empty_abort.producer_epoch,
                empty_abort.partitions.len()
            ),
            (TxnState::PrepareAbort, 3, 0)
        );
    }

    #[test]
    fn transactions_v2_move_to_a_new_producer_id_when_the_epoch_is_exhausted() {
        let mut ongoing = TxnMetadata::new("tx", 7, 60_000, 0);
        ongoing.producer_epoch = i16::MAX - 1;
        let ongoing = ongoing
            .add_partitions(7, i16::MAX - 1, &[tp(0)], TV_2, 10)
            .unwrap()
            .unwrap();
        let (committing, _) = ongoing.end_bumping(7, i16::MAX - 1, true, 20, || Ok(1_000)).unwrap();
        assert_eq!(
            (
                committing.producer_id,
                committing.producer_epoch,
                committing.next_producer_id
            ),
            (7, i16::MAX, 1_000),
            "the markers carry the last epoch of the old id"
        );
        assert_eq!(committing.ids_after_completion(), (1_000, 0));
        let committed = committing.complete(30);
        assert_eq!(
            (
                committed.producer_id,
                committed.producer_epoch,
                committed.previous_producer_id
            ),
            (1_000, 0, 7)
        );
        assert_eq!(
            committed.end_bumping(7, i16::MAX - 1, true, 40, no_new_id).unwrap().1,
            End::AlreadyDone,
            "a retry with the old id"
        );
        assert!(committed
            .add_partitions(1_000, 0, &[tp(0)], TV_2, 50)
            .unwrap()
            .is_some());
        let (resumed, _) = committed.init(Some((7, i16::MAX - 1)), 60_000, 60, no_new_id).unwrap();
        assert_eq!(
            (resumed.producer_id, resumed.producer_epoch),
            (1_000, 0),
            "KIP-360 with the old id, whose EndTxn answer was lost"
        );
        assert_eq!(
            committed.init(Some((7, 5)), 60_000, 60, no_new_id),
            Err(ErrorCode::PRODUCER_FENCED)
        );
    }
}
