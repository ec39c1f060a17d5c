//! `tidelog topics`: list, describe, create, alter and delete topics, as Kafka's
//! `kafka-topics.sh` and `kafka-configs.sh` do, through the [`AdminClient`], so a refusal
//! comes with the broker's reason.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use tidelog_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use tidelog_protocol::messages::delete_topics_request::{DeleteTopicState, DeleteTopicsRequest};
use tidelog_protocol::messages::describe_configs_request::{DescribeConfigsRequest, DescribeConfigsResource};
use tidelog_protocol::messages::describe_log_dirs_request::{DescribableLogDirTopic, DescribeLogDirsRequest};
use tidelog_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
};

use tidelog_broker::topic_config::{ConfigSource, RESOURCE_TOPIC};

use crate::admin::{check, single, AdminClient};
use crate::client::TIMEOUT;
use crate::failure::Failure;
use crate::metrics;
use crate::{output, parse_key_value};

/// IncrementalAlterConfigs' operations.
const SET: i8 = 0;
const DELETE: i8 = 1;

#[derive(Args)]
pub struct TopicsArgs {
    #[command(subcommand)]
    command: TopicsCommand,
}

#[derive(Subcommand)]
enum TopicsCommand {
    /// Every topic's name, one per line.
    List,
    /// A topic's partitions and the configs set on it; with `--http`, the cleaner's view of
    /// each partition of a compacted topic too.
    Describe {
        topic: String,
        /// The broker's HTTP listener (`http.listeners`), whose `/metrics` gives each
        /// compacted partition's dirty ratio and last cleaning: the Kafka protocol carries
        /// neither.
        #[arg(long, env = "TIDELOG_HTTP", value_name = "HOST:PORT")]
        http: Option<String>,
    },
    /// Create a topic.
    Create {
        topic: String,
        /// Partitions (-1: the broker's `num.partitions`).
        #[arg(long, default_value_t = -1)]
        partitions: i32,
        /// Replication factor (-1: the broker's `default.replication.factor`).
        #[arg(long, default_value_t = -1)]
        replication_factor: i16,
        /// Each partition's replicas instead, as kafka-topics takes them: partitions
        /// separated by commas, their broker ids by colons, the first the preferred leader
        /// (`1:2:3,2:3:1`).
        #[arg(long, value_name = "IDS", value_parser = parse_assignment, conflicts_with_all = ["partitions", "replication_factor"])]
        replica_assignment: Option<ReplicaAssignment>,
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

pub fn run(args: TopicsArgs, bootstrap: &str) -> Result<(), Failure> {
    let mut admin = AdminClient::connect(bootstrap)?;
    match args.command {
        TopicsCommand::List => {
            let mut names: Vec<String> = admin.topics()?.into_iter().filter_map(|t| t.name).collect();
            names.sort_unstable();
            for name in names {
                output::line(name)?;
            }
        }
        TopicsCommand::Describe { topic, http } => describe(&mut admin, &topic, http.as_deref())?,
        TopicsCommand::Create {
            topic,
            replica_assignment: Some(ReplicaAssignment(replicas)),
            configs,
            ..
        } => {
            let assignments = (0..)
                .zip(replicas)
                .map(|(partition_index, broker_ids)| CreatableReplicaAssignment {
                    partition_index,
                    broker_ids,
                    ..Default::default()
                })
                .collect();
            let requested = CreatableTopic {
                assignments,
                ..creatable(&topic, -1, -1, &configs)
            };
            send_create(&mut admin, requested)?;
            output::line(format_args!("Created topic {topic}."))?;
        }
        TopicsCommand::Create {
            topic,
            partitions,
            replication_factor,
            replica_assignment: None,
            configs,
        } => {
            create(&mut admin, &topic, partitions, replication_factor, &configs)?;
            output::line(format_args!("Created topic {topic}."))?;
        }
        TopicsCommand::Alter {
            topic,
            configs,
            deleted,
        } => {
            alter(&mut admin, &topic, configs, deleted)?;
            output::line(format_args!("Altered topic {topic}."))?;
        }
        TopicsCommand::Delete { topic } => {
            delete(&mut admin, &topic)?;
            output::line(format_args!("Deleted topic {topic}."))?;
        }
    }
    Ok(())
}

/// Creates `topic` with `configs` set on it.
pub fn create(
    admin: &mut AdminClient,
    topic: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(String, String)],
) -> Result<(), String> {
    send_create(admin, creatable(topic, partitions, replication_factor, configs))
}

/// A CreateTopics entry for `topic` with `configs` set on it.
fn creatable(topic: &str, partitions: i32, replication_factor: i16, configs: &[(String, String)]) -> CreatableTopic {
    let configs = configs
        .iter()
        .map(|(name, value)| CreatableTopicConfig {
            name: name.clone(),
            value: Some(value.clone()),
            ..Default::default()
        })
        .collect();
    CreatableTopic {
        name: topic.to_string(),
        num_partitions: partitions,
        replication_factor,
        configs,
        ..Default::default()
    }
}

/// Creates the topic `requested` asks for, or says why it was refused.
fn send_create(admin: &mut AdminClient, requested: CreatableTopic) -> Result<(), String> {
    let topic = requested.name.clone();
    let response = admin.call(CreateTopicsRequest {
        topics: vec![requested],
        timeout_ms: TIMEOUT.as_millis() as i32,
        ..Default::default()
    })?;
    let result = single(response.topics)?;
    check(result.error_code, result.error_message.as_deref()).map_err(|e| format!("cannot create topic {topic}: {e}"))
}

/// `1:2:3,2:3:1`: each partition's broker ids, as kafka-topics' `--replica-assignment`.
fn parse_assignment(text: &str) -> Result<ReplicaAssignment, String> {
    let partitions = text
        .split(',')
        .map(|partition| {
            partition
                .split(':')
                .map(|id| {
                    id.trim()
                        .parse::<i32>()
                        .map_err(|_| format!("{id:?} is not a broker id"))
                })
                .collect()
        })
        .collect::<Result<_, String>>()?;
    Ok(ReplicaAssignment(partitions))
}

/// Each partition's broker ids, the first the preferred leader (a type of its own: clap
/// takes a bare `Vec` for an argument given several times).
#[derive(Debug, Clone)]
pub struct ReplicaAssignment(Vec<Vec<i32>>);

/// Sets `configs` and removes `deleted` in one IncrementalAlterConfigs: the topic's other
/// configs stay, whoever set them.
/// Sets `configs` on `topic` and puts the `deleted` ones back to their defaults.
pub fn alter(
    admin: &mut AdminClient,
    topic: &str,
    configs: Vec<(String, String)>,
    deleted: Vec<String>,
) -> Result<(), String> {
    let set = configs.into_iter().map(|(name, value)| (name, SET, Some(value)));
    let delete = deleted.into_iter().map(|name| (name, DELETE, None));
    let configs = set
        .chain(delete)
        .map(|(name, config_operation, value)| AlterableConfig {
            name,
            config_operation,
            value,
            ..Default::default()
        })
        .collect();
    let response = admin.call(IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: RESOURCE_TOPIC,
            resource_name: topic.to_string(),
            configs,
            ..Default::default()
        }],
        ..Default::default()
    })?;
    let result = single(response.responses)?;
    check(result.error_code, result.error_message.as_deref()).map_err(|e| format!("cannot alter topic {topic}: {e}"))
}

