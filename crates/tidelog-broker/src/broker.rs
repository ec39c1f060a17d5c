//! The broker's shared state: configuration, cluster identity and metadata, and the
//! topic operations that change them.
//!
//! # Lock order
//!
//! Take locks only downwards in this list (docs/ARCHITECTURE.md, "Concurrency", says where
//! each is taken under another); none is held across an `.await`:
//!
//! 1. `Broker::topic_config_changes`
//! 2. `TransactionCoordinator::txns` (transitions allocate producer ids and append under it)
//! 3. `ProducerIdManager::block`
//! 4. `MetadataStore::image` (written to commit), then `MetadataStore::log`
//! 5. `GroupCoordinator::groups`
//! 6. `ConsumerGroups::groups`
//! 7. `Partitions::hosted`
//! 8. `LogManager::checkpointed`, then `LogManager::logs`
//! 9. a partition's log (`SharedLog`)
//! 10. `Segment::state`
//!
//! Leaves, under which nothing is taken: the flusher's pending set and threads, the fetch
//! session cache, the cleaner's `Partitions::cleaner_status`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tidelog_protocol::ErrorCode;
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::broker_sessions::BrokerSessions;
use crate::client_quotas::controller_mutation::ControllerMutationQuotaManager;
use crate::client_quotas::ClientQuotaManager;
use crate::clock::now_ms;
use crate::config::BrokerConfig;
use crate::coordinator::consumer::ConsumerGroups;
use crate::coordinator::group::{GroupCoordinator, OFFSETS_TOPIC};
use crate::coordinator::txn::{ProducerIdManager, TransactionCoordinator, TxnSettings, TRANSACTION_STATE_TOPIC};
use crate::data_dir::meta_properties::META_PROPERTIES;
use crate::data_dir::{self, Identity};
use crate::fetch_session::FetchSessionCache;
use crate::ids::{random_uuid, uuid_base64};
use crate::metadata::kraft::{Controller, KRAFT_VERSION};
use crate::metadata::records::{Placement, UNASSIGNED_DIRECTORY};
use crate::metadata::{
    validate_topic_name, MetadataEvent, MetadataImage, MetadataStore, StoreError, StoreSettings, TopicMeta,
};
use crate::metrics::Metrics;
use crate::open_files;
use crate::partitions::{compaction, Compaction, Partitions, Placed};
use crate::quorum::{Peers, QuorumError, VoterEndpoint, VoterNode};
use crate::replica_assignment;
use crate::topic_config;

/// How often the group coordinator checks session and rebalance timeouts.
const GROUP_TICK_INTERVAL: Duration = Duration::from_millis(100);

/// How often recovery points (and log starts) are checkpointed. Kafka waits 60 s
/// (`log.flush.offset.checkpoint.interval.ms`); a second bounds what recovery after a crash
/// scans to about a second of writes, and a checkpoint is one small file per log dir,
/// rewritten only when an offset in it moved.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Error)]
pub enum StartError {
    #[error("log directory {path}: {source}")]
    LogDir { path: String, source: std::io::Error },
    #[error("{0}")]
    Metadata(#[from] StoreError),
    #[error("cannot open the logs: {0}")]
    Logs(#[from] tidelog_log::LogError),
    #[error("{0}")]
    OpenFiles(String),
    #[error("meta.properties in {path} belongs to node {found}, not {expected}")]
    NodeMismatch { path: String, found: String, expected: i32 },
    #[error("meta.properties in {path} belongs to cluster {found}, not {expected} (the other log directories')")]
    ClusterMismatch {
        path: String,
        found: String,
        expected: String,
    },
    #[error("log directory {path} is already formatted (it has a meta.properties): nothing was changed")]
    AlreadyFormatted { path: String },
    #[error("controller listener {0}")]
    ControllerListener(String),
    #[error("log directory {path} is not a directory (a file is in its place)")]
    NotADirectory { path: String },
    #[error("log directory {path} is locked by another process (its .lock): one broker per directory")]
    Locked { path: String },
    #[error(
        "log directory {path} holds a metadata log (__cluster_metadata-0), which belongs in the \
         first log directory, {first}: nothing was changed"
    )]
    MetadataElsewhere { path: String, first: String },
    #[error(
        "log directory {path} holds partitions ({partition}, ...) but the metadata log {metadata} \
         is missing: starting would lose every topic, so nothing was changed; restore the \
         metadata log, or move the partition directories away"
    )]
    MetadataLost {
        path: String,
        partition: String,
        metadata: String,
    },
}

