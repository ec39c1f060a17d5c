//! The KRaft metadata records that say what a [`MetadataEvent`] does, at the versions Kafka
//! 4.0 writes them (metadata.version 4.0-IV3), and back: the broker's [`MetadataImage`] of
//! a [`KraftImage`], refusing what this node cannot serve.

use std::collections::BTreeMap;
use tidelog_protocol::metadata::records::{
    access_control_entry_record::AccessControlEntryRecord,
    broker_registration_change_record::BrokerRegistrationChangeRecord,
    config_record::ConfigRecord,
    feature_level_record::FeatureLevelRecord,
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
    /// empty: this node.
    pub brokers: Vec<(i32, Uuid)>,
}

impl Placement {
    /// This node alone.
    pub fn local(node_id: i32, directory: Uuid) -> Placement {
        Placement {
            node_id,
            directory,
            brokers: Vec::new(),
        }
    }

    /// Over the unfenced brokers of `image`, else (none registered yet, or not a cluster)
    /// on this node as `local`.
    pub fn over(image: &MetadataImage, local: &Placement) -> Placement {
        let brokers = image
            .brokers()
            .values()
            .filter(|b| !b.fenced)
            .map(|b| match b.log_dirs[..] {
                [only] => (b.id, only),
                _ => (b.id, UNASSIGNED_DIRECTORY),
            })
            .collect();
        Placement {
            brokers,
            ..local.clone()
        }
    }

    /// The leaders of a topic's partitions `partitions`, with their log dirs: round-robin
    /// over the brokers from a random one, as Kafka's controller places replicas.
    fn leaders(&self, partitions: std::ops::Range<i32>) -> Vec<(i32, i32, Uuid)> {
        if self.brokers.is_empty() {
            return partitions.map(|p| (p, self.node_id, self.directory)).collect();
        }
        let start = crate::ids::random_uuid().as_u128() as usize;
        partitions
            .map(|p| {
                let (broker, directory) = self.brokers[(start + p as usize) % self.brokers.len()];
                (p, broker, directory)
            })
            .collect()
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
        MetadataEvent::TopicCreated(topic) => {
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
            records.extend(
                placement
                    .leaders(0..topic.partitions)
                    .into_iter()
                    .map(|p| partition(topic.id, p)),
            );
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
        MetadataEvent::PartitionsCreated { name, total } => {
            if let Some(topic) = image.topic(name) {
                let new = placement.leaders(topic.partitions..*total);
                records.extend(new.into_iter().map(|p| partition(topic.id, p)));
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
        MetadataEvent::BrokerRegistered(broker) => records.push(registration(broker)),
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
        }
    }
    records
}

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

/// The broker's image of `kraft`, for node `node_id`: every partition must have one replica
/// (replication is issue 13), this node itself unless `cluster` (a node of a quorum of
/// several, whose brokers lead the others), numbered from 0 without gaps.
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
                true => partition.replicas.len() == 1,
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
        };
        // With one replica, the replica leads: the record's leader may be -1 where Kafka's
        // controller took it offline (its broker shut down), and the log is still there.
        let placed = topic.partitions.values().map(|p| PartitionMeta {
            leader: p.replicas[0],
            leader_epoch: p.leader_epoch,
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

/// A partition led by `leader`, its only replica, in its log dir `directory`, as Kafka 4.0
/// writes a new one (v2).
fn partition(topic_id: Uuid, (partition_id, leader, directory): (i32, i32, Uuid)) -> VersionedRecord {
    versioned(
        2,
        MetadataRecord::PartitionRecord(PartitionRecord {
            partition_id,
            topic_id,
            replicas: vec![leader],
            isr: vec![leader],
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
            directories: vec![directory],
            ..Default::default()
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(id: i32, fenced: bool) -> BrokerMeta {
        BrokerMeta {
            id,
            epoch: 10 + i64::from(id),
            incarnation_id: Uuid::from_u128(id as u128),
            endpoints: Vec::new(),
            rack: None,
            log_dirs: vec![Uuid::from_u128(100 + id as u128)],
            fenced,
        }
    }

    #[test]
    fn new_partitions_go_round_robin_over_the_unfenced_brokers() {
        let mut image = MetadataImage::default();
        for (id, fenced) in [(1, false), (2, true), (3, false), (4, false)] {
            image.apply(&MetadataEvent::BrokerRegistered(broker(id, fenced)));
        }
        let placement = Placement::over(&image, &Placement::local(1, Uuid::from_u128(101)));
        let leaders = placement.leaders(0..12);
        let mut count = BTreeMap::new();
        for (p, (partition, leader, directory)) in leaders.iter().enumerate() {
            assert_eq!(*partition, p as i32);
            assert_eq!(
                *directory,
                Uuid::from_u128(100 + *leader as u128),
                "the broker's one log dir"
            );
            *count.entry(*leader).or_insert(0) += 1;
        }
        assert_eq!(
            count,
            BTreeMap::from([(1, 4), (3, 4), (4, 4)]),
            "none on the fenced broker"
        );
        // Consecutive partitions on consecutive brokers, from wherever the round starts.
        let next = |leader: i32| [1, 3, 4][([1, 3, 4].iter().position(|&b| b == leader).unwrap() + 1) % 3];
        assert!(leaders.windows(2).all(|w| w[1].1 == next(w[0].1)), "{leaders:?}");
    }

    #[test]
    fn without_registered_brokers_partitions_stay_on_this_node() {
        let placement = Placement::over(&MetadataImage::default(), &Placement::local(7, Uuid::from_u128(9)));
        assert_eq!(
            placement.leaders(2..4),
            [(2, 7, Uuid::from_u128(9)), (3, 7, Uuid::from_u128(9))]
        );
    }
}
