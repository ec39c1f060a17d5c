//! librdkafka clients (through the `rdkafka` crate) pointing at a test broker.
//!
//! Tests are plain synchronous functions: `Admin` wraps rdkafka's async admin calls and
//! blocks on them, so a test reads as a list of calls and the results they must give.
//!
//! For the data path: [`TestRecord`] is what a test sends and expects back, a
//! [`TrackedProducer`] records every delivery report by the record's id, and
//! [`Broker::read_partitions`] reads offset ranges back as [`Received`] copies.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigResource, GroupResult, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication, TopicResult,
};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, DeliveryResult, Header, Headers, OwnedHeaders, ToBytes};
use rdkafka::metadata::Metadata;
use rdkafka::producer::{BaseProducer, BaseRecord, FutureProducer, Producer, ProducerContext};
use rdkafka::{ClientConfig, Message, Offset, Timestamp, TopicPartitionList};
use tokio::runtime::Runtime;

use super::Broker;

/// Safety net for one client call; a healthy broker answers in milliseconds.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a consumer group may take to settle before a test gives up; it settles in about
/// a second.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

impl Broker {
    /// A transactional producer of `transactional_id`, with `settings` on top of the test
    /// client's, its transactions initialised.
    pub fn transactional_producer(&self, transactional_id: &str, settings: &[(&str, &str)]) -> BaseProducer {
        let mut config = self.client_config();
        config.set("transactional.id", transactional_id).set("linger.ms", "5");
        for (key, value) in settings {
            config.set(*key, *value);
        }
        let producer: BaseProducer = config.create().expect("create a transactional producer");
        producer.init_transactions(CLIENT_TIMEOUT).expect("init_transactions");
        producer
    }

    /// The configuration every test client starts from: this broker, IPv4 (the listener is
    /// 127.0.0.1), and timeouts that fail a test in seconds rather than minutes.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.bootstrap())
            .set("broker.address.family", "v4")
            .set("socket.timeout.ms", CLIENT_TIMEOUT.as_millis().to_string())
            .set("message.timeout.ms", CLIENT_TIMEOUT.as_millis().to_string());
        config
    }

    pub fn admin(&self) -> Admin {
        Admin::new(self.client_config())
    }

    pub fn base_producer(&self) -> BaseProducer {
        self.client_config().create().expect("create a BaseProducer")
    }

    pub fn future_producer(&self) -> FutureProducer {
        self.client_config().create().expect("create a FutureProducer")
    }

    /// A consumer reading from the start of each partition it is assigned; offsets are
    /// committed only when a test does so. Frequent heartbeats let it notice a rebalance
    /// in well under a second.
    pub fn consumer(&self, group: &str) -> BaseConsumer {
        self.consumer_config(group).create().expect("create a BaseConsumer")
    }

    /// The configuration of `consumer`, for consumers with more settings or a context.
    pub fn consumer_config(&self, group: &str) -> ClientConfig {
        let mut config = self.client_config();
        config
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "200");
        config
    }

    /// A consumer for [`Broker::read_partitions`]: large fetches, CRCs checked, and an offset out
    /// of range reported as an error instead of silently reset.
    pub fn reader(&self) -> BaseConsumer {
        self.client_config()
            .set("group.id", "tidelog-e2e-reader")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "error")
            .set("check.crcs", "true")
            .set("fetch.max.bytes", "52428800")
            .set("max.partition.fetch.bytes", "10485760")
            .set("queued.max.messages.kbytes", "262144")
            .create()
            .expect("create a BaseConsumer")
    }

    /// A producer reporting every delivery into its [`Deliveries`]; `settings` go on top
    /// of [`Broker::client_config`] (e.g. `("acks", "all")`, `("linger.ms", "5")`).
    pub fn tracked_producer(&self, settings: &[(&str, &str)]) -> TrackedProducer {
        let mut config = self.client_config();
        for (key, value) in settings {
            config.set(*key, *value);
        }
        config
            .create_with_context(Deliveries::default())
            .expect("create a BaseProducer")
    }
}

