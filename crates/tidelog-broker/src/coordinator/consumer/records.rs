//! The KIP-848 consumer group records of `__consumer_offsets`, in Kafka's own formats, so a
//! group written here reads the same to Kafka's tools. A key is its record type (Kafka's
//! "key version") followed by non-flexible strings; a value is its version (0 for all of
//! these) followed by flexible fields (compact strings and arrays, tagged-field sections).
//! A null value is a tombstone.
//!
//! | type | key fields | value |
//! | --- | --- | --- |
//! | 3 | group | ConsumerGroupMetadataValue: group epoch |
//! | 4 | group | ConsumerGroupPartitionMetadataValue: not written (deprecated by Kafka 4.1), skipped |
//! | 5 | group, member | ConsumerGroupMemberMetadataValue: the member's subscription and client |
//! | 6 | group | ConsumerGroupTargetAssignmentMetadataValue: assignment epoch |
//! | 7 | group, member | ConsumerGroupTargetAssignmentMemberValue: the member's target |
//! | 8 | group, member | ConsumerGroupCurrentMemberAssignmentValue: epochs, owned, revoking |
//!
//! Tagged fields Kafka added later (metadata hash, creation time, assignment epochs of
//! partitions, classic member metadata) are written as absent and skipped when read.

use bytes::Bytes;
use tidelog_protocol::{DecodeError, EncodeBuf, EncodeError, Reader, Uuid};

use super::assignor::Partitions;
use crate::grouping::by_topic;
use crate::metadata::MetadataImage;

const GROUP_METADATA: i16 = 3;
const PARTITION_METADATA: i16 = 4;
const MEMBER_METADATA: i16 = 5;
const TARGET_METADATA: i16 = 6;
const TARGET_MEMBER: i16 = 7;
const CURRENT_ASSIGNMENT: i16 = 8;
const VALUE_VERSION: i16 = 0;

/// Which record of a group, in the order a group's changes are written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RecordKey {
    Member(String),
    Group,
    Target(String),
    TargetMetadata,
    Current(String),
}

/// Partitions by topic id, as these records (and the KIP-848 responses) carry them.
pub type TopicPartitions = Vec<(Uuid, Vec<i32>)>;

/// `partitions` by topic id, in topic-name order; topics gone from the image are left out.
pub fn by_topic_id(partitions: &Partitions, image: &MetadataImage) -> TopicPartitions {
    by_topic(
        partitions
            .iter()
            .filter_map(|(topic, partition)| image.topic(topic).map(|meta| (meta.id, *partition))),
    )
}

/// Partitions given by topic id, by name; ids gone from the image are left out.
pub fn by_topic_name(partitions: impl IntoIterator<Item = (Uuid, Vec<i32>)>, image: &MetadataImage) -> Partitions {
    partitions
        .into_iter()
        .filter_map(|(topic_id, indexes)| image.topic_by_id(topic_id).map(|meta| (meta.name.clone(), indexes)))
        .flat_map(|(name, indexes)| indexes.into_iter().map(move |p| (name.clone(), p)))
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
pub enum RecordValue {
    Group { epoch: i32 },
    Member(MemberMetadata),
    TargetMetadata { assignment_epoch: i32 },
    Target(TopicPartitions),
    Current(CurrentAssignment),
}

/// ConsumerGroupMemberMetadataValue.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemberMetadata {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub server_assignor: Option<String>,
}

/// ConsumerGroupCurrentMemberAssignmentValue.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CurrentAssignment {
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    /// Kafka's MemberState: 0 stable, 1 unrevoked partitions, 2 unreleased partitions.
    pub state: i8,
    pub assigned: TopicPartitions,
    pub pending_revocation: TopicPartitions,
}

pub fn encode_key(group: &str, key: &RecordKey) -> Result<Bytes, EncodeError> {
    let mut buf = EncodeBuf::new();
    let (record_type, member) = match key {
        RecordKey::Group => (GROUP_METADATA, None),
        RecordKey::Member(m) => (MEMBER_METADATA, Some(m)),
        RecordKey::TargetMetadata => (TARGET_METADATA, None),
        RecordKey::Target(m) => (TARGET_MEMBER, Some(m)),
        RecordKey::Current(m) => (CURRENT_ASSIGNMENT, Some(m)),
    };
    buf.put_i16(record_type);
    buf.put_string(false, group, "groupId")?;
    if let Some(member) = member {
        buf.put_string(false, member, "memberId")?;
    }
    Ok(buf.to_contiguous())
}

