//! ElectLeaders (v0-2), as `kafka-leader-election` sends it: a preferred election moves a
//! partition's leadership to its first replica if that one is in sync and unfenced
//! (PREFERRED_LEADER_NOT_AVAILABLE otherwise, ELECTION_NOT_NEEDED if it leads already; a
//! partition of one replica never needs one); an unclean one gives a partition without a
//! leader its first unfenced replica, in sync or not (ELIGIBLE_LEADERS_NOT_AVAILABLE with
//! none, ELECTION_NOT_NEEDED where it has a leader); an unknown partition is
//! UNKNOWN_TOPIC_OR_PARTITION. A null list elects every partition that needs it.

use std::ops::RangeInclusive;
use tidelog_protocol::messages::elect_leaders_request::ElectLeadersRequest;
use tidelog_protocol::messages::elect_leaders_response::{
    ElectLeadersResponse, PartitionResult, ReplicaElectionResult,
};
use tidelog_protocol::{ErrorCode, ResponseBody, Uuid};

use crate::broker::Broker;
use crate::handlers::{Reply, RequestContext};
use crate::replication::elect_leaders;

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
    // Asked for every partition (a null list), Kafka lists each topic, with a result for
    // the partitions that needed an election only.
    let mut replica_election_results: Vec<ReplicaElectionResult> = match request.topic_partitions {
        Some(_) => Vec::new(),
        None => broker
            .metadata
            .image()
            .topics()
            .map(|topic| ReplicaElectionResult {
                topic: topic.name.clone(),
                ..Default::default()
            })
            .collect(),
    };
    let unclean = request.election_type == UNCLEAN;
    // Every partition asked for, by name; a null list asks for those that need one.
    let asked: Vec<(String, i32)> = match request.topic_partitions {
        Some(topics) => topics
            .into_iter()
            .flat_map(|t| t.partitions.into_iter().map(move |p| (t.topic.clone(), p)))
            .collect(),
        None => {
            let image = broker.metadata.image();
            let all = image.topics().flat_map(|t| (0..t.partitions).map(move |p| (t, p)));
            let needs = |id, p| match unclean {
                true => image.unclean_leader(id, p).is_ok(),
                false => image.preferred_leader(id, p).is_ok(),
            };
            all.filter(|(t, p)| needs(t.id, *p))
                .map(|(t, p)| (t.name.clone(), p))
                .collect()
        }
    };
    // An unknown election type fails the request and each partition, as Kafka answers it.
    let known = matches!(request.election_type, PREFERRED | UNCLEAN);
    let outcomes = match known {
        true => elect(broker, &asked, unclean),
        false => vec![Err(ErrorCode::INVALID_REQUEST); asked.len()],
    };
    for ((topic, partition_id), outcome) in asked.into_iter().zip(outcomes) {
        let (code, message) = match outcome {
            Ok(()) => (ErrorCode::NONE, None),
            Err(ErrorCode::INVALID_REQUEST) => (
                ErrorCode::INVALID_REQUEST,
                Some(format!("Unknown election type {}", request.election_type)),
            ),
            Err(code) => (code, Some(message(code).to_string())),
        };
        let result = PartitionResult {
            partition_id,
            error_code: code.0,
            error_message: message,
            ..Default::default()
        };
        match replica_election_results.iter_mut().rev().find(|r| r.topic == topic) {
            Some(listed) => listed.partition_result.push(result),
            None => replica_election_results.push(ReplicaElectionResult {
                topic,
                partition_result: vec![result],
                ..Default::default()
            }),
        }
    }
    let error_code = match known {
        true => 0,
        false => ErrorCode::INVALID_REQUEST.0,
    };
    ElectLeadersResponse {
        error_code,
        replica_election_results,
        ..Default::default()
    }
}

/// ElectLeaders' election type for a replica out of sync, where a partition has no leader.
const UNCLEAN: i8 = 1;

/// ElectLeaders' election type for the preferred replica.
const PREFERRED: i8 = 0;

/// Moves each partition's leadership to its preferred replica where it can, or with
/// `unclean` gives a partition without a leader its first live replica, in sync or not;
/// through the metadata quorum (NOT_CONTROLLER on a node that does not lead it).
fn elect(broker: &Broker, asked: &[(String, i32)], unclean: bool) -> Vec<Result<(), ErrorCode>> {
    if broker.metadata.is_cluster() && !broker.metadata.leads() {
        return vec![Err(ErrorCode::NOT_CONTROLLER); asked.len()];
    }
    let known: Vec<Result<(Uuid, i32), ErrorCode>> = {
        let image = broker.metadata.image();
        asked
            .iter()
            .map(|(topic, partition)| {
                let topic = image.topic(topic).filter(|t| (0..t.partitions).contains(partition));
                Ok((topic.ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?.id, *partition))
            })
            .collect()
    };
    let mut elected = match elect_leaders(broker, known.iter().flatten().copied().collect(), unclean) {
        Ok(elected) => elected.into_iter(),
        Err(_) => return vec![Err(ErrorCode::NOT_CONTROLLER); asked.len()],
    };
    known
        .into_iter()
        .map(|k| k.and_then(|_| elected.next().expect("an answer for each known partition").map(drop)))
        .collect()
}

/// Kafka's messages for the errors of an election.
fn message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::ELECTION_NOT_NEEDED => "Leader election not needed for topic partition.",
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION => "The partition does not exist.",
        ErrorCode::PREFERRED_LEADER_NOT_AVAILABLE => "The preferred leader was not available.",
        ErrorCode::ELIGIBLE_LEADERS_NOT_AVAILABLE => "Eligible topic partition leaders are not available.",
        ErrorCode::NOT_CONTROLLER => "This is not the correct controller for this cluster.",
        _ => "The election failed.",
    }
}
