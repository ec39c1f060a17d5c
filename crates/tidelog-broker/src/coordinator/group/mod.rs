//! The group coordinator: on a single node it coordinates every group. Groups live in
//! memory as `state::Group` machines; committed offsets are also written to
//! `__consumer_offsets` (the partition chosen as Kafka chooses it) before they count, and
//! replayed from there at start, as is each group's membership after every completed
//! rebalance. The topic is created on first use (`Broker::ensure_offsets_topic`).
//!
//! Offsets committed inside a transaction (TxnOffsetCommit) are written as a transactional
//! batch of the producer and held per group and producer until the transaction's marker
//! reaches the group's offsets partition: COMMIT makes them the group's offsets, ABORT
//! drops them. Replay follows the markers in the log the same way.

pub mod records;
pub mod state;

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tidelog_log::LogError;
use tidelog_protocol::records::{read_marker, ControlType, RecordBatch};
use tidelog_protocol::ErrorCode;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::clock::now_ms;
use crate::coordinator::internal_topic::{self, TxnProducer};
use crate::partitions::Partitions;
use records::{OffsetKey, OffsetsRecord};
use state::{Committed, Group, GroupState, Identity};

pub use internal_topic::PendingWrite;

/// A group's lag on a partition: the records from its committed offset to the high
/// watermark, as `/metrics` and the web console show it (never negative, as after a
/// DeleteRecords past the commit).
pub fn lag(high_watermark: i64, committed: i64) -> i64 {
    (high_watermark - committed).max(0)
}

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

pub struct GroupCoordinator {
    groups: Mutex<HashMap<String, Group>>,
    initial_delay: Duration,
    offsets_partitions: i32,
}

impl GroupCoordinator {
    pub fn new(initial_delay: Duration, offsets_partitions: i32) -> GroupCoordinator {
        GroupCoordinator {
            groups: Mutex::default(),
            initial_delay,
            offsets_partitions,
        }
    }

    /// The `__consumer_offsets` partition of a group, chosen as Kafka chooses it.
    pub fn partition_for(&self, group_id: &str) -> i32 {
        internal_topic::partition_for(group_id, self.offsets_partitions)
    }

