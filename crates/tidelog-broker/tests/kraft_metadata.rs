//! The data directory Apache Kafka 4.0 wrote (`tests/fixtures/kafka-4.0`, copied to a
//! temporary directory first): its KRaft metadata loads into the image Kafka served
//! (`manifest.json`, the fixture's README), Kafka's small files read and write back byte
//! for byte, and damaged or unknown input ends in a typed error naming the file, or for a
//! torn log tail, in a load up to the last whole batch.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;
use tidelog_broker::data_dir::meta_properties::MetaProperties;
use tidelog_broker::data_dir::partition_metadata::PartitionMetadata;
use tidelog_broker::ids::uuid_from_base64;
use tidelog_broker::metadata::kraft::{
    load, ConfigResource, Controller, KraftError, KraftImage, LeaderAndEpoch, LoadedMetadata, MetadataLog,
    MetadataLogSettings, Provenance, QuorumState, SnapshotDamage, SnapshotId, TornTail, METADATA_DIR,
};
use tidelog_log::{LeaderEpochCheckpointFile, TopicPartition};
use tidelog_protocol::metadata::records::{
    abort_transaction_record::AbortTransactionRecord, begin_transaction_record::BeginTransactionRecord,
    config_record::ConfigRecord, end_transaction_record::EndTransactionRecord,
    feature_level_record::FeatureLevelRecord, partition_record::PartitionRecord,
    remove_topic_record::RemoveTopicRecord, snapshot_footer_record::SnapshotFooterRecord,
    snapshot_header_record::SnapshotHeaderRecord, topic_record::TopicRecord,
};
use tidelog_protocol::metadata::{
    read_batch, KraftControlRecord, MetadataError, MetadataLogRecord, MetadataRecord, VersionedRecord,
};
use tidelog_protocol::records::{RecordBatch, RecordBatchBuilder, RecordsError};
use tidelog_protocol::{DecodeError, Uuid};

/// The segment of the fixture's metadata log, and where its last batch (offset 626, the
/// broker fenced at shutdown) starts.
const SEGMENT: &str = "00000000000000000000.log";
const LAST_BATCH: u64 = 41_270;
const BOOTSTRAP_SNAPSHOT: &str = "00000000000000000000-0000000000.checkpoint";

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/kafka-4.0")
}

/// A copy of the fixture's `data/` in a temporary directory.
fn data_dir() -> TempDir {
    fn copy(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&fixture().join("data"), dir.path());
    dir
}

/// A copy of the fixture's data directory, and its metadata log directory.
fn metadata_dir() -> (TempDir, PathBuf) {
    let data = data_dir();
    let dir = data.path().join(METADATA_DIR);
    (data, dir)
}

fn truncate(path: &Path, len: u64) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn manifest() -> Value {
    serde_json::from_str(&fs::read_to_string(fixture().join("manifest.json")).unwrap()).unwrap()
}

