//! The transaction coordinator (KIP-98) and the producer id allocation it shares with
//! idempotent producers.
//!
//! On a single node it coordinates every transactional id. Each id's state machine
//! (`state`) lives in memory; every transition is first written to `__transaction_state`
//! (partition chosen as Kafka chooses it, records in Kafka's formats, see `records`) and
//! counts only once durable; while it is being written the id answers
//! CONCURRENT_TRANSACTIONS. The topic is replayed at start, and transactions found between
//! Prepare and Complete get their markers written again (`markers`), which is harmless:
//! a second marker for a transaction already ended changes nothing.

mod markers;
mod producer_ids;
pub mod records;
mod registry;
pub mod state;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use tidelog_log::LogError;
use tidelog_protocol::ErrorCode;
use tracing::{error, info, warn};

use crate::clock::now_ms;
use crate::coordinator::group::GroupCoordinator;
use crate::coordinator::internal_topic::{self, PendingWrite};
use crate::partitions::Partitions;
pub use producer_ids::{grant_block, ProducerIdManager, PRODUCER_ID_BLOCK_SIZE};
use registry::{Entry, Registry};
use state::{TxnMetadata, TxnState, TV_2};

pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// Set in the environment of a debug build, the broker dies right after a transaction's
/// PrepareCommit is durable and before any marker is written, so tests can check recovery
/// from exactly there. Release builds ignore it.
pub const FAILPOINT_ENV: &str = "TIDELOG_FAILPOINT";
pub const FAILPOINT_BEFORE_MARKERS: &str = "txn-before-markers";

/// Settings from the broker configuration (Kafka's names).
#[derive(Debug, Clone, Copy)]
pub struct TxnSettings {
    /// `transaction.state.log.num.partitions`.
    pub log_partitions: i32,
    /// `transaction.max.timeout.ms`: the longest timeout a producer may ask for.
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: idle ids are forgotten after this long.
    pub id_expiration_ms: i64,
}

/// The ids, shared with the tasks that apply transitions once durable.
type Txns = Arc<Mutex<Registry>>;

fn lock(txns: &Txns) -> MutexGuard<'_, Registry> {
    txns.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct TransactionCoordinator {
    txns: Txns,
    /// Woken whenever a completion ends, for the callers waiting on another's.
    completions: Notify,
    /// Woken whenever a transition counts, for the implicit adds waiting on one.
    applied: Arc<Notify>,
    pub settings: TxnSettings,
}

impl TransactionCoordinator {
    pub fn new(settings: TxnSettings) -> TransactionCoordinator {
        TransactionCoordinator {
            txns: Txns::default(),
            completions: Notify::new(),
            applied: Arc::default(),
            settings,
        }
    }

