//! Produce: validates each partition's record set, appends it, and answers when the
//! `acks` level is met: `0` never, `1` and `-1` once fsynced (the flusher's group commit
//! moves the high watermark past it). On one node the leader is every replica: Kafka
//! answers `acks=1` at the leader's write and moves the high watermark there at once; here
//! the high watermark passes only flushed data, so that an acknowledged record survives a
//! crash, and `acks=1` waits for it too, or a client could find its acknowledged record
//! missing from ListOffsets and fetches for a moment.
//!
//! Batches from idempotent producers are checked against the partition's producer state by
//! the log: a retried batch is answered with its original offsets (error NONE, as Kafka
//! does) without being written again; sequence gaps and fenced epochs get
//! OUT_OF_ORDER_SEQUENCE_NUMBER and INVALID_PRODUCER_EPOCH.
//!
//! A transactional batch is accepted only for a partition its producer added to its
//! ongoing transaction (KIP-890 part 1 verification, asked of the transaction coordinator
//! as Kafka's partition leaders ask it with AddPartitionsToTxn `verify_only`); otherwise
//! INVALID_TXN_STATE (INVALID_PRODUCER_ID_MAPPING for a producer id no transactional id
//! holds), so a late batch of a finished or aborted transaction cannot open a
//! transaction nobody will end. From v12 on (transactions v2, KIP-890 part 2) the client
//! does not add partitions itself: a batch for a partition not yet in the transaction adds
//! it, through the coordinator as Kafka's leader does with AddPartitionsToTxn v5, and the
//! request is answered once that is durable (an id busy with another add is waited for, up
//! to the request's timeout, then CONCURRENT_TRANSACTIONS as Kafka 4 answers v12). A batch at an epoch older than the
//! transaction's is INVALID_PRODUCER_EPOCH either way.
//! `transaction.partition.verification.enable=false` turns the check off, as in Kafka, but
//! for v12 requests, whose partitions must still be added.
//!
//! The check is a lookup by producer id per partition (see `coordinator::txn`), so a
//! request is first checked whole, then appended; only a request with partitions to add
//! waits for the coordinator before it appends, and the connection reads nothing more
//! until it has (see `handle`).

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tidelog_log::LogError;
use tidelog_protocol::messages::produce_request::{PartitionProduceData, ProduceRequest};
use tidelog_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, ProduceResponse, TopicProduceResponse,
};
use tidelog_protocol::records::{RecordBatch, RecordBatchMut};
use tidelog_protocol::{ErrorCode, ResponseBody, Uuid};
use tracing::error;

use crate::authorizer::ResourceType;
use crate::broker::{is_internal_topic, Broker};
use crate::client_quotas::PRODUCER_BYTE_RATE;
use crate::clock::now_ms;
use crate::handlers::{Reply, RequestContext};
use crate::partitions::{producer_error_code, Partition};
use crate::produce_validation::validate;
use crate::topic_config;

/// The versions served, as ApiVersions advertises them: 3 to 13.
pub const VERSIONS: RangeInclusive<i16> = 3..=13;

/// The first Produce version whose client waits out its own throttle time (KIP-219).
const CLIENT_THROTTLES_VERSION: i16 = 6;

/// The first Produce version of transactions v2: transactional batches add their
/// partitions to the transaction.
const ADDS_PARTITIONS_VERSION: i16 = 12;

/// An appended partition an `acks=-1` answer waits for, by its place in the response.
struct DurableWait {
    topic_index: usize,
    partition_index: usize,
    partition: Arc<Partition>,
    offset: i64,
    /// acks=all: the in-sync replicas the write needs once replicated; 0 for acks=1,
    /// which waits for this node's flush alone.
    min_insync: usize,
}

/// A partition's record set, checked and ready to append.
struct Checked {
    partition: Arc<Partition>,
    topic: String,
    index: i32,
    batches: Vec<RecordBatch>,
    records: Bytes,
    log_append_time: bool,
    /// The transactional producer whose transaction must take the partition first (v12+).
    to_add: Option<(i64, i16)>,
    /// See [`DurableWait::min_insync`].
    min_insync: usize,
}

/// A partition's record set refused, with its error.
struct Refusal {
    index: i32,
    code: ErrorCode,
    message: Option<String>,
    /// KIP-467: the records at fault, by index in their batch, and why.
    record_errors: Vec<(i32, String)>,
    /// Known when records were refused (Kafka answers those with it), -1 otherwise.
    log_start_offset: i64,
}

