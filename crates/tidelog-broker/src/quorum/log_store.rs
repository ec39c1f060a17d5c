//! openraft's log storage on `__cluster_metadata-0` (docs/design/quorum.md §3.3, §3.6): the
//! entries are the partition log's batches, the vote is `quorum-state`, and each term's
//! first offset is in `leader-epoch-checkpoint`, as Kafka's controllers keep them.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};

use bytes::Bytes;
use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{CommittedLeaderId, LeaderId, LogId, StorageError, StorageIOError, Vote};
use tidelog_log::{EpochEntry, LeaderEpochCheckpointFile, LogSnapshot, PartitionLog, Recovery};
use tidelog_protocol::metadata::records::leader_change_message::{LeaderChangeMessage, Voter};
use tidelog_protocol::records::RecordBatch;
use tidelog_protocol::Uuid;

use super::codec;
use super::types::{MetadataEntry, NodeId, Payload, TypeConfig};
use crate::clock::now_ms;
use crate::metadata::kraft::{
    metadata_log_config, newest_snapshot, MetadataLogSettings, QuorumState, QuorumStateVersion,
};

type Error = StorageError<NodeId>;

/// Bytes read from the log at a time when entries are asked for.
const READ_CHUNK_BYTES: usize = 1 << 20;

/// The metadata log as openraft's log storage. Clones share the log: the reader that
/// replication streams use is one.
#[derive(Clone)]
pub struct LogStore {
    shared: Arc<Mutex<Shared>>,
}

struct Shared {
    log: PartitionLog,
    settings: MetadataLogSettings,
    /// The newest entry that is gone (below the newest snapshot), for `get_log_state`.
    last_purged: Option<LogId<NodeId>>,
    /// What `quorum-state` says, kept to name the leader in its term's first entry.
    vote: Option<Vote<NodeId>>,
    epochs: Vec<EpochEntry>,
    flusher: mpsc::Sender<Flush>,
    /// Bytes appended since the log was opened.
    appended_bytes: Arc<AtomicU64>,
    announced: Announced,
}

/// Entries of one metadata change that a proposer has sent to openraft and the log store has
/// not appended yet.
///
/// openraft 0.9 appends each entry on its own and waits for it to be durable before the
/// next, so a change of a thousand records would be a thousand fsyncs in a row. A change
/// of several records is one KRaft metadata transaction, and the image shows none of it
/// before its last record (the transaction's end) is applied. So the log store makes a
/// change durable once, with its last entry: an entry followed by more of its change is
/// reported flushed at once, and the fsync of the last covers them all. A crash before that
/// loses the unfinished transaction, which a restart aborts anyway, and no client was told
/// of it. Sound only while this node is the only voter (a start with more is refused): with
/// several, each entry must be durable before it counts towards a majority.
#[derive(Clone, Default)]
pub struct Announced(Arc<AtomicUsize>);

impl Announced {
    pub fn announce(&self, entries: usize) {
        self.0.fetch_add(entries, Ordering::AcqRel);
    }

    /// Takes back `entries` announced ones, appended or never to be; says whether more of
    /// the change are still due.
    pub fn withdraw(&self, entries: usize) -> bool {
        let due = |left: usize| left.saturating_sub(entries);
        // The closure never returns None.
        let before = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| Some(due(left)))
            .unwrap_or_else(|left| left);
        due(before) > 0
    }
}

/// Appended entries to make durable, and whom to tell.
struct Flush {
    log: LogSnapshot,
    callback: LogFlushed<TypeConfig>,
}

/// Makes appends durable off openraft's task, each fsync covering every append queued
/// before it (openraft 0.9 waits for each append's fsync; later versions need not).
fn start_flusher(dir: &Path) -> mpsc::Sender<Flush> {
    let (sender, receiver) = mpsc::channel::<Flush>();
    let name = format!("metadata-flusher {}", dir.display());
    let spawned = std::thread::Builder::new()
        .name("metadata-flusher".into())
        .spawn(move || {
            while let Ok(first) = receiver.recv() {
                let mut due = vec![first];
                due.extend(receiver.try_iter());
                let newest = &due.last().expect("one at least").log;
                let flushed = newest.flush().map(drop).map_err(std::io::Error::other);
                if let Err(e) = &flushed {
                    tracing::error!(log = %name, error = %e, "cannot make the metadata log durable");
                }
                for flush in due {
                    // Each callback takes its own copy of the one outcome.
                    let result = match &flushed {
                        Ok(()) => Ok(()),
                        Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                    };
                    flush.callback.log_io_completed(result);
                }
            }
        });
    spawned.expect("a thread for the metadata log's fsyncs");
    sender
}