/// Checks, locks and identifies the log directories, then opens the metadata log (formatting
/// it for a new cluster, of id `new_cluster_id` or a random one). Read-only checks come
/// first: a refused start leaves every directory as it was.
fn open_metadata(
    config: &BrokerConfig,
    new_cluster_id: Option<&str>,
) -> Result<(Vec<std::fs::File>, String, MetadataStore), StartError> {
    let (dir_locks, cluster_id, settings, unwritten) = prepare_metadata(config, new_cluster_id)?;
    let metadata = MetadataStore::open(&config.log_dirs[0], &settings)?;
    if let Some(identities) = unwritten {
        data_dir::write_identities(&config.log_dirs, &identities)?;
    }
    Ok((dir_locks, cluster_id, metadata))
}

/// Checks, locks and identifies the log directories, and says how the metadata store is to
/// be opened. A new node's identities are written now; a known node's are returned, to be
/// written once its metadata has opened.
#[allow(clippy::type_complexity)]
fn prepare_metadata(
    config: &BrokerConfig,
    new_cluster_id: Option<&str>,
) -> Result<(Vec<std::fs::File>, String, StoreSettings, Option<Vec<Identity>>), StartError> {
    let found = data_dir::check(&config.log_dirs, config.node_id)?;
    let dir_locks = config
        .log_dirs
        .iter()
        .map(|dir| data_dir::lock(dir))
        .collect::<Result<Vec<_>, _>>()?;
    let cluster_id = found
        .or_else(|| new_cluster_id.map(str::to_string))
        .unwrap_or_else(|| uuid_base64(random_uuid()));
    let identities = data_dir::identities(&config.log_dirs, &cluster_id, config.node_id)?;
    let settings = store_settings(config, identities[0].directory_id(), &cluster_id)?;
    // A new node's identities are written before its metadata log is formatted: a crash
    // in between leaves them for the next start to format with, not a log whose voter names
    // a directory id no meta.properties keeps. Otherwise after the metadata opens, so a
    // start it refuses changes nothing.
    if !data_dir::has_metadata(&config.log_dirs[0]) {
        data_dir::write_identities(&config.log_dirs, &identities)?;
        return Ok((dir_locks, cluster_id, settings, None));
    }
    Ok((dir_locks, cluster_id, settings, Some(identities)))
}

/// Formats the log directories of a new node of cluster `cluster_id` (`tidelog format`, as
/// `kafka-storage.sh format --standalone`): identities and the metadata log. A directory
/// that is already formatted (it has a `meta.properties`) refuses it, changing nothing.
pub fn format_log_dirs(config: &BrokerConfig, cluster_id: &str) -> Result<(), StartError> {
    if let Some(dir) = config.log_dirs.iter().find(|dir| dir.join(META_PROPERTIES).exists()) {
        return Err(StartError::AlreadyFormatted {
            path: dir.display().to_string(),
        });
    }
    // A voter of several only formats: its first start joins the quorum, which needs the
    // other voters up.
    if config.quorum.has_other_voters(config.node_id) {
        let (_locks, _, settings, _) = prepare_metadata(config, Some(cluster_id))?;
        MetadataStore::format_if_new(&config.log_dirs[0], &settings)?;
        return Ok(());
    }
    open_metadata(config, Some(cluster_id)).map(|_| ())
}

/// How the metadata store places this node: its first log dir's id names it as the quorum's
/// voter and, when it is the only log dir, as the home of its new partitions. A quorum of one
/// serves no controller listener: its voter is named at the first client listener. A voter
/// of several reaches the others on the controller listener `controller.quorum.voters` names.
fn store_settings(
    config: &BrokerConfig,
    directory_id: tidelog_protocol::Uuid,
    cluster_id: &str,
) -> Result<StoreSettings, StartError> {
    let listener = &config.advertised_listeners[0];
    Ok(StoreSettings {
        controller: Controller {
            node_id: config.node_id,
            directory_id,
            listener: "CONTROLLER".into(),
            host: listener.host.clone(),
            port: listener.port,
        },
        placement: Placement::local(
            config.node_id,
            match config.log_dirs.len() {
                1 => directory_id,
                _ => UNASSIGNED_DIRECTORY,
            },
        ),
        log: config.metadata_log,
        after_crash: !config.log_dirs[0].join(tidelog_log::CLEAN_SHUTDOWN_MARKER).exists(),
        peers: peers(config, cluster_id)?,
    })
}

/// The voters of `controller.quorum.voters`, when they are more than this node. Every
/// voter's node is made alike on every node (no directory ids, which only each node knows
/// of itself), as the first membership entry must be the same on all.
fn peers(config: &BrokerConfig, cluster_id: &str) -> Result<Option<Peers>, StartError> {
    let Some(controller_listener) = config.controller_listeners.first() else {
        return Ok(None);
    };
    let listen = controller_listener
        .bind_addr()
        .map_err(|e| StartError::ControllerListener(format!("{}: {e}", controller_listener.name)))?;
    let listener = controller_listener.name.clone();
    let voters = config
        .quorum
        .voters
        .iter()
        .map(|voter| {
            let node = VoterNode {
                endpoints: vec![VoterEndpoint {
                    listener: listener.clone(),
                    host: voter.host.clone(),
                    port: voter.port,
                }],
                min_kraft_version: 0,
                max_kraft_version: KRAFT_VERSION,
                ..Default::default()
            };
            (voter.id as u64, node)
        })
        .collect();
    Ok(Some(Peers {
        voters,
        cluster_id: cluster_id.to_string(),
        listener,
        listen,
        election_timeout_ms: config.quorum.election_timeout_ms(),
    }))
}

