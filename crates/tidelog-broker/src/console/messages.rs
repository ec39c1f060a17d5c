//! The message browser of one partition (from an offset, a timestamp or the newest N,
//! filtered by key or value text, values as text, pretty JSON or hex, with headers and each
//! record's batch) and the form that produces a record.
//!
//! Records are read as a fetch reads them ([`tidelog_log::LogSnapshot::read`] below the
//! high watermark), on a blocking thread, and decoded with the protocol crate's batch
//! decoder, bounded in what one page scans. A record is produced through the Produce
//! handler, as a client's would be.

use std::fmt::Write as _;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::response::IntoResponse;
use axum::Form;
use bytes::Bytes;
use maud::{html, Markup};
use serde::Deserialize;
use tidelog_protocol::messages::produce_request::{PartitionProduceData, ProduceRequest, TopicProduceData};
use tidelog_protocol::records::{Header, Record, RecordBatch, RecordBatchBuilder};
use tidelog_protocol::{ApiKey, ErrorCode};

use super::auth::Viewer;
use super::layout::{page, table};
use super::{
    blocking, name_value_lines, number, partition, readable_partition, see_other, segment, Console, Page, PageError,
};
use crate::clock::now_ms;
use crate::handlers;

/// Records shown on one page, at most.
const MAX_COUNT: usize = 500;
const DEFAULT_COUNT: usize = 50;
/// Bytes of log one page reads at most, however few records match its filter.
const MAX_SCAN_BYTES: usize = 16 << 20;
/// Bytes one read asks for: about what a consumer's fetch of one partition asks.
const READ_BYTES: usize = 1 << 20;
/// Bound on one batch's decompressed records.
const MAX_DECOMPRESSED_BYTES: usize = 64 << 20;
/// Bytes of a key, value or header shown before the rest is cut.
const SHOWN_BYTES: usize = 4096;
/// Values up to this size are shown whole as pretty JSON; larger ones are cut as text.
const MAX_PRETTY_JSON_BYTES: usize = 64 << 10;
/// The Produce version the form's request is made in (topics by name).
const PRODUCE_VERSION: i16 = 9;

/// A batch as the browser and the segment inspector describe it.
#[derive(Debug, Clone)]
pub struct BatchInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    pub records: i32,
    pub size: usize,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub compression: String,
    pub transactional: bool,
    pub control: bool,
    pub max_timestamp: i64,
    pub crc_ok: bool,
}

impl BatchInfo {
    pub fn of(batch: &RecordBatch) -> BatchInfo {
        BatchInfo {
            base_offset: batch.base_offset(),
            last_offset: batch.last_offset(),
            records: batch.record_count(),
            size: batch.size_in_bytes(),
            producer_id: batch.producer_id(),
            producer_epoch: batch.producer_epoch(),
            base_sequence: batch.base_sequence(),
            compression: format!("{:?}", batch.compression()).to_lowercase(),
            transactional: batch.is_transactional(),
            control: batch.is_control(),
            max_timestamp: batch.max_timestamp(),
            crc_ok: batch.verify_crc().is_ok(),
        }
    }

    /// The column names of [`BatchInfo::cells`].
    pub const HEADERS: [&'static str; 11] = [
        "Base offset",
        "Last offset",
        "Records",
        "Bytes",
        "Producer id",
        "Epoch",
        "Base sequence",
        "Compression",
        "Flags",
        "Max timestamp",
        "CRC",
    ];

    pub fn cells(&self) -> Markup {
        html! {
            td.num { (self.base_offset) } td.num { (self.last_offset) } td.num { (self.records) }
            td.num { (self.size) } td.num.producer { (self.producer_id) } td.num { (self.producer_epoch) }
            td.num { (self.base_sequence) } td { (self.compression) } td { (self.flags()) }
            td.num { (self.max_timestamp) }
            td { @if self.crc_ok { span.ok { "ok" } } @else { span.bad { "MISMATCH" } } }
        }
    }

    fn flags(&self) -> String {
        match (self.transactional, self.control) {
            (false, false) => "-".to_string(),
            (true, false) => "transactional".to_string(),
            (false, true) => "control".to_string(),
            (true, true) => "transactional, control".to_string(),
        }
    }
}

/// How values are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
    Hex,
}

/// The browser's query, every field as typed, parsed by [`Browse::parse`] so that bad input
/// gets a page saying what is wrong.
#[derive(Debug, Default, Deserialize)]
pub struct BrowseQuery {
    mode: Option<String>,
    offset: Option<String>,
    timestamp: Option<String>,
    count: Option<String>,
    key: Option<String>,
    value: Option<String>,
    format: Option<String>,
}