/// A record as a test produces it and expects to read it back. The timestamp is the
/// producer's CreateTime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRecord {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: i64,
}

impl TestRecord {
    /// A librdkafka record for `topic` with everything of this one, carrying `id` back in
    /// its delivery report.
    pub fn to_base_record<'a>(&'a self, topic: &'a str, id: usize) -> BaseRecord<'a, [u8], [u8], Box<usize>> {
        let mut headers = OwnedHeaders::new_with_capacity(self.headers.len());
        for (key, value) in &self.headers {
            headers = headers.insert(Header {
                key: key.as_str(),
                value: value.as_deref(),
            });
        }
        BaseRecord::with_opaque_to(topic, Box::new(id))
            .key(&self.key[..])
            .payload(&self.value[..])
            .headers(headers)
            .timestamp(self.timestamp)
    }
}

/// A consumed message, copied out of librdkafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: Timestamp,
}

impl Received {
    fn copy(message: &BorrowedMessage<'_>) -> Received {
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        Received {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
            headers,
            timestamp: message.timestamp(),
        }
    }

    /// The record as it was sent, if its timestamp is a CreateTime one.
    pub fn as_sent(&self) -> Option<TestRecord> {
        let Timestamp::CreateTime(timestamp) = self.timestamp else {
            return None;
        };
        Some(TestRecord {
            key: self.key.clone()?,
            value: self.value.clone()?,
            headers: self.headers.clone(),
            timestamp,
        })
    }
}

/// Delivery reports by record id (the opaque of [`TestRecord::to_base_record`]): the
/// partition and offset the broker acknowledged, or the error.
#[derive(Default)]
pub struct Deliveries(Mutex<DeliveryReports>);

/// Delivery reports by record id: the acknowledged (partition, offset), or the error.
pub type DeliveryReports = HashMap<usize, Result<(i32, i64), KafkaError>>;

impl Deliveries {
    /// Takes the reports received so far.
    pub fn take(&self) -> DeliveryReports {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<usize>;

    fn delivery(&self, result: &DeliveryResult<'_>, id: Box<usize>) {
        let report = match result {
            Ok(message) => Ok((message.partition(), message.offset())),
            Err((error, _)) => Err(error.clone()),
        };
        let previous = self.0.lock().unwrap().insert(*id, report);
        assert!(previous.is_none(), "two delivery reports for record {id}");
    }
}

pub type TrackedProducer = BaseProducer<Deliveries>;

/// Queues `record` (id `id`) to `topic`, on `partition` or by key if `None`, waiting for
/// room in librdkafka's queue when it is full.
pub fn send(producer: &TrackedProducer, topic: &str, partition: Option<i32>, id: usize, record: &TestRecord) {
    let mut base = record.to_base_record(topic, id);
    if let Some(partition) = partition {
        base = base.partition(partition);
    }
    queue(producer, base);
}

/// Queues `record` on any producer, waiting for room in librdkafka's queue when it is full
/// (at most [`CLIENT_TIMEOUT`]).
pub fn queue<K, P, C>(producer: &BaseProducer<C>, mut record: BaseRecord<'_, K, P, C::DeliveryOpaque>)
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
    C: ProducerContext,
{
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) if Instant::now() < deadline => {
                record = back;
                producer.poll(Duration::from_millis(5));
            }
            Err((error, _)) => panic!("cannot queue a record: {error}"),
        }
    }
}

/// Waits for every queued record's delivery report (at most `timeout`).
pub fn flush(producer: &TrackedProducer, timeout: Duration) {
    producer
        .flush(timeout)
        .expect("every record is delivered or failed in time");
}

/// Takes the delivery reports `producer` received so far, by record id.
pub fn take_deliveries(producer: &TrackedProducer) -> DeliveryReports {
    producer.context().take()
}

/// Reading records back.
impl Broker {
    /// The (low, high) watermarks of a partition: its log start offset and high watermark.
    pub fn watermarks(&self, topic: &str, partition: i32) -> (i64, i64) {
        self.reader()
            .fetch_watermarks(topic, partition, CLIENT_TIMEOUT)
            .expect("fetch the watermarks")
    }

