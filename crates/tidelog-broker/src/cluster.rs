//! What a node of a cluster does besides serving clients (docs/design/quorum.md §8.1): its
//! broker follows the metadata the quorum commits, whoever led it, and hosts the partitions
//! placed on it (S6); it keeps its registration with the quorum's leader
//! ([`crate::broker_lifecycle`], S9); and while it leads, it fences the brokers whose
//! session ran out ([`crate::broker_sessions`]).

use std::sync::Arc;
use std::time::Duration;

use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};
use tokio::sync::watch;
use tracing::{error, info, warn};

use tidelog_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};

use crate::broker::{ApiError, Broker, NewTopic};
use crate::config::Listener;
use crate::coordinator::txn::grant_block;
use crate::handlers::create_topics;
use crate::metadata::{MetadataImage, TopicMeta};

/// A broker as clients are told of it.
pub struct ListedBroker {
    pub id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
    pub fenced: bool,
}

/// The brokers clients are told of, at their endpoints on the listener `listener` (the one
/// the request came in on, as Kafka answers): in a cluster the unfenced registered brokers
/// that have it (and the fenced ones too if `include_fenced`, as DescribeCluster v2 may
/// ask), and always this node, at `listener` itself.
pub fn brokers(broker: &Broker, listener: &Listener, include_fenced: bool) -> Vec<ListedBroker> {
    let node_id = broker.config.node_id;
    let mut listed = vec![ListedBroker {
        id: node_id,
        host: listener.host.clone(),
        port: listener.port,
        rack: broker.config.broker_rack.clone(),
        fenced: false,
    }];
    let image = broker.metadata.image();
    let others = image.brokers().values().filter(|b| b.id != node_id);
    for registered in others.filter(|b| include_fenced || !b.fenced) {
        if let Some(endpoint) = registered.endpoints.iter().find(|e| e.listener == listener.name) {
            listed.push(ListedBroker {
                id: registered.id,
                host: endpoint.host.clone(),
                port: endpoint.port,
                rack: registered.rack.clone(),
                fenced: registered.fenced,
            });
        }
    }
    listed.sort_by_key(|b| b.id);
    listed
}

/// The controller clients send admin requests to: the quorum's leader in a cluster (-1
/// while none is known), else this node.
pub fn controller_id(broker: &Broker) -> i32 {
    match broker.metadata.is_cluster() {
        true => broker.metadata.quorum_status().leader.map_or(-1, |id| id as i32),
        false => broker.config.node_id,
    }
}

/// A partition as clients are told of it (Metadata, DescribeTopicPartitions).
pub struct PartitionView {
    /// Its leader; -1 (with LEADER_NOT_AVAILABLE) in a cluster while it has none, or its
    /// leader is fenced or not registered: the partition is offline, as Kafka answers.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Its replicas on brokers fenced or not registered.
    pub offline: Vec<i32>,
    pub error: ErrorCode,
}

pub fn partition_view(broker: &Broker, image: &MetadataImage, topic: &TopicMeta, partition: i32) -> PartitionView {
    let node_id = broker.config.node_id;
    let leader = image.leader(topic.id, partition, node_id);
    let leader_epoch = image.leader_epoch(topic.id, partition);
    let (replicas, isr) = match image.partition(topic.id, partition) {
        Some(p) => (p.replicas.clone(), p.isr.clone()),
        None => (vec![leader], vec![leader]),
    };
    let cluster = broker.metadata.is_cluster();
    let live = |id: i32| !cluster || id == node_id || image.brokers().get(&id).is_some_and(|b| !b.fenced);
    let offline = replicas.iter().copied().filter(|&r| !live(r)).collect();
    let (leader, error) = match leader >= 0 && live(leader) {
        true => (leader, ErrorCode::NONE),
        false => (-1, ErrorCode::LEADER_NOT_AVAILABLE),
    };
    PartitionView {
        leader,
        leader_epoch,
        replicas,
        isr,
        offline,
        error,
    }
}

/// What this node answers a broker asking the controller, on the controller listener: a
/// heartbeat ([`crate::broker_sessions`]), a block of producer ids, or topics to create.
/// `None` for anything else (the connection closes).
pub fn answer_broker(broker: &Broker, request: RequestBody) -> Option<ResponseBody> {
    match request {
        RequestBody::TidelogBrokerHeartbeat(r) => Some(ResponseBody::TidelogBrokerHeartbeat(
            broker.sessions.answer(&broker.metadata, r),
        )),
        RequestBody::AllocateProducerIds(r) => {
            Some(ResponseBody::AllocateProducerIds(grant_block(&broker.metadata, r)))
        }
        RequestBody::CreateTopics(r) => Some(ResponseBody::CreateTopics(create_topics::forwarded(broker, r))),
        RequestBody::AlterPartition(r) => Some(ResponseBody::AlterPartition(
            crate::replication::answer_alter_partition(broker, r),
        )),
        _ => None,
    }
}

