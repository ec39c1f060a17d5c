//! The topic list (with each topic's rates in and out) and the create form, and a topic's page: its partitions
//! (log start, high watermark, last stable offset, size, segments), its configs with their
//! sources, and the delete form. Creating and deleting go through the CreateTopics and
//! DeleteTopics handlers, with their checks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::FormRejection;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Form};
use maud::html;
use serde::Deserialize;
use tidelog_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig, CreateTopicsRequest};
use tidelog_protocol::messages::delete_topics_request::DeleteTopicsRequest;
use tidelog_protocol::messages::describe_configs_request::{DescribeConfigsRequest, DescribeConfigsResource};
use tidelog_protocol::messages::describe_configs_response::DescribeConfigsResourceResult;
use tidelog_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
};
use tidelog_protocol::ErrorCode;

use super::auth::Viewer;
use super::layout::{facts, page, table};
use super::rates::{TopicRates, MIN_WINDOW};
use super::{blocking, name_value_lines, number, only, see_other, segment, unknown_topic, Console, Page, PageError};
use crate::authorizer::ResourceType;
use crate::broker::{is_internal_topic, Broker};
use crate::partitions::last_stable_offset;
use crate::topic_config::{ConfigSource, RESOURCE_TOPIC};

/// Each topic's size in bytes, summed over its partitions, read without opening a log not
/// opened yet (as `/metrics` reads them).
pub(super) fn topic_sizes(broker: &Broker) -> BTreeMap<String, u64> {
    let mut sizes = BTreeMap::new();
    for (tp, summary) in broker.partitions.summaries_by_dir().into_iter().flat_map(|(_, p)| p) {
        *sizes.entry(tp.topic().to_string()).or_insert(0) += summary.size_bytes;
    }
    sizes
}

pub async fn list(Console(broker): Console, viewer: Viewer, Extension(rates): Extension<Arc<TopicRates>>) -> Page {
    let topics: Vec<(String, i32)> = broker
        .metadata
        .image()
        .topics()
        .map(|t| (t.name.clone(), t.partitions))
        .filter(|(name, _)| viewer.may_describe(&broker, ResourceType::Topic, name))
        .collect();
    let sizes = topic_sizes(&broker);
    let rates = rates.sample(&broker.metrics, Instant::now());
    let columns = [
        "Topic",
        "Partitions",
        "Records",
        "Size",
        "In",
        "Records in",
        "Out",
        "Records out",
    ];
    let body = html! {
        (table("topics", columns, html! {
            @for (name, partitions) in &topics {
                @let rate = rates.as_ref().map(|r| r.of(name));
                tr {
                    td { a href={ "/topics/" (segment(name)) } { (name) }
                        @if is_internal_topic(name) { " " span.note { "(internal)" } } }
                    td.num { (partitions) }
                    td.num { (records_in(&broker, name, *partitions)) }
                    td.num { (bytes_text(sizes.get(name).copied().unwrap_or(0))) }
                    td.num.produce-bytes { (per_second(rate.map(|r| r.produce_bytes), bytes_rate_text)) }
                    td.num.produce-records { (per_second(rate.map(|r| r.produce_records), records_rate_text)) }
                    td.num.fetch-bytes { (per_second(rate.map(|r| r.fetch_bytes), bytes_rate_text)) }
                    td.num.fetch-records { (per_second(rate.map(|r| r.fetch_records), records_rate_text)) }
                }
            }
        }))
        p.note #rates-window {
            @match &rates {
                Some(rates) => { "Rates over the " (format!("{:.1}", rates.window.as_secs_f64())) " s between the last two views of this page (" (MIN_WINDOW.as_secs()) " s apart at least)." }
                None => { "Rates show from the next view of this page, " (MIN_WINDOW.as_secs()) " s from now or later: they are the change in the counters of " a href="/metrics" { "/metrics" } " between views." }
            }
        }
        h2 { "Create a topic" }
        form.card method="post" action="/topics" {
            label { "Name" input name="name" required; }
            label { "Partitions" input name="partitions" type="number" min="1" value=(broker.config.num_partitions); }
            label { "Configs (name=value, one a line)" textarea name="configs" rows="2" {} }
            button type="submit" { "Create" }
        }
    };
    Ok(page("Topics", body).into_response())
}

/// A rate's cell: `-` before there is a rate.
fn per_second(rate: Option<f64>, text: fn(f64) -> String) -> String {
    rate.map_or_else(|| "-".to_string(), text)
}

fn bytes_rate_text(rate: f64) -> String {
    format!("{}/s", bytes_text(rate.round() as u64))
}

fn records_rate_text(rate: f64) -> String {
    format!("{rate:.1}/s")
}

/// Records between log start and high watermark over a topic's partitions (compaction
/// and aborted transactions leave gaps, so it is an upper bound).
fn records_in(broker: &Broker, topic: &str, partitions: i32) -> i64 {
    (0..partitions)
        .filter_map(|p| broker.partitions.get(topic, p))
        .map(|p| p.high_watermark() - p.log_start_offset())
        .sum()
}

