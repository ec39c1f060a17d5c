//! The KRaft metadata records that say what a [`MetadataEvent`] does, at the versions Kafka
//! 4.0 writes them (metadata.version 4.0-IV3), and back: the broker's [`MetadataImage`] of
//! a [`KraftImage`], refusing what this node cannot serve.

use std::collections::BTreeMap;
use tidelog_protocol::metadata::records::{
    access_control_entry_record::AccessControlEntryRecord,
    broker_registration_change_record::BrokerRegistrationChangeRecord,
    config_record::ConfigRecord,
    feature_level_record::FeatureLevelRecord,
    partition_change_record::PartitionChangeRecord,
    partition_record::PartitionRecord,
    producer_ids_record::ProducerIdsRecord,
    register_broker_record::{BrokerEndpoint as EndpointRecord, RegisterBrokerRecord},
    remove_access_control_entry_record::RemoveAccessControlEntryRecord,
    remove_topic_record::RemoveTopicRecord,
    remove_user_scram_credential_record::RemoveUserScramCredentialRecord,
    topic_record::TopicRecord,
    user_scram_credential_record::UserScramCredentialRecord,
};

use tidelog_protocol::metadata::{MetadataRecord, VersionedRecord};
use tidelog_protocol::Uuid;

use super::image::{BrokerEndpoint, BrokerMeta, MetadataEvent, MetadataImage, PartitionMeta, TopicMeta};
use super::kraft::{client_quota_record, ConfigResource, KraftImage};
use crate::authorizer::{AclBinding, AclOperation, PatternType, Permission, ResourceType};
use crate::client_quotas::QuotaEntity;
use crate::features;
use crate::scram::{ScramCredential, ScramMechanism};

/// The metadata.version this broker writes: 4.0-IV3, Kafka 4.0's.
pub const METADATA_VERSION_LEVEL: i16 = 25;
pub const METADATA_VERSION: &str = "metadata.version";
/// The oldest metadata.version Kafka 4.0 runs: 3.3-IV3.
const MIN_METADATA_VERSION_LEVEL: i16 = 7;

/// Kafka's `DirectoryId.UNASSIGNED`: the partition's log dir is not known to the metadata.
pub const UNASSIGNED_DIRECTORY: Uuid = Uuid::NIL;

/// Where the records of this node's changes place new partitions: on this node (its id,
/// and the log dir its new partitions go to: its one log dir, or
/// [`UNASSIGNED_DIRECTORY`] with several), or in a cluster over its unfenced brokers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub node_id: i32,
    pub directory: Uuid,
    /// The unfenced brokers new partitions go to, by id, with the log dir each gets;
    /// empty: this node. Racks alternate along the list (see [`Placement::over`]).
    pub brokers: Vec<(i32, Uuid)>,
    /// The racks of the brokers that have one (`broker.rack`).
    pub racks: BTreeMap<i32, String>,
}

impl Placement {
    /// This node alone.
    pub fn local(node_id: i32, directory: Uuid) -> Placement {
        Placement {
            node_id,
            directory,
            brokers: Vec::new(),
            racks: BTreeMap::new(),
        }
    }

    /// Over the unfenced brokers of `image`, else (none registered yet, or not a cluster)
    /// on this node as `local`. Where brokers have racks, the list takes one broker of each
    /// rack in turn (racks and brokers in id order, those without a rack as one more), as
    /// Kafka's rack-alternated broker list does, so consecutive brokers are of different
    /// racks.
    pub fn over(image: &MetadataImage, local: &Placement) -> Placement {
        let mut by_rack: BTreeMap<Option<&str>, Vec<(i32, Uuid)>> = BTreeMap::new();
        for b in image.brokers().values().filter(|b| !b.fenced) {
            by_rack
                .entry(b.rack.as_deref())
                .or_default()
                .push((b.id, directory_of(b)));
        }
        let deepest = by_rack.values().map(Vec::len).max().unwrap_or(0);
        let brokers = (0..deepest)
            .flat_map(|i| by_rack.values().filter_map(move |rack| rack.get(i).copied()))
            .collect();
        let racks = image
            .brokers()
            .values()
            .filter_map(|b| Some((b.id, b.rack.clone()?)))
            .collect();
        Placement {
            brokers,
            racks,
            ..local.clone()
        }
    }

