//! What this node is to one partition it holds a replica of, as Kafka's `Partition` keeps
//! it: the leader knows its in-sync replicas and how far each follower has come, and from
//! them the high watermark; a follower knows its leader and the high watermark the leader
//! last told it.
//!
//! Tidelog's high watermark promises more than Kafka's: everything below it is fsynced by
//! every in-sync replica, not only in their page caches. A follower fsyncs what it fetched
//! before it fetches again, so the offset its next fetch asks for is what it holds durably;
//! the leader's own part is its flushed offset.

use std::collections::BTreeMap;

use crate::metadata::{PartitionMeta, ReplicaRole};

/// How far a follower has come, as the leader saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Progress {
    /// Its log end, durable: the offset its last fetch asked for.
    log_end: i64,
    /// When it last had everything the leader had (ms since the epoch).
    caught_up_ms: i64,
}

#[derive(Debug, Clone)]
pub struct ReplicaState {
    node_id: i32,
    role: ReplicaRole,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    partition_epoch: i32,
    /// The leader's view of each follower since it became leader.
    progress: BTreeMap<i32, Progress>,
    /// When this node became leader: a follower not heard of yet is taken as caught up then.
    led_since_ms: i64,
    /// A follower's copy of the leader's high watermark, from its last fetch.
    leader_high_watermark: i64,
    /// The in-sync set asked of the controller and not in the metadata yet, and the
    /// partition epoch it was asked at: no other change is asked until the metadata moves.
    /// Until then the high watermark counts the replicas it adds already (Kafka's "maximal
    /// ISR"): the controller may elect one of them before this leader hears of the change.
    isr_asked: Option<(i32, Vec<i32>)>,
}

impl ReplicaState {
    /// The state of a partition `role` says this node holds, placed as `meta` says (`None`:
    /// an image without placements, where this node is the only replica).
    pub fn new(node_id: i32, role: ReplicaRole, meta: Option<&PartitionMeta>, now_ms: i64) -> ReplicaState {
        let mut state = ReplicaState {
            node_id,
            role,
            replicas: vec![node_id],
            isr: vec![node_id],
            partition_epoch: 0,
            progress: BTreeMap::new(),
            led_since_ms: now_ms,
            leader_high_watermark: 0,
            isr_asked: None,
        };
        state.place(meta);
        state
    }

    fn place(&mut self, meta: Option<&PartitionMeta>) {
        if let Some(meta) = meta {
            self.replicas.clone_from(&meta.replicas);
            self.isr.clone_from(&meta.isr);
            if meta.partition_epoch != self.partition_epoch {
                self.isr_asked = None;
            }
            self.partition_epoch = meta.partition_epoch;
        }
    }

    /// Applies the metadata's newest view; whether the role or the leader epoch changed
    /// (a new leadership starts with no follower heard of).
    pub fn update(&mut self, role: ReplicaRole, meta: Option<&PartitionMeta>, now_ms: i64) -> bool {
        let changed = role != self.role;
        if changed {
            self.role = role;
            self.progress.clear();
            self.led_since_ms = now_ms;
            self.isr_asked = None;
        }
        self.place(meta);
        changed
    }

