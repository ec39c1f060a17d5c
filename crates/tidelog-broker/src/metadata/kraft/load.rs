//! Loading a KRaft metadata directory: the newest snapshot, then the log's records after its
//! end offset, segment after segment, in offset order.
//!
//! The log is read up to its first torn or damaged batch, as recovery would cut it there
//! (later segments too); what was cut is reported, not repaired: this only reads. Every
//! record in the log is applied, as a single-voter quorum commits them all; with more
//! voters, an uncommitted tail may later be truncated by the new leader.

use std::path::{Path, PathBuf};

use tidelog_log::parse_log_file_name;
use tidelog_protocol::metadata::read_batch;
use tidelog_protocol::records::RecordsError;

use super::batches::{BatchFile, Next};
use super::error::KraftError;
use super::image::{KraftImage, Provenance};
use super::replay::Replay;
use super::snapshot::{self, SnapshotId};
use super::MAX_BATCH_RECORDS_BYTES;

/// What a KRaft metadata directory holds.
#[derive(Debug)]
pub struct LoadedMetadata {
    pub image: KraftImage,
    /// The snapshot the image was loaded from, if the directory holds one.
    pub snapshot: Option<SnapshotId>,
    /// The offset the next record of the log would take.
    pub log_end_offset: i64,
    /// Where reading stopped before the end of the segments, if it did.
    pub torn_tail: Option<TornTail>,
    /// The bytes of the batches after the snapshot.
    pub bytes_after_snapshot: u64,
    /// The offset of a `BeginTransactionRecord` the log does not end: the records after it
    /// are not in the image.
    pub open_transaction: Option<i64>,
}

/// The first batch of the log that is cut short (a crash mid-write) or damaged: the
/// segment, the byte it starts at, and why. Nothing from it on is loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct TornTail {
    pub path: PathBuf,
    pub position: u64,
    pub reason: RecordsError,
}

/// Loads the KRaft metadata directory `dir` (`<first log dir>/__cluster_metadata-0`).
pub fn load(dir: &Path) -> Result<LoadedMetadata, KraftError> {
    let mut replay = Replay::default();
    let snapshot = snapshot::newest(dir)?;
    // The offset the log must supply next: where the snapshot ends, or 0.
    let mut next = 0;
    if let Some(id) = snapshot {
        snapshot::load(dir, id, &mut replay)?;
        replay.set_provenance(Provenance {
            offset: id.end_offset - 1,
            epoch: id.epoch,
        });
        next = id.end_offset;
    }
    let mut torn_tail = None;
    let mut bytes_after_snapshot = 0;
    // Where the next batch must start, once the log has begun; its first batch may start
    // anywhere up to `next`.
    let mut due: Option<i64> = None;
    'segments: for path in segments(dir)? {
        let mut file = BatchFile::open(&path)?;
        loop {
            let position = file.position();
            let batch = match file.next()? {
                Next::Batch(batch) => batch,
                Next::End => break,
                Next::Bad { position, reason } => {
                    torn_tail = Some(TornTail { path, position, reason });
                    break 'segments;
                }
            };
            let base = batch.base_offset();
            if due.map_or(base > next, |due| base != due) {
                return Err(KraftError::Discontinuity {
                    path,
                    position,
                    expected: due.unwrap_or(next),
                    found: base,
                });
            }
            due = Some(batch.next_offset());
            if batch.next_offset() <= next {
                continue;
            }
            bytes_after_snapshot += batch.as_bytes().len() as u64;
            let records = read_batch(&batch, MAX_BATCH_RECORDS_BYTES).map_err(|source| KraftError::Record {
                path: path.clone(),
                offset: base,
                source,
            })?;
            for (offset, record) in records.into_iter().filter(|(offset, _)| *offset >= next) {
                replay
                    .record(offset, batch.partition_leader_epoch(), record)
                    .map_err(|e| e.in_file(&path))?;
            }
            next = batch.next_offset();
        }
    }
    Ok(LoadedMetadata {
        snapshot,
        log_end_offset: next,
        torn_tail,
        bytes_after_snapshot,
        open_transaction: replay.open_transaction(),
        image: replay.into_image(),
    })
}

/// The segments of the log in `dir`, by base offset.
pub(super) fn segments(dir: &Path) -> Result<Vec<PathBuf>, KraftError> {
    let io_err = |source| KraftError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let path = entry.map_err(io_err)?.path();
        let base = path.file_name().and_then(|n| n.to_str()).and_then(parse_log_file_name);
        segments.extend(base.map(|base| (base, path)));
    }
    segments.sort();
    Ok(segments.into_iter().map(|(_, path)| path).collect())
}
