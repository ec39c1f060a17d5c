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
