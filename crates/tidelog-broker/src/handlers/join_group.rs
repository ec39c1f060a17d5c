//! JoinGroup: a member joins or rejoins a classic group; the answer waits until the
//! rebalance completes (or the member id is issued first, KIP-394, from v4).

use std::ops::RangeInclusive;
use std::time::Duration;

use tidelog_protocol::messages::join_group_request::JoinGroupRequest;
use tidelog_protocol::messages::join_group_response::{JoinGroupResponse, JoinGroupResponseMember};
use tidelog_protocol::{ErrorCode, ResponseBody};
use tokio::time::Instant;

use crate::authorizer::ResourceType;
use crate::coordinator::group::state::{JoinRequest, JoinResult};
use crate::handlers::{Reply, RequestContext};
use crate::ids::{random_uuid, uuid_base64};

/// The versions served, as ApiVersions advertises them: 0 to 9.
pub const VERSIONS: RangeInclusive<i16> = 0..=9;

/// Kafka's `group.min.session.timeout.ms` and `group.max.session.timeout.ms` defaults.
const MIN_SESSION_TIMEOUT_MS: i32 = 6_000;
const MAX_SESSION_TIMEOUT_MS: i32 = 1_800_000;

pub async fn handle(ctx: &RequestContext, request: JoinGroupRequest) -> Reply {
    let (broker, version) = (&ctx.broker, ctx.api_version);
    let respond = move |result: JoinResult| ResponseBody::JoinGroup(response(result, version));
    if !ctx.authorize(ResourceType::Group, &request.group_id) {
        return Reply::Now(respond(JoinResult::error(
            ErrorCode::GROUP_AUTHORIZATION_FAILED,
            request.member_id,
        )));
    }
    if request.group_id.is_empty() {
        return Reply::Now(respond(JoinResult::error(
            ErrorCode::INVALID_GROUP_ID,
            request.member_id,
        )));
    }
    // As Kafka's coordinator without classic members in consumer groups: the id belongs to
    // a KIP-848 group (ConsumerGroupHeartbeat refuses the other way round alike).
    if broker.consumer_groups.has_members(&request.group_id) {
        return Reply::Now(respond(JoinResult::error(
            ErrorCode::GROUP_ID_NOT_FOUND,
            request.member_id,
        )));
    }
    if !(MIN_SESSION_TIMEOUT_MS..=MAX_SESSION_TIMEOUT_MS).contains(&request.session_timeout_ms) {
        return Reply::Now(respond(JoinResult::error(
            ErrorCode::INVALID_SESSION_TIMEOUT,
            request.member_id,
        )));
    }
    // Before v1 the session timeout bounded the rebalance too.
    let rebalance_timeout_ms = match request.rebalance_timeout_ms {
        -1 => request.session_timeout_ms,
        ms => ms,
    };
    let member_id = request.member_id.clone();
    let join = JoinRequest {
        member_id: request.member_id,
        group_instance_id: request.group_instance_id,
        client_host: ctx.client_host(),
        protocol_type: request.protocol_type,
        protocols: request.protocols.into_iter().map(|p| (p.name, p.metadata)).collect(),
        session_timeout: Duration::from_millis(request.session_timeout_ms as u64),
        rebalance_timeout: Duration::from_millis(rebalance_timeout_ms.max(0) as u64),
        require_known_member_id: version >= 4,
        new_member_id: format!("{}-{}", ctx.client_id, uuid_base64(random_uuid())),
        client_id: ctx.client_id.clone(),
    };
    let (answer, written) = broker
        .groups
        .change_membership(&broker.partitions, &request.group_id, true, |g| {
            g.join(join, Instant::now())
        })
        .expect("created if missing");
    Reply::Later(Box::pin(async move {
        if let Some(written) = written {
            written.durable().await;
        }
        // A member removed while waiting (it left, or its group was deleted) is unknown.
        let result = answer
            .await
            .unwrap_or_else(|_| JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, member_id));
        respond(result)
    }))
}

fn response(result: JoinResult, version: i16) -> JoinGroupResponse {
    JoinGroupResponse {
        error_code: result.error.0,
        generation_id: result.generation,
        protocol_type: result.protocol_type,
        // Null from v7 when there is none; older versions have a plain string.
        protocol_name: match result.protocol_name {
            None if version < 7 => Some(String::new()),
            name => name,
        },
        leader: result.leader,
        member_id: result.member_id,
        members: result
            .members
            .into_iter()
            .map(|(member_id, group_instance_id, metadata)| JoinGroupResponseMember {
                member_id,
                group_instance_id,
                metadata,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
