//! Fetch: reads whole batches from each partition up to its high watermark, within
//! `partition_max_bytes` and the response's `max_bytes`, itself at most the broker's
//! `fetch.max.bytes` (but always at least one whole batch in a response, KIP-74), and
//! waits up to `max_wait_ms` for `min_bytes` to arrive.
//! Incremental fetch sessions (KIP-227) carry only what changed both ways.
//!
//! read_committed (isolation level 1) reads only up to the last stable offset and lists
//! the aborted transactions with records in what it returns, from the segments'
//! `.txnindex`; the client drops those records itself, and skips the control batches (the
//! markers) as it does for read_uncommitted. The broker decodes no record either way.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;
use std::time::Duration;

use tidelog_log::LogError;
use tidelog_protocol::messages::fetch_request::FetchRequest;
use tidelog_protocol::messages::fetch_response::{
    AbortedTransaction, FetchResponse, FetchableTopicResponse, PartitionData,
};
use tidelog_protocol::{ErrorCode, Payload, ResponseBody, Uuid};
use tokio::time::Instant;
use tracing::error;

use crate::authorizer::ResourceType;
use crate::broker::Broker;
use crate::client_quotas::{RequestQuota, CONSUMER_BYTE_RATE};
use crate::fetch_session::{PartitionKey, SentState, SessionPartition, SessionPartitions, SessionRequest};
use crate::handlers::{Reply, RequestContext};
use crate::partitions::last_stable_offset;
use crate::replication;

/// The versions served, as ApiVersions advertises them: 4 to 18.
pub const VERSIONS: RangeInclusive<i16> = 4..=18;

/// The first Fetch version whose client waits out its own throttle time (KIP-219).
const CLIENT_THROTTLES_VERSION: i16 = 8;

/// Isolation level READ_COMMITTED: the response carries an aborted-transactions list.
const READ_COMMITTED: i8 = 1;

/// One partition to read, keyed by topic name and partition.
struct Wanted {
    key: (String, i32),
    topic_id: Uuid,
    fetch_offset: i64,
    max_bytes: i32,
    /// The leader epoch the client knows (-1: it does not say), KIP-320.
    current_leader_epoch: i32,
    /// A follower's: the epoch of the last batch it holds, for the divergence check.
    last_fetched_epoch: i32,
}

/// What the async part needs to build the response.
struct Plan {
    session_id: i32,
    /// Leave out partitions whose state the client already has (incremental sessions).
    incremental: bool,
    wanted: Vec<Wanted>,
    max_bytes: i32,
    min_bytes: i32,
    read_committed: bool,
    by_topic_id: bool,
    /// The topics the principal may not read, as it stood when the request came:
    /// TOPIC_AUTHORIZATION_FAILED for their partitions.
    denied: BTreeSet<String>,
    /// The follower fetching (its broker id), or -1 for a consumer.
    replica_id: i32,
    /// A consumer that may read from followers (KIP-392: Fetch v11 on), and its rack (empty
    /// when it tells none).
    from_followers: bool,
    rack_id: String,
}

/// The first version whose consumers may read from followers (KIP-392).
const FROM_FOLLOWERS_VERSION: i16 = 11;

