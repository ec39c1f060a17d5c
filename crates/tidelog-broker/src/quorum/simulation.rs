//! Three voters in one process over a network that loses nodes and cuts links
//! (docs/design/quorum.md §6): the log store and state machine of every voter under
//! openraft's elections, replication, conflicting entries and snapshot installation. Each
//! scenario runs twice: with openraft's messages handed over in memory, and with them sent
//! over loopback TCP as the quorum's Kafka-framed APIs (`transport`, `wire`). Every wait is
//! bounded; no assertion is about time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{Raft, ServerState, SnapshotPolicy};
use tempfile::TempDir;
use tidelog_log::Recovery;
use tidelog_protocol::metadata::records::topic_record::TopicRecord;
use tidelog_protocol::metadata::{MetadataRecord, VersionedRecord};
use tidelog_protocol::records::RecordBatch;
use tidelog_protocol::Uuid;
use tokio::net::TcpListener;

use super::state_machine::ImageHandle;
use super::transport::{self, FramedNetwork};
use super::types::{NodeId, Proposal, TypeConfig, VoterEndpoint, VoterNode};
use super::{wire, LogStore, StateMachine};
use crate::metadata::kraft::MetadataLogSettings;

/// How long any one wait may take before the test fails.
const WAIT: Duration = Duration::from_secs(30);

/// The voters that are up, and the links that are cut (both ways).
#[derive(Default)]
struct Router {
    up: Mutex<BTreeMap<NodeId, Raft<TypeConfig>>>,
    cut: Mutex<BTreeSet<(NodeId, NodeId)>>,
}

#[derive(Debug, thiserror::Error)]
#[error("node {to} is down or cut off from node {from}")]
struct NoRoute {
    from: NodeId,
    to: NodeId,
}

impl Router {
    /// `to`, if it is up and its link with `from` is not cut.
    fn reach(&self, from: NodeId, to: NodeId) -> Option<Raft<TypeConfig>> {
        let cut = self.cut.lock().unwrap();
        if cut.contains(&(from, to)) || cut.contains(&(to, from)) {
            return None;
        }
        self.up.lock().unwrap().get(&to).cloned()
    }
}

/// One voter's view of the network.
#[derive(Clone)]
struct Network {
    router: Arc<Router>,
    from: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Link;

    async fn new_client(&mut self, to: NodeId, _node: &VoterNode) -> Link {
        Link {
            router: Arc::clone(&self.router),
            from: self.from,
            to,
        }
    }
}

struct Link {
    router: Arc<Router>,
    from: NodeId,
    to: NodeId,
}

impl Link {
    fn unreachable<E: std::error::Error>(&self) -> RPCError<NodeId, VoterNode, E> {
        let (from, to) = (self.from, self.to);
        RPCError::Unreachable(Unreachable::new(&NoRoute { from, to }))
    }

    /// Sends a request with `call` to the other end, and its answer back: either way may be
    /// cut while the request is handled.
    async fn send<R, E, F>(&self, call: impl FnOnce(Raft<TypeConfig>) -> F) -> Result<R, RPCError<NodeId, VoterNode, E>>
    where
        E: std::error::Error,
        F: std::future::Future<Output = Result<R, E>>,
    {
        let raft = self
            .router
            .reach(self.from, self.to)
            .ok_or_else(|| self.unreachable())?;
        let answer = call(raft).await;
        if self.router.reach(self.from, self.to).is_none() {
            return Err(self.unreachable());
        }
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.to, e)))
    }
}