pub fn encode_value(value: &RecordValue) -> Result<Bytes, EncodeError> {
    let mut buf = EncodeBuf::new();
    buf.put_i16(VALUE_VERSION);
    match value {
        RecordValue::Group { epoch } => buf.put_i32(*epoch),
        RecordValue::TargetMetadata { assignment_epoch } => buf.put_i32(*assignment_epoch),
        RecordValue::Member(m) => {
            buf.put_nullable_string(true, m.instance_id.as_deref(), "instanceId")?;
            buf.put_nullable_string(true, m.rack_id.as_deref(), "rackId")?;
            buf.put_string(true, &m.client_id, "clientId")?;
            buf.put_string(true, &m.client_host, "clientHost")?;
            buf.put_array_len(true, m.subscribed_topic_names.len(), "subscribedTopicNames")?;
            for name in &m.subscribed_topic_names {
                buf.put_string(true, name, "subscribedTopicNames")?;
            }
            buf.put_nullable_string(true, m.subscribed_topic_regex.as_deref(), "subscribedTopicRegex")?;
            buf.put_i32(m.rebalance_timeout_ms);
            buf.put_nullable_string(true, m.server_assignor.as_deref(), "serverAssignor")?;
        }
        RecordValue::Target(partitions) => put_partitions(&mut buf, partitions)?,
        RecordValue::Current(c) => {
            buf.put_i32(c.member_epoch);
            buf.put_i32(c.previous_member_epoch);
            buf.put_i8(c.state);
            put_partitions(&mut buf, &c.assigned)?;
            put_partitions(&mut buf, &c.pending_revocation)?;
        }
    }
    // The value's tagged fields: none.
    buf.put_uvarint(0);
    Ok(buf.to_contiguous())
}

/// An array of (topic id, partitions) structs, each with its own (empty) tagged fields.
fn put_partitions(buf: &mut EncodeBuf, partitions: &TopicPartitions) -> Result<(), EncodeError> {
    buf.put_array_len(true, partitions.len(), "topicPartitions")?;
    for (topic_id, indexes) in partitions {
        buf.put_uuid(topic_id);
        buf.put_array_len(true, indexes.len(), "partitions")?;
        for index in indexes {
            buf.put_i32(*index);
        }
        buf.put_uvarint(0);
    }
    Ok(())
}

/// The group and record of a consumer group key; `Ok(None)` for the other types of the
/// topic, and for the partition metadata this broker does not use.
pub fn decode_key(key: Bytes) -> Result<Option<(String, RecordKey)>, DecodeError> {
    let mut r = Reader::new(key);
    let record_type = r.i16()?;
    if !(GROUP_METADATA..=CURRENT_ASSIGNMENT).contains(&record_type) || record_type == PARTITION_METADATA {
        return Ok(None);
    }
    let group = r.string(false, "groupId")?;
    let key = match record_type {
        GROUP_METADATA => RecordKey::Group,
        TARGET_METADATA => RecordKey::TargetMetadata,
        member_type => {
            let member = r.string(false, "memberId")?;
            match member_type {
                MEMBER_METADATA => RecordKey::Member(member),
                TARGET_MEMBER => RecordKey::Target(member),
                _ => RecordKey::Current(member),
            }
        }
    };
    Ok(Some((group, key)))
}

pub fn decode_value(key: &RecordKey, value: Bytes) -> Result<RecordValue, DecodeError> {
    let mut r = Reader::new(value);
    let version = r.i16()?;
    if version != VALUE_VERSION {
        return Err(DecodeError::UnsupportedVersion { api_key: -1, version });
    }
    let value = match key {
        RecordKey::Group => RecordValue::Group { epoch: r.i32()? },
        RecordKey::TargetMetadata => RecordValue::TargetMetadata {
            assignment_epoch: r.i32()?,
        },
        RecordKey::Member(_) => {
            let instance_id = r.nullable_string(true)?;
            let rack_id = r.nullable_string(true)?;
            let client_id = r.string(true, "clientId")?;
            let client_host = r.string(true, "clientHost")?;
            let count = r.array_len(true, "subscribedTopicNames")?;
            let subscribed_topic_names = r.elements(count, |r| r.string(true, "subscribedTopicNames"))?;
            RecordValue::Member(MemberMetadata {
                instance_id,
                rack_id,
                client_id,
                client_host,
                subscribed_topic_names,
                subscribed_topic_regex: r.nullable_string(true)?,
                rebalance_timeout_ms: r.i32()?,
                server_assignor: r.nullable_string(true)?,
            })
        }
        RecordKey::Target(_) => RecordValue::Target(read_partitions(&mut r)?),
        RecordKey::Current(_) => RecordValue::Current(CurrentAssignment {
            member_epoch: r.i32()?,
            previous_member_epoch: r.i32()?,
            state: r.i8()?,
            assigned: read_partitions(&mut r)?,
            pending_revocation: read_partitions(&mut r)?,
        }),
    };
    // Tagged fields of later Kafka versions are not used here.
    r.tagged_fields(|_, _| Ok(()))?;
    Ok(value)
}

