//! The overview: the broker, its metadata quorum (as `kafka-metadata-quorum describe
//! --status` tells it), its totals, and live throughput charts (produced and fetched
//! bytes, records produced and requests per second), drawn in the browser by uPlot from
//! the totals `/overview/throughput.json` answers, read every 2 s by `assets/overview.js`.
//! uPlot is vendored (assets/uplot/README.md: version, source, license) and served from
//! the binary at `/static/`, so the page works on a machine with no Internet access.

use axum::http::header;
use axum::response::IntoResponse;
use maud::html;
use tidelog_protocol::messages::list_groups_request::ListGroupsRequest;

use super::layout::{facts, page_with_head};
use super::topics::{bytes_text, topic_sizes};
use super::{Console, Page};
use crate::clock::now_ms;
use crate::handlers;

/// The vendored uPlot's version, in its assets' paths so that a new one is never served
/// from a browser's cache of the old.
pub const UPLOT_VERSION: &str = "1.6.32";
const UPLOT_JS: &str = include_str!("assets/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("assets/uplot/uPlot.min.css");
const OVERVIEW_JS: &str = include_str!("assets/overview.js");

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
    let quorum = broker.metadata.quorum_status();
    let voters = quorum
        .voters
        .iter()
        .map(|(id, node)| {
            let endpoints: Vec<String> = node
                .endpoints
                .iter()
                .map(|e| format!("{}://{}:{}", e.listener, e.host, e.port))
                .collect();
            format!("{id} ({})", endpoints.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ");
    let offset = |offset: Option<u64>| offset.map_or_else(|| "none".to_string(), |o| o.to_string());
    let head = html! {
        link rel="stylesheet" href={ "/static/uplot-" (UPLOT_VERSION) ".min.css" };
        script src={ "/static/uplot-" (UPLOT_VERSION) ".iife.min.js" } defer {}
        script src="/static/overview.js" defer {}
    };
    let body = html! {
        h2 { "Broker" }
        (facts([
            ("Node id", broker.config.node_id.to_string()),
            ("Cluster id", broker.cluster_id.clone()),
            ("Kafka listeners", listeners),
            ("Log dirs", broker.config.log_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")),
        ]))
        h2 { "Metadata quorum" }
        div #quorum {
            (facts([
                ("Leader", quorum.leader.map_or_else(|| "none".to_string(), |id| id.to_string())),
                ("Leader epoch", quorum.epoch.to_string()),
                ("This node", quorum.role.to_string()),
                ("Committed offset", offset(quorum.committed_offset)),
                ("Last log offset", offset(quorum.last_offset)),
                ("Voters", voters),
            ]))
        }
        h2 { "Totals" }
        (facts([
            ("Brokers", "1".to_string()),
            ("Topics", topics.to_string()),
            ("Partitions", partitions.to_string()),
            ("Log size", bytes_text(bytes)),
            ("Consumer groups", groups.to_string()),
        ]))
        h2 { "Throughput" }
        div #charts .card {
            div.bytes {}
            div.counts {}
            p #rates .note { "Live charts need script; " a href="/metrics" { "/metrics" } " has the counters." }
        }
        p { a href="/topics" { "Topics" } " · " a href="/groups" { "Consumer groups" } " · " a href="/transactions" { "Transactions" } }
    };
    Ok(page_with_head("Overview", head, body).into_response())
}

/// The broker's totals since its start and the time they were read, for the charts.
pub async fn throughput(Console(broker): Console) -> impl IntoResponse {
    let totals = broker.metrics.totals();
    let body = serde_json::json!({
        "time_ms": now_ms(),
        "requests": totals.requests,
        "produce_bytes": totals.produce_bytes,
        "produce_records": totals.produce_records,
        "fetch_bytes": totals.fetch_bytes,
    });
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
}

/// A static asset; `cache` its Cache-Control.
fn asset(content_type: &'static str, cache: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, cache)],
        body,
    )
}

/// uPlot's paths hold its version: cached for a year.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub async fn uplot_js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", IMMUTABLE, UPLOT_JS)
}

pub async fn uplot_css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", IMMUTABLE, UPLOT_CSS)
}

/// Ours changes with the binary: checked with the broker on each load.
pub async fn overview_js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", "no-cache", OVERVIEW_JS)
}