#[derive(Deserialize)]
pub struct NewTopicForm {
    name: String,
    partitions: String,
    #[serde(default)]
    configs: String,
}

pub async fn create(Console(broker): Console, viewer: Viewer, form: Result<Form<NewTopicForm>, FormRejection>) -> Page {
    let form = form?.0;
    let name = form.name.trim().to_string();
    let num_partitions = number("Partitions", &form.partitions)?;
    let configs = name_value_lines("config", &form.configs)?
        .into_iter()
        .map(|(name, value)| CreatableTopicConfig {
            name: name.to_string(),
            value: Some(value.trim().to_string()),
            ..Default::default()
        })
        .collect();
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.clone(),
            num_partitions,
            replication_factor: -1,
            configs,
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = call!(&broker, viewer, create_topics, request, CreateTopics)?;
    match response.topics.into_iter().next() {
        Some(t) if t.error_code == 0 => Ok(see_other(&format!("/topics/{}", segment(&name)))),
        Some(t) => Err(PageError::kafka(ErrorCode(t.error_code), t.error_message)),
        None => Err(PageError::kafka(ErrorCode::UNKNOWN_SERVER_ERROR, None)),
    }
}

pub async fn delete(Console(broker): Console, viewer: Viewer, Path(topic): Path<String>) -> Page {
    // Deleting `__consumer_offsets` or `__transaction_state` would drop every group's
    // offsets or every transaction's state: not a button's work.
    if is_internal_topic(&topic) {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            format!("{topic} is an internal topic: the console does not delete it."),
        ));
    }
    let request = DeleteTopicsRequest {
        topic_names: vec![topic.clone()],
        ..Default::default()
    };
    let response = call!(&broker, viewer, delete_topics, request, DeleteTopics)?;
    match response.responses.into_iter().next() {
        Some(r) if r.error_code == 0 => Ok(see_other("/topics")),
        Some(r) => Err(PageError::kafka(ErrorCode(r.error_code), r.error_message)),
        None => Err(PageError::kafka(ErrorCode::UNKNOWN_SERVER_ERROR, None)),
    }
}

/// A partition as the topic page shows it: where the metadata places it, and its log
/// where this node holds a replica (leader or follower).
struct PartitionRow {
    index: i32,
    placed: crate::cluster::PartitionView,
    log: Option<LogRow>,
}

struct LogRow {
    log_start: i64,
    high_watermark: i64,
    last_stable: i64,
    size: u64,
    segments: usize,
}

pub async fn topic(Console(broker): Console, viewer: Viewer, Path(topic): Path<String>) -> Page {
    if !viewer.may_describe(&broker, ResourceType::Topic, &topic) {
        return Err(PageError::kafka(ErrorCode::TOPIC_AUTHORIZATION_FAILED, None));
    }
    let meta = broker
        .metadata
        .image()
        .topic(&topic)
        .cloned()
        .ok_or_else(|| unknown_topic(&topic))?;
    let partitions: Vec<_> = {
        let image = broker.metadata.image();
        (0..meta.partitions)
            .map(|index| {
                let placed = crate::cluster::partition_view(&broker, &image, &meta, index);
                (index, placed, broker.partitions.get_replica(&topic, index))
            })
            .collect()
    };
    // A snapshot opens a log not opened since the start: file I/O, off the reactor.
    let rows: Vec<PartitionRow> = blocking(move || {
        partitions
            .into_iter()
            .map(|(index, placed, hosted)| {
                let log = match hosted {
                    Some(partition) => {
                        let high_watermark = partition.high_watermark();
                        let snapshot = super::snapshot(&partition)?;
                        Some(LogRow {
                            log_start: snapshot.log_start_offset(),
                            high_watermark,
                            last_stable: last_stable_offset(high_watermark, &snapshot),
                            size: snapshot.segments().iter().map(|s| s.size()).sum(),
                            segments: snapshot.segments().len(),
                        })
                    }
                    None => None,
                };
                Ok(PartitionRow { index, placed, log })
            })
            .collect()
    })
    .await?;
    let configs = describe_configs(&broker, &viewer, &topic).await?;
    let base = format!("/topics/{}", segment(&topic));
    let body = html! {
        (facts([("Topic id", meta.id.to_string()), ("Partitions", meta.partitions.to_string())]))
        h2 { "Partitions" }
        p.note { "The log columns are this node's replica; a partition it holds no replica of is read on its leader's console." }
        (table("partitions", ["Partition", "Log start", "High watermark", "Last stable", "Size", "Segments", "Leader", "Leader epoch", "Replicas", "In sync", ""], html! {
            @for row in &rows {
                @let placed = &row.placed;
                tr {
                    td.num { (row.index) }
                    @if let Some(log) = &row.log {
                        td.num { (log.log_start) }
                        td.num { (log.high_watermark) }
                        td.num { (log.last_stable) }
                        td.num { (bytes_text(log.size)) }
                        td.num { (log.segments) }
                    } @else {
                        td.none colspan="5" { "no replica on this node" }
                    }
                    td.leader { @if placed.leader >= 0 { (placed.leader) } @else { "none (offline)" } }
                    td.epoch { (placed.leader_epoch) }
                    td.replicas { (ids_text(&placed.replicas)) }
                    td.isr {
                        (ids_text(&placed.isr))
                        @if placed.isr.len() < placed.replicas.len() { " (under-replicated)" }
                    }
                    td {
                        @if row.log.is_some() {
                            a href={ (base) "/partitions/" (row.index) "/messages" } { "Messages" } " · "
                            a href={ (base) "/partitions/" (row.index) "/segments" } { "Segments" }
                        }
                    }
                }
            }
        }))
        h2 { "Configs" }
        p.note { "As DescribeConfigs reports them. Set or reset one through IncrementalAlterConfigs, \
            as kafka-configs --alter does; a topic's own value (DYNAMIC_TOPIC_CONFIG) resets to the default." }
        (table("configs", ["Name", "Value", "Source"], html! {
            @for config in &configs {
                @let value = config.value.clone().unwrap_or_default();
                tr id={ "config-" (config.name) } {
                    td { code title=[config.documentation.as_deref()] { (config.name) } }
                    td {
                        form.inline method="post" action={ (base) "/configs" } {
                            input type="hidden" name="name" value=(config.name);
                            input name="value" value=(value) aria-label={ "Value of " (config.name) };
                            button type="submit" name="op" value="set" { "Set" }
                            @if config.config_source == ConfigSource::DynamicTopic as i8 {
                                button.danger type="submit" name="op" value="delete" { "Reset" }
                            }
                        }
                    }
                    td.source { (source_name(config.config_source)) }
                }
            }
        }))
        @if !is_internal_topic(&topic) {
            h2 { "Delete" }
            form.card method="post" action={ (base) "/delete" } {
                span { "Deletes the topic and all its records." }
                button.danger type="submit" { "Delete topic" }
            }
        }
    };
    Ok(page(&format!("Topic {topic}"), body).into_response())
}

