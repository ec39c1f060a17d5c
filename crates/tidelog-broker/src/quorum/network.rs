//! The network of a quorum of one voter, which has no one to send to. Replacing it with the
//! controller listener's transport is step S8 of docs/design/quorum.md; until then a voter
//! set of more than one node is refused at start, so nothing ever calls it.

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};

use super::types::{NodeId, TypeConfig, VoterNode};

/// Every node other than this one is unreachable.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPeers;

#[derive(Debug, thiserror::Error)]
#[error("node {0} is not reachable: this quorum has one voter and no transport")]
struct NoTransport(NodeId);

impl RaftNetworkFactory<TypeConfig> for NoPeers {
    type Network = NoConnection;

    async fn new_client(&mut self, target: NodeId, _node: &VoterNode) -> NoConnection {
        NoConnection(target)
    }
}

/// A connection to another node, which cannot be made.
pub struct NoConnection(NodeId);

impl NoConnection {
    fn error<E: std::error::Error>(&self) -> RPCError<NodeId, VoterNode, E> {
        RPCError::Unreachable(Unreachable::new(&NoTransport(self.0)))
    }
}

impl RaftNetwork<TypeConfig> for NoConnection {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, VoterNode, RaftError<NodeId>>> {
        Err(self.error())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, VoterNode, RaftError<NodeId, InstallSnapshotError>>>
    {
        Err(self.error())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, VoterNode, RaftError<NodeId>>> {
        Err(self.error())
    }
}
