//! openraft's RPCs as Tidelog's own Kafka-framed APIs (`TidelogQuorum*`, docs/design/quorum.md
//! §5.4): each request and response made from openraft's message and back, and a node's
//! answer to a request. Entries travel as the KRaft record batches every voter writes.

use bytes::Bytes;
use openraft::error::{InstallSnapshotError, RaftError, SnapshotMismatch};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{CommittedLeaderId, LeaderId, LogId, Raft, SnapshotMeta, SnapshotSegmentId, StoredMembership, Vote};
use thiserror::Error;
use tidelog_log::NO_TIMESTAMP;
use tidelog_protocol::messages::{
    tidelog_quorum_append_entries_request as append_req, tidelog_quorum_append_entries_response as append_resp,
    tidelog_quorum_install_snapshot_request as snapshot_req, tidelog_quorum_install_snapshot_response as snapshot_resp,
    tidelog_quorum_vote_request as vote_req, tidelog_quorum_vote_response as vote_resp,
};
use tidelog_protocol::records::RecordBatch;
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

use super::codec;
use super::types::{MetadataEntry, NodeId, Payload, TypeConfig, VoterNode};

/// A message that does not make an openraft message.
#[derive(Debug, Error)]
pub enum WireError {
    #[error("{0} is out of range")]
    OutOfRange(&'static str),
    #[error("bad entries: {0}")]
    Entries(String),
    #[error("the request is for cluster {theirs}, this is {ours}")]
    OtherCluster { ours: String, theirs: String },
    #[error("{code:?} from node {node}: {message}")]
    Remote {
        node: NodeId,
        code: ErrorCode,
        message: String,
    },
    #[error("node {0} answered another API")]
    WrongAnswer(NodeId),
    /// openraft could not take a request this node got.
    #[error("{0}")]
    Refused(String),
}

/// The fields of the wire's vote, which each message's module declares for itself.
trait WireVote: Default {
    fn make(term: i64, node_id: i32, committed: bool) -> Self;
    fn parts(&self) -> (i64, i32, bool);
}

/// The fields of the wire's log id; term -1 is no log id.
trait WireLogId: Default {
    fn make(term: i64, index: i64) -> Self;
    fn parts(&self) -> (i64, i64);
}

macro_rules! wire_votes {
    ($($module:ident),*) => {$(
        impl WireVote for $module::RaftVote {
            fn make(term: i64, node_id: i32, committed: bool) -> Self {
                $module::RaftVote { term, node_id, committed, ..Default::default() }
            }
            fn parts(&self) -> (i64, i32, bool) {
                (self.term, self.node_id, self.committed)
            }
        }
    )*};
}

macro_rules! wire_log_ids {
    ($($module:ident),*) => {$(
        impl WireLogId for $module::RaftLogId {
            fn make(term: i64, index: i64) -> Self {
                $module::RaftLogId { term, index, ..Default::default() }
            }
            fn parts(&self) -> (i64, i64) {
                (self.term, self.index)
            }
        }
    )*};
}

wire_votes!(
    vote_req,
    vote_resp,
    append_req,
    append_resp,
    snapshot_req,
    snapshot_resp
);
wire_log_ids!(vote_req, vote_resp, append_req, append_resp, snapshot_req);

fn to_wire_vote<W: WireVote>(vote: &Vote<NodeId>) -> W {
    let node = vote.leader_id.voted_for.map_or(-1, |id| id as i32);
    W::make(vote.leader_id.term as i64, node, vote.committed)
}

fn from_wire_vote<W: WireVote>(wire: &W) -> Result<Vote<NodeId>, WireError> {
    let (term, node, committed) = wire.parts();
    let term = u64::try_from(term).map_err(|_| WireError::OutOfRange("a vote's term"))?;
    let voted_for = match node {
        -1 => None,
        id => Some(u64::try_from(id).map_err(|_| WireError::OutOfRange("a vote's node id"))?),
    };
    Ok(Vote {
        leader_id: LeaderId { term, voted_for },
        committed,
    })
}

fn to_wire_log_id<W: WireLogId>(id: Option<LogId<NodeId>>) -> W {
    match id {
        Some(id) => W::make(id.leader_id.term as i64, id.index as i64),
        None => W::make(-1, -1),
    }
}

fn from_wire_log_id<W: WireLogId>(wire: &W) -> Result<Option<LogId<NodeId>>, WireError> {
    let (term, index) = wire.parts();
    if term == -1 {
        return Ok(None);
    }
    let term = u64::try_from(term).map_err(|_| WireError::OutOfRange("a log id's term"))?;
    let index = u64::try_from(index).map_err(|_| WireError::OutOfRange("a log id's index"))?;
    Ok(Some(LogId::new(CommittedLeaderId::new(term, 0), index)))
}

/// `entries` as the batches the log store writes for them, one after the other.
fn entries_to_batches(entries: &[MetadataEntry]) -> Result<Bytes, WireError> {
    let mut bytes = Vec::new();
    for entry in entries {
        let batch = codec::encode(entry).map_err(|e| WireError::Entries(e.to_string()))?;
        bytes.extend_from_slice(batch.as_bytes());
    }
    Ok(Bytes::from(bytes))
}

fn batches_to_entries(bytes: Bytes) -> Result<Vec<MetadataEntry>, WireError> {
    let mut entries = Vec::new();
    for batch in RecordBatch::iter_batches(bytes) {
        let batch = batch.map_err(|e| WireError::Entries(e.to_string()))?;
        entries.extend(codec::decode(&batch).map_err(|e| WireError::Entries(e.to_string()))?);
    }
    Ok(entries)
}

/// The membership a snapshot holds, as the batch of the entry that made it (none if no entry
/// did: a pristine node's).
fn membership_to_batch(stored: &StoredMembership<NodeId, VoterNode>) -> Result<Option<Bytes>, WireError> {
    let Some(log_id) = stored.log_id() else {
        return Ok(None);
    };
    let entry = MetadataEntry {
        log_id: *log_id,
        timestamp: NO_TIMESTAMP,
        payload: Payload::Membership(stored.membership().clone()),
    };
    entries_to_batches(std::slice::from_ref(&entry)).map(Some)
}

fn batch_to_membership(bytes: Option<Bytes>) -> Result<StoredMembership<NodeId, VoterNode>, WireError> {
    let Some(bytes) = bytes else {
        return Ok(StoredMembership::default());
    };
    match batches_to_entries(bytes)?.pop() {
        Some(MetadataEntry {
            log_id,
            payload: Payload::Membership(membership),
            ..
        }) => Ok(StoredMembership::new(Some(log_id), membership)),
        _ => Err(WireError::Entries(
            "a snapshot's membership is not a voters entry".into(),
        )),
    }
}

/// The requests a voter sends, as Kafka request bodies.
pub fn vote_request(cluster_id: &str, rpc: &VoteRequest<NodeId>) -> RequestBody {
    RequestBody::TidelogQuorumVote(vote_req::TidelogQuorumVoteRequest {
        cluster_id: cluster_id.into(),
        vote: to_wire_vote(&rpc.vote),
        last_log_id: to_wire_log_id(rpc.last_log_id),
        ..Default::default()
    })
}

pub fn append_entries_request(
    cluster_id: &str,
    rpc: &AppendEntriesRequest<TypeConfig>,
) -> Result<RequestBody, WireError> {
    Ok(RequestBody::TidelogQuorumAppendEntries(
        append_req::TidelogQuorumAppendEntriesRequest {
            cluster_id: cluster_id.into(),
            vote: to_wire_vote(&rpc.vote),
            prev_log_id: to_wire_log_id(rpc.prev_log_id),
            leader_commit: to_wire_log_id(rpc.leader_commit),
            entries: Some(entries_to_batches(&rpc.entries)?),
            ..Default::default()
        },
    ))
}

pub fn install_snapshot_request(
    cluster_id: &str,
    rpc: &InstallSnapshotRequest<TypeConfig>,
) -> Result<RequestBody, WireError> {
    Ok(RequestBody::TidelogQuorumInstallSnapshot(
        snapshot_req::TidelogQuorumInstallSnapshotRequest {
            cluster_id: cluster_id.into(),
            vote: to_wire_vote(&rpc.vote),
            last_log_id: to_wire_log_id(rpc.meta.last_log_id),
            membership: membership_to_batch(&rpc.meta.last_membership)?,
            snapshot_id: rpc.meta.snapshot_id.clone(),
            offset: rpc.offset as i64,
            data: Bytes::copy_from_slice(&rpc.data),
            done: rpc.done,
            ..Default::default()
        },
    ))
}

/// An answer's error code, as an error naming the node that sent it.
fn answered(node: NodeId, code: i16, message: Option<String>) -> Result<(), WireError> {
    match ErrorCode(code) {
        ErrorCode::NONE => Ok(()),
        code => Err(WireError::Remote {
            node,
            code,
            message: message.unwrap_or_default(),
        }),
    }
}

/// The answers a voter gets, as openraft's.
pub fn vote_response(node: NodeId, body: ResponseBody) -> Result<VoteResponse<NodeId>, WireError> {
    let ResponseBody::TidelogQuorumVote(r) = body else {
        return Err(WireError::WrongAnswer(node));
    };
    answered(node, r.error_code, r.error_message)?;
    Ok(VoteResponse {
        vote: from_wire_vote(&r.vote)?,
        vote_granted: r.vote_granted,
        last_log_id: from_wire_log_id(&r.last_log_id)?,
    })
}

pub fn append_entries_response(node: NodeId, body: ResponseBody) -> Result<AppendEntriesResponse<NodeId>, WireError> {
    let ResponseBody::TidelogQuorumAppendEntries(r) = body else {
        return Err(WireError::WrongAnswer(node));
    };
    answered(node, r.error_code, r.error_message)?;
    Ok(match r.outcome {
        0 => AppendEntriesResponse::Success,
        1 => AppendEntriesResponse::PartialSuccess(from_wire_log_id(&r.matching)?),
        2 => AppendEntriesResponse::Conflict,
        3 => AppendEntriesResponse::HigherVote(from_wire_vote(&r.vote)?),
        _ => return Err(WireError::OutOfRange("an append's outcome")),
    })
}

/// An install answer, or the mismatch that makes the sender start the snapshot again.
pub fn install_snapshot_response(
    node: NodeId,
    body: ResponseBody,
) -> Result<Result<InstallSnapshotResponse<NodeId>, SnapshotMismatch>, WireError> {
    let ResponseBody::TidelogQuorumInstallSnapshot(r) = body else {
        return Err(WireError::WrongAnswer(node));
    };
    answered(node, r.error_code, r.error_message)?;
    if let Some(m) = r.mismatch {
        let segment = |id: String, offset: i64| SnapshotSegmentId {
            id,
            offset: offset.max(0) as u64,
        };
        return Ok(Err(SnapshotMismatch {
            expect: segment(m.expected_id, m.expected_offset),
            got: segment(m.got_id, m.got_offset),
        }));
    }
    Ok(Ok(InstallSnapshotResponse {
        vote: from_wire_vote(&r.vote)?,
    }))
}

/// Whether `request` is one of the quorum's RPCs between voters.
pub fn is_quorum_rpc(request: &RequestBody) -> bool {
    matches!(
        request,
        RequestBody::TidelogQuorumVote(_)
            | RequestBody::TidelogQuorumAppendEntries(_)
            | RequestBody::TidelogQuorumInstallSnapshot(_)
    )
}

/// Whether `request` is served on the controller listener: the quorum's RPCs, and what
/// brokers ask its leader (heartbeats, producer id blocks, topics to create).
pub fn is_controller_rpc(request: &RequestBody) -> bool {
    is_quorum_rpc(request)
        || matches!(
            request,
            RequestBody::TidelogBrokerHeartbeat(_)
                | RequestBody::AllocateProducerIds(_)
                | RequestBody::CreateTopics(_)
                | RequestBody::AlterPartition(_)
        )
}

/// This node's answer to a quorum RPC from another voter of cluster `cluster_id` (`None` if
/// `request` is not one). A request from another cluster, or one openraft cannot take, is
/// answered with an error and changes nothing.
pub async fn serve(raft: &Raft<TypeConfig>, cluster_id: &str, request: RequestBody) -> Option<ResponseBody> {
    let check = |theirs: &str| match theirs == cluster_id {
        true => Ok(()),
        false => Err(WireError::OtherCluster {
            ours: cluster_id.into(),
            theirs: theirs.into(),
        }),
    };
    Some(match request {
        RequestBody::TidelogQuorumVote(r) => {
            let answer = async {
                check(&r.cluster_id)?;
                let rpc = VoteRequest {
                    vote: from_wire_vote(&r.vote)?,
                    last_log_id: from_wire_log_id(&r.last_log_id)?,
                };
                raft.vote(rpc).await.map_err(raft_error)
            };
            let mut response = vote_resp::TidelogQuorumVoteResponse::default();
            match answer.await {
                Ok(v) => {
                    response.vote = to_wire_vote(&v.vote);
                    response.vote_granted = v.vote_granted;
                    response.last_log_id = to_wire_log_id(v.last_log_id);
                }
                Err(e) => (response.error_code, response.error_message) = error_fields(&e),
            }
            ResponseBody::TidelogQuorumVote(response)
        }
        RequestBody::TidelogQuorumAppendEntries(r) => {
            let answer = async {
                check(&r.cluster_id)?;
                let rpc = AppendEntriesRequest {
                    vote: from_wire_vote(&r.vote)?,
                    prev_log_id: from_wire_log_id(&r.prev_log_id)?,
                    leader_commit: from_wire_log_id(&r.leader_commit)?,
                    entries: batches_to_entries(r.entries.unwrap_or_default())?,
                };
                raft.append_entries(rpc).await.map_err(raft_error)
            };
            let mut response = append_resp::TidelogQuorumAppendEntriesResponse::default();
            match answer.await {
                Ok(AppendEntriesResponse::Success) => response.outcome = 0,
                Ok(AppendEntriesResponse::PartialSuccess(matching)) => {
                    response.outcome = 1;
                    response.matching = to_wire_log_id(matching);
                }
                Ok(AppendEntriesResponse::Conflict) => response.outcome = 2,
                Ok(AppendEntriesResponse::HigherVote(vote)) => {
                    response.outcome = 3;
                    response.vote = to_wire_vote(&vote);
                }
                Err(e) => (response.error_code, response.error_message) = error_fields(&e),
            }
            ResponseBody::TidelogQuorumAppendEntries(response)
        }
        RequestBody::TidelogQuorumInstallSnapshot(r) => {
            let answer = async {
                check(&r.cluster_id)?;
                let rpc = InstallSnapshotRequest {
                    vote: from_wire_vote(&r.vote)?,
                    meta: SnapshotMeta {
                        last_log_id: from_wire_log_id(&r.last_log_id)?,
                        last_membership: batch_to_membership(r.membership)?,
                        snapshot_id: r.snapshot_id,
                    },
                    offset: u64::try_from(r.offset).map_err(|_| WireError::OutOfRange("a snapshot offset"))?,
                    data: r.data.to_vec(),
                    done: r.done,
                };
                Ok::<_, WireError>(raft.install_snapshot(rpc).await)
            };
            let mut response = snapshot_resp::TidelogQuorumInstallSnapshotResponse::default();
            match answer.await {
                Ok(Ok(installed)) => response.vote = to_wire_vote(&installed.vote),
                Ok(Err(RaftError::APIError(InstallSnapshotError::SnapshotMismatch(m)))) => {
                    response.mismatch = Some(snapshot_resp::SnapshotMismatch {
                        expected_id: m.expect.id,
                        expected_offset: m.expect.offset as i64,
                        got_id: m.got.id,
                        got_offset: m.got.offset as i64,
                        ..Default::default()
                    });
                }
                Ok(Err(e)) => (response.error_code, response.error_message) = error_fields(&raft_error(e)),
                Err(e) => (response.error_code, response.error_message) = error_fields(&e),
            }
            ResponseBody::TidelogQuorumInstallSnapshot(response)
        }
        _ => return None,
    })
}

fn raft_error<E: std::error::Error>(e: RaftError<NodeId, E>) -> WireError {
    WireError::Refused(e.to_string())
}

/// The error code and message of an answer that failed.
fn error_fields(e: &WireError) -> (i16, Option<String>) {
    let code = match e {
        WireError::OtherCluster { .. } => ErrorCode::INCONSISTENT_CLUSTER_ID,
        WireError::OutOfRange(_) | WireError::Entries(_) => ErrorCode::INVALID_REQUEST,
        WireError::Remote { code, .. } => *code,
        WireError::WrongAnswer(_) | WireError::Refused(_) => ErrorCode::UNKNOWN_SERVER_ERROR,
    };
    let message = match e {
        WireError::Remote { message, .. } => message.clone(),
        other => other.to_string(),
    };
    (code.0, Some(message))
}
