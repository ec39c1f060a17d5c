//! Writing the KRaft metadata log as a single-node controller writes it: formatted as
//! `kafka-storage.sh format --standalone` formats it, then one batch per append, durable
//! before the append returns since a single voter commits what it has fsynced. The log is an
//! ordinary partition log (segments with their indexes, rolled by
//! `metadata.log.segment.bytes`); snapshots are written beside it and let the segments
//! below them go.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use tidelog_log::{EpochEntry, LeaderEpochCheckpointFile, LogConfig, LogError, PartitionLog};
use tidelog_protocol::metadata::records::{
    begin_transaction_record::BeginTransactionRecord,
    end_transaction_record::EndTransactionRecord,
    kraft_version_record::KraftVersionRecord,
    leader_change_message::{self, LeaderChangeMessage},
    voters_record::{Endpoint, KraftVersionFeature, Voter, VotersRecord},
};
use tidelog_protocol::metadata::{KraftControlRecord, MetadataLogRecord, MetadataRecord, VersionedRecord};
use tidelog_protocol::Uuid;

use super::batches;
use super::error::KraftError;
use super::image::KraftImage;
use super::quorum_state::{QuorumState, QuorumStateVersion};
use super::snapshot::{self, SnapshotContent, SnapshotId};
use crate::clock::now_ms;
use crate::data_dir::partition_metadata::PartitionMetadata;

