//! TxnOffsetCommit: consumer offsets committed inside a transaction (the
//! consume-transform-produce loop's `sendOffsetsToTransaction`). The group's offsets
//! partition must be in the producer's ongoing transaction: AddOffsetsToTxn adds it first
//! for clients of transactions v1, and v5 (transactions v2, KIP-890 part 2) adds it itself,
//! as Kafka's group coordinator asks the transaction coordinator to. The offsets are
//! written to `__consumer_offsets` as a transactional batch of the producer and count only
//! when the transaction's COMMIT marker reaches that partition; ABORT drops them.
//!
//! With a member id and generation (v3+, KIP-447) they are checked against the group as an
//! OffsetCommit's are; without (generation -1, no member), as Kafka does, they are not.

use std::ops::RangeInclusive;
use std::time::Duration;

use tidelog_protocol::messages::txn_offset_commit_request::TxnOffsetCommitRequest;
use tidelog_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponse, TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::authorizer::ResourceType;
use crate::coordinator::group::OFFSETS_TOPIC;
use crate::coordinator::internal_topic::TxnProducer;
use crate::handlers::offset_commit::{answer, commit_answer, offsets_to_write, Outcome, ToCommit};
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 5.
pub const VERSIONS: RangeInclusive<i16> = 0..=5;

/// How long a v5 commit waits for its transaction while it is busy with another add (the
/// request carries no timeout; this is a client's default `request.timeout.ms`).
const IMPLICIT_ADD_TIMEOUT: Duration = Duration::from_secs(30);

/// Async for v5, whose implicit add is awaited before the connection reads on, as
/// Produce's are (see `dispatch`).
pub async fn handle(ctx: &RequestContext, request: TxnOffsetCommitRequest) -> Reply {
    let broker = &ctx.broker;
    let version = ctx.api_version;
    if !ctx.authorize(ResourceType::TransactionalId, &request.transactional_id) {
        return Reply::Now(refuse_all(request, ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED));
    }
    if !ctx.authorize(ResourceType::Group, &request.group_id) {
        return Reply::Now(refuse_all(request, ErrorCode::GROUP_AUTHORIZATION_FAILED));
    }
    if version < 5 {
        return commit(ctx, request);
    }
    if broker.ensure_offsets_topic().is_err() {
        return Reply::Now(refuse_all(request, ErrorCode::COORDINATOR_NOT_AVAILABLE));
    }
    let offsets_partition = (
        OFFSETS_TOPIC.to_string(),
        broker.groups.partition_for(&request.group_id),
    );
    let added = broker
        .txns
        .add_partitions_implicitly(
            &broker.partitions,
            &request.transactional_id,
            (request.producer_id, request.producer_epoch),
            &[offsets_partition],
            IMPLICIT_ADD_TIMEOUT,
        )
        .await;
    match added {
        Ok(()) => commit(ctx, request),
        Err(code) => Reply::Now(refuse_all(request, code)),
    }
}

/// Every partition of the request refused with `code`.
fn refuse_all(request: TxnOffsetCommitRequest, code: ErrorCode) -> ResponseBody {
    let outcome = request
        .topics
        .into_iter()
        .flat_map(|t| {
            let name = t.name;
            t.partitions
                .into_iter()
                .map(move |p| (name.clone(), p.partition_index, code))
        })
        .collect();
    respond(outcome)
}

/// Writes the offsets if the offsets partition is in the producer's transaction.
fn commit(ctx: &RequestContext, request: TxnOffsetCommitRequest) -> Reply {
    let broker = &ctx.broker;
    let group_id = request.group_id;
    let asked = request.topics.into_iter().flat_map(|topic| {
        let name = topic.name;
        topic.partitions.into_iter().map(move |p| ToCommit {
            topic: name.clone(),
            partition: p.partition_index,
            offset: p.committed_offset,
            leader_epoch: p.committed_leader_epoch,
            metadata: p.committed_metadata,
        })
    });
    let (offsets, outcome) = offsets_to_write(ctx, &group_id, asked);
    let producer = (request.producer_id, request.producer_epoch);
    let offsets_partition = (OFFSETS_TOPIC.to_string(), broker.groups.partition_for(&group_id));
    let in_txn = broker
        .txns
        .verify_in_txn(&request.transactional_id, producer, &offsets_partition);
    let unchecked_member = request.generation_id < 0 && request.member_id.is_empty();
    let written = in_txn.and_then(|()| {
        broker.groups.write_offsets(
            &broker.partitions,
            &group_id,
            (&request.member_id, request.group_instance_id.as_deref()),
            request.generation_id,
            &offsets,
            Some(TxnProducer {
                producer_id: producer.0,
                producer_epoch: producer.1,
            }),
            || match unchecked_member {
                true => Some(Ok(())),
                false => broker.consumer_groups.with_existing(&group_id, |group| {
                    group.check_commit(&request.member_id, request.generation_id)
                }),
            },
        )
    });
    let broker = broker.clone();
    answer(written, offsets, outcome, respond, move |offsets| {
        broker.groups.stage_txn_offsets(&group_id, producer.0, offsets)
    })
}

fn respond(outcome: Outcome) -> ResponseBody {
    ResponseBody::TxnOffsetCommit(TxnOffsetCommitResponse {
        topics: commit_answer!(outcome, TxnOffsetCommitResponseTopic, TxnOffsetCommitResponsePartition),
        ..Default::default()
    })
}
