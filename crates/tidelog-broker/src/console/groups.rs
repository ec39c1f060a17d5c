//! Consumer groups: the list, and a group's page (state, protocol, members and their
//! partitions: for a KIP-848 group its epochs, assignor and each member's current and
//! target assignment; committed offset and lag per partition) with the forms that reset its
//! offsets (while it has no members: to the earliest or latest offset, an offset or a
//! timestamp) and delete it. Everything goes through the group handlers: ListGroups,
//! ConsumerGroupDescribe, DescribeGroups, OffsetFetch, OffsetCommit (a "simple" commit, generation -1, which the
//! coordinator accepts only for an empty group, as `kafka-consumer-groups --reset-offsets`
//! makes it) and DeleteGroups.

use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Form;
use bytes::Bytes;
use maud::{html, Markup};
use serde::Deserialize;
use tidelog_protocol::consumer_protocol::assigned_partitions;
use tidelog_protocol::messages::consumer_group_describe_request::ConsumerGroupDescribeRequest;
use tidelog_protocol::messages::consumer_group_describe_response::{Assignment, DescribedGroup as ConsumerGroup};
use tidelog_protocol::messages::delete_groups_request::DeleteGroupsRequest;
use tidelog_protocol::messages::describe_groups_request::DescribeGroupsRequest;
use tidelog_protocol::messages::describe_groups_response::DescribedGroup;
use tidelog_protocol::messages::list_groups_request::ListGroupsRequest;
use tidelog_protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use tidelog_protocol::messages::offset_fetch_request::{OffsetFetchRequest, OffsetFetchRequestGroup};
use tidelog_protocol::{ApiKey, ErrorCode};

use super::auth::Viewer;
use super::layout::{facts, page, table};
use super::{blocking, number, only, see_other, segment, Console, Page, PageError};
use crate::authorizer::ResourceType;

use crate::broker::Broker;
use crate::coordinator::group;
use crate::grouping::by_topic;
use crate::handlers;

/// The DescribeGroups and OffsetFetch versions the pages ask in: DescribeGroups v6 tells
/// an unknown group apart, OffsetFetch v8 answers for all of a group's partitions.
const DESCRIBE_VERSION: i16 = 6;
const OFFSET_FETCH_VERSION: i16 = 8;

/// A group's committed offset on one partition, with the partition's bounds.
struct Position {
    topic: String,
    partition: i32,
    committed: i64,
    log_start: Option<i64>,
    high_watermark: Option<i64>,
}

impl Position {
    fn lag(&self) -> Option<i64> {
        self.high_watermark.map(|hw| group::lag(hw, self.committed))
    }
}

fn describe(broker: &Arc<Broker>, viewer: &Viewer, id: &str) -> Result<DescribedGroup, PageError> {
    let request = DescribeGroupsRequest {
        groups: vec![id.to_string()],
        ..Default::default()
    };
    let context = viewer.context(broker, ApiKey::DescribeGroups, DESCRIBE_VERSION);
    let described = only(handlers::describe_groups::respond(&context, request).groups)?;
    match ErrorCode(described.error_code) {
        ErrorCode::NONE => Ok(described),
        ErrorCode::GROUP_ID_NOT_FOUND => Err(PageError::not_found(format!("Unknown consumer group {id}."))),
        code => Err(PageError::kafka(code, described.error_message)),
    }
}

