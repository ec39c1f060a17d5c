//! Idempotent producers' batches in a partition log: retries are not written twice, gaps
//! and fenced epochs are refused, and the state survives a reopen.

mod common;

use bytes::Bytes;
use common::small_config;
use tidelog_log::{LogConfig, LogError, PartitionLog, ProducerError, Recovery};
use tidelog_protocol::records::{RecordBatch, RecordBatchBuilder};

const PID: i64 = 1_000;

/// A batch of `records` records from producer `PID` as it sends it.
fn sent(epoch: i16, first_seq: i32, records: usize) -> Bytes {
    let mut builder = RecordBatchBuilder::new(0).producer(PID, epoch, first_seq);
    for i in 0..records {
        builder.append(
            1_000 + i as i64,
            None,
            Some(format!("seq-{}", first_seq as usize + i).as_bytes()),
            &[],
        );
    }
    builder.build().as_bytes().clone()
}

fn base_offsets(log: &PartitionLog) -> Vec<i64> {
    let read = log.read(0, 1 << 20, i64::MAX).unwrap();
    RecordBatch::iter_batches(read.records.to_bytes().unwrap())
        .map(|b| b.unwrap().base_offset())
        .collect()
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 100_000,
        ..small_config()
    }
}

#[test]
fn a_retried_batch_gets_its_original_offsets_and_is_not_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::create(&dir.path().join("orders-0"), config()).unwrap();
    assert_eq!(log.append(sent(0, 0, 3)).unwrap().base_offset, 0);
    assert_eq!(log.append(sent(0, 3, 2)).unwrap().base_offset, 3);
    let retry = log.append(sent(0, 0, 3)).unwrap();
    assert!(retry.duplicate);
    assert_eq!((retry.base_offset, retry.last_offset), (0, 2));
    assert_eq!(log.log_end_offset(), 5);
    assert_eq!(base_offsets(&log), [0, 3]);

    let gap = log.append(sent(0, 6, 1)).unwrap_err();
    assert!(matches!(
        gap,
        LogError::Producer(ProducerError::OutOfOrderSequence { .. })
    ));
    log.append(sent(1, 0, 1)).unwrap();
    let fenced = log.append(sent(0, 5, 1)).unwrap_err();
    assert!(matches!(
        fenced,
        LogError::Producer(ProducerError::InvalidProducerEpoch { .. })
    ));
    assert_eq!(log.log_end_offset(), 6);
}

#[test]
fn producer_state_is_rebuilt_from_the_log_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orders-0");
    let mut log = PartitionLog::create(&path, config()).unwrap();
    for seq in 0..4 {
        log.append(sent(2, seq * 2, 2)).unwrap();
    }
    let before = log.producer_state().clone();
    drop(log);
    for recovery in [Recovery::Skip, Recovery::From(0)] {
        let mut log = PartitionLog::open(&path, config(), recovery, 0).unwrap();
        assert_eq!(log.producer_state(), &before);
        let retry = log.append(sent(2, 6, 2)).unwrap();
        assert!(retry.duplicate);
        assert_eq!(retry.base_offset, 6);
        assert!(log.append(sent(1, 8, 1)).is_err(), "the epoch is remembered");
    }
}

#[test]
fn truncation_forgets_the_batches_it_removes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::create(&dir.path().join("orders-0"), config()).unwrap();
    log.append(sent(0, 0, 2)).unwrap();
    log.append(sent(0, 2, 2)).unwrap();
    log.truncate_to(2).unwrap();
    assert!(!log.append(sent(0, 2, 2)).unwrap().duplicate);
    assert_eq!(base_offsets(&log), [0, 2]);
}

/// A follower's copy of a leader's batches keeps their producer state: after a crash (the
/// log reopened from its recovery point) and as leader, it knows a retry of the last one.
#[test]
fn a_followers_copy_knows_the_retries_of_what_it_copied_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut leader = PartitionLog::create(&dir.path().join("leader-0"), config()).unwrap();
    leader.become_leader(3);
    for seq in [0, 3, 6] {
        leader.append(sent(0, seq, 3)).unwrap();
    }
    let copied = leader.read(0, 1 << 20, i64::MAX).unwrap().records.to_bytes().unwrap();
    let path = dir.path().join("orders-0");
    let mut follower = PartitionLog::create(&path, config()).unwrap();
    follower.become_follower();
    follower.append_as_follower(copied).unwrap();
    follower.flush().unwrap();
    for recovery in [Recovery::From(0), Recovery::From(9), Recovery::Skip] {
        drop(follower);
        follower = PartitionLog::open(&path, config(), recovery, 0).unwrap();
        follower.become_leader(6);
        let retry = follower.append(sent(0, 6, 3)).unwrap();
        assert!(retry.duplicate, "{recovery:?}");
        assert_eq!((retry.base_offset, retry.last_offset), (6, 8), "{recovery:?}");
    }
}
