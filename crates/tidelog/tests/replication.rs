//! Partition replication on three `tidelog serve` processes (issue 13's first test): a
//! topic with three replicas and `min.insync.replicas=2` takes a librdkafka idempotent
//! producer's acks=all writes while a random node is killed -9 and restarted, cycle after
//! cycle (leaders among them); afterwards every acknowledged record is read back exactly
//! once, in order, and the three replicas' segments hold the same batches, byte for byte.
//! The cycles are `TIDELOG_REPLICATION_CYCLES` (3 by default; `tidelog bench` runs more).
//! Also: Metadata lists the replicas and in-sync replicas, a follower is not read from,
//! an acks=all write to a partition with fewer in-sync replicas than its
//! `min.insync.replicas` is refused with NOT_ENOUGH_REPLICAS, and leaderships go back to
//! their preferred replicas, by the controller itself (`auto.leader.rebalance.enable`) and
//! by ElectLeaders.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::clients::{send, take_deliveries, TestRecord, CLIENT_TIMEOUT};
use common::cluster::{self, free_ports};
use common::raw::{self, RawClient};
use common::{wait_until, Broker, Rng};
use rdkafka::admin::NewTopic;
use rdkafka::admin::TopicReplication;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use tidelog_protocol::messages::elect_leaders_request::{ElectLeadersRequest, TopicPartitions};
use tidelog_protocol::messages::fetch_request::FetchRequest;
use tidelog_protocol::messages::fetch_response::PartitionData;
use tidelog_protocol::messages::list_offsets_request;
use tidelog_protocol::messages::metadata_response::MetadataResponse;
use tidelog_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderEpochRequest, OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

const TOPIC: &str = "replicated";

/// The tests of this file one at a time: each runs three brokers, and two clusters at once
/// on two cores starve each other's sessions (and may pick the same free ports).
static ONE_CLUSTER_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
const STRICT: &str = "all-three";
const PARTITIONS: i32 = 3;

/// Each partition of `topic` as `node` tells it: (leader, replicas, isr, error).
fn placement(node: &Broker, topic: &str) -> BTreeMap<i32, (i32, Vec<i32>, Vec<i32>, ErrorCode)> {
    let metadata: MetadataResponse = RawClient::connect(node.addr()).metadata(Some(&[topic]), false);
    metadata
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| {
            let mut replicas = p.replica_nodes.clone();
            let mut isr = p.isr_nodes.clone();
            replicas.sort();
            isr.sort();
            (p.partition_index, (p.leader_id, replicas, isr, ErrorCode(p.error_code)))
        })
        .collect()
}

/// Waits until every running node says each partition of `topic` has a leader and all
/// three replicas in sync.
fn all_in_sync(nodes: &[Broker], topic: &str, partitions: i32) -> BTreeMap<i32, i32> {
    wait_until("every partition led, with its three replicas in sync", || {
        let views: Vec<_> = nodes.iter().map(|n| placement(n, topic)).collect();
        let first = &views[0];
        let whole = first.len() == partitions as usize
            && first.values().all(|(leader, replicas, isr, error)| {
                *leader > 0 && *error == ErrorCode::NONE && replicas == &[1, 2, 3] && isr == &[1, 2, 3]
            });
        (whole && views.iter().all(|v| v == first)).then(|| first.iter().map(|(p, v)| (*p, v.0)).collect())
    })
}

/// The value of the gauge `name` in `node`'s /metrics.
fn gauge(node: &Broker, name: &str) -> f64 {
    let scraped = node.scrape();
    let line = scraped
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '));
    line.and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(-1.0)
}

/// Each partition's preferred replica (the first of its replicas) and leader.
fn preferred_and_leader(node: &Broker, topic: &str) -> BTreeMap<i32, (i32, i32)> {
    let metadata: MetadataResponse = RawClient::connect(node.addr()).metadata(Some(&[topic]), false);
    metadata
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| (p.partition_index, (p.replica_nodes[0], p.leader_id)))
        .collect()
}