    /// The `__transaction_state` partition of a transactional id.
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        internal_topic::partition_for(transactional_id, self.settings.log_partitions)
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        lock(&self.txns)
    }

    /// Runs one transition: `decide` sees the current metadata (`None` for an unknown id)
    /// and returns the next one to write (`None`: nothing changes) with its answer. The
    /// next metadata is written and counts once durable, when this returns. A task of its
    /// own applies it, so that it counts even if the caller goes away (a client that
    /// disconnects) rather than leave the id pending for ever.
    pub async fn transition<T>(
        &self,
        partitions: &Partitions,
        transactional_id: &str,
        decide: impl FnOnce(Option<&TxnMetadata>) -> Result<(Option<TxnMetadata>, T), ErrorCode>,
    ) -> Result<T, ErrorCode> {
        let (write, answer) = {
            let mut txns = self.lock();
            let entry = txns.get(transactional_id);
            if entry.is_some_and(|e| e.pending.is_some()) {
                return Err(ErrorCode::CONCURRENT_TRANSACTIONS);
            }
            let (next, answer) = decide(entry.map(|e| &e.current))?;
            let Some(next) = next else {
                return Ok(answer);
            };
            let write = self.append(partitions, transactional_id, Some(&next))?;
            match txns.get_mut(transactional_id) {
                Some(entry) => entry.pending = Some(next),
                // A new id counts only once written too: until then it answers as pending.
                None => {
                    txns.insert(Entry::new(next.clone(), Some(next)));
                }
            }
            (write, answer)
        };
        let (txns, id, notify) = (self.txns.clone(), transactional_id.to_string(), self.applied.clone());
        let applied = tokio::spawn(async move {
            if let Some(write) = write {
                write.durable().await;
            }
            lock(&txns).apply_pending(&id);
            notify.notify_waiters();
        });
        let _ = applied.await;
        Ok(answer)
    }

    /// Appends a transactional id's record (a tombstone for `None`).
    fn append(
        &self,
        partitions: &Partitions,
        transactional_id: &str,
        txn: Option<&TxnMetadata>,
    ) -> Result<Option<PendingWrite>, ErrorCode> {
        let key = records::encode_key(transactional_id).map_err(|_| ErrorCode::INVALID_REQUEST)?;
        let value = txn
            .map(records::encode_value)
            .transpose()
            .map_err(|_| ErrorCode::INVALID_REQUEST)?;
        let index = self.partition_for(transactional_id);
        internal_topic::append(partitions, TRANSACTION_STATE_TOPIC, index, &[(key, value)], None)
    }

    /// Writes the markers of a transaction in PrepareCommit or PrepareAbort, then its
    /// Complete state. Run after EndTxn, a fencing InitProducerId and a timeout, and by the
    /// periodic retry for prepared transactions nobody completes (after a restart or a
    /// failed write). When a completion of the id is already running, waits for it.
    /// Callers run it as a task of its own (`Broker::spawn_txn_completion`), so that it
    /// finishes even if the client that asked goes away.
    pub async fn complete(
        &self,
        partitions: &Partitions,
        groups: &GroupCoordinator,
        transactional_id: &str,
    ) -> Result<(), ErrorCode> {
        let prepared = loop {
            let completed = self.completions.notified();
            let claimed = {
                let mut txns = self.lock();
                match txns.get_mut(transactional_id) {
                    Some(e) if e.current.state.is_preparing() && e.pending.is_none() => {
                        match std::mem::replace(&mut e.completing, true) {
                            false => Some(e.current.clone()),
                            true => None,
                        }
                    }
                    _ => return Ok(()),
                }
            };
            match claimed {
                Some(prepared) => break prepared,
                None => completed.await,
            }
        };
        let completed = self.write_outcome(partitions, groups, &prepared).await;
        if let Some(entry) = self.lock().get_mut(transactional_id) {
            entry.completing = false;
        }
        self.completions.notify_waiters();
        completed
    }

    /// The markers of a prepared transaction, then its Complete state.
    async fn write_outcome(
        &self,
        partitions: &Partitions,
        groups: &GroupCoordinator,
        prepared: &TxnMetadata,
    ) -> Result<(), ErrorCode> {
        let commit = prepared.state == TxnState::PrepareCommit;
        if commit && failpoint_set(FAILPOINT_BEFORE_MARKERS) {
            error!("failpoint {FAILPOINT_BEFORE_MARKERS}: dying before the markers");
            std::process::abort();
        }
        markers::write_markers(partitions, groups, prepared, commit).await?;
        self.transition(partitions, &prepared.transactional_id, |current| match current {
            Some(txn) if txn.state == prepared.state && txn.producer_epoch == prepared.producer_epoch => {
                Ok((Some(txn.complete(now_ms())), ()))
            }
            _ => Ok((None, ())),
        })
        .await
    }

    /// AddPartitionsToTxn and AddOffsetsToTxn, and the implicit adds of transactions v2
    /// (`client_version` `TV_2`): the partitions join the producer's transaction (which
    /// starts with the first), durable when this returns.
    pub async fn add_partitions(
        &self,
        partitions: &Partitions,
        transactional_id: &str,
        producer: (i64, i16),
        added: &[(String, i32)],
        client_version: i16,
    ) -> Result<(), ErrorCode> {
        let now = now_ms();
        self.transition(partitions, transactional_id, |current| {
            let txn = current.ok_or(ErrorCode::INVALID_PRODUCER_ID_MAPPING)?;
            Ok((
                txn.add_partitions(producer.0, producer.1, added, client_version, now)?,
                (),
            ))
        })
        .await
    }

    /// The implicit add of transactions v2 (Produce v12, TxnOffsetCommit v5): as
    /// `add_partitions`, but while the id is busy (another add being written, or its
    /// markers) the add waits for it and tries again, up to `timeout`, rather than answer
    /// CONCURRENT_TRANSACTIONS at once: the client did not ask for the add, and a Java
    /// producer's pipelined requests often add partitions to one transaction at once.
    /// Kafka's partition leaders retry the same way (KAFKA-18654).
    pub async fn add_partitions_implicitly(
        &self,
        partitions: &Partitions,
        transactional_id: &str,
        producer: (i64, i16),
        added: &[(String, i32)],
        timeout: Duration,
    ) -> Result<(), ErrorCode> {
        let added = async {
            loop {
                // Registered before the attempt, so a transition that counts meanwhile wakes it.
                let applied = self.applied.notified();
                match self
                    .add_partitions(partitions, transactional_id, producer, added, TV_2)
                    .await
                {
                    Err(ErrorCode::CONCURRENT_TRANSACTIONS) => applied.await,
                    outcome => return outcome,
                }
            }
        };
        tokio::time::timeout(timeout, added)
            .await
            .unwrap_or(Err(ErrorCode::CONCURRENT_TRANSACTIONS))
    }

    /// Whether the producer's ongoing transaction holds `partition` (AddPartitionsToTxn
    /// v4+ with `verify_only`, TxnOffsetCommit).
    pub fn verify_in_txn(
        &self,
        transactional_id: &str,
        producer: (i64, i16),
        partition: &(String, i32),
    ) -> Result<(), ErrorCode> {
        let txns = self.lock();
        let txn = &txns
            .get(transactional_id)
            .ok_or(ErrorCode::INVALID_PRODUCER_ID_MAPPING)?
            .current;
        if txn.producer_id != producer.0 {
            return Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING);
        }
        txn.verify(producer.1, partition)
    }

    /// Runs `f` on an id's current (durable) metadata.
    pub fn with_current<T>(&self, transactional_id: &str, f: impl FnOnce(&TxnMetadata) -> T) -> Option<T> {
        self.lock().get(transactional_id).map(|e| f(&e.current))
    }

    /// Runs `f` on every id's current metadata, in no particular order.
    pub fn for_each(&self, mut f: impl FnMut(&TxnMetadata)) {
        self.lock().values().for_each(|e| f(&e.current));
    }

    /// KIP-890 verification of a transactional batch: its producer must have added the
    /// partition to its ongoing transaction. One lookup by producer id under the lock.
    pub fn verify(&self, producer_id: i64, producer_epoch: i16, topic: &str, partition: i32) -> Result<(), ErrorCode> {
        let key = (topic.to_string(), partition);
        match self.lock().by_producer(producer_id) {
            Some(txn) => txn.verify(producer_epoch, &key),
            // A producer id no transactional id holds, as Kafka's coordinator answers it.
            None => Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING),
        }
    }

    /// The ids whose ongoing transaction ran past its timeout.
    pub fn timed_out(&self, now_ms: i64) -> Vec<String> {
        let txns = self.lock();
        txns.values()
            .filter(|e| e.pending.is_none() && e.current.is_timed_out(now_ms))
            .map(|e| e.current.transactional_id.clone())
            .collect()
    }

    /// Aborts a transaction that ran past its timeout at a bumped epoch, fencing its
    /// producer, as Kafka does.
    pub async fn abort_timed_out(
        &self,
        partitions: &Partitions,
        groups: &GroupCoordinator,
        transactional_id: &str,
    ) -> Result<(), ErrorCode> {
        let now = now_ms();
        let aborting = self
            .transition(partitions, transactional_id, |current| match current {
                Some(txn) if txn.is_timed_out(now) => Ok((Some(txn.fence_and_abort(now)), true)),
                _ => Ok((None, false)),
            })
            .await?;
        if aborting {
            info!(transactional_id, "aborting a transaction past its timeout");
            self.complete(partitions, groups, transactional_id).await?;
        }
        Ok(())
    }

    /// Forgets ids idle for `transactional.id.expiration.ms`, with a tombstone each. Nobody
    /// waits for these writes; they are durable with the next flush.
    pub fn expire(&self, partitions: &Partitions, now_ms: i64) {
        let mut txns = self.lock();
        let expired: Vec<String> = txns
            .values()
            .filter(|e| e.pending.is_none() && e.current.is_expired(now_ms, self.settings.id_expiration_ms))
            .map(|e| e.current.transactional_id.clone())
            .collect();
        for id in expired {
            match self.append(partitions, &id, None) {
                Ok(_) => {
                    info!(transactional_id = id, "transactional id expired");
                    txns.remove(&id);
                }
                Err(error) => warn!(transactional_id = id, ?error, "cannot expire a transactional id"),
            }
        }
    }

    /// The ids between Prepare and Complete that nobody is completing: after a restart or
    /// a failed marker write, those whose markers must be written (again).
    pub fn preparing(&self) -> Vec<String> {
        self.lock()
            .values()
            .filter(|e| e.pending.is_none() && !e.completing && e.current.state.is_preparing())
            .map(|e| e.current.transactional_id.clone())
            .collect()
    }

    /// Rebuilds every id from `__transaction_state`.
    pub fn load(&self, partitions: &Partitions) -> Result<(), LogError> {
        let mut txns = self.lock();
        let mut loaded = 0usize;
        internal_topic::replay(
            partitions,
            TRANSACTION_STATE_TOPIC,
            self.settings.log_partitions,
            |_, batch| {
                let records = match batch.records(usize::MAX) {
                    Ok(records) => records,
                    Err(e) => {
                        warn!(error = %e, "skipping an unreadable batch of {TRANSACTION_STATE_TOPIC}");
                        return;
                    }
                };
                for record in records.flatten() {
                    let Some(key) = record.key else { continue };
                    match records::decode(key, record.value) {
                        Ok((_, Some(current))) => txns.insert(Entry::new(current, None)),
                        Ok((id, None)) => {
                            txns.remove(&id);
                        }
                        Err(e) => warn!(error = %e, "skipping an undecodable record of {TRANSACTION_STATE_TOPIC}"),
                    }
                    loaded += 1;
                }
            },
        )?;
        info!(records = loaded, ids = txns.len(), "transactions loaded");
        Ok(())
    }
}

