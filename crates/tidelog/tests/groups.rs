//! Consumer groups against a real broker: librdkafka consumers sharing partitions as members
//! come and go (eager and cooperative rebalancing), static members, commits
//! that survive restarts and crashes, group deletion, and, in raw frames, the
//! coordinator's refusals of commits from stale generations or unknown members.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::clients::{assigned_partitions, close_consumers, new_topic, CLIENT_TIMEOUT, SETTLE_TIMEOUT};
use common::raw::RawClient;
use common::Broker;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode as Code;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};
use tidelog_protocol::messages::consumer_group_heartbeat_request::ConsumerGroupHeartbeatRequest;
use tidelog_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use tidelog_protocol::messages::leave_group_request::{LeaveGroupRequest, MemberIdentity};
use tidelog_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic};
use tidelog_protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use tidelog_protocol::messages::offset_delete_request::{
    OffsetDeleteRequest, OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

/// Each consumer's assigned partitions, sorted.
fn assignments<C: ConsumerContext>(consumers: &[&BaseConsumer<C>]) -> Vec<Vec<i32>> {
    consumers.iter().map(|c| assigned_partitions(c)).collect()
}

#[test]
fn three_consumers_share_six_partitions_two_each_and_the_group_is_listed_and_described() {
    let broker = Broker::start(&["--override", "group.initial.rebalance.delay.ms=1000"]);
    broker.admin().create_ok(&[new_topic("six", 6, 1)]);
    let consumers: Vec<BaseConsumer> = (0..3).map(|_| broker.consumer("sharing")).collect();
    for consumer in &consumers {
        consumer.subscribe(&["six"]).expect("subscribe");
    }
    settle(&consumers.iter().collect::<Vec<_>>(), &[2, 2, 2]);

    // ListGroups, then DescribeGroups of what it lists.
    let listed = consumers[0]
        .fetch_group_list(None, CLIENT_TIMEOUT)
        .expect("list groups");
    let [group] = listed.groups() else {
        panic!("one group expected")
    };
    assert_eq!(group.name(), "sharing");
    assert_eq!(group.state(), "Stable");
    assert_eq!(group.protocol_type(), "consumer");
    assert_eq!(group.protocol(), "range", "librdkafka's first choice");
    assert_eq!(group.members().len(), 3);
    for member in group.members() {
        assert_eq!(member.client_host(), "/127.0.0.1");
        assert!(member.assignment().is_some_and(|a| !a.is_empty()), "assignment shown");
    }
}

/// Counts the rebalances a consumer goes through (each revocation and assignment).
#[derive(Default)]
struct CountRebalances(AtomicUsize);

impl ClientContext for CountRebalances {}

impl ConsumerContext for CountRebalances {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, _: &Rebalance<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `consumers` until their numbers of partitions, sorted, are `sizes`, with every
/// partition of the topic assigned once; returns their assignments.
fn settle<C: ConsumerContext>(consumers: &[&BaseConsumer<C>], sizes: &[usize]) -> Vec<Vec<i32>> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let partitions = sizes.iter().sum::<usize>() as i32;
    loop {
        for consumer in consumers {
            consumer.poll(Duration::from_millis(50));
        }
        let assigned = assignments(consumers);
        let mut counts: Vec<usize> = assigned.iter().map(Vec::len).collect();
        counts.sort();
        let mut all = assigned.concat();
        all.sort();
        if counts == sizes && all == (0..partitions).collect::<Vec<_>>() {
            return assigned;
        }
        assert!(Instant::now() < deadline, "the group did not settle: {assigned:?}");
    }
}

#[test]
fn a_restarted_static_member_gets_its_partitions_back_without_a_rebalance() {
    let broker = Broker::start(&["--override", "group.initial.rebalance.delay.ms=1000"]);
    broker.admin().create_ok(&[new_topic("static", 4, 1)]);
    let static_consumer = |instance: &str| -> BaseConsumer<CountRebalances> {
        let mut config = broker.consumer_config("statics");
        config.set("group.instance.id", instance);
        let consumer: BaseConsumer<CountRebalances> = config
            .create_with_context(CountRebalances::default())
            .expect("create a consumer");
        consumer.subscribe(&["static"]).expect("subscribe");
        consumer
    };
    let first = static_consumer("first");
    let second = static_consumer("second");
    let before = settle(&[&first, &second], &[2, 2]);
    let second_rebalances = second.context().0.load(Ordering::SeqCst);

    // A static member does not leave the group when it closes; its successor takes over.
    drop(first);
    let first = static_consumer("first");
    let after = settle(&[&first, &second], &[2, 2]);
    assert_eq!(after, before, "the same partitions to the same instances");
    assert_eq!(
        second.context().0.load(Ordering::SeqCst),
        second_rebalances,
        "no rebalance"
    );
}

#[test]
fn a_group_keeps_its_members_across_a_broker_restart() {
    let mut broker = Broker::start(&["--override", "group.initial.rebalance.delay.ms=0"]);
    broker.admin().create_ok(&[new_topic("lasting", 2, 1)]);
    let consumer: BaseConsumer<CountRebalances> = broker
        .consumer_config("lasting")
        .create_with_context(CountRebalances::default())
        .expect("create a consumer");
    consumer.subscribe(&["lasting"]).expect("subscribe");
    let before = settle(&[&consumer], &[2]);
    let rebalances = consumer.context().0.load(Ordering::SeqCst);

    let address = broker.bootstrap();
    broker.restart();
    assert_eq!(broker.bootstrap(), address, "the consumer reconnects to the same port");
    // A commit with the member id and generation from before the restart is accepted.
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset("lasting", 0, Offset::Offset(0))
        .expect("offset");
    consumer
        .commit(&commit, CommitMode::Sync)
        .expect("commit after the restart");
    assert_eq!(settle(&[&consumer], &[2]), before);
    assert_eq!(consumer.context().0.load(Ordering::SeqCst), rebalances, "no rebalance");
    let described = consumer
        .fetch_group_list(Some("lasting"), CLIENT_TIMEOUT)
        .expect("describe");
    assert_eq!(described.groups()[0].state(), "Stable");
    assert_eq!(described.groups()[0].members().len(), 1);
}

/// Three consumers get two of six partitions each; a fourth joins and the partitions
/// spread over four; one leaves and the other three share them again.
fn members_come_and_go(strategy: &str) {
    let broker = Broker::start(&["--override", "group.initial.rebalance.delay.ms=1000"]);
    broker.admin().create_ok(&[new_topic("shared", 6, 1)]);
    let consumer = || -> BaseConsumer {
        let mut config = broker.consumer_config("comers");
        config.set("partition.assignment.strategy", strategy);
        let consumer: BaseConsumer = config.create().expect("create a consumer");
        consumer.subscribe(&["shared"]).expect("subscribe");
        consumer
    };
    let mut consumers: Vec<BaseConsumer> = (0..3).map(|_| consumer()).collect();
    settle(&consumers.iter().collect::<Vec<_>>(), &[2, 2, 2]);
    consumers.push(consumer());
    settle(&consumers.iter().collect::<Vec<_>>(), &[1, 1, 2, 2]);
    let leaving = consumers.remove(0);
    close_consumers(vec![leaving], &consumers.iter().collect::<Vec<_>>());
    settle(&consumers.iter().collect::<Vec<_>>(), &[2, 2, 2]);
    close_consumers(consumers, &[]);
}

#[test]
fn members_come_and_go_with_the_range_assignor() {
    members_come_and_go("range");
}

#[test]
fn members_come_and_go_with_cooperative_sticky_rebalancing() {
    members_come_and_go("cooperative-sticky");
}

/// A member that stops heartbeating (here a raw-protocol member that goes away) is
/// removed when its session expires, and its partitions go to the others.
#[test]
fn a_silent_members_partitions_move_when_its_session_expires() {
    let broker = Broker::start(&["--override", "group.initial.rebalance.delay.ms=0"]);
    broker.admin().create_ok(&[new_topic("expiry", 2, 1)]);
    let consumer = broker.consumer("expiring");
    consumer.subscribe(&["expiry"]).expect("subscribe");
    settle(&[&consumer], &[2]);

    // The silent member joins (the consumer, polled meanwhile, rejoins too), takes its
    // assignment, and then says nothing more.
    let addr = broker.addr();
    let silent = std::thread::spawn(move || {
        let mut raw = RawClient::connect(addr);
        // ConsumerProtocolSubscription v0: topics ["expiry"], null user data.
        let subscription = b"\x00\x00\x00\x00\x00\x01\x00\x06expiry\xff\xff\xff\xff";
        let (_, member, _) = raw.join_group("expiring", "", subscription);
        let (error, member, generation) = raw.join_group("expiring", &member, subscription);
        assert_eq!(error, 0);
        let (error, assignment) = raw.sync_group("expiring", &member, generation, b"");
        assert_eq!(error, 0);
        assignment
    });
    while !silent.is_finished() {
        consumer.poll(Duration::from_millis(50));
    }
    let assignment = silent.join().expect("the silent member's thread");
    assert!(!assignment.is_empty(), "the silent member was given a partition");
    // The consumer holds the other partition until the silent member's session expires.
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while assignments(&[&consumer])[0].len() != 1 {
        consumer.poll(Duration::from_millis(50));
        assert!(Instant::now() < deadline, "the consumer kept both partitions");
    }
    settle(&[&consumer], &[2]);
}

/// 60 000 records on six partitions, consumed by a group that grows from three members to
/// four and shrinks back to three while it reads, committing as it goes: every record is
/// consumed at least once (records after a departing member's last commit again).
#[test]
fn every_record_is_consumed_while_members_come_and_go() {
    const RECORDS: usize = 60_000;
    let broker = Broker::start(&["--override", "group.initial.rebalance.delay.ms=1000"]);
    broker.admin().create_ok(&[new_topic("all", 6, 1)]);
    let producer = broker.base_producer();
    for i in 0..RECORDS {
        let key = i.to_string();
        let mut record = BaseRecord::to("all")
            .partition((i % 6) as i32)
            .key(&key)
            .payload("value");
        while let Err((e, returned)) = producer.send(record) {
            assert_eq!(e.rdkafka_error_code(), Some(Code::QueueFull), "{e}");
            producer.poll(Duration::from_millis(10));
            record = returned;
        }
    }
    producer.flush(CLIENT_TIMEOUT).expect("flush");

    let mut consumers: Vec<BaseConsumer> = (0..3).map(|_| broker.consumer("everything")).collect();
    for consumer in &consumers {
        consumer.subscribe(&["all"]).expect("subscribe");
    }
    let mut seen = std::collections::HashSet::new();
    let (mut joined, mut left) = (false, false);
    let deadline = Instant::now() + 3 * SETTLE_TIMEOUT;
    while seen.len() < RECORDS {
        for consumer in &consumers {
            let mut polled = 0;
            while let Some(message) = consumer.poll(Duration::from_millis(10)) {
                let message = message.expect("consume");
                seen.insert((message.partition(), message.offset()));
                polled += 1;
                if polled == 500 {
                    break;
                }
            }
            if polled > 0 {
                match consumer.commit_consumer_state(CommitMode::Sync) {
                    // A rebalance between the poll and the commit took the polled partitions
                    // away: nothing of ours is left to commit.
                    Err(rdkafka::error::KafkaError::ConsumerCommit(Code::NoOffset)) => {}
                    result => result.expect("commit"),
                }
            }
        }
        if seen.len() >= RECORDS / 3 && !joined {
            let joining = broker.consumer("everything");
            joining.subscribe(&["all"]).expect("subscribe");
            consumers.push(joining);
            joined = true;
        }
        if seen.len() >= 2 * RECORDS / 3 && !left {
            drop(consumers.remove(0)); // leaves the group
            left = true;
        }
        assert!(Instant::now() < deadline, "consumed {} of {RECORDS}", seen.len());
    }
    assert_eq!(seen.len(), RECORDS);
    assert!(seen
        .iter()
        .all(|(partition, offset)| *offset < (RECORDS / 6) as i64 && *partition < 6));
}

/// Produces `count` records to partition 0 of `topic`, keyed by their index.
fn produce(broker: &Broker, topic: &str, count: usize) {
    let producer = broker.base_producer();
    for i in 0..count {
        let key = i.to_string();
        producer
            .send(BaseRecord::to(topic).partition(0).key(&key).payload("value"))
            .expect("enqueue");
    }
    producer.flush(CLIENT_TIMEOUT).expect("flush");
}

/// The next message a subscribed consumer gets: (offset, key).
fn next_message(consumer: &BaseConsumer) -> (i64, String) {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.expect("consume");
            let key = String::from_utf8(message.key().expect("key").to_vec()).expect("utf-8 key");
            return (message.offset(), key);
        }
        assert!(Instant::now() < deadline, "no message");
    }
}

