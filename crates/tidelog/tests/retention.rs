//! Retention through the real binary, checked every 200 ms: time and size limits delete
//! the oldest segments (their files go, the log start offset moves up, fetching below it
//! is OFFSET_OUT_OF_RANGE) and the newest records stay readable, also after restarts.

mod common;

use common::clients::{new_topic, TestRecord};
use common::raw::{self, EARLIEST};
use common::{now_ms, wait_until, Broker};
use tidelog_protocol::records::Compression;
use tidelog_protocol::ErrorCode;

/// Retention runs every 200 ms instead of every 5 minutes.
const FAST_RETENTION: [&str; 2] = ["--override", "log.retention.check.interval.ms=200"];

const RECORDS: usize = 100;

fn record(id: usize, timestamp: i64) -> TestRecord {
    TestRecord {
        key: format!("key-{id}").into_bytes(),
        value: format!("value-{id}-{}", "r".repeat(40)).into_bytes(),
        headers: Vec::new(),
        timestamp,
    }
}

/// Produces `records` to partition 0 of `topic`, one batch each (about ten per 1 KiB
/// segment).
fn produce(broker: &Broker, topic: &str, records: &[TestRecord]) {
    let mut raw = broker.raw();
    for (offset, record) in records.iter().enumerate() {
        let response = raw.produce(
            topic,
            0,
            -1,
            raw::encode_batch(std::slice::from_ref(record), Compression::None),
        );
        assert_eq!(ErrorCode(response.error_code), ErrorCode::NONE);
        assert_eq!(response.base_offset, offset as i64);
    }
}

/// The sizes of the partition's segment files by base offset, oldest first.
fn segment_sizes(broker: &Broker, topic: &str) -> Vec<(i64, u64)> {
    broker
        .segment_base_offsets(topic, 0)
        .into_iter()
        .map(|base| {
            let path = broker.segment_file(topic, 0, base, "log");
            (base, std::fs::metadata(path).map_or(0, |m| m.len()))
        })
        .collect()
}

/// Asserts the state once retention deleted everything below `log_start`: no file of a
/// deleted segment is left, the earliest offset is `log_start`, fetching below it is
/// OFFSET_OUT_OF_RANGE, and every record from it on is readable and unchanged.
fn assert_deleted_below(broker: &Broker, topic: &str, log_start: i64, records: &[TestRecord]) {
    let dir = broker.partition_dir(topic, 0);
    for entry in std::fs::read_dir(&dir).expect("list the partition dir") {
        let name = entry
            .expect("a directory entry")
            .file_name()
            .into_string()
            .expect("UTF-8");
        if let Some(Ok(base)) = name.split('.').next().map(str::parse::<i64>) {
            assert!(base >= log_start, "{name} of a deleted segment is still there");
        }
    }
    let mut raw = broker.raw();
    let earliest = raw.list_offsets(topic, 0, EARLIEST);
    assert_eq!(
        (ErrorCode(earliest.error_code), earliest.offset),
        (ErrorCode::NONE, log_start)
    );
    assert_eq!(broker.watermarks(topic, 0), (log_start, records.len() as i64));
    for below in [0, log_start - 1] {
        let fetched = raw.fetch(raw::fetch_request(topic, 0, below, 0, 1));
        assert_eq!(
            ErrorCode(fetched.error_code),
            ErrorCode::OFFSET_OUT_OF_RANGE,
            "fetch at {below}"
        );
        assert_eq!(fetched.log_start_offset, log_start);
    }
    let messages = broker.read_partition(topic, 0, log_start, records.len() as i64);
    let kept = &records[log_start as usize..];
    assert_eq!(messages.len(), kept.len());
    for (message, sent) in messages.iter().zip(kept) {
        assert_eq!(message.as_sent().as_ref(), Some(sent), "offset {}", message.offset);
    }
}

#[test]
fn time_retention_deletes_every_segment_older_than_retention_ms() {
    let mut broker = Broker::start(&FAST_RETENTION);
    broker.admin().create_ok(&[new_topic("old", 1, 1)
        .set("segment.bytes", "1024")
        .set("retention.ms", "60000")]);
    // An hour old: each segment is past retention once it is no longer the active one.
    let an_hour_ago = now_ms() - 3_600_000;
    let records: Vec<TestRecord> = (0..RECORDS).map(|id| record(id, an_hour_ago)).collect();
    produce(&broker, "old", &records);

    let active = wait_until("retention to leave only the active segment", || {
        match segment_sizes(&broker, "old")[..] {
            [(base, _)] if base > 0 => Some(base),
            _ => None,
        }
    });
    broker.wait_for_line(&["retention deleted segments", "old"]);
    assert_deleted_below(&broker, "old", active, &records);

    // The log start offset survives restarts, clean or not.
    broker.stop();
    broker.restart();
    assert_deleted_below(&broker, "old", active, &records);
    broker.kill9();
    broker.restart();
    assert_deleted_below(&broker, "old", active, &records);
}

#[test]
fn size_retention_deletes_the_oldest_segments_beyond_retention_bytes() {
    const RETENTION_BYTES: u64 = 3072;
    let broker = Broker::start(&FAST_RETENTION);
    broker.admin().create_ok(&[new_topic("big", 1, 1)
        .set("segment.bytes", "1024")
        .set("retention.bytes", &RETENTION_BYTES.to_string())]);
    let records: Vec<TestRecord> = (0..RECORDS).map(|id| record(id, now_ms())).collect();
    produce(&broker, "big", &records);

    // Kafka's rule: the oldest segment goes while the log without it is still at least
    // retention.bytes.
    let log_start = wait_until("retention to bring the log within retention.bytes", || {
        let segments = segment_sizes(&broker, "big");
        let total: u64 = segments.iter().map(|(_, size)| size).sum();
        let (oldest, oldest_size) = segments[0];
        (oldest > 0 && total - oldest_size < RETENTION_BYTES).then_some(oldest)
    });
    broker.wait_for_line(&["retention deleted segments", "big"]);
    assert_deleted_below(&broker, "big", log_start, &records);
}
