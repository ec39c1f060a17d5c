//! CreateTopics: partitions and replication factor (or -1 for the defaults) or each
//! partition's replicas, configs and `validate_only`, with one result per topic.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use tidelog_protocol::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
use tidelog_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult, CreateTopicsResponse,
};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::authorizer::ResourceType;
use crate::broker::{too_many_partitions, ApiError, Broker, NewTopic, MAX_NEW_PARTITIONS_PER_REQUEST};
use crate::client_quotas::controller_mutation::MutationQuota;
use crate::handlers::{Reply, RequestContext};
use crate::metadata::TopicMeta;
use crate::topic_config;

/// The versions served, as ApiVersions advertises them: 2 to 7.
pub const VERSIONS: RangeInclusive<i16> = 2..=7;

/// The first version whose client knows THROTTLING_QUOTA_EXCEEDED (KIP-599).
const STRICT_QUOTA_VERSION: i16 = 6;

pub async fn handle(ctx: &RequestContext, request: CreateTopicsRequest) -> Reply {
    let cluster = ctx.authorize_cluster();
    let may_create = |name: &str| cluster || ctx.authorize(ResourceType::Topic, name);
    let mut quota = ctx.broker.controller_mutations.quota_for(ctx, STRICT_QUOTA_VERSION);
    let mut response = respond(&ctx.broker, request, may_create, &mut quota);
    response.throttle_time_ms = quota.throttle(ctx);
    Reply::Now(ResponseBody::CreateTopics(response))
}

/// The quorum's leader's answer to topics another node of the cluster forwards (its
/// client's CreateTopics, or a topic it creates itself): authorized and charged to the
/// client's quota there.
pub fn forwarded(broker: &Broker, request: CreateTopicsRequest) -> CreateTopicsResponse {
    respond(broker, request, |_| true, &mut broker.controller_mutations.unbounded())
}

/// `may_create` says whether the principal may create a topic of that name (CREATE on the
/// cluster or the topic); the others are refused TOPIC_AUTHORIZATION_FAILED. The topics
/// created are charged to `quota`, in request order.
fn respond(
    broker: &Broker,
    request: CreateTopicsRequest,
    may_create: impl Fn(&str) -> bool,
    quota: &mut MutationQuota,
) -> CreateTopicsResponse {
    let new_partitions: i64 = request.topics.iter().map(|t| requested_partitions(broker, t)).sum();
    if new_partitions > MAX_NEW_PARTITIONS_PER_REQUEST {
        let topics = request
            .topics
            .into_iter()
            .map(|topic| failure(topic.name, too_many_partitions()))
            .collect();
        return CreateTopicsResponse {
            topics,
            ..Default::default()
        };
    }
    let mut seen = BTreeMap::new();
    for topic in &request.topics {
        *seen.entry(topic.name.clone()).or_insert(0) += 1;
    }
    // Each entry is refused on its own (a duplicate name, a bad assignment), or planned; the
    // planned ones are created together. `refused` holds the former, in request order.
    let mut refused = Vec::new();
    let mut planned = Vec::new();
    for topic in request.topics {
        let name = topic.name.clone();
        let entry = if !may_create(&name) {
            Err(ApiError::new(
                ErrorCode::TOPIC_AUTHORIZATION_FAILED,
                "Authorization failed.",
            ))
        } else if seen[&name] > 1 {
            Err(ApiError::new(
                ErrorCode::INVALID_REQUEST,
                format!("Duplicate topic name {name} in request"),
            ))
        } else {
            new_topic(topic).and_then(|topic| charge(broker, quota, topic, request.validate_only))
        };
        match entry {
            Ok(topic) => {
                planned.push(topic);
                refused.push(None);
            }
            Err(err) => refused.push(Some((name, err))),
        }
    }
    let names: Vec<String> = planned.iter().map(|t| t.name.clone()).collect();
    let mut created = names
        .into_iter()
        .zip(broker.create_topics(planned, request.validate_only));
    let topics = refused
        .into_iter()
        .map(|refused| match refused {
            Some((name, err)) => failure(name, err),
            None => match created.next().expect("an answer for each planned topic") {
                (_, Ok(topic)) => result(broker, topic),
                (name, Err(err)) => failure(name, err),
            },
        })
        .collect();
    CreateTopicsResponse {
        topics,
        ..Default::default()
    }
}

