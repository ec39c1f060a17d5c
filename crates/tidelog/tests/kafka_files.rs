//! Every file Tidelog writes in a data directory is in Kafka's format. After topics,
//! configs, a group's commits, committed and aborted transactions and a DeleteRecords, each
//! file of the stopped broker's directory reads with the project's readers of Kafka's
//! formats and writes back byte for byte, as the Kafka 4.0 fixture's do
//! (`crates/tidelog-broker/tests/kraft_metadata.rs`); segments hold whole batches stamped
//! with their leader epoch; and the metadata log loads into what the broker served.
//! (`KafkaReadsTidelogDirectoryTest.java` has Apache Kafka itself serve such a directory.)

mod common;

use std::path::Path;

use common::clients::{new_topic, CLIENT_TIMEOUT};
use common::{now_ms, Broker};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tidelog_broker::data_dir::meta_properties::MetaProperties;
use tidelog_broker::data_dir::partition_metadata::PartitionMetadata;
use tidelog_broker::metadata::kraft::{load, ConfigResource, QuorumState, METADATA_DIR};
use tidelog_log::{
    partition_dirs, CheckpointFile, LeaderEpochCheckpointFile, LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT,
    REPLICATION_OFFSET_CHECKPOINT,
};
use tidelog_protocol::records::RecordBatch;

const TOPIC: &str = "files";

/// A broker's directory after every kind of write, the broker stopped.
fn written_directory() -> Broker {
    let mut broker = Broker::start(&[]);
    let topic = new_topic(TOPIC, 2, 1).set("retention.ms", "-1");
    broker.admin().create_ok(&[topic]);
    let producer = broker.transactional_producer("files-txn", &[]);
    for commit in [true, false] {
        producer.begin_transaction().expect("begin");
        for i in 0..10 {
            let key = format!("k{i}");
            let record = BaseRecord::to(TOPIC)
                .partition(i % 2)
                .key(&key)
                .payload("v")
                .timestamp(now_ms());
            producer.send(record).map_err(|(e, _)| e).expect("queue a record");
        }
        // Delivered first: librdkafka's abort fails with records still queued.
        producer.flush(CLIENT_TIMEOUT).expect("flush");
        match commit {
            true => producer.commit_transaction(CLIENT_TIMEOUT).expect("commit"),
            false => producer.abort_transaction(CLIENT_TIMEOUT).expect("abort"),
        }
    }
    let consumer = broker.consumer("files-readers");
    let mut offsets = TopicPartitionList::new();
    offsets.add_partition_offset(TOPIC, 0, Offset::Offset(3)).unwrap();
    consumer.commit(&offsets, CommitMode::Sync).expect("commit offsets");
    drop(consumer);
    let moved = broker.admin().delete_records(TOPIC, &[(1, Offset::Offset(2))]);
    assert_eq!(moved, [(1, Ok(2))]);
    broker.stop();
    broker
}

/// `read` then `write` into a fresh directory give the same bytes as `name` in `dir`.
fn writes_back(dir: &Path, name: &str, rewrite: impl FnOnce(&Path)) {
    let copy = tempfile::tempdir().unwrap();
    rewrite(copy.path());
    assert_eq!(
        std::fs::read(copy.path().join(name)).unwrap(),
        std::fs::read(dir.join(name)).unwrap(),
        "{name} in {}",
        dir.display()
    );
}

#[test]
fn every_file_reads_as_kafkas_format_and_writes_back_byte_for_byte() {
    let broker = written_directory();
    let data = broker.data_dir();

    writes_back(data, "meta.properties", |to| {
        MetaProperties::read(data).unwrap().unwrap().write(to).unwrap()
    });
    assert!(MetaProperties::read(data).unwrap().unwrap().directory_id.is_some());
    for name in [
        RECOVERY_POINT_CHECKPOINT,
        LOG_START_OFFSET_CHECKPOINT,
        REPLICATION_OFFSET_CHECKPOINT,
    ] {
        let offsets = CheckpointFile::new(data, name).read().unwrap();
        assert!(!offsets.is_empty(), "{name}");
        writes_back(data, name, |to| CheckpointFile::new(to, name).write(&offsets).unwrap());
    }

    let partitions = partition_dirs(data).unwrap();
    // Ours, the internal topics' (created on first use), and nothing set aside.
    assert_eq!(partitions.iter().filter(|(tp, _)| tp.topic() == TOPIC).count(), 2);
    for (tp, dir) in &partitions {
        let topic = PartitionMetadata::read(dir).unwrap().expect("partition.metadata");
        writes_back(dir, "partition.metadata", |to| topic.write(to).unwrap());
        // Epoch 0 began at offset 0 of every partition that was appended to; one never
        // appended to has no epoch start yet (Kafka's first leader writes the same file).
        let epochs = LeaderEpochCheckpointFile::new(dir).read().unwrap();
        let entries: Vec<(i32, i64)> = epochs.iter().map(|e| (e.epoch, e.start_offset)).collect();
        if tp.topic() == TOPIC || !entries.is_empty() {
            assert_eq!(entries, [(0, 0)], "{tp}");
            writes_back(dir, "leader-epoch-checkpoint", |to| {
                LeaderEpochCheckpointFile::new(to).write(&epochs).unwrap()
            });
        }
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "log") {
                for batch in RecordBatch::iter_batches(std::fs::read(&path).unwrap().into()) {
                    let batch = batch.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    batch.verify_crc().unwrap();
                    assert_eq!(batch.partition_leader_epoch(), 0, "{}", path.display());
                }
            }
        }
    }

    let metadata_dir = data.join(METADATA_DIR);
    let state = QuorumState::read(&metadata_dir).unwrap().unwrap();
    writes_back(&metadata_dir, "quorum-state", |to| state.write(to).unwrap());
    let epochs = LeaderEpochCheckpointFile::new(&metadata_dir).read().unwrap();
    writes_back(&metadata_dir, "leader-epoch-checkpoint", |to| {
        LeaderEpochCheckpointFile::new(to).write(&epochs).unwrap()
    });
    let loaded = load(&metadata_dir).unwrap();
    assert_eq!(loaded.torn_tail, None);
    let topic = loaded.image.topic(TOPIC).expect("the topic in the metadata log");
    assert_eq!(topic.partitions.len(), 2);
    let files = PartitionMetadata::read(&broker.partition_dir(TOPIC, 0))
        .unwrap()
        .unwrap();
    assert_eq!(
        files.topic_id, topic.id,
        "partition.metadata names the metadata's topic id"
    );
    let configs: Vec<_> = loaded.image.configs(ConfigResource::TOPIC, TOPIC).into_iter().collect();
    assert_eq!(configs, [("retention.ms", "-1")]);
    assert!(
        loaded.image.producer_ids().is_some(),
        "the transactional producer's id block"
    );
    assert_eq!(state.leader_epoch, epochs.last().unwrap().epoch);
}