/// Creates `topics` through the quorum's leader, as a node that does not lead it must
/// (Kafka's brokers forward CreateTopics to the controller): each one's answer, in order.
/// A topic created is answered once this node's image has it, and its partitions placed
/// here are hosted, so the client that made it can use it through this node at once.
pub fn forward_create_topics(broker: &Broker, topics: Vec<NewTopic>) -> Vec<Result<TopicMeta, ApiError>> {
    let count = topics.len();
    let request = CreateTopicsRequest {
        topics: topics
            .into_iter()
            .map(|t| CreatableTopic {
                name: t.name,
                num_partitions: t.partitions,
                replication_factor: t.replication_factor,
                assignments: (0..)
                    .zip(t.assignment)
                    .map(|(partition_index, broker_ids)| CreatableReplicaAssignment {
                        partition_index,
                        broker_ids,
                        ..Default::default()
                    })
                    .collect(),
                configs: t
                    .configs
                    .into_iter()
                    .map(|(name, value)| CreatableTopicConfig {
                        name,
                        value: Some(value),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        timeout_ms: FORWARD_TIMEOUT.as_millis() as i32,
        ..Default::default()
    };
    let unanswered = |why: String| ApiError::new(ErrorCode::NOT_CONTROLLER, why);
    let answer = match broker
        .metadata
        .ask_leader(RequestBody::CreateTopics(request), FORWARD_TIMEOUT)
    {
        Ok(ResponseBody::CreateTopics(answer)) if answer.topics.len() == count => answer,
        Ok(_) => return vec![Err(unanswered("the quorum's leader answered something else".into())); count],
        Err(why) => return vec![Err(unanswered(format!("the quorum's leader did not answer: {why}"))); count],
    };
    let answers: Vec<Result<TopicMeta, ApiError>> = answer
        .topics
        .into_iter()
        .map(|t| match ErrorCode(t.error_code) {
            ErrorCode::NONE => wait_for_topic(broker, &t.name, t.topic_id),
            code => Err(ApiError::new(code, t.error_message.unwrap_or_default())),
        })
        .collect();
    let created: Vec<&TopicMeta> = answers.iter().flatten().collect();
    if let Err(e) = broker.host_partitions(&created) {
        error!(error = %e, "cannot make the logs of partitions placed on this node");
    }
    answers
}

/// The topic `name` of id `id` once this node's image has it (within [`FORWARD_TIMEOUT`]).
fn wait_for_topic(broker: &Broker, name: &str, id: tidelog_protocol::Uuid) -> Result<TopicMeta, ApiError> {
    let deadline = std::time::Instant::now() + FORWARD_TIMEOUT;
    loop {
        if let Err(e) = broker.metadata.follow() {
            warn!(error = %e, "cannot follow the metadata");
        }
        if let Some(topic) = broker.metadata.image().topic(name).filter(|t| t.id == id) {
            return Ok(topic.clone());
        }
        if std::time::Instant::now() > deadline {
            return Err(ApiError::new(
                ErrorCode::REQUEST_TIMED_OUT,
                format!("topic {name} was created, but this node has not seen it yet"),
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How long a node shutting down waits for its leaderships to move.
const CONTROLLED_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Kafka's controlled shutdown, before a node of a cluster stops: if it leads replicated
/// partitions, its heartbeats ask the controller to fence it, which gives them new
/// leaders (their clients move at once instead of after its session runs out), and it
/// waits until its metadata shows it leads none (at most [`CONTROLLED_SHUTDOWN_TIMEOUT`]:
/// without a quorum, nothing moves).
pub async fn controlled_shutdown(broker: Arc<Broker>) {
    if !broker.metadata.is_cluster() {
        return;
    }
    let node_id = broker.config.node_id;
    let leads_replicated = |broker: &Broker| {
        let image = broker.metadata.image();
        let mut placed = image.placed_partitions();
        placed.any(|(_, _, p)| p.replicas.len() > 1 && p.leader == node_id)
    };
    if !leads_replicated(&broker) {
        return;
    }
    broker.shutting_down.store(true, std::sync::atomic::Ordering::Release);
    info!("controlled shutdown: moving this node's leaderships");
    let deadline = tokio::time::Instant::now() + CONTROLLED_SHUTDOWN_TIMEOUT;
    while leads_replicated(&broker) {
        if tokio::time::Instant::now() > deadline {
            warn!("controlled shutdown: leaderships still here after {CONTROLLED_SHUTDOWN_TIMEOUT:?}; stopping anyway");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    info!("controlled shutdown: this node leads no replicated partition");
}

/// How long a node waits for the quorum's leader to create topics it forwarded.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the broker looks for newly committed metadata.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// How often the leader looks for expired broker sessions.
const FENCE_CHECK_EVERY: Duration = Duration::from_millis(100);

/// Runs the node's cluster tasks until `stop` turns true.
pub async fn run(broker: Arc<Broker>, stop: watch::Receiver<bool>) {
    tokio::join!(
        crate::broker_lifecycle::run(broker.clone(), stop.clone()),
        follow(broker.clone(), stop.clone()),
        crate::replica_fetcher::run(broker.clone(), stop.clone()),
        crate::replication::maintain_isr(broker.clone(), stop.clone()),
        crate::replication::rebalance_leaders(broker.clone(), stop.clone()),
        crate::replication::elect_unclean_leaders(broker.clone(), stop.clone()),
        fence(broker, stop),
    );
}

/// Follows the metadata: each change committed (here or by another leader) is applied to
/// the hosted partitions, from the image as the last look left it.
async fn follow(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let mut applied = broker.metadata.image().clone();
    let mut applied_offset = broker.metadata.image_offset();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_EVERY) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        let worker = broker.clone();
        let before = std::mem::take(&mut applied);
        // The store's lock may wait for a change under way: off the runtime's threads.
        let followed = tokio::task::spawn_blocking(move || {
            if let Err(e) = worker.metadata.follow() {
                warn!(error = %e, "cannot follow the metadata");
            }
            let offset = worker.metadata.image_offset();
            let now = worker.metadata.image().clone();
            if offset != applied_offset {
                reconcile(&worker, &before, &now);
            }
            (now, offset)
        })
        .await;
        match followed {
            Ok((now, offset)) => (applied, applied_offset) = (now, offset),
            Err(e) => {
                error!(error = %e, "following the metadata failed");
                return;
            }
        }
    }
}

/// Brings the hosted partitions from what `before` placed to what `now` does: the logs of
/// the partitions led here are made, those of topics gone are deleted, and changed topic
/// configs applied. Each step is one the node that made the change took already where it
/// hosts the partitions, and does nothing again.
fn reconcile(broker: &Broker, before: &MetadataImage, now: &MetadataImage) {
    for gone in before.topics().filter(|t| now.topic_by_id(t.id).is_none()) {
        match broker.partitions.delete_logs_of(&gone.name, gone.id) {
            Ok(()) => info!(topic = gone.name, "topic deleted (followed)"),
            Err(e) => error!(topic = gone.name, error = %e, "cannot delete a deleted topic's logs"),
        }
    }
    let topics: Vec<&TopicMeta> = now.topics().collect();
    if let Err(e) = broker.host_partitions(&topics) {
        error!(error = %e, "cannot make the logs of partitions placed on this node");
    }
    broker.partitions.apply_roles(now, broker.config.node_id);
    for topic in now.topics() {
        let changed = before
            .topic_by_id(topic.id)
            .is_some_and(|old| old.configs != topic.configs);
        if changed {
            if let Err(e) = broker.partitions.apply_configs(&broker.config, topic) {
                error!(topic = topic.name, error = %e, "cannot apply a topic's new configs");
            }
        }
    }
}

/// While this node leads, fences the brokers whose session ran out.
async fn fence(broker: Arc<Broker>, stop: watch::Receiver<bool>) {
    every(FENCE_CHECK_EVERY, broker, stop, |broker| {
        broker.sessions.fence_expired(&broker.metadata)
    })
    .await;
}

/// Runs `work` every `period` until `stop` turns true, each time off the runtime's threads
/// (it may wait for the metadata quorum or the disk).
pub async fn every(
    period: Duration,
    broker: Arc<Broker>,
    mut stop: watch::Receiver<bool>,
    work: impl Fn(&Broker) + Clone + Send + 'static,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        let (worker, work) = (broker.clone(), work.clone());
        let _ = tokio::task::spawn_blocking(move || work(&worker)).await;
    }
}
