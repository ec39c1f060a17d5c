//! `tidelog bench cleaner`: how fast the log cleaner compacts, and what it costs the
//! produce and consume traffic of other partitions, against a broker of its own.
//!
//! A one-partition compacted topic is filled with keyed 1 KiB records while its
//! `min.cleanable.dirty.ratio` is 1 (never exceeded, so the cleaner leaves it), then the
//! ratio is lowered and the broker cleans it with its one cleaner thread. Its throughput is
//! the log bytes the cleaning replaced over its duration, both from the broker's
//! `compacted` log line (from the rewrite's start to the swap's end), and per core: divided
//! by the cores the broker used meanwhile. Then produce and consume runs on an 8-partition
//! topic, once with the cleaner idle and once while it cleans a second such topic.

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::time::{Duration, Instant};

use clap::Args;

use super::broker_process::BrokerProcess;
use super::{consume, machine, produce, Acks, Amount, Load, OwnBroker, Table, Throughput, LOG_OVERHEAD, RECORD_SIZE};
use crate::admin::AdminClient;
use crate::failure::Failure;
use crate::{interrupt, topics};
use rdkafka::producer::Producer;

#[derive(Args)]
pub struct CleanerArgs {
    /// MB (10^6 bytes) of record values written to each of the two compacted topics.
    #[arg(long, default_value_t = 2000.0)]
    cleaned_mb: f64,
    /// Distinct keys of those records: about what a cleaning keeps, of 1 KiB each (by
    /// default about half of them).
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// Seconds each produce run on the other topic lasts: short enough that the busy
    /// cleaning outlasts the produce and the consume run.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    #[command(flatten)]
    broker: OwnBroker,
}

/// The compacted topics' segment size: a sixteenth of what they are filled with, so that
/// the cleaned log is many segments and its active segment (never cleaned) a small part of
/// it, between 1 MiB and 64 MiB.
fn segment_bytes(cleaned_mb: f64) -> u64 {
    ((cleaned_mb * 1e6 / 16.0) as u64).clamp(1 << 20, 64 << 20)
}

/// The longest a cleaning may take before the run is abandoned.
const CLEANING_TIMEOUT: Duration = Duration::from_secs(1800);

pub fn run(args: &CleanerArgs) -> Result<(), Failure> {
    if args.cleaned_mb * 1e6 < 2.0 * segment_bytes(args.cleaned_mb) as f64 {
        return Err(Failure::from(format!(
            "--cleaned-mb {} is less than two segments of {} bytes: nothing would be cleaned",
            args.cleaned_mb,
            segment_bytes(args.cleaned_mb)
        )));
    }
    let exe = args.broker.exe()?;
    let written = 2.0 * args.cleaned_mb * 1e6 * LOG_OVERHEAD + 2.0 * args.duration * super::PRODUCE_BYTES_PER_S;
    args.broker
        .in_work_dir(written, |work| cleaner(args, &exe, work))?
        .print()
}

