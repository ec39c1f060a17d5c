//! Topic administration through librdkafka's AdminClient against a real broker process:
//! creation (configs, replication factors, refusals with Kafka's error codes),
//! `validate_only`, DescribeConfigs, CreatePartitions, DeleteTopics, durability across
//! restarts and crashes, and auto-creation by Metadata requests.

mod common;

use common::clients::new_topic;
use common::Broker;
use rdkafka::admin::ConfigSource;
use rdkafka::types::RDKafkaErrorCode as Code;
use tidelog_protocol::messages::create_partitions_request::{CreatePartitionsRequest, CreatePartitionsTopic};
use tidelog_protocol::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
use tidelog_protocol::messages::describe_configs_request::{DescribeConfigsRequest, DescribeConfigsResource};
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody, Uuid};

fn created(name: &str) -> Result<String, (String, Code)> {
    Ok(name.to_string())
}

fn refused(name: &str, code: Code) -> Result<String, (String, Code)> {
    Err((name.to_string(), code))
}

fn partitions(topics: &[(&str, usize)]) -> Vec<(String, usize)> {
    topics.iter().map(|(name, n)| (name.to_string(), *n)).collect()
}

#[test]
fn creates_topics_with_configs_and_replication_factor_1_or_default() {
    let broker = Broker::start(&["--override", "num.partitions=2"]);
    let admin = broker.admin();
    let results = admin.create_topics(&[
        new_topic("orders", 3, 1)
            .set("retention.ms", "60000")
            .set("cleanup.policy", "compact"),
        new_topic("events", 1, -1),
        new_topic("defaults", -1, -1),
    ]);
    assert_eq!(results, [created("orders"), created("events"), created("defaults")]);

    // -1 partitions takes num.partitions.
    let expected = partitions(&[("defaults", 2), ("events", 1), ("orders", 3)]);
    assert_eq!(admin.topic_partitions(), expected);
    let metadata = admin.metadata();
    for topic in metadata.topics() {
        for (index, partition) in topic.partitions().iter().enumerate() {
            assert_eq!(partition.id(), index as i32, "{}", topic.name());
            assert_eq!(partition.leader(), 1, "{} leader", topic.name());
            assert_eq!((partition.replicas(), partition.isr()), (&[1][..], &[1][..]));
        }
    }
    let orders = admin.topic_configs("orders");
    let value = |name| orders.get(name).and_then(|e| e.value.clone());
    assert_eq!(value("retention.ms").as_deref(), Some("60000"));
    assert_eq!(value("cleanup.policy").as_deref(), Some("compact"));
}

#[test]
fn refuses_bad_topics_with_kafka_error_codes() {
    let broker = Broker::start(&[]);
    let admin = broker.admin();
    admin.create_ok(&[new_topic("taken", 1, 1)]);

    let too_long = "x".repeat(250);
    let results = admin.create_topics(&[
        new_topic("three-replicas", 1, 3),
        new_topic("../x", 1, 1),
        new_topic(&too_long, 1, 1),
        new_topic("..", 1, 1),
        new_topic("white space", 1, 1),
        new_topic("taken", 2, 1),
        new_topic("bad-value", 1, 1).set("cleanup.policy", "forever"),
        new_topic("unknown-config", 1, 1).set("no.such.config", "1"),
    ]);
    assert_eq!(
        results,
        [
            refused("three-replicas", Code::InvalidReplicationFactor),
            refused("../x", Code::InvalidTopic),
            refused(&too_long, Code::InvalidTopic),
            refused("..", Code::InvalidTopic),
            refused("white space", Code::InvalidTopic),
            refused("taken", Code::TopicAlreadyExists),
            refused("bad-value", Code::InvalidConfig),
            refused("unknown-config", Code::InvalidConfig),
        ]
    );
    // Nothing refused was created, and the existing topic kept its partition count.
    assert_eq!(admin.topic_partitions(), partitions(&[("taken", 1)]));
    // 249 characters is Kafka's limit, and allowed.
    let longest = "y".repeat(249);
    assert_eq!(admin.create_topics(&[new_topic(&longest, 1, 1)]), [created(&longest)]);
}

