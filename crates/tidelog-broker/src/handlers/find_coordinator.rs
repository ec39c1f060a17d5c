//! FindCoordinator: a group's coordinator is the leader of its `__consumer_offsets`
//! partition, a transactional id's the leader of its `__transaction_state` partition (on one
//! node, this node), at its endpoint on the request's listener. The first lookup of each
//! kind creates its internal topic, as Kafka does.

use std::ops::RangeInclusive;
use tidelog_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use tidelog_protocol::messages::find_coordinator_response::{Coordinator, FindCoordinatorResponse};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::authorizer::ResourceType;
use crate::cluster;
use crate::coordinator::group::OFFSETS_TOPIC;
use crate::coordinator::txn::TRANSACTION_STATE_TOPIC;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 6.
pub const VERSIONS: RangeInclusive<i16> = 0..=6;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

pub async fn handle(ctx: &RequestContext, request: FindCoordinatorRequest) -> Reply {
    Reply::Now(ResponseBody::FindCoordinator(respond(ctx, request)))
}

fn respond(ctx: &RequestContext, request: FindCoordinatorRequest) -> FindCoordinatorResponse {
    if ctx.api_version < 4 {
        let found = find(ctx, request.key, request.key_type);
        return FindCoordinatorResponse {
            error_code: found.error_code,
            error_message: found.error_message,
            node_id: found.node_id,
            host: found.host,
            port: found.port,
            ..Default::default()
        };
    }
    let coordinators = request
        .coordinator_keys
        .into_iter()
        .map(|key| find(ctx, key, request.key_type))
        .collect();
    FindCoordinatorResponse {
        coordinators,
        ..Default::default()
    }
}

/// The coordinator of `key`: its partition's leader, at its endpoint on the request's
/// listener.
fn find(ctx: &RequestContext, key: String, key_type: i8) -> Coordinator {
    let broker = &ctx.broker;
    let refused = |code: ErrorCode, message: &str| Coordinator {
        key: key.clone(),
        node_id: -1,
        port: -1,
        error_code: code.0,
        error_message: Some(message.to_string()),
        ..Default::default()
    };
    let (resource, denied) = match key_type {
        KEY_TYPE_GROUP => (ResourceType::Group, ErrorCode::GROUP_AUTHORIZATION_FAILED),
        KEY_TYPE_TRANSACTION => (
            ResourceType::TransactionalId,
            ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        ),
        _ => return refused(ErrorCode::INVALID_REQUEST, "Unknown coordinator key type."),
    };
    if !ctx.authorize(resource, &key) {
        return refused(denied, denied.name());
    }
    let (topic, partition, ensured) = match key_type {
        KEY_TYPE_GROUP => (
            OFFSETS_TOPIC,
            broker.groups.partition_for(&key),
            broker.ensure_offsets_topic(),
        ),
        _ => (
            TRANSACTION_STATE_TOPIC,
            broker.txns.partition_for(&key),
            broker.ensure_transaction_topic(),
        ),
    };
    if let Err(e) = ensured {
        return refused(ErrorCode::COORDINATOR_NOT_AVAILABLE, &e.message);
    }
    let leader = {
        let image = broker.metadata.image();
        let Some(meta) = image.topic(topic) else {
            return refused(
                ErrorCode::COORDINATOR_NOT_AVAILABLE,
                "The coordinator is not available.",
            );
        };
        cluster::partition_view(broker, &image, meta, partition).leader
    };
    let listed = cluster::brokers(broker, &ctx.listener, false);
    let Some(coordinator) = listed.into_iter().find(|b| b.id == leader) else {
        // Its partition's broker is away (fenced) or has no such listener.
        return refused(
            ErrorCode::COORDINATOR_NOT_AVAILABLE,
            "The coordinator is not available.",
        );
    };
    Coordinator {
        node_id: coordinator.id,
        host: coordinator.host,
        port: i32::from(coordinator.port),
        key,
        ..Default::default()
    }
}
