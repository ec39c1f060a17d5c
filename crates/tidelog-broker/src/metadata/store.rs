//! The metadata store: Kafka's KRaft metadata log (`__cluster_metadata-0` in the first log
//! dir), kept by the metadata [`Quorum`], and the broker's image of it. Every change is
//! Kafka's metadata records, committed (so durable) before it applies, so it survives
//! restarts and Kafka's tools read it.
//!
//! A first start formats the log (as `kafka-storage.sh format --standalone` would), in a
//! staging directory renamed into place once whole; a directory an older Tidelog wrote has
//! its `tidelog-metadata.log` converted then, once, and kept renamed beside it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use thiserror::Error;
use tidelog_log::sync_dir;
use tracing::info;

use super::image::{MetadataEvent, MetadataImage};
use super::kraft::{voters, Controller, KraftError, MetadataLog, MetadataLogSettings, METADATA_DIR};
use super::legacy::{self, CONVERTED_SUFFIX, LEGACY_LOG_FILE};
use super::records::{self, Placement, Unsupported, METADATA_VERSION};
use crate::authorizer::Acls;
use crate::client_quotas::ClientQuotaConfigs;
use crate::quorum::{Peers, Quorum, QuorumError, QuorumStatus, VoterEndpoint};

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("metadata {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("metadata log: {0}")]
    Kraft(#[from] KraftError),
    #[error(transparent)]
    Quorum(#[from] QuorumError),
    #[error(
        "the metadata names topic {topic}, which this broker cannot serve: {reason}; nothing was changed",
        topic = .0.topic,
        reason = .0.reason
    )]
    Unsupported(Unsupported),
    #[error(
        "{} is an older Tidelog's metadata log, which a node joining a quorum of several voters \
         cannot convert (it starts from the voters alone): start it once without \
         controller.quorum.voters naming other nodes to convert it; nothing was changed",
        path.display()
    )]
    LegacyInQuorum { path: PathBuf },
    /// What this node asked of the quorum's leader was not given.
    #[error("{0}")]
    Controller(String),
}

/// What the store needs to know of this node.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// The quorum's only voter, for a format.
    pub controller: Controller,
    /// Where this node's new partitions are placed.
    pub placement: Placement,
    pub log: MetadataLogSettings,
    /// The broker did not shut down cleanly: a torn last batch is a crash's, and cut off.
    pub after_crash: bool,
    /// The other voters, when the quorum has several.
    pub peers: Option<Peers>,
}

impl StoreSettings {
    /// Node 1 with one log dir, for tests.
    #[cfg(test)]
    pub fn for_tests() -> StoreSettings {
        let directory = tidelog_protocol::Uuid::from_u128(77);
        StoreSettings {
            controller: Controller {
                node_id: 1,
                directory_id: directory,
                listener: "CONTROLLER".into(),
                host: "localhost".into(),
                port: 9093,
            },
            placement: Placement::local(1, directory),
            log: MetadataLogSettings::default(),
            after_crash: false,
            peers: None,
        }
    }
}

pub struct MetadataStore {
    quorum: Quorum,
    /// Held from a change's check to its application: changes are checked against every
    /// change before them.
    writer: Mutex<()>,
    image: RwLock<MetadataImage>,
    /// The image's ACLs, behind their own lock: a check while the image's lock is held
    /// (listing topics, say) takes this one only, never the image's again, whose second
    /// read would wait behind a waiting writer for ever. Replaced whole on an ACL change
    /// (after the image's, lock order image -> ACLs); readers keep the `Arc` they took.
    acls: RwLock<Arc<Acls>>,
    /// The image's client quotas, behind their own lock for the same reason, and because
    /// produce and fetch read them on every request (see `client_quotas`).
    client_quotas: RwLock<Arc<ClientQuotaConfigs>>,
    /// The metadata log's offset the image reflects (see `refresh`).
    image_offset: AtomicI64,
    placement: Placement,
    /// Whether this node is one of a cluster, whose partitions its brokers lead.
    cluster: bool,
}

