//! FindCoordinator: on one node, this node coordinates every group and every transactional
//! id. The first lookup of each kind creates its internal topic (`__consumer_offsets`,
//! `__transaction_state`), as Kafka does.

use std::ops::RangeInclusive;
use tidelog_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use tidelog_protocol::messages::find_coordinator_response::{Coordinator, FindCoordinatorResponse};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::authorizer::ResourceType;
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

/// The coordinator of `key`: this node, at its endpoint on the request's listener.
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
    let topic = match key_type {
        KEY_TYPE_GROUP => broker.ensure_offsets_topic(),
        _ => broker.ensure_transaction_topic(),
    };
    if let Err(e) = topic {
        return refused(ErrorCode::COORDINATOR_NOT_AVAILABLE, &e.message);
    }
    let advertised = &ctx.listener;
    Coordinator {
        node_id: broker.config.node_id,
        host: advertised.host.clone(),
        port: i32::from(advertised.port),
        key,
        ..Default::default()
    }
}