/// A topic a client asks for (CreateTopics, or auto-creation): -1 partitions or
/// replication factor take the broker's defaults.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
    /// The replicas of each partition, in partition order, where the request named them
    /// (then `partitions` and `replication_factor` are -1); empty: the controller places them.
    pub assignment: Vec<Vec<i32>>,
}

/// A refused operation: the Kafka error code and a message for the client.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

pub struct Broker {
    pub config: BrokerConfig,
    pub cluster_id: String,
    pub metadata: MetadataStore,
    pub partitions: Partitions,
    pub fetch_sessions: FetchSessionCache,
    pub groups: GroupCoordinator,
    pub producer_ids: ProducerIdManager,
    pub consumer_groups: ConsumerGroups,
    pub txns: TransactionCoordinator,
    pub metrics: Metrics,
    /// The measured byte rates and request times of clients under a quota.
    pub client_quotas: ClientQuotaManager,
    /// The `controller_mutation_rate` token buckets of clients under one.
    pub controller_mutations: ControllerMutationQuotaManager,
    /// Rejected connections and frames: which are logged one by one, and the summary of
    /// the others.
    pub rejections: crate::rejections::Rejections,
    /// The brokers' sessions, which this node keeps while it leads the metadata quorum.
    pub sessions: BrokerSessions,
    /// This node is shutting down: its heartbeats ask the controller to fence it, so that
    /// its leaderships move first ([`crate::cluster::controlled_shutdown`]).
    pub shutting_down: std::sync::atomic::AtomicBool,
    /// Each log dir's directory id, in `log.dirs` order.
    pub log_dir_ids: Vec<tidelog_protocol::Uuid>,
    /// Held by a topic config change from its metadata write to its logs, so that the logs
    /// of two changes at once end with the later one, as the metadata does.
    topic_config_changes: std::sync::Mutex<()>,
    /// Each log directory's lock, held while the broker lives.
    _dir_locks: Vec<std::fs::File>,
}

impl Broker {
    /// Prepares the log directories (identity in `meta.properties`, as Kafka writes it)
    /// and replays the metadata.
    pub fn open(config: BrokerConfig) -> Result<Arc<Broker>, StartError> {
        let limit = open_files::raise_limit().map_err(|e| StartError::OpenFiles(format!("open files limit: {e}")))?;
        let budget = open_files::budget(config.log_open_files_max, limit).map_err(StartError::OpenFiles)?;
        tidelog_log::set_open_files_budget(budget);
        let (dir_locks, cluster_id, metadata) = open_metadata(&config, None)?;
        let log_dir_ids = data_dir::identities(&config.log_dirs, &cluster_id, config.node_id)?
            .iter()
            .map(Identity::directory_id)
            .collect();
        let partitions = Partitions::open(&config, &metadata.image())?;
        let topics = metadata.image().topics().count();
        info!(cluster_id, node_id = config.node_id, topics, "broker state loaded");
        let offsets_partitions = metadata
            .image()
            .topic(OFFSETS_TOPIC)
            .map_or(config.offsets_topic_num_partitions, |t| t.partitions);
        let txn_settings = TxnSettings {
            log_partitions: metadata
                .image()
                .topic(TRANSACTION_STATE_TOPIC)
                .map_or(config.transaction_state_log_num_partitions, |t| t.partitions),
            max_timeout_ms: config.transaction_max_timeout_ms,
            id_expiration_ms: config.transactional_id_expiration_ms,
        };
        let initial_delay = Duration::from_millis(config.group_initial_rebalance_delay_ms as u64);
        let producer_ids = ProducerIdManager::new(&metadata);
        let consumer_groups = ConsumerGroups::new(
            Duration::from_millis(config.group_consumer_session_timeout_ms as u64),
            Duration::from_millis(config.group_consumer_heartbeat_interval_ms as u64),
            config.group_consumer_assignors.clone(),
        );
        let client_quotas = ClientQuotaManager::new(config.quota_window);
        let sessions = BrokerSessions::new(
            cluster_id.clone(),
            Duration::from_millis(config.broker_session_timeout_ms as u64),
            Duration::from_millis(config.broker_heartbeat_interval_ms as u64),
        );
        let broker = Arc::new(Broker {
            client_quotas,
            controller_mutations: ControllerMutationQuotaManager::new(config.controller_quota_window),
            config,
            cluster_id,
            metadata,
            partitions,
            fetch_sessions: FetchSessionCache::default(),
            groups: GroupCoordinator::new(initial_delay, offsets_partitions),
            producer_ids,
            consumer_groups,
            txns: TransactionCoordinator::new(txn_settings),
            metrics: Metrics::default(),
            rejections: Default::default(),
            sessions,
            shutting_down: std::sync::atomic::AtomicBool::new(false),
            log_dir_ids,
            topic_config_changes: std::sync::Mutex::new(()),
            _dir_locks: dir_locks,
        });
        broker.groups.load(&broker.partitions, |key, value| {
            broker.consumer_groups.replay(key, value)
        })?;
        broker
            .consumer_groups
            .restore(&broker.metadata.image(), tokio::time::Instant::now());
        broker.txns.load(&broker.partitions)?;
        let weak = Arc::downgrade(&broker);
        broker.metadata.answer_brokers(Arc::new(move |request| {
            crate::cluster::answer_broker(&*weak.upgrade()?, request)
        }));
        Ok(broker)
    }

