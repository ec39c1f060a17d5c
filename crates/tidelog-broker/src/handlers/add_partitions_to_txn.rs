//! AddPartitionsToTxn: a transactional producer registers the partitions it is about to
//! write before writing them; the first one starts its transaction. Versions 0-3 come from
//! clients, with one transaction; v4+ (KIP-890) batch several transactions and with
//! `verify_only` only ask whether the partitions are in the ongoing transaction, adding
//! nothing (what a partition leader asks before it accepts a transactional batch).
//! Without `verify_only`, v5 is what a partition leader sends for a transactions v2 client
//! (KIP-890 part 2: a Produce v12 batch adds its partition): the transaction is recorded
//! as the client's of transactions v2, whose EndTxn bumps the epoch.
//!
//! A partition this broker does not host gets UNKNOWN_TOPIC_OR_PARTITION and the others
//! of the request OPERATION_NOT_ATTEMPTED, as in Kafka: the transaction does not change.

use std::ops::RangeInclusive;

use tidelog_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use tidelog_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResponse, AddPartitionsToTxnResult,
    AddPartitionsToTxnTopicResult,
};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::authorizer::ResourceType;
use crate::broker::Broker;
use crate::coordinator::txn::state::{TV_0, TV_2};
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 5.
pub const VERSIONS: RangeInclusive<i16> = 0..=5;

pub async fn handle(ctx: &RequestContext, request: AddPartitionsToTxnRequest) -> Reply {
    let version = ctx.api_version;
    if version >= 4 && !ctx.authorize_cluster() {
        return Reply::Now(ResponseBody::AddPartitionsToTxn(AddPartitionsToTxnResponse {
            error_code: ErrorCode::CLUSTER_AUTHORIZATION_FAILED.0,
            ..Default::default()
        }));
    }
    let broker = ctx.broker.clone();
    if version < 4 {
        let transaction = AddPartitionsToTxnTransaction {
            transactional_id: request.v3_and_below_transactional_id,
            producer_id: request.v3_and_below_producer_id,
            producer_epoch: request.v3_and_below_producer_epoch,
            verify_only: false,
            topics: request.v3_and_below_topics,
            ..Default::default()
        };
        let denied = denied(ctx, &transaction);
        return Reply::Later(Box::pin(async move {
            let result = add(&broker, transaction, TV_0, denied).await;
            ResponseBody::AddPartitionsToTxn(AddPartitionsToTxnResponse {
                results_by_topic_v3_and_below: result.topic_results,
                ..Default::default()
            })
        }));
    }
    let client_version = if version >= 5 { TV_2 } else { TV_0 };
    Reply::Later(Box::pin(async move {
        let mut results_by_transaction = Vec::with_capacity(request.transactions.len());
        // Brokers asking for their producers (CLUSTER_ACTION): the producers' rights are
        // not checked again.
        for transaction in request.transactions {
            results_by_transaction.push(add(&broker, transaction, client_version, None).await);
        }
        ResponseBody::AddPartitionsToTxn(AddPartitionsToTxnResponse {
            results_by_transaction,
            ..Default::default()
        })
    }))
}

/// One transaction's partitions: added (or verified), each with its error.
/// Kafka's refusal of a transaction's partitions the principal may not add, each
/// partition's error (the others OPERATION_NOT_ATTEMPTED); `None` when it may add them all.
fn denied(ctx: &RequestContext, transaction: &AddPartitionsToTxnTransaction) -> Option<Vec<ErrorCode>> {
    let partitions = transaction
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |_| &t.name));
    if !ctx.authorize(ResourceType::TransactionalId, &transaction.transactional_id) {
        return Some(
            partitions
                .map(|_| ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
                .collect(),
        );
    }
    let writable: Vec<bool> = partitions.map(|t| ctx.authorize(ResourceType::Topic, t)).collect();
    writable.contains(&false).then(|| {
        writable
            .iter()
            .map(|&w| match w {
                true => ErrorCode::OPERATION_NOT_ATTEMPTED,
                false => ErrorCode::TOPIC_AUTHORIZATION_FAILED,
            })
            .collect()
    })
}

async fn add(
    broker: &Broker,
    transaction: AddPartitionsToTxnTransaction,
    client_version: i16,
    denied: Option<Vec<ErrorCode>>,
) -> AddPartitionsToTxnResult {
    let wanted: Vec<(String, i32)> = transaction
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), *p)))
        .collect();
    let producer = (transaction.producer_id, transaction.producer_epoch);
    let id = &transaction.transactional_id;
    let unknown: Vec<bool> = wanted
        .iter()
        .map(|(topic, p)| !broker.partition_exists(topic, *p))
        .collect();
    let errors: Vec<ErrorCode> = if let Some(denied) = denied {
        denied
    } else if transaction.verify_only {
        wanted
            .iter()
            .map(|tp| match broker.txns.verify_in_txn(id, producer, tp) {
                Ok(()) => ErrorCode::NONE,
                Err(code) => code,
            })
            .collect()
    } else if unknown.contains(&true) {
        unknown
            .iter()
            .map(|u| match u {
                true => ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                false => ErrorCode::OPERATION_NOT_ATTEMPTED,
            })
            .collect()
    } else {
        let code = match broker
            .txns
            .add_partitions(&broker.partitions, id, producer, &wanted, client_version)
            .await
        {
            Ok(()) => ErrorCode::NONE,
            Err(code) => code,
        };
        vec![code; wanted.len()]
    };
    AddPartitionsToTxnResult {
        transactional_id: transaction.transactional_id.clone(),
        topic_results: results(&transaction.topics, errors),
        ..Default::default()
    }
}

/// The per-partition results, in the request's order.
fn results(topics: &[AddPartitionsToTxnTopic], errors: Vec<ErrorCode>) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut errors = errors.into_iter();
    topics
        .iter()
        .map(|t| AddPartitionsToTxnTopicResult {
            name: t.name.clone(),
            results_by_partition: t
                .partitions
                .iter()
                .map(|p| AddPartitionsToTxnPartitionResult {
                    partition_index: *p,
                    partition_error_code: errors.next().unwrap_or(ErrorCode::NONE).0,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect()
}
