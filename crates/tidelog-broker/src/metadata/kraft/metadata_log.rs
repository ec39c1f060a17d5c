//! Writing the KRaft metadata log as a single-node controller writes it: formatted as
//! `kafka-storage.sh format --standalone` formats it, then one batch per append, durable
//! before the append returns since a single voter commits what it has fsynced. The log is an
//! ordinary partition log (segments with their indexes, rolled by
//! `metadata.log.segment.bytes`); snapshots are written beside it and let the segments
//! below them go.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use tidelog_log::{EpochEntry, LeaderEpochCheckpointFile, LogConfig, LogError, PartitionLog, Recovery};
use tidelog_protocol::metadata::records::{
    abort_transaction_record::AbortTransactionRecord,
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
use super::image::{KraftImage, Provenance};
use super::load::{load, segments};
use super::quorum_state::{QuorumState, QuorumStateVersion};
use super::snapshot::{self, SnapshotContent, SnapshotId};
use crate::clock::now_ms;
use crate::data_dir::partition_metadata::PartitionMetadata;
use tracing::{info, warn};

/// The topic id Kafka gives the metadata partition (`Topic.CLUSTER_METADATA_TOPIC_ID`).
pub const METADATA_TOPIC_ID: Uuid = Uuid([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

/// The kraft.version a standalone format writes: voters kept in the log (KIP-853).
pub const KRAFT_VERSION: i16 = 1;

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

/// How the metadata log is kept: Kafka's `metadata.log.segment.bytes`,
/// `metadata.log.max.record.bytes.between.snapshots`, `metadata.max.retention.bytes` and
/// `metadata.max.retention.ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataLogSettings {
    pub segment_bytes: i32,
    /// A snapshot is written once this many bytes of batches follow the newest one.
    pub snapshot_bytes: u64,
    /// The oldest segments below the newest snapshot go while the log is larger than this,
    /// or while they are older than `retention_ms`; -1 disables either.
    pub retention_bytes: i64,
    pub retention_ms: i64,
}

impl Default for MetadataLogSettings {
    fn default() -> Self {
        MetadataLogSettings {
            segment_bytes: 1 << 30,
            snapshot_bytes: 20 << 20,
            retention_bytes: 100 << 20,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
        }
    }
}

/// An open metadata log that this node leads, at `epoch`, with the image its records build.
#[derive(Debug)]
pub struct MetadataLog {
    log: PartitionLog,
    epoch: i32,
    image: KraftImage,
    settings: MetadataLogSettings,
    /// Bytes of batches after the newest snapshot.
    bytes_since_snapshot: u64,
    /// The log ends inside a metadata transaction, which the next election aborts.
    open_transaction: bool,
}

impl MetadataLog {
    /// Formats the metadata directory `dir` (in an existing log dir; `dir` must not exist)
    /// as `kafka-storage.sh format` does: an empty log, `partition.metadata`, and the
    /// bootstrap snapshot holding the quorum only: `voters`.
    pub fn format(dir: &Path, voters: VotersRecord, settings: MetadataLogSettings) -> Result<(), KraftError> {
        PartitionLog::create(dir, log_config(&settings)).map_err(log_err(dir))?;
        let topic = PartitionMetadata {
            topic_id: METADATA_TOPIC_ID,
        };
        topic.write(dir).map_err(log_err(dir))?;
        let content = SnapshotContent {
            kraft_version: KRAFT_VERSION,
            voters: Some(KraftControlRecord::VotersRecord(voters)),
            records: Vec::new(),
        };
        let bootstrap_snapshot = SnapshotId {
            end_offset: 0,
            epoch: 0,
        };
        snapshot::write(dir, bootstrap_snapshot, now_ms(), content)
    }

    /// Formats `dir`, opens it (the first election) and appends the `bootstrap` records
    /// (the features) in a metadata transaction, as a new standalone controller does.
    pub fn create(
        dir: &Path,
        controller: &Controller,
        bootstrap: Vec<VersionedRecord>,
        settings: MetadataLogSettings,
    ) -> Result<MetadataLog, KraftError> {
        Self::format(dir, voters(std::slice::from_ref(controller)), settings)?;
        let mut log = Self::open(dir, settings, false)?;
        log.elect(controller.node_id)?;
        log.append_transaction("Bootstrap records", bootstrap)?;
        Ok(log)
    }

    /// Opens the metadata directory `dir`, changing nothing but (after a crash,
    /// `after_crash`) a torn last batch of the last segment, which is what the crash cut
    /// short, never acknowledged: it is cut off. Any other damage is an error naming the
    /// file. Nothing can be appended before [`MetadataLog::elect`].
    pub fn open(dir: &Path, settings: MetadataLogSettings, after_crash: bool) -> Result<MetadataLog, KraftError> {
        let loaded = load(dir)?;
        if let Some(torn) = loaded.torn_tail {
            let last = segments(dir)?.pop();
            if !after_crash || last.as_ref() != Some(&torn.path) {
                return Err(KraftError::Damaged {
                    path: torn.path,
                    position: torn.position,
                    reason: torn.reason,
                });
            }
            warn!(path = %torn.path.display(), position = torn.position, reason = %torn.reason,
                "the metadata log ends in a batch a crash cut short; cutting it off");
        }
        let recovery = match after_crash {
            true => Recovery::From(loaded.log_end_offset),
            false => Recovery::Skip,
        };
        let log_start = loaded.snapshot.map_or(0, |s| s.end_offset);
        let log = PartitionLog::open(dir, log_config(&settings), recovery, log_start).map_err(log_err(dir))?;
        if log.log_end_offset() != loaded.log_end_offset {
            return Err(KraftError::Log {
                path: dir.to_path_buf(),
                source: LogError::Corrupt {
                    path: dir.to_path_buf(),
                    reason: format!(
                        "its segments end at offset {} but its readable records at {}",
                        log.log_end_offset(),
                        loaded.log_end_offset
                    ),
                },
            });
        }
        Ok(MetadataLog {
            log,
            epoch: 0,
            image: loaded.image,
            settings,
            bytes_since_snapshot: loaded.bytes_after_snapshot,
            open_transaction: loaded.open_transaction.is_some(),
        })
    }

    /// Wins the election of the epoch after every one this log has seen as its only voter,
    /// `node_id`, as Raft orders it: the vote is durable in `quorum-state` (and the epoch in
    /// `leader-epoch-checkpoint`) before the epoch's first batch, which announces the leader;
    /// the first election also writes the quorum's kraft.version and voters from the
    /// bootstrap snapshot into the log. A metadata transaction the log leaves open is then
    /// aborted, as a new leader aborts it.
    pub fn elect(&mut self, node_id: i32) -> Result<(), KraftError> {
        let dir = self.dir();
        let end_offset = self.end_offset();
        let checkpoint = LeaderEpochCheckpointFile::new(&dir);
        let mut epochs = checkpoint.read().map_err(log_err(&dir))?;
        epochs.retain(|e| e.start_offset < end_offset);
        let voted = QuorumState::read(&dir).map_err(log_err(&dir))?;
        self.epoch = 1 + epochs
            .last()
            .map_or(0, |e| e.epoch)
            .max(voted.map_or(0, |q| q.leader_epoch))
            .max(self.image.provenance().epoch);
        let quorum_state = QuorumState {
            leader_id: node_id,
            leader_epoch: self.epoch,
            voted_id: -1,
            version: QuorumStateVersion::V1 {
                voted_directory_id: Uuid::NIL,
            },
        };
        quorum_state.write(&dir).map_err(log_err(&dir))?;
        epochs.push(EpochEntry {
            epoch: self.epoch,
            start_offset: end_offset,
        });
        checkpoint.write(&epochs).map_err(log_err(&dir))?;
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
        let mut records = vec![KraftControlRecord::LeaderChangeMessage(leader_change)];
        let quorum = self.image.quorum();
        if quorum.leader.is_none() && quorum.kraft_version > 0 {
            let kraft_version = KraftVersionRecord {
                kraft_version: quorum.kraft_version,
                ..Default::default()
            };
            records.push(KraftControlRecord::KraftVersionRecord(kraft_version));
            records.extend(quorum.voters.clone().map(KraftControlRecord::VotersRecord));
        }
        let records: Vec<_> = records.into_iter().map(MetadataLogRecord::Control).collect();
        self.append_batch(&records)?;
        if std::mem::take(&mut self.open_transaction) {
            self.append(vec![abort_transaction()])?;
        }
        Ok(())
    }

    /// Appends `records` enclosed in a metadata transaction named `name`.
    pub fn append_transaction(&mut self, name: &str, records: Vec<VersionedRecord>) -> Result<i64, KraftError> {
        self.append(in_transaction(name, records))
    }

    /// Appends `records` in batches of at most [`batches::RECORDS_PER_BATCH`], made durable
    /// by one fsync (a CreateTopics of 1000 topics is one), and applies them to the image once
    /// durable; returns the offset of the last. A record the image refuses is an error after
    /// the append: the caller validated it, so that is a bug, not bad input.
    pub fn append(&mut self, records: Vec<VersionedRecord>) -> Result<i64, KraftError> {
        let records: Vec<_> = records.into_iter().map(MetadataLogRecord::Metadata).collect();
        self.append_batch(&records)
    }

    fn append_batch(&mut self, records: &[MetadataLogRecord]) -> Result<i64, KraftError> {
        assert!(self.epoch > 0, "a metadata log is appended to only once elected");
        let dir = self.dir();
        let base = self.log.log_end_offset();
        let mut bytes = Vec::new();
        let mut next = base;
        for chunk in records.chunks(batches::RECORDS_PER_BATCH) {
            let batch = batches::encode(&dir, next, self.epoch, now_ms(), chunk)?;
            next = batch.next_offset();
            bytes.extend_from_slice(batch.as_bytes());
        }
        let size = bytes.len() as u64;
        let appended = self.log.append(Bytes::from(bytes)).map_err(log_err(&dir))?;
        self.log.flush().map_err(log_err(&dir))?;
        for (offset, record) in (base..).zip(records) {
            match record {
                MetadataLogRecord::Control(control) => self.image.apply_control(self.epoch, control),
                MetadataLogRecord::Metadata(versioned) => {
                    self.image
                        .apply(versioned.record.clone())
                        .map_err(|reason| KraftError::Replay {
                            path: dir.clone(),
                            offset,
                            reason,
                        })?
                }
            }
        }
        self.image.set_provenance(Provenance {
            offset: appended.last_offset,
            epoch: self.epoch,
        });
        self.bytes_since_snapshot += size;
        if self.bytes_since_snapshot >= self.settings.snapshot_bytes {
            // The records are durable whatever happens here: a failed snapshot is retried
            // at the next append.
            match self.write_snapshot(&self.image) {
                Ok(id) => {
                    self.bytes_since_snapshot = 0;
                    info!(snapshot = %id.file_name(), "metadata snapshot written");
                    if let Err(e) = self.prune() {
                        warn!(error = %e, "cannot cut the metadata log below its snapshot");
                    }
                }
                Err(e) => warn!(error = %e, "cannot write a metadata snapshot"),
            }
        }
        Ok(appended.last_offset)
    }

    /// The image of every record in the log.
    pub fn image(&self) -> &KraftImage {
        &self.image
    }

    /// Writes a snapshot of `image`, named by the offset after its last record and that
    /// record's epoch, and returns its id. The image must be what this log holds up to there.
    pub fn write_snapshot(&self, image: &KraftImage) -> Result<SnapshotId, KraftError> {
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

    /// Deletes what the newest snapshot makes redundant, as `metadata.max.retention.*` say:
    /// the oldest segments wholly below it while the log is larger than the size or they are
    /// older than the age, and the older snapshots, which no load reads.
    pub fn prune(&mut self) -> Result<(), KraftError> {
        let dir = self.dir();
        let Some(newest) = snapshot::newest(&dir)? else {
            return Ok(());
        };
        let (ms, bytes) = (self.settings.retention_ms, self.settings.retention_bytes);
        self.log
            .apply_retention_below(now_ms(), ms, bytes, newest.end_offset)
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

/// `records` enclosed in a metadata transaction named `name` (KIP-868), which a load applies
/// together at its end or not at all.
pub(crate) fn in_transaction(name: &str, records: Vec<VersionedRecord>) -> Vec<VersionedRecord> {
    let marker = |record| VersionedRecord { version: 0, record };
    let begin = MetadataRecord::BeginTransactionRecord(BeginTransactionRecord {
        name: Some(name.into()),
        ..Default::default()
    });
    let end = MetadataRecord::EndTransactionRecord(EndTransactionRecord::default());
    let mut all = Vec::with_capacity(records.len() + 2);
    all.push(marker(begin));
    all.extend(records);
    all.push(marker(end));
    all
}

/// What a new leader appends when the log ends inside a metadata transaction.
pub(crate) fn abort_transaction() -> VersionedRecord {
    let abort = MetadataRecord::AbortTransactionRecord(AbortTransactionRecord {
        reason: Some("the leader changed".into()),
        ..Default::default()
    });
    VersionedRecord {
        version: 0,
        record: abort,
    }
}

/// The quorum of `controllers`, each supporting kraft.version 0 to 1.
pub fn voters(controllers: &[Controller]) -> VotersRecord {
    let voter = |controller: &Controller| Voter {
        voter_id: controller.node_id,
        voter_directory_id: controller.directory_id,
        endpoints: vec![Endpoint {
            name: controller.listener.clone(),
            host: controller.host.clone(),
            port: controller.port,
            ..Default::default()
        }],
        kraft_version_feature: KraftVersionFeature {
            min_supported_version: 0,
            max_supported_version: KRAFT_VERSION,
            ..Default::default()
        },
        ..Default::default()
    };
    VotersRecord {
        voters: controllers.iter().map(voter).collect(),
        ..Default::default()
    }
}

/// The partition log settings of the metadata log.
pub(crate) fn log_config(settings: &MetadataLogSettings) -> LogConfig {
    LogConfig {
        segment_bytes: settings.segment_bytes,
        retention_ms: -1,
        // Nothing reads its segments but a load, so the files of those `prune` deletes go
        // at once (Kafka waits its 60 s default, for followers fetching them).
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    }
}

fn log_err(dir: &Path) -> impl Fn(LogError) -> KraftError + '_ {
    move |source| KraftError::Log {
        path: dir.to_path_buf(),
        source,
    }
}