    /// The replicas of a topic's partitions `partitions` (`replication_factor` each, the
    /// first the leader), with their log dirs: round-robin over the brokers from a random
    /// one, each partition's replicas on the next brokers along the list, as Kafka's
    /// controller places them; where brokers have racks, skipping those of a rack the
    /// partition has already while other racks are left. The caller checked that there are
    /// enough brokers.
    fn replicas(&self, partitions: std::ops::Range<i32>, replication_factor: i16) -> Vec<(i32, Vec<(i32, Uuid)>)> {
        if self.brokers.is_empty() {
            return partitions.map(|p| (p, vec![(self.node_id, self.directory)])).collect();
        }
        let start = crate::ids::random_uuid().as_u128() as usize;
        let n = self.brokers.len();
        let count = usize::try_from(replication_factor).unwrap_or(1).clamp(1, n);
        partitions
            .map(|p| {
                let first = start + p as usize;
                let along = (0..n).map(|i| self.brokers[(first + i) % n]);
                let mut chosen: Vec<(i32, Uuid)> = Vec::with_capacity(count);
                // First a broker of each rack not used yet, then any not chosen.
                for spread in [true, false] {
                    for broker in along.clone() {
                        let rack = self.racks.get(&broker.0);
                        let rack_used = rack.is_some() && chosen.iter().any(|c| self.racks.get(&c.0) == rack);
                        if chosen.len() < count && !chosen.contains(&broker) && !(spread && rack_used) {
                            chosen.push(broker);
                        }
                    }
                }
                (p, chosen)
            })
            .collect()
    }

    /// The replicas a request named for partitions `first..` (checked: see
    /// `replica_assignment`), with their log dirs.
    fn assigned(&self, image: &MetadataImage, first: i32, replicas: &[Vec<i32>]) -> Vec<(i32, Vec<(i32, Uuid)>)> {
        let directory = |id: i32| match image.brokers().get(&id) {
            Some(broker) => directory_of(broker),
            None => self.directory,
        };
        (first..)
            .zip(replicas)
            .map(|(p, ids)| (p, ids.iter().map(|&id| (id, directory(id))).collect()))
            .collect()
    }

    /// How many brokers new partitions may be placed on (1: this node alone).
    pub fn broker_count(&self) -> usize {
        self.brokers.len().max(1)
    }
}

/// The log dir a broker's new partitions go to: its one log dir, or
/// [`UNASSIGNED_DIRECTORY`] with several.
fn directory_of(broker: &BrokerMeta) -> Uuid {
    match broker.log_dirs[..] {
        [only] => only,
        _ => UNASSIGNED_DIRECTORY,
    }
}

/// Why a metadata image cannot be served by this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub topic: String,
    pub reason: String,
}

