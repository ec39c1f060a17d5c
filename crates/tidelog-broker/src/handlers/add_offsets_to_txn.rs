//! AddOffsetsToTxn: adds the group's `__consumer_offsets` partition to the producer's
//! transaction, so that its TxnOffsetCommit there becomes part of it and the partition
//! gets the transaction's marker. Only clients of transactions v1 send it: a TxnOffsetCommit
//! v5 adds the partition itself.

use std::ops::RangeInclusive;

use tidelog_protocol::messages::add_offsets_to_txn_request::AddOffsetsToTxnRequest;
use tidelog_protocol::messages::add_offsets_to_txn_response::AddOffsetsToTxnResponse;
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::authorizer::ResourceType;
use crate::coordinator::group::OFFSETS_TOPIC;
use crate::coordinator::txn::state::TV_0;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 4.
pub const VERSIONS: RangeInclusive<i16> = 0..=4;

pub async fn handle(ctx: &RequestContext, request: AddOffsetsToTxnRequest) -> Reply {
    let broker = &ctx.broker;
    let respond = |code: ErrorCode| {
        ResponseBody::AddOffsetsToTxn(AddOffsetsToTxnResponse {
            error_code: code.0,
            ..Default::default()
        })
    };
    if !ctx.authorize(ResourceType::TransactionalId, &request.transactional_id) {
        return Reply::Now(respond(ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED));
    }
    if !ctx.authorize(ResourceType::Group, &request.group_id) {
        return Reply::Now(respond(ErrorCode::GROUP_AUTHORIZATION_FAILED));
    }
    if broker.ensure_offsets_topic().is_err() {
        return Reply::Now(respond(ErrorCode::COORDINATOR_NOT_AVAILABLE));
    }
    let partition = (
        OFFSETS_TOPIC.to_string(),
        broker.groups.partition_for(&request.group_id),
    );
    let broker = broker.clone();
    Reply::Later(Box::pin(async move {
        let producer = (request.producer_id, request.producer_epoch);
        let added = broker
            .txns
            .add_partitions(
                &broker.partitions,
                &request.transactional_id,
                producer,
                &[partition],
                TV_0,
            )
            .await;
        respond(added.err().unwrap_or(ErrorCode::NONE))
    }))
}
