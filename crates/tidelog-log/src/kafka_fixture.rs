//! The files Apache Kafka 4.0 wrote in `tests/fixtures/kafka-4.0/data` (a copy of them): each
//! kind this crate reads (sparse indexes, transaction indexes, producer snapshots, offset
//! checkpoints) decodes and encodes back to the same bytes (a checkpoint's to the same
//! lines: its entries' order is a hash map's).

use std::fs;
use std::path::{Path, PathBuf};

use crate::checkpoint::CheckpointFile;
use crate::index_file::{IndexEntry, IndexFile};
use crate::log_manager::partition_dirs;
use crate::offset_index::OffsetEntry;
use crate::producer_snapshot;
use crate::time_index::TimeEntry;
use crate::txn_index::TxnIndex;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/kafka-4.0/data")
}

/// The files of `dir` whose name ends with `suffix`.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found
}

/// Reads the index at `path` and writes its entries into a new file; returns both files'
/// bytes (the new file is made by its first entry).
fn rewritten_index<E: IndexEntry>(path: &Path, scratch: &Path) -> (Vec<u8>, Vec<u8>) {
    let read = IndexFile::<E>::open(path, usize::MAX).unwrap();
    let written = scratch.join("written");
    let _ = fs::remove_file(&written);
    let mut index = IndexFile::<E>::open(&written, usize::MAX).unwrap();
    for entry in read.entries() {
        index.append(*entry).unwrap();
    }
    (fs::read(path).unwrap(), fs::read(&written).unwrap_or_default())
}

#[test]
fn every_index_snapshot_and_checkpoint_kafka_wrote_encodes_back_to_its_bytes() {
    let data = fixture();
    let scratch = tempfile::tempdir().unwrap();
    let mut kinds = [0usize; 4];
    for (tp, dir) in partition_dirs(&data).unwrap() {
        for path in files(&dir, ".index") {
            let (theirs, ours) = rewritten_index::<OffsetEntry>(&path, scratch.path());
            assert_eq!(ours, theirs, "{}", path.display());
            kinds[0] += usize::from(!theirs.is_empty());
        }
        for path in files(&dir, ".timeindex") {
            let (theirs, ours) = rewritten_index::<TimeEntry>(&path, scratch.path());
            assert_eq!(ours, theirs, "{}", path.display());
        }
        for path in files(&dir, ".txnindex") {
            let copy = scratch.path().join("txn-read");
            fs::copy(&path, &copy).unwrap();
            let read = TxnIndex::open(&copy).unwrap();
            let written = scratch.path().join(format!("txn-{tp}"));
            let mut index = TxnIndex::open(&written).unwrap();
            for txn in read.entries() {
                index.append(*txn).unwrap();
            }
            assert_eq!(
                fs::read(&written).unwrap(),
                fs::read(&path).unwrap(),
                "{}",
                path.display()
            );
            kinds[1] += read.entries().len();
        }
        for offset in producer_snapshot::list(&dir).unwrap() {
            let producers = producer_snapshot::read(&dir, offset).unwrap();
            let out = scratch.path().join(tp.dir_name());
            fs::create_dir_all(&out).unwrap();
            producer_snapshot::write(&out, offset, producers.iter().map(|(id, e)| (*id, e)), false).unwrap();
            let name = crate::layout::segment_file(&dir, offset, crate::layout::PRODUCER_SNAPSHOT_SUFFIX);
            let ours = crate::layout::segment_file(&out, offset, crate::layout::PRODUCER_SNAPSHOT_SUFFIX);
            assert_eq!(fs::read(ours).unwrap(), fs::read(&name).unwrap(), "{}", name.display());
            kinds[2] += producers.len();
        }
    }
    for name in [
        "recovery-point-offset-checkpoint",
        "log-start-offset-checkpoint",
        "replication-offset-checkpoint",
        "cleaner-offset-checkpoint",
    ] {
        // Kafka writes a map in its hash order, Tidelog in partition order: the same lines.
        let offsets = CheckpointFile::new(&data, name).read().unwrap();
        CheckpointFile::new(scratch.path(), name).write(&offsets).unwrap();
        let lines = |path: PathBuf| {
            let text = fs::read_to_string(path).unwrap();
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            lines[2..].sort();
            (lines, text.ends_with('\n'))
        };
        assert_eq!(lines(scratch.path().join(name)), lines(data.join(name)), "{name}");
        kinds[3] += offsets.len();
    }
    // Every kind was there to check: indexes with entries, aborted transactions, producers
    // (idempotent and transactional), checkpoints of all 109 partitions.
    assert!(kinds.iter().all(|&n| n > 0), "{kinds:?}");
}
