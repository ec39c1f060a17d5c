//! `tidelog bench metadata`: what the metadata store costs at scale, on brokers of its own
//! (any `tidelog` binary's `serve`, so that two builds' stores compare with one client):
//!
//! - one CreateTopics request creating `--create-topics` topics of one partition each, on
//!   a new data directory, timed from the request sent to its response read;
//! - a start on a directory of `--topics` topics: the last timed request's directory,
//!   filled with more topics of `--fill-partitions` partitions and `--fill-configs` config
//!   overrides each, then stopped cleanly (SIGTERM) and started again, timed to the
//!   broker's `listening` line (its own `startup_ms`) and to its first answer.
//!
//! Metadata records are counted as Kafka's controller writes them for these topics: a
//! TopicRecord per topic, a PartitionRecord per partition and a ConfigRecord per config
//! override, besides the few records of the log's format and each start (features, leader
//! changes). Config overrides make the records many without many partitions: a broker holds
//! three files open per partition (segment, offset and time index), so 100,000 partitions
//! would need 300,000 file descriptors, far over common limits; the run checks the limit
//! first.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use tidelog_broker::open_files;
use tidelog_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig, CreateTopicsRequest};

use super::broker_process::BrokerProcess;
use super::{ms, OwnBroker};
use crate::admin::{check, AdminClient};
use crate::failure::Failure;
use crate::{interrupt, output};

/// How long one CreateTopics request may take: thousands of new partitions, each several
/// fsyncs.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// Disk an empty partition takes, with a margin: its directory's block, `partition.metadata`
/// and checkpoints of a block each; its empty segment and sparse indexes take none.
const BYTES_PER_PARTITION: f64 = 32.0 * 1024.0;

/// Files a broker without a budget of open files holds per partition (the active segment,
/// its offset and time indexes), and besides them (connections, its own log, the metadata).
const FILES_PER_PARTITION: u64 = 3;
const OTHER_FILES: u64 = 1000;

/// The config overrides of the topics that fill the directory, each at its default value,
/// so the broker behaves as without them: Kafka's topic configs that Tidelog takes.
const FILL_CONFIGS: [(&str, &str); 23] = [
    ("cleanup.policy", "delete"),
    ("compression.type", "producer"),
    ("delete.retention.ms", "86400000"),
    ("file.delete.delay.ms", "60000"),
    ("flush.messages", "9223372036854775807"),
    ("flush.ms", "9223372036854775807"),
    ("index.interval.bytes", "4096"),
    ("max.compaction.lag.ms", "9223372036854775807"),
    ("max.message.bytes", "1048588"),
    ("message.timestamp.after.max.ms", "3600000"),
    ("message.timestamp.before.max.ms", "9223372036854775807"),
    ("message.timestamp.type", "CreateTime"),
    ("min.cleanable.dirty.ratio", "0.5"),
    ("min.compaction.lag.ms", "0"),
    ("min.insync.replicas", "1"),
    ("preallocate", "false"),
    ("retention.bytes", "-1"),
    ("retention.ms", "604800000"),
    ("segment.bytes", "1073741824"),
    ("segment.index.bytes", "10485760"),
    ("segment.jitter.ms", "0"),
    ("segment.ms", "604800000"),
    ("unclean.leader.election.enable", "false"),
];

#[derive(Args)]
pub struct MetadataArgs {
    /// Topics of the timed CreateTopics request, one partition each.
    #[arg(long, default_value_t = 1000)]
    create_topics: usize,
    /// How many times the request is timed, each on a new data directory (the median is
    /// reported).
    #[arg(long, default_value_t = 3)]
    creates: usize,
    /// Topics in the data directory the start is timed on: the timed request's, then topics
    /// of --fill-partitions partitions and --fill-configs config overrides each. The
    /// defaults give 10,000 topics and partitions and 100,000 metadata records (TopicRecords,
    /// PartitionRecords and ConfigRecords); the broker needs about 31,000 open files.
    #[arg(long, default_value_t = 10_000)]
    topics: usize,
    /// Partitions of each topic added to fill the directory.
    #[arg(long, default_value_t = 1)]
    fill_partitions: i32,
    /// Config overrides of each topic added to fill the directory (at most 23), each a
    /// ConfigRecord: the first of Kafka's topic configs, at their defaults.
    #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(u8).range(0..=23))]
    fill_configs: u8,
    /// Topics per CreateTopics request while filling (untimed).
    #[arg(long, default_value_t = 100)]
    fill_batch: usize,
    /// How many times the start on the filled directory is timed, each after a clean stop
    /// (the median is reported).
    #[arg(long, default_value_t = 3)]
    restarts: usize,
    #[command(flatten)]
    own: OwnBroker,
}

impl MetadataArgs {
    fn fill_topics(&self) -> usize {
        self.topics.saturating_sub(self.create_topics)
    }

