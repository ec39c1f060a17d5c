//! ListOffsets: the earliest offset, the latest (the high watermark), the offset of the
//! largest timestamp, or the first offset at or after a timestamp (through the time index).
//! With isolation level read_committed (v2+) the last stable offset takes the high
//! watermark's place, as the bound of what a consumer may be pointed at.

use std::ops::RangeInclusive;
use tidelog_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsRequest};
use tidelog_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsResponse, ListOffsetsTopicResponse,
};
use tidelog_protocol::{ErrorCode, ResponseBody};
use tracing::error;

use crate::authorizer::ResourceType;
use crate::broker::Broker;
use crate::handlers::{Reply, RequestContext};
use crate::partitions::last_stable_offset;

/// The versions served, as ApiVersions advertises them: 1 to 10.
pub const VERSIONS: RangeInclusive<i16> = 1..=10;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// Isolation level READ_COMMITTED.
const READ_COMMITTED: i8 = 1;

pub async fn handle(ctx: &RequestContext, request: ListOffsetsRequest) -> Reply {
    Reply::Now(ResponseBody::ListOffsets(respond(ctx, request)))
}

fn respond(ctx: &RequestContext, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let broker = &ctx.broker;
    let read_committed = request.isolation_level == READ_COMMITTED;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| (ctx.authorize(ResourceType::Topic, &topic.name), topic))
        .map(|(authorized, topic)| ListOffsetsTopicResponse {
            partitions: topic
                .partitions
                .iter()
                .map(|p| {
                    let mut response = ListOffsetsPartitionResponse {
                        partition_index: p.partition_index,
                        timestamp: -1,
                        offset: -1,
                        leader_epoch: 0,
                        ..Default::default()
                    };
                    let found = match authorized {
                        true => lookup(broker, &topic.name, p, read_committed),
                        false => Err(ErrorCode::TOPIC_AUTHORIZATION_FAILED),
                    };
                    match found {
                        Ok((timestamp, offset, epoch)) => {
                            (response.timestamp, response.offset, response.leader_epoch) = (timestamp, offset, epoch)
                        }
                        Err(code) => {
                            response.error_code = code.0;
                            response.leader_epoch = -1;
                        }
                    }
                    response
                })
                .collect(),
            name: topic.name,
            ..Default::default()
        })
        .collect();
    ListOffsetsResponse {
        topics,
        ..Default::default()
    }
}

/// (timestamp, offset, leader epoch) for one partition; (-1, -1) when no record matches.
/// The epoch is the leader's current one (Kafka gives a found record's batch's).
fn lookup(
    broker: &Broker,
    topic: &str,
    asked: &ListOffsetsPartition,
    read_committed: bool,
) -> Result<(i64, i64, i32), ErrorCode> {
    let (index, timestamp) = (asked.partition_index, asked.timestamp);
    let partition = broker
        .partitions
        .get(topic, index)
        .ok_or_else(|| broker.not_hosted(topic, index, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION))?;
    partition.check_leader_epoch(asked.current_leader_epoch)?;
    let epoch = partition.replica().leader_epoch();
    let high_watermark = partition.high_watermark();
    let storage = |e: tidelog_log::LogError| {
        error!(topic, partition = index, error = %e, "list offsets failed");
        ErrorCode::KAFKA_STORAGE_ERROR
    };
    let snapshot = partition.snapshot().map_err(storage)?;
    // What the consumer may read: below the LSO for read_committed.
    let visible_end = match read_committed {
        true => last_stable_offset(high_watermark, &snapshot),
        false => high_watermark,
    };
    let visible = |found: Option<tidelog_log::TimestampOffset>| match found {
        Some(t) if t.offset < visible_end => (t.timestamp, t.offset),
        _ => (-1, -1),
    };
    let (timestamp, offset) = match timestamp {
        LATEST => (-1, visible_end),
        EARLIEST | EARLIEST_LOCAL => (-1, snapshot.log_start_offset()),
        MAX_TIMESTAMP => visible(snapshot.max_timestamp_offset().map_err(storage)?),
        LATEST_TIERED => (-1, -1),
        t if t >= 0 => visible(snapshot.offset_for_timestamp(t).map_err(storage)?),
        _ => return Err(ErrorCode::INVALID_REQUEST),
    };
    Ok((timestamp, offset, epoch))
}
