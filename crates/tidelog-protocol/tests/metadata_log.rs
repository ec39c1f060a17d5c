//! The metadata log and the bootstrap snapshot Apache Kafka 4.0 wrote
//! (`tests/fixtures/kafka-4.0/data/__cluster_metadata-0`): every record of every batch
//! decodes to the type and version `kafka-dump-log` printed for it (`dumps/`), a few values
//! match the dump, and every record, then every batch, encodes back to the same bytes.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use bytes::Bytes;
use tidelog_protocol::metadata::records::{
    broker_registration_change_record::BrokerRegistrationChangeRecord, feature_level_record::FeatureLevelRecord,
    kraft_version_record::KraftVersionRecord, leader_change_message::LeaderChangeMessage,
    partition_change_record::PartitionChangeRecord, partition_record::PartitionRecord,
    register_broker_record::RegisterBrokerRecord, snapshot_header_record::SnapshotHeaderRecord,
    topic_record::TopicRecord, voters_record::VotersRecord,
};
use tidelog_protocol::metadata::{
    read_batch, KraftControlRecord, KraftControlType, MetadataLogRecord, MetadataRecord, VersionedRecord,
};
use tidelog_protocol::records::{Compression, RecordBatch, RecordBatchBuilder};
use tidelog_protocol::Uuid;

const CAP: usize = 8 << 20;

/// The directory id of the node's only log dir, `KU3QlA1cTAqWud95vBMHew` in the dump.
const LOG_DIR: Uuid = Uuid(0x294dd0940d5c4c0a96b9df79bc13077b_u128.to_be_bytes());
/// The id of topic `plain`, `iYe6AvyfRWKxIsIg8MO_2g` in the dump.
const PLAIN: Uuid = Uuid(0x8987ba02fc9f4562b122c220f0c3bfda_u128.to_be_bytes());
/// The id of topic `txn`, `bf0vBOzrS06kbPf_wE4A1A` in the dump.
const TXN: Uuid = Uuid(0x6dfd2f04eceb4b4ea46cf7ffc04e00d4_u128.to_be_bytes());

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/kafka-4.0")
        .join(path)
}

/// The batches of a file of the metadata partition, checksums checked.
fn batches(file: &str) -> Vec<RecordBatch> {
    let bytes = Bytes::from(fs::read(fixture(&format!("data/__cluster_metadata-0/{file}"))).unwrap());
    let batches: Vec<RecordBatch> = RecordBatch::iter_batches(bytes).map(Result::unwrap).collect();
    for batch in &batches {
        batch.verify_crc().unwrap();
    }
    batches
}

/// Every record of `batches` with its offset.
fn decode_all(batches: &[RecordBatch]) -> BTreeMap<i64, MetadataLogRecord> {
    batches.iter().flat_map(|b| read_batch(b, CAP).unwrap()).collect()
}

/// What `kafka-dump-log --cluster-metadata-decoder` printed for a record.
#[derive(Debug, PartialEq)]
enum Dumped {
    /// A metadata record's type, in Kafka's `MetadataRecordType` spelling, and version.
    Metadata(String, i16),
    /// A control record's type.
    Control(i16),
}

/// What follows `marker` in `line`.
fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.split_once(marker).map(|(_, rest)| rest)
}

/// The record lines of a dump, by offset.
fn dumped(dump: &str) -> BTreeMap<i64, Dumped> {
    let text = fs::read_to_string(fixture(&format!("dumps/{dump}"))).unwrap();
    text.lines()
        .filter_map(|line| after(line, "| offset: ").map(|rest| (line, rest)))
        .map(|(line, rest)| {
            let offset = rest.split(' ').next().unwrap().parse().unwrap();
            let what = if let Some(payload) = after(line, "payload: {\"type\":\"") {
                let (name, rest) = payload.split_once('"').unwrap();
                let version = after(rest, "\"version\":").unwrap().split(',').next().unwrap();
                Dumped::Metadata(name.to_string(), version.parse().unwrap())
            } else if let Some(control) = after(line, "controlType: ") {
                let id = control.split_once('(').unwrap().1.trim_end_matches(')');
                Dumped::Control(id.parse().unwrap())
            } else {
                let name = after(line, "headerKeys: [] ").unwrap().split(' ').next().unwrap();
                let id = match name {
                    "SnapshotHeader" => 3,
                    "SnapshotFooter" => 4,
                    "KRaftVersion" => 5,
                    "KRaftVoters" => 6,
                    other => panic!("unexpected control record {other}"),
                };
                Dumped::Control(id)
            };
            (offset, what)
        })
        .collect()
}

