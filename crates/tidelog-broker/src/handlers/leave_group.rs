//! LeaveGroup: members leave at once instead of waiting for their sessions to expire.
//! Before v3 one member per request; from v3 a batch, each with its own error, where a
//! static member may be named by its group instance id.

use std::ops::RangeInclusive;
use tidelog_protocol::messages::leave_group_request::LeaveGroupRequest;
use tidelog_protocol::messages::leave_group_response::{LeaveGroupResponse, MemberResponse};

use tidelog_protocol::{ErrorCode, ResponseBody};
use tokio::time::Instant;

use crate::authorizer::ResourceType;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 5.
pub const VERSIONS: RangeInclusive<i16> = 0..=5;

pub async fn handle(ctx: &RequestContext, request: LeaveGroupRequest) -> Reply {
    if !ctx.authorize(ResourceType::Group, &request.group_id) {
        return Reply::Now(ResponseBody::LeaveGroup(LeaveGroupResponse {
            error_code: ErrorCode::GROUP_AUTHORIZATION_FAILED.0,
            ..Default::default()
        }));
    }
    let broker = &ctx.broker;
    let version = ctx.api_version;
    let leaving: Vec<(&str, Option<&str>)> = match version {
        0..=2 => vec![(request.member_id.as_str(), None)],
        _ => request
            .members
            .iter()
            .map(|m| (m.member_id.as_str(), m.group_instance_id.as_deref()))
            .collect(),
    };
    // The last member leaving empties the group, which is written before the answer.
    let (errors, written) = broker
        .groups
        .change_membership(&broker.partitions, &request.group_id, false, |g| {
            let now = Instant::now();
            leaving.iter().map(|&member| g.leave(member, now)).collect()
        })
        .unwrap_or_else(|| (vec![ErrorCode::UNKNOWN_MEMBER_ID; leaving.len()], None));
    let response = match version {
        0..=2 => LeaveGroupResponse {
            error_code: errors[0].0,
            ..Default::default()
        },
        _ => LeaveGroupResponse {
            members: request
                .members
                .iter()
                .zip(errors)
                .map(|(m, error)| MemberResponse {
                    error_code: error.0,
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        },
    };
    Reply::Later(Box::pin(async move {
        if let Some(written) = written {
            written.durable().await;
        }
        ResponseBody::LeaveGroup(response)
    }))
}
