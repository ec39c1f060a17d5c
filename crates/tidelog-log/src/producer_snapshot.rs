//! Producer state snapshots: `<20-digit offset>.snapshot` files holding a partition's
//! producer state as it was when the log ended at that offset, so that opening a partition
//! replays only the batches after the newest snapshot instead of guessing how far back to
//! read. Written when a segment rolls and at clean shutdown, as Kafka does.
//!
//! The format is Kafka's producer snapshot version 1, big-endian: `version i16 (1) |
//! crc u32 | count i32 | entries`, the CRC32C covering everything after the CRC field, each
//! entry `producer_id i64 | epoch i16 | last_sequence i32 | last_offset i64 |
//! offset_delta i32 | timestamp i64 | coordinator_epoch i32 | current_txn_first_offset i64`
//! (-1 for none). Like Kafka's, it keeps only a producer's last batch, so after loading one
//! only that batch (and whatever the replay adds) is recognised as a retry.

use crate::error::{IoContext, Result};
use crate::layout::{parse_offset_file_name, segment_file, PRODUCER_SNAPSHOT_SUFFIX};
use crate::producer_state::{BatchMetadata, ProducerEntry};
use crate::small_file::sync_dir;
use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

const VERSION: i16 = 1;
/// Version, CRC, entry count.
const HEADER_LEN: usize = 2 + 4 + 4;
const ENTRY_LEN: usize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;
/// Sequences wrap at 2^31 (see `producer_state::increment_sequence`).
const SEQUENCE_SPACE: i64 = 1 << 31;