impl LogStore {
    /// Opens the metadata log in `dir` (made by a format, or empty): its log starts where the
    /// newest snapshot ends. `recovery` is the partition log's, after a crash or not.
    pub fn open(dir: &Path, settings: &MetadataLogSettings, recovery: Recovery) -> Result<LogStore, Error> {
        let read_err = |e: &dyn std::error::Error| StorageIOError::<NodeId>::read_logs(openraft::AnyError::error(e));
        let snapshot = newest_snapshot(dir).map_err(|e| read_err(&e))?;
        let log_start = snapshot.map_or(0, |s| s.end_offset);
        let log =
            PartitionLog::open(dir, metadata_log_config(settings), recovery, log_start).map_err(|e| read_err(&e))?;
        let last_purged = match snapshot {
            Some(s) if s.end_offset > 0 => Some(log_id(s.epoch, s.end_offset - 1).map_err(|e| read_err(&e))?),
            _ => None,
        };
        let epochs = LeaderEpochCheckpointFile::new(dir).read().map_err(|e| read_err(&e))?;
        let state = QuorumState::read(dir).map_err(|e| StorageIOError::read_vote(openraft::AnyError::error(&e)))?;
        let announced = Announced::default();
        Ok(LogStore {
            shared: Arc::new(Mutex::new(Shared {
                log,
                settings: *settings,
                last_purged,
                vote: state.as_ref().and_then(vote_of),
                epochs,
                flusher: start_flusher(dir),
                appended_bytes: Arc::default(),
                announced,
            })),
        })
    }