impl MetadataStore {
    /// Formats the metadata log of the log dir `dir` if it has none (converting the old
    /// event log into it, if there is one), and returns its directory.
    pub fn format_if_new(dir: &Path, settings: &StoreSettings) -> Result<PathBuf, StoreError> {
        let metadata_dir = dir.join(METADATA_DIR);
        let legacy = dir.join(LEGACY_LOG_FILE);
        if !metadata_dir.exists() {
            if legacy.exists() && settings.peers.is_some() {
                // A quorum of several starts from its voters only: the old log's topics
                // would be left behind, so it is converted by a start of this node alone.
                return Err(StoreError::LegacyInQuorum { path: legacy });
            }
            let old = match legacy.exists() {
                true => Some(legacy::read(&legacy)?),
                false => None,
            };
            format(dir, settings, old.as_ref())?;
            if old.is_some() {
                // Converted: kept, renamed. (A crash before this rename leaves the old file
                // beside the KRaft log, which is never read again.)
                let kept = dir.join(format!("{LEGACY_LOG_FILE}{CONVERTED_SUFFIX}"));
                std::fs::rename(&legacy, &kept).map_err(io_err(&legacy))?;
                sync(dir)?;
                info!(kept = %kept.display(), "the old metadata log is converted into the KRaft metadata log");
            }
        }
        Ok(metadata_dir)
    }

    /// Opens the metadata log of the log dir `dir`, formatting it (or converting the old
    /// event log into it) first if there is none.
    pub fn open(dir: &Path, settings: &StoreSettings) -> Result<MetadataStore, StoreError> {
        let metadata_dir = Self::format_if_new(dir, settings)?;
        let node_id = settings.placement.node_id;
        let cluster = settings.peers.is_some();
        // Read (and after a crash, a torn last batch cut off) and its image built, and so
        // checked, before the quorum writes anything: a refused start changes nothing.
        let log = MetadataLog::open(&metadata_dir, settings.log, settings.after_crash)?;
        records::image_of(log.image(), node_id, cluster).map_err(StoreError::Unsupported)?;
        drop(log);
        // Its start elects this node and writes its term's first entry; it aborts a metadata
        // transaction the log left open, whose records never applied.
        let quorum = Quorum::start(
            &metadata_dir,
            settings.controller.node_id,
            &settings.log,
            settings.peers.as_ref(),
        )?;
        bootstrap(&quorum)?;
        let (image, offset) = broker_image(&quorum, node_id, cluster)?;
        info!(path = %metadata_dir.display(), offset, topics = image.topics().count(), "metadata loaded");
        Ok(MetadataStore {
            quorum,
            writer: Mutex::new(()),
            acls: RwLock::new(Arc::new(image.acls().clone())),
            client_quotas: RwLock::new(Arc::new(image.client_quotas().clone())),
            image: RwLock::new(image),
            image_offset: AtomicI64::new(offset),
            placement: settings.placement.clone(),
            cluster,
        })
    }

    /// Rebuilds the broker's image from the quorum's when the quorum has applied entries
    /// the image does not reflect: a change this node committed, or those another voter
    /// committed. This is the one way a committed change reaches the broker's image. Run
    /// under the writer lock.
    fn refresh(&self) -> Result<(), StoreError> {
        let newest = self.quorum.with_image(|kraft| kraft.provenance().offset);
        if newest <= self.image_offset.load(Ordering::Acquire) {
            return Ok(());
        }
        let (image, offset) = broker_image(&self.quorum, self.placement.node_id, self.cluster)?;
        *self.acls.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(image.acls().clone());
        *self.client_quotas.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(image.client_quotas().clone());
        *self.image.write().unwrap_or_else(|e| e.into_inner()) = image;
        self.image_offset.store(offset, Ordering::Release);
        Ok(())
    }

