//! The in-memory metadata image and the events that change it.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use tidelog_protocol::{ErrorCode, Uuid};

use crate::authorizer::{AclBinding, Acls};
use crate::client_quotas::{ClientQuotaConfigs, QuotaEntity};
use crate::scram::{ScramCredential, ScramMechanism};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicMeta {
    pub name: String,
    #[serde(with = "uuid_hex")]
    pub id: Uuid,
    pub partitions: i32,
    /// Topic-level config overrides, by Kafka name (`retention.ms`, ...).
    pub configs: BTreeMap<String, String>,
    /// How many replicas each of its partitions has (its first partition's, in the metadata
    /// log); 1 in the old event log, which knew no other.
    #[serde(default = "one_replica")]
    pub replication_factor: i16,
}

fn one_replica() -> i16 {
    1
}

/// One change to the metadata, as stored in the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum MetadataEvent {
    TopicCreated(TopicMeta),
    /// A topic created on the replicas its CreateTopics named (a manual assignment, by
    /// partition), not placed by the controller. (Never in the old event log.)
    #[serde(skip)]
    TopicCreatedOn {
        topic: TopicMeta,
        replicas: Vec<Vec<i32>>,
    },
    TopicDeleted {
        name: String,
    },
    PartitionsCreated {
        name: String,
        total: i32,
        /// The new partitions' replicas as CreatePartitions named them; empty: placed by
        /// the controller.
        #[serde(skip)]
        replicas: Vec<Vec<i32>>,
    },
    TopicConfigsAltered {
        name: String,
        set: BTreeMap<String, String>,
        removed: Vec<String>,
    },
    /// Producer ids below `end` are handed out (or lost in a crash): never give them again.
    ProducerIdsAllocated {
        end: i64,
    },
    /// Finalized feature levels set through UpdateFeatures (0: no longer finalized).
    FeatureLevelsChanged {
        levels: BTreeMap<String, i16>,
    },
    /// Users' SCRAM credentials deleted and set (AlterUserScramCredentials), deletions first.
    ScramCredentialsAltered {
        deleted: Vec<(String, ScramMechanism)>,
        upserted: Vec<(String, ScramMechanism, ScramCredential)>,
    },
    /// ACLs created, with the ids their records carry. (Never in the old event log.)
    #[serde(skip)]
    AclsCreated {
        acls: Vec<(Uuid, AclBinding)>,
    },
    /// ACLs deleted, by id.
    #[serde(skip)]
    AclsDeleted {
        ids: Vec<Uuid>,
    },
    /// Client quota values set (`Some`) or removed (`None`), by entity and key
    /// (AlterClientQuotas). (Never in the old event log.)
    #[serde(skip)]
    ClientQuotasAltered {
        changes: Vec<(QuotaEntity, String, Option<f64>)>,
    },
    /// A broker registered, fenced until it has caught up. (Never in the old event log.)
    #[serde(skip)]
    BrokerRegistered(BrokerMeta),
    /// A registered broker fenced (no heartbeat for its session) or unfenced (caught up);
    /// its records also move the leadership of the replicated partitions it led, and take
    /// it out of their in-sync replicas (see `records::replicas_after_fencing`).
    #[serde(skip)]
    BrokerFenced {
        id: i32,
        epoch: i64,
        fenced: bool,
    },
    /// A partition leader's new in-sync replica set (AlterPartition), at the partition epoch
    /// the leader knew.
    #[serde(skip)]
    IsrChanged {
        topic_id: Uuid,
        partition: i32,
        isr: Vec<i32>,
    },
    /// A partition's leadership moved to `leader`, in a new leader epoch: its preferred
    /// replica (ElectLeaders, or the controller's rebalance), or, `unclean`, a replica given
    /// a leaderless partition, which becomes its only in-sync replica if it was not one
    /// (what the others have and it lacks is lost).
    #[serde(skip)]
    LeaderElected {
        topic_id: Uuid,
        partition: i32,
        leader: i32,
        unclean: bool,
    },
}

