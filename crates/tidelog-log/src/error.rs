//! What can go wrong in the storage engine. Every variant carries enough context (a path, an
//! offset) for the log line or the Kafka error code the broker derives from it.

use std::io;
use std::path::{Path, PathBuf};
use thiserror::Error;
use tidelog_protocol::records::RecordsError;

pub type Result<T, E = LogError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum LogError {
    /// A file operation failed; `context` says which operation on which path.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// Kafka's OFFSET_OUT_OF_RANGE: the offset is below the log start or past the log end.
    #[error("offset {requested} is outside the log [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        requested: i64,
        log_start: i64,
        log_end: i64,
    },
    /// A file on disk does not hold what the format requires (checkpoint or index content).
    #[error("corrupt {}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// An append was handed bytes that are not whole v2 batches; the broker validates
    /// produce requests first, so this is a bug upstream rather than bad client input.
    #[error("invalid batch at byte {position} of an append: {source}")]
    InvalidBatch {
        position: usize,
        #[source]
        source: RecordsError,
    },
    /// Kafka's RECORD_BATCH_TOO_LARGE: one append must fit in a single segment.
    #[error("append of {size} bytes does not fit in a segment of at most {segment_bytes} bytes")]
    AppendTooLarge { size: usize, segment_bytes: i32 },
    /// The producer state refuses a batch (INVALID_PRODUCER_EPOCH or
    /// OUT_OF_ORDER_SEQUENCE_NUMBER); nothing of the append was written.
    #[error(transparent)]
    Producer(#[from] crate::producer_state::ProducerError),
    #[error("empty append")]
    EmptyAppend,
    /// An append of its own to a follower's log (its leadership ended meanwhile): Kafka's
    /// NOT_LEADER_OR_FOLLOWER.
    #[error("this replica does not lead the partition")]
    NotLeader,
    /// A follower was handed batches that do not continue its log (Kafka's
    /// OffsetsOutOfOrderException): its leader's answer is not for its log end.
    #[error("a replicated batch at offset {offset} does not continue the log at {log_end_offset}")]
    OutOfOrderAppend { offset: i64, log_end_offset: i64 },
    /// A topic or partition that cannot name a directory inside a log dir.
    #[error("invalid topic-partition {0:?}")]
    InvalidTopicPartition(String),
    #[error("invalid log config: {0}")]
    InvalidConfig(String),
    /// A shutdown refused to mark the logs clean (see [`crate::LogManager::shutdown`]).
    #[error("an fsync failed while the process ran: the logs are left for recovery at the next start")]
    EarlierFlushFailed,
    /// The same partition lives in two log dirs, as Kafka refuses too.
    #[error("partition {name} found in both {} and {}", first.display(), second.display())]
    DuplicatePartition {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
}

impl LogError {
    /// `source` met doing `action` to the file at `path`.
    pub(crate) fn io(action: &str, path: &Path, source: io::Error) -> Self {
        LogError::Io {
            context: format!("{action} {}", path.display()),
            source,
        }
    }

    pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> Self {
        LogError::Corrupt {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// Attaches "what was being done to which file" to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn context(self, action: &str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context(self, action: &str, path: &Path) -> Result<T> {
        self.map_err(|source| LogError::io(action, path, source))
    }
}
