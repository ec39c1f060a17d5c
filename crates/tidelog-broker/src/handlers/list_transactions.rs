//! ListTransactions (KIP-664): the transactional ids this node coordinates, filtered by
//! state names (unknown names are echoed back in `unknown_state_filters`), producer ids,
//! from v1 a minimum duration of the ongoing transaction (KIP-994), and from v2 a regular
//! expression the whole id must match (KIP-1152; an invalid one gets
//! INVALID_REGULAR_EXPRESSION, as a bad KIP-848 subscription regex does). Each filter left empty (or -1, or null) lets
//! everything through.

use crate::authorizer::ResourceType;
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::coordinator::consumer::group::full_match;
use crate::coordinator::txn::state::{TxnMetadata, TxnState};
use crate::handlers::{Reply, RequestContext};
use std::ops::RangeInclusive;
use tidelog_protocol::messages::list_transactions_request::ListTransactionsRequest;
use tidelog_protocol::messages::list_transactions_response::{ListTransactionsResponse, TransactionState};
use tidelog_protocol::ResponseBody;

/// The versions served, as ApiVersions advertises them: 0 to 2.
pub const VERSIONS: RangeInclusive<i16> = 0..=2;

pub async fn handle(ctx: &RequestContext, request: ListTransactionsRequest) -> Reply {
    let mut response = respond(&ctx.broker, request);
    // The transactions the principal may describe.
    response
        .transaction_states
        .retain(|t| ctx.authorize(ResourceType::TransactionalId, &t.transactional_id));
    Reply::Now(ResponseBody::ListTransactions(response))
}

fn respond(broker: &Broker, request: ListTransactionsRequest) -> ListTransactionsResponse {
    let (states, unknown_state_filters): (Vec<_>, Vec<_>) = request
        .state_filters
        .iter()
        .partition(|name| TxnState::from_name(name).is_some());
    let states: Vec<TxnState> = states.iter().filter_map(|n| TxnState::from_name(n)).collect();
    let pattern = match request.transactional_id_pattern.as_deref().map(full_match).transpose() {
        Ok(pattern) => pattern.flatten(),
        Err(code) => {
            return ListTransactionsResponse {
                error_code: code.0,
                ..Default::default()
            }
        }
    };
    let now = now_ms();
    let wanted = |txn: &TxnMetadata| {
        (states.is_empty() || states.contains(&txn.state))
            && (request.producer_id_filters.is_empty() || request.producer_id_filters.contains(&txn.producer_id))
            && (request.duration_filter < 0
                || (txn.state == TxnState::Ongoing && now - txn.start_ms >= request.duration_filter))
            && pattern.as_ref().is_none_or(|p| p.is_match(&txn.transactional_id))
    };
    let mut transaction_states = Vec::new();
    broker.txns.for_each(|txn| {
        if wanted(txn) {
            transaction_states.push(TransactionState {
                transactional_id: txn.transactional_id.clone(),
                producer_id: txn.producer_id,
                transaction_state: txn.state.name().to_string(),
                ..Default::default()
            });
        }
    });
    transaction_states.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
    ListTransactionsResponse {
        unknown_state_filters: unknown_state_filters.into_iter().cloned().collect(),
        transaction_states,
        ..Default::default()
    }
}