fn read_partitions(r: &mut Reader) -> Result<TopicPartitions, DecodeError> {
    let count = r.array_len(true, "topicPartitions")?;
    r.elements(count, |r| {
        let topic_id = r.uuid()?;
        let n = r.array_len(true, "partitions")?;
        let indexes = r.elements(n, Reader::i32)?;
        r.tagged_fields(|_, _| Ok(()))?;
        Ok((topic_id, indexes))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(key: RecordKey, value: RecordValue) -> (Bytes, Bytes) {
        let (k, v) = (encode_key("g", &key).unwrap(), encode_value(&value).unwrap());
        assert_eq!(decode_key(k.clone()).unwrap(), Some(("g".to_string(), key.clone())));
        assert_eq!(decode_value(&key, v.clone()).unwrap(), value);
        (k, v)
    }

    #[test]
    fn consumer_group_records_round_trip_in_kafkas_layout() {
        let (k, v) = round_trip(RecordKey::Group, RecordValue::Group { epoch: 7 });
        assert_eq!(&k[..], b"\x00\x03\x00\x01g");
        assert_eq!(&v[..], b"\x00\x00\x00\x00\x00\x07\x00");
        let (k, _) = round_trip(
            RecordKey::TargetMetadata,
            RecordValue::TargetMetadata { assignment_epoch: 7 },
        );
        assert_eq!(&k[..], b"\x00\x06\x00\x01g");
        let member = MemberMetadata {
            instance_id: None,
            rack_id: Some("r".into()),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            subscribed_topic_names: vec!["t".into()],
            subscribed_topic_regex: None,
            rebalance_timeout_ms: 30_000,
            server_assignor: Some("uniform".into()),
        };
        let (k, v) = round_trip(RecordKey::Member("m".into()), RecordValue::Member(member));
        assert_eq!(&k[..], b"\x00\x05\x00\x01g\x00\x01m");
        // Compact strings: a null instance id is length 0, "r" is length 1 + 1.
        assert_eq!(&v[..5], b"\x00\x00\x00\x02r");
        let id = Uuid([9; 16]);
        let (k, v) = round_trip(
            RecordKey::Target("m".into()),
            RecordValue::Target(vec![(id, vec![0, 2])]),
        );
        assert_eq!(&k[..], b"\x00\x07\x00\x01g\x00\x01m");
        assert_eq!(v.len(), 2 + 1 + 16 + 1 + 8 + 1 + 1);
        let current = CurrentAssignment {
            member_epoch: 5,
            previous_member_epoch: 4,
            state: 1,
            assigned: vec![(id, vec![1])],
            pending_revocation: vec![(id, vec![0])],
        };
        let (k, _) = round_trip(RecordKey::Current("m".into()), RecordValue::Current(current));
        assert_eq!(&k[..], b"\x00\x08\x00\x01g\x00\x01m");
    }

    #[test]
    fn later_tagged_fields_are_skipped_and_other_types_are_not_ours() {
        // A group epoch with a tagged MetadataHash (tag 0, 8 bytes), as Kafka 4.1 writes it.
        let value = Bytes::from_static(b"\x00\x00\x00\x00\x00\x03\x01\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08");
        assert_eq!(
            decode_value(&RecordKey::Group, value).unwrap(),
            RecordValue::Group { epoch: 3 }
        );
        assert_eq!(decode_key(Bytes::from_static(b"\x00\x01\x00\x01g")).unwrap(), None);
        assert_eq!(decode_key(Bytes::from_static(b"\x00\x04\x00\x01g")).unwrap(), None);
    }
}
