//! The records of `__consumer_offsets`, in Kafka's own key and value formats, so the topic
//! reads the same to Kafka's tools. Each key starts with its record type (Kafka's "key
//! version"), each value with its version; a null value is a tombstone. Committed offsets
//! are OffsetCommitKey (type 1) with OffsetCommitValue v3, groups GroupMetadataKey (type 2)
//! with GroupMetadataValue v3; values are read from v0 to v3 (v4, flexible, is not written
//! by Kafka yet).

use bytes::Bytes;
use tidelog_protocol::{DecodeError, EncodeBuf, EncodeError, Reader};

use super::state::Committed;

/// OffsetCommitKey's type; type 0 is its older, identical form.
const OFFSET_COMMIT_KEY: i16 = 1;
const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
const GROUP_METADATA_KEY: i16 = 2;
const GROUP_METADATA_VALUE_VERSION: i16 = 3;

/// A group's membership as of its last completed rebalance (GroupMetadataValue).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GroupMetadata {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<MemberMetadata>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemberMetadata {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout: i32,
    pub session_timeout: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// One record of the topic; a `None` value is a tombstone.
#[derive(Debug, Clone, PartialEq)]
pub enum OffsetsRecord {
    Offset(OffsetKey, Option<Committed>),
    Group(String, Option<GroupMetadata>),
}

/// The partition a committed offset belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetKey {
    pub group: String,
    pub topic: String,
    pub partition: i32,
}

pub fn encode_offset_key(key: &OffsetKey) -> Result<Bytes, EncodeError> {
    let mut buf = EncodeBuf::new();
    buf.put_i16(OFFSET_COMMIT_KEY);
    buf.put_string(false, &key.group, "group")?;
    buf.put_string(false, &key.topic, "topic")?;
    buf.put_i32(key.partition);
    Ok(buf.to_contiguous())
}

pub fn encode_offset_value(value: &Committed) -> Result<Bytes, EncodeError> {
    let mut buf = EncodeBuf::new();
    buf.put_i16(OFFSET_COMMIT_VALUE_VERSION);
    buf.put_i64(value.offset);
    buf.put_i32(value.leader_epoch);
    buf.put_string(false, &value.metadata, "metadata")?;
    buf.put_i64(value.commit_timestamp);
    Ok(buf.to_contiguous())
}

pub fn encode_group_key(group: &str) -> Result<Bytes, EncodeError> {
    let mut buf = EncodeBuf::new();
    buf.put_i16(GROUP_METADATA_KEY);
    buf.put_string(false, group, "group")?;
    Ok(buf.to_contiguous())
}

pub fn encode_group_value(value: &GroupMetadata) -> Result<Bytes, EncodeError> {
    let mut buf = EncodeBuf::new();
    buf.put_i16(GROUP_METADATA_VALUE_VERSION);
    buf.put_string(false, &value.protocol_type, "protocolType")?;
    buf.put_i32(value.generation);
    buf.put_nullable_string(false, value.protocol.as_deref(), "protocol")?;
    buf.put_nullable_string(false, value.leader.as_deref(), "leader")?;
    buf.put_i64(value.current_state_timestamp);
    buf.put_array_len(false, value.members.len(), "members")?;
    for m in &value.members {
        buf.put_string(false, &m.member_id, "memberId")?;
        buf.put_nullable_string(false, m.group_instance_id.as_deref(), "groupInstanceId")?;
        buf.put_string(false, &m.client_id, "clientId")?;
        buf.put_string(false, &m.client_host, "clientHost")?;
        buf.put_i32(m.rebalance_timeout);
        buf.put_i32(m.session_timeout);
        buf.put_bytes(false, &m.subscription, "subscription")?;
        buf.put_bytes(false, &m.assignment, "assignment")?;
    }
    Ok(buf.to_contiguous())
}

/// A record of the topic; `Ok(None)` for record types not used here (KIP-848 groups, ...).
pub fn decode(key: Bytes, value: Option<Bytes>) -> Result<Option<OffsetsRecord>, DecodeError> {
    let mut key = Reader::new(key);
    match key.i16()? {
        0 | OFFSET_COMMIT_KEY => decode_offset(key, value).map(Some),
        GROUP_METADATA_KEY => {
            let group = key.string(false, "group")?;
            let metadata = value.map(decode_group_value).transpose()?;
            Ok(Some(OffsetsRecord::Group(group, metadata)))
        }
        _ => Ok(None),
    }
}

