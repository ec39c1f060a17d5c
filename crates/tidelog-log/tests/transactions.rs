//! Transactions in a partition log: open transactions hold the first unstable offset,
//! ABORT markers fill the segment's `.txnindex`, and both come back after a clean reopen, a
//! crash that lost the index entry, a torn marker, truncation, rolls and retention.

mod common;

use bytes::Bytes;
use common::small_config;
use std::fs;
use std::path::Path;
use tidelog_log::{AbortedTxn, LogConfig, LogError, PartitionLog, ProducerError, Recovery};
use tidelog_protocol::records::{marker_batch, ControlType, RecordBatchBuilder, TxnMarker};

const ABORTED: i64 = 100;
const COMMITTED: i64 = 200;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 100_000,
        ..small_config()
    }
}

/// A transactional batch of `records` records as producer `pid` sends it.
fn txn(pid: i64, epoch: i16, first_seq: i32, records: usize) -> Bytes {
    let mut builder = RecordBatchBuilder::new(0)
        .producer(pid, epoch, first_seq)
        .transactional(true);
    for i in 0..records {
        builder.append(1_000 + i as i64, None, Some(format!("{pid}-{i}").as_bytes()), &[]);
    }
    builder.build().as_bytes().clone()
}

fn marker(pid: i64, epoch: i16, control_type: ControlType) -> Bytes {
    let marker = TxnMarker {
        control_type,
        coordinator_epoch: 0,
    };
    marker_batch(pid, epoch, marker, 2_000).as_bytes().clone()
}

/// Producer ABORTED writes 0..=2, COMMITTED 3..=4, ABORTED 5, its ABORT marker at 6 and
/// COMMITTED's marker at 7.
fn two_transactions(log: &mut PartitionLog) {
    log.append(txn(ABORTED, 0, 0, 3)).unwrap();
    log.append(txn(COMMITTED, 0, 0, 2)).unwrap();
    log.append(txn(ABORTED, 0, 3, 1)).unwrap();
    assert_eq!(
        log.append(marker(ABORTED, 0, ControlType::Abort)).unwrap().base_offset,
        6
    );
    assert_eq!(
        log.append(marker(COMMITTED, 0, ControlType::Commit))
            .unwrap()
            .base_offset,
        7
    );
}

const ABORTED_TXN: AbortedTxn = AbortedTxn {
    producer_id: ABORTED,
    first_offset: 0,
    last_offset: 6,
    last_stable_offset: 3,
};

fn txn_index(dir: &Path, base_offset: i64) -> std::path::PathBuf {
    dir.join(format!("{base_offset:020}.txnindex"))
}

#[test]
fn markers_end_transactions_and_aborts_are_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders-0");
    let mut log = PartitionLog::create(&path, config()).unwrap();
    log.append(txn(ABORTED, 0, 0, 3)).unwrap();
    log.flush().unwrap();
    assert_eq!(log.first_unstable_offset(), Some(0));
    log.append(txn(COMMITTED, 0, 0, 2)).unwrap();
    log.append(txn(ABORTED, 0, 3, 1)).unwrap();
    log.append(marker(ABORTED, 0, ControlType::Abort)).unwrap();
    assert_eq!(
        log.first_unstable_offset(),
        Some(0),
        "decided, but the marker is not durable"
    );
    log.append(marker(COMMITTED, 0, ControlType::Commit)).unwrap();
    log.flush().unwrap();
    assert_eq!(log.first_unstable_offset(), None);
    let snapshot = log.snapshot();
    assert_eq!(snapshot.aborted_txns(0, 8), [ABORTED_TXN]);
    assert_eq!(snapshot.aborted_txns(7, 8), []);
    assert_eq!(snapshot.aborted_txns(3, 4), [ABORTED_TXN], "records of both interleave");
    assert_eq!(fs::read(txn_index(&path, 0)).unwrap().len(), 34);
    let entry = log.producer_state().entry(ABORTED).unwrap();
    assert_eq!((entry.current_txn_first_offset, entry.last_seq()), (None, Some(3)));
}