/// Kafka refuses a name equal to an existing one once '.' and '_' are read alike (their
/// metric names would collide), whether asked by CreateTopics or by a Metadata auto-create.
#[test]
fn refuses_names_colliding_on_dot_and_underscore() {
    let broker = Broker::start(&[]);
    let admin = broker.admin();
    admin.create_ok(&[new_topic("metrics.app_1", 1, 1)]);
    let results = admin.create_topics(&[new_topic("metrics_app.1", 1, 1), new_topic("metrics-app-1", 1, 1)]);
    assert_eq!(
        results,
        [refused("metrics_app.1", Code::InvalidTopic), created("metrics-app-1")]
    );
    let checked = admin.create_topics_with(&[new_topic("metrics_app_1", 1, 1)], true);
    assert_eq!(checked, [refused("metrics_app_1", Code::InvalidTopic)]);
    let auto = broker.raw().metadata(Some(&["metrics.app.1"]), true);
    assert_eq!(
        topic_errors(&auto),
        [("metrics.app.1", ErrorCode::INVALID_TOPIC_EXCEPTION)]
    );
    let expected = partitions(&[("metrics-app-1", 1), ("metrics.app_1", 1)]);
    assert_eq!(admin.topic_partitions(), expected);
}

/// Kafka refuses more than 10,000 new partitions in one request with POLICY_VIOLATION for
/// every topic in it. Without that limit one request could make every later Metadata
/// response enormous (i32::MAX partitions).
#[test]
fn refuses_more_than_10000_new_partitions_per_request() {
    let broker = Broker::start(&[]);
    let admin = broker.admin();
    let checked = admin.create_topics_with(&[new_topic("largest", 10_000, 1)], true);
    assert_eq!(checked, [created("largest")]);
    let over = admin.create_topics_with(&[new_topic("big", 5_000, 1), new_topic("bigger", 5_001, 1)], true);
    assert_eq!(
        over,
        [
            refused("big", Code::PolicyViolation),
            refused("bigger", Code::PolicyViolation)
        ]
    );
    assert_eq!(
        admin.create_topics(&[new_topic("huge", 10_001, 1)]),
        [refused("huge", Code::PolicyViolation)]
    );
    admin.create_ok(&[new_topic("small", 1, 1)]);
    assert_eq!(
        admin.create_partitions("small", 10_002),
        refused("small", Code::PolicyViolation)
    );

    // librdkafka refuses counts over 100,000 itself, so the extremes go on the wire.
    let mut raw = broker.raw();
    let create = RequestBody::CreateTopics(CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: "max".into(),
            num_partitions: i32::MAX,
            replication_factor: 1,
            ..Default::default()
        }],
        timeout_ms: 10_000,
        ..Default::default()
    });
    let ResponseBody::CreateTopics(response) = raw.request(7, create) else {
        panic!("not a CreateTopics response");
    };
    let errors: Vec<_> = response
        .topics
        .iter()
        .map(|t| (t.name.as_str(), ErrorCode(t.error_code)))
        .collect();
    assert_eq!(errors, [("max", ErrorCode::POLICY_VIOLATION)]);
    let grow = RequestBody::CreatePartitions(CreatePartitionsRequest {
        topics: vec![CreatePartitionsTopic {
            name: "small".into(),
            count: i32::MAX,
            assignments: None,
            ..Default::default()
        }],
        timeout_ms: 10_000,
        ..Default::default()
    });
    let ResponseBody::CreatePartitions(response) = raw.request(3, grow) else {
        panic!("not a CreatePartitions response");
    };
    let errors: Vec<_> = response
        .results
        .iter()
        .map(|t| (t.name.as_str(), ErrorCode(t.error_code)))
        .collect();
    assert_eq!(errors, [("small", ErrorCode::POLICY_VIOLATION)]);

    assert_eq!(admin.topic_partitions(), partitions(&[("small", 1)]));
}

#[test]
fn validate_only_checks_but_creates_nothing() {
    let broker = Broker::start(&[]);
    let admin = broker.admin();
    let results = admin.create_topics_with(&[new_topic("checked", 4, 1), new_topic("bad", 1, 3)], true);
    assert_eq!(
        results,
        [created("checked"), refused("bad", Code::InvalidReplicationFactor)]
    );
    assert_eq!(admin.topic_partitions(), []);

    admin.create_ok(&[new_topic("checked", 4, 1)]);
    let again = admin.create_topics_with(&[new_topic("checked", 4, 1)], true);
    assert_eq!(again, [refused("checked", Code::TopicAlreadyExists)]);
    assert_eq!(admin.topic_partitions(), partitions(&[("checked", 4)]));
}

