//! `tidelog bench`: throughput, latency and footprint of a broker, measured with librdkafka,
//! the client the performance floors are stated for.
//!
//! `produce`, `consume` and `latency` run against a broker that is already running. `all`
//! starts brokers of its own (this binary's `serve` on temporary directories) and adds what
//! only the owner of the process can measure: its memory, how fast it starts, and how fast
//! it restarts after SIGKILL with a large log. `metadata` starts its own too, to time a large
//! CreateTopics and a start on a directory of many topics.
//!
//! Throughput counts record values only (no keys, headers or batch framing), in MB/s
//! (10^6 bytes, the unit of the floors) with MiB/s beside it.

mod broker_process;
mod cleaner;
mod cluster;
mod machine;
mod metadata;
mod partitions;
mod quota;
mod replication;
mod scrape;
mod work_dir;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::admin::AdminClient;
use crate::client::{self, TIMEOUT};
use crate::failure::Failure;
use crate::{interrupt, output, progress, topics};
use broker_process::{BrokerProcess, Rss};

/// The benchmark's clients' `client.id`.
const CLIENT_ID: &str = "tidelog-bench";

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Produce as fast as the broker takes records; reports MB/s and records/s.
    Produce(ProduceArgs),
    /// Consume every partition of a topic from its start to its current end.
    Consume(ConsumeArgs),
    /// Produce at a fixed rate with acks=all; reports delivery latency percentiles.
    Latency(LatencyArgs),
    /// Restart after SIGKILL with a large log, against a broker of its own. It writes about
    /// --restart-gb into --work-dir and refuses to start with less free space there.
    Restart(OwnBrokerArgs),
    /// The whole suite against brokers of its own, plus their memory, start and restart.
    ///
    /// With the defaults it runs about 80 s and writes up to about 21 GB into --work-dir:
    /// four produce runs of --duration at up to 500 MB/s, the latency run and --restart-gb.
    /// It refuses to start with less free space there. Its brokers and files are removed
    /// when it ends, also on Ctrl-C or SIGTERM (a second Ctrl-C ends it at once; its brokers
    /// still go with it).
    All(AllArgs),
    /// Metadata at scale, against brokers of its own: one CreateTopics request of
    /// --create-topics topics on a new data directory (timed --creates times), then a
    /// clean restart on a directory of --topics topics (timed --restarts times).
    ///
    /// With the defaults it writes 10,000 empty partitions (about 130 MB, mostly directory
    /// blocks) into --work-dir and runs for about a minute (each new partition is several
    /// fsyncs); the brokers need about 31,000 open files.
    Metadata(metadata::MetadataArgs),
    /// Three nodes of one cluster on loopback, against brokers of their own: CreateTopics of
    /// one topic to the quorum's leader (timed --creates times), Metadata for every topic with
    /// --partitions partitions over the three brokers and their memory, and controller
    /// failover (kill -9 of the quorum's leader until a CreateTopics is answered again,
    /// --failovers times).
    Cluster(cluster::ClusterArgs),
    /// Replication against brokers of its own (issue 13's figures): acks=all produce and
    /// latency to 8 partitions on one node and on three nodes with three replicas, and
    /// partition failover (kill -9 of a partition's leader to the first record acknowledged
    /// after it, --failovers times).
    ///
    /// With the defaults it runs for about two minutes and writes up to about 20 GB into
    /// --work-dir.
    Replication(replication::ReplicationArgs),
    /// Many partitions on one broker, against a broker of its own: --partitions partitions
    /// created and written a record each, then its memory at idle, Metadata for every topic
    /// and for one, a produce run to --produce-partitions partitions at once, and its start
    /// after a clean stop and after SIGKILL.
    ///
    /// With the defaults it makes 10,000 partitions and writes up to about 5 GB (the produce
    /// run) into --work-dir.
    Partitions(partitions::PartitionsArgs),
    /// The log cleaner against a broker of its own: MB/s of log cleaned (and per core) by
    /// its one thread, and produce and consume throughput on other partitions with the
    /// cleaner idle and while it cleans.
    ///
    /// With the defaults it writes two compacted topics of 2 GB and two produce runs of
    /// --duration into --work-dir, and runs for a few minutes.
    Cleaner(cleaner::CleanerArgs),
    /// A producer quota against a broker of its own: a producer offering --offered-mb MB/s
    /// under a --quota-mb MB/s `producer_byte_rate`, beside one without a quota.
    ///
    /// With the defaults it runs for about a minute and writes up to about 5 GB into
    /// --work-dir (three producers at 50 MB/s for 31 s, at most).
    Quota(quota::QuotaArgs),
}

