//! ElectLeaders (v0-2), as `kafka-leader-election` sends it: on one node every partition's
//! only replica already leads it, so each partition asked for needs no election
//! (ELECTION_NOT_NEEDED), and an unknown one is UNKNOWN_TOPIC_OR_PARTITION.

use std::ops::RangeInclusive;
use tidelog_protocol::messages::elect_leaders_request::ElectLeadersRequest;
use tidelog_protocol::messages::elect_leaders_response::{
    ElectLeadersResponse, PartitionResult, ReplicaElectionResult,
};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::broker::Broker;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 2.
pub const VERSIONS: RangeInclusive<i16> = 0..=2;

pub async fn handle(ctx: &RequestContext, request: ElectLeadersRequest) -> Reply {
    if !ctx.authorize_cluster() {
        return Reply::Now(ResponseBody::ElectLeaders(refused(request)));
    }
    Reply::Now(ResponseBody::ElectLeaders(respond(&ctx.broker, request)))
}

/// Kafka's answer without ALTER on the cluster: CLUSTER_AUTHORIZATION_FAILED for the
/// request and each partition it names.
fn refused(request: ElectLeadersRequest) -> ElectLeadersResponse {
    let code = ErrorCode::CLUSTER_AUTHORIZATION_FAILED;
    ElectLeadersResponse {
        error_code: code.0,
        replica_election_results: request
            .topic_partitions
            .unwrap_or_default()
            .into_iter()
            .map(|topic| ReplicaElectionResult {
                topic: topic.topic,
                partition_result: topic
                    .partitions
                    .into_iter()
                    .map(|partition_id| PartitionResult {
                        partition_id,
                        error_code: code.0,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn respond(broker: &Broker, request: ElectLeadersRequest) -> ElectLeadersResponse {
    let image = broker.metadata.image();
    // Asked for every partition (a null list), Kafka lists each topic with no result for
    // the partitions that needed no election: all of them here.
    let Some(asked) = request.topic_partitions else {
        let replica_election_results = image
            .topics()
            .map(|topic| ReplicaElectionResult {
                topic: topic.name.clone(),
                ..Default::default()
            })
            .collect();
        return ElectLeadersResponse {
            replica_election_results,
            ..Default::default()
        };
    };
    let replica_election_results = asked
        .into_iter()
        .map(|topic| {
            let count = image.topic(&topic.topic).map_or(0, |t| t.partitions);
            let partition_result = topic
                .partitions
                .into_iter()
                .map(|partition_id| {
                    let (code, message) = match (0..count).contains(&partition_id) {
                        true => (
                            ErrorCode::ELECTION_NOT_NEEDED,
                            "Leader election not needed for topic partition.",
                        ),
                        false => (ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, "The partition does not exist."),
                    };
                    PartitionResult {
                        partition_id,
                        error_code: code.0,
                        error_message: Some(message.to_string()),
                        ..Default::default()
                    }
                })
                .collect();
            ReplicaElectionResult {
                topic: topic.topic,
                partition_result,
                ..Default::default()
            }
        })
        .collect();
    ElectLeadersResponse {
        replica_election_results,
        ..Default::default()
    }
}
