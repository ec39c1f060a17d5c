//! Retention through the real binary, checked every 200 ms: time and size limits delete
//! the oldest segments (their files go, the log start offset moves up, fetching below it
//! is OFFSET_OUT_OF_RANGE) and the newest records stay readable, also after restarts.
//! DeleteRecords moves the log start the same way, to any offset, at once.

mod common;

use common::clients::{new_topic, TestRecord};
use common::raw::{self, RawClient, EARLIEST};
use common::{now_ms, wait_until, Broker};
use rdkafka::Offset;
use tidelog_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsRequest, DeleteRecordsTopic,
};
use tidelog_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use tidelog_protocol::records::Compression;
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

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

/// Asserts the state once everything below `log_start` was deleted: no segment wholly
/// below it is left, nor any file of one but those renamed `.deleted`, the earliest offset is `log_start`, fetching
/// below it is OFFSET_OUT_OF_RANGE, and every record from it on is readable and unchanged.
fn assert_deleted_below(broker: &Broker, topic: &str, log_start: i64, records: &[TestRecord]) {
    let bases = broker.segment_base_offsets(topic, 0);
    assert!(
        bases[0] <= log_start && bases.iter().skip(1).all(|base| *base > log_start),
        "segments {bases:?} for the log start {log_start}"
    );
    let dir = broker.partition_dir(topic, 0);
    for entry in std::fs::read_dir(&dir).expect("list the partition dir") {
        let name = entry
            .expect("a directory entry")
            .file_name()
            .into_string()
            .expect("UTF-8");
        // A deleted segment's files wait file.delete.delay.ms (60 s) renamed `.deleted`.
        if name.ends_with(".deleted") {
            continue;
        }
        if let Some(Ok(base)) = name.split('.').next().map(str::parse::<i64>) {
            assert!(base >= bases[0], "{name} of a deleted segment is still there");
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
        // Kafka tells no offsets with this error (checked against it by the differential
        // corpus): the client asks ListOffsets.
        assert_eq!(
            (fetched.high_watermark, fetched.log_start_offset),
            (-1, -1),
            "fetch at {below}"
        );
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

#[test]
fn delete_records_moves_the_log_start_at_once_and_it_holds_after_a_crash() {
    let mut broker = Broker::start(&[]);
    let admin = broker.admin();
    admin.create_ok(&[new_topic("trimmed", 2, 1).set("segment.bytes", "1024")]);
    let records: Vec<TestRecord> = (0..RECORDS).map(|id| record(id, now_ms())).collect();
    produce(&broker, "trimmed", &records);

    // Partition 0 below 45, in the middle of a segment; the empty partition 1 up to its
    // high watermark (-1), which is 0.
    let deleted = admin.delete_records("trimmed", &[(0, Offset::Offset(45)), (1, Offset::End)]);
    assert_eq!(deleted, [(0, Ok(45)), (1, Ok(0))]);
    assert_deleted_below(&broker, "trimmed", 45, &records);

    // Answered once checkpointed: a crash right after keeps the new log start.
    broker.kill9();
    broker.restart();
    assert_deleted_below(&broker, "trimmed", 45, &records);

    // Refusals, read off the wire, each changing nothing.
    let mut raw = broker.raw();
    let high_watermark = RECORDS as i64;
    for (topic, partition, offset, expected) in [
        ("trimmed", 0, high_watermark + 1, ErrorCode::OFFSET_OUT_OF_RANGE),
        ("trimmed", 0, -2, ErrorCode::OFFSET_OUT_OF_RANGE),
        ("trimmed", 7, 1, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
        ("missing", 0, 1, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
    ] {
        assert_eq!(
            delete_records(&mut raw, topic, partition, offset),
            (expected, -1),
            "{topic}-{partition} below {offset}"
        );
    }
    admin.create_ok(&[new_topic("compacted", 1, 1).set("cleanup.policy", "compact")]);
    assert_eq!(
        delete_records(&mut raw, "compacted", 0, 0),
        (ErrorCode::POLICY_VIOLATION, -1)
    );
    // FindCoordinator of a group creates the internal offsets topic if it is not there yet.
    let find = FindCoordinatorRequest {
        coordinator_keys: vec!["g".into()],
        ..Default::default()
    };
    raw.request(4, RequestBody::FindCoordinator(find));
    assert_eq!(
        delete_records(&mut raw, "__consumer_offsets", 0, 0),
        (ErrorCode::INVALID_TOPIC_EXCEPTION, -1)
    );
    assert_deleted_below(&broker, "trimmed", 45, &records);

    // Up to the high watermark: the log start is the end, and nothing is left to read.
    assert_eq!(
        delete_records(&mut raw, "trimmed", 0, -1),
        (ErrorCode::NONE, high_watermark)
    );
    let earliest = raw.list_offsets("trimmed", 0, EARLIEST);
    assert_eq!(earliest.offset, high_watermark);
}

/// DeleteRecords v2 of one partition below `offset`: its (error, low watermark).
fn delete_records(raw: &mut RawClient, topic: &str, partition: i32, offset: i64) -> (ErrorCode, i64) {
    let request = DeleteRecordsRequest {
        topics: vec![DeleteRecordsTopic {
            name: topic.into(),
            partitions: vec![DeleteRecordsPartition {
                partition_index: partition,
                offset,
                ..Default::default()
            }],
            ..Default::default()
        }],
        timeout_ms: 15_000,
        ..Default::default()
    };
    let ResponseBody::DeleteRecords(response) = raw.request(2, RequestBody::DeleteRecords(request)) else {
        panic!("not a DeleteRecords response")
    };
    let answer = &response.topics[0].partitions[0];
    assert_eq!(answer.partition_index, partition);
    (ErrorCode(answer.error_code), answer.low_watermark)
}
