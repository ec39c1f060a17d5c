//! The coordinator of KIP-848 consumer groups (`group.protocol=consumer`). Groups live in
//! memory; every change is also written to `__consumer_offsets` in Kafka's consumer group
//! records (`records`, `persist`), and a heartbeat is answered once its change is durable.
//! At start the records are replayed with the classic ones, so members keep their epochs
//! and partitions across restarts and crashes. Committed offsets are the classic
//! coordinator's, written and restored as for any group.

pub mod assignor;
pub mod group;
pub mod persist;
pub mod records;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::metadata::MetadataImage;
use group::ConsumerGroup;
use persist::Append;

pub struct ConsumerGroups {
    groups: Mutex<HashMap<String, ConsumerGroup>>,
    pub session_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// The assignors offered, the first being each new group's.
    pub assignors: Vec<String>,
}

impl ConsumerGroups {
    pub fn new(session_timeout: Duration, heartbeat_interval: Duration, assignors: Vec<String>) -> ConsumerGroups {
        ConsumerGroups {
            groups: Mutex::default(),
            session_timeout,
            heartbeat_interval,
            assignors,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, ConsumerGroup>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the group, creating it if it does not exist.
    pub fn with_group<T>(&self, group_id: &str, f: impl FnOnce(&mut ConsumerGroup) -> T) -> T {
        let mut groups = self.lock();
        f(groups
            .entry(group_id.to_string())
            .or_insert_with(|| ConsumerGroup::new(group_id, &self.assignors[0])))
    }

    /// Runs `f` on the group if it exists.
    pub fn with_existing<T>(&self, group_id: &str, f: impl FnOnce(&mut ConsumerGroup) -> T) -> Option<T> {
        self.lock().get_mut(group_id).map(f)
    }

    /// Whether the group exists and has members: its id is then not free for a classic
    /// group, and the group cannot be deleted.
    pub fn has_members(&self, group_id: &str) -> bool {
        self.with_existing(group_id, |g| !g.members.is_empty()).unwrap_or(false)
    }

    /// Whether a member of the group subscribes to `topic`, by name or regex, whether the
    /// topic exists or not; `None` when the group has no members. What keeps a group's
    /// offsets from OffsetDelete and from expiry alike.
    pub fn subscribes(&self, group_id: &str, topic: &str) -> Option<bool> {
        self.with_existing(group_id, |g| (!g.members.is_empty()).then(|| g.is_subscribed_to(topic)))
            .flatten()
    }

    /// Runs `f` on every group, in no particular order.
    pub fn for_each(&self, f: impl FnMut(&ConsumerGroup)) {
        self.lock().values().for_each(f);
    }

    /// Removes members whose session expired, writing the change, and forgets groups left
    /// without members (whose records are then all tombstoned). `topics`: every topic's
    /// partition count. Nobody waits for these writes: they are durable with the next flush.
    pub fn tick(&self, now: Instant, topics: &BTreeMap<String, i32>, image: &MetadataImage, append: Append<'_>) {
        let mut groups = self.lock();
        groups.retain(|_, group| {
            let before = (group.epoch, group.assignment_epoch, group.members.len());
            group.expire_sessions(now, topics);
            // A heartbeat writes its own changes; the timers change a group only by removing
            // members or recomputing its target, which moves one of these. Checking first
            // spares encoding every group at every tick.
            let unchanged = before == (group.epoch, group.assignment_epoch, group.members.len());
            if unchanged && !group.members.is_empty() {
                return true;
            }
            let written = persist::write_changes(group, image, append);
            if let Err(error) = &written {
                warn!(group = group.id, ?error, "cannot write the consumer group's change");
            }
            // A group whose tombstones failed stays, to try again at the next tick.
            !group.members.is_empty() || written.is_err()
        });
    }

    /// Replays one record of `__consumer_offsets` (at start, in log order); returns whether
    /// it was a consumer group record. `restore` then rebuilds the groups.
    pub fn replay(&self, key: Bytes, value: Option<Bytes>) -> bool {
        let (group_id, key) = match records::decode_key(key) {
            Ok(Some(decoded)) => decoded,
            Ok(None) => return false,
            Err(error) => {
                warn!(%error, "skipping an undecodable consumer group key");
                return false;
            }
        };
        self.with_group(&group_id, |group| match value {
            Some(value) => group.written.insert(key, value),
            None => group.written.remove(&key),
        });
        true
    }

    /// Rebuilds every replayed group from its records; groups whose records were all
    /// tombstoned are dropped.
    pub fn restore(&self, image: &MetadataImage, now: Instant) {
        let mut groups = self.lock();
        let replayed: Vec<(String, ConsumerGroup)> = groups.drain().collect();
        for (id, group) in replayed {
            if let Some(group) =
                persist::restore(&id, group.written, image, &self.assignors[0], self.session_timeout, now)
            {
                groups.insert(id, group);
            }
        }
        let members: usize = groups.values().map(|g| g.members.len()).sum();
        info!(groups = groups.len(), members, "consumer groups restored");
    }
}