/// The records of `event`, applied to `image` (the image before it).
pub fn records_of(event: &MetadataEvent, image: &MetadataImage, placement: &Placement) -> Vec<VersionedRecord> {
    let mut records = Vec::new();
    match event {
        MetadataEvent::TopicCreated(topic) | MetadataEvent::TopicCreatedOn { topic, .. } => {
            records.push(versioned(
                0,
                MetadataRecord::TopicRecord(TopicRecord {
                    name: topic.name.clone(),
                    topic_id: topic.id,
                    ..Default::default()
                }),
            ));
            records.extend(
                topic
                    .configs
                    .iter()
                    .map(|(name, value)| topic_config(&topic.name, name, Some(value))),
            );
            let replicas = match event {
                MetadataEvent::TopicCreatedOn { replicas, .. } => placement.assigned(image, 0, replicas),
                _ => placement.replicas(0..topic.partitions, topic.replication_factor),
            };
            records.extend(replicas.into_iter().map(|p| partition(image, topic.id, p)));
        }
        MetadataEvent::TopicDeleted { name } => {
            if let Some(topic) = image.topic(name) {
                records.push(versioned(
                    0,
                    MetadataRecord::RemoveTopicRecord(RemoveTopicRecord {
                        topic_id: topic.id,
                        ..Default::default()
                    }),
                ));
            }
        }
        MetadataEvent::PartitionsCreated { name, total, replicas } => {
            if let Some(topic) = image.topic(name) {
                let new = match replicas.is_empty() {
                    true => placement.replicas(topic.partitions..*total, topic.replication_factor),
                    false => placement.assigned(image, topic.partitions, replicas),
                };
                records.extend(new.into_iter().map(|p| partition(image, topic.id, p)));
            }
        }
        MetadataEvent::TopicConfigsAltered { name, set, removed } => {
            records.extend(removed.iter().map(|key| topic_config(name, key, None)));
            records.extend(set.iter().map(|(key, value)| topic_config(name, key, Some(value))));
        }
        MetadataEvent::ProducerIdsAllocated { end } => {
            records.push(versioned(
                0,
                MetadataRecord::ProducerIdsRecord(ProducerIdsRecord {
                    broker_id: placement.node_id,
                    broker_epoch: -1,
                    next_producer_id: *end,
                    ..Default::default()
                }),
            ));
        }
        MetadataEvent::FeatureLevelsChanged { levels } => {
            records.extend(levels.iter().map(|(name, level)| feature(name, *level)));
        }
        MetadataEvent::ScramCredentialsAltered { deleted, upserted } => {
            records.extend(deleted.iter().map(|(name, mechanism)| {
                versioned(
                    0,
                    MetadataRecord::RemoveUserScramCredentialRecord(RemoveUserScramCredentialRecord {
                        name: name.clone(),
                        mechanism: mechanism.type_number(),
                        ..Default::default()
                    }),
                )
            }));
            records.extend(upserted.iter().map(|(name, mechanism, credential)| {
                versioned(
                    0,
                    MetadataRecord::UserScramCredentialRecord(UserScramCredentialRecord {
                        name: name.clone(),
                        mechanism: mechanism.type_number(),
                        salt: credential.salt.clone().into(),
                        stored_key: credential.stored_key.clone().into(),
                        server_key: credential.server_key.clone().into(),
                        iterations: credential.iterations,
                        ..Default::default()
                    }),
                )
            }));
        }
        MetadataEvent::AclsCreated { acls } => {
            records.extend(acls.iter().map(|(id, acl)| versioned(0, acl_record(*id, acl))));
        }
        MetadataEvent::AclsDeleted { ids } => {
            records.extend(ids.iter().map(|&id| {
                versioned(
                    0,
                    MetadataRecord::RemoveAccessControlEntryRecord(RemoveAccessControlEntryRecord {
                        id,
                        ..Default::default()
                    }),
                )
            }));
        }
        MetadataEvent::ClientQuotasAltered { changes } => {
            records.extend(
                changes
                    .iter()
                    .map(|(entity, key, value)| versioned(0, client_quota_record(entity, key, *value))),
            );
        }
        MetadataEvent::BrokerRegistered(broker) => {
            records.push(registration(broker));
            // A broker registering again (a restart) comes back fenced, and as a new
            // replica: it leads nothing and is in no in-sync set until it has caught up.
            if image.brokers().contains_key(&broker.id) {
                records.extend(replicas_after_fencing(image, broker.id));
            }
        }
        MetadataEvent::IsrChanged {
            topic_id,
            partition,
            isr,
        } => records.push(partition_change(*topic_id, *partition, Some(isr.clone()), None)),
        MetadataEvent::LeaderElected {
            topic_id,
            partition,
            leader,
            unclean,
        } => {
            // Out of sync, the new leader is the only replica in sync.
            let in_sync = image
                .partition(*topic_id, *partition)
                .is_some_and(|p| p.isr.contains(leader));
            let isr = (*unclean && !in_sync).then(|| vec![*leader]);
            records.push(partition_change(*topic_id, *partition, isr, Some(*leader)))
        }
        MetadataEvent::BrokerFenced { id, epoch, fenced } => {
            // As Kafka 4 writes a fencing change (not the old FenceBrokerRecord).
            records.push(versioned(
                2,
                MetadataRecord::BrokerRegistrationChangeRecord(BrokerRegistrationChangeRecord {
                    broker_id: *id,
                    broker_epoch: *epoch,
                    fenced: if *fenced { 1 } else { -1 },
                    ..Default::default()
                }),
            ));
            match fenced {
                true => records.extend(replicas_after_fencing(image, *id)),
                false => records.extend(leaders_after_unfencing(image, *id)),
            }
        }
    }
    records
}

/// The changes of the replicated partitions (more than one replica; a partition of one
/// replica is offline while its broker is away, and back with it) when broker `fenced`
/// is fenced, as Kafka's controller makes them: it leaves their in-sync replicas unless it
/// is the last one (which keeps the partition's data electable when it comes back), and
/// each partition it led gets a new leader, the first of its replicas still in sync and
/// unfenced, or none (-1). Sorted by topic id and partition.
fn replicas_after_fencing(image: &MetadataImage, fenced: i32) -> Vec<VersionedRecord> {
    let usable = |id: i32| id != fenced && image.brokers().get(&id).is_some_and(|b| !b.fenced);
    let mut changes: Vec<PartitionChange> = image
        .placed_partitions()
        .filter(|(_, _, p)| p.replicas.len() > 1 && (p.leader == fenced || p.isr.contains(&fenced)))
        .map(|(topic_id, index, p)| {
            let isr: Vec<i32> = match p.isr.len() > 1 {
                true => p.isr.iter().copied().filter(|&r| r != fenced).collect(),
                false => p.isr.clone(),
            };
            let leader = (p.leader == fenced).then(|| {
                let elected = p.replicas.iter().copied().find(|&r| isr.contains(&r) && usable(r));
                elected.unwrap_or(-1)
            });
            let isr = (isr != p.isr).then_some(isr);
            (topic_id, index, isr, leader)
        })
        .filter(|(_, _, isr, leader)| isr.is_some() || leader.is_some())
        .collect();
    changes.sort_by_key(|(topic_id, index, _, _)| (*topic_id, *index));
    changes
        .into_iter()
        .map(|(topic_id, index, isr, leader)| partition_change(topic_id, index, isr, leader))
        .collect()
}

