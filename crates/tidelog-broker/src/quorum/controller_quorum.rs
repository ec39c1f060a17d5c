//! A running metadata quorum: openraft's `Raft` over the metadata log, on a runtime of its
//! own so that the broker's handlers may wait for a commit on their threads, as they waited
//! for the metadata log's fsync before, without ever starving the quorum of a thread.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use openraft::error::ClientWriteError;
use openraft::{Raft, ServerState, SnapshotPolicy};
use thiserror::Error;
use tidelog_log::Recovery;
use tidelog_protocol::metadata::VersionedRecord;
use tidelog_protocol::{RequestBody, ResponseBody};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tracing::info;

use super::log_store::Announced;
use super::network::NoPeers;
use super::state_machine::ImageHandle;
use super::transport::{self, ControllerClient, FramedNetwork};
use super::types::{NodeId, Proposal, TypeConfig, VoterNode};
use super::{wire, LogStore, StateMachine};
use crate::clock::now_ms;
use crate::metadata::kraft::{abort_transaction, in_transaction, KraftImage, MetadataLogSettings};

/// How long a start waits for this node to lead its quorum of one and apply its log.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How often a voter waiting for the others to elect a leader says so.
const LEADER_WAIT_LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum QuorumError {
    #[error("the metadata quorum cannot start: {0}")]
    Start(String),
    #[error(
        "the metadata log has {0} voters, but controller.quorum.voters names no other node than this \
         one; nothing was changed"
    )]
    SeveralVoters(usize),
    #[error("a metadata change was not committed: {0}")]
    NotCommitted(String),
    #[error(
        "controller.quorum.voters names {configured}, but the metadata log's voters are {logged}: \
         changing the voters of an existing quorum needs KIP-853's AddRaftVoter and RemoveRaftVoter, \
         which Tidelog does not have yet; nothing was changed"
    )]
    VotersDiffer { configured: String, logged: String },
    #[error("this node does not lead the metadata quorum (its leader is {leader:?})")]
    NotLeader { leader: Option<NodeId> },
}

/// Voters as `controller.quorum.voters` writes them: `id@host:port`, by node id.
fn voters_text(voters: &[(NodeId, VoterNode)]) -> String {
    let mut voters: Vec<&(NodeId, VoterNode)> = voters.iter().collect();
    voters.sort_by_key(|(id, _)| *id);
    let voter = |(id, node): &&(NodeId, VoterNode)| match node.endpoints.first() {
        Some(e) => format!("{id}@{}:{}", e.host, e.port),
        None => id.to_string(),
    };
    voters.iter().map(voter).collect::<Vec<_>>().join(",")
}

/// The other voters of a quorum of several, and how to reach them.
#[derive(Clone, Debug)]
pub struct Peers {
    /// Every voter, this node included, as each node alike makes the first membership of.
    pub voters: Vec<(NodeId, VoterNode)>,
    pub cluster_id: String,
    /// The controller listener's name, on which the voters answer each other.
    pub listener: String,
    /// Where this node's controller listener listens.
    pub listen: SocketAddr,
    /// `controller.quorum.election.timeout.ms`.
    pub election_timeout_ms: u64,
}

/// The leader's answer to what brokers ask the controller (heartbeats, producer id blocks):
/// set once the node's broker, which answers them, is open. It may block; `None` closes
/// the connection.
pub type ControllerAnswer = Arc<dyn Fn(RequestBody) -> Option<ResponseBody> + Send + Sync>;

/// The range openraft draws this voter's election timeout from (in ms), from Kafka's
/// `controller.quorum.election.timeout.ms` (`t`). A follower stands for election once it
/// has heard nothing from a leader for openraft's lease (the range's end) and then its
/// timeout: 1.1 to 1.8 times `t` with three voters, as Kafka's voters wait about its fetch
/// timeout and a random backoff. openraft draws a voter's timeout once, at its start, so
/// two voters whose timeouts fall close would stand together, split the vote and do it
/// again at every election, for ever: each voter gets a range of its own, by its rank
/// among the voters, the ranges `t / 4n` apart.
fn election_timeouts(peers: &Peers, node_id: NodeId) -> std::ops::Range<u64> {
    let t = peers.election_timeout_ms.max(10);
    let mut ids: Vec<NodeId> = peers.voters.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    let rank = ids.iter().position(|id| *id == node_id).unwrap_or(0) as u64;
    let slot = (t / 2 / ids.len().max(1) as u64).max(2);
    let start = t / 2 + rank * slot;
    start..start + slot / 2
}

