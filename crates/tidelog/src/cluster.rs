//! `tidelog cluster`: the cluster as a broker describes it: its id and controller, every
//! broker with whether it is fenced (DescribeCluster v2), and each partition's leader,
//! replicas and in-sync replicas (Metadata), a line each; an under-replicated partition (fewer
//! in sync than replicas) is marked so.

use clap::Args;
use tidelog_protocol::messages::describe_cluster_request::DescribeClusterRequest;

use crate::admin::{check, AdminClient};
use crate::failure::Failure;
use crate::output;

#[derive(Args)]
pub struct ClusterArgs {}

pub fn run(_args: ClusterArgs, bootstrap: &str) -> Result<(), Failure> {
    let mut admin = AdminClient::connect(bootstrap)?;
    let described = admin.call(DescribeClusterRequest {
        include_fenced_brokers: true,
        endpoint_type: 1,
        ..Default::default()
    })?;
    check(described.error_code, described.error_message.as_deref())?;
    output::line(format_args!("ClusterId:\t{}", described.cluster_id))?;
    output::line(format_args!("ControllerId:\t{}", described.controller_id))?;
    output::line(format_args!("BrokerId\tEndpoint\tRack\tFenced"))?;
    for broker in &described.brokers {
        output::line(format_args!(
            "{}\t{}:{}\t{}\t{}",
            broker.broker_id,
            broker.host,
            broker.port,
            broker.rack.as_deref().unwrap_or("-"),
            broker.is_fenced
        ))?;
    }
    let mut topics = admin.topics()?;
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    output::line(format_args!(
        "Topic\tPartition\tLeader\tLeaderEpoch\tReplicas\tIsr\tStatus"
    ))?;
    let list = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    for topic in &topics {
        for partition in &topic.partitions {
            let status = match (
                partition.leader_id,
                partition.isr_nodes.len() < partition.replica_nodes.len(),
            ) {
                (-1, _) => "offline",
                (_, true) => "under-replicated",
                (_, false) => "ok",
            };
            output::line(format_args!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                topic.name.as_deref().unwrap_or_default(),
                partition.partition_index,
                partition.leader_id,
                partition.leader_epoch,
                list(&partition.replica_nodes),
                list(&partition.isr_nodes),
                status
            ))?;
        }
    }
    Ok(())
}
