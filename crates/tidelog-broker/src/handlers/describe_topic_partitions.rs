//! DescribeTopicPartitions (KIP-966): topics and partitions, paged by a cursor and by
//! `response_partition_limit`.

use std::ops::RangeInclusive;
use tidelog_protocol::messages::describe_topic_partitions_request::DescribeTopicPartitionsRequest;
use tidelog_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponse, DescribeTopicPartitionsResponsePartition,
    DescribeTopicPartitionsResponseTopic,
};
use tidelog_protocol::{ErrorCode, ResponseBody, Uuid};

use crate::authorizer::ResourceType;
use crate::broker::is_internal_topic;
use crate::handlers::{Reply, RequestContext};
use crate::metadata::{MetadataImage, TopicMeta};
use crate::{authorized_operations, cluster};

/// The versions served, as ApiVersions advertises them: 0 to 0.
pub const VERSIONS: RangeInclusive<i16> = 0..=0;

pub async fn handle(ctx: &RequestContext, request: DescribeTopicPartitionsRequest) -> Reply {
    Reply::Now(ResponseBody::DescribeTopicPartitions(respond(ctx, request)))
}

fn respond(ctx: &RequestContext, request: DescribeTopicPartitionsRequest) -> DescribeTopicPartitionsResponse {
    let broker = &ctx.broker;
    let image = broker.metadata.image();
    // Requested names (sorted, as Kafka pages in name order), or every topic the principal
    // may describe.
    let mut names: Vec<String> = if request.topics.is_empty() {
        image
            .topics()
            .filter(|t| ctx.authorize(ResourceType::Topic, &t.name))
            .map(|t| t.name.clone())
            .collect()
    } else {
        request.topics.into_iter().map(|t| t.name).collect()
    };
    names.sort();
    names.dedup();
    let (start_topic, start_partition) = match request.cursor {
        Some(c) => (c.topic_name, c.partition_index),
        None => (String::new(), 0),
    };
    let mut budget = request.response_partition_limit.max(1);
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for name in names.into_iter().filter(|n| *n >= start_topic) {
        if !ctx.authorize(ResourceType::Topic, &name) {
            topics.push(DescribeTopicPartitionsResponseTopic {
                error_code: ErrorCode::TOPIC_AUTHORIZATION_FAILED.0,
                name: Some(name),
                ..Default::default()
            });
            continue;
        }
        let Some(topic) = image.topic(&name) else {
            topics.push(DescribeTopicPartitionsResponseTopic {
                error_code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0,
                name: Some(name),
                topic_id: Uuid::NIL,
                ..Default::default()
            });
            continue;
        };
        if budget == 0 {
            next_cursor = Some(Cursor {
                topic_name: name,
                partition_index: 0,
                ..Default::default()
            });
            break;
        }
        // Both bounds within the topic, whatever the cursor and limit say.
        let first = if name == start_topic {
            start_partition.clamp(0, topic.partitions)
        } else {
            0
        };
        let last = first.saturating_add(budget).min(topic.partitions);
        let operations = authorized_operations::topic(ctx, &name);
        topics.push(describe(ctx, &image, topic, first..last, operations));
        budget -= last - first;
        if last < topic.partitions {
            next_cursor = Some(Cursor {
                topic_name: name,
                partition_index: last,
                ..Default::default()
            });
            break;
        }
    }
    DescribeTopicPartitionsResponse {
        topics,
        next_cursor,
        ..Default::default()
    }
}

fn describe(
    ctx: &RequestContext,
    image: &MetadataImage,
    topic: &TopicMeta,
    partitions: std::ops::Range<i32>,
    operations: i32,
) -> DescribeTopicPartitionsResponseTopic {
    DescribeTopicPartitionsResponseTopic {
        name: Some(topic.name.clone()),
        topic_id: topic.id,
        is_internal: is_internal_topic(&topic.name),
        // Always given here, unlike Metadata's, which are given when asked.
        topic_authorized_operations: operations,
        partitions: partitions
            .map(|p| {
                let view = cluster::partition_view(&ctx.broker, image, topic, p);
                DescribeTopicPartitionsResponsePartition {
                    error_code: view.error.0,
                    partition_index: p,
                    leader_id: view.leader,
                    leader_epoch: view.leader_epoch,
                    replica_nodes: view.replicas,
                    isr_nodes: view.isr,
                    offline_replicas: view.offline,
                    eligible_leader_replicas: Some(Vec::new()),
                    last_known_elr: Some(Vec::new()),
                    ..Default::default()
                }
            })
            .collect(),
        ..Default::default()
    }
}
