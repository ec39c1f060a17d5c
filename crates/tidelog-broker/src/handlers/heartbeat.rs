//! Heartbeat: keeps a member's session alive and tells it when to rejoin (or, for an old
//! incarnation of a static member, that it is fenced).

use std::ops::RangeInclusive;
use tidelog_protocol::messages::heartbeat_request::HeartbeatRequest;
use tidelog_protocol::messages::heartbeat_response::HeartbeatResponse;
use tidelog_protocol::{ErrorCode, ResponseBody};
use tokio::time::Instant;

use crate::authorizer::ResourceType;
use crate::broker::Broker;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 4.
pub const VERSIONS: RangeInclusive<i16> = 0..=4;

pub async fn handle(ctx: &RequestContext, request: HeartbeatRequest) -> Reply {
    if !ctx.authorize(ResourceType::Group, &request.group_id) {
        return Reply::Now(ResponseBody::Heartbeat(HeartbeatResponse {
            error_code: ErrorCode::GROUP_AUTHORIZATION_FAILED.0,
            ..Default::default()
        }));
    }
    Reply::Now(ResponseBody::Heartbeat(respond(&ctx.broker, request)))
}

fn respond(broker: &Broker, request: HeartbeatRequest) -> HeartbeatResponse {
    let error = broker
        .groups
        .with_existing(&request.group_id, |g| {
            let member = (request.member_id.as_str(), request.group_instance_id.as_deref());
            g.heartbeat(member, request.generation_id, Instant::now())
        })
        .unwrap_or(ErrorCode::UNKNOWN_MEMBER_ID);
    HeartbeatResponse {
        error_code: error.0,
        ..Default::default()
    }
}