/// The metadata quorum of this node: its only voter, or one of several.
pub struct Quorum {
    controller_answer: Arc<OnceLock<ControllerAnswer>>,
    /// This node's broker's connection to the leader, in a quorum of several.
    to_leader: Option<Arc<tokio::sync::Mutex<ControllerClient>>>,
    runtime: Option<Runtime>,
    raft: Raft<TypeConfig>,
    node_id: NodeId,
    image: ImageHandle,
    snapshots: Arc<SnapshotSchedule>,
    /// Where a proposal announces its entries, so that they share one fsync: only in a
    /// quorum of one (see `Announced`).
    announced: Option<Announced>,
    /// One proposal at a time: an entry's fsync may be left to the last entry of its own
    /// change only if no other change's entries are announced meanwhile.
    proposing: Mutex<()>,
    /// The last leader this node heard from (an AppendEntries naming it), and when.
    leader_heard: Arc<Mutex<Option<(NodeId, std::time::Instant)>>>,
}

/// When this node snapshots its metadata: once Kafka's
/// `metadata.log.max.record.bytes.between.snapshots` of entries follow the last snapshot,
/// and no metadata transaction is open (a snapshot holds none). Each voter snapshots its own
/// log, the leader after a change, the others as they append what it sends.
struct SnapshotSchedule {
    raft: Raft<TypeConfig>,
    image: ImageHandle,
    /// Bytes of entries the log store appended, and how many of them a snapshot covers.
    appended_bytes: Arc<AtomicU64>,
    at: AtomicU64,
    bytes: u64,
}

/// How often a voter of several checks whether a snapshot is due.
const SNAPSHOT_CHECK_EVERY: Duration = Duration::from_secs(1);

impl SnapshotSchedule {
    /// Asks openraft for a snapshot, on `runtime`, if one is due.
    fn trigger_if_due(&self, runtime: &tokio::runtime::Handle) {
        let appended = self.appended_bytes.load(Ordering::Acquire);
        let since = appended.saturating_sub(self.at.load(Ordering::Acquire));
        if since < self.bytes || self.image.open_transaction().is_some() {
            return;
        }
        self.at.store(appended, Ordering::Release);
        let raft = self.raft.clone();
        runtime.spawn(async move {
            if let Err(e) = raft.trigger().snapshot().await {
                tracing::warn!(error = %e, "cannot snapshot the metadata log");
            }
        });
    }
}