    pub fn offsets_partitions(&self) -> i32 {
        self.offsets_partitions
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Group>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the group, creating it (Empty) if it does not exist.
    pub fn with_group<T>(&self, group_id: &str, f: impl FnOnce(&mut Group) -> T) -> T {
        f(self.get_or_create(&mut self.lock(), group_id))
    }

    fn get_or_create<'a>(&self, groups: &'a mut HashMap<String, Group>, group_id: &str) -> &'a mut Group {
        groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id, self.initial_delay))
    }

    /// Runs `f` on the group if it exists.
    pub fn with_existing<T>(&self, group_id: &str, f: impl FnOnce(&mut Group) -> T) -> Option<T> {
        self.lock().get_mut(group_id).map(f)
    }

    /// Runs `f` on every group, in no particular order.
    pub fn for_each(&self, f: impl FnMut(&Group)) {
        self.lock().values().for_each(f);
    }

    /// Drives session and rebalance timeouts (writing the membership changes they cause).
    pub fn tick(&self, partitions: &Partitions, now: Instant) {
        let mut groups = self.lock();
        for group in groups.values_mut() {
            group.tick(now);
            // Nobody waits for these writes: they are durable with the next flush.
            self.write_changed_metadata(partitions, group);
        }
    }

    /// Runs a membership request's `f` on the group (created Empty if `create`) and writes
    /// the membership if `f` changed it (a rebalance completed, the group emptied, a static
    /// member was replaced), under one lock: the request's answer waits for that write, and
    /// the tick cannot take it over in between and leave the answer waiting for nothing.
    pub fn change_membership<T>(
        &self,
        partitions: &Partitions,
        group_id: &str,
        create: bool,
        f: impl FnOnce(&mut Group) -> T,
    ) -> Option<(T, Option<PendingWrite>)> {
        let mut groups = self.lock();
        let group = match create {
            true => self.get_or_create(&mut groups, group_id),
            false => groups.get_mut(group_id)?,
        };
        let answer = f(group);
        Some((answer, self.write_changed_metadata(partitions, group)))
    }

    fn write_changed_metadata(&self, partitions: &Partitions, group: &mut Group) -> Option<PendingWrite> {
        let metadata = group.take_changed_metadata(now_ms())?;
        let record = records::encode_group_key(&group.id)
            .and_then(|key| Ok((key, Some(records::encode_group_value(&metadata)?))));
        let written = match record {
            Ok(record) => self.append(partitions, &group.id, vec![record], None),
            Err(_) => Err(ErrorCode::INVALID_REQUEST),
        };
        // The group goes on in memory; after a restart it resumes from its previous record.
        written.unwrap_or_else(|error| {
            warn!(group = group.id, ?error, "cannot write the group's membership");
            None
        })
    }

    /// Checks an OffsetCommit (or a TxnOffsetCommit, with its `producer`) against the group
    /// and appends its records; the offsets count once the write is durable and
    /// `apply_offsets` (or `stage_txn_offsets`) has run. `consumer_check` decides instead of
    /// the classic group when the group is a KIP-848 consumer group (`Some`).
    #[allow(clippy::too_many_arguments)]
    pub fn write_offsets(
        &self,
        partitions: &Partitions,
        group_id: &str,
        member: Identity<'_>,
        generation: i32,
        offsets: &[(OffsetKey, Committed)],
        producer: Option<TxnProducer>,
        consumer_check: impl FnOnce() -> Option<Result<(), ErrorCode>>,
    ) -> Result<Option<PendingWrite>, ErrorCode> {
        // Held across the append, so a rebalance cannot slip between the check and the write.
        let mut groups = self.lock();
        let group = self.get_or_create(&mut groups, group_id);
        match consumer_check() {
            Some(checked) => checked?,
            None => group.check_commit(member, generation)?,
        }
        let mut records = Vec::with_capacity(offsets.len());
        for (key, value) in offsets {
            let encoded =
                records::encode_offset_key(key).and_then(|k| Ok((k, Some(records::encode_offset_value(value)?))));
            records.push(encoded.map_err(|_| ErrorCode::INVALID_REQUEST)?);
        }
        self.append(partitions, group_id, records, producer)
    }

    /// Deletes a group without members and its offsets (with tombstones, durable once the
    /// returned write is).
    pub fn delete_group(&self, partitions: &Partitions, group_id: &str) -> Result<Option<PendingWrite>, ErrorCode> {
        let mut groups = self.lock();
        let group = groups.get_mut(group_id).ok_or(ErrorCode::GROUP_ID_NOT_FOUND)?;
        if group.state != GroupState::Empty {
            return Err(ErrorCode::NON_EMPTY_GROUP);
        }
        let keys: Vec<(String, i32)> = group.offsets.keys().cloned().collect();
        let mut records = tombstones(group_id, keys)?;
        let group_key = records::encode_group_key(group_id).map_err(|_| ErrorCode::INVALID_REQUEST)?;
        records.push((group_key, None));
        let write = self.append(partitions, group_id, records, None)?;
        group.state = GroupState::Dead;
        groups.remove(group_id);
        Ok(write)
    }

    /// Deletes the offsets of `wanted` partitions whose topics the group is not subscribed
    /// to (nor, by `consumer_subscribed`, its KIP-848 members); returns each partition's
    /// error and the tombstones' write.
    pub fn delete_offsets(
        &self,
        partitions: &Partitions,
        group_id: &str,
        wanted: &[(String, i32)],
        consumer_subscribed: impl Fn(&str) -> bool,
    ) -> Result<(Vec<ErrorCode>, Option<PendingWrite>), ErrorCode> {
        let mut groups = self.lock();
        let group = groups.get_mut(group_id).ok_or(ErrorCode::GROUP_ID_NOT_FOUND)?;
        let errors: Vec<ErrorCode> = wanted
            .iter()
            .map(
                |(topic, _)| match group.is_subscribed_to(topic) || consumer_subscribed(topic) {
                    true => ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC,
                    false => ErrorCode::NONE,
                },
            )
            .collect();
        let deleted: Vec<(String, i32)> = wanted
            .iter()
            .zip(&errors)
            .filter(|(key, error)| **error == ErrorCode::NONE && group.offsets.contains_key(key))
            .map(|(key, _)| key.clone())
            .collect();
        let write = self.append(partitions, group_id, tombstones(group_id, deleted.clone())?, None)?;
        for key in &deleted {
            group.offsets.remove(key);
        }
        Ok((errors, write))
    }

    /// Expires committed offsets `retention_ms` old, as Kafka does (KIP-211): in a group
    /// without members, every offset, counted from the later of its commit and the group's
    /// becoming empty; in a Stable classic `consumer` group or a KIP-848 group with members,
    /// the offsets of topics no member subscribes to, counted from their commit. Other
    /// groups keep theirs. `kip848_subscribes(group, topic)`: whether the members of a
    /// KIP-848 group subscribe to the topic, by name or regex (`None` when it has no
    /// members), the answer OffsetDelete goes by too. Tombstones are written (the group's own record's
    /// too when the group is left empty and without offsets) and the offsets stop counting
    /// at once. Returns how many expired.
    pub fn expire_offsets(
        &self,
        partitions: &Partitions,
        now_ms: i64,
        retention_ms: i64,
        kip848_subscribes: impl Fn(&str, &str) -> Option<bool>,
    ) -> usize {
        let mut groups = self.lock();
        let mut expired = 0;
        for group in groups.values_mut() {
            let mut kip848_members = false;
            let since = group.empty_since_ms.unwrap_or(i64::MIN);
            let classic_consumer =
                group.state == GroupState::Stable && group.protocol_type.as_deref() == Some("consumer");
            let keys: Vec<(String, i32)> = group
                .offsets
                .iter()
                .filter(|((topic, _), committed)| {
                    let kip848 = kip848_subscribes(&group.id, topic);
                    kip848_members |= kip848.is_some();
                    let from = match (kip848, group.state) {
                        (None, GroupState::Empty) => committed.commit_timestamp.max(since),
                        (Some(false), GroupState::Empty) => committed.commit_timestamp,
                        (None, _) if classic_consumer && !group.is_subscribed_to(topic) => committed.commit_timestamp,
                        _ => return false,
                    };
                    from.saturating_add(retention_ms) <= now_ms
                })
                .map(|(key, _)| key.clone())
                .collect();
            if keys.is_empty() {
                continue;
            }
            let emptied = keys.len() == group.offsets.len() && group.state == GroupState::Empty && !kip848_members;
            let records = tombstones(&group.id, keys.clone()).and_then(|mut records| {
                if emptied {
                    let key = records::encode_group_key(&group.id).map_err(|_| ErrorCode::INVALID_REQUEST)?;
                    records.push((key, None));
                }
                Ok(records)
            });
            match records.and_then(|records| self.append(partitions, &group.id, records, None)) {
                Ok(_) => {
                    for key in &keys {
                        group.offsets.remove(key);
                    }
                    expired += keys.len();
                }
                Err(error) => warn!(group = group.id, ?error, "cannot expire the group's offsets"),
            }
        }
        // Groups left holding nothing go at this same check, as Kafka's offsets cleanup
        // removes them: not at once, so an empty group whose offsets were just deleted can
        // still be described and deleted.
        groups.retain(|_, g| !g.is_unused());
        expired
    }

    /// Makes written offsets visible to OffsetFetch.
    pub fn apply_offsets(&self, group_id: &str, offsets: Vec<(OffsetKey, Committed)>) {
        self.with_group(group_id, |group| {
            for (key, value) in offsets {
                group.offsets.insert((key.topic, key.partition), value);
            }
        });
    }

    /// Holds offsets a transaction wrote (durably) until its marker decides them.
    pub fn stage_txn_offsets(&self, group_id: &str, producer_id: i64, offsets: Vec<(OffsetKey, Committed)>) {
        self.with_group(group_id, |group| {
            let staged = group.pending_txn_offsets.entry(producer_id).or_default();
            for (key, value) in offsets {
                staged.insert((key.topic, key.partition), value);
            }
        });
    }

    /// A transaction marker of `producer_id` reached offsets partition `index`: its staged
    /// offsets in the groups of that partition count (COMMIT) or are dropped (ABORT).
    pub fn complete_txn(&self, index: i32, producer_id: i64, commit: bool) {
        let mut groups = self.lock();
        for group in groups.values_mut() {
            if self.partition_for(&group.id) != index {
                continue;
            }
            let Some(staged) = group.pending_txn_offsets.remove(&producer_id) else {
                continue;
            };
            if commit {
                group.offsets.extend(staged);
            }
        }
    }

    /// Whether an open transaction holds offsets of the group's (topic, partition), which
    /// OffsetFetch with `require_stable` answers with UNSTABLE_OFFSET_COMMIT.
    pub fn has_pending_txn_offset(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        self.with_existing(group_id, |group| {
            let key = (topic.to_string(), partition);
            group
                .pending_txn_offsets
                .values()
                .any(|staged| staged.contains_key(&key))
        })
        .unwrap_or(false)
    }

    /// Appends (key, value) records to the group's offsets partition (also the KIP-848
    /// coordinator's way to write its records).
    pub fn append(
        &self,
        partitions: &Partitions,
        group_id: &str,
        records: Vec<(Bytes, Option<Bytes>)>,
        producer: Option<TxnProducer>,
    ) -> Result<Option<PendingWrite>, ErrorCode> {
        let index = self.partition_for(group_id);
        internal_topic::append(partitions, OFFSETS_TOPIC, index, &records, producer)
    }

    /// Rebuilds the groups, their committed offsets and the offsets of transactions still
    /// open from every partition of `__consumer_offsets`. Records of types this coordinator
    /// does not know (KIP-848 consumer groups) go to `other`, in log order; it answers
    /// whether it applied them.
    pub fn load(
        &self,
        partitions: &Partitions,
        mut other: impl FnMut(Bytes, Option<Bytes>) -> bool,
    ) -> Result<(), LogError> {
        let mut loaded = 0usize;
        internal_topic::replay(partitions, OFFSETS_TOPIC, self.offsets_partitions, |index, batch| {
            loaded += self.replay_batch(index, batch, &mut other);
        })?;
        info!(records = loaded, "group offsets loaded");
        Ok(())
    }

    /// Applies one batch of offsets partition `index`; returns how many records it applied.
    fn replay_batch(
        &self,
        index: i32,
        batch: &RecordBatch,
        other: &mut impl FnMut(Bytes, Option<Bytes>) -> bool,
    ) -> usize {
        if batch.is_control() {
            match read_marker(batch) {
                Ok(Some(marker)) => {
                    let commit = marker.control_type == ControlType::Commit;
                    self.complete_txn(index, batch.producer_id(), commit);
                }
                Ok(None) => {}
                Err(e) => warn!(error = %e, "skipping an unreadable marker of {OFFSETS_TOPIC}"),
            }
            return 0;
        }
        let records = match batch.records(usize::MAX) {
            Ok(records) => records,
            Err(e) => {
                warn!(error = %e, "skipping an unreadable batch of {OFFSETS_TOPIC}");
                return 0;
            }
        };
        let transactional = batch.is_transactional().then_some(batch.producer_id());
        let mut applied = 0;
        for record in records.flatten() {
            let Some(key) = record.key else { continue };
            match records::decode(key.clone(), record.value.clone()) {
                Ok(Some(OffsetsRecord::Offset(key, Some(value)))) if transactional.is_some() => {
                    let producer_id = transactional.expect("checked by the guard");
                    self.stage_txn_offsets(&key.group.clone(), producer_id, vec![(key, value)]);
                    applied += 1;
                }
                Ok(Some(OffsetsRecord::Offset(key, value))) => {
                    let group_id = key.group.clone();
                    self.with_group(&group_id, |group| match value {
                        Some(value) => group.offsets.insert((key.topic, key.partition), value),
                        None => group.offsets.remove(&(key.topic, key.partition)),
                    });
                    applied += 1;
                }
                Ok(Some(OffsetsRecord::Group(group_id, metadata))) => {
                    self.with_group(&group_id, |group| match metadata {
                        Some(metadata) => group.restore(metadata, Instant::now()),
                        // Deleted: a new group of that name starts afresh.
                        None => {
                            let offsets = std::mem::take(&mut group.offsets);
                            *group = Group::new(&group_id, self.initial_delay);
                            group.offsets = offsets;
                        }
                    });
                    applied += 1;
                }
                Ok(None) => applied += usize::from(other(key, record.value)),
                Err(e) => warn!(error = %e, "skipping an undecodable record of {OFFSETS_TOPIC}"),
            }
        }
        applied
    }
}