pub async fn handle(ctx: &RequestContext, request: FetchRequest) -> Reply {
    let broker = &ctx.broker;
    let version = ctx.api_version;
    let by_topic_id = version >= 13;
    let replica_id = match version >= 15 {
        true => request.replica_state.replica_id,
        false => request.replica_id,
    };
    let requested = requested_partitions(broker, &request, by_topic_id);
    let plan_or_error = match SessionRequest::classify(request.session_id, request.session_epoch) {
        SessionRequest::Sessionless => Ok((0, false, requested)),
        SessionRequest::Close { id } => {
            broker.fetch_sessions.close(id);
            Ok((0, false, requested))
        }
        SessionRequest::Open => {
            let partitions: SessionPartitions = requested.iter().map(|w| (w.key.clone(), session_entry(w))).collect();
            Ok((broker.fetch_sessions.open(partitions), false, requested))
        }
        SessionRequest::Continue { id, epoch } => {
            let forgotten = forgotten_partitions(broker, &request, by_topic_id);
            broker
                .fetch_sessions
                .update(id, epoch, |partitions| {
                    for key in &forgotten {
                        partitions.remove(key);
                    }
                    for w in &requested {
                        partitions.insert(
                            w.key.clone(),
                            SessionPartition {
                                last_sent: partitions.get(&w.key).and_then(|p| p.last_sent),
                                ..session_entry(w)
                            },
                        );
                    }
                    partitions
                        .iter()
                        .map(|(key, p)| Wanted {
                            key: key.clone(),
                            topic_id: p.topic_id,
                            fetch_offset: p.fetch_offset,
                            max_bytes: p.max_bytes,
                            current_leader_epoch: -1,
                            last_fetched_epoch: -1,
                        })
                        .collect::<Vec<_>>()
                })
                .map(|wanted| (id, true, wanted))
        }
    };
    let (session_id, incremental, wanted) = match plan_or_error {
        Ok(plan) => plan,
        Err(code) => {
            let response = FetchResponse {
                error_code: code.0,
                session_id: 0,
                ..Default::default()
            };
            return Reply::Now(ResponseBody::Fetch(response));
        }
    };
    let denied = denied_topics(ctx, &wanted, replica_id >= 0);
    // A consumer under a quota asks for at most what its quota allows in the quota's span
    // (Kafka's `getMaxValueInQuotaWindow`), and never waits for more.
    let quota = ctx.quota(CONSUMER_BYTE_RATE);
    let quota_bytes = quota.as_ref().map(|q| broker.client_quotas.max_in_window(q));
    let max_bytes = quota_bytes.map_or(request.max_bytes, |q| {
        request.max_bytes.min(q.min(i32::MAX as f64) as i32)
    });
    let plan = Plan {
        denied,
        session_id,
        incremental,
        wanted,
        max_bytes,
        min_bytes: request.min_bytes.min(max_bytes),
        read_committed: request.isolation_level == READ_COMMITTED,
        by_topic_id,
        replica_id,
        from_followers: replica_id < 0 && version >= FROM_FOLLOWERS_VERSION,
        rack_id: request.rack_id,
    };
    let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let broker = broker.clone();
    Reply::Later(Box::pin(async move {
        let read = long_poll(&broker, &plan, deadline).await;
        let response = match quota {
            None => sent(&broker, &plan, read),
            Some(quota) => throttled_or_sent(&broker, &plan, read, &quota, version).await,
        };
        ResponseBody::Fetch(response)
    }))
}

/// As Kafka: the response's bytes count against the consumer's quota; over it, the client
/// gets an empty response saying how long to wait, the bytes are taken back (they were not
/// sent), and the connection reads nothing for that long. Before KIP-219 (v8) the broker
/// holds the response for that long instead.
async fn throttled_or_sent(
    broker: &Broker,
    plan: &Plan,
    read: Read<'_>,
    quota: &RequestQuota,
    version: i16,
) -> FetchResponse {
    let bytes = read.bytes() as f64;
    let throttle = quota.record(&broker.client_quotas, bytes);
    if throttle == 0 {
        return sent(broker, plan, read);
    }
    quota.unrecord(&broker.client_quotas, bytes);
    if version < CLIENT_THROTTLES_VERSION {
        tokio::time::sleep(Duration::from_millis(throttle as u64)).await;
    }
    FetchResponse {
        throttle_time_ms: throttle,
        session_id: plan.session_id,
        ..Default::default()
    }
}

/// The response of a read that goes out: the session learns what its client now knows,
/// and the bytes are counted.
fn sent(broker: &Broker, plan: &Plan, read: Read<'_>) -> FetchResponse {
    if plan.session_id != 0 {
        broker.fetch_sessions.record_sent(plan.session_id, read.sent);
    }
    for topic in read.topics {
        if topic.bytes > 0 {
            broker.metrics.fetched(topic.name, topic.bytes as u64, topic.offsets);
        }
    }
    read.response
}

