//! ConsumerGroupHeartbeat (KIP-848): joining, staying, leaving and receiving assignments of
//! a consumer group all go through this request. Topics travel by id on the wire and by name
//! inside the coordinator. What a heartbeat changes is written to `__consumer_offsets` while
//! the group is locked, and the answer waits until that write is durable, so a member is
//! never told of an epoch or partitions that a crash could take back.

use std::ops::RangeInclusive;
use tidelog_protocol::messages::consumer_group_heartbeat_request::ConsumerGroupHeartbeatRequest;
use tidelog_protocol::messages::consumer_group_heartbeat_response::{
    Assignment, ConsumerGroupHeartbeatResponse, TopicPartitions,
};
use tidelog_protocol::{ErrorCode, ResponseBody};
use tokio::time::Instant;

use crate::authorizer::ResourceType;
use crate::coordinator::consumer::group::Heartbeat;
use crate::coordinator::consumer::persist;
use crate::coordinator::consumer::records::{by_topic_id, by_topic_name};
use crate::coordinator::group::state::GroupState;
use crate::features;
use crate::handlers::{Reply, RequestContext};
use crate::ids::{random_uuid, uuid_base64};

/// The versions served, as ApiVersions advertises them: 0 to 1.
pub const VERSIONS: RangeInclusive<i16> = 0..=1;

pub async fn handle(ctx: &RequestContext, request: ConsumerGroupHeartbeatRequest) -> Reply {
    let broker = &ctx.broker;
    let consumer_groups = &broker.consumer_groups;
    let interval_ms = consumer_groups.heartbeat_interval.as_millis() as i32;
    // A refusal carries no heartbeat interval (0), as Kafka's.
    let refuse = |error: ErrorCode, message: &str| {
        Reply::Now(ResponseBody::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatResponse {
            error_code: error.0,
            error_message: Some(message.to_string()),
            ..Default::default()
        }))
    };
    // `group.version` 0 (set by `kafka-features downgrade`) turns the consumer protocol off.
    if broker.metadata.image().feature_level(features::GROUP_VERSION) < 1 {
        return refuse(
            ErrorCode::UNSUPPORTED_VERSION,
            "the consumer group protocol is off: group.version is 0",
        );
    }
    if !ctx.authorize(ResourceType::Group, &request.group_id) {
        return refuse(ErrorCode::GROUP_AUTHORIZATION_FAILED, "Group authorization failed.");
    }
    let subscribed = request.subscribed_topic_names.iter().flatten();
    if let Some(topic) = subscribed.into_iter().find(|t| !ctx.authorize(ResourceType::Topic, t)) {
        let message = format!("Topic authorization failed for topics [{topic}]");
        return refuse(ErrorCode::TOPIC_AUTHORIZATION_FAILED, &message);
    }
    if request.group_id.is_empty() {
        return refuse(ErrorCode::INVALID_REQUEST, "the group id is empty");
    }
    if let Some(assignor) = &request.server_assignor {
        if !consumer_groups.assignors.contains(assignor) {
            return refuse(ErrorCode::UNSUPPORTED_ASSIGNOR, "this assignor is not offered");
        }
    }
    let classic_in_use = broker
        .groups
        .with_existing(&request.group_id, |g| g.state != GroupState::Empty)
        .unwrap_or(false);
    if classic_in_use {
        return refuse(
            ErrorCode::GROUP_ID_NOT_FOUND,
            "the group is a classic group with members",
        );
    }
    if let Err(e) = broker.ensure_offsets_topic() {
        return refuse(e.code, &e.message);
    }
    let topics = broker.subscribable_topics();
    let image = broker.metadata.image();
    let owned = request
        .topic_partitions
        .map(|topics| by_topic_name(topics.into_iter().map(|t| (t.topic_id, t.partitions)), &image));
    let heartbeat = Heartbeat {
        member_id: request.member_id,
        member_epoch: request.member_epoch,
        instance_id: request.instance_id,
        rack_id: request.rack_id,
        client_id: ctx.client_id.clone(),
        client_host: ctx.client_host(),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topics: request.subscribed_topic_names,
        subscribed_regex: request.subscribed_topic_regex,
        server_assignor: request.server_assignor,
        owned,
    };
    let append = |group: &str, records: Vec<_>| broker.groups.append(&broker.partitions, group, records, None);
    let (result, written) = consumer_groups.with_group(&request.group_id, |group| {
        let result = group.heartbeat(
            heartbeat,
            || uuid_base64(random_uuid()),
            &topics,
            consumer_groups.session_timeout,
            Instant::now(),
        );
        (result, persist::write_changes(group, &image, &append))
    });
    let pending = match written {
        Ok(pending) => pending,
        Err(error) => return refuse(error, "cannot write the group's change"),
    };
    let response = match result {
        Ok(result) => ConsumerGroupHeartbeatResponse {
            member_id: Some(result.member_id),
            member_epoch: result.member_epoch,
            // A member that left is not asked to come back (0), as Kafka answers it.
            heartbeat_interval_ms: if result.member_epoch < 0 { 0 } else { interval_ms },
            assignment: result.assignment.map(|partitions| Assignment {
                topic_partitions: by_topic_id(&partitions, &image)
                    .into_iter()
                    .map(|(topic_id, partitions)| TopicPartitions {
                        topic_id,
                        partitions,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        },
        Err(error) => return refuse(error, "refused by the group coordinator"),
    };
    Reply::Later(Box::pin(async move {
        if let Some(pending) = pending {
            pending.durable().await;
        }
        ResponseBody::ConsumerGroupHeartbeat(response)
    }))
}
