//! ConsumerGroupDescribe (KIP-848): each consumer group's epochs, assignor and members, with
//! every member's current and target assignment.

use std::ops::RangeInclusive;
use tidelog_protocol::messages::consumer_group_describe_request::ConsumerGroupDescribeRequest;
use tidelog_protocol::messages::consumer_group_describe_response::{
    Assignment, ConsumerGroupDescribeResponse, DescribedGroup, Member, TopicPartitions,
};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::authorized_operations;
use crate::authorizer::ResourceType;
use crate::coordinator::consumer::assignor::Partitions;
use crate::coordinator::consumer::group::{pattern, ConsumerGroup};
use crate::coordinator::consumer::records::by_topic_id;
use crate::handlers::{Reply, RequestContext};
use crate::metadata::MetadataImage;

/// The versions served, as ApiVersions advertises them: 0 to 1.
pub const VERSIONS: RangeInclusive<i16> = 0..=1;

/// KIP-1099's member type of a member using the consumer protocol.
const CONSUMER_MEMBER: i8 = 1;

pub async fn handle(ctx: &RequestContext, request: ConsumerGroupDescribeRequest) -> Reply {
    Reply::Now(ResponseBody::ConsumerGroupDescribe(respond(ctx, request)))
}

fn respond(ctx: &RequestContext, request: ConsumerGroupDescribeRequest) -> ConsumerGroupDescribeResponse {
    let broker = &ctx.broker;
    let asked = request.include_authorized_operations;
    let groups = request
        .group_ids
        .into_iter()
        .map(|group_id| {
            if !ctx.authorize(ResourceType::Group, &group_id) {
                return DescribedGroup {
                    error_code: ErrorCode::GROUP_AUTHORIZATION_FAILED.0,
                    group_id,
                    ..Default::default()
                };
            }
            let operations = authorized_operations::if_asked(asked, authorized_operations::group(ctx, &group_id));
            let image = broker.metadata.image();
            let described = broker
                .consumer_groups
                .with_existing(&group_id, |group| describe(group, &image));
            // An unknown group's are not given, as Kafka leaves them out.
            described.map_or_else(
                || not_found(group_id),
                |group| DescribedGroup {
                    authorized_operations: operations,
                    ..group
                },
            )
        })
        .collect();
    ConsumerGroupDescribeResponse {
        groups,
        ..Default::default()
    }
}

fn not_found(group_id: String) -> DescribedGroup {
    DescribedGroup {
        error_code: ErrorCode::GROUP_ID_NOT_FOUND.0,
        error_message: Some(format!("group {group_id} is not a consumer group")),
        group_id,
        // No state, as Kafka answers an unknown group.
        group_state: String::new(),
        ..Default::default()
    }
}

fn describe(group: &ConsumerGroup, image: &MetadataImage) -> DescribedGroup {
    let empty = Partitions::new();
    DescribedGroup {
        group_id: group.id.clone(),
        group_state: group.state().to_string(),
        group_epoch: group.epoch,
        assignment_epoch: group.assignment_epoch,
        assignor_name: group.assignor.clone(),
        members: group
            .members
            .values()
            .map(|m| Member {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                rack_id: m.rack_id.clone(),
                member_epoch: m.epoch,
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                subscribed_topic_names: m.subscribed.iter().cloned().collect(),
                // "" for none, as Kafka describes it.
                subscribed_topic_regex: Some(m.subscribed_regex.as_ref().map_or("", pattern).to_string()),
                assignment: assignment(&m.owned, image),
                target_assignment: assignment(group.target.get(&m.id).unwrap_or(&empty), image),
                member_type: CONSUMER_MEMBER,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn assignment(partitions: &Partitions, image: &MetadataImage) -> Assignment {
    Assignment {
        topic_partitions: by_topic_id(partitions, image)
            .into_iter()
            .map(|(topic_id, partitions)| TopicPartitions {
                topic_id,
                topic_name: image.topic_by_id(topic_id).map(|t| t.name.clone()).unwrap_or_default(),
                partitions,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
