//! Tidelog's storage engine: partition logs of segments in Apache Kafka's on-disk layout
//! (`<log.dir>/<topic>-<partition>/<base offset>.log|.index|.timeindex|.txnindex`, and
//! `<offset>.snapshot` for producer state), with Kafka's checkpoint files and crash recovery.
//!
//! Records are never decoded on the append and fetch paths: the log reads and rewrites v2
//! batch headers only (through `tidelog_protocol::records`) and moves bytes as they are.

mod changes;
mod checkpoint;
mod cleaner;
mod config;
mod error;
mod file_cache;
mod index_file;
#[cfg(test)]
mod kafka_fixture;
mod layout;
mod leader_epoch_checkpoint;
mod log_manager;
mod offset_index;
mod partition_log;
mod producer_snapshot;
mod producer_state;
mod segment;
mod shared_log;
mod small_file;
mod snapshot;
#[cfg(test)]
mod test_util;
mod time_index;
mod txn_index;

pub use changes::take_due_file_deletions;
pub use checkpoint::{
    CheckpointFile, Offsets, CLEANER_OFFSET_CHECKPOINT, LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT,
    REPLICATION_OFFSET_CHECKPOINT,
};
pub use cleaner::{
    clean_log, CleanSummary, Cleaned, CleanerConfig, Cleaning, Throttler, DEFAULT_DEDUPE_BUFFER_BYTES,
    DEFAULT_DELETE_RETENTION_MS, DEFAULT_IO_MAX_BYTES_PER_SECOND,
};
pub use config::{LogConfig, MIN_SEGMENT_BYTES, MIN_SEGMENT_INDEX_BYTES};
pub use error::{LogError, Result};
pub use file_cache::{set_budget as set_open_files_budget, stats as open_files_stats, FileCacheStats};
pub use layout::{parse_log_file_name, TopicPartition};
pub use leader_epoch_checkpoint::{EpochEntry, LeaderEpochCheckpointFile, LEADER_EPOCH_CHECKPOINT};
pub use log_manager::{
    on_threads, partition_dirs, partitions_opened_on_first_use, set_aside_stray, DirSummary, LogManager,
    CLEAN_SHUTDOWN_MARKER, CLUSTER_METADATA_TOPIC,
};
pub use offset_index::OffsetPosition;
pub use partition_log::{AppendInfo, PartitionLog, Recovery};
pub use producer_state::{
    BatchMetadata, CompletedTxn, ProducerBatch, ProducerEntry, ProducerError, ProducerStateManager, Validated,
    DEFAULT_PRODUCER_ID_EXPIRATION_MS, NO_SEQUENCE,
};
pub use segment::{IndexEntries, LocatedBatch, Segment};
pub use shared_log::{LogGuard, LogSummary, SharedLog};
pub use small_file::{
    install_tmp_file, read_text_file, replace_file, replace_file_before_dir_sync, sync_dir, sync_filesystem,
    write_tmp_file,
};
pub use snapshot::{sync_log_dirs, LogSnapshot, ReadResult};
pub use time_index::{TimestampOffset, NO_TIMESTAMP};
pub use txn_index::AbortedTxn;
