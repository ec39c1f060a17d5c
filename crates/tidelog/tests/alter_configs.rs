//! Altering topic configs on a running broker: librdkafka's AlterConfigs (the whole set of
//! a topic's overrides replaced) and IncrementalAlterConfigs in raw frames (set, delete,
//! append, subtract), the changes seen by DescribeConfigs, by the produce path and by the
//! log at once, kept across a restart, and refused with Kafka's error codes.

mod common;

use common::clients::new_topic;
use common::raw::{batch, RawClient};
use common::{now_ms, Broker};
use rdkafka::admin::{ConfigSource, ResourceSpecifier};
use tidelog_protocol::messages::alter_configs_request::{self as legacy, AlterConfigsRequest};
use tidelog_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
};
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// (value, source) of a topic config, as DescribeConfigs reports it (the source by its
/// rdkafka name, `ConfigSource` being neither `Clone` nor `Copy`).
fn described(broker: &Broker, topic: &str, name: &str) -> (String, String) {
    let configs = broker.admin().topic_configs(topic);
    let entry = configs
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", configs.entries));
    (entry.value.clone().unwrap_or_default(), format!("{:?}", entry.source))
}

/// Produces one record with a value of `size` bytes to partition 0: the partition's error.
fn produce(raw: &mut RawClient, topic: &str, size: usize) -> ErrorCode {
    let value = vec![b'v'; size];
    ErrorCode(raw.produce(topic, 0, -1, batch(now_ms(), &[(b"k", &value)])).error_code)
}

#[test]
fn alter_configs_replaces_a_topics_overrides_and_they_apply_at_once_and_last() {
    let mut broker = Broker::start(&[]);
    let admin = broker.admin();
    admin.create_ok(&[new_topic("altered", 1, 1)
        .set("segment.ms", "3600000")
        .set("max.message.bytes", "2048")]);
    let mut raw = broker.raw();
    assert_eq!(produce(&mut raw, "altered", 3000), ErrorCode::MESSAGE_TOO_LARGE);

    admin.alter_configs(
        ResourceSpecifier::Topic("altered"),
        &[("max.message.bytes", "4096"), ("segment.bytes", "4000")],
    );
    let dynamic = |value: &str| (value.to_string(), format!("{:?}", ConfigSource::DynamicTopic));
    assert_eq!(described(&broker, "altered", "max.message.bytes"), dynamic("4096"));
    assert_eq!(described(&broker, "altered", "segment.bytes"), dynamic("4000"));
    // Not listed: back to the default.
    assert_eq!(
        described(&broker, "altered", "segment.ms"),
        ("604800000".to_string(), format!("{:?}", ConfigSource::Default))
    );

    // The produce path reads the new limit, and the log rolls at the new segment size:
    // two batches of 3000 bytes do not fit in one segment (they would in the default 1 GiB).
    for _ in 0..3 {
        assert_eq!(produce(&mut raw, "altered", 3000), ErrorCode::NONE);
    }
    assert_eq!(broker.segment_base_offsets("altered", 0), [0, 1, 2]);

    broker.restart();
    assert_eq!(described(&broker, "altered", "max.message.bytes"), dynamic("4096"));
    assert_eq!(described(&broker, "altered", "segment.bytes"), dynamic("4000"));
    let mut raw = broker.raw();
    assert_eq!(produce(&mut raw, "altered", 3000), ErrorCode::NONE);

    // Refusals (read off the wire: rdkafka hides them), each leaving the topic as it was.
    let refusals = [
        (
            TOPIC,
            "altered",
            ("retention.ms", Some("-2")),
            ErrorCode::INVALID_CONFIG,
        ),
        (
            TOPIC,
            "altered",
            ("retention.mss", Some("1")),
            ErrorCode::INVALID_CONFIG,
        ),
        (TOPIC, "altered", ("retention.ms", None), ErrorCode::INVALID_REQUEST),
        (
            TOPIC,
            "missing",
            ("retention.ms", Some("1")),
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
        ),
        (BROKER, "1", ("log.retention.ms", Some("1")), ErrorCode::INVALID_REQUEST),
    ];
    for (resource_type, name, config, expected) in refusals {
        let (error, message) = alter(&mut raw, (resource_type, name), config, false);
        assert_eq!(error, expected, "{name} {config:?}");
        assert!(!message.is_empty(), "a message says why");
    }
    assert_eq!(described(&broker, "altered", "max.message.bytes"), dynamic("4096"));
    assert_eq!(
        described(&broker, "altered", "retention.ms"),
        ("604800000".to_string(), format!("{:?}", ConfigSource::Default))
    );

    // validate_only checks and changes nothing.
    let checked = alter(&mut raw, (TOPIC, "altered"), ("retention.ms", Some("1000")), true);
    assert_eq!(checked, (ErrorCode::NONE, String::new()));
    assert_eq!(described(&broker, "altered", "max.message.bytes"), dynamic("4096"));
}

