//! OffsetForLeaderEpoch (v2-4): where a leader epoch ends in a partition's log, as its
//! leader has it (KIP-101, KIP-320). A consumer asks after a leader change whether its
//! position is still on the log (its epoch's end at or past it); Tidelog's followers learn
//! the same from the diverging epoch of their fetches. The answer is the largest epoch the
//! log has at or below the one asked, and where the next one starts (the log end for the
//! newest, the leader's own epoch counting from its start even before its first append);
//! -1 and -1 when the log has none that old or the one asked is newer than all, as Kafka
//! 4.4 answers (tests/java differential sequence 16).

use std::ops::RangeInclusive;

use tidelog_protocol::messages::offset_for_leader_epoch_request::OffsetForLeaderEpochRequest;
use tidelog_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderEpochResponse, OffsetForLeaderTopicResult,
};
use tidelog_protocol::{ErrorCode, ResponseBody};
use tracing::error;

use crate::authorizer::ResourceType;
use crate::broker::Broker;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 2 to 4.
pub const VERSIONS: RangeInclusive<i16> = 2..=4;

pub async fn handle(ctx: &RequestContext, request: OffsetForLeaderEpochRequest) -> Reply {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let authorized = ctx.authorize(ResourceType::Topic, &topic.topic);
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let mut answer = EpochEndOffset {
                        partition: p.partition,
                        leader_epoch: -1,
                        end_offset: -1,
                        ..Default::default()
                    };
                    let found = match authorized {
                        true => end_offset(
                            &ctx.broker,
                            &topic.topic,
                            p.partition,
                            p.current_leader_epoch,
                            p.leader_epoch,
                        ),
                        false => Err(ErrorCode::TOPIC_AUTHORIZATION_FAILED),
                    };
                    match found {
                        Ok((epoch, end)) => (answer.leader_epoch, answer.end_offset) = (epoch, end),
                        Err(code) => answer.error_code = code.0,
                    }
                    answer
                })
                .collect();
            OffsetForLeaderTopicResult {
                topic: topic.topic,
                partitions,
                ..Default::default()
            }
        })
        .collect();
    Reply::Now(ResponseBody::OffsetForLeaderEpoch(OffsetForLeaderEpochResponse {
        topics,
        ..Default::default()
    }))
}

/// The end of `epoch` in the log of partition `index` of `topic`, led here in the epoch
/// the client knows (`current_epoch`, -1: unchecked).
fn end_offset(
    broker: &Broker,
    topic: &str,
    index: i32,
    current_epoch: i32,
    epoch: i32,
) -> Result<(i32, i64), ErrorCode> {
    let partition = broker
        .partitions
        .get(topic, index)
        .ok_or_else(|| broker.not_hosted(topic, index, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION))?;
    partition.check_leader_epoch(current_epoch)?;
    partition.end_offset_for_epoch(epoch).map_err(|e| {
        error!(topic, partition = index, error = %e, "cannot read the leader epochs of a log");
        ErrorCode::KAFKA_STORAGE_ERROR
    })
}
