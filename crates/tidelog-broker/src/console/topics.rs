//! The overview, the topic list with the create form, and a topic's page: its partitions
//! (log start, high watermark, last stable offset, size, segments), its configs with their
//! sources, and the delete form. Creating and deleting go through the CreateTopics and
//! DeleteTopics handlers, with their checks.

use std::collections::BTreeMap;

use axum::extract::rejection::FormRejection;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Form;
use maud::html;
use serde::Deserialize;
use tidelog_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig, CreateTopicsRequest};
use tidelog_protocol::messages::delete_topics_request::DeleteTopicsRequest;
use tidelog_protocol::messages::list_groups_request::ListGroupsRequest;
use tidelog_protocol::ErrorCode;

use super::layout::{facts, page, table};
use super::{blocking, name_value_lines, number, see_other, segment, unknown_topic, Console, Page, PageError};
use crate::broker::{is_internal_topic, Broker};
use crate::handlers;
use crate::partitions::last_stable_offset;
use crate::topic_config::{self, ConfigSource};

/// Each topic's size in bytes, summed over its partitions, read without opening a log not
/// opened yet (as `/metrics` reads them).
fn topic_sizes(broker: &Broker) -> BTreeMap<String, u64> {
    let mut sizes = BTreeMap::new();
    for (tp, summary) in broker.partitions.summaries_by_dir().into_iter().flat_map(|(_, p)| p) {
        *sizes.entry(tp.topic().to_string()).or_insert(0) += summary.size_bytes;
    }
    sizes
}

pub async fn overview(Console(broker): Console) -> Page {
    let (topics, partitions) = {
        let image = broker.metadata.image();
        (
            image.topics().count(),
            image.topics().map(|t| t.partitions as usize).sum::<usize>(),
        )
    };
    let bytes: u64 = topic_sizes(&broker).values().sum();
    let groups = handlers::list_groups::respond(&broker, ListGroupsRequest::default())
        .groups
        .len();
    let listeners = broker
        .config
        .advertised_listeners
        .iter()
        .map(|l| format!("{}://{}:{}", l.name, l.host, l.port))
        .collect::<Vec<_>>()
        .join(", ");
    let body = html! {
        h2 { "Broker" }
        (facts([
            ("Node id", broker.config.node_id.to_string()),
            ("Cluster id", broker.cluster_id.clone()),
            ("Kafka listeners", listeners),
            ("Log dirs", broker.config.log_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")),
        ]))
        h2 { "Totals" }
        (facts([
            ("Brokers", "1".to_string()),
            ("Topics", topics.to_string()),
            ("Partitions", partitions.to_string()),
            ("Log size", bytes_text(bytes)),
            ("Consumer groups", groups.to_string()),
        ]))
        p { a href="/topics" { "Topics" } " · " a href="/groups" { "Consumer groups" } }
    };
    Ok(page("Overview", body).into_response())
}

pub async fn list(Console(broker): Console) -> Page {
    let topics: Vec<(String, i32)> = broker
        .metadata
        .image()
        .topics()
        .map(|t| (t.name.clone(), t.partitions))
        .collect();
    let sizes = topic_sizes(&broker);
    let body = html! {
        (table("topics", ["Topic", "Partitions", "Records", "Size"], html! {
            @for (name, partitions) in &topics {
                tr {
                    td { a href={ "/topics/" (segment(name)) } { (name) }
                        @if is_internal_topic(name) { " " span.note { "(internal)" } } }
                    td.num { (partitions) }
                    td.num { (records_in(&broker, name, *partitions)) }
                    td.num { (bytes_text(sizes.get(name).copied().unwrap_or(0))) }
                }
            }
        }))
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

pub async fn create(Console(broker): Console, form: Result<Form<NewTopicForm>, FormRejection>) -> Page {
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
    let response = handlers::create_topics::respond(&broker, request);
    match response.topics.into_iter().next() {
        Some(t) if t.error_code == 0 => Ok(see_other(&format!("/topics/{}", segment(&name)))),
        Some(t) => Err(PageError::kafka(ErrorCode(t.error_code), t.error_message)),
        None => Err(PageError::kafka(ErrorCode::UNKNOWN_SERVER_ERROR, None)),
    }
}

pub async fn delete(Console(broker): Console, Path(topic): Path<String>) -> Page {
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
    let response = handlers::delete_topics::respond(&broker, request);
    match response.responses.into_iter().next() {
        Some(r) if r.error_code == 0 => Ok(see_other("/topics")),
        Some(r) => Err(PageError::kafka(ErrorCode(r.error_code), r.error_message)),
        None => Err(PageError::kafka(ErrorCode::UNKNOWN_SERVER_ERROR, None)),
    }
}

/// One partition's row on the topic page.
struct PartitionRow {
    index: i32,
    log_start: i64,
    high_watermark: i64,
    last_stable: i64,
    size: u64,
    segments: usize,
}

pub async fn topic(Console(broker): Console, Path(topic): Path<String>) -> Page {
    let meta = broker
        .metadata
        .image()
        .topic(&topic)
        .cloned()
        .ok_or_else(|| unknown_topic(&topic))?;
    let partitions: Vec<_> = (0..meta.partitions)
        .filter_map(|index| broker.partitions.get(&topic, index).map(|p| (index, p)))
        .collect();
    // A snapshot opens a log not opened since the start: file I/O, off the reactor.
    let rows: Vec<PartitionRow> = blocking(move || {
        partitions
            .into_iter()
            .map(|(index, partition)| {
                let high_watermark = partition.high_watermark();
                let snapshot = super::snapshot(&partition)?;
                Ok(PartitionRow {
                    index,
                    log_start: snapshot.log_start_offset(),
                    high_watermark,
                    last_stable: last_stable_offset(high_watermark, &snapshot),
                    size: snapshot.segments().iter().map(|s| s.size()).sum(),
                    segments: snapshot.segments().len(),
                })
            })
            .collect()
    })
    .await?;
    let configs = topic_config::resolve(&broker.config, &meta.configs);
    let base = format!("/topics/{}", segment(&topic));
    let body = html! {
        (facts([("Topic id", meta.id.to_string()), ("Partitions", meta.partitions.to_string())]))
        h2 { "Partitions" }
        (table("partitions", ["Partition", "Log start", "High watermark", "Last stable", "Size", "Segments", ""], html! {
            @for row in &rows {
                tr {
                    td.num { (row.index) }
                    td.num { (row.log_start) }
                    td.num { (row.high_watermark) }
                    td.num { (row.last_stable) }
                    td.num { (bytes_text(row.size)) }
                    td.num { (row.segments) }
                    td {
                        a href={ (base) "/partitions/" (row.index) "/messages" } { "Messages" } " · "
                        a href={ (base) "/partitions/" (row.index) "/segments" } { "Segments" }
                    }
                }
            }
        }))
        h2 { "Configs" }
        (table("configs", ["Name", "Value", "Source"], html! {
            @for config in &configs {
                tr {
                    td { code { (config.name) } }
                    td { code { (config.value) } }
                    td { (source_name(config.source)) }
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

/// Kafka's names of config sources, as `kafka-configs --describe` prints them.
fn source_name(source: ConfigSource) -> &'static str {
    match source {
        ConfigSource::DynamicTopic => "DYNAMIC_TOPIC_CONFIG",
        ConfigSource::StaticBroker => "STATIC_BROKER_CONFIG",
        ConfigSource::Default => "DEFAULT_CONFIG",
    }
}

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