fn decode_group_value(value: Bytes) -> Result<GroupMetadata, DecodeError> {
    let mut r = Reader::new(value);
    let version = r.i16()?;
    if version > GROUP_METADATA_VALUE_VERSION {
        return Err(DecodeError::UnsupportedVersion { api_key: -1, version });
    }
    let mut metadata = GroupMetadata {
        protocol_type: r.string(false, "protocolType")?,
        generation: r.i32()?,
        protocol: r.nullable_string(false)?,
        leader: r.nullable_string(false)?,
        current_state_timestamp: if version >= 2 { r.i64()? } else { -1 },
        members: Vec::new(),
    };
    for _ in 0..r.array_len(false, "members")? {
        let member_id = r.string(false, "memberId")?;
        let group_instance_id = if version >= 3 { r.nullable_string(false)? } else { None };
        let client_id = r.string(false, "clientId")?;
        let client_host = r.string(false, "clientHost")?;
        let rebalance_timeout = if version >= 1 { Some(r.i32()?) } else { None };
        let session_timeout = r.i32()?;
        metadata.members.push(MemberMetadata {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout: rebalance_timeout.unwrap_or(session_timeout),
            session_timeout,
            subscription: r.bytes(false, "subscription")?,
            assignment: r.bytes(false, "assignment")?,
        });
    }
    Ok(metadata)
}

/// The rest of an offset commit record, after the key's type.
fn decode_offset(mut key: Reader, value: Option<Bytes>) -> Result<OffsetsRecord, DecodeError> {
    let offset_key = OffsetKey {
        group: key.string(false, "group")?,
        topic: key.string(false, "topic")?,
        partition: key.i32()?,
    };
    let Some(value) = value else {
        return Ok(OffsetsRecord::Offset(offset_key, None));
    };
    let mut value = Reader::new(value);
    let version = value.i16()?;
    // Version 4 is flexible (compact strings); 1 alone has an expire timestamp, 3+ an epoch.
    let flexible = version >= 4;
    let offset = value.i64()?;
    let leader_epoch = if version >= 3 { value.i32()? } else { -1 };
    let metadata = value.string(flexible, "metadata")?;
    let commit_timestamp = value.i64()?;
    let committed = Committed {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
    };
    Ok(OffsetsRecord::Offset(offset_key, Some(committed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_records_round_trip_in_kafkas_layout() {
        let key = OffsetKey {
            group: "g".into(),
            topic: "t".into(),
            partition: 7,
        };
        let value = Committed {
            offset: 42,
            leader_epoch: 3,
            metadata: "m".into(),
            commit_timestamp: 1_000,
        };
        let (k, v) = (encode_offset_key(&key).unwrap(), encode_offset_value(&value).unwrap());
        assert_eq!(&k[..], b"\x00\x01\x00\x01g\x00\x01t\x00\x00\x00\x07");
        assert_eq!(&v[..2], b"\x00\x03");
        assert_eq!(v.len(), 2 + 8 + 4 + 3 + 8);
        let decoded = decode(k.clone(), Some(v)).unwrap();
        assert_eq!(decoded, Some(OffsetsRecord::Offset(key.clone(), Some(value))));
        assert_eq!(decode(k, None).unwrap(), Some(OffsetsRecord::Offset(key, None)));
        assert_eq!(decode(Bytes::from_static(b"\x00\x03\x00\x01g"), None).unwrap(), None);
    }

    #[test]
    fn group_records_round_trip() {
        let value = GroupMetadata {
            protocol_type: "consumer".into(),
            generation: 4,
            protocol: Some("range".into()),
            leader: Some("m".into()),
            current_state_timestamp: 1_000,
            members: vec![MemberMetadata {
                member_id: "m".into(),
                group_instance_id: Some("i".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout: 30_000,
                session_timeout: 10_000,
                subscription: Bytes::from_static(b"s"),
                assignment: Bytes::from_static(b"a"),
            }],
        };
        let (k, v) = (encode_group_key("g").unwrap(), encode_group_value(&value).unwrap());
        assert_eq!(&k[..], b"\x00\x02\x00\x01g");
        let decoded = decode(k.clone(), Some(v)).unwrap();
        assert_eq!(decoded, Some(OffsetsRecord::Group("g".into(), Some(value))));
        assert_eq!(decode(k, None).unwrap(), Some(OffsetsRecord::Group("g".into(), None)));
    }
}