fn session_entry(w: &Wanted) -> SessionPartition {
    SessionPartition {
        topic_id: w.topic_id,
        fetch_offset: w.fetch_offset,
        max_bytes: w.max_bytes,
        last_sent: None,
    }
}

/// The topic name a request addresses, by name (before v13) or by id.
fn topic_name(broker: &Broker, name: &str, id: Uuid, by_topic_id: bool) -> String {
    if !by_topic_id {
        return name.to_string();
    }
    // An unknown id keeps an empty name; reading it answers UNKNOWN_TOPIC_ID.
    broker
        .metadata
        .image()
        .topic_by_id(id)
        .map(|t| t.name.clone())
        .unwrap_or_default()
}

fn requested_partitions(broker: &Broker, request: &FetchRequest, by_topic_id: bool) -> Vec<Wanted> {
    let mut wanted = Vec::new();
    for topic in &request.topics {
        let name = topic_name(broker, &topic.topic, topic.topic_id, by_topic_id);
        for p in &topic.partitions {
            wanted.push(Wanted {
                key: (name.clone(), p.partition),
                topic_id: topic.topic_id,
                fetch_offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes,
                current_leader_epoch: p.current_leader_epoch,
                last_fetched_epoch: p.last_fetched_epoch,
            });
        }
    }
    wanted
}

fn forgotten_partitions(broker: &Broker, request: &FetchRequest, by_topic_id: bool) -> Vec<(String, i32)> {
    let mut keys = Vec::new();
    for topic in &request.forgotten_topics_data {
        let name = topic_name(broker, &topic.topic, topic.topic_id, by_topic_id);
        keys.extend(topic.partitions.iter().map(|p| (name.clone(), *p)));
    }
    keys
}

/// One pass over the wanted partitions: the response, its record bytes by topic (in the
/// order of its topics), and the partition states it tells an incremental session's client.
struct Read<'p> {
    response: FetchResponse,
    /// One per topic of the response, in its order.
    topics: Vec<TopicRead<'p>>,
    sent: Vec<(PartitionKey, SentState)>,
}

/// What a response carries of one topic: record bytes, and the offsets they take its
/// consumer past (`tidelog_fetch_records_total`: the records, and any offsets compaction
/// emptied or transaction markers took among them). Offsets, not a count from the batch
/// headers: a read from 64 KiB on is a file region sent with `sendfile` that the broker
/// never reads, and counting its records would take a read per batch on the fetch path.
struct TopicRead<'p> {
    name: &'p str,
    bytes: i64,
    offsets: u64,
}

impl Read<'_> {
    fn bytes(&self) -> i64 {
        self.topics.iter().map(|t| t.bytes).sum()
    }
}