impl Quorum {
    /// Starts the quorum on the metadata log in `dir` (formatted, and recovered if it had to
    /// be) as node `node_id`, and waits until the node leads and has applied the whole log.
    /// A metadata transaction the log leaves open is then aborted, as a new leader aborts it.
    /// A snapshot is written once `settings.snapshot_bytes` of entries follow the last one.
    /// With `peers`, the node is one voter of several: see [`Quorum::join`].
    pub fn start(
        dir: &Path,
        node_id: i32,
        settings: &MetadataLogSettings,
        peers: Option<&Peers>,
    ) -> Result<Quorum, QuorumError> {
        let start_err = |e: &dyn std::fmt::Display| QuorumError::Start(e.to_string());
        let node_id = NodeId::try_from(node_id).map_err(|_| start_err(&format!("node.id {node_id} is negative")))?;
        let election_timeout = peers.map_or(1000..2000, |p| election_timeouts(p, node_id));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("metadata-quorum")
            .enable_all()
            .build()
            .map_err(|e| start_err(&e))?;
        let log_store = LogStore::open(dir, settings, Recovery::Skip).map_err(|e| start_err(&e))?;
        let appended_bytes = log_store.appended_bytes();
        let announced = log_store.announced();
        let state_machine = StateMachine::open(dir).map_err(|e| start_err(&e))?;
        let image = state_machine.image_handle();
        let raft_config = openraft::Config {
            cluster_name: "tidelog".into(),
            // Snapshots follow Kafka's byte count (`metadata.log.max.record.bytes.between.
            // snapshots`), which `propose` checks.
            snapshot_policy: SnapshotPolicy::Never,
            // Entries a snapshot holds are handed to the log store at once, which keeps them
            // as Kafka's retention settings say.
            max_in_snapshot_log_to_keep: 0,
            // No timer runs before the voters are checked, so a refused start writes
            // nothing. Heartbeats well within the election timeout.
            enable_tick: false,
            heartbeat_interval: (election_timeout.start / 2).max(1),
            election_timeout_min: election_timeout.start,
            election_timeout_max: election_timeout.end,
            ..Default::default()
        }
        .validate()
        .map_err(|e| start_err(&e))?;
        let raft_config = Arc::new(raft_config);
        let raft = match peers {
            None => run(
                &runtime,
                Raft::new(node_id, raft_config, NoPeers, log_store, state_machine),
            ),
            Some(peers) => {
                let network = FramedNetwork {
                    node_id,
                    cluster_id: peers.cluster_id.clone(),
                    listener: peers.listener.clone(),
                };
                run(
                    &runtime,
                    Raft::new(node_id, raft_config, network, log_store, state_machine),
                )
            }
        }
        .map_err(|e| start_err(&e))?;
        let snapshots = Arc::new(SnapshotSchedule {
            raft: raft.clone(),
            image: image.clone(),
            appended_bytes,
            at: AtomicU64::new(0),
            bytes: settings.snapshot_bytes,
        });
        let quorum = Quorum {
            controller_answer: Arc::default(),
            to_leader: peers.map(|p| {
                let client = ControllerClient::new(node_id, p.cluster_id.clone());
                Arc::new(tokio::sync::Mutex::new(client))
            }),
            runtime: Some(runtime),
            raft,
            node_id,
            image,
            snapshots,
            announced: peers.is_none().then_some(announced),
            leader_heard: Arc::default(),
            proposing: Mutex::default(),
        };
        // From the Raft state itself: the metrics that report it are updated asynchronously.
        let raft = quorum.raft.clone();
        let logged = run(quorum.runtime(), async move {
            raft.with_raft_state(|state| {
                let membership = state.membership_state.effective().membership();
                let voters: Vec<(NodeId, VoterNode)> = membership
                    .voter_ids()
                    .map(|id| (id, membership.get_node(&id).cloned().unwrap_or_default()))
                    .collect();
                voters
            })
            .await
        })
        .map_err(|e| start_err(&e))?;
        if let Some(peers) = peers {
            // A pristine log has no voters yet: `join` gives it the configured ones.
            let mut configured = peers.voters.clone();
            configured.sort_by_key(|(id, _)| *id);
            if !logged.is_empty() && logged != configured {
                return Err(QuorumError::VotersDiffer {
                    configured: voters_text(&peers.voters),
                    logged: voters_text(&logged),
                });
            }
            quorum.raft.runtime_config().tick(true);
            quorum.serve_controller_listener(peers)?;
            quorum.join(peers)?;
            let snapshots = Arc::clone(&quorum.snapshots);
            let runtime = quorum.runtime().handle().clone();
            quorum.runtime().spawn(async move {
                loop {
                    tokio::time::sleep(SNAPSHOT_CHECK_EVERY).await;
                    snapshots.trigger_if_due(&runtime);
                }
            });
            return Ok(quorum);
        }
        if logged.len() > 1 {
            return Err(QuorumError::SeveralVoters(logged.len()));
        }
        quorum.raft.runtime_config().tick(true);
        quorum.lead()?;
        if quorum.image.open_transaction().is_some() {
            quorum.propose(vec![abort_transaction()])?;
        }
        Ok(quorum)
    }

    /// Makes a pristine node one of `peers`' voters (every voter starts with the same first
    /// membership entry, so any may start first), then waits until the quorum has a leader
    /// and this node has applied an entry of the leader's term: the leader's first one is
    /// committed, so the leader is real (not a restarted node's memory of its own lead), and
    /// everything before it is applied here. A quorum whose majority is not up yet is waited
    /// for, as Kafka's controllers wait.
    fn join(&self, peers: &Peers) -> Result<(), QuorumError> {
        let raft = self.raft.clone();
        let members: BTreeMap<NodeId, VoterNode> = peers.voters.iter().cloned().collect();
        let node_id = self.node_id;
        let joined = run(self.runtime(), async move {
            if !raft.is_initialized().await.map_err(|e| e.to_string())? {
                raft.initialize(members).await.map_err(|e| e.to_string())?;
            }
            let mut waited = Duration::ZERO;
            loop {
                let wait = raft.wait(Some(LEADER_WAIT_LOG_EVERY));
                let led = |m: &openraft::RaftMetrics<NodeId, VoterNode>| {
                    m.current_leader.is_some() && m.last_applied.is_some_and(|id| id.leader_id.term == m.current_term)
                };
                if let Ok(metrics) = wait.metrics(led, "a leader's entry applied").await {
                    return Ok::<_, String>(metrics);
                }
                waited += LEADER_WAIT_LOG_EVERY;
                info!(
                    node_id,
                    ?waited,
                    "waiting for the metadata quorum's voters to elect a leader"
                );
            }
        })
        .map_err(QuorumError::Start)?;
        info!(term = joined.current_term, leader = ?joined.current_leader, "metadata quorum joined");
        Ok(())
    }