#[test]
fn markers_from_an_old_epoch_are_refused_and_a_newer_one_becomes_current() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::create(&dir.path().join("orders-0"), config()).unwrap();
    log.append(txn(ABORTED, 3, 0, 2)).unwrap();
    let fenced = log.append(marker(ABORTED, 2, ControlType::Abort)).unwrap_err();
    assert!(matches!(
        fenced,
        LogError::Producer(ProducerError::InvalidProducerEpoch { current: 3, .. })
    ));
    assert_eq!(log.log_end_offset(), 2);
    log.append(marker(ABORTED, 4, ControlType::Abort)).unwrap();
    assert_eq!(log.producer_state().entry(ABORTED).unwrap().epoch, 4);
    log.append(txn(ABORTED, 4, 0, 1)).unwrap();
}

#[test]
fn transactions_and_the_index_survive_a_crash_and_a_clean_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders-0");
    let mut log = PartitionLog::create(&path, config()).unwrap();
    two_transactions(&mut log);
    // A third transaction stays open across the restarts.
    log.append(txn(COMMITTED, 0, 2, 2)).unwrap();
    drop(log);

    let check = |log: &PartitionLog| {
        assert_eq!(log.first_unstable_offset(), Some(8));
        assert_eq!(log.snapshot().aborted_txns(0, 10), [ABORTED_TXN]);
        let entry = log.producer_state().entry(COMMITTED).unwrap();
        assert_eq!((entry.current_txn_first_offset, entry.last_seq()), (Some(8), Some(3)));
    };
    // A crash before the index entry reached the disk: the replay writes it again.
    fs::write(txn_index(&path, 0), b"").unwrap();
    let mut log = PartitionLog::open(&path, config(), Recovery::From(3), 0).unwrap();
    check(&log);
    assert_eq!(fs::read(txn_index(&path, 0)).unwrap().len(), 34);
    // A clean shutdown snapshots the state at the log end; the next open replays nothing.
    log.close().unwrap();
    drop(log);
    assert!(path.join("00000000000000000010.snapshot").exists());
    let mut log = PartitionLog::open(&path, config(), Recovery::Skip, 0).unwrap();
    check(&log);

    // The open transaction then commits, as after any restart.
    log.append(marker(COMMITTED, 0, ControlType::Commit)).unwrap();
    log.flush().unwrap();
    assert_eq!(log.first_unstable_offset(), None);
}

#[test]
fn a_torn_marker_reopens_its_transaction_and_takes_its_index_entry_along() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders-0");
    let mut log = PartitionLog::create(&path, config()).unwrap();
    log.append(txn(ABORTED, 0, 0, 3)).unwrap();
    let marker_at = log.segments()[0].size();
    log.append(marker(ABORTED, 0, ControlType::Abort)).unwrap();
    log.flush().unwrap();
    assert_eq!(log.first_unstable_offset(), None);
    drop(log);
    let segment = dir.path().join("orders-0/00000000000000000000.log");
    let file = fs::OpenOptions::new().write(true).open(&segment).unwrap();
    file.set_len(marker_at + 10).unwrap();

    let log = PartitionLog::open(&path, config(), Recovery::From(3), 0).unwrap();
    assert_eq!(log.log_end_offset(), 3);
    assert_eq!(log.first_unstable_offset(), Some(0));
    assert_eq!(log.snapshot().aborted_txns(0, 3), []);
    assert_eq!(fs::read(txn_index(&path, 0)).unwrap().len(), 0);
}

#[test]
fn truncating_a_marker_away_reopens_its_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders-0");
    let mut log = PartitionLog::create(&path, config()).unwrap();
    two_transactions(&mut log);
    log.truncate_to(6).unwrap();
    log.flush().unwrap();
    assert_eq!(log.first_unstable_offset(), Some(0));
    assert_eq!(log.snapshot().aborted_txns(0, 6), []);
    log.append(marker(ABORTED, 0, ControlType::Abort)).unwrap();
    assert_eq!(log.snapshot().aborted_txns(0, 7)[0].last_offset, 6);
}

