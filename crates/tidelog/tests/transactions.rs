//! Transactions (KIP-98) against the real binary with librdkafka's transactional producer:
//! a consume-transform-produce loop copies a topic exactly once, a newer producer of the
//! same transactional id fences the older, the broker aborts a transaction left open past
//! its timeout, and a transaction whose commit was decided but whose markers were never
//! written (the broker killed in between, by a debug-build failpoint) completes after the
//! restart.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tidelog_protocol::messages::describe_transactions_request::DescribeTransactionsRequest;
use tidelog_protocol::messages::describe_transactions_response::TransactionState;
use tidelog_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic};
use tidelog_protocol::messages::list_transactions_request::ListTransactionsRequest;
use tidelog_protocol::records::{read_marker, ControlType, RecordBatch};
use tidelog_protocol::{RequestBody, ResponseBody};

use common::clients::{new_topic, queue, CLIENT_TIMEOUT};
use common::raw::{fetch_request, fetched_partition};
use common::{wait_until, Broker};

/// Kept by the broker in debug builds: see `coordinator::txn::FAILPOINT_ENV`.
const FAILPOINT: (&str, &str) = ("TIDELOG_FAILPOINT", "txn-before-markers");

/// Queues a record, waiting for room in librdkafka's queue when it is full.
fn send(producer: &BaseProducer, topic: &str, partition: i32, key: &[u8], value: &[u8]) {
    queue(
        producer,
        BaseRecord::to(topic).partition(partition).key(key).payload(value),
    );
}

/// A consumer of group `group` at `isolation.level`, reporting the end of each partition.
fn consumer(broker: &Broker, group: &str, isolation: &str) -> BaseConsumer {
    let mut config: ClientConfig = broker.consumer_config(group);
    config
        .set("isolation.level", isolation)
        .set("enable.partition.eof", "true");
    config.create().expect("create a consumer")
}

/// Every (key, value) a consumer at `isolation` reads from the start of `partitions` of
/// `topic` until the end of each (the last stable offset for read_committed).
fn read_to_end(broker: &Broker, topic: &str, partitions: i32, isolation: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let consumer = consumer(broker, "tidelog-e2e-txn-reader", isolation);
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .expect("add a partition");
    }
    consumer.assign(&assignment).expect("assign");
    let mut at_end = vec![false; partitions as usize];
    let mut read = Vec::new();
    let deadline = Instant::now() + CLIENT_TIMEOUT * 4;
    while at_end.contains(&false) {
        assert!(Instant::now() < deadline, "{topic} not read to its end in time");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let key = message.key().unwrap_or_default().to_vec();
                read.push((key, message.payload().unwrap_or_default().to_vec()));
            }
            Some(Err(KafkaError::PartitionEOF(p))) => at_end[p as usize] = true,
            Some(Err(error)) => panic!("consumer error reading {topic}: {error}"),
            None => {}
        }
    }
    read
}

/// The coordinator's view of one transactional id (DescribeTransactions).
fn describe(broker: &Broker, transactional_id: &str) -> TransactionState {
    let request = DescribeTransactionsRequest {
        transactional_ids: vec![transactional_id.to_string()],
        ..Default::default()
    };
    match broker.raw().request(0, RequestBody::DescribeTransactions(request)) {
        ResponseBody::DescribeTransactions(mut response) => response.transaction_states.remove(0),
        other => panic!("not a DescribeTransactions response: {other:?}"),
    }
}

/// Waits until the transactional id is in `state` and returns its description.
fn wait_for_state(broker: &Broker, transactional_id: &str, state: &str) -> TransactionState {
    wait_until(&format!("{transactional_id} in state {state}"), || {
        let described = describe(broker, transactional_id);
        (described.transaction_state == state).then_some(described)
    })
}

/// The batches of one partition from offset 0, with its high watermark and last stable
/// offset, as a read_committed Fetch returns them.
fn fetch_batches(broker: &Broker, topic: &str, partition: i32) -> (Vec<RecordBatch>, i64, i64) {
    let mut request = fetch_request(topic, partition, 0, 0, 0);
    request.isolation_level = 1;
    let mut raw = broker.raw();
    let data = fetched_partition(match raw.request(12, RequestBody::Fetch(request)) {
        ResponseBody::Fetch(response) => response,
        other => panic!("not a Fetch response: {other:?}"),
    });
    let batches = RecordBatch::iter_batches(data.records.unwrap_or_default().to_bytes().unwrap())
        .map(|b| b.expect("a whole batch"))
        .collect();
    (batches, data.high_watermark, data.last_stable_offset)
}

/// The outcome of a control batch.
fn marker_of(batch: &RecordBatch) -> ControlType {
    assert!(batch.is_control(), "not a marker: {batch:?}");
    read_marker(batch)
        .expect("a readable marker")
        .expect("a transaction marker")
        .control_type
}