impl RaftNetwork<TypeConfig> for Link {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, VoterNode, RaftError<NodeId>>> {
        self.send(|raft| async move { raft.append_entries(rpc).await }).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, VoterNode, RaftError<NodeId, InstallSnapshotError>>>
    {
        self.send(|raft| async move { raft.install_snapshot(rpc).await }).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, VoterNode, RaftError<NodeId>>> {
        self.send(|raft| async move { raft.vote(rpc).await }).await
    }
}

/// How the voters' messages travel.
#[derive(Clone, Copy, Debug)]
enum Transport {
    /// Handed to the other voter's `Raft` in memory.
    Memory,
    /// Over loopback TCP as the quorum's Kafka-framed APIs, each voter answering on a port.
    Tcp,
}

const CLUSTER_ID: &str = "simulation";

/// Answers the quorum's RPCs on `listener` for voter `id`, as its controller listener does
/// (`transport::serve`), but as the router says: a request from a voter that is down, or
/// whose link is cut, gets no answer, and its connection closes.
async fn serve_voter(listener: TcpListener, id: NodeId, router: Arc<Router>) {
    transport::serve(listener, move |from, request| {
        let raft = from.and_then(|from| router.reach(from, id));
        let router = Arc::clone(&router);
        async move {
            let answer = wire::serve(&raft?, CLUSTER_ID, request).await;
            // A cut made while the request was handled loses the answer.
            router.reach(from?, id)?;
            answer
        }
    })
    .await;
}

/// A voter: its metadata directory outlives its runs.
struct Voter {
    dir: TempDir,
    /// Where it answers, over TCP.
    node: VoterNode,
    running: Option<(Raft<TypeConfig>, ImageHandle)>,
}

/// Three voters, 1 to 3, each on a metadata directory of its own.
struct Cluster {
    transport: Transport,
    router: Arc<Router>,
    voters: BTreeMap<NodeId, Voter>,
    proposed: u32,
}

impl Cluster {
    /// Starts three pristine voters and makes them one quorum.
    async fn start(transport: Transport) -> Cluster {
        let mut cluster = Cluster {
            transport,
            router: Arc::default(),
            voters: BTreeMap::new(),
            proposed: 0,
        };
        for id in 1..=3 {
            let dir = tempfile::tempdir().unwrap();
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let node = VoterNode {
                endpoints: vec![VoterEndpoint {
                    listener: "CONTROLLER".into(),
                    host: "127.0.0.1".into(),
                    port: listener.local_addr().unwrap().port(),
                }],
                ..Default::default()
            };
            tokio::spawn(serve_voter(listener, id, Arc::clone(&cluster.router)));
            cluster.voters.insert(
                id,
                Voter {
                    dir,
                    node,
                    running: None,
                },
            );
            cluster.run(id).await;
        }
        let members: BTreeMap<NodeId, VoterNode> = cluster.voters.iter().map(|(id, v)| (*id, v.node.clone())).collect();
        cluster.raft(1).initialize(members).await.unwrap();
        cluster
    }

    /// Runs voter `id` on what its directory holds.
    async fn run(&mut self, id: NodeId) {
        let voter = self.voters.get_mut(&id).unwrap();
        let settings = MetadataLogSettings::default();
        let log_store = LogStore::open(voter.dir.path(), &settings, Recovery::Skip).unwrap();
        let state_machine = StateMachine::open(voter.dir.path()).unwrap();
        let image = state_machine.image_handle();
        let config = openraft::Config {
            cluster_name: "simulation".into(),
            heartbeat_interval: 50,
            election_timeout_min: 200,
            election_timeout_max: 400,
            snapshot_policy: SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: 0,
            ..Default::default()
        }
        .validate()
        .unwrap();
        let config = Arc::new(config);
        let raft = match self.transport {
            Transport::Memory => {
                let network = Network {
                    router: Arc::clone(&self.router),
                    from: id,
                };
                Raft::new(id, config, network, log_store, state_machine).await
            }
            Transport::Tcp => {
                let network = FramedNetwork {
                    node_id: id,
                    cluster_id: CLUSTER_ID.into(),
                    listener: "CONTROLLER".into(),
                };
                Raft::new(id, config, network, log_store, state_machine).await
            }
        }
        .unwrap();
        self.router.up.lock().unwrap().insert(id, raft.clone());
        voter.running = Some((raft, image));
    }

    /// Stops voter `id` as a process stops: what it made durable stays.
    async fn stop(&mut self, id: NodeId) {
        self.router.up.lock().unwrap().remove(&id);
        let (raft, _) = self.voters.get_mut(&id).unwrap().running.take().unwrap();
        raft.shutdown().await.unwrap();
    }

    fn raft(&self, id: NodeId) -> Raft<TypeConfig> {
        self.voters[&id].running.as_ref().unwrap().0.clone()
    }