    /// Answers the other voters on this node's controller listener, from now on.
    fn serve_controller_listener(&self, peers: &Peers) -> Result<(), QuorumError> {
        let address = peers.listen;
        let listener = run(self.runtime(), async move { TcpListener::bind(address).await })
            .map_err(|e| QuorumError::Start(format!("controller listener {address}: {e}")))?;
        let raft = self.raft.clone();
        let cluster_id = peers.cluster_id.clone();
        let brokers_answer = Arc::clone(&self.controller_answer);
        let leader_heard = Arc::clone(&self.leader_heard);
        self.runtime().spawn(transport::serve(listener, move |_voter, request| {
            let (raft, cluster_id, brokers_answer) = (raft.clone(), cluster_id.clone(), brokers_answer.clone());
            if let RequestBody::TidelogQuorumAppendEntries(append) = &request {
                let heard = (append.vote.node_id as NodeId, std::time::Instant::now());
                *leader_heard.lock().unwrap_or_else(|e| e.into_inner()) = Some(heard);
            }
            async move {
                if wire::is_quorum_rpc(&request) {
                    return wire::serve(&raft, &cluster_id, request).await;
                }
                // Until the broker is open, the request fails, and its broker asks again.
                let answer = brokers_answer.get().cloned()?;
                // It commits through this runtime: off its one worker thread.
                tokio::task::spawn_blocking(move || answer(request))
                    .await
                    .ok()
                    .flatten()
            }
        }));
        info!(%address, "controller listener serves the metadata quorum");
        Ok(())
    }

    /// Waits until this node, if it leads, has applied the first entry of its term: then it
    /// has applied every entry committed before it led, which a change must be checked
    /// against. A new leader commits that entry at once, unless it loses the majority.
    pub fn settle(&self) -> Result<(), QuorumError> {
        let own_term_applied = |m: &openraft::RaftMetrics<NodeId, VoterNode>| {
            m.last_applied.is_some_and(|id| id.leader_id.term == m.current_term)
        };
        if !self.leads() || own_term_applied(&self.raft.metrics().borrow()) {
            return Ok(());
        }
        let raft = self.raft.clone();
        run(self.runtime(), async move {
            raft.wait(Some(START_TIMEOUT))
                .metrics(own_term_applied, "the leader's first entry applied")
                .await
                .map(drop)
                .map_err(|e| QuorumError::NotCommitted(e.to_string()))
        })
    }

    /// Answers what brokers ask the controller with `answer` from now on (before, their
    /// connection closes and they ask again).
    pub fn answer_brokers(&self, answer: ControllerAnswer) {
        let _ = self.controller_answer.set(answer);
    }

    /// Sends `request` to the controller listener of the quorum's leader and waits (this
    /// thread blocks) for its answer, within `ttl`. `Err` says why there is none: no leader
    /// known, not a quorum of several, or the connection failed.
    pub fn ask_leader(&self, request: RequestBody, ttl: Duration) -> Result<ResponseBody, String> {
        let to_leader = self
            .to_leader
            .clone()
            .ok_or("a quorum of one has no other node to ask")?;
        let status = self.status();
        let leader = status.leader.ok_or("no leader is known")?;
        let endpoint = status
            .voters
            .iter()
            .find(|(id, _)| *id == leader)
            .and_then(|(_, node)| node.endpoints.first())
            .ok_or_else(|| format!("the leader {leader} has no endpoint"))?;
        let address = format!("{}:{}", endpoint.host, endpoint.port);
        run(self.runtime(), async move {
            to_leader.lock().await.send(leader, address, request, ttl).await
        })
    }

    /// Whether this node leads the quorum now.
    pub fn leads(&self) -> bool {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        metrics.state == ServerState::Leader && metrics.current_leader == Some(self.node_id)
    }

    /// Elects this node and waits until it has applied its log, its first entry included.
    fn lead(&self) -> Result<(), QuorumError> {
        let raft = self.raft.clone();
        let elected = run(self.runtime(), async move {
            raft.trigger().elect().await.map_err(|e| e.to_string())?;
            let wait = raft.wait(Some(START_TIMEOUT));
            let metrics = wait
                .state(ServerState::Leader, "this node leads the metadata quorum")
                .await
                .map_err(|e| e.to_string())?;
            wait.applied_index_at_least(metrics.last_log_index, "the metadata log is applied")
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(metrics)
        })
        .map_err(QuorumError::Start)?;
        info!(term = elected.current_term, last = ?elected.last_log_index, "metadata quorum led");
        Ok(())
    }

