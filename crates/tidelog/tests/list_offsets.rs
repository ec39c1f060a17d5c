//! ListOffsets against records with known timestamps, through librdkafka
//! (`offsets_for_times`, `fetch_watermarks`) and raw frames (earliest, latest, by
//! timestamp, max timestamp), before and after clean and crash restarts: the time indexes
//! that answer them survive both.

mod common;

use common::clients::{self, new_topic, send, TestRecord, CLIENT_TIMEOUT};
use common::raw::{EARLIEST, LATEST, MAX_TIMESTAMP};
use common::{now_ms, Broker};
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use tidelog_protocol::records::{Compression, RecordBatchBuilder};
use tidelog_protocol::ErrorCode;

const TOPIC: &str = "times";

/// Timestamps relative to the test's base time, by offset: ten single-record batches
/// 0, 1000, ..., 9000 (spread over several small segments), then one batch of five whose
/// largest timestamp is in the middle, then one record older than all the others.
const TIMESTAMPS: [i64; 16] = [
    0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, // one batch each
    10_000, 11_000, 14_000, 12_000, 13_000, // one batch
    -500,   // one batch
];

/// Offsets 0..16 as described by [`TIMESTAMPS`], with CreateTimes `base + TIMESTAMPS[i]`.
fn produce(broker: &Broker, base: i64) {
    let record = |offset: usize| TestRecord {
        key: format!("key-{offset}").into_bytes(),
        value: format!("value-{offset}").into_bytes(),
        headers: Vec::new(),
        timestamp: base + TIMESTAMPS[offset],
    };
    // librdkafka, one batch per record.
    let producer = broker.tracked_producer(&[("acks", "all"), ("linger.ms", "0")]);
    for offset in 0..10 {
        send(&producer, TOPIC, Some(0), offset, &record(offset));
        clients::flush(&producer, CLIENT_TIMEOUT);
    }
    let reports = clients::take_deliveries(&producer);
    for offset in 0..10 {
        assert_eq!(reports[&offset].as_ref().ok(), Some(&(0, offset as i64)));
    }
    // Raw batches for the rest.
    let mut raw = broker.raw();
    for batch in [10..15, 15..16] {
        let first = batch.start as i64;
        let mut builder = RecordBatchBuilder::new(0).compression(Compression::None);
        for offset in batch {
            let r = record(offset);
            builder.append(r.timestamp, Some(&r.key), Some(&r.value), &[]);
        }
        let response = raw.produce(TOPIC, 0, -1, builder.build().as_bytes().clone());
        assert_eq!(
            (ErrorCode(response.error_code), response.base_offset),
            (ErrorCode::NONE, first)
        );
    }
}

/// The offset librdkafka's `offsets_for_times` finds for `timestamp`.
fn offset_for_time(broker: &Broker, timestamp: i64) -> Offset {
    let mut query = TopicPartitionList::new();
    query
        .add_partition_offset(TOPIC, 0, Offset::Offset(timestamp))
        .expect("add the partition");
    let found = broker
        .reader()
        .offsets_for_times(query, CLIENT_TIMEOUT)
        .expect("offsets_for_times");
    let partition = found.find_partition(TOPIC, 0).expect("the partition is answered");
    partition.error().expect("no partition error");
    partition.offset()
}

/// Every lookup, through librdkafka and raw ListOffsets.
fn assert_lookups(broker: &Broker, base: i64) {
    assert_eq!(broker.watermarks(TOPIC, 0), (0, 16));

    // By timestamp: the first offset whose timestamp is at least the one asked.
    let by_time = [
        (-1_000, Offset::Offset(0)),
        (0, Offset::Offset(0)),
        (3000, Offset::Offset(3)),
        (3001, Offset::Offset(4)),
        (9000, Offset::Offset(9)),
        (9001, Offset::Offset(10)),
        (11_001, Offset::Offset(12)),
        (12_000, Offset::Offset(12)),
        (14_000, Offset::Offset(12)),
        (14_001, Offset::End),
    ];
    for (relative, expected) in by_time {
        assert_eq!(
            offset_for_time(broker, base + relative),
            expected,
            "timestamp base{relative:+}"
        );
    }

    // Raw frames, which also show the timestamp found.
    let mut raw = broker.raw();
    let mut lookup = |timestamp: i64| {
        let response = raw.list_offsets(TOPIC, 0, timestamp);
        assert_eq!(ErrorCode(response.error_code), ErrorCode::NONE, "{response:?}");
        (response.timestamp, response.offset)
    };
    assert_eq!(lookup(EARLIEST).1, 0);
    assert_eq!(lookup(LATEST).1, 16);
    assert_eq!(lookup(MAX_TIMESTAMP), (base + 14_000, 12));
    assert_eq!(lookup(base + 3001), (base + 4000, 4));
    assert_eq!(lookup(base + 11_001), (base + 14_000, 12));
    assert_eq!(lookup(base - 500), (base, 0));
    assert_eq!(lookup(base + 14_001), (-1, -1));

    let unknown = raw.list_offsets(TOPIC, 7, LATEST);
    assert_eq!(ErrorCode(unknown.error_code), ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
}

#[test]
fn list_offsets_by_timestamp_earliest_latest_and_max_timestamp() {
    let mut broker = Broker::start(&[]);
    // Small segments: the ten single-record batches span several of them.
    broker
        .admin()
        .create_ok(&[new_topic(TOPIC, 1, 1).set("segment.bytes", "300")]);
    let base = now_ms() - 3_600_000;
    produce(&broker, base);
    assert!(broker.segment_base_offsets(TOPIC, 0).len() > 2, "several segments");
    assert_lookups(&broker, base);

    broker.stop();
    broker.restart();
    assert_lookups(&broker, base);

    broker.kill9();
    broker.restart();
    assert_lookups(&broker, base);
}

/// An acks=1 answer comes once the records are durable, as acks=all's does: the latest
/// offset asked right after it, on the same connection, already counts them (Sarama's
/// functional suite asks so).
#[test]
fn the_latest_offset_counts_records_acknowledged_with_acks_1() {
    let broker = Broker::start(&[]);
    broker.admin().create_ok(&[new_topic("acks1", 4, 1)]);
    let mut raw = broker.raw();
    for round in 1..=50i64 {
        for partition in 0..4 {
            let records = common::raw::batch(now_ms(), &[(b"k", b"value")]);
            let produced = raw.produce("acks1", partition, 1, records);
            assert_eq!(ErrorCode(produced.error_code), ErrorCode::NONE);
        }
        for partition in 0..4 {
            assert_eq!(
                raw.latest_offset("acks1", partition),
                round,
                "partition {partition} after round {round}"
            );
        }
    }
}
