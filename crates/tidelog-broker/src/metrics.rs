//! What the broker counts while it works, and what `/metrics` reads from its state when
//! scraped, in the Prometheus families of `prometheus-client`.
//!
//! The request paths only bump atomics, once per request or per partition of a request
//! (record counts come from batch headers); nothing is done per record. Sizes, offsets,
//! consumer lag and process figures are read at scrape time instead of being kept up to
//! date. Names follow Prometheus conventions (base units, `_total` counters) under the
//! `tidelog_` prefix; docs/METRICS.md maps each to the Kafka MBean it stands for.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use tidelog_protocol::{ApiKey, ErrorCode, ResponseBody};

use crate::broker::Broker;
use crate::coordinator::group;
use crate::quorum::QuorumStatus;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    api: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    api: &'static str,
    error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabels {
    topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabels {
    topic: String,
    partition: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LagLabels {
    group: String,
    topic: String,
    partition: i32,
}

type Histograms = Family<ApiLabels, Histogram, fn() -> Histogram>;

/// Durations from 100 µs to about 52 s, doubling: request latencies and fsyncs.
pub fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 20))
}

/// The counters the request paths update. Clones share the same values.
#[derive(Clone, Default)]
pub struct Metrics {
    /// What a request's timer updates, shared by every timer (one reference count each).
    answers: Arc<RequestMetrics>,
    produce_bytes: Family<TopicLabels, Counter>,
    produce_records: Family<TopicLabels, Counter>,
    fetch_bytes: Family<TopicLabels, Counter>,
    fetch_records: Family<TopicLabels, Counter>,
    /// Each topic's series in the four families above, taken on its first produce or
    /// fetch: a partition's update then looks its topic up by `&str`, with no label
    /// `String` made and one map lookup rather than one per family.
    topics: Arc<RwLock<HashMap<String, TopicSeries>>>,
    connections_accepted: Family<ListenerLabels, Counter>,
    connections_open: Family<ListenerLabels, Gauge>,
    connections_closed: Family<ListenerLabels, Counter>,
    authentications: Family<ListenerLabels, Counter>,
    authentication_failures: Family<ListenerLabels, Counter>,
    reauthentications: Family<ListenerLabels, Counter>,
    reauthentication_failures: Family<ListenerLabels, Counter>,
}

/// The broker-wide sums of some counters, for the console's live charts: summed when
/// asked from the series of each API and topic, so the request paths add nothing for them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub requests: u64,
    pub produce_bytes: u64,
    pub produce_records: u64,
    pub fetch_bytes: u64,
}

/// One topic's counters since the start, read together for the console's rates.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TopicTotals {
    pub produce_bytes: u64,
    pub produce_records: u64,
    pub fetch_bytes: u64,
    pub fetch_records: u64,
}

/// One topic's series in the per-topic families of [`Metrics`].
struct TopicSeries {
    produce_bytes: Counter,
    produce_records: Counter,
    fetch_bytes: Counter,
    fetch_records: Counter,
}

impl TopicSeries {
    fn totals(&self) -> TopicTotals {
        TopicTotals {
            produce_bytes: self.produce_bytes.get(),
            produce_records: self.produce_records.get(),
            fetch_bytes: self.fetch_bytes.get(),
            fetch_records: self.fetch_records.get(),
        }
    }
}

/// A connection counted as open on its listener until dropped, then as closed.
pub struct OpenConnection {
    open: Gauge,
    closed: Counter,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.open.dec();
        self.closed.inc();
    }
}

/// A request's errors, and where its time goes, as Kafka's `RequestMetrics` splits it, by
/// API: each request is observed once in each histogram, so every `_count` is the request
/// count.
struct RequestMetrics {
    /// Requests received, by API (RequestsPerSec).
    requests: Family<ApiLabels, Counter>,
    /// Nonzero error codes in responses, by API and error (ErrorsPerSec).
    errors: Family<ErrorLabels, Counter>,
    /// Frame read to response written (TotalTimeMs): the sum of the phases below.
    total: Histograms,
    /// Frame read to handler start (Kafka's RequestQueueTimeMs).
    queue: Histograms,
    /// The handler's own work (LocalTimeMs).
    handling: Histograms,
    /// After the handler, until the response is made: an acks=1/all produce awaiting its
    /// fsync, a fetch's long poll (RemoteTimeMs); 0 for a response made at once.
    waiting: Histograms,
    /// Response made to its write starting, behind the connection's earlier responses
    /// (ResponseQueueTimeMs).
    response_queue: Histograms,
    /// Writing the response (ResponseSendTimeMs).
    send: Histograms,
    /// Each API's series, indexed by its [`ApiKey::position`], taken from the families above on its first
    /// request: a request then indexes this array rather than hashing its label into a
    /// family's map (behind its lock) for each of its seven observations.
    by_api: Box<[OnceLock<ApiSeries>]>,
}