fn committed(consumer: &BaseConsumer, topic: &str) -> Offset {
    let mut wanted = TopicPartitionList::new();
    wanted.add_partition(topic, 0);
    let committed = consumer
        .committed_offsets(wanted, CLIENT_TIMEOUT)
        .expect("committed offsets");
    committed.elements()[0].offset()
}

/// A consumer reads 4 of 10 records and commits; after the broker restarts (stopped
/// cleanly or killed), a new consumer of the group resumes exactly at the commit.
fn commits_survive_a_restart(crash: bool) {
    let mut broker = Broker::start(&["--override", "group.initial.rebalance.delay.ms=0"]);
    broker.admin().create_ok(&[new_topic("resume", 1, 1)]);
    produce(&broker, "resume", 10);
    {
        let consumer = broker.consumer("resumers");
        consumer.subscribe(&["resume"]).expect("subscribe");
        for expected in 0..4 {
            assert_eq!(next_message(&consumer), (expected, expected.to_string()));
        }
        let mut commit = TopicPartitionList::new();
        commit
            .add_partition_offset("resume", 0, Offset::Offset(4))
            .expect("offset");
        consumer.commit(&commit, CommitMode::Sync).expect("commit");
        assert_eq!(committed(&consumer, "resume"), Offset::Offset(4));
    }
    if crash {
        broker.kill9();
    }
    broker.restart();
    let consumer = broker.consumer("resumers");
    assert_eq!(committed(&consumer, "resume"), Offset::Offset(4));
    consumer.subscribe(&["resume"]).expect("subscribe");
    assert_eq!(next_message(&consumer), (4, "4".to_string()));
}