/// Broker ids as a list: `1, 2, 3`.
fn ids_text(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(", ")
}

/// A topic's configs as the DescribeConfigs handler reports them, with their documentation.
async fn describe_configs(
    broker: &Arc<Broker>,
    viewer: &Viewer,
    topic: &str,
) -> Result<Vec<DescribeConfigsResourceResult>, PageError> {
    let request = DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: RESOURCE_TOPIC,
            resource_name: topic.to_string(),
            configuration_keys: None,
            ..Default::default()
        }],
        include_documentation: true,
        ..Default::default()
    };
    let response = call!(broker, viewer, describe_configs, request, DescribeConfigs)?;
    let result = only(response.results)?;
    match ErrorCode(result.error_code) {
        ErrorCode::NONE => Ok(result.configs),
        code => Err(PageError::kafka(code, result.error_message)),
    }
}

/// Kafka's names of config sources (DescribeConfigs' `config_source`), as
/// `kafka-configs --describe` prints them.
fn source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        _ => "UNKNOWN",
    }
}

#[derive(Deserialize)]
pub struct ConfigForm {
    name: String,
    #[serde(default)]
    value: String,
    op: String,
}

/// Sets or resets one of a topic's configs through the IncrementalAlterConfigs handler
/// (SET or DELETE), with its validation and its messages.
pub async fn alter_config(
    Console(broker): Console,
    viewer: Viewer,
    Path(topic): Path<String>,
    form: Result<Form<ConfigForm>, FormRejection>,
) -> Page {
    let form = form?.0;
    let (config_operation, value) = match form.op.as_str() {
        "set" => (OP_SET, Some(form.value.trim().to_string())),
        "delete" => (OP_DELETE, None),
        other => return Err(PageError::bad_request(format!("Unknown config operation {other:?}."))),
    };
    let request = IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: RESOURCE_TOPIC,
            resource_name: topic.clone(),
            configs: vec![AlterableConfig {
                name: form.name.trim().to_string(),
                config_operation,
                value,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = call!(
        &broker,
        viewer,
        incremental_alter_configs,
        request,
        IncrementalAlterConfigs
    )?;
    match response.responses.into_iter().next() {
        Some(r) if r.error_code == 0 => Ok(see_other(&format!(
            "/topics/{}#config-{}",
            segment(&topic),
            segment(form.name.trim())
        ))),
        Some(r) => Err(PageError::kafka(ErrorCode(r.error_code), r.error_message)),
        None => Err(PageError::kafka(ErrorCode::UNKNOWN_SERVER_ERROR, None)),
    }
}

/// IncrementalAlterConfigs' operations the form makes.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

/// Bytes in binary units, exact below a KiB.
pub fn bytes_text(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for next in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}
