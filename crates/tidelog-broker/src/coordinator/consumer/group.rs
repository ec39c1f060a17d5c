//! One group of the KIP-848 consumer protocol: members with epochs, the group epoch that
//! every membership or subscription change bumps, the target assignment computed at that
//! epoch, and the reconciliation that moves each member towards its target.
//!
//! A regular expression new to the group is resolved after the heartbeat that brings it, as
//! Kafka resolves them in the background: that heartbeat is answered with the topics
//! subscribed by name, and the regex's topics come with a later one, at a new group epoch.
//!
//! Revocation comes before reassignment: a partition leaving a member is first removed from
//! what the member owns and held as "revoking" until a heartbeat of that member reports it
//! no longer owns it; only then can another member be given it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use regex::Regex;
use tidelog_protocol::ErrorCode;
use tokio::time::Instant;

use super::assignor::{self, Partitions};
use super::persist::Written;

/// The epoch with which a static member leaves for a while, expecting to come back.
pub(super) const LEAVE_STATIC: i32 = -2;

/// What a heartbeat carries, with the topic ids of owned partitions already resolved.
pub struct Heartbeat {
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// How long the member may take to give up revoked partitions; 0 or less: the session.
    pub rebalance_timeout_ms: i32,
    pub subscribed_topics: Option<Vec<String>>,
    /// A regular expression (RE2 syntax, as Kafka's RE2J) topics must match in full;
    /// `Some("")` clears it.
    pub subscribed_regex: Option<String>,
    pub server_assignor: Option<String>,
    /// What the member reports owning; `None` when unchanged since its previous heartbeat.
    pub owned: Option<Partitions>,
}

#[cfg(test)]
impl Heartbeat {
    /// A heartbeat of `member_id` at `member_epoch` that subscribes to nothing, reports
    /// nothing owned and asks for no assignor, for tests to fill in what they need.
    pub(super) fn bare(member_id: &str, member_epoch: i32) -> Heartbeat {
        Heartbeat {
            member_id: member_id.into(),
            member_epoch,
            instance_id: None,
            rack_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            rebalance_timeout_ms: 1_000,
            subscribed_topics: None,
            subscribed_regex: None,
            server_assignor: None,
            owned: None,
        }
    }
}

/// The answer: the member's id and epoch, and its assignment when that changed.
#[derive(Debug)]
pub struct HeartbeatResult {
    pub member_id: String,
    pub member_epoch: i32,
    pub assignment: Option<Partitions>,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub epoch: i32,
    /// The epoch before the last bump, accepted once more in case the answer was lost.
    pub previous_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed: BTreeSet<String>,
    pub subscribed_regex: Option<Regex>,
    /// Whether `subscribed_regex` has been resolved: until then the target assignment
    /// leaves out the topics only it matches.
    pub(super) regex_resolved: bool,
    /// What the member has been told it owns.
    pub owned: Partitions,
    /// What it was told to give up and has not yet confirmed giving up.
    pub revoking: Partitions,
    /// A static member that left with epoch -2: it keeps its partitions until its session
    /// expires or its instance id rejoins.
    pub left_temporarily: bool,
    pub(super) rebalance_timeout: Duration,
    pub(super) session_deadline: Instant,
    /// When a member still revoking is removed from the group.
    pub(super) revocation_deadline: Option<Instant>,
}

pub struct ConsumerGroup {
    pub id: String,
    pub epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    pub members: BTreeMap<String, Member>,
    /// Each member's target assignment at `assignment_epoch`.
    pub target: BTreeMap<String, Partitions>,
    /// The partition counts of the subscribed topics the target was computed from.
    pub(super) topics: BTreeMap<String, i32>,
    /// The records last written to `__consumer_offsets` for this group (see `persist`).
    pub(super) written: Written,
}