    /// Hosts the partitions of `topics` this node holds a replica of, each leader in its
    /// leader epoch, as the metadata image places them.
    pub fn host_partitions(&self, topics: &[&TopicMeta]) -> Result<(), tidelog_log::LogError> {
        let node_id = self.config.node_id;
        // Read first, so that the image is not locked while the logs are made.
        let here: HashMap<(tidelog_protocol::Uuid, i32), Placed> = {
            let image = self.metadata.image();
            topics
                .iter()
                .flat_map(|t| (0..t.partitions).map(move |p| (t, p)))
                .filter_map(|(t, p)| Some(((t.id, p), Placed::of(&image, t, p, node_id)?)))
                .collect()
        };
        self.partitions
            .create_logs(&self.config, topics, |t, p| here.get(&(t.id, p)).cloned())
    }

    /// Whether the metadata has partition `partition` of `topic`, wherever it is hosted.
    pub fn partition_exists(&self, topic: &str, partition: i32) -> bool {
        let image = self.metadata.image();
        image
            .topic(topic)
            .is_some_and(|t| (0..t.partitions).contains(&partition))
    }

    /// The error for a partition this node does not lead: NOT_LEADER_OR_FOLLOWER when it
    /// follows it, or the metadata places it on another broker (the client then asks where
    /// it went), else `unknown`.
    pub fn not_hosted(&self, topic: &str, partition: i32, unknown: ErrorCode) -> ErrorCode {
        // A replica here that does not lead (yet, or any more).
        if self.partitions.get_replica(topic, partition).is_some() {
            return ErrorCode::NOT_LEADER_OR_FOLLOWER;
        }
        let image = self.metadata.image();
        match image.topic(topic).filter(|t| (0..t.partitions).contains(&partition)) {
            Some(t) if image.leader(t.id, partition, self.config.node_id) != self.config.node_id => {
                ErrorCode::NOT_LEADER_OR_FOLLOWER
            }
            _ => unknown,
        }
    }

    /// Creates `__consumer_offsets` if it does not exist yet.
    pub fn ensure_offsets_topic(&self) -> Result<(), ApiError> {
        let segment_bytes = self.config.offsets_topic_segment_bytes;
        self.ensure_internal_topic(OFFSETS_TOPIC, self.groups.offsets_partitions(), segment_bytes)
    }

    /// Creates `__transaction_state` if it does not exist yet.
    pub fn ensure_transaction_topic(&self) -> Result<(), ApiError> {
        let segment_bytes = self.config.transaction_state_log_segment_bytes;
        self.ensure_internal_topic(
            TRANSACTION_STATE_TOPIC,
            self.txns.settings.log_partitions,
            segment_bytes,
        )
    }

