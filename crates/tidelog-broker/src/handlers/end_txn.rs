//! EndTxn: commits or aborts the producer's ongoing transaction. PrepareCommit (or
//! PrepareAbort) is written to `__transaction_state` first: from then on the outcome is
//! decided and survives a crash. Then every partition of the transaction gets its marker,
//! and once they are durable the Complete state is written. The answer waits for all of
//! it, so a read_committed consumer sees the transaction as soon as the producer learns
//! it committed. A retry of an EndTxn already completed is answered NONE.
//!
//! Version 5 is transactions v2 (KIP-890 part 2): the Prepare state is written at the next
//! epoch, the markers carry it (fencing every batch of the transaction still in flight),
//! and the answer gives the producer id and epoch to go on with: the same id at that
//! epoch, or a new id at epoch 0 once the epoch is exhausted.

use std::ops::RangeInclusive;
use std::sync::Arc;

use tidelog_protocol::messages::end_txn_request::EndTxnRequest;
use tidelog_protocol::messages::end_txn_response::EndTxnResponse;
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::authorizer::ResourceType;
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::coordinator::txn::state::End;
use crate::handlers::init_producer_id::new_producer_id;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 5.
pub const VERSIONS: RangeInclusive<i16> = 0..=5;

pub async fn handle(ctx: &RequestContext, request: EndTxnRequest) -> Reply {
    let version = ctx.api_version;
    if !ctx.authorize(ResourceType::TransactionalId, &request.transactional_id) {
        return Reply::Now(ResponseBody::EndTxn(EndTxnResponse {
            error_code: ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED.0,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        }));
    }
    let broker = ctx.broker.clone();
    Reply::Later(Box::pin(async move {
        let (code, (producer_id, producer_epoch)) = match end(&broker, &request, version >= 5).await {
            Ok(ids) => (ErrorCode::NONE, ids),
            Err(code) => (code, (-1, -1)),
        };
        ResponseBody::EndTxn(EndTxnResponse {
            error_code: code.0,
            producer_id,
            producer_epoch,
            ..Default::default()
        })
    }))
}

/// Ends the transaction; the producer id and epoch the producer goes on with.
async fn end(broker: &Arc<Broker>, request: &EndTxnRequest, bump: bool) -> Result<(i64, i16), ErrorCode> {
    let id = &request.transactional_id;
    let now = now_ms();
    let new_producer_id = || new_producer_id(broker);
    let (end, ids) = broker
        .txns
        .transition(&broker.partitions, id, |current| {
            let txn = current.ok_or(ErrorCode::INVALID_PRODUCER_ID_MAPPING)?;
            let (producer_id, epoch, commit) = (request.producer_id, request.producer_epoch, request.committed);
            let (next, end) = match bump {
                true => txn.end_bumping(producer_id, epoch, commit, now, new_producer_id)?,
                false => txn.end(producer_id, epoch, commit, now)?,
            };
            let ids = next.ids_after_completion();
            Ok(((end == End::Prepare).then_some(next), (end, ids)))
        })
        .await?;
    if end == End::Prepare {
        match broker.spawn_txn_completion(id.clone()).await {
            Ok(completed) => completed?,
            Err(_) => return Err(ErrorCode::UNKNOWN_SERVER_ERROR),
        }
    }
    Ok(ids)
}
