//! Incremental fetch sessions (KIP-227), as the Java consumer uses them, driven with raw
//! Fetch frames: librdkafka does not use sessions, so no client here would exercise them.

mod common;

use bytes::Bytes;
use common::clients::new_topic;
use common::raw::RawClient;
use common::Broker;
use tidelog_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic, ForgottenTopic};
use tidelog_protocol::messages::fetch_response::FetchResponse;
use tidelog_protocol::messages::produce_request::{PartitionProduceData, ProduceRequest, TopicProduceData};
use tidelog_protocol::records::{RecordBatch, RecordBatchBuilder};
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

/// The last Fetch version that addresses topics by name.
const FETCH_VERSION: i16 = 12;
const TOPIC: &str = "sessions";

fn fetch(client: &mut RawClient, session: (i32, i32), partitions: &[(i32, i64)], forget: &[i32]) -> FetchResponse {
    let topics = if partitions.is_empty() {
        Vec::new()
    } else {
        vec![FetchTopic {
            topic: TOPIC.into(),
            partitions: partitions
                .iter()
                .map(|&(partition, fetch_offset)| FetchPartition {
                    partition,
                    fetch_offset,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }]
    };
    let forgotten_topics_data = if forget.is_empty() {
        Vec::new()
    } else {
        vec![ForgottenTopic {
            topic: TOPIC.into(),
            partitions: forget.to_vec(),
            ..Default::default()
        }]
    };
    let request = FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        session_id: session.0,
        session_epoch: session.1,
        topics,
        forgotten_topics_data,
        ..Default::default()
    };
    match client.request(FETCH_VERSION, RequestBody::Fetch(request)) {
        ResponseBody::Fetch(response) => response,
        other => panic!("not a fetch response: {other:?}"),
    }
}

fn produce_one(client: &mut RawClient, partition: i32, value: &[u8]) {
    let mut builder = RecordBatchBuilder::new(0);
    builder.append(1_700_000_000_000, None, Some(value), &[]);
    let request = ProduceRequest {
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            name: TOPIC.into(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(builder.build().as_bytes().clone()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    match client.request(9, RequestBody::Produce(request)) {
        ResponseBody::Produce(r) => assert_eq!(r.responses[0].partition_responses[0].error_code, 0),
        other => panic!("not a produce response: {other:?}"),
    }
}

/// (partition, values of the records returned) for every partition in the response.
fn returned(response: &FetchResponse) -> Vec<(i32, Vec<Bytes>)> {
    let mut out = Vec::new();
    for topic in &response.responses {
        for p in &topic.partitions {
            assert_eq!(p.error_code, 0, "partition {} error", p.partition_index);
            let mut values = Vec::new();
            for batch in RecordBatch::iter_batches(p.records.clone().unwrap_or_default().to_bytes().unwrap()) {
                for record in batch.unwrap().records(1 << 20).unwrap() {
                    values.push(record.unwrap().value.unwrap());
                }
            }
            out.push((p.partition_index, values));
        }
    }
    out
}

#[test]
fn incremental_sessions_send_only_what_changed() {
    let broker = Broker::start(&[]);
    broker.admin().create_ok(&[new_topic(TOPIC, 3, 1)]);
    let mut client = broker.raw();
    produce_one(&mut client, 0, b"a");

    // Epoch 0 opens a session: a full response with every partition asked for.
    let full = fetch(&mut client, (0, 0), &[(0, 0), (1, 0), (2, 0)], &[]);
    assert_eq!(full.error_code, 0);
    let id = full.session_id;
    assert!(id > 0, "a session id is issued");
    assert_eq!(
        returned(&full),
        vec![(0, vec![Bytes::from("a")]), (1, vec![]), (2, vec![])]
    );

    // Epoch 1, nothing new: the response leaves out every partition.
    let quiet = fetch(&mut client, (id, 1), &[(0, 1)], &[]);
    assert_eq!((quiet.error_code, quiet.session_id), (0, id));
    assert!(
        returned(&quiet).is_empty(),
        "unchanged partitions are left out: {quiet:?}"
    );

    // New data on partition 2 (which the request does not even mention): only it comes back.
    produce_one(&mut client, 2, b"b");
    let changed = fetch(&mut client, (id, 2), &[], &[]);
    assert_eq!(returned(&changed), vec![(2, vec![Bytes::from("b")])]);

    // Forgetting partition 2: new data there is no longer sent.
    produce_one(&mut client, 2, b"c");
    let forgot = fetch(&mut client, (id, 3), &[], &[2]);
    assert!(
        returned(&forgot).is_empty(),
        "a forgotten partition is not fetched: {forgot:?}"
    );

    // A stale epoch and an unknown session are refused at the top level.
    let stale = fetch(&mut client, (id, 3), &[], &[]);
    assert_eq!(stale.error_code, ErrorCode::INVALID_FETCH_SESSION_EPOCH.0);
    let unknown = fetch(&mut client, (id + 1000, 1), &[], &[]);
    assert_eq!(unknown.error_code, ErrorCode::FETCH_SESSION_ID_NOT_FOUND.0);

    // Epoch -1 closes the session; it cannot be continued afterwards.
    let closing = fetch(&mut client, (id, -1), &[(0, 0)], &[]);
    assert_eq!((closing.error_code, closing.session_id), (0, 0));
    assert_eq!(returned(&closing), vec![(0, vec![Bytes::from("a")])]);
    let after_close = fetch(&mut client, (id, 4), &[], &[]);
    assert_eq!(after_close.error_code, ErrorCode::FETCH_SESSION_ID_NOT_FOUND.0);
}