impl MetadataEvent {
    /// The topic a TopicCreated or TopicCreatedOn creates.
    pub fn created_topic(&self) -> Option<&TopicMeta> {
        match self {
            MetadataEvent::TopicCreated(topic) | MetadataEvent::TopicCreatedOn { topic, .. } => Some(topic),
            _ => None,
        }
    }
}

/// A registered broker, as its RegisterBrokerRecord has it.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerMeta {
    pub id: i32,
    /// The offset of its registration record: a registration's own epoch.
    pub epoch: i64,
    pub incarnation_id: Uuid,
    /// Its client listeners: name, host, port and security protocol (Kafka's code).
    pub endpoints: Vec<BrokerEndpoint>,
    pub rack: Option<String>,
    pub log_dirs: Vec<Uuid>,
    pub fenced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerEndpoint {
    pub listener: String,
    pub host: String,
    pub port: u16,
    pub security_protocol: i16,
}

/// Where a partition lives, as the metadata log places it: its replicas, the in-sync ones,
/// its leader (-1 while it has none) and its epochs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMeta {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

/// What a node is to a partition it holds a replica of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaRole {
    /// It leads it in `epoch`.
    Leader { epoch: i32 },
    /// It follows `leader` (-1: none for now) in `epoch`.
    Follower { leader: i32, epoch: i32 },
}

#[derive(Debug, Default, Clone)]
pub struct MetadataImage {
    topics: BTreeMap<String, TopicMeta>,
    names_by_id: HashMap<Uuid, String>,
    /// The first producer id never allocated.
    producer_ids_end: i64,
    /// Feature levels set explicitly: by the metadata log, or changed since the cluster was
    /// formatted (the rest are at their defaults, `features::SUPPORTED`).
    changed_features: BTreeMap<String, i16>,
    /// Each partition's leader and leader epoch, by topic id and partition, as the
    /// metadata log places them. (An image built from events alone, in tests and from an
    /// older Tidelog's event log, has none: its partitions are this node's, at epoch 0.)
    partitions: HashMap<Uuid, Vec<PartitionMeta>>,
    /// The registered brokers by id (none on a node that is not one of a cluster).
    brokers: BTreeMap<i32, BrokerMeta>,
    /// Grows with every change of the finalized features: clients keep the newest they see.
    /// The metadata log's offset of the change, as Kafka's.
    features_epoch: i64,
    /// SCRAM credentials by user and mechanism.
    scram_credentials: BTreeMap<(String, ScramMechanism), ScramCredential>,
    /// Every ACL, indexed for checks.
    acls: Acls,
    /// Client quota values by entity.
    client_quotas: ClientQuotaConfigs,
}