#[test]
fn describe_configs_reports_kafka_names_values_and_sources() {
    let broker = Broker::start(&["--override", "log.retention.hours=1"]);
    let admin = broker.admin();
    admin.create_ok(&[new_topic("configured", 1, 1)
        .set("segment.ms", "3600000")
        .set("max.message.bytes", "2048")]);
    let configs = admin.topic_configs("configured");
    let entry = |name: &str| {
        let e = configs
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", configs.entries));
        (e.value.as_deref(), &e.source, e.is_default)
    };
    // Topic overrides.
    assert_eq!(
        entry("segment.ms"),
        (Some("3600000"), &ConfigSource::DynamicTopic, false)
    );
    assert_eq!(
        entry("max.message.bytes"),
        (Some("2048"), &ConfigSource::DynamicTopic, false)
    );
    // The broker's log.retention.hours=1, as a topic's retention.ms.
    assert_eq!(
        entry("retention.ms"),
        (Some("3600000"), &ConfigSource::StaticBroker, false)
    );
    // Kafka's defaults.
    assert_eq!(
        entry("segment.bytes"),
        (Some("1073741824"), &ConfigSource::Default, true)
    );
    assert_eq!(entry("cleanup.policy"), (Some("delete"), &ConfigSource::Default, true));
    assert_eq!(entry("retention.bytes"), (Some("-1"), &ConfigSource::Default, true));
    // Topic-level names only, never the broker's `log.*` synonyms.
    assert!(
        configs.entries.iter().all(|e| !e.name.starts_with("log.")),
        "{:?}",
        configs.entries
    );

    // rdkafka hides per-resource errors, so this one is read off the wire.
    let request = RequestBody::DescribeConfigs(DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: RESOURCE_TOPIC,
            resource_name: "missing".into(),
            configuration_keys: None,
            ..Default::default()
        }],
        ..Default::default()
    });
    let ResponseBody::DescribeConfigs(response) = broker.raw().request(4, request) else {
        panic!("not a DescribeConfigs response");
    };
    let errors: Vec<_> = response
        .results
        .iter()
        .map(|r| (r.resource_name.as_str(), ErrorCode(r.error_code)))
        .collect();
    assert_eq!(errors, [("missing", ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)]);
}

/// Kafka's resource type for topics in DescribeConfigs.
const RESOURCE_TOPIC: i8 = 2;

#[test]
fn create_partitions_only_grows_existing_topics() {
    let broker = Broker::start(&[]);
    let admin = broker.admin();
    admin.create_ok(&[new_topic("growing", 3, 1)]);

    assert_eq!(admin.create_partitions("growing", 5), created("growing"));
    assert_eq!(admin.topic_partitions(), partitions(&[("growing", 5)]));
    assert_eq!(
        admin.create_partitions("growing", 4),
        refused("growing", Code::InvalidPartitions)
    );
    assert_eq!(
        admin.create_partitions("growing", 5),
        refused("growing", Code::InvalidPartitions)
    );
    assert_eq!(
        admin.create_partitions("missing", 2),
        refused("missing", Code::UnknownTopicOrPartition)
    );
    assert_eq!(admin.topic_partitions(), partitions(&[("growing", 5)]));
}

#[test]
fn delete_topics_removes_them_and_refuses_unknown_ones() {
    let broker = Broker::start(&[]);
    let admin = broker.admin();
    admin.create_ok(&[new_topic("doomed", 2, 1), new_topic("kept", 1, 1)]);
    let old_id = topic_id(&broker, "doomed");

    let results = admin.delete_topics(&["doomed", "missing"]);
    assert_eq!(
        results,
        [created("doomed"), refused("missing", Code::UnknownTopicOrPartition)]
    );
    assert_eq!(admin.topic_partitions(), partitions(&[("kept", 1)]));
    assert_eq!(
        admin.delete_topics(&["doomed"]),
        [refused("doomed", Code::UnknownTopicOrPartition)]
    );

    // The name can be used again, by a new topic.
    admin.create_ok(&[new_topic("doomed", 1, 1)]);
    assert_ne!(topic_id(&broker, "doomed"), old_id);
}

#[test]
fn topics_survive_a_clean_restart() {
    assert_topics_survive(|broker| broker.restart());
}

#[test]
fn topics_survive_sigkill() {
    assert_topics_survive(|broker| {
        broker.kill9();
        broker.restart();
    });
}

