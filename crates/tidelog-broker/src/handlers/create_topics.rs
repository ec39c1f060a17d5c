//! CreateTopics: partitions, replication factor (1, or -1 for the default), configs and
//! `validate_only`, with one result per topic.

use std::collections::BTreeMap;

use tidelog_protocol::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
use tidelog_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult, CreateTopicsResponse,
};
use tidelog_protocol::ErrorCode;

use crate::broker::{too_many_partitions, ApiError, Broker, MAX_NEW_PARTITIONS_PER_REQUEST};
use crate::topic_config;

pub fn handle(broker: &Broker, request: CreateTopicsRequest) -> CreateTopicsResponse {
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
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.clone();
            if seen[&name] > 1 {
                let err = ApiError::new(
                    ErrorCode::INVALID_REQUEST,
                    format!("Duplicate topic name {name} in request"),
                );
                return failure(name, err);
            }
            match create(broker, topic, request.validate_only) {
                Ok(result) => result,
                Err(err) => failure(name, err),
            }
        })
        .collect();
    CreateTopicsResponse {
        topics,
        ..Default::default()
    }
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

fn create(broker: &Broker, topic: CreatableTopic, validate_only: bool) -> Result<CreatableTopicResult, ApiError> {
    if !topic.assignments.is_empty() {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(ApiError::new(
                ErrorCode::INVALID_REQUEST,
                "Both numPartitions or replicationFactor and replicasAssignments were set.",
            ));
        }
        let node = broker.config.node_id;
        if topic.assignments.iter().any(|a| a.broker_ids != [node]) {
            return Err(ApiError::new(
                ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                format!("Only broker {node} exists"),
            ));
        }
    }
    let partitions = if topic.assignments.is_empty() {
        topic.num_partitions
    } else {
        topic.assignments.len() as i32
    };
    let replication = if topic.assignments.is_empty() {
        topic.replication_factor
    } else {
        1
    };
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
    let created = broker.create_topic(&topic.name, partitions, replication, configs, validate_only)?;
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
    Ok(CreatableTopicResult {
        name: created.name,
        topic_id: created.id,
        num_partitions: created.partitions,
        replication_factor: 1,
        configs: Some(described),
        ..Default::default()
    })
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