fn cleaner(args: &CleanerArgs, exe: &Path, work: &Path) -> Result<Table, String> {
    let dir = work.join("cleaner");
    // The cleaner looks every 100 ms instead of every 15 s, so it starts at once.
    let (broker, _) = BrokerProcess::start_with(exe, &dir, &["--override", "log.cleaner.backoff.ms=100"])?;
    let bootstrap = broker.addr.to_string();
    let broker_log = dir.with_extension("log");
    let measured = [broker.pid()];
    let mut table = Table::default();

    let fill_row = format!(
        "fill a compacted topic: {:.0} MB of 1 KiB records over {} keys, acks=1",
        args.cleaned_mb, args.keys
    );
    let (filled, others) = machine::others_during(&measured, || fill(&bootstrap, "cleaned-alone", args))?;
    table.add(&fill_row, &filled, None, Some(others));
    let (cleaned, broker_cores) = machine::cores_of_during(broker.pid(), || {
        start_cleaning(&bootstrap, "cleaned-alone")?;
        wait_cleaned(&broker_log, "cleaned-alone")
    })?;
    let per_core = cleaned.mb_per_s() / broker_cores.max(f64::MIN_POSITIVE);
    table.add(
        "log cleaner alone, one thread",
        &format_args!("{cleaned}; the broker used {broker_cores:.2} cores: {per_core:.1} MB/s per core"),
        None,
        None,
    );

    let amount = Amount::Duration(Duration::from_secs_f64(args.duration));
    let traffic = |topic: &str| traffic(&bootstrap, &measured, topic, amount);
    let [produced, consumed] = traffic("traffic-quiet")?;
    for (run, what) in [(produced, PRODUCE_ROW), (consumed, CONSUME_ROW)] {
        table.add(&format!("{what}, cleaner idle"), &run.result, None, Some(run.others));
    }

    let (filled, others) = machine::others_during(&measured, || fill(&bootstrap, "cleaned-busy", args))?;
    table.add(&fill_row, &filled, None, Some(others));
    start_cleaning(&bootstrap, "cleaned-busy")?;
    // Notes when the cleaning ends (within 100 ms), for how much of each run it overlapped.
    let watcher = {
        let broker_log = broker_log.clone();
        std::thread::spawn(move || wait_cleaned(&broker_log, "cleaned-busy").map(|c| (c, Instant::now())))
    };
    let runs = traffic("traffic-busy")?;
    let (cleaned, ended) = watcher.join().map_err(|_| "the cleaning's watcher panicked")??;
    let cleaning = ended.checked_sub(cleaned.duration).unwrap_or(ended)..ended;
    for (run, what) in runs.iter().zip([PRODUCE_ROW, CONSUME_ROW]) {
        let overlap = overlap(&run.window, &cleaning) * 100.0;
        table.add(
            &format!("{what}, while the cleaner cleans another partition"),
            &format_args!("{}; the cleaner ran during {overlap:.0}% of it", run.result),
            None,
            Some(run.others),
        );
    }
    table.add("log cleaner during those runs, one thread", &cleaned, None, None);
    broker.stop()?;
    Ok(table)
}

const PRODUCE_ROW: &str = "produce 1 KiB records, 8 partitions, acks=all";
const CONSUME_ROW: &str = "consume them from the start";

/// A run of the traffic beside the cleaner: its result, when it ran, and the cores other
/// processes used meanwhile.
struct Run {
    result: Throughput,
    window: Range<Instant>,
    others: f64,
}

/// A produce run of `amount` on `topic` (8 partitions, acks=all), then a consume run of
/// what it wrote.
fn traffic(bootstrap: &str, measured: &[u32], topic: &str, amount: Amount) -> Result<[Run; 2], String> {
    let load = Load {
        partitions: 8,
        record_size: RECORD_SIZE,
        linger_ms: 5,
    };
    let timed = |run: &dyn Fn() -> Result<Throughput, String>| {
        let started = Instant::now();
        let (result, others) = machine::others_during(measured, run)?;
        Ok::<_, String>(Run {
            result,
            window: started..Instant::now(),
            others,
        })
    };
    let produced = timed(&|| produce(bootstrap, topic, &load, Acks::All, amount))?;
    let consumed = timed(&|| consume(bootstrap, topic, None))?;
    Ok([produced, consumed])
}

/// The share of `run` that `cleaning` overlapped.
fn overlap(run: &Range<Instant>, cleaning: &Range<Instant>) -> f64 {
    let (start, end) = (run.start.max(cleaning.start), run.end.min(cleaning.end));
    let both = end.saturating_duration_since(start).as_secs_f64();
    both / (run.end - run.start).as_secs_f64().max(1e-9)
}

