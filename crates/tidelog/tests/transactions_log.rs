//! Transactions on the partition side, against the real binary: transactional batches
//! written with the raw client, ended by WriteTxnMarkers, read back by read_committed
//! Fetch and ListOffsets and by librdkafka consumers of both isolation levels, before and
//! after a SIGKILL and a clean restart.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::clients::{new_topic, CLIENT_TIMEOUT};
use common::raw::{fetch_request, fetched_partition, RawClient, FETCH_VERSION, LATEST, LIST_OFFSETS_VERSION};
use common::{now_ms, Broker};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tidelog_protocol::messages::describe_producers_request::{DescribeProducersRequest, TopicRequest};
use tidelog_protocol::messages::describe_producers_response::ProducerState;
use tidelog_protocol::messages::fetch_request::FetchRequest;
use tidelog_protocol::messages::fetch_response::PartitionData;
use tidelog_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use tidelog_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic};
use tidelog_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic, WriteTxnMarkersRequest,
};
use tidelog_protocol::records::{RecordBatch, RecordBatchBuilder};
use tidelog_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

const TOPIC: &str = "payments";
const READ_COMMITTED: i8 = 1;
const READ_UNCOMMITTED: i8 = 0;

/// A producer id and epoch from InitProducerId, and the next sequence it sends.
struct Producer {
    id: i64,
    epoch: i16,
    next_seq: i32,
}

fn init_producer(client: &mut RawClient) -> Producer {
    let request = InitProducerIdRequest {
        transactional_id: None,
        transaction_timeout_ms: 60_000,
        ..Default::default()
    };
    match client.request(4, RequestBody::InitProducerId(request)) {
        ResponseBody::InitProducerId(r) => {
            assert_eq!(ErrorCode(r.error_code), ErrorCode::NONE, "{r:?}");
            Producer {
                id: r.producer_id,
                epoch: r.producer_epoch,
                next_seq: 0,
            }
        }
        other => panic!("not an InitProducerId response: {other:?}"),
    }
}

/// Produces one transactional batch of `values` (acks=all) and returns its base offset.
fn produce_txn(client: &mut RawClient, producer: &mut Producer, values: &[&str]) -> i64 {
    let mut builder = RecordBatchBuilder::new(0)
        .producer(producer.id, producer.epoch, producer.next_seq)
        .transactional(true);
    for value in values {
        builder.append(now_ms(), None, Some(value.as_bytes()), &[]);
    }
    producer.next_seq += values.len() as i32;
    produce(client, builder.build().as_bytes().clone())
}

/// Produces one plain (non-transactional, no producer id) record.
fn produce_plain(client: &mut RawClient, value: &str) -> i64 {
    let mut builder = RecordBatchBuilder::new(0);
    builder.append(now_ms(), None, Some(value.as_bytes()), &[]);
    produce(client, builder.build().as_bytes().clone())
}

fn produce(client: &mut RawClient, batch: Bytes) -> i64 {
    let response = client.produce(TOPIC, 0, -1, batch);
    assert_eq!(ErrorCode(response.error_code), ErrorCode::NONE, "{response:?}");
    response.base_offset
}

/// WriteTxnMarkers for one producer on `partitions` of TOPIC; the error code of each.
fn write_marker(
    client: &mut RawClient,
    producer_id: i64,
    epoch: i16,
    commit: bool,
    partitions: &[i32],
) -> Vec<ErrorCode> {
    let request = WriteTxnMarkersRequest {
        markers: vec![WritableTxnMarker {
            producer_id,
            producer_epoch: epoch,
            transaction_result: commit,
            topics: vec![WritableTxnMarkerTopic {
                name: TOPIC.to_string(),
                partition_indexes: partitions.to_vec(),
                ..Default::default()
            }],
            coordinator_epoch: 0,
            ..Default::default()
        }],
        ..Default::default()
    };
    match client.request(1, RequestBody::WriteTxnMarkers(request)) {
        ResponseBody::WriteTxnMarkers(r) => {
            let marker = &r.markers[0];
            assert_eq!(marker.producer_id, producer_id);
            let topic = &marker.topics[0];
            assert_eq!(topic.name, TOPIC);
            topic.partitions.iter().map(|p| ErrorCode(p.error_code)).collect()
        }
        other => panic!("not a WriteTxnMarkers response: {other:?}"),
    }
}

