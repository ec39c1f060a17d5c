//! The network between the voters of a metadata quorum: openraft's RPCs sent as Tidelog's
//! own Kafka-framed APIs (see `wire`) to another voter's controller listener, one TCP
//! connection per peer, opened again after any failure, and the controller listener that
//! answers them (docs/design/quorum.md §5.4).
//!
//! The quorum serves its controller listener itself, from its start: the voters must elect
//! a leader before any of them can load the metadata its broker starts from, so the
//! broker's listeners, which open after that, cannot carry the election. Plaintext only for
//! now: TLS, SASL and ACLs on the controller listener are not there yet.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable};
use openraft::network::{RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use tidelog_protocol::frame::{frame_len, DEFAULT_MAX_FRAME_LEN};
use tidelog_protocol::header::RequestHeader;
use tidelog_protocol::{decode_request, decode_response, encode_request, encode_response, RequestBody, ResponseBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::warn;

use super::types::{NodeId, TypeConfig, VoterNode};
use super::wire::{self, WireError};

/// How a voter reaches the others: the controller listener named `listener` of each, in the
/// cluster `cluster_id`.
#[derive(Clone, Debug)]
pub struct FramedNetwork {
    pub node_id: NodeId,
    pub cluster_id: String,
    pub listener: String,
}

/// The client id a voter's requests carry: it names the voter.
fn client_id(node_id: NodeId) -> String {
    format!("{VOTER_CLIENT_PREFIX}{node_id}")
}

const VOTER_CLIENT_PREFIX: &str = "tidelog-quorum-";

/// The voter a request's client id names, if it names one.
pub fn voter_of(client_id: Option<&str>) -> Option<NodeId> {
    client_id?.strip_prefix(VOTER_CLIENT_PREFIX)?.parse().ok()
}

/// Answers the quorum RPCs that come in on `listener` with `answer(voter, request)`, where
/// `voter` is the node the request's client id names. A connection closes on a frame that is
/// too large or does not decode, a request that is not a quorum RPC, or no answer (`None`).
pub async fn serve<A, F>(listener: TcpListener, answer: A)
where
    A: Fn(Option<NodeId>, RequestBody) -> F + Send + Sync + 'static,
    F: Future<Output = Option<ResponseBody>> + Send,
{
    let answer = Arc::new(answer);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let answer = Arc::clone(&answer);
                tokio::spawn(async move {
                    if let Err(reason) = serve_connection(stream, &*answer).await {
                        warn!(%peer, %reason, "closing a connection on the controller listener");
                    }
                });
            }
            Err(e) => {
                warn!(error = %e, "the controller listener cannot accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serves one connection until it closes (`Ok`) or must be closed (`Err`, why).
async fn serve_connection<A, F>(mut stream: TcpStream, answer: &A) -> Result<(), String>
where
    A: Fn(Option<NodeId>, RequestBody) -> F,
    F: Future<Output = Option<ResponseBody>>,
{
    let _ = stream.set_nodelay(true);
    loop {
        let mut prefix = [0; 4];
        if stream.read_exact(&mut prefix).await.is_err() {
            return Ok(());
        }
        let len = frame_len(prefix, DEFAULT_MAX_FRAME_LEN).map_err(|e| e.to_string())?;
        let mut frame = vec![0; len];
        stream.read_exact(&mut frame).await.map_err(|e| e.to_string())?;
        let request = decode_request(Bytes::from(frame)).map_err(|e| e.to_string())?;
        if !wire::is_controller_rpc(&request.body) {
            return Err(format!(
                "{:?} is not served on the controller listener",
                request.api_key
            ));
        }
        let voter = voter_of(request.header.client_id.as_deref());
        let Some(response) = answer(voter, request.body).await else {
            return Err("no answer".into());
        };
        let frame = encode_response(request.header.correlation_id, request.header.api_version, &response)
            .map_err(|e| e.to_string())?;
        for chunk in frame {
            let bytes = chunk.to_bytes().map_err(|e| e.to_string())?;
            stream.write_all(&bytes).await.map_err(|e| e.to_string())?;
        }
    }
}

/// A broker's connection to the quorum's leader, for its heartbeats: opened again to
/// whichever voter leads.
pub struct ControllerClient {
    node_id: NodeId,
    cluster_id: String,
    link: Option<FramedLink>,
}

impl ControllerClient {
    pub fn new(node_id: NodeId, cluster_id: String) -> ControllerClient {
        ControllerClient {
            node_id,
            cluster_id,
            link: None,
        }
    }

    /// Sends `request` to the voter `leader` at `address` and reads its answer within `ttl`.
    pub async fn send(
        &mut self,
        leader: NodeId,
        address: String,
        request: RequestBody,
        ttl: Duration,
    ) -> Result<ResponseBody, String> {
        let link = match &mut self.link {
            Some(link) if link.target == leader && link.address.as_deref() == Some(address.as_str()) => link,
            _ => self.link.insert(FramedLink {
                target: leader,
                address: Some(address),
                client_id: client_id(self.node_id),
                cluster_id: self.cluster_id.clone(),
                stream: None,
                correlation_id: 0,
            }),
        };
        link.call(request, ttl).await.map_err(|e| e.to_string())
    }
}

impl RaftNetworkFactory<TypeConfig> for FramedNetwork {
    type Network = FramedLink;

    async fn new_client(&mut self, target: NodeId, node: &VoterNode) -> FramedLink {
        // The voter's endpoint on the controller listener, or its only one.
        let endpoint = node
            .endpoints
            .iter()
            .find(|e| e.listener == self.listener)
            .or(node.endpoints.first());
        FramedLink {
            target,
            address: endpoint.map(|e| format!("{}:{}", e.host, e.port)),
            client_id: client_id(self.node_id),
            cluster_id: self.cluster_id.clone(),
            stream: None,
            correlation_id: 0,
        }
    }
}

/// The connection to one voter.
pub struct FramedLink {
    target: NodeId,
    /// `None` if the voter has no endpoint: it cannot be reached.
    address: Option<String>,
    client_id: String,
    cluster_id: String,
    stream: Option<TcpStream>,
    correlation_id: i32,
}

/// Why an RPC got no answer.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("node {0} has no endpoint")]
    NoEndpoint(NodeId),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Wire(#[from] WireError),
}

impl FramedLink {
    /// Sends `body` and reads its answer, within `ttl`; any failure drops the connection.
    async fn call(&mut self, body: RequestBody, ttl: Duration) -> Result<ResponseBody, SendError> {
        let answer = tokio::time::timeout(ttl, self.exchange(body)).await;
        let answer = answer.unwrap_or(Err(SendError::Timeout(ttl)));
        if answer.is_err() {
            self.stream = None;
        }
        answer
    }

    async fn exchange(&mut self, body: RequestBody) -> Result<ResponseBody, SendError> {
        let api_key = body.api_key();
        // Both ends are Tidelog nodes of one build: the newest version.
        let version = api_key.max_version();
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader {
            api_key: api_key as i16,
            api_version: version,
            correlation_id: self.correlation_id,
            client_id: Some(self.client_id.clone()),
            ..Default::default()
        };
        let frame = encode_request(&header, &body).map_err(std::io::Error::other)?;
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let address = self.address.as_deref().ok_or(SendError::NoEndpoint(self.target))?;
                let stream = TcpStream::connect(address).await?;
                stream.set_nodelay(true)?;
                self.stream.insert(stream)
            }
        };
        for chunk in frame {
            stream.write_all(&chunk.to_bytes()?).await?;
        }
        let mut prefix = [0; 4];
        stream.read_exact(&mut prefix).await?;
        let len = frame_len(prefix, DEFAULT_MAX_FRAME_LEN).map_err(std::io::Error::other)?;
        let mut answer = vec![0; len];
        stream.read_exact(&mut answer).await?;
        let (response_header, body) =
            decode_response(Bytes::from(answer), api_key, version).map_err(std::io::Error::other)?;
        if response_header.correlation_id != self.correlation_id {
            let reason = format!(
                "answer to {} for {}",
                response_header.correlation_id, self.correlation_id
            );
            return Err(std::io::Error::other(reason).into());
        }
        Ok(body)
    }

    /// An RPC's failure as openraft takes it: a node that cannot be reached or answers with
    /// an error is retried later; a timeout is a timeout.
    fn failed<E: std::error::Error>(
        &self,
        rpc: RPCTypes,
        ttl: Duration,
        e: SendError,
    ) -> RPCError<NodeId, VoterNode, E> {
        match e {
            SendError::Timeout(_) => RPCError::Timeout(Timeout {
                action: rpc,
                id: 0,
                target: self.target,
                timeout: ttl,
            }),
            SendError::Io(e) => RPCError::Unreachable(Unreachable::new(&e)),
            other => RPCError::Network(NetworkError::new(&other)),
        }
    }
}

impl FramedLink {
    /// Sends the RPC `request` (made from openraft's message, or why it could not be) and
    /// reads its answer with `answer`, within the RPC's hard time to live; any failure in the
    /// terms openraft takes.
    async fn rpc<T, E: std::error::Error>(
        &mut self,
        kind: RPCTypes,
        option: RPCOption,
        request: Result<RequestBody, WireError>,
        answer: impl FnOnce(NodeId, ResponseBody) -> Result<T, WireError>,
    ) -> Result<T, RPCError<NodeId, VoterNode, E>> {
        let ttl = option.hard_ttl();
        let request = request.map_err(|e| self.failed(kind, ttl, e.into()))?;
        let body = self.call(request, ttl).await.map_err(|e| self.failed(kind, ttl, e))?;
        answer(self.target, body).map_err(|e| self.failed(kind, ttl, e.into()))
    }
}

impl RaftNetwork<TypeConfig> for FramedLink {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, VoterNode, RaftError<NodeId>>> {
        let request = wire::append_entries_request(&self.cluster_id, &rpc);
        self.rpc(RPCTypes::AppendEntries, option, request, wire::append_entries_response)
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, VoterNode, RaftError<NodeId, InstallSnapshotError>>>
    {
        let request = wire::install_snapshot_request(&self.cluster_id, &rpc);
        let answer = self
            .rpc(
                RPCTypes::InstallSnapshot,
                option,
                request,
                wire::install_snapshot_response,
            )
            .await?;
        answer.map_err(|mismatch| {
            let refused = RaftError::APIError(InstallSnapshotError::SnapshotMismatch(mismatch));
            RPCError::RemoteError(RemoteError::new(self.target, refused))
        })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, VoterNode, RaftError<NodeId>>> {
        let request = Ok(wire::vote_request(&self.cluster_id, &rpc));
        self.rpc(RPCTypes::Vote, option, request, wire::vote_response).await
    }
}
