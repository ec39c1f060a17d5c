//! `tidelog produce` and `tidelog consume`: records from standard input to a topic, and
//! from a topic to standard output, a line each, as Kafka's console producer and consumer
//! do.

use std::io::BufRead;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::admin::AdminClient;
use crate::client::{client_config, TIMEOUT};
use crate::failure::Failure;
use crate::{interrupt, output, progress};

#[derive(Args)]
pub struct ProduceArgs {
    topic: String,
    /// Read the records from this file instead of standard input.
    #[arg(long, value_name = "PATH")]
    file: Option<std::path::PathBuf>,
    /// Split each line at the first occurrence into key and value (a line without it has
    /// no key).
    #[arg(long)]
    key_separator: Option<String>,
    /// The partition of every record (default: the client's partitioner).
    #[arg(long)]
    partition: Option<i32>,
}

#[derive(Args)]
pub struct ConsumeArgs {
    topic: String,
    /// Consume as a member of this group: on the way out (the end of `--max-messages` or
    /// `--timeout-ms`, Ctrl-C, SIGTERM, a closed output) commit what was printed and leave
    /// the group. Without it every partition is read by this consumer alone.
    #[arg(long)]
    group: Option<String>,
    /// Start at the earliest offset (of partitions the group has no commit for).
    #[arg(long)]
    from_beginning: bool,
    /// Stop after this many records.
    #[arg(long)]
    max_messages: Option<u64>,
    /// Stop when no record came for this long.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Print each record's key before its value, separated by a tab.
    #[arg(long)]
    print_key: bool,
}

/// Counts failed deliveries and keeps the first one's reason.
#[derive(Default)]
struct Failures(Mutex<(usize, Option<String>)>);

impl ClientContext for Failures {}

impl ProducerContext for Failures {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            let mut failures = self.0.lock().unwrap_or_else(|e| e.into_inner());
            failures.0 += 1;
            failures.1.get_or_insert(e.to_string());
        }
    }
}

/// Sends every line of standard input, with acks=all, and waits until all are delivered.
pub fn produce(args: ProduceArgs, bootstrap: &str) -> Result<(), String> {
    // Named to the user within seconds if the broker is not there, where librdkafka would
    // retry in silence until the flush below gives up.
    AdminClient::connect(bootstrap)?;
    // Records still undelivered after TIMEOUT fail (with a delivery report) rather than
    // outlive the flush below, so every record is counted as delivered or not.
    let producer: ThreadedProducer<Failures> = client_config(bootstrap, "tidelog-produce")
        .set("acks", "all")
        .set("message.timeout.ms", TIMEOUT.as_millis().to_string())
        .create_with_context(Failures::default())
        .map_err(|e| format!("cannot create the producer: {e}"))?;
    let (input, size, name): (Box<dyn BufRead>, Option<u64>, String) = match &args.file {
        Some(path) => {
            let file = std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            let size = file.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
            (
                Box::new(std::io::BufReader::new(file)),
                size,
                path.display().to_string(),
            )
        }
        None => (
            Box::new(std::io::stdin().lock()),
            stdin_file_size(),
            "standard input".to_string(),
        ),
    };
    // A bar of bytes read when the input is a file of known size (a pipe has none) and
    // someone watches standard error.
    let progress = progress::bytes(size, "produced");
    let mut sent = 0usize;
    for line in input.lines() {
        let line = line.map_err(|e| format!("cannot read {name}: {e}"))?;
        progress.inc(line.len() as u64 + 1);
        let (key, value) = match args.key_separator.as_deref().and_then(|sep| line.split_once(sep)) {
            Some((key, value)) => (Some(key), value),
            None => (None, line.as_str()),
        };
        let mut record = BaseRecord::to(&args.topic).payload(value);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(partition) = args.partition {
            record = record.partition(partition);
        }
        while let Err((e, returned)) = producer.send(record) {
            if e.rdkafka_error_code() != Some(RDKafkaErrorCode::QueueFull) {
                return Err(format!("cannot send to {}: {e}", args.topic));
            }
            std::thread::sleep(Duration::from_millis(10));
            record = returned;
        }
        sent += 1;
    }
    progress.finish_and_clear();
    // A little past the records' own timeout, so their reports are in.
    let flushed = producer.flush(TIMEOUT + Duration::from_secs(5));
    let (failed, first) = std::mem::take(&mut *producer.context().0.lock().unwrap_or_else(|e| e.into_inner()));
    let undelivered = failed + producer.in_flight_count().max(0) as usize;
    match (undelivered, first, flushed) {
        (0, _, Ok(())) => Ok(()),
        (0, _, Err(e)) => Err(format!("the producer did not flush: {e}")),
        (n, Some(error), _) => Err(format!("{n} of {sent} records were not delivered: {error}")),
        (n, None, _) => Err(format!("{n} of {sent} records were not delivered within {TIMEOUT:?}")),
    }
}

