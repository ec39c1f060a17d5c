//! LeaveGroup: members leave at once instead of waiting for their sessions to expire.
//! Before v3 one member per request; from v3 a batch, each with its own error, where a
//! static member may be named by its group instance id.

use tidelog_protocol::messages::leave_group_request::LeaveGroupRequest;
use tidelog_protocol::messages::leave_group_response::{LeaveGroupResponse, MemberResponse};
use tidelog_protocol::ErrorCode;
use tokio::time::Instant;

use crate::broker::Broker;

pub fn handle(broker: &Broker, request: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let leave = |member_id: &str, instance_id: Option<&str>| {
        broker
            .groups
            .with_existing(&request.group_id, |g| g.leave((member_id, instance_id), Instant::now()))
            .unwrap_or(ErrorCode::UNKNOWN_MEMBER_ID)
    };
    if version < 3 {
        return LeaveGroupResponse {
            error_code: leave(&request.member_id, None).0,
            ..Default::default()
        };
    }
    let members = request
        .members
        .into_iter()
        .map(|m| MemberResponse {
            error_code: leave(&m.member_id, m.group_instance_id.as_deref()).0,
            member_id: m.member_id,
            group_instance_id: m.group_instance_id,
            ..Default::default()
        })
        .collect();
    LeaveGroupResponse {
        members,
        ..Default::default()
    }
}
