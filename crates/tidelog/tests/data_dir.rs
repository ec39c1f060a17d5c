//! A start never destroys a data directory: one process per directory (its `.lock`); a
//! directory whose metadata log is lost, damaged or another node's is refused without a
//! byte changed; and a partition directory no metadata names is set aside, not deleted.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::clients::{self, new_topic, send, TestRecord, CLIENT_TIMEOUT};
use common::{now_ms, serve_dir_expecting_exit, Broker};

const TOPIC: &str = "kept";
const RECORDS: usize = 50;

/// A broker with `TOPIC` (one partition) holding `RECORDS` acknowledged records.
fn broker_with_records() -> Broker {
    let broker = Broker::start(&[]);
    broker.admin().create_ok(&[new_topic(TOPIC, 1, 1)]);
    let producer = broker.tracked_producer(&[("acks", "all")]);
    for id in 0..RECORDS {
        let record = TestRecord {
            key: format!("key-{id}").into_bytes(),
            value: format!("value-{id}").into_bytes(),
            headers: vec![],
            timestamp: now_ms(),
        };
        send(&producer, TOPIC, Some(0), id, &record);
    }
    clients::flush(&producer, CLIENT_TIMEOUT);
    broker
}

fn assert_records_served(broker: &Broker) {
    let values: Vec<Vec<u8>> = broker
        .read_all(TOPIC, 0)
        .into_iter()
        .map(|m| m.value.expect("a value"))
        .collect();
    let expected: Vec<Vec<u8>> = (0..RECORDS).map(|id| format!("value-{id}").into_bytes()).collect();
    assert_eq!(values, expected);
}

/// Every file under `dir` with its bytes, but the empty `.lock` a start takes first (as
/// Kafka's does), before it reads anything.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("list a dir") {
            let path = entry.expect("a dir entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path != dir.join(".lock") {
                let bytes = std::fs::read(&path).expect("read a file");
                files.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
            }
        }
    }
    files
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a dir");
    for entry in std::fs::read_dir(from).expect("list a dir") {
        let entry = entry.expect("a dir entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
            // The fixture is read-only; the copy must be writable as a data directory is.
            let mut permissions = std::fs::metadata(&target).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            permissions.set_readonly(false);
            std::fs::set_permissions(&target, permissions).unwrap();
        }
    }
}

/// Starts on `dir` expecting a refusal whose message contains `expected`, and checks that
/// no file changed.
fn assert_refused_unchanged(dir: &Path, expected: &str) {
    let before = snapshot(dir);
    let (status, log) = serve_dir_expecting_exit(dir, "PLAINTEXT", &[]);
    assert!(!status.success(), "the start was refused; log:\n{log}");
    assert!(log.contains(expected), "the refusal says {expected:?}; log:\n{log}");
    assert!(
        log.contains(&dir.display().to_string()),
        "the refusal names the directory; log:\n{log}"
    );
    let after = snapshot(dir);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (path, bytes) in &before {
        assert!(after[path] == *bytes, "{} changed", path.display());
    }
}

#[test]
fn a_second_broker_on_a_directory_in_use_refuses_to_start() {
    let broker = broker_with_records();
    let (status, log) = serve_dir_expecting_exit(broker.data_dir(), "PLAINTEXT", &[]);
    assert!(!status.success(), "the second broker exits non-zero; log:\n{log}");
    assert!(log.contains("locked by another process"), "{log}");
    assert!(log.contains(&broker.data_dir().display().to_string()), "{log}");
    // The first one goes on serving everything it acknowledged, before and after a restart.
    assert_records_served(&broker);
    let mut broker = broker;
    broker.restart();
    assert_records_served(&broker);
}

#[test]
fn a_lost_metadata_log_beside_partitions_is_refused_and_nothing_changes() {
    let mut broker = broker_with_records();
    broker.stop();
    std::fs::remove_dir_all(broker.data_dir().join("__cluster_metadata-0")).expect("lose the metadata log");
    assert_refused_unchanged(broker.data_dir(), "but the metadata log");
}

#[test]
fn a_partition_no_metadata_names_is_set_aside_not_deleted() {
    let mut broker = broker_with_records();
    // A crash: the next start recovers what it opens.
    broker.kill9();
    // A partition directory of a topic the metadata never had (copied in by hand, say),
    // with a torn tail that recovery would cut: set aside unopened, it keeps every byte.
    let orphan = broker.data_dir().join("orphan-0");
    copy_dir(&broker.partition_dir(TOPIC, 0), &orphan);
    let segment = orphan.join("00000000000000000000.log");
    let mut torn = std::fs::read(&segment).unwrap();
    torn.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9, 0, 0]);
    std::fs::write(&segment, torn).unwrap();
    let orphan_files = snapshot(&orphan);
    broker.restart();
    assert_records_served(&broker);
    let stray: Vec<PathBuf> = std::fs::read_dir(broker.data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("orphan-0.") && name.ends_with("-stray")
        })
        .collect();
    assert_eq!(stray.len(), 1, "one stray directory: {stray:?}\n{}", broker.log());
    assert!(!orphan.exists());
    assert_eq!(snapshot(&stray[0]), orphan_files, "the stray log keeps every byte");
    assert!(broker.log().contains("set aside, not deleted"), "{}", broker.log());
    // Left alone by the next start too.
    broker.restart();
    assert!(stray[0].exists());
}