    /// Partitions of the filled directory.
    fn partitions(&self) -> u64 {
        (self.create_topics.min(self.topics) + self.fill_topics() * self.fill_partitions.max(0) as usize) as u64
    }

    /// Config overrides in the filled directory.
    fn configs(&self) -> u64 {
        (self.fill_topics() * usize::from(self.fill_configs)) as u64
    }

    /// TopicRecords, PartitionRecords and ConfigRecords of the filled directory.
    fn records(&self) -> u64 {
        self.topics as u64 + self.partitions() + self.configs()
    }
}

/// Raises this process's limit of open files (which the brokers inherit) to the hard one
/// and checks it holds what a broker keeping `partitions` partitions open needs: builds
/// before `log.open.files.max` keep every partition's files open.
fn open_files_for(partitions: u64) -> Result<(), String> {
    let needed = partitions * FILES_PER_PARTITION + OTHER_FILES;
    let limit = open_files::raise_limit().map_err(|e| format!("cannot raise the open files limit: {e}"))?;
    if limit.hard < needed {
        return Err(format!(
            "a broker holding {partitions} partitions needs about {needed} open files, and this \
             process may open at most {} (ulimit -Hn): create fewer partitions (--topics, \
             --fill-partitions; --fill-configs makes the records many) or raise the limit",
            limit.hard
        ));
    }
    Ok(())
}

pub fn run(args: &MetadataArgs) -> Result<(), Failure> {
    let exe = args.own.exe()?;
    open_files_for(args.partitions())?;
    let created = (args.creates.max(1) * args.create_topics) as u64;
    let needed = (args.partitions() + created) as f64 * BYTES_PER_PARTITION;
    let report = args.own.in_work_dir(needed, |work| measure(args, &exe, work))?;
    report.print()?;
    Ok(())
}

struct Report {
    broker: PathBuf,
    create_topics: usize,
    creates: Vec<Duration>,
    topics: usize,
    partitions: u64,
    configs: u64,
    records: u64,
    fill: Duration,
    disk_bytes: u64,
    metadata_bytes: u64,
    stop: Duration,
    /// The broker's own start times (`startup_ms`); empty if its log line has none.
    startups: Vec<Duration>,
    /// From spawning the broker to its first answer.
    readies: Vec<Duration>,
}

impl Report {
    fn print(&self) -> Result<(), Failure> {
        let runs = |times: &[Duration]| {
            let each: Vec<String> = times.iter().map(|t| format!("{:.0}", ms(*t))).collect();
            format!("median {:.0} ms (runs: {} ms)", ms(median(times)), each.join(", "))
        };
        output::line(format_args!("broker: {}", self.broker.display()))?;
        output::line(format_args!(
            "CreateTopics of {} topics (1 partition each) in one request: {}",
            self.create_topics,
            runs(&self.creates)
        ))?;
        output::line(format_args!(
            "filled to {} topics, {} partitions, {} config overrides ({} TopicRecords, \
             PartitionRecords and ConfigRecords) in {:.1} s; {:.0} MB on disk, {:.1} MB of it \
             metadata; clean stop in {:.1} s",
            self.topics,
            self.partitions,
            self.configs,
            self.records,
            self.fill.as_secs_f64(),
            self.disk_bytes as f64 / 1e6,
            self.metadata_bytes as f64 / 1e6,
            self.stop.as_secs_f64()
        ))?;
        if !self.startups.is_empty() {
            output::line(format_args!(
                "start on it, to listening (the broker's startup_ms): {}",
                runs(&self.startups)
            ))?;
        }
        output::line(format_args!(
            "start on it, to the first answer: {}",
            runs(&self.readies)
        ))?;
        Ok(())
    }
}

/// Writes back everything dirty and waits a moment, so each timed run starts on an idle
/// disk: on a virtual disk, what an earlier run left (a directory it filled or deleted) is
/// otherwise written back during the next, which then measures the order of the runs.
pub(super) fn settle() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    std::thread::sleep(Duration::from_secs(1));
}