impl ConsumerGroup {
    pub fn new(id: &str, assignor: &str) -> ConsumerGroup {
        ConsumerGroup {
            id: id.to_string(),
            epoch: 0,
            assignment_epoch: 0,
            assignor: assignor.to_string(),
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            topics: BTreeMap::new(),
            written: Written::new(),
        }
    }

    /// Kafka's consumer group states.
    pub fn state(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.assignment_epoch < self.epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.epoch != self.assignment_epoch || !m.revoking.is_empty())
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// Handles one heartbeat. `topics` gives the partition count of every topic that
    /// exists.
    pub fn heartbeat(
        &mut self,
        request: Heartbeat,
        new_member_id: impl FnOnce() -> String,
        topics: &BTreeMap<String, i32>,
        session_timeout: Duration,
        now: Instant,
    ) -> Result<HeartbeatResult, ErrorCode> {
        let deadline = now + session_timeout;
        if request.member_epoch < 0 {
            let member = self
                .members
                .get_mut(&request.member_id)
                .ok_or(ErrorCode::UNKNOWN_MEMBER_ID)?;
            if request.member_epoch == LEAVE_STATIC && member.instance_id.is_some() {
                member.left_temporarily = true;
            } else {
                self.members.remove(&request.member_id);
                self.epoch += 1;
                self.refresh_target(topics);
            }
            return Ok(HeartbeatResult {
                member_id: request.member_id,
                member_epoch: request.member_epoch,
                assignment: None,
            });
        }
        // Checked before anything changes, so a bad pattern changes nothing.
        let regex = request.subscribed_regex.as_deref().map(full_match).transpose()?;
        // Regexes brought by earlier heartbeats count from now on.
        self.resolve_new_regexes();
        let joining = request.member_epoch == 0;
        // A member new to the group, whose arrival has already moved the group epoch.
        let mut fresh = false;
        let member_id = if request.member_id.is_empty() {
            new_member_id()
        } else {
            request.member_id.clone()
        };
        if joining {
            if request.subscribed_topics.is_none() && request.subscribed_regex.is_none() {
                return Err(ErrorCode::INVALID_REQUEST);
            }
            let previous = request.instance_id.as_ref().and_then(|instance| {
                self.members
                    .values()
                    .find(|m| m.instance_id.as_ref() == Some(instance) && m.id != member_id)
                    .map(|m| (m.id.clone(), m.left_temporarily))
            });
            match previous {
                Some((_, false)) => return Err(ErrorCode::UNRELEASED_INSTANCE_ID),
                // A static member back within its session takes over its partitions and
                // epoch: no rebalance.
                Some((old_id, true)) => {
                    let mut member = self.members.remove(&old_id).expect("found above");
                    member.id = member_id.clone();
                    member.left_temporarily = false;
                    member.client_id = request.client_id.clone();
                    member.client_host = request.client_host.clone();
                    if let Some(target) = self.target.remove(&old_id) {
                        self.target.insert(member_id.clone(), target);
                    }
                    self.members.insert(member_id.clone(), member);
                }
                None => {
                    // A member rejoining with epoch 0 starts afresh.
                    let rebalance_timeout = rebalance_timeout(request.rebalance_timeout_ms, session_timeout);
                    self.members.insert(
                        member_id.clone(),
                        Member {
                            id: member_id.clone(),
                            epoch: 0,
                            previous_epoch: 0,
                            instance_id: request.instance_id.clone(),
                            rack_id: request.rack_id.clone(),
                            client_id: request.client_id.clone(),
                            client_host: request.client_host.clone(),
                            subscribed: BTreeSet::new(),
                            subscribed_regex: None,
                            regex_resolved: false,
                            owned: Partitions::new(),
                            revoking: Partitions::new(),
                            left_temporarily: false,
                            rebalance_timeout,
                            session_deadline: deadline,
                            revocation_deadline: None,
                        },
                    );
                    self.epoch += 1;
                    fresh = true;
                }
            }
        } else {
            let member = self.members.get(&member_id).ok_or(ErrorCode::UNKNOWN_MEMBER_ID)?;
            let lost_answer = request.member_epoch == member.previous_epoch
                && request
                    .owned
                    .as_ref()
                    .is_none_or(|owned| owned.is_subset(&member.owned));
            if request.member_epoch != member.epoch && !lost_answer {
                return Err(ErrorCode::FENCED_MEMBER_EPOCH);
            }
        }
        if let Some(assignor) = request.server_assignor.as_deref() {
            if !assignor::ASSIGNORS.contains(&assignor) {
                return Err(ErrorCode::UNSUPPORTED_ASSIGNOR);
            }
            if assignor != self.assignor {
                self.assignor = assignor.to_string();
                self.epoch += 1;
            }
        }
        let member = self
            .members
            .get_mut(&member_id)
            .expect("present: checked or inserted above");
        member.session_deadline = deadline;
        if let Some(topics) = request.subscribed_topics {
            let topics: BTreeSet<String> = topics.into_iter().collect();
            if topics != member.subscribed {
                member.subscribed = topics;
                if !fresh {
                    self.epoch += 1;
                }
            }
        }
        if let Some(regex) = regex {
            let pattern = regex.as_ref().map(Regex::as_str);
            if pattern != self.members[&member_id].subscribed_regex.as_ref().map(Regex::as_str) {
                // A regex another member has resolved counts at once, as in Kafka; a new
                // one at the next heartbeat or tick (`resolve_new_regexes`).
                let resolved = pattern.is_none_or(|pattern| {
                    self.members
                        .values()
                        .any(|m| m.regex_resolved && m.subscribed_regex.as_ref().map(Regex::as_str) == Some(pattern))
                });
                let member = self.members.get_mut(&member_id).expect("present");
                member.subscribed_regex = regex;
                member.regex_resolved = resolved;
                if resolved && !fresh {
                    self.epoch += 1;
                }
            }
        }
        if let Some(owned) = &request.owned {
            let member = self.members.get_mut(&member_id).expect("present");
            member.revoking.retain(|p| owned.contains(p));
            if member.revoking.is_empty() {
                member.revocation_deadline = None;
            }
        }
        self.refresh_target(topics);
        let before = self.members[&member_id].clone();
        self.reconcile(&member_id, now);
        let after = &self.members[&member_id];
        let changed = joining || request.owned.is_some() || after.owned != before.owned || after.epoch != before.epoch;
        Ok(HeartbeatResult {
            member_id,
            member_epoch: after.epoch,
            assignment: changed.then(|| after.owned.clone()),
        })
    }