/// Where to start reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Newest,
    Offset(i64),
    Timestamp(i64),
}

#[derive(Debug, Clone)]
struct Browse {
    start: Start,
    count: usize,
    key: String,
    value: String,
    format: Format,
}

impl Browse {
    fn parse(query: &BrowseQuery) -> Result<Browse, PageError> {
        let text = |field: &Option<String>| field.as_deref().unwrap_or("").trim().to_string();
        let count = match text(&query.count).as_str() {
            "" => DEFAULT_COUNT,
            count => number::<usize>("Count", count)?,
        };
        if !(1..=MAX_COUNT).contains(&count) {
            return Err(PageError::bad_request(format!(
                "Count must be between 1 and {MAX_COUNT}."
            )));
        }
        let start = match text(&query.mode).as_str() {
            "" | "newest" => Start::Newest,
            "offset" => Start::Offset(number("Offset", &text(&query.offset))?),
            "timestamp" => Start::Timestamp(number("Timestamp", &text(&query.timestamp))?),
            other => return Err(PageError::bad_request(format!("Unknown start {other:?}."))),
        };
        let format = match text(&query.format).as_str() {
            "" | "text" => Format::Text,
            "json" => Format::Json,
            "hex" => Format::Hex,
            other => return Err(PageError::bad_request(format!("Unknown format {other:?}."))),
        };
        Ok(Browse {
            start,
            count,
            key: query.key.clone().unwrap_or_default(),
            value: query.value.clone().unwrap_or_default(),
            format,
        })
    }

    /// Whether `record` passes the key and value filters (plain text, no pattern syntax).
    fn matches(&self, record: &Record) -> bool {
        let contains = |bytes: &Option<Bytes>, wanted: &str| {
            wanted.is_empty()
                || bytes
                    .as_ref()
                    .is_some_and(|b| String::from_utf8_lossy(b).contains(wanted))
        };
        contains(&record.key, &self.key) && contains(&record.value, &self.value)
    }
}

/// What one page found.
struct Found {
    log_start: i64,
    high_watermark: i64,
    first: i64,
    records: Vec<(Record, usize)>,
    batches: Vec<BatchInfo>,
    /// Where the next page starts.
    next: i64,
    /// The scan stopped at its byte bound before finding `count` records.
    bounded: bool,
}

pub async fn browse(
    Console(broker): Console,
    viewer: Viewer,
    Path((topic, index)): Path<(String, String)>,
    query: Result<Query<BrowseQuery>, QueryRejection>,
) -> Page {
    let query = query?.0;
    let partition = readable_partition(&broker, &viewer, &topic, &index)?;
    let browse = Browse::parse(&query)?;
    let wanted = browse.clone();
    let found = blocking(move || read(&partition, &wanted)).await?;
    let base = format!("/topics/{}/partitions/{index}", segment(&topic));
    let next_link = format!(
        "{base}/messages?mode=offset&offset={}&count={}&key={}&value={}&format={}",
        found.next,
        browse.count,
        segment(&browse.key),
        segment(&browse.value),
        format_name(browse.format),
    );
    let body = html! {
        p { a href={ "/topics/" (segment(&topic)) } { "Topic " (topic) } " · "
            a href={ (base) "/segments" } { "Segments" } }
        p.note { "Log start " (found.log_start) ", high watermark " (found.high_watermark)
            ". Records from offset " (found.first) ", up to " (browse.count) ". Filters match plain text." }
        (browse_form(&base, &query))
        @if found.records.is_empty() {
            p.card { "No records match." }
        } @else {
            (table("records", ["Offset", "Timestamp", "Key", "Value", "Headers", "Batch"], html! {
                @for (record, batch) in &found.records {
                    tr {
                        td.num { (record.offset) }
                        td.num { (record.timestamp) br; span.note { (utc(record.timestamp)) } }
                        td { (shown(&record.key, browse.format)) }
                        td.value { (shown(&record.value, browse.format)) }
                        td {
                            @for header in &record.headers {
                                div { code { (String::from_utf8_lossy(&header.key)) } ": " (shown(&header.value, Format::Text)) }
                            }
                        }
                        td.num { (found.batches[*batch].base_offset) }
                    }
                }
            }))
            h2 { "Batches of these records" }
            (table("batches", BatchInfo::HEADERS, html! { @for batch in &found.batches { tr { (batch.cells()) } } }))
        }
        @if found.bounded {
            p.note { "The scan stopped after " (MAX_SCAN_BYTES >> 20) " MiB of log." }
        }
        @if found.next < found.high_watermark {
            p { a href=(next_link) { "Next records from offset " (found.next) } }
        }
        h2 { "Produce a record" }
        form.card method="post" action={ (base) "/produce" } {
            label { "Key (empty: none)" input name="key"; }
            label { "Value" textarea name="value" rows="2" {} }
            label { "Headers (name=value, one a line)" textarea name="headers" rows="2" {} }
            button type="submit" { "Produce" }
        }
    };
    Ok(page(&format!("{topic} / partition {index}"), body).into_response())
}

