//! openraft's types for the metadata quorum: node ids are KRaft's `node.id`s, a node is a
//! KIP-853 voter (directory id, endpoints, supported kraft.versions), and an entry is one
//! record of `__cluster_metadata-0` (docs/design/quorum.md §3.1).

use std::fmt;
use std::io::Cursor;

use openraft::{LogId, Membership, RaftLogId};
use tidelog_protocol::metadata::records::leader_change_message::LeaderChangeMessage;
use tidelog_protocol::metadata::{KraftControlRecord, VersionedRecord};
use tidelog_protocol::Uuid;

use tidelog_log::NO_TIMESTAMP;

use crate::clock::now_ms;

/// A controller's `node.id`. KRaft's are non-negative `int32`s; openraft wants a `u64`.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The metadata quorum's openraft types.
    pub TypeConfig:
        D = Proposal,
        R = (),
        NodeId = NodeId,
        Node = VoterNode,
        Entry = MetadataEntry,
        SnapshotData = Cursor<Vec<u8>>,
);

/// What a controller proposes: one metadata record, stamped with the leader's clock so that
/// every node writes the same batch for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub timestamp: i64,
    pub record: VersionedRecord,
}

/// A voter as `VotersRecord` describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoterNode {
    pub directory_id: Uuid,
    pub endpoints: Vec<VoterEndpoint>,
    /// The kraft.version range the voter supports.
    pub min_kraft_version: i16,
    pub max_kraft_version: i16,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoterEndpoint {
    pub listener: String,
    pub host: String,
    pub port: u16,
}

/// One entry of the metadata log, which is one record in a batch of its own (or, in a log an
/// older single-node Tidelog wrote, one record of a batch of several).
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataEntry {
    pub log_id: LogId<NodeId>,
    /// The timestamp of the entry's batch: the leader's clock when it made the entry, carried
    /// to followers with it. -1 (no timestamp) in term 0, whose one entry is the membership
    /// `Raft::initialize` makes on every node alike, and in entries made by hand in tests.
    pub timestamp: i64,
    pub payload: Payload,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A new leader's first entry: KRaft's `LeaderChangeMessage`. `None` until the leader's
    /// log store writes it and fills in the leader and voters.
    LeaderChange(Option<LeaderChangeMessage>),
    /// The voters (`VotersRecord`).
    Membership(Membership<NodeId, VoterNode>),
    /// A metadata record.
    Record(VersionedRecord),
    /// Another control record (`KRaftVersionRecord`), which older logs hold.
    Control(KraftControlRecord),
}

impl fmt::Display for MetadataEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.payload {
            Payload::LeaderChange(_) => "leader change".to_string(),
            Payload::Membership(m) => format!("voters {m}"),
            Payload::Record(r) => format!("{:?}", r.record.record_type()),
            Payload::Control(c) => format!("{:?}", c.control_type()),
        };
        write!(f, "{}: {what}", self.log_id)
    }
}

impl openraft::entry::RaftPayload<NodeId, VoterNode> for MetadataEntry {
    fn is_blank(&self) -> bool {
        matches!(self.payload, Payload::LeaderChange(_))
    }

    fn get_membership(&self) -> Option<&Membership<NodeId, VoterNode>> {
        match &self.payload {
            Payload::Membership(m) => Some(m),
            _ => None,
        }
    }
}

impl RaftLogId<NodeId> for MetadataEntry {
    fn get_log_id(&self) -> &LogId<NodeId> {
        &self.log_id
    }

    fn set_log_id(&mut self, log_id: &LogId<NodeId>) {
        // openraft makes a leader's blank and membership entries with a default id and gives
        // them theirs as the leader appends them: that is when they get the leader's clock.
        if self.timestamp == NO_TIMESTAMP && log_id.leader_id.term != 0 {
            self.timestamp = now_ms();
        }
        self.log_id = *log_id;
    }
}

impl openraft::entry::RaftEntry<NodeId, VoterNode> for MetadataEntry {
    fn new_blank(log_id: LogId<NodeId>) -> Self {
        MetadataEntry {
            log_id,
            timestamp: NO_TIMESTAMP,
            payload: Payload::LeaderChange(None),
        }
    }

    fn new_membership(log_id: LogId<NodeId>, m: Membership<NodeId, VoterNode>) -> Self {
        MetadataEntry {
            log_id,
            timestamp: NO_TIMESTAMP,
            payload: Payload::Membership(m),
        }
    }
}

impl openraft::entry::FromAppData<Proposal> for MetadataEntry {
    fn from_app_data(proposal: Proposal) -> Self {
        MetadataEntry {
            log_id: LogId::default(),
            timestamp: proposal.timestamp,
            payload: Payload::Record(proposal.record),
        }
    }
}
