//! `tidelog quorum`: the metadata quorum, as Kafka's `kafka-metadata-quorum describe
//! --status` and `--replication` show it, over DescribeQuorum. Only the quorum's leader
//! answers it (brokers do not forward it yet), so each bootstrap address is asked in turn.

use clap::Args;
use tidelog_protocol::messages::describe_quorum_request::{DescribeQuorumRequest, PartitionData, TopicData};
use tidelog_protocol::messages::describe_quorum_response::{self, DescribeQuorumResponse};
use tidelog_protocol::ErrorCode;

use crate::admin::{check, AdminClient};
use crate::failure::Failure;
use crate::output;

#[derive(Args)]
pub struct QuorumArgs {
    /// Each voter's log end, lag and whether it has caught up, a line each, instead of the
    /// status.
    #[arg(long)]
    replication: bool,
}

pub fn run(args: QuorumArgs, bootstrap: &str) -> Result<(), Failure> {
    let response = ask_the_leader(bootstrap)?;
    let partition = &response.topics[0].partitions[0];
    match args.replication {
        false => status(partition, &response.nodes),
        true => replication(partition),
    }
}

/// The answer of the first of `bootstrap`'s addresses that answers as the quorum's leader.
fn ask_the_leader(bootstrap: &str) -> Result<DescribeQuorumResponse, Failure> {
    let mut refusals = Vec::new();
    for server in bootstrap.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let answer = AdminClient::connect(server).and_then(|mut admin| admin.call(request()));
        let response = match answer {
            Ok(response) => response,
            Err(e) => {
                refusals.push(format!("{server}: {e}"));
                continue;
            }
        };
        check(response.error_code, response.error_message.as_deref())?;
        let partition = response
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| format!("{server} answered DescribeQuorum with no partition"))?;
        match ErrorCode(partition.error_code) {
            ErrorCode::NONE => return Ok(response),
            code => refusals.push(format!("{server}: {}", code.name())),
        }
    }
    Err(format!(
        "no address given leads the metadata quorum ({}): name the voters' brokers, e.g. -b host1:9092,host2:9092",
        refusals.join("; ")
    )
    .into())
}

fn request() -> DescribeQuorumRequest {
    DescribeQuorumRequest {
        topics: vec![TopicData {
            topic_name: "__cluster_metadata".into(),
            partitions: vec![PartitionData {
                partition_index: 0,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// As `kafka-metadata-quorum describe --status`: leader, epoch, high watermark, voters.
fn status(
    partition: &describe_quorum_response::PartitionData,
    nodes: &[describe_quorum_response::Node],
) -> Result<(), Failure> {
    let max_lag = partition
        .current_voters
        .iter()
        .map(|v| partition.high_watermark - v.log_end_offset)
        .max()
        .unwrap_or(0);
    output::line(format_args!("LeaderId:\t{}", partition.leader_id))?;
    output::line(format_args!("LeaderEpoch:\t{}", partition.leader_epoch))?;
    output::line(format_args!("HighWatermark:\t{}", partition.high_watermark))?;
    output::line(format_args!("MaxFollowerLag:\t{max_lag}"))?;
    let voters: Vec<String> = partition
        .current_voters
        .iter()
        .map(|v| {
            let endpoints: Vec<String> = nodes
                .iter()
                .filter(|n| n.node_id == v.replica_id)
                .flat_map(|n| {
                    n.listeners
                        .iter()
                        .map(|l| format!("{}://{}:{}", l.name, l.host, l.port))
                })
                .collect();
            format!("{} {}", v.replica_id, endpoints.join(","))
        })
        .collect();
    output::line(format_args!("CurrentVoters:\t{}", voters.join("; ")))?;
    Ok(())
}

/// As `kafka-metadata-quorum describe --replication`: a voter a line.
fn replication(partition: &describe_quorum_response::PartitionData) -> Result<(), Failure> {
    output::line(format_args!("NodeId\tLogEndOffset\tLag\tStatus"))?;
    for voter in &partition.current_voters {
        let role = match voter.replica_id == partition.leader_id {
            true => "Leader",
            false => "Follower",
        };
        let lag = (partition.high_watermark - voter.log_end_offset).max(0);
        output::line(format_args!(
            "{}\t{}\t{lag}\t{role}",
            voter.replica_id, voter.log_end_offset
        ))?;
    }
    Ok(())
}
