//! Client quotas against the real binary: DescribeClientQuotas and AlterClientQuotas with
//! Kafka's validation and error codes (a table of cases), their values kept over a restart;
//! `tidelog quotas` setting and showing them; a produce and a fetch over their client id's
//! byte rate answered with `throttle_time_ms` (the produce still appended, the fetch
//! empty); and librdkafka producers side by side, the one under a quota throttled and held
//! far below the other, which the broker never throttles. A client over its
//! `request_percentage` is throttled on any API; CreateTopics, DeleteTopics and
//! CreatePartitions over a `controller_mutation_rate` are refused THROTTLING_QUOTA_EXCEEDED
//! from their strict versions on and throttled before; connections over an address's
//! `connection_creation_rate` (set for every address, or for a host name's) are closed
//! unanswered.

mod common;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::cli::{tidelog, Run};
use common::raw::{batch, decode_records, fetch_request, produce_request, RawClient, FETCH_VERSION, PRODUCE_VERSION};
use common::Broker;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Statistics};
use tidelog_protocol::messages::alter_client_quotas_request::{
    AlterClientQuotasRequest, EntityData, EntryData, OpData,
};
use tidelog_protocol::messages::create_partitions_request::{CreatePartitionsRequest, CreatePartitionsTopic};
use tidelog_protocol::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
use tidelog_protocol::messages::create_topics_response::CreateTopicsResponse;
use tidelog_protocol::messages::delete_topics_request::DeleteTopicsRequest;
use tidelog_protocol::messages::describe_client_quotas_request::{ComponentData, DescribeClientQuotasRequest};
use tidelog_protocol::messages::describe_client_quotas_response::DescribeClientQuotasResponse;
use tidelog_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

/// The raw client's `client.id`.
const RAW_CLIENT_ID: &str = "tidelog-e2e";

const EXACT: i8 = 0;
const DEFAULT: i8 = 1;
const ANY: i8 = 2;

/// An entity as (type, name), `None` the default.
type Entity = Vec<(&'static str, Option<&'static str>)>;

