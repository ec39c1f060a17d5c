//! openraft's state machine: the committed entries applied to the KRaft image as a load
//! applies them (a metadata transaction at its end, never when aborted), and snapshots that
//! are KRaft's `.checkpoint` files (docs/design/quorum.md §3.7).

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{AnyError, LogId, StorageError, StorageIOError, StoredMembership};
use tidelog_protocol::metadata::{KraftControlRecord, MetadataLogRecord};

use super::codec;
use super::types::{MetadataEntry, NodeId, Payload, TypeConfig, VoterNode};
use crate::clock::now_ms;
use crate::metadata::kraft::{
    delete_snapshots_before, install_snapshot, load_snapshot, newest_snapshot, write_snapshot, KraftImage, Provenance,
    Replay, SnapshotContent, SnapshotId,
};

type Error = StorageError<NodeId>;

/// The image the committed entries build, and the snapshot that holds it up to a point.
pub struct StateMachine {
    dir: PathBuf,
    replay: Arc<Mutex<Replay>>,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, VoterNode>,
    snapshot: Arc<Mutex<Option<SnapshotMeta<NodeId, VoterNode>>>>,
}

impl StateMachine {
    /// The state machine of the metadata log in `dir`, as its newest snapshot left it (the
    /// log's committed entries after it are applied again as openraft learns them).
    pub fn open(dir: &Path) -> Result<StateMachine, Error> {
        let mut machine = StateMachine {
            dir: dir.to_path_buf(),
            replay: Arc::default(),
            last_applied: None,
            membership: StoredMembership::default(),
            snapshot: Arc::default(),
        };
        let newest = newest_snapshot(dir).map_err(|e| read_err(None, &e))?;
        if let Some(id) = newest {
            machine.load(id)?;
        }
        Ok(machine)
    }

    /// What reads the image while openraft owns the state machine.
    pub fn image_handle(&self) -> ImageHandle {
        ImageHandle(Arc::clone(&self.replay))
    }

    /// Replaces the state with snapshot `id`. The bootstrap snapshot a format writes (end
    /// offset 0) holds the voters the first membership entry will name, but no entry.
    fn load(&mut self, id: SnapshotId) -> Result<(), Error> {
        let mut replay = Replay::default();
        load_snapshot(&self.dir, id, &mut replay).map_err(|e| read_err(None, &e))?;
        if id.end_offset == 0 {
            *lock(&self.replay) = replay;
            return Ok(());
        }
        let last = log_id(id.epoch, id.end_offset - 1)?;
        replay.set_provenance(Provenance {
            offset: id.end_offset - 1,
            epoch: id.epoch,
        });
        let voters = replay.image().quorum().voters.clone();
        self.membership = match voters {
            Some(record) => {
                // Tidelog's snapshots name the entry that made the membership; another's
                // (Kafka's, an older Tidelog's) is taken as of the snapshot's end.
                let made = match record.tidelog_offset {
                    -1 => last,
                    offset => log_id(record.tidelog_epoch, offset)?,
                };
                StoredMembership::new(Some(made), codec::membership(&record))
            }
            None => StoredMembership::default(),
        };
        *lock(&self.snapshot) = Some(SnapshotMeta {
            last_log_id: Some(last),
            last_membership: self.membership.clone(),
            snapshot_id: id.name(),
        });
        self.last_applied = Some(last);
        *lock(&self.replay) = replay;
        Ok(())
    }

    fn apply_entry(&mut self, entry: MetadataEntry) -> Result<(), Error> {
        let id = entry.log_id;
        let (offset, epoch) = (id.index as i64, id.leader_id.term as i32);
        let record = match entry.payload {
            Payload::Record(record) => Some(MetadataLogRecord::Metadata(record)),
            Payload::LeaderChange(message) => {
                message.map(|m| MetadataLogRecord::Control(KraftControlRecord::LeaderChangeMessage(m)))
            }
            Payload::Membership(membership) => {
                let record = codec::voters_record(&membership).map_err(|e| apply_err(id, &e))?;
                self.membership = StoredMembership::new(Some(id), membership);
                Some(MetadataLogRecord::Control(KraftControlRecord::VotersRecord(record)))
            }
            Payload::Control(control) => Some(MetadataLogRecord::Control(control)),
        };
        let mut replay = lock(&self.replay);
        match record {
            Some(record) => replay
                .record(offset, epoch, record)
                .map_err(|e| apply_err(id, &e.into_message()))?,
            None => replay.advance(offset, epoch),
        }
        self.last_applied = Some(id);
        Ok(())
    }