#[test]
fn consume_transform_produce_copies_every_record_exactly_once() {
    const RECORDS: usize = 50_000;
    const PARTITIONS: i32 = 3;
    /// At most this many records per transaction, so the copy takes many transactions.
    const PER_TRANSACTION: usize = 2_000;
    let broker = Broker::start(&[]);
    broker
        .admin()
        .create_ok(&[new_topic("source", PARTITIONS, 1), new_topic("copied", PARTITIONS, 1)]);
    let loader = broker.base_producer();
    for id in 0..RECORDS {
        let key = format!("id-{id}");
        send(&loader, "source", id as i32 % PARTITIONS, key.as_bytes(), b"value");
    }
    loader.flush(CLIENT_TIMEOUT).expect("the source records are written");

    let input = consumer(&broker, "copier", "read_committed");
    input.subscribe(&["source"]).expect("subscribe");
    let producer = broker.transactional_producer("copier-txn", &[]);
    let mut positions: BTreeMap<i32, i64> = BTreeMap::new();
    let mut copied = 0;
    let mut transactions = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    while copied < RECORDS {
        assert!(Instant::now() < deadline, "copied only {copied} records in time");
        let mut batch = Vec::new();
        while batch.len() < PER_TRANSACTION {
            match input.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => batch.push((m.partition(), m.offset(), m.key().unwrap_or_default().to_vec())),
                Some(Err(KafkaError::PartitionEOF(_))) | None => break,
                Some(Err(error)) => panic!("consumer error: {error}"),
            }
        }
        if batch.is_empty() {
            continue;
        }
        producer.begin_transaction().expect("begin_transaction");
        for (partition, offset, key) in &batch {
            send(&producer, "copied", *partition, key, b"copied");
            positions.insert(*partition, offset + 1);
        }
        let mut offsets = TopicPartitionList::new();
        for (partition, next) in &positions {
            offsets
                .add_partition_offset("source", *partition, Offset::Offset(*next))
                .expect("add an offset");
        }
        let group = input.group_metadata().expect("the consumer's group metadata");
        producer
            .send_offsets_to_transaction(&offsets, &group, CLIENT_TIMEOUT)
            .expect("send_offsets_to_transaction");
        producer.commit_transaction(CLIENT_TIMEOUT).expect("commit_transaction");
        copied += batch.len();
        transactions += 1;

        // The group's offsets moved with the commit, and only with it.
        let committed = input
            .committed_offsets(offsets.clone(), CLIENT_TIMEOUT)
            .expect("committed offsets");
        for element in committed.elements() {
            assert_eq!(
                element.offset(),
                Offset::Offset(positions[&element.partition()]),
                "partition {}'s committed offset after transaction {transactions}",
                element.partition()
            );
        }
    }
    assert!(transactions > 1, "the copy took several transactions");

    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    for (key, value) in read_to_end(&broker, "copied", PARTITIONS, "read_committed") {
        assert_eq!(value, b"copied");
        *seen.entry(key).or_default() += 1;
    }
    assert_eq!(seen.len(), RECORDS, "every source record was copied");
    assert!(seen.values().all(|n| *n == 1), "no record was copied twice");
    let described = describe(&broker, "copier-txn");
    assert_eq!(described.transaction_state, "CompleteCommit");
}

#[test]
fn aborted_records_are_hidden_from_read_committed_consumers_only() {
    let broker = Broker::start(&[]);
    broker.admin().create_ok(&[new_topic("orders", 1, 1)]);
    let producer = broker.transactional_producer("aborter", &[]);
    producer.begin_transaction().expect("begin_transaction");
    for i in 0..10 {
        send(&producer, "orders", 0, format!("aborted-{i}").as_bytes(), b"v");
    }
    producer.flush(CLIENT_TIMEOUT).expect("flush");
    producer.abort_transaction(CLIENT_TIMEOUT).expect("abort_transaction");
    producer.begin_transaction().expect("begin_transaction");
    for i in 0..5 {
        send(&producer, "orders", 0, format!("committed-{i}").as_bytes(), b"v");
    }
    producer.commit_transaction(CLIENT_TIMEOUT).expect("commit_transaction");

    let (batches, _, _) = fetch_batches(&broker, "orders", 0);
    let markers: Vec<ControlType> = batches.iter().filter(|b| b.is_control()).map(marker_of).collect();
    assert_eq!(markers, [ControlType::Abort, ControlType::Commit]);

    let keys = |isolation| -> Vec<String> {
        read_to_end(&broker, "orders", 1, isolation)
            .into_iter()
            .map(|(k, _)| String::from_utf8(k).unwrap())
            .collect()
    };
    let committed: Vec<String> = (0..5).map(|i| format!("committed-{i}")).collect();
    assert_eq!(keys("read_committed"), committed);
    let everything = keys("read_uncommitted");
    assert_eq!(everything.len(), 15);
    assert_eq!(everything[10..], committed[..]);
}