    /// Creates a coordinator's topic, compacted and with segments of `segment_bytes` as Kafka
    /// creates it. Like Kafka, on first use rather than at start, so a broker without groups
    /// or transactions lists only its users' topics.
    fn ensure_internal_topic(&self, name: &str, partitions: i32, segment_bytes: i32) -> Result<(), ApiError> {
        if self.metadata.image().topic(name).is_some() {
            return Ok(());
        }
        let configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("segment.bytes".to_string(), segment_bytes.to_string()),
        ]);
        match self.create_topic(name, partitions, 1, configs, false) {
            Err(e) if e.code != ErrorCode::TOPIC_ALREADY_EXISTS => Err(e),
            _ => Ok(()),
        }
    }

    /// Creates a topic (or only validates the request): [`Broker::create_topics`] of one.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMeta, ApiError> {
        let topic = NewTopic {
            name: name.to_string(),
            partitions,
            replication_factor,
            configs,
            assignment: Vec::new(),
        };
        self.create_topics(vec![topic], validate_only)
            .pop()
            .expect("an answer for each topic")
    }

    /// Creates topics (or only validates them), each created or refused on its own; the
    /// answers are in order. The created ones' metadata is one durable append and their
    /// partitions are made together, so a request of 1000 topics costs one metadata fsync
    /// and a log dir fsync, not 1000 of each (docs/PERFORMANCE.md).
    pub fn create_topics(&self, topics: Vec<NewTopic>, validate_only: bool) -> Vec<Result<TopicMeta, ApiError>> {
        if !validate_only && self.metadata.is_cluster() && !self.metadata.leads() {
            return crate::cluster::forward_create_topics(self, topics);
        }
        let count = topics.len();
        let planned: Vec<_> = topics.into_iter().map(|topic| self.plan_topic(topic)).collect();
        // Refused if it exists, or collides with a topic that does or one created before it
        // in the same request.
        let node_id = self.config.node_id;
        let check = |image: &MetadataImage, before: &[MetadataEvent], planned: Result<MetadataEvent, ApiError>| {
            let event = planned?;
            let topic = event.created_topic().expect("a planned topic");
            let name = topic.name.as_str();
            let created_before = before
                .iter()
                .filter_map(|event| Some(event.created_topic()?.name.as_str()));
            if image.topic(name).is_some() || created_before.clone().any(|n| n == name) {
                return Err(ApiError::new(
                    ErrorCode::TOPIC_ALREADY_EXISTS,
                    format!("Topic '{name}' already exists."),
                ));
            }
            let names = image.topics().map(|t| t.name.as_str()).chain(created_before);
            if let Some(err) = colliding_topic(names, name) {
                return Err(err);
            }
            if let MetadataEvent::TopicCreatedOn { replicas, .. } = &event {
                replica_assignment::check(image, node_id, 0, replicas, None)?;
            }
            Ok(event)
        };
        let answers = if validate_only {
            let image = self.metadata.image();
            let mut accepted = Vec::new();
            planned
                .into_iter()
                .map(|topic| {
                    let answer = check(&image, &accepted, topic);
                    accepted.extend(answer.clone());
                    answer
                })
                .collect()
        } else {
            match self.metadata.commit_all(planned, check) {
                Ok(answers) => answers,
                Err(e) => return vec![Err(store_error(e)); count],
            }
        };
        let mut answers: Vec<Result<TopicMeta, ApiError>> = answers
            .into_iter()
            .map(|answer| {
                answer.map(|event| match event {
                    MetadataEvent::TopicCreated(topic) | MetadataEvent::TopicCreatedOn { topic, .. } => topic,
                    other => unreachable!("a topic check answers TopicCreated, not {other:?}"),
                })
            })
            .collect();
        if validate_only {
            return answers;
        }
        let created: Vec<&TopicMeta> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
        if let Err(e) = self.host_partitions(&created) {
            let err = storage_error(e);
            for answer in answers.iter_mut().filter(|a| a.is_ok()) {
                *answer = Err(err.clone());
            }
        }
        for topic in answers.iter().flatten() {
            info!(topic = topic.name, partitions = topic.partitions, "topic created");
        }
        answers
    }

    /// The creation of the topic `topic` asks for, with the broker's defaults for its -1s,
    /// or why it is refused whatever the metadata holds (its replication factor no more
    /// than the brokers). Its named replicas are checked against the metadata later.
    fn plan_topic(&self, topic: NewTopic) -> Result<MetadataEvent, ApiError> {
        let NewTopic {
            name,
            partitions,
            replication_factor,
            configs,
            assignment,
        } = topic;
        validate_topic_name(&name).map_err(|m| ApiError::new(ErrorCode::INVALID_TOPIC_EXCEPTION, m))?;
        if !assignment.is_empty() {
            topic_config::validate(&configs).map_err(|m| ApiError::new(ErrorCode::INVALID_CONFIG, m))?;
            let topic = TopicMeta {
                name,
                id: random_uuid(),
                partitions: assignment.len() as i32,
                configs,
                replication_factor: assignment[0].len() as i16,
            };
            return Ok(MetadataEvent::TopicCreatedOn {
                topic,
                replicas: assignment,
            });
        }
        let partitions = if partitions == -1 {
            self.config.num_partitions
        } else {
            partitions
        };
        if partitions <= 0 {
            return Err(ApiError::new(
                ErrorCode::INVALID_PARTITIONS,
                "Number of partitions must be larger than 0.",
            ));
        }
        let replication_factor = if replication_factor == -1 {
            self.config.default_replication_factor
        } else {
            replication_factor
        };
        if replication_factor <= 0 {
            return Err(ApiError::new(
                ErrorCode::INVALID_REPLICATION_FACTOR,
                "Replication factor must be larger than 0, or -1 to use the default value.",
            ));
        }
        let brokers = self.metadata.placement_brokers();
        if replication_factor as usize > brokers {
            return Err(ApiError::new(
                ErrorCode::INVALID_REPLICATION_FACTOR,
                format!(
                    "Unable to replicate the partition {replication_factor} time(s): The target replication \
                     factor of {replication_factor} cannot be reached because only {brokers} broker(s) are registered."
                ),
            ));
        }
        topic_config::validate(&configs).map_err(|m| ApiError::new(ErrorCode::INVALID_CONFIG, m))?;
        Ok(MetadataEvent::TopicCreated(TopicMeta {
            name,
            id: random_uuid(),
            partitions,
            configs,
            replication_factor,
        }))
    }

    pub fn delete_topic(&self, name: &str) -> Result<TopicMeta, ApiError> {
        let mut deleted = None;
        let committed = self.metadata.commit(|image| match image.topic(name) {
            Some(topic) => {
                deleted = Some(topic.clone());
                Ok(MetadataEvent::TopicDeleted { name: name.to_string() })
            }
            None => Err(unknown_topic(name)),
        });
        self.committed(committed)?;
        self.partitions.delete_logs(name).map_err(storage_error)?;
        info!(topic = name, "topic deleted");
        Ok(deleted.expect("set when committed"))
    }

    /// Raises a topic's partition count to `total`, the new partitions on the replicas
    /// `assignment` names (one list for each), or placed by the controller (`None`).
    pub fn create_partitions(
        &self,
        name: &str,
        total: i32,
        assignment: Option<Vec<Vec<i32>>>,
        validate_only: bool,
    ) -> Result<TopicMeta, ApiError> {
        let check = |image: &crate::metadata::MetadataImage| {
            let topic = image.topic(name).ok_or_else(|| unknown_topic(name))?;
            if total <= topic.partitions {
                return Err(ApiError::new(
                    ErrorCode::INVALID_PARTITIONS,
                    format!(
                        "Topic currently has {} partitions, which is higher than the requested {total}.",
                        topic.partitions
                    ),
                ));
            }
            let named = assignment.is_some();
            let replicas = assignment.unwrap_or_default();
            let added = total - topic.partitions;
            if named && replicas.len() != added as usize {
                return Err(ApiError::new(
                    ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                    format!(
                        "Attempted to add {added} additional partition(s), but only {} assignment(s) were specified.",
                        replicas.len()
                    ),
                ));
            }
            let replication_factor = Some(topic.replication_factor as usize);
            replica_assignment::check(
                image,
                self.config.node_id,
                topic.partitions,
                &replicas,
                replication_factor,
            )?;
            Ok(MetadataEvent::PartitionsCreated {
                name: name.to_string(),
                total,
                replicas,
            })
        };
        self.change_metadata(check, validate_only)?;
        if !validate_only {
            info!(topic = name, total, "partitions added");
        }
        let mut topic = self
            .metadata
            .image()
            .topic(name)
            .cloned()
            .ok_or_else(|| unknown_topic(name))?;
        topic.partitions = total;
        if !validate_only {
            self.host_partitions(&[&topic]).map_err(storage_error)?;
        }
        Ok(topic)
    }

    /// Replaces a topic's config overrides with what `change` makes of the current ones
    /// (AlterConfigs, IncrementalAlterConfigs), checked as CreateTopics checks them, and
    /// applies them to its partitions' logs. The produce path reads its settings from the
    /// metadata at each request, so they apply from the next one.
    pub fn alter_topic_configs(
        &self,
        name: &str,
        validate_only: bool,
        change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ApiError>,
    ) -> Result<(), ApiError> {
        let check = |image: &crate::metadata::MetadataImage| {
            let current = &image.topic(name).ok_or_else(|| unknown_topic(name))?.configs;
            let configs = change(current)?;
            topic_config::validate(&configs).map_err(|m| ApiError::new(ErrorCode::INVALID_CONFIG, m))?;
            let removed = current.keys().filter(|k| !configs.contains_key(*k)).cloned().collect();
            let set = configs.into_iter().filter(|(k, v)| current.get(k) != Some(v)).collect();
            Ok(MetadataEvent::TopicConfigsAltered {
                name: name.to_string(),
                set,
                removed,
            })
        };
        if validate_only {
            return check(&self.metadata.image()).map(|_| ());
        }
        let _one_at_a_time = self.topic_config_changes.lock().unwrap_or_else(|e| e.into_inner());
        if let MetadataEvent::TopicConfigsAltered { set, removed, .. } = self.committed(self.metadata.commit(check))? {
            info!(topic = name, ?set, ?removed, "topic configs altered");
        }
        let topic = self
            .metadata
            .image()
            .topic(name)
            .cloned()
            .ok_or_else(|| unknown_topic(name))?;
        self.partitions
            .apply_configs(&self.config, &topic)
            .map_err(storage_error)
    }

    /// Every topic a consumer group may subscribe to, with its partition count: the
    /// internal ones too, as Kafka's regex resolution does not skip them (franz-go's
    /// Test848RegexBrokerResolves counts on it).
    pub fn subscribable_topics(&self) -> BTreeMap<String, i32> {
        let image = self.metadata.image();
        image.topics().map(|t| (t.name.clone(), t.partitions)).collect()
    }

    /// Finishes a transaction (its markers, then its Complete state) in a task of its own,
    /// which goes on whether or not anyone waits for the returned handle.
    pub fn spawn_txn_completion(self: &Arc<Broker>, transactional_id: String) -> JoinHandle<Result<(), ErrorCode>> {
        let broker = self.clone();
        tokio::spawn(async move {
            let completed = broker
                .txns
                .complete(&broker.partitions, &broker.groups, &transactional_id)
                .await;
            if let Err(error) = completed {
                error!(transactional_id, ?error, "cannot complete a transaction");
            }
            completed
        })
    }

    /// Aborts the transactions past their timeout, completes the prepared ones nobody
    /// completes (after a restart, or after their markers could not be written), and
    /// forgets idle transactional ids.
    fn abort_timed_out_transactions(self: &Arc<Broker>) {
        for id in self.txns.preparing() {
            self.spawn_txn_completion(id);
        }
        let now = crate::clock::now_ms();
        for id in self.txns.timed_out(now) {
            let broker = self.clone();
            tokio::spawn(async move {
                let aborted = broker
                    .txns
                    .abort_timed_out(&broker.partitions, &broker.groups, &id)
                    .await;
                if let Err(error) = aborted {
                    error!(transactional_id = id, ?error, "cannot abort a timed-out transaction");
                }
            });
        }
        self.txns.expire(&self.partitions, now);
    }

    /// Runs periodic work until `stop` turns true: group and transaction timeouts,
    /// retention, compaction, checkpoints and the removal of deleted segment files
    /// (every second, with the checkpoints). The first transaction tick, at once, finishes the
    /// transactions the last run left prepared but without their markers. A tick in
    /// progress finishes first, so once this returns nothing of it appends any more and
    /// [`Broker::shutdown`] may close the logs.
    pub async fn run_background_tasks(self: Arc<Broker>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let txn_every = Duration::from_millis(
            self.config
                .transaction_abort_timed_out_transaction_cleanup_interval_ms
                .max(1) as u64,
        );
        let mut txn_timers = tokio::time::interval(txn_every);
        txn_timers.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let retention_every = Duration::from_millis(self.config.log_retention_check_interval_ms.max(1) as u64);
        let mut retention = tokio::time::interval(retention_every);
        let mut checkpoint = tokio::time::interval(CHECKPOINT_INTERVAL);
        checkpoint.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let offsets_every = Duration::from_millis(self.config.offsets_retention_check_interval_ms.max(1) as u64);
        let mut offsets_retention = tokio::time::interval(offsets_every);
        offsets_retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut cleaner =
            tokio::time::interval(Duration::from_millis(self.config.log_cleaner_backoff_ms.max(1) as u64));
        cleaner.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut group_timers = tokio::time::interval(GROUP_TICK_INTERVAL);
        group_timers.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if self.metadata.is_cluster() {
            tokio::spawn(crate::cluster::run(self.clone(), stop.clone()));
        }
        while !*stop.borrow() {
            tokio::select! {
                // A sender gone without a word also means stop.
                changed = stop.changed() => if changed.is_err() { break },
                _ = group_timers.tick() => {
                    let now = tokio::time::Instant::now();
                    self.groups.tick(&self.partitions, now);
                    let append = |group: &str, records: Vec<_>| self.groups.append(&self.partitions, group, records, None);
                    self.consumer_groups.tick(now, &self.subscribable_topics(), &self.metadata.image(), &append);
                }
                _ = offsets_retention.tick() => {
                    let expired = self.groups.expire_offsets(
                        &self.partitions,
                        now_ms(),
                        self.config.offsets_retention_ms,
                        |group, topic| self.consumer_groups.subscribes(group, topic),
                    );
                    if expired > 0 {
                        info!(expired, "committed offsets expired");
                    }
                }
                _ = txn_timers.tick() => self.abort_timed_out_transactions(),
                _ = retention.tick() => {
                    let broker = self.clone();
                    let _ = tokio::task::spawn_blocking(move || broker.partitions.apply_retention(broker.config.producer_id_expiration_ms)).await;
                }
                _ = cleaner.tick() => {
                    let broker = self.clone();
                    let _ = tokio::task::spawn_blocking(move || broker.clean_logs()).await;
                }
                _ = checkpoint.tick() => {
                    let broker = self.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        broker.partitions.checkpoint();
                        broker.partitions.delete_due_files();
                    }).await;
                }
            }
        }
    }

    /// Compacts the partitions of compacted topics that need it (blocking: runs on a
    /// blocking thread). The metadata image is read only to list the topics' settings.
    fn clean_logs(&self) {
        let compacted: HashMap<String, Compaction> = self
            .metadata
            .image()
            .topics()
            .filter_map(|topic| compaction(&self.config, &topic.configs).map(|c| (topic.name.clone(), c)))
            .collect();
        if !compacted.is_empty() {
            self.partitions.clean_logs(&compacted, now_ms());
        }
    }

    /// Called once the server has drained: flushes every log and marks a clean shutdown.
    pub fn shutdown(&self) {
        self.partitions.shutdown();
        info!("logs flushed and closed");
    }

    /// Checks a metadata change against the current image and, unless `validate_only`,
    /// makes it durable and applies it.
    pub fn change_metadata(
        &self,
        check: impl FnOnce(&crate::metadata::MetadataImage) -> Result<MetadataEvent, ApiError>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        match validate_only {
            true => check(&self.metadata.image()).map(drop),
            false => self.committed(self.metadata.commit(check)).map(drop),
        }
    }

    fn committed(
        &self,
        result: Result<Result<MetadataEvent, ApiError>, StoreError>,
    ) -> Result<MetadataEvent, ApiError> {
        result.map_err(store_error)?
    }
}

