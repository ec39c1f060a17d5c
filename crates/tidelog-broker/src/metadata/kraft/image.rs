//! The cluster metadata as KRaft's records build it, shaped as Kafka's `MetadataImage`:
//! topics and their partitions, configs by resource, finalized features, the producer id
//! block, registered brokers and controllers, client quotas, SCRAM credentials, ACLs,
//! delegation tokens, and the quorum (kraft.version, voters, leader).
//!
//! Each piece of state is kept as the record that describes it (a partition is its
//! `PartitionRecord` with every change merged in, a broker its `RegisterBrokerRecord`), so
//! that writing a snapshot of the image is writing those records out. A record that names
//! something the image lacks (a partition of an unknown topic, a change to an unregistered
//! broker) is refused, as Kafka's replay refuses it.

use std::collections::{BTreeMap, HashMap};

use tidelog_protocol::metadata::records::{
    access_control_entry_record::AccessControlEntryRecord,
    client_quota_record::{ClientQuotaRecord, EntityData},
    config_record::ConfigRecord,
    delegation_token_record::DelegationTokenRecord,
    feature_level_record::FeatureLevelRecord,
    partition_change_record::PartitionChangeRecord,
    partition_record::PartitionRecord,
    producer_ids_record::ProducerIdsRecord,
    register_broker_record::RegisterBrokerRecord,
    register_controller_record::RegisterControllerRecord,
    topic_record::TopicRecord,
    user_scram_credential_record::UserScramCredentialRecord,
    voters_record::VotersRecord,
};
use tidelog_protocol::metadata::{KraftControlRecord, MetadataRecord, VersionedRecord};
use tidelog_protocol::Uuid;

use super::partition::merge;

/// The feature whose level says which records and versions the log may hold.
const METADATA_VERSION: &str = "metadata.version";

/// A topic and its partitions, by partition id.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    pub partitions: BTreeMap<i32, PartitionRecord>,
}

/// What a config belongs to: `resource_type` as in DescribeConfigs (2 topic, 4 broker,
/// 8 broker logger, 16 client metrics, 32 group) and its name (a broker's id, or empty for
/// the cluster-wide default).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigResource {
    pub resource_type: i8,
    pub name: String,
}

impl ConfigResource {
    pub const TOPIC: i8 = 2;
    pub const BROKER: i8 = 4;
}

/// A client quota entity: entity type (`user`, `client-id`, `ip`) to name, `None` for the
/// type's default.
pub type QuotaEntity = BTreeMap<String, Option<String>>;

/// The KRaft quorum as the control records describe it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Quorum {
    /// 0: voters from `controller.quorum.voters`; 1: voters in the log (KIP-853).
    pub kraft_version: i16,
    /// The newest `VotersRecord`, with kraft.version 1.
    pub voters: Option<VotersRecord>,
    /// The leader the newest `LeaderChangeMessage` announced, with the epoch of its batch.
    pub leader: Option<LeaderAndEpoch>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderAndEpoch {
    pub leader_id: i32,
    pub epoch: i32,
}

/// Where the image stands in the log (Kafka's `MetadataProvenance`): every record up to
/// `offset` is in it, and `epoch` is the leader epoch of that record's batch. -1 for both
/// before any record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Provenance {
    pub offset: i64,
    pub epoch: i32,
}

