//! The KIP-848 consumer group protocol against a real broker: librdkafka consumers with
//! `group.protocol=consumer` share a topic's partitions through ConsumerGroupHeartbeat (the
//! broker assigns), a leaving member's partitions move to the others, every record is
//! consumed, and the group (members, epochs, partitions) and its commits survive clean
//! restarts and crashes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::clients::{assigned_partitions, close_consumers, new_topic, CLIENT_TIMEOUT, SETTLE_TIMEOUT};
use common::raw::RawClient;
use common::Broker;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tidelog_protocol::messages::consumer_group_describe_request::ConsumerGroupDescribeRequest;
use tidelog_protocol::messages::consumer_group_heartbeat_request::{self as heartbeat, ConsumerGroupHeartbeatRequest};
use tidelog_protocol::messages::consumer_group_heartbeat_response::ConsumerGroupHeartbeatResponse;
use tidelog_protocol::messages::list_groups_request::ListGroupsRequest;
use tidelog_protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody, Uuid};

const TOPIC: &str = "six";
const GROUP: &str = "kip848";
const PARTITIONS: i32 = 6;

/// Small timeouts, so members notice changes quickly and a lost member expires in seconds.
const BROKER_ARGS: &[&str] = &[
    "--override",
    "group.consumer.heartbeat.interval.ms=200",
    "--override",
    "group.consumer.session.timeout.ms=5000",
];

/// A consumer of the new protocol: no assignment strategy, the broker assigns.
fn consumer(broker: &Broker) -> BaseConsumer {
    consumer_with(broker, &[])
}

/// A consumer of the new protocol with more settings.
fn consumer_with(broker: &Broker, settings: &[(&str, &str)]) -> BaseConsumer {
    let mut config = broker.client_config();
    for (key, value) in settings {
        config.set(*key, *value);
    }
    let consumer: BaseConsumer = config
        .set("group.id", GROUP)
        .set("group.protocol", "consumer")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("create a consumer");
    consumer.subscribe(&[TOPIC]).expect("subscribe");
    consumer
}

/// Produces `count` records round-robin over the partitions, valued `first..first + count`.
fn produce(broker: &Broker, first: usize, count: usize) {
    let producer = broker.base_producer();
    for i in first..first + count {
        let value = i.to_string();
        let partition = (i % PARTITIONS as usize) as i32;
        producer
            .send(BaseRecord::<(), _>::to(TOPIC).partition(partition).payload(&value))
            .expect("enqueue");
    }
    producer.flush(CLIENT_TIMEOUT).expect("flush");
}

/// Polls every consumer, recording the values read and committing after each record, until
/// each holds `per_member` partitions, all partitions are assigned once, `expected` values
/// have been read and every commit went through. A commit refused while the group changes
/// (or the broker restarts) is retried, as are transient errors of the poll.
fn consume_until(consumers: &[&BaseConsumer], per_member: usize, read: &mut BTreeSet<usize>, expected: usize) {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    // Each consumer's commits still to make: partition -> next offset.
    let mut pending: Vec<BTreeMap<i32, i64>> = vec![BTreeMap::new(); consumers.len()];
    loop {
        for (consumer, pending) in consumers.iter().zip(&mut pending) {
            while let Some(message) = consumer.poll(Duration::from_millis(20)) {
                let Ok(message) = message else { continue };
                let value = std::str::from_utf8(message.payload().expect("payload")).expect("utf-8");
                read.insert(value.parse().expect("a number"));
                pending.insert(message.partition(), message.offset() + 1);
            }
            if !pending.is_empty() {
                let mut offsets = TopicPartitionList::new();
                for (partition, offset) in pending.iter() {
                    offsets
                        .add_partition_offset(TOPIC, *partition, Offset::Offset(*offset))
                        .expect("offset");
                }
                if consumer.commit(&offsets, CommitMode::Sync).is_ok() {
                    pending.clear();
                }
            }
        }
        let assigned: Vec<Vec<i32>> = consumers.iter().map(|c| assigned_partitions(c)).collect();
        let mut all = assigned.concat();
        all.sort();
        let balanced = assigned.iter().all(|a| a.len() == per_member) && all == (0..PARTITIONS).collect::<Vec<_>>();
        if balanced && read.len() >= expected && pending.iter().all(BTreeMap::is_empty) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no settling: assignments {assigned:?}, {} of {expected} read",
            read.len()
        );
    }
}