    /// Bytes of entries appended since the log was opened: what snapshots are counted by.
    pub fn appended_bytes(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.lock().appended_bytes)
    }

    /// Where proposers announce the entries they send (see [`Announced`]).
    pub fn announced(&self) -> Announced {
        self.lock().announced.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The log id of the record at `offset` in a batch of `epoch`.
fn log_id(epoch: i32, offset: i64) -> Result<LogId<NodeId>, std::io::Error> {
    let invalid = |what| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let term = u64::try_from(epoch).map_err(|_| invalid(format!("leader epoch {epoch}")))?;
    let index = u64::try_from(offset).map_err(|_| invalid(format!("offset {offset}")))?;
    Ok(LogId::new(CommittedLeaderId::new(term, 0), index))
}

/// openraft's vote for what `quorum-state` holds: a known leader is a committed vote for it,
/// a vote cast is one not committed; `None` before any election.
fn vote_of(state: &QuorumState) -> Option<Vote<NodeId>> {
    let term = u64::try_from(state.leader_epoch).ok()?;
    let id = |id: i32| u64::try_from(id).ok();
    match (id(state.leader_id), id(state.voted_id)) {
        (Some(leader), _) => Some(Vote::new_committed(term, leader)),
        (None, Some(voted)) => Some(Vote::new(term, voted)),
        (None, None) if term == 0 => None,
        (None, None) => Some(Vote {
            leader_id: LeaderId { term, voted_for: None },
            committed: false,
        }),
    }
}

/// `quorum-state` for `vote`: the inverse of [`vote_of`].
fn quorum_state_of(vote: &Vote<NodeId>) -> Result<QuorumState, std::io::Error> {
    let invalid = |what| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
    let epoch =
        i32::try_from(vote.leader_id.term).map_err(|_| invalid(format!("term {} is past i32", vote.leader_id.term)))?;
    let node = match vote.leader_id.voted_for {
        Some(id) => i32::try_from(id).map_err(|_| invalid(format!("node id {id} is past i32")))?,
        None => -1,
    };
    let (leader_id, voted_id) = match vote.committed {
        true => (node, -1),
        false => (-1, node),
    };
    Ok(QuorumState {
        leader_id,
        leader_epoch: epoch,
        voted_id,
        version: QuorumStateVersion::V1 {
            voted_directory_id: Uuid::NIL,
        },
    })
}

impl Shared {
    fn log_end(&self) -> u64 {
        self.log.log_end_offset() as u64
    }

    /// The first entry openraft may read: purged entries may stay on disk a while (see
    /// `purge`), but are never read again.
    fn first_readable(&self) -> u64 {
        let first = self.last_purged.map_or(0, |id| id.index + 1);
        first.max(self.log.log_start_offset() as u64)
    }

    /// The entries with indexes in `start..end`, fewer if the log ends first.
    fn entries(&self, start: u64, end: u64) -> Result<Vec<MetadataEntry>, Error> {
        let end = end.min(self.log_end());
        let mut entries = Vec::new();
        let mut next = start.max(self.first_readable());
        let read_err =
            |e: &dyn std::error::Error| StorageError::from(StorageIOError::read_logs(openraft::AnyError::error(e)));
        while next < end {
            let read = self
                .log
                .read(next as i64, READ_CHUNK_BYTES, end as i64)
                .map_err(|e| read_err(&e))?;
            let bytes = read.records.to_bytes().map_err(|e| read_err(&e))?;
            if bytes.is_empty() {
                break;
            }
            for batch in RecordBatch::iter_batches(bytes) {
                let batch = batch.map_err(|e| read_err(&e))?;
                for entry in codec::decode(&batch).map_err(|e| read_err(&e))? {
                    if (next..end).contains(&entry.log_id.index) {
                        entries.push(entry);
                    }
                }
            }
            let after = read.next_offset as u64;
            if after <= next {
                break;
            }
            next = after;
        }
        Ok(entries)
    }

    /// The id of the last entry, or of the last one purged when the log is empty.
    fn last_log_id(&self) -> Result<Option<LogId<NodeId>>, Error> {
        let end = self.log_end();
        if end <= self.first_readable() {
            return Ok(self.last_purged);
        }
        Ok(self.entries(end - 1, end)?.last().map(|e| e.log_id))
    }

    /// Fills in a leader's first entry: the leader is the one the vote of its term names
    /// (-1, with no voters, if none does: only entries made by hand in tests).
    fn fill_leader_change(&self, entry: &mut MetadataEntry) {
        if let Payload::LeaderChange(message @ None) = &mut entry.payload {
            let term = entry.log_id.leader_id.term;
            let leader = self
                .vote
                .filter(|v| v.leader_id.term == term)
                .and_then(|v| v.leader_id.voted_for)
                .and_then(|id| i32::try_from(id).ok());
            let voters: Vec<Voter> = leader
                .map(|voter_id| Voter {
                    voter_id,
                    ..Default::default()
                })
                .into_iter()
                .collect();
            *message = Some(LeaderChangeMessage {
                leader_id: leader.unwrap_or(-1),
                voters: voters.clone(),
                granting_voters: voters,
                ..Default::default()
            });
        }
    }

    fn write_epochs(&self) -> Result<(), Error> {
        LeaderEpochCheckpointFile::new(self.log.dir())
            .write(&self.epochs)
            .map_err(|e| StorageIOError::write_logs(openraft::AnyError::error(&e)).into())
    }

    /// Appends `entries`, readable at once; the flusher makes them durable.
    fn append(&mut self, entries: Vec<MetadataEntry>) -> Result<LogSnapshot, Error> {
        let Some(first) = entries.first() else {
            return Ok(self.log.snapshot());
        };
        let write_err = |id, e: &dyn std::error::Error| {
            StorageError::from(StorageIOError::write_log_entry(id, openraft::AnyError::error(e)))
        };
        let first_id = first.log_id;
        if self.first_readable() >= self.log_end() && first_id.index != self.log_end() {
            // An empty log (new, or every entry purged, or a snapshot installed past its
            // end) starts where it is told.
            self.log
                .truncate_fully_and_start_at(first_id.index as i64)
                .map_err(|e| write_err(first_id, &e))?;
        }
        let mut bytes = Vec::new();
        let mut epochs_changed = false;
        for (expected, mut entry) in (self.log_end()..).zip(entries) {
            if entry.log_id.index != expected {
                let reason = format!("the log ends at {expected}, not {}", entry.log_id.index);
                return Err(write_err(entry.log_id, &std::io::Error::other(reason)));
            }
            self.fill_leader_change(&mut entry);
            let batch = codec::encode(&entry).map_err(|e| write_err(entry.log_id, &e))?;
            bytes.extend_from_slice(batch.as_bytes());
            let epoch = batch.partition_leader_epoch();
            if self.epochs.last().is_none_or(|last| last.epoch < epoch) {
                self.epochs.push(EpochEntry {
                    epoch,
                    start_offset: batch.base_offset(),
                });
                epochs_changed = true;
            }
        }
        // The epoch starts are durable before the batches they describe.
        if epochs_changed {
            self.write_epochs()?;
        }
        let size = bytes.len() as u64;
        self.log
            .append(Bytes::from(bytes))
            .map_err(|e| write_err(first_id, &e))?;
        self.appended_bytes.fetch_add(size, Ordering::AcqRel);
        Ok(self.log.snapshot())
    }
}

/// `range` as `start..end` over entry indexes.
fn bounds(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s + 1,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e + 1,
        Bound::Excluded(&e) => e,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<MetadataEntry>, Error> {
        let (start, end) = bounds(&range);
        self.lock().entries(start, end)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, Error> {
        let shared = self.lock();
        Ok(LogState {
            last_purged_log_id: shared.last_purged,
            last_log_id: shared.last_log_id()?,
        })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), Error> {
        let mut shared = self.lock();
        let write_err =
            |e: &dyn std::error::Error| StorageError::from(StorageIOError::write_vote(openraft::AnyError::error(e)));
        let state = quorum_state_of(vote).map_err(|e| write_err(&e))?;
        state.write(shared.log.dir()).map_err(|e| write_err(&e))?;
        shared.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, Error> {
        Ok(self.lock().vote)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), Error>
    where
        I: IntoIterator<Item = MetadataEntry> + Send,
        I::IntoIter: Send,
    {
        let mut shared = self.lock();
        let entries: Vec<MetadataEntry> = entries.into_iter().collect();
        let count = entries.len();
        let log = shared.append(entries)?;
        if shared.announced.withdraw(count) {
            // Made durable with the change's last entry (see `Announced`).
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        let flush = Flush { log, callback };
        if let Err(mpsc::SendError(flush)) = shared.flusher.send(flush) {
            flush
                .callback
                .log_io_completed(Err(std::io::Error::other("the metadata flusher stopped")));
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), Error> {
        let mut shared = self.lock();
        let write_err =
            |e: &dyn std::error::Error| StorageError::from(StorageIOError::write_logs(openraft::AnyError::error(e)));
        let cut = i64::try_from(log_id.index).map_err(|_| write_err(&std::io::Error::other("index past i64")))?;
        shared.log.truncate_to(cut).map_err(|e| write_err(&e))?;
        let before = shared.epochs.len();
        shared.epochs.retain(|e| e.start_offset < cut);
        if shared.epochs.len() != before {
            shared.write_epochs()?;
        }
        Ok(())
    }

    /// openraft is done with the entries up to `log_id`, which a snapshot holds: they go as
    /// Kafka's `metadata.max.retention.{bytes,ms}` say, whole segments at a time, or at once
    /// when the log ends before them (a snapshot installed past its end).
    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), Error> {
        let mut shared = self.lock();
        let write_err =
            |e: &dyn std::error::Error| StorageError::from(StorageIOError::write_logs(openraft::AnyError::error(e)));
        let start = i64::try_from(log_id.index + 1).map_err(|_| write_err(&std::io::Error::other("index past i64")))?;
        if start > shared.log.log_end_offset() {
            shared
                .log
                .truncate_fully_and_start_at(start)
                .map_err(|e| write_err(&e))?;
        } else {
            let (ms, bytes) = (shared.settings.retention_ms, shared.settings.retention_bytes);
            shared
                .log
                .apply_retention_below(now_ms(), ms, bytes, start)
                .map_err(|e| write_err(&e))?;
        }
        shared.last_purged = shared.last_purged.max(Some(log_id));
        Ok(())
    }
}