    /// Brings the broker's image up to what the quorum has committed: what another voter's
    /// changes reach this node by (docs/design/quorum.md, S6).
    pub fn follow(&self) -> Result<(), StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        self.refresh()
    }

    /// The metadata log's offset the broker's image reflects: it grows with every change.
    pub fn image_offset(&self) -> i64 {
        self.image_offset.load(Ordering::Acquire)
    }

    /// The quorum leader this node last heard from as a follower (by node id), and when.
    pub fn leader_heard(&self) -> Option<(i32, std::time::Instant)> {
        let (leader, at) = self.quorum.leader_heard()?;
        Some((i32::try_from(leader).ok()?, at))
    }

    /// Whether this node leads the metadata quorum, the only writer of the metadata.
    pub fn leads(&self) -> bool {
        self.quorum.leads()
    }

    /// Answers what brokers ask the controller, on the quorum's controller listener, with
    /// `answer` (see [`crate::cluster::answer_broker`]).
    pub fn answer_brokers(&self, answer: crate::quorum::ControllerAnswer) {
        self.quorum.answer_brokers(answer);
    }

    /// Asks the quorum's leader, as a broker asks the controller (see
    /// [`Quorum::ask_leader`]); blocks.
    pub fn ask_leader(
        &self,
        request: tidelog_protocol::RequestBody,
        ttl: std::time::Duration,
    ) -> Result<tidelog_protocol::ResponseBody, String> {
        self.quorum.ask_leader(request, ttl)
    }

    /// How many brokers a new partition's replicas may go to now: the unfenced ones of a
    /// cluster, else this node.
    pub fn placement_brokers(&self) -> usize {
        match self.cluster {
            true => Placement::over(&self.image(), &self.placement).broker_count(),
            false => 1,
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> i32 {
        self.placement.node_id
    }

    /// Whether this node is one of a cluster of several nodes.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// The ACLs now, for a check (see the `acls` field).
    pub fn acls(&self) -> Arc<Acls> {
        self.acls.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Where the metadata quorum stands (the console's overview).
    pub fn quorum_status(&self) -> QuorumStatus {
        self.quorum.status()
    }

    /// The client quotas now, for a request's accounting.
    pub fn client_quotas(&self) -> Arc<ClientQuotaConfigs> {
        self.client_quotas.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn image(&self) -> RwLockReadGuard<'_, MetadataImage> {
        self.image.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `event` durable as metadata records, then applies it. `check` runs against the
    /// current image under the write lock first, so validation and application are atomic.
    pub fn commit<E>(
        &self,
        check: impl FnOnce(&MetadataImage) -> Result<MetadataEvent, E>,
    ) -> Result<Result<MetadataEvent, E>, StoreError> {
        let mut check = Some(check);
        let mut results = self.commit_all(vec![()], |image, _, ()| (check.take().expect("one check"))(image))?;
        Ok(results.pop().expect("one result"))
    }

    /// Commits the events `check` accepts of `items` through the quorum, as one metadata
    /// transaction, then applies them; returns `check`'s answer for each item, in order. The
    /// writer lock is held from the first check to the application, and each check sees the
    /// image and the events accepted before it, so a change refused because of another in the
    /// same call (two topics whose names collide) is refused, and no other change comes
    /// between a check and its application. Readers see the image before the call until it is
    /// committed. The events of one call must be independent: each one's records are those of
    /// the image before the call.
    pub fn commit_all<T, E>(
        &self,
        items: Vec<T>,
        mut check: impl FnMut(&MetadataImage, &[MetadataEvent], T) -> Result<MetadataEvent, E>,
    ) -> Result<Vec<Result<MetadataEvent, E>>, StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        // A new leader first applies what it did not lead, and a change is checked against
        // an image as new as the log.
        self.quorum.settle()?;
        self.refresh()?;
        let mut accepted = Vec::new();
        let mut answers = Vec::with_capacity(items.len());
        let records: Vec<_> = {
            let image = self.image();
            for item in items {
                match check(&image, &accepted, item) {
                    Ok(event) => {
                        accepted.push(event);
                        answers.push(Ok(()));
                    }
                    Err(e) => answers.push(Err(e)),
                }
            }
            let placement = match self.cluster {
                true => Placement::over(&image, &self.placement),
                false => self.placement.clone(),
            };
            accepted
                .iter()
                .flat_map(|event| records::records_of(event, &image, &placement))
                .collect()
        };
        // A change that changes nothing (a config set to the value it has) writes nothing.
        if !records.is_empty() {
            self.quorum.propose(records)?;
            self.refresh()?;
        }
        let mut events = accepted.into_iter();
        Ok(answers
            .into_iter()
            .map(|answer| answer.map(|()| events.next().expect("an event for each accepted item")))
            .collect())
    }
}

/// The broker's image of the quorum's, for node `node_id`, and the offset it reflects.
fn broker_image(quorum: &Quorum, node_id: i32, cluster: bool) -> Result<(MetadataImage, i64), StoreError> {
    quorum
        .with_image(|kraft| {
            let offset = kraft.provenance().offset;
            let mut image = records::image_of(kraft, node_id, cluster)?;
            image.set_features_epoch(offset);
            Ok((image, offset))
        })
        .map_err(StoreError::Unsupported)
}

/// Makes sure the metadata holds its features (`metadata.version`), which a log formatted
/// by Kafka's tool, or for a quorum of several voters, lacks until its first leader writes
/// them, as Kafka's controller bootstraps them. A voter that does not lead waits until it
/// has applied them, or until it leads.
fn bootstrap(quorum: &Quorum) -> Result<(), StoreError> {
    const POLL: std::time::Duration = std::time::Duration::from_millis(50);
    let mut polls: u64 = 0;
    while !quorum.with_image(|image| image.features().contains_key(METADATA_VERSION)) {
        if quorum.leads() {
            match quorum.propose(records::bootstrap_features(&MetadataImage::default())) {
                Ok(_) | Err(QuorumError::NotLeader { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        polls += 1;
        if polls % 200 == 0 {
            info!("waiting for the metadata quorum's leader to write the features");
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}

/// Formats the metadata log of `dir` with `old`'s content (a conversion) or none, in a
/// staging directory renamed into place once whole: a crash leaves no half-made log. A
/// voter of several starts with the voters only: the first leader writes the rest.
fn format(dir: &Path, settings: &StoreSettings, old: Option<&MetadataImage>) -> Result<(), StoreError> {
    let staging = dir.join(format!("{METADATA_DIR}.new"));
    if staging.exists() {
        // A format a crash interrupted: never renamed, so never used.
        std::fs::remove_dir_all(&staging).map_err(io_err(&staging))?;
    }
    match &settings.peers {
        Some(peers) => MetadataLog::format(&staging, voters(&peer_controllers(peers)), settings.log)?,
        None => {
            let new = MetadataImage::default();
            let image = old.unwrap_or(&new);
            let mut log = MetadataLog::create(
                &staging,
                &settings.controller,
                records::bootstrap_features(image),
                settings.log,
            )?;
            let content = records::records_of_image(image, &settings.placement);
            if !content.is_empty() {
                log.append(content)?;
            }
        }
    }
    let metadata_dir = dir.join(METADATA_DIR);
    std::fs::rename(&staging, &metadata_dir).map_err(io_err(&staging))?;
    sync(dir)?;
    info!(path = %metadata_dir.display(), converted = old.is_some(), "metadata log formatted");
    Ok(())
}

/// The voters of `peers` as the bootstrap snapshot names them.
fn peer_controllers(peers: &Peers) -> Vec<Controller> {
    let endpoint = |endpoints: &[VoterEndpoint]| endpoints.first().cloned().unwrap_or_default();
    peers
        .voters
        .iter()
        .map(|(id, node)| {
            let VoterEndpoint { listener, host, port } = endpoint(&node.endpoints);
            Controller {
                node_id: *id as i32,
                directory_id: node.directory_id,
                listener,
                host,
                port,
            }
        })
        .collect()
}

/// Makes the renames in `dir` durable.
fn sync(dir: &Path) -> Result<(), StoreError> {
    sync_dir(dir).map_err(|source| {
        StoreError::Kraft(KraftError::Log {
            path: dir.to_path_buf(),
            source,
        })
    })
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use tidelog_protocol::Uuid;

    use super::*;
    use crate::authorizer::{AclBinding, AclOperation, PatternType, Permission, ResourceType};
    use crate::client_quotas::{entity_of, CONSUMER_BYTE_RATE, PRODUCER_BYTE_RATE};
    use crate::metadata::TopicMeta;

    fn topic(name: &str, id: u128, partitions: i32) -> TopicMeta {
        TopicMeta {
            name: name.into(),
            id: Uuid::from_u128(id),
            partitions,
            configs: BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]),
            replication_factor: 1,
        }
    }

    fn commit(store: &MetadataStore, event: MetadataEvent) {
        store.commit::<()>(|_| Ok(event)).unwrap().unwrap();
    }

    /// Everything the broker's image says, comparable.
    fn state(image: &MetadataImage) -> impl PartialEq + std::fmt::Debug {
        (
            image.topics().cloned().collect::<Vec<_>>(),
            image.producer_ids_end(),
            image.finalized_features(),
            image
                .acls()
                .iter()
                .map(|(id, acl)| (*id, acl.clone()))
                .collect::<Vec<_>>(),
        )
    }

    fn acl(name: &str) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: name.into(),
            pattern_type: PatternType::Prefixed,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::Write,
            permission: Permission::Allow,
        }
    }

    #[test]
    fn every_kind_of_change_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let before = {
            let store = MetadataStore::open(dir.path(), &StoreSettings::for_tests()).unwrap();
            commit(&store, MetadataEvent::TopicCreated(topic("a", 1, 2)));
            commit(&store, MetadataEvent::TopicCreated(topic("b", 2, 1)));
            commit(
                &store,
                MetadataEvent::PartitionsCreated {
                    name: "a".into(),
                    total: 4,
                    replicas: Vec::new(),
                },
            );
            commit(
                &store,
                MetadataEvent::TopicConfigsAltered {
                    name: "a".into(),
                    set: BTreeMap::from([("cleanup.policy".into(), "compact".into())]),
                    removed: vec!["retention.ms".into()],
                },
            );
            commit(&store, MetadataEvent::TopicDeleted { name: "b".into() });
            commit(&store, MetadataEvent::ProducerIdsAllocated { end: 2000 });
            commit(
                &store,
                MetadataEvent::FeatureLevelsChanged {
                    levels: BTreeMap::from([("group.version".into(), 0)]),
                },
            );
            let acls = vec![(Uuid::from_u128(8), acl("a")), (Uuid::from_u128(9), acl("b"))];
            commit(&store, MetadataEvent::AclsCreated { acls });
            let ids = vec![Uuid::from_u128(8)];
            commit(&store, MetadataEvent::AclsDeleted { ids });
            let user = entity_of(Some(Some("alice")), None);
            let default_client = entity_of(None, Some(None));
            let changes = vec![
                (user.clone(), PRODUCER_BYTE_RATE.to_string(), Some(1024.0)),
                (user.clone(), CONSUMER_BYTE_RATE.to_string(), Some(2048.0)),
                (default_client.clone(), PRODUCER_BYTE_RATE.to_string(), Some(10.0)),
            ];
            commit(&store, MetadataEvent::ClientQuotasAltered { changes });
            let changes = vec![(user, CONSUMER_BYTE_RATE.to_string(), None)];
            commit(&store, MetadataEvent::ClientQuotasAltered { changes });
            assert_eq!(*store.client_quotas(), store.image().client_quotas().clone());
            let image = store.image();
            assert_eq!(image.feature_level("group.version"), 0);
            assert_eq!(image.acls().id_of(&acl("b")), Some(Uuid::from_u128(9)));
            assert_eq!(image.acls().len(), 1);
            state(&image)
        };
        let store = MetadataStore::open(dir.path(), &StoreSettings::for_tests()).unwrap();
        let image = store.image();
        assert_eq!(state(&image), before);
        let a = image.topic("a").unwrap();
        assert_eq!(
            (a.partitions, a.configs.get("cleanup.policy").map(String::as_str)),
            (4, Some("compact"))
        );
        assert!(image.topic("b").is_none());
        let quotas = store.client_quotas();
        assert_eq!(quotas.entities().len(), 2);
        let alice = quotas.get(&entity_of(Some(Some("alice")), None)).unwrap();
        assert_eq!(alice, &BTreeMap::from([(PRODUCER_BYTE_RATE.to_string(), 1024.0)]));
    }

    #[test]
    fn acls_survive_a_reopen_from_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = StoreSettings::for_tests();
        // A snapshot after every batch, and the segments before it deleted.
        settings.log.snapshot_bytes = 1;
        settings.log.retention_bytes = 0;
        settings.log.retention_ms = 0;
        let ids: Vec<Uuid> = (1..=20).map(Uuid::from_u128).collect();
        {
            let store = MetadataStore::open(dir.path(), &settings).unwrap();
            for (i, id) in ids.iter().enumerate() {
                let acls = vec![(*id, acl(&format!("t{i}")))];
                commit(&store, MetadataEvent::AclsCreated { acls });
            }
            let ids = ids[..10].to_vec();
            commit(&store, MetadataEvent::AclsDeleted { ids });
        }
        let store = MetadataStore::open(dir.path(), &settings).unwrap();
        let image = store.image();
        let kept: Vec<Uuid> = image.acls().iter().map(|(id, _)| *id).collect();
        assert_eq!(kept, ids[10..].to_vec());
        assert_eq!(image.acls().id_of(&acl("t15")), Some(ids[15]));
    }

    #[test]
    fn an_old_event_log_is_converted_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let events = [
            MetadataEvent::TopicCreated(topic("kept", 5, 3)),
            MetadataEvent::TopicCreated(topic("gone", 6, 1)),
            MetadataEvent::TopicDeleted { name: "gone".into() },
            MetadataEvent::ProducerIdsAllocated { end: 3000 },
            MetadataEvent::FeatureLevelsChanged {
                levels: BTreeMap::from([("transaction.version".into(), 1)]),
            },
        ];
        let path = dir.path().join(LEGACY_LOG_FILE);
        legacy::write(&path, &events);
        let old_bytes = std::fs::read(&path).unwrap();
        let expected = state(&legacy::read(&path).unwrap());
        let store = MetadataStore::open(dir.path(), &StoreSettings::for_tests()).unwrap();
        assert_eq!(state(&store.image()), expected);
        assert_eq!(store.image().topic("kept").unwrap().id, Uuid::from_u128(5));
        assert_eq!(store.image().feature_level("transaction.version"), 1);
        drop(store);
        assert!(!path.exists());
        let kept = dir.path().join(format!("{LEGACY_LOG_FILE}{CONVERTED_SUFFIX}"));
        assert_eq!(std::fs::read(&kept).unwrap(), old_bytes);
        // The next start reads the KRaft log only.
        let store = MetadataStore::open(dir.path(), &StoreSettings::for_tests()).unwrap();
        assert_eq!(state(&store.image()), expected);
    }

    /// A node joining a quorum of several cannot carry an old event log's topics into a
    /// log that starts from the voters alone: it refuses, and the old log stays as it was.
    #[test]
    fn an_old_event_log_is_not_converted_by_a_voter_of_several() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LEGACY_LOG_FILE);
        legacy::write(&path, &[MetadataEvent::TopicCreated(topic("kept", 5, 3))]);
        let before = files(dir.path());
        let mut settings = StoreSettings::for_tests();
        settings.peers = Some(Peers {
            voters: Vec::new(),
            cluster_id: "c".into(),
            listener: "CONTROLLER".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            election_timeout_ms: 1000,
        });
        let refused = MetadataStore::open(dir.path(), &settings).err();
        assert!(
            matches!(refused, Some(StoreError::LegacyInQuorum { .. })),
            "{refused:?}"
        );
        assert_eq!(files(dir.path()), before, "nothing changed");
    }

    /// Every file under `dir` with its bytes.
    fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
            .collect()
    }

    #[test]
    fn a_replicated_topic_is_refused_naming_it_before_anything_is_written() {
        use tidelog_protocol::metadata::records::{partition_record::PartitionRecord, topic_record::TopicRecord};
        use tidelog_protocol::metadata::{MetadataRecord, VersionedRecord};
        let dir = tempfile::tempdir().unwrap();
        let settings = StoreSettings::for_tests();
        let metadata_dir = dir.path().join(METADATA_DIR);
        let mut log = MetadataLog::create(
            &metadata_dir,
            &settings.controller,
            records::bootstrap_features(&MetadataImage::default()),
            settings.log,
        )
        .unwrap();
        let id = Uuid::from_u128(3);
        let topic = MetadataRecord::TopicRecord(TopicRecord {
            name: "replicated".into(),
            topic_id: id,
            ..Default::default()
        });
        let partition = MetadataRecord::PartitionRecord(PartitionRecord {
            partition_id: 0,
            topic_id: id,
            replicas: vec![1, 2],
            isr: vec![1, 2],
            leader: 1,
            ..Default::default()
        });
        let versioned = |record| VersionedRecord { version: 0, record };
        log.append(vec![versioned(topic), versioned(partition)]).unwrap();
        drop(log);
        let before = files(&metadata_dir);
        let refused = MetadataStore::open(dir.path(), &settings).err().expect("refused");
        let message = refused.to_string();
        assert!(
            message.contains("topic replicated") && message.contains("[1, 2]"),
            "{message}"
        );
        assert_eq!(files(&metadata_dir), before, "nothing was written");
    }

    /// A change of several records reaches the log as openraft's entries: a batch of its own
    /// for each record, enclosed in a metadata transaction, so that a leader change never
    /// leaves part of it applied.
    #[test]
    fn a_change_is_a_metadata_transaction_of_one_record_batches() {
        use tidelog_protocol::metadata::{read_batch, MetadataLogRecord, MetadataRecord};
        use tidelog_protocol::records::RecordBatch;

        let dir = tempfile::tempdir().unwrap();
        let store = MetadataStore::open(dir.path(), &StoreSettings::for_tests()).unwrap();
        let before = store.quorum.with_image(|i| i.provenance().offset);
        commit(&store, MetadataEvent::TopicCreated(topic("a", 1, 2)));
        drop(store);
        let segment = dir.path().join(METADATA_DIR).join("00000000000000000000.log");
        let bytes = bytes::Bytes::from(std::fs::read(segment).unwrap());
        let records: Vec<(i32, i64, MetadataLogRecord)> = RecordBatch::iter_batches(bytes)
            .map(|batch| batch.unwrap())
            .filter(|batch| batch.base_offset() > before)
            .flat_map(|batch| {
                let count = batch.record_count();
                read_batch(&batch, 1 << 20)
                    .unwrap()
                    .into_iter()
                    .map(move |(offset, record)| (count, offset, record))
            })
            .collect();
        let kinds: Vec<_> = records
            .iter()
            .map(|(count, _, record)| match record {
                MetadataLogRecord::Metadata(r) => (*count, format!("{:?}", r.record.record_type())),
                MetadataLogRecord::Control(c) => (*count, format!("{:?}", c.control_type())),
            })
            .collect();
        let one = |kind: &str| (1, kind.to_string());
        assert_eq!(
            kinds,
            vec![
                one("BeginTransactionRecord"),
                one("TopicRecord"),
                one("ConfigRecord"),
                one("PartitionRecord"),
                one("PartitionRecord"),
                one("EndTransactionRecord"),
            ]
        );
        let offsets: Vec<i64> = records.iter().map(|(_, offset, _)| *offset).collect();
        assert_eq!(
            offsets,
            ((before + 1)..=(before + 6)).collect::<Vec<_>>(),
            "one offset each"
        );
        assert!(matches!(&records[1].2, MetadataLogRecord::Metadata(r)
            if matches!(&r.record, MetadataRecord::TopicRecord(t) if t.name == "a")));
    }

    #[test]
    fn a_change_of_nothing_is_committed_without_a_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataStore::open(dir.path(), &StoreSettings::for_tests()).unwrap();
        let end = store.quorum.with_image(|i| i.provenance().offset);
        let nothing = MetadataEvent::FeatureLevelsChanged {
            levels: BTreeMap::new(),
        };
        assert_eq!(store.commit::<()>(|_| Ok(nothing.clone())).unwrap(), Ok(nothing));
        assert_eq!(store.quorum.with_image(|i| i.provenance().offset), end);
    }

    #[test]
    fn a_refused_check_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataStore::open(dir.path(), &StoreSettings::for_tests()).unwrap();
        let end = store.quorum.with_image(|i| i.provenance().offset);
        assert_eq!(store.commit(|_| Err("no")).unwrap(), Err("no"));
        assert_eq!(store.quorum.with_image(|i| i.provenance().offset), end);
    }
}