    /// Recomputes the target assignment when the group epoch moved past it or the
    /// subscribed topics (or their partition counts) changed.
    fn refresh_target(&mut self, all_topics: &BTreeMap<String, i32>) {
        let subscriptions: BTreeMap<String, BTreeSet<String>> = self
            .members
            .iter()
            .map(|(id, m)| (id.clone(), m.resolve(all_topics)))
            .collect();
        let topics: BTreeMap<String, i32> = subscriptions
            .values()
            .flatten()
            .map(|t| (t.clone(), all_topics[t]))
            .collect();
        if topics != self.topics {
            self.topics = topics;
            if self.epoch == self.assignment_epoch {
                self.epoch += 1;
            }
        }
        if self.assignment_epoch == self.epoch {
            return;
        }
        self.target = assignor::assign(&self.assignor, &subscriptions, &self.topics);
        self.assignment_epoch = self.epoch;
    }

    /// Moves one member a step towards its target: first it gives up what it must revoke
    /// (keeping its epoch); once it has, it takes the epoch of the target and every target
    /// partition no other member owns or is still revoking.
    fn reconcile(&mut self, member_id: &str, now: Instant) {
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let member = &self.members[member_id];
        if !member.revoking.is_empty() {
            return;
        }
        let to_revoke: Partitions = member.owned.difference(&target).cloned().collect();
        if !to_revoke.is_empty() {
            let member = self.members.get_mut(member_id).expect("present");
            member.owned.retain(|p| !to_revoke.contains(p));
            member.revoking = to_revoke;
            member.revocation_deadline = Some(now + member.rebalance_timeout);
            return;
        }
        let taken: Partitions = self
            .members
            .values()
            .filter(|m| m.id != member_id)
            .flat_map(|m| m.owned.iter().chain(&m.revoking))
            .cloned()
            .collect();
        let assignment_epoch = self.assignment_epoch;
        let member = self.members.get_mut(member_id).expect("present");
        member.owned.extend(target.into_iter().filter(|p| !taken.contains(p)));
        if member.epoch != assignment_epoch {
            member.previous_epoch = member.epoch;
            member.epoch = assignment_epoch;
        }
    }

