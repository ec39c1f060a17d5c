//! WriteTxnMarkers (v1, the only version Kafka 4 keeps): a transaction coordinator asks the
//! partition leader to end a producer's transaction in the listed partitions by writing a
//! COMMIT or ABORT marker to each. The markers are appended in request order before the
//! handler returns, and the answer waits until every marker written is durable: a
//! transaction is decided in a partition once its marker cannot be lost.
//!
//! Errors are per partition, as Kafka's: UNKNOWN_TOPIC_OR_PARTITION, INVALID_PRODUCER_EPOCH
//! (an epoch older than the partition has seen), TRANSACTION_COORDINATOR_FENCED,
//! KAFKA_STORAGE_ERROR.

use std::ops::RangeInclusive;

use tidelog_protocol::messages::write_txn_markers_request::WriteTxnMarkersRequest;
use tidelog_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult, WriteTxnMarkersResponse,
};
use tidelog_protocol::records::{ControlType, TxnMarker};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 1 to 1.
pub const VERSIONS: RangeInclusive<i16> = 1..=1;

pub async fn handle(ctx: &RequestContext, request: WriteTxnMarkersRequest) -> Reply {
    let broker = &ctx.broker;
    let authorized = ctx.authorize_cluster();
    // The appended markers' partitions and ends, waited on once all are appended.
    let mut waits = Vec::new();
    let mut markers = Vec::with_capacity(request.markers.len());
    for m in request.markers {
        let marker = TxnMarker {
            control_type: ControlType::from_commit(m.transaction_result),
            coordinator_epoch: m.coordinator_epoch,
        };
        let mut topics = Vec::with_capacity(m.topics.len());
        for topic in m.topics {
            let mut partitions = Vec::with_capacity(topic.partition_indexes.len());
            for index in topic.partition_indexes {
                let appended = match authorized {
                    true => {
                        broker
                            .partitions
                            .append_txn_marker(&topic.name, index, m.producer_id, m.producer_epoch, marker)
                    }
                    false => Err(ErrorCode::CLUSTER_AUTHORIZATION_FAILED),
                };
                let error_code = match appended {
                    Ok(wait) => {
                        waits.push(wait);
                        0
                    }
                    Err(code) => code.0,
                };
                partitions.push(WritableTxnMarkerPartitionResult {
                    partition_index: index,
                    error_code,
                    ..Default::default()
                });
            }
            topics.push(WritableTxnMarkerTopicResult {
                name: topic.name,
                partitions,
                ..Default::default()
            });
        }
        markers.push(WritableTxnMarkerResult {
            producer_id: m.producer_id,
            topics,
            ..Default::default()
        });
    }
    let response = WriteTxnMarkersResponse {
        markers,
        ..Default::default()
    };
    Reply::Later(Box::pin(async move {
        for (partition, end) in waits {
            partition.wait_durable(end).await;
        }
        ResponseBody::WriteTxnMarkers(response)
    }))
}