    fn runtime(&self) -> &Runtime {
        self.runtime.as_ref().expect("the runtime lives as long as the quorum")
    }

    /// Commits `records` (those of one change: more than one go in a metadata transaction,
    /// so that a leader change never leaves half of them) and returns the offset of the last.
    /// They are applied to [`Quorum::with_image`]'s image when this returns.
    pub fn propose(&self, records: Vec<VersionedRecord>) -> Result<i64, QuorumError> {
        let records = match records.len() {
            0 | 1 => records,
            _ => in_transaction("Tidelog metadata change", records),
        };
        let _one_at_a_time = self.proposing.lock().unwrap_or_else(|e| e.into_inner());
        let raft = self.raft.clone();
        let announced = self.announced.clone();
        let last = run(self.runtime(), async move {
            // Announced, so that the log store makes them durable with one fsync (see
            // `Announced`), and proposed without waiting in between; then awaited in order.
            let proposed = records.len();
            if let Some(announced) = &announced {
                announced.announce(proposed);
            }
            let mut pending = Vec::with_capacity(proposed);
            let mut outcome = Ok(None);
            for record in records {
                let proposal = Proposal {
                    timestamp: now_ms(),
                    record,
                };
                match raft.client_write_ff(proposal).await {
                    Ok(committed) => pending.push(committed),
                    Err(e) => {
                        outcome = Err(QuorumError::NotCommitted(e.to_string()));
                        break;
                    }
                }
            }
            let mut committed_count = 0;
            for committed in pending {
                let answer = match committed.await {
                    Ok(Ok(response)) => Ok(response),
                    Ok(Err(ClientWriteError::ForwardToLeader(to))) => {
                        Err(QuorumError::NotLeader { leader: to.leader_id })
                    }
                    Ok(Err(e)) => Err(QuorumError::NotCommitted(e.to_string())),
                    Err(e) => Err(QuorumError::NotCommitted(e.to_string())),
                };
                match answer {
                    Ok(response) => {
                        committed_count += 1;
                        outcome = outcome.map(|_| Some(response.log_id.index));
                    }
                    Err(e) => outcome = outcome.and(Err(e)),
                }
            }
            // Entries that were appended took themselves off; the others never will.
            if let Some(announced) = &announced {
                announced.withdraw(proposed - committed_count);
            }
            outcome
        })?;
        self.snapshots.trigger_if_due(self.runtime().handle());
        Ok(last.map_or(-1, |index| index as i64))
    }

    /// Reads the image of every committed entry.
    pub fn with_image<R>(&self, read: impl FnOnce(&KraftImage) -> R) -> R {
        self.image.with_image(read)
    }

    /// The last leader of the quorum this node heard from as a follower, and when: on a
    /// new leader, the one it replaced and the last sign of life it gave.
    pub fn leader_heard(&self) -> Option<(NodeId, std::time::Instant)> {
        *self.leader_heard.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Leader, epoch, committed offset and voters, for the console.
    pub fn status(&self) -> super::QuorumStatus {
        super::QuorumStatus::of(&self.raft.metrics().borrow())
    }
}

impl Drop for Quorum {
    fn drop(&mut self) {
        let raft = self.raft.clone();
        if let Some(runtime) = self.runtime.take() {
            if let Err(e) = run(&runtime, async move { raft.shutdown().await }) {
                tracing::warn!(error = %e, "the metadata quorum did not stop cleanly");
            }
            runtime.shutdown_background();
        }
    }
}

/// Runs `future` on the quorum's runtime and waits for it on this thread, which may be a
/// thread of another runtime: the quorum's own thread does the work.
fn run<F>(runtime: &Runtime, future: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        // The receiver waits below; if this thread is gone, so is the result's reader.
        let _ = sender.send(future.await);
    });
    receiver.recv().expect("the quorum's runtime runs what it is given")
}

#[cfg(test)]
mod election_timeout_tests {
    use super::*;

    #[test]
    fn each_voter_draws_its_election_timeout_from_a_range_of_its_own() {
        let peers = Peers {
            voters: [3, 1, 2].into_iter().map(|id| (id, VoterNode::default())).collect(),
            cluster_id: "c".into(),
            listener: "CONTROLLER".into(),
            listen: "127.0.0.1:0".parse().unwrap(),
            election_timeout_ms: 1000,
        };
        let ranges: Vec<_> = [1, 2, 3].map(|id| election_timeouts(&peers, id)).into();
        assert_eq!(ranges, [500..583, 666..749, 832..915]);
        assert!(ranges.windows(2).all(|w| w[1].start - w[0].end >= 1000 / 12));
    }
}
