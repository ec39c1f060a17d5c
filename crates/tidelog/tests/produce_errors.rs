//! Produce requests the broker must refuse, sent as raw frames: each gets Kafka's error
//! code, appends nothing, and leaves the connection and the partition working for the next
//! (good) produce.

mod common;

use bytes::Bytes;
use common::clients::new_topic;
use common::raw::{self, PRODUCE_VERSION};
use common::{now_ms, Broker, RawClient};
use tidelog_protocol::records::RecordBatch;
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

const TOPIC: &str = "strict";

/// A broker with [`TOPIC`] (one partition, max.message.bytes 1000) holding two records,
/// and a connection to it.
fn setup() -> (Broker, RawClient) {
    let broker = Broker::start(&[]);
    broker
        .admin()
        .create_ok(&[new_topic(TOPIC, 1, 1).set("max.message.bytes", "1000")]);
    let mut client = broker.raw();
    assert_produced(&mut client, TOPIC, 0, good_batch(b"before"), 0);
    (broker, client)
}

/// Two small records.
fn good_batch(value: &[u8]) -> Bytes {
    raw::batch(now_ms(), &[(b"k1", value), (b"k2", value)])
}

fn assert_produced(client: &mut RawClient, topic: &str, partition: i32, records: Bytes, base_offset: i64) {
    let response = client.produce(topic, partition, -1, records);
    assert_eq!(
        (ErrorCode(response.error_code), response.base_offset),
        (ErrorCode::NONE, base_offset)
    );
}

/// Sends `records` to partition `partition` of `topic` with `acks` and expects `code` and
/// no offset; then checks that nothing was appended to [`TOPIC`], that a good produce on
/// the same connection follows at the same log end, and that the log holds only the good
/// batches.
fn assert_refused(client: &mut RawClient, topic: &str, partition: i32, acks: i16, records: Bytes, code: ErrorCode) {
    let end = client.latest_offset(TOPIC, 0);
    let response = client.produce(topic, partition, acks, records);
    assert_eq!(
        (ErrorCode(response.error_code), response.base_offset),
        (code, -1),
        "{response:?}"
    );
    assert_eq!(client.latest_offset(TOPIC, 0), end, "nothing was appended");
    assert_produced(client, TOPIC, 0, good_batch(b"after"), end);
    let fetched = client.fetch(raw::fetch_request(TOPIC, 0, 0, 0, 1));
    let values: Vec<Bytes> = raw::decode_records(&fetched.records.expect("records"))
        .into_iter()
        .map(|r| r.value.expect("a value"))
        .collect();
    let mut expected = vec![Bytes::from_static(b"before"); 2];
    expected.resize(end as usize + 2, Bytes::from_static(b"after"));
    assert_eq!(values, expected);
}

#[test]
fn flipped_crc_byte_is_corrupt_message() {
    let (_broker, mut client) = setup();
    let mut bytes = good_batch(b"flipped").to_vec();
    // The CRC field is bytes 17..21 of a v2 batch.
    bytes[18] ^= 0x01;
    assert_refused(&mut client, TOPIC, 0, -1, bytes.into(), ErrorCode::CORRUPT_MESSAGE);
}

#[test]
fn flipped_record_byte_is_corrupt_message() {
    let (_broker, mut client) = setup();
    let mut bytes = good_batch(b"flipped").to_vec();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x40;
    assert_refused(&mut client, TOPIC, 0, -1, bytes.into(), ErrorCode::CORRUPT_MESSAGE);
}

#[test]
fn truncated_batch_is_corrupt_message() {
    let (_broker, mut client) = setup();
    let bytes = good_batch(b"cut short");
    let truncated = bytes.slice(..bytes.len() - 5);
    assert_refused(&mut client, TOPIC, 0, -1, truncated, ErrorCode::CORRUPT_MESSAGE);
}

#[test]
fn good_batch_followed_by_a_truncated_one_appends_nothing() {
    let (_broker, mut client) = setup();
    let second = good_batch(b"second");
    let mut set = good_batch(b"first").to_vec();
    set.extend_from_slice(&second[..second.len() / 2]);
    assert_refused(&mut client, TOPIC, 0, -1, set.into(), ErrorCode::CORRUPT_MESSAGE);
}