/// The group's committed offset of every partition.
fn committed(consumer: &BaseConsumer) -> BTreeMap<i32, Offset> {
    let mut wanted = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        wanted.add_partition(TOPIC, partition);
    }
    let committed = consumer
        .committed_offsets(wanted, CLIENT_TIMEOUT)
        .expect("committed offsets");
    committed
        .elements()
        .iter()
        .map(|e| (e.partition(), e.offset()))
        .collect()
}

#[test]
fn consumers_share_partitions_move_them_when_one_leaves_and_resume_after_a_restart() {
    let mut broker = Broker::start(BROKER_ARGS);
    broker.admin().create_ok(&[new_topic(TOPIC, PARTITIONS, 1)]);
    produce(&broker, 0, 600);

    // Three members: two partitions each, and every record read.
    let mut read = BTreeSet::new();
    let a = consumer(&broker);
    let b = consumer(&broker);
    let c = consumer(&broker);
    consume_until(&[&a, &b, &c], 2, &mut read, 600);

    // One leaves: its partitions move, and what is produced next is read by the other two.
    drop(c);
    produce(&broker, 600, 600);
    consume_until(&[&a, &b], 3, &mut read, 1200);
    assert_eq!(read, (0..1200).collect::<BTreeSet<usize>>(), "every record read");

    // Every partition's commit is at its end: 200 records each.
    let all_at_end: BTreeMap<i32, Offset> = (0..PARTITIONS).map(|p| (p, Offset::Offset(200))).collect();
    assert_eq!(committed(&a), all_at_end);
    drop(b);

    // After a restart `a` is still a member; with a new member they read only what follows
    // the commits.
    broker.restart();
    produce(&broker, 1200, 60);
    let d = consumer(&broker);
    let mut after = BTreeSet::new();
    consume_until(&[&a, &d], 3, &mut after, 60);
    assert_eq!(
        after,
        (1200..1260).collect::<BTreeSet<usize>>(),
        "resumed at the commits"
    );
    let all_at_end: BTreeMap<i32, Offset> = (0..PARTITIONS).map(|p| (p, Offset::Offset(210))).collect();
    assert_eq!(committed(&d), all_at_end);
}

/// One ConsumerGroupHeartbeat (v1) of `member` at `epoch`; `owned`: what it reports owning.
fn beat(
    raw: &mut RawClient,
    member: &str,
    epoch: i32,
    owned: Option<(Uuid, Vec<i32>)>,
) -> ConsumerGroupHeartbeatResponse {
    let request = ConsumerGroupHeartbeatRequest {
        group_id: "raw".into(),
        member_id: member.into(),
        member_epoch: epoch,
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: (epoch == 0).then(|| vec![TOPIC.to_string()]),
        topic_partitions: owned.map(|(topic_id, partitions)| {
            vec![heartbeat::TopicPartitions {
                topic_id,
                partitions,
                ..Default::default()
            }]
        }),
        ..Default::default()
    };
    match raw.request(1, RequestBody::ConsumerGroupHeartbeat(request)) {
        ResponseBody::ConsumerGroupHeartbeat(r) => r,
        other => panic!("unexpected {other:?}"),
    }
}

