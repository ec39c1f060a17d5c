//! Entries as the metadata log holds them (docs/design/quorum.md §3): each entry a batch of
//! its own at offset = index, of leader epoch = term; a membership a `VotersRecord`, a
//! leader's first entry a `LeaderChangeMessage`. The batches of an older single-node log,
//! several records each, read as one entry per record.

use std::collections::{BTreeMap, BTreeSet};

use openraft::{CommittedLeaderId, LogId, Membership};
use tidelog_protocol::metadata::records::voters_record::{Endpoint, KraftVersionFeature, Voter, VotersRecord};
use tidelog_protocol::metadata::{read_batch, KraftControlRecord, MetadataError, MetadataLogRecord};
use tidelog_protocol::records::{RecordBatch, RecordBatchBuilder};

use super::types::{MetadataEntry, NodeId, Payload, VoterEndpoint, VoterNode};
use crate::metadata::kraft::MAX_BATCH_RECORDS_BYTES;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("the entry at offset {offset} cannot be encoded: {reason}")]
    Encode { offset: u64, reason: String },
    #[error("the batch at offset {offset} cannot be read: {source}")]
    Decode { offset: i64, source: MetadataError },
    #[error("the batch at offset {offset} holds {what}, which is out of range")]
    Range { offset: i64, what: String },
}

/// The batch of `entry`, which must not be a leader change still to fill in.
pub fn encode(entry: &MetadataEntry) -> Result<RecordBatch, CodecError> {
    let offset = entry.log_id.index;
    let refused = |reason: String| CodecError::Encode { offset, reason };
    let record = match &entry.payload {
        Payload::LeaderChange(Some(message)) => {
            MetadataLogRecord::Control(KraftControlRecord::LeaderChangeMessage(message.clone()))
        }
        Payload::LeaderChange(None) => return Err(refused("its leader is not filled in".into())),
        Payload::Membership(membership) => {
            MetadataLogRecord::Control(KraftControlRecord::VotersRecord(voters_record(membership)?))
        }
        Payload::Record(record) => MetadataLogRecord::Metadata(record.clone()),
        Payload::Control(control) => MetadataLogRecord::Control(control.clone()),
    };
    let base_offset = i64::try_from(offset).map_err(|_| refused("its index is past i64".into()))?;
    let epoch = i32::try_from(entry.log_id.leader_id.term).map_err(|_| refused("its term is past i32".into()))?;
    let (key, value) = record.encode().map_err(|e| refused(e.to_string()))?;
    let mut builder = RecordBatchBuilder::new(base_offset)
        .partition_leader_epoch(epoch)
        .control(matches!(record, MetadataLogRecord::Control(_)));
    builder.append(entry.timestamp, key.as_deref(), Some(&value), &[]);
    Ok(builder.build())
}

/// The entries of `batch`: one per record, index = offset, term = the batch's epoch.
pub fn decode(batch: &RecordBatch) -> Result<Vec<MetadataEntry>, CodecError> {
    let base = batch.base_offset();
    let term = u64::try_from(batch.partition_leader_epoch()).map_err(|_| CodecError::Range {
        offset: base,
        what: format!("leader epoch {}", batch.partition_leader_epoch()),
    })?;
    let records =
        read_batch(batch, MAX_BATCH_RECORDS_BYTES).map_err(|source| CodecError::Decode { offset: base, source })?;
    records
        .into_iter()
        .map(|(offset, record)| {
            let index = u64::try_from(offset).map_err(|_| CodecError::Range {
                offset: base,
                what: format!("offset {offset}"),
            })?;
            let payload = match record {
                MetadataLogRecord::Metadata(record) => Payload::Record(record),
                MetadataLogRecord::Control(KraftControlRecord::LeaderChangeMessage(m)) => {
                    Payload::LeaderChange(Some(m))
                }
                MetadataLogRecord::Control(KraftControlRecord::VotersRecord(v)) => Payload::Membership(membership(&v)),
                MetadataLogRecord::Control(control) => Payload::Control(control),
            };
            Ok(MetadataEntry {
                log_id: LogId::new(CommittedLeaderId::new(term, 0), index),
                timestamp: batch.max_timestamp(),
                payload,
            })
        })
        .collect()
}