#[test]
fn batch_over_max_message_bytes_is_message_too_large() {
    let (_broker, mut client) = setup();
    let big = raw::batch(now_ms(), &[(b"big", &[b'x'; 2000])]);
    assert!(RecordBatch::parse(big.clone()).expect("a batch").size_in_bytes() > 1000);
    assert_refused(&mut client, TOPIC, 0, -1, big, ErrorCode::MESSAGE_TOO_LARGE);
}

#[test]
fn acks_2_is_invalid_required_acks() {
    let (_broker, mut client) = setup();
    assert_refused(
        &mut client,
        TOPIC,
        0,
        2,
        good_batch(b"acks 2"),
        ErrorCode::INVALID_REQUIRED_ACKS,
    );
}

#[test]
fn unknown_partition_or_topic_is_unknown_topic_or_partition() {
    let (broker, mut client) = setup();
    assert_refused(
        &mut client,
        TOPIC,
        1,
        -1,
        good_batch(b"partition 1"),
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
    );
    assert_refused(
        &mut client,
        TOPIC,
        -1,
        -1,
        good_batch(b"partition -1"),
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
    );
    let unknown = good_batch(b"nowhere");
    // Produce never creates topics (Metadata does): still unknown afterwards.
    let response = client.produce("nowhere", 0, -1, unknown);
    assert_eq!(ErrorCode(response.error_code), ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
    let topics = broker.raw().metadata(None, false).topics;
    assert!(
        topics.iter().all(|t| t.name.as_deref() != Some("nowhere")),
        "{topics:?}"
    );
}

#[test]
fn one_bad_partition_does_not_spoil_the_others_in_the_request() {
    let broker = Broker::start(&[]);
    broker.admin().create_ok(&[new_topic("pair", 2, 1)]);
    let mut client = broker.raw();
    let mut corrupt = good_batch(b"corrupt").to_vec();
    corrupt[18] ^= 0x01;
    let RequestBody::Produce(mut request) = raw::produce_request("pair", 0, -1, good_batch(b"good")) else {
        unreachable!("a Produce request")
    };
    let mut bad = request.topic_data[0].partition_data[0].clone();
    bad.index = 1;
    bad.records = Some(corrupt.into());
    request.topic_data[0].partition_data.push(bad);
    let ResponseBody::Produce(response) = client.request(PRODUCE_VERSION, RequestBody::Produce(request)) else {
        panic!("not a Produce response")
    };
    let answers: Vec<(i32, ErrorCode, i64)> = response.responses[0]
        .partition_responses
        .iter()
        .map(|p| (p.index, ErrorCode(p.error_code), p.base_offset))
        .collect();
    assert_eq!(answers, [(0, ErrorCode::NONE, 0), (1, ErrorCode::CORRUPT_MESSAGE, -1)]);
    assert_eq!(
        (client.latest_offset("pair", 0), client.latest_offset("pair", 1)),
        (2, 0)
    );
    assert_produced(&mut client, "pair", 1, good_batch(b"good"), 0);
}

/// An acks=0 Produce that fails closes its connection, as Kafka closes it (so the client
/// refreshes its metadata), and what was pipelined behind it is not run: the good produce
/// sent right after it appends nothing. Checked against Kafka by the differential corpus.
#[test]
fn a_failed_acks_0_produce_closes_the_connection_and_runs_nothing_after_it() {
    let (broker, mut client) = setup();
    let before = broker.raw().latest_offset(TOPIC, 0);
    // Back to back: the second is sent before the first could have been answered.
    client.send(
        PRODUCE_VERSION,
        &raw::produce_request("missing", 0, 0, good_batch(b"lost")),
    );
    client.send(
        PRODUCE_VERSION,
        &raw::produce_request(TOPIC, 0, 1, good_batch(b"never")),
    );
    client.assert_closed();
    assert_eq!(
        broker.raw().latest_offset(TOPIC, 0),
        before,
        "nothing appended after it"
    );
}