#[derive(Args)]
struct Target {
    /// The topic (created with `--partitions` if missing).
    #[arg(long, default_value = "tidelog-bench")]
    topic: String,
}

#[derive(Args)]
struct Load {
    /// Partitions of the topic when it has to be created; records go round-robin over all
    /// of the topic's partitions.
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// Bytes of each record's value (records have no key).
    #[arg(long, default_value_t = RECORD_SIZE)]
    record_size: usize,
    /// The producer's `linger.ms`.
    #[arg(long, default_value_t = 5)]
    linger_ms: u32,
}

#[derive(Args)]
struct ProduceArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    load: Load,
    #[arg(long, value_enum, default_value = "all")]
    acks: Acks,
    /// Produce this many records (instead of for `--duration`).
    #[arg(long, conflicts_with = "duration")]
    records: Option<u64>,
    /// Seconds to produce for.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// GET http://HOST:PORT/metrics (the broker's HTTP listener) once a second while the
    /// run lasts, as Prometheus would, to measure what scraping costs the Kafka port.
    #[arg(long, value_name = "HOST:PORT")]
    scrape_metrics: Option<String>,
}

#[derive(Args)]
struct ConsumeArgs {
    #[command(flatten)]
    target: Target,
    /// The consumer's `fetch.max.bytes`, the most a Fetch response may hold (librdkafka's
    /// default, 52428800, when not given): the size of each response the client parses.
    #[arg(long)]
    fetch_max_bytes: Option<u32>,
}

#[derive(Args)]
struct LatencyArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    load: Load,
    /// Records per second.
    #[arg(long, default_value_t = 10_000)]
    rate: u32,
    /// Seconds to produce for.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
}

#[derive(Args)]
struct AllArgs {
    /// Seconds each throughput and latency run lasts.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Records per second of the latency run.
    #[arg(long, default_value_t = 10_000)]
    latency_rate: u32,
    /// How many times to time a start on an empty data directory (the median is reported).
    #[arg(long, default_value_t = 5)]
    starts: usize,
    #[command(flatten)]
    own: OwnBrokerArgs,
}

/// For the restart runs on brokers that `bench` starts itself.
#[derive(Args)]
struct OwnBrokerArgs {
    /// GB (10^9 bytes) of records written before the SIGKILL of the restart run.
    #[arg(long, default_value_t = 1.0)]
    restart_gb: f64,
    /// Partitions the restart run spreads its log over.
    #[arg(long, default_value_t = 100)]
    restart_partitions: i32,
    #[command(flatten)]
    broker: OwnBroker,
}

/// Which broker `bench` starts itself, and where.
#[derive(Args)]
struct OwnBroker {
    /// Where the brokers' temporary data directory goes (by default the system's, $TMPDIR
    /// or /tmp); removed afterwards.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// The `tidelog` binary whose `serve` is measured (this one by default), to compare
    /// builds with the same client: an older build's broker, driven by this benchmark.
    #[arg(long, visible_alias = "broker-bin")]
    broker: Option<PathBuf>,
}

impl OwnBroker {
    /// Runs `run` in a temporary directory for the brokers' data and logs that is removed
    /// afterwards, unless the run fails (its error names the log to read), and refused
    /// when its disk has less than `needed_bytes` free.
    fn in_work_dir<T>(&self, needed_bytes: f64, run: impl FnOnce(&Path) -> Result<T, String>) -> Result<T, Failure> {
        work_dir::in_work_dir(self.work_dir.as_deref(), needed_bytes, run)
    }