/// One API's series in the families of [`RequestMetrics`] (clones share their values).
struct ApiSeries {
    requests: Counter,
    total: Histogram,
    queue: Histogram,
    handling: Histogram,
    waiting: Histogram,
    response_queue: Histogram,
    send: Histogram,
}

impl Default for RequestMetrics {
    fn default() -> RequestMetrics {
        let histograms = || Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        RequestMetrics {
            requests: Family::default(),
            errors: Family::default(),
            total: histograms(),
            queue: histograms(),
            handling: histograms(),
            waiting: histograms(),
            response_queue: histograms(),
            send: histograms(),
            by_api: ApiKey::ALL.iter().map(|_| OnceLock::new()).collect(),
        }
    }
}

impl RequestMetrics {
    fn series(&self, api: ApiKey) -> &ApiSeries {
        self.by_api[api.position()].get_or_init(|| {
            let labels = ApiLabels { api: api.name() };
            let histogram = |family: &Histograms| family.get_or_create(&labels).clone();
            ApiSeries {
                requests: self.requests.get_or_create(&labels).clone(),
                total: histogram(&self.total),
                queue: histogram(&self.queue),
                handling: histogram(&self.handling),
                waiting: histogram(&self.waiting),
                response_queue: histogram(&self.response_queue),
                send: histogram(&self.send),
            }
        })
    }

    /// Counts a response's error codes (Kafka's `errorCounts`): every nonzero one, at
    /// the top level and nested (per topic, partition, ...).
    fn count_errors(&self, api: ApiKey, body: Option<&ResponseBody>) {
        let mut count = |code: i16| {
            if code != 0 {
                let error = ErrorCode(code).name();
                self.errors.get_or_create(&ErrorLabels { api: api.name(), error }).inc();
            }
        };
        if let Some(body) = body {
            body.error_codes(&mut count);
        }
    }
}

/// One request's clock, from its frame being read to its response being written: each
/// step observes the phase that ended (a few `Instant` reads per request, nothing per
/// record).
pub struct RequestTimer {
    metrics: Arc<RequestMetrics>,
    api: ApiKey,
    received: Instant,
    /// When the phase now running began.
    since: Instant,
}

impl RequestTimer {
    fn observe(&mut self, phase: impl Fn(&ApiSeries) -> &Histogram) {
        let now = Instant::now();
        phase(self.metrics.series(self.api)).observe(now.duration_since(self.since).as_secs_f64());
        self.since = now;
    }

    /// The handler returned.
    pub fn handled(&mut self) {
        self.observe(|m| &m.handling);
    }

    /// The response was made (for a long poll or an acks=all produce, once the wait
    /// ended; `None` when there is none to send): its error codes are counted.
    pub fn answered(&mut self, body: Option<&ResponseBody>) {
        self.observe(|m| &m.waiting);
        self.metrics.count_errors(self.api, body);
    }

    /// The connection's writer took the response.
    pub fn writing(&mut self) {
        self.observe(|m| &m.response_queue);
    }

    /// The response was written: the send time and the request's total.
    pub fn sent(mut self) {
        self.observe(|m| &m.send);
        self.metrics
            .series(self.api)
            .total
            .observe(self.since.duration_since(self.received).as_secs_f64());
    }
}

impl Metrics {
    /// A request whose frame was read at `received` reaches its handler: counted, its
    /// queue time observed, and its clock returned.
    pub fn request(&self, api: ApiKey, received: Instant) -> RequestTimer {
        self.answers.series(api).requests.inc();
        let mut timer = RequestTimer {
            metrics: self.answers.clone(),
            api,
            received,
            since: received,
        };
        timer.observe(|m| &m.queue);
        timer
    }