/// The partitions of a heartbeat's assignment, with their topic id.
fn assigned(response: &ConsumerGroupHeartbeatResponse) -> (Uuid, Vec<i32>) {
    let assignment = response.assignment.as_ref().expect("an assignment");
    match assignment.topic_partitions.as_slice() {
        [] => (Uuid::default(), vec![]),
        [topic] => (topic.topic_id, topic.partitions.clone()),
        more => panic!("one topic expected: {more:?}"),
    }
}

/// OffsetCommit v9 of partition 0 by `member` at `epoch`: the partition's error.
fn commit(raw: &mut RawClient, member: &str, epoch: i32) -> ErrorCode {
    let request = OffsetCommitRequest {
        group_id: "raw".into(),
        generation_id_or_member_epoch: epoch,
        member_id: member.into(),
        topics: vec![OffsetCommitRequestTopic {
            name: TOPIC.into(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: 1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    match raw.request(9, RequestBody::OffsetCommit(request)) {
        ResponseBody::OffsetCommit(r) => ErrorCode(r.topics[0].partitions[0].error_code),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn partitions_move_only_after_revocation_and_commits_check_member_epochs() {
    let broker = Broker::start(BROKER_ARGS);
    broker.admin().create_ok(&[new_topic(TOPIC, PARTITIONS, 1)]);
    let mut raw = RawClient::connect(broker.addr());

    // The first member gets everything.
    let a = beat(&mut raw, "member-a", 0, None);
    assert_eq!(a.error_code, 0, "{:?}", a.error_message);
    assert_eq!(a.heartbeat_interval_ms, 200);
    let (topic_id, all) = assigned(&a);
    assert_eq!(all, (0..PARTITIONS).collect::<Vec<_>>());

    // A second member joins: nothing for it until `a` gives partitions up.
    let b = beat(&mut raw, "member-b", 0, None);
    assert_eq!(assigned(&b).1, Vec::<i32>::new());
    let a_kept = beat(&mut raw, "member-a", a.member_epoch, None);
    assert_eq!(
        a_kept.member_epoch, a.member_epoch,
        "epoch held until the revocation is confirmed"
    );
    let (_, kept) = assigned(&a_kept);
    assert_eq!(kept.len(), 3);
    let b_waits = beat(&mut raw, "member-b", b.member_epoch, None);
    assert!(b_waits.assignment.is_none(), "revoked partitions not yet given away");

    // Commits: the current epoch only.
    assert_eq!(commit(&mut raw, "member-a", a.member_epoch), ErrorCode::NONE);
    assert_eq!(
        commit(&mut raw, "member-a", a.member_epoch + 7),
        ErrorCode::FENCED_MEMBER_EPOCH
    );
    assert_eq!(commit(&mut raw, "nobody", 1), ErrorCode::UNKNOWN_MEMBER_ID);

    // `a` confirms; it moves to the new epoch, its old one is stale, and `b` gets the rest.
    let a_done = beat(&mut raw, "member-a", a.member_epoch, Some((topic_id, kept.clone())));
    assert!(a_done.member_epoch > a.member_epoch);
    assert_eq!(
        commit(&mut raw, "member-a", a.member_epoch),
        ErrorCode::STALE_MEMBER_EPOCH
    );
    let b_gets = beat(&mut raw, "member-b", b.member_epoch, None);
    let (_, given) = assigned(&b_gets);
    let mut both = [kept, given].concat();
    both.sort();
    assert_eq!(both, (0..PARTITIONS).collect::<Vec<_>>());

    // Described and listed as a consumer group.
    let describe = ConsumerGroupDescribeRequest {
        group_ids: vec!["raw".into()],
        ..Default::default()
    };
    let ResponseBody::ConsumerGroupDescribe(described) = raw.request(1, RequestBody::ConsumerGroupDescribe(describe))
    else {
        panic!("a ConsumerGroupDescribe response")
    };
    let group = &described.groups[0];
    assert_eq!((group.error_code, group.group_state.as_str()), (0, "Stable"));
    assert_eq!(group.assignor_name, "uniform");
    assert_eq!(group.members.len(), 2);
    let ResponseBody::ListGroups(listed) = raw.request(5, RequestBody::ListGroups(ListGroupsRequest::default())) else {
        panic!("a ListGroups response")
    };
    let types: Vec<(&str, &str)> = listed
        .groups
        .iter()
        .map(|g| (g.group_id.as_str(), g.group_type.as_str()))
        .collect();
    assert_eq!(types, [("raw", "consumer")]);
    // ListGroups v5's type filter (case-insensitive, as Kafka's) keeps it or leaves it out.
    for (filter, expected) in [("Consumer", 1), ("classic", 0)] {
        let request = ListGroupsRequest {
            types_filter: vec![filter.into()],
            ..Default::default()
        };
        let ResponseBody::ListGroups(listed) = raw.request(5, RequestBody::ListGroups(request)) else {
            panic!("a ListGroups response")
        };
        assert_eq!(listed.groups.len(), expected, "type filter {filter}");
    }
    // While it has members the id is a consumer group's: a classic member is refused.
    let (error, _, _) = raw.join_group("raw", "", b"");
    assert_eq!(error, ErrorCode::GROUP_ID_NOT_FOUND.0);

    // `b` leaves; `a` gets its partitions back.
    assert_eq!(beat(&mut raw, "member-b", -1, None).member_epoch, -1);
    let a_all = beat(&mut raw, "member-a", a_done.member_epoch, None);
    assert_eq!(assigned(&a_all).1, (0..PARTITIONS).collect::<Vec<_>>());
}

#[test]
fn a_static_member_restarted_within_its_session_gets_its_partitions_back() {
    let broker = Broker::start(BROKER_ARGS);
    broker.admin().create_ok(&[new_topic(TOPIC, PARTITIONS, 1)]);
    produce(&broker, 0, 60);
    let one = consumer_with(&broker, &[("group.instance.id", "one")]);
    let two = consumer_with(&broker, &[("group.instance.id", "two")]);
    let mut read = BTreeSet::new();
    consume_until(&[&one, &two], 3, &mut read, 60);
    let (before_one, before_two) = (assigned_partitions(&one), assigned_partitions(&two));

    // `one` closes (leaving with epoch -2) and comes back under the same instance id.
    drop(one);
    let one = consumer_with(&broker, &[("group.instance.id", "one")]);
    consume_until(&[&one, &two], 3, &mut read, 60);
    assert_eq!(
        (assigned_partitions(&one), assigned_partitions(&two)),
        (before_one, before_two)
    );
}

/// A group as ConsumerGroupDescribe shows it: its epoch, and each member's epoch and
/// owned partitions.
fn describe(broker: &Broker, group: &str) -> (i32, BTreeMap<String, (i32, Vec<i32>)>) {
    let mut raw = RawClient::connect(broker.addr());
    let describe = ConsumerGroupDescribeRequest {
        group_ids: vec![group.into()],
        ..Default::default()
    };
    let ResponseBody::ConsumerGroupDescribe(described) = raw.request(1, RequestBody::ConsumerGroupDescribe(describe))
    else {
        panic!("a ConsumerGroupDescribe response")
    };
    let group = &described.groups[0];
    assert_eq!(group.error_code, 0, "{:?}", group.error_message);
    let members = group
        .members
        .iter()
        .map(|m| {
            let mut owned: Vec<i32> = m
                .assignment
                .topic_partitions
                .iter()
                .flat_map(|t| t.partitions.clone())
                .collect();
            owned.sort();
            (m.member_id.clone(), (m.member_epoch, owned))
        })
        .collect();
    (group.group_epoch, members)
}

#[test]
fn the_group_its_epochs_and_partitions_survive_a_clean_restart_and_a_crash() {
    // Sessions long enough to outlast librdkafka's reconnect backoff (up to
    // `reconnect.backoff.max.ms`, 10 s) after the broker is killed: a member that cannot
    // heartbeat within its session is rightly removed, which would be a rebalance.
    let mut broker = Broker::start(&[
        "--override",
        "group.consumer.heartbeat.interval.ms=200",
        "--override",
        "group.consumer.session.timeout.ms=30000",
    ]);
    broker.admin().create_ok(&[new_topic(TOPIC, PARTITIONS, 1)]);
    produce(&broker, 0, 600);
    let a = consumer(&broker);
    let b = consumer(&broker);
    let mut read = BTreeSet::new();
    consume_until(&[&a, &b], 3, &mut read, 600);
    let before = describe(&broker, GROUP);
    let (epoch, members) = &before;
    assert!(*epoch >= 2, "two members joined: epoch {epoch}");
    assert_eq!(members.len(), 2);
    let assignments = (assigned_partitions(&a), assigned_partitions(&b));

    // A clean stop, then a SIGKILL: each time the members go on with the same ids, epochs
    // and partitions, the group epoch where it was, and read exactly what follows the commits.
    for (round, crash) in [false, true].into_iter().enumerate() {
        if crash {
            broker.kill9();
        }
        broker.restart();
        assert_eq!(
            describe(&broker, GROUP),
            before,
            "the group as it was before the restart"
        );
        let first = 600 + round * 60;
        produce(&broker, first, 60);
        let mut after = BTreeSet::new();
        consume_until(&[&a, &b], 3, &mut after, 60);
        assert_eq!(
            after,
            (first..first + 60).collect::<BTreeSet<usize>>(),
            "resumed at the commits"
        );
        assert_eq!((assigned_partitions(&a), assigned_partitions(&b)), assignments);
        assert_eq!(describe(&broker, GROUP), before, "no rebalance after the restart");
    }
    let all_at_end: BTreeMap<i32, Offset> = (0..PARTITIONS).map(|p| (p, Offset::Offset(120))).collect();
    assert_eq!(committed(&a), all_at_end);
}

#[test]
fn a_member_removed_by_its_session_timeout_stays_removed_after_a_restart() {
    let mut broker = Broker::start(BROKER_ARGS);
    broker.admin().create_ok(&[new_topic(TOPIC, PARTITIONS, 1)]);
    let mut raw = RawClient::connect(broker.addr());
    let a = beat(&mut raw, "member-a", 0, None);
    let (topic_id, mut owned) = assigned(&a);
    let mut epoch = a.member_epoch;
    beat(&mut raw, "member-b", 0, None);

    // Only `a` heartbeats, reporting what it owns: `b`'s session (5 s) runs out, and the
    // broker's timer removes it, which it writes.
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let before = loop {
        let answer = beat(&mut raw, "member-a", epoch, Some((topic_id, owned.clone())));
        assert_eq!(answer.error_code, 0, "{:?}", answer.error_message);
        epoch = answer.member_epoch;
        if answer.assignment.is_some() {
            owned = assigned(&answer).1;
        }
        let described = describe(&broker, "raw");
        if described.1.len() == 1 && owned.len() == PARTITIONS as usize {
            break described;
        }
        assert!(Instant::now() < deadline, "`b` was not removed: {described:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(before.1.keys().collect::<Vec<_>>(), ["member-a"]);
    assert!(before.0 >= 3, "a joined, b joined, b expired: epoch {}", before.0);

    broker.kill9();
    broker.restart();
    assert_eq!(describe(&broker, "raw"), before);
}

/// The topics and partitions a consumer is assigned now.
fn assignment(consumer: &BaseConsumer) -> BTreeSet<(String, i32)> {
    let list = consumer.assignment().expect("assignment");
    list.elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect()
}

/// Polls until the consumer's assignment changes from `from`, and returns the new one.
fn next_assignment(consumer: &BaseConsumer, from: &BTreeSet<(String, i32)>) -> BTreeSet<(String, i32)> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let _ = consumer.poll(Duration::from_millis(20));
        let now = assignment(consumer);
        if &now != from {
            return now;
        }
        assert!(Instant::now() < deadline, "the assignment stayed {from:?}");
    }
}

/// librdkafka's own resubscription test (0045) as Kafka answers it: a regex new to the group
/// is resolved after the heartbeat that brings it, so a subscription to a name and a regex
/// gets the named topic first and the regex's topics at a later heartbeat (raw heartbeats:
/// librdkafka may apply both assignments within one poll); and a librdkafka consumer moving
/// from one regex to another ends with exactly the new regex's partitions.
#[test]
fn a_regex_subscription_is_resolved_after_its_heartbeat_and_replaced_by_the_next() {
    let broker = Broker::start(BROKER_ARGS);
    broker.admin().create_ok(&[
        new_topic("regex1", 4, 1),
        new_topic("regex2", 4, 1),
        new_topic("plain", 2, 1),
    ]);
    let partitions = |topics: &[(&str, i32)]| -> BTreeSet<(String, i32)> {
        topics
            .iter()
            .flat_map(|(t, n)| (0..*n).map(move |p| (t.to_string(), p)))
            .collect()
    };

    let mut raw = broker.raw();
    let topic_names: BTreeMap<Uuid, String> = raw
        .metadata(Some(&["regex1", "regex2", "plain"]), false)
        .topics
        .into_iter()
        .map(|t| (t.topic_id, t.name.expect("a name")))
        .collect();
    let names = |response: &ConsumerGroupHeartbeatResponse| -> BTreeSet<(String, i32)> {
        let assignment = response.assignment.as_ref().expect("an assignment");
        assignment
            .topic_partitions
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (topic_names[&t.topic_id].clone(), *p)))
            .collect()
    };
    let mut beat = |epoch: i32, subscribe: bool| {
        let request = ConsumerGroupHeartbeatRequest {
            group_id: "regex-raw".into(),
            member_id: "member".into(),
            member_epoch: epoch,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: subscribe.then(|| vec!["plain".to_string()]),
            subscribed_topic_regex: subscribe.then(|| "regex.*".to_string()),
            ..Default::default()
        };
        match raw.request(1, RequestBody::ConsumerGroupHeartbeat(request)) {
            ResponseBody::ConsumerGroupHeartbeat(r) => r,
            other => panic!("unexpected {other:?}"),
        }
    };
    let first = beat(0, true);
    assert_eq!(names(&first), partitions(&[("plain", 2)]), "the named topic first");
    let second = beat(first.member_epoch, false);
    assert!(second.member_epoch > first.member_epoch);
    assert_eq!(
        names(&second),
        partitions(&[("plain", 2), ("regex1", 4), ("regex2", 4)])
    );

    let consumer: BaseConsumer = broker
        .client_config()
        .set("group.id", "regexes")
        .set("group.protocol", "consumer")
        .create()
        .expect("create a consumer");
    consumer.subscribe(&["^regex.*", "plain"]).expect("subscribe");
    let mut now = BTreeSet::new();
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while now != partitions(&[("plain", 2), ("regex1", 4), ("regex2", 4)]) {
        assert!(Instant::now() < deadline, "stuck at {now:?}");
        now = next_assignment(&consumer, &now);
    }
    consumer.subscribe(&["^regex2"]).expect("resubscribe");
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while now != partitions(&[("regex2", 4)]) {
        assert!(Instant::now() < deadline, "stuck at {now:?}");
        now = next_assignment(&consumer, &now);
    }
    // And it stays so: nothing of the old subscription comes back.
    for _ in 0..20 {
        let _ = consumer.poll(Duration::from_millis(50));
    }
    assert_eq!(assignment(&consumer), partitions(&[("regex2", 4)]));
    close_consumers(vec![consumer], &[]);
}