/// Reads until `min_bytes` are there, an error shows up, or the deadline passes; new data
/// (a high watermark moving, which is also what moves a last stable offset) wakes it early.
async fn long_poll<'p>(broker: &Broker, plan: &'p Plan, deadline: Instant) -> Read<'p> {
    let mut changes = broker.partitions.flusher.data_changes();
    loop {
        changes.borrow_and_update();
        let (read, errors) = read_all(broker, plan);
        let bytes = read.bytes();
        // As Kafka: answer at once with `min_bytes` reached (so always for 0), on an error,
        // or when there is nothing to fetch.
        let satisfied = bytes >= i64::from(plan.min_bytes) || errors || plan.wanted.is_empty();
        if satisfied || Instant::now() >= deadline {
            return read;
        }
        tokio::select! {
            _ = changes.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// One pass over the wanted partitions, and whether a partition had an error or sent its
/// consumer to another replica.
fn read_all<'p>(broker: &Broker, plan: &'p Plan) -> (Read<'p>, bool) {
    let max_bytes = plan.max_bytes.min(broker.config.fetch_max_bytes);
    let mut remaining = i64::from(max_bytes.max(0));
    let mut total = 0i64;
    let mut read: Vec<TopicRead> = Vec::new();
    let mut errors = false;
    let mut sent = Vec::new();
    let mut responses: Vec<FetchableTopicResponse> = Vec::new();
    for w in &plan.wanted {
        let (data, offsets) = match plan.denied.contains(&w.key.0) {
            true => (refused_partition(w.key.1, ErrorCode::TOPIC_AUTHORIZATION_FAILED), 0),
            false => read_partition(broker, w, remaining, total == 0, plan),
        };
        let len = data.records.as_ref().map_or(0, |r| r.len()) as i64;
        let state = (
            data.high_watermark,
            data.last_stable_offset,
            data.log_start_offset,
            data.error_code,
        );
        if plan.incremental && len == 0 && broker.fetch_sessions.last_sent(plan.session_id, &w.key) == Some(state) {
            continue;
        }
        sent.push((w.key.clone(), state));
        total += len;
        remaining -= len;
        // A consumer sent elsewhere is answered at once too.
        errors |= data.error_code != 0 || data.preferred_read_replica >= 0;
        let same_topic = responses
            .last()
            .is_some_and(|t| t.topic == w.key.0 && t.topic_id == w.topic_id);
        if !same_topic {
            read.push(TopicRead {
                name: &w.key.0,
                bytes: 0,
                offsets: 0,
            });
            responses.push(FetchableTopicResponse {
                topic: if plan.by_topic_id {
                    String::new()
                } else {
                    w.key.0.clone()
                },
                topic_id: w.topic_id,
                ..Default::default()
            });
        }
        responses.last_mut().expect("pushed above").partitions.push(data);
        let topic = read.last_mut().expect("pushed above");
        topic.bytes += len;
        topic.offsets += offsets;
    }
    let response = FetchResponse {
        session_id: plan.session_id,
        responses,
        ..Default::default()
    };
    let read = Read {
        response,
        topics: read,
        sent,
    };
    (read, errors)
}

/// The topics of `wanted` the principal may not read: each checked once, however many of
/// its partitions are wanted, and none without an authorizer. A follower's fetch needs
/// CLUSTER_ACTION on the cluster instead (all of them, without it, as Kafka answers).
fn denied_topics(ctx: &RequestContext, wanted: &[Wanted], follower: bool) -> BTreeSet<String> {
    if ctx.broker.config.authorizer.is_none() {
        return BTreeSet::new();
    }
    let topics: BTreeSet<&str> = wanted.iter().map(|w| w.key.0.as_str()).collect();
    if follower {
        return match ctx.authorize_cluster() {
            true => BTreeSet::new(),
            false => topics.into_iter().map(str::to_owned).collect(),
        };
    }
    topics
        .into_iter()
        .filter(|name| !name.is_empty() && !ctx.authorize(ResourceType::Topic, name))
        .map(str::to_owned)
        .collect()
}

/// A partition answered with `code` alone: no offsets, no aborted transactions.
fn refused_partition(index: i32, code: ErrorCode) -> PartitionData {
    PartitionData {
        partition_index: index,
        error_code: code.0,
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        aborted_transactions: Some(Vec::new()),
        preferred_read_replica: -1,
        records: Some(Payload::default()),
        ..Default::default()
    }
}

/// The partition's answer, and the offsets its records take the consumer past.
fn read_partition(broker: &Broker, w: &Wanted, remaining: i64, first: bool, plan: &Plan) -> (PartitionData, u64) {
    let (read_committed, by_topic_id) = (plan.read_committed, plan.by_topic_id);
    let (topic, index) = (&w.key.0, w.key.1);
    let mut data = PartitionData {
        partition_index: index,
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        aborted_transactions: if read_committed { Some(Vec::new()) } else { None },
        preferred_read_replica: -1,
        records: Some(Payload::default()),
        ..Default::default()
    };
    let unknown = if by_topic_id {
        ErrorCode::UNKNOWN_TOPIC_ID
    } else {
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    };
    let hosted = match plan.from_followers {
        true => broker.partitions.get_replica(topic, index),
        false => broker.partitions.get(topic, index),
    };
    let Some(partition) = hosted else {
        // As Kafka answers a partition it cannot serve.
        return (refused_partition(index, broker.not_hosted(topic, index, unknown)), 0);
    };
    if let Err(code) = partition.check_leader_epoch(w.current_leader_epoch) {
        return (refused_partition(index, code), 0);
    }
    if let Some(replica) = preferred_read_replica(broker, &partition, plan) {
        data.preferred_read_replica = replica;
        data.high_watermark = partition.high_watermark();
        return (data, 0);
    }
    let follower = plan.replica_id >= 0;
    if follower {
        match replication::follower_fetch(
            broker,
            &partition,
            plan.replica_id,
            w.fetch_offset,
            w.last_fetched_epoch,
        ) {
            Ok(None) => {}
            Ok(Some(diverging)) => {
                data.high_watermark = partition.high_watermark();
                data.diverging_epoch = diverging;
                return (data, 0);
            }
            Err(code) => return (refused_partition(index, code), 0),
        }
    }
    let high_watermark = partition.high_watermark();
    let snapshot = match partition.snapshot() {
        Ok(snapshot) => snapshot,
        Err(e) => {
            error!(topic, partition = index, error = %e, "cannot open a log to fetch from it");
            data.error_code = ErrorCode::KAFKA_STORAGE_ERROR.0;
            return (data, 0);
        }
    };
    let last_stable = last_stable_offset(high_watermark, &snapshot);
    data.high_watermark = high_watermark;
    data.last_stable_offset = last_stable;
    data.log_start_offset = snapshot.log_start_offset();
    let limit = remaining.min(i64::from(w.max_bytes.max(0))).max(0) as usize;
    // A follower reads up to the log end: what it fetches is how the high watermark moves.
    let visible_end = match (follower, read_committed) {
        (true, _) => i64::MAX,
        (false, true) => last_stable,
        (false, false) => high_watermark,
    };
    let mut offsets = 0;
    match snapshot.read(w.fetch_offset, limit, visible_end) {
        // A batch larger than the limits goes out only as the first data of a response.
        Ok(read) if read.records.len() > limit && !first => {}
        Ok(read) => {
            if read_committed {
                let aborted = snapshot
                    .aborted_txns(w.fetch_offset, read.next_offset)
                    .into_iter()
                    .map(|txn| AbortedTransaction {
                        producer_id: txn.producer_id,
                        first_offset: txn.first_offset,
                        ..Default::default()
                    });
                data.aborted_transactions = Some(aborted.collect());
            }
            if !read.records.is_empty() {
                offsets = (read.next_offset - w.fetch_offset).max(0) as u64;
            }
            data.records = Some(read.records);
        }
        Err(LogError::OffsetOutOfRange { .. }) => {
            // Kafka tells nothing of the log with this error: the client asks ListOffsets.
            // A Tidelog follower is told the log start, to restart its log there.
            data.error_code = ErrorCode::OFFSET_OUT_OF_RANGE.0;
            data.high_watermark = -1;
            data.last_stable_offset = -1;
            if !follower {
                data.log_start_offset = -1;
            }
        }
        Err(e) => {
            error!(topic, partition = index, error = %e, "fetch read failed");
            data.error_code = ErrorCode::KAFKA_STORAGE_ERROR.0;
        }
    }
    (data, offsets)
}

/// Where a leader sends a consumer of `plan` to read `partition` instead (KIP-392, with
/// `replica.selector.class` Kafka's RackAwareReplicaSelector): an in-sync, unfenced
/// follower of the consumer's rack, unless the leader is of that rack itself.
fn preferred_read_replica(broker: &Broker, partition: &crate::partitions::Partition, plan: &Plan) -> Option<i32> {
    let asked = plan.from_followers && !plan.rack_id.is_empty();
    if !broker.config.rack_aware_replica_selector || !asked || !partition.is_leader() {
        return None;
    }
    let image = broker.metadata.image();
    let in_rack = |id: &i32| {
        let registered = image.brokers().get(id);
        registered.is_some_and(|b| !b.fenced && b.rack.as_deref() == Some(plan.rack_id.as_str()))
    };
    if in_rack(&broker.config.node_id) {
        return None;
    }
    let placed = image.partition(partition.topic_id, partition.tp.partition())?;
    placed
        .replicas
        .iter()
        .copied()
        .find(|r| placed.isr.contains(r) && in_rack(r))
}