    /// A partition of a produce request was appended.
    pub fn produced(&self, topic: &str, bytes: u64, records: u64) {
        self.topic(topic, |series| {
            series.produce_bytes.inc_by(bytes);
            series.produce_records.inc_by(records);
        });
    }

    /// Record bytes of a topic went out in a fetch response, taking its consumer past
    /// `records` offsets (what `tidelog_fetch_records_total` counts, docs/METRICS.md).
    pub fn fetched(&self, topic: &str, bytes: u64, records: u64) {
        self.topic(topic, |series| {
            series.fetch_bytes.inc_by(bytes);
            series.fetch_records.inc_by(records);
        });
    }

    /// Calls `update` with `topic`'s series, made (at 0, all four) on its first use.
    fn topic(&self, topic: &str, update: impl FnOnce(&TopicSeries)) {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(series) = topics.get(topic) {
            return update(series);
        }
        drop(topics);
        let labels = TopicLabels { topic: topic.into() };
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        let series = topics.entry(labels.topic.clone()).or_insert_with(|| TopicSeries {
            produce_bytes: self.produce_bytes.get_or_create(&labels).clone(),
            produce_records: self.produce_records.get_or_create(&labels).clone(),
            fetch_bytes: self.fetch_bytes.get_or_create(&labels).clone(),
            fetch_records: self.fetch_records.get_or_create(&labels).clone(),
        });
        update(series)
    }

    /// Each topic's counters, for the topics produced to or fetched from since the start.
    pub fn topic_totals(&self) -> HashMap<String, TopicTotals> {
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        topics
            .iter()
            .map(|(name, series)| (name.clone(), series.totals()))
            .collect()
    }

    /// The broker-wide totals since the start.
    pub fn totals(&self) -> Totals {
        let requests = self.answers.by_api.iter().filter_map(OnceLock::get);
        let mut totals = Totals {
            requests: requests.map(|api| api.requests.get()).sum(),
            ..Totals::default()
        };
        let topics = self.topics.read().unwrap_or_else(PoisonError::into_inner);
        for topic in topics.values().map(TopicSeries::totals) {
            totals.produce_bytes += topic.produce_bytes;
            totals.produce_records += topic.produce_records;
            totals.fetch_bytes += topic.fetch_bytes;
        }
        totals
    }

    /// `listener` serves: its connection and authentication series start at 0, so they
    /// are in `/metrics` before anything happens on it.
    pub fn listener_serves(&self, listener: &str) {
        let labels = ListenerLabels {
            listener: listener.to_string(),
        };
        for family in [
            &self.connections_accepted,
            &self.connections_closed,
            &self.authentications,
            &self.authentication_failures,
            &self.reauthentications,
            &self.reauthentication_failures,
        ] {
            drop(family.get_or_create(&labels));
        }
        drop(self.connections_open.get_or_create(&labels));
    }

    /// A connection was accepted on `listener`; it counts as open until the guard is
    /// dropped.
    pub fn connection_opened(&self, listener: &str) -> OpenConnection {
        let labels = ListenerLabels {
            listener: listener.to_string(),
        };
        self.connections_accepted.get_or_create(&labels).inc();
        let open = self.connections_open.get_or_create(&labels).clone();
        open.inc();
        let closed = self.connections_closed.get_or_create(&labels).clone();
        OpenConnection { open, closed }
    }

    /// A connection on `listener` authenticated (SASL, or the TLS handshake of an SSL
    /// listener), or failed to (`succeeded` false).
    pub fn authentication(&self, listener: &str, succeeded: bool) {
        match succeeded {
            true => count(&self.authentications, listener),
            false => count(&self.authentication_failures, listener),
        }
    }

    /// A KIP-368 re-authentication of a connection on `listener` succeeded, or failed
    /// (`succeeded` false: the connection is closed).
    pub fn reauthentication(&self, listener: &str, succeeded: bool) {
        match succeeded {
            true => count(&self.reauthentications, listener),
            false => count(&self.reauthentication_failures, listener),
        }
    }
}

/// One more in `listener`'s series of `family`.
fn count(family: &Family<ListenerLabels, Counter>, listener: &str) {
    family
        .get_or_create(&ListenerLabels {
            listener: listener.to_string(),
        })
        .inc();
}