/// Tombstones for a group's committed offsets of (topic, partition).
fn tombstones(group_id: &str, keys: Vec<(String, i32)>) -> Result<Vec<(Bytes, Option<Bytes>)>, ErrorCode> {
    keys.into_iter()
        .map(|(topic, partition)| {
            let key = OffsetKey {
                group: group_id.to_string(),
                topic,
                partition,
            };
            let encoded = records::encode_offset_key(&key).map_err(|_| ErrorCode::INVALID_REQUEST)?;
            Ok((encoded, None))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::config::BrokerConfig;
    use crate::ids::random_uuid;
    use crate::metadata::TopicMeta;

    #[test]
    fn offsets_expire_only_in_groups_without_members_and_counted_from_when_they_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let config = BrokerConfig {
            log_dirs: vec![dir.path().to_path_buf()],
            ..BrokerConfig::default()
        };
        let topic = TopicMeta {
            name: OFFSETS_TOPIC.into(),
            id: random_uuid(),
            partitions: 1,
            configs: BTreeMap::new(),
            replication_factor: 1,
        };
        let partitions = Partitions::open(&config, &crate::metadata::MetadataImage::of_topics([topic])).unwrap();
        let coordinator = GroupCoordinator::new(Duration::ZERO, 1);
        let (retention, now) = (1_000, 10_000);
        let committed = |at| Committed {
            offset: 5,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: at,
        };
        for (group, empty_since) in [
            ("standalone", None),
            ("emptied-lately", Some(now - 10)),
            ("kip848", None),
        ] {
            coordinator.with_group(group, |g| {
                g.offsets.insert(("t".into(), 0), committed(0));
                g.offsets.insert(("t".into(), 1), committed(now - 10));
                g.offsets.insert(("unsubscribed".into(), 0), committed(0));
                g.empty_since_ms = empty_since;
            });
        }
        let partition = partitions.get(OFFSETS_TOPIC, 0).unwrap();
        let end_before = partition.snapshot().unwrap().log_end_offset();
        let subscriptions = |g: &str, topic: &str| (g == "kip848").then_some(topic == "t");

        let expired = coordinator.expire_offsets(&partitions, now, retention, subscriptions);
        let kept = |group| coordinator.with_group(group, |g| g.offsets.keys().cloned().collect::<Vec<_>>());
        assert_eq!(
            kept("standalone"),
            [("t".to_string(), 1)],
            "old commits of a group without members"
        );
        assert_eq!(kept("emptied-lately").len(), 3, "counted from when the group emptied");
        assert_eq!(
            kept("kip848"),
            [("t".to_string(), 0), ("t".to_string(), 1)],
            "a group with members loses only the offsets of topics it does not subscribe to"
        );
        assert_eq!(expired, 2 + 1);
        assert_eq!(
            partition.snapshot().unwrap().log_end_offset(),
            end_before + 3,
            "a tombstone each"
        );

        // Later, without members, the last offsets go too, with each group's own tombstone.
        let expired = coordinator.expire_offsets(&partitions, now + retention, retention, |_, _| None);
        assert_eq!(expired, 1 + 3 + 2);
        assert_eq!(
            partition.snapshot().unwrap().log_end_offset(),
            end_before + 3 + (1 + 1) + (3 + 1) + (2 + 1)
        );
        partitions.shutdown();
    }
}