/// `TopicRecord` as Kafka's `MetadataRecordType` spells it: `TOPIC_RECORD`.
fn screaming(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn as_dumped(record: &MetadataLogRecord) -> Dumped {
    match record {
        MetadataLogRecord::Metadata(m) => Dumped::Metadata(screaming(m.record.record_type().name()), m.version),
        MetadataLogRecord::Control(c) => Dumped::Control(c.control_type() as i16),
    }
}

/// Every record decodes to what the dump says it is, and encodes back to its key and
/// value; every batch is rebuilt byte for byte from its header fields and the re-encoded
/// records.
fn check_file(file: &str, dump: &str) -> BTreeMap<i64, MetadataLogRecord> {
    let batches = batches(file);
    let decoded = decode_all(&batches);
    let expected = dumped(dump);
    assert_eq!(decoded.len(), expected.len(), "{file}: record count");
    for (offset, record) in &decoded {
        assert_eq!(
            Some(&as_dumped(record)),
            expected.get(offset),
            "{file}: offset {offset}"
        );
    }
    for batch in &batches {
        assert_eq!(batch.compression(), Compression::None);
        let mut builder = RecordBatchBuilder::new(batch.base_offset())
            .partition_leader_epoch(batch.partition_leader_epoch())
            .control(batch.is_control());
        for record in batch.records(CAP).unwrap() {
            let record = record.unwrap();
            let (key, value) = decoded[&record.offset].encode().unwrap();
            assert_eq!(
                (&key, Some(&value)),
                (&record.key, record.value.as_ref()),
                "offset {}",
                record.offset
            );
            builder.append(record.timestamp, key.as_deref(), Some(&value), &record.headers);
        }
        assert_eq!(
            builder.build().as_bytes(),
            batch.as_bytes(),
            "{file}: batch at {}",
            batch.base_offset()
        );
    }
    decoded
}

fn metadata(records: &BTreeMap<i64, MetadataLogRecord>, offset: i64) -> &VersionedRecord {
    match &records[&offset] {
        MetadataLogRecord::Metadata(m) => m,
        other => panic!("offset {offset}: {other:?}"),
    }
}

fn control(records: &BTreeMap<i64, MetadataLogRecord>, offset: i64) -> &KraftControlRecord {
    match &records[&offset] {
        MetadataLogRecord::Control(c) => c,
        other => panic!("offset {offset}: {other:?}"),
    }
}

/// The voters record of a single-node quorum, as the log and the snapshot both hold it.
fn check_voters(record: &KraftControlRecord) {
    let KraftControlRecord::VotersRecord(VotersRecord { voters, .. }) = record else {
        panic!("{record:?}")
    };
    assert_eq!(voters.len(), 1);
    let voter = &voters[0];
    assert_eq!((voter.voter_id, voter.voter_directory_id), (1, LOG_DIR));
    let endpoint = &voter.endpoints[0];
    assert_eq!(
        (endpoint.name.as_str(), endpoint.host.as_str(), endpoint.port),
        ("CONTROLLER", "127.0.0.1", 39501)
    );
    let feature = &voter.kraft_version_feature;
    assert_eq!((feature.min_supported_version, feature.max_supported_version), (0, 1));
}

#[test]
fn the_metadata_log_decodes_as_kafka_dumped_it_and_encodes_back() {
    let log = check_file("00000000000000000000.log", "cluster-metadata-log.txt");
    assert_eq!(log.len(), 627);
    let count = |kind| {
        log.values()
            .filter(|r| matches!(r, MetadataLogRecord::Metadata(m) if m.record.record_type() == kind))
            .count()
    };
    use tidelog_protocol::metadata::MetadataRecordType as T;
    assert_eq!(
        [
            T::TopicRecord,
            T::PartitionRecord,
            T::PartitionChangeRecord,
            T::ConfigRecord,
            T::NoOpRecord
        ]
        .map(count),
        [7, 109, 109, 19, 369]
    );

    let KraftControlRecord::LeaderChangeMessage(LeaderChangeMessage {
        leader_id,
        voters,
        granting_voters,
        ..
    }) = control(&log, 0)
    else {
        panic!()
    };
    assert_eq!(*leader_id, 1);
    assert_eq!((voters[0].voter_id, granting_voters[0].voter_id), (1, 1));
    assert!(matches!(
        control(&log, 1),
        KraftControlRecord::KraftVersionRecord(KraftVersionRecord { kraft_version: 1, .. })
    ));
    check_voters(control(&log, 2));

    let MetadataRecord::BeginTransactionRecord(begin) = &metadata(&log, 3).record else {
        panic!()
    };
    assert_eq!(begin.name.as_deref(), Some("Bootstrap records"));
    assert_eq!(
        metadata(&log, 4).record,
        MetadataRecord::FeatureLevelRecord(FeatureLevelRecord {
            name: "metadata.version".into(),
            feature_level: 25,
            ..Default::default()
        })
    );

    let MetadataRecord::RegisterBrokerRecord(broker) = &metadata(&log, 9).record else {
        panic!()
    };
    assert_eq!(metadata(&log, 9).version, 3);
    let RegisterBrokerRecord {
        broker_id,
        broker_epoch,
        end_points,
        rack,
        fenced,
        log_dirs,
        ..
    } = broker;
    assert_eq!((*broker_id, *broker_epoch, rack, *fenced), (1, 9, &None, true));
    assert_eq!((end_points[0].name.as_str(), end_points[0].port), ("PLAINTEXT", 39500));
    assert_eq!(log_dirs, &[LOG_DIR]);
    assert_eq!(broker.features.len(), 5);

    let registration_change = |offset| match &metadata(&log, offset).record {
        MetadataRecord::BrokerRegistrationChangeRecord(BrokerRegistrationChangeRecord {
            fenced,
            in_controlled_shutdown,
            ..
        }) => (*fenced, *in_controlled_shutdown),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        [11, 515, 626].map(registration_change),
        [(-1, 0), (0, 1), (1, 0)],
        "unfenced, shutting down, fenced"
    );

    assert_eq!(
        metadata(&log, 13).record,
        MetadataRecord::TopicRecord(TopicRecord {
            name: "plain".into(),
            topic_id: PLAIN,
            ..Default::default()
        })
    );
    assert_eq!(metadata(&log, 15).version, 2);
    assert_eq!(
        metadata(&log, 15).record,
        MetadataRecord::PartitionRecord(PartitionRecord {
            partition_id: 0,
            topic_id: PLAIN,
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            directories: vec![LOG_DIR],
            ..Default::default()
        })
    );
    // At shutdown, `txn`-1 loses its leader; nothing else changes (-2, null: unchanged).
    assert_eq!(
        metadata(&log, 624).record,
        MetadataRecord::PartitionChangeRecord(PartitionChangeRecord {
            partition_id: 1,
            topic_id: TXN,
            leader: -1,
            ..Default::default()
        })
    );
    let MetadataRecord::ProducerIdsRecord(producer_ids) = &metadata(&log, 111).record else {
        panic!()
    };
    assert_eq!(producer_ids.next_producer_id, 1000);
}

#[test]
fn the_bootstrap_snapshot_decodes_as_kafka_dumped_it_and_encodes_back() {
    let snapshot = check_file(
        "00000000000000000000-0000000000.checkpoint",
        "cluster-metadata-checkpoint.txt",
    );
    assert_eq!(
        snapshot.values().map(as_dumped).collect::<Vec<_>>(),
        [3, 5, 6, 4].map(Dumped::Control)
    );
    assert_eq!(
        control(&snapshot, 0),
        &KraftControlRecord::SnapshotHeaderRecord(SnapshotHeaderRecord {
            version: 0,
            last_contained_log_timestamp: 1_796_534_644_461,
            ..Default::default()
        })
    );
    check_voters(control(&snapshot, 2));
    assert_eq!(
        control(&snapshot, 3).control_type(),
        KraftControlType::SnapshotFooterRecord
    );
}
