//! The segment inspector: a partition's segment files (sizes, offset ranges, largest
//! timestamp) and producer state (from the DescribeProducers handler), and one segment's
//! batches (every header field, CRC checked) and its offset, time and transaction index
//! entries, read through `tidelog-log`'s segment readers on a blocking thread.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::response::IntoResponse;
use maud::{html, Markup};
use serde::Deserialize;
use tidelog_log::IndexEntries;
use tidelog_protocol::messages::describe_producers_request::{DescribeProducersRequest, TopicRequest};
use tidelog_protocol::messages::describe_producers_response::ProducerState;
use tidelog_protocol::records::RecordBatch;

use super::auth::Viewer;
use super::layout::{facts, page, table};
use super::messages::{utc, BatchInfo};
use super::topics::bytes_text;
use super::{blocking, number, readable_partition, segment, snapshot_off_reactor, Console, Page, PageError};
use crate::handlers;

/// Batches listed on one page of a segment, at most.
const MAX_BATCHES: usize = 200;
/// Index entries listed, at most, of each index.
const MAX_INDEX_ENTRIES: usize = 500;

pub async fn list(Console(broker): Console, viewer: Viewer, Path((topic, index)): Path<(String, String)>) -> Page {
    let partition = readable_partition(&broker, &viewer, &topic, &index)?;
    let snapshot = snapshot_off_reactor(partition.clone()).await?;
    let rows: Vec<(i64, String, u64, i64, i64)> = snapshot
        .segments()
        .iter()
        .map(|s| {
            let name = s
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                s.base_offset(),
                name,
                s.size(),
                s.next_offset(),
                s.max_timestamp().timestamp,
            )
        })
        .collect();
    let request = DescribeProducersRequest {
        topics: vec![TopicRequest {
            name: topic.clone(),
            partition_indexes: vec![partition.tp.partition()],
            ..Default::default()
        }],
        ..Default::default()
    };
    let reader = broker.clone();
    // The producer state is read under the log's lock: off the reactor too.
    let producers: Vec<ProducerState> = blocking(move || {
        Ok(handlers::describe_producers::respond(&reader, request)
            .topics
            .into_iter()
            .flat_map(|t| t.partitions)
            .flat_map(|p| p.active_producers)
            .collect())
    })
    .await?;
    let base = format!("/topics/{}/partitions/{index}", segment(&topic));
    let body = html! {
        p { a href={ "/topics/" (segment(&topic)) } { "Topic " (topic) } " · " a href={ (base) "/messages" } { "Messages" } }
        (table("segments", ["File", "Base offset", "Next offset", "Size", "Max timestamp"], html! {
            @for (base_offset, name, size, next, max_timestamp) in &rows {
                tr {
                    td { a href={ (base) "/segments/" (base_offset) } { code { (name) } } }
                    td.num { (base_offset) }
                    td.num { (next) }
                    td.num { (bytes_text(*size)) }
                    td.num { (max_timestamp) }
                }
            }
        }))
        h2 { "Producer state" }
        p.note { "The producers this partition keeps state for (DescribeProducers): what its next .snapshot file holds." }
        (producer_table(&producers))
    };
    Ok(page(&format!("{topic} / partition {index} / segments"), body).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct SegmentQuery {
    from: Option<String>,
}

/// One segment's batches and index entries, as read.
struct Inspected {
    batches: Vec<(u64, Result<BatchInfo, String>)>,
    indexes: IndexEntries,
}

pub async fn segment_page(
    Console(broker): Console,
    viewer: Viewer,
    Path((topic, index, base)): Path<(String, String, String)>,
    query: Result<Query<SegmentQuery>, QueryRejection>,
) -> Page {
    let query = query?.0;
    let partition = readable_partition(&broker, &viewer, &topic, &index)?;
    let base_offset: i64 = number("Segment base offset", &base)
        .map_err(|_| PageError::not_found(format!("Partition {index} of {topic} has no segment {base}.")))?;
    let snapshot = snapshot_off_reactor(partition).await?;
    let found = snapshot
        .segments()
        .iter()
        .find(|s| s.base_offset() == base_offset)
        .cloned()
        .ok_or_else(|| PageError::not_found(format!("Partition {index} of {topic} has no segment {base_offset}.")))?;
    let from = match query.from.as_deref().map(str::trim) {
        None | Some("") => base_offset,
        Some(from) => number("From offset", from)?,
    };
    let (size, next_offset, path) = (found.size(), found.next_offset(), found.path().display().to_string());
    let inspected = blocking(move || {
        let located = found
            .batches_from(from, MAX_BATCHES)
            .map_err(|e| PageError::storage("reading the segment", e))?;
        let batches = located
            .iter()
            .map(|b| {
                let read = found
                    .read(b.position, b.header.size_in_bytes())
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| RecordBatch::parse(bytes).map_err(|e| e.to_string()));
                (b.position, read.map(|batch| BatchInfo::of(&batch)))
            })
            .collect();
        Ok(Inspected {
            batches,
            indexes: found.index_entries(MAX_INDEX_ENTRIES),
        })
    })
    .await?;
    let last_listed = inspected
        .batches
        .iter()
        .rev()
        .find_map(|(_, b)| b.as_ref().ok().map(|b| b.last_offset));
    let link = format!("/topics/{}/partitions/{index}/segments/{base_offset}", segment(&topic));
    let body = html! {
        p { a href={ "/topics/" (segment(&topic)) "/partitions/" (index) "/segments" } { "All segments" } }
        (facts([
            ("File", path),
            ("Base offset", base_offset.to_string()),
            ("Next offset", next_offset.to_string()),
            ("Size", bytes_text(size)),
        ]))
        h2 { "Batches from offset " (from) }
        (table("batches", std::iter::once("Position").chain(BatchInfo::HEADERS), html! {
            @for (position, batch) in &inspected.batches {
                tr {
                    td.num { (position) }
                    @match batch {
                        Ok(batch) => (batch.cells()),
                        Err(e) => td.bad colspan=(BatchInfo::HEADERS.len()) { "Unreadable batch: " (e) },
                    }
                }
            }
        }))
        @if let Some(last) = last_listed.filter(|_| inspected.batches.len() == MAX_BATCHES) {
            p { a href={ (link) "?from=" (last + 1) } { "Next batches from offset " (last + 1) } }
        }
        h2 { "Offset index (.index)" }
        p.note { "Up to " (MAX_INDEX_ENTRIES) " entries, one every index.interval.bytes of log: the last offset of a \
            batch and its position. " (inspected.indexes.offsets.len()) " shown." }
        (table("offset-index", ["Offset", "Position"], html! {
            @for e in &inspected.indexes.offsets { tr { td.num { (e.offset) } td.num { (e.position) } } }
        }))
        h2 { "Aborted transactions (.txnindex)" }
        p.note { "Transactions whose ABORT marker is in this segment: read_committed consumers skip their records." }
        (table("aborted", ["Producer id", "First offset", "Last offset", "Last stable offset"], html! {
            @for t in &inspected.indexes.aborted {
                tr {
                    td.num.pid { (t.producer_id) } td.num { (t.first_offset) }
                    td.num { (t.last_offset) } td.num { (t.last_stable_offset) }
                }
            }
        }))
        h2 { "Time index (.timeindex)" }
        p.note { "Up to " (MAX_INDEX_ENTRIES) " entries: a new largest timestamp and its offset. " (inspected.indexes.times.len()) " shown." }
        (table("time-index", ["Timestamp", "Offset"], html! {
            @for e in &inspected.indexes.times {
                tr { td.num.timestamp { (e.timestamp) br; span.note { (utc(e.timestamp)) } } td.num { (e.offset) } }
            }
        }))
    };
    Ok(page(&format!("{topic} / partition {index} / segment {base_offset}"), body).into_response())
}

/// The producers a partition keeps state for, as DescribeProducers reports them (also on
/// the transactions page).
pub fn producer_table(producers: &[ProducerState]) -> Markup {
    table(
        "producers",
        [
            "Producer id",
            "Epoch",
            "Last sequence",
            "Last timestamp",
            "Coordinator epoch",
            "Open transaction from",
        ],
        html! {
            @for p in producers {
                tr {
                    td.num.pid { (p.producer_id) } td.num.epoch { (p.producer_epoch) } td.num.sequence { (p.last_sequence) }
                    td.num { (p.last_timestamp) br; span.note { (utc(p.last_timestamp)) } }
                    td.num { (p.coordinator_epoch) } td.num.txn-start { (p.current_txn_start_offset) }
                }
            }
        },
    )
}
