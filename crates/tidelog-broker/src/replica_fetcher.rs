//! A follower's replica fetchers, as Kafka's `ReplicaFetcherThread`: one task per leader
//! broker fetches every partition this node follows from it (Fetch with the follower's
//! `ReplicaState`, from its log end, with the epoch of its last batch), appends what comes
//! as the leader wrote it, has the flusher make it durable, and only then fetches again: the
//! offset of its next fetch tells the leader what it holds durably. A diverging epoch in the
//! answer truncates the log where it parts from the leader's (KIP-320); a log wholly below
//! the leader's log start restarts there.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tidelog_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic, ReplicaState};
use tidelog_protocol::messages::fetch_response::{FetchResponse, PartitionData};
use tidelog_protocol::{ErrorCode, Payload, RequestBody, ResponseBody};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::broker::Broker;
use crate::metadata::ReplicaRole;
use crate::partitions::Partition;
use crate::quorum::transport::ControllerClient;

/// How often the set of leaders to fetch from is looked at again.
const RESCAN_EVERY: Duration = Duration::from_millis(100);

/// How long a fetcher waits after an error before it fetches again.
const BACKOFF: Duration = Duration::from_millis(100);

/// Runs a fetcher for each leader this node follows partitions of, until `stop`.
pub async fn run(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let mut fetchers: BTreeMap<i32, JoinHandle<()>> = BTreeMap::new();
    loop {
        fetchers.retain(|_, task| !task.is_finished());
        let leaders: Vec<i32> = broker
            .partitions
            .followed()
            .into_iter()
            .map(|(leader, _)| leader)
            .collect();
        for leader in leaders {
            if leader != broker.config.node_id && !fetchers.contains_key(&leader) {
                let task = tokio::spawn(fetch_from(broker.clone(), leader, stop.clone()));
                fetchers.insert(leader, task);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RESCAN_EVERY) => {}
            _ = stop.wait_for(|stop| *stop) => break,
        }
    }
    for (_, task) in fetchers {
        task.abort();
    }
}

