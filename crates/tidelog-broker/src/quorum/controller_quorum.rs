//! A running metadata quorum: openraft's `Raft` over the metadata log, on a runtime of its
//! own so that the broker's handlers may wait for a commit on their threads, as they waited
//! for the metadata log's fsync before, without ever starving the quorum of a thread.

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::{Raft, ServerState, SnapshotPolicy};
use thiserror::Error;
use tidelog_log::Recovery;
use tidelog_protocol::metadata::VersionedRecord;
use tokio::runtime::Runtime;
use tracing::info;

use super::log_store::Announced;
use super::network::NoPeers;
use super::state_machine::ImageHandle;
use super::types::{NodeId, Proposal, TypeConfig};
use super::{LogStore, StateMachine};
use crate::clock::now_ms;
use crate::metadata::kraft::{abort_transaction, in_transaction, KraftImage, MetadataLogSettings};

/// How long a start waits for this node to lead its quorum of one and apply its log.
const START_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Error)]
pub enum QuorumError {
    #[error("the metadata quorum cannot start: {0}")]
    Start(String),
    #[error("the metadata quorum has {0} voters; this Tidelog runs a quorum of one voter only")]
    SeveralVoters(usize),
    #[error("a metadata change was not committed: {0}")]
    NotCommitted(String),
}

/// The metadata quorum of this node, which is its only voter.
pub struct Quorum {
    runtime: Option<Runtime>,
    raft: Raft<TypeConfig>,
    image: ImageHandle,
    /// Bytes of entries the log store appended, and how many of them a snapshot covers.
    appended_bytes: Arc<AtomicU64>,
    /// Where a proposal announces its entries, so that they share one fsync.
    announced: Announced,
    /// One proposal at a time: an entry's fsync may be left to the last entry of its own
    /// change only if no other change's entries are announced meanwhile.
    proposing: Mutex<()>,
    snapshot_at: AtomicU64,
    snapshot_bytes: u64,
}

impl Quorum {
    /// Starts the quorum on the metadata log in `dir` (formatted, and recovered if it had to
    /// be) as node `node_id`, and waits until the node leads and has applied the whole log.
    /// A metadata transaction the log leaves open is then aborted, as a new leader aborts it.
    /// A snapshot is written once `settings.snapshot_bytes` of entries follow the last one.
    pub fn start(dir: &Path, node_id: i32, settings: &MetadataLogSettings) -> Result<Quorum, QuorumError> {
        let start_err = |e: &dyn std::fmt::Display| QuorumError::Start(e.to_string());
        let node_id = NodeId::try_from(node_id).map_err(|_| start_err(&format!("node.id {node_id} is negative")))?;
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
            // No timer runs before the voters are checked: a refused start writes nothing.
            enable_tick: false,
            ..Default::default()
        }
        .validate()
        .map_err(|e| start_err(&e))?;
        let raft = run(
            &runtime,
            Raft::new(node_id, Arc::new(raft_config), NoPeers, log_store, state_machine),
        )
        .map_err(|e| start_err(&e))?;
        let quorum = Quorum {
            runtime: Some(runtime),
            raft,
            image,
            appended_bytes,
            announced,
            proposing: Mutex::default(),
            snapshot_at: AtomicU64::new(0),
            snapshot_bytes: settings.snapshot_bytes,
        };
        // From the Raft state itself: the metrics that report it are updated asynchronously.
        let raft = quorum.raft.clone();
        let voters = run(quorum.runtime(), async move {
            raft.with_raft_state(|state| state.membership_state.effective().voter_ids().count())
                .await
        })
        .map_err(|e| start_err(&e))?;
        if voters > 1 {
            return Err(QuorumError::SeveralVoters(voters));
        }
        quorum.raft.runtime_config().tick(true);
        quorum.lead()?;
        if quorum.image.open_transaction().is_some() {
            quorum.propose(vec![abort_transaction()])?;
        }
        Ok(quorum)
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
            announced.announce(proposed);
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
                        outcome = Err(e.to_string());
                        break;
                    }
                }
            }
            let mut committed_count = 0;
            for committed in pending {
                match committed
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))
                {
                    Ok(response) => {
                        committed_count += 1;
                        outcome = outcome.map(|_| Some(response.log_id.index));
                    }
                    Err(e) => outcome = outcome.and(Err(e)),
                }
            }
            // Entries that were appended took themselves off; the others never will.
            announced.withdraw(proposed - committed_count);
            outcome
        })
        .map_err(QuorumError::NotCommitted)?;
        self.snapshot_if_due();
        Ok(last.map_or(-1, |index| index as i64))
    }

    /// Asks for a snapshot once enough bytes follow the last one, and no metadata
    /// transaction is open (a snapshot holds none).
    fn snapshot_if_due(&self) {
        let appended = self.appended_bytes.load(Ordering::Acquire);
        let since = appended.saturating_sub(self.snapshot_at.load(Ordering::Acquire));
        if since < self.snapshot_bytes || self.image.open_transaction().is_some() {
            return;
        }
        self.snapshot_at.store(appended, Ordering::Release);
        let raft = self.raft.clone();
        self.runtime().spawn(async move {
            if let Err(e) = raft.trigger().snapshot().await {
                tracing::warn!(error = %e, "cannot snapshot the metadata log");
            }
        });
    }

    /// Reads the image of every committed entry.
    pub fn with_image<R>(&self, read: impl FnOnce(&KraftImage) -> R) -> R {
        self.image.with_image(read)
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