fn delete(admin: &mut AdminClient, topic: &str) -> Result<(), String> {
    let response = admin.call(DeleteTopicsRequest {
        topics: vec![DeleteTopicState {
            name: Some(topic.to_string()),
            ..Default::default()
        }],
        topic_names: vec![topic.to_string()],
        timeout_ms: TIMEOUT.as_millis() as i32,
        ..Default::default()
    })?;
    let result = single(response.responses)?;
    check(result.error_code, result.error_message.as_deref()).map_err(|e| format!("cannot delete topic {topic}: {e}"))
}

/// Prints the topic line (partition count and the configs set on the topic) and a line per
/// partition, in the layout of `kafka-topics.sh --describe`. With `http`, the line of each
/// partition the cleaner has looked at since the broker started ends with its dirty ratio
/// and how long ago it was last cleaned (`-` if not since the start).
fn describe(admin: &mut AdminClient, topic: &str, http: Option<&str>) -> Result<(), Failure> {
    let found = admin.existing_topic(topic)?;
    let configs: Vec<String> = overrides(admin, topic)?
        .into_iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    let mut partitions = found.partitions;
    partitions.sort_by_key(|p| p.partition_index);
    let replication = partitions.first().map_or(0, |p| p.replica_nodes.len());
    output::line(format_args!(
        "Topic: {topic}\tPartitionCount: {}\tReplicationFactor: {replication}\tConfigs: {}",
        partitions.len(),
        configs.join(",")
    ))?;
    let indexes: Vec<i32> = partitions.iter().map(|p| p.partition_index).collect();
    let sizes = sizes(admin, topic, indexes)?;
    let cleaner = match http {
        Some(addr) => cleaner_status(&metrics::scrape(addr)?, topic),
        None => BTreeMap::new(),
    };
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let ids = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    for p in partitions {
        let size = sizes.get(&p.partition_index).map_or("-".to_string(), i64::to_string);
        let cleaned = match cleaner.get(&p.partition_index) {
            Some(status) => {
                let ago = status
                    .last_cleaned_s
                    .map_or("-".to_string(), |at| format!("{}s ago", (now_s - at).max(0.0).round()));
                format!("\tDirtyRatio: {:.2}\tLastCleaned: {ago}", status.dirty_ratio)
            }
            None => String::new(),
        };
        output::line(format_args!(
            "\tTopic: {topic}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\tSize: {size}{cleaned}",
            p.partition_index,
            p.leader_id,
            ids(&p.replica_nodes),
            ids(&p.isr_nodes)
        ))?;
    }
    Ok(())
}