/// The group's committed offsets (those it has), by topic and partition.
fn positions(broker: &Arc<Broker>, viewer: &Viewer, id: &str) -> Vec<Position> {
    let request = OffsetFetchRequest {
        groups: vec![OffsetFetchRequestGroup {
            group_id: id.to_string(),
            topics: None,
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = handlers::offset_fetch::respond(
        &viewer.context(broker, ApiKey::OffsetFetch, OFFSET_FETCH_VERSION),
        request,
    );
    let mut positions: Vec<Position> = response
        .groups
        .into_iter()
        .flat_map(|g| g.topics)
        .flat_map(|t| {
            let topic = t.name;
            t.partitions
                .into_iter()
                .filter(|p| p.error_code == 0 && p.committed_offset >= 0)
                .map(move |p| (topic.clone(), p.partition_index, p.committed_offset))
        })
        .map(|(topic, partition, committed)| {
            let log = broker.partitions.get(&topic, partition);
            Position {
                log_start: log.as_ref().map(|p| p.log_start_offset()),
                high_watermark: log.as_ref().map(|p| p.high_watermark()),
                topic,
                partition,
                committed,
            }
        })
        .collect();
    positions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    positions
}

pub async fn list(Console(broker): Console, viewer: Viewer) -> Page {
    let mut groups = handlers::list_groups::respond(&broker, ListGroupsRequest::default()).groups;
    groups.retain(|g| viewer.may_describe(&broker, ResourceType::Group, &g.group_id));
    groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    let body = html! {
        @if groups.is_empty() {
            p.card { "No consumer groups yet." }
        } @else {
            (table("groups", ["Group", "Type", "State", "Protocol type", "Lag"], html! {
                @for g in &groups {
                    tr {
                        td { a href={ "/groups/" (segment(&g.group_id)) } { (g.group_id) } }
                        td.type { (g.group_type) }
                        td { (g.group_state) }
                        td { (g.protocol_type) }
                        td.num.lag { (positions(&broker, &viewer, &g.group_id).iter().filter_map(Position::lag).sum::<i64>()) }
                    }
                }
            }))
        }
    };
    Ok(page("Consumer groups", body).into_response())
}

pub async fn group(Console(broker): Console, viewer: Viewer, Path(id): Path<String>) -> Page {
    let membership = match describe_consumer_group(&broker, &viewer, &id).await? {
        Some(group) => Membership::Consumer(group),
        None => Membership::Classic(describe(&broker, &viewer, &id)?),
    };
    let positions = positions(&broker, &viewer, &id);
    let topics: Vec<&str> = {
        let mut names: Vec<&str> = positions.iter().map(|p| p.topic.as_str()).collect();
        names.dedup();
        names
    };
    let lag = positions.iter().filter_map(Position::lag).sum::<i64>();
    let base = format!("/groups/{}", segment(&id));
    let body = html! {
        (membership.render(lag))
        h2 { "Committed offsets" }
        @if positions.is_empty() {
            p.note { "No committed offsets." }
        } @else {
            (table("offsets", ["Topic", "Partition", "Committed", "Log start", "High watermark", "Lag"], html! {
                @for p in &positions {
                    tr {
                        td { a href={ "/topics/" (segment(&p.topic)) } { (p.topic) } }
                        td.num { (p.partition) }
                        td.num.committed { (p.committed) }
                        td.num { (opt(p.log_start)) }
                        td.num { (opt(p.high_watermark)) }
                        td.num.lag { (opt(p.lag())) }
                    }
                }
            }))
            h2 { "Reset offsets" }
            p.note { "Only while the group has no members (state Empty)." }
            form.card method="post" action={ (base) "/reset" } {
                label { "Topic"
                    select name="topic" {
                        option value="" { "all of the group's topics" }
                        @for t in &topics { option value=(t) { (t) } }
                    }
                }
                label { "To"
                    select name="to" {
                        option value="earliest" { "earliest" }
                        option value="latest" { "latest" }
                        option value="offset" { "an offset" }
                        option value="timestamp" { "a timestamp (ms)" }
                    }
                }
                label { "Offset or timestamp (ms)" input name="offset" inputmode="numeric"; }
                button type="submit" { "Reset offsets" }
            }
        }
        h2 { "Delete" }
        form.card method="post" action={ (base) "/delete" } {
            span { "Deletes the group and its committed offsets (only while it has no members)." }
            button.danger type="submit" { "Delete group" }
        }
    };
    Ok(page(&format!("Group {id}"), body).into_response())
}

/// Who is in a group and what they were assigned, as its protocol's describe API tells it.
enum Membership {
    /// A group of the classic protocol (JoinGroup, SyncGroup): DescribeGroups.
    Classic(DescribedGroup),
    /// A KIP-848 consumer group (ConsumerGroupHeartbeat): ConsumerGroupDescribe.
    Consumer(ConsumerGroup),
}

impl Membership {
    /// The group's facts and its members' table.
    fn render(&self, lag: i64) -> Markup {
        match self {
            Membership::Classic(described) => html! {
                (facts([
                    ("State", described.group_state.clone()),
                    ("Protocol type", described.protocol_type.clone()),
                    ("Protocol", described.protocol_data.clone()),
                    ("Members", described.members.len().to_string()),
                    ("Total lag", lag.to_string()),
                ]))
                h2 { "Members" }
                @if described.members.is_empty() {
                    p.note { "No members." }
                } @else {
                    (table("members", ["Member id", "Instance id", "Client id", "Host", "Partitions"], html! {
                        @for m in &described.members {
                            tr {
                                td { code { (m.member_id) } }
                                td { (m.group_instance_id.clone().unwrap_or_default()) }
                                td { (m.client_id) }
                                td { (m.client_host) }
                                td.assigned { (member_partitions(&described.protocol_type, &m.member_assignment)) }
                            }
                        }
                    }))
                }
            },
            Membership::Consumer(group) => html! {
                (facts([
                    ("State", group.group_state.clone()),
                    ("Protocol", "KIP-848".to_string()),
                    ("Group epoch", group.group_epoch.to_string()),
                    ("Assignment epoch", group.assignment_epoch.to_string()),
                    ("Assignor", group.assignor_name.clone()),
                    ("Members", group.members.len().to_string()),
                    ("Total lag", lag.to_string()),
                ]))
                h2 { "Members" }
                p.note { "Assigned: the partitions a member owns now; target: those the assignor gave it, which it gets as others release them." }
                @if group.members.is_empty() {
                    p.note { "No members." }
                } @else {
                    (table("members", ["Member id", "Instance id", "Client id", "Host", "Epoch", "Subscribed", "Assigned", "Target"], html! {
                        @for m in &group.members {
                            tr {
                                td { code { (m.member_id) } }
                                td { (m.instance_id.clone().unwrap_or_default()) }
                                td { (m.client_id) }
                                td { (m.client_host) }
                                td.num.epoch { (m.member_epoch) }
                                td.subscribed { (subscription(&m.subscribed_topic_names, m.subscribed_topic_regex.as_deref())) }
                                td.assigned { (assignment_text(&m.assignment)) }
                                td.target { (assignment_text(&m.target_assignment)) }
                            }
                        }
                    }))
                }
            },
        }
    }
}

/// The group as ConsumerGroupDescribe answers it; `None` when it is no KIP-848 group
/// (a classic group, or none: DescribeGroups then tells which).
async fn describe_consumer_group(
    broker: &Arc<Broker>,
    viewer: &Viewer,
    id: &str,
) -> Result<Option<ConsumerGroup>, PageError> {
    let request = ConsumerGroupDescribeRequest {
        group_ids: vec![id.to_string()],
        ..Default::default()
    };
    let response = call!(broker, viewer, consumer_group_describe, request, ConsumerGroupDescribe)?;
    let group = only(response.groups)?;
    match ErrorCode(group.error_code) {
        ErrorCode::NONE => Ok(Some(group)),
        ErrorCode::GROUP_ID_NOT_FOUND => Ok(None),
        code => Err(PageError::kafka(code, group.error_message)),
    }
}

/// A KIP-848 member's subscription: its topic names, or its regular expression.
fn subscription(names: &[String], regex: Option<&str>) -> String {
    match regex.filter(|r| !r.is_empty()) {
        Some(regex) => format!("/{regex}/"),
        None if names.is_empty() => "-".to_string(),
        None => names.join(", "),
    }
}

/// A KIP-848 assignment as `topic-partition` names, in order.
fn assignment_text(assignment: &Assignment) -> String {
    let mut names: Vec<(&str, i32)> = assignment
        .topic_partitions
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.topic_name.as_str(), *p)))
        .collect();
    names.sort_unstable();
    partition_names(names)
}