impl Refusal {
    fn new(index: i32, code: ErrorCode, message: Option<String>) -> Refusal {
        Refusal {
            index,
            code,
            message,
            record_errors: Vec::new(),
            log_start_offset: -1,
        }
    }

    fn response(self) -> PartitionProduceResponse {
        PartitionProduceResponse {
            index: self.index,
            error_code: self.code.0,
            base_offset: -1,
            error_message: self.message,
            log_start_offset: self.log_start_offset,
            record_errors: self
                .record_errors
                .into_iter()
                .map(|(batch_index, why)| BatchIndexAndErrorMessage {
                    batch_index,
                    batch_index_error_message: Some(why),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }
}

/// Each partition of a request: checked, or refused.
type CheckedTopic = (TopicProduceResponse, Vec<Result<Checked, Refusal>>);

/// A partition's outcome, and what an `acks=-1` answer must wait for.
struct Appended {
    response: PartitionProduceResponse,
    durable: Option<(Arc<Partition>, i64, usize)>,
}

/// Async only for v12 transactional requests with partitions to add: the connection
/// awaits the handler before it reads its next request, so the adds and the appends of one
/// request finish before a later request of the same connection appends anything. (Kafka
/// handles one request per connection at a time; a later request appending first put an
/// idempotent producer's batches out of sequence.)
pub async fn handle(ctx: &RequestContext, request: ProduceRequest) -> Reply {
    let broker = &ctx.broker;
    let version = ctx.api_version;
    let acks = request.acks;
    if !matches!(acks, -1..=1) {
        let response = error_response(&request, ErrorCode::INVALID_REQUIRED_ACKS);
        return Reply::Now(ResponseBody::Produce(response));
    }
    if let Some(id) = &request.transactional_id {
        if !ctx.authorize(ResourceType::TransactionalId, id) {
            let response = error_response(&request, ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
            return Reply::Now(ResponseBody::Produce(response));
        }
    }
    let timeout = Duration::from_millis(request.timeout_ms.max(0) as u64);
    let adds = version >= ADDS_PARTITIONS_VERSION && request.transactional_id.is_some();
    let checked: Vec<CheckedTopic> = request
        .topic_data
        .into_iter()
        .map(|topic| {
            let name = match topic.topic_id.is_nil() {
                true => Some(topic.name.clone()),
                false => broker
                    .metadata
                    .image()
                    .topic_by_id(topic.topic_id)
                    .map(|t| t.name.clone()),
            };
            let denied = name.as_deref().is_some_and(|n| !ctx.authorize(ResourceType::Topic, n));
            let settings = name.as_deref().map(|name| TopicSettings::of(broker, name));
            let partitions = topic
                .partition_data
                .into_iter()
                .map(|data| match denied {
                    true => Err(Refusal::new(data.index, ErrorCode::TOPIC_AUTHORIZATION_FAILED, None)),
                    false => {
                        let target = (name.as_deref(), settings, topic.topic_id);
                        check_partition(broker, target, data, adds, acks)
                    }
                })
                .collect();
            let response = TopicProduceResponse {
                name: topic.name,
                topic_id: topic.topic_id,
                ..Default::default()
            };
            (response, partitions)
        })
        .collect();
    let transactional_id = request.transactional_id.unwrap_or_default();
    let checked = add_to_transactions(broker, checked, &transactional_id, timeout).await;
    let (mut response, waits) = append_all(broker, checked, now_ms());
    // As Kafka: the request's bytes count against the producer's quota once appended; over
    // it, the answer says how long to wait and the connection reads nothing for that long.
    let throttle = ctx
        .quota(PRODUCER_BYTE_RATE)
        .map_or(0, |quota| quota.record(&broker.client_quotas, ctx.request_size as f64));
    response.throttle_time_ms = throttle;
    // Before KIP-219 (v6) the broker, not the client, waits: the answer itself is held.
    let delay = match version < CLIENT_THROTTLES_VERSION {
        true => Duration::from_millis(throttle.max(0) as u64),
        false => Duration::ZERO,
    };
    reply(acks, response, waits, timeout, delay)
}

/// Adds the partitions of transactional batches that are not yet in their producer's
/// transaction (v12+), through the coordinator; a partition whose add fails is refused
/// with the coordinator's error. Returns at once when there is nothing to add.
async fn add_to_transactions(
    broker: &Broker,
    checked: Vec<CheckedTopic>,
    transactional_id: &str,
    timeout: Duration,
) -> Vec<CheckedTopic> {
    let mut to_add: BTreeMap<(i64, i16), Vec<(String, i32)>> = BTreeMap::new();
    for checked in checked.iter().flat_map(|(_, ps)| ps.iter().flatten()) {
        if let Some(producer) = checked.to_add {
            to_add
                .entry(producer)
                .or_default()
                .push((checked.topic.clone(), checked.index));
        }
    }
    if to_add.is_empty() {
        return checked;
    }
    let mut refused = BTreeMap::new();
    for (producer, partitions) in to_add {
        let added = broker
            .txns
            .add_partitions_implicitly(&broker.partitions, transactional_id, producer, &partitions, timeout)
            .await;
        if let Err(code) = added {
            refused.insert(producer, code);
        }
    }
    checked
        .into_iter()
        .map(|(topic, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|p| match p {
                    Ok(c) => match c.to_add.and_then(|producer| refused.get(&producer)) {
                        Some(code) => Err(Refusal::new(c.index, *code, None)),
                        None => Ok(c),
                    },
                    refused => refused,
                })
                .collect();
            (topic, partitions)
        })
        .collect()
}

/// The answer by `acks`: `0` none (and the connection closed if a partition failed, as
/// Kafka does), `1` and `-1` once every append is durable and `delay` has passed.
fn reply(acks: i16, response: ProduceResponse, waits: Vec<DurableWait>, timeout: Duration, delay: Duration) -> Reply {
    let failed = || {
        response
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
            .any(|p| p.error_code != ErrorCode::NONE.0)
    };
    match acks {
        0 if failed() => Reply::Close,
        0 => Reply::Nothing,
        _ => Reply::Later(Box::pin(async move {
            let response = wait_durable(response, waits, timeout).await;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            ResponseBody::Produce(response)
        })),
    }
}

/// Appends every checked partition, in the request's order.
fn append_all(broker: &Broker, checked: Vec<CheckedTopic>, now: i64) -> (ProduceResponse, Vec<DurableWait>) {
    let mut waits = Vec::new();
    let responses = checked
        .into_iter()
        .enumerate()
        .map(|(topic_index, (mut topic, partitions))| {
            topic.partition_responses = partitions
                .into_iter()
                .enumerate()
                .map(|(partition_index, checked)| {
                    let appended = match checked {
                        Ok(checked) => append_partition(broker, checked, now),
                        Err(refused) => Appended {
                            response: refused.response(),
                            durable: None,
                        },
                    };
                    if let Some((partition, offset, min_insync)) = appended.durable {
                        waits.push(DurableWait {
                            topic_index,
                            partition_index,
                            partition,
                            offset,
                            min_insync,
                        });
                    }
                    appended.response
                })
                .collect();
            topic
        })
        .collect();
    let response = ProduceResponse {
        responses,
        ..Default::default()
    };
    (response, waits)
}

/// The topic configs a produce checks, resolved once per topic of a request.
#[derive(Clone, Copy)]
struct TopicSettings {
    max_message_bytes: i32,
    log_append_time: bool,
    /// `cleanup.policy` includes `compact`: every record needs a key.
    compacted: bool,
    /// `min.insync.replicas`.
    min_insync: usize,
}

impl TopicSettings {
    fn of(broker: &Broker, topic: &str) -> TopicSettings {
        let image = broker.metadata.image();
        let no_overrides = BTreeMap::new();
        let overrides = image.topic(topic).map_or(&no_overrides, |t| &t.configs);
        let max_message_bytes = topic_config::effective_i64(&broker.config, overrides, "max.message.bytes");
        TopicSettings {
            max_message_bytes: max_message_bytes.clamp(0, i64::from(i32::MAX)) as i32,
            log_append_time: topic_config::effective(&broker.config, overrides, "message.timestamp.type")
                == "LogAppendTime",
            compacted: topic_config::compacts(&broker.config, overrides),
            min_insync: topic_config::effective_i64(&broker.config, overrides, "min.insync.replicas").max(1) as usize,
        }
    }
}

/// Everything about a partition's record set but the append: the partition, the batches,
/// and its producer's transaction.
fn check_partition(
    broker: &Broker,
    (topic, settings, topic_id): (Option<&str>, Option<TopicSettings>, Uuid),
    data: PartitionProduceData,
    adds: bool,
    acks: i16,
) -> Result<Checked, Refusal> {
    let index = data.index;
    let refuse = |code: ErrorCode, message: Option<String>| Refusal::new(index, code, message);
    let unknown = if topic_id.is_nil() {
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    } else {
        ErrorCode::UNKNOWN_TOPIC_ID
    };
    let (topic, settings) = topic.zip(settings).ok_or_else(|| refuse(unknown, None))?;
    let partition = broker
        .partitions
        .get(topic, index)
        .ok_or_else(|| refuse(broker.not_hosted(topic, index, unknown), None))?;
    // As Kafka: an acks=all write needs `min.insync.replicas` in sync before it is made.
    let min_insync = match acks {
        -1 => settings.min_insync,
        _ => 0,
    };
    let in_sync = partition.replica().isr().len();
    if in_sync < min_insync {
        let message = format!("The in-sync replicas of {topic}-{index} are {in_sync}, below {min_insync}.");
        return Err(refuse(ErrorCode::NOT_ENOUGH_REPLICAS, Some(message)));
    }
    // Only the coordinators write their topics; records from clients could forge groups
    // or transactions.
    if is_internal_topic(topic) {
        let message = format!("Cannot append to internal topic {topic}");
        return Err(refuse(ErrorCode::INVALID_TOPIC_EXCEPTION, Some(message)));
    }
    let compacted_partition = settings.compacted.then(|| format!("{topic}-{index}"));
    let valid = validate(
        data.records.as_ref(),
        settings.max_message_bytes,
        compacted_partition.as_deref(),
    )
    .map_err(|refused| {
        let log_start_offset = match refused.record_errors.is_empty() {
            true => -1,
            false => partition.log_start_offset(),
        };
        Refusal {
            record_errors: refused.record_errors,
            log_start_offset,
            ..refuse(refused.code, Some(refused.message))
        }
    })?;
    // Adds are not checks: a v2 transaction's markers reach only the partitions added, so
    // they happen with verification off too.
    let verify = broker.config.transaction_partition_verification_enable || adds;
    let mut to_add = None;
    for batch in valid.batches.iter().filter(|b| verify && b.is_transactional()) {
        let producer = (batch.producer_id(), batch.producer_epoch());
        match broker.txns.verify(producer.0, producer.1, topic, index) {
            Ok(()) => {}
            Err(ErrorCode::INVALID_TXN_STATE) if adds && to_add.is_none_or(|p| p == producer) => {
                to_add = Some(producer);
            }
            Err(code) => return Err(refuse(code, None)),
        }
    }
    Ok(Checked {
        partition,
        topic: topic.to_string(),
        index,
        batches: valid.batches,
        records: data.records.expect("validated records are present"),
        log_append_time: settings.log_append_time,
        to_add,
        min_insync,
    })
}

fn append_partition(broker: &Broker, checked: Checked, now: i64) -> Appended {
    let Checked {
        partition,
        topic,
        index,
        batches: valid_batches,
        records,
        log_append_time,
        min_insync,
        ..
    } = checked;
    let refuse = |code: ErrorCode, message: Option<String>| Appended {
        response: Refusal::new(index, code, message).response(),
        durable: None,
    };
    // The log writes the request's bytes as they are (slices of the request frame), but for
    // the base offsets it assigns; broker timestamps change CRCs too, which takes a copy.
    let batches = match log_append_time {
        false => records,
        true => {
            let mut batches = BytesMut::from(records.as_ref());
            let mut position = 0;
            for batch in &valid_batches {
                let end = position + batch.size_in_bytes();
                RecordBatchMut::new(&mut batches[position..end])
                    .expect("validated batch")
                    .set_log_append_time(now);
                position = end;
            }
            batches.freeze()
        }
    };
    let bytes = batches.len() as u64;
    match partition.append(batches) {
        Ok(info) => {
            broker.partitions.flusher.mark_dirty(&partition);
            // A retried batch already in the log was not written again: not counted again.
            if !info.duplicate {
                broker
                    .metrics
                    .produced(&topic, bytes, (info.last_offset - info.base_offset + 1) as u64);
            }
            let log_start_offset = partition.log_start_offset();
            Appended {
                response: PartitionProduceResponse {
                    index,
                    base_offset: info.base_offset,
                    log_append_time_ms: if log_append_time { now } else { -1 },
                    log_start_offset,
                    ..Default::default()
                },
                durable: Some((partition, info.last_offset + 1, min_insync)),
            }
        }
        Err(LogError::AppendTooLarge { .. }) => refuse(ErrorCode::RECORD_LIST_TOO_LARGE, None),
        Err(LogError::NotLeader) => refuse(ErrorCode::NOT_LEADER_OR_FOLLOWER, None),
        Err(LogError::Producer(e)) => {
            // Kafka tells the log start with a producer's errors (not with size or corruption).
            let mut refused = refuse(producer_error_code(&e), Some(e.to_string()));
            refused.response.log_start_offset = partition.log_start_offset();
            refused
        }
        Err(e) => {
            error!(topic, partition = index, error = %e, "append failed");
            refuse(ErrorCode::KAFKA_STORAGE_ERROR, Some(e.to_string()))
        }
    }
}

/// Waits until every appended partition is durable (acks=1: here; acks=all: on every
/// in-sync replica), or answers the error of the ones that are not: REQUEST_TIMED_OUT by
/// the produce timeout, or the leadership lost or in-sync replicas too few meanwhile.
async fn wait_durable(mut response: ProduceResponse, waits: Vec<DurableWait>, timeout: Duration) -> ProduceResponse {
    let all = async {
        let mut failed = Vec::new();
        for (i, wait) in waits.iter().enumerate() {
            let outcome = match wait.min_insync {
                0 => {
                    wait.partition.wait_flushed(wait.offset).await;
                    Ok(())
                }
                needed => wait.partition.wait_replicated(wait.offset, needed).await,
            };
            if let Err(code) = outcome {
                failed.push((i, code));
            }
        }
        failed
    };
    let failed = match tokio::time::timeout(timeout, all).await {
        Ok(failed) => failed,
        Err(_) => (waits.iter().enumerate())
            .filter(|(_, w)| match w.min_insync {
                0 => w.partition.flushed_offset() < w.offset,
                _ => w.partition.high_watermark() < w.offset,
            })
            .map(|(i, _)| (i, ErrorCode::REQUEST_TIMED_OUT))
            .collect(),
    };
    for (i, code) in failed {
        let wait = &waits[i];
        let p = &mut response.responses[wait.topic_index].partition_responses[wait.partition_index];
        p.error_code = code.0;
    }
    response
}

fn error_response(request: &ProduceRequest, code: ErrorCode) -> ProduceResponse {
    let responses = request
        .topic_data
        .iter()
        .map(|topic| TopicProduceResponse {
            name: topic.name.clone(),
            topic_id: topic.topic_id,
            partition_responses: topic
                .partition_data
                .iter()
                .map(|p| PartitionProduceResponse {
                    index: p.index,
                    error_code: code.0,
                    base_offset: -1,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    ProduceResponse {
        responses,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;
    use crate::coordinator::group::OFFSETS_TOPIC;
    use bytes::Bytes;
    use std::collections::BTreeMap;
    use tidelog_protocol::messages::produce_request::TopicProduceData;
    use tidelog_protocol::records::{RecordBatch, RecordBatchBuilder, TimestampType};

    /// Batches of 3 and 2 records, as a producer sends them (base offset 0).
    /// One batch of five records, as a client sends a partition's records.
    fn sent() -> Bytes {
        let mut builder = RecordBatchBuilder::new(0);
        for i in 0..5 {
            builder.append(1_000 + i, None, Some(b"value"), &[]);
        }
        builder.build().as_bytes().clone()
    }

    fn produce(broker: &Arc<Broker>, topic: &str, records: Bytes) -> PartitionProduceResponse {
        let partition = PartitionProduceData {
            index: 0,
            records: Some(records),
            ..Default::default()
        };
        let request = ProduceRequest {
            acks: 1,
            timeout_ms: 1_000,
            topic_data: vec![TopicProduceData {
                name: topic.into(),
                partition_data: vec![partition],
                ..Default::default()
            }],
            ..Default::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let response = match runtime.block_on(handle(&RequestContext::for_test(broker, 11), request)) {
            Reply::Later(durable) => runtime.block_on(durable),
            _ => panic!("acks=1 is answered once durable"),
        };
        match response {
            ResponseBody::Produce(response) => response.responses[0].partition_responses[0].clone(),
            other => panic!("not a produce response: {other:?}"),
        }
    }

    /// The batches stored in partition 0 of `topic`, from offset 5 on.
    fn stored_from_5(broker: &Broker, topic: &str) -> Vec<RecordBatch> {
        let read = broker
            .partitions
            .get(topic, 0)
            .unwrap()
            .snapshot()
            .unwrap()
            .read(5, 1 << 20, i64::MAX);
        RecordBatch::iter_batches(read.unwrap().records.to_bytes().unwrap())
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn batches_are_stored_as_sent_but_for_offsets_leader_epochs_and_log_append_times() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(BrokerConfig {
            log_dirs: vec![dir.path().to_path_buf()],
            ..BrokerConfig::default()
        })
        .unwrap();
        let log_append_time = BTreeMap::from([("message.timestamp.type".into(), "LogAppendTime".into())]);
        broker.create_topic("created", 1, 1, BTreeMap::new(), false).unwrap();
        broker.create_topic("appended", 1, 1, log_append_time, false).unwrap();
        let sent_batches: Vec<RecordBatch> = RecordBatch::iter_batches(sent()).map(Result::unwrap).collect();

        for topic in ["created", "appended"] {
            assert_eq!(produce(&broker, topic, sent()).base_offset, 0);
        }
        let created = produce(&broker, "created", sent());
        assert_eq!((created.base_offset, created.log_append_time_ms), (5, -1));
        let stored = stored_from_5(&broker, "created");
        assert_eq!(stored.iter().map(RecordBatch::base_offset).collect::<Vec<_>>(), [5]);
        for (stored, sent) in stored.iter().zip(&sent_batches) {
            assert_eq!(stored.as_bytes()[8..12], sent.as_bytes()[8..12], "the same length");
            assert_eq!(
                stored.as_bytes()[16..],
                sent.as_bytes()[16..],
                "only the base offset and the leader epoch changed"
            );
            assert_eq!(
                (sent.partition_leader_epoch(), stored.partition_leader_epoch()),
                (-1, 0)
            );
        }

        let appended = produce(&broker, "appended", sent());
        assert_eq!(appended.base_offset, 5);
        let stored = stored_from_5(&broker, "appended");
        assert_eq!(stored.len(), 1);
        for batch in &stored {
            assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
            assert_eq!(batch.max_timestamp(), appended.log_append_time_ms);
            batch.verify_crc().unwrap();
        }
        broker.shutdown();
    }

    #[test]
    fn idempotent_batches_are_deduplicated_and_checked_in_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(BrokerConfig {
            log_dirs: vec![dir.path().to_path_buf()],
            ..BrokerConfig::default()
        })
        .unwrap();
        broker.create_topic("idem", 1, 1, BTreeMap::new(), false).unwrap();
        let batch = |epoch: i16, first_seq: i32| {
            let mut builder = RecordBatchBuilder::new(0).producer(42, epoch, first_seq);
            for i in 0..3 {
                builder.append(1_000 + i, None, Some(b"value"), &[]);
            }
            builder.build().as_bytes().clone()
        };
        let outcome = |r: PartitionProduceResponse| (r.error_code, r.base_offset);
        assert_eq!(outcome(produce(&broker, "idem", batch(0, 0))), (0, 0));
        assert_eq!(outcome(produce(&broker, "idem", batch(0, 3))), (0, 3));
        assert_eq!(outcome(produce(&broker, "idem", batch(0, 0))), (0, 0), "a retry");
        let gap = produce(&broker, "idem", batch(0, 9));
        assert_eq!(gap.error_code, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER.0);
        assert_eq!(outcome(produce(&broker, "idem", batch(1, 0))), (0, 6), "a new epoch");
        let fenced = produce(&broker, "idem", batch(0, 6));
        assert_eq!(fenced.error_code, ErrorCode::INVALID_PRODUCER_EPOCH.0);
        assert_eq!(
            broker
                .partitions
                .get("idem", 0)
                .unwrap()
                .snapshot()
                .unwrap()
                .log_end_offset(),
            9
        );
        broker.shutdown();
    }

    #[test]
    fn clients_cannot_write_to_the_offsets_topic() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(BrokerConfig {
            log_dirs: vec![dir.path().to_path_buf()],
            ..BrokerConfig::default()
        })
        .unwrap();
        broker.ensure_offsets_topic().unwrap();
        let refused = produce(&broker, OFFSETS_TOPIC, sent());
        assert_eq!(refused.error_code, ErrorCode::INVALID_TOPIC_EXCEPTION.0);
        broker.shutdown();
    }
}
