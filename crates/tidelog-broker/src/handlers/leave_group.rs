//! LeaveGroup: members leave at once instead of waiting for their sessions to expire.
//! Before v3 one member per request; from v3 a batch, each with its own error, where a
//! static member may be named by its group instance id.

use std::sync::Arc;
use tidelog_protocol::messages::leave_group_request::LeaveGroupRequest;
use tidelog_protocol::messages::leave_group_response::{LeaveGroupResponse, MemberResponse};

use tidelog_protocol::{ErrorCode, ResponseBody};
use tokio::time::Instant;

use crate::broker::Broker;
use crate::dispatch::Reply;

pub fn handle(broker: &Arc<Broker>, request: LeaveGroupRequest, version: i16) -> Reply {
    let leave = |member_id: &str, instance_id: Option<&str>| {
        broker
            .groups
            .with_existing(&request.group_id, |g| g.leave((member_id, instance_id), Instant::now()))
            .unwrap_or(ErrorCode::UNKNOWN_MEMBER_ID)
    };
    let response = if version < 3 {
        LeaveGroupResponse {
            error_code: leave(&request.member_id, None).0,
            ..Default::default()
        }
    } else {
        let members = request
            .members
            .iter()
            .map(|m| MemberResponse {
                error_code: leave(&m.member_id, m.group_instance_id.as_deref()).0,
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                ..Default::default()
            })
            .collect();
        LeaveGroupResponse {
            members,
            ..Default::default()
        }
    };
    // The last member leaving empties the group, which is written before the answer.
    let written = broker.groups.persist_membership(&broker.partitions, &request.group_id);
    Reply::Later(Box::pin(async move {
        if let Some(written) = written {
            written.durable().await;
        }
        ResponseBody::LeaveGroup(response)
    }))
}