/// AlterConfigs v2 of one resource to one config: the resource's (error, message).
fn alter(
    raw: &mut RawClient,
    resource: (i8, &str),
    config: (&str, Option<&str>),
    validate_only: bool,
) -> (ErrorCode, String) {
    let request = AlterConfigsRequest {
        resources: vec![legacy::AlterConfigsResource {
            resource_type: resource.0,
            resource_name: resource.1.into(),
            configs: vec![legacy::AlterableConfig {
                name: config.0.into(),
                value: config.1.map(str::to_string),
                ..Default::default()
            }],
            ..Default::default()
        }],
        validate_only,
        ..Default::default()
    };
    let ResponseBody::AlterConfigs(response) = raw.request(2, RequestBody::AlterConfigs(request)) else {
        panic!("not an AlterConfigs response")
    };
    let [answer] = &response.responses[..] else {
        panic!("one resource expected: {response:?}")
    };
    (
        ErrorCode(answer.error_code),
        answer.error_message.clone().unwrap_or_default(),
    )
}

/// IncrementalAlterConfigs operations: (key, operation, value).
type Changes<'a> = &'a [(&'a str, i8, Option<&'a str>)];

/// One IncrementalAlterConfigs v1 resource: (type, name, its operations).
type Resource<'a> = (i8, &'a str, Changes<'a>);

