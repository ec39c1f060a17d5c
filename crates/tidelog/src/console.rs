//! `tidelog produce` and `tidelog consume`: records from standard input to a topic, and
//! from a topic to standard output, a line each, as Kafka's console producer and consumer
//! do.

use std::io::{BufRead, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::client::{client_config, Admin, DEFAULT_BOOTSTRAP, TIMEOUT};

#[derive(Args)]
pub struct ProduceArgs {
    /// The broker to connect to.
    #[arg(long, default_value = DEFAULT_BOOTSTRAP)]
    bootstrap_server: String,
    topic: String,
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
    /// The broker to connect to.
    #[arg(long, default_value = DEFAULT_BOOTSTRAP)]
    bootstrap_server: String,
    topic: String,
    /// Consume as a member of this group, committing what was printed; without it every
    /// partition is read by this consumer alone.
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

/// Remembers the first failed delivery.
#[derive(Default)]
struct FirstFailure(Mutex<Option<String>>);

impl ClientContext for FirstFailure {}

impl ProducerContext for FirstFailure {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(e.to_string());
        }
    }
}

/// Sends every line of standard input, with acks=all, and waits until all are delivered.
pub fn produce(args: ProduceArgs) -> Result<(), String> {
    let producer: ThreadedProducer<FirstFailure> = client_config(&args.bootstrap_server, "tidelog-produce")
        .set("acks", "all")
        .create_with_context(FirstFailure::default())
        .map_err(|e| format!("cannot create the producer: {e}"))?;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("cannot read standard input: {e}"))?;
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
    }
    producer
        .flush(TIMEOUT)
        .map_err(|e| format!("records not delivered within {TIMEOUT:?}: {e}"))?;
    let failure = producer.context().0.lock().unwrap_or_else(|e| e.into_inner()).take();
    match failure {
        Some(error) => Err(format!("a record was not delivered: {error}")),
        None => Ok(()),
    }
}

/// Prints records as they come, until `--max-messages` or `--timeout-ms` ends it.
pub fn consume(args: ConsumeArgs) -> Result<(), String> {
    let mut config = client_config(&args.bootstrap_server, "tidelog-consume");
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
        let admin = Admin::connect(&args.bootstrap_server, "tidelog-consume")?;
        let start = if args.from_beginning {
            Offset::Beginning
        } else {
            Offset::End
        };
        let mut partitions = TopicPartitionList::new();
        for id in admin.partitions(&args.topic)? {
            partitions
                .add_partition_offset(&args.topic, id, start)
                .map_err(|e| e.to_string())?;
        }
        consumer.assign(&partitions).map_err(|e| e.to_string())?;
    }
    let mut out = std::io::stdout().lock();
    let mut printed = 0;
    let mut last = Instant::now();
    while args.max_messages.is_none_or(|max| printed < max) {
        if args
            .timeout_ms
            .is_some_and(|ms| last.elapsed() >= Duration::from_millis(ms))
        {
            break;
        }
        let message = match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(_))) => continue,
            Some(Err(e)) => return Err(format!("cannot consume {}: {e}", args.topic)),
            Some(Ok(message)) => message,
        };
        last = Instant::now();
        let text = |bytes: Option<&[u8]>| String::from_utf8_lossy(bytes.unwrap_or_default()).into_owned();
        let value = text(message.payload());
        let written = match args.print_key {
            true => writeln!(out, "{}\t{value}", text(message.key())),
            false => writeln!(out, "{value}"),
        };
        written
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write: {e}"))?;
        if args.group.is_some() {
            consumer
                .store_offset_from_message(&message)
                .map_err(|e| format!("cannot store the offset: {e}"))?;
        }
        printed += 1;
    }
    // With a group, closing the consumer (its drop) commits the offsets stored.
    Ok(())
}