    fn exe(&self) -> Result<PathBuf, String> {
        match &self.broker {
            Some(path) => Ok(path.clone()),
            None => std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}")),
        }
    }
}

/// The values' size of every run on brokers of its own.
const RECORD_SIZE: usize = 1024;

/// The most a produce run writes per second: the fastest 1 KiB produce rate measured on the
/// project's machine, about 400 MB/s (docs/PERFORMANCE.md), with a margin.
const PRODUCE_BYTES_PER_S: f64 = 500e6;

/// A log's bytes per byte of record values: batch and record framing and the indexes add
/// about 1% (10.11 GB of log for 10 GB of values), with a margin.
const LOG_OVERHEAD: f64 = 1.05;

impl OwnBrokerArgs {
    fn in_work_dir<T>(&self, needed_bytes: f64, run: impl FnOnce(&Path) -> Result<T, String>) -> Result<T, Failure> {
        self.broker.in_work_dir(needed_bytes, run)
    }

    /// The bytes the restart run writes.
    fn restart_bytes(&self) -> f64 {
        self.restart_gb * 1e9 * LOG_OVERHEAD
    }

    fn broker(&self) -> Result<PathBuf, String> {
        self.broker.exe()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Acks {
    /// Answered once fsynced.
    All,
    /// Answered once written.
    #[value(name = "1")]
    One,
}

impl Acks {
    fn as_config(self) -> &'static str {
        match self {
            Acks::All => "all",
            Acks::One => "1",
        }
    }
}

impl fmt::Display for Acks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "acks={}", self.as_config())
    }
}

/// When a produce run stops.
#[derive(Clone, Copy)]
enum Amount {
    Records(u64),
    Duration(Duration),
}

impl Amount {
    fn done(self, sent: u64, started: Instant) -> bool {
        match self {
            Amount::Records(n) => sent >= n,
            Amount::Duration(d) => started.elapsed() >= d,
        }
    }

    /// The run's length in progress steps: records, or milliseconds.
    fn steps(self) -> u64 {
        match self {
            Amount::Records(n) => n,
            Amount::Duration(d) => d.as_millis() as u64,
        }
    }

    /// How far the run is, in [`Amount::steps`].
    fn step(self, sent: u64, started: Instant) -> u64 {
        match self {
            Amount::Records(_) => sent,
            Amount::Duration(_) => started.elapsed().as_millis() as u64,
        }
    }
}

pub fn run(args: BenchArgs, bootstrap: &str) -> Result<(), Failure> {
    match args.command {
        BenchCommand::Produce(a) => {
            let amount = match a.records {
                Some(n) => Amount::Records(n),
                None => Amount::Duration(Duration::from_secs_f64(a.duration)),
            };
            let scraper = a.scrape_metrics.map(scrape::Scraper::start);
            let produced = produce(bootstrap, &a.target.topic, &a.load, a.acks, amount);
            // Stopped before the run's result is looked at, so that a failed run stops it too.
            let scraped = scraper.map(scrape::Scraper::stop).transpose();
            match scraped? {
                Some(scrapes) => output::line(format!("{}; {scrapes}", produced?)),
                None => output::line(produced?),
            }
        }
        BenchCommand::Consume(a) => output::line(consume(bootstrap, &a.target.topic, a.fetch_max_bytes)?),
        BenchCommand::Latency(a) => output::line(latency(bootstrap, &a.target.topic, &a.load, a.rate, a.duration)?),
        BenchCommand::Restart(a) => {
            let exe = a.broker()?;
            let restart = a.in_work_dir(a.restart_bytes(), |work| {
                restart_after_kill(&exe, &work.join("restart"), &a)
            })?;
            output::line(restart)
        }
        BenchCommand::All(a) => a.own.in_work_dir(a.bytes_written(), |work| all(&a, work))?.print(),
        BenchCommand::Metadata(a) => metadata::run(&a),
        BenchCommand::Cluster(a) => cluster::run(&a),
        BenchCommand::Replication(a) => replication::run(&a),
        BenchCommand::Partitions(a) => partitions::run(&a),
        BenchCommand::Cleaner(a) => cleaner::run(&a),
        BenchCommand::Quota(a) => quota::run(&a),
    }
}

