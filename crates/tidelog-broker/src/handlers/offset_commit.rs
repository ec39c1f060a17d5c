//! OffsetCommit: checks the member and generation, writes the offsets to
//! `__consumer_offsets`, and answers once they are durable; only then do they count.
//! A refused commit writes nothing. For KIP-848 consumer groups the generation is the
//! member epoch, checked with OffsetCommit v9's errors (STALE_MEMBER_EPOCH and
//! FENCED_MEMBER_EPOCH).

use std::ops::RangeInclusive;

use tidelog_protocol::messages::offset_commit_request::OffsetCommitRequest;
use tidelog_protocol::messages::offset_commit_response::{
    OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::authorizer::ResourceType;
use crate::clock::now_ms;
use crate::coordinator::group::records::OffsetKey;
use crate::coordinator::group::state::Committed;
use crate::coordinator::group::PendingWrite;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 2 to 9.
pub const VERSIONS: RangeInclusive<i16> = 2..=9;

/// Kafka's `offset.metadata.max.bytes` default.
const MAX_METADATA_BYTES: usize = 4096;

/// One partition's offset as a commit request asks for it.
pub(crate) struct ToCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// Each partition's error by (topic, partition), NONE for those to write.
pub(crate) type Outcome = Vec<(String, i32, ErrorCode)>;

/// The offsets of a commit (OffsetCommit or TxnOffsetCommit) that may be written, with
/// each asked partition's outcome: too large metadata and unknown partitions are refused.
/// The offsets of `asked` to write, and each partition's outcome so far: a topic the
/// principal may not read is refused TOPIC_AUTHORIZATION_FAILED.
pub(crate) fn offsets_to_write(
    ctx: &RequestContext,
    group_id: &str,
    asked: impl Iterator<Item = ToCommit>,
) -> (Vec<(OffsetKey, Committed)>, Outcome) {
    let broker = &ctx.broker;
    let now = now_ms();
    let mut offsets = Vec::new();
    let mut outcome = Vec::new();
    for p in asked {
        let metadata = p.metadata.unwrap_or_default();
        let error = if !ctx.authorize(ResourceType::Topic, &p.topic) {
            ErrorCode::TOPIC_AUTHORIZATION_FAILED
        } else if metadata.len() > MAX_METADATA_BYTES {
            ErrorCode::OFFSET_METADATA_TOO_LARGE
        } else if !broker.partition_exists(&p.topic, p.partition) {
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
        } else {
            let key = OffsetKey {
                group: group_id.to_string(),
                topic: p.topic.clone(),
                partition: p.partition,
            };
            let value = Committed {
                offset: p.offset,
                leader_epoch: p.leader_epoch,
                metadata,
                commit_timestamp: now,
            };
            offsets.push((key, value));
            ErrorCode::NONE
        };
        outcome.push((p.topic, p.partition, error));
    }
    (offsets, outcome)
}

pub async fn handle(ctx: &RequestContext, request: OffsetCommitRequest) -> Reply {
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
    if !ctx.authorize(ResourceType::Group, &group_id) {
        let code = ErrorCode::GROUP_AUTHORIZATION_FAILED;
        return Reply::Now(respond(asked.map(|p| (p.topic, p.partition, code)).collect()));
    }
    let (offsets, outcome) = offsets_to_write(ctx, &group_id, asked);
    let written = broker.groups.write_offsets(
        &broker.partitions,
        &group_id,
        (&request.member_id, request.group_instance_id.as_deref()),
        request.generation_id_or_member_epoch,
        &offsets,
        None,
        || {
            broker.consumer_groups.with_existing(&group_id, |group| {
                group.check_commit(&request.member_id, request.generation_id_or_member_epoch)
            })
        },
    );
    let broker = broker.clone();
    answer(written, offsets, outcome, respond, move |offsets| {
        broker.groups.apply_offsets(&group_id, offsets)
    })
}

/// The rest of a commit (OffsetCommit or TxnOffsetCommit) once its records were appended
/// or refused: refused, every partition still to write takes `written`'s error at once;
/// written, the answer waits until the records are durable and `count` has made the offsets
/// count (or staged them for their transaction).
pub(crate) fn answer(
    written: Result<Option<PendingWrite>, ErrorCode>,
    offsets: Vec<(OffsetKey, Committed)>,
    mut outcome: Outcome,
    respond: fn(Outcome) -> ResponseBody,
    count: impl FnOnce(Vec<(OffsetKey, Committed)>) + Send + 'static,
) -> Reply {
    let pending = match written {
        Ok(pending) => pending,
        Err(code) => {
            for (_, _, error) in outcome.iter_mut().filter(|(_, _, e)| *e == ErrorCode::NONE) {
                *error = code;
            }
            return Reply::Now(respond(outcome));
        }
    };
    Reply::Later(Box::pin(async move {
        if let Some(pending) = pending {
            pending.durable().await;
        }
        count(offsets);
        respond(outcome)
    }))
}

/// A commit's answer by topic in the response types of `$topic` and `$partition`:
/// OffsetCommit's and TxnOffsetCommit's are different generated types with the same
/// fields, which only a macro can fill alike.
macro_rules! commit_answer {
    ($outcome:expr, $topic:ident, $partition:ident) => {
        crate::grouping::by_topic(
            $outcome
                .into_iter()
                .map(|(name, partition, error)| (name, (partition, error))),
        )
        .into_iter()
        .map(|(name, partitions)| $topic {
            name,
            partitions: partitions
                .into_iter()
                .map(|(partition_index, error)| $partition {
                    partition_index,
                    error_code: error.0,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect()
    };
}
pub(crate) use commit_answer;

fn respond(outcome: Outcome) -> ResponseBody {
    ResponseBody::OffsetCommit(OffsetCommitResponse {
        topics: commit_answer!(outcome, OffsetCommitResponseTopic, OffsetCommitResponsePartition),
        ..Default::default()
    })
}