/// The replicated partitions without a leader whose in-sync replicas include `unfenced`,
/// led by it now that it is back.
fn leaders_after_unfencing(image: &MetadataImage, unfenced: i32) -> Vec<VersionedRecord> {
    let mut offline: Vec<(Uuid, i32)> = image
        .placed_partitions()
        .filter(|(_, _, p)| p.replicas.len() > 1 && p.leader == -1 && p.isr.contains(&unfenced))
        .map(|(topic_id, index, _)| (topic_id, index))
        .collect();
    offline.sort();
    offline
        .into_iter()
        .map(|(topic_id, index)| partition_change(topic_id, index, None, Some(unfenced)))
        .collect()
}

/// A partition's topic id and index, new in-sync replicas and new leader, where they change.
type PartitionChange = (Uuid, i32, Option<Vec<i32>>, Option<i32>);

/// A PartitionChangeRecord (v2, as Kafka 4.0 writes it) setting the in-sync replicas
/// and the leader where given, which bumps the leader epoch.
fn partition_change(topic_id: Uuid, partition_id: i32, isr: Option<Vec<i32>>, leader: Option<i32>) -> VersionedRecord {
    versioned(
        2,
        MetadataRecord::PartitionChangeRecord(PartitionChangeRecord {
            partition_id,
            topic_id,
            isr,
            leader: leader.unwrap_or(NO_LEADER_CHANGE),
            ..Default::default()
        }),
    )
}

/// `leader` of a PartitionChangeRecord that leaves the leader as it is.
const NO_LEADER_CHANGE: i32 = -2;

/// A broker's RegisterBrokerRecord, at the version Kafka 4.0 writes (v3), with the feature
/// ranges this build supports.
fn registration(broker: &BrokerMeta) -> VersionedRecord {
    use tidelog_protocol::metadata::records::register_broker_record::BrokerFeature;
    let mut features = vec![BrokerFeature {
        name: METADATA_VERSION.into(),
        min_supported_version: MIN_METADATA_VERSION_LEVEL,
        max_supported_version: METADATA_VERSION_LEVEL,
        ..Default::default()
    }];
    features.extend(features::SUPPORTED.iter().map(|(name, max)| BrokerFeature {
        name: name.to_string(),
        min_supported_version: 0,
        max_supported_version: *max,
        ..Default::default()
    }));
    let end_points = broker
        .endpoints
        .iter()
        .map(|e| EndpointRecord {
            name: e.listener.clone(),
            host: e.host.clone(),
            port: e.port,
            security_protocol: e.security_protocol,
            ..Default::default()
        })
        .collect();
    versioned(
        3,
        MetadataRecord::RegisterBrokerRecord(RegisterBrokerRecord {
            broker_id: broker.id,
            incarnation_id: broker.incarnation_id,
            broker_epoch: broker.epoch,
            end_points,
            features,
            rack: broker.rack.clone(),
            fenced: broker.fenced,
            log_dirs: broker.log_dirs.clone(),
            ..Default::default()
        }),
    )
}

/// The broker a RegisterBrokerRecord (with its changes) describes.
fn broker_of(r: &RegisterBrokerRecord) -> BrokerMeta {
    BrokerMeta {
        id: r.broker_id,
        epoch: r.broker_epoch,
        incarnation_id: r.incarnation_id,
        endpoints: r
            .end_points
            .iter()
            .map(|e| BrokerEndpoint {
                listener: e.name.clone(),
                host: e.host.clone(),
                port: e.port,
                security_protocol: e.security_protocol,
            })
            .collect(),
        rack: r.rack.clone(),
        log_dirs: r.log_dirs.clone(),
        fenced: r.fenced,
    }
}

