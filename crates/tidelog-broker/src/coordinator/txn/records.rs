//! The records of `__transaction_state`, in Kafka's key and value formats, so the topic
//! reads the same to Kafka's tools. The key is TransactionLogKey v0 (`version i16 |
//! transactional_id string`). The value is TransactionLogValue v1, what Kafka writes once
//! the cluster's `transaction.version` is 1 or more (this broker finalizes it at 2):
//! `version i16 | producer_id i64 | producer_epoch i16 | timeout_ms i32 | state i8 |
//! partitions [topic string, [partition i32]] (null when Empty) | last_update_ms i64 |
//! start_ms i64` in the flexible encoding, then the tagged fields PreviousProducerId (tag
//! 0), NextProducerId (tag 1) and ClientTransactionVersion (tag 2), left out at their
//! defaults (-1, -1, 0). They let recovery know that a transaction bumps its epoch at the
//! end (transactions v2) and which producer id its producer goes on with. Values of v0
//! (the same fields, not flexible, no tags: older logs) are read too. A null value is a
//! tombstone for an expired id.

use std::collections::BTreeSet;

use bytes::Bytes;
use tidelog_protocol::codec::TaggedWriter;
use tidelog_protocol::{DecodeError, EncodeBuf, EncodeError, Reader};

use crate::grouping::partitions_by_topic;

use super::state::{TxnMetadata, TxnState, NO_PRODUCER_ID, TV_0};

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 1;

const TAG_PREVIOUS_PRODUCER_ID: u32 = 0;
const TAG_NEXT_PRODUCER_ID: u32 = 1;
const TAG_CLIENT_TRANSACTION_VERSION: u32 = 2;

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
        buf.put_null_array(true);
    } else {
        let topics = partitions_by_topic(&txn.partitions);
        buf.put_array_len(true, topics.len(), "transactionPartitions")?;
        for (topic, partitions) in topics {
            buf.put_string(true, topic, "topic")?;
            buf.put_array_len(true, partitions.len(), "partitionIds")?;
            for p in partitions {
                buf.put_i32(p);
            }
            TaggedWriter::new().finish(&mut buf, &[]);
        }
    }
    buf.put_i64(txn.last_update_ms);
    buf.put_i64(txn.start_ms);
    // Tagged fields at their defaults are left out, as Kafka's codecs leave them.
    let mut tagged = TaggedWriter::new();
    if txn.previous_producer_id != NO_PRODUCER_ID {
        tagged.field(TAG_PREVIOUS_PRODUCER_ID).put_i64(txn.previous_producer_id);
    }
    if txn.next_producer_id != NO_PRODUCER_ID {
        tagged.field(TAG_NEXT_PRODUCER_ID).put_i64(txn.next_producer_id);
    }
    if txn.client_version != TV_0 {
        tagged.field(TAG_CLIENT_TRANSACTION_VERSION).put_i16(txn.client_version);
    }
    tagged.finish(&mut buf, &[]);
    Ok(buf.to_contiguous())
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
    if version > VALUE_VERSION {
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
            r.tagged_fields(|_, _| Ok(()))?;
        }
    }
    let last_update_ms = r.i64()?;
    let start_ms = r.i64()?;
    let (mut previous_producer_id, mut next_producer_id, mut client_version) = (NO_PRODUCER_ID, NO_PRODUCER_ID, TV_0);
    if flexible {
        r.tagged_fields(|tag, mut field| {
            match tag {
                TAG_PREVIOUS_PRODUCER_ID => previous_producer_id = field.i64()?,
                TAG_NEXT_PRODUCER_ID => next_producer_id = field.i64()?,
                TAG_CLIENT_TRANSACTION_VERSION => client_version = field.i16()?,
                _ => {}
            }
            Ok(())
        })?;
    }
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
            client_version,
            previous_producer_id,
            next_producer_id,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::txn::state::TV_2;

    #[test]
    fn values_round_trip_in_kafkas_v1_layout() {
        let mut txn = TxnMetadata::new("tx", 42, 60_000, 1_000);
        let key = encode_key("tx").unwrap();
        assert_eq!(&key[..], b"\x00\x00\x00\x02tx");
        let empty = encode_value(&txn).unwrap();
        // version, id, epoch, timeout, state, null array, two timestamps, no tagged fields
        assert_eq!(empty.len(), 2 + 8 + 2 + 4 + 1 + 1 + 8 + 8 + 1);
        assert_eq!(&empty[..2], b"\x00\x01");
        assert_eq!((empty[17], empty[34]), (0, 0), "a null compact array, no tags");
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

    #[test]
    fn v0_values_of_older_logs_are_read() {
        let mut v0 = EncodeBuf::new();
        v0.put_i16(0);
        v0.put_i64(42);
        v0.put_i16(3);
        v0.put_i32(60_000);
        v0.put_i8(TxnState::CompleteCommit.id());
        v0.put_array_len(false, 1, "transactionPartitions").unwrap();
        v0.put_string(false, "a", "topic").unwrap();
        v0.put_array_len(false, 1, "partitionIds").unwrap();
        v0.put_i32(5);
        v0.put_i64(1_000);
        v0.put_i64(900);
        let (_, txn) = decode(encode_key("tx").unwrap(), Some(v0.to_contiguous())).unwrap();
        let txn = txn.unwrap();
        assert_eq!(
            (txn.producer_id, txn.producer_epoch, txn.state, txn.start_ms),
            (42, 3, TxnState::CompleteCommit, 900)
        );
        assert_eq!(txn.partitions, [("a".to_string(), 5)].into());
        assert_eq!(
            (txn.client_version, txn.previous_producer_id, txn.next_producer_id),
            (TV_0, NO_PRODUCER_ID, NO_PRODUCER_ID)
        );
    }

    #[test]
    fn transactions_v2_values_are_v1_with_tagged_fields() {
        let key = encode_key("tx").unwrap();
        let mut txn = TxnMetadata::new("tx", 42, 60_000, 1_000);
        txn.client_version = TV_2;
        txn.state = TxnState::PrepareCommit;
        txn.producer_epoch = i16::MAX;
        txn.next_producer_id = 43;
        txn.start_ms = 900;
        txn.partitions = [("a".into(), 0)].into();
        let value = encode_value(&txn).unwrap();
        assert_eq!(&value[..2], b"\x00\x01", "value version 1");
        // Compact array of one topic: "a" as a compact string, one partition, no tags.
        assert_eq!(&value[17..25], b"\x02\x02a\x02\x00\x00\x00\x00");
        assert_eq!(value[25], 0, "the partition entry's tagged fields");
        // NextProducerId (tag 1) and ClientTransactionVersion (tag 2); PreviousProducerId
        // is at its default, so left out.
        assert_eq!(
            &value[value.len() - 15..],
            b"\x02\x01\x08\x00\x00\x00\x00\x00\x00\x00\x2b\x02\x02\x00\x02"
        );
        assert_eq!(decode(key.clone(), Some(value)).unwrap().1.as_ref(), Some(&txn));

        let completed = txn.complete(2_000);
        assert_eq!(
            (
                completed.producer_id,
                completed.previous_producer_id,
                completed.next_producer_id
            ),
            (43, 42, NO_PRODUCER_ID)
        );
        let value = encode_value(&completed).unwrap();
        assert_eq!(decode(key, Some(value)).unwrap().1, Some(completed));
    }
}
