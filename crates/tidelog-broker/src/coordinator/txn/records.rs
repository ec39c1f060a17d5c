//! The records of `__transaction_state`, in Kafka's key and value formats, so the topic
//! reads the same to Kafka's tools: the key is TransactionLogKey v0 (`version i16 |
//! transactional_id string`), the value TransactionLogValue v0 (`version i16 | producer_id
//! i64 | producer_epoch i16 | timeout_ms i32 | state i8 | partitions [topic string,
//! [partition i32]] (null when Empty) | last_update_ms i64 | start_ms i64`). Values of v1
//! (flexible, with tagged fields for transactions v2) are read too; a null value is a
//! tombstone for an expired id.

use std::collections::BTreeSet;

use bytes::Bytes;
use tidelog_protocol::{DecodeError, EncodeBuf, EncodeError, Reader};

use super::state::{TxnMetadata, TxnState};

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 0;
const MAX_VALUE_VERSION: i16 = 1;

pub fn encode_key(transactional_id: &str) -> Result<Bytes, EncodeError> {
    let mut buf = EncodeBuf::new();
    buf.put_i16(KEY_VERSION);
    buf.put_string(false, transactional_id, "transactionalId")?;
    Ok(buf.to_contiguous())
}

pub fn encode_value(txn: &TxnMetadata) -> Result<Bytes, EncodeError> {
    let mut buf = EncodeBuf::new();
    buf.put_i16(VALUE_VERSION);
    buf.put_i64(txn.producer_id);
    buf.put_i16(txn.producer_epoch);
    buf.put_i32(txn.timeout_ms);
    buf.put_i8(txn.state.id());
    if txn.state == TxnState::Empty {
        buf.put_null_array(false);
    } else {
        let topics = by_topic(&txn.partitions);
        buf.put_array_len(false, topics.len(), "transactionPartitions")?;
        for (topic, partitions) in topics {
            buf.put_string(false, topic, "topic")?;
            buf.put_array_len(false, partitions.len(), "partitionIds")?;
            for p in partitions {
                buf.put_i32(p);
            }
        }
    }
    buf.put_i64(txn.last_update_ms);
    buf.put_i64(txn.start_ms);
    Ok(buf.to_contiguous())
}

/// Partitions grouped by topic, in order.
pub fn by_topic(partitions: &BTreeSet<(String, i32)>) -> Vec<(&str, Vec<i32>)> {
    let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
    for (topic, p) in partitions {
        match topics.last_mut() {
            Some((t, ps)) if t == topic => ps.push(*p),
            _ => topics.push((topic, vec![*p])),
        }
    }
    topics
}

/// A record of the topic: its transactional id and metadata, `None` for a tombstone.
pub fn decode(key: Bytes, value: Option<Bytes>) -> Result<(String, Option<TxnMetadata>), DecodeError> {
    let mut key = Reader::new(key);
    let version = key.i16()?;
    if version != KEY_VERSION {
        return Err(DecodeError::UnsupportedVersion { api_key: -1, version });
    }
    let id = key.string(false, "transactionalId")?;
    let Some(value) = value else {
        return Ok((id, None));
    };
    let mut r = Reader::new(value);
    let version = r.i16()?;
    if version > MAX_VALUE_VERSION {
        return Err(DecodeError::UnsupportedVersion { api_key: -1, version });
    }
    let flexible = version >= 1;
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let state_id = r.i8()?;
    let state = TxnState::from_id(state_id).ok_or(DecodeError::UnsupportedVersion {
        api_key: -1,
        version: i16::from(state_id),
    })?;
    let mut partitions = BTreeSet::new();
    for _ in 0..r.nullable_array_len(flexible)?.unwrap_or(0) {
        let topic = r.string(flexible, "topic")?;
        for _ in 0..r.array_len(flexible, "partitionIds")? {
            partitions.insert((topic.clone(), r.i32()?));
        }
        if flexible {
            skip_tagged_fields(&mut r)?;
        }
    }
    let last_update_ms = r.i64()?;
    let start_ms = r.i64()?;
    Ok((
        id.clone(),
        Some(TxnMetadata {
            transactional_id: id,
            producer_id,
            producer_epoch,
            last_producer_epoch: -1,
            timeout_ms,
            state,
            partitions,
            start_ms,
            last_update_ms,
        }),
    ))
}

fn skip_tagged_fields(r: &mut Reader) -> Result<(), DecodeError> {
    for _ in 0..r.tagged_field_count()? {
        let _tag = r.uvarint()?;
        let len = r.uvarint()? as usize;
        r.take(len)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_in_kafkas_v0_layout() {
        let mut txn = TxnMetadata::new("tx", 42, 60_000, 1_000);
        let key = encode_key("tx").unwrap();
        assert_eq!(&key[..], b"\x00\x00\x00\x02tx");
        let empty = encode_value(&txn).unwrap();
        // version, id, epoch, timeout, state, null array, two timestamps
        assert_eq!(empty.len(), 2 + 8 + 2 + 4 + 1 + 4 + 8 + 8);
        assert_eq!(&empty[17..21], b"\xff\xff\xff\xff");
        assert_eq!(
            decode(key.clone(), Some(empty)).unwrap(),
            ("tx".into(), Some(txn.clone()))
        );

        txn.state = TxnState::PrepareCommit;
        txn.start_ms = 900;
        txn.partitions = [("a".into(), 1), ("a".into(), 0), ("b".into(), 3)].into();
        let value = encode_value(&txn).unwrap();
        assert_eq!(value[16], 2, "PrepareCommit's id");
        assert_eq!(decode(key.clone(), Some(value)).unwrap().1, Some(txn));
        assert_eq!(decode(key, None).unwrap(), ("tx".into(), None));
    }
}