    /// Checks an OffsetCommit's member and epoch, as Kafka does for consumer groups
    /// (OffsetCommit v9 semantics).
    pub fn check_commit(&self, member_id: &str, epoch: i32) -> Result<(), ErrorCode> {
        if member_id.is_empty() && epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        let member = self.members.get(member_id).ok_or(ErrorCode::UNKNOWN_MEMBER_ID)?;
        match epoch.cmp(&member.epoch) {
            std::cmp::Ordering::Greater => Err(ErrorCode::FENCED_MEMBER_EPOCH),
            std::cmp::Ordering::Less => Err(ErrorCode::STALE_MEMBER_EPOCH),
            std::cmp::Ordering::Equal => Ok(()),
        }
    }

    /// Resolves the regexes that members brought since the last heartbeat or tick: the
    /// group epoch moves on if there were any, so the target takes in their topics.
    fn resolve_new_regexes(&mut self) {
        let mut resolved = false;
        for member in self.members.values_mut() {
            if member.subscribed_regex.is_some() && !member.regex_resolved {
                member.regex_resolved = true;
                resolved = true;
            }
        }
        if resolved {
            self.epoch += 1;
        }
    }

    /// Removes members whose session expired, and resolves new regexes; the group epoch
    /// moves on if either happened.
    pub fn expire_sessions(&mut self, now: Instant, topics: &BTreeMap<String, i32>) {
        self.resolve_new_regexes();
        let before = self.members.len();
        // Gone: members silent for a session, and members that did not give up revoked
        // partitions within their rebalance timeout.
        self.members
            .retain(|_, m| m.session_deadline > now && m.revocation_deadline.is_none_or(|d| d > now));
        if self.members.len() != before {
            self.epoch += 1;
        }
        // Also notices topics created, deleted or grown, for regex subscriptions above all.
        self.refresh_target(topics);
    }

    /// Whether a member subscribes to `topic`, by name or by regex.
    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        self.members.values().any(|m| m.subscribes_to(topic))
    }
}

/// A pattern as a regex matching whole names (RE2J's `matches`), as KIP-848 subscriptions
/// and ListTransactions' id filter use them; the empty pattern is none.
pub(crate) fn full_match(pattern: &str) -> Result<Option<Regex>, ErrorCode> {
    match pattern {
        "" => Ok(None),
        _ => Regex::new(&format!("^(?:{pattern})$"))
            .map(Some)
            .map_err(|_| ErrorCode::INVALID_REGULAR_EXPRESSION),
    }
}

/// The pattern a `full_match` regex was made from.
pub(crate) fn pattern(regex: &Regex) -> &str {
    regex
        .as_str()
        .strip_prefix("^(?:")
        .and_then(|p| p.strip_suffix(")$"))
        .unwrap_or(regex.as_str())
}

/// A member's rebalance timeout from the milliseconds it gave (in its heartbeat, or in its
/// record at replay): 0 or less means the session timeout.
pub(super) fn rebalance_timeout(ms: i32, session_timeout: Duration) -> Duration {
    match ms {
        ms if ms > 0 => Duration::from_millis(ms as u64),
        _ => session_timeout,
    }
}

