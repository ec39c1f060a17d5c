//! What each config means, in a line: DescribeConfigs answers with it when asked for
//! documentation (v3+, as `kafka-configs --describe --all` and admin clients ask), and
//! with each broker config's type.

use crate::topic_config::ConfigType;

/// The broker configs DescribeConfigs reports ([`crate::BrokerConfig::describe`]), each
/// with its type and meaning.
const BROKER: &[(&str, ConfigType, &str)] = &[
    ("node.id", ConfigType::Int, "This node's id in the cluster."),
    (
        "listeners",
        ConfigType::List,
        "The addresses the broker listens on, as NAME://host:port.",
    ),
    (
        "advertised.listeners",
        ConfigType::List,
        "The addresses clients are told to connect to; the listeners when not set.",
    ),
    (
        "log.dirs",
        ConfigType::List,
        "The directories holding the partitions' logs; the first one also holds the metadata log.",
    ),
    (
        "num.partitions",
        ConfigType::Int,
        "The partition count of a topic created without one.",
    ),
    (
        "default.replication.factor",
        ConfigType::Int,
        "The replication factor of a topic created without one (1 on a single node).",
    ),
    (
        "auto.create.topics.enable",
        ConfigType::Boolean,
        "Whether a Metadata request for an unknown topic creates it.",
    ),
    (
        "metrics.partition.series.enable",
        ConfigType::Boolean,
        "Tidelog's: whether /metrics has a series per partition (log size, start and end offsets, the \
         cleaner's figures); turn it off on a broker of many partitions.",
    ),
    (
        "delete.topic.enable",
        ConfigType::Boolean,
        "Whether topics may be deleted.",
    ),
    (
        "log.segment.bytes",
        ConfigType::Int,
        "The size at which a partition's active segment is rolled.",
    ),
    (
        "metadata.log.segment.bytes",
        ConfigType::Int,
        "The size at which the KRaft metadata log's active segment is rolled.",
    ),
    (
        "metadata.log.max.record.bytes.between.snapshots",
        ConfigType::Long,
        "The bytes of metadata log batches after which a metadata snapshot is written.",
    ),
    (
        "metadata.max.retention.bytes",
        ConfigType::Long,
        "The size above which the metadata log's oldest segments below its newest snapshot are deleted; -1 keeps them.",
    ),
    (
        "metadata.max.retention.ms",
        ConfigType::Long,
        "The age past which the metadata log's segments below its newest snapshot are deleted; -1 keeps them.",
    ),
    (
        "log.roll.ms",
        ConfigType::Long,
        "The age at which a partition's active segment is rolled.",
    ),
    (
        "log.retention.ms",
        ConfigType::Long,
        "How long a closed segment is kept before it is deleted; -1 keeps it forever.",
    ),
    (
        "log.retention.bytes",
        ConfigType::Long,
        "The size above which a partition's oldest segments are deleted; -1 for no limit.",
    ),
    (
        "log.retention.check.interval.ms",
        ConfigType::Long,
        "How often retention is applied.",
    ),
    (
        "log.cleaner.backoff.ms",
        ConfigType::Long,
        "How often the log cleaner looks for compacted partitions dirty enough to clean.",
    ),
    (
        "log.cleaner.dedupe.buffer.size",
        ConfigType::Long,
        "The memory of the log cleaner's key maps, shared by its threads; a partition with more keys is cleaned in passes.",
    ),
    (
        "log.cleaner.threads",
        ConfigType::Int,
        "How many partitions the log cleaner cleans at once; 0 turns it off.",
    ),
    (
        "log.cleaner.io.max.bytes.per.second",
        ConfigType::Double,
        "The most the log cleaner threads together read and write a second.",
    ),
    (
        "num.recovery.threads.per.data.dir",
        ConfigType::Int,
        "How many partitions of each log directory a start opens (recovering them after a crash), and a shutdown closes, at once.",
    ),
    (
        "log.open.files.max",
        ConfigType::Long,
        "How many segment and index files stay open at once, the least recently used closed first and reopened on use; -1 for half the process's open-file limit.",
    ),
    (
        "log.index.interval.bytes",
        ConfigType::Int,
        "The bytes of log between two entries of the offset index.",
    ),
    (
        "log.index.size.max.bytes",
        ConfigType::Int,
        "The largest an offset or time index may grow.",
    ),
    (
        "message.max.bytes",
        ConfigType::Int,
        "The largest record batch the broker accepts.",
    ),
    (
        "socket.request.max.bytes",
        ConfigType::Int,
        "The largest request frame the broker accepts.",
    ),
    (
        "max.connections",
        ConfigType::Int,
        "The most connections open at once; past it new ones wait, unread, until one closes.",
    ),
    (
        "connections.max.reauth.ms",
        ConfigType::Long,
        "A SASL session's lifetime: past it the connection is closed unless it re-authenticated; 0 for none.",
    ),
    (
        "quota.window.num",
        ConfigType::Int,
        "The number of samples a client quota is measured over.",
    ),
    (
        "quota.window.size.seconds",
        ConfigType::Int,
        "The span of each client quota sample, in seconds.",
    ),
    (
        "controller.quota.window.num",
        ConfigType::Int,
        "The number of samples a controller mutation quota's token bucket spans.",
    ),
    (
        "controller.quota.window.size.seconds",
        ConfigType::Int,
        "The span of each controller mutation quota sample, in seconds.",
    ),
    (
        "max.connections.per.ip",
        ConfigType::Int,
        "The most connections open at once from one address; one more is closed at once.",
    ),
    (
        "max.connection.creation.rate",
        ConfigType::Int,
        "The most new connections a second; past it the broker accepts them more slowly.",
    ),
    (
        "fetch.max.bytes",
        ConfigType::Int,
        "The most bytes a Fetch response holds, beyond its first batch.",
    ),
    (
        "log.flush.interval.messages",
        ConfigType::Long,
        "Records between forced flushes (every acknowledged write is flushed anyway).",
    ),
    (
        "log.flush.interval.ms",
        ConfigType::Long,
        "The longest a record waits for a forced flush (every acknowledged write is flushed anyway).",
    ),
    (
        "group.initial.rebalance.delay.ms",
        ConfigType::Int,
        "How long the first rebalance of an empty classic group waits for more members.",
    ),
    (
        "offsets.topic.num.partitions",
        ConfigType::Int,
        "The partition count of __consumer_offsets when it is created.",
    ),
    (
        "offsets.topic.segment.bytes",
        ConfigType::Int,
        "The segment size of __consumer_offsets when it is created, kept small so that it is compacted sooner.",
    ),
    (
        "offsets.retention.minutes",
        ConfigType::Int,
        "How long the committed offsets of a group without members are kept.",
    ),
    (
        "offsets.retention.check.interval.ms",
        ConfigType::Long,
        "How often expired committed offsets are looked for.",
    ),
    (
        "producer.id.expiration.ms",
        ConfigType::Int,
        "How long a partition remembers an idle idempotent producer.",
    ),
    (
        "group.consumer.session.timeout.ms",
        ConfigType::Int,
        "The session timeout of a KIP-848 consumer group member.",
    ),
    (
        "auto.leader.rebalance.enable",
        ConfigType::Boolean,
        "Whether the controller moves leaderships back to their preferred replicas by itself.",
    ),
    (
        "broker.rack",
        ConfigType::String,
        "The rack of this broker, for consumers reading from a replica of their own rack.",
    ),
    (
        "replica.selector.class",
        ConfigType::String,
        "Which replica a leader sends consumers to: Kafka's RackAwareReplicaSelector for one of their rack, none for the leader.",
    ),
    (
        "leader.imbalance.check.interval.seconds",
        ConfigType::Long,
        "How often the controller looks for brokers leading too few of their preferred partitions.",
    ),
    (
        "leader.imbalance.per.broker.percentage",
        ConfigType::Int,
        "The share of its preferred partitions a broker may not lead before they are moved back.",
    ),
    (
        "min.insync.replicas",
        ConfigType::Int,
        "The in-sync replicas an acks=all write needs, for topics that do not set it.",
    ),
    (
        "broker.session.timeout.ms",
        ConfigType::Int,
        "How long the controller waits for a broker's heartbeat before fencing it.",
    ),
    (
        "replica.lag.time.max.ms",
        ConfigType::Long,
        "A follower not caught up with its leader for this long leaves the in-sync replicas.",
    ),
    (
        "replica.fetch.wait.max.ms",
        ConfigType::Int,
        "How long a follower's fetch waits at the leader for new data.",
    ),
    (
        "replica.fetch.max.bytes",
        ConfigType::Int,
        "The bytes a follower's fetch asks of each partition.",
    ),
    (
        "replica.fetch.response.max.bytes",
        ConfigType::Int,
        "The bytes a follower's fetch asks of all its partitions.",
    ),
    (
        "broker.heartbeat.interval.ms",
        ConfigType::Int,
        "How often a broker sends the controller a heartbeat.",
    ),
    (
        "group.consumer.heartbeat.interval.ms",
        ConfigType::Int,
        "The heartbeat interval told to KIP-848 members.",
    ),
    (
        "group.consumer.assignors",
        ConfigType::List,
        "The server-side assignors offered, the first being the default.",
    ),
    (
        "transaction.state.log.num.partitions",
        ConfigType::Int,
        "The partition count of __transaction_state when it is created.",
    ),
    (
        "transaction.state.log.segment.bytes",
        ConfigType::Int,
        "The segment size of __transaction_state when it is created, kept small so that it is compacted sooner.",
    ),
    (
        "transaction.max.timeout.ms",
        ConfigType::Int,
        "The longest transaction timeout a producer may ask for.",
    ),
    (
        "transactional.id.expiration.ms",
        ConfigType::Int,
        "How long an unused transactional id is remembered.",
    ),
    (
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        ConfigType::Int,
        "How often transactions past their timeout are looked for and aborted.",
    ),
    (
        "transaction.partition.verification.enable",
        ConfigType::Boolean,
        "Whether a transactional batch is accepted only for a partition added to its transaction.",
    ),
];