/// The partition directories of a data directory, the metadata log's included.
fn partition_dirs(data: &Path) -> Vec<(TopicPartition, PathBuf)> {
    let mut dirs: Vec<_> = fs::read_dir(data)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .filter_map(|path| Some((TopicPartition::from_dir_name(path.file_name()?.to_str()?)?, path)))
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn the_fixture_loads_into_the_image_kafka_served() {
    let data = data_dir();
    let LoadedMetadata {
        image,
        snapshot,
        log_end_offset,
        torn_tail,
        open_transaction,
        ..
    } = load(&data.path().join(METADATA_DIR)).unwrap();
    assert_eq!(
        snapshot,
        Some(SnapshotId {
            end_offset: 0,
            epoch: 0
        }),
        "the bootstrap snapshot"
    );
    assert_eq!((log_end_offset, torn_tail, open_transaction), (627, None, None));
    assert_eq!(image.provenance(), Provenance { offset: 626, epoch: 1 });

    let manifest = manifest();
    let props = MetaProperties::read(data.path()).unwrap().unwrap();
    assert_eq!(
        (props.cluster_id.as_str(), props.node_id),
        (manifest["cluster_id"].as_str().unwrap(), 1)
    );
    let log_dir = props.directory_id.unwrap();

    // Topics: the manifest's, and the two internal ones with Kafka's 50 partitions each.
    let counts: BTreeMap<&str, usize> = image.topics().map(|t| (t.name.as_str(), t.partitions.len())).collect();
    let mut expected: BTreeMap<&str, usize> = manifest["topics"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, topic)| (name.as_str(), topic["partitions"].as_u64().unwrap() as usize))
        .collect();
    expected.extend([("__consumer_offsets", 50), ("__transaction_state", 50)]);
    assert_eq!(counts, expected);
    assert_eq!(
        expected,
        BTreeMap::from([
            ("codecs", 1),
            ("compacted", 1),
            ("configured", 2),
            ("plain", 3),
            ("txn", 2),
            ("__consumer_offsets", 50),
            ("__transaction_state", 50)
        ])
    );

    // Every partition is on node 1's only log dir; the shutdown took each one's leader
    // away (a change: leader epoch and partition epoch 1).
    for topic in image.topics() {
        for (id, p) in &topic.partitions {
            let state = (
                &p.replicas[..],
                &p.isr[..],
                &p.directories[..],
                p.leader,
                p.leader_epoch,
                p.partition_epoch,
            );
            assert_eq!(
                state,
                (&[1][..], &[1][..], &[log_dir][..], -1, 1, 1),
                "{}-{id}",
                topic.name
            );
        }
    }

    // Each partition directory names its topic's id; the metadata log's is Kafka's fixed one.
    let dirs = partition_dirs(data.path());
    assert_eq!(dirs.len(), 110);
    for (tp, dir) in &dirs {
        let id = PartitionMetadata::read(dir).unwrap().unwrap().topic_id;
        if tp.topic() == "__cluster_metadata" {
            assert_eq!(id, Uuid::from_u128(1));
            continue;
        }
        let topic = image.topic(tp.topic()).unwrap();
        assert_eq!(
            (id, topic.partitions.contains_key(&tp.partition())),
            (topic.id, true),
            "{tp}"
        );
        assert_eq!(image.topic_by_id(id).unwrap().name, tp.topic());
    }

    // Config overrides: the manifest's, and `retention.ms=-1` on every user topic (README).
    let topic_configs = |name: &str| {
        let configs = image.configs(ConfigResource::TOPIC, name);
        configs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    for (name, configs) in manifest["configs"].as_object().unwrap() {
        let configs: BTreeMap<String, String> = serde_json::from_value(configs.clone()).unwrap();
        assert_eq!(topic_configs(name), configs, "{name}");
    }
    assert_eq!(topic_configs("compacted")["segment.ms"], "2000");
    assert_eq!(topic_configs("configured")["message.timestamp.type"], "LogAppendTime");
    for name in ["codecs", "txn"] {
        assert_eq!(
            topic_configs(name),
            BTreeMap::from([("retention.ms".into(), "-1".into())]),
            "{name}"
        );
    }
    assert_eq!(topic_configs("__consumer_offsets")["cleanup.policy"], "compact");
    assert_eq!(image.config_resources().count(), 7, "topic configs only");

    let features: Vec<(&str, i16)> = image.features().iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        features,
        [
            ("group.version", 1),
            ("metadata.version", 25),
            ("transaction.version", 2)
        ]
    );
    let quorum = image.quorum();
    assert_eq!(
        quorum.kraft_version, 1,
        "kraft.version, from the snapshot and the log's control records"
    );
    assert_eq!(quorum.leader, Some(LeaderAndEpoch { leader_id: 1, epoch: 1 }));
    let voters = &quorum.voters.as_ref().unwrap().voters;
    assert_eq!(
        voters
            .iter()
            .map(|v| (v.voter_id, v.voter_directory_id))
            .collect::<Vec<_>>(),
        [(1, log_dir)]
    );

    let producer_ids = image.producer_ids().unwrap();
    assert_eq!((producer_ids.broker_id, producer_ids.next_producer_id), (1, 1000));

    // Broker 1 registered, then shut down: fenced, in controlled shutdown.
    let broker = &image.brokers()[&1];
    let endpoint = &broker.end_points[0];
    assert_eq!(
        (endpoint.name.as_str(), endpoint.host.as_str(), endpoint.port),
        ("PLAINTEXT", "127.0.0.1", 39500)
    );
    assert_eq!(
        (broker.broker_epoch, broker.fenced, broker.in_controlled_shutdown),
        (9, true, true)
    );
    assert_eq!(broker.log_dirs, [log_dir]);
    assert_eq!(image.brokers().len(), 1);
    let controller = &image.controllers()[&1];
    assert_eq!(controller.end_points[0].port, 39501);

    assert!(image.client_quotas().is_empty() && image.scram_credentials().is_empty());
    assert!(image.acls().is_empty() && image.delegation_tokens().is_empty());
}