/// The coordinators' topics, which Kafka calls internal (`Topic.isInternal`).
pub fn is_internal_topic(name: &str) -> bool {
    name == OFFSETS_TOPIC || name == TRANSACTION_STATE_TOPIC
}

fn storage_error(e: tidelog_log::LogError) -> ApiError {
    ApiError::new(ErrorCode::KAFKA_STORAGE_ERROR, e.to_string())
}

/// A change this node could not commit: NOT_CONTROLLER where another voter leads the
/// metadata quorum (clients then find the controller, as with Kafka), else a storage error.
pub(crate) fn store_error(e: StoreError) -> ApiError {
    let code = match e {
        StoreError::Quorum(QuorumError::NotLeader { .. }) => ErrorCode::NOT_CONTROLLER,
        _ => ErrorCode::KAFKA_STORAGE_ERROR,
    };
    ApiError::new(code, e.to_string())
}

/// Kafka refuses a topic whose name equals an existing one once '.' and '_' are read
/// alike, because their metric names would be the same. The least such name is reported,
/// so the message does not depend on iteration order.
fn colliding_topic<'a>(names: impl Iterator<Item = &'a str>, name: &str) -> Option<ApiError> {
    if !name.contains(['.', '_']) {
        return None;
    }
    let normalized = |n: &str| n.replace('.', "_");
    let key = normalized(name);
    names
        .filter(|existing| *existing != name && normalized(existing) == key)
        .min()
        .map(|existing| {
            ApiError::new(
                ErrorCode::INVALID_TOPIC_EXCEPTION,
                format!("Topic '{name}' collides with existing topic: {existing}"),
            )
        })
}