impl Default for Provenance {
    fn default() -> Self {
        Provenance { offset: -1, epoch: -1 }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct KraftImage {
    topics: BTreeMap<Uuid, TopicImage>,
    topic_ids: HashMap<String, Uuid>,
    configs: BTreeMap<ConfigResource, BTreeMap<String, String>>,
    features: BTreeMap<String, i16>,
    producer_ids: Option<ProducerIdsRecord>,
    brokers: BTreeMap<i32, RegisterBrokerRecord>,
    controllers: BTreeMap<i32, RegisterControllerRecord>,
    client_quotas: BTreeMap<QuotaEntity, BTreeMap<String, f64>>,
    scram_credentials: BTreeMap<(String, i8), UserScramCredentialRecord>,
    acls: BTreeMap<Uuid, AccessControlEntryRecord>,
    delegation_tokens: BTreeMap<String, DelegationTokenRecord>,
    quorum: Quorum,
    provenance: Provenance,
}

impl KraftImage {
    /// Applies a metadata record. Transaction markers change nothing here: the replay holds
    /// back or drops the records they enclose.
    pub(super) fn apply(&mut self, record: MetadataRecord) -> Result<(), String> {
        match record {
            MetadataRecord::TopicRecord(r) => {
                self.topic_ids.insert(r.name.clone(), r.topic_id);
                let topic = TopicImage {
                    name: r.name,
                    id: r.topic_id,
                    partitions: BTreeMap::new(),
                };
                self.topics.insert(r.topic_id, topic);
            }
            MetadataRecord::PartitionRecord(r) => {
                self.topic_mut(r.topic_id)?.partitions.insert(r.partition_id, r);
            }
            MetadataRecord::PartitionChangeRecord(r) => {
                let topic = self.topic_mut(r.topic_id)?;
                let partition = topic
                    .partitions
                    .get_mut(&r.partition_id)
                    .ok_or_else(|| format!("no partition {} in topic {}", r.partition_id, topic.name))?;
                merge(partition, &r);
            }
            MetadataRecord::RemoveTopicRecord(r) => {
                let topic = self
                    .topics
                    .remove(&r.topic_id)
                    .ok_or_else(|| format!("no topic with id {}", r.topic_id))?;
                self.topic_ids.remove(&topic.name);
                self.configs.remove(&ConfigResource {
                    resource_type: ConfigResource::TOPIC,
                    name: topic.name,
                });
            }
            MetadataRecord::ClearElrRecord(r) => self.clear_elr(&r.topic_name)?,
            MetadataRecord::ConfigRecord(r) => {
                let resource = ConfigResource {
                    resource_type: r.resource_type,
                    name: r.resource_name,
                };
                update(&mut self.configs, resource, r.name, r.value);
            }
            MetadataRecord::FeatureLevelRecord(r) => match r.feature_level {
                0 => {
                    self.features.remove(&r.name);
                }
                level => {
                    self.features.insert(r.name, level);
                }
            },
            MetadataRecord::ProducerIdsRecord(r) => self.producer_ids = Some(r),
            MetadataRecord::RegisterBrokerRecord(r) => {
                self.brokers.insert(r.broker_id, r);
            }
            MetadataRecord::UnregisterBrokerRecord(r) => {
                self.brokers.remove(&r.broker_id);
            }
            MetadataRecord::FenceBrokerRecord(r) => self.broker_mut(r.id, r.epoch)?.fenced = true,
            MetadataRecord::UnfenceBrokerRecord(r) => self.broker_mut(r.id, r.epoch)?.fenced = false,
            MetadataRecord::BrokerRegistrationChangeRecord(r) => {
                let broker = self.broker_mut(r.broker_id, r.broker_epoch)?;
                match r.fenced {
                    -1 => broker.fenced = false,
                    0 => {}
                    1 => broker.fenced = true,
                    other => return Err(format!("unknown fencing change {other}")),
                }
                // Only into a controlled shutdown: a new registration ends it.
                match r.in_controlled_shutdown {
                    0 => {}
                    1 => broker.in_controlled_shutdown = true,
                    other => return Err(format!("unknown controlled shutdown change {other}")),
                }
                if !r.log_dirs.is_empty() {
                    broker.log_dirs = r.log_dirs;
                }
                if r.cordoned_log_dirs.is_some() {
                    broker.cordoned_log_dirs = r.cordoned_log_dirs;
                }
            }
            MetadataRecord::RegisterControllerRecord(r) => {
                self.controllers.insert(r.controller_id, r);
            }
            MetadataRecord::UnregisterControllerRecord(r) => {
                self.controllers.remove(&r.controller_id);
            }
            MetadataRecord::ClientQuotaRecord(r) => {
                let entity = r
                    .entity
                    .iter()
                    .map(|e| (e.entity_type.clone(), e.entity_name.clone()))
                    .collect();
                update(&mut self.client_quotas, entity, r.key, (!r.remove).then_some(r.value));
            }
            MetadataRecord::UserScramCredentialRecord(r) => {
                self.scram_credentials.insert((r.name.clone(), r.mechanism), r);
            }
            MetadataRecord::RemoveUserScramCredentialRecord(r) => {
                self.scram_credentials.remove(&(r.name, r.mechanism));
            }
            MetadataRecord::AccessControlEntryRecord(r) => {
                self.acls.insert(r.id, r);
            }
            MetadataRecord::RemoveAccessControlEntryRecord(r) => {
                self.acls
                    .remove(&r.id)
                    .ok_or_else(|| format!("no ACL with id {}", r.id))?;
            }
            MetadataRecord::DelegationTokenRecord(r) => {
                self.delegation_tokens.insert(r.token_id.clone(), r);
            }
            MetadataRecord::RemoveDelegationTokenRecord(r) => {
                self.delegation_tokens.remove(&r.token_id);
            }
            // A ZooKeeper migration's state means nothing once ZooKeeper is gone (Kafka 4).
            MetadataRecord::NoOpRecord(_)
            | MetadataRecord::ZkMigrationStateRecord(_)
            | MetadataRecord::BeginTransactionRecord(_)
            | MetadataRecord::EndTransactionRecord(_)
            | MetadataRecord::AbortTransactionRecord(_) => {}
        }
        Ok(())
    }

    /// Applies a KRaft control record of a batch of leader epoch `epoch`. Snapshot headers
    /// and footers carry no state.
    pub(super) fn apply_control(&mut self, epoch: i32, record: &KraftControlRecord) {
        match record {
            KraftControlRecord::LeaderChangeMessage(r) => {
                self.quorum.leader = Some(LeaderAndEpoch {
                    leader_id: r.leader_id,
                    epoch,
                })
            }
            KraftControlRecord::KraftVersionRecord(r) => self.quorum.kraft_version = r.kraft_version,
            KraftControlRecord::VotersRecord(r) => self.quorum.voters = Some(r.clone()),
            KraftControlRecord::SnapshotHeaderRecord(_) | KraftControlRecord::SnapshotFooterRecord(_) => {}
        }
    }

    pub(super) fn set_provenance(&mut self, provenance: Provenance) {
        self.provenance = provenance;
    }

    fn topic_mut(&mut self, id: Uuid) -> Result<&mut TopicImage, String> {
        self.topics.get_mut(&id).ok_or_else(|| format!("no topic with id {id}"))
    }

    /// The registration of broker `id` at `epoch`: a change for another incarnation is refused.
    fn broker_mut(&mut self, id: i32, epoch: i64) -> Result<&mut RegisterBrokerRecord, String> {
        match self.brokers.get_mut(&id) {
            Some(broker) if broker.broker_epoch == epoch => Ok(broker),
            Some(broker) => Err(format!("broker {id} is at epoch {}, not {epoch}", broker.broker_epoch)),
            None => Err(format!("no broker {id}")),
        }
    }

    /// Empties the eligible leader replicas of the topic named (of every topic when the name
    /// is empty), as a partition change each, as Kafka replays it.
    fn clear_elr(&mut self, topic_name: &str) -> Result<(), String> {
        let ids: Vec<Uuid> = match topic_name {
            "" => self.topics.keys().copied().collect(),
            name => vec![*self.topic_ids.get(name).ok_or_else(|| format!("no topic {name}"))?],
        };
        for id in ids {
            for partition in self.topic_mut(id)?.partitions.values_mut() {
                let has_elr = |elr: &Option<Vec<i32>>| elr.as_ref().is_some_and(|elr| !elr.is_empty());
                if has_elr(&partition.eligible_leader_replicas) || has_elr(&partition.last_known_elr) {
                    let change = PartitionChangeRecord {
                        partition_id: partition.partition_id,
                        topic_id: id,
                        eligible_leader_replicas: Some(vec![]),
                        last_known_elr: Some(vec![]),
                        ..Default::default()
                    };
                    merge(partition, &change);
                }
            }
        }
        Ok(())
    }

    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topic_ids.get(name).and_then(|id| self.topics.get(id))
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<&TopicImage> {
        self.topics.get(&id)
    }

    /// Topics in id order.
    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> {
        self.topics.values()
    }

    /// The configs set on a resource, by name; empty when none is.
    pub fn configs(&self, resource_type: i8, name: &str) -> BTreeMap<&str, &str> {
        self.owned_configs(resource_type, name)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// The configs of the resource, as the image keeps them; `None` without any.
    pub fn owned_configs(&self, resource_type: i8, name: &str) -> Option<&BTreeMap<String, String>> {
        let resource = ConfigResource {
            resource_type,
            name: name.to_string(),
        };
        self.configs.get(&resource)
    }

    /// Every resource with configs set.
    pub fn config_resources(&self) -> impl Iterator<Item = &ConfigResource> {
        self.configs.keys()
    }

    /// Finalized feature levels by name (`metadata.version`, `group.version`, ...); kraft.version
    /// is the quorum's.
    pub fn features(&self) -> &BTreeMap<String, i16> {
        &self.features
    }

    /// The newest producer id block handed out: ids from its `next_producer_id` on are free.
    pub fn producer_ids(&self) -> Option<&ProducerIdsRecord> {
        self.producer_ids.as_ref()
    }

    pub fn brokers(&self) -> &BTreeMap<i32, RegisterBrokerRecord> {
        &self.brokers
    }

    pub fn controllers(&self) -> &BTreeMap<i32, RegisterControllerRecord> {
        &self.controllers
    }

    /// Quota values by key (`producer_byte_rate`, ...), by entity.
    pub fn client_quotas(&self) -> &BTreeMap<QuotaEntity, BTreeMap<String, f64>> {
        &self.client_quotas
    }

    /// SCRAM credentials by user and mechanism (1 SCRAM-SHA-256, 2 SCRAM-SHA-512).
    pub fn scram_credentials(&self) -> &BTreeMap<(String, i8), UserScramCredentialRecord> {
        &self.scram_credentials
    }

    /// ACLs by id.
    pub fn acls(&self) -> &BTreeMap<Uuid, AccessControlEntryRecord> {
        &self.acls
    }

    /// Delegation tokens by token id.
    pub fn delegation_tokens(&self) -> &BTreeMap<String, DelegationTokenRecord> {
        &self.delegation_tokens
    }

    pub fn quorum(&self) -> &Quorum {
        &self.quorum
    }

    pub fn provenance(&self) -> Provenance {
        self.provenance
    }

    /// Metadata records that rebuild the image (without its quorum, which control records
    /// carry): what a snapshot holds, in the order Kafka's `MetadataImage.write` writes
    /// them, metadata.version first so that a reader knows it before anything else. Each at
    /// the version the image's metadata.version writes, so that the Kafka that wrote the
    /// log reads the snapshot too.
    pub fn records(&self) -> Vec<VersionedRecord> {
        let level = self.features.get(METADATA_VERSION).copied().unwrap_or(0);
        self.unversioned_records()
            .into_iter()
            .map(|record| VersionedRecord {
                version: version_for(&record, level),
                record,
            })
            .collect()
    }

    fn unversioned_records(&self) -> Vec<MetadataRecord> {
        let (metadata_version, others): (Vec<_>, Vec<_>) =
            self.features.iter().partition(|(name, _)| *name == METADATA_VERSION);
        let mut records: Vec<MetadataRecord> = metadata_version
            .into_iter()
            .chain(others)
            .map(|(name, &feature_level)| {
                MetadataRecord::FeatureLevelRecord(FeatureLevelRecord {
                    name: name.clone(),
                    feature_level,
                    ..Default::default()
                })
            })
            .collect();
        records.extend(self.brokers.values().cloned().map(MetadataRecord::RegisterBrokerRecord));
        records.extend(
            self.controllers
                .values()
                .cloned()
                .map(MetadataRecord::RegisterControllerRecord),
        );
        for topic in self.topics.values() {
            records.push(MetadataRecord::TopicRecord(TopicRecord {
                name: topic.name.clone(),
                topic_id: topic.id,
                ..Default::default()
            }));
            records.extend(topic.partitions.values().cloned().map(MetadataRecord::PartitionRecord));
        }
        for (resource, entries) in &self.configs {
            records.extend(entries.iter().map(|(name, value)| {
                MetadataRecord::ConfigRecord(ConfigRecord {
                    resource_type: resource.resource_type,
                    resource_name: resource.name.clone(),
                    name: name.clone(),
                    value: Some(value.clone()),
                    ..Default::default()
                })
            }));
        }
        for (entity, quotas) in &self.client_quotas {
            records.extend(
                quotas
                    .iter()
                    .map(|(key, &value)| client_quota_record(entity, key, Some(value))),
            );
        }
        records.extend(self.producer_ids.iter().cloned().map(MetadataRecord::ProducerIdsRecord));
        records.extend(
            self.acls
                .values()
                .cloned()
                .map(MetadataRecord::AccessControlEntryRecord),
        );
        records.extend(
            self.scram_credentials
                .values()
                .cloned()
                .map(MetadataRecord::UserScramCredentialRecord),
        );
        records.extend(
            self.delegation_tokens
                .values()
                .cloned()
                .map(MetadataRecord::DelegationTokenRecord),
        );
        records
    }
}

/// metadata.version 4.3-IV0: brokers register with their cordoned log dirs (KIP-1066).
const METADATA_VERSION_4_3_IV0: i16 = 30;

/// The version Kafka writes `record` at under metadata.version `level`: the newest this
/// build knows, but RegisterBrokerRecord v4, which Kafka 4.0-4.2 cannot read, only from
/// 4.3-IV0 on. (Older versions of the rest are for metadata.versions before Kafka 4.)
fn version_for(record: &MetadataRecord, level: i16) -> i16 {
    match record {
        MetadataRecord::RegisterBrokerRecord(_) if level < METADATA_VERSION_4_3_IV0 => 3,
        _ => record.record_type().max_version(),
    }
}

/// Sets `key` of `owner`'s entries to `value`, or removes it for `None`; an owner left with
/// no entry is removed.
/// The record that sets (`Some`) or removes `key` of the quota entity `entity`.
pub fn client_quota_record(entity: &QuotaEntity, key: &str, value: Option<f64>) -> MetadataRecord {
    let entity = entity
        .iter()
        .map(|(entity_type, entity_name)| EntityData {
            entity_type: entity_type.clone(),
            entity_name: entity_name.clone(),
            ..Default::default()
        })
        .collect();
    MetadataRecord::ClientQuotaRecord(ClientQuotaRecord {
        entity,
        key: key.to_string(),
        value: value.unwrap_or(0.0),
        remove: value.is_none(),
        ..Default::default()
    })
}

fn update<O: Ord, V>(map: &mut BTreeMap<O, BTreeMap<String, V>>, owner: O, key: String, value: Option<V>) {
    match value {
        Some(value) => {
            map.entry(owner).or_default().insert(key, value);
        }
        None => {
            if let Some(entries) = map.get_mut(&owner) {
                entries.remove(&key);
                if entries.is_empty() {
                    map.remove(&owner);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tidelog_protocol::metadata::records::{
        broker_registration_change_record::BrokerRegistrationChangeRecord, clear_elr_record::ClearElrRecord,
        remove_access_control_entry_record::RemoveAccessControlEntryRecord, remove_topic_record::RemoveTopicRecord,
        remove_user_scram_credential_record::RemoveUserScramCredentialRecord,
        unregister_broker_record::UnregisterBrokerRecord,
    };

    use super::*;

    fn applied(image: &mut KraftImage, records: impl IntoIterator<Item = MetadataRecord>) {
        for record in records {
            image.apply(record).unwrap();
        }
    }

    fn config(name: &str, value: Option<&str>) -> MetadataRecord {
        MetadataRecord::ConfigRecord(ConfigRecord {
            resource_type: ConfigResource::TOPIC,
            resource_name: "t".into(),
            name: name.into(),
            value: value.map(Into::into),
            ..Default::default()
        })
    }

    #[test]
    fn topics_partitions_and_their_configs() {
        let id = Uuid::from_u128(7);
        let mut image = KraftImage::default();
        let partition = PartitionRecord {
            partition_id: 0,
            topic_id: id,
            partition_epoch: 3,
            eligible_leader_replicas: Some(vec![2]),
            ..Default::default()
        };
        applied(
            &mut image,
            [
                MetadataRecord::TopicRecord(TopicRecord {
                    name: "t".into(),
                    topic_id: id,
                    ..Default::default()
                }),
                MetadataRecord::PartitionRecord(partition),
                config("retention.ms", Some("1")),
                config("segment.ms", Some("2")),
                config("retention.ms", None),
                MetadataRecord::ClearElrRecord(ClearElrRecord::default()),
            ],
        );
        assert_eq!(
            image.configs(ConfigResource::TOPIC, "t"),
            BTreeMap::from([("segment.ms", "2")])
        );
        let p = &image.topic("t").unwrap().partitions[&0];
        assert_eq!(
            (p.eligible_leader_replicas.as_deref(), p.partition_epoch),
            (Some(&[][..]), 4)
        );

        applied(
            &mut image,
            [MetadataRecord::RemoveTopicRecord(RemoveTopicRecord {
                topic_id: id,
                ..Default::default()
            })],
        );
        assert!(image.topic("t").is_none() && image.topic_by_id(id).is_none());
        assert_eq!(
            image.config_resources().count(),
            0,
            "a deleted topic's configs go with it"
        );
        let orphan = PartitionRecord {
            topic_id: id,
            ..Default::default()
        };
        assert!(image.apply(MetadataRecord::PartitionRecord(orphan)).is_err());
    }

    #[test]
    fn features_brokers_quotas_credentials_and_acls() {
        let mut image = KraftImage::default();
        let feature = |level| {
            MetadataRecord::FeatureLevelRecord(FeatureLevelRecord {
                name: "group.version".into(),
                feature_level: level,
                ..Default::default()
            })
        };
        applied(&mut image, [feature(1)]);
        assert_eq!(image.features()["group.version"], 1);
        applied(&mut image, [feature(0)]);
        assert!(image.features().is_empty(), "level 0 is no longer finalized");

        let broker = RegisterBrokerRecord {
            broker_id: 2,
            broker_epoch: 5,
            ..Default::default()
        };
        let change = |epoch, fenced| {
            MetadataRecord::BrokerRegistrationChangeRecord(BrokerRegistrationChangeRecord {
                broker_id: 2,
                broker_epoch: epoch,
                fenced,
                ..Default::default()
            })
        };
        applied(
            &mut image,
            [MetadataRecord::RegisterBrokerRecord(broker), change(5, -1)],
        );
        assert!(!image.brokers()[&2].fenced);
        assert!(image.apply(change(4, 1)).is_err(), "another incarnation's change");
        applied(
            &mut image,
            [MetadataRecord::UnregisterBrokerRecord(UnregisterBrokerRecord {
                broker_id: 2,
                ..Default::default()
            })],
        );
        assert!(image.brokers().is_empty());

        let quota = |remove| {
            MetadataRecord::ClientQuotaRecord(ClientQuotaRecord {
                entity: vec![EntityData {
                    entity_type: "user".into(),
                    entity_name: None,
                    ..Default::default()
                }],
                key: "producer_byte_rate".into(),
                value: 1024.0,
                remove,
                ..Default::default()
            })
        };
        applied(&mut image, [quota(false)]);
        let default_user = QuotaEntity::from([("user".to_string(), None)]);
        assert_eq!(image.client_quotas()[&default_user]["producer_byte_rate"], 1024.0);
        applied(&mut image, [quota(true)]);
        assert!(image.client_quotas().is_empty());

        let scram = UserScramCredentialRecord {
            name: "alice".into(),
            mechanism: 2,
            iterations: 4096,
            ..Default::default()
        };
        applied(&mut image, [MetadataRecord::UserScramCredentialRecord(scram)]);
        assert_eq!(image.scram_credentials()[&("alice".to_string(), 2)].iterations, 4096);
        applied(
            &mut image,
            [MetadataRecord::RemoveUserScramCredentialRecord(
                RemoveUserScramCredentialRecord {
                    name: "alice".into(),
                    mechanism: 2,
                    ..Default::default()
                },
            )],
        );
        assert!(image.scram_credentials().is_empty());

        let acl = AccessControlEntryRecord {
            id: Uuid::from_u128(3),
            principal: "User:alice".into(),
            ..Default::default()
        };
        let removal = MetadataRecord::RemoveAccessControlEntryRecord(RemoveAccessControlEntryRecord {
            id: Uuid::from_u128(3),
            ..Default::default()
        });
        applied(&mut image, [MetadataRecord::AccessControlEntryRecord(acl)]);
        assert_eq!(image.acls()[&Uuid::from_u128(3)].principal, "User:alice");
        applied(&mut image, [removal.clone()]);
        assert!(image.acls().is_empty());
        assert!(image.apply(removal).is_err(), "no such ACL");
    }
}