/// The records that rebuild `image`'s topics and producer id block (its features are
/// [`bootstrap_features`]).
pub fn records_of_image(image: &MetadataImage, placement: &Placement) -> Vec<VersionedRecord> {
    let empty = MetadataImage::default();
    let mut records: Vec<VersionedRecord> = image
        .topics()
        .flat_map(|topic| records_of(&MetadataEvent::TopicCreated(topic.clone()), &empty, placement))
        .collect();
    if image.producer_ids_end() > 0 {
        let block = MetadataEvent::ProducerIdsAllocated {
            end: image.producer_ids_end(),
        };
        records.extend(records_of(&block, &empty, placement));
    }
    let acls = MetadataEvent::AclsCreated {
        acls: image.acls().iter().map(|(id, acl)| (*id, acl.clone())).collect(),
    };
    records.extend(records_of(&acls, &empty, placement));
    records.extend(records_of(
        &quotas_of(image.client_quotas().entities()),
        &empty,
        placement,
    ));
    records
}

/// The event that sets every value of `quotas`.
fn quotas_of(quotas: &BTreeMap<QuotaEntity, BTreeMap<String, f64>>) -> MetadataEvent {
    let changes = quotas
        .iter()
        .flat_map(|(entity, values)| {
            values
                .iter()
                .map(|(key, value)| (entity.clone(), key.clone(), Some(*value)))
        })
        .collect();
    MetadataEvent::ClientQuotasAltered { changes }
}

/// The feature levels a new metadata log starts with: metadata.version, and every feature
/// at `image`'s level (a new image's are the defaults), as `kafka-storage.sh format` writes
/// them; level 0 is not finalized, so not written.
pub fn bootstrap_features(image: &MetadataImage) -> Vec<VersionedRecord> {
    let mut records = vec![feature(METADATA_VERSION, METADATA_VERSION_LEVEL)];
    for (name, _) in features::SUPPORTED {
        let level = image.feature_level(name);
        if level > 0 {
            records.push(feature(name, level));
        }
    }
    records
}

/// The broker's image of `kraft`, for node `node_id`: partitions numbered from 0 without
/// gaps; on a node that is not one of a cluster, each with this node as its only replica.
pub fn image_of(kraft: &KraftImage, node_id: i32, cluster: bool) -> Result<MetadataImage, Unsupported> {
    let mut topics = Vec::new();
    for topic in kraft.topics() {
        let unsupported = |reason: String| Unsupported {
            topic: topic.name.clone(),
            reason,
        };
        for (expected, (&id, partition)) in (0..).zip(&topic.partitions) {
            if id != expected {
                return Err(unsupported(format!("it has no partition {expected}")));
            }
            let servable = match cluster {
                true => !partition.replicas.is_empty(),
                false => partition.replicas == [node_id],
            };
            if !servable {
                return Err(unsupported(format!(
                    "partition {id} has replicas {:?}: this node ({node_id}) serves partitions \
                     whose only replica it is (replication factor 1)",
                    partition.replicas
                )));
            }
        }
        let configs = kraft
            .owned_configs(ConfigResource::TOPIC, &topic.name)
            .cloned()
            .unwrap_or_default();
        let meta = TopicMeta {
            name: topic.name.clone(),
            id: topic.id,
            partitions: topic.partitions.len() as i32,
            configs,
            replication_factor: topic.partitions.values().next().map_or(1, |p| p.replicas.len() as i16),
        };
        // With one replica, the replica leads and is in sync: the record's leader may be -1
        // and its ISR empty (its last member moved to the eligible leader replicas, KIP-966)
        // where Kafka's controller took it offline (its broker shut down), and the log is
        // still there.
        let placed = topic.partitions.values().map(|p| {
            let (leader, isr) = match p.replicas[..] {
                [only] => (only, vec![only]),
                _ => (p.leader, p.isr.clone()),
            };
            PartitionMeta {
                leader,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                replicas: p.replicas.clone(),
                isr,
            }
        });
        topics.push((meta, placed.collect()));
    }
    let brokers = kraft.brokers().iter().map(|(id, r)| (*id, broker_of(r))).collect();
    let levels = features::SUPPORTED
        .iter()
        .map(|(name, _)| (name.to_string(), kraft.features().get(*name).copied().unwrap_or(0)))
        .collect();
    let producer_ids_end = kraft.producer_ids().map_or(0, |r| r.next_producer_id);
    let offset = kraft.provenance().offset;
    let mut image = MetadataImage::restored(topics, brokers, producer_ids_end, levels, offset);
    // A credential of a mechanism this broker does not know is left out, as Kafka's
    // ScramImage keeps only its known mechanisms.
    let upserted = kraft
        .scram_credentials()
        .values()
        .filter_map(|r| {
            let mechanism = ScramMechanism::from_type(r.mechanism)?;
            let credential = ScramCredential {
                salt: r.salt.to_vec(),
                stored_key: r.stored_key.to_vec(),
                server_key: r.server_key.to_vec(),
                iterations: r.iterations,
            };
            Some((r.name.clone(), mechanism, credential))
        })
        .collect();
    image.apply(&MetadataEvent::ScramCredentialsAltered {
        deleted: Vec::new(),
        upserted,
    });
    let acls = kraft.acls().values().filter_map(|r| Some((r.id, acl_of(r)?))).collect();
    image.apply(&MetadataEvent::AclsCreated { acls });
    image.apply(&quotas_of(kraft.client_quotas()));
    Ok(image)
}

