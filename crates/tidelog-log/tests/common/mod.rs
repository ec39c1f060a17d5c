//! Batches and logs for the integration tests.
#![allow(dead_code)] // each test binary uses its own subset

use bytes::Bytes;
use std::fs;
use std::path::Path;
use tidelog_log::{LogConfig, PartitionLog};
use tidelog_protocol::records::{RecordBatch, RecordBatchBuilder};
use tidelog_protocol::Payload;

/// A batch of `records` records at `base_offset` with timestamps `timestamp`,
/// `timestamp + 1`, ... Building at the offset the log will assign gives the exact bytes the
/// log stores, since the CRC does not cover the base offset.
pub fn batch_at(base_offset: i64, records: usize, timestamp: i64) -> Bytes {
    let mut builder = RecordBatchBuilder::new(base_offset);
    for i in 0..records {
        builder.append(
            timestamp + i as i64,
            Some(b"key"),
            Some(format!("value-{i}").as_bytes()),
            &[],
        );
    }
    builder.build().as_bytes().clone()
}

/// The same batch as a producer sends it, before the log assigns its offsets.
pub fn produced(records: usize, timestamp: i64) -> Bytes {
    batch_at(0, records, timestamp)
}

/// Small segments and dense indexes, so a few hundred bytes exercise rolls and lookups.
pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1_000,
        index_interval_bytes: 100,
        ..LogConfig::default()
    }
}

/// Appends `count` batches of 1 to 4 records with timestamps from `timestamp` and returns
/// each batch as the log stores it.
pub fn fill(log: &mut PartitionLog, count: usize, timestamp: i64) -> Vec<RecordBatch> {
    (0..count)
        .map(|i| {
            let records = 1 + i % 4;
            let ts = timestamp + 10 * i as i64;
            let info = log.append(produced(records, ts)).unwrap();
            assert_eq!(info.last_offset, info.base_offset + records as i64 - 1);
            RecordBatch::parse(batch_at(info.base_offset, records, ts)).unwrap()
        })
        .collect()
}

/// Splits read bytes into batches, checking each is intact.
/// The records of a read, in memory.
pub fn bytes(records: &Payload) -> Bytes {
    records.to_bytes().expect("read the records")
}

pub fn batches(records: &Payload) -> Vec<RecordBatch> {
    RecordBatch::iter_batches(bytes(records))
        .map(|batch| {
            let batch = batch.unwrap();
            batch.verify_crc().unwrap();
            batch
        })
        .collect()
}

pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}
