//! WriteTxnMarkers (v1, the only version Kafka 4 keeps): a transaction coordinator asks the
//! partition leader to end a producer's transaction in the listed partitions by writing a
//! COMMIT or ABORT marker to each. The markers are appended in request order before the
//! handler returns, and the answer waits until every marker written is durable: a
//! transaction is decided in a partition once its marker cannot be lost.
//!
//! Errors are per partition, as Kafka's: UNKNOWN_TOPIC_OR_PARTITION, INVALID_PRODUCER_EPOCH
//! (an epoch older than the partition has seen), TRANSACTION_COORDINATOR_FENCED,
//! KAFKA_STORAGE_ERROR.

use std::sync::Arc;

use tidelog_protocol::messages::write_txn_markers_request::WriteTxnMarkersRequest;
use tidelog_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult, WriteTxnMarkersResponse,
};
use tidelog_protocol::records::{ControlType, TxnMarker};
use tidelog_protocol::ResponseBody;

use crate::broker::Broker;
use crate::dispatch::Reply;

pub fn handle(broker: &Arc<Broker>, request: WriteTxnMarkersRequest) -> Reply {
    let mut waits = Vec::new();
    let markers = request
        .markers
        .into_iter()
        .map(|m| {
            let marker = TxnMarker {
                control_type: match m.transaction_result {
                    true => ControlType::Commit,
                    false => ControlType::Abort,
                },
                coordinator_epoch: m.coordinator_epoch,
            };
            let topics = m
                .topics
                .into_iter()
                .map(|topic| {
                    let partitions = topic
                        .partition_indexes
                        .iter()
                        .map(|&index| {
                            let appended = broker.partitions.append_txn_marker(
                                &topic.name,
                                index,
                                m.producer_id,
                                m.producer_epoch,
                                marker,
                            );
                            WritableTxnMarkerPartitionResult {
                                partition_index: index,
                                error_code: match appended {
                                    Ok(wait) => {
                                        waits.push(wait);
                                        0
                                    }
                                    Err(code) => code.0,
                                },
                                ..Default::default()
                            }
                        })
                        .collect();
                    WritableTxnMarkerTopicResult {
                        name: topic.name,
                        partitions,
                        ..Default::default()
                    }
                })
                .collect();
            WritableTxnMarkerResult {
                producer_id: m.producer_id,
                topics,
                ..Default::default()
            }
        })
        .collect();
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