/// The topic id Kafka gives the metadata partition (`Topic.CLUSTER_METADATA_TOPIC_ID`).
pub const METADATA_TOPIC_ID: Uuid = Uuid([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

/// The kraft.version a standalone format writes: voters kept in the log (KIP-853).
const KRAFT_VERSION: i16 = 1;

/// The epoch a standalone controller leads in after the format, the bootstrap snapshot
/// being of epoch 0.
const FIRST_EPOCH: i32 = 1;

/// The single controller of the quorum: its id, its log dir's id and its listener, what
/// `format --standalone` reads from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    pub node_id: i32,
    pub directory_id: Uuid,
    pub listener: String,
    pub host: String,
    pub port: u16,
}

/// An open metadata log that this node leads, at `epoch`.
#[derive(Debug)]
pub struct MetadataLog {
    log: PartitionLog,
    epoch: i32,
}

impl MetadataLog {
    /// Creates the metadata directory `dir` (in an existing log dir; `dir` must not exist)
    /// as a standalone format and the first election leave it: `partition.metadata`, the
    /// bootstrap snapshot (the quorum only), the election at epoch 1 (`quorum-state`,
    /// `leader-epoch-checkpoint`, then a batch announcing the leader with kraft.version and
    /// the voters), and the `bootstrap` records (the features) in a metadata transaction.
    pub fn create(
        dir: &Path,
        controller: &Controller,
        bootstrap: Vec<VersionedRecord>,
        segment_bytes: i32,
    ) -> Result<MetadataLog, KraftError> {
        let config = LogConfig {
            segment_bytes,
            retention_ms: -1,
            ..LogConfig::default()
        };
        let log = PartitionLog::create(dir, config).map_err(log_err(dir))?;
        let topic = PartitionMetadata {
            topic_id: METADATA_TOPIC_ID,
        };
        topic.write(dir).map_err(log_err(dir))?;
        let voters = KraftControlRecord::VotersRecord(voters(controller));
        let content = SnapshotContent {
            kraft_version: KRAFT_VERSION,
            voters: Some(voters.clone()),
            records: Vec::new(),
        };
        let bootstrap_snapshot = SnapshotId {
            end_offset: 0,
            epoch: 0,
        };
        snapshot::write(dir, bootstrap_snapshot, now_ms(), content)?;
        let mut log = MetadataLog {
            log,
            epoch: FIRST_EPOCH,
        };
        log.first_election(controller.node_id, voters)?;
        let transaction = |record| VersionedRecord { version: 0, record };
        let begin = MetadataRecord::BeginTransactionRecord(BeginTransactionRecord {
            name: Some("Bootstrap records".into()),
            ..Default::default()
        });
        let end = MetadataRecord::EndTransactionRecord(EndTransactionRecord::default());
        let mut records = vec![transaction(begin)];
        records.extend(bootstrap);
        records.push(transaction(end));
        log.append(records)?;
        Ok(log)
    }

    /// The first election, won at `self.epoch`, as Raft orders it: the vote is durable in
    /// `quorum-state` (and the epoch in `leader-epoch-checkpoint`) before the epoch's first
    /// batch, which announces the leader with the new quorum's kraft.version and voters.
    fn first_election(&mut self, node_id: i32, voters: KraftControlRecord) -> Result<(), KraftError> {
        let dir = self.dir();
        let quorum_state = QuorumState {
            leader_id: node_id,
            leader_epoch: self.epoch,
            voted_id: -1,
            version: QuorumStateVersion::V1 {
                voted_directory_id: Uuid::NIL,
            },
        };
        quorum_state.write(&dir).map_err(log_err(&dir))?;
        let epochs = [EpochEntry {
            epoch: self.epoch,
            start_offset: self.end_offset(),
        }];
        LeaderEpochCheckpointFile::new(&dir)
            .write(&epochs)
            .map_err(log_err(&dir))?;
        let leader = leader_change_message::Voter {
            voter_id: node_id,
            ..Default::default()
        };
        let leader_change = LeaderChangeMessage {
            leader_id: node_id,
            voters: vec![leader.clone()],
            granting_voters: vec![leader],
            ..Default::default()
        };
        let kraft_version = KraftVersionRecord {
            kraft_version: KRAFT_VERSION,
            ..Default::default()
        };
        self.append_batch(&[
            MetadataLogRecord::Control(KraftControlRecord::LeaderChangeMessage(leader_change)),
            MetadataLogRecord::Control(KraftControlRecord::KraftVersionRecord(kraft_version)),
            MetadataLogRecord::Control(voters),
        ])?;
        Ok(())
    }

    /// Appends `records` as one batch and returns the offset of the last, once durable.
    pub fn append(&mut self, records: Vec<VersionedRecord>) -> Result<i64, KraftError> {
        let records: Vec<_> = records.into_iter().map(MetadataLogRecord::Metadata).collect();
        self.append_batch(&records)
    }

    fn append_batch(&mut self, records: &[MetadataLogRecord]) -> Result<i64, KraftError> {
        let dir = self.dir();
        let batch = batches::encode(&dir, self.log.log_end_offset(), self.epoch, now_ms(), records)?;
        let bytes = Bytes::copy_from_slice(batch.as_bytes());
        let appended = self.log.append(bytes).map_err(log_err(&dir))?;
        self.log.flush().map_err(log_err(&dir))?;
        Ok(appended.last_offset)
    }

    /// Writes a snapshot of `image`, named by the offset after its last record and that
    /// record's epoch, and returns its id. The image must be what this log holds up to there.
    pub fn write_snapshot(&mut self, image: &KraftImage) -> Result<SnapshotId, KraftError> {
        let provenance = image.provenance();
        let id = SnapshotId {
            end_offset: provenance.offset + 1,
            epoch: provenance.epoch,
        };
        let quorum = image.quorum();
        let content = SnapshotContent {
            kraft_version: quorum.kraft_version,
            voters: quorum.voters.clone().map(KraftControlRecord::VotersRecord),
            records: image.records(),
        };
        snapshot::write(&self.dir(), id, now_ms(), content)?;
        Ok(id)
    }

    /// Deletes what the newest snapshot makes redundant: the segments wholly below it and
    /// the older snapshots. The log then starts at the snapshot's end offset, as Kafka's does.
    pub fn prune(&mut self) -> Result<(), KraftError> {
        let dir = self.dir();
        let Some(newest) = snapshot::newest(&dir)? else {
            return Ok(());
        };
        self.log
            .delete_records_before(newest.end_offset)
            .map_err(log_err(&dir))?;
        snapshot::delete_before(&dir, newest)
    }

    /// The offset the next record takes.
    pub fn end_offset(&self) -> i64 {
        self.log.log_end_offset()
    }

    fn dir(&self) -> PathBuf {
        self.log.dir().to_path_buf()
    }
}

/// The quorum of one voter: `controller`, supporting kraft.version 0 to 1.
fn voters(controller: &Controller) -> VotersRecord {
    let endpoint = Endpoint {
        name: controller.listener.clone(),
        host: controller.host.clone(),
        port: controller.port,
        ..Default::default()
    };
    let voter = Voter {
        voter_id: controller.node_id,
        voter_directory_id: controller.directory_id,
        endpoints: vec![endpoint],
        kraft_version_feature: KraftVersionFeature {
            min_supported_version: 0,
            max_supported_version: KRAFT_VERSION,
            ..Default::default()
        },
        ..Default::default()
    };
    VotersRecord {
        voters: vec![voter],
        ..Default::default()
    }
}

fn log_err(dir: &Path) -> impl Fn(LogError) -> KraftError + '_ {
    move |source| KraftError::Log {
        path: dir.to_path_buf(),
        source,
    }
}