/// The registry `/metrics` encodes: the broker's counters, the flusher's fsyncs, and what
/// [`Scraped`] reads from the broker at each scrape.
pub fn registry(broker: Arc<Broker>) -> Registry {
    let mut registry = Registry::with_prefix("tidelog");
    let m = broker.metrics.clone();
    registry.register("requests", "Requests received, by API", m.answers.requests.clone());
    registry.register(
        "request_errors",
        "Error codes answered, by API and error (each one in a response: top level, per topic, per partition)",
        m.answers.errors.clone(),
    );
    registry.register_with_unit(
        "request_duration",
        "Time from a request's frame being read to its response being written, by API",
        Unit::Seconds,
        m.answers.total.clone(),
    );
    let phases = [
        ("request_queue_duration", "Time from a request's frame being read to its handler starting, by API", m.answers.queue.clone()),
        ("request_handling_duration", "Time in a request's handler, by API", m.answers.handling.clone()),
        (
            "request_waiting_duration",
            "Time from a request's handler returning to its response being made (awaiting an fsync, a long poll), by API",
            m.answers.waiting.clone(),
        ),
        (
            "response_queue_duration",
            "Time from a response being made to its write starting, behind the connection's earlier responses, by API",
            m.answers.response_queue.clone(),
        ),
        ("response_send_duration", "Time writing a response, by API", m.answers.send.clone()),
    ];
    for (name, help, histograms) in phases {
        registry.register_with_unit(name, help, Unit::Seconds, histograms);
    }
    registry.register_with_unit(
        "produce",
        "Record bytes produced, by topic",
        Unit::Bytes,
        m.produce_bytes,
    );
    registry.register("produce_records", "Records produced, by topic", m.produce_records);
    registry.register_with_unit("fetch", "Record bytes fetched, by topic", Unit::Bytes, m.fetch_bytes);
    registry.register(
        "fetch_records",
        "Records fetched, by topic (from batch headers; transaction markers left out)",
        m.fetch_records,
    );
    registry.register(
        "connections_accepted",
        "Client connections accepted, by listener",
        m.connections_accepted,
    );
    registry.register(
        "connections_open",
        "Client connections open, by listener",
        m.connections_open,
    );
    registry.register(
        "connections_closed",
        "Client connections closed, by listener",
        m.connections_closed,
    );
    registry.register(
        "authentications",
        "Connections that authenticated (SASL, or TLS on an SSL listener), by listener",
        m.authentications,
    );
    registry.register(
        "authentication_failures",
        "Connections that failed to authenticate (SASL refused, TLS handshake failed), by listener",
        m.authentication_failures,
    );
    registry.register(
        "reauthentications",
        "KIP-368 re-authentications of authenticated SASL connections, by listener",
        m.reauthentications,
    );
    registry.register(
        "reauthentication_failures",
        "KIP-368 re-authentications refused (the connection closed), by listener",
        m.reauthentication_failures,
    );
    registry.register_with_unit(
        "log_flush_duration",
        "fsyncs of partition logs by the group-commit flusher, and how long each took",
        Unit::Seconds,
        broker.partitions.flusher.fsync_seconds.clone(),
    );
    registry.register(
        "log_flush_appends",
        "Appends (a produce request's partition, an internal-topic write) each fsync of the group-commit flusher made durable",
        broker.partitions.flusher.fsync_appends.clone(),
    );
    registry.register_collector(Box::new(Scraped { broker }));
    registry
}

/// Figures read from the broker's state at scrape time.
struct Scraped {
    broker: Arc<Broker>,
}

