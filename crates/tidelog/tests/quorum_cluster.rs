//! Three `tidelog serve` processes as one metadata quorum (issue 12, docs/design/quorum.md
//! S8): they elect a leader over their controller listeners, only the leader takes a
//! metadata change, a kill -9 of the leader elects another that goes on from every
//! committed change, the old leader comes back as a follower and catches up (from the
//! leader's snapshot: every voter snapshots after each change here), and the three
//! `__cluster_metadata-0` logs hold the same batches byte for byte.
//!
//! The changes made here are client quotas, which no partition placement touches, and one
//! topic a follower creates through the leader: topics spread over the nodes are
//! `cluster.rs`'s.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::Bytes;
use common::cluster::{self, free_ports};
use common::raw::RawClient;
use common::{wait_until, Broker};
use tidelog_protocol::messages::alter_client_quotas_request::{
    AlterClientQuotasRequest, EntityData, EntryData, OpData,
};
use tidelog_protocol::messages::api_versions_request::ApiVersionsRequest;
use tidelog_protocol::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
use tidelog_protocol::messages::describe_client_quotas_request::DescribeClientQuotasRequest;
use tidelog_protocol::messages::describe_quorum_request::{DescribeQuorumRequest, PartitionData, TopicData};
use tidelog_protocol::messages::describe_quorum_response::PartitionData as QuorumPartition;
use tidelog_protocol::messages::tidelog_quorum_vote_request::{RaftVote, TidelogQuorumVoteRequest};
use tidelog_protocol::records::RecordBatch;
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

/// The snapshot a format writes, holding the voters only.
const BOOTSTRAP_CHECKPOINT: &str = "00000000000000000000-0000000000.checkpoint";

