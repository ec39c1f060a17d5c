//! Topics spread over a cluster of three `tidelog serve` processes, each a broker and a voter
//! of the metadata quorum (issue 12's first test for combined nodes, and its third): the
//! brokers register with the quorum's leader; a topic of 12 partitions made through any node
//! has 4 led by each, and each broker hosts only its own; librdkafka produces and consumes
//! across all three, as a consumer group too, whose coordinator is its `__consumer_offsets`
//! partition's leader; a broker asked for a partition it does not lead says
//! NOT_LEADER_OR_FOLLOWER; every node hands out producer ids of its own block; a broker
//! killed is fenced and its partitions go offline while the others keep serving, and back it
//! is unfenced and serves them again with every record.

mod common;

use std::collections::BTreeMap;

use common::clients::{flush, new_topic, send, take_deliveries, TestRecord, CLIENT_TIMEOUT};
use common::cluster::{self, free_ports};
use common::raw::{self, RawClient};
use common::{wait_until, Broker};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::Offset;
use tidelog_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use tidelog_protocol::messages::metadata_response::MetadataResponse;
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

const TOPIC: &str = "spread";
const PARTITIONS: i32 = 12;
const RECORDS_PER_PARTITION: usize = 10;

/// What a node says of the cluster: its brokers, its controller, and each partition of
/// [`TOPIC`] with its leader and error.
#[derive(Debug, Clone, PartialEq)]
struct View {
    brokers: Vec<i32>,
    controller: i32,
    partitions: BTreeMap<i32, (i32, ErrorCode)>,
}

fn view(node: &Broker) -> View {
    let metadata: MetadataResponse = RawClient::connect(node.addr()).metadata(Some(&[TOPIC]), false);
    let mut brokers: Vec<i32> = metadata.brokers.iter().map(|b| b.node_id).collect();
    brokers.sort();
    let partitions = metadata
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| (p.partition_index, (p.leader_id, ErrorCode(p.error_code))))
        .collect();
    View {
        brokers,
        controller: metadata.controller_id,
        partitions,
    }
}

/// The view every running node of `nodes` agrees on, once it satisfies `wanted`.
fn agreed(nodes: &[&Broker], what: &str, wanted: impl Fn(&View) -> bool) -> View {
    wait_until(what, || {
        let views: Vec<View> = nodes.iter().map(|n| view(n)).collect();
        let first = views[0].clone();
        (views.iter().all(|v| *v == first) && wanted(&first)).then_some(first)
    })
}

/// Subscribes a consumer of group `group` through `node`, reads `count` records, commits,
/// and checks what it committed: each partition's end.
fn consume_as_group(node: &Broker, group: &str, count: usize) {
    let consumer = node.consumer(group);
    consumer.subscribe(&[TOPIC]).expect("subscribe");
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    let mut received = 0;
    let deadline = std::time::Instant::now() + 4 * CLIENT_TIMEOUT;
    while received < count {
        assert!(
            std::time::Instant::now() < deadline,
            "{received} of {count} records read"
        );
        match consumer.poll(std::time::Duration::from_millis(200)) {
            Some(Ok(message)) => {
                received += 1;
                ends.insert(message.partition(), message.offset() + 1);
            }
            Some(Err(e)) => panic!("consumer error: {e}"),
            None => {}
        }
    }
    consumer.commit_consumer_state(CommitMode::Sync).expect("commit");
    let committed = consumer.committed(CLIENT_TIMEOUT).expect("committed offsets");
    let committed: BTreeMap<i32, i64> = committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(offset) => Some((e.partition(), offset)),
            _ => None,
        })
        .collect();
    assert_eq!(committed, ends);
    assert_eq!(ends.len(), PARTITIONS as usize);
}

