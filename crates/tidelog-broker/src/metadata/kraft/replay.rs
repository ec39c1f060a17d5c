//! Records applied to the image in offset order, honouring metadata transactions (KIP-868):
//! the records between a `BeginTransactionRecord` and its `EndTransactionRecord` apply
//! together at the end, and never after an `AbortTransactionRecord`. Control records are
//! the quorum's, outside any transaction: they apply at once.

use std::path::Path;

use tidelog_protocol::metadata::{MetadataLogRecord, MetadataRecord};

use super::error::KraftError;
use super::image::{KraftImage, Provenance};

#[derive(Default)]
pub(crate) struct Replay {
    image: KraftImage,
    transaction: Option<Transaction>,
}

/// A metadata transaction not ended yet: where it began, and its records so far.
struct Transaction {
    begin: i64,
    records: Vec<(i64, MetadataRecord)>,
}

/// A record the image refuses, at `offset`.
pub(crate) struct ReplayError {
    offset: i64,
    reason: String,
}

impl ReplayError {
    /// Why the record was refused, and at which offset.
    pub(crate) fn into_message(self) -> String {
        format!("the record at offset {} is refused: {}", self.offset, self.reason)
    }

    pub(super) fn in_file(self, path: &Path) -> KraftError {
        KraftError::Replay {
            path: path.to_path_buf(),
            offset: self.offset,
            reason: self.reason,
        }
    }
}

impl Replay {
    /// Replays `record` at `offset`, from a batch of leader epoch `epoch`.
    pub(crate) fn record(&mut self, offset: i64, epoch: i32, record: MetadataLogRecord) -> Result<(), ReplayError> {
        let refused = |offset, reason| ReplayError { offset, reason };
        let record = match record {
            MetadataLogRecord::Control(control) => {
                self.image.apply_control(epoch, &control);
                self.advance(offset, epoch);
                return Ok(());
            }
            MetadataLogRecord::Metadata(versioned) => versioned.record,
        };
        match (&record, &mut self.transaction) {
            (MetadataRecord::BeginTransactionRecord(_), None) => {
                self.transaction = Some(Transaction {
                    begin: offset,
                    records: Vec::new(),
                });
            }
            (MetadataRecord::BeginTransactionRecord(_), Some(open)) => {
                return Err(refused(
                    offset,
                    format!("a transaction begins inside the one begun at {}", open.begin),
                ));
            }
            (MetadataRecord::EndTransactionRecord(_) | MetadataRecord::AbortTransactionRecord(_), None) => {
                return Err(refused(offset, "a transaction ends that never began".into()));
            }
            (MetadataRecord::EndTransactionRecord(_), Some(_)) => {
                let Transaction { records, .. } = self.transaction.take().expect("matched");
                for (offset, record) in records {
                    self.image.apply(record).map_err(|reason| refused(offset, reason))?;
                }
                self.advance(offset, epoch);
            }
            (MetadataRecord::AbortTransactionRecord(_), Some(_)) => {
                self.transaction = None;
                self.advance(offset, epoch);
            }
            (_, Some(open)) => open.records.push((offset, record)),
            (_, None) => {
                self.image.apply(record).map_err(|reason| refused(offset, reason))?;
                self.advance(offset, epoch);
            }
        }
        Ok(())
    }

    /// The image takes in everything up to `offset`, unless a transaction is still open.
    pub(crate) fn advance(&mut self, offset: i64, epoch: i32) {
        if self.transaction.is_none() {
            self.image.set_provenance(Provenance { offset, epoch });
        }
    }

    /// Where the transaction still open began, if one is.
    pub(crate) fn open_transaction(&self) -> Option<i64> {
        self.transaction.as_ref().map(|t| t.begin)
    }

    /// Sets where the image stands, after a snapshot whose own offsets count from 0.
    pub(crate) fn set_provenance(&mut self, provenance: Provenance) {
        self.image.set_provenance(provenance);
    }

    pub(crate) fn image(&self) -> &KraftImage {
        &self.image
    }

    pub(super) fn into_image(self) -> KraftImage {
        self.image
    }
}
