//! librdkafka clients (through the `rdkafka` crate) pointing at a test broker.
//!
//! Tests are plain synchronous functions: `Admin` wraps rdkafka's async admin calls and
//! blocks on them, so a test reads as a list of calls and the results they must give.

use std::future::Future;
use std::time::Duration;

use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigResource, GroupResult, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication, TopicResult,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::BaseConsumer;
use rdkafka::metadata::Metadata;
use rdkafka::producer::{BaseProducer, FutureProducer};
use rdkafka::ClientConfig;
use tokio::runtime::Runtime;

use super::Broker;

/// Safety net for one client call; a healthy broker answers in milliseconds.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

impl Broker {
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
        self.runtime
            .block_on(self.client.create_topics(topics, &Self::options(validate_only)))
            .expect("CreateTopics request")
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

    /// Raises `topic` to `total` partitions.
    pub fn create_partitions(&self, topic: &str, total: usize) -> TopicResult {
        let request = [NewPartitions::new(topic, total)];
        let mut results = self
            .runtime
            .block_on(self.client.create_partitions(&request, &Self::options(false)))
            .expect("CreatePartitions request");
        assert_eq!(results.len(), 1);
        results.remove(0)
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