/// `membership` as KIP-853's `VotersRecord`: its voters (the new ones of a joint
/// configuration), and in Tidelog's tagged fields the old voters' ids and the nodes that
/// are not voters.
pub fn voters_record(membership: &Membership<NodeId, VoterNode>) -> Result<VotersRecord, CodecError> {
    let configs = membership.get_joint_config();
    let (old, new) = match configs.as_slice() {
        [] => (None, BTreeSet::new()),
        [only] => (None, only.clone()),
        [old, new] => (Some(old), new.clone()),
        more => {
            return Err(CodecError::Encode {
                offset: 0,
                reason: format!("a membership of {} configurations", more.len()),
            })
        }
    };
    let mut voters = Vec::new();
    let mut others = Vec::new();
    for (&id, node) in membership.nodes() {
        let voter = voter(id, node)?;
        match new.contains(&id) {
            true => voters.push(voter),
            false => others.push(voter),
        }
    }
    let joint_ids = old.map_or(Ok(Vec::new()), |old| old.iter().map(|&id| node_id_i32(id)).collect())?;
    Ok(VotersRecord {
        voters,
        tidelog_joint_voter_ids: joint_ids,
        tidelog_other_nodes: others,
        ..Default::default()
    })
}

/// The membership `record` describes: the inverse of [`voters_record`]. A voter id that is
/// not a valid node id (negative) is left out: no Kafka or Tidelog writes one.
pub fn membership(record: &VotersRecord) -> Membership<NodeId, VoterNode> {
    let id = |id: i32| u64::try_from(id).ok();
    let new: BTreeSet<NodeId> = record.voters.iter().filter_map(|v| id(v.voter_id)).collect();
    let mut configs = Vec::new();
    if !record.tidelog_joint_voter_ids.is_empty() {
        configs.push(record.tidelog_joint_voter_ids.iter().filter_map(|&v| id(v)).collect());
    }
    if !new.is_empty() || !configs.is_empty() {
        configs.push(new);
    }
    let nodes: BTreeMap<NodeId, VoterNode> = record
        .voters
        .iter()
        .chain(&record.tidelog_other_nodes)
        .filter_map(|v| Some((id(v.voter_id)?, voter_node(v))))
        .collect();
    Membership::new(configs, nodes)
}

fn node_id_i32(id: NodeId) -> Result<i32, CodecError> {
    i32::try_from(id).map_err(|_| CodecError::Encode {
        offset: 0,
        reason: format!("node id {id} is past KRaft's int32"),
    })
}

fn voter(id: NodeId, node: &VoterNode) -> Result<Voter, CodecError> {
    Ok(Voter {
        voter_id: node_id_i32(id)?,
        voter_directory_id: node.directory_id,
        endpoints: node
            .endpoints
            .iter()
            .map(|e| Endpoint {
                name: e.listener.clone(),
                host: e.host.clone(),
                port: e.port,
                ..Default::default()
            })
            .collect(),
        kraft_version_feature: KraftVersionFeature {
            min_supported_version: node.min_kraft_version,
            max_supported_version: node.max_kraft_version,
            ..Default::default()
        },
        ..Default::default()
    })
}

fn voter_node(voter: &Voter) -> VoterNode {
    VoterNode {
        directory_id: voter.voter_directory_id,
        endpoints: voter
            .endpoints
            .iter()
            .map(|e| VoterEndpoint {
                listener: e.name.clone(),
                host: e.host.clone(),
                port: e.port,
            })
            .collect(),
        min_kraft_version: voter.kraft_version_feature.min_supported_version,
        max_kraft_version: voter.kraft_version_feature.max_supported_version,
    }
}

