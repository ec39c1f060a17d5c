//! The KRaft metadata log under load and crashes: topics created and partitions added while
//! the broker is killed with SIGKILL are all there after the restart if they were
//! acknowledged, with their configs, through snapshots and segment rolls of the metadata log.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::clients::{new_topic, Admin};
use common::{wait_until, Broker};
use rdkafka::admin::ResourceSpecifier;

/// Small segments and snapshots, and no log kept below a snapshot: a few dozen changes roll
/// the metadata log, snapshot it and cut it.
const SMALL_METADATA_LOG: [&str; 6] = [
    "--override",
    "metadata.log.segment.bytes=4096",
    "--override",
    "metadata.log.max.record.bytes.between.snapshots=2048",
    "--override",
    "metadata.max.retention.bytes=0",
];

/// Changes made before the kill; the worker goes on through it.
const CHANGES_BEFORE_KILL: usize = 40;
/// The worker's bound, whatever happens.
const MAX_CHANGES: usize = 400;

/// What the worker had acknowledged: topic → (partitions, retention.ms).
type Acknowledged = Arc<Mutex<BTreeMap<String, (i32, String)>>>;

fn metadata_files(data_dir: &Path, extension: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data_dir.join("__cluster_metadata-0"))
        .expect("the metadata log's directory")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(extension))
        .collect();
    names.sort();
    names
}

/// Creates topics `m<i>` with `retention.ms=<i>`, and grows every third to 2 partitions,
/// recording what the broker acknowledged, until `stop` or `MAX_CHANGES`.
fn change_metadata(admin: Admin, acknowledged: Acknowledged, stop: Arc<AtomicBool>) {
    for i in 0..MAX_CHANGES {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let name = format!("m{i}");
        let retention = (i * 1000).to_string();
        let topic = new_topic(&name, 1, 1).set("retention.ms", &retention);
        let created = admin.try_create_topics(&[topic], false);
        if created.is_ok_and(|results| results.iter().all(|r| r.is_ok())) {
            acknowledged.lock().unwrap().insert(name.clone(), (1, retention));
            if i % 3 == 0 && admin.try_create_partitions(&name, 2).is_ok_and(|r| r.is_ok()) {
                acknowledged.lock().unwrap().get_mut(&name).unwrap().0 = 2;
            }
        }
    }
}

#[test]
fn acknowledged_changes_survive_a_kill_through_snapshots_and_rolls() {
    let mut broker = Broker::start(&SMALL_METADATA_LOG);
    let acknowledged = Acknowledged::default();
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let admin = broker.admin();
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        std::thread::spawn(move || change_metadata(admin, acknowledged, stop))
    };
    wait_until("changes acknowledged before the kill", || {
        (acknowledged.lock().unwrap().len() >= CHANGES_BEFORE_KILL).then_some(())
    });
    broker.kill9();
    stop.store(true, Ordering::SeqCst);
    // Its last request, if any, fails against the dead broker or succeeds against the new
    // one: either way what it recorded is what some broker acknowledged.
    broker.restart();
    worker.join().expect("the worker");
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= CHANGES_BEFORE_KILL);

    let served: BTreeMap<String, usize> = broker.admin().topic_partitions().into_iter().collect();
    let admin = broker.admin();
    for (name, (partitions, retention)) in &acknowledged {
        // A change in flight at the kill may have become durable unacknowledged: at least
        // what was acknowledged.
        let count = served.get(name).copied().unwrap_or(0);
        assert!(
            count >= *partitions as usize && count <= 2,
            "{name}: {count} partitions, {partitions} acknowledged\n{}",
            broker.log()
        );
        let configs = admin.topic_configs(name);
        let value = configs.get("retention.ms").and_then(|e| e.value.clone());
        assert_eq!(value.as_deref(), Some(retention.as_str()), "{name}'s retention.ms");
    }
    // The metadata log was snapshotted, and cut below its newest snapshot.
    let snapshots = metadata_files(broker.data_dir(), ".checkpoint");
    assert!(
        !snapshots.iter().any(|s| s.starts_with("00000000000000000000-")),
        "the bootstrap snapshot went with the log below newer ones: {snapshots:?}"
    );
    assert!(!snapshots.is_empty());
    assert!(
        !metadata_files(broker.data_dir(), ".log").contains(&"00000000000000000000.log".to_string()),
        "the first segment was cut"
    );

    // A clean restart loads the same metadata, and it takes new changes.
    broker.restart();
    let again: BTreeMap<String, usize> = broker.admin().topic_partitions().into_iter().collect();
    assert_eq!(again, served);
    broker.admin().create_ok(&[new_topic("after", 1, 1)]);
    broker
        .admin()
        .alter_configs(ResourceSpecifier::Topic("after"), &[("retention.ms", "5")]);
    broker.restart();
    let configs = broker.admin().topic_configs("after");
    assert_eq!(
        configs.get("retention.ms").and_then(|e| e.value.clone()).as_deref(),
        Some("5")
    );
}