/// Each topic config's meaning.
const TOPIC: &[(&str, &str)] = &[
    (
        "cleanup.policy",
        "delete (retention by time and size), compact (the latest record of each key), or both.",
    ),
    (
        "compression.gzip.level",
        "The gzip level when the broker compresses with gzip.",
    ),
    (
        "compression.lz4.level",
        "The lz4 level when the broker compresses with lz4.",
    ),
    (
        "compression.type",
        "The codec the topic's batches are stored with; producer keeps the producer's.",
    ),
    (
        "compression.zstd.level",
        "The zstd level when the broker compresses with zstd.",
    ),
    (
        "delete.retention.ms",
        "How long tombstones stay in a compacted topic after cleaning.",
    ),
    (
        "file.delete.delay.ms",
        "How long a deleted segment's files wait before removal.",
    ),
    (
        "flush.messages",
        "Records between forced flushes (every acknowledged write is flushed anyway).",
    ),
    (
        "flush.ms",
        "The longest a record waits for a forced flush (every acknowledged write is flushed anyway).",
    ),
    (
        "follower.replication.throttled.replicas",
        "The replicas whose follower replication is throttled.",
    ),
    (
        "index.interval.bytes",
        "The bytes of log between two entries of the offset index.",
    ),
    (
        "leader.replication.throttled.replicas",
        "The replicas whose leader replication is throttled.",
    ),
    (
        "local.retention.bytes",
        "With tiered storage, the bytes kept locally; -2 follows retention.bytes.",
    ),
    (
        "local.retention.ms",
        "With tiered storage, how long segments stay local; -2 follows retention.ms.",
    ),
    ("max.compaction.lag.ms", "The longest a record may stay uncompacted."),
    ("max.message.bytes", "The largest record batch the topic accepts."),
    (
        "message.timestamp.after.max.ms",
        "How far in the future a CreateTime timestamp may be.",
    ),
    (
        "message.timestamp.before.max.ms",
        "How far in the past a CreateTime timestamp may be.",
    ),
    (
        "message.timestamp.type",
        "CreateTime (the producer's) or LogAppendTime (the broker's).",
    ),
    (
        "min.cleanable.dirty.ratio",
        "The share of uncompacted log above which the cleaner compacts the topic.",
    ),
    ("min.compaction.lag.ms", "The shortest a record stays uncompacted."),
    ("min.insync.replicas", "The in-sync replicas an acks=all write needs."),
    ("preallocate", "Whether segment files are preallocated."),
    (
        "remote.log.copy.disable",
        "With tiered storage, stops copying segments to the remote tier.",
    ),
    (
        "remote.log.delete.on.disable",
        "With tiered storage, deletes remote segments when the tier is turned off.",
    ),
    (
        "remote.storage.enable",
        "Whether the topic uses tiered storage (not available here).",
    ),
    (
        "retention.bytes",
        "The size above which a partition's oldest segments are deleted; -1 for no limit.",
    ),
    (
        "retention.ms",
        "How long a closed segment is kept before it is deleted; -1 keeps it forever.",
    ),
    (
        "segment.bytes",
        "The size at which a partition's active segment is rolled.",
    ),
    ("segment.index.bytes", "The largest an offset or time index may grow."),
    (
        "segment.jitter.ms",
        "A random delay subtracted from segment.ms, so segments do not all roll at once.",
    ),
    ("segment.ms", "The age at which a partition's active segment is rolled."),
    (
        "unclean.leader.election.enable",
        "Whether a replica out of sync may become leader.",
    ),
];

/// A broker config's type and meaning.
pub fn broker(name: &str) -> Option<(ConfigType, &'static str)> {
    BROKER.iter().find(|(n, ..)| *n == name).map(|(_, ty, doc)| (*ty, *doc))
}

/// A topic config's meaning.
pub fn topic(name: &str) -> Option<&'static str> {
    TOPIC.iter().find(|(n, _)| *n == name).map(|(_, doc)| *doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic_config::TOPIC_CONFIGS;
    use crate::BrokerConfig;

    #[test]
    fn every_described_config_is_documented() {
        for (name, ..) in BrokerConfig::default().describe() {
            assert!(broker(name).is_some(), "broker config {name}");
        }
        for def in TOPIC_CONFIGS {
            assert!(topic(def.name).is_some(), "topic config {}", def.name);
        }
        assert_eq!(
            BROKER.len(),
            BrokerConfig::default().describe().len(),
            "no documentation without a config"
        );
        assert_eq!(TOPIC.len(), TOPIC_CONFIGS.len(), "no documentation without a config");
    }
}