impl Member {
    /// The existing topics this member is assigned from: by name, or by its regex once
    /// resolved.
    fn resolve(&self, topics: &BTreeMap<String, i32>) -> BTreeSet<String> {
        let by_regex = |t: &str| self.regex_resolved && self.matches_regex(t);
        topics
            .keys()
            .filter(|t| self.subscribed.contains(*t) || by_regex(t))
            .cloned()
            .collect()
    }

    /// Whether this member subscribes to `topic`, by name or by its regex (resolved or not).
    fn subscribes_to(&self, topic: &str) -> bool {
        self.subscribed.contains(topic) || self.matches_regex(topic)
    }

    fn matches_regex(&self, topic: &str) -> bool {
        self.subscribed_regex.as_ref().is_some_and(|r| r.is_match(topic))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: Duration = Duration::from_secs(45);

    fn counts() -> BTreeMap<String, i32> {
        BTreeMap::from([("t".to_string(), 6)])
    }

    fn beat(group: &mut ConsumerGroup, id: &str, epoch: i32, owned: Option<&Partitions>) -> HeartbeatResult {
        let request = Heartbeat {
            subscribed_topics: (epoch == 0).then(|| vec!["t".to_string()]),
            owned: owned.cloned(),
            ..Heartbeat::bare(id, epoch)
        };
        group
            .heartbeat(request, || unreachable!(), &counts(), SESSION, Instant::now())
            .unwrap()
    }

    #[test]
    fn a_partition_moves_only_after_its_owner_revokes_it() {
        let mut group = ConsumerGroup::new("g", "uniform");
        let a = beat(&mut group, "a", 0, None);
        assert_eq!(a.assignment.as_ref().unwrap().len(), 6);
        let a_owned = a.assignment.unwrap();
        // b joins: the target splits the partitions, but a still owns them all.
        let b = beat(&mut group, "b", 0, None);
        assert_eq!(b.assignment.unwrap().len(), 0);
        assert_eq!(group.state(), "Reconciling");
        // a is told to keep three; its epoch stays until it confirms.
        let a2 = beat(&mut group, "a", a.member_epoch, None);
        assert_eq!(a2.assignment.as_ref().unwrap().len(), 3);
        assert_eq!(a2.member_epoch, a.member_epoch);
        // b still cannot have a's revoked partitions.
        assert!(beat(&mut group, "b", b.member_epoch, None).assignment.is_none());
        // a confirms it owns only three now, and takes the new epoch.
        let a3 = beat(&mut group, "a", a2.member_epoch, a2.assignment.as_ref());
        assert_eq!(a3.member_epoch, group.epoch);
        let b2 = beat(&mut group, "b", b.member_epoch, None);
        let b_owned = b2.assignment.unwrap();
        assert_eq!(b_owned.len(), 3);
        assert!(b_owned.is_disjoint(a2.assignment.as_ref().unwrap()));
        assert!(b_owned.is_subset(&a_owned));
        assert_eq!(group.state(), "Stable");
    }

    #[test]
    fn epochs_fence_and_stale_commits_are_refused() {
        let mut group = ConsumerGroup::new("g", "uniform");
        let a = beat(&mut group, "a", 0, None);
        assert_eq!(group.check_commit("a", a.member_epoch), Ok(()));
        assert_eq!(
            group.check_commit("a", a.member_epoch + 1),
            Err(ErrorCode::FENCED_MEMBER_EPOCH)
        );
        assert_eq!(
            group.check_commit("a", a.member_epoch - 1),
            Err(ErrorCode::STALE_MEMBER_EPOCH)
        );
        assert_eq!(group.check_commit("x", 1), Err(ErrorCode::UNKNOWN_MEMBER_ID));
        let request = Heartbeat::bare("a", a.member_epoch + 5);
        let fenced = group.heartbeat(request, || unreachable!(), &counts(), SESSION, Instant::now());
        assert_eq!(fenced.unwrap_err(), ErrorCode::FENCED_MEMBER_EPOCH);
    }

    #[test]
    fn leaving_and_expired_members_free_their_partitions() {
        let mut group = ConsumerGroup::new("g", "uniform");
        let a = beat(&mut group, "a", 0, None);
        beat(&mut group, "b", 0, None);
        let a2 = beat(&mut group, "a", a.member_epoch, None);
        beat(&mut group, "a", a2.member_epoch, a2.assignment.as_ref());
        let left = beat(&mut group, "b", -1, None);
        assert_eq!(left.member_epoch, -1);
        let epoch = group.members["a"].epoch;
        let a3 = beat(&mut group, "a", epoch, None);
        assert_eq!(a3.assignment.unwrap().len(), 6);
        group.expire_sessions(Instant::now() + SESSION * 2, &counts());
        assert_eq!(group.state(), "Empty");
    }

    fn static_join(group: &mut ConsumerGroup, id: &str, instance: &str) -> Result<HeartbeatResult, ErrorCode> {
        let request = Heartbeat {
            instance_id: Some(instance.into()),
            subscribed_topics: Some(vec!["t".to_string()]),
            ..Heartbeat::bare(id, 0)
        };
        group.heartbeat(request, || unreachable!(), &counts(), SESSION, Instant::now())
    }

    #[test]
    fn a_static_member_back_within_its_session_keeps_its_partitions_and_epoch() {
        let mut group = ConsumerGroup::new("g", "uniform");
        let first = static_join(&mut group, "a1", "instance").unwrap();
        assert_eq!(
            static_join(&mut group, "a2", "instance").unwrap_err(),
            ErrorCode::UNRELEASED_INSTANCE_ID,
            "the first incarnation has not left"
        );
        beat(&mut group, "a1", -2, None);
        let epoch = group.epoch;
        let back = static_join(&mut group, "a2", "instance").unwrap();
        assert_eq!(back.member_epoch, first.member_epoch);
        assert_eq!(back.assignment, first.assignment);
        assert_eq!(group.epoch, epoch, "no rebalance");
        assert_eq!(group.members.keys().collect::<Vec<_>>(), ["a2"]);
    }

    #[test]
    fn a_member_that_does_not_revoke_in_time_is_removed() {
        let mut group = ConsumerGroup::new("g", "uniform");
        let a = beat(&mut group, "a", 0, None);
        beat(&mut group, "b", 0, None);
        beat(&mut group, "a", a.member_epoch, None);
        assert!(!group.members["a"].revoking.is_empty());
        // Its session is 45 s, its rebalance timeout 1 s.
        group.expire_sessions(Instant::now() + Duration::from_secs(2), &counts());
        assert_eq!(group.members.keys().collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn a_regex_subscription_matches_whole_topic_names_and_a_bad_one_changes_nothing() {
        let mut group = ConsumerGroup::new("g", "uniform");
        let topics = BTreeMap::from([
            ("orders".to_string(), 2),
            ("orders-dlq".to_string(), 1),
            ("t".to_string(), 6),
        ]);
        let join = |pattern: &str| Heartbeat {
            subscribed_regex: Some(pattern.into()),
            ..Heartbeat::bare("a", 0)
        };
        let bad = group.heartbeat(join("orders("), || unreachable!(), &topics, SESSION, Instant::now());
        assert_eq!(bad.unwrap_err(), ErrorCode::INVALID_REGULAR_EXPRESSION);
        assert!(group.members.is_empty());
        let joined = group
            .heartbeat(join("ord.rs"), || unreachable!(), &topics, SESSION, Instant::now())
            .unwrap();
        assert_eq!(
            joined.assignment,
            Some(Partitions::new()),
            "resolved after this heartbeat"
        );
        let next = Heartbeat::bare("a", joined.member_epoch);
        let resolved = group.heartbeat(next, || unreachable!(), &topics, SESSION, Instant::now());
        let expected = Partitions::from([("orders".to_string(), 0), ("orders".to_string(), 1)]);
        assert_eq!(resolved.unwrap().assignment, Some(expected));
    }

    /// librdkafka's 0045 resubscription test, as Kafka answers it: a member subscribing to
    /// a name and a new regex gets the named topic's partitions first, the regex's at a later
    /// heartbeat; a regex the group has resolved counts at once for another member; and a
    /// member moving from one regex to another gives up the first one's partitions.
    #[test]
    fn a_new_regex_is_resolved_after_the_heartbeat_that_brings_it() {
        let mut group = ConsumerGroup::new("g", "uniform");
        let topics = BTreeMap::from([
            ("regex1".to_string(), 4),
            ("regex2".to_string(), 4),
            ("a".to_string(), 2),
        ]);
        let partitions = |topics: &[&str]| -> Partitions {
            let counts = BTreeMap::from([("regex1", 4), ("regex2", 4), ("a", 2)]);
            topics
                .iter()
                .flat_map(|t| (0..counts[t]).map(move |p| (t.to_string(), p)))
                .collect()
        };
        let beat = |group: &mut ConsumerGroup, id: &str, epoch: i32, regex: Option<&str>, owned: Option<Partitions>| {
            let request = Heartbeat {
                subscribed_topics: (epoch == 0).then(|| vec!["a".to_string()]),
                subscribed_regex: regex.map(str::to_string),
                owned,
                ..Heartbeat::bare(id, epoch)
            };
            group
                .heartbeat(request, || unreachable!(), &topics, SESSION, Instant::now())
                .unwrap()
        };
        let first = beat(&mut group, "m", 0, Some("regex.*"), None);
        assert_eq!(first.assignment, Some(partitions(&["a"])));
        let second = beat(&mut group, "m", first.member_epoch, None, first.assignment.clone());
        assert!(second.member_epoch > first.member_epoch);
        assert_eq!(second.assignment, Some(partitions(&["a", "regex1", "regex2"])));
        let settled = beat(&mut group, "m", second.member_epoch, None, second.assignment);

        // From one regex to another: the new regex is unresolved at first, so all the old
        // one's partitions go; regex2's come back at the next heartbeat.
        let moved = beat(&mut group, "m", settled.member_epoch, Some("regex2"), None);
        assert_eq!(moved.assignment, Some(partitions(&["a"])));
        let back = beat(&mut group, "m", moved.member_epoch, None, moved.assignment);
        assert_eq!(back.assignment, Some(partitions(&["a", "regex2"])));

        // A second member with the regex the group already resolved shares at once.
        let other = beat(&mut group, "n", 0, Some("regex2"), None);
        assert!(group.members["n"].regex_resolved);
        assert_eq!(other.assignment, Some(Partitions::new()), "m still owns them");
    }

    #[test]
    fn a_subscription_covers_topics_by_name_or_regex_whether_they_exist_or_not() {
        let mut group = ConsumerGroup::new("g", "uniform");
        let request = Heartbeat {
            subscribed_topics: Some(vec!["t".to_string(), "not-yet".to_string()]),
            subscribed_regex: Some("logs-.*".to_string()),
            ..Heartbeat::bare("a", 0)
        };
        group
            .heartbeat(request, || unreachable!(), &counts(), SESSION, Instant::now())
            .unwrap();
        // What keeps offsets from OffsetDelete and expiry: "not-yet" and "logs-1" do not
        // exist, so no target assignment names them.
        for topic in ["t", "not-yet", "logs-1"] {
            assert!(group.is_subscribed_to(topic), "{topic}");
        }
        assert!(!group.is_subscribed_to("other"));
        assert!(!group.is_subscribed_to("xlogs-1"), "a whole-name match");
    }
}