/// The size of the file standard input is redirected from (`< records.txt`), if it is one.
fn stdin_file_size() -> Option<u64> {
    use std::os::fd::AsFd;
    let fd = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    let metadata = std::fs::File::from(fd).metadata().ok()?;
    metadata.is_file().then_some(metadata.len())
}

/// Prints records as they come, until `--max-messages`, `--timeout-ms`, SIGINT or SIGTERM
/// ends it; a group then commits what was printed and leaves.
pub fn consume(args: ConsumeArgs, bootstrap: &str) -> Result<(), Failure> {
    // Named to the user within seconds if the broker is not there, where librdkafka would
    // wait in silence; and a topic that does not exist is not waited for.
    let partitions = AdminClient::connect(bootstrap)?.existing_topic(&args.topic)?.partitions;
    let mut config = client_config(bootstrap, "tidelog-consume");
    let reset = if args.from_beginning { "earliest" } else { "latest" };
    config.set("auto.offset.reset", reset);
    match &args.group {
        // Offsets are stored once a record is printed, and committed from there: stored
        // as librdkafka hands records out, those the consumer's drop polls (and discards)
        // while it closes would count as consumed too.
        Some(group) => config.set("group.id", group).set("enable.auto.offset.store", "false"),
        // librdkafka assigns partitions only to a consumer with a group id; this one is
        // never joined nor committed to.
        None => config
            .set("group.id", "tidelog-consume")
            .set("enable.auto.commit", "false"),
    };
    let consumer: BaseConsumer = config
        .create()
        .map_err(|e| format!("cannot create the consumer: {e}"))?;
    if args.group.is_some() {
        consumer
            .subscribe(&[&args.topic])
            .map_err(|e| format!("cannot subscribe to {}: {e}", args.topic))?;
    } else {
        let start = if args.from_beginning {
            Offset::Beginning
        } else {
            Offset::End
        };
        let mut assignment = TopicPartitionList::new();
        for p in partitions {
            assignment
                .add_partition_offset(&args.topic, p.partition_index, start)
                .map_err(|e| e.to_string())?;
        }
        consumer.assign(&assignment).map_err(|e| e.to_string())?;
    }
    interrupt::catch()?;
    let printed = print_records(&consumer, &args);
    let committed = match args.group {
        Some(_) => commit(&consumer),
        None => Ok(()),
    };
    // Closing the consumer (its drop) leaves the group.
    drop(consumer);
    match (printed, committed) {
        (Ok(()) | Err(Failure::OutputClosed), Err(error)) => Err(match interrupt::received() {
            Some(signal) => Failure::Interrupted { signal, error },
            None => Failure::Error(error),
        }),
        (printed, _) => printed,
    }
}

/// Prints records, a line each, storing each one's offset once printed.
fn print_records(consumer: &BaseConsumer, args: &ConsumeArgs) -> Result<(), Failure> {
    let mut printed = 0;
    let mut last = Instant::now();
    while args.max_messages.is_none_or(|max| printed < max) && interrupt::received().is_none() {
        if args
            .timeout_ms
            .is_some_and(|ms| last.elapsed() >= Duration::from_millis(ms))
        {
            break;
        }
        let message = match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(_))) => continue,
            Some(Err(e)) => return Err(format!("cannot consume {}: {e}", args.topic).into()),
            Some(Ok(message)) => message,
        };
        last = Instant::now();
        let text = |bytes: Option<&[u8]>| String::from_utf8_lossy(bytes.unwrap_or_default()).into_owned();
        let value = text(message.payload());
        match args.print_key {
            true => output::line(format_args!("{}\t{value}", text(message.key())))?,
            false => output::line(value)?,
        }
        if args.group.is_some() {
            consumer
                .store_offset_from_message(&message)
                .map_err(|e| format!("cannot store the offset: {e}"))?;
        }
        printed += 1;
    }
    Ok(())
}

/// Commits the offsets stored, those of the records printed.
fn commit(consumer: &BaseConsumer) -> Result<(), String> {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
        Err(e) => Err(format!("cannot commit the offsets of the records printed: {e}")),
    }
}