/// Whether the debug-only failpoint `name` is set (see [`FAILPOINT_ENV`]).
fn failpoint_set(name: &str) -> bool {
    cfg!(debug_assertions) && std::env::var(FAILPOINT_ENV).is_ok_and(|v| v == name)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::broker::Broker;
    use crate::config::BrokerConfig;
    use crate::coordinator::group::records::OffsetKey;
    use crate::coordinator::group::state::Committed;
    use crate::coordinator::group::OFFSETS_TOPIC;
    use crate::coordinator::internal_topic::TxnProducer;
    use state::End;

    const GROUP: &str = "g";

    fn open(dir: &std::path::Path) -> std::sync::Arc<Broker> {
        Broker::open(BrokerConfig {
            log_dirs: vec![dir.to_path_buf()],
            ..BrokerConfig::default()
        })
        .unwrap()
    }

    fn committed_offset(broker: &Broker) -> Option<i64> {
        broker
            .groups
            .with_existing(GROUP, |g| g.offsets.get(&("t".to_string(), 0)).map(|c| c.offset))
            .flatten()
    }

    /// Begins a transaction of "tx" holding partition t-0 and the group's offsets partition,
    /// and commits offset `offset` of t-0 in it; returns the producer.
    async fn transaction_with_offset(broker: &Broker, offset: i64) -> (i64, i16) {
        let producer = broker
            .txns
            .transition(&broker.partitions, "tx", |current| {
                let txn = current
                    .cloned()
                    .unwrap_or_else(|| TxnMetadata::new("tx", 7, 60_000, now_ms()));
                Ok((Some(txn.clone()), (txn.producer_id, txn.producer_epoch)))
            })
            .await
            .unwrap();
        let offsets_partition = (OFFSETS_TOPIC.to_string(), broker.groups.partition_for(GROUP));
        let wanted = [("t".to_string(), 0), offsets_partition];
        broker
            .txns
            .add_partitions(&broker.partitions, "tx", producer, &wanted, state::TV_0)
            .await
            .unwrap();
        let offsets = vec![(
            OffsetKey {
                group: GROUP.into(),
                topic: "t".into(),
                partition: 0,
            },
            Committed {
                offset,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp: now_ms(),
            },
        )];
        let txn_producer = TxnProducer {
            producer_id: producer.0,
            producer_epoch: producer.1,
        };
        let write = broker
            .groups
            .write_offsets(
                &broker.partitions,
                GROUP,
                ("", None),
                -1,
                &offsets,
                Some(txn_producer),
                || None,
            )
            .unwrap()
            .unwrap();
        write.durable().await;
        broker.groups.stage_txn_offsets(GROUP, producer.0, offsets);
        producer
    }

    async fn end(broker: &Broker, producer: (i64, i16), commit: bool) {
        let decided = broker
            .txns
            .transition(&broker.partitions, "tx", |current| {
                let (next, end) = current.unwrap().end(producer.0, producer.1, commit, now_ms())?;
                Ok((Some(next), end))
            })
            .await;
        assert_eq!(decided, Ok(End::Prepare));
    }

    #[tokio::test]
    async fn transactional_offsets_follow_markers_live_after_replay_and_after_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open(dir.path());
        broker.ensure_offsets_topic().unwrap();
        broker.ensure_transaction_topic().unwrap();
        broker.create_topic("t", 1, 1, BTreeMap::new(), false).unwrap();

        let producer = transaction_with_offset(&broker, 10).await;
        assert!(broker.groups.has_pending_txn_offset(GROUP, "t", 0));
        assert_eq!(committed_offset(&broker), None, "not before the commit");
        end(&broker, producer, true).await;
        broker
            .txns
            .complete(&broker.partitions, &broker.groups, "tx")
            .await
            .unwrap();
        assert_eq!(committed_offset(&broker), Some(10));
        assert!(!broker.groups.has_pending_txn_offset(GROUP, "t", 0));

        let producer = transaction_with_offset(&broker, 20).await;
        end(&broker, producer, false).await;
        broker
            .txns
            .complete(&broker.partitions, &broker.groups, "tx")
            .await
            .unwrap();
        assert_eq!(committed_offset(&broker), Some(10), "the abort dropped 20");

        // Decided but cut short before the markers, as by a crash.
        let producer = transaction_with_offset(&broker, 30).await;
        end(&broker, producer, true).await;
        broker.shutdown();
        drop(broker);

        let broker = open(dir.path());
        assert_eq!(committed_offset(&broker), Some(10), "replay followed the markers");
        assert!(
            broker.groups.has_pending_txn_offset(GROUP, "t", 0),
            "30 awaits its marker"
        );
        assert_eq!(broker.txns.preparing(), ["tx"]);
        broker
            .txns
            .complete(&broker.partitions, &broker.groups, "tx")
            .await
            .unwrap();
        assert_eq!(committed_offset(&broker), Some(30));
        let state = broker.txns.with_current("tx", |t| t.state);
        assert_eq!(state, Some(TxnState::CompleteCommit));
        broker.shutdown();
        drop(broker);

        let broker = open(dir.path());
        assert_eq!(committed_offset(&broker), Some(30));
        assert!(broker.txns.preparing().is_empty());
        broker.shutdown();
    }

    /// Writes the first metadata of "tx", at producer id 7 epoch 0.
    async fn new_id(broker: &Broker) {
        let txns = &broker.txns;
        txns.transition(&broker.partitions, "tx", |_| {
            Ok((Some(TxnMetadata::new("tx", 7, 60_000, now_ms())), ()))
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn idle_ids_expire_with_a_tombstone_that_outlives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open(dir.path());
        broker.ensure_transaction_topic().unwrap();
        new_id(&broker).await;
        let known = |broker: &Broker| broker.txns.with_current("tx", |_| ()).is_some();
        let expiration = broker.txns.settings.id_expiration_ms;
        broker.txns.expire(&broker.partitions, now_ms() + expiration - 60_000);
        assert!(known(&broker), "not idle for long enough");
        broker.txns.expire(&broker.partitions, now_ms() + expiration);
        assert!(!known(&broker));
        broker.shutdown();
        drop(broker);

        let broker = open(dir.path());
        assert!(!known(&broker), "the tombstone is replayed");
        broker.shutdown();
    }

    #[tokio::test]
    async fn a_transaction_whose_markers_are_refused_stays_prepared_for_the_retry() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open(dir.path());
        broker.ensure_transaction_topic().unwrap();
        broker.create_topic("t", 1, 1, BTreeMap::new(), false).unwrap();
        new_id(&broker).await;
        let t0 = [("t".to_string(), 0)];
        let txns = &broker.txns;
        txns.add_partitions(&broker.partitions, "tx", (7, 0), &t0, state::TV_0)
            .await
            .unwrap();
        // A newer epoch of producer 7 reached t-0, so a marker at epoch 0 is refused there.
        let mut newer = tidelog_protocol::records::RecordBatchBuilder::new(0).producer(7, 1, 0);
        newer.append(now_ms(), None, Some(b"v"), &[]);
        let partition = broker.partitions.get("t", 0).unwrap();
        partition.append(newer.build().as_bytes().clone()).unwrap();

        end(&broker, (7, 0), true).await;
        let completed = txns.complete(&broker.partitions, &broker.groups, "tx").await;
        assert_eq!(completed, Err(ErrorCode::INVALID_PRODUCER_EPOCH));
        assert_eq!(txns.with_current("tx", |t| t.state), Some(TxnState::PrepareCommit));
        assert_eq!(txns.preparing(), ["tx"], "the periodic retry finds it");
        broker.shutdown();
    }

    #[tokio::test]
    async fn an_implicit_add_waits_for_the_add_being_written() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open(dir.path());
        broker.ensure_transaction_topic().unwrap();
        broker.create_topic("t", 3, 1, BTreeMap::new(), false).unwrap();
        new_id(&broker).await;
        let producer = (7, 0);
        let (txns, partitions) = (&broker.txns, &broker.partitions);
        let tp: Vec<[(String, i32); 1]> = (0..3).map(|p| [("t".to_string(), p)]).collect();
        let timeout = Duration::from_secs(30);

        // The first add is being written when the second is tried (this test's runtime
        // has one thread, so the write cannot count before the second add's first try).
        let (first, second) = tokio::join!(
            txns.add_partitions(partitions, "tx", producer, &tp[0], TV_2),
            txns.add_partitions(partitions, "tx", producer, &tp[1], TV_2),
        );
        assert_eq!((first, second), (Ok(()), Err(ErrorCode::CONCURRENT_TRANSACTIONS)));
        let (first, implicit) = tokio::join!(
            txns.add_partitions(partitions, "tx", producer, &tp[1], TV_2),
            txns.add_partitions_implicitly(partitions, "tx", producer, &tp[2], timeout),
        );
        assert_eq!((first, implicit), (Ok(()), Ok(())));
        let added = txns.with_current("tx", |t| t.partitions.len());
        assert_eq!(added, Some(3));
        broker.shutdown();
    }
}