/// DescribeQuorum (what `kafka-metadata-quorum describe` sends) answers as Kafka's quorum
/// leader: this node leads `__cluster_metadata-0` in an epoch of at least 1 and is its only
/// voter, at its controller endpoint (v2); the high watermark moves past a committed change
/// and never past the voter's log end. Any other partition is UNKNOWN_TOPIC_OR_PARTITION.
#[test]
fn describe_quorum_names_this_node_as_the_leader_and_only_voter() {
    use common::raw::RawClient;
    use tidelog_protocol::messages::describe_quorum_request::{DescribeQuorumRequest, PartitionData, TopicData};
    use tidelog_protocol::messages::describe_quorum_response::DescribeQuorumResponse;
    use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

    let request = |topic: &str, partition: i32| {
        RequestBody::DescribeQuorum(DescribeQuorumRequest {
            topics: vec![TopicData {
                topic_name: topic.into(),
                partitions: vec![PartitionData {
                    partition_index: partition,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
    };
    let describe = |raw: &mut RawClient, version: i16, topic: &str, partition: i32| -> DescribeQuorumResponse {
        match raw.request(version, request(topic, partition)) {
            ResponseBody::DescribeQuorum(r) => r,
            other => panic!("not a DescribeQuorum response: {other:?}"),
        }
    };
    let broker = Broker::start(&["--node-id", "7"]);
    let mut raw = RawClient::connect(broker.addr());
    let before = describe(&mut raw, 2, "__cluster_metadata", 0);
    assert_eq!(before.error_code, 0, "{before:?}");
    let partition = &before.topics[0].partitions[0];
    assert_eq!(
        (ErrorCode(partition.error_code), partition.leader_id),
        (ErrorCode::NONE, 7),
        "{before:?}"
    );
    assert!(partition.leader_epoch >= 1, "{before:?}");
    let voters: Vec<i32> = partition.current_voters.iter().map(|v| v.replica_id).collect();
    assert_eq!((voters, partition.observers.len()), (vec![7], 0), "{before:?}");
    let voter = &partition.current_voters[0];
    assert!(
        partition.high_watermark > 0 && partition.high_watermark <= voter.log_end_offset,
        "{before:?}"
    );
    assert!(voter.last_caught_up_timestamp > 0, "{before:?}");
    assert_eq!(before.nodes.len(), 1, "{before:?}");
    assert_eq!(before.nodes[0].node_id, 7);
    assert!(
        before.nodes[0].listeners.iter().any(|l| l.name == "CONTROLLER"),
        "{before:?}"
    );

    // A committed change moves the high watermark.
    let created = raw.metadata(Some(&["quorum-watch"]), true);
    assert_eq!(created.topics[0].error_code, 0, "{created:?}");
    let after = describe(&mut raw, 2, "__cluster_metadata", 0);
    assert!(
        after.topics[0].partitions[0].high_watermark > partition.high_watermark,
        "{before:?}\n{after:?}"
    );
    // v0 has neither timestamps nor nodes; the same leader.
    let v0 = describe(&mut raw, 0, "__cluster_metadata", 0);
    assert_eq!((v0.topics[0].partitions[0].leader_id, v0.nodes.len()), (7, 0));

    for (topic, partition) in [("__cluster_metadata", 1), ("quorum-watch", 0)] {
        let refused = describe(&mut raw, 2, topic, partition);
        assert_eq!(
            (
                refused.error_code,
                ErrorCode(refused.topics[0].partitions[0].error_code)
            ),
            (0, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
            "{topic}-{partition}: {refused:?}"
        );
    }
}