#[test]
fn a_second_producer_of_the_same_transactional_id_fences_the_first() {
    let broker = Broker::start(&[]);
    broker.admin().create_ok(&[new_topic("fenced", 1, 1)]);
    let first = broker.transactional_producer("shared-id", &[]);
    first.begin_transaction().expect("begin_transaction");
    send(&first, "fenced", 0, b"from-first", b"v");
    first.flush(CLIENT_TIMEOUT).expect("flush");
    let open = describe(&broker, "shared-id");
    assert_eq!((open.transaction_state.as_str(), open.producer_epoch), ("Ongoing", 0));

    // The second init aborts the first producer's open transaction at a bumped epoch.
    let second = broker.transactional_producer("shared-id", &[]);
    let described = describe(&broker, "shared-id");
    assert_eq!(described.producer_id, open.producer_id, "same producer id");
    assert_eq!(
        described.producer_epoch, 2,
        "epoch 1 aborted the first, 2 is the second's"
    );

    let refused = first
        .commit_transaction(CLIENT_TIMEOUT)
        .expect_err("the first is fenced");
    match &refused {
        KafkaError::Transaction(error) => {
            assert!(error.is_fatal(), "fencing is fatal: {error}");
            assert!(
                matches!(
                    error.code(),
                    RDKafkaErrorCode::Fenced | RDKafkaErrorCode::ProducerFenced
                ),
                "{error}"
            );
        }
        other => panic!("not a transaction error: {other}"),
    }

    second.begin_transaction().expect("begin_transaction");
    send(&second, "fenced", 0, b"from-second", b"v");
    second.commit_transaction(CLIENT_TIMEOUT).expect("commit_transaction");
    let (batches, _, _) = fetch_batches(&broker, "fenced", 0);
    let markers: Vec<(ControlType, i16)> = batches
        .iter()
        .filter(|b| b.is_control())
        .map(|b| (marker_of(b), b.producer_epoch()))
        .collect();
    assert_eq!(markers, [(ControlType::Abort, 1), (ControlType::Commit, 2)]);
}

#[test]
fn a_transaction_open_past_its_timeout_is_aborted_by_the_broker() {
    let broker = Broker::start(&[
        "--override",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms=100",
    ]);
    broker.admin().create_ok(&[new_topic("slow", 1, 1)]);
    let producer = broker.transactional_producer(
        "slowpoke",
        &[
            ("transaction.timeout.ms", "1000"),
            ("message.timeout.ms", "1000"),
            ("socket.timeout.ms", "1000"),
        ],
    );
    producer.begin_transaction().expect("begin_transaction");
    send(&producer, "slow", 0, b"never-committed", b"v");
    producer.flush(CLIENT_TIMEOUT).expect("flush");

    let aborted = wait_for_state(&broker, "slowpoke", "CompleteAbort");
    assert_eq!(aborted.producer_epoch, 1, "the abort fenced the producer's epoch");
    let (batches, high_watermark, last_stable) = fetch_batches(&broker, "slow", 0);
    let last = batches.last().expect("the partition holds batches");
    assert_eq!((marker_of(last), last.producer_epoch()), (ControlType::Abort, 1));
    assert_eq!(high_watermark, 2, "the record and its marker");
    assert_eq!(
        last_stable, high_watermark,
        "the last stable offset moved past the abort"
    );
    assert!(
        producer.commit_transaction(CLIENT_TIMEOUT).is_err(),
        "the timed-out producer cannot commit"
    );

    let request = ListTransactionsRequest {
        state_filters: vec!["CompleteAbort".into(), "NoSuchState".into()],
        duration_filter: -1,
        ..Default::default()
    };
    match broker.raw().request(1, RequestBody::ListTransactions(request)) {
        ResponseBody::ListTransactions(listed) => {
            assert_eq!(listed.unknown_state_filters, ["NoSuchState"]);
            let ids: Vec<&str> = listed
                .transaction_states
                .iter()
                .map(|t| t.transactional_id.as_str())
                .collect();
            assert_eq!(ids, ["slowpoke"]);
        }
        other => panic!("not a ListTransactions response: {other:?}"),
    }
}

#[test]
fn a_commit_cut_short_before_its_markers_completes_after_a_restart() {
    const RECORDS: usize = 100;
    let mut broker = Broker::start_with_env(&[], &[FAILPOINT]);
    broker.admin().create_ok(&[new_topic("crashy", 2, 1)]);
    let producer = broker.transactional_producer("crasher", &[("socket.timeout.ms", "2000")]);
    producer.begin_transaction().expect("begin_transaction");
    for i in 0..RECORDS {
        send(&producer, "crashy", i as i32 % 2, format!("k-{i}").as_bytes(), b"v");
    }
    producer.flush(CLIENT_TIMEOUT).expect("flush");
    // The broker writes PrepareCommit, then dies before any marker: the commit cannot
    // answer.
    assert!(producer.commit_transaction(Duration::from_secs(5)).is_err());
    wait_until("the broker died at the failpoint", || {
        (!broker.is_running()).then_some(())
    });
    drop(producer);

    broker.restart();
    wait_for_state(&broker, "crasher", "CompleteCommit");
    for partition in 0..2 {
        let (batches, _, _) = fetch_batches(&broker, "crashy", partition);
        assert_eq!(marker_of(batches.last().expect("batches")), ControlType::Commit);
    }
    let read = read_to_end(&broker, "crashy", 2, "read_committed");
    assert_eq!(read.len(), RECORDS, "the whole transaction is visible");
}

