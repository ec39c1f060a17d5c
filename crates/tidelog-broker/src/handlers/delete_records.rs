//! DeleteRecords (AdminClient.deleteRecords): moves partitions' log start offsets up and
//! deletes the segments wholly below them. Fetches below a new start get
//! OFFSET_OUT_OF_RANGE, and ListOffsets' earliest answers it. The log starts are
//! checkpointed before the answer, so a deletion answered holds through a crash. As in
//! Kafka: offset -1 stands for the high watermark and an offset above it gets
//! OFFSET_OUT_OF_RANGE; a topic whose `cleanup.policy` lacks `delete` gets
//! POLICY_VIOLATION, an internal topic INVALID_TOPIC_EXCEPTION. One node has no replicas
//! to wait for, so `timeout_ms` is not used.

use std::ops::RangeInclusive;
use tidelog_protocol::messages::delete_records_request::DeleteRecordsRequest;
use tidelog_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsResponse, DeleteRecordsTopicResult,
};
use tidelog_protocol::{ErrorCode, ResponseBody};
use tracing::{error, info};

use crate::authorizer::ResourceType;
use crate::broker::{is_internal_topic, Broker};
use crate::handlers::{Reply, RequestContext};
use crate::topic_config;

/// The versions served, as ApiVersions advertises them: 0 to 2.
pub const VERSIONS: RangeInclusive<i16> = 0..=2;

/// The offset that stands for the partition's high watermark.
const HIGH_WATERMARK: i64 = -1;

pub async fn handle(ctx: &RequestContext, request: DeleteRecordsRequest) -> Reply {
    Reply::Now(ResponseBody::DeleteRecords(respond(ctx, request)))
}

fn respond(ctx: &RequestContext, request: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let broker = &ctx.broker;
    let mut topics: Vec<DeleteRecordsTopicResult> = request
        .topics
        .into_iter()
        .map(|topic| (ctx.authorize(ResourceType::Topic, &topic.name), topic))
        .map(|(authorized, topic)| DeleteRecordsTopicResult {
            partitions: topic
                .partitions
                .iter()
                .map(|p| {
                    let deleted = match authorized {
                        true => delete(broker, &topic.name, p.partition_index, p.offset),
                        false => Err(ErrorCode::TOPIC_AUTHORIZATION_FAILED),
                    };
                    let (low_watermark, error) = match deleted {
                        Ok(log_start) => (log_start, ErrorCode::NONE),
                        Err(error) => (-1, error),
                    };
                    DeleteRecordsPartitionResult {
                        partition_index: p.partition_index,
                        low_watermark,
                        error_code: error.0,
                        ..Default::default()
                    }
                })
                .collect(),
            name: topic.name,
            ..Default::default()
        })
        .collect();
    if let Err(e) = broker.partitions.checkpoint_log_starts() {
        // The segments are gone, but a crash could bring back the start of the first one
        // kept: what was deleted is not answered as done.
        error!(error = %e, "cannot checkpoint log start offsets after deleting records");
        let deleted = topics.iter_mut().flat_map(|t| &mut t.partitions);
        for partition in deleted.filter(|p| p.error_code == ErrorCode::NONE.0) {
            (partition.error_code, partition.low_watermark) = (ErrorCode::KAFKA_STORAGE_ERROR.0, -1);
        }
    }
    DeleteRecordsResponse {
        topics,
        ..Default::default()
    }
}

/// Deletes the records of one partition below `offset`; returns its new log start.
fn delete(broker: &Broker, topic: &str, index: i32, offset: i64) -> Result<i64, ErrorCode> {
    let deletes = {
        let image = broker.metadata.image();
        let meta = image.topic(topic).ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?;
        topic_config::deletes(&broker.config, &meta.configs)
    };
    if is_internal_topic(topic) {
        return Err(ErrorCode::INVALID_TOPIC_EXCEPTION);
    }
    if !deletes {
        return Err(ErrorCode::POLICY_VIOLATION);
    }
    let partition = broker
        .partitions
        .get(topic, index)
        .ok_or_else(|| broker.not_hosted(topic, index, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION))?;
    let high_watermark = partition.high_watermark();
    let offset = match offset {
        HIGH_WATERMARK => high_watermark,
        offset => offset,
    };
    if !(0..=high_watermark).contains(&offset) {
        return Err(ErrorCode::OFFSET_OUT_OF_RANGE);
    }
    let log_start = partition.delete_records_before(offset).map_err(|e| {
        error!(topic, partition = index, error = %e, "delete records failed");
        ErrorCode::KAFKA_STORAGE_ERROR
    })?;
    info!(topic, partition = index, log_start, "records deleted");
    Ok(log_start)
}
