//! EndTxn: commits or aborts the producer's ongoing transaction. PrepareCommit (or
//! PrepareAbort) is written to `__transaction_state` first: from then on the outcome is
//! decided and survives a crash. Then every partition of the transaction gets its marker,
//! and once they are durable the Complete state is written. The answer waits for all of
//! it, so a read_committed consumer sees the transaction as soon as the producer learns
//! it committed. A retry of an EndTxn already completed is answered NONE.
//!
//! Versions 0-4: v5 (KIP-890 transactions v2, which bumps the epoch at every EndTxn) is not
//! handled.

use std::sync::Arc;

use tidelog_protocol::messages::end_txn_request::EndTxnRequest;
use tidelog_protocol::messages::end_txn_response::EndTxnResponse;
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::broker::Broker;
use crate::clock::now_ms;
use crate::coordinator::txn::state::End;
use crate::dispatch::Reply;

pub fn handle(broker: &Arc<Broker>, request: EndTxnRequest) -> Reply {
    let broker = broker.clone();
    Reply::Later(Box::pin(async move {
        let code = match end(&broker, &request).await {
            Ok(()) => ErrorCode::NONE,
            Err(code) => code,
        };
        ResponseBody::EndTxn(EndTxnResponse {
            error_code: code.0,
            ..Default::default()
        })
    }))
}

async fn end(broker: &Arc<Broker>, request: &EndTxnRequest) -> Result<(), ErrorCode> {
    let id = &request.transactional_id;
    let now = now_ms();
    let decided = broker
        .txns
        .transition(&broker.partitions, id, |current| {
            let txn = current.ok_or(ErrorCode::INVALID_PRODUCER_ID_MAPPING)?;
            let (next, end) = txn.end(request.producer_id, request.producer_epoch, request.committed, now)?;
            Ok(((end == End::Prepare).then_some(next), end))
        })
        .await?;
    match decided {
        End::Prepare => match broker.spawn_txn_completion(id.clone()).await {
            Ok(completed) => completed,
            Err(_) => Err(ErrorCode::UNKNOWN_SERVER_ERROR),
        },
        End::AlreadyDone => Ok(()),
    }
}
