//! The process's open segment and index files stay within their budget whatever the number
//! of partitions and segments; closed files reopen on use, and a read holding a file keeps
//! it through deletion. Its own test binary: the budget is process-wide.

mod common;

use common::{batch_at, fill, produced, small_config};
use std::path::Path;
use tidelog_log::{open_files_stats, set_open_files_budget, LogConfig, PartitionLog, Recovery};
use tidelog_protocol::records::RecordBatch;
use tidelog_protocol::Payload;

const T0: i64 = 1_700_000_000_000;
const BUDGET: usize = 16;
const PARTITIONS: usize = 40;

/// Descriptors the process holds now.
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn assert_within_budget(baseline: usize, when: &str) {
    let stats = open_files_stats();
    assert!(stats.open <= BUDGET, "{when}: {stats:?}");
    // Other test threads may hold a few descriptors of their own meanwhile.
    let held = open_descriptors().saturating_sub(baseline);
    assert!(
        held <= BUDGET + 8,
        "{when}: {held} descriptors over the {baseline} before"
    );
}

/// The records of a read as the log stores them.
fn stored(written: &[RecordBatch]) -> Vec<u8> {
    written.iter().flat_map(|b| b.as_bytes().to_vec()).collect()
}

/// Every record of the log, read segment by segment as a consumer would.
fn read_all(log: &PartitionLog) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let read = log.read(offset, 1 << 20, i64::MAX).unwrap();
        let records = read.records.to_bytes().unwrap();
        let last = RecordBatch::iter_batches(records.clone())
            .last()
            .expect("a batch")
            .unwrap();
        offset = last.next_offset();
        bytes.extend_from_slice(&records);
    }
    bytes
}

#[test]
fn many_partitions_and_segments_stay_within_the_budget_and_reopen_on_use() {
    let baseline = open_descriptors();
    set_open_files_budget(BUDGET);
    let dir = tempfile::tempdir().unwrap();
    let path = |p: usize| dir.path().join(format!("orders-{p}"));
    let config = LogConfig {
        file_delete_delay_ms: 0,
        ..small_config()
    };
    let mut logs: Vec<PartitionLog> = (0..PARTITIONS)
        .map(|p| PartitionLog::create(&path(p), config.clone()).unwrap())
        .collect();
    let written: Vec<Vec<RecordBatch>> = logs.iter_mut().map(|log| fill(log, 60, T0)).collect();
    for log in &logs {
        assert!(log.segments().len() > 5, "rolled: {} segments", log.segments().len());
        log.flush().unwrap();
    }
    assert_within_budget(baseline, "after writing");
    let opens = open_files_stats().opens;

    // Every old segment of every partition reads back, each reopened on use.
    for (log, written) in logs.iter().zip(&written) {
        assert!(read_all(log) == stored(written), "{} reads back", log.dir().display());
    }
    assert!(open_files_stats().opens > opens, "closed files were reopened");
    assert_within_budget(baseline, "after reading");

    // Appends to every partition go on, and a restart reopens them all within the budget.
    for (log, written) in logs.iter_mut().zip(&written) {
        let next = written.last().unwrap().next_offset();
        let info = log.append(produced(2, T0 + 1_000)).unwrap();
        assert_eq!(info.base_offset, next);
        log.flush().unwrap();
    }
    drop(logs);
    for (p, written) in written.iter().enumerate() {
        let log = PartitionLog::open(&path(p), config.clone(), Recovery::From(0), 0).unwrap();
        let end = written.last().unwrap().next_offset();
        assert_eq!(log.log_end_offset(), end + 2);
        let mut expected = stored(written);
        expected.extend_from_slice(&batch_at(end, 2, T0 + 1_000));
        assert!(read_all(&log) == expected, "partition {p} reads back after a restart");
    }
    assert_within_budget(baseline, "after recovering every partition");
}

#[test]
fn a_read_keeps_the_segment_it_holds_through_retention_and_the_files_removal() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        // Two batches a segment.
        segment_bytes: 100_000,
        file_delete_delay_ms: 0,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::create(&dir.path().join("big-0"), config).unwrap();
    // Large batches, so a read of them is a file region sent later with `sendfile`.
    let value = vec![7u8; 40_000];
    for i in 0..4 {
        let mut builder = tidelog_protocol::records::RecordBatchBuilder::new(0);
        builder.append(T0 + i, Some(b"k"), Some(&value), &[]);
        log.append(builder.build().as_bytes().clone()).unwrap();
    }
    assert_eq!(log.segments().len(), 2);
    let read = log.read(0, 1 << 20, i64::MAX).unwrap();
    assert!(matches!(read.records, Payload::File(_)), "a file region");
    let oldest = std::sync::Arc::clone(&log.segments()[0]);
    let expected = std::fs::read(oldest.path()).unwrap();

    assert_eq!(log.apply_retention(i64::MAX, 0, -1).unwrap(), 1);
    assert!(!oldest.path().exists() && no_log_files_but_the_active(dir.path()));
    assert_eq!(read.records.to_bytes().unwrap(), expected, "the held read still serves");
}

/// Whether the only `.log` left is the active segment's.
fn no_log_files_but_the_active(dir: &Path) -> bool {
    let logs = std::fs::read_dir(dir.join("big-0"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".log"))
        .count();
    logs == 1
}