    /// Reads each `(partition, from, to)` range of `topic` (offsets `from..to`) with a new
    /// [`Broker::reader`] (reusing one after `unassign` costs librdkafka a second) and
    /// returns the messages of each partition in the order received. Panics on a consumer
    /// error, or when no message arrives for [`CLIENT_TIMEOUT`] while some are missing.
    pub fn read_partitions(&self, topic: &str, ranges: &[(i32, i64, i64)]) -> BTreeMap<i32, Vec<Received>> {
        let consumer = self.reader();
        let mut assignment = TopicPartitionList::new();
        for &(partition, from, _) in ranges {
            assignment
                .add_partition_offset(topic, partition, Offset::Offset(from))
                .expect("add a partition to the assignment");
        }
        consumer.assign(&assignment).expect("assign the partitions");
        let end: BTreeMap<i32, i64> = ranges.iter().map(|&(p, _, to)| (p, to)).collect();
        let mut next: BTreeMap<i32, i64> = ranges.iter().map(|&(p, from, _)| (p, from)).collect();
        let mut received: BTreeMap<i32, Vec<Received>> = ranges.iter().map(|&(p, _, _)| (p, Vec::new())).collect();
        let mut last_progress = Instant::now();
        while next.iter().any(|(p, at)| *at < end[p]) {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    let message = Received::copy(&message);
                    if message.offset < end[&message.partition] {
                        next.insert(message.partition, message.offset + 1);
                        received.get_mut(&message.partition).expect("assigned").push(message);
                    }
                    last_progress = Instant::now();
                }
                Some(Err(error)) => panic!("consumer error reading {topic} {ranges:?}: {error}"),
                None => assert!(
                    last_progress.elapsed() < CLIENT_TIMEOUT,
                    "no message for {CLIENT_TIMEOUT:?} reading {topic} {ranges:?}; next offsets {next:?}"
                ),
            }
        }
        received
    }

    /// Reads offsets `from..to` of one partition.
    pub fn read_partition(&self, topic: &str, partition: i32, from: i64, to: i64) -> Vec<Received> {
        self.read_partitions(topic, &[(partition, from, to)])
            .remove(&partition)
            .expect("the partition was read")
    }

    /// Everything one partition shows a consumer at `isolation.level` `isolation`
    /// (`read_committed` or `read_uncommitted`), from its log start offset to its end (the
    /// last stable offset for read_committed), in the order received. Panics on a consumer
    /// error or when the end is not reached within four [`CLIENT_TIMEOUT`]s.
    pub fn read_to_end(&self, topic: &str, partition: i32, isolation: &str) -> Vec<Received> {
        let consumer: BaseConsumer = self
            .consumer_config("tidelog-e2e-reader")
            .set("isolation.level", isolation)
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "error")
            .set("check.crcs", "true")
            .create()
            .expect("create a BaseConsumer");
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .expect("add the partition");
        consumer.assign(&assignment).expect("assign the partition");
        let deadline = Instant::now() + CLIENT_TIMEOUT * 4;
        let mut read = Vec::new();
        loop {
            assert!(
                Instant::now() < deadline,
                "{topic}-{partition} not read to its end in time"
            );
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => read.push(Received::copy(&message)),
                Some(Err(KafkaError::PartitionEOF(_))) => return read,
                Some(Err(error)) => panic!("consumer error reading {topic}-{partition}: {error}"),
                None => {}
            }
        }
    }

    /// Everything a partition holds, from its log start offset to its high watermark.
    pub fn read_all(&self, topic: &str, partition: i32) -> Vec<Received> {
        let (low, high) = self.watermarks(topic, partition);
        self.read_partition(topic, partition, low, high)
    }
}

