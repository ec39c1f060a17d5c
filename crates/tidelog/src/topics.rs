//! `tidelog topics`: list, describe, create, alter and delete topics, as Kafka's
//! `kafka-topics.sh` and `kafka-configs.sh` do, through librdkafka's admin API.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use rdkafka::admin::{AlterConfig, ConfigSource, NewTopic, ResourceSpecifier, TopicReplication};

use crate::client::{find_topic, Admin, DEFAULT_BOOTSTRAP};
use crate::parse_key_value;

#[derive(Args)]
pub struct TopicsArgs {
    /// The broker to connect to.
    #[arg(long, default_value = DEFAULT_BOOTSTRAP)]
    bootstrap_server: String,
    #[command(subcommand)]
    command: TopicsCommand,
}

#[derive(Subcommand)]
enum TopicsCommand {
    /// Every topic's name, one per line.
    List,
    /// A topic's partitions and the configs set on it.
    Describe { topic: String },
    /// Create a topic.
    Create {
        topic: String,
        /// Partitions (-1: the broker's `num.partitions`).
        #[arg(long, default_value_t = -1)]
        partitions: i32,
        /// Replication factor (-1: the broker's default; one node holds one replica).
        #[arg(long, default_value_t = -1)]
        replication_factor: i32,
        /// A topic config: `--config retention.ms=60000` (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
    },
    /// Set or remove configs of a topic; the others stay as they are.
    Alter {
        topic: String,
        /// A config to set: `--config retention.ms=60000` (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
        /// A config to put back to its default (repeatable).
        #[arg(long = "delete-config", value_name = "KEY")]
        deleted: Vec<String>,
    },
    /// Delete a topic and its records.
    Delete { topic: String },
}

pub fn run(args: TopicsArgs) -> Result<(), String> {
    let admin = Admin::connect(&args.bootstrap_server, "tidelog-topics")?;
    match args.command {
        TopicsCommand::List => {
            let metadata = admin.metadata()?;
            let mut names: Vec<&str> = metadata.topics().iter().map(|t| t.name()).collect();
            names.sort_unstable();
            for name in names {
                println!("{name}");
            }
        }
        TopicsCommand::Describe { topic } => describe(&admin, &topic)?,
        TopicsCommand::Create {
            topic,
            partitions,
            replication_factor,
            configs,
        } => {
            let new_topic = configs.iter().fold(
                NewTopic::new(&topic, partitions, TopicReplication::Fixed(replication_factor)),
                |new_topic, (key, value)| new_topic.set(key, value),
            );
            for result in admin
                .wait(admin.client.create_topics([&new_topic], &admin.options()))
                .map_err(|e| format!("cannot create topic {topic}: {e}"))?
            {
                result.map_err(|(name, code)| format!("cannot create topic {name}: {code}"))?;
            }
            println!("Created topic {topic}.");
        }
        TopicsCommand::Alter {
            topic,
            configs,
            deleted,
        } => {
            // rdkafka passes on no per-resource error: a topic that does not exist would
            // look altered.
            find_topic(&admin.metadata()?, &topic)?;
            // librdkafka's AlterConfigs replaces every override: start from the current
            // ones (a change made meanwhile by someone else is lost, as with Kafka's
            // tools on brokers without IncrementalAlterConfigs).
            let mut overrides = overrides(&admin, &topic)?;
            overrides.retain(|key, _| !deleted.contains(key));
            overrides.extend(configs);
            let alter = overrides.iter().fold(
                AlterConfig::new(ResourceSpecifier::Topic(&topic)),
                |alter, (key, value)| alter.set(key, value),
            );
            admin
                .wait(admin.client.alter_configs([&alter], &admin.options()))
                .map_err(|e| format!("cannot alter topic {topic}: {e}"))?;
            // rdkafka does not pass the broker's answer on: read back what it kept.
            let now = self::overrides(&admin, &topic)?;
            if now != overrides {
                let kept: Vec<String> = now.iter().map(|(k, v)| format!("{k}={v}")).collect();
                return Err(format!(
                    "the broker refused the change to topic {topic}, which keeps {} (librdkafka \
                     does not pass the reason on)",
                    kept.join(",")
                ));
            }
            println!("Altered topic {topic}.");
        }
        TopicsCommand::Delete { topic } => {
            for result in admin
                .wait(admin.client.delete_topics(&[topic.as_str()], &admin.options()))
                .map_err(|e| format!("cannot delete topic {topic}: {e}"))?
            {
                result.map_err(|(name, code)| format!("cannot delete topic {name}: {code}"))?;
            }
            println!("Deleted topic {topic}.");
        }
    }
    Ok(())
}

/// Prints the topic line (partition count and the configs set on the topic) and a line per
/// partition, in the layout of `kafka-topics.sh --describe`.
fn describe(admin: &Admin, topic: &str) -> Result<(), String> {
    let metadata = admin.metadata()?;
    let found = find_topic(&metadata, topic)?;
    let configs: Vec<String> = overrides(admin, topic)?
        .into_iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    let replication = found.partitions().first().map_or(0, |p| p.replicas().len());
    println!(
        "Topic: {topic}\tPartitionCount: {}\tReplicationFactor: {replication}\tConfigs: {}",
        found.partitions().len(),
        configs.join(",")
    );
    let mut partitions: Vec<_> = found.partitions().iter().collect();
    partitions.sort_by_key(|p| p.id());
    let ids = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    for p in partitions {
        println!(
            "\tTopic: {topic}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}",
            p.id(),
            p.leader(),
            ids(p.replicas()),
            ids(p.isr())
        );
    }
    Ok(())
}

/// The configs set on the topic (its overrides), by name.
fn overrides(admin: &Admin, topic: &str) -> Result<BTreeMap<String, String>, String> {
    let mut results = admin
        .wait(
            admin
                .client
                .describe_configs([&ResourceSpecifier::Topic(topic)], &admin.options()),
        )
        .map_err(|e| format!("cannot describe topic {topic}: {e}"))?;
    let resource = results
        .pop()
        .ok_or("no answer")?
        .map_err(|code| format!("cannot describe topic {topic}: {code}"))?;
    Ok(resource
        .entries
        .into_iter()
        .filter(|e| e.source == ConfigSource::DynamicTopic)
        .map(|e| (e.name, e.value.unwrap_or_default()))
        .collect())
}