/// A new idempotent producer's id from `node`.
fn init_producer_id(node: &Broker) -> i64 {
    let request = RequestBody::InitProducerId(InitProducerIdRequest {
        transactional_id: None,
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    });
    match RawClient::connect(node.addr()).request(4, request) {
        ResponseBody::InitProducerId(r) => {
            assert_eq!(ErrorCode(r.error_code), ErrorCode::NONE, "{r:?}");
            r.producer_id
        }
        other => panic!("{other:?}"),
    }
}

/// What `tidelog cluster` prints, asking `node`.
fn describe_cluster(node: &Broker) -> String {
    let output = common::cli::tidelog_command()
        .args(["cluster", "--bootstrap-server", &node.bootstrap()])
        .output()
        .expect("run tidelog cluster");
    let run = common::cli::Run::of(output);
    assert!(run.success, "{}", run.stderr);
    run.stdout
}

/// The brokers `tidelog cluster` lists, with whether each is fenced.
fn fenced_column(shown: &str) -> Vec<(i32, bool)> {
    let brokers = shown
        .lines()
        .skip_while(|l| !l.starts_with("BrokerId\t"))
        .skip(1)
        .take_while(|l| !l.starts_with("Topic\t"));
    brokers
        .map(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            (fields[0].parse().unwrap(), fields[3].parse().unwrap())
        })
        .collect()
}

fn record(partition: i32, i: usize) -> TestRecord {
    TestRecord {
        key: format!("p{partition}-k{i}").into_bytes(),
        value: format!("p{partition}-v{i}").into_bytes(),
        headers: Vec::new(),
        timestamp: 1_700_000_000_000 + i as i64,
    }
}

/// Produces `count` records to each of `partitions` through `node` and checks each was
/// acknowledged at the next offset of its partition, from `from`.
fn produce(node: &Broker, partitions: &[i32], from: usize, count: usize) {
    let producer = node.tracked_producer(&[("linger.ms", "5")]);
    for &p in partitions {
        for i in from..from + count {
            send(&producer, TOPIC, Some(p), p as usize * 1000 + i, &record(p, i));
        }
    }
    flush(&producer, CLIENT_TIMEOUT);
    let delivered: Vec<(i32, i64)> = take_deliveries(&producer)
        .into_values()
        .map(|report| report.expect("acknowledged"))
        .collect();
    assert_eq!(delivered.len(), partitions.len() * count);
    for &p in partitions {
        let mut offsets: Vec<i64> = delivered.iter().filter(|d| d.0 == p).map(|d| d.1).collect();
        offsets.sort();
        let expected: Vec<i64> = (from as i64..(from + count) as i64).collect();
        assert_eq!(offsets, expected, "partition {p}");
    }
}

/// Reads every record of `partitions` through `node` and checks them.
fn check_records(node: &Broker, partitions: &[i32], count: usize) {
    let ranges: Vec<(i32, i64, i64)> = partitions.iter().map(|&p| (p, 0, count as i64)).collect();
    let read = node.read_partitions(TOPIC, &ranges);
    for &p in partitions {
        let got: Vec<(i64, Vec<u8>, Vec<u8>)> = read[&p]
            .iter()
            .map(|r| {
                (
                    r.offset,
                    r.key.clone().unwrap_or_default(),
                    r.value.clone().unwrap_or_default(),
                )
            })
            .collect();
        let expected: Vec<(i64, Vec<u8>, Vec<u8>)> = (0..count)
            .map(|i| (i as i64, record(p, i).key, record(p, i).value))
            .collect();
        assert_eq!(got, expected, "partition {p}");
    }
}