fn fetch(client: &mut RawClient, isolation_level: i8) -> PartitionData {
    let data = client.fetch(FetchRequest {
        isolation_level,
        ..fetch_request(TOPIC, 0, 0, 0, 0)
    });
    assert_eq!(ErrorCode(data.error_code), ErrorCode::NONE, "{data:?}");
    data
}

/// The (producer id, first offset) pairs of a read_committed Fetch's aborted transactions.
fn aborted(data: &PartitionData) -> Vec<(i64, i64)> {
    let list = data
        .aborted_transactions
        .as_ref()
        .expect("read_committed lists aborted transactions");
    list.iter().map(|t| (t.producer_id, t.first_offset)).collect()
}

/// The offset after the last batch fetched (0 for none).
fn fetched_end(data: &PartitionData) -> i64 {
    let records = data.records.clone().unwrap_or_default().to_bytes().unwrap();
    RecordBatch::iter_batches(records)
        .map(|b| b.expect("whole batches").last_offset() + 1)
        .last()
        .unwrap_or(0)
}

fn latest(client: &mut RawClient, isolation_level: i8) -> i64 {
    let request = ListOffsetsRequest {
        replica_id: -1,
        isolation_level,
        topics: vec![ListOffsetsTopic {
            name: TOPIC.to_string(),
            partitions: vec![ListOffsetsPartition {
                partition_index: 0,
                timestamp: LATEST,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    match client.request(LIST_OFFSETS_VERSION, RequestBody::ListOffsets(request)) {
        ResponseBody::ListOffsets(r) => {
            let p = &r.topics[0].partitions[0];
            assert_eq!(ErrorCode(p.error_code), ErrorCode::NONE, "{p:?}");
            p.offset
        }
        other => panic!("not a ListOffsets response: {other:?}"),
    }
}

fn describe_producers(client: &mut RawClient) -> Vec<ProducerState> {
    let request = DescribeProducersRequest {
        topics: vec![TopicRequest {
            name: TOPIC.to_string(),
            partition_indexes: vec![0],
            ..Default::default()
        }],
        ..Default::default()
    };
    match client.request(0, RequestBody::DescribeProducers(request)) {
        ResponseBody::DescribeProducers(r) => {
            let p = &r.topics[0].partitions[0];
            assert_eq!(ErrorCode(p.error_code), ErrorCode::NONE, "{p:?}");
            p.active_producers.clone()
        }
        other => panic!("not a DescribeProducers response: {other:?}"),
    }
}

/// The values a librdkafka consumer at `isolation` reads from offset 0 up to and including
/// the record valued `last`, with their offsets.
fn consume_until(broker: &Broker, isolation: &str, last: &str) -> Vec<(i64, String)> {
    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", format!("txn-reader-{isolation}"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .expect("create a consumer");
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(TOPIC, 0, Offset::Offset(0)).unwrap();
    consumer.assign(&assignment).unwrap();
    let mut received = Vec::new();
    let mut last_progress = Instant::now();
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let value = String::from_utf8(m.payload().expect("a value").to_vec()).unwrap();
                received.push((m.offset(), value.clone()));
                if value == last {
                    return received;
                }
                last_progress = Instant::now();
            }
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => assert!(
                last_progress.elapsed() < CLIENT_TIMEOUT,
                "{isolation}: no record for {CLIENT_TIMEOUT:?}, have {received:?}"
            ),
        }
    }
}

fn values(read: &[(i64, String)]) -> Vec<&str> {
    read.iter().map(|(_, v)| v.as_str()).collect()
}

/// A broker that accepts transactional batches without asking the transaction coordinator
/// (Kafka's `transaction.partition.verification.enable=false`): these tests write batches
/// and markers by hand, as a coordinator would, to test the partition side alone.
fn start() -> Broker {
    let broker = Broker::start(&["--override", "transaction.partition.verification.enable=false"]);
    broker.admin().create_ok(&[new_topic(TOPIC, 1, 1)]);
    broker
}

#[test]
fn read_committed_stops_at_open_transactions_and_lists_aborted_ones() {
    let broker = start();
    let mut client = broker.raw();
    let mut aborting = init_producer(&mut client);
    let mut committing = init_producer(&mut client);

    assert_eq!(produce_txn(&mut client, &mut aborting, &["a0", "a1"]), 0);
    assert_eq!(produce_txn(&mut client, &mut committing, &["c0", "c1"]), 2);
    assert_eq!(produce_txn(&mut client, &mut aborting, &["a2"]), 4);
    assert_eq!(produce_plain(&mut client, "plain"), 5);

    // Both transactions open: nothing is stable.
    let open = fetch(&mut client, READ_COMMITTED);
    assert_eq!((open.high_watermark, open.last_stable_offset), (6, 0));
    assert_eq!(fetched_end(&open), 0, "no data past the LSO");
    assert_eq!(aborted(&open), []);
    let uncommitted = fetch(&mut client, READ_UNCOMMITTED);
    assert_eq!(fetched_end(&uncommitted), 6);
    assert_eq!(uncommitted.aborted_transactions, None);
    assert_eq!(
        (
            latest(&mut client, READ_COMMITTED),
            latest(&mut client, READ_UNCOMMITTED)
        ),
        (0, 6)
    );

    // Abort the first: the LSO moves to the second, still open.
    assert_eq!(
        write_marker(&mut client, aborting.id, aborting.epoch, false, &[0]),
        [ErrorCode::NONE]
    );
    let one_aborted = fetch(&mut client, READ_COMMITTED);
    assert_eq!((one_aborted.high_watermark, one_aborted.last_stable_offset), (7, 2));
    assert_eq!(fetched_end(&one_aborted), 2);
    assert_eq!(aborted(&one_aborted), [(aborting.id, 0)]);
    assert_eq!(latest(&mut client, READ_COMMITTED), 2);

    assert_eq!(
        write_marker(&mut client, committing.id, committing.epoch, true, &[0]),
        [ErrorCode::NONE]
    );
    let decided = fetch(&mut client, READ_COMMITTED);
    assert_eq!((decided.high_watermark, decided.last_stable_offset), (8, 8));
    assert_eq!(fetched_end(&decided), 8);
    assert_eq!(aborted(&decided), [(aborting.id, 0)]);
    assert_eq!(latest(&mut client, READ_COMMITTED), 8);

    // Per-partition errors; a newer epoch (KIP-890 bumps at the end of a transaction) is
    // accepted and fences the older one.
    assert_eq!(
        write_marker(&mut client, aborting.id, aborting.epoch + 1, false, &[0, 7]),
        [ErrorCode::NONE, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION]
    );
    assert_eq!(
        write_marker(&mut client, aborting.id, aborting.epoch, false, &[0]),
        [ErrorCode::INVALID_PRODUCER_EPOCH]
    );
    let producers = describe_producers(&mut client);
    let described: Vec<(i64, i32, i32, i64)> = producers
        .iter()
        .map(|p| {
            (
                p.producer_id,
                p.producer_epoch,
                p.last_sequence,
                p.current_txn_start_offset,
            )
        })
        .collect();
    assert_eq!(
        described,
        [
            (aborting.id, i32::from(aborting.epoch) + 1, -1, -1),
            (committing.id, i32::from(committing.epoch), 1, -1)
        ]
    );

    produce_plain(&mut client, "end");
    let committed = consume_until(&broker, "read_committed", "end");
    assert_eq!(values(&committed), ["c0", "c1", "plain", "end"]);
    assert_eq!(committed[3].0, 9, "after both markers and the empty abort");
    let everything = consume_until(&broker, "read_uncommitted", "end");
    assert_eq!(values(&everything), ["a0", "a1", "c0", "c1", "a2", "plain", "end"]);
}

#[test]
fn transactions_and_the_lso_survive_a_kill_and_a_clean_restart() {
    let mut broker = start();
    let mut client = broker.raw();
    let mut aborting = init_producer(&mut client);
    let mut committing = init_producer(&mut client);
    let mut open = init_producer(&mut client);
    produce_txn(&mut client, &mut aborting, &["a0"]);
    produce_txn(&mut client, &mut committing, &["c0"]);
    assert_eq!(
        write_marker(&mut client, aborting.id, aborting.epoch, false, &[0]),
        [ErrorCode::NONE]
    );
    assert_eq!(
        write_marker(&mut client, committing.id, committing.epoch, true, &[0]),
        [ErrorCode::NONE]
    );
    assert_eq!(produce_txn(&mut client, &mut open, &["o0"]), 4);
    produce_plain(&mut client, "plain");

    let check = |client: &mut RawClient| {
        let data = fetch(client, READ_COMMITTED);
        assert_eq!(
            (data.high_watermark, data.last_stable_offset),
            (6, 4),
            "the open one pins the LSO"
        );
        assert_eq!(fetched_end(&data), 4);
        assert_eq!(aborted(&data), [(aborting.id, 0)]);
        assert_eq!(latest(client, READ_COMMITTED), 4);
        let open_one = describe_producers(client)
            .into_iter()
            .find(|p| p.producer_id == open.id)
            .expect("the open producer is described");
        assert_eq!(open_one.current_txn_start_offset, 4);
    };
    check(&mut client);
    broker.kill9();
    broker.restart();
    check(&mut broker.raw());
    broker.stop();
    broker.restart();
    let mut client = broker.raw();
    check(&mut client);

    // The transaction open across both restarts commits.
    assert_eq!(
        write_marker(&mut client, open.id, open.epoch, true, &[0]),
        [ErrorCode::NONE]
    );
    produce_plain(&mut client, "end");
    let committed = consume_until(&broker, "read_committed", "end");
    assert_eq!(values(&committed), ["c0", "o0", "plain", "end"]);
    let everything = consume_until(&broker, "read_uncommitted", "end");
    assert_eq!(values(&everything), ["a0", "c0", "o0", "plain", "end"]);
}

#[test]
fn a_read_committed_long_poll_wakes_when_the_lso_moves() {
    let broker = start();
    let mut client = broker.raw();
    let mut producer = init_producer(&mut client);
    produce_txn(&mut client, &mut producer, &["t0"]);

    // It may wait a minute, far past the raw client's read timeout: only a wake-up by the
    // marker answers it in time.
    let mut poller = broker.raw();
    let request = FetchRequest {
        isolation_level: READ_COMMITTED,
        ..fetch_request(TOPIC, 0, 0, 60_000, 1)
    };
    let correlation_id = poller.send(FETCH_VERSION, &RequestBody::Fetch(request));
    // Lets the fetch park first (were it later, it would find the data at once and pass
    // without testing the wake-up).
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        write_marker(&mut client, producer.id, producer.epoch, true, &[0]),
        [ErrorCode::NONE]
    );
    let data = match poller.read_response(ApiKey::Fetch, FETCH_VERSION, correlation_id) {
        ResponseBody::Fetch(response) => fetched_partition(response),
        other => panic!("not a Fetch response: {other:?}"),
    };
    assert_eq!((data.high_watermark, data.last_stable_offset), (2, 2));
    assert_eq!(fetched_end(&data), 2, "the committed batch and its marker");
}

#[test]
fn a_transaction_open_across_many_segments_keeps_the_lso_through_a_kill() {
    const SEGMENTS: usize = 6;
    // Batches written by hand without a coordinator, as in `start`.
    let mut broker = Broker::start(&["--override", "transaction.partition.verification.enable=false"]);
    broker
        .admin()
        .create_ok(&[new_topic(TOPIC, 1, 1).set("segment.bytes", "1024")]);
    let mut client = broker.raw();
    let mut open = init_producer(&mut client);
    assert_eq!(produce_txn(&mut client, &mut open, &["o0"]), 0);
    let mut plain = 0;
    while broker.segment_base_offsets(TOPIC, 0).len() < SEGMENTS {
        produce_plain(&mut client, &format!("plain-{plain}"));
        plain += 1;
    }
    let high_watermark = plain + 1;

    broker.kill9();
    broker.restart();
    let mut client = broker.raw();
    let data = fetch(&mut client, READ_COMMITTED);
    assert_eq!((data.high_watermark, data.last_stable_offset), (high_watermark, 0));
    assert_eq!(fetched_end(&data), 0);
    assert_eq!(latest(&mut client, READ_COMMITTED), 0);

    assert_eq!(
        write_marker(&mut client, open.id, open.epoch, false, &[0]),
        [ErrorCode::NONE]
    );
    produce_plain(&mut client, "end");
    let committed = consume_until(&broker, "read_committed", "end");
    assert_eq!(
        committed.len() as i64,
        plain + 1,
        "every plain record, not the aborted one"
    );
    assert_eq!(committed[0], (1, "plain-0".to_string()));
    let data = fetch(&mut client, READ_COMMITTED);
    assert_eq!(aborted(&data), [(open.id, 0)], "indexed in the segment of its marker");
}