#[cfg(test)]
mod tests {
    use tidelog_protocol::metadata::records::leader_change_message::{self, LeaderChangeMessage};
    use tidelog_protocol::metadata::records::topic_record::TopicRecord;
    use tidelog_protocol::metadata::{MetadataRecord, VersionedRecord};
    use tidelog_protocol::Uuid;

    use super::*;

    fn log_id(term: u64, index: u64) -> LogId<NodeId> {
        LogId::new(CommittedLeaderId::new(term, 0), index)
    }

    fn node(port: u16) -> VoterNode {
        VoterNode {
            directory_id: Uuid::from_u128(u128::from(port)),
            endpoints: vec![VoterEndpoint {
                listener: "CONTROLLER".into(),
                host: "127.0.0.1".into(),
                port,
            }],
            min_kraft_version: 0,
            max_kraft_version: 1,
        }
    }

    fn round_trip(entry: MetadataEntry) {
        let batch = encode(&entry).unwrap();
        assert_eq!(batch.base_offset() as u64, entry.log_id.index);
        assert_eq!(batch.partition_leader_epoch() as u64, entry.log_id.leader_id.term);
        let batch = RecordBatch::parse(batch.as_bytes().clone()).unwrap();
        batch.verify_crc().unwrap();
        assert_eq!(decode(&batch).unwrap(), vec![entry]);
    }

    #[test]
    fn every_kind_of_entry_reads_back_as_written() {
        let topic = VersionedRecord {
            version: 0,
            record: MetadataRecord::TopicRecord(TopicRecord {
                name: "orders".into(),
                topic_id: Uuid::from_u128(9),
                ..Default::default()
            }),
        };
        round_trip(MetadataEntry {
            log_id: log_id(3, 17),
            timestamp: 1_700_000_000_000,
            payload: Payload::Record(topic),
        });
        let leader = leader_change_message::Voter {
            voter_id: 2,
            ..Default::default()
        };
        round_trip(MetadataEntry {
            log_id: log_id(4, 18),
            timestamp: 1_700_000_000_001,
            payload: Payload::LeaderChange(Some(LeaderChangeMessage {
                leader_id: 2,
                voters: vec![leader.clone()],
                granting_voters: vec![leader],
                ..Default::default()
            })),
        });
        let uniform = Membership::new(
            vec![BTreeSet::from([1, 2, 3])],
            BTreeMap::from([(1, node(1)), (2, node(2)), (3, node(3))]),
        );
        round_trip(MetadataEntry {
            log_id: log_id(0, 0),
            timestamp: -1,
            payload: Payload::Membership(uniform),
        });
        // Joint {1,2,3} → {2,3,4}, with a learner 5.
        let joint = Membership::new(
            vec![BTreeSet::from([1, 2, 3]), BTreeSet::from([2, 3, 4])],
            (1..=5).map(|id| (id, node(id as u16))).collect::<BTreeMap<_, _>>(),
        );
        round_trip(MetadataEntry {
            log_id: log_id(5, 19),
            timestamp: 1_700_000_000_002,
            payload: Payload::Membership(joint),
        });
    }

    #[test]
    fn a_uniform_membership_is_kafkas_voters_record_byte_for_byte() {
        let membership = Membership::new(vec![BTreeSet::from([1])], BTreeMap::from([(1, node(9093))]));
        let record = voters_record(&membership).unwrap();
        assert!(record.tidelog_joint_voter_ids.is_empty() && record.tidelog_other_nodes.is_empty());
        let kafkas = VotersRecord {
            voters: vec![voter(1, &node(9093)).unwrap()],
            ..Default::default()
        };
        let encode = |r: VotersRecord| {
            MetadataLogRecord::Control(KraftControlRecord::VotersRecord(r))
                .encode()
                .unwrap()
        };
        assert_eq!(encode(record), encode(kafkas));
    }

    #[test]
    fn an_unfilled_leader_change_is_refused() {
        let entry = MetadataEntry {
            log_id: log_id(1, 0),
            timestamp: 0,
            payload: Payload::LeaderChange(None),
        };
        assert!(matches!(encode(&entry), Err(CodecError::Encode { offset: 0, .. })));
    }
}