#[test]
fn each_segment_indexes_its_own_aborts_and_retention_deletes_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders-0");
    let config = LogConfig {
        segment_bytes: 300,
        ..small_config()
    };
    let mut log = PartitionLog::create(&path, config.clone()).unwrap();
    let mut seq = 0;
    while log.segments().len() < 3 {
        log.append(txn(ABORTED, 0, seq, 2)).unwrap();
        log.append(marker(ABORTED, 0, ControlType::Abort)).unwrap();
        seq += 2;
    }
    log.flush().unwrap();
    let first = log.segments()[0].base_offset();
    let second = log.segments()[1].base_offset();
    assert!(txn_index(&path, first).exists() && txn_index(&path, second).exists());
    // A fetch from the first segment sees only the transactions overlapping it.
    let aborted = log.snapshot().aborted_txns(0, second);
    assert!(!aborted.is_empty() && aborted.iter().all(|t| t.first_offset < second));
    assert_eq!(log.apply_retention(i64::MAX, 0, -1).unwrap(), 2);
    assert!(!txn_index(&path, first).exists() && !txn_index(&path, second).exists());
}

/// Producer OPEN's transaction starts at offset 0; then producer COMMITTED fills segments
/// with plain idempotent batches until the log has `segments` of them.
fn long_open_transaction(log: &mut PartitionLog, segments: usize) {
    const OPEN: i64 = 300;
    log.append(txn(OPEN, 0, 0, 1)).unwrap();
    let mut seq = 0;
    while log.segments().len() < segments {
        let mut builder = RecordBatchBuilder::new(0).producer(COMMITTED, 0, seq);
        builder.append(1_000, None, Some(b"filler-record"), &[]);
        log.append(builder.build().as_bytes().clone()).unwrap();
        seq += 1;
    }
}