#[test]
fn a_topic_deleted_through_the_api_has_its_files_removed() {
    let broker = broker_with_records();
    assert!(broker.partition_dir(TOPIC, 0).exists());
    let results = broker.admin().delete_topics(&[TOPIC]);
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    common::wait_until("the partition directory is gone", || {
        (!broker.partition_dir(TOPIC, 0).exists()).then_some(())
    });
}

/// A copy of the data directory Apache Kafka 4.0 wrote (tests/fixtures/kafka-4.0): served
/// by `tests/python/test_kafka_fixture.py`, damaged here.
fn kafka_fixture() -> tempfile::TempDir {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/kafka-4.0/data");
    let copy = tempfile::tempdir().expect("a temp dir");
    copy_dir(&fixture, copy.path());
    copy
}

#[test]
fn a_kafka_directory_of_another_node_is_refused_and_nothing_changes() {
    let copy = kafka_fixture();
    let before = snapshot(copy.path());
    let (status, log) = serve_dir_expecting_exit(copy.path(), "PLAINTEXT", &["--node-id", "2"]);
    assert!(!status.success(), "{log}");
    assert!(log.contains("belongs to node 1, not 2"), "{log}");
    assert!(snapshot(copy.path()) == before, "no file changed");
}

#[test]
fn a_damaged_metadata_log_after_a_clean_shutdown_is_refused_naming_it() {
    // Kafka shut down cleanly (its .kafka_cleanshutdown is there): a cut batch is damage,
    // not a crash's torn write, and nothing is cut.
    let copy = kafka_fixture();
    let segment = copy.path().join("__cluster_metadata-0/00000000000000000000.log");
    let bytes = std::fs::read(&segment).unwrap();
    std::fs::write(&segment, &bytes[..bytes.len() - 7]).unwrap();
    assert_refused_unchanged(copy.path(), "00000000000000000000.log: the batch at byte");
}

#[test]
fn a_corrupt_metadata_snapshot_is_refused_naming_it() {
    let copy = kafka_fixture();
    let snapshot_file = copy
        .path()
        .join("__cluster_metadata-0/00000000000000000000-0000000000.checkpoint");
    let mut bytes = std::fs::read(&snapshot_file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&snapshot_file, bytes).unwrap();
    assert_refused_unchanged(copy.path(), "corrupt snapshot");
}

#[test]
fn a_log_dir_that_is_a_file_is_refused_with_its_name() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"data").unwrap();
    let (status, log) = serve_dir_expecting_exit(&file, "PLAINTEXT", &[]);
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("is not a directory") && log.contains(&file.display().to_string()),
        "{log}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"data");
}

#[test]
fn format_sets_the_cluster_id_a_start_keeps_and_never_formats_twice() {
    const CLUSTER_ID: &str = "ythC6Rc3SKC1BAOmVz0kPA";
    let dir = tempfile::tempdir().expect("a temp dir");
    let data = dir.path().join("data");
    let format = |cluster_id: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tidelog"))
            .args(["format", "--cluster-id", cluster_id, "--log-dirs"])
            .arg(&data)
            .output()
            .expect("run tidelog format")
    };
    let bad = format("not-a-uuid");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a UUID"));
    assert!(!data.exists(), "a refused format creates nothing");
    assert!(format(CLUSTER_ID).status.success());
    assert!(data.join("__cluster_metadata-0").join("quorum-state").exists());
    let identity = std::fs::read_to_string(data.join("meta.properties")).unwrap();
    assert!(identity.contains(&format!("cluster.id={CLUSTER_ID}")), "{identity}");
    // Formatted once: a second format (of any cluster) changes nothing.
    let before = snapshot(&data);
    let again = format("QDvH4F9RggFjFH4Yh0D7Sg");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already formatted"));
    assert!(snapshot(&data) == before);
    // A start serves the formatted directory as it is.
    let (mut child, _addr) = common::serve_then_close_its_log(&data);
    assert!(common::terminate(&mut child).success());
    let identity = std::fs::read_to_string(data.join("meta.properties")).unwrap();
    assert!(identity.contains(&format!("cluster.id={CLUSTER_ID}")), "{identity}");
}

/// A data directory whose metadata log has other voters than `controller.quorum.voters`
/// names (here a one-node directory configured into a quorum of three) is refused with both
/// lists named, and nothing changes: voters change only through KIP-853, not here yet.
#[test]
fn a_voter_list_that_disagrees_with_the_metadata_log_is_refused_unchanged() {
    let mut broker = Broker::start(&[]);
    broker.stop();
    let dir = broker.data_dir();
    let before = snapshot(dir);
    let ports: Vec<u16> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect::<Vec<_>>()
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect();
    let voters = format!(
        "controller.quorum.voters=1@127.0.0.1:{},2@127.0.0.1:{},3@127.0.0.1:{}",
        ports[0], ports[1], ports[2]
    );
    let listeners = format!("PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{}", ports[0]);
    let (status, log) = serve_dir_expecting_exit(
        dir,
        "",
        &[
            "--listeners",
            &listeners,
            "--override",
            "controller.listener.names=CONTROLLER",
            "--override",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "--override",
            "process.roles=broker,controller",
            "--override",
            &voters,
        ],
    );
    assert!(!status.success(), "the start was refused; log:\n{log}");
    assert!(
        log.contains(&format!("controller.quorum.voters names 1@127.0.0.1:{}", ports[0]))
            && log.contains("but the metadata log's voters are 1@")
            && log.contains("KIP-853"),
        "the refusal names both voter lists; log:\n{log}"
    );
    assert!(snapshot(dir) == before, "no file changed");
}