#[test]
fn topics_spread_over_three_brokers_and_a_killed_broker_is_fenced_then_serves_again() {
    let configs = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let sessions = "broker.session.timeout.ms=3000\nbroker.heartbeat.interval.ms=500";
    let mut nodes = cluster::start(configs.path(), &ports, sessions);

    // Each broker registers with the quorum's leader; once caught up, it is unfenced and
    // every node lists the three, and the same controller.
    let all: Vec<&Broker> = nodes.iter().collect();
    let up = agreed(&all, "three brokers listed by every node", |v| v.brokers == [1, 2, 3]);
    assert!((1..=3).contains(&up.controller), "{up:?}");

    // A topic made through a node that may not lead the quorum: librdkafka's admin client
    // sends CreateTopics to the controller Metadata names.
    nodes[2].admin().create_ok(&[new_topic(TOPIC, PARTITIONS, 1)]);
    let placed = agreed(&all, "the topic's leaders known to every node", |v| {
        v.partitions.len() == PARTITIONS as usize && v.partitions.values().all(|(_, e)| *e == ErrorCode::NONE)
    });
    let led_by = |id: i32| -> Vec<i32> {
        placed
            .partitions
            .iter()
            .filter(|(_, (leader, _))| *leader == id)
            .map(|(p, _)| *p)
            .collect()
    };
    for id in 1..=3 {
        assert_eq!(led_by(id).len(), 4, "round-robin over three brokers: {placed:?}");
    }

    // `tidelog cluster` shows the controller, the brokers and each partition's leader.
    let shown = describe_cluster(&nodes[0]);
    assert!(
        shown.contains(&format!("ControllerId:\t{}\n", up.controller)),
        "{shown}"
    );
    assert_eq!(fenced_column(&shown), [(1, false), (2, false), (3, false)], "{shown}");
    let leaders: BTreeMap<i32, i32> = shown
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{TOPIC}\t")))
        .map(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            assert_eq!(fields[3..], [fields[1], fields[1], "ok"], "one replica, in sync: {l}");
            (fields[0].parse().unwrap(), fields[1].parse().unwrap())
        })
        .collect();
    let expected: BTreeMap<i32, i32> = placed.partitions.iter().map(|(p, (leader, _))| (*p, *leader)).collect();
    assert_eq!(leaders, expected, "{shown}");

    // Each broker hosts the partitions it leads, and no other.
    for (i, node) in nodes.iter().enumerate() {
        let id = i as i32 + 1;
        wait_until("the leader's logs made", || {
            led_by(id)
                .iter()
                .all(|&p| node.partition_dir(TOPIC, p).exists())
                .then_some(())
        });
        for p in (0..PARTITIONS).filter(|p| !led_by(id).contains(p)) {
            assert!(!node.partition_dir(TOPIC, p).exists(), "node {id} hosts partition {p}");
        }
    }

    // librdkafka, bootstrapped at one node, produces to every partition on all three and
    // reads everything back through another.
    let every: Vec<i32> = (0..PARTITIONS).collect();
    produce(&nodes[1], &every, 0, RECORDS_PER_PARTITION);
    check_records(&nodes[0], &every, RECORDS_PER_PARTITION);

    // A consumer group reads them all through its coordinator, the leader of its
    // `__consumer_offsets` partition (made through the quorum's leader by whichever node
    // the group first asked), and commits its offsets there.
    consume_as_group(&nodes[2], "spread-readers", PARTITIONS as usize * RECORDS_PER_PARTITION);

    // A node that does not lead the quorum creates a topic a client's Metadata asks for
    // through the leader (as Kafka's brokers forward it), and answers it at once.
    let follower = nodes
        .iter()
        .enumerate()
        .find(|(i, _)| *i as i32 + 1 != up.controller)
        .unwrap()
        .1;
    let auto = RawClient::connect(follower.addr()).metadata(Some(&["made-on-the-fly"]), true);
    assert_eq!(ErrorCode(auto.topics[0].error_code), ErrorCode::NONE, "{auto:?}");
    assert_eq!(auto.topics[0].partitions.len(), 1, "num.partitions");

    // Idempotent producers get ids from any node: a node that does not lead the quorum
    // asks the leader for a block of its own (AllocateProducerIds), so no id repeats.
    let mut ids: Vec<i64> = nodes
        .iter()
        .flat_map(|n| [init_producer_id(n), init_producer_id(n)])
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "{ids:?}");

    // A broker asked for a partition it does not lead sends the client to its leader.
    let elsewhere = led_by(2)[0];
    let refused = nodes[0]
        .raw()
        .produce(TOPIC, elsewhere, -1, raw::batch(1, &[(b"k", b"v")]));
    assert_eq!(
        ErrorCode(refused.error_code),
        ErrorCode::NOT_LEADER_OR_FOLLOWER,
        "{refused:?}"
    );
    let fetched = nodes[0].raw().fetch(raw::fetch_request(TOPIC, elsewhere, 0, 0, 1));
    assert_eq!(
        ErrorCode(fetched.error_code),
        ErrorCode::NOT_LEADER_OR_FOLLOWER,
        "{fetched:?}"
    );

    // A broker that does not lead the quorum is killed: the leader fences it once its
    // session runs out, and its partitions are offline (no leader) while the others serve.
    let victim = (1..=3).find(|&id| id != up.controller).unwrap();
    let victim_at = victim as usize - 1;
    nodes[victim_at].kill9();
    let survivors: Vec<&Broker> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != victim_at)
        .map(|(_, n)| n)
        .collect();
    let fenced = agreed(&survivors, "the killed broker fenced", |v| !v.brokers.contains(&victim));
    for (p, (leader, error)) in &fenced.partitions {
        match led_by(victim).contains(p) {
            true => assert_eq!(
                (*leader, *error),
                (-1, ErrorCode::LEADER_NOT_AVAILABLE),
                "partition {p}"
            ),
            false => assert_eq!(*error, ErrorCode::NONE, "partition {p}"),
        }
    }
    let shown = describe_cluster(survivors[0]);
    let mut expected = vec![(1, false), (2, false), (3, false)];
    expected[victim_at].1 = true;
    assert_eq!(
        fenced_column(&shown),
        expected,
        "DescribeCluster v2 lists fenced brokers too: {shown}"
    );
    // /metrics shows it as Kafka's controller metrics would: two active brokers, one
    // fenced, and every partition of its without a leader offline.
    let offline = RawClient::connect(survivors[0].addr())
        .metadata(None, false)
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .filter(|p| p.leader_id == -1)
        .count();
    assert!(offline >= led_by(victim).len(), "{offline}");
    assert_eq!(
        cluster_gauges(survivors[0]),
        [
            ("active_brokers", 2),
            ("fenced_brokers", 1),
            ("offline_partitions", offline as i64)
        ]
    );
    let serving: Vec<i32> = every.iter().copied().filter(|p| !led_by(victim).contains(p)).collect();
    produce(survivors[0], &serving, RECORDS_PER_PARTITION, RECORDS_PER_PARTITION);
    check_records(survivors[1], &serving, 2 * RECORDS_PER_PARTITION);

    // Back, it registers again, is unfenced once caught up, and serves its partitions with
    // every record it had.
    nodes[victim_at].restart();
    let all: Vec<&Broker> = nodes.iter().collect();
    agreed(&all, "the restarted broker listed again", |v| {
        v.brokers == [1, 2, 3] && v.partitions.values().all(|(_, e)| *e == ErrorCode::NONE)
    });
    check_records(&nodes[0], &led_by(victim), RECORDS_PER_PARTITION);
    assert_eq!(
        cluster_gauges(&nodes[0]),
        [("active_brokers", 3), ("fenced_brokers", 0), ("offline_partitions", 0)]
    );
}

/// The brokers and offline partitions `node`'s /metrics counts.
fn cluster_gauges(node: &Broker) -> Vec<(&'static str, i64)> {
    let scraped = node.scrape();
    ["active_brokers", "fenced_brokers", "offline_partitions"]
        .into_iter()
        .map(|name| {
            let prefix = format!("tidelog_cluster_{name} ");
            let line = scraped.lines().find(|l| l.starts_with(&prefix));
            let value = line.unwrap_or_else(|| panic!("no {prefix}in:\n{scraped}"));
            (name, value[prefix.len()..].parse().unwrap())
        })
        .collect()
}
