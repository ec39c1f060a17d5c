//! Why a KRaft metadata directory could not be loaded. Every error names the file.

use std::io;
use std::path::PathBuf;

use thiserror::Error;
use tidelog_log::LogError;
use tidelog_protocol::metadata::MetadataError;
use tidelog_protocol::records::RecordsError;
use tidelog_protocol::EncodeError;

#[derive(Debug, Error)]
pub enum KraftError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// The log's segments (written through `tidelog-log`) or one of its small files.
    #[error("{}: {source}", path.display())]
    Log { path: PathBuf, source: LogError },
    /// A record the writer was handed cannot be encoded (a field its version lacks).
    #[error("{}: cannot encode a record: {source}", path.display())]
    Encode { path: PathBuf, source: EncodeError },
    /// Kafka renames a snapshot to `.checkpoint` only once it is whole, so a damaged one is
    /// not a torn write: nothing may be guessed in its place.
    #[error("corrupt snapshot {}: {damage}", path.display())]
    CorruptSnapshot { path: PathBuf, damage: SnapshotDamage },
    /// An intact batch holding a record this version cannot read: an unknown type or
    /// version, a malformed message.
    #[error("{}: batch at offset {offset}: {source}", path.display())]
    Record {
        path: PathBuf,
        offset: i64,
        source: MetadataError,
    },
    /// A record that contradicts the image: a partition of an unknown topic, a transaction
    /// ended that never began, ...
    #[error("{}: record at offset {offset}: {reason}", path.display())]
    Replay { path: PathBuf, offset: i64, reason: String },
    /// A batch of the log that is cut short or damaged where no crash leaves one: after a
    /// clean shutdown, or before the last segment's end.
    #[error("{}: the batch at byte {position} is damaged ({reason}); nothing was changed", path.display())]
    Damaged {
        path: PathBuf,
        position: u64,
        reason: RecordsError,
    },
    /// The log does not continue where the snapshot or the previous batch ended: records
    /// are missing (or repeated), which no crash leaves behind.
    #[error("{}: the batch at byte {position} starts at offset {found}, where offset {expected} was due", path.display())]
    Discontinuity {
        path: PathBuf,
        position: u64,
        expected: i64,
        found: i64,
    },
}

/// What is wrong with a snapshot file.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SnapshotDamage {
    #[error("batch at byte {position}: {reason}")]
    Batch { position: u64, reason: RecordsError },
    #[error("it does not start with a snapshot header")]
    NoHeader,
    #[error("it does not end with a snapshot footer")]
    NoFooter,
    #[error("a snapshot header or footer at position {0}, inside it")]
    Misplaced(i64),
    #[error("the metadata transaction begun at position {0} does not end in it")]
    OpenTransaction(i64),
}
