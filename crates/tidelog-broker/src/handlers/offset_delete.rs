//! OffsetDelete: drops a group's committed offsets of some partitions, except for topics
//! the group's members subscribe to (GROUP_SUBSCRIBED_TO_TOPIC); answers once the
//! tombstones are durable.

use std::ops::RangeInclusive;

use tidelog_protocol::messages::offset_delete_request::OffsetDeleteRequest;
use tidelog_protocol::messages::offset_delete_response::{
    OffsetDeleteResponse, OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use tidelog_protocol::ResponseBody;

use crate::grouping::by_topic;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 0.
pub const VERSIONS: RangeInclusive<i16> = 0..=0;

pub async fn handle(ctx: &RequestContext, request: OffsetDeleteRequest) -> Reply {
    let broker = &ctx.broker;
    let wanted: Vec<(String, i32)> = request
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.partition_index)))
        .collect();
    let (errors, write) = match broker
        .groups
        .delete_offsets(&broker.partitions, &request.group_id, &wanted, |topic| {
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
    let outcome = wanted
        .into_iter()
        .zip(errors)
        .map(|((name, partition), error)| (name, (partition, error)));
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
