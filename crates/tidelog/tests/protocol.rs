//! The protocol surface, with raw frames: every API version the broker advertises answers
//! random valid requests (from `tidelog_protocol::sample`) with a response that decodes at
//! that version; every version it does not advertise closes the connection, as Kafka does;
//! and version-specific corners the random requests found.

mod common;

use common::clients::new_topic;
use common::Broker;
use tidelog_protocol::messages::describe_topic_partitions_request::{Cursor, DescribeTopicPartitionsRequest};
use tidelog_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use tidelog_protocol::sample::SampleRng;
use tidelog_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody, Uuid};

const SAMPLES_PER_VERSION: u64 = 16;

/// Catches a response the broker cannot encode at some version (the client would wait
/// forever) and handlers that trip over unusual but valid input; all on one connection,
/// which must stay open throughout.
#[test]
fn every_advertised_version_answers_random_valid_requests() {
    let broker = Broker::start(&[]);
    let mut raw = broker.raw();
    let advertised = raw.api_versions().api_keys;
    assert!(!advertised.is_empty());
    let mut answered = 0;
    for api in &advertised {
        let key = ApiKey::from_i16(api.api_key).unwrap_or_else(|| panic!("advertised unknown key {}", api.api_key));
        for version in api.min_version..=api.max_version {
            for seed in 0..SAMPLES_PER_VERSION {
                let mut rng = SampleRng::new(seed * 1000 + version as u64);
                let body = only_validate(RequestBody::sample(key, &mut rng, version));
                let correlation_id = raw.send(version, &body);
                raw.read_response(key, version, correlation_id);
                answered += 1;
            }
        }
    }
    assert_eq!(
        answered,
        advertised
            .iter()
            .map(|a| (a.max_version - a.min_version + 1) as u64 * SAMPLES_PER_VERSION)
            .sum::<u64>()
    );
    // The broker is still fine for everyone else.
    assert_eq!(broker.raw().api_versions().error_code, 0);
}

/// Kafka advertises exactly what it handles and closes the connection on anything else.
/// Versions our codecs know but the broker does not advertise (Produce before it is
/// implemented, old versions of admin APIs) must do the same, not leave the client waiting
/// for an answer that never comes.
#[test]
fn unadvertised_versions_close_the_connection() {
    let broker = Broker::start(&[]);
    let advertised = broker.raw().api_versions().api_keys;
    let is_advertised = |key: ApiKey, version: i16| {
        advertised
            .iter()
            .any(|a| a.api_key == key as i16 && (a.min_version..=a.max_version).contains(&version))
    };
    let mut closed = 0;
    for key in ApiKey::ALL {
        for version in (key.min_version()..=key.max_version()).filter(|v| !is_advertised(key, *v)) {
            let mut rng = SampleRng::new(version as u64);
            let mut client = broker.raw();
            client.send(version, &RequestBody::sample(key, &mut rng, version));
            broker.assert_closed_and_logged(&mut client, &format!("api_key={key:?} version={version}"));
            closed += 1;
        }
    }
    assert!(closed > 0, "every version of every API is advertised: nothing to test");
    assert_eq!(broker.raw().api_versions().error_code, 0);
}