/// The offset and value of the first record of partition 0 of `topic`, read by a consumer
/// made from `config` (a client of any listener). Panics if none comes in time.
pub fn first_record(config: &ClientConfig, topic: &str) -> (i64, Vec<u8>) {
    let consumer: BaseConsumer = config
        .clone()
        .set("group.id", "tidelog-e2e-reader")
        .create()
        .expect("a consumer");
    let mut partitions = TopicPartitionList::new();
    partitions
        .add_partition_offset(topic, 0, Offset::Beginning)
        .expect("offset");
    consumer.assign(&partitions).expect("assign");
    let message = consumer
        .poll(CLIENT_TIMEOUT)
        .expect("a record within the timeout")
        .expect("a record");
    (message.offset(), message.payload().unwrap_or_default().to_vec())
}

/// The partitions a consumer is assigned now, sorted: what group tests compare.
pub fn assigned_partitions<C: ConsumerContext>(consumer: &BaseConsumer<C>) -> Vec<i32> {
    let mut partitions: Vec<i32> = consumer
        .assignment()
        .expect("assignment")
        .elements()
        .iter()
        .map(|e| e.partition())
        .collect();
    partitions.sort();
    partitions
}

/// Closes the `leaving` consumers of a group while polling them and the `staying` ones, as
/// applications that each run their own poll loop would. Dropping a librdkafka consumer
/// closes it polling only itself, until the group lets it go: in a cooperative rebalance
/// that can need the other members to serve their rebalance callbacks, and a test that
/// holds them all on one thread would wait for ever. Panics after [`SETTLE_TIMEOUT`],
/// leaking the consumers still open rather than hanging in their `Drop`.
pub fn close_consumers<C: ConsumerContext>(leaving: Vec<BaseConsumer<C>>, staying: &[&BaseConsumer<C>]) {
    for consumer in &leaving {
        consumer.close_queue().expect("start closing a consumer");
    }
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while !leaving.iter().all(|c| c.closed()) {
        for consumer in leaving.iter().chain(staying.iter().copied()) {
            consumer.poll(Duration::from_millis(20));
        }
        if Instant::now() >= deadline {
            let open = leaving.iter().filter(|c| !c.closed()).count();
            std::mem::forget(leaving);
            panic!("{open} consumers did not close within {SETTLE_TIMEOUT:?}");
        }
    }
}

/// Runs a client future to completion on a small runtime (rdkafka's futures are resolved by
/// its own threads; the runtime only drives timers).
pub fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a runtime")
}

/// An rdkafka `AdminClient` with blocking calls. Each call returns the per-item results
/// for the test to assert; a failure of the whole request panics.
pub struct Admin {
    client: AdminClient<DefaultClientContext>,
    runtime: Runtime,
}

/// `NewTopic` with a fixed replication factor (-1: the broker's default).
pub fn new_topic(name: &str, partitions: i32, replication_factor: i32) -> NewTopic<'_> {
    NewTopic::new(name, partitions, TopicReplication::Fixed(replication_factor))
}

impl Admin {
    pub fn new(config: ClientConfig) -> Admin {
        Admin {
            client: config.create().expect("create an AdminClient"),
            runtime: runtime(),
        }
    }