/// Creates, grows and deletes topics, then checks that `restart` brings back exactly the
/// same topics: names, ids, partition counts and config overrides.
fn assert_topics_survive(restart: impl FnOnce(&mut Broker)) {
    let mut broker = Broker::start(&[]);
    let admin = broker.admin();
    admin.create_ok(&[
        new_topic("alpha", 3, 1).set("retention.ms", "60000"),
        new_topic("beta", 1, 1).set("cleanup.policy", "compact"),
        new_topic("gone", 1, 1),
    ]);
    assert_eq!(admin.create_partitions("alpha", 5), created("alpha"));
    assert_eq!(admin.delete_topics(&["gone"]), [created("gone")]);
    let before = cluster_state(&broker);
    let summary: Vec<_> = before.iter().map(|t| (t.name.as_str(), t.partitions)).collect();
    assert_eq!(summary, [("alpha", 5), ("beta", 1)]);
    assert_eq!(before[0].overrides, [("retention.ms".to_string(), "60000".to_string())]);

    // `admin` stays connected across the restart: a clean stop must not wait for it.
    let old_bootstrap = broker.bootstrap();
    restart(&mut broker);
    assert_eq!(cluster_state(&broker), before);
    if broker.bootstrap() == old_bootstrap {
        // The port was free again, so a client from before reconnects by itself.
        let expected = partitions(&[("alpha", 5), ("beta", 1)]);
        assert_eq!(admin.topic_partitions(), expected);
    }
}

#[test]
fn metadata_auto_creates_unknown_topics_when_allowed() {
    let broker = Broker::start(&["--override", "num.partitions=3"]);
    let mut raw = broker.raw();

    let not_asked = raw.metadata(Some(&["quiet"]), false);
    assert_eq!(
        topic_errors(&not_asked),
        [("quiet", ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)]
    );

    let response = raw.metadata(Some(&["auto"]), true);
    assert_eq!(topic_errors(&response), [("auto", ErrorCode::NONE)]);
    let topic = &response.topics[0];
    assert_eq!(topic.partitions.len(), 3, "num.partitions applies");
    assert!(!topic.topic_id.is_nil());
    // Asking again finds the same topic rather than making another.
    let again = raw.metadata(Some(&["auto"]), true);
    assert_eq!(again.topics[0].topic_id, topic.topic_id);
    assert_eq!(broker.admin().topic_partitions(), partitions(&[("auto", 3)]));
}

#[test]
fn metadata_does_not_auto_create_when_disabled() {
    let broker = Broker::start(&["--override", "auto.create.topics.enable=false"]);
    let response = broker.raw().metadata(Some(&["auto"]), true);
    assert_eq!(
        topic_errors(&response),
        [("auto", ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)]
    );
    assert_eq!(broker.admin().topic_partitions(), []);
}

fn topic_errors(response: &tidelog_protocol::messages::metadata_response::MetadataResponse) -> Vec<(&str, ErrorCode)> {
    response
        .topics
        .iter()
        .map(|t| (t.name.as_deref().unwrap_or(""), ErrorCode(t.error_code)))
        .collect()
}

fn topic_id(broker: &Broker, name: &str) -> Uuid {
    let response = broker.raw().metadata(Some(&[name]), false);
    assert_eq!(topic_errors(&response), [(name, ErrorCode::NONE)]);
    response.topics[0].topic_id
}

/// What must survive a restart, per topic.
#[derive(Debug, PartialEq)]
struct TopicState {
    name: String,
    id: Uuid,
    partitions: usize,
    /// Configs set on the topic (source DYNAMIC_TOPIC_CONFIG).
    overrides: Vec<(String, String)>,
}

fn cluster_state(broker: &Broker) -> Vec<TopicState> {
    let admin = broker.admin();
    let mut topics: Vec<TopicState> = broker
        .raw()
        .metadata(None, false)
        .topics
        .into_iter()
        .map(|topic| {
            assert_eq!(topic.error_code, 0, "{topic:?}");
            assert!(!topic.topic_id.is_nil(), "{topic:?}");
            let name = topic.name.expect("a topic name");
            let configs = admin.topic_configs(&name);
            let overrides = configs
                .entries
                .iter()
                .filter(|e| e.source == ConfigSource::DynamicTopic)
                .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
                .collect();
            TopicState {
                name,
                id: topic.topic_id,
                partitions: topic.partitions.len(),
                overrides,
            }
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    topics
}
