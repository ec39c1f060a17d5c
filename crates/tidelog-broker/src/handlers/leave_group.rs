//! LeaveGroup: members leave at once instead of waiting for their sessions to expire.
//! Before v3 one member per request; from v3 a batch, each with its own error.

use tidelog_protocol::messages::leave_group_request::LeaveGroupRequest;
use tidelog_protocol::messages::leave_group_response::{LeaveGroupResponse, MemberResponse};
use tidelog_protocol::ErrorCode;
use tokio::time::Instant;

use crate::broker::Broker;

pub fn handle(broker: &Broker, request: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let leave = |member_id: &str| {
        broker
            .groups
            .with_existing(&request.group_id, |g| g.leave(member_id, Instant::now()))
            .unwrap_or(ErrorCode::UNKNOWN_MEMBER_ID)
    };
    if version < 3 {
        return LeaveGroupResponse {
            error_code: leave(&request.member_id).0,
            ..Default::default()
        };
    }
    let members = request
        .members
        .into_iter()
        .map(|m| MemberResponse {
            error_code: leave(&m.member_id).0,
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