/// Quota keys set (`Some`) or removed (`None`).
type Ops = Vec<(&'static str, Option<f64>)>;

/// A describe filter's components: entity type, match type, name.
type Filter = Vec<(&'static str, i8, Option<&'static str>)>;

fn alter(raw: &mut RawClient, entity: &Entity, ops: &[(&str, Option<f64>)], validate_only: bool) -> (i16, String) {
    let request = AlterClientQuotasRequest {
        entries: vec![EntryData {
            entity: entity
                .iter()
                .map(|(t, n)| EntityData {
                    entity_type: t.to_string(),
                    entity_name: n.map(str::to_string),
                    ..Default::default()
                })
                .collect(),
            ops: ops
                .iter()
                .map(|(key, value)| OpData {
                    key: key.to_string(),
                    value: value.unwrap_or(0.0),
                    remove: value.is_none(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        validate_only,
        ..Default::default()
    };
    match raw.request(1, RequestBody::AlterClientQuotas(request)) {
        ResponseBody::AlterClientQuotas(mut r) => {
            assert_eq!(r.entries.len(), 1, "{r:?}");
            let entry = r.entries.remove(0);
            (entry.error_code, entry.error_message.unwrap_or_default())
        }
        other => panic!("{other:?}"),
    }
}

fn describe(
    raw: &mut RawClient,
    components: &[(&str, i8, Option<&str>)],
    strict: bool,
) -> DescribeClientQuotasResponse {
    let request = DescribeClientQuotasRequest {
        components: components
            .iter()
            .map(|(t, match_type, name)| ComponentData {
                entity_type: t.to_string(),
                match_type: *match_type,
                r#match: name.map(str::to_string),
                ..Default::default()
            })
            .collect(),
        strict,
        ..Default::default()
    };
    match raw.request(1, RequestBody::DescribeClientQuotas(request)) {
        ResponseBody::DescribeClientQuotas(r) => r,
        other => panic!("{other:?}"),
    }
}

/// The entries of a describe, as sorted `type=name|<default>,...: key=value,...` lines.
fn entries(response: &DescribeClientQuotasResponse) -> Vec<String> {
    assert_eq!(response.error_code, 0, "{response:?}");
    let mut lines: Vec<String> = response
        .entries
        .as_ref()
        .expect("entries")
        .iter()
        .map(|e| {
            let mut entity: Vec<String> = e
                .entity
                .iter()
                .map(|d| format!("{}={}", d.entity_type, d.entity_name.as_deref().unwrap_or("<default>")))
                .collect();
            entity.sort();
            let values: Vec<String> = e.values.iter().map(|v| format!("{}={}", v.key, v.value)).collect();
            format!("{}: {}", entity.join(","), values.join(","))
        })
        .collect();
    lines.sort();
    lines
}

fn quotas_cli(broker: &Broker, args: &[&str]) -> Run {
    tidelog(broker, &[&["quotas"], args].concat(), "")
}

#[test]
fn quota_apis_validate_as_kafka_does_and_keep_their_values_over_a_restart() {
    let mut broker = Broker::start(&[]);
    let mut raw = broker.raw();
    let invalid = ErrorCode::INVALID_REQUEST.0;
    let user = |name| ("user", Some(name));
    let client = |name| ("client-id", Some(name));
    let cases: Vec<(Entity, Ops, i16, &str)> = vec![
        (vec![user("alice")], vec![("producer_byte_rate", Some(1024.0))], 0, ""),
        (
            vec![user("alice"), ("client-id", None)],
            vec![("consumer_byte_rate", Some(2048.0)), ("request_percentage", Some(12.5))],
            0,
            "",
        ),
        (
            vec![("client-id", None)],
            vec![("producer_byte_rate", Some(10.0))],
            0,
            "",
        ),
        (
            vec![("ip", Some("10.1.2.3"))],
            vec![("connection_creation_rate", Some(5.0))],
            0,
            "",
        ),
        (
            vec![],
            vec![("producer_byte_rate", Some(1.0))],
            invalid,
            "Invalid empty client quota entity",
        ),
        (
            vec![("group", Some("g"))],
            vec![("producer_byte_rate", Some(1.0))],
            invalid,
            "Unhandled client quota entity type: group",
        ),
        (
            vec![user("")],
            vec![("producer_byte_rate", Some(1.0))],
            invalid,
            "Empty user not supported",
        ),
        (
            vec![user("bob"), ("ip", None)],
            vec![("producer_byte_rate", Some(1.0))],
            invalid,
            "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId",
        ),
        (
            vec![("ip", Some("not an address"))],
            vec![("connection_creation_rate", Some(1.0))],
            invalid,
            "not an address is not a valid IP or resolvable host.",
        ),
        (
            vec![user("bob")],
            vec![("producer_byte_rate", Some(1.5))],
            invalid,
            "Configuration producer_byte_rate must be a Long value",
        ),
        (
            vec![user("bob")],
            vec![("bogus", Some(1.0))],
            invalid,
            "Invalid configuration key bogus",
        ),
        (
            vec![("ip", Some("10.1.2.3"))],
            vec![("producer_byte_rate", Some(1.0))],
            invalid,
            "Invalid configuration key producer_byte_rate",
        ),
        (
            vec![client("app")],
            vec![("producer_byte_rate", Some(1.0)), ("producer_byte_rate", Some(2.0))],
            invalid,
            "Duplicate quota key producer_byte_rate",
        ),
    ];
    for (entity, ops, code, message) in &cases {
        let (got_code, got_message) = alter(&mut raw, entity, ops, false);
        assert_eq!(got_code, *code, "{entity:?} {ops:?}: {got_message}");
        assert!(got_message.contains(message), "{entity:?}: {got_message}");
    }
    // validate_only answers as a change would, and changes nothing.
    assert_eq!(
        alter(
            &mut raw,
            &vec![user("carol")],
            &[("producer_byte_rate", Some(5.0))],
            true
        )
        .0,
        0
    );
    let all = vec![
        "client-id=<default>,user=alice: consumer_byte_rate=2048,request_percentage=12.5".to_string(),
        "client-id=<default>: producer_byte_rate=10".to_string(),
        "ip=10.1.2.3: connection_creation_rate=5".to_string(),
        "user=alice: producer_byte_rate=1024".to_string(),
    ];
    assert_eq!(entries(&describe(&mut raw, &[], false)), all);

    // Filters: exact, default and any names; strict keeps entities of the filter's types only.
    let alice = ("user", EXACT, Some("alice"));
    let filters: Vec<(Filter, bool, Vec<&String>)> = vec![
        (vec![alice], false, vec![&all[0], &all[3]]),
        (vec![alice], true, vec![&all[3]]),
        (vec![("client-id", DEFAULT, None)], false, vec![&all[0], &all[1]]),
        (vec![("client-id", DEFAULT, None)], true, vec![&all[1]]),
        (vec![("client-id", ANY, None), ("user", ANY, None)], true, vec![&all[0]]),
        (vec![("ip", ANY, None)], false, vec![&all[2]]),
        (vec![("user", EXACT, Some("nobody"))], false, vec![]),
        (vec![], true, vec![]),
    ];
    for (components, strict, expected) in filters {
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(
            entries(&describe(&mut raw, &components, strict)),
            expected,
            "{components:?} strict={strict}"
        );
    }
    // Filters Kafka refuses, each the whole response's error.
    let refused: Vec<(Filter, ErrorCode, &str)> = vec![
        (
            vec![alice, ("user", ANY, None)],
            ErrorCode::INVALID_REQUEST,
            "Entity type user cannot appear more than once in the filter.",
        ),
        (
            vec![("group", ANY, None)],
            ErrorCode::UNSUPPORTED_VERSION,
            "Unsupported entity type group",
        ),
        (
            vec![("user", EXACT, None)],
            ErrorCode::INVALID_REQUEST,
            "Request specified MATCH_TYPE_EXACT, but set match string to null.",
        ),
        (
            vec![("user", DEFAULT, Some("x"))],
            ErrorCode::INVALID_REQUEST,
            "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.",
        ),
        (
            vec![("ip", ANY, None), alice],
            ErrorCode::INVALID_REQUEST,
            "IP filter component should not be used with user or clientId filter component.",
        ),
        (
            vec![("user", 7, None)],
            ErrorCode::INVALID_REQUEST,
            "Unknown match type 7",
        ),
        (
            vec![("", ANY, None)],
            ErrorCode::INVALID_REQUEST,
            "Invalid empty entity type.",
        ),
    ];
    for (components, code, message) in refused {
        let response = describe(&mut raw, &components, false);
        assert_eq!(ErrorCode(response.error_code), code, "{components:?}: {response:?}");
        assert!(response.entries.is_none(), "{response:?}");
        let got = response.error_message.unwrap_or_default();
        assert!(got.contains(message), "{components:?}: {got}");
    }

    // Removing an entity's last value removes the entity; removing nothing is no error.
    let default_client: Entity = vec![("client-id", None)];
    assert_eq!(
        alter(&mut raw, &default_client, &[("producer_byte_rate", None)], false).0,
        0
    );
    assert_eq!(
        alter(&mut raw, &default_client, &[("consumer_byte_rate", None)], false).0,
        0
    );
    let kept = vec![all[0].clone(), all[2].clone(), all[3].clone()];
    assert_eq!(entries(&describe(&mut raw, &[], false)), kept);

    // The metadata log keeps them.
    drop(raw);
    broker.restart();
    let mut raw = broker.raw();
    assert_eq!(entries(&describe(&mut raw, &[], false)), kept);
}

#[test]
fn produce_and_fetch_over_their_client_ids_quota_are_throttled() {
    let broker = Broker::start(&[]);
    let topic = "metered";
    let mut setup = broker.raw();
    assert_eq!(setup.metadata(Some(&[topic]), true).topics[0].error_code, 0);
    // 20 kB/s each: over the first 10 s (the quota's whole window) 200 kB pass.
    let set = quotas_cli(
        &broker,
        &[
            "alter",
            "--client-id",
            RAW_CLIENT_ID,
            "--add",
            "producer_byte_rate=20000",
            "--add",
            "consumer_byte_rate=20000",
        ],
    );
    assert!(set.success, "{}", set.stderr);
    let shown = quotas_cli(&broker, &["describe", "--client-id", RAW_CLIENT_ID]);
    assert_eq!(
        shown.stdout,
        format!("client-id={RAW_CLIENT_ID}\tconsumer_byte_rate=20000,producer_byte_rate=20000\n")
    );
    let refused = quotas_cli(&broker, &["alter", "--user", "bob", "--add", "producer_byte_rate=0.5"]);
    assert!(
        !refused.success && refused.stderr.contains("must be a Long value (INVALID_REQUEST)"),
        "{}",
        refused.stderr
    );

    // A 60 kB batch is over what a burst may take (one window of the quota, 20 kB): it is
    // appended, and the answer throttled for the 40 kB over, 2 s. Kafka's windowed rate
    // alone would let 200 kB through first (docs/PERFORMANCE.md, the quota's 20 s floor).
    let value = vec![7u8; 60_000];
    let produce = |producer: &mut RawClient, offset: i64| {
        let records = batch(common::now_ms(), &[(b"k".as_slice(), value.as_slice())]);
        let response = match producer.request(PRODUCE_VERSION, produce_request(topic, 0, -1, records)) {
            ResponseBody::Produce(r) => r,
            other => panic!("{other:?}"),
        };
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(
            (partition.error_code, partition.base_offset),
            (0, offset),
            "{response:?}"
        );
        response.throttle_time_ms
    };
    let throttle = produce(&mut broker.raw(), 0);
    assert!(
        (2000..=2100).contains(&throttle),
        "throttled for the 40 kB (and headers) over: {throttle} ms"
    );
    // Five more, with the producer quota gone (the consumer's stays), for the fetches below.
    let removed = quotas_cli(
        &broker,
        &["alter", "--client-id", RAW_CLIENT_ID, "--delete", "producer_byte_rate"],
    );
    assert!(removed.success, "{}", removed.stderr);
    let mut unthrottled = broker.raw();
    for offset in 1..6 {
        assert_eq!(produce(&mut unthrottled, offset), 0);
    }

    // A fetch of what fits the quota's window is answered; the next, over it, is answered
    // empty with the time to wait.
    let mut consumer = broker.raw();
    let first = consumer.request(FETCH_VERSION, RequestBody::Fetch(fetch_request(topic, 0, 0, 0, 1)));
    let ResponseBody::Fetch(first) = first else {
        panic!("{first:?}")
    };
    assert_eq!(first.throttle_time_ms, 0, "{first:?}");
    let records = first.responses[0].partitions[0].records.as_ref().expect("records");
    let read = decode_records(records);
    assert_eq!(read.len(), 3, "three batches fit 200 kB, four do not");
    let second = consumer.request(FETCH_VERSION, RequestBody::Fetch(fetch_request(topic, 0, 3, 0, 1)));
    let ResponseBody::Fetch(second) = second else {
        panic!("{second:?}")
    };
    assert!(second.throttle_time_ms > 0, "{second:?}");
    assert!(
        second.responses.is_empty(),
        "a throttled fetch returns nothing: {second:?}"
    );

    // Another client id has no quota.
    let other = quotas_cli(&broker, &["describe", "--client-id", "other"]);
    assert!(other.success && other.stdout.is_empty(), "{}", other.stderr);
}

/// Counts acknowledged records and keeps the largest throttle time librdkafka's statistics
/// report.
#[derive(Default)]
struct Watched {
    acknowledged: AtomicU64,
    max_throttle_ms: AtomicI64,
}

impl ClientContext for Watched {
    fn stats(&self, statistics: Statistics) {
        for broker in statistics.brokers.values() {
            if let Some(throttle) = &broker.throttle {
                self.max_throttle_ms.fetch_max(throttle.max, Ordering::Relaxed);
            }
        }
    }
}

impl ProducerContext for Watched {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_ok() {
            self.acknowledged.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Produces 1 KiB records as fast as `client_id`'s producer takes them for `run` (at most
/// `cap` of them); the records acknowledged meanwhile and the largest throttle seen.
fn produce_for(broker: &Broker, client_id: &str, topic: &str, run: Duration, cap: u64) -> (u64, i64) {
    let mut config = broker.client_config();
    config
        .set("client.id", client_id)
        .set("linger.ms", "5")
        .set("statistics.interval.ms", "100")
        .set("queue.buffering.max.messages", "500");
    let producer: BaseProducer<Watched> = config.create_with_context(Watched::default()).expect("a producer");
    let value = vec![3u8; 1024];
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < run && sent < cap {
        match producer.send(BaseRecord::<[u8], [u8]>::to(topic).payload(&value).partition(0)) {
            Ok(()) => sent += 1,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(5));
            }
            Err((e, _)) => panic!("produce: {e}"),
        }
        producer.poll(Duration::ZERO);
    }
    let acknowledged = producer.context().acknowledged.load(Ordering::Relaxed);
    // One more statistics report, after the last responses.
    producer.poll(Duration::from_millis(300));
    (acknowledged, producer.context().max_throttle_ms.load(Ordering::Relaxed))
}

#[test]
fn a_producer_under_a_quota_is_held_back_and_one_beside_it_is_not() {
    // Two windows of a second: the quota's burst at the start is a second's worth.
    let broker = Broker::start(&["--override", "quota.window.num=2"]);
    let topic = "shared";
    assert_eq!(broker.raw().metadata(Some(&[topic]), true).topics[0].error_code, 0);
    let set = quotas_cli(
        &broker,
        &["alter", "--client-id", "slow", "--add", "producer_byte_rate=100000"],
    );
    assert!(set.success, "{}", set.stderr);
    let run = Duration::from_secs(3);
    // At most 20 MB from the one without a quota.
    let (slow, fast) = std::thread::scope(|s| {
        let slow = s.spawn(|| produce_for(&broker, "slow", topic, run, u64::MAX));
        let fast = produce_for(&broker, "fast", topic, run, 20_000);
        (slow.join().expect("the slow producer"), fast)
    });
    let ((slow_records, slow_throttle), (fast_records, fast_throttle)) = (slow, fast);
    assert!(slow_throttle > 0, "the broker told the slow producer to wait");
    assert_eq!(fast_throttle, 0, "the broker never throttled the other one");
    assert!(slow_records > 0, "the slow producer is slowed, not stopped");
    assert!(
        slow_records * 5 < fast_records,
        "under a quota, {slow_records} records; beside it, without one, {fast_records}"
    );
}

/// As Kafka mutes a throttled connection: a request that comes while the mute runs is
/// handled once it ends, here a mute set by a long-poll fetch while the connection waited
/// for its next request. Another connection's produce, sent after the muted one's, is
/// appended first.
#[test]
fn a_throttled_connection_handles_no_request_until_its_mute_ends() {
    // Three windows of a second: a throttle lasts at most 3 s.
    let broker = Broker::start(&["--override", "quota.window.num=3"]);
    let topic = "muted";
    let mut other = broker.raw();
    assert_eq!(other.metadata(Some(&[topic]), true).topics[0].error_code, 0);
    let set = quotas_cli(
        &broker,
        &["alter", "--client-id", RAW_CLIENT_ID, "--add", "consumer_byte_rate=1"],
    );
    assert!(set.success, "{}", set.stderr);

    // A long poll, answered when a batch arrives: over the quota, so empty, and muting.
    let mut muted = broker.raw();
    let fetch = muted.send(
        FETCH_VERSION,
        &RequestBody::Fetch(fetch_request(topic, 0, 0, 10_000, 1)),
    );
    let record = |value: &[u8]| batch(common::now_ms(), &[(b"k".as_slice(), value)]);
    assert_eq!(other.produce(topic, 0, -1, record(b"wakes the fetch")).base_offset, 0);
    let ResponseBody::Fetch(throttled) = muted.read_response(ApiKey::Fetch, FETCH_VERSION, fetch) else {
        panic!("not a Fetch response")
    };
    assert!(throttled.throttle_time_ms > 0, "{throttled:?}");

    let held = muted.send(PRODUCE_VERSION, &produce_request(topic, 0, -1, record(b"muted")));
    assert_eq!(other.produce(topic, 0, -1, record(b"not muted")).base_offset, 1);
    let ResponseBody::Produce(held) = muted.read_response(ApiKey::Produce, PRODUCE_VERSION, held) else {
        panic!("not a Produce response")
    };
    let partition = &held.responses[0].partition_responses[0];
    assert_eq!((partition.error_code, partition.base_offset), (0, 2), "{held:?}");
}

/// Sets `quota` on the raw client's client id with `tidelog quotas`.
fn set_on_raw_client(broker: &Broker, quota: &str) {
    let set = quotas_cli(broker, &["alter", "--client-id", RAW_CLIENT_ID, "--add", quota]);
    assert!(set.success, "{}", set.stderr);
}

#[test]
fn a_client_over_its_request_percentage_is_throttled_on_every_api() {
    let broker = Broker::start(&[]);
    let mut raw = broker.raw();
    assert_eq!(raw.metadata(None, false).throttle_time_ms, 0);
    // A share of one thread no request can stay under: any handling time is over it.
    set_on_raw_client(&broker, "request_percentage=0.000001");
    let metadata = raw.metadata(None, false);
    let api_versions = raw.api_versions();
    // Throttled for at most one quota window, as Kafka bounds a request time throttle.
    for throttle in [metadata.throttle_time_ms, api_versions.throttle_time_ms] {
        assert!((1..=1000).contains(&throttle), "{metadata:?} {api_versions:?}");
    }
    // The CLI, another client id, is not throttled: it sees the quota as set.
    let shown = quotas_cli(&broker, &["describe"]);
    assert!(shown.success, "{}", shown.stderr);
    assert_eq!(
        shown.stdout,
        format!("client-id={RAW_CLIENT_ID}\trequest_percentage=0.000001\n")
    );
}

fn create_topics(raw: &mut RawClient, version: i16, topics: &[(&str, i32)]) -> CreateTopicsResponse {
    let request = CreateTopicsRequest {
        topics: topics
            .iter()
            .map(|(name, partitions)| CreatableTopic {
                name: name.to_string(),
                num_partitions: *partitions,
                replication_factor: 1,
                ..Default::default()
            })
            .collect(),
        timeout_ms: 10_000,
        ..Default::default()
    };
    match raw.request(version, RequestBody::CreateTopics(request)) {
        ResponseBody::CreateTopics(r) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn partition_mutations_over_the_controller_mutation_rate_are_refused_from_the_strict_versions_on() {
    let broker = Broker::start(&[]);
    let mut raw = broker.raw();
    let (mut second, mut third, mut fourth) = (broker.raw(), broker.raw(), broker.raw());
    // One partition a second: a bucket of 11 (11 windows of a second), full at first.
    set_on_raw_client(&broker, "controller_mutation_rate=1");
    // 6 and 6 partitions: the second takes the bucket below zero and still passes (strict
    // quotas refuse only once it is empty); the third is refused, and the answer throttled.
    let strict = create_topics(&mut raw, 6, &[("one", 6), ("two", 6), ("three", 1)]);
    let outcome: Vec<(String, i16)> = strict.topics.iter().map(|t| (t.name.clone(), t.error_code)).collect();
    let exceeded = ErrorCode::THROTTLING_QUOTA_EXCEEDED.0;
    assert_eq!(
        outcome,
        [("one".into(), 0), ("two".into(), 0), ("three".into(), exceeded)],
        "{strict:?}"
    );
    assert_eq!(
        strict.topics[2].error_message.as_deref(),
        Some("The throttling quota has been exceeded.")
    );
    assert!(strict.throttle_time_ms > 0, "{strict:?}");
    // The first connection is muted until the bucket is back at zero; others of the same
    // client id are not, and share its bucket. DeleteTopics v5 and CreatePartitions v3 are
    // strict too: refused while it is below zero.
    let delete = DeleteTopicsRequest {
        topic_names: vec!["one".into()],
        timeout_ms: 10_000,
        ..Default::default()
    };
    let ResponseBody::DeleteTopics(deleted) = second.request(5, RequestBody::DeleteTopics(delete)) else {
        panic!("a DeleteTopics response")
    };
    assert_eq!(deleted.responses[0].error_code, exceeded, "{deleted:?}");
    let grow = CreatePartitionsRequest {
        topics: vec![CreatePartitionsTopic {
            name: "two".into(),
            count: 7,
            ..Default::default()
        }],
        timeout_ms: 10_000,
        ..Default::default()
    };
    let ResponseBody::CreatePartitions(grown) = third.request(3, RequestBody::CreatePartitions(grow)) else {
        panic!("a CreatePartitions response")
    };
    assert_eq!(grown.results[0].error_code, exceeded, "{grown:?}");
    // Before v6 a client does not know the error: its topic is created, and it is throttled.
    let permissive = create_topics(&mut fourth, 5, &[("four", 5)]);
    assert_eq!(permissive.topics[0].error_code, 0, "{permissive:?}");
    assert!(permissive.throttle_time_ms > 0, "{permissive:?}");
    let metadata = raw.metadata(Some(&["one", "two", "three"]), false);
    let found: Vec<(String, i16, usize)> = metadata
        .topics
        .iter()
        .map(|t| (t.name.clone().unwrap_or_default(), t.error_code, t.partitions.len()))
        .collect();
    // "one" not deleted, "two" not grown, "three" not created.
    let unknown = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0;
    assert_eq!(
        found,
        [("one".into(), 0, 6), ("two".into(), 0, 6), ("three".into(), unknown, 0)]
    );
}

#[test]
fn connections_over_an_ip_connection_creation_rate_are_closed_unanswered() {
    // One connection a second from every address (the default ip entity), or from the
    // address `localhost` resolves to, the clients' 127.0.0.1 (Kafka resolves the name when
    // it applies the quota), measured over at least 10 s: the first 10 at once are at the
    // rate, the 11th is over it.
    let entities: [(&[&str], Option<&[&str]>); 2] = [
        (&["--ip-default"], None),
        (
            &["--ip", "localhost"],
            Some(&["ip quota entity resolved", "localhost", "127.0.0.1"]),
        ),
    ];
    for (entity, resolved) in entities {
        let broker = Broker::start(&[]);
        let set = quotas_cli(
            &broker,
            &[&["alter"], entity, &["--add", "connection_creation_rate=1"]].concat(),
        );
        assert!(set.success, "{}", set.stderr);
        if let Some(resolved) = resolved {
            broker.wait_for_line(resolved);
        }
        let answered = |raw: &mut RawClient| {
            raw.send(3, &RequestBody::ApiVersions(Default::default()));
            raw.read_frame().is_some()
        };
        let outcomes: Vec<bool> = (0..12).map(|_| answered(&mut broker.raw())).collect();
        let mut expected = vec![true; 10];
        expected.extend([false, false]);
        assert_eq!(outcomes, expected, "{entity:?}");
        broker.wait_for_line(&["closing connection after a delay", "connection_creation_rate"]);
    }
}