fn browse_form(base: &str, query: &BrowseQuery) -> Markup {
    let value = |field: &Option<String>| field.clone().unwrap_or_default();
    let mode = value(&query.mode);
    let format = value(&query.format);
    html! {
        form.card method="get" action={ (base) "/messages" } {
            label { "From"
                select name="mode" {
                    option value="newest" selected[mode.is_empty() || mode == "newest"] { "the newest N" }
                    option value="offset" selected[mode == "offset"] { "an offset" }
                    option value="timestamp" selected[mode == "timestamp"] { "a timestamp (ms)" }
                }
            }
            label { "Offset" input name="offset" inputmode="numeric" value=(value(&query.offset)); }
            label { "Timestamp (ms)" input name="timestamp" inputmode="numeric" value=(value(&query.timestamp)); }
            label { "Count (N)" input name="count" inputmode="numeric" value=(query.count.clone().unwrap_or_else(|| DEFAULT_COUNT.to_string())); }
            label { "Key contains" input name="key" value=(value(&query.key)); }
            label { "Value contains" input name="value" value=(value(&query.value)); }
            label { "Show values as"
                select name="format" {
                    option value="text" selected[format.is_empty() || format == "text"] { "text" }
                    option value="json" selected[format == "json"] { "pretty JSON" }
                    option value="hex" selected[format == "hex"] { "hex" }
                }
            }
            button type="submit" { "Show" }
        }
    }
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Text => "text",
        Format::Json => "json",
        Format::Hex => "hex",
    }
}

/// Reads the records of one page: blocking file I/O.
fn read(partition: &crate::partitions::Partition, browse: &Browse) -> Result<Found, PageError> {
    let high_watermark = partition.high_watermark();
    let snapshot = super::snapshot(partition)?;
    let log_start = snapshot.log_start_offset();
    let first = match browse.start {
        Start::Newest => (high_watermark - browse.count as i64).max(log_start),
        Start::Offset(offset) if offset < log_start || offset > high_watermark => {
            return Err(PageError::bad_request(format!(
                "Offset {offset} is out of range: the partition holds offsets from {log_start} to {high_watermark} \
                 (its high watermark, excluded)."
            )))
        }
        Start::Offset(offset) => offset,
        Start::Timestamp(timestamp) => snapshot
            .offset_for_timestamp(timestamp)
            .map_err(|e| PageError::storage("the time index lookup", e))?
            .map_or(high_watermark, |found| found.offset.min(high_watermark)),
    };
    let mut found = Found {
        log_start,
        high_watermark,
        first,
        records: Vec::new(),
        batches: Vec::new(),
        next: first,
        bounded: false,
    };
    let mut scanned = 0;
    while found.next < high_watermark && found.records.len() < browse.count {
        if scanned >= MAX_SCAN_BYTES {
            found.bounded = true;
            break;
        }
        let read = snapshot
            .read(found.next, READ_BYTES, high_watermark)
            .map_err(|e| PageError::storage("reading the log", e))?;
        if read.records.is_empty() {
            break;
        }
        scanned += read.records.len();
        let bytes = read
            .records
            .to_bytes()
            .map_err(|e| PageError::storage("reading the log", e))?;
        'batches: for batch in RecordBatch::iter_batches(bytes) {
            let batch = batch.map_err(|e| PageError::storage("decoding a batch", e))?;
            let records = batch
                .records(MAX_DECOMPRESSED_BYTES)
                .map_err(|e| PageError::storage("decoding a batch", e))?;
            let mut batch_index = None;
            for record in records {
                let record = record.map_err(|e| PageError::storage("decoding a record", e))?;
                if record.offset < found.next {
                    continue;
                }
                if found.records.len() == browse.count {
                    break 'batches;
                }
                found.next = record.offset + 1;
                if browse.matches(&record) {
                    let index = *batch_index.get_or_insert_with(|| {
                        found.batches.push(BatchInfo::of(&batch));
                        found.batches.len() - 1
                    });
                    found.records.push((record, index));
                }
            }
            if found.records.len() < browse.count {
                found.next = found.next.max(batch.next_offset().min(high_watermark));
            }
        }
        if found.records.len() < browse.count {
            // Past gaps (compacted records, markers) up to where the read ended.
            found.next = found.next.max(read.next_offset.min(high_watermark));
        }
    }
    Ok(found)
}