/// IncrementalAlterConfigs v1 of `resources`: each resource's (error, message).
fn incremental(raw: &mut RawClient, resources: &[Resource<'_>], validate_only: bool) -> Vec<(ErrorCode, String)> {
    let request = IncrementalAlterConfigsRequest {
        resources: resources
            .iter()
            .map(|(resource_type, name, configs)| AlterConfigsResource {
                resource_type: *resource_type,
                resource_name: name.to_string(),
                configs: configs
                    .iter()
                    .map(|(key, operation, value)| AlterableConfig {
                        name: key.to_string(),
                        config_operation: *operation,
                        value: value.map(str::to_string),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        validate_only,
        ..Default::default()
    };
    let ResponseBody::IncrementalAlterConfigs(response) = raw.request(1, RequestBody::IncrementalAlterConfigs(request))
    else {
        panic!("not an IncrementalAlterConfigs response")
    };
    response
        .responses
        .into_iter()
        .zip(resources)
        .map(|(r, (resource_type, name, _))| {
            assert_eq!((r.resource_type, r.resource_name.as_str()), (*resource_type, *name));
            (ErrorCode(r.error_code), r.error_message.unwrap_or_default())
        })
        .collect()
}

#[test]
fn incremental_alter_configs_sets_deletes_appends_and_subtracts_single_keys() {
    let broker = Broker::start(&[]);
    broker
        .admin()
        .create_ok(&[new_topic("keys", 1, 1).set("segment.ms", "3600000")]);
    let mut raw = broker.raw();
    let ok = |n| vec![(ErrorCode::NONE, String::new()); n];
    let value = |name| described(&broker, "keys", name);
    let dynamic = |value: &str| (value.to_string(), format!("{:?}", ConfigSource::DynamicTopic));
    let default = |value: &str| (value.to_string(), format!("{:?}", ConfigSource::Default));

    // Set and append (to the default "delete"); the other override stays.
    let changes = [
        ("retention.ms", SET, Some("5000")),
        ("cleanup.policy", APPEND, Some("compact")),
    ];
    assert_eq!(incremental(&mut raw, &[(TOPIC, "keys", &changes)], false), ok(1));
    assert_eq!(value("retention.ms"), dynamic("5000"));
    assert_eq!(value("cleanup.policy"), dynamic("delete,compact"));
    assert_eq!(value("segment.ms"), dynamic("3600000"));

    // Subtract from the list, delete a key: back to its default.
    let changes = [
        ("cleanup.policy", SUBTRACT, Some("delete")),
        ("retention.ms", DELETE, None),
    ];
    assert_eq!(incremental(&mut raw, &[(TOPIC, "keys", &changes)], false), ok(1));
    assert_eq!(value("cleanup.policy"), dynamic("compact"));
    assert_eq!(value("retention.ms"), default("604800000"));

    // validate_only: checked, not applied.
    let changes = [("retention.ms", SET, Some("7000"))];
    assert_eq!(incremental(&mut raw, &[(TOPIC, "keys", &changes)], true), ok(1));
    assert_eq!(value("retention.ms"), default("604800000"));

    // Refusals: a resource's operations apply together or not at all.
    let mut code = |resources: &[Resource<'_>]| -> Vec<ErrorCode> {
        incremental(&mut raw, resources, false)
            .into_iter()
            .map(|(code, _)| code)
            .collect()
    };
    let one_bad_value = [("retention.ms", SET, Some("9000")), ("segment.bytes", SET, Some("ten"))];
    assert_eq!(code(&[(TOPIC, "keys", &one_bad_value)]), [ErrorCode::INVALID_CONFIG]);
    assert_eq!(value("retention.ms"), default("604800000"));
    let cases: [(Changes<'_>, ErrorCode); 6] = [
        (&[("retention.ms", APPEND, Some("1"))], ErrorCode::INVALID_CONFIG),
        (&[("retention.ms", 7, Some("1"))], ErrorCode::INVALID_REQUEST),
        (&[("retention.ms", SET, None)], ErrorCode::INVALID_REQUEST),
        (
            &[("retention.ms", SET, Some("1")), ("retention.ms", DELETE, None)],
            ErrorCode::INVALID_REQUEST,
        ),
        (&[("no.such.config", SET, Some("1"))], ErrorCode::INVALID_CONFIG),
        (
            &[("cleanup.policy", APPEND, Some("forever"))],
            ErrorCode::INVALID_CONFIG,
        ),
    ];
    for (changes, expected) in cases {
        assert_eq!(code(&[(TOPIC, "keys", changes)]), [expected], "{changes:?}");
    }
    let retention = [("retention.ms", SET, Some("1"))];
    assert_eq!(
        code(&[(TOPIC, "missing", &retention)]),
        [ErrorCode::UNKNOWN_TOPIC_OR_PARTITION]
    );
    assert_eq!(code(&[(BROKER, "1", &retention)]), [ErrorCode::INVALID_REQUEST]);
    assert_eq!(code(&[(3, "keys", &retention)]), [ErrorCode::INVALID_REQUEST]);
    assert_eq!(
        code(&[(TOPIC, "keys", &retention), (TOPIC, "keys", &retention)]),
        [ErrorCode::INVALID_REQUEST; 2],
        "the same resource twice"
    );
    assert_eq!(value("retention.ms"), default("604800000"));
    assert_eq!(value("cleanup.policy"), dynamic("compact"));
}
