//! Fetch's size limits, with raw Fetch frames: a response holds whole batches within each
//! partition's `partition_max_bytes`, the request's `max_bytes` and the broker's
//! `fetch.max.bytes`, and the first batch of a response whatever its size (KIP-74). The
//! batches are about 100 KB, so the reads are file regions the broker sends with
//! `sendfile`; the small reads are covered by every other fetch test.

mod common;

use common::raw::{self, RawClient};
use common::Broker;
use tidelog_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

const TOPIC: &str = "limits";
const BATCHES: usize = 4;
const VALUE_BYTES: usize = 100_000;

/// Partition `p`'s batch `i` holds one record whose value is `VALUE_BYTES` of `value_byte(p, i)`.
fn value_byte(partition: i32, i: usize) -> u8 {
    (partition as usize * 16 + i) as u8
}

/// Creates the topic (Metadata's auto-creation, `num.partitions=2`), fills both its
/// partitions and returns the size of one batch (all are alike).
fn fill(raw: &mut RawClient) -> usize {
    let metadata = raw.metadata(Some(&[TOPIC]), true);
    assert_eq!(metadata.topics[0].partitions.len(), 2, "{metadata:?}");
    let mut size = 0;
    for partition in 0..2 {
        for i in 0..BATCHES {
            let value = vec![value_byte(partition, i); VALUE_BYTES];
            let batch = raw::batch(common::now_ms(), &[(&b"k"[..], &value[..])]);
            size = batch.len();
            let answer = raw.produce(TOPIC, partition, -1, batch);
            assert_eq!(ErrorCode(answer.error_code), ErrorCode::NONE, "{answer:?}");
            assert_eq!(answer.base_offset, i as i64);
        }
    }
    size
}

/// Fetches both partitions from offset 0 and returns, per partition, the value bytes of
/// the records that came back (each value is one repeated byte).
fn fetch(raw: &mut RawClient, max_bytes: usize, partition_max_bytes: usize) -> Vec<Vec<u8>> {
    let partitions = (0..2)
        .map(|partition| FetchPartition {
            partition,
            fetch_offset: 0,
            partition_max_bytes: partition_max_bytes as i32,
            ..Default::default()
        })
        .collect();
    let request = FetchRequest {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes: max_bytes as i32,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic: TOPIC.into(),
            partitions,
            ..Default::default()
        }],
        ..Default::default()
    };
    let ResponseBody::Fetch(response) = raw.request(12, RequestBody::Fetch(request)) else {
        panic!("not a Fetch response");
    };
    let mut returned = Vec::new();
    for (expected, p) in (0..2).zip(&response.responses[0].partitions) {
        assert_eq!(
            (p.partition_index, ErrorCode(p.error_code)),
            (expected, ErrorCode::NONE)
        );
        let mut values = Vec::new();
        for record in raw::decode_records(&p.records.clone().unwrap_or_default()) {
            let value = record.value.expect("a value");
            assert!(value.iter().all(|&b| b == value[0]) && value.len() == VALUE_BYTES);
            values.push(value[0]);
        }
        returned.push(values);
    }
    returned
}

/// The values of partition `p`'s first `n` batches.
fn first(partition: i32, n: usize) -> Vec<u8> {
    (0..n).map(|i| value_byte(partition, i)).collect()
}

#[test]
fn responses_hold_whole_batches_within_the_requests_limits() {
    let broker = Broker::start(&["--override", "num.partitions=2"]);
    let mut raw = broker.raw();
    let batch = fill(&mut raw);
    let all = 10 * BATCHES * batch;

    assert_eq!(fetch(&mut raw, all, all), [first(0, 4), first(1, 4)]);
    // Per partition: two and a half batches' worth is two whole batches.
    assert_eq!(fetch(&mut raw, all, 5 * batch / 2), [first(0, 2), first(1, 2)]);
    // Per response: three batches, all from the first partition, none cut.
    assert_eq!(fetch(&mut raw, 3 * batch + 10, all), [first(0, 3), vec![]]);
    assert_eq!(fetch(&mut raw, 5 * batch, all), [first(0, 4), first(1, 1)]);
    // A batch larger than every limit still goes out, as the first of the response only.
    assert_eq!(fetch(&mut raw, 1, 1), [first(0, 1), vec![]]);
}

#[test]
fn the_brokers_fetch_max_bytes_caps_what_a_client_asks_for() {
    // Two and a half batches of about 100 KB.
    let broker = Broker::start(&["--override", "num.partitions=2", "--override", "fetch.max.bytes=250100"]);
    let mut raw = broker.raw();
    let batch = fill(&mut raw);
    assert!((2 * batch..3 * batch).contains(&250_100), "batch of {batch} bytes");
    assert_eq!(fetch(&mut raw, 50 << 20, 1 << 20), [first(0, 2), vec![]]);
    // The client's smaller limit still applies.
    assert_eq!(fetch(&mut raw, batch, 1 << 20), [first(0, 1), vec![]]);
}
