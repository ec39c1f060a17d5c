//! KRaft snapshots: `<20-digit end offset>-<10-digit epoch>.checkpoint`, the whole image as
//! of the log before `end offset` (exclusive), whose last record was of leader epoch
//! `epoch`. Kafka writes one as `<name>-<random>.checkpoint.part` and renames it once
//! whole, and renames one it drops to `.checkpoint.deleted` first: neither is a snapshot.
//!
//! A snapshot's records are ordinary batches whose first record is a `SnapshotHeaderRecord`
//! and last a `SnapshotFooterRecord`; their offsets count from 0 within the file.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use tidelog_log::sync_dir;
use tidelog_protocol::metadata::records::{
    kraft_version_record::KraftVersionRecord, snapshot_footer_record::SnapshotFooterRecord,
    snapshot_header_record::SnapshotHeaderRecord,
};
use tidelog_protocol::metadata::{
    read_batch, KraftControlRecord, KraftControlType, MetadataLogRecord, VersionedRecord,
};

use super::batches::{self, BatchFile, Next};
use super::error::{KraftError, SnapshotDamage};
use super::replay::Replay;
use super::MAX_BATCH_RECORDS_BYTES;

const SUFFIX: &str = ".checkpoint";

/// A snapshot's name: Kafka's `OffsetAndEpoch`, ordered by offset, then epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotId {
    pub end_offset: i64,
    pub epoch: i32,
}

impl SnapshotId {
    /// Kafka's name of the snapshot: `<20-digit end offset>-<10-digit epoch>`.
    pub fn name(&self) -> String {
        format!("{:020}-{:010}", self.end_offset, self.epoch)
    }

    pub fn file_name(&self) -> String {
        format!("{}{SUFFIX}", self.name())
    }

    /// The id of a complete snapshot's file name; `None` for any other file.
    pub fn from_file_name(name: &str) -> Option<SnapshotId> {
        let (offset, epoch) = name.strip_suffix(SUFFIX)?.split_once('-')?;
        let digits = |text: &str, len| text.len() == len && text.bytes().all(|b| b.is_ascii_digit());
        if !digits(offset, 20) || !digits(epoch, 10) {
            return None;
        }
        Some(SnapshotId {
            end_offset: offset.parse().ok()?,
            epoch: epoch.parse().ok()?,
        })
    }
}

/// The newest snapshot in `dir`, if any.
pub(crate) fn newest(dir: &Path) -> Result<Option<SnapshotId>, KraftError> {
    let io_err = |source| KraftError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut newest = None;
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let name = entry.map_err(io_err)?.file_name();
        let id = name.to_str().and_then(SnapshotId::from_file_name);
        newest = newest.max(id);
    }
    Ok(newest)
}

/// Replays snapshot `id` of `dir` into `replay`, checking that it is whole: a header first,
/// a footer last, and every metadata transaction ended.
pub(crate) fn load(dir: &Path, id: SnapshotId, replay: &mut Replay) -> Result<(), KraftError> {
    let mut file = BatchFile::open(&dir.join(id.file_name()))?;
    let corrupt = |file: &BatchFile, damage| KraftError::CorruptSnapshot {
        path: file.path().to_path_buf(),
        damage,
    };
    let (mut first, mut footer) = (true, None);
    loop {
        let batch = match file.next()? {
            Next::Batch(batch) => batch,
            Next::End => break,
            Next::Bad { position, reason } => {
                return Err(corrupt(&file, SnapshotDamage::Batch { position, reason }));
            }
        };
        let records = read_batch(&batch, MAX_BATCH_RECORDS_BYTES).map_err(|source| KraftError::Record {
            path: file.path().to_path_buf(),
            offset: batch.base_offset(),
            source,
        })?;
        for (offset, record) in records {
            let is = |kind| matches!(&record, MetadataLogRecord::Control(c) if c.control_type() == kind);
            // Only the header comes first, and nothing after the footer.
            if let Some(at) = footer {
                return Err(corrupt(&file, SnapshotDamage::Misplaced(at)));
            }
            match (first, is(KraftControlType::SnapshotHeaderRecord)) {
                (true, false) => return Err(corrupt(&file, SnapshotDamage::NoHeader)),
                (false, true) => return Err(corrupt(&file, SnapshotDamage::Misplaced(offset))),
                _ => first = false,
            }
            if is(KraftControlType::SnapshotFooterRecord) {
                footer = Some(offset);
            }
            replay
                .record(offset, batch.partition_leader_epoch(), record)
                .map_err(|e| e.in_file(file.path()))?;
        }
    }
    if first {
        return Err(corrupt(&file, SnapshotDamage::NoHeader));
    }
    if footer.is_none() {
        return Err(corrupt(&file, SnapshotDamage::NoFooter));
    }
    if let Some(begin) = replay.open_transaction() {
        return Err(corrupt(&file, SnapshotDamage::OpenTransaction(begin)));
    }
    Ok(())
}