/// Hand-made requests to the transaction coordinator and what it answers, by Kafka's
/// error codes.
mod raw {
    use bytes::Bytes;
    use tidelog_protocol::messages::add_offsets_to_txn_request::AddOffsetsToTxnRequest;
    use tidelog_protocol::messages::add_partitions_to_txn_request::{
        AddPartitionsToTxnRequest, AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
    };
    use tidelog_protocol::messages::api_versions_request::ApiVersionsRequest;
    use tidelog_protocol::messages::api_versions_response::ApiVersionsResponse;
    use tidelog_protocol::messages::end_txn_request::EndTxnRequest;
    use tidelog_protocol::messages::init_producer_id_request::InitProducerIdRequest;
    use tidelog_protocol::messages::list_transactions_request::ListTransactionsRequest;
    use tidelog_protocol::messages::offset_fetch_request::{OffsetFetchRequest, OffsetFetchRequestTopic};
    use tidelog_protocol::messages::produce_request::{PartitionProduceData, ProduceRequest, TopicProduceData};
    use tidelog_protocol::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequest, TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    use tidelog_protocol::records::ControlType;
    use tidelog_protocol::records::RecordBatchBuilder;
    use tidelog_protocol::{ApiKey, ErrorCode, RequestBody, ResponseBody};

    use super::common::clients::new_topic;
    use super::common::{now_ms, wait_until, Broker, RawClient};
    use super::{describe, fetch_batches, marker_of, read_to_end};

    const ID: &str = "raw-tx";
    const GROUP: &str = "raw-group";

    fn init(raw: &mut RawClient, timeout_ms: i32) -> (ErrorCode, i64, i16) {
        let request = InitProducerIdRequest {
            transactional_id: Some(ID.into()),
            transaction_timeout_ms: timeout_ms,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        };
        match raw.request(5, RequestBody::InitProducerId(request)) {
            ResponseBody::InitProducerId(r) => (ErrorCode(r.error_code), r.producer_id, r.producer_epoch),
            other => panic!("not an InitProducerId response: {other:?}"),
        }
    }

    /// AddPartitionsToTxn v3 (a client's) of `partitions` of topic "t" and of "unknown";
    /// the error of each, in order.
    fn add(raw: &mut RawClient, producer: (i64, i16), partitions: &[i32], unknown: bool) -> Vec<ErrorCode> {
        let mut topics = vec![AddPartitionsToTxnTopic {
            name: "t".into(),
            partitions: partitions.to_vec(),
            ..Default::default()
        }];
        if unknown {
            topics.push(AddPartitionsToTxnTopic {
                name: "unknown".into(),
                partitions: vec![0],
                ..Default::default()
            });
        }
        let request = AddPartitionsToTxnRequest {
            v3_and_below_transactional_id: ID.into(),
            v3_and_below_producer_id: producer.0,
            v3_and_below_producer_epoch: producer.1,
            v3_and_below_topics: topics,
            ..Default::default()
        };
        match raw.request(3, RequestBody::AddPartitionsToTxn(request)) {
            ResponseBody::AddPartitionsToTxn(r) => r
                .results_by_topic_v3_and_below
                .iter()
                .flat_map(|t| t.results_by_partition.iter().map(|p| ErrorCode(p.partition_error_code)))
                .collect(),
            other => panic!("not an AddPartitionsToTxn response: {other:?}"),
        }
    }

    /// AddPartitionsToTxn v4 `verify_only` of partitions of "t"; the error of each.
    fn verify(raw: &mut RawClient, producer: (i64, i16), partitions: &[i32]) -> Vec<ErrorCode> {
        add_as_leader(raw, 4, producer, partitions, true)
    }