#[test]
fn kafkas_small_files_write_back_byte_for_byte() {
    let data = data_dir();
    let copy = tempfile::tempdir().unwrap();
    let same = |name: &str, from: &Path, to: &Path| {
        assert_eq!(
            fs::read(to.join(name)).unwrap(),
            fs::read(from.join(name)).unwrap(),
            "{}",
            from.display()
        );
    };

    MetaProperties::read(data.path())
        .unwrap()
        .unwrap()
        .write(copy.path())
        .unwrap();
    same("meta.properties", data.path(), copy.path());

    let metadata_dir = data.path().join(METADATA_DIR);
    let state = QuorumState::read(&metadata_dir).unwrap().unwrap();
    assert_eq!((state.leader_id, state.leader_epoch, state.voted_id), (1, 1, -1));
    state.write(copy.path()).unwrap();
    same("quorum-state", &metadata_dir, copy.path());

    for (tp, dir) in partition_dirs(data.path()) {
        let to = copy.path().join(tp.dir_name());
        fs::create_dir(&to).unwrap();
        PartitionMetadata::read(&dir).unwrap().unwrap().write(&to).unwrap();
        same("partition.metadata", &dir, &to);
        let epochs = LeaderEpochCheckpointFile::new(&dir).read().unwrap();
        let first_epoch = if tp.topic() == "__cluster_metadata" { 1 } else { 0 };
        assert_eq!(
            (epochs.len(), epochs[0].epoch, epochs[0].start_offset),
            (1, first_epoch, 0),
            "{tp}"
        );
        LeaderEpochCheckpointFile::new(&to).write(&epochs).unwrap();
        same("leader-epoch-checkpoint", &dir, &to);
    }
}

#[test]
fn a_torn_last_batch_loads_what_precedes_it() {
    let (_data, dir) = metadata_dir();
    let segment = dir.join(SEGMENT);
    let full = fs::metadata(&segment).unwrap().len();
    let whole = load(&dir).unwrap();
    for cut in [full - 1, full - 30, LAST_BATCH + 61, LAST_BATCH + 11, LAST_BATCH + 1] {
        truncate(&segment, cut);
        let loaded = load(&dir).unwrap();
        let TornTail { path, position, reason } = loaded.torn_tail.unwrap();
        assert_eq!((path, position), (segment.clone(), LAST_BATCH), "cut at {cut}");
        assert!(matches!(reason, RecordsError::Truncated { .. }), "{reason:?}");
        assert_eq!(loaded.log_end_offset, 626);
        assert_eq!(loaded.image.provenance(), Provenance { offset: 625, epoch: 1 });
        // Offset 626 fenced the broker: without it, the broker is shutting down, unfenced.
        let broker = &loaded.image.brokers()[&1];
        assert_eq!((broker.fenced, broker.in_controlled_shutdown), (false, true));
        assert_eq!(loaded.image.topics().count(), whole.image.topics().count());
    }
    // Cut between batches, nothing is torn.
    truncate(&segment, LAST_BATCH);
    let loaded = load(&dir).unwrap();
    assert_eq!((loaded.torn_tail, loaded.log_end_offset), (None, 626));
}