/// What a snapshot holds besides its header and footer: the quorum's control records
/// (kraft.version, voters; none under kraft.version 0) and the metadata records.
pub(crate) struct SnapshotContent {
    pub kraft_version: i16,
    pub voters: Option<KraftControlRecord>,
    pub records: Vec<VersionedRecord>,
}

/// Writes snapshot `id` into `dir` as Kafka does: to `<name>.part`, fsynced, then renamed and
/// the directory fsynced, so that a crash leaves a whole snapshot or none (a leftover
/// `.part` is not one).
pub(crate) fn write(dir: &Path, id: SnapshotId, now_ms: i64, content: SnapshotContent) -> Result<(), KraftError> {
    let path = dir.join(id.file_name());
    let mut control = vec![KraftControlRecord::SnapshotHeaderRecord(SnapshotHeaderRecord {
        last_contained_log_timestamp: now_ms,
        ..Default::default()
    })];
    if content.kraft_version > 0 {
        control.push(KraftControlRecord::KraftVersionRecord(KraftVersionRecord {
            kraft_version: content.kraft_version,
            ..Default::default()
        }));
    }
    control.extend(content.voters);
    let metadata: Vec<MetadataLogRecord> = content.records.into_iter().map(MetadataLogRecord::Metadata).collect();
    let footer = [MetadataLogRecord::Control(KraftControlRecord::SnapshotFooterRecord(
        SnapshotFooterRecord::default(),
    ))];
    let control: Vec<MetadataLogRecord> = control.into_iter().map(MetadataLogRecord::Control).collect();
    let groups = std::iter::once(&control[..])
        .chain(metadata.chunks(batches::RECORDS_PER_BATCH))
        .chain(std::iter::once(&footer[..]));
    let mut bytes = Vec::new();
    let mut offset = 0;
    for records in groups {
        let batch = batches::encode(&path, offset, id.epoch, now_ms, records)?;
        offset = batch.next_offset();
        bytes.extend_from_slice(batch.as_bytes());
    }
    install(dir, id, &bytes)
}

/// Installs `bytes` (a whole snapshot's batches) as snapshot `id` of `dir`: to `<name>.part`,
/// fsynced, then renamed and the directory fsynced, as Kafka installs one.
pub(crate) fn install(dir: &Path, id: SnapshotId, bytes: &[u8]) -> Result<(), KraftError> {
    let path = dir.join(id.file_name());
    let part = dir.join(format!("{}.part", id.file_name()));
    let io_err = |source| KraftError::Io {
        path: part.clone(),
        source,
    };
    let mut file = File::create(&part).map_err(io_err)?;
    file.write_all(bytes).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    std::fs::rename(&part, &path).map_err(|source| KraftError::Io {
        path: path.clone(),
        source,
    })?;
    sync_dir(dir).map_err(|source| KraftError::Log {
        path: dir.to_path_buf(),
        source,
    })
}

/// Deletes the snapshots of `dir` older than `keep`.
pub(crate) fn delete_before(dir: &Path, keep: SnapshotId) -> Result<(), KraftError> {
    let io_err = |path: &Path, source| KraftError::Io {
        path: path.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let path = entry.map_err(|e| io_err(dir, e))?.path();
        let id = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(SnapshotId::from_file_name);
        if id.is_some_and(|id| id < keep) {
            std::fs::remove_file(&path).map_err(|e| io_err(&path, e))?;
        }
    }
    sync_dir(dir).map_err(|source| KraftError::Log {
        path: dir.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kafkas() {
        let id = SnapshotId {
            end_offset: 627,
            epoch: 1,
        };
        assert_eq!(id.file_name(), "00000000000000000627-0000000001.checkpoint");
        assert_eq!(SnapshotId::from_file_name(&id.file_name()), Some(id));
        for other in [
            "00000000000000000627-0000000001.checkpoint.part",
            "00000000000000000627-0000000001-1234.checkpoint.part",
            "00000000000000000627-0000000001.checkpoint.deleted",
            "00000000000000000627.log",
            "627-1.checkpoint",
            "0000000000000000062x-0000000001.checkpoint",
            "00000000000000000627-000000001.checkpoint",
        ] {
            assert_eq!(SnapshotId::from_file_name(other), None, "{other}");
        }
        let older = SnapshotId {
            end_offset: 627,
            epoch: 0,
        };
        assert!(
            older < id
                && id
                    < SnapshotId {
                        end_offset: 628,
                        epoch: 0
                    }
        );
    }
}