/// An ElectLeaders of `election_type` for `partitions` of `topic` sent to `node`: each one's error.
fn elect_leaders(node: &Broker, election_type: i8, topic: &str, partitions: &[i32]) -> Vec<ErrorCode> {
    let request = ElectLeadersRequest {
        election_type,
        topic_partitions: Some(vec![TopicPartitions {
            topic: topic.into(),
            partitions: partitions.to_vec(),
            ..Default::default()
        }]),
        ..Default::default()
    };
    match RawClient::connect(node.addr()).request(2, RequestBody::ElectLeaders(request)) {
        ResponseBody::ElectLeaders(r) => r
            .replica_election_results
            .iter()
            .flat_map(|t| &t.partition_result)
            .map(|p| ErrorCode(p.error_code))
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// The bytes of every segment of partition `partition` of `topic` on `node`, in order:
/// its batches as written, whatever its segments' sizes.
fn log_bytes(node: &Broker, topic: &str, partition: i32) -> Vec<u8> {
    node.segment_base_offsets(topic, partition)
        .into_iter()
        .flat_map(|base| std::fs::read(node.segment_file(topic, partition, base, "log")).unwrap_or_default())
        .collect()
}

/// A record of the producer's: its sequence number in key and value. Stamped now: a
/// partition forgets an idempotent producer whose last batch is older than
/// `producer.id.expiration.ms` by its timestamp (as Kafka does), and a retry to it would
/// then be written again.
fn record(seq: usize) -> TestRecord {
    TestRecord {
        key: format!("k{seq}").into_bytes(),
        value: format!("v{seq}").into_bytes(),
        headers: Vec::new(),
        timestamp: common::now_ms(),
    }
}

/// Three nodes with short broker sessions and the lines `extra`, once all three brokers are
/// registered and unfenced.
fn three_nodes(dir: &std::path::Path, extra: &str) -> Vec<Broker> {
    nodes(dir, 3, extra)
}

/// `count` nodes with short broker sessions and the lines `extra`, once all are registered
/// and unfenced.
fn nodes(dir: &std::path::Path, count: usize, extra: &str) -> Vec<Broker> {
    let settings = format!("broker.session.timeout.ms=2000\nbroker.heartbeat.interval.ms=300\n{extra}");
    let nodes = cluster::start(dir, &free_ports(count), &settings);
    wait_until("every broker registered and unfenced", || {
        let metadata: MetadataResponse = RawClient::connect(nodes[0].addr()).metadata(None, false);
        (metadata.brokers.len() == count).then_some(())
    });
    nodes
}

#[test]
fn acknowledged_records_survive_kills_of_any_node_and_replicas_hold_the_same_bytes() {
    let _alone = ONE_CLUSTER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let configs = tempfile::tempdir().unwrap();
    let mut nodes = three_nodes(
        configs.path(),
        "replica.lag.time.max.ms=3000\nreplica.fetch.wait.max.ms=200\nleader.imbalance.check.interval.seconds=1",
    );
    let cycles: usize = std::env::var("TIDELOG_REPLICATION_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let mut rng = Rng::from_env_or_clock("replication");

    let admin = nodes[0].admin();
    let replicated = NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(3)).set("min.insync.replicas", "2");
    let strict = NewTopic::new(STRICT, 1, TopicReplication::Fixed(3)).set("min.insync.replicas", "3");
    admin.create_ok(&[replicated, strict]);
    let leaders = all_in_sync(&nodes, TOPIC, PARTITIONS);
    all_in_sync(&nodes, STRICT, 1);

    // Only the leader serves a partition to a consumer that cannot read from followers
    // (Fetch before v11, KIP-392): a follower sends it to the leader.
    let (partition, leader) = leaders.iter().next().map(|(p, l)| (*p, *l)).unwrap();
    let follower = &nodes[(leader % 3) as usize];
    let fetched = fetch_at(follower, 10, raw::fetch_request(TOPIC, partition, 0, 0, 1));
    assert_eq!(
        ErrorCode(fetched.error_code),
        ErrorCode::NOT_LEADER_OR_FOLLOWER,
        "{fetched:?}"
    );

    // A producer writes all along, acks=all and idempotent, bootstrapped at every node.
    let bootstrap: Vec<String> = nodes.iter().map(|n| n.bootstrap()).collect();
    let mut config = nodes[0].client_config();
    config
        .set("bootstrap.servers", bootstrap.join(","))
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "120000");
    let producer: common::clients::TrackedProducer = config
        .create_with_context(common::clients::Deliveries::default())
        .expect("a producer");
    let producer = Arc::new(producer);
    let stop = Arc::new(AtomicBool::new(false));
    let writing = {
        let (producer, stop) = (producer.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seq = 0;
            while !stop.load(Ordering::Relaxed) {
                send(
                    &producer,
                    TOPIC,
                    Some((seq % PARTITIONS as usize) as i32),
                    seq,
                    &record(seq),
                );
                producer.poll(Duration::ZERO);
                seq += 1;
                if seq % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            producer
                .flush(CLIENT_TIMEOUT)
                .expect("every record delivered or failed");
            seq
        })
    };

    for cycle in 0..cycles {
        std::thread::sleep(Duration::from_millis(500));
        let victim = rng.in_range(0..3) as usize;
        eprintln!("cycle {cycle}: killing node {}", victim + 1);
        nodes[victim].kill9();
        // The survivors elect new leaders from the in-sync replicas and keep taking writes.
        let survivors: Vec<&Broker> = nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != victim)
            .map(|(_, n)| n)
            .collect();
        wait_until("every partition led by a survivor", || {
            let view = placement(survivors[0], TOPIC);
            let led = view.len() == PARTITIONS as usize
                && view.values().all(|(leader, _, isr, e)| {
                    *e == ErrorCode::NONE && *leader != victim as i32 + 1 && !isr.contains(&(victim as i32 + 1))
                });
            led.then_some(())
        });
        // With a replica away, a partition needing three in sync refuses acks=all writes
        // (once its leader has applied the smaller set: until then, after the append).
        wait_until("an acks=all write refused for too few in-sync replicas", || {
            let (leader, _, isr, _) = placement(survivors[0], STRICT).remove(&0)?;
            if leader <= 0 || isr.len() != 2 {
                return None;
            }
            let refused = nodes[leader as usize - 1]
                .raw()
                .produce(STRICT, 0, -1, raw::batch(1, &[(b"k", b"v")]));
            match ErrorCode(refused.error_code) {
                ErrorCode::NOT_ENOUGH_REPLICAS => Some(()),
                // The leader has not applied the change yet.
                ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND | ErrorCode::NOT_LEADER_OR_FOLLOWER => None,
                other => panic!("{other:?}: {refused:?}"),
            }
        });
        // The survivors' /metrics count the partitions they lead without all replicas in
        // sync (Kafka's UnderReplicatedPartitions): all four, with one broker away.
        wait_until("the under-replicated partitions counted", || {
            let counted: f64 = survivors
                .iter()
                .map(|n| gauge(n, "tidelog_under_replicated_partitions"))
                .sum();
            (counted == f64::from(PARTITIONS + 1)).then_some(())
        });
        std::thread::sleep(Duration::from_millis(500));
        nodes[victim].restart();
        all_in_sync(&nodes, TOPIC, PARTITIONS);
    }

    stop.store(true, Ordering::Relaxed);
    let sent = writing.join().unwrap();
    let reports = take_deliveries(&producer);
    let acknowledged: BTreeMap<usize, (i32, i64)> = reports
        .into_iter()
        .filter_map(|(seq, report)| Some((seq, report.ok()?)))
        .collect();
    assert!(
        acknowledged.len() > cycles * 10,
        "{} of {sent} acknowledged",
        acknowledged.len()
    );

    // Every acknowledged record is there once, at its offset, in the order it was sent.
    let leaders = all_in_sync(&nodes, TOPIC, PARTITIONS);
    let reader = &nodes[0];
    let (_, ends): (Vec<_>, Vec<i64>) = (0..PARTITIONS).map(|p| reader.watermarks(TOPIC, p)).unzip();
    let ranges: Vec<(i32, i64, i64)> = (0..PARTITIONS).map(|p| (p, 0, ends[p as usize])).collect();
    let read = reader.read_partitions(TOPIC, &ranges);
    for p in 0..PARTITIONS {
        let seqs: Vec<usize> = read[&p]
            .iter()
            .map(|r| {
                String::from_utf8_lossy(r.value.as_deref().unwrap())
                    .trim_start_matches('v')
                    .parse()
                    .unwrap()
            })
            .collect();
        let mut first_at = BTreeMap::new();
        let twice: Vec<(usize, i64, i64)> = read[&p]
            .iter()
            .zip(&seqs)
            .filter_map(|(r, seq)| first_at.insert(*seq, r.offset).map(|first| (*seq, first, r.offset)))
            .collect();
        assert!(
            twice.is_empty(),
            "partition {p}: records twice (seq, offsets): {twice:?}"
        );
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "partition {p}: out of order");
        let at: BTreeMap<i64, usize> = read[&p].iter().map(|r| r.offset).zip(seqs).collect();
        for (seq, (partition, offset)) in acknowledged.iter().filter(|(_, (part, _))| *part == p) {
            // librdkafka reports a retried write the leader said it had as sent, but
            // without its offset (-1001): it is there once, somewhere.
            match *offset < 0 {
                true => assert!(first_at.contains_key(seq), "acknowledged record {seq} missing"),
                false => assert_eq!(
                    at.get(offset),
                    Some(seq),
                    "acknowledged record {seq} at {partition}/{offset}"
                ),
            }
        }
    }

    // The replicas hold the same batches, byte for byte, once the followers caught up.
    for p in 0..PARTITIONS {
        wait_until("the three replicas' segments the same", || {
            let bytes: Vec<Vec<u8>> = nodes.iter().map(|n| log_bytes(n, TOPIC, p)).collect();
            (!bytes[0].is_empty() && bytes.iter().all(|b| *b == bytes[0])).then_some(())
        });
    }
    eprintln!(
        "{cycles} cycles, {} records acknowledged of {sent}, leaders now {leaders:?}",
        acknowledged.len()
    );

    // The controller moved every leadership back to its preferred replica by itself.
    wait_until("every partition led by its preferred replica", || {
        let placed = preferred_and_leader(&nodes[0], TOPIC);
        placed
            .values()
            .all(|(preferred, leader)| preferred == leader)
            .then_some(())
    });
}