#[test]
fn a_damaged_batch_stops_the_load_there() {
    let (_data, dir) = metadata_dir();
    let segment = dir.join(SEGMENT);
    let mut bytes = fs::read(&segment).unwrap();
    bytes[LAST_BATCH as usize + 70] ^= 0xff;
    fs::write(&segment, bytes).unwrap();
    let loaded = load(&dir).unwrap();
    let tail = loaded.torn_tail.unwrap();
    assert_eq!((tail.path, tail.position), (segment, LAST_BATCH));
    assert!(
        matches!(tail.reason, RecordsError::CrcMismatch { .. }),
        "{:?}",
        tail.reason
    );
    assert_eq!(loaded.log_end_offset, 626);
}

#[test]
fn a_corrupt_snapshot_is_an_error_naming_it() {
    let (_data, dir) = metadata_dir();
    let path = dir.join(BOOTSTRAP_SNAPSHOT);
    let original = fs::read(&path).unwrap();
    let damaged = |bytes: Vec<u8>| {
        fs::write(&path, bytes).unwrap();
        match load(&dir) {
            Err(KraftError::CorruptSnapshot { path: named, damage }) => {
                assert_eq!(named, path);
                damage
            }
            other => panic!("{other:?}"),
        }
    };
    let mut flipped = original.clone();
    flipped[100] ^= 1;
    assert!(matches!(
        damaged(flipped),
        SnapshotDamage::Batch {
            position: 0,
            reason: RecordsError::CrcMismatch { .. }
        }
    ));
    // Its last batch (the footer's, 75 bytes) cut short, then gone.
    assert!(matches!(
        damaged(original[..original.len() - 5].to_vec()),
        SnapshotDamage::Batch {
            position: 166,
            reason: RecordsError::Truncated { .. }
        }
    ));
    assert_eq!(damaged(original[..166].to_vec()), SnapshotDamage::NoFooter);
    assert_eq!(damaged(Vec::new()), SnapshotDamage::NoHeader);
    let misplaced = [&original[..], &original[166..]].concat();
    assert_eq!(damaged(misplaced), SnapshotDamage::Misplaced(3));
    let unended = [
        &batch(0, 0, &[header()])[..],
        &batch(1, 0, &[metadata(begin())])[..],
        &batch(2, 0, &[footer()])[..],
    ]
    .concat();
    assert_eq!(damaged(unended), SnapshotDamage::OpenTransaction(1));
}

#[test]
fn unknown_records_are_errors_naming_the_file_and_offset() {
    let (_data, dir) = metadata_dir();
    let segment = dir.join(SEGMENT);
    let original = fs::read(&segment).unwrap();
    let appended = |value: &[u8]| {
        let mut builder = RecordBatchBuilder::new(627).partition_leader_epoch(1);
        builder.append(0, None, Some(value), &[]);
        fs::write(&segment, [&original[..], builder.build().as_bytes()].concat()).unwrap();
        match load(&dir) {
            Err(KraftError::Record { path, offset, source }) => {
                assert_eq!((path, offset), (segment.clone(), 627));
                source
            }
            other => panic!("{other:?}"),
        }
    };
    // Frame version 1, type 99, version 0.
    assert_eq!(appended(&[1, 99, 0]), MetadataError::UnknownRecordType(99));
    // A FeatureLevelRecord at version 5: Kafka has only ever written version 0.
    assert!(matches!(
        appended(&[1, 12, 5, 1, 0, 0, 0, 0]),
        MetadataError::Decode(DecodeError::UnsupportedRecordVersion { version: 5, .. })
    ));
}