/// The cleaner's view of a compacted partition, as `/metrics` shows it.
#[derive(Debug, Default, PartialEq)]
struct CleanerStatus {
    dirty_ratio: f64,
    /// Seconds since the epoch.
    last_cleaned_s: Option<f64>,
}

/// The cleaner's view of each partition of `topic` in the text of `/metrics`
/// (`tidelog_log_cleaner_dirty_ratio` and `tidelog_log_cleaner_last_cleaned_timestamp_seconds`).
fn cleaner_status(metrics: &str, topic: &str) -> BTreeMap<i32, CleanerStatus> {
    let mut found: BTreeMap<i32, CleanerStatus> = BTreeMap::new();
    for (name, partition, value) in metrics::partition_samples(metrics, topic) {
        match name {
            "tidelog_log_cleaner_dirty_ratio" => found.entry(partition).or_default().dirty_ratio = value,
            "tidelog_log_cleaner_last_cleaned_timestamp_seconds" => {
                found.entry(partition).or_default().last_cleaned_s = Some(value)
            }
            _ => {}
        }
    }
    found
}

/// Each partition's size in bytes on the broker (DescribeLogDirs), by partition.
fn sizes(admin: &mut AdminClient, topic: &str, partitions: Vec<i32>) -> Result<BTreeMap<i32, i64>, String> {
    let response = admin.call(DescribeLogDirsRequest {
        topics: Some(vec![DescribableLogDirTopic {
            topic: topic.to_string(),
            partitions,
            ..Default::default()
        }]),
        ..Default::default()
    })?;
    Ok(response
        .results
        .into_iter()
        .flat_map(|dir| dir.topics)
        .filter(|t| t.name == topic)
        .flat_map(|t| t.partitions)
        .map(|p| (p.partition_index, p.partition_size))
        .collect())
}

/// The configs set on the topic (its overrides), sorted by name.
fn overrides(admin: &mut AdminClient, topic: &str) -> Result<Vec<(String, String)>, String> {
    let response = admin.call(DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: RESOURCE_TOPIC,
            resource_name: topic.to_string(),
            configuration_keys: None,
            ..Default::default()
        }],
        ..Default::default()
    })?;
    let result = single(response.results)?;
    check(result.error_code, result.error_message.as_deref())
        .map_err(|e| format!("cannot describe topic {topic}: {e}"))?;
    let mut overrides: Vec<(String, String)> = result
        .configs
        .into_iter()
        .filter(|c| c.config_source == ConfigSource::DynamicTopic as i8)
        .map(|c| (c.name, c.value.unwrap_or_default()))
        .collect();
    overrides.sort();
    Ok(overrides)
}