fn measure(args: &MetadataArgs, exe: &Path, work: &Path) -> Result<Report, String> {
    let names = |range: std::ops::Range<usize>| range.map(|i| format!("t{i:05}")).collect::<Vec<_>>();
    let count = args.creates.max(1);
    let mut creates = Vec::new();
    let mut kept = None;
    for i in 0..count {
        let dir = work.join(format!("create-{i}"));
        let (broker, _) = BrokerProcess::start(exe, &dir)?;
        let mut admin = AdminClient::connect(&broker.addr.to_string())?;
        admin.set_timeout(REQUEST_TIMEOUT)?;
        settle();
        let took = create_topics(&mut admin, &names(0..args.create_topics), 1, &[])?;
        output::error_line(format_args!(
            "CreateTopics of {} topics: {:.0} ms",
            args.create_topics,
            ms(took)
        ));
        creates.push(took);
        if i + 1 < count {
            // Its directory is kept until the end: ext4 skips recently freed inodes when it
            // allocates new ones, so thousands of files deleted here would slow the next run's
            // creations (seen with perf: most of a request in ext4's inode allocator).
            broker.stop()?;
        } else {
            kept = Some((broker, admin, dir));
        }
    }
    let (broker, mut admin, dir) = kept.expect("at least one create");

    let started = Instant::now();
    let fill = names(args.create_topics..args.topics);
    for (i, batch) in fill.chunks(args.fill_batch.max(1)).enumerate() {
        interrupt::check()?;
        let configs = &FILL_CONFIGS[..usize::from(args.fill_configs)];
        create_topics(&mut admin, batch, args.fill_partitions, configs)?;
        if (i + 1) % 10 == 0 {
            output::error_line(format_args!(
                "filling: {} of {} topics added, {:.0} s",
                (i + 1) * args.fill_batch,
                fill.len(),
                started.elapsed().as_secs_f64()
            ));
        }
    }
    let fill_time = started.elapsed();
    drop(admin);
    let stopping = Instant::now();
    broker.stop()?;
    let stop = stopping.elapsed();
    let disk_bytes = disk_bytes(&dir)?;
    let metadata_bytes = metadata_bytes(&dir)?;

    let mut startups = Vec::new();
    let mut readies = Vec::new();
    for i in 0..args.restarts.max(1) {
        interrupt::check()?;
        settle();
        let (broker, ready) = BrokerProcess::start(exe, &dir)?;
        if i == 0 {
            let mut admin = AdminClient::connect(&broker.addr.to_string())?;
            admin.set_timeout(REQUEST_TIMEOUT)?;
            let found = admin.topics()?;
            let partitions: usize = found.iter().map(|t| t.partitions.len()).sum();
            if (found.len(), partitions as u64) != (args.topics, args.partitions()) {
                return Err(format!(
                    "after the restart the broker has {} topics and {partitions} partitions, not {} and {}",
                    found.len(),
                    args.topics,
                    args.partitions()
                ));
            }
        }
        output::error_line(format_args!(
            "start on {} topics: {} ms to listening, {:.0} ms to the first answer",
            args.topics,
            broker.startup.map_or("?".into(), |s| format!("{:.0}", ms(s))),
            ms(ready)
        ));
        startups.extend(broker.startup);
        readies.push(ready);
        broker.stop()?;
    }
    Ok(Report {
        broker: exe.to_path_buf(),
        create_topics: args.create_topics,
        creates,
        topics: args.topics,
        partitions: args.partitions(),
        configs: args.configs(),
        records: args.records(),
        fill: fill_time,
        disk_bytes,
        metadata_bytes,
        stop,
        startups,
        readies,
    })
}

/// Creates `names` with `partitions` partitions and `configs` each in one CreateTopics
/// request, and returns the time from sending it to its response; fails unless every topic
/// was created.
pub(super) fn create_topics(
    admin: &mut AdminClient,
    names: &[String],
    partitions: i32,
    configs: &[(&str, &str)],
) -> Result<Duration, String> {
    let configs: Vec<_> = configs
        .iter()
        .map(|(name, value)| CreatableTopicConfig {
            name: name.to_string(),
            value: Some(value.to_string()),
            ..Default::default()
        })
        .collect();
    let request = CreateTopicsRequest {
        topics: names
            .iter()
            .map(|name| CreatableTopic {
                name: name.clone(),
                num_partitions: partitions,
                replication_factor: 1,
                configs: configs.clone(),
                ..Default::default()
            })
            .collect(),
        timeout_ms: REQUEST_TIMEOUT.as_millis() as i32,
        ..Default::default()
    };
    let started = Instant::now();
    let response = admin.call(request)?;
    let took = started.elapsed();
    if response.topics.len() != names.len() {
        return Err(format!(
            "CreateTopics of {} topics answered {} results",
            names.len(),
            response.topics.len()
        ));
    }
    for topic in &response.topics {
        check(topic.error_code, topic.error_message.as_deref())
            .map_err(|e| format!("cannot create topic {}: {e}", topic.name))?;
    }
    Ok(took)
}

pub(super) fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    sorted[sorted.len() / 2]
}

/// Bytes of disk (allocated blocks) the files and directories under `dir` take.
fn disk_bytes(dir: &Path) -> Result<u64, String> {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| e.to_string())?;
            let metadata = entry.metadata().map_err(|e| e.to_string())?;
            total += metadata.blocks() * 512;
            if metadata.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    Ok(total)
}

/// Bytes of the metadata store's files: the KRaft log's directory, or an older build's
/// JSON event log.
fn metadata_bytes(dir: &Path) -> Result<u64, String> {
    let kraft = dir.join(tidelog_broker::metadata::kraft::METADATA_DIR);
    if kraft.is_dir() {
        return disk_bytes(&kraft);
    }
    let json = dir.join(tidelog_broker::metadata::LEGACY_LOG_FILE);
    Ok(std::fs::metadata(&json).map_or(0, |m| m.blocks() * 512))
}