/// The ACL an AccessControlEntryRecord holds; `None` for codes this broker does not know
/// (a newer Kafka's), which then match nothing.
fn acl_of(r: &AccessControlEntryRecord) -> Option<AclBinding> {
    Some(AclBinding {
        resource_type: ResourceType::from_code(r.resource_type)?,
        resource_name: r.resource_name.clone(),
        pattern_type: PatternType::from_code(r.pattern_type)?,
        principal: r.principal.clone(),
        host: r.host.clone(),
        operation: AclOperation::from_code(r.operation)?,
        permission: Permission::from_code(r.permission_type)?,
    })
}

fn acl_record(id: Uuid, acl: &AclBinding) -> MetadataRecord {
    MetadataRecord::AccessControlEntryRecord(AccessControlEntryRecord {
        id,
        resource_type: acl.resource_type.code(),
        resource_name: acl.resource_name.clone(),
        pattern_type: acl.pattern_type.code(),
        principal: acl.principal.clone(),
        host: acl.host.clone(),
        operation: acl.operation.code(),
        permission_type: acl.permission.code(),
        ..Default::default()
    })
}

fn versioned(version: i16, record: MetadataRecord) -> VersionedRecord {
    VersionedRecord { version, record }
}

fn feature(name: &str, feature_level: i16) -> VersionedRecord {
    versioned(
        0,
        MetadataRecord::FeatureLevelRecord(FeatureLevelRecord {
            name: name.into(),
            feature_level,
            ..Default::default()
        }),
    )
}

fn topic_config(topic: &str, name: &str, value: Option<&String>) -> VersionedRecord {
    versioned(
        0,
        MetadataRecord::ConfigRecord(ConfigRecord {
            resource_type: ConfigResource::TOPIC,
            resource_name: topic.into(),
            name: name.into(),
            value: value.cloned(),
            ..Default::default()
        }),
    )
}

