//! The coordinator of KIP-848 consumer groups (`group.protocol=consumer`). Their state lives
//! in memory only: after a restart members get UNKNOWN_MEMBER_ID and rejoin with epoch 0,
//! which clients do on their own. Committed offsets are the classic coordinator's, written to
//! `__consumer_offsets` and restored as for any group.

pub mod assignor;
pub mod group;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use group::ConsumerGroup;

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

    /// Runs `f` on every group, in no particular order.
    pub fn for_each(&self, f: impl FnMut(&ConsumerGroup)) {
        self.lock().values().for_each(f);
    }

    /// Removes members whose session expired, and forgets groups left without members.
    /// `topics`: every topic's partition count.
    pub fn tick(&self, now: Instant, topics: &BTreeMap<String, i32>) {
        let mut groups = self.lock();
        for group in groups.values_mut() {
            group.expire_sessions(now, topics);
        }
        groups.retain(|_, g| !g.members.is_empty());
    }
}