/// Charges a topic about to be created to the client's `controller_mutation_rate`, as
/// Kafka does once a topic is otherwise valid: not one that exists already (refused
/// anyway), nor a validation, which creates nothing.
fn charge(
    broker: &Broker,
    quota: &mut MutationQuota,
    topic: NewTopic,
    validate_only: bool,
) -> Result<NewTopic, ApiError> {
    if validate_only || broker.metadata.image().topic(&topic.name).is_some() {
        return Ok(topic);
    }
    let partitions = match topic.partitions {
        _ if !topic.assignment.is_empty() => topic.assignment.len() as i32,
        -1 => broker.config.num_partitions,
        n => n,
    };
    quota.record(i64::from(partitions)).map(|()| topic)
}

/// The partitions a topic entry asks for, counted as Kafka counts them for the limit.
fn requested_partitions(broker: &Broker, topic: &CreatableTopic) -> i64 {
    if !topic.assignments.is_empty() {
        topic.assignments.len() as i64
    } else if topic.num_partitions == -1 {
        i64::from(broker.config.num_partitions)
    } else {
        i64::from(topic.num_partitions.max(0))
    }
}

/// The topic an entry asks for, or why it is refused as it stands.
fn new_topic(topic: CreatableTopic) -> Result<NewTopic, ApiError> {
    if !topic.assignments.is_empty() && (topic.num_partitions != -1 || topic.replication_factor != -1) {
        return Err(ApiError::new(
            ErrorCode::INVALID_REQUEST,
            "Both numPartitions or replicationFactor and replicasAssignments were set.",
        ));
    }
    let mut assignments: Vec<_> = topic
        .assignments
        .into_iter()
        .map(|a| (a.partition_index, a.broker_ids))
        .collect();
    assignments.sort_by_key(|(partition, _)| *partition);
    if let Some(w) = assignments.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(ApiError::new(
            ErrorCode::INVALID_REPLICA_ASSIGNMENT,
            format!("Found multiple manual partition assignments for partition {}", w[0].0),
        ));
    }
    if (0..)
        .zip(&assignments)
        .any(|(expected, (partition, _))| *partition != expected)
    {
        return Err(ApiError::new(
            ErrorCode::INVALID_REPLICA_ASSIGNMENT,
            "partitions should be a consecutive 0-based integer sequence",
        ));
    }
    let mut configs = BTreeMap::new();
    for c in topic.configs {
        let value = c.value.ok_or_else(|| {
            ApiError::new(
                ErrorCode::INVALID_CONFIG,
                format!("Null value not supported for topic configs: {}", c.name),
            )
        })?;
        configs.insert(c.name, value);
    }
    Ok(NewTopic {
        name: topic.name,
        partitions: topic.num_partitions,
        replication_factor: topic.replication_factor,
        configs,
        assignment: assignments.into_iter().map(|(_, replicas)| replicas).collect(),
    })
}

/// A created (or validated) topic's answer, with its configs as DescribeConfigs shows them.
fn result(broker: &Broker, created: TopicMeta) -> CreatableTopicResult {
    let described = topic_config::resolve(&broker.config, &created.configs)
        .into_iter()
        .map(|c| CreatableTopicConfigs {
            name: c.name.to_string(),
            value: Some(c.value),
            read_only: false,
            config_source: c.source as i8,
            is_sensitive: false,
            ..Default::default()
        })
        .collect();
    CreatableTopicResult {
        name: created.name,
        topic_id: created.id,
        num_partitions: created.partitions,
        replication_factor: created.replication_factor,
        configs: Some(described),
        ..Default::default()
    }
}

fn failure(name: String, err: ApiError) -> CreatableTopicResult {
    CreatableTopicResult {
        name,
        error_code: err.code.0,
        error_message: Some(err.message),
        // Kafka answers a refused topic with an empty list, not null.
        configs: Some(Vec::new()),
        ..Default::default()
    }
}