#[test]
fn commits_survive_a_clean_restart() {
    commits_survive_a_restart(false);
}

#[test]
fn commits_survive_a_crash() {
    commits_survive_a_restart(true);
}

fn commit(raw: &mut RawClient, member_id: &str, generation: i32, offset: i64) -> i16 {
    commit_with_metadata(raw, member_id, generation, offset, None)
}

/// OffsetCommit v9 of partition 0 of "t" for the group "stale": the partition's error.
fn commit_with_metadata(
    raw: &mut RawClient,
    member_id: &str,
    generation: i32,
    offset: i64,
    metadata: Option<String>,
) -> i16 {
    let request = OffsetCommitRequest {
        group_id: "stale".into(),
        generation_id_or_member_epoch: generation,
        member_id: member_id.into(),
        topics: vec![OffsetCommitRequestTopic {
            name: "t".into(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: offset,
                committed_metadata: metadata,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    match raw.request(9, RequestBody::OffsetCommit(request)) {
        ResponseBody::OffsetCommit(r) => r.topics[0].partitions[0].error_code,
        other => panic!("unexpected {other:?}"),
    }
}

/// The committed offsets of the group "stale", as (topic, partition, offset).
fn fetch(raw: &mut RawClient) -> Vec<(String, i32, i64)> {
    raw.committed_offsets("stale", true)
}

/// Records in all of `__consumer_offsets`: the sum of its partitions' end offsets.
fn offsets_topic_records(raw: &mut RawClient) -> i64 {
    let request = ListOffsetsRequest {
        replica_id: -1,
        topics: vec![ListOffsetsTopic {
            name: "__consumer_offsets".into(),
            partitions: (0..50)
                .map(|partition_index| ListOffsetsPartition {
                    partition_index,
                    timestamp: -1,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let ResponseBody::ListOffsets(response) = raw.request(7, RequestBody::ListOffsets(request)) else {
        panic!("not a ListOffsets response")
    };
    response.topics[0]
        .partitions
        .iter()
        .map(|p| {
            assert_eq!(p.error_code, 0);
            p.offset
        })
        .sum()
}

#[test]
fn commits_from_a_stale_generation_or_an_unknown_member_are_refused_and_not_written() {
    let broker = Broker::start(&["--override", "group.initial.rebalance.delay.ms=0"]);
    broker.admin().create_ok(&[new_topic("t", 1, 1)]);
    let mut raw = broker.raw();

    let find = |key_type| {
        RequestBody::FindCoordinator(FindCoordinatorRequest {
            key_type,
            coordinator_keys: vec!["stale".into()],
            ..Default::default()
        })
    };
    let ResponseBody::FindCoordinator(found) = raw.request(6, find(0)) else {
        panic!("not a FindCoordinator response")
    };
    assert_eq!(
        (found.coordinators[0].error_code, found.coordinators[0].node_id),
        (0, 1)
    );
    let ResponseBody::FindCoordinator(txn) = raw.request(6, find(1)) else {
        panic!("not a FindCoordinator response")
    };
    // Transactional ids have their coordinator on this node too.
    assert_eq!((txn.coordinators[0].error_code, txn.coordinators[0].node_id), (0, 1));

    // KIP-394: the first join only issues a member id.
    let (error, member, _) = raw.join_group("stale", "", b"");
    assert_eq!(error, ErrorCode::MEMBER_ID_REQUIRED.0);
    assert_eq!(raw.join_group("stale", &member, b""), (0, member.clone(), 1));
    let (error, assignment) = raw.sync_group("stale", &member, 1, b"mine");
    assert_eq!((error, &assignment[..]), (0, &b"mine"[..]));
    // While it has members the id is a classic group's: a KIP-848 member is refused.
    let heartbeat = ConsumerGroupHeartbeatRequest {
        group_id: "stale".into(),
        member_id: "kip848-member".into(),
        rebalance_timeout_ms: 30_000,
        subscribed_topic_names: Some(vec!["t".into()]),
        ..Default::default()
    };
    let ResponseBody::ConsumerGroupHeartbeat(refused) = raw.request(1, RequestBody::ConsumerGroupHeartbeat(heartbeat))
    else {
        panic!("not a ConsumerGroupHeartbeat response")
    };
    assert_eq!(refused.error_code, ErrorCode::GROUP_ID_NOT_FOUND.0);

    // The membership is written when the rebalance completes; the refused commits add nothing.
    let written = offsets_topic_records(&mut raw);
    assert_eq!(written, 1, "the group's membership");
    assert_eq!(commit(&mut raw, &member, 0, 5), ErrorCode::ILLEGAL_GENERATION.0);
    assert_eq!(commit(&mut raw, "nobody", 1, 5), ErrorCode::UNKNOWN_MEMBER_ID.0);
    assert_eq!(
        commit(&mut raw, "", -1, 5),
        ErrorCode::UNKNOWN_MEMBER_ID.0,
        "not a simple commit: members"
    );
    assert_eq!(fetch(&mut raw), []);
    assert_eq!(offsets_topic_records(&mut raw), written, "nothing written");

    assert_eq!(commit(&mut raw, &member, 1, 5), 0);
    assert_eq!(fetch(&mut raw), [("t".to_string(), 0, 5)]);
    assert_eq!(offsets_topic_records(&mut raw), written + 1);
    // Metadata longer than Kafka's offset.metadata.max.bytes (4096) is refused, unwritten.
    let metadata = |len| Some("m".repeat(len));
    let too_large = commit_with_metadata(&mut raw, &member, 1, 6, metadata(4097));
    assert_eq!(too_large, ErrorCode::OFFSET_METADATA_TOO_LARGE.0);
    assert_eq!(fetch(&mut raw), [("t".to_string(), 0, 5)]);
    assert_eq!(offsets_topic_records(&mut raw), written + 1);
    assert_eq!(commit_with_metadata(&mut raw, &member, 1, 6, metadata(4096)), 0);
    assert_eq!(fetch(&mut raw), [("t".to_string(), 0, 6)], "4096 bytes are fine");
    assert_eq!(offsets_topic_records(&mut raw), written + 2);

    // The member's (empty) subscription cannot be read, so it counts as subscribed to "t".
    assert_eq!(delete_offsets(&mut raw), (0, ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC.0));
    let leave = LeaveGroupRequest {
        group_id: "stale".into(),
        members: vec![MemberIdentity {
            member_id: member.clone(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let ResponseBody::LeaveGroup(left) = raw.request(5, RequestBody::LeaveGroup(leave)) else {
        panic!("not a LeaveGroup response")
    };
    assert_eq!((left.error_code, left.members[0].error_code), (0, 0));
    assert_eq!(delete_offsets(&mut raw), (0, 0));
    assert_eq!(fetch(&mut raw), []);
    assert_eq!(
        offsets_topic_records(&mut raw),
        written + 4,
        "the empty group, a tombstone"
    );
}

/// OffsetDelete of partition 0 of "t" for the group "stale": (top-level, partition) errors.
fn delete_offsets(raw: &mut RawClient) -> (i16, i16) {
    let request = OffsetDeleteRequest {
        group_id: "stale".into(),
        topics: vec![OffsetDeleteRequestTopic {
            name: "t".into(),
            partitions: vec![OffsetDeleteRequestPartition {
                partition_index: 0,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let ResponseBody::OffsetDelete(response) = raw.request(0, RequestBody::OffsetDelete(request)) else {
        panic!("not an OffsetDelete response")
    };
    (response.error_code, response.topics[0].partitions[0].error_code)
}

#[test]
fn only_groups_without_members_are_deleted_and_their_offsets_stay_deleted() {
    let mut broker = Broker::start(&["--override", "group.initial.rebalance.delay.ms=0"]);
    let admin = broker.admin();
    admin.create_ok(&[new_topic("kept", 1, 1)]);
    produce(&broker, "kept", 3);
    let consumer = broker.consumer("deleting");
    consumer.subscribe(&["kept"]).expect("subscribe");
    assert_eq!(next_message(&consumer).0, 0);
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset("kept", 0, Offset::Offset(2))
        .expect("offset");
    consumer.commit(&commit, CommitMode::Sync).expect("commit");

    assert_eq!(
        admin.delete_groups(&["deleting", "missing"]),
        [
            Err(("deleting".to_string(), Code::NonEmptyGroup)),
            Err(("missing".to_string(), Code::GroupIdNotFound))
        ]
    );
    drop(consumer); // leaves the group
    assert_eq!(admin.delete_groups(&["deleting"]), [Ok("deleting".to_string())]);
    assert_eq!(committed(&broker.consumer("deleting"), "kept"), Offset::Invalid);
    broker.restart();
    assert_eq!(
        committed(&broker.consumer("deleting"), "kept"),
        Offset::Invalid,
        "tombstones replayed"
    );
}
