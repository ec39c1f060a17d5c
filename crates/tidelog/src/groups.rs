//! `tidelog groups`: list consumer groups, and describe one with its members and, per
//! partition it committed, its offset, the partition's end and the lag, as Kafka's
//! `kafka-consumer-groups.sh` does.

use clap::{Args, Subcommand};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use tidelog_broker::broker::is_internal_topic;

use crate::client::{client_config, Admin, DEFAULT_BOOTSTRAP, TIMEOUT};

#[derive(Args)]
pub struct GroupsArgs {
    /// The broker to connect to.
    #[arg(long, default_value = DEFAULT_BOOTSTRAP)]
    bootstrap_server: String,
    #[command(subcommand)]
    command: GroupsCommand,
}

#[derive(Subcommand)]
enum GroupsCommand {
    /// Every group: its name, state and protocol type, one per line.
    List,
    /// A group's state, members and committed offsets with their lag.
    Describe { group: String },
}

pub fn run(args: GroupsArgs) -> Result<(), String> {
    let admin = Admin::connect(&args.bootstrap_server, "tidelog-groups")?;
    let group_list = |group: Option<&str>| {
        admin
            .client
            .inner()
            .fetch_group_list(group, TIMEOUT)
            .map_err(|e| format!("cannot list groups: {e}"))
    };
    match args.command {
        GroupsCommand::List => {
            let list = group_list(None)?;
            let mut groups: Vec<_> = list.groups().iter().collect();
            groups.sort_by_key(|g| g.name());
            for g in groups {
                println!("{}\t{}\t{}", g.name(), g.state(), g.protocol_type());
            }
        }
        GroupsCommand::Describe { group } => {
            let list = group_list(Some(&group))?;
            let info = list
                .groups()
                .iter()
                .find(|g| g.name() == group)
                .ok_or_else(|| format!("group {group} does not exist"))?;
            println!(
                "Group: {group}\tState: {}\tProtocol: {}\tMembers: {}",
                info.state(),
                info.protocol(),
                info.members().len()
            );
            for member in info.members() {
                println!(
                    "\tMember: {}\tClientId: {}\tHost: {}",
                    member.id(),
                    member.client_id(),
                    member.client_host()
                );
            }
            print_offsets(&admin, &args.bootstrap_server, &group)?;
        }
    }
    Ok(())
}

/// The group's committed offsets of every partition of every topic (but the internal
/// ones), with the partition's end and the lag.
fn print_offsets(admin: &Admin, bootstrap: &str, group: &str) -> Result<(), String> {
    let metadata = admin.metadata()?;
    let mut partitions = TopicPartitionList::new();
    for topic in metadata.topics().iter().filter(|t| !is_internal_topic(t.name())) {
        for p in topic.partitions() {
            partitions.add_partition(topic.name(), p.id());
        }
    }
    // A consumer of the group that never subscribes reads its commits without joining.
    let consumer: BaseConsumer = client_config(bootstrap, "tidelog-groups")
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| format!("cannot create a consumer: {e}"))?;
    let committed = consumer
        .committed_offsets(partitions, TIMEOUT)
        .map_err(|e| format!("cannot read the offsets of group {group}: {e}"))?;
    let mut rows: Vec<(String, i32, i64)> = committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(offset) => Some((e.topic().to_string(), e.partition(), offset)),
            _ => None,
        })
        .collect();
    rows.sort();
    println!("TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG");
    for (topic, partition, offset) in rows {
        let (_, end) = consumer
            .fetch_watermarks(&topic, partition, TIMEOUT)
            .map_err(|e| format!("cannot read the end of {topic}-{partition}: {e}"))?;
        println!("{topic}\t{partition}\t{offset}\t{end}\t{}", end - offset);
    }
    Ok(())
}