    pub fn role(&self) -> ReplicaRole {
        self.role
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.role, ReplicaRole::Leader { .. })
    }

    pub fn leader_epoch(&self) -> i32 {
        match self.role {
            ReplicaRole::Leader { epoch } | ReplicaRole::Follower { epoch, .. } => epoch,
        }
    }

    pub fn isr(&self) -> &[i32] {
        &self.isr
    }

    pub fn partition_epoch(&self) -> i32 {
        self.partition_epoch
    }

    /// The high watermark this replica may show, given its own flushed offset: a leader's
    /// is the smallest durable log end of its in-sync replicas (a follower not heard of
    /// since this node became leader holds it at 0, so it does not move until each has
    /// fetched); a follower's is the leader's as last told, within what it holds itself.
    pub fn high_watermark(&self, flushed: i64) -> i64 {
        match self.role {
            ReplicaRole::Leader { .. } => {
                let adding = self.isr_asked.iter().flat_map(|(_, asked)| asked);
                self.isr
                    .iter()
                    .chain(adding)
                    .filter(|&&r| r != self.node_id)
                    .map(|r| self.progress.get(r).map_or(0, |p| p.log_end))
                    .fold(flushed, i64::min)
            }
            ReplicaRole::Follower { .. } => flushed.min(self.leader_high_watermark),
        }
    }

    /// A follower's fetch from `log_end` (what it holds durably), when this leader's log
    /// ends at `leader_log_end`. `false` if `replica` is not one of the partition's.
    pub fn record_fetch(&mut self, replica: i32, log_end: i64, leader_log_end: i64, now_ms: i64) -> bool {
        if !self.replicas.contains(&replica) || replica == self.node_id {
            return false;
        }
        let led_since = self.led_since_ms;
        let progress = self.progress.entry(replica).or_insert(Progress {
            log_end,
            caught_up_ms: led_since,
        });
        progress.log_end = log_end;
        if log_end >= leader_log_end {
            progress.caught_up_ms = now_ms;
        }
        true
    }

    /// A follower's note of its leader's high watermark.
    pub fn set_leader_high_watermark(&mut self, high_watermark: i64) {
        self.leader_high_watermark = high_watermark;
    }

    /// The in-sync set this leader should ask the controller for, if it differs from the
    /// metadata's and nothing is asked already: followers that have not caught up within
    /// `lag_max_ms` leave it (Kafka's `replica.lag.time.max.ms`), followers whose log
    /// reaches `high_watermark` join it if `eligible` (unfenced, as the controller checks).
    /// Ordered as the replicas are.
    pub fn isr_change_due(
        &self,
        high_watermark: i64,
        now_ms: i64,
        lag_max_ms: i64,
        eligible: impl Fn(i32) -> bool,
    ) -> Option<Vec<i32>> {
        let asked = self
            .isr_asked
            .as_ref()
            .is_some_and(|(epoch, _)| *epoch == self.partition_epoch);
        if !self.is_leader() || asked {
            return None;
        }
        let caught_up = |r: &i32| {
            let progress = self.progress.get(r);
            let since = progress.map_or(self.led_since_ms, |p| p.caught_up_ms);
            now_ms - since <= lag_max_ms
        };
        let joins = |r: &i32| {
            let progress = self.progress.get(r);
            eligible(*r)
                && progress.is_some_and(|p| p.log_end >= high_watermark && now_ms - p.caught_up_ms <= lag_max_ms)
        };
        let wanted: Vec<i32> = self
            .replicas
            .iter()
            .copied()
            .filter(|r| {
                *r == self.node_id
                    || match self.isr.contains(r) {
                        true => caught_up(r),
                        false => joins(r),
                    }
            })
            .collect();
        let mut current = self.isr.clone();
        current.sort_unstable();
        let mut sorted = wanted.clone();
        sorted.sort_unstable();
        (sorted != current).then_some(wanted)
    }

    /// Records that the in-sync set `isr` was asked at the current partition epoch.
    pub fn isr_asked(&mut self, isr: Vec<i32>) {
        self.isr_asked = Some((self.partition_epoch, isr));
    }

    /// Lets the next check ask again (the controller did not take the change).
    pub fn isr_refused(&mut self) {
        self.isr_asked = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(replicas: &[i32], isr: &[i32], partition_epoch: i32) -> PartitionMeta {
        PartitionMeta {
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            leader: replicas[0],
            leader_epoch: 1,
            partition_epoch,
        }
    }

    #[test]
    fn a_leaders_high_watermark_is_the_smallest_durable_log_end_of_its_isr() {
        let mut state = ReplicaState::new(
            1,
            ReplicaRole::Leader { epoch: 1 },
            Some(&meta(&[1, 2, 3], &[1, 2, 3], 0)),
            0,
        );
        assert_eq!(state.high_watermark(10), 0, "no follower heard of yet");
        assert!(state.record_fetch(2, 7, 10, 5));
        assert!(state.record_fetch(3, 10, 10, 5));
        assert_eq!(state.high_watermark(10), 7);
        assert_eq!(state.high_watermark(6), 6, "nor past the leader's own flushed offset");
        assert!(!state.record_fetch(4, 10, 10, 5), "not a replica");
        // Out of the ISR, a slow follower no longer holds it back.
        state.update(ReplicaRole::Leader { epoch: 1 }, Some(&meta(&[1, 2, 3], &[1, 3], 1)), 6);
        assert_eq!(state.high_watermark(10), 10);
    }

    #[test]
    fn lagging_followers_leave_the_isr_and_caught_up_ones_join_it() {
        let mut state = ReplicaState::new(
            1,
            ReplicaRole::Leader { epoch: 1 },
            Some(&meta(&[1, 2, 3], &[1, 2, 3], 0)),
            0,
        );
        state.record_fetch(2, 10, 10, 100);
        state.record_fetch(3, 4, 10, 100);
        assert_eq!(
            state.isr_change_due(4, 1000, 30_000, |_| true),
            None,
            "within the lag allowed"
        );
        assert_eq!(
            state.isr_change_due(4, 30_001, 30_000, |_| true),
            Some(vec![1, 2]),
            "3 not caught up since it became leader at 0; 2 caught up at 100"
        );
        state.isr_asked(vec![1, 2]);
        assert_eq!(state.isr_change_due(4, 30_001, 30_000, |_| true), None, "asked already");
        state.update(
            ReplicaRole::Leader { epoch: 1 },
            Some(&meta(&[1, 2, 3], &[1, 2], 1)),
            30_002,
        );
        // 3 catches up to the high watermark: it joins.
        state.record_fetch(3, 10, 10, 30_003);
        assert_eq!(
            state.isr_change_due(10, 30_004, 30_000, |r| r != 3),
            None,
            "3 is fenced"
        );
        assert_eq!(state.isr_change_due(10, 30_004, 30_000, |_| true), Some(vec![1, 2, 3]));
        // Asked to join, 3 counts for the high watermark at once.
        state.record_fetch(2, 12, 12, 30_005);
        assert_eq!(state.high_watermark(12), 12);
        state.isr_asked(vec![1, 2, 3]);
        assert_eq!(state.high_watermark(12), 10);
    }

    #[test]
    fn a_followers_high_watermark_is_its_leaders_within_what_it_holds() {
        let mut state = ReplicaState::new(
            2,
            ReplicaRole::Follower { leader: 1, epoch: 1 },
            Some(&meta(&[1, 2], &[1, 2], 0)),
            0,
        );
        state.set_leader_high_watermark(8);
        assert_eq!((state.high_watermark(5), state.high_watermark(12)), (5, 8));
        assert_eq!(state.isr_change_due(0, 0, 0, |_| true), None, "only leaders ask");
    }
}