/// A timestamp in milliseconds as a UTC date and time (proleptic Gregorian calendar);
/// empty for Kafka's "no timestamp" and for years past 9999.
pub fn utc(ms: i64) -> String {
    if !(0..253_402_300_800_000).contains(&ms) {
        return String::new();
    }
    let (days, ms_of_day) = (ms / 86_400_000, ms % 86_400_000);
    let (year, month, day) = crate::clock::civil_from_days(days);
    let (h, m, s, milli) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}.{milli:03} UTC")
}

/// A key, value or header value as the format asks, cut after [`SHOWN_BYTES`].
fn shown(bytes: &Option<Bytes>, format: Format) -> Markup {
    let Some(bytes) = bytes else {
        return html! { span.note { "null" } };
    };
    let cut = &bytes[..bytes.len().min(SHOWN_BYTES)];
    let rest = bytes.len() - cut.len();
    let text = match format {
        Format::Text => String::from_utf8_lossy(cut).into_owned(),
        Format::Json => match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(json) if bytes.len() <= MAX_PRETTY_JSON_BYTES => serde_json::to_string_pretty(&json).unwrap_or_default(),
            _ => String::from_utf8_lossy(cut).into_owned(),
        },
        Format::Hex => {
            let mut hex = String::with_capacity(cut.len() * 3);
            for (i, byte) in cut.iter().enumerate() {
                let separator = if i == 0 {
                    ""
                } else if i % 16 == 0 {
                    "\n"
                } else {
                    " "
                };
                let _ = write!(hex, "{separator}{byte:02x}");
            }
            hex
        }
    };
    html! {
        pre { (text) }
        @if rest > 0 && !(format == Format::Json && bytes.len() <= MAX_PRETTY_JSON_BYTES) {
            span.note { "… " (rest) " more bytes" }
        }
    }
}

#[derive(Deserialize)]
pub struct ProduceForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    headers: String,
}

pub async fn produce(
    Console(broker): Console,
    viewer: Viewer,
    Path((topic, index)): Path<(String, String)>,
    form: Result<Form<ProduceForm>, FormRejection>,
) -> Page {
    let form = form?.0;
    let partition_index = partition(&broker, &topic, &index)?.tp.partition();
    let headers: Vec<Header> = name_value_lines("header", &form.headers)?
        .into_iter()
        .map(|(name, value)| Header {
            key: Bytes::copy_from_slice(name.as_bytes()),
            value: Some(Bytes::copy_from_slice(value.as_bytes())),
        })
        .collect();
    let key = (!form.key.is_empty()).then_some(form.key.as_bytes());
    let mut builder = RecordBatchBuilder::new(0);
    builder.append(now_ms(), key, Some(form.value.as_bytes()), &headers);
    let request = ProduceRequest {
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: topic.clone(),
            partition_data: vec![PartitionProduceData {
                index: partition_index,
                records: Some(builder.build().as_bytes().clone()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let reply = handlers::produce::handle(&viewer.context(&broker, ApiKey::Produce, PRODUCE_VERSION), request).await;
    let response = response!(reply, Produce)?;
    let answer = response
        .responses
        .into_iter()
        .flat_map(|t| t.partition_responses)
        .next()
        .ok_or_else(|| PageError::kafka(ErrorCode::UNKNOWN_SERVER_ERROR, None))?;
    if answer.error_code != 0 {
        return Err(PageError::kafka(ErrorCode(answer.error_code), answer.error_message));
    }
    Ok(see_other(&format!(
        "/topics/{}/partitions/{partition_index}/messages?mode=offset&offset={}",
        segment(&topic),
        answer.base_offset
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(utc(951_782_400_123), "2000-02-29 00:00:00.123 UTC");
        assert_eq!(utc(1_700_000_000_000), "2023-11-14 22:13:20.000 UTC");
        assert_eq!(utc(-1), "");
        assert_eq!(utc(i64::MAX), "");
    }
}