/// Writes the snapshot of `producers` at `offset` in `dir` through a temporary file, so a
/// crash leaves the old file or the new one; with `durable`, fsyncs it and the directory
/// (clean shutdown). A snapshot lost in a crash only makes the next open replay more.
pub(crate) fn write<'a>(
    dir: &Path,
    offset: i64,
    producers: impl Iterator<Item = (i64, &'a ProducerEntry)>,
    durable: bool,
) -> Result<()> {
    let mut body = Vec::new();
    let mut count: i32 = 0;
    for (producer_id, entry) in producers {
        count += 1;
        let (last_seq, last_offset, offset_delta) = match entry.batches.back() {
            Some(b) => (b.last_seq, b.last_offset, (b.last_offset - b.first_offset) as i32),
            None => (-1, -1, 0),
        };
        body.extend_from_slice(&producer_id.to_be_bytes());
        body.extend_from_slice(&entry.epoch.to_be_bytes());
        body.extend_from_slice(&last_seq.to_be_bytes());
        body.extend_from_slice(&last_offset.to_be_bytes());
        body.extend_from_slice(&offset_delta.to_be_bytes());
        body.extend_from_slice(&entry.last_timestamp.to_be_bytes());
        body.extend_from_slice(&entry.coordinator_epoch.to_be_bytes());
        body.extend_from_slice(&entry.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
    }
    let mut covered = count.to_be_bytes().to_vec();
    covered.extend_from_slice(&body);
    let mut bytes = VERSION.to_be_bytes().to_vec();
    bytes.extend_from_slice(&crc32c::crc32c(&covered).to_be_bytes());
    bytes.extend_from_slice(&covered);

    let path = segment_file(dir, offset, PRODUCER_SNAPSHOT_SUFFIX);
    let tmp = path.with_extension("snapshot.tmp");
    let mut file = File::create(&tmp).context("create", &tmp)?;
    file.write_all(&bytes).context("write", &tmp)?;
    if durable {
        file.sync_all().context("fsync", &tmp)?;
    }
    fs::rename(&tmp, &path).context("rename over", &path)?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Reads the snapshot at `offset` in `dir`; `Err` says why it cannot be used.
pub(crate) fn read(dir: &Path, offset: i64) -> Result<Vec<(i64, ProducerEntry)>, String> {
    let path = segment_file(dir, offset, PRODUCER_SNAPSHOT_SUFFIX);
    let bytes = fs::read(&path).map_err(|e| e.to_string())?;
    if bytes.len() < HEADER_LEN {
        return Err(format!("{} bytes is too short", bytes.len()));
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    if version != VERSION {
        return Err(format!("unsupported version {version}"));
    }
    let crc = u32::from_be_bytes(bytes[2..6].try_into().expect("4 bytes"));
    if crc32c::crc32c(&bytes[6..]) != crc {
        return Err("CRC mismatch".into());
    }
    let count = i32::from_be_bytes(bytes[6..10].try_into().expect("4 bytes"));
    let entries = &bytes[HEADER_LEN..];
    if count < 0 || entries.len() != count as usize * ENTRY_LEN {
        return Err(format!("{count} entries do not fit {} bytes", entries.len()));
    }
    Ok(entries.chunks_exact(ENTRY_LEN).map(decode_entry).collect())
}

fn decode_entry(entry: &[u8]) -> (i64, ProducerEntry) {
    let mut at = 0;
    let mut take = |len: usize| {
        let field = &entry[at..at + len];
        at += len;
        field
    };
    let producer_id = i64::from_be_bytes(take(8).try_into().expect("8 bytes"));
    let epoch = i16::from_be_bytes(take(2).try_into().expect("2 bytes"));
    let last_seq = i32::from_be_bytes(take(4).try_into().expect("4 bytes"));
    let last_offset = i64::from_be_bytes(take(8).try_into().expect("8 bytes"));
    let offset_delta = i32::from_be_bytes(take(4).try_into().expect("4 bytes"));
    let last_timestamp = i64::from_be_bytes(take(8).try_into().expect("8 bytes"));
    let coordinator_epoch = i32::from_be_bytes(take(4).try_into().expect("4 bytes"));
    let current_txn_first_offset = i64::from_be_bytes(take(8).try_into().expect("8 bytes"));
    let mut batches = VecDeque::new();
    if last_seq >= 0 && last_offset >= 0 {
        let first_seq = (i64::from(last_seq) - i64::from(offset_delta)).rem_euclid(SEQUENCE_SPACE) as i32;
        batches.push_back(BatchMetadata {
            first_seq,
            last_seq,
            first_offset: last_offset - i64::from(offset_delta),
            last_offset,
        });
    }
    let entry = ProducerEntry {
        epoch,
        batches,
        last_timestamp,
        coordinator_epoch,
        current_txn_first_offset: (current_txn_first_offset >= 0).then_some(current_txn_first_offset),
    };
    (producer_id, entry)
}

/// Deletes the snapshot at `offset` in `dir`.
pub(crate) fn delete(dir: &Path, offset: i64) -> Result<()> {
    let path = segment_file(dir, offset, PRODUCER_SNAPSHOT_SUFFIX);
    fs::remove_file(&path).context("delete", &path)
}

/// The offsets of the snapshots in `dir`, in order.
pub(crate) fn list(dir: &Path) -> Result<Vec<i64>> {
    let mut offsets = Vec::new();
    for entry in fs::read_dir(dir).context("list", dir)? {
        let name = entry.context("list", dir)?.file_name();
        if let Some(offset) = name
            .to_str()
            .and_then(|n| parse_offset_file_name(n, PRODUCER_SNAPSHOT_SUFFIX))
        {
            offsets.push(offset);
        }
    }
    offsets.sort_unstable();
    Ok(offsets)
}

/// Deletes the snapshots in `dir` whose offset `remove` selects.
pub(crate) fn delete_where(dir: &Path, remove: impl Fn(i64) -> bool) -> Result<()> {
    for offset in list(dir)?.into_iter().filter(|o| remove(*o)) {
        delete(dir, offset)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(epoch: i16, batch: Option<BatchMetadata>, txn: Option<i64>) -> ProducerEntry {
        ProducerEntry {
            epoch,
            batches: batch.into_iter().collect(),
            last_timestamp: 1_700_000_000_000,
            coordinator_epoch: 3,
            current_txn_first_offset: txn,
        }
    }

    #[test]
    fn a_snapshot_is_kafkas_v1_and_reads_back_the_last_batch_of_each_producer() {
        let dir = tempfile::tempdir().unwrap();
        let last = BatchMetadata {
            first_seq: 10,
            last_seq: 14,
            first_offset: 100,
            last_offset: 104,
        };
        let older = BatchMetadata {
            first_seq: 5,
            last_seq: 9,
            first_offset: 90,
            last_offset: 94,
        };
        let mut with_two = entry(2, Some(older), Some(90));
        with_two.batches.push_back(last);
        // Sequences that wrapped inside the last batch.
        let wrapped = BatchMetadata {
            first_seq: i32::MAX - 1,
            last_seq: 1,
            first_offset: 200,
            last_offset: 203,
        };
        let producers = [
            (7, with_two),
            (8, entry(0, None, None)),
            (9, entry(1, Some(wrapped), None)),
        ];
        write(dir.path(), 205, producers.iter().map(|(id, e)| (*id, e)), true).unwrap();
        let path = dir.path().join("00000000000000000205.snapshot");
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), HEADER_LEN + 3 * ENTRY_LEN);
        assert_eq!(&bytes[0..2], &[0, 1], "version 1");
        assert_eq!(
            u32::from_be_bytes(bytes[2..6].try_into().unwrap()),
            crc32c::crc32c(&bytes[6..])
        );
        assert_eq!(&bytes[6..10], &3i32.to_be_bytes());

        let read = read(dir.path(), 205).unwrap();
        assert_eq!(
            read[0],
            (7, entry(2, Some(last), Some(90))),
            "only the last batch is kept"
        );
        assert_eq!(read[1], (8, entry(0, None, None)));
        assert_eq!(read[2], (9, entry(1, Some(wrapped), None)));
        assert_eq!(list(dir.path()).unwrap(), [205]);

        let mut corrupt = bytes.clone();
        corrupt[20] ^= 1;
        fs::write(&path, &corrupt).unwrap();
        assert_eq!(super::read(dir.path(), 205), Err("CRC mismatch".into()));
        delete_where(dir.path(), |offset| offset > 200).unwrap();
        assert_eq!(list(dir.path()).unwrap(), []);
    }
}