    /// AddPartitionsToTxn v4+ (a partition leader's) of partitions of "t"; the error of each.
    fn add_as_leader(
        raw: &mut RawClient,
        version: i16,
        producer: (i64, i16),
        partitions: &[i32],
        verify_only: bool,
    ) -> Vec<ErrorCode> {
        let request = AddPartitionsToTxnRequest {
            transactions: vec![AddPartitionsToTxnTransaction {
                transactional_id: ID.into(),
                producer_id: producer.0,
                producer_epoch: producer.1,
                verify_only,
                topics: vec![AddPartitionsToTxnTopic {
                    name: "t".into(),
                    partitions: partitions.to_vec(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        match raw.request(version, RequestBody::AddPartitionsToTxn(request)) {
            ResponseBody::AddPartitionsToTxn(r) => r.results_by_transaction[0].topic_results[0]
                .results_by_partition
                .iter()
                .map(|p| ErrorCode(p.partition_error_code))
                .collect(),
            other => panic!("not an AddPartitionsToTxn response: {other:?}"),
        }
    }

    fn transactional_batch(producer: (i64, i16), sequence: i32) -> Bytes {
        valued_batch(producer, sequence, "v")
    }

    fn valued_batch(producer: (i64, i16), sequence: i32, value: &str) -> Bytes {
        let mut builder = RecordBatchBuilder::new(0)
            .producer(producer.0, producer.1, sequence)
            .transactional(true);
        builder.append(now_ms(), None, Some(value.as_bytes()), &[]);
        builder.build().as_bytes().clone()
    }

    fn add_offsets(raw: &mut RawClient, producer: (i64, i16)) -> ErrorCode {
        let request = AddOffsetsToTxnRequest {
            transactional_id: ID.into(),
            producer_id: producer.0,
            producer_epoch: producer.1,
            group_id: GROUP.into(),
            ..Default::default()
        };
        match raw.request(3, RequestBody::AddOffsetsToTxn(request)) {
            ResponseBody::AddOffsetsToTxn(r) => ErrorCode(r.error_code),
            other => panic!("not an AddOffsetsToTxn response: {other:?}"),
        }
    }

    /// TxnOffsetCommit at `version` of offset `offset` of t-0 for the group.
    fn txn_offset_commit(raw: &mut RawClient, version: i16, producer: (i64, i16), offset: i64) -> ErrorCode {
        let request = TxnOffsetCommitRequest {
            transactional_id: ID.into(),
            group_id: GROUP.into(),
            producer_id: producer.0,
            producer_epoch: producer.1,
            topics: vec![TxnOffsetCommitRequestTopic {
                name: "t".into(),
                partitions: vec![TxnOffsetCommitRequestPartition {
                    partition_index: 0,
                    committed_offset: offset,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        match raw.request(version, RequestBody::TxnOffsetCommit(request)) {
            ResponseBody::TxnOffsetCommit(r) => ErrorCode(r.topics[0].partitions[0].error_code),
            other => panic!("not a TxnOffsetCommit response: {other:?}"),
        }
    }

    /// OffsetFetch v7 with `require_stable` of partition t-0: (error, offset).
    fn fetch_stable_offset(raw: &mut RawClient) -> (ErrorCode, i64) {
        let request = OffsetFetchRequest {
            group_id: GROUP.into(),
            topics: Some(vec![OffsetFetchRequestTopic {
                name: "t".into(),
                partition_indexes: vec![0],
                ..Default::default()
            }]),
            require_stable: true,
            ..Default::default()
        };
        match raw.request(7, RequestBody::OffsetFetch(request)) {
            ResponseBody::OffsetFetch(r) => {
                let p = &r.topics[0].partitions[0];
                (ErrorCode(p.error_code), p.committed_offset)
            }
            other => panic!("not an OffsetFetch response: {other:?}"),
        }
    }

    fn end(raw: &mut RawClient, producer: (i64, i16), committed: bool) -> ErrorCode {
        end_at(raw, 3, producer, committed).0
    }

    /// EndTxn at `version`: the error, and the producer id and epoch to go on with (v5+).
    fn end_at(raw: &mut RawClient, version: i16, producer: (i64, i16), committed: bool) -> (ErrorCode, (i64, i16)) {
        let request = EndTxnRequest {
            transactional_id: ID.into(),
            producer_id: producer.0,
            producer_epoch: producer.1,
            committed,
            ..Default::default()
        };
        match raw.request(version, RequestBody::EndTxn(request)) {
            ResponseBody::EndTxn(r) => (ErrorCode(r.error_code), (r.producer_id, r.producer_epoch)),
            other => panic!("not an EndTxn response: {other:?}"),
        }
    }

    /// ListTransactions v2 with a transactional id pattern, producer ids and a minimum
    /// duration of the ongoing transaction (-1: any); the ids listed.
    fn list(raw: &mut RawClient, pattern: Option<&str>, producer_ids: Vec<i64>, duration_ms: i64) -> Vec<String> {
        let request = ListTransactionsRequest {
            producer_id_filters: producer_ids,
            duration_filter: duration_ms,
            transactional_id_pattern: pattern.map(Into::into),
            ..Default::default()
        };
        match raw.request(2, RequestBody::ListTransactions(request)) {
            ResponseBody::ListTransactions(r) => {
                assert_eq!(ErrorCode(r.error_code), ErrorCode::NONE);
                r.transaction_states.into_iter().map(|t| t.transactional_id).collect()
            }
            other => panic!("not a ListTransactions response: {other:?}"),
        }
    }

    #[test]
    fn the_coordinator_answers_with_kafkas_errors() {
        let broker = Broker::start(&["--override", "transaction.max.timeout.ms=60000"]);
        broker.admin().create_ok(&[new_topic("t", 2, 1)]);
        let mut raw = broker.raw();

        assert_eq!(init(&mut raw, 60_001).0, ErrorCode::INVALID_TRANSACTION_TIMEOUT);
        let (error, producer_id, epoch) = init(&mut raw, 60_000);
        assert_eq!((error, epoch), (ErrorCode::NONE, 0));
        let producer = (producer_id, 0);
        assert_eq!(describe(&broker, ID).transaction_state, "Empty");
        assert_eq!(
            describe(&broker, "nobody").error_code,
            ErrorCode::TRANSACTIONAL_ID_NOT_FOUND.0
        );

        assert_eq!(
            add(&mut raw, producer, &[0], true),
            [
                ErrorCode::OPERATION_NOT_ATTEMPTED,
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            ]
        );
        assert_eq!(describe(&broker, ID).transaction_state, "Empty", "nothing added");
        assert_eq!(
            add(&mut raw, (producer_id, 1), &[0], false),
            [ErrorCode::PRODUCER_FENCED]
        );
        assert_eq!(add(&mut raw, producer, &[0], false), [ErrorCode::NONE]);
        assert_eq!(
            verify(&mut raw, producer, &[0, 1]),
            [ErrorCode::NONE, ErrorCode::INVALID_TXN_STATE]
        );

        // KIP-890 verification: only partitions added to the transaction take its batches.
        let refused = raw.produce("t", 1, -1, transactional_batch(producer, 0));
        assert_eq!(ErrorCode(refused.error_code), ErrorCode::INVALID_TXN_STATE);
        let accepted = raw.produce("t", 0, -1, transactional_batch(producer, 0));
        assert_eq!(ErrorCode(accepted.error_code), ErrorCode::NONE);

        // Offsets join the transaction only through AddOffsetsToTxn, and count at its commit.
        assert_eq!(
            txn_offset_commit(&mut raw, 3, producer, 1),
            ErrorCode::INVALID_TXN_STATE
        );
        assert_eq!(add_offsets(&mut raw, producer), ErrorCode::NONE);
        assert_eq!(txn_offset_commit(&mut raw, 3, producer, 1), ErrorCode::NONE);
        assert_eq!(fetch_stable_offset(&mut raw), (ErrorCode::UNSTABLE_OFFSET_COMMIT, -1));

        let nothing = Vec::<String>::new();
        assert_eq!(list(&mut raw, Some("raw-.*"), vec![], -1), [ID]);
        assert_eq!(list(&mut raw, Some("raw"), vec![], -1), nothing, "whole ids");
        assert_eq!(list(&mut raw, None, vec![producer_id + 1], -1), nothing);
        assert_eq!(list(&mut raw, None, vec![producer_id], 0), [ID], "ongoing");
        assert_eq!(
            list(&mut raw, None, vec![], 3_600_000),
            nothing,
            "not ongoing this long"
        );

        assert_eq!(end(&mut raw, (producer_id, 1), true), ErrorCode::PRODUCER_FENCED);
        assert_eq!(end(&mut raw, producer, true), ErrorCode::NONE);
        assert_eq!(fetch_stable_offset(&mut raw), (ErrorCode::NONE, 1));
        assert_eq!(end(&mut raw, producer, true), ErrorCode::NONE, "a retry");
        assert_eq!(end(&mut raw, producer, false), ErrorCode::INVALID_TXN_STATE);
        let done = describe(&broker, ID);
        assert_eq!(done.transaction_state, "CompleteCommit");
        let late = raw.produce("t", 0, -1, transactional_batch(producer, 1));
        assert_eq!(
            ErrorCode(late.error_code),
            ErrorCode::INVALID_TXN_STATE,
            "no transaction open"
        );

        assert_eq!(init(&mut raw, 60_000), (ErrorCode::NONE, producer_id, 1));
    }

    fn api_versions(raw: &mut RawClient, version: i16) -> ApiVersionsResponse {
        let request = ApiVersionsRequest {
            client_software_name: "raw".into(),
            client_software_version: "0".into(),
            ..Default::default()
        };
        match raw.request(version, RequestBody::ApiVersions(request)) {
            ResponseBody::ApiVersions(r) => r,
            other => panic!("not an ApiVersions response: {other:?}"),
        }
    }

    /// Produce v12 as a Kafka 4 producer of transactions v2 sends it: the transactional
    /// id, and one batch per partition of "t" (`(partition, sequence, value)`), with no
    /// AddPartitionsToTxn before; the error and base offset of each.
    fn produce_v2(raw: &mut RawClient, producer: (i64, i16), batches: &[(i32, i32, &str)]) -> Vec<(ErrorCode, i64)> {
        match raw.request(12, produce_v2_request(producer, batches, -1)) {
            ResponseBody::Produce(r) => r.responses[0]
                .partition_responses
                .iter()
                .map(|p| (ErrorCode(p.error_code), p.base_offset))
                .collect(),
            other => panic!("not a Produce response: {other:?}"),
        }
    }

    fn produce_v2_request(producer: (i64, i16), batches: &[(i32, i32, &str)], acks: i16) -> RequestBody {
        let partition_data = batches
            .iter()
            .map(|(partition, sequence, value)| PartitionProduceData {
                index: *partition,
                records: Some(valued_batch(producer, *sequence, value)),
                ..Default::default()
            })
            .collect();
        RequestBody::Produce(ProduceRequest {
            transactional_id: Some(ID.into()),
            acks,
            timeout_ms: 15_000,
            topic_data: vec![TopicProduceData {
                name: "t".into(),
                partition_data,
                ..Default::default()
            }],
            ..Default::default()
        })
    }

    /// The last batch of t-`partition`, a marker: its outcome, producer id and epoch.
    fn last_marker(broker: &Broker, partition: i32) -> (ControlType, i64, i16) {
        let (batches, _, _) = fetch_batches(broker, "t", partition);
        let marker = batches.last().expect("a marker");
        (marker_of(marker), marker.producer_id(), marker.producer_epoch())
    }

    fn committed_values(broker: &Broker) -> Vec<String> {
        let mut values: Vec<String> = read_to_end(broker, "t", 2, "read_committed")
            .into_iter()
            .map(|(_, v)| String::from_utf8(v).unwrap())
            .collect();
        values.sort();
        values
    }

    /// A Kafka 4 Java producer's transactions v2, request by request.
    #[test]
    fn transactions_v2_add_partitions_implicitly_and_bump_the_epoch_at_every_end() {
        let mut broker = Broker::start(&[]);
        broker.admin().create_ok(&[new_topic("t", 2, 1)]);
        let mut raw = broker.raw();

        // A new Kafka 4 cluster's features: group.version 0-1 at 1, transaction.version 0-2
        // at 2.
        let versions = api_versions(&mut raw, 4);
        let supported: Vec<(&str, i16, i16)> = versions
            .supported_features
            .iter()
            .map(|f| (f.name.as_str(), f.min_version, f.max_version))
            .collect();
        assert_eq!(supported, [("group.version", 0, 1), ("transaction.version", 0, 2)]);
        let finalized = |versions: &ApiVersionsResponse| -> Vec<(String, i16, i16)> {
            versions
                .finalized_features
                .iter()
                .map(|f| (f.name.clone(), f.min_version_level, f.max_version_level))
                .collect()
        };
        let levels = [
            ("group.version".to_string(), 1, 1),
            ("transaction.version".to_string(), 2, 2),
        ];
        assert_eq!(finalized(&versions), levels);
        let end_txn = versions
            .api_keys
            .iter()
            .find(|k| k.api_key == ApiKey::EndTxn as i16)
            .unwrap();
        assert_eq!(end_txn.max_version, 5);
        let older = api_versions(&mut raw, 3);
        assert!(
            older.supported_features.is_empty(),
            "KAFKA-17492: no level-0 ranges below v4"
        );
        assert_eq!(finalized(&older), levels, "finalized levels are shown from v3");

        let (error, producer_id, epoch) = init(&mut raw, 60_000);
        assert_eq!((error, epoch), (ErrorCode::NONE, 0));

        // The first transaction's batches add t-0 and t-1 themselves.
        let produced = produce_v2(&mut raw, (producer_id, 0), &[(0, 0, "a0"), (1, 0, "a1")]);
        assert_eq!(produced, [(ErrorCode::NONE, 0), (ErrorCode::NONE, 0)]);
        let ongoing = describe(&broker, ID);
        assert_eq!(ongoing.transaction_state, "Ongoing");
        assert_eq!(ongoing.topics[0].partitions, [0, 1]);
        assert_eq!(
            end_at(&mut raw, 5, (producer_id, 0), true),
            (ErrorCode::NONE, (producer_id, 1)),
            "the commit bumps the epoch"
        );
        for partition in [0, 1] {
            assert_eq!(
                last_marker(&broker, partition),
                (ControlType::Commit, producer_id, 1),
                "the marker carries the bumped epoch"
            );
        }
        assert_eq!(
            end_at(&mut raw, 5, (producer_id, 0), true),
            (ErrorCode::NONE, (producer_id, 1)),
            "a retry whose answer was lost"
        );

        // The next transaction starts its sequences over at the new epoch; the old epoch
        // is fenced.
        let produced = produce_v2(&mut raw, (producer_id, 1), &[(0, 0, "b0")]);
        assert_eq!(produced, [(ErrorCode::NONE, 2)]);
        let late = produce_v2(&mut raw, (producer_id, 0), &[(1, 1, "late")]);
        assert_eq!(late[0].0, ErrorCode::INVALID_PRODUCER_EPOCH);
        assert_eq!(
            describe(&broker, ID).topics[0].partitions,
            [0],
            "the fenced batch added nothing"
        );
        assert_eq!(
            end_at(&mut raw, 5, (producer_id, 1), false),
            (ErrorCode::NONE, (producer_id, 2))
        );
        assert_eq!(last_marker(&broker, 0), (ControlType::Abort, producer_id, 2));
        assert_eq!(describe(&broker, ID).transaction_state, "CompleteAbort");
        assert_eq!(committed_values(&broker), ["a0", "a1"], "the abort hides b0");

        // Offsets join a transaction through TxnOffsetCommit v5, without AddOffsetsToTxn.
        assert_eq!(txn_offset_commit(&mut raw, 5, (producer_id, 2), 7), ErrorCode::NONE);
        assert_eq!(fetch_stable_offset(&mut raw), (ErrorCode::UNSTABLE_OFFSET_COMMIT, -1));
        let produced = produce_v2(&mut raw, (producer_id, 2), &[(1, 0, "c1")]);
        assert_eq!(produced, [(ErrorCode::NONE, 2)]);
        assert_eq!(
            end_at(&mut raw, 5, (producer_id, 2), true),
            (ErrorCode::NONE, (producer_id, 3))
        );
        assert_eq!(fetch_stable_offset(&mut raw), (ErrorCode::NONE, 7));
        assert_eq!(committed_values(&broker), ["a0", "a1", "c1"]);

        // An abort with nothing written still moves the epoch on; the coordinator keeps
        // the client's transaction version across a restart.
        assert_eq!(
            end_at(&mut raw, 5, (producer_id, 3), false),
            (ErrorCode::NONE, (producer_id, 4))
        );
        drop(raw);
        broker.restart();
        let mut raw = broker.raw();
        assert_eq!(
            end_at(&mut raw, 5, (producer_id, 3), false),
            (ErrorCode::NONE, (producer_id, 4)),
            "a retry recognised after the restart"
        );
        // A leader's AddPartitionsToTxn v5 adds as transactions v2 do.
        assert_eq!(
            add_as_leader(&mut raw, 5, (producer_id, 4), &[0], false),
            [ErrorCode::NONE]
        );
        assert_eq!(describe(&broker, ID).transaction_state, "Ongoing");
        let produced = produce_v2(&mut raw, (producer_id, 4), &[(0, 0, "d0")]);
        assert_eq!(produced[0].0, ErrorCode::NONE);
        // Unanswered (acks=0), the batch adds its partition all the same.
        raw.send(12, &produce_v2_request((producer_id, 4), &[(1, 0, "d1")], 0));
        wait_until("an acks=0 batch appended to t-1", || {
            (raw.latest_offset("t", 1) == 5).then_some(())
        });
        assert_eq!(describe(&broker, ID).topics[0].partitions, [0, 1]);
        assert_eq!(
            end_at(&mut raw, 5, (producer_id, 4), true),
            (ErrorCode::NONE, (producer_id, 5))
        );
        assert_eq!(committed_values(&broker), ["a0", "a1", "c1", "d0", "d1"]);
    }
}

/// DeleteRecords up to the high watermark past a transaction still open: read_committed
/// consumers are not pointed below the new log start (the last stable offset follows it).
#[test]
fn records_deleted_past_an_open_transaction_keep_the_last_stable_offset_at_the_log_start() {
    let broker = Broker::start(&[]);
    broker.admin().create_ok(&[new_topic("open", 1, 1)]);
    let producer = broker.transactional_producer("left-open", &[]);
    producer.begin_transaction().expect("begin");
    for i in 0..3u8 {
        send(&producer, "open", 0, &[i], b"uncommitted");
    }
    producer.flush(CLIENT_TIMEOUT).expect("flush");
    let mut raw = broker.raw();
    // ListOffsets at read_uncommitted: the high watermark.
    wait_until("the records to be durable", || {
        (raw.latest_offset("open", 0) == 3).then_some(())
    });

    let deleted = broker.admin().delete_records("open", &[(0, Offset::End)]);
    assert_eq!(deleted, [(0, Ok(3))]);
    let request = ListOffsetsRequest {
        replica_id: -1,
        isolation_level: 1, // read_committed
        topics: vec![ListOffsetsTopic {
            name: "open".into(),
            partitions: vec![ListOffsetsPartition {
                partition_index: 0,
                timestamp: -1, // latest: the last stable offset
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let ResponseBody::ListOffsets(listed) = raw.request(7, RequestBody::ListOffsets(request)) else {
        panic!("not a ListOffsets response")
    };
    let partition = &listed.topics[0].partitions[0];
    assert_eq!((partition.error_code, partition.offset), (0, 3));
    producer.abort_transaction(CLIENT_TIMEOUT).expect("abort");
}
