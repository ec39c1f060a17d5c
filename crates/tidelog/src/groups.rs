//! `tidelog groups`: list consumer groups, and describe one with its members and, per
//! partition it committed or a member owns, its offset, the partition's end, the lag and
//! the owner, as Kafka's `kafka-consumer-groups.sh --describe` does.

use std::collections::{BTreeMap, BTreeSet};

use clap::{Args, Subcommand};
use tidelog_protocol::consumer_protocol::assigned_partitions;
use tidelog_protocol::messages::describe_groups_request::DescribeGroupsRequest;
use tidelog_protocol::messages::list_groups_request::ListGroupsRequest;
use tidelog_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic};
use tidelog_protocol::messages::offset_fetch_request::{OffsetFetchRequest, OffsetFetchRequestGroup};

use crate::admin::{check, single, AdminClient};
use crate::failure::Failure;
use crate::output;

/// ListOffsets' timestamp for a partition's end (its high watermark).
const LATEST: i64 = -1;

/// A group's partition: topic and partition index.
type Partition = (String, i32);

#[derive(Args)]
pub struct GroupsArgs {
    #[command(subcommand)]
    command: GroupsCommand,
}

#[derive(Subcommand)]
enum GroupsCommand {
    /// Every group: its name, state and protocol type, one per line.
    List,
    /// A group's state and members, and per partition its committed offset, lag and owner.
    Describe { group: String },
}

pub fn run(args: GroupsArgs, bootstrap: &str) -> Result<(), Failure> {
    let mut admin = AdminClient::connect(bootstrap)?;
    match args.command {
        GroupsCommand::List => {
            let response = admin.call(ListGroupsRequest::default())?;
            check(response.error_code, None).map_err(|e| format!("cannot list groups: {e}"))?;
            let mut groups = response.groups;
            groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
            for g in groups {
                output::line(format_args!("{}\t{}\t{}", g.group_id, g.group_state, g.protocol_type))?;
            }
        }
        GroupsCommand::Describe { group } => describe(&mut admin, &group)?,
    }
    Ok(())
}

fn describe(admin: &mut AdminClient, group: &str) -> Result<(), Failure> {
    let response = admin.call(DescribeGroupsRequest {
        groups: vec![group.to_string()],
        ..Default::default()
    })?;
    let described = single(response.groups)?;
    check(described.error_code, described.error_message.as_deref())
        .map_err(|e| format!("cannot describe group {group}: {e}"))?;
    // Before DescribeGroups v6 an unknown group is described as Dead, without an error.
    if described.group_state == "Dead" {
        return Err(format!("group {group} does not exist").into());
    }
    output::line(format_args!(
        "Group: {group}\tState: {}\tProtocol: {}\tMembers: {}",
        described.group_state,
        described.protocol_data,
        described.members.len()
    ))?;
    let mut owners = BTreeMap::new();
    for member in &described.members {
        output::line(format_args!(
            "\tMember: {}\tClientId: {}\tHost: {}",
            member.member_id, member.client_id, member.client_host
        ))?;
        if described.protocol_type == "consumer" {
            let assigned = assigned_partitions(member.member_assignment.clone())
                .map_err(|e| format!("cannot read the assignment of member {}: {e}", member.member_id))?;
            owners.extend(assigned.into_iter().map(|partition| (partition, member)));
        }
    }
    let committed = committed_offsets(admin, group)?;
    let partitions: BTreeSet<&Partition> = committed.keys().chain(owners.keys()).collect();
    let ends = end_offsets(admin, &partitions)?;
    output::line("TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCONSUMER-ID\tHOST\tCLIENT-ID")?;
    for partition in partitions {
        let offset = committed.get(partition);
        let end = ends.get(partition);
        let lag = offset.zip(end).map(|(offset, end)| end - offset);
        let owner = owners.get(partition);
        let (topic, index) = partition;
        output::line(format_args!(
            "{topic}\t{index}\t{}\t{}\t{}\t{}\t{}\t{}",
            or_dash(offset),
            or_dash(end),
            or_dash(lag),
            or_dash(owner.map(|m| &m.member_id)),
            or_dash(owner.map(|m| &m.client_host)),
            or_dash(owner.map(|m| &m.client_id)),
        ))?;
    }
    Ok(())
}

/// A value of the table, or `-` where there is none, as Kafka's tool prints it.
fn or_dash(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// The group's committed offset of every partition it committed.
fn committed_offsets(admin: &mut AdminClient, group: &str) -> Result<BTreeMap<Partition, i64>, String> {
    let response = admin.call(OffsetFetchRequest {
        groups: vec![OffsetFetchRequestGroup {
            group_id: group.to_string(),
            topics: None,
            ..Default::default()
        }],
        ..Default::default()
    })?;
    let fetched = single(response.groups)?;
    let failed = |e| format!("cannot read the offsets of group {group}: {e}");
    check(fetched.error_code, None).map_err(failed)?;
    let mut committed = BTreeMap::new();
    for topic in fetched.topics {
        for p in topic.partitions {
            check(p.error_code, None).map_err(failed)?;
            // -1: no offset committed.
            if p.committed_offset >= 0 {
                committed.insert((topic.name.clone(), p.partition_index), p.committed_offset);
            }
        }
    }
    Ok(committed)
}

/// The end offsets of `partitions` that the broker could tell (a deleted topic's cannot).
fn end_offsets(admin: &mut AdminClient, partitions: &BTreeSet<&Partition>) -> Result<BTreeMap<Partition, i64>, String> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, index) in partitions {
        by_topic.entry(topic).or_default().push(*index);
    }
    let topics = by_topic
        .into_iter()
        .map(|(topic, indexes)| ListOffsetsTopic {
            name: topic.to_string(),
            partitions: indexes
                .into_iter()
                .map(|partition_index| ListOffsetsPartition {
                    partition_index,
                    timestamp: LATEST,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    let response = admin.call(ListOffsetsRequest {
        replica_id: -1,
        topics,
        ..Default::default()
    })?;
    let mut ends = BTreeMap::new();
    for topic in response.topics {
        for p in topic.partitions.into_iter().filter(|p| p.error_code == 0) {
            ends.insert((topic.name.clone(), p.partition_index), p.offset);
        }
    }
    Ok(ends)
}
