//! Rejected connections and frames, logged without letting abuse fill the disk: in each
//! interval the first [`LOGGED_PER_INTERVAL`] rejections get their own WARN line (with the
//! detail that says what was wrong); the rest are only counted, by reason and by peer
//! address, and one summary line per interval reports them. A fuzz of 5,000 connections
//! that wrote 4,911 lines writes a hundred and a summary.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::warn;

/// How long an interval lasts, from its first rejection.
pub const INTERVAL: Duration = Duration::from_secs(10);
/// Rejections logged one by one in an interval.
pub const LOGGED_PER_INTERVAL: u32 = 100;
/// Peer addresses counted one by one in an interval; more are counted together, so a
/// flood from many addresses cannot grow the counts without bound.
const PEERS_COUNTED: usize = 1000;
/// Peers named in a summary line, the ones with the most rejections.
const PEERS_SHOWN: usize = 10;

#[derive(Default)]
pub struct Rejections {
    state: Mutex<Interval>,
}

#[derive(Default)]
struct Interval {
    /// When its first rejection came; `None` between intervals.
    started: Option<Instant>,
    logged: u32,
    /// Rejections not logged one by one, by reason and by peer.
    by_reason: BTreeMap<&'static str, u64>,
    by_peer: BTreeMap<IpAddr, u64>,
    other_peers: u64,
}

impl Rejections {
    /// Counts a rejection of `reason` from `peer`; true when it should be logged in full
    /// (the caller logs it), false when it is only counted for the interval's summary.
    pub fn log_in_full(&self, reason: &'static str, peer: IpAddr) -> bool {
        self.log_in_full_at(reason, peer, Instant::now())
    }

    fn log_in_full_at(&self, reason: &'static str, peer: IpAddr, now: Instant) -> bool {
        let mut interval = self.lock();
        if interval
            .started
            .is_some_and(|started| now.duration_since(started) >= INTERVAL)
        {
            summarize(&mut interval);
        }
        interval.started.get_or_insert(now);
        if interval.logged < LOGGED_PER_INTERVAL {
            interval.logged += 1;
            return true;
        }
        *interval.by_reason.entry(reason).or_default() += 1;
        let peers = interval.by_peer.len();
        match interval.by_peer.get_mut(&peer) {
            Some(count) => *count += 1,
            None if peers < PEERS_COUNTED => {
                interval.by_peer.insert(peer, 1);
            }
            None => interval.other_peers += 1,
        }
        false
    }

    /// Writes the summary of an interval that is over (called every so often), or of the
    /// current one with `now_anyway` (at shutdown).
    pub fn flush(&self, now_anyway: bool) {
        let mut interval = self.lock();
        let over = interval.started.is_some_and(|started| started.elapsed() >= INTERVAL);
        if over || now_anyway {
            summarize(&mut interval);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Interval> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Logs what `interval` did not log one by one, if anything, and starts the next.
fn summarize(interval: &mut Interval) {
    let suppressed: u64 = interval.by_reason.values().sum();
    if suppressed > 0 {
        let by_reason: Vec<String> = interval.by_reason.iter().map(|(r, n)| format!("{r}: {n}")).collect();
        let mut peers: Vec<(&IpAddr, &u64)> = interval.by_peer.iter().collect();
        peers.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut by_peer: Vec<String> = peers
            .iter()
            .take(PEERS_SHOWN)
            .map(|(ip, n)| format!("{ip}: {n}"))
            .collect();
        let rest: u64 = peers.iter().skip(PEERS_SHOWN).map(|(_, n)| **n).sum::<u64>() + interval.other_peers;
        if rest > 0 {
            by_peer.push(format!("others: {rest}"));
        }
        warn!(
            suppressed,
            by_reason = by_reason.join(", "),
            by_peer = by_peer.join(", "),
            "rejected connections and frames not logged one by one (over {LOGGED_PER_INTERVAL} in {}s)",
            INTERVAL.as_secs()
        );
    }
    *interval = Interval::default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_interval_budget_rejections_are_counted_not_logged() {
        let rejections = Rejections::default();
        let start = Instant::now();
        let peer = |n: u8| IpAddr::from([10, 0, 0, n]);
        let logged = (0..250)
            .filter(|i| rejections.log_in_full_at("undecodable request", peer((i % 3) as u8), start))
            .count();
        assert_eq!(logged, LOGGED_PER_INTERVAL as usize);
        {
            let interval = rejections.lock();
            assert_eq!(interval.by_reason["undecodable request"], 150);
            assert_eq!(interval.by_peer.values().sum::<u64>(), 150);
        }
        // The next interval logs again, and starts with nothing counted.
        assert!(rejections.log_in_full_at("x", peer(1), start + INTERVAL));
        assert!(rejections.lock().by_reason.is_empty());
    }

    #[test]
    fn a_flood_from_many_peers_keeps_bounded_counts() {
        let rejections = Rejections::default();
        let start = Instant::now();
        for i in 0..(LOGGED_PER_INTERVAL + 5000) {
            let peer = IpAddr::from((i + 1).to_be_bytes());
            rejections.log_in_full_at("frame too large", peer, start);
        }
        let interval = rejections.lock();
        assert_eq!(interval.by_peer.len(), PEERS_COUNTED);
        assert_eq!(interval.other_peers, 5000 - PEERS_COUNTED as u64);
    }
}