#[test]
fn a_transaction_open_since_many_segments_survives_crashes_and_clean_restarts() {
    let config = LogConfig {
        segment_bytes: 400,
        ..small_config()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders-0");
    let mut log = PartitionLog::create(&path, config.clone()).unwrap();
    long_open_transaction(&mut log, 5);
    let flushed = log.flush().unwrap();
    let last_seq = log.producer_state().entry(COMMITTED).unwrap().last_seq();
    drop(log);

    // After a crash: the snapshot of the last roll at or below the recovery point, then
    // the batches after it.
    let log = PartitionLog::open(&path, config.clone(), Recovery::From(flushed), 0).unwrap();
    assert_eq!(log.first_unstable_offset(), Some(0));
    assert_eq!(log.producer_state().entry(COMMITTED).unwrap().last_seq(), last_seq);
    drop(log);

    // A crash before the recovery point passed any roll: no snapshot is trusted, and every
    // segment is replayed.
    let log = PartitionLog::open(&path, config.clone(), Recovery::From(0), 0).unwrap();
    assert_eq!(log.first_unstable_offset(), Some(0));
    drop(log);
    // The same without any snapshot (a log written before them).
    for entry in fs::read_dir(&path).unwrap() {
        let entry = entry.unwrap().path();
        if entry.extension().is_some_and(|e| e == "snapshot") {
            fs::remove_file(entry).unwrap();
        }
    }
    let mut log = PartitionLog::open(&path, config.clone(), Recovery::Skip, 0).unwrap();
    assert_eq!(log.first_unstable_offset(), Some(0));
    drop(log);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders-0");
    log = PartitionLog::create(&path, config.clone()).unwrap();
    long_open_transaction(&mut log, 5);
    log.close().unwrap();
    drop(log);
    let mut log = PartitionLog::open(&path, config.clone(), Recovery::Skip, 0).unwrap();
    assert_eq!(log.first_unstable_offset(), Some(0), "after a clean shutdown");
    assert_eq!(log.producer_state().entry(COMMITTED).unwrap().last_seq(), last_seq);

    // Each clean shutdown leaves a snapshot at the log end; the next start keeps only the
    // newest of those besides the ones at segment bases.
    let snapshots = || -> Vec<i64> {
        let mut offsets: Vec<i64> = fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter_map(|name| name.strip_suffix(".snapshot").map(|o| o.parse().unwrap()))
            .collect();
        offsets.sort();
        offsets
    };
    let first_shutdown = log.log_end_offset();
    log.append(txn(ABORTED, 0, 0, 1)).unwrap();
    log.close().unwrap();
    drop(log);
    assert!(snapshots().contains(&first_shutdown));
    let log = PartitionLog::open(&path, config, Recovery::Skip, 0).unwrap();
    let bases: Vec<i64> = log.segments().iter().map(|s| s.base_offset()).collect();
    let mut expected: Vec<i64> = bases[1..].to_vec();
    expected.push(log.log_end_offset());
    assert_eq!(snapshots(), expected, "one at each roll, and the last shutdown's");
}

/// Kafka's producer snapshot v1 holding one producer, encoded here from the format's
/// description rather than by the crate.
fn kafka_snapshot(producer_id: i64, epoch: i16, last_seq: i32, last_offset: i64, txn_first_offset: i64) -> Vec<u8> {
    let mut covered = 1i32.to_be_bytes().to_vec();
    covered.extend_from_slice(&producer_id.to_be_bytes());
    covered.extend_from_slice(&epoch.to_be_bytes());
    covered.extend_from_slice(&last_seq.to_be_bytes());
    covered.extend_from_slice(&last_offset.to_be_bytes());
    covered.extend_from_slice(&0i32.to_be_bytes()); // offset delta: a one-record batch
    covered.extend_from_slice(&1_000i64.to_be_bytes());
    covered.extend_from_slice(&5i32.to_be_bytes()); // coordinator epoch
    covered.extend_from_slice(&txn_first_offset.to_be_bytes());
    let mut bytes = 1i16.to_be_bytes().to_vec();
    bytes.extend_from_slice(&crc32c::crc32c(&covered).to_be_bytes());
    bytes.extend_from_slice(&covered);
    bytes
}

#[test]
fn a_clean_start_takes_the_producer_state_from_a_kafka_snapshot_without_replaying() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders-0");
    let mut log = PartitionLog::create(&path, config()).unwrap();
    log.append(txn(ABORTED, 0, 0, 3)).unwrap();
    log.close().unwrap();
    drop(log);
    // Replaces the snapshot written at the shutdown with one that knows only a producer
    // the log has never seen: what is loaded comes from the file, not from a replay.
    fs::write(
        path.join("00000000000000000003.snapshot"),
        kafka_snapshot(42, 7, 11, 2, 1),
    )
    .unwrap();
    let log = PartitionLog::open(&path, config(), Recovery::Skip, 0).unwrap();
    assert!(log.producer_state().entry(ABORTED).is_none());
    let entry = log.producer_state().entry(42).unwrap();
    assert_eq!(
        (
            entry.epoch,
            entry.last_seq(),
            entry.coordinator_epoch,
            entry.current_txn_first_offset
        ),
        (7, Some(11), 5, Some(1))
    );
    assert_eq!(log.first_unstable_offset(), Some(1));
    drop(log);

    // A snapshot that fails its CRC is deleted, and the log is replayed instead.
    let mut corrupt = kafka_snapshot(42, 7, 11, 2, 1);
    corrupt[12] ^= 1;
    fs::write(path.join("00000000000000000003.snapshot"), corrupt).unwrap();
    let log = PartitionLog::open(&path, config(), Recovery::Skip, 0).unwrap();
    assert!(log.producer_state().entry(42).is_none());
    assert_eq!(
        log.producer_state().entry(ABORTED).unwrap().current_txn_first_offset,
        Some(0)
    );
    assert!(!path.join("00000000000000000003.snapshot").exists());
}