/// An acks=all write of one record to partition `partition` of `topic` through `node`,
/// retried while the node has not applied its leadership yet.
fn write_one(node: &Broker, topic: &str, partition: i32) {
    wait_until("an acks=all write taken by the leader", || {
        let written = node.raw().produce(topic, partition, -1, raw::batch(1, &[(b"k", b"v")]));
        match ErrorCode(written.error_code) {
            ErrorCode::NONE => Some(()),
            ErrorCode::NOT_LEADER_OR_FOLLOWER => None,
            other => panic!("{other:?}: {written:?}"),
        }
    });
}

/// OffsetForLeaderEpoch of `epoch` in partition `partition` of `topic` asked of `node`:
/// (error, epoch, end offset).
fn end_of_epoch(node: &Broker, topic: &str, partition: i32, epoch: i32) -> (ErrorCode, i32, i64) {
    let request = OffsetForLeaderEpochRequest {
        replica_id: -1,
        topics: vec![OffsetForLeaderTopic {
            topic: topic.into(),
            partitions: vec![OffsetForLeaderPartition {
                partition,
                current_leader_epoch: -1,
                leader_epoch: epoch,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    match RawClient::connect(node.addr()).request(4, RequestBody::OffsetForLeaderEpoch(request)) {
        ResponseBody::OffsetForLeaderEpoch(r) => {
            let p = &r.topics[0].partitions[0];
            (ErrorCode(p.error_code), p.leader_epoch, p.end_offset)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn leaderships_move_back_to_preferred_replicas_and_away_from_a_node_shutting_down() {
    let _alone = ONE_CLUSTER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let configs = tempfile::tempdir().unwrap();
    let mut nodes = three_nodes(configs.path(), "auto.leader.rebalance.enable=false");
    nodes[0]
        .admin()
        .create_ok(&[NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(3))]);
    all_in_sync(&nodes, TOPIC, PARTITIONS);
    let placed = preferred_and_leader(&nodes[0], TOPIC);
    assert!(
        placed.values().all(|(preferred, leader)| preferred == leader),
        "{placed:?}"
    );

    // Partition 0's leader goes away and comes back: another replica leads it meanwhile,
    // and goes on leading it. A record is written in each leader epoch.
    let (preferred, _) = placed[&0];
    let at = preferred as usize - 1;
    write_one(&nodes[at], TOPIC, 0);
    nodes[at].kill9();
    let survivor = &nodes[(at + 1) % 3];
    let interim = wait_until("partition 0 led by another replica", || {
        let (_, leader) = preferred_and_leader(survivor, TOPIC)[&0];
        (leader > 0 && leader != preferred).then_some(leader)
    });
    write_one(&nodes[interim as usize - 1], TOPIC, 0);
    nodes[at].restart();
    all_in_sync(&nodes, TOPIC, PARTITIONS);
    assert_ne!(
        preferred_and_leader(&nodes[0], TOPIC)[&0].1,
        preferred,
        "no rebalance by itself"
    );

    // The controller (Metadata names it) elects the preferred replica; the others need none.
    let metadata: MetadataResponse = RawClient::connect(nodes[0].addr()).metadata(None, false);
    let controller = &nodes[metadata.controller_id as usize - 1];
    let others: Vec<i32> = (1..PARTITIONS).collect();
    assert_eq!(elect_leaders(controller, 0, TOPIC, &[0]), [ErrorCode::NONE]);
    assert_eq!(
        elect_leaders(controller, 0, TOPIC, &others),
        vec![ErrorCode::ELECTION_NOT_NEEDED; others.len()]
    );
    assert_eq!(
        elect_leaders(controller, 0, TOPIC, &[PARTITIONS]),
        [ErrorCode::UNKNOWN_TOPIC_OR_PARTITION]
    );
    assert_eq!(
        elect_leaders(controller, 1, TOPIC, &[0]),
        [ErrorCode::ELECTION_NOT_NEEDED],
        "unclean, led"
    );
    wait_until("partition 0 led by its preferred replica again", || {
        let placed = preferred_and_leader(&nodes[0], TOPIC);
        (placed[&0].1 == preferred).then_some(())
    });
    // Writes go on there, acks=all (once it has applied the change, as a client retries).
    write_one(&nodes[at], TOPIC, 0);
    // ListOffsets tells the leader epoch, and refuses an older one (KIP-320).
    let latest = |epoch: i32| {
        let request = list_offsets_request::ListOffsetsRequest {
            replica_id: -1,
            topics: vec![list_offsets_request::ListOffsetsTopic {
                name: TOPIC.into(),
                partitions: vec![list_offsets_request::ListOffsetsPartition {
                    partition_index: 0,
                    current_leader_epoch: epoch,
                    timestamp: -1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        match nodes[at].raw().request(7, RequestBody::ListOffsets(request)) {
            ResponseBody::ListOffsets(r) => {
                let p = &r.topics[0].partitions[0];
                (ErrorCode(p.error_code), p.leader_epoch, p.offset)
            }
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(latest(-1), (ErrorCode::NONE, 2, 3));
    assert_eq!(latest(1).0, ErrorCode::FENCED_LEADER_EPOCH);
    assert_eq!(latest(3).0, ErrorCode::UNKNOWN_LEADER_EPOCH);

    // Each leader epoch's records end where the next epoch's begin (KIP-101): epoch 0 at
    // offset 1, 1 (the interim leader's) at 2, 2 (the preferred replica's again) at the log end.
    assert_eq!(end_of_epoch(&nodes[at], TOPIC, 0, 0), (ErrorCode::NONE, 0, 1));
    assert_eq!(end_of_epoch(&nodes[at], TOPIC, 0, 1), (ErrorCode::NONE, 1, 2));
    assert_eq!(end_of_epoch(&nodes[at], TOPIC, 0, 2), (ErrorCode::NONE, 2, 3));
    assert_eq!(
        end_of_epoch(&nodes[at], TOPIC, 0, 7),
        (ErrorCode::NONE, -1, -1),
        "newer than any, as Kafka answers"
    );
    let follower = &nodes[(at + 1) % 3];
    assert_eq!(end_of_epoch(follower, TOPIC, 0, 2).0, ErrorCode::NOT_LEADER_OR_FOLLOWER);

    // A node stopped (SIGTERM) hands its leaderships over before it exits: the controller
    // fences it at its asking (Kafka's controlled shutdown), not once its session ran out.
    nodes[at].stop();
    let log = nodes[at].log();
    assert!(
        log.contains("controlled shutdown: this node leads no replicated partition"),
        "{log}"
    );
    let other = &nodes[(at + 1) % 3];
    let leader = preferred_and_leader(other, TOPIC)[&0].1;
    assert!(leader > 0 && leader != preferred, "partition 0 led by {leader}");
}

/// Issue 13's second test, on five nodes so that the metadata quorum outlives two of them:
/// a topic placed on nodes 3, 4 and 5 by the request (a manual assignment), with
/// `min.insync.replicas=2`. With two of its replicas down, acks=all writes are refused
/// NOT_ENOUGH_REPLICAS and acks=1 writes are taken by the leader; once both are back they
/// catch up, the in-sync replicas grow back to three, and all three hold the same bytes.
#[test]
fn two_replicas_down_refuse_acks_all_but_not_acks_1_and_come_back_in_sync() {
    let _alone = ONE_CLUSTER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let configs = tempfile::tempdir().unwrap();
    let mut nodes = nodes(configs.path(), 5, "replica.lag.time.max.ms=3000");
    let assigned = NewTopic::new(TOPIC, 1, TopicReplication::Variable(&[&[3, 4, 5]])).set("min.insync.replicas", "2");
    nodes[0].admin().create_ok(&[assigned]);
    let (up, down) = nodes.split_at_mut(3);
    let in_sync = |isr: &[i32]| {
        wait_until("partition 0 led by node 3 with the in-sync replicas expected", || {
            let (leader, replicas, in_sync, error) = placement(&up[0], TOPIC).remove(&0)?;
            assert_eq!(replicas, [3, 4, 5], "the replicas the request named");
            (error == ErrorCode::NONE && leader == 3 && in_sync == isr).then_some(())
        })
    };
    in_sync(&[3, 4, 5]);
    let leader = &up[2];
    write_one(leader, TOPIC, 0);

    down[0].kill9();
    down[1].kill9();
    in_sync(&[3]);
    let written = |acks: i16, value: &[u8]| {
        let answer = leader.raw().produce(TOPIC, 0, acks, raw::batch(1, &[(b"k", value)]));
        (ErrorCode(answer.error_code), answer.base_offset)
    };
    // Until the leader has applied the smaller set, a write is refused after its append
    // (and kept, as Kafka keeps it); then before it.
    let mut appended = 0;
    wait_until("acks=all refused for too few in-sync replicas", || {
        match written(-1, b"refused") {
            (ErrorCode::NOT_ENOUGH_REPLICAS, _) => Some(()),
            (ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND, _) => {
                appended += 1;
                None
            }
            other => panic!("{other:?}"),
        }
    });
    let (taken, offset) = written(1, b"acks=1");
    assert_eq!(taken, ErrorCode::NONE);
    let (_, end) = leader.watermarks(TOPIC, 0);
    assert_eq!(
        end,
        offset + 1,
        "the high watermark is the leader's log end: the ISR is the leader"
    );

    down[0].restart();
    down[1].restart();
    in_sync(&[3, 4, 5]);
    write_one(leader, TOPIC, 0);
    wait_until("the three replicas' segments the same", || {
        let bytes: Vec<Vec<u8>> = [leader, &down[0], &down[1]]
            .iter()
            .map(|n| log_bytes(n, TOPIC, 0))
            .collect();
        (bytes.iter().all(|b| *b == bytes[0])).then_some(())
    });
    let read = leader.read_partitions(TOPIC, &[(0, 0, offset + 2)]);
    let values: Vec<&[u8]> = read[&0].iter().map(|r| r.value.as_deref().unwrap()).collect();
    let mut expected = vec![b"v".as_slice()];
    expected.extend(std::iter::repeat_n(b"refused".as_slice(), appended));
    expected.extend([b"acks=1".as_slice(), b"v"]);
    assert_eq!(values, expected, "the write refused before its append not written");
}

/// The answer for the one partition of `request`, a Fetch of `version` sent to `node`.
fn fetch_at(node: &Broker, version: i16, request: FetchRequest) -> PartitionData {
    match node.raw().request(version, RequestBody::Fetch(request)) {
        ResponseBody::Fetch(response) => raw::fetched_partition(response),
        other => panic!("{other:?}"),
    }
}

/// The values of partition `partition` of `topic` from offset 0 to `end`, read from `node`.
fn values(node: &Broker, topic: &str, partition: i32, end: i64) -> Vec<String> {
    let read = node.read_partitions(topic, &[(partition, 0, end)]);
    read[&partition]
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap()).into_owned())
        .collect()
}

/// Issue 13's third test, divergence (KIP-101, KIP-279): a leader whose followers stall
/// takes acks=1 writes they never get, and is killed; a follower takes over in a new leader
/// epoch and takes other writes at the same offsets. The old leader comes back, finds where
/// its log diverges from the new leader's by leader epoch, cuts exactly its two records
/// nobody else has (offsets 3 and 4), and follows: the three replicas hold the same bytes.
#[test]
fn a_returning_leader_cuts_the_records_only_it_had_and_follows_the_new_leader() {
    let _alone = ONE_CLUSTER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let configs = tempfile::tempdir().unwrap();
    let mut nodes = three_nodes(
        configs.path(),
        "auto.leader.rebalance.enable=false\nreplica.fetch.wait.max.ms=200",
    );
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Variable(&[&[1, 2, 3]]));
    nodes[0].admin().create_ok(&[topic]);
    all_in_sync(&nodes, TOPIC, 1);
    let write = |node: &Broker, acks: i16, value: &str| {
        let answer = node
            .raw()
            .produce(TOPIC, 0, acks, raw::batch(1, &[(b"k", value.as_bytes())]));
        (ErrorCode(answer.error_code), answer.base_offset)
    };
    for (offset, value) in ["a0", "a1", "a2"].into_iter().enumerate() {
        assert_eq!(write(&nodes[0], -1, value), (ErrorCode::NONE, offset as i64));
    }

    // The followers stall; the leader alone takes two acks=1 writes, then dies. (Once it
    // has answered their last fetches, empty, after `replica.fetch.wait.max.ms`: a fetch
    // still waiting would carry the first write to them, in their socket's buffer.)
    nodes[1].signal(libc::SIGSTOP);
    nodes[2].signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(write(&nodes[0], 1, "only-on-1-a"), (ErrorCode::NONE, 3));
    assert_eq!(write(&nodes[0], 1, "only-on-1-b"), (ErrorCode::NONE, 4));
    nodes[0].kill9();
    nodes[1].signal(libc::SIGCONT);
    nodes[2].signal(libc::SIGCONT);

    // Node 2, the next in-sync replica, leads in epoch 1 and writes offsets 3 and 4 anew.
    wait_until("partition 0 led by node 2", || {
        let (leader, _, _, _) = placement(&nodes[1], TOPIC).remove(&0)?;
        (leader == 2).then_some(())
    });
    let new_leader = &nodes[1];
    let written_at = wait_until("the new leader takes writes", || match write(new_leader, -1, "b3") {
        (ErrorCode::NONE, offset) => Some(offset),
        (ErrorCode::NOT_LEADER_OR_FOLLOWER, _) => None,
        other => panic!("{other:?}"),
    });
    assert_eq!(written_at, 3, "the new leader's log ends where the followers' did");
    assert_eq!(write(new_leader, -1, "b4"), (ErrorCode::NONE, 4));
    assert_eq!(end_of_epoch(new_leader, TOPIC, 0, 0), (ErrorCode::NONE, 0, 3));

    // Node 1 comes back as a follower: epoch 0 ends at 3 on the leader, so it cuts 3 and 4.
    nodes[0].restart();
    all_in_sync(&nodes, TOPIC, 1);
    let line = nodes[0].wait_for_line(&["truncating a follower where it diverges from its leader"]);
    assert!(line.contains("epoch=0 from=5 to=3"), "{line}");
    wait_until("the three replicas' segments the same", || {
        let bytes: Vec<Vec<u8>> = nodes.iter().map(|n| log_bytes(n, TOPIC, 0)).collect();
        bytes.iter().all(|b| *b == bytes[0]).then_some(())
    });
    assert_eq!(values(&nodes[1], TOPIC, 0, 5), ["a0", "a1", "a2", "b3", "b4"]);
}

/// Unclean leader elections, on five nodes: two topics on nodes 3, 4 and 5 lose their last
/// in-sync replica, node 3, with a record only it had (4 and 5 stalled by SIGSTOP until it
/// is killed: the metadata quorum keeps a majority but for that instant). Once 4 and 5 are
/// back, the topic that sets `unclean.leader.election.enable` gets node 4 as leader from the
/// controller by itself; the other stays leaderless until an unclean ElectLeaders. Both lose
/// the record; node 3, back, cuts it and follows.
#[test]
fn unclean_elections_give_leaderless_partitions_a_replica_out_of_sync() {
    let _alone = ONE_CLUSTER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let configs = tempfile::tempdir().unwrap();
    let mut nodes = nodes(configs.path(), 5, "replica.fetch.wait.max.ms=200");
    let (strict, lenient) = ("strict", "lenient");
    let on_3_4_5: &[&[i32]] = &[&[3, 4, 5]];
    nodes[0].admin().create_ok(&[
        NewTopic::new(strict, 1, TopicReplication::Variable(on_3_4_5)),
        NewTopic::new(lenient, 1, TopicReplication::Variable(on_3_4_5)).set("unclean.leader.election.enable", "true"),
    ]);
    let (up, down) = nodes.split_at_mut(2);
    let leader_and_isr = |topic: &str| {
        let (leader, _, isr, _) = placement(&up[0], topic).remove(&0).unwrap();
        (leader, isr)
    };
    let wait_for = |topic: &str, leader: i32, isr: &[i32]| {
        wait_until("the leader and in-sync replicas expected", || {
            (leader_and_isr(topic) == (leader, isr.to_vec())).then_some(())
        })
    };
    let write = |node: &Broker, topic: &str, acks: i16, value: &str| {
        let answer = node
            .raw()
            .produce(topic, 0, acks, raw::batch(1, &[(b"k", value.as_bytes())]));
        (ErrorCode(answer.error_code), answer.base_offset)
    };
    for topic in [strict, lenient] {
        wait_for(topic, 3, &[3, 4, 5]);
        assert_eq!(write(&down[0], topic, -1, "everywhere"), (ErrorCode::NONE, 0));
    }
    // Stalled followers are fenced and leave the in-sync replicas; node 3's answers to
    // their last fetches (empty, after `replica.fetch.wait.max.ms`) wait in their sockets.
    down[1].signal(libc::SIGSTOP);
    down[2].signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(1));
    for topic in [strict, lenient] {
        wait_for(topic, 3, &[3]);
        assert_eq!(write(&down[0], topic, 1, "only-on-3"), (ErrorCode::NONE, 1));
    }
    down[0].kill9();
    down[1].signal(libc::SIGCONT);
    down[2].signal(libc::SIGCONT);
    wait_for(strict, -1, &[3]);
    wait_for(lenient, 4, &[4, 5]);
    assert_eq!(
        leader_and_isr(strict),
        (-1, vec![3]),
        "no unclean election unless allowed"
    );
    let metadata: MetadataResponse = RawClient::connect(up[0].addr()).metadata(None, false);
    let controller = match metadata.controller_id {
        id @ 1..=2 => &up[id as usize - 1],
        id => &down[id as usize - 3],
    };
    assert_eq!(elect_leaders(controller, 1, strict, &[0]), [ErrorCode::NONE]);
    assert_eq!(
        elect_leaders(controller, 1, lenient, &[0]),
        [ErrorCode::ELECTION_NOT_NEEDED]
    );
    wait_for(strict, 4, &[4, 5]);
    for topic in [strict, lenient] {
        assert_eq!(values(&down[1], topic, 0, 1), ["everywhere"], "{topic}");
        let written = wait_until("the new leader takes writes", || {
            match write(&down[1], topic, -1, "after") {
                (ErrorCode::NOT_LEADER_OR_FOLLOWER, _) => None,
                answer => Some(answer),
            }
        });
        assert_eq!(
            written,
            (ErrorCode::NONE, 1),
            "{topic}: offset 1 lost, and written again"
        );
    }

    // Node 3 comes back, cuts the record only it had, and follows node 4.
    down[0].restart();
    for topic in [strict, lenient] {
        wait_for(topic, 4, &[3, 4, 5]);
        wait_until("the three replicas' segments the same", || {
            let bytes: Vec<Vec<u8>> = down.iter().map(|n| log_bytes(n, topic, 0)).collect();
            bytes.iter().all(|b| *b == bytes[0]).then_some(())
        });
        assert_eq!(values(&down[1], topic, 0, 2), ["everywhere", "after"]);
    }
    down[0].wait_for_line(&["truncating a follower", "from=2 to=1"]);
}

/// Reads from followers (KIP-392): three nodes in three racks, with Kafka's
/// RackAwareReplicaSelector. Metadata lists each broker's rack; the leader (node 1) answers a
/// consumer of rack-2 with node 2 as its preferred read replica; a librdkafka consumer with
/// `client.rack=rack-2`, bootstrapped at node 1, reads every record, served by node 2.
#[test]
fn consumers_read_from_the_replica_of_their_rack() {
    let _alone = ONE_CLUSTER_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let configs = tempfile::tempdir().unwrap();
    let nodes = cluster::start_each(configs.path(), &free_ports(3), |id| {
        format!(
            "broker.session.timeout.ms=2000\nbroker.heartbeat.interval.ms=300\nbroker.rack=rack-{id}\n\
             replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector"
        )
    });
    let racks = wait_until("three brokers registered with their racks", || {
        let metadata: MetadataResponse = RawClient::connect(nodes[0].addr()).metadata(None, false);
        let racks: BTreeMap<i32, Option<String>> =
            metadata.brokers.iter().map(|b| (b.node_id, b.rack.clone())).collect();
        (racks.len() == 3).then_some(racks)
    });
    let expected: BTreeMap<i32, Option<String>> = (1..=3).map(|id| (id, Some(format!("rack-{id}")))).collect();
    assert_eq!(racks, expected);
    let topic = NewTopic::new(TOPIC, 1, TopicReplication::Variable(&[&[1, 2, 3]]));
    nodes[0].admin().create_ok(&[topic]);
    all_in_sync(&nodes, TOPIC, 1);
    let records: Vec<(Vec<u8>, Vec<u8>)> = (0..100)
        .map(|i| (format!("k{i}").into_bytes(), format!("v{i}").into_bytes()))
        .collect();
    let batch: Vec<(&[u8], &[u8])> = records.iter().map(|(k, v)| (k.as_slice(), v.as_slice())).collect();
    let written = nodes[0]
        .raw()
        .produce(TOPIC, 0, -1, raw::batch(common::now_ms(), &batch));
    assert_eq!(ErrorCode(written.error_code), ErrorCode::NONE);

    let mut asked = raw::fetch_request(TOPIC, 0, 0, 0, 1);
    asked.rack_id = "rack-2".into();
    let redirected = fetch_at(&nodes[0], 12, asked.clone());
    assert_eq!(
        (
            redirected.preferred_read_replica,
            redirected.records.map_or(0, |r| r.len())
        ),
        (2, 0)
    );
    asked.rack_id = "rack-1".into();
    assert_eq!(
        fetch_at(&nodes[0], 12, asked).preferred_read_replica,
        -1,
        "the leader's own rack"
    );

    let consumer: BaseConsumer = nodes[0]
        .consumer_config("rack-2-readers")
        .set("client.rack", "rack-2")
        .create()
        .expect("a consumer");
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(TOPIC, 0, Offset::Beginning).unwrap();
    consumer.assign(&assignment).unwrap();
    let mut read = Vec::new();
    wait_until("every record read", || {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            read.push(message.payload().unwrap().to_vec());
        }
        (read.len() == records.len()).then_some(())
    });
    let values: Vec<Vec<u8>> = records.into_iter().map(|(_, v)| v).collect();
    assert_eq!(read, values);
    // The console of node 3, a follower, shows the partition's placement and its own
    // replica's log, and its segments.
    let page = nodes[2].http_get(&format!("/topics/{TOPIC}"));
    let cell = |class: &str| {
        let open = format!("<td class=\"{class}\">");
        page.split(&open)
            .nth(1)
            .and_then(|rest| rest.split("</td>").next())
            .map(str::to_string)
    };
    assert_eq!(
        [cell("leader"), cell("replicas"), cell("isr")],
        [Some("1".into()), Some("1, 2, 3".into()), Some("1, 2, 3".into())],
        "{page}"
    );
    let numbers: Vec<&str> = page
        .split("<td class=\"num\">")
        .skip(1)
        .filter_map(|rest| rest.split("</td>").next())
        .collect();
    assert_eq!(
        numbers[..4],
        ["0", "0", "100", "100"],
        "partition, and its replica here: log start, high watermark, last stable"
    );
    let segments = nodes[2].http_get(&format!("/topics/{TOPIC}/partitions/0/segments"));
    assert!(segments.contains("00000000000000000000.log"), "{segments}");
    let served = |node: &Broker| gauge(node, &format!("tidelog_fetch_records_total{{topic=\"{TOPIC}\"}}"));
    assert_eq!(served(&nodes[1]), 100.0, "node 2 served the consumer of its rack");
    assert!(
        served(&nodes[2]) <= 0.0,
        "node 3 is a follower no one read from (no series, or 0)"
    );
}
