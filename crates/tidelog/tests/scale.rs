//! Many partitions under a low open-file limit (issue 11's first check, sized for CI): the
//! broker creates them, takes a record in each, restarts cleanly and after kill -9, and
//! serves every record back, with its open descriptors under the limit throughout. Without
//! a budget of open files it held three per partition and stopped at the limit.
//!
//! `TIDELOG_SCALE_TOPICS` (topics of 100 partitions, default 10) and
//! `TIDELOG_SCALE_OPEN_FILES` (the limit, default 1024) size it; the full run is
//! 1000 and 4096. The limit is this test process's own, which the broker inherits: the test
//! binary runs this one test.

mod common;

use common::clients::CLIENT_TIMEOUT;
use common::Broker;
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const PARTITIONS_PER_TOPIC: i32 = 100;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name}={v}")))
}

/// Lowers this process's open-file limit, soft and hard, to `files`.
fn limit_open_files(files: u64) {
    let limit = libc::rlimit {
        rlim_cur: files,
        rlim_max: files,
    };
    // SAFETY: setrlimit(2) with a valid rlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0, "setrlimit");
}

/// How many descriptors the broker holds now.
fn open_descriptors(broker: &Broker) -> usize {
    let pid = broker.pid().expect("the broker runs");
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

fn topic_name(t: u64) -> String {
    format!("scale-{t:04}")
}

/// The value written to a partition: its name.
fn value(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}")
}

/// Topics one client writes or reads: librdkafka's broker thread serves every partition
/// the client knows at each wakeup, so one client of 100,000 partitions is held up by its
/// own CPU (seen with perf), not by the broker.
const CLIENT_TOPICS: usize = 100;

/// Reads offset 0 of every partition of `topics` and checks each record is the one
/// written there.
fn read_back(broker: &Broker, topics: &[String]) {
    topics
        .chunks(CLIENT_TOPICS)
        .for_each(|chunk| read_back_with_one_client(broker, chunk));
}

fn read_back_with_one_client(broker: &Broker, topics: &[String]) {
    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", "scale-reader")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "error")
        .create()
        .expect("a consumer");
    let mut assignment = TopicPartitionList::new();
    for topic in topics {
        for p in 0..PARTITIONS_PER_TOPIC {
            assignment.add_partition_offset(topic, p, Offset::Offset(0)).unwrap();
        }
    }
    consumer.assign(&assignment).unwrap();
    let expected = topics.len() * PARTITIONS_PER_TOPIC as usize;
    let mut read: BTreeMap<(String, i32), (i64, String)> = BTreeMap::new();
    let mut last_progress = Instant::now();
    while read.len() < expected {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let value = String::from_utf8(m.payload().expect("a value").to_vec()).unwrap();
                read.insert((m.topic().to_string(), m.partition()), (m.offset(), value));
                last_progress = Instant::now();
            }
            Some(Err(e)) => panic!("consumer error after {} records: {e}", read.len()),
            None => assert!(
                last_progress.elapsed() < 2 * CLIENT_TIMEOUT,
                "{} of {expected} records read",
                read.len()
            ),
        }
    }
    for ((topic, partition), (offset, got)) in &read {
        assert_eq!((*offset, got.as_str()), (0, value(topic, *partition).as_str()));
    }
}

/// Writes a record to each partition of `topics`, with one producer, and checks each is
/// acknowledged at offset 0.
fn write_one_each(broker: &Broker, topics: &[String]) {
    let producer = broker.tracked_producer(&[("acks", "all"), ("linger.ms", "20")]);
    let mut sent = Vec::new();
    for name in topics {
        for p in 0..PARTITIONS_PER_TOPIC {
            let value = value(name, p);
            let record = BaseRecord::<[u8], [u8], Box<usize>>::with_opaque_to(name, Box::new(sent.len()))
                .partition(p)
                .payload(value.as_bytes());
            producer.send(record).map_err(|(e, _)| e).expect("queued");
            sent.push(p);
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(2 * CLIENT_TIMEOUT).expect("every record acknowledged");
    let deliveries = common::clients::take_deliveries(&producer);
    assert_eq!(deliveries.len(), sent.len());
    for (id, partition) in sent.iter().enumerate() {
        assert_eq!(deliveries[&id].as_ref().ok(), Some(&(*partition, 0)), "record {id}");
    }
}

#[test]
fn many_partitions_under_a_low_open_file_limit_survive_restarts_and_read_back() {
    let topics = env_or("TIDELOG_SCALE_TOPICS", 10);
    let limit = env_or("TIDELOG_SCALE_OPEN_FILES", 1024);
    limit_open_files(limit);
    let partitions = topics * PARTITIONS_PER_TOPIC as u64;
    assert!(
        3 * partitions > limit,
        "sized so that three files a partition would not fit"
    );
    let limit = limit as usize;

    let mut broker = Broker::start(&[]);
    let names: Vec<String> = (0..topics).map(topic_name).collect();
    let new_topics: Vec<NewTopic<'_>> = names
        .iter()
        .map(|name| NewTopic::new(name, PARTITIONS_PER_TOPIC, TopicReplication::Fixed(1)))
        .collect();
    // In requests of 100 topics, as a tool creating many would send them.
    for chunk in new_topics.chunks(100) {
        broker.admin().create_ok(chunk);
    }
    assert!(
        open_descriptors(&broker) < limit,
        "after creating {partitions} partitions"
    );

    names
        .chunks(CLIENT_TOPICS)
        .for_each(|chunk| write_one_each(&broker, chunk));
    assert!(open_descriptors(&broker) < limit, "after writing to every partition");

    broker.restart();
    assert!(open_descriptors(&broker) < limit, "after a clean restart");
    read_back(&broker, &names);
    assert!(open_descriptors(&broker) < limit, "after reading every partition");

    broker.kill9();
    broker.restart();
    read_back(&broker, &names);
    assert!(open_descriptors(&broker) < limit, "after kill -9 and a restart");
}
