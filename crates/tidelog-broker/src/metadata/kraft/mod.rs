//! Kafka's KRaft metadata directory (`__cluster_metadata-0` in the first log dir), which
//! issue 10 makes the metadata store: a log of record batches whose records are Kafka's
//! metadata records, snapshots of the whole image, and the quorum's `quorum-state`.
//! [`load`] builds a [`KraftImage`] from the newest snapshot and the log after it, and
//! [`MetadataLog`] writes the directory as a single-node controller does; nothing starts
//! from them yet.

mod batches;
mod error;
mod image;
mod load;
mod metadata_log;
mod partition;
mod quorum_state;
mod replay;
mod snapshot;

pub use error::{KraftError, SnapshotDamage};
pub use image::{
    client_quota_record, ConfigResource, KraftImage, LeaderAndEpoch, Provenance, Quorum, QuotaEntity, TopicImage,
};
pub use load::{load, LoadedMetadata, TornTail};
pub(crate) use metadata_log::{abort_transaction, in_transaction, log_config as metadata_log_config};
pub use metadata_log::{voters, Controller, MetadataLog, MetadataLogSettings, KRAFT_VERSION, METADATA_TOPIC_ID};
pub use quorum_state::{QuorumState, QuorumStateVersion, QUORUM_STATE};
pub(crate) use replay::Replay;
pub use snapshot::SnapshotId;
pub(crate) use snapshot::{
    delete_before as delete_snapshots_before, install as install_snapshot, load as load_snapshot,
    newest as newest_snapshot, write as write_snapshot, SnapshotContent,
};

/// KRaft's metadata topic, of one partition.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// The directory of the metadata log, in the first log dir.
pub const METADATA_DIR: &str = "__cluster_metadata-0";

/// The most a batch's records may take decompressed: KRaft writes batches of at most 8 MiB
/// (`KafkaRaftClient.MAX_BATCH_SIZE_BYTES`), uncompressed.
pub(crate) const MAX_BATCH_RECORDS_BYTES: usize = 8 << 20;