    fn current_snapshot(&self) -> Result<Option<Snapshot<TypeConfig>>, Error> {
        let Some(meta) = lock(&self.snapshot).clone() else {
            return Ok(None);
        };
        let id = snapshot_id(&meta);
        let bytes = std::fs::read(self.dir.join(id.file_name())).map_err(|e| read_err(Some(&meta), &e))?;
        Ok(Some(Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }

    /// Installs a snapshot another node built: written as Kafka writes one (`.part`, then
    /// renamed), then loaded.
    fn install(&mut self, meta: &SnapshotMeta<NodeId, VoterNode>, bytes: &[u8]) -> Result<(), Error> {
        let id = snapshot_id(meta);
        install_snapshot(&self.dir, id, bytes).map_err(|e| write_err(meta, &e))?;
        self.load(id)?;
        // The snapshot's membership is the one the sending node knew it by.
        self.membership = meta.last_membership.clone();
        *lock(&self.snapshot) = Some(meta.clone());
        Ok(())
    }
}

/// The image of the entries applied so far, shared with the state machine.
#[derive(Clone)]
pub struct ImageHandle(Arc<Mutex<Replay>>);

impl ImageHandle {
    pub fn with_image<R>(&self, read: impl FnOnce(&KraftImage) -> R) -> R {
        read(lock(&self.0).image())
    }

    /// Where the metadata transaction the applied entries leave open began, if one is.
    pub fn open_transaction(&self) -> Option<i64> {
        lock(&self.0).open_transaction()
    }
}

/// The file of the snapshot `meta` describes.
fn snapshot_id(meta: &SnapshotMeta<NodeId, VoterNode>) -> SnapshotId {
    match meta.last_log_id {
        Some(last) => SnapshotId {
            end_offset: last.index as i64 + 1,
            epoch: last.leader_id.term as i32,
        },
        None => SnapshotId {
            end_offset: 0,
            epoch: 0,
        },
    }
}

fn log_id(epoch: i32, offset: i64) -> Result<LogId<NodeId>, Error> {
    let term = u64::try_from(epoch).map_err(|_| read_err(None, &format!("leader epoch {epoch}")))?;
    let index = u64::try_from(offset).map_err(|_| read_err(None, &format!("offset {offset}")))?;
    Ok(LogId::new(openraft::CommittedLeaderId::new(term, 0), index))
}

fn read_err(meta: Option<&SnapshotMeta<NodeId, VoterNode>>, e: &dyn std::fmt::Display) -> Error {
    StorageIOError::read_snapshot(meta.map(|m| m.signature()), AnyError::error(e)).into()
}

fn write_err(meta: &SnapshotMeta<NodeId, VoterNode>, e: &dyn std::fmt::Display) -> Error {
    StorageIOError::write_snapshot(Some(meta.signature()), AnyError::error(e)).into()
}

fn apply_err(id: LogId<NodeId>, e: &dyn std::fmt::Display) -> Error {
    StorageIOError::apply(id, AnyError::error(e)).into()
}

/// Builds a snapshot of the image as it was when the builder was made, while the state
/// machine goes on applying entries.
pub struct SnapshotBuilder {
    dir: PathBuf,
    image: KraftImage,
    membership: StoredMembership<NodeId, VoterNode>,
    /// The state machine's newest snapshot, which a built one becomes.
    newest: Arc<Mutex<Option<SnapshotMeta<NodeId, VoterNode>>>>,
}

impl SnapshotBuilder {
    /// Writes the snapshot of the image: as of the last entry applied outside a metadata
    /// transaction, so that one still open is replayed from the log after it.
    fn write(&mut self) -> Result<Snapshot<TypeConfig>, Error> {
        let provenance = self.image.provenance();
        let last = match provenance.offset {
            -1 => None,
            offset => Some(log_id(provenance.epoch, offset)?),
        };
        let id = SnapshotId {
            end_offset: provenance.offset + 1,
            epoch: provenance.epoch.max(0),
        };
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: self.membership.clone(),
            snapshot_id: id.name(),
        };
        let mut voters = codec::voters_record(self.membership.membership()).map_err(|e| write_err(&meta, &e))?;
        if let Some(made) = self.membership.log_id() {
            voters.tidelog_offset = made.index as i64;
            voters.tidelog_epoch = made.leader_id.term as i32;
        }
        let image = &self.image;
        let content = SnapshotContent {
            kraft_version: image.quorum().kraft_version,
            voters: Some(KraftControlRecord::VotersRecord(voters)),
            records: image.records(),
        };
        write_snapshot(&self.dir, id, now_ms(), content).map_err(|e| write_err(&meta, &e))?;
        // No load reads an older one again.
        delete_snapshots_before(&self.dir, id).map_err(|e| write_err(&meta, &e))?;
        let bytes = std::fs::read(self.dir.join(id.file_name())).map_err(|e| write_err(&meta, &e))?;
        *lock(&self.newest) = Some(meta.clone());
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, Error> {
        self.write()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, VoterNode>), Error> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, Error>
    where
        I: IntoIterator<Item = MetadataEntry> + Send,
        I::IntoIter: Send,
    {
        let mut replies = Vec::new();
        for entry in entries {
            self.apply_entry(entry)?;
            replies.push(());
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            dir: self.dir.clone(),
            image: lock(&self.replay).image().clone(),
            membership: self.membership.clone(),
            newest: Arc::clone(&self.snapshot),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, Error> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, VoterNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), Error> {
        self.install(meta, snapshot.get_ref())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, Error> {
        self.current_snapshot()
    }
}