/// Kafka's limit on the partitions one CreateTopics or CreatePartitions request may add
/// (KAFKA-17870, KAFKA-19673). It also keeps one request from making every later Metadata
/// response enormous.
pub const MAX_NEW_PARTITIONS_PER_REQUEST: i64 = 10_000;

/// Kafka's answer, for every topic of the request, when it adds too many partitions.
pub fn too_many_partitions() -> ApiError {
    ApiError::new(
        ErrorCode::POLICY_VIOLATION,
        "Excessively large number of partitions per request.",
    )
}

pub fn unknown_topic(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
        format!("This server does not host this topic: {name}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_internal_topics_are_created_compacted_with_their_segment_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::open(BrokerConfig {
            log_dirs: vec![dir.path().to_path_buf()],
            offsets_topic_num_partitions: 2,
            offsets_topic_segment_bytes: 16_384,
            transaction_state_log_num_partitions: 2,
            ..BrokerConfig::default()
        })
        .unwrap();
        broker.ensure_offsets_topic().unwrap();
        broker.ensure_transaction_topic().unwrap();
        let image = broker.metadata.image();
        for (topic, segment_bytes) in [(OFFSETS_TOPIC, "16384"), (TRANSACTION_STATE_TOPIC, "104857600")] {
            let configs = &image.topic(topic).unwrap().configs;
            assert_eq!(configs["cleanup.policy"], "compact", "{topic}");
            assert_eq!(configs["segment.bytes"], segment_bytes, "{topic}");
            let partition = broker.partitions.get(topic, 0).unwrap();
            let log_segment_bytes = partition.log().lock().unwrap().config().segment_bytes;
            assert_eq!(log_segment_bytes.to_string(), segment_bytes, "{topic}'s log");
        }
    }
}
