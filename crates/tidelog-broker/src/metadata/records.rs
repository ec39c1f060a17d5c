//! The KRaft metadata records that say what a [`MetadataEvent`] does, at the versions Kafka
//! 4.0 writes them (metadata.version 4.0-IV3), and back: the broker's [`MetadataImage`] of
//! a [`KraftImage`], refusing what this node cannot serve.

use std::collections::BTreeMap;
use tidelog_protocol::metadata::records::{
    access_control_entry_record::AccessControlEntryRecord, config_record::ConfigRecord,
    feature_level_record::FeatureLevelRecord, partition_record::PartitionRecord,
    producer_ids_record::ProducerIdsRecord, remove_access_control_entry_record::RemoveAccessControlEntryRecord,
    remove_topic_record::RemoveTopicRecord, remove_user_scram_credential_record::RemoveUserScramCredentialRecord,
    topic_record::TopicRecord, user_scram_credential_record::UserScramCredentialRecord,
};

use tidelog_protocol::metadata::{MetadataRecord, VersionedRecord};
use tidelog_protocol::Uuid;

use super::image::{MetadataEvent, MetadataImage, TopicMeta};
use super::kraft::{client_quota_record, ConfigResource, KraftImage};
use crate::authorizer::{AclBinding, AclOperation, PatternType, Permission, ResourceType};
use crate::client_quotas::QuotaEntity;
use crate::features;
use crate::scram::{ScramCredential, ScramMechanism};

/// The metadata.version this broker writes: 4.0-IV3, Kafka 4.0's.
pub const METADATA_VERSION_LEVEL: i16 = 25;
pub const METADATA_VERSION: &str = "metadata.version";

/// Kafka's `DirectoryId.UNASSIGNED`: the partition's log dir is not known to the metadata.
pub const UNASSIGNED_DIRECTORY: Uuid = Uuid::NIL;

/// Where the records of this node's changes place it: its id, and the log dir its new
/// partitions go to (with one log dir; [`UNASSIGNED_DIRECTORY`] with several).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub node_id: i32,
    pub directory: Uuid,
}

/// Why a metadata image cannot be served by this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub topic: String,
    pub reason: String,
}

/// The records of `event`, applied to `image` (the image before it).
pub fn records_of(event: &MetadataEvent, image: &MetadataImage, placement: Placement) -> Vec<VersionedRecord> {
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
            records.extend((0..topic.partitions).map(|p| partition(topic.id, p, placement)));
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
                records.extend((topic.partitions..*total).map(|p| partition(topic.id, p, placement)));
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
    }
    records
}

/// The records that rebuild `image`'s topics and producer id block (its features are
/// [`bootstrap_features`]).
pub fn records_of_image(image: &MetadataImage, placement: Placement) -> Vec<VersionedRecord> {
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

/// The broker's image of `kraft`, for node `node_id`: every partition must be this node's
/// alone (replication is issue 13), numbered from 0 without gaps.
pub fn image_of(kraft: &KraftImage, node_id: i32) -> Result<MetadataImage, Unsupported> {
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
            if partition.replicas != [node_id] {
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
        topics.push((meta, topic.partitions.values().map(|p| p.leader_epoch).collect()));
    }
    let levels = features::SUPPORTED
        .iter()
        .map(|(name, _)| (name.to_string(), kraft.features().get(*name).copied().unwrap_or(0)))
        .collect();
    let producer_ids_end = kraft.producer_ids().map_or(0, |r| r.next_producer_id);
    let mut image = MetadataImage::restored(topics, producer_ids_end, levels, kraft.provenance().offset);
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

/// A partition led by this node, its only replica, as Kafka 4.0 writes a new one (v2).
fn partition(topic_id: Uuid, partition_id: i32, placement: Placement) -> VersionedRecord {
    versioned(
        2,
        MetadataRecord::PartitionRecord(PartitionRecord {
            partition_id,
            topic_id,
            replicas: vec![placement.node_id],
            isr: vec![placement.node_id],
            leader: placement.node_id,
            leader_epoch: 0,
            partition_epoch: 0,
            directories: vec![placement.directory],
            ..Default::default()
        }),
    )
}
