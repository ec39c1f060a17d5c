//! `tidelog bench partitions`: a broker holding many partitions (issue 11's figures). On a
//! new data directory it creates --partitions partitions as topics of --topic-partitions,
//! writes a record to each, and measures its memory at idle, Metadata requests for every
//! topic and for one, a produce run over --produce-partitions partitions at once, and its
//! start after a clean stop and after SIGKILL.

use std::path::Path;
use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::producer::Producer;

use super::broker_process::{BrokerProcess, Rss};
use super::metadata::{create_topics, median, settle, REQUEST_TIMEOUT};
use super::{ms, payload, produce, producer, send, Acks, Amount, Load, OwnBroker, Throughput, RECORD_SIZE};
use crate::admin::AdminClient;
use crate::failure::Failure;
use crate::{interrupt, output};

/// Disk a partition holding one small record takes, with a margin: its directory, segment,
/// indexes, `partition.metadata` and checkpoint entries.
const BYTES_PER_PARTITION: f64 = 64.0 * 1024.0;

/// How long the broker is left idle before its memory is read.
const IDLE: Duration = Duration::from_secs(3);

/// Timed Metadata requests of each kind (the median is reported).
const METADATA_SAMPLES: usize = 9;

#[derive(Args)]
pub struct PartitionsArgs {
    /// Partitions the broker holds.
    #[arg(long, default_value_t = 10_000)]
    partitions: u32,
    /// Partitions of each topic.
    #[arg(long, default_value_t = 100)]
    topic_partitions: u32,
    /// Topics per CreateTopics request.
    #[arg(long, default_value_t = 100)]
    create_batch: usize,
    /// Partitions of the topic the produce run writes to, round-robin.
    #[arg(long, default_value_t = 1_000)]
    produce_partitions: i32,
    /// Seconds of the produce run (acks=all, 1 KiB values).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    #[command(flatten)]
    own: OwnBroker,
}

impl PartitionsArgs {
    fn topics(&self) -> Vec<String> {
        let count = self.partitions.div_ceil(self.topic_partitions.max(1));
        (0..count).map(|t| format!("p{t:05}")).collect()
    }

    fn bytes_written(&self) -> f64 {
        let produce = super::PRODUCE_BYTES_PER_S * self.duration * super::LOG_OVERHEAD;
        f64::from(self.partitions) * BYTES_PER_PARTITION + produce
    }
}

struct Report {
    partitions: u32,
    topics: usize,
    create: Duration,
    write_one_each: Duration,
    idle_rss: Rss,
    metadata_all: Duration,
    metadata_one: Duration,
    produce: Throughput,
    produce_partitions: i32,
    clean_start: Duration,
    clean_start_rss: Rss,
    crash_start: Duration,
}

impl Report {
    fn print(&self) -> Result<(), Failure> {
        let lines = [
            format!(
                "{} partitions in {} topics: CreateTopics {:.1} s in all ({:.0} partitions/s)",
                self.partitions,
                self.topics,
                self.create.as_secs_f64(),
                f64::from(self.partitions) / self.create.as_secs_f64()
            ),
            format!(
                "one record to each partition (acks=all): {:.1} s",
                self.write_one_each.as_secs_f64()
            ),
            format!("idle after writing: {}", self.idle_rss),
            format!(
                "Metadata, median of {METADATA_SAMPLES}: every topic {:.1} ms, one topic {:.2} ms",
                ms(self.metadata_all),
                ms(self.metadata_one)
            ),
            format!(
                "produce to {} partitions at once (acks=all, 1 KiB): {}",
                self.produce_partitions, self.produce
            ),
            format!(
                "start after a clean stop, to the first answer: {:.0} ms; then idle: {}",
                ms(self.clean_start),
                self.clean_start_rss
            ),
            format!(
                "start after SIGKILL, to the first answer: {:.0} ms",
                ms(self.crash_start)
            ),
        ];
        for line in lines {
            output::line(line)?;
        }
        Ok(())
    }
}

pub fn run(args: &PartitionsArgs) -> Result<(), Failure> {
    let exe = args.own.exe()?;
    let report = args.own.in_work_dir(args.bytes_written(), |work| {
        measure(args, &exe, &work.join("partitions"))
    })?;
    report.print()
}