/// Records moved and the time it took, from the first record sent (or the assignment) to
/// the last one acknowledged (or received).
struct Throughput {
    records: u64,
    bytes: u64,
    elapsed: Duration,
}

impl Throughput {
    fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64()
    }
}

impl fmt::Display for Throughput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.elapsed.as_secs_f64();
        write!(
            f,
            "{:.1} MB/s ({:.1} MiB/s, {:.0} records/s; {} records in {seconds:.2} s)",
            self.mb_per_s(),
            self.bytes as f64 / (1 << 20) as f64 / seconds,
            self.records as f64 / seconds,
            self.records
        )
    }
}

/// Delivery latency percentiles, from librdkafka's own clock: `produce()` to acknowledgement.
struct Latencies {
    rate: u32,
    records: usize,
    p50: Duration,
    p99: Duration,
    p999: Duration,
    max: Duration,
}

impl fmt::Display for Latencies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms, max {:.2} ms ({} records at {}/s)",
            ms(self.p50),
            ms(self.p99),
            ms(self.p999),
            ms(self.max),
            self.records,
            self.rate
        )
    }
}

/// A producer tuned for throughput: `linger.ms` as asked, batches bounded by bytes (1 MB,
/// just under the broker's `message.max.bytes`) rather than by count, no compression. The
/// queue defaults (100,000 records, 1 GiB) keep plenty in flight. A thread of its own
/// serves the delivery reports.
fn producer(
    bootstrap: &str,
    acks: Acks,
    linger_ms: u32,
    keep_latencies: bool,
) -> Result<ThreadedProducer<Deliveries>, String> {
    producer_as(bootstrap, CLIENT_ID, acks, linger_ms, keep_latencies, &[])
}

/// [`producer`] under another `client.id` (a quota's), with `extra` settings.
fn producer_as(
    bootstrap: &str,
    client_id: &str,
    acks: Acks,
    linger_ms: u32,
    keep_latencies: bool,
    extra: &[(&str, &str)],
) -> Result<ThreadedProducer<Deliveries>, String> {
    let mut config = client::client_config(bootstrap, client_id);
    config
        .set("acks", acks.as_config())
        .set("linger.ms", linger_ms.to_string())
        .set("batch.size", "1000000")
        .set("batch.num.messages", "1000000")
        .set("compression.type", "none");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config
        .create_with_context(Deliveries::new(keep_latencies))
        .map_err(|e| format!("cannot create the producer: {e}"))
}

/// Counts delivery reports, and keeps each record's latency when asked to.
struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    latencies: Option<Mutex<Vec<Duration>>>,
}

impl Deliveries {
    fn new(keep_latencies: bool) -> Deliveries {
        Deliveries {
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            first_error: Mutex::new(None),
            latencies: keep_latencies.then(|| Mutex::new(Vec::new())),
        }
    }

