//! The metadata quorum as an operator reads it (the console's overview), in the terms of
//! Kafka's `kafka-metadata-quorum describe --status`: leader, epoch, high watermark and
//! voters, from openraft's metrics of this node.

use std::collections::BTreeMap;

use openraft::{RaftMetrics, ServerState};

use super::types::{NodeId, VoterNode};

/// Where the quorum stands, as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    /// The leader's node id, if there is one.
    pub leader: Option<NodeId>,
    /// The Raft term: KRaft's leader epoch.
    pub epoch: u64,
    /// What this node is in the quorum (`Leader`, `Follower`, `Candidate`, `Learner`).
    pub role: &'static str,
    /// The offset of the last committed metadata record this node applied to its image.
    pub committed_offset: Option<u64>,
    /// The offset of the last record in this node's metadata log.
    pub last_offset: Option<u64>,
    /// The voters, by node id, with their directory ids and endpoints.
    pub voters: Vec<(NodeId, VoterNode)>,
    /// On the leader: the offset of the last entry each voter is known to hold (itself
    /// included), as replication has matched it.
    pub matched: BTreeMap<NodeId, Option<u64>>,
}

impl QuorumStatus {
    pub fn of(metrics: &RaftMetrics<NodeId, VoterNode>) -> QuorumStatus {
        let membership = metrics.membership_config.membership();
        let voters = membership
            .voter_ids()
            .map(|id| (id, membership.get_node(&id).cloned().unwrap_or_default()))
            .collect();
        QuorumStatus {
            leader: metrics.current_leader,
            epoch: metrics.current_term,
            role: match metrics.state {
                ServerState::Leader => "Leader",
                ServerState::Follower => "Follower",
                ServerState::Candidate => "Candidate",
                ServerState::Learner => "Learner",
                ServerState::Shutdown => "Shut down",
            },
            committed_offset: metrics.last_applied.map(|id| id.index),
            last_offset: metrics.last_log_index,
            voters,
            matched: metrics
                .replication
                .iter()
                .flatten()
                .map(|(id, matched)| (*id, matched.map(|log_id| log_id.index)))
                .collect(),
        }
    }
}