/// Creates `topic`, compacted but held (`min.cleanable.dirty.ratio=1`), and fills it with
/// `cleaned_mb` MB of 1 KiB records whose keys go round `keys`.
fn fill(bootstrap: &str, topic: &str, args: &CleanerArgs) -> Result<Throughput, String> {
    let mut admin = AdminClient::connect(bootstrap)?;
    let segment_bytes = segment_bytes(args.cleaned_mb).to_string();
    let configs = [
        ("cleanup.policy", "compact"),
        ("segment.bytes", &segment_bytes),
        ("min.cleanable.dirty.ratio", "1"),
    ];
    let configs: Vec<(String, String)> = configs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    topics::create(&mut admin, topic, 1, 1, &configs)?;
    let producer = super::producer(bootstrap, Acks::One, 5, false)?;
    let value = super::payload(RECORD_SIZE);
    let records = (args.cleaned_mb * 1e6 / RECORD_SIZE as f64) as u64;
    let started = Instant::now();
    for i in 0..records {
        let key = format!("key-{:010}", i % args.keys.max(1));
        super::send_keyed(&producer, topic, 0, Some(key.as_bytes()), &value)?;
    }
    let done = producer.context().wait_for(records, Duration::from_secs(600))?;
    Ok(Throughput {
        records,
        bytes: records * RECORD_SIZE as u64,
        elapsed: done - started,
    })
}

/// Lets the cleaner clean `topic`: any dirty ratio is enough now.
fn start_cleaning(bootstrap: &str, topic: &str) -> Result<(), String> {
    let mut admin = AdminClient::connect(bootstrap)?;
    let ratio = ("min.cleanable.dirty.ratio".to_string(), "0.01".to_string());
    topics::alter(&mut admin, topic, vec![ratio], vec![])
}

/// One cleaning, as the broker logged it.
struct Cleaning {
    bytes_before: u64,
    bytes_after: u64,
    duration: Duration,
}

impl Cleaning {
    fn mb_per_s(&self) -> f64 {
        self.bytes_before as f64 / 1e6 / self.duration.as_secs_f64().max(1e-3)
    }
}

impl fmt::Display for Cleaning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.1} MB/s of log cleaned ({:.2} GB in {:.2} s, {:.1} MB left)",
            self.mb_per_s(),
            self.bytes_before as f64 / 1e9,
            self.duration.as_secs_f64(),
            self.bytes_after as f64 / 1e6
        )
    }
}

/// Waits for the broker's `compacted` line about `topic` in its log.
fn wait_cleaned(broker_log: &Path, topic: &str) -> Result<Cleaning, String> {
    let deadline = Instant::now() + CLEANING_TIMEOUT;
    loop {
        interrupt::check()?;
        if let Some(cleaning) = find_cleaning(broker_log, topic)? {
            return Ok(cleaning);
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{topic} not cleaned within {CLEANING_TIMEOUT:?}; see {}",
                broker_log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The broker's first `compacted` line about `topic`, if it has logged one.
fn find_cleaning(broker_log: &Path, topic: &str) -> Result<Option<Cleaning>, String> {
    let text = std::fs::read_to_string(broker_log).map_err(|e| format!("cannot read {}: {e}", broker_log.display()))?;
    let topic_field = format!("topic={topic} ");
    let quoted_field = format!("topic=\"{topic}\"");
    let Some(line) = text
        .lines()
        .find(|l| l.contains(": compacted ") && (l.contains(&topic_field) || l.contains(&quoted_field)))
    else {
        return Ok(None);
    };
    let number = |name: &str| {
        field(line, name)
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| format!("no {name} in the broker's line {line}"))
    };
    Ok(Some(Cleaning {
        bytes_before: number("bytes_before")?,
        bytes_after: number("bytes_after")?,
        duration: Duration::from_millis(number("duration_ms")?),
    }))
}

/// The value of `name=value` in a log line.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=");
    let start = line.find(&key)? + key.len();
    line[start..].split_whitespace().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_from_the_brokers_line() {
        let line = "2026-12-06T20:30:00Z  INFO tidelog_broker::partitions: compacted topic=\"t\" \
                    partition=0 bytes_before=1000 bytes_after=10 first_dirty_offset=5 duration_ms=7";
        assert_eq!(field(line, "bytes_before"), Some("1000"));
        assert_eq!(field(line, "duration_ms"), Some("7"));
        assert_eq!(field(line, "bytes"), None);
    }
}
