//! DescribeProducers (KIP-664): the producers each partition holds state for, with their
//! epoch, last sequence and timestamp, the coordinator epoch of their last marker and where
//! their open transaction starts; what an operator looks at to find a hanging transaction.

use std::ops::RangeInclusive;
use tidelog_protocol::messages::describe_producers_request::DescribeProducersRequest;
use tidelog_protocol::messages::describe_producers_response::{
    DescribeProducersResponse, PartitionResponse, ProducerState, TopicResponse,
};
use tidelog_protocol::{ErrorCode, ResponseBody};
use tracing::error;

use crate::authorizer::ResourceType;
use crate::broker::Broker;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 0.
pub const VERSIONS: RangeInclusive<i16> = 0..=0;

pub async fn handle(ctx: &RequestContext, request: DescribeProducersRequest) -> Reply {
    let mut response = respond(&ctx.broker, request);
    for topic in response.topics.iter_mut() {
        if !ctx.authorize(ResourceType::Topic, &topic.name) {
            for p in topic.partitions.iter_mut() {
                *p = PartitionResponse {
                    partition_index: p.partition_index,
                    error_code: ErrorCode::TOPIC_AUTHORIZATION_FAILED.0,
                    ..Default::default()
                };
            }
        }
    }
    Reply::Now(ResponseBody::DescribeProducers(response))
}

pub(crate) fn respond(broker: &Broker, request: DescribeProducersRequest) -> DescribeProducersResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| TopicResponse {
            partitions: topic
                .partition_indexes
                .iter()
                .map(|&index| describe(broker, &topic.name, index))
                .collect(),
            name: topic.name,
            ..Default::default()
        })
        .collect();
    DescribeProducersResponse {
        topics,
        ..Default::default()
    }
}

fn describe(broker: &Broker, topic: &str, index: i32) -> PartitionResponse {
    let Some(partition) = broker.partitions.get(topic, index) else {
        return PartitionResponse {
            partition_index: index,
            error_code: broker.not_hosted(topic, index, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION).0,
            ..Default::default()
        };
    };
    let producers = match partition.producers() {
        Ok(producers) => producers,
        Err(e) => {
            error!(topic, partition = index, error = %e, "cannot read a partition's producers");
            return PartitionResponse {
                partition_index: index,
                error_code: ErrorCode::KAFKA_STORAGE_ERROR.0,
                ..Default::default()
            };
        }
    };
    let mut active_producers: Vec<ProducerState> = producers
        .into_iter()
        .map(|(producer_id, entry)| ProducerState {
            producer_id,
            producer_epoch: i32::from(entry.epoch),
            last_sequence: entry.last_seq().unwrap_or(-1),
            last_timestamp: entry.last_timestamp,
            coordinator_epoch: entry.coordinator_epoch,
            current_txn_start_offset: entry.current_txn_first_offset.unwrap_or(-1),
            ..Default::default()
        })
        .collect();
    active_producers.sort_by_key(|p| p.producer_id);
    PartitionResponse {
        partition_index: index,
        active_producers,
        ..Default::default()
    }
}
