//! OffsetCommit: checks the member and generation, writes the offsets to
//! `__consumer_offsets`, and answers once they are durable; only then do they count.
//! A refused commit writes nothing. For KIP-848 consumer groups the generation is the
//! member epoch, checked with OffsetCommit v9's errors (STALE_MEMBER_EPOCH and
//! FENCED_MEMBER_EPOCH).

use std::sync::Arc;

use tidelog_protocol::messages::offset_commit_request::OffsetCommitRequest;
use tidelog_protocol::messages::offset_commit_response::{
    OffsetCommitResponse, OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::broker::Broker;
use crate::clock::now_ms;
use crate::coordinator::group::records::OffsetKey;
use crate::coordinator::group::state::Committed;
use crate::dispatch::Reply;

/// Kafka's `offset.metadata.max.bytes` default.
const MAX_METADATA_BYTES: usize = 4096;

pub fn handle(broker: &Arc<Broker>, request: OffsetCommitRequest) -> Reply {
    let now = now_ms();
    let group_id = request.group_id;
    let mut offsets = Vec::new();
    // Each partition's error, by (topic, partition); NONE for those to write.
    let mut outcome: Vec<(String, i32, ErrorCode)> = Vec::new();
    for topic in request.topics {
        for p in topic.partitions {
            let metadata = p.committed_metadata.unwrap_or_default();
            let error = if metadata.len() > MAX_METADATA_BYTES {
                ErrorCode::OFFSET_METADATA_TOO_LARGE
            } else if broker.partitions.get(&topic.name, p.partition_index).is_none() {
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            } else {
                let key = OffsetKey {
                    group: group_id.clone(),
                    topic: topic.name.clone(),
                    partition: p.partition_index,
                };
                let value = Committed {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata,
                    commit_timestamp: now,
                };
                offsets.push((key, value));
                ErrorCode::NONE
            };
            outcome.push((topic.name.clone(), p.partition_index, error));
        }
    }
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
    let pending = match written {
        Ok(pending) => pending,
        Err(code) => {
            for (_, _, error) in outcome.iter_mut().filter(|(_, _, e)| *e == ErrorCode::NONE) {
                *error = code;
            }
            return Reply::Now(respond(outcome));
        }
    };
    let broker = broker.clone();
    Reply::Later(Box::pin(async move {
        if let Some(pending) = pending {
            pending.durable().await;
        }
        broker.groups.apply_offsets(&group_id, offsets);
        respond(outcome)
    }))
}

fn respond(outcome: Vec<(String, i32, ErrorCode)>) -> ResponseBody {
    let mut topics: Vec<OffsetCommitResponseTopic> = Vec::new();
    for (name, partition_index, error) in outcome {
        if topics.last().is_none_or(|t| t.name != name) {
            topics.push(OffsetCommitResponseTopic {
                name,
                ..Default::default()
            });
        }
        topics
            .last_mut()
            .expect("pushed above")
            .partitions
            .push(OffsetCommitResponsePartition {
                partition_index,
                error_code: error.0,
                ..Default::default()
            });
    }
    ResponseBody::OffsetCommit(OffsetCommitResponse {
        topics,
        ..Default::default()
    })
}