impl std::fmt::Debug for Scraped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scraped")
    }
}

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let size = Family::<PartitionLabels, Gauge>::default();
        let start = Family::<PartitionLabels, Gauge>::default();
        let end = Family::<PartitionLabels, Gauge>::default();
        let high_watermarks = self.broker.partitions.high_watermarks();
        // A scrape opens no log: those not opened since a clean shutdown are summed up
        // from their directories.
        let per_partition = self.broker.config.metrics_partition_series_enable;
        let summaries = match per_partition {
            true => self.broker.partitions.summaries_by_dir(),
            false => Vec::new(),
        };
        for (tp, summary) in summaries.into_iter().flat_map(|(_, p)| p) {
            let labels = PartitionLabels {
                topic: tp.topic().to_string(),
                partition: tp.partition(),
            };
            size.get_or_create(&labels).set(summary.size_bytes as i64);
            start.get_or_create(&labels).set(summary.log_start_offset);
            end.get_or_create(&labels).set(summary.log_end_offset);
        }
        let dirty_ratio = Family::<PartitionLabels, Gauge<f64, AtomicU64>>::default();
        let last_cleaned = Family::<PartitionLabels, Gauge<f64, AtomicU64>>::default();
        let statuses = match per_partition {
            true => self.broker.partitions.cleaner_statuses(),
            false => Default::default(),
        };
        for (tp, status) in statuses {
            let labels = PartitionLabels {
                topic: tp.topic().to_string(),
                partition: tp.partition(),
            };
            dirty_ratio.get_or_create(&labels).set(status.dirty_ratio);
            if let Some(ms) = status.last_cleaned_ms {
                last_cleaned.get_or_create(&labels).set(ms as f64 / 1000.0);
            }
        }
        let lag = Family::<LagLabels, Gauge>::default();
        self.broker.groups.for_each(|group| {
            for ((topic, partition), committed) in &group.offsets {
                if let Some(high_watermark) = high_watermarks.get(&(topic.clone(), *partition)) {
                    let labels = LagLabels {
                        group: group.id.clone(),
                        topic: topic.clone(),
                        partition: *partition,
                    };
                    lag.get_or_create(&labels)
                        .set(group::lag(*high_watermark, committed.offset));
                }
            }
        });
        let partitions = Gauge::<i64>::default();
        partitions.set(high_watermarks.len() as i64);
        let process = ProcessStats::read();
        let files = tidelog_log::open_files_stats();
        let (open_files, files_budget, file_opens) = (
            Gauge::<i64>::default(),
            Gauge::<i64>::default(),
            Counter::<u64>::default(),
        );
        open_files.set(files.open as i64);
        files_budget.set(files.budget as i64);
        file_opens.inc_by(files.opens);

        let e = &mut encoder;
        encode_family(e, "partitions", "Partitions hosted.", None, &partitions)?;
        encode_family(
            e,
            "log_size",
            "Size of a partition's log on disk.",
            Some(&Unit::Bytes),
            &size,
        )?;
        encode_family(e, "log_start_offset", "A partition's first offset.", None, &start)?;
        encode_family(e, "log_end_offset", "A partition's next offset.", None, &end)?;
        let dirty_help =
            "A compacted partition's dirty ratio at the cleaner's last look, after its cleaning if it cleaned.";
        encode_family(e, "log_cleaner_dirty_ratio", dirty_help, None, &dirty_ratio)?;
        let cleaned_help = "When the cleaner last cleaned a compacted partition, in seconds since the epoch.";
        encode_family(
            e,
            "log_cleaner_last_cleaned_timestamp",
            cleaned_help,
            Some(&Unit::Seconds),
            &last_cleaned,
        )?;
        let open_help = "Segment and index files kept open now (log.open.files.max bounds them).";
        encode_family(e, "log_open_files", open_help, None, &open_files)?;
        let budget_help = "How many segment and index files may stay open at once (log.open.files.max).";
        encode_family(e, "log_open_files_budget", budget_help, None, &files_budget)?;
        let opens_help =
            "Segment and index files opened on use, after the file cache had closed them or before first use.";
        encode_family(e, "log_file_opens", opens_help, None, &file_opens)?;
        let lag_help = "High watermark minus the group's committed offset, per partition.";
        encode_family(e, "consumer_group_lag", lag_help, None, &lag)?;
        encode_quorum(e, &self.broker.metadata.quorum_status())?;
        encode_cluster(e, &self.broker)?;
        if let Some(process) = process {
            process.encode(e)?;
        }
        Ok(())
    }
}