    fn running(&self) -> Vec<NodeId> {
        self.voters
            .iter()
            .filter(|(_, v)| v.running.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Cuts `id` off from every other voter, or heals its links.
    fn isolate(&self, id: NodeId, isolated: bool) {
        let mut cut = self.router.cut.lock().unwrap();
        for other in self.voters.keys().filter(|&&o| o != id) {
            match isolated {
                true => cut.insert((id, *other)),
                false => cut.remove(&(id, *other)),
            };
        }
    }

    /// Waits until one of `among` leads, in a term newer than `after`, and returns it.
    async fn leader(&self, among: &[NodeId], after: u64) -> NodeId {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            for &id in among {
                let metrics = self.raft(id).metrics().borrow().clone();
                if metrics.state == ServerState::Leader && metrics.current_term > after {
                    return id;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "no leader among {among:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn term(&self, id: NodeId) -> u64 {
        self.raft(id).metrics().borrow().current_term
    }

    /// Commits `count` topics through `leader`, and returns the last one's index.
    async fn commit_topics(&mut self, leader: NodeId, count: u32) -> u64 {
        let mut last = 0;
        for _ in 0..count {
            self.proposed += 1;
            let written = self.raft(leader).client_write(topic(self.proposed)).await.unwrap();
            last = written.log_id.index;
        }
        last
    }

    /// Waits until each of `voters` has applied the entry at `index`.
    async fn applied(&self, voters: &[NodeId], index: u64) {
        for &id in voters {
            self.raft(id)
                .wait(Some(WAIT))
                .applied_index_at_least(Some(index), format!("voter {id} applies {index}"))
                .await
                .unwrap();
        }
    }

    /// The topics voter `id` has applied.
    fn topics(&self, id: NodeId) -> BTreeSet<String> {
        let (_, image) = self.voters[&id].running.as_ref().unwrap();
        image.with_image(|image| image.topics().map(|t| t.name.clone()).collect())
    }

    /// Every batch voter `id`'s log holds, by base offset.
    fn batches(&self, id: NodeId) -> BTreeMap<i64, Bytes> {
        batches_in(self.voters[&id].dir.path())
    }

    /// Asserts that wherever two voters' logs both hold a batch, they hold the same bytes, and
    /// that they hold some in common.
    fn assert_logs_agree(&self) {
        let logs: Vec<(NodeId, BTreeMap<i64, Bytes>)> = self.voters.keys().map(|&id| (id, self.batches(id))).collect();
        for (i, (a, a_log)) in logs.iter().enumerate() {
            for (b, b_log) in &logs[i + 1..] {
                let common: Vec<&i64> = a_log.keys().filter(|o| b_log.contains_key(o)).collect();
                assert!(!common.is_empty(), "voters {a} and {b} share no batch");
                for offset in common {
                    assert_eq!(
                        a_log[offset], b_log[offset],
                        "voters {a} and {b} differ at offset {offset}"
                    );
                }
            }
        }
    }
}

/// The batches of the metadata log in `dir`, by base offset.
fn batches_in(dir: &Path) -> BTreeMap<i64, Bytes> {
    let mut segments: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    segments.sort();
    let mut batches = BTreeMap::new();
    for segment in segments {
        let bytes = Bytes::from(std::fs::read(segment).unwrap());
        for batch in RecordBatch::iter_batches(bytes) {
            let batch = batch.unwrap();
            batches.insert(batch.base_offset(), Bytes::copy_from_slice(batch.as_bytes()));
        }
    }
    batches
}

fn topic(n: u32) -> Proposal {
    Proposal {
        timestamp: 1_700_000_000_000 + i64::from(n),
        record: VersionedRecord {
            version: 0,
            record: MetadataRecord::TopicRecord(TopicRecord {
                name: topic_name(n),
                topic_id: Uuid::from_u128(u128::from(n)),
                ..Default::default()
            }),
        },
    }
}

fn topic_name(n: u32) -> String {
    format!("topic-{n}")
}

fn names(range: std::ops::RangeInclusive<u32>) -> BTreeSet<String> {
    range.map(topic_name).collect()
}

/// Voters elect, replicate byte-identical batches, lose their leader without losing a
/// committed entry, and take the old leader back, which catches up.
async fn three_voters_keep_every_committed_entry_when_the_leader_stops(transport: Transport) {
    let mut cluster = Cluster::start(transport).await;
    let first = cluster.leader(&[1, 2, 3], 0).await;
    let last = cluster.commit_topics(first, 20).await;
    cluster.applied(&[1, 2, 3], last).await;
    for id in 1..=3 {
        assert_eq!(cluster.topics(id), names(1..=20), "voter {id}");
    }
    cluster.assert_logs_agree();

    let term = cluster.term(first);
    cluster.stop(first).await;
    let others: Vec<NodeId> = cluster.running();
    let second = cluster.leader(&others, term).await;
    let last = cluster.commit_topics(second, 10).await;
    cluster.applied(&others, last).await;

    cluster.run(first).await;
    cluster.applied(&[1, 2, 3], last).await;
    for id in 1..=3 {
        assert_eq!(cluster.topics(id), names(1..=30), "voter {id}");
    }
    cluster.assert_logs_agree();
}

/// A leader cut off from the others appends an entry it can never commit; the majority
/// elects another leader and goes on; once healed, the old leader's entry is cut from its
/// log and replaced by the majority's, and no voter ever applies it.
async fn an_isolated_leaders_uncommitted_entry_is_replaced(transport: Transport) {
    let mut cluster = Cluster::start(transport).await;
    let first = cluster.leader(&[1, 2, 3], 0).await;
    let last = cluster.commit_topics(first, 5).await;
    cluster.applied(&[1, 2, 3], last).await;

    cluster.isolate(first, true);
    let stray = cluster.raft(first).client_write_ff(topic(1000)).await.unwrap();
    cluster
        .raft(first)
        .wait(Some(WAIT))
        .metrics(|m| m.last_log_index > Some(last), "the isolated leader appends")
        .await
        .unwrap();
    let term = cluster.term(first);
    let majority: Vec<NodeId> = cluster.running().into_iter().filter(|&id| id != first).collect();
    let second = cluster.leader(&majority, term).await;
    let last = cluster.commit_topics(second, 5).await;
    cluster.applied(&majority, last).await;

    cluster.isolate(first, false);
    cluster.applied(&[1, 2, 3], last).await;
    let outcome = tokio::time::timeout(WAIT, stray)
        .await
        .expect("the stray write is answered");
    assert!(
        !matches!(outcome, Ok(Ok(_))),
        "the isolated leader's write must not commit: {outcome:?}"
    );
    for id in 1..=3 {
        assert_eq!(cluster.topics(id), names(1..=10), "voter {id}");
    }
    cluster.assert_logs_agree();
}

/// A voter that was down while the leader snapshotted and purged its log gets the snapshot
/// (a KRaft `.checkpoint`) and the entries after it.
async fn a_voter_behind_the_leaders_snapshot_installs_it(transport: Transport) {
    let mut cluster = Cluster::start(transport).await;
    let leader = cluster.leader(&[1, 2, 3], 0).await;
    let behind = *cluster.running().iter().find(|&&id| id != leader).unwrap();
    cluster.stop(behind).await;

    let last = cluster.commit_topics(leader, 20).await;
    cluster.raft(leader).trigger().snapshot().await.unwrap();
    cluster
        .raft(leader)
        .wait(Some(WAIT))
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index >= last) && m.purged.is_some_and(|p| p.index >= last),
            "the leader snapshots and purges its log",
        )
        .await
        .unwrap();
    let after = cluster.commit_topics(leader, 3).await;

    cluster.run(behind).await;
    cluster.applied(&[behind], after).await;
    let installed = cluster.raft(behind).metrics().borrow().snapshot;
    assert!(installed.is_some_and(|s| s.index >= last), "installed {installed:?}");
    assert_eq!(cluster.topics(behind), names(1..=23));
    assert!(
        !cluster.batches(behind).contains_key(&1),
        "the voter behind took the snapshot, not the purged entries"
    );
}

/// Each scenario over each transport.
macro_rules! scenarios {
    ($($scenario:ident),*) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Transport::Memory).await;
                }
            )*
        }
        mod tcp {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Transport::Tcp).await;
                }
            )*
        }
    };
}

scenarios!(
    three_voters_keep_every_committed_entry_when_the_leader_stops,
    an_isolated_leaders_uncommitted_entry_is_replaced,
    a_voter_behind_the_leaders_snapshot_installs_it
);