#[test]
fn transactions_apply_at_their_end_and_aborted_ones_never() {
    let dir = tempfile::tempdir().unwrap();
    let log = [
        batch(0, 3, &[metadata(begin()), metadata(topic("kept", 1))]),
        batch(2, 3, &[metadata(feature("group.version", 1)), metadata(end())]),
        batch(
            4,
            3,
            &[metadata(begin()), metadata(topic("aborted", 2)), metadata(abort())],
        ),
        batch(7, 4, &[metadata(topic("plain", 3))]),
        batch(8, 4, &[metadata(begin()), metadata(topic("open", 4))]),
    ]
    .concat();
    fs::write(dir.path().join(SEGMENT), log).unwrap();
    let loaded = load(dir.path()).unwrap();
    let names: Vec<&str> = loaded.image.topics().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["kept", "plain"]);
    assert_eq!(loaded.image.features()["group.version"], 1);
    assert_eq!(
        (loaded.snapshot, loaded.log_end_offset, loaded.open_transaction),
        (None, 10, Some(8))
    );
    assert_eq!(
        loaded.image.provenance(),
        Provenance { offset: 7, epoch: 4 },
        "not into the open one"
    );
}

#[test]
fn the_log_replays_from_the_newest_snapshot_on() {
    let dir = tempfile::tempdir().unwrap();
    // Control records and metadata records go in batches of their own.
    let snapshot = |records: &[MetadataLogRecord]| {
        let end = records.len() as i64 + 1;
        [
            batch(0, 0, &[header()]),
            batch(1, 0, records),
            batch(end, 0, &[footer()]),
        ]
        .concat()
    };
    // An older snapshot, and files that are not snapshots, with no valid contents.
    fs::write(dir.path().join(BOOTSTRAP_SNAPSHOT), b"not read").unwrap();
    fs::write(dir.path().join("00000000000000000009-0000000002.checkpoint.part"), b"").unwrap();
    fs::write(
        dir.path().join("00000000000000000009-0000000002.checkpoint.deleted"),
        b"",
    )
    .unwrap();
    let id = SnapshotId {
        end_offset: 3,
        epoch: 2,
    };
    fs::write(
        dir.path().join(id.file_name()),
        snapshot(&[metadata(topic("in-snapshot", 1))]),
    )
    .unwrap();
    let log = [
        batch(0, 1, &[metadata(topic("before", 2)), metadata(topic("before-too", 3))]),
        batch(2, 2, &[metadata(topic("covered", 4)), metadata(topic("after", 5))]),
        batch(4, 2, &[metadata(topic("after-too", 6))]),
    ];
    // Segments in offset order, whatever the directory's order.
    fs::write(dir.path().join(SEGMENT), [&log[0][..], &log[1][..]].concat()).unwrap();
    fs::write(dir.path().join("00000000000000000004.log"), &log[2]).unwrap();
    let loaded = load(dir.path()).unwrap();
    let names: Vec<&str> = loaded.image.topics().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["in-snapshot", "after", "after-too"]);
    assert_eq!((loaded.snapshot, loaded.log_end_offset), (Some(id), 5));
    assert_eq!(loaded.image.provenance(), Provenance { offset: 4, epoch: 2 });

    // A log starting after the snapshot's end has lost records.
    fs::remove_file(dir.path().join(SEGMENT)).unwrap();
    match load(dir.path()) {
        Err(KraftError::Discontinuity {
            path,
            position: 0,
            expected: 3,
            found: 4,
        }) => assert_eq!(path, dir.path().join("00000000000000000004.log")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn records_contradicting_the_image_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let removal = MetadataRecord::RemoveTopicRecord(Default::default());
    fs::write(
        dir.path().join(SEGMENT),
        batch(0, 0, &[metadata(end()), metadata(removal.clone())]),
    )
    .unwrap();
    match load(dir.path()) {
        Err(KraftError::Replay { path, offset: 0, .. }) => assert_eq!(path, dir.path().join(SEGMENT)),
        other => panic!("{other:?}"),
    }
    fs::write(dir.path().join(SEGMENT), batch(0, 0, &[metadata(removal)])).unwrap();
    assert!(matches!(load(dir.path()), Err(KraftError::Replay { offset: 0, .. })));
}

/// A batch of `records` from `base`, a control batch if the first is a control record.
fn batch(base: i64, epoch: i32, records: &[MetadataLogRecord]) -> Vec<u8> {
    let control = matches!(records[0], MetadataLogRecord::Control(_));
    let mut builder = RecordBatchBuilder::new(base)
        .partition_leader_epoch(epoch)
        .control(control);
    for record in records {
        let (key, value) = record.encode().unwrap();
        builder.append(0, key.as_deref(), Some(&value), &[]);
    }
    builder.build().as_bytes().to_vec()
}

fn metadata(record: MetadataRecord) -> MetadataLogRecord {
    MetadataLogRecord::Metadata(VersionedRecord { version: 0, record })
}

fn topic(name: &str, id: u128) -> MetadataRecord {
    MetadataRecord::TopicRecord(TopicRecord {
        name: name.into(),
        topic_id: Uuid::from_u128(id),
        ..Default::default()
    })
}

fn feature(name: &str, level: i16) -> MetadataRecord {
    MetadataRecord::FeatureLevelRecord(FeatureLevelRecord {
        name: name.into(),
        feature_level: level,
        ..Default::default()
    })
}

fn begin() -> MetadataRecord {
    MetadataRecord::BeginTransactionRecord(BeginTransactionRecord::default())
}

fn end() -> MetadataRecord {
    MetadataRecord::EndTransactionRecord(EndTransactionRecord::default())
}

fn abort() -> MetadataRecord {
    MetadataRecord::AbortTransactionRecord(AbortTransactionRecord::default())
}

fn header() -> MetadataLogRecord {
    MetadataLogRecord::Control(KraftControlRecord::SnapshotHeaderRecord(SnapshotHeaderRecord::default()))
}

fn footer() -> MetadataLogRecord {
    MetadataLogRecord::Control(KraftControlRecord::SnapshotFooterRecord(SnapshotFooterRecord::default()))
}

/// The controller the fixture's Kafka was formatted with.
fn controller() -> Controller {
    Controller {
        node_id: 1,
        directory_id: uuid_from_base64("KU3QlA1cTAqWud95vBMHew").unwrap(),
        listener: "CONTROLLER".into(),
        host: "127.0.0.1".into(),
        port: 39501,
    }
}

/// The features `format` bootstraps, as the fixture's log holds them.
fn bootstrap() -> Vec<VersionedRecord> {
    [
        ("metadata.version", 25),
        ("group.version", 1),
        ("transaction.version", 2),
    ]
    .into_iter()
    .map(|(name, level)| versioned(feature(name, level)))
    .collect()
}

fn versioned(record: MetadataRecord) -> VersionedRecord {
    VersionedRecord { version: 0, record }
}

/// Segments of `segment_bytes`, no snapshot but those a test writes, and nothing kept below
/// the newest snapshot once pruned.
fn settings(segment_bytes: i32) -> MetadataLogSettings {
    MetadataLogSettings {
        segment_bytes,
        snapshot_bytes: u64::MAX,
        retention_bytes: 0,
        retention_ms: -1,
    }
}

/// A metadata log created as the fixture's was, in a temporary data directory.
fn created(segment_bytes: i32) -> (TempDir, PathBuf, MetadataLog) {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join(METADATA_DIR);
    let log = MetadataLog::create(&dir, &controller(), bootstrap(), settings(segment_bytes)).unwrap();
    (data, dir, log)
}

/// The records of every batch of a file, by batch.
fn batches_of(path: &Path) -> Vec<Vec<MetadataLogRecord>> {
    RecordBatch::iter_batches(fs::read(path).unwrap().into())
        .map(|batch| {
            let batch = batch.unwrap();
            read_batch(&batch, 1 << 20)
                .unwrap()
                .into_iter()
                .map(|(_, r)| r)
                .collect()
        })
        .collect()
}

fn partition(topic_id: u128, partition_id: i32) -> MetadataRecord {
    MetadataRecord::PartitionRecord(PartitionRecord {
        partition_id,
        topic_id: Uuid::from_u128(topic_id),
        replicas: vec![1],
        isr: vec![1],
        leader: 1,
        ..Default::default()
    })
}

fn topic_config(topic: &str, name: &str, value: &str) -> MetadataRecord {
    MetadataRecord::ConfigRecord(ConfigRecord {
        resource_type: ConfigResource::TOPIC,
        resource_name: topic.into(),
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    })
}

/// Appends topics, configs, a feature change and a topic removal, one batch each.
fn append_changes(log: &mut MetadataLog) {
    let changes = [
        vec![
            topic("a", 10),
            partition(10, 0),
            partition(10, 1),
            topic_config("a", "retention.ms", "-1"),
        ],
        vec![topic("b", 11), partition(11, 0)],
        vec![feature("group.version", 0)],
        vec![topic_config("a", "cleanup.policy", "compact")],
        vec![MetadataRecord::RemoveTopicRecord(RemoveTopicRecord {
            topic_id: Uuid::from_u128(11),
            ..Default::default()
        })],
    ];
    for records in changes {
        log.append(records.into_iter().map(versioned).collect()).unwrap();
    }
}

/// The segments of a metadata directory, by base offset.
fn log_segments(dir: &Path) -> Vec<PathBuf> {
    let mut segments: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    segments.sort();
    segments
}

/// What a snapshot keeps of an image: everything but the leader, which the log's
/// LeaderChange records (and `quorum-state`) carry.
fn snapshot_state(image: &KraftImage) -> impl PartialEq + std::fmt::Debug {
    let quorum = image.quorum();
    (
        image.records(),
        quorum.kraft_version,
        quorum.voters.clone(),
        image.provenance(),
    )
}

#[test]
fn a_created_metadata_log_is_laid_out_as_kafkas_format_and_first_election_leave_it() {
    let (_data, dir, log) = created(1 << 20);
    let kafka = fixture().join("data").join(METADATA_DIR);
    for name in ["quorum-state", "leader-epoch-checkpoint", "partition.metadata"] {
        assert_eq!(
            fs::read(dir.join(name)).unwrap(),
            fs::read(kafka.join(name)).unwrap(),
            "{name}"
        );
    }
    // The bootstrap snapshot: the same records, but for the header's timestamp.
    let ours = batches_of(&dir.join(BOOTSTRAP_SNAPSHOT));
    let theirs = batches_of(&kafka.join(BOOTSTRAP_SNAPSHOT));
    assert_eq!(ours.concat()[1..], theirs.concat()[1..]);
    // The log's first two batches: the election, then the bootstrap transaction.
    assert_eq!(batches_of(&dir.join(SEGMENT)), batches_of(&kafka.join(SEGMENT))[..2]);
    for index in ["00000000000000000000.index", "00000000000000000000.timeindex"] {
        assert!(dir.join(index).exists(), "{index}");
    }
    assert_eq!(log.end_offset(), 8);
    let loaded = load(&dir).unwrap();
    assert_eq!(loaded.log_end_offset, 8);
    let quorum = loaded.image.quorum();
    assert_eq!(quorum.kraft_version, 1);
    assert_eq!(quorum.leader, Some(LeaderAndEpoch { leader_id: 1, epoch: 1 }));
    let features: Vec<_> = loaded.image.features().iter().map(|(n, l)| (n.as_str(), *l)).collect();
    assert_eq!(
        features,
        [
            ("group.version", 1),
            ("metadata.version", 25),
            ("transaction.version", 2)
        ]
    );
}

#[test]
fn appended_records_reload_into_the_image_they_describe() {
    let (_data, dir, mut log) = created(400);
    append_changes(&mut log);
    let loaded = load(&dir).unwrap();
    assert_eq!((loaded.log_end_offset, loaded.torn_tail), (log.end_offset(), None));
    let image = &loaded.image;
    let a = image.topic("a").unwrap();
    assert_eq!(a.partitions.keys().copied().collect::<Vec<_>>(), [0, 1]);
    assert!(image.topic("b").is_none());
    let configs: Vec<_> = image.configs(ConfigResource::TOPIC, "a").into_iter().collect();
    assert_eq!(configs, [("cleanup.policy", "compact"), ("retention.ms", "-1")]);
    assert!(image.configs(ConfigResource::TOPIC, "b").is_empty());
    assert_eq!(image.features().get("group.version"), None);
    assert_eq!(image.provenance().offset, log.end_offset() - 1);
    // Small segments rolled, each with its indexes.
    let segments = log_segments(&dir);
    assert!(segments.len() > 1, "{segments:?}");
    for segment in segments {
        for extension in ["index", "timeindex"] {
            assert!(segment.with_extension(extension).exists(), "{}", segment.display());
        }
    }
}

#[test]
fn a_snapshot_and_the_log_after_it_reload_the_same_image_after_pruning() {
    let (_data, dir, mut log) = created(400);
    append_changes(&mut log);
    let id = log.write_snapshot(&load(&dir).unwrap().image).unwrap();
    assert_eq!(id.end_offset, log.end_offset());
    log.append(vec![versioned(topic("c", 12)), versioned(partition(12, 0))])
        .unwrap();
    let before = load(&dir).unwrap();
    log.prune().unwrap();
    assert!(!dir.join(BOOTSTRAP_SNAPSHOT).exists());
    let segments = log_segments(&dir);
    assert!(!segments.iter().any(|s| s.ends_with(SEGMENT)), "{segments:?}");
    let after = load(&dir).unwrap();
    assert_eq!(after.snapshot, Some(id));
    assert_eq!(after.log_end_offset, before.log_end_offset);
    assert_eq!(snapshot_state(&after.image), snapshot_state(&before.image));
    assert!(after.image.topic("c").is_some());
}

#[test]
fn a_torn_last_append_reloads_to_the_batch_before_it() {
    let (_data, dir, mut log) = created(1 << 20);
    append_changes(&mut log);
    let whole = load(&dir).unwrap();
    log.append(vec![versioned(topic("torn", 13))]).unwrap();
    let segment = log_segments(&dir).pop().unwrap();
    truncate(&segment, fs::metadata(&segment).unwrap().len() - 10);
    let loaded = load(&dir).unwrap();
    assert!(loaded.torn_tail.is_some());
    assert_eq!(loaded.log_end_offset, whole.log_end_offset);
    assert_eq!(loaded.image, whole.image);
}

#[test]
fn a_leftover_part_file_is_not_a_snapshot() {
    let (_data, dir, mut log) = created(1 << 20);
    append_changes(&mut log);
    let whole = load(&dir).unwrap();
    let part = SnapshotId {
        end_offset: log.end_offset(),
        epoch: 1,
    };
    fs::write(dir.join(format!("{}.part", part.file_name())), b"cut short").unwrap();
    let loaded = load(&dir).unwrap();
    assert_eq!(loaded.snapshot, whole.snapshot);
    assert_eq!(loaded.image, whole.image);
}

#[test]
fn a_snapshot_of_the_fixtures_image_reloads_into_it() {
    let (_fixture, kafka) = metadata_dir();
    let image = load(&kafka).unwrap().image;
    let (_data, dir, log) = created(1 << 20);
    let id = log.write_snapshot(&image).unwrap();
    assert_eq!(id.file_name(), "00000000000000000627-0000000001.checkpoint");
    let loaded = load(&dir).unwrap();
    assert_eq!(loaded.snapshot, Some(id));
    assert_eq!(snapshot_state(&loaded.image), snapshot_state(&image));
    assert!(!loaded.image.brokers().is_empty() && loaded.image.producer_ids().is_some());
    // metadata.version first, as Kafka writes it, though it sorts after group.version.
    assert!(
        matches!(&image.records()[0].record, MetadataRecord::FeatureLevelRecord(f) if f.name == "metadata.version")
    );
    // Brokers at the version the fixture's Kafka 4.0 (metadata.version 25) wrote and reads.
    let brokers: Vec<i16> = image
        .records()
        .iter()
        .filter(|r| matches!(r.record, MetadataRecord::RegisterBrokerRecord(_)))
        .map(|r| r.version)
        .collect();
    assert_eq!(brokers, [3]);
}