/// The metadata quorum as this node sees it, as Kafka's `raft-metrics` show it
/// (current-leader, current-epoch, high-watermark, log-end-offset, current-state).
fn encode_quorum(e: &mut DescriptorEncoder, status: &QuorumStatus) -> Result<(), std::fmt::Error> {
    let after = |offset: Option<u64>| offset.map_or(0, |o| o as i64 + 1);
    let gauges = [
        (
            "quorum_leader",
            "The metadata quorum's leader's node id; -1 if none is known.",
            status.leader.map_or(-1, |id| id as i64),
        ),
        (
            "quorum_epoch",
            "The metadata quorum's epoch (Raft term).",
            status.epoch as i64,
        ),
        (
            "quorum_high_watermark",
            "The metadata log's high watermark as this node applied it: the offset after the last committed record.",
            after(status.committed_offset),
        ),
        (
            "quorum_log_end_offset",
            "The offset after this node's last metadata record.",
            after(status.last_offset),
        ),
        (
            "quorum_leader_is_self",
            "1 when this node leads the metadata quorum.",
            i64::from(status.role == "Leader"),
        ),
    ];
    encode_gauges(e, &gauges)
}

/// The cluster as this node's metadata image has it, as Kafka's controller reports it
/// (`kafka.controller:type=KafkaController`: ActiveBrokerCount, FencedBrokerCount,
/// GlobalTopicCount, GlobalPartitionCount, OfflinePartitionsCount), on every node.
fn encode_cluster(e: &mut DescriptorEncoder, broker: &Broker) -> Result<(), std::fmt::Error> {
    let image = broker.metadata.image();
    let fenced = image.brokers().values().filter(|b| b.fenced).count() as i64;
    let node_id = broker.config.node_id;
    let (mut partitions, mut offline, mut under_replicated, mut under_min_isr) = (0, 0, 0, 0);
    for topic in image.topics() {
        let min_insync = crate::topic_config::effective_i64(&broker.config, &topic.configs, "min.insync.replicas");
        for partition in 0..topic.partitions {
            partitions += 1;
            let view = crate::cluster::partition_view(broker, &image, topic, partition);
            offline += i64::from(view.error == tidelog_protocol::ErrorCode::LEADER_NOT_AVAILABLE);
            if view.leader == node_id {
                under_replicated += i64::from(view.isr.len() < view.replicas.len());
                under_min_isr += i64::from((view.isr.len() as i64) < min_insync);
            }
        }
    }
    let gauges = [
        (
            "cluster_active_brokers",
            "Registered brokers that are not fenced (0 on a node that is not one of a cluster).",
            image.brokers().len() as i64 - fenced,
        ),
        (
            "cluster_fenced_brokers",
            "Registered brokers fenced: no heartbeat within broker.session.timeout.ms, or not caught up yet.",
            fenced,
        ),
        (
            "cluster_topics",
            "Topics in the metadata.",
            image.topics().count() as i64,
        ),
        ("cluster_partitions", "Partitions in the metadata.", partitions),
        (
            "cluster_offline_partitions",
            "Partitions without a leader: no in-sync replica's broker is unfenced.",
            offline,
        ),
        (
            "under_replicated_partitions",
            "Partitions this broker leads with fewer in-sync replicas than replicas.",
            under_replicated,
        ),
        (
            "under_min_isr_partitions",
            "Partitions this broker leads with fewer in-sync replicas than min.insync.replicas.",
            under_min_isr,
        ),
    ];
    encode_gauges(e, &gauges)
}

/// One gauge family each of `gauges`: name, help and value.
fn encode_gauges(e: &mut DescriptorEncoder, gauges: &[(&str, &str, i64)]) -> Result<(), std::fmt::Error> {
    for &(name, help, value) in gauges {
        let gauge = Gauge::<i64>::default();
        gauge.set(value);
        encode_family(e, name, help, None, &gauge)?;
    }
    Ok(())
}

fn encode_family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    metric: &dyn EncodeMetric,
) -> Result<(), std::fmt::Error> {
    metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
}

/// The process's figures under the names Prometheus' client libraries give them
/// (`process_cpu_seconds_total`, ...), from /proc.
struct ProcessStats {
    cpu_seconds: f64,
    resident_bytes: i64,
    virtual_bytes: i64,
    open_fds: i64,
    max_fds: i64,
    start_time_seconds: f64,
}