/// The quorum as node `broker` sees it.
fn describe_quorum(broker: &Broker) -> QuorumPartition {
    let request = RequestBody::DescribeQuorum(DescribeQuorumRequest {
        topics: vec![TopicData {
            topic_name: "__cluster_metadata".into(),
            partitions: vec![PartitionData {
                partition_index: 0,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    });
    match RawClient::connect(broker.addr()).request(2, request) {
        ResponseBody::DescribeQuorum(mut r) => r.topics.remove(0).partitions.remove(0),
        other => panic!("not a DescribeQuorum response: {other:?}"),
    }
}

/// The leader among `nodes` (node id, broker), once there is one in an epoch past `after`:
/// the one node that answers DescribeQuorum, naming itself; every other answers
/// NOT_LEADER_OR_FOLLOWER, as Kafka's controllers do. Its node id, and what it says.
fn agreed_leader(nodes: &[(i32, &Broker)], after: i32) -> (i32, QuorumPartition) {
    wait_until("one leader, the others following", || {
        let mut leader = None;
        for (id, broker) in nodes {
            let seen = describe_quorum(broker);
            match ErrorCode(seen.error_code) {
                ErrorCode::NONE if seen.leader_id == *id && seen.leader_epoch > after && leader.is_none() => {
                    leader = Some((*id, seen));
                }
                ErrorCode::NOT_LEADER_OR_FOLLOWER => {}
                _ => return None,
            }
        }
        leader
    })
}

fn set_producer_quota(broker: &Broker, user: &str, rate: f64) -> i16 {
    let request = AlterClientQuotasRequest {
        entries: vec![EntryData {
            entity: vec![EntityData {
                entity_type: "user".into(),
                entity_name: Some(user.into()),
                ..Default::default()
            }],
            ops: vec![OpData {
                key: "producer_byte_rate".into(),
                value: rate,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    match RawClient::connect(broker.addr()).request(1, RequestBody::AlterClientQuotas(request)) {
        ResponseBody::AlterClientQuotas(r) => r.entries[0].error_code,
        other => panic!("{other:?}"),
    }
}

/// The users with a quota, as node `broker` describes them.
fn users_with_quotas(broker: &Broker) -> Vec<String> {
    // No component, not strict: every quota.
    let request = DescribeClientQuotasRequest::default();
    match RawClient::connect(broker.addr()).request(1, RequestBody::DescribeClientQuotas(request)) {
        ResponseBody::DescribeClientQuotas(r) => {
            let mut users: Vec<String> = r
                .entries
                .unwrap_or_default()
                .into_iter()
                .filter_map(|e| e.entity.into_iter().next()?.entity_name)
                .collect();
            users.sort();
            users
        }
        other => panic!("{other:?}"),
    }
}

fn create_topic(broker: &Broker, name: &str) -> ErrorCode {
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.into(),
            num_partitions: 1,
            replication_factor: 1,
            ..Default::default()
        }],
        timeout_ms: 10_000,
        ..Default::default()
    };
    match RawClient::connect(broker.addr()).request(7, RequestBody::CreateTopics(request)) {
        ResponseBody::CreateTopics(r) => ErrorCode(r.topics[0].error_code),
        other => panic!("{other:?}"),
    }
}

/// The batches of a node's metadata log, by base offset.
fn metadata_batches(broker: &Broker) -> BTreeMap<i64, Vec<u8>> {
    let (topic, partition) = ("__cluster_metadata", 0);
    let mut batches = BTreeMap::new();
    for base in broker.segment_base_offsets(topic, partition) {
        let segment = std::fs::read(broker.segment_file(topic, partition, base, "log")).unwrap();
        for batch in RecordBatch::iter_batches(Bytes::from(segment)) {
            let batch = batch.expect("a whole batch");
            batches.insert(batch.base_offset(), batch.as_bytes().to_vec());
        }
    }
    batches
}

#[test]
fn three_voters_elect_fail_over_and_keep_identical_metadata_logs() {
    let configs = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let snapshot_each_change = "metadata.log.max.record.bytes.between.snapshots=1";
    let mut nodes = cluster::start(configs.path(), &ports, snapshot_each_change);

    let with_ids = |nodes: &[Broker], except: Option<usize>| -> Vec<(i32, usize)> {
        (0..nodes.len())
            .filter(|&i| Some(i) != except)
            .map(|i| (i as i32 + 1, i))
            .collect()
    };
    let leader_among = |nodes: &[Broker], except: Option<usize>, after: i32| {
        let among: Vec<(i32, &Broker)> = with_ids(nodes, except)
            .into_iter()
            .map(|(id, i)| (id, &nodes[i]))
            .collect();
        agreed_leader(&among, after)
    };

    let (leader, seen) = leader_among(&nodes, None, 0);
    let epoch = seen.leader_epoch;
    let voters: Vec<i32> = seen.current_voters.iter().map(|v| v.replica_id).collect();
    assert_eq!(voters, [1, 2, 3]);
    let leader_at = leader as usize - 1;
    let follower_at = (leader_at + 1) % 3;

    // The controller listener answers the quorum's RPCs only: another cluster's vote request
    // is refused and changes nothing; a frame too large, or any other API, closes the
    // connection, logged.
    let controller: SocketAddr = format!("127.0.0.1:{}", ports[follower_at]).parse().unwrap();
    let foreign_vote = RequestBody::TidelogQuorumVote(TidelogQuorumVoteRequest {
        cluster_id: "another-cluster".into(),
        vote: RaftVote {
            term: i64::from(epoch) + 100,
            node_id: 9,
            committed: false,
            ..Default::default()
        },
        ..Default::default()
    });
    match RawClient::connect(controller).request(0, foreign_vote) {
        ResponseBody::TidelogQuorumVote(r) => {
            assert_eq!(ErrorCode(r.error_code), ErrorCode::INCONSISTENT_CLUSTER_ID, "{r:?}");
            assert!(!r.vote_granted);
        }
        other => panic!("{other:?}"),
    }
    let mut not_a_quorum_rpc = RawClient::connect(controller);
    not_a_quorum_rpc.send(3, &RequestBody::ApiVersions(ApiVersionsRequest::default()));
    not_a_quorum_rpc.assert_closed();
    nodes[follower_at].wait_for_line(&["closing a connection on the controller listener", "ApiVersions"]);
    let mut too_large = RawClient::connect(controller);
    too_large.send_bytes(&i32::MAX.to_be_bytes());
    too_large.assert_closed();
    assert_eq!(leader_among(&nodes, None, 0).1.leader_epoch, epoch, "nothing changed");

    // `tidelog quorum` finds the leader among the addresses it is given, as
    // `kafka-metadata-quorum describe` shows the quorum.
    let bootstrap: Vec<String> = nodes.iter().map(Broker::bootstrap).collect();
    let quorum = |args: &[&str]| {
        let output = common::cli::tidelog_command()
            .arg("quorum")
            .args(args)
            .args(["--bootstrap-server", &bootstrap.join(",")])
            .output()
            .expect("run tidelog quorum");
        common::cli::Run::of(output)
    };
    let status = quorum(&[]);
    assert!(status.success, "{}", status.stderr);
    assert!(
        status
            .stdout
            .starts_with(&format!("LeaderId:\t{leader}\nLeaderEpoch:\t{epoch}\n")),
        "{}",
        status.stdout
    );
    let replication = quorum(&["--replication"]);
    assert!(replication.success, "{}", replication.stderr);
    let roles: Vec<(String, String)> = replication
        .stdout
        .lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (fields[0].to_string(), fields[3].to_string())
        })
        .collect();
    let expected: Vec<(String, String)> = (1..=3)
        .map(|id| {
            (
                id.to_string(),
                if id == leader { "Leader" } else { "Follower" }.to_string(),
            )
        })
        .collect();
    assert_eq!(roles, expected, "{}", replication.stdout);

    // Each node's /metrics shows the quorum as it sees it (Kafka's raft-metrics).
    let series = |broker: &Broker, name: &str| -> String {
        let scraped = broker.scrape();
        let line = scraped.lines().find(|l| l.starts_with(&format!("{name} ")));
        line.unwrap_or_else(|| panic!("no {name} in:\n{scraped}")).to_string()
    };
    assert_eq!(
        series(&nodes[leader_at], "tidelog_quorum_leader_is_self"),
        "tidelog_quorum_leader_is_self 1"
    );
    assert_eq!(
        series(&nodes[follower_at], "tidelog_quorum_leader_is_self"),
        "tidelog_quorum_leader_is_self 0"
    );
    assert_eq!(
        series(&nodes[leader_at], "tidelog_quorum_leader"),
        format!("tidelog_quorum_leader {leader}")
    );

    // Only the leader takes a change: a follower sends the client to the controller, but
    // for a topic, which it creates through the leader (as Kafka's brokers forward it).
    assert_eq!(
        set_producer_quota(&nodes[follower_at], "alice", 1000.0),
        ErrorCode::NOT_CONTROLLER.0
    );
    assert_eq!(create_topic(&nodes[follower_at], "on-a-follower"), ErrorCode::NONE);
    assert_eq!(
        create_topic(&nodes[leader_at], "on-a-follower"),
        ErrorCode::TOPIC_ALREADY_EXISTS
    );
    assert_eq!(set_producer_quota(&nodes[leader_at], "alice", 1000.0), 0);

    // The leader dies; the two others elect one of them, which holds alice's quota and takes
    // another change.
    nodes[leader_at].kill9();
    let (second, seen) = leader_among(&nodes, Some(leader_at), epoch);
    assert_ne!(second, leader, "a new leader");
    let second_at = second as usize - 1;
    assert_eq!(set_producer_quota(&nodes[second_at], "bob", 2000.0), 0);
    assert_eq!(users_with_quotas(&nodes[second_at]), ["alice", "bob"]);
    // Topics are made again, on the new leader and through the other survivor.
    let other_at = 3 - leader_at - second_at;
    assert_eq!(create_topic(&nodes[second_at], "after-failover"), ErrorCode::NONE);
    assert_eq!(create_topic(&nodes[other_at], "after-failover-2"), ErrorCode::NONE);

    // The old leader comes back as a follower and catches up with everything committed: the
    // leader sees its log end reach the high watermark.
    nodes[leader_at].restart();
    let (third, _) = leader_among(&nodes, None, seen.leader_epoch - 1);
    assert_eq!(third, second, "the returning node does not take the lead back");
    let committed = wait_until("the returning node catches up", || {
        let now = describe_quorum(&nodes[second_at]);
        let returned = now.current_voters.iter().find(|v| v.replica_id == leader)?;
        (returned.log_end_offset >= now.high_watermark).then_some(now.high_watermark)
    });

    // Each voter snapshots its own log (here after every change, the followers within a
    // second of appending)...
    for node in &nodes {
        wait_until("every voter snapshots", || {
            checkpoints(node)
                .iter()
                .any(|c| c != BOOTSTRAP_CHECKPOINT)
                .then_some(())
        });
    }
    for node in &mut nodes {
        node.stop();
    }
    // ...and the three logs hold the same batches wherever two hold one; each reaches the
    // high watermark (a voter that installed the leader's snapshot starts after it).
    let logs: Vec<BTreeMap<i64, Vec<u8>>> = nodes.iter().map(metadata_batches).collect();
    for (i, log) in logs.iter().enumerate() {
        let batches_end = log.keys().next_back().map_or(0, |last| last + 1);
        let snapshot_end = checkpoints(&nodes[i])
            .iter()
            .map(|c| checkpoint_end(c))
            .max()
            .unwrap_or(0);
        let end = batches_end.max(snapshot_end);
        assert!(end >= committed, "node {} holds up to {end}, not {committed}", i + 1);
        for (j, other) in logs.iter().enumerate().skip(i + 1) {
            for (offset, batch) in log.iter().filter(|(o, _)| other.contains_key(o)) {
                assert!(
                    batch == &other[offset],
                    "nodes {} and {} differ at {offset}",
                    i + 1,
                    j + 1
                );
            }
        }
    }
    let survivor = (0..3).find(|&i| i != leader_at && i != second_at).unwrap();
    let shared = logs[second_at]
        .keys()
        .filter(|o| logs[survivor].contains_key(o))
        .count();
    assert!(shared > 0, "the two voters that stayed up share batches");
}

/// The end offset a `.checkpoint` file's name gives (`<end offset>-<epoch>.checkpoint`).
fn checkpoint_end(name: &str) -> i64 {
    name.split('-').next().unwrap().parse().unwrap()
}

/// The snapshot files of a node's metadata log, the bootstrap one included.
fn checkpoints(broker: &Broker) -> Vec<String> {
    let dir = broker.partition_dir("__cluster_metadata", 0);
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".checkpoint"))
        .collect();
    names.sort();
    names
}