    fn options(validate_only: bool) -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(CLIENT_TIMEOUT))
            .validate_only(validate_only)
    }

    pub fn create_topics(&self, topics: &[NewTopic<'_>]) -> Vec<TopicResult> {
        self.create_topics_with(topics, false)
    }

    pub fn create_topics_with(&self, topics: &[NewTopic<'_>], validate_only: bool) -> Vec<TopicResult> {
        self.try_create_topics(topics, validate_only)
            .expect("CreateTopics request")
    }

    /// CreateTopics whose request itself may fail (the broker is gone).
    pub fn try_create_topics(&self, topics: &[NewTopic<'_>], validate_only: bool) -> KafkaResult<Vec<TopicResult>> {
        self.runtime
            .block_on(self.client.create_topics(topics, &Self::options(validate_only)))
    }

    /// Creates topics that must all be created (setup for other assertions).
    pub fn create_ok(&self, topics: &[NewTopic<'_>]) {
        for result in self.create_topics(topics) {
            assert!(result.is_ok(), "create topic: {result:?}");
        }
    }

    pub fn delete_topics(&self, names: &[&str]) -> Vec<TopicResult> {
        self.runtime
            .block_on(self.client.delete_topics(names, &Self::options(false)))
            .expect("DeleteTopics request")
    }

    pub fn delete_groups(&self, names: &[&str]) -> Vec<GroupResult> {
        self.runtime
            .block_on(self.client.delete_groups(names, &Self::options(false)))
            .expect("DeleteGroups request")
    }

    /// DeleteRecords below `offset` of each (partition, offset) of `topic`: each partition's
    /// new low watermark, or its error.
    pub fn delete_records(&self, topic: &str, offsets: &[(i32, Offset)]) -> Vec<(i32, Result<i64, RDKafkaErrorCode>)> {
        let mut request = TopicPartitionList::new();
        for (partition, offset) in offsets {
            request
                .add_partition_offset(topic, *partition, *offset)
                .expect("a valid offset");
        }
        let result = self
            .runtime
            .block_on(self.client.delete_records(&request, &Self::options(false)))
            .expect("DeleteRecords request");
        let mut answers: Vec<(i32, Result<i64, RDKafkaErrorCode>)> = result
            .elements()
            .iter()
            .map(|e| {
                let answer = match e.error() {
                    Ok(()) => Ok(e.offset().to_raw().expect("a low watermark")),
                    // rdkafka wraps every per-partition error so.
                    Err(KafkaError::OffsetFetch(code)) => Err(code),
                    Err(other) => panic!("unexpected {other:?}"),
                };
                (e.partition(), answer)
            })
            .collect();
        answers.sort_by_key(|(partition, _)| *partition);
        answers
    }

    /// Raises `topic` to `total` partitions.
    pub fn create_partitions(&self, topic: &str, total: usize) -> TopicResult {
        self.try_create_partitions(topic, total)
            .expect("CreatePartitions request")
    }

    /// CreatePartitions whose request itself may fail (the broker is gone).
    pub fn try_create_partitions(&self, topic: &str, total: usize) -> KafkaResult<TopicResult> {
        let request = [NewPartitions::new(topic, total)];
        let mut results = self
            .runtime
            .block_on(self.client.create_partitions(&request, &Self::options(false)))?;
        assert_eq!(results.len(), 1);
        Ok(results.remove(0))
    }

    /// AlterConfigs of one resource: librdkafka's non-incremental API, which replaces the
    /// resource's whole set of overrides with `configs`. rdkafka 0.39 reports every
    /// resource as altered whatever the broker answered: check refusals with `RawClient`.
    pub fn alter_configs(&self, resource: ResourceSpecifier<'_>, configs: &[(&str, &str)]) {
        let alter = configs
            .iter()
            .fold(AlterConfig::new(resource), |alter, (key, value)| alter.set(key, value));
        self.runtime
            .block_on(self.client.alter_configs([&alter], &Self::options(false)))
            .expect("AlterConfigs request");
    }

    /// DescribeConfigs of one topic. rdkafka 0.39 drops the per-resource error code (an
    /// unknown topic comes back as a resource without entries): check errors with
    /// `RawClient` instead.
    pub fn topic_configs(&self, topic: &str) -> ConfigResource {
        let mut results = self
            .runtime
            .block_on(
                self.client
                    .describe_configs(&[ResourceSpecifier::Topic(topic)], &Self::options(false)),
            )
            .expect("DescribeConfigs request");
        assert_eq!(results.len(), 1);
        results.remove(0).expect("rdkafka reports no per-resource error")
    }

    /// Metadata for every topic.
    pub fn metadata(&self) -> Metadata {
        self.client
            .inner()
            .fetch_metadata(None, CLIENT_TIMEOUT)
            .expect("Metadata request")
    }

    /// Partition count of every topic the cluster lists, sorted by name.
    pub fn topic_partitions(&self) -> Vec<(String, usize)> {
        let mut topics: Vec<_> = self
            .metadata()
            .topics()
            .iter()
            .map(|t| (t.name().to_string(), t.partitions().len()))
            .collect();
        topics.sort();
        topics
    }
}