/// Fetches from `leader` while this node follows partitions of it.
async fn fetch_from(broker: Arc<Broker>, leader: i32, mut stop: watch::Receiver<bool>) {
    let node_id = broker.config.node_id;
    let mut client = ControllerClient::new(node_id as u64, broker.cluster_id.clone());
    info!(leader, "replica fetcher started");
    loop {
        if *stop.borrow() {
            return;
        }
        let partitions: Vec<Arc<Partition>> = broker
            .partitions
            .followed()
            .into_iter()
            .filter(|(l, _)| *l == leader)
            .map(|(_, p)| p)
            .collect();
        if partitions.is_empty() {
            info!(leader, "replica fetcher stopped: nothing followed from this leader");
            return;
        }
        let fetched = match fetch_once(&broker, &mut client, leader, &partitions).await {
            Ok(fetched) => fetched,
            Err(reason) => {
                debug!(leader, %reason, "replica fetch failed");
                false
            }
        };
        if !fetched {
            tokio::select! {
                _ = tokio::time::sleep(BACKOFF) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// One fetch of `partitions` from `leader` and what follows from its answer; whether it
/// went through without an error.
async fn fetch_once(
    broker: &Arc<Broker>,
    client: &mut ControllerClient,
    leader: i32,
    partitions: &[Arc<Partition>],
) -> Result<bool, String> {
    let address = leader_address(broker, leader).ok_or("the leader has no endpoint known")?;
    let worker = broker.clone();
    let to_fetch = partitions.to_vec();
    let (request, roles) = tokio::task::spawn_blocking(move || request_of(&worker, &to_fetch))
        .await
        .map_err(|e| e.to_string())?;
    let wait = Duration::from_millis(broker.config.replica_fetch_wait_max_ms.max(0) as u64);
    let answer = client
        .send(
            leader as u64,
            address,
            RequestBody::Fetch(request),
            wait + Duration::from_secs(10),
        )
        .await?;
    let ResponseBody::Fetch(response) = answer else {
        return Err("an answer of another kind".into());
    };
    let worker = broker.clone();
    let fetched = partitions.to_vec();
    let waits = tokio::task::spawn_blocking(move || apply(&worker, &fetched, &roles, response))
        .await
        .map_err(|e| e.to_string())?;
    let clean = waits.iter().all(|w| w.is_some());
    // Durable before the next fetch, which tells the leader so.
    for (partition, end) in fetched_ends(partitions, waits) {
        partition.wait_flushed(end).await;
    }
    Ok(clean)
}

/// The appended partitions with the log end each must be flushed to.
fn fetched_ends(partitions: &[Arc<Partition>], waits: Vec<Option<Option<i64>>>) -> Vec<(Arc<Partition>, i64)> {
    partitions
        .iter()
        .zip(waits)
        .filter_map(|(p, wait)| Some((p.clone(), wait.flatten()?)))
        .collect()
}

/// The leader's address on this node's first listener's name (the listener brokers talk
/// on), or its first endpoint.
fn leader_address(broker: &Broker, leader: i32) -> Option<String> {
    let image = broker.metadata.image();
    let registered = image.brokers().get(&leader)?;
    let name = broker.config.advertised_listeners.first().map(|l| l.name.clone());
    let endpoint = registered
        .endpoints
        .iter()
        .find(|e| Some(&e.listener) == name.as_ref())
        .or(registered.endpoints.first())?;
    Some(format!("{}:{}", endpoint.host, endpoint.port))
}

/// The Fetch of `partitions`, each from its log end (topics by id), and each one's role
/// as it is sent: its answer applies only while the role stays the same.
fn request_of(broker: &Broker, partitions: &[Arc<Partition>]) -> (FetchRequest, Vec<ReplicaRole>) {
    let node_id = broker.config.node_id;
    let mut topics: Vec<FetchTopic> = Vec::new();
    let roles = partitions.iter().map(|p| p.replica().role()).collect();
    for partition in partitions {
        let (log_start, log_end, last_epoch) = match partition.fetch_position() {
            Ok(position) => position,
            Err(e) => {
                error!(partition = %partition.tp, error = %e, "cannot read a followed log");
                continue;
            }
        };
        let fetch = FetchPartition {
            partition: partition.tp.partition(),
            current_leader_epoch: partition.replica().leader_epoch(),
            fetch_offset: log_end,
            last_fetched_epoch: last_epoch,
            log_start_offset: log_start,
            partition_max_bytes: broker.config.replica_fetch_max_bytes,
            ..Default::default()
        };
        match topics.iter_mut().find(|t| t.topic_id == partition.topic_id) {
            Some(topic) => topic.partitions.push(fetch),
            None => topics.push(FetchTopic {
                topic_id: partition.topic_id,
                partitions: vec![fetch],
                ..Default::default()
            }),
        }
    }
    let request = FetchRequest {
        replica_id: node_id,
        replica_state: ReplicaState {
            replica_id: node_id,
            replica_epoch: broker.metadata.image().brokers().get(&node_id).map_or(-1, |b| b.epoch),
            ..Default::default()
        },
        max_wait_ms: broker.config.replica_fetch_wait_max_ms,
        min_bytes: 1,
        max_bytes: broker.config.replica_fetch_response_max_bytes,
        session_id: 0,
        session_epoch: -1,
        topics,
        ..Default::default()
    };
    (request, roles)
}

/// Applies the leader's answer to each of `partitions`: `Some(end)` where records were
/// appended (the log end to flush to), `Some(None)` where nothing was to do, `None` where
/// the partition had an error.
fn apply(
    broker: &Broker,
    partitions: &[Arc<Partition>],
    roles: &[ReplicaRole],
    response: FetchResponse,
) -> Vec<Option<Option<i64>>> {
    if response.error_code != 0 {
        warn!(code = ?ErrorCode(response.error_code), "a leader refused a replica fetch");
        return vec![None; partitions.len()];
    }
    partitions
        .iter()
        .zip(roles)
        .map(|(partition, &role)| {
            let answer = response
                .responses
                .iter()
                .filter(|t| t.topic_id == partition.topic_id)
                .flat_map(|t| &t.partitions)
                .find(|p| p.partition_index == partition.tp.partition());
            let answer = answer?;
            match apply_partition(broker, partition, role, answer) {
                Ok(end) => Some(end),
                Err(reason) => {
                    debug!(partition = %partition.tp, %reason, "replica fetch of a partition failed");
                    None
                }
            }
        })
        .collect()
}

/// One partition's answer: appended (the log end to flush to), truncated, or its error.
/// Nothing is done if the partition's role is no longer `role` (a stale answer).
fn apply_partition(
    broker: &Broker,
    partition: &Arc<Partition>,
    role: ReplicaRole,
    answer: &PartitionData,
) -> Result<Option<i64>, String> {
    let failed = |e: tidelog_log::LogError| e.to_string();
    match ErrorCode(answer.error_code) {
        ErrorCode::NONE => {}
        ErrorCode::OFFSET_OUT_OF_RANGE if answer.log_start_offset >= 0 => {
            let (_, log_end, _) = partition.fetch_position().map_err(failed)?;
            if log_end < answer.log_start_offset {
                info!(partition = %partition.tp, at = answer.log_start_offset, "restarting a follower's log at its leader's log start");
                partition.restart_at(role, answer.log_start_offset).map_err(failed)?;
                return Ok(None);
            }
            return Err("offset out of range".into());
        }
        code => return Err(format!("{code:?}")),
    }
    if answer.diverging_epoch.epoch >= 0 || answer.diverging_epoch.end_offset >= 0 {
        let diverging = &answer.diverging_epoch;
        let (own_epoch, own_end) = partition.end_offset_for_epoch(diverging.epoch).map_err(failed)?;
        let (_, log_end, _) = partition.fetch_position().map_err(failed)?;
        // As Kafka's follower: to the smaller of the two ends of the diverging epoch (its
        // own end being the log end when it has no epoch that old). A truncation that would
        // cut nothing (it has none of the leader's epochs) empties the log instead: the next
        // fetch restarts at the leader's log start.
        let own_end = if own_epoch < 0 { log_end } else { own_end };
        let to = match own_end.min(diverging.end_offset) {
            to if to >= log_end => 0,
            to => to.max(0),
        };
        info!(partition = %partition.tp, epoch = diverging.epoch, from = log_end, to, "truncating a follower where it diverges from its leader");
        partition.truncate_to(role, to).map_err(failed)?;
        return Ok(None);
    }
    // The leader's log start moved (retention, DeleteRecords): so does this replica's.
    if answer.log_start_offset > 0 {
        partition
            .follow_log_start(role, answer.log_start_offset)
            .map_err(failed)?;
    }
    let records = payload_bytes(answer.records.as_ref()).map_err(|e| e.to_string())?;
    let high_watermark = partition.high_watermark();
    let appended = partition
        .append_as_follower(role, records, answer.high_watermark)
        .map_err(failed)?;
    // Consumers long-polling this follower (KIP-392) may now read further.
    if partition.high_watermark() != high_watermark {
        broker.partitions.flusher.notify_data_changed();
    }
    Ok(appended.flatten().map(|info| {
        broker.partitions.flusher.mark_dirty(partition);
        info.last_offset + 1
    }))
}

/// The record bytes of a payload, `None` when empty.
fn payload_bytes(payload: Option<&Payload>) -> std::io::Result<Option<bytes::Bytes>> {
    match payload {
        Some(p) if !p.is_empty() => Ok(Some(p.to_bytes()?)),
        _ => Ok(None),
    }
}