/// A new partition on `replicas` (each with its log dir), as Kafka 4.0 writes one (v2):
/// its in-sync replicas are those not fenced in `image` (all of them as the controller
/// places, unless a request named fenced brokers, or none is unfenced yet), the first of
/// them its leader.
fn partition(
    image: &MetadataImage,
    topic_id: Uuid,
    (partition_id, replicas): (i32, Vec<(i32, Uuid)>),
) -> VersionedRecord {
    let ids: Vec<i32> = replicas.iter().map(|(id, _)| *id).collect();
    let fenced = |id: &i32| image.brokers().get(id).is_some_and(|b| b.fenced);
    let unfenced: Vec<i32> = ids.iter().copied().filter(|id| !fenced(id)).collect();
    // None unfenced: this node, placing on itself before its broker is unfenced.
    let isr = if unfenced.is_empty() { ids.clone() } else { unfenced };
    versioned(
        2,
        MetadataRecord::PartitionRecord(PartitionRecord {
            partition_id,
            topic_id,
            leader: isr.first().copied().unwrap_or(-1),
            replicas: ids,
            isr,
            leader_epoch: 0,
            partition_epoch: 0,
            directories: replicas.iter().map(|(_, dir)| *dir).collect(),
            ..Default::default()
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::registered_broker;
    use tidelog_protocol::ErrorCode;

    #[test]
    fn new_partitions_go_round_robin_over_the_unfenced_brokers() {
        let mut image = MetadataImage::default();
        for (id, fenced) in [(1, false), (2, true), (3, false), (4, false)] {
            image.apply(&MetadataEvent::BrokerRegistered(registered_broker(id, fenced)));
        }
        let placement = Placement::over(&image, &Placement::local(1, Uuid::from_u128(101)));
        let placed = placement.replicas(0..12, 2);
        let mut leaders = BTreeMap::new();
        let next = |b: i32| [1, 3, 4][([1, 3, 4].iter().position(|&x| x == b).unwrap() + 1) % 3];
        for (p, (partition, replicas)) in placed.iter().enumerate() {
            assert_eq!(*partition, p as i32);
            for (id, directory) in replicas {
                assert_eq!(
                    *directory,
                    Uuid::from_u128(100 + *id as u128),
                    "the broker's one log dir"
                );
            }
            let ids: Vec<i32> = replicas.iter().map(|(id, _)| *id).collect();
            assert_eq!(ids.len(), 2);
            assert_eq!(ids[1], next(ids[0]), "a partition's replicas on consecutive brokers");
            *leaders.entry(ids[0]).or_insert(0) += 1;
        }
        assert_eq!(
            leaders,
            BTreeMap::from([(1, 4), (3, 4), (4, 4)]),
            "none on the fenced broker"
        );
        // Consecutive partitions led by consecutive brokers, from wherever the round starts.
        assert!(
            placed.windows(2).all(|w| w[1].1[0].0 == next(w[0].1[0].0)),
            "{placed:?}"
        );
    }

    #[test]
    fn a_partition_placed_while_every_broker_is_fenced_keeps_its_replicas_in_sync() {
        let mut image = MetadataImage::default();
        image.apply(&MetadataEvent::BrokerRegistered(registered_broker(1, true)));
        let topic = TopicMeta {
            name: "early".into(),
            id: Uuid::from_u128(5),
            partitions: 1,
            configs: BTreeMap::new(),
            replication_factor: 1,
        };
        let placement = Placement::over(&image, &Placement::local(1, Uuid::from_u128(101)));
        let records = records_of(&MetadataEvent::TopicCreated(topic), &image, &placement);
        let placed: Vec<(i32, Vec<i32>)> = records
            .iter()
            .filter_map(|r| match &r.record {
                MetadataRecord::PartitionRecord(p) => Some((p.leader, p.isr.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(placed, [(1, vec![1])], "led by this node, as before it is unfenced");
    }

    #[test]
    fn without_registered_brokers_partitions_stay_on_this_node() {
        let placement = Placement::over(&MetadataImage::default(), &Placement::local(7, Uuid::from_u128(9)));
        let here = vec![(7, Uuid::from_u128(9))];
        assert_eq!(placement.replicas(2..4, 3), [(2, here.clone()), (3, here)]);
    }

    /// The image of brokers 1 to 3 (those of `fenced` fenced) and one topic whose partitions
    /// have `placed` (replicas, isr, leader).
    fn image_with(fenced: &[i32], placed: &[(&[i32], &[i32], i32)]) -> (MetadataImage, Uuid) {
        let id = Uuid::from_u128(42);
        let topic = TopicMeta {
            name: "t".into(),
            id,
            partitions: placed.len() as i32,
            configs: BTreeMap::new(),
            replication_factor: placed[0].0.len() as i16,
        };
        let partitions = placed
            .iter()
            .map(|(replicas, isr, leader)| PartitionMeta {
                replicas: replicas.to_vec(),
                isr: isr.to_vec(),
                leader: *leader,
                leader_epoch: 3,
                partition_epoch: 5,
            })
            .collect();
        let brokers = (1..=3)
            .map(|b| (b, registered_broker(b, fenced.contains(&b))))
            .collect();
        (
            MetadataImage::restored(vec![(topic, partitions)], brokers, 0, BTreeMap::new(), 0),
            id,
        )
    }

    fn changes(records: &[VersionedRecord]) -> Vec<(i32, Option<Vec<i32>>, i32)> {
        records
            .iter()
            .filter_map(|r| match &r.record {
                MetadataRecord::PartitionChangeRecord(c) => Some((c.partition_id, c.isr.clone(), c.leader)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_fenced_broker_leaves_the_isr_and_its_leaderships_go_to_the_first_unfenced_in_sync_replica() {
        let (image, _) = image_with(
            &[3],
            &[
                (&[1, 2, 3], &[1, 2, 3], 1), // led by 1: 2 is next in sync
                (&[2, 1, 3], &[1, 2], 2),    // 1 only in sync: leaves the ISR
                (&[1, 3, 2], &[1, 3], 1),    // 3 is fenced: no one is left to lead
                (&[1], &[1], 1),             // one replica: untouched
                (&[2, 3, 1], &[2, 3], 2),    // 1 not in it: untouched
                (&[1, 2, 3], &[1], 1),       // the last in sync: keeps the ISR, no leader
            ],
        );
        let fenced = MetadataEvent::BrokerFenced {
            id: 1,
            epoch: 11,
            fenced: true,
        };
        let records = records_of(&fenced, &image, &Placement::local(1, Uuid::NIL));
        assert_eq!(
            changes(&records),
            [
                (0, Some(vec![2, 3]), 2),
                (1, Some(vec![2]), NO_LEADER_CHANGE),
                (2, Some(vec![3]), -1),
                (5, None, -1),
            ]
        );
    }

    #[test]
    fn an_unfenced_broker_leads_the_partitions_waiting_for_it() {
        let (image, _) = image_with(&[], &[(&[1, 2], &[1], -1), (&[2, 1], &[2], -1), (&[1, 2], &[1, 2], 2)]);
        let unfenced = MetadataEvent::BrokerFenced {
            id: 1,
            epoch: 11,
            fenced: false,
        };
        let records = records_of(&unfenced, &image, &Placement::local(1, Uuid::NIL));
        assert_eq!(changes(&records), [(0, None, 1)]);
    }

    #[test]
    fn an_unclean_election_makes_the_first_live_replica_leader_and_only_in_sync_replica() {
        let (image, id) = image_with(
            &[1],
            &[
                (&[1, 2, 3], &[1], -1), // its last in-sync replica fenced
                (&[2, 3, 1], &[2], 2),  // led
            ],
        );
        assert_eq!(image.unclean_leader(id, 0), Ok(2));
        assert_eq!(image.unclean_leader(id, 1), Err(ErrorCode::ELECTION_NOT_NEEDED));
        // A live in-sync replica first, and then the in-sync replicas stay as they are.
        let (with_in_sync, _) = image_with(&[1], &[(&[1, 2, 3], &[1, 3], -1)]);
        assert_eq!(with_in_sync.unclean_leader(id, 0), Ok(3));
        let unclean = |leader| MetadataEvent::LeaderElected {
            topic_id: id,
            partition: 0,
            leader,
            unclean: true,
        };
        let records = records_of(&unclean(3), &with_in_sync, &Placement::local(1, Uuid::NIL));
        assert_eq!(changes(&records), [(0, None, 3)]);
        let (all_away, _) = image_with(&[1, 2, 3], &[(&[1, 2, 3], &[1], -1)]);
        assert_eq!(
            all_away.unclean_leader(id, 0),
            Err(ErrorCode::ELIGIBLE_LEADERS_NOT_AVAILABLE)
        );
        let elected = unclean(2);
        let records = records_of(&elected, &image, &Placement::local(1, Uuid::NIL));
        assert_eq!(changes(&records), [(0, Some(vec![2]), 2)]);
        let mut after = image.clone();
        after.apply(&elected);
        let p = after.partition(id, 0).unwrap();
        assert_eq!((p.leader, p.isr.clone(), p.leader_epoch), (2, vec![2], 4));
    }

    #[test]
    fn replicas_of_a_partition_go_to_different_racks_while_there_are_racks_left() {
        let mut image = MetadataImage::default();
        // Racks a (1, 2, 3), b (4), c (5); broker 6 without one.
        for (id, rack) in [(1, "a"), (2, "a"), (3, "a"), (4, "b"), (5, "c"), (6, "")] {
            let mut broker = registered_broker(id, false);
            broker.rack = Some(rack.to_string()).filter(|r| !r.is_empty());
            image.apply(&MetadataEvent::BrokerRegistered(broker));
        }
        let placement = Placement::over(&image, &Placement::local(1, Uuid::NIL));
        let order: Vec<i32> = placement.brokers.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            order,
            [6, 1, 4, 5, 2, 3],
            "one of each rack in turn, the rackless first"
        );
        let rack = |id: i32| placement.racks.get(&id).cloned();
        for (_, replicas) in placement.replicas(0..30, 3) {
            let ids: Vec<i32> = replicas.iter().map(|(id, _)| *id).collect();
            let racks: std::collections::BTreeSet<_> = ids.iter().filter_map(|&id| rack(id)).collect();
            let rackless = ids.iter().filter(|&&id| rack(id).is_none()).count();
            assert_eq!(
                racks.len() + rackless,
                3,
                "{ids:?}: three racks, or two and the rackless one"
            );
        }
        for (_, replicas) in placement.replicas(0..30, 5) {
            let ids: std::collections::BTreeSet<i32> = replicas.iter().map(|(id, _)| *id).collect();
            assert_eq!(ids.len(), 5, "more replicas than racks: some share one");
        }
    }
}