    /// Waits until `sent` records have had their delivery reports and returns the moment
    /// they all had; fails the run unless every one was acknowledged.
    fn wait_for(&self, sent: u64, timeout: Duration) -> Result<Instant, String> {
        let deadline = Instant::now() + timeout;
        let counts = || {
            (
                self.delivered.load(Ordering::Relaxed),
                self.failed.load(Ordering::Relaxed),
            )
        };
        while counts().0 + counts().1 < sent && Instant::now() < deadline {
            interrupt::check()?;
            std::thread::sleep(Duration::from_millis(1));
        }
        let done = Instant::now();
        let (delivered, failed) = counts();
        if failed > 0 || delivered != sent {
            let error = self.first_error.lock().unwrap_or_else(|e| e.into_inner()).clone();
            return Err(format!(
                "{delivered} of {sent} records acknowledged, {failed} failed (first error: {})",
                error.as_deref().unwrap_or("none")
            ));
        }
        Ok(done)
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(message) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                if let Some(latencies) = &self.latencies {
                    // SAFETY: the message is valid for the duration of the delivery callback.
                    let micros = unsafe { rdkafka::bindings::rd_kafka_message_latency(message.ptr()) };
                    let latency = Duration::from_micros(micros.max(0) as u64);
                    latencies.lock().unwrap_or_else(|e| e.into_inner()).push(latency);
                }
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// The topic's partition count, creating it with `partitions` first if it does not exist.
/// Through the admin API: a producer's metadata request would auto-create it with the
/// broker's default partition count instead. The admin client speaks plain TCP only, so
/// over TLS (`-X security.protocol=ssl`) the topic must exist already (made through a
/// PLAINTEXT listener) and librdkafka's metadata tells its partitions.
fn ensure_topic(bootstrap: &str, topic: &str, partitions: i32) -> Result<i32, String> {
    if client::over_tls() {
        let consumer: BaseConsumer = client::client_config(bootstrap, CLIENT_ID)
            .create()
            .map_err(|e| format!("create a consumer: {e}"))?;
        let metadata = consumer
            .fetch_metadata(Some(topic), TIMEOUT)
            .map_err(|e| format!("metadata of {topic}: {e}"))?;
        return match metadata.topics().first() {
            Some(found) if found.error().is_none() && !found.partitions().is_empty() => {
                Ok(found.partitions().len() as i32)
            }
            _ => Err(format!(
                "over TLS the topic must exist: create {topic} through a PLAINTEXT listener first"
            )),
        };
    }
    let mut admin = AdminClient::connect(bootstrap)?;
    if let Some(existing) = admin.topic(topic)? {
        return Ok(existing.partitions.len() as i32);
    }
    topics::create(&mut admin, topic, partitions, 1, &[])?;
    Ok(admin.existing_topic(topic)?.partitions.len() as i32)
}

/// Record values that do not compress to nothing (no compression is used, but a broker
/// must not get away with anything clever).
fn payload(size: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Sends one record and waits for it, so connections and metadata are in place before the
/// clock starts.
fn warm_up(producer: &ThreadedProducer<Deliveries>, topic: &str, value: &[u8]) -> Result<(), String> {
    send(producer, topic, 0, value)?;
    producer.context().wait_for(1, TIMEOUT).map(|_| ())
}

/// Sends one record without a key to `partition`, waiting while the producer's queue is full.
fn send(producer: &ThreadedProducer<Deliveries>, topic: &str, partition: i32, value: &[u8]) -> Result<(), String> {
    send_keyed(producer, topic, partition, None, value)
}

/// Sends one record to `partition`, waiting while the producer's queue is full.
fn send_keyed(
    producer: &ThreadedProducer<Deliveries>,
    topic: &str,
    partition: i32,
    key: Option<&[u8]>,
    value: &[u8],
) -> Result<(), String> {
    loop {
        interrupt::check()?;
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(value).partition(partition);
        if let Some(key) = key {
            record = record.key(key);
        }
        match producer.send(record) {
            Ok(()) => return Ok(()),
            // A sleep, not rdkafka's poll, which spins through its last millisecond and
            // would take CPU from the broker on the same two cores.
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(format!("produce: {e}")),
        }
    }
}

/// Produces round-robin over the topic's partitions. Explicit partitions rather than
/// librdkafka's sticky partitioner, which would send to one partition at a time.
fn produce(bootstrap: &str, topic: &str, load: &Load, acks: Acks, amount: Amount) -> Result<Throughput, String> {
    let partitions = ensure_topic(bootstrap, topic, load.partitions)?;
    let producer = producer(bootstrap, acks, load.linger_ms, false)?;
    let value = payload(load.record_size);
    warm_up(&producer, topic, &value)?;
    let progress = progress::steps(amount.steps(), "producing");
    let started = Instant::now();
    let mut sent = 0u64;
    while !amount.done(sent, started) {
        send(&producer, topic, (sent % partitions as u64) as i32, &value)?;
        sent += 1;
        if sent % 4096 == 0 {
            progress.set_position(amount.step(sent, started));
        }
    }
    progress.finish_and_clear();
    let done = producer.context().wait_for(sent + 1, Duration::from_secs(300))?;
    Ok(Throughput {
        records: sent,
        bytes: sent * load.record_size as u64,
        elapsed: done - started,
    })
}

/// Sends `rate` records a second for `duration` seconds, each at its due time, and takes
/// the percentiles of their delivery latencies.
fn latency(bootstrap: &str, topic: &str, load: &Load, rate: u32, duration: f64) -> Result<Latencies, String> {
    let partitions = ensure_topic(bootstrap, topic, load.partitions)?;
    let producer = producer(bootstrap, Acks::All, load.linger_ms, true)?;
    let value = payload(load.record_size);
    warm_up(&producer, topic, &value)?;
    let latencies = producer.context().latencies.as_ref().expect("kept");
    latencies.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let total = (f64::from(rate) * duration) as u64;
    let started = Instant::now();
    for i in 0..total {
        let due = started + Duration::from_secs_f64(i as f64 / f64::from(rate));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        send(&producer, topic, (i % partitions as u64) as i32, &value)?;
    }
    producer.context().wait_for(total + 1, TIMEOUT)?;
    let mut samples = std::mem::take(&mut *latencies.lock().unwrap_or_else(|e| e.into_inner()));
    samples.sort_unstable();
    let max = *samples.last().ok_or("no record was sent: raise --rate or --duration")?;
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Ok(Latencies {
        rate,
        records: samples.len(),
        p50: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
        max,
    })
}

/// Reads every partition from its start to its end at the time of the call, through
/// `assign` (no consumer group protocol). librdkafka's fetch defaults already favour
/// throughput (up to 50 MB per response, 1 MiB per partition, 64 MiB prefetched);
/// `fetch_max_bytes` overrides the first.
fn consume(bootstrap: &str, topic: &str, fetch_max_bytes: Option<u32>) -> Result<Throughput, String> {
    let mut config = client::client_config(bootstrap, CLIENT_ID);
    // librdkafka's assign() needs a group id; no offsets are committed.
    config
        .set("group.id", "tidelog-bench")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    if let Some(bytes) = fetch_max_bytes {
        config.set("fetch.max.bytes", bytes.to_string());
    }
    let consumer: BaseConsumer = config
        .create()
        .map_err(|e| format!("cannot create the consumer: {e}"))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), TIMEOUT)
        .map_err(|e| format!("cannot read metadata: {e}"))?;
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .ok_or_else(|| format!("no topic {topic}"))?;
    let mut assignment = TopicPartitionList::new();
    let mut expected = 0;
    for partition in found.partitions() {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition.id(), TIMEOUT)
            .map_err(|e| format!("cannot read the offsets of partition {}: {e}", partition.id()))?;
        expected += (high - low).max(0) as u64;
        assignment
            .add_partition_offset(topic, partition.id(), Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    let started = Instant::now();
    consumer.assign(&assignment).map_err(|e| format!("assign: {e}"))?;
    let (mut records, mut bytes) = (0u64, 0u64);
    while records < expected {
        interrupt::check()?;
        match consumer.poll(TIMEOUT) {
            Some(Ok(message)) => {
                records += 1;
                bytes += message.payload_len() as u64;
            }
            Some(Err(e)) => return Err(format!("consume: {e}")),
            None => return Err(format!("no record for {TIMEOUT:?} after {records} of {expected}")),
        }
    }
    Ok(Throughput {
        records,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// Floors from the issue (MB/s, MB and time).
const PRODUCE_8_FLOOR: f64 = 250.0;
const PRODUCE_1_FLOOR: f64 = 180.0;
const CONSUME_FLOOR: f64 = 800.0;
const RSS_FLOOR_MB: f64 = 150.0;
const START_FLOOR: Duration = Duration::from_millis(50);
const RESTART_FLOOR: Duration = Duration::from_secs(5);

/// The results of `bench all`, each with how busy the machine was.
#[derive(Default)]
struct Table {
    rows: Vec<String>,
}

impl Table {
    /// Adds a row; `floor` is the floor's text and whether it was met, `others` the cores
    /// other processes kept busy during the run, where measured.
    fn add(&mut self, what: &str, measured: &dyn fmt::Display, floor: Option<(&str, bool)>, others: Option<f64>) {
        let load = machine::load_average();
        let others = others.map_or("–".into(), |cores| format!("{cores:.2}"));
        output::error_line(format_args!(
            "{what}: {measured} (load {load:.2}, other processes {others} cores)"
        ));
        let (floor, verdict) = match floor {
            Some((text, true)) => (text, "met"),
            Some((text, false)) => (text, "**missed**"),
            None => ("–", ""),
        };
        self.rows.push(format!(
            "| {what} | {measured} | {floor} | {verdict} | {load:.2} | {others} |"
        ));
    }

    fn print(&self) -> Result<(), Failure> {
        output::line("| measurement | result | floor | | load (1 min) | cores used by others |")?;
        output::line("| --- | --- | --- | --- | --- | --- |")?;
        for row in &self.rows {
            output::line(row)?;
        }
        Ok(())
    }
}

impl AllArgs {
    /// The most bytes `all` writes: four produce runs of `duration` (the produce rows),
    /// the latency run and the restart run.
    fn bytes_written(&self) -> f64 {
        let produce = 4.0 * self.duration * PRODUCE_BYTES_PER_S;
        let latency = f64::from(self.latency_rate) * self.duration * RECORD_SIZE as f64 * LOG_OVERHEAD;
        produce + latency + self.own.restart_bytes()
    }
}

fn all(args: &AllArgs, work: &Path) -> Result<Table, String> {
    let exe = args.own.broker()?;
    let mut table = Table::default();

    let mut starts = Vec::new();
    for i in 0..args.starts.max(1) {
        let (broker, ready) = BrokerProcess::start(&exe, &work.join(format!("start-{i}")))?;
        broker.kill()?;
        starts.push(ready);
    }
    starts.sort_unstable();
    let median = starts[starts.len() / 2];
    let slowest = *starts.last().expect("one start");
    table.add(
        &format!(
            "start to accepting connections, empty data dir (median of {})",
            starts.len()
        ),
        &format!("{:.1} ms (slowest {:.1} ms)", ms(median), ms(slowest)),
        Some(("≤ 50 ms", median <= START_FLOOR)),
        None,
    );

    let (broker, _) = BrokerProcess::start(&exe, &work.join("suite"))?;
    let measured = [broker.pid()];
    let bootstrap = broker.addr.to_string();
    let amount = Amount::Duration(Duration::from_secs_f64(args.duration));
    let load = |partitions| Load {
        partitions,
        record_size: RECORD_SIZE,
        linger_ms: 5,
    };
    let produce_row = |table: &mut Table, partitions: i32, acks: Acks, floor: Option<(&str, f64)>| {
        let topic = format!("p{partitions}-{}", acks.as_config());
        let (result, others) = machine::others_during(&measured, || {
            produce(&bootstrap, &topic, &load(partitions), acks, amount)
        })?;
        table.add(
            &format!("produce 1 KiB records, {partitions} partition(s), {acks}"),
            &result,
            floor.map(|(text, f)| (text, result.mb_per_s() >= f)),
            Some(others),
        );
        Ok::<_, String>(())
    };
    produce_row(&mut table, 8, Acks::All, Some(("≥ 250 MB/s", PRODUCE_8_FLOOR)))?;
    // Read right after it was written, as a produce-then-consume perf test does, before the
    // next runs push it out of the page cache.
    let (result, others) = machine::others_during(&measured, || consume(&bootstrap, "p8-all", None))?;
    table.add(
        "consume from the start of 8 partitions",
        &result,
        Some(("≥ 800 MB/s", result.mb_per_s() >= CONSUME_FLOOR)),
        Some(others),
    );
    // The same read with 1 MiB responses: what the broker serves when librdkafka's fetch
    // thread is not held up by 8 MB responses (docs/PERFORMANCE.md). No floor: the floor's
    // row keeps the client's defaults.
    let (result, others) = machine::others_during(&measured, || consume(&bootstrap, "p8-all", Some(1 << 20)))?;
    table.add(
        "consume again, 1 MiB responses (consumer fetch.max.bytes)",
        &result,
        None,
        Some(others),
    );
    produce_row(&mut table, 8, Acks::One, None)?;
    produce_row(&mut table, 1, Acks::All, Some(("≥ 180 MB/s", PRODUCE_1_FLOOR)))?;
    produce_row(&mut table, 1, Acks::One, None)?;
    let (result, others) = machine::others_during(&measured, || {
        latency(&bootstrap, "latency", &load(8), args.latency_rate, args.duration)
    })?;
    table.add(
        "produce latency, 1 KiB records, 8 partitions, acks=all",
        &result,
        None,
        Some(others),
    );
    let rss = broker.rss()?;
    table.add(
        "broker RSS during the runs above",
        &rss,
        Some(("≤ 150 MB", rss.peak_mb() <= RSS_FLOOR_MB)),
        None,
    );
    broker.kill()?;

    let restart = restart_after_kill(&exe, &work.join("restart"), &args.own)?;
    table.add(
        &format!(
            "restart after SIGKILL, {:.2} GB of log in {} partitions",
            restart.log_bytes as f64 / 1e9,
            restart.partitions
        ),
        &restart,
        // The floor is stated for 10 GB; a smaller log proves nothing about it.
        (restart.log_bytes >= 10_000_000_000).then_some(("≤ 5 s", restart.ready <= RESTART_FLOOR)),
        None,
    );
    Ok(table)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Restart {
    partitions: i32,
    log_bytes: u64,
    ready: Duration,
    rss: Rss,
    fill: Throughput,
}

impl fmt::Display for Restart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.2} s to the first answer, {:.2} GB in {} partitions (then {}; filled at {})",
            self.ready.as_secs_f64(),
            self.log_bytes as f64 / 1e9,
            self.partitions,
            self.rss,
            self.fill
        )
    }
}

/// Fills a log with acks=1, SIGKILLs the broker, and times a restart on the same data up to
/// its first answer; then checks that every acknowledged record is still there.
fn restart_after_kill(exe: &Path, dir: &Path, args: &OwnBrokerArgs) -> Result<Restart, String> {
    let (broker, _) = BrokerProcess::start(exe, dir)?;
    let topic = "restart";
    let partitions = args.restart_partitions;
    let load = Load {
        partitions,
        record_size: RECORD_SIZE,
        linger_ms: 5,
    };
    let records = (args.restart_gb * 1e9 / load.record_size as f64) as u64;
    let fill = produce(
        &broker.addr.to_string(),
        topic,
        &load,
        Acks::One,
        Amount::Records(records),
    )?;
    broker.kill()?;
    let log_bytes = broker_process::log_bytes(dir)?;

    let (broker, ready) = BrokerProcess::start(exe, dir)?;
    let rss = broker.rss()?;
    let consumer: BaseConsumer = client::client_config(&broker.addr.to_string(), CLIENT_ID)
        .create()
        .map_err(|e| e.to_string())?;
    let mut found = 0;
    for partition in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, TIMEOUT)
            .map_err(|e| format!("cannot read the offsets of partition {partition}: {e}"))?;
        found += (high - low) as u64;
    }
    // The warm-up record counts too.
    if found != records + 1 {
        return Err(format!(
            "after the restart the log holds {found} records, not the {} acknowledged",
            records + 1
        ));
    }
    broker.kill()?;
    Ok(Restart {
        partitions,
        log_bytes,
        ready,
        rss,
        fill,
    })
}