/// Metadata v10 and v11 carry topic ids but may not use them: Kafka answers INVALID_REQUEST
/// for every topic, named "" when asked by id. From v12 an id finds the topic, whatever the
/// name field says.
#[test]
fn metadata_by_topic_id_needs_v12() {
    let broker = Broker::start(&[]);
    broker.admin().create_ok(&[new_topic("known", 2, 1)]);
    let mut raw = broker.raw();
    let id = raw.metadata(Some(&["known"]), false).topics[0].topic_id;
    assert!(!id.is_nil());

    let by_id = |id: Uuid| MetadataRequestTopic {
        topic_id: id,
        name: None,
        ..Default::default()
    };
    let metadata = |topics: Vec<MetadataRequestTopic>| {
        RequestBody::Metadata(MetadataRequest {
            topics: Some(topics),
            allow_auto_topic_creation: false,
            ..Default::default()
        })
    };
    let unknown = Uuid::from_u128(42);
    for version in [10, 11] {
        let ResponseBody::Metadata(response) = raw.request(version, metadata(vec![by_id(id)])) else {
            panic!("not a Metadata response");
        };
        let topics: Vec<_> = response
            .topics
            .iter()
            .map(|t| (t.name.clone(), ErrorCode(t.error_code), t.partitions.len()))
            .collect();
        assert_eq!(
            topics,
            [(Some(String::new()), ErrorCode::INVALID_REQUEST, 0)],
            "v{version}"
        );
    }
    let ResponseBody::Metadata(response) = raw.request(12, metadata(vec![by_id(id), by_id(unknown)])) else {
        panic!("not a Metadata response");
    };
    let topics: Vec<_> = response
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.topic_id, ErrorCode(t.error_code), t.partitions.len()))
        .collect();
    assert_eq!(
        topics,
        [
            (Some("known".to_string()), id, ErrorCode::NONE, 2),
            (None, unknown, ErrorCode::UNKNOWN_TOPIC_ID, 0)
        ]
    );
    // The Java client asks by id with the name field at its default, "": the id wins.
    let java_style = MetadataRequestTopic {
        name: Some(String::new()),
        ..by_id(id)
    };
    let ResponseBody::Metadata(response) = raw.request(12, metadata(vec![java_style])) else {
        panic!("not a Metadata response");
    };
    let found: Vec<_> = response.topics.iter().map(|t| (t.name.clone(), t.topic_id)).collect();
    assert_eq!(found, [(Some("known".to_string()), id)]);
}

/// DescribeTopicPartitions pages through every partition by cursor, and a cursor or limit
/// at the extremes of i32 is just an empty page, not an overflow.
#[test]
fn describe_topic_partitions_pages_by_cursor() {
    let broker = Broker::start(&[]);
    broker.admin().create_ok(&[new_topic("a", 3, 1), new_topic("b", 2, 1)]);
    let mut raw = broker.raw();
    let mut page = |limit: i32, cursor: Option<(&str, i32)>| {
        let request = RequestBody::DescribeTopicPartitions(DescribeTopicPartitionsRequest {
            topics: Vec::new(),
            response_partition_limit: limit,
            cursor: cursor.map(|(topic, partition)| Cursor {
                topic_name: topic.into(),
                partition_index: partition,
                ..Default::default()
            }),
            ..Default::default()
        });
        let ResponseBody::DescribeTopicPartitions(response) = raw.request(0, request) else {
            panic!("not a DescribeTopicPartitions response");
        };
        let topics: Vec<(String, Vec<i32>)> = response
            .topics
            .into_iter()
            .map(|t| {
                let partitions = t.partitions.iter().map(|p| p.partition_index).collect();
                (t.name.unwrap_or_default(), partitions)
            })
            .collect();
        let next = response.next_cursor.map(|c| (c.topic_name, c.partition_index));
        (topics, next)
    };
    let listed = |topics: &[(&str, &[i32])]| -> Vec<(String, Vec<i32>)> {
        topics.iter().map(|(t, p)| (t.to_string(), p.to_vec())).collect()
    };

    assert_eq!(page(2, None), (listed(&[("a", &[0, 1])]), Some(("a".into(), 2))));
    assert_eq!(
        page(2, Some(("a", 2))),
        (listed(&[("a", &[2]), ("b", &[0])]), Some(("b".into(), 1)))
    );
    assert_eq!(page(2, Some(("b", 1))), (listed(&[("b", &[1])]), None));
    assert_eq!(
        page(i32::MAX, Some(("a", i32::MAX))),
        (listed(&[("a", &[]), ("b", &[0, 1])]), None)
    );
}

/// Random topic creations and partition additions only validate: random partition counts
/// would otherwise pile up into huge Metadata responses.
fn only_validate(mut body: RequestBody) -> RequestBody {
    match &mut body {
        RequestBody::CreateTopics(request) => request.validate_only = true,
        RequestBody::CreatePartitions(request) => request.validate_only = true,
        _ => {}
    }
    body
}