/// `topic-partition` names joined, or `-` for none.
fn partition_names<'a>(partitions: impl IntoIterator<Item = (&'a str, i32)>) -> String {
    let names: Vec<String> = partitions
        .into_iter()
        .map(|(topic, partition)| format!("{topic}-{partition}"))
        .collect();
    match names.is_empty() {
        true => "-".to_string(),
        false => names.join(", "),
    }
}

/// A classic member's assigned partitions as `topic-partition` names, decoded for a group
/// of the consumer protocol (DescribeGroups shows them once it is Stable).
fn member_partitions(protocol_type: &str, assignment: &Bytes) -> String {
    if protocol_type != "consumer" {
        return "-".to_string();
    }
    match assigned_partitions(assignment.clone()) {
        Ok(partitions) => partition_names(partitions.iter().map(|(topic, partition)| (topic.as_str(), *partition))),
        Err(e) => format!("unreadable assignment: {e}"),
    }
}

fn opt(value: Option<i64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// Where a reset moves a group's offsets.
#[derive(Debug, Clone, Copy)]
enum Target {
    Earliest,
    Latest,
    Offset(i64),
    Timestamp(i64),
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    topic: String,
    to: String,
    #[serde(default)]
    offset: String,
}

pub async fn reset(
    Console(broker): Console,
    viewer: Viewer,
    Path(id): Path<String>,
    form: Result<Form<ResetForm>, FormRejection>,
) -> Page {
    let form = form?.0;
    let described = describe(&broker, &viewer, &id)?;
    if !described.members.is_empty() {
        return Err(PageError::new(
            StatusCode::CONFLICT,
            format!(
                "Group {id} has {} member(s) (state {}, NON_EMPTY_GROUP): stop its consumers before resetting \
                 its offsets.",
                described.members.len(),
                described.group_state
            ),
        ));
    }
    let target = match form.to.as_str() {
        "earliest" => Target::Earliest,
        "latest" => Target::Latest,
        "offset" => Target::Offset(number("Offset", &form.offset)?),
        "timestamp" => Target::Timestamp(number("Timestamp", &form.offset)?),
        other => return Err(PageError::bad_request(format!("Unknown reset target {other:?}."))),
    };
    let chosen: Vec<Position> = positions(&broker, &viewer, &id)
        .into_iter()
        .filter(|p| form.topic.is_empty() || p.topic == form.topic)
        .collect();
    let reader = broker.clone();
    // A timestamp is looked up in the time indexes and segment files: blocking I/O.
    let targets = blocking(move || {
        let mut targets = Vec::new();
        for p in chosen {
            let Some(partition) = reader.partitions.get(&p.topic, p.partition) else {
                continue;
            };
            let (start, end) = (partition.log_start_offset(), partition.high_watermark());
            let offset = match target {
                Target::Earliest => start,
                Target::Latest => end,
                // As kafka-consumer-groups does, an offset out of range becomes the nearest bound.
                Target::Offset(offset) => offset.clamp(start, end),
                // The first record at or after it, or the end when none is.
                Target::Timestamp(timestamp) => super::snapshot(&partition)?
                    .offset_for_timestamp(timestamp)
                    .map_err(|e| PageError::storage("the time index lookup", e))?
                    .map_or(end, |found| found.offset.clamp(start, end)),
            };
            targets.push((p.topic, (p.partition, offset)));
        }
        Ok(targets)
    })
    .await?;
    if targets.is_empty() {
        return Err(PageError::bad_request(format!(
            "Group {id} has no committed offsets on existing partitions to reset."
        )));
    }
    let request = OffsetCommitRequest {
        group_id: id.clone(),
        generation_id_or_member_epoch: -1,
        topics: by_topic(targets)
            .into_iter()
            .map(|(name, partitions)| OffsetCommitRequestTopic {
                name,
                partitions: partitions
                    .into_iter()
                    .map(|(partition_index, committed_offset)| OffsetCommitRequestPartition {
                        partition_index,
                        committed_offset,
                        committed_leader_epoch: -1,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let response = call!(&broker, viewer, offset_commit, request, OffsetCommit)?;
    let refused = response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.error_code != 0);
    if let Some(refused) = refused {
        return Err(PageError::kafka(ErrorCode(refused.error_code), None));
    }
    Ok(see_other(&format!("/groups/{}", segment(&id))))
}

pub async fn delete(Console(broker): Console, viewer: Viewer, Path(id): Path<String>) -> Page {
    let request = DeleteGroupsRequest {
        groups_names: vec![id.clone()],
        ..Default::default()
    };
    let response = call!(&broker, viewer, delete_groups, request, DeleteGroups)?;
    match response.results.first().map(|r| ErrorCode(r.error_code)) {
        Some(ErrorCode::NONE) => Ok(see_other("/groups")),
        Some(ErrorCode::GROUP_ID_NOT_FOUND) => Err(PageError::not_found(format!("Unknown consumer group {id}."))),
        Some(ErrorCode::NON_EMPTY_GROUP) => Err(PageError::new(
            StatusCode::CONFLICT,
            format!("Group {id} has members (NON_EMPTY_GROUP): stop its consumers before deleting it."),
        )),
        Some(code) => Err(PageError::kafka(code, None)),
        None => Err(PageError::kafka(ErrorCode::UNKNOWN_SERVER_ERROR, None)),
    }
}