impl ProcessStats {
    /// `None` where /proc is missing (not Linux).
    fn read() -> Option<ProcessStats> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let mut pages = statm.split_whitespace().map(|v| v.parse::<i64>().ok());
        let (virtual_pages, resident_pages) = (pages.next()??, pages.next()??);
        // proc(5)'s fields, numbered from 1; the command name (2) is in parentheses and may
        // hold spaces, so the count starts again after it, at the state (3).
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let after_name: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
        let field = |n: usize| after_name.get(n - 3)?.parse::<u64>().ok();
        let (user_ticks, system_ticks, start_ticks) = (field(14)?, field(15)?, field(22)?);
        let boot_time: u64 = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|line| line.strip_prefix("btime ")?.trim().parse().ok())?;
        // SAFETY: sysconf only reads system constants.
        let (page_size, ticks_per_second) = unsafe {
            (
                libc::sysconf(libc::_SC_PAGESIZE) as i64,
                libc::sysconf(libc::_SC_CLK_TCK) as f64,
            )
        };
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        Some(ProcessStats {
            cpu_seconds: (user_ticks + system_ticks) as f64 / ticks_per_second,
            resident_bytes: resident_pages * page_size,
            virtual_bytes: virtual_pages * page_size,
            // Less the descriptor reading the directory.
            open_fds: std::fs::read_dir("/proc/self/fd").ok()?.count() as i64 - 1,
            max_fds: i64::try_from(limit.rlim_cur).unwrap_or(i64::MAX),
            start_time_seconds: boot_time as f64 + start_ticks as f64 / ticks_per_second,
        })
    }

    fn encode(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let gauge = |value: i64| {
            let gauge = Gauge::<i64>::default();
            gauge.set(value);
            gauge
        };
        let cpu = Counter::<f64, AtomicU64>::default();
        cpu.inc_by(self.cpu_seconds);
        let start_time = Gauge::<f64, AtomicU64>::default();
        start_time.set(self.start_time_seconds);
        let (seconds, bytes) = (Some(&Unit::Seconds), Some(&Unit::Bytes));
        let cpu_help = "User and system CPU time the broker process used.";
        encode_family(e, "process_cpu", cpu_help, seconds, &cpu)?;
        let rss_help = "Resident set size of the broker process.";
        encode_family(
            e,
            "process_resident_memory",
            rss_help,
            bytes,
            &gauge(self.resident_bytes),
        )?;
        let virtual_help = "Virtual memory size of the broker process.";
        encode_family(
            e,
            "process_virtual_memory",
            virtual_help,
            bytes,
            &gauge(self.virtual_bytes),
        )?;
        let open_help = "Open file descriptors of the broker process.";
        encode_family(e, "process_open_fds", open_help, None, &gauge(self.open_fds))?;
        let max_help = "The broker process's limit of open file descriptors (RLIMIT_NOFILE, soft).";
        encode_family(e, "process_max_fds", max_help, None, &gauge(self.max_fds))?;
        let start_help = "When the broker process started, in seconds since the epoch.";
        encode_family(e, "process_start_time", start_help, seconds, &start_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The series cached by API and by topic are the families' own, and the console's
    /// totals are their sums.
    #[test]
    fn cached_series_are_the_families_and_totals_sum_them() {
        let metrics = Metrics::default();
        metrics.produced("a", 100, 3);
        metrics.produced("b", 50, 1);
        metrics.produced("a", 10, 1);
        metrics.fetched("b", 7, 2);
        for api in [ApiKey::Produce, ApiKey::Produce, ApiKey::Fetch] {
            metrics.request(api, Instant::now()).sent();
        }
        let topic = |name: &str| TopicLabels { topic: name.into() };
        assert_eq!(metrics.produce_bytes.get_or_create(&topic("a")).get(), 110);
        assert_eq!(metrics.produce_records.get_or_create(&topic("a")).get(), 4);
        assert_eq!(metrics.fetch_bytes.get_or_create(&topic("b")).get(), 7);
        assert_eq!(metrics.fetch_records.get_or_create(&topic("b")).get(), 2);
        assert_eq!(
            metrics.topic_totals()["a"],
            TopicTotals {
                produce_bytes: 110,
                produce_records: 4,
                ..TopicTotals::default()
            }
        );
        let produce = ApiLabels { api: "Produce" };
        assert_eq!(metrics.answers.requests.get_or_create(&produce).get(), 2);
        assert_eq!(
            metrics.totals(),
            Totals {
                requests: 3,
                produce_bytes: 160,
                produce_records: 5,
                fetch_bytes: 7,
            }
        );
    }
}
