//! OffsetDelete: drops a group's committed offsets of some partitions, except for topics
//! the group's members subscribe to (GROUP_SUBSCRIBED_TO_TOPIC); answers once the
//! tombstones are durable.

use std::ops::RangeInclusive;

use tidelog_protocol::messages::offset_delete_request::OffsetDeleteRequest;
use tidelog_protocol::messages::offset_delete_response::{
    OffsetDeleteResponse, OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::authorizer::ResourceType;
use crate::grouping::by_topic;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 0.
pub const VERSIONS: RangeInclusive<i16> = 0..=0;

pub async fn handle(ctx: &RequestContext, request: OffsetDeleteRequest) -> Reply {
    let broker = &ctx.broker;
    if !ctx.authorize(ResourceType::Group, &request.group_id) {
        let response = OffsetDeleteResponse {
            error_code: ErrorCode::GROUP_AUTHORIZATION_FAILED.0,
            ..Default::default()
        };
        return Reply::Now(ResponseBody::OffsetDelete(response));
    }
    let wanted: Vec<(String, i32)> = request
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.partition_index)))
        .collect();
    // The partitions of topics the principal may not read are refused, not deleted.
    let readable: Vec<bool> = wanted
        .iter()
        .map(|(topic, _)| ctx.authorize(ResourceType::Topic, topic))
        .collect();
    let deletable: Vec<(String, i32)> = wanted
        .iter()
        .zip(&readable)
        .filter(|(_, &readable)| readable)
        .map(|(p, _)| p.clone())
        .collect();
    let (errors, write) =
        match broker
            .groups
            .delete_offsets(&broker.partitions, &request.group_id, &deletable, |topic| {
                broker
                    .consumer_groups
                    .subscribes(&request.group_id, topic)
                    .unwrap_or(false)
            }) {
            Ok(deleted) => deleted,
            Err(code) => {
                let response = OffsetDeleteResponse {
                    error_code: code.0,
                    ..Default::default()
                };
                return Reply::Now(ResponseBody::OffsetDelete(response));
            }
        };
    let mut errors = errors.into_iter();
    let outcome = wanted.into_iter().zip(readable).map(|((name, partition), readable)| {
        let error = match readable {
            true => errors.next().expect("an error code for each deletable partition"),
            false => ErrorCode::TOPIC_AUTHORIZATION_FAILED,
        };
        (name, (partition, error))
    });
    let topics: Vec<OffsetDeleteResponseTopic> = by_topic(outcome)
        .into_iter()
        .map(|(name, partitions)| OffsetDeleteResponseTopic {
            name,
            partitions: partitions
                .into_iter()
                .map(|(partition_index, error)| OffsetDeleteResponsePartition {
                    partition_index,
                    error_code: error.0,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    Reply::Later(Box::pin(async move {
        if let Some(write) = write {
            write.durable().await;
        }
        ResponseBody::OffsetDelete(OffsetDeleteResponse {
            topics,
            ..Default::default()
        })
    }))
}