fn measure(args: &PartitionsArgs, exe: &Path, dir: &Path) -> Result<Report, String> {
    let topics = args.topics();
    let (broker, _) = BrokerProcess::start(exe, dir)?;
    let bootstrap = broker.addr.to_string();
    let mut admin = AdminClient::connect(&bootstrap)?;
    admin.set_timeout(REQUEST_TIMEOUT)?;
    settle();
    let started = Instant::now();
    for batch in topics.chunks(args.create_batch.max(1)) {
        interrupt::check()?;
        create_topics(&mut admin, batch, args.topic_partitions as i32, &[])?;
    }
    let create = started.elapsed();
    progress(format_args!(
        "created {} partitions in {:.1} s",
        args.partitions,
        create.as_secs_f64()
    ));

    let write_one_each = write_one_each(&bootstrap, &topics, args.topic_partitions as i32)?;
    progress(format_args!(
        "wrote a record to each in {:.1} s",
        write_one_each.as_secs_f64()
    ));
    std::thread::sleep(IDLE);
    let idle_rss = broker.rss()?;
    let metadata_all = timed(|| admin.topics().map(drop))?;
    let metadata_one = timed(|| admin.topic(&topics[topics.len() / 2]).map(drop))?;

    let load = Load {
        partitions: args.produce_partitions,
        record_size: RECORD_SIZE,
        linger_ms: 5,
    };
    let amount = Amount::Duration(Duration::from_secs_f64(args.duration));
    let produce = produce(&bootstrap, "produce-run", &load, Acks::All, amount)?;
    progress(format_args!("produce run: {produce}"));

    drop(admin);
    broker.stop()?;
    settle();
    let (broker, clean_start) = BrokerProcess::start(exe, dir)?;
    check_partitions(&broker, topics.len() + 1)?;
    std::thread::sleep(IDLE);
    let clean_start_rss = broker.rss()?;
    broker.kill()?;
    settle();
    let (broker, crash_start) = BrokerProcess::start(exe, dir)?;
    check_partitions(&broker, topics.len() + 1)?;
    broker.stop()?;
    Ok(Report {
        partitions: args.partitions,
        topics: topics.len(),
        create,
        write_one_each,
        idle_rss,
        metadata_all,
        metadata_one,
        produce,
        produce_partitions: args.produce_partitions,
        clean_start,
        clean_start_rss,
        crash_start,
    })
}

fn progress(line: std::fmt::Arguments<'_>) {
    output::error_line(line);
}

/// Sends one record to every partition of `topics` and waits for every acknowledgement.
/// One producer per this many partitions: librdkafka's broker thread serves every
/// partition the producer knows at each wakeup, so one producer of 100,000 partitions is
/// held up by its own CPU (perf: `rd_kafka_toppar_producer_serve` and its locks), not by
/// the broker.
const PRODUCER_PARTITIONS: i32 = 10_000;

fn write_one_each(bootstrap: &str, topics: &[String], partitions: i32) -> Result<Duration, String> {
    let value = payload(100);
    let started = Instant::now();
    let topics_per_producer = (PRODUCER_PARTITIONS / partitions.max(1)).max(1) as usize;
    for chunk in topics.chunks(topics_per_producer) {
        let producer = producer(bootstrap, Acks::All, 5, false)?;
        let mut sent = 0;
        for topic in chunk {
            for p in 0..partitions {
                send(&producer, topic, p, &value)?;
                sent += 1;
            }
        }
        producer.context().wait_for(sent, Duration::from_secs(300))?;
    }
    Ok(started.elapsed())
}

/// The median time of [`METADATA_SAMPLES`] calls of `call`.
fn timed(mut call: impl FnMut() -> Result<(), String>) -> Result<Duration, String> {
    let mut times = Vec::new();
    for _ in 0..METADATA_SAMPLES {
        let started = Instant::now();
        call()?;
        times.push(started.elapsed());
    }
    Ok(median(&times))
}

/// Fails unless the broker lists `topics` topics, as it did before the restart.
fn check_partitions(broker: &BrokerProcess, topics: usize) -> Result<(), String> {
    let mut admin = AdminClient::connect(&broker.addr.to_string())?;
    admin.set_timeout(REQUEST_TIMEOUT)?;
    let found = admin.topics()?.len();
    if found != topics {
        return Err(format!(
            "after the restart the broker lists {found} topics, not {topics}"
        ));
    }
    Ok(())
}
