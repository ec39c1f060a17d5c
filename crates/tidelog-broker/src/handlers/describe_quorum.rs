//! DescribeQuorum (KIP-595, KIP-836, KIP-853): the metadata quorum as
//! `kafka-metadata-quorum describe --status` and `--replication` read it: the leader of
//! `__cluster_metadata-0`, its epoch and high watermark, each voter's log end, and (v2) the
//! voters' directory ids and endpoints. Answered as Kafka's quorum leader answers it; this
//! node leads its quorum of one, so no broker forwards it anywhere.

use std::ops::RangeInclusive;

use tidelog_protocol::messages::describe_quorum_request::DescribeQuorumRequest;
use tidelog_protocol::messages::describe_quorum_response::{
    DescribeQuorumResponse, Listener, Node, PartitionData, ReplicaState, TopicData,
};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::clock::now_ms;
use crate::handlers::{Reply, RequestContext};
use crate::metadata::kraft::METADATA_TOPIC;
use crate::quorum::QuorumStatus;

/// The versions served, as ApiVersions advertises them.
pub const VERSIONS: RangeInclusive<i16> = 0..=2;

pub async fn handle(ctx: &RequestContext, request: DescribeQuorumRequest) -> Reply {
    let response = match ctx.authorize_cluster() {
        true => respond(&ctx.broker.metadata.quorum_status(), request, now_ms()),
        false => DescribeQuorumResponse {
            error_code: ErrorCode::CLUSTER_AUTHORIZATION_FAILED.0,
            ..Default::default()
        },
    };
    Reply::Now(ResponseBody::DescribeQuorum(response))
}

/// Only `__cluster_metadata` partition 0, alone, is described; anything else is answered
/// UNKNOWN_TOPIC_OR_PARTITION on each partition asked for, and a node that does not lead
/// answers NOT_LEADER_OR_FOLLOWER, as Kafka's `KafkaRaftClient` does.
fn respond(status: &QuorumStatus, request: DescribeQuorumRequest, now_ms: i64) -> DescribeQuorumResponse {
    let the_metadata_partition = matches!(
        request.topics.as_slice(),
        [topic] if topic.topic_name == METADATA_TOPIC
            && matches!(topic.partitions.as_slice(), [p] if p.partition_index == 0)
    );
    let refusal = match (the_metadata_partition, status.role) {
        (false, _) => Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
        (true, "Leader") => None,
        (true, _) => Some(ErrorCode::NOT_LEADER_OR_FOLLOWER),
    };
    if let Some(error) = refusal {
        let topics = request
            .topics
            .into_iter()
            .map(|topic| TopicData {
                topic_name: topic.topic_name,
                partitions: topic
                    .partitions
                    .into_iter()
                    .map(|p| PartitionData {
                        partition_index: p.partition_index,
                        error_code: error.0,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        return DescribeQuorumResponse {
            topics,
            ..Default::default()
        };
    }
    // Offsets are exclusive ends, as Kafka's: the next offset after the last committed
    // (the high watermark) and after the last written (each voter's log end).
    let high_watermark = status.committed_offset.map_or(0, |o| o as i64 + 1);
    let log_end = status.last_offset.map_or(0, |o| o as i64 + 1);
    let current_voters = status
        .voters
        .iter()
        .map(|(id, node)| {
            // This node's log end is its own; another voter's is what replication matched.
            let log_end_offset = match status.leader == Some(*id) {
                true => log_end,
                false => status.matched.get(id).copied().flatten().map_or(0, |o| o as i64 + 1),
            };
            // A voter that holds the high watermark has caught up now; openraft does not
            // tell when the others last fetched.
            let caught_up = match log_end_offset >= high_watermark {
                true => now_ms,
                false => -1,
            };
            ReplicaState {
                replica_id: *id as i32,
                replica_directory_id: node.directory_id,
                log_end_offset,
                last_fetch_timestamp: caught_up,
                last_caught_up_timestamp: caught_up,
                ..Default::default()
            }
        })
        .collect();
    let nodes = status
        .voters
        .iter()
        .map(|(id, node)| Node {
            node_id: *id as i32,
            listeners: node
                .endpoints
                .iter()
                .map(|e| Listener {
                    name: e.listener.clone(),
                    host: e.host.clone(),
                    port: e.port,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    DescribeQuorumResponse {
        topics: vec![TopicData {
            topic_name: METADATA_TOPIC.into(),
            partitions: vec![PartitionData {
                partition_index: 0,
                leader_id: status.leader.map_or(-1, |id| id as i32),
                leader_epoch: status.epoch as i32,
                high_watermark,
                current_voters,
                ..Default::default()
            }],
            ..Default::default()
        }],
        nodes,
        ..Default::default()
    }
}
