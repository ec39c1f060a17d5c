//! DescribeTransactions (KIP-664): the state of each transactional id asked for, with its
//! producer, timeout, start time and partitions; TRANSACTIONAL_ID_NOT_FOUND for an id the
//! coordinator does not know.

use std::ops::RangeInclusive;
use tidelog_protocol::messages::describe_transactions_request::DescribeTransactionsRequest;
use tidelog_protocol::messages::describe_transactions_response::{
    DescribeTransactionsResponse, TopicData, TransactionState,
};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::authorizer::ResourceType;
use crate::grouping::partitions_by_topic;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 0.
pub const VERSIONS: RangeInclusive<i16> = 0..=0;

pub async fn handle(ctx: &RequestContext, request: DescribeTransactionsRequest) -> Reply {
    Reply::Now(ResponseBody::DescribeTransactions(respond(ctx, request)))
}

/// The transactions the principal may describe, with the partitions of the topics it may
/// describe.
fn respond(ctx: &RequestContext, request: DescribeTransactionsRequest) -> DescribeTransactionsResponse {
    let broker = &ctx.broker;
    let transaction_states = request
        .transactional_ids
        .into_iter()
        .map(|id| {
            if !ctx.authorize(ResourceType::TransactionalId, &id) {
                return TransactionState {
                    error_code: ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED.0,
                    transactional_id: id,
                    ..Default::default()
                };
            }
            let described = broker.txns.with_current(&id, |txn| TransactionState {
                transactional_id: id.clone(),
                transaction_state: txn.state.name().to_string(),
                transaction_timeout_ms: txn.timeout_ms,
                transaction_start_time_ms: txn.start_ms,
                producer_id: txn.producer_id,
                producer_epoch: txn.producer_epoch,
                topics: partitions_by_topic(&txn.partitions)
                    .into_iter()
                    .filter(|(topic, _)| ctx.authorize(ResourceType::Topic, topic))
                    .map(|(topic, partitions)| TopicData {
                        topic: topic.to_string(),
                        partitions,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            });
            // The other fields at their defaults (0), as Kafka leaves them.
            described.unwrap_or_else(|| TransactionState {
                error_code: ErrorCode::TRANSACTIONAL_ID_NOT_FOUND.0,
                transactional_id: id,
                ..Default::default()
            })
        })
        .collect();
    DescribeTransactionsResponse {
        transaction_states,
        ..Default::default()
    }
}