impl MetadataImage {
    pub fn apply(&mut self, event: &MetadataEvent) {
        match event {
            MetadataEvent::TopicCreated(topic) | MetadataEvent::TopicCreatedOn { topic, .. } => {
                self.insert_topic(topic.clone())
            }
            MetadataEvent::TopicDeleted { name } => {
                if let Some(topic) = self.topics.remove(name) {
                    self.names_by_id.remove(&topic.id);
                    self.partitions.remove(&topic.id);
                }
            }
            MetadataEvent::PartitionsCreated { name, total, .. } => {
                if let Some(topic) = self.topics.get_mut(name) {
                    topic.partitions = *total;
                }
            }
            MetadataEvent::TopicConfigsAltered { name, set, removed } => {
                if let Some(topic) = self.topics.get_mut(name) {
                    for key in removed {
                        topic.configs.remove(key);
                    }
                    topic.configs.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            MetadataEvent::ProducerIdsAllocated { end } => {
                self.producer_ids_end = self.producer_ids_end.max(*end);
            }
            MetadataEvent::FeatureLevelsChanged { levels } => {
                self.changed_features
                    .extend(levels.iter().map(|(k, v)| (k.clone(), *v)));
                self.features_epoch += 1;
            }
            MetadataEvent::ScramCredentialsAltered { deleted, upserted } => {
                for key in deleted {
                    self.scram_credentials.remove(key);
                }
                for (user, mechanism, credential) in upserted {
                    self.scram_credentials
                        .insert((user.clone(), *mechanism), credential.clone());
                }
            }
            MetadataEvent::AclsCreated { acls } => {
                for (id, acl) in acls {
                    self.acls.insert(*id, acl.clone());
                }
            }
            MetadataEvent::AclsDeleted { ids } => {
                for id in ids {
                    self.acls.remove(*id);
                }
            }
            MetadataEvent::ClientQuotasAltered { changes } => {
                for (entity, key, value) in changes {
                    self.client_quotas.set(entity, key, *value);
                }
            }
            MetadataEvent::BrokerRegistered(broker) => {
                self.brokers.insert(broker.id, broker.clone());
            }
            MetadataEvent::BrokerFenced { id, epoch, fenced } => {
                if let Some(broker) = self.brokers.get_mut(id).filter(|b| b.epoch == *epoch) {
                    broker.fenced = *fenced;
                }
            }
            MetadataEvent::IsrChanged {
                topic_id,
                partition,
                isr,
            } => {
                if let Some(p) = self.partition_mut(*topic_id, *partition) {
                    p.isr.clone_from(isr);
                    p.partition_epoch += 1;
                }
            }
            MetadataEvent::LeaderElected {
                topic_id,
                partition,
                leader,
                unclean,
            } => {
                if let Some(p) = self.partition_mut(*topic_id, *partition) {
                    if *unclean && !p.isr.contains(leader) {
                        p.isr = vec![*leader];
                    }
                    p.leader = *leader;
                    p.leader_epoch += 1;
                    p.partition_epoch += 1;
                }
            }
        }
    }

    /// The registered brokers, by id.
    pub fn brokers(&self) -> &BTreeMap<i32, BrokerMeta> {
        &self.brokers
    }

    /// Partition `partition` of the topic of id `topic_id`: its leader and epoch, if the
    /// metadata log placed it (see the `partitions` field).
    pub fn partition(&self, topic_id: Uuid, partition: i32) -> Option<&PartitionMeta> {
        self.partitions.get(&topic_id)?.get(usize::try_from(partition).ok()?)
    }

    fn partition_mut(&mut self, topic_id: Uuid, partition: i32) -> Option<&mut PartitionMeta> {
        self.partitions
            .get_mut(&topic_id)?
            .get_mut(usize::try_from(partition).ok()?)
    }

    /// Whether broker `id` is registered and unfenced.
    pub fn is_unfenced(&self, id: i32) -> bool {
        self.brokers.get(&id).is_some_and(|b| !b.fenced)
    }

    /// Kafka's preferred leader election of a replicated partition: its first replica, if
    /// it does not lead already (ELECTION_NOT_NEEDED) and is in sync and unfenced
    /// (PREFERRED_LEADER_NOT_AVAILABLE otherwise).
    /// A partition the image does not place (an image of events alone) is this node's only.
    pub fn preferred_leader(&self, topic_id: Uuid, partition: i32) -> Result<i32, ErrorCode> {
        let p = self
            .partition(topic_id, partition)
            .ok_or(ErrorCode::ELECTION_NOT_NEEDED)?;
        let preferred = p.replicas[0];
        if p.leader == preferred {
            return Err(ErrorCode::ELECTION_NOT_NEEDED);
        }
        match p.isr.contains(&preferred) && self.is_unfenced(preferred) {
            true => Ok(preferred),
            false => Err(ErrorCode::PREFERRED_LEADER_NOT_AVAILABLE),
        }
    }

    /// The replica an unclean election makes leader of a partition without one: its first
    /// unfenced in-sync replica, else its first unfenced one. ELECTION_NOT_NEEDED where it
    /// has a leader, ELIGIBLE_LEADERS_NOT_AVAILABLE where every replica is away.
    pub fn unclean_leader(&self, topic_id: Uuid, partition: i32) -> Result<i32, ErrorCode> {
        let p = self
            .partition(topic_id, partition)
            .filter(|p| p.leader < 0)
            .ok_or(ErrorCode::ELECTION_NOT_NEEDED)?;
        let live = |r: &&i32| self.is_unfenced(**r);
        let in_sync = p.replicas.iter().filter(live).find(|r| p.isr.contains(r));
        let chosen = in_sync.or_else(|| p.replicas.iter().find(live));
        chosen.copied().ok_or(ErrorCode::ELIGIBLE_LEADERS_NOT_AVAILABLE)
    }

    /// What `node_id` is to a partition: `None` if it holds no replica of it. (An image of
    /// events alone places everything on this node, at epoch 0.)
    pub fn role_here(&self, topic_id: Uuid, partition: i32, node_id: i32) -> Option<ReplicaRole> {
        let Some(p) = self.partition(topic_id, partition) else {
            return Some(ReplicaRole::Leader { epoch: 0 });
        };
        let epoch = p.leader_epoch;
        match p.leader == node_id {
            true => Some(ReplicaRole::Leader { epoch }),
            false if p.replicas.contains(&node_id) => Some(ReplicaRole::Follower {
                leader: p.leader,
                epoch,
            }),
            false => None,
        }
    }

    /// The replicated partitions (more than one replica) by topic id, for the controller's
    /// elections.
    pub fn placed_partitions(&self) -> impl Iterator<Item = (Uuid, i32, &PartitionMeta)> {
        self.partitions
            .iter()
            .flat_map(|(id, ps)| (0..).zip(ps).map(move |(i, p)| (*id, i, p)))
    }

    /// The leader of a partition: the one the metadata log names, else `node_id` (an image
    /// of events alone places everything on this node).
    pub fn leader(&self, topic_id: Uuid, partition: i32, node_id: i32) -> i32 {
        self.partition(topic_id, partition).map_or(node_id, |p| p.leader)
    }

    /// `user`'s SCRAM credential for `mechanism`.
    pub fn scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Option<&ScramCredential> {
        self.scram_credentials.get(&(user.to_string(), mechanism))
    }

    /// SCRAM credentials by user and mechanism, in that order.
    pub fn scram_credentials(&self) -> &BTreeMap<(String, ScramMechanism), ScramCredential> {
        &self.scram_credentials
    }

    pub fn acls(&self) -> &Acls {
        &self.acls
    }

    pub fn client_quotas(&self) -> &ClientQuotaConfigs {
        &self.client_quotas
    }

    /// The finalized feature levels, by name.
    pub fn finalized_features(&self) -> Vec<(&'static str, i16)> {
        crate::features::finalized(&self.changed_features)
    }

    /// The finalized level of `name`; 0 when it is not finalized.
    pub fn feature_level(&self, name: &str) -> i16 {
        self.changed_features
            .get(name)
            .copied()
            .or_else(|| crate::features::supported_max(name))
            .unwrap_or(0)
    }

    pub fn features_epoch(&self) -> i64 {
        self.features_epoch
    }

    /// An image holding just `topics`, for tests.
    #[cfg(test)]
    pub fn of_topics(topics: impl IntoIterator<Item = TopicMeta>) -> MetadataImage {
        let mut image = MetadataImage::default();
        for topic in topics {
            image.apply(&MetadataEvent::TopicCreated(topic));
        }
        image
    }

    /// An image of `topics` with their partitions' leaders and epochs, the registered
    /// brokers, the first producer id no block covered, every feature's level and the
    /// features' epoch: what the metadata log holds.
    pub fn restored(
        topics: Vec<(TopicMeta, Vec<PartitionMeta>)>,
        brokers: BTreeMap<i32, BrokerMeta>,
        producer_ids_end: i64,
        feature_levels: BTreeMap<String, i16>,
        features_epoch: i64,
    ) -> MetadataImage {
        let mut image = MetadataImage::default();
        for (topic, partitions) in topics {
            image.partitions.insert(topic.id, partitions);
            image.insert_topic(topic);
        }
        image.brokers = brokers;
        image.producer_ids_end = producer_ids_end;
        image.changed_features = feature_levels;
        image.features_epoch = features_epoch;
        image
    }

    fn insert_topic(&mut self, topic: TopicMeta) {
        self.names_by_id.insert(topic.id, topic.name.clone());
        self.topics.insert(topic.name.clone(), topic);
    }

    /// The leader epoch of partition `partition` of the topic of id `topic_id`.
    pub fn leader_epoch(&self, topic_id: Uuid, partition: i32) -> i32 {
        self.partition(topic_id, partition).map_or(0, |p| p.leader_epoch)
    }

    /// Sets the features' epoch to the metadata log offset of their newest change.
    pub fn set_features_epoch(&mut self, epoch: i64) {
        self.features_epoch = epoch;
    }

    /// The first producer id no block has covered yet.
    pub fn producer_ids_end(&self) -> i64 {
        self.producer_ids_end
    }

    pub fn topic(&self, name: &str) -> Option<&TopicMeta> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<&TopicMeta> {
        self.names_by_id.get(&id).and_then(|name| self.topics.get(name))
    }

    /// Topics in name order.
    pub fn topics(&self) -> impl Iterator<Item = &TopicMeta> {
        self.topics.values()
    }
}

/// Kafka's topic name rules: 1 to 249 characters from `[a-zA-Z0-9._-]`, and not `.` or
/// `..`. They also keep every name inside the data directory.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > 249 {
        return Err(format!(
            "Topic name is illegal, it can't be longer than 249 characters, topic name: {name}"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(format!(
            "Topic name {name} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// UUIDs as 32 hex digits in the event log.
mod uuid_hex {
    use serde::{Deserialize, Deserializer, Serializer};
    use tidelog_protocol::Uuid;

    pub fn serialize<S: Serializer>(id: &Uuid, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:032x}", id.as_u128()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
        let text = String::deserialize(d)?;
        u128::from_str_radix(&text, 16)
            .map(Uuid::from_u128)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        for ok in ["a", "orders", "my.topic_v2-x", &"x".repeat(249)] {
            assert!(validate_topic_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "../etc", "with space", "ü", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn events_build_the_image() {
        let mut image = MetadataImage::default();
        let topic = TopicMeta {
            name: "t".into(),
            id: Uuid::from_u128(7),
            partitions: 1,
            configs: BTreeMap::new(),
            replication_factor: 1,
        };
        image.apply(&MetadataEvent::TopicCreated(topic));
        image.apply(&MetadataEvent::PartitionsCreated {
            replicas: Vec::new(),
            name: "t".into(),
            total: 3,
        });
        let set = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
        image.apply(&MetadataEvent::TopicConfigsAltered {
            name: "t".into(),
            set,
            removed: vec![],
        });
        let t = image.topic_by_id(Uuid::from_u128(7)).unwrap();
        assert_eq!((t.partitions, t.configs["retention.ms"].as_str()), (3, "1000"));
        image.apply(&MetadataEvent::TopicDeleted { name: "t".into() });
        assert!(image.topic("t").is_none() && image.topic_by_id(Uuid::from_u128(7)).is_none());
    }

    #[test]
    fn feature_changes_are_finalized_with_a_new_epoch() {
        let mut image = MetadataImage::default();
        assert_eq!(
            (image.feature_level("transaction.version"), image.features_epoch()),
            (2, 0)
        );
        let levels = BTreeMap::from([("transaction.version".to_string(), 1)]);
        image.apply(&MetadataEvent::FeatureLevelsChanged { levels });
        assert_eq!(
            (image.feature_level("transaction.version"), image.features_epoch()),
            (1, 1)
        );
        assert_eq!(image.feature_level("group.version"), 1);
    }
}
