//! What the cleaner knows of transactions as it walks the log in offset order (Kafka's
//! `CleanedTransactionMetadata`): which batches belong to aborted transactions, and whether
//! a transaction marker still has records of its transaction before it.
//!
//! Aborted transactions come from the `.txnindex` files; a transaction becomes "ongoing" for
//! the walk once it reaches the transaction's first offset, and ends at its marker. A
//! transaction not listed as aborted is committed once decided, and only decided
//! transactions lie below the cleaner's bound (the last stable offset).

use crate::txn_index::AbortedTxn;
use std::collections::{HashMap, HashSet, VecDeque};
use tidelog_protocol::records::{ControlType, RecordBatch};

/// An aborted transaction the walk is inside of.
#[derive(Debug)]
struct OngoingAbort {
    txn: AbortedTxn,
    /// Whether a batch of it was seen: its marker must stay until they are all removed.
    observed: bool,
}

/// What to do with a transaction marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MarkerVerdict {
    /// No record of the transaction was seen before the marker: once its delete horizon
    /// has passed the marker may go.
    pub(crate) discardable: bool,
    /// An abort marker that stays because records of its transaction were seen keeps its
    /// `.txnindex` entry in the cleaned segment.
    pub(crate) aborted_entry: Option<AbortedTxn>,
}

#[derive(Debug)]
pub(crate) struct Transactions {
    /// Not reached yet, by first offset.
    aborted: VecDeque<AbortedTxn>,
    ongoing_aborted: HashMap<i64, OngoingAbort>,
    ongoing_committed: HashSet<i64>,
}

impl Transactions {
    pub(crate) fn new(mut aborted: Vec<AbortedTxn>) -> Self {
        aborted.sort_by_key(|txn| txn.first_offset);
        Self {
            aborted: aborted.into(),
            ongoing_aborted: HashMap::new(),
            ongoing_committed: HashSet::new(),
        }
    }

    fn reach(&mut self, offset: i64) {
        while self.aborted.front().is_some_and(|txn| txn.first_offset <= offset) {
            let txn = self.aborted.pop_front().expect("checked");
            self.ongoing_aborted
                .insert(txn.producer_id, OngoingAbort { txn, observed: false });
        }
    }

    /// Whether the data batch belongs to an aborted transaction, and so goes.
    pub(crate) fn is_aborted(&mut self, batch: &RecordBatch) -> bool {
        self.reach(batch.last_offset());
        if !batch.is_transactional() {
            return false;
        }
        match self.ongoing_aborted.get_mut(&batch.producer_id()) {
            Some(abort) => {
                abort.observed = true;
                true
            }
            None => {
                self.ongoing_committed.insert(batch.producer_id());
                false
            }
        }
    }

    /// Ends the transaction of the marker in `batch`.
    pub(crate) fn on_marker(&mut self, batch: &RecordBatch, control_type: ControlType) -> MarkerVerdict {
        self.reach(batch.last_offset());
        let producer_id = batch.producer_id();
        match control_type {
            ControlType::Abort => {
                let observed = self.ongoing_aborted.remove(&producer_id).filter(|abort| abort.observed);
                MarkerVerdict {
                    discardable: observed.is_none(),
                    aborted_entry: observed.map(|abort| abort.txn),
                }
            }
            ControlType::Commit => MarkerVerdict {
                discardable: !self.ongoing_committed.remove(&producer_id),
                aborted_entry: None,
            },
        }
    }
}
