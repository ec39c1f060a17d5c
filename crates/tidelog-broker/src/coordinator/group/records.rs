//! The records of `__consumer_offsets`, in Kafka's own key and value formats, so the topic
//! reads the same to Kafka's tools. Each key starts with its record type (Kafka's "key
//! version"), each value with its version. Committed offsets are OffsetCommitKey (type 1)
//! with OffsetCommitValue v3; a null value is a tombstone. Group metadata (type 2) is not
//! written yet and is skipped on replay.

use bytes::Bytes;
use tidelog_protocol::{DecodeError, EncodeBuf, EncodeError, Reader};

use super::state::Committed;

/// OffsetCommitKey's type; type 0 is its older, identical form.
const OFFSET_COMMIT_KEY: i16 = 1;
const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;

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

/// A committed offset (or its tombstone, `None`); `Ok(None)` for other record types.
#[allow(clippy::type_complexity)]
pub fn decode_offset(key: Bytes, value: Option<Bytes>) -> Result<Option<(OffsetKey, Option<Committed>)>, DecodeError> {
    let mut key = Reader::new(key);
    if !matches!(key.i16()?, 0 | OFFSET_COMMIT_KEY) {
        return Ok(None);
    }
    let offset_key = OffsetKey {
        group: key.string(false, "group")?,
        topic: key.string(false, "topic")?,
        partition: key.i32()?,
    };
    let Some(value) = value else {
        return Ok(Some((offset_key, None)));
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
    Ok(Some((offset_key, Some(committed))))
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
        assert_eq!(
            decode_offset(k.clone(), Some(v)).unwrap(),
            Some((key.clone(), Some(value)))
        );
        assert_eq!(decode_offset(k, None).unwrap(), Some((key, None)));
        assert_eq!(
            decode_offset(Bytes::from_static(b"\x00\x02\x00\x01g"), None).unwrap(),
            None
        );
    }
}
