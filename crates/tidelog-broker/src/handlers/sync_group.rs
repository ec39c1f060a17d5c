//! SyncGroup: the leader hands out the assignments; every member's answer waits until
//! its own assignment is known.

use std::ops::RangeInclusive;

use tidelog_protocol::messages::sync_group_request::SyncGroupRequest;
use tidelog_protocol::messages::sync_group_response::SyncGroupResponse;
use tidelog_protocol::{ErrorCode, ResponseBody};
use tokio::time::Instant;

use crate::authorizer::ResourceType;
use crate::coordinator::group::state::SyncResult;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 5.
pub const VERSIONS: RangeInclusive<i16> = 0..=5;

pub async fn handle(ctx: &RequestContext, request: SyncGroupRequest) -> Reply {
    if !ctx.authorize(ResourceType::Group, &request.group_id) {
        return Reply::Now(respond(SyncResult::error(ErrorCode::GROUP_AUTHORIZATION_FAILED)));
    }
    let broker = &ctx.broker;
    let assignments = request
        .assignments
        .into_iter()
        .map(|a| (a.member_id, a.assignment))
        .collect();
    let protocol = (request.protocol_type.as_deref(), request.protocol_name.as_deref());
    let member = (request.member_id.as_str(), request.group_instance_id.as_deref());
    // The leader's assignments complete the rebalance: its answer waits for them to be
    // written (the other members', already sent, do not).
    let changed = broker
        .groups
        .change_membership(&broker.partitions, &request.group_id, false, |g| {
            g.sync(member, request.generation_id, protocol, assignments, Instant::now())
        });
    let Some((answer, written)) = changed else {
        return Reply::Now(respond(SyncResult::error(ErrorCode::UNKNOWN_MEMBER_ID)));
    };
    Reply::Later(Box::pin(async move {
        if let Some(written) = written {
            written.durable().await;
        }
        // A member removed while waiting (its session expired, it left) is unknown.
        respond(
            answer
                .await
                .unwrap_or_else(|_| SyncResult::error(ErrorCode::UNKNOWN_MEMBER_ID)),
        )
    }))
}

fn respond(result: SyncResult) -> ResponseBody {
    ResponseBody::SyncGroup(SyncGroupResponse {
        error_code: result.error.0,
        protocol_type: result.protocol_type,
        protocol_name: result.protocol_name,
        assignment: result.assignment,
        ..Default::default()
    })
}
