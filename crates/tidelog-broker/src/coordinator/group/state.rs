//! One classic-protocol group as a state machine, driven by requests and by the clock
//! (`tick`), with no I/O: answers that must wait (JoinGroup until the rebalance completes,
//! SyncGroup until the leader's assignments arrive) are oneshot senders kept with the member.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use tidelog_protocol::{ErrorCode, Reader};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::info;

use super::records::{GroupMetadata, MemberMetadata};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka reports in ListGroups and DescribeGroups.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A member as requests name it: its member id, and its group instance id if static.
pub type Identity<'a> = (&'a str, Option<&'a str>);

/// A JoinGroup as the state machine needs it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub protocol_type: String,
    /// (name, metadata), in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    /// KIP-394 (JoinGroup v4+): a member without an id first gets one and must rejoin with it.
    pub require_known_member_id: bool,
    /// The id issued if the member has none.
    pub new_member_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JoinResult {
    pub error: ErrorCode,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Filled for the leader only: (member id, group instance id, metadata for the protocol).
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    pub fn error(error: ErrorCode, member_id: String) -> JoinResult {
        JoinResult {
            error,
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id,
            members: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyncResult {
    pub error: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn error(error: ErrorCode) -> SyncResult {
        SyncResult {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// A committed offset, as OffsetCommitValue stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

pub struct Member {
    pub id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    last_seen: Instant,
    join_waiter: Option<oneshot::Sender<JoinResult>>,
    sync_waiter: Option<oneshot::Sender<SyncResult>>,
}

impl Member {
    /// The member's metadata for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

/// When a rebalance in progress may complete.
struct Rebalance {
    /// `group.initial.rebalance.delay.ms` after the group left Empty: more members may come.
    not_before: Instant,
    /// The largest rebalance timeout: members that have not rejoined by then are dropped.
    deadline: Instant,
}

pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    pub offsets: BTreeMap<(String, i32), Committed>,
    /// Offsets committed by transactions still open, by producer id: they count when the
    /// transaction's COMMIT marker reaches the group's offsets partition, and are dropped
    /// at its ABORT marker.
    pub pending_txn_offsets: HashMap<i64, BTreeMap<(String, i32), Committed>>,
    /// Ids issued by MEMBER_ID_REQUIRED, valid until the session timeout passes.
    pending_members: HashMap<String, Instant>,
    /// Static members (KIP-345): group instance id to its current member id.
    static_members: HashMap<String, String>,
    rebalance: Option<Rebalance>,
    initial_delay: Duration,
    /// The membership changed in a way that must be written to the offsets topic: a
    /// rebalance completed, the group became Empty, or a static member was replaced.
    metadata_changed: bool,
    /// When the group was last written as Empty (its record's state timestamp): offsets
    /// retention counts from there (KIP-211). `None` for a group never written, such as
    /// one whose offsets are committed without membership.
    pub empty_since_ms: Option<i64>,
}

impl Group {
    pub fn new(id: &str, initial_delay: Duration) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            offsets: BTreeMap::new(),
            pending_txn_offsets: HashMap::new(),
            pending_members: HashMap::new(),
            static_members: HashMap::new(),
            rebalance: None,
            initial_delay,
            metadata_changed: false,
            empty_since_ms: None,
        }
    }

    /// The group's membership to write, if it changed since last taken.
    pub fn take_changed_metadata(&mut self, now_ms: i64) -> Option<GroupMetadata> {
        if !std::mem::take(&mut self.metadata_changed) {
            return None;
        }
        self.empty_since_ms = (self.state == GroupState::Empty).then_some(now_ms);
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = self
            .members
            .values()
            .map(|m| MemberMetadata {
                member_id: m.id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout: m.rebalance_timeout.as_millis().min(i32::MAX as u128) as i32,
                session_timeout: m.session_timeout.as_millis().min(i32::MAX as u128) as i32,
                subscription: m.metadata(&protocol),
                assignment: m.assignment.clone(),
            })
            .collect();
        Some(GroupMetadata {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol_name.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: now_ms,
            members,
        })
    }

    /// Restores the membership written by `take_changed_metadata`, as after a restart:
    /// members keep their ids, generation and assignments, and their sessions start now.
    pub fn restore(&mut self, metadata: GroupMetadata, now: Instant) {
        let protocol = metadata.protocol.clone().unwrap_or_default();
        self.members = metadata
            .members
            .into_iter()
            .map(|m| {
                let member = Member {
                    id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    protocols: vec![(protocol.clone(), m.subscription)],
                    assignment: m.assignment,
                    session_timeout: Duration::from_millis(m.session_timeout.max(0) as u64),
                    rebalance_timeout: Duration::from_millis(m.rebalance_timeout.max(0) as u64),
                    last_seen: now,
                    join_waiter: None,
                    sync_waiter: None,
                };
                (m.member_id, member)
            })
            .collect();
        self.static_members = self
            .members
            .values()
            .filter_map(|m| Some((m.group_instance_id.clone()?, m.id.clone())))
            .collect();
        self.generation = metadata.generation;
        self.protocol_type = Some(metadata.protocol_type).filter(|t| !t.is_empty());
        self.protocol_name = metadata.protocol;
        self.leader = metadata.leader;
        self.state = match self.members.is_empty() {
            true => GroupState::Empty,
            false => GroupState::Stable,
        };
        self.empty_since_ms = (self.state == GroupState::Empty && metadata.current_state_timestamp >= 0)
            .then_some(metadata.current_state_timestamp);
    }

    /// An Empty group holding no offsets and no issued ids can be forgotten.
    pub fn is_unused(&self) -> bool {
        self.state == GroupState::Empty
            && self.offsets.is_empty()
            && self.pending_txn_offsets.is_empty()
            && self.pending_members.is_empty()
    }

    pub fn join(&mut self, request: JoinRequest, now: Instant) -> oneshot::Receiver<JoinResult> {
        let (tx, rx) = oneshot::channel();
        let refuse = |error, member_id: &str| JoinResult::error(error, member_id.to_string());
        if self.state == GroupState::Dead {
            let _ = tx.send(refuse(ErrorCode::COORDINATOR_NOT_AVAILABLE, &request.member_id));
            return rx;
        }
        if !self.accepts_protocols(&request) {
            let _ = tx.send(refuse(ErrorCode::INCONSISTENT_GROUP_PROTOCOL, &request.member_id));
            return rx;
        }
        if request.member_id.is_empty() {
            let new_member_id = request.new_member_id.clone();
            let known_instance = request
                .group_instance_id
                .as_ref()
                .and_then(|instance| self.static_members.get(instance).cloned());
            if let Some(old_id) = known_instance {
                self.replace_static_member(&old_id, request, tx, now);
            } else if request.require_known_member_id && request.group_instance_id.is_none() {
                self.pending_members
                    .insert(new_member_id.clone(), now + request.session_timeout);
                let _ = tx.send(refuse(ErrorCode::MEMBER_ID_REQUIRED, &new_member_id));
            } else {
                self.add_member(request, new_member_id, tx, now);
            }
            return rx;
        }
        if self.pending_members.remove(&request.member_id).is_some() {
            let id = request.member_id.clone();
            self.add_member(request, id, tx, now);
            return rx;
        }
        if let Err(error) = self.check_instance(&request.member_id, request.group_instance_id.as_deref()) {
            let _ = tx.send(refuse(error, &request.member_id));
            return rx;
        }
        let Some(member) = self.members.get_mut(&request.member_id) else {
            let _ = tx.send(refuse(ErrorCode::UNKNOWN_MEMBER_ID, &request.member_id));
            return rx;
        };
        let same_protocols = member.protocols == request.protocols;
        member.protocols = request.protocols;
        member.session_timeout = request.session_timeout;
        member.rebalance_timeout = request.rebalance_timeout;
        member.last_seen = now;
        member.join_waiter = Some(tx);
        let is_leader = self.leader.as_deref() == Some(request.member_id.as_str());
        match self.state {
            GroupState::PreparingRebalance => self.maybe_complete_rebalance(now),
            // Nothing changed: the member missed the join response and gets it again.
            GroupState::CompletingRebalance if same_protocols => self.answer_join(&request.member_id),
            GroupState::Stable if same_protocols && !is_leader => self.answer_join(&request.member_id),
            _ if !same_protocols => self.prepare_rebalance(now, Duration::ZERO, "a member's protocols changed"),
            _ => self.prepare_rebalance(now, Duration::ZERO, "the leader rejoined"),
        }
        rx
    }

    /// A joining member must speak the group's protocol type and share a protocol with
    /// every member.
    fn accepts_protocols(&self, request: &JoinRequest) -> bool {
        if request.protocol_type.is_empty() || request.protocols.is_empty() {
            return false;
        }
        let others: Vec<&Member> = self.members.values().filter(|m| m.id != request.member_id).collect();
        if others.is_empty() {
            return true;
        }
        self.protocol_type.as_deref() == Some(request.protocol_type.as_str())
            && request
                .protocols
                .iter()
                .any(|(name, _)| others.iter().all(|m| m.protocols.iter().any(|(n, _)| n == name)))
    }

    /// A static member rejoining without its member id (it restarted) takes the place of
    /// its previous incarnation, which is fenced, and keeps its assignment: in a Stable group
    /// with unchanged protocols there is no rebalance.
    fn replace_static_member(
        &mut self,
        old_id: &str,
        request: JoinRequest,
        waiter: oneshot::Sender<JoinResult>,
        now: Instant,
    ) {
        let mut member = self.members.remove(old_id).expect("static members are members");
        if let Some(old_waiter) = member.join_waiter.take() {
            let _ = old_waiter.send(JoinResult::error(ErrorCode::FENCED_INSTANCE_ID, old_id.to_string()));
        }
        if let Some(old_waiter) = member.sync_waiter.take() {
            let _ = old_waiter.send(SyncResult::error(ErrorCode::FENCED_INSTANCE_ID));
        }
        let id = request.new_member_id;
        let same_protocols = member.protocols == request.protocols;
        member.id = id.clone();
        member.client_id = request.client_id;
        member.client_host = request.client_host;
        member.protocols = request.protocols;
        member.session_timeout = request.session_timeout;
        member.rebalance_timeout = request.rebalance_timeout;
        member.last_seen = now;
        member.join_waiter = Some(waiter);
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(id.clone());
        }
        if let Some(instance) = &member.group_instance_id {
            self.static_members.insert(instance.clone(), id.clone());
        }
        self.members.insert(id.clone(), member);
        match self.state {
            GroupState::Stable if same_protocols => {
                self.metadata_changed = true;
                self.answer_join(&id);
            }
            GroupState::PreparingRebalance => self.maybe_complete_rebalance(now),
            _ => self.prepare_rebalance(now, Duration::ZERO, "a static member was replaced"),
        }
    }

    fn add_member(&mut self, request: JoinRequest, id: String, waiter: oneshot::Sender<JoinResult>, now: Instant) {
        self.protocol_type = Some(request.protocol_type);
        if let Some(instance) = &request.group_instance_id {
            self.static_members.insert(instance.clone(), id.clone());
        }
        self.members.insert(
            id.clone(),
            Member {
                id,
                group_instance_id: request.group_instance_id,
                client_id: request.client_id,
                client_host: request.client_host,
                protocols: request.protocols,
                assignment: Bytes::new(),
                session_timeout: request.session_timeout,
                rebalance_timeout: request.rebalance_timeout,
                last_seen: now,
                join_waiter: Some(waiter),
                sync_waiter: None,
            },
        );
        match (self.state, &mut self.rebalance) {
            // Each newcomer during the initial delay lets others come too, up to the deadline.
            (GroupState::PreparingRebalance, Some(rebalance)) => {
                if rebalance.not_before > now {
                    rebalance.not_before = (now + self.initial_delay).min(rebalance.deadline);
                }
                self.maybe_complete_rebalance(now);
            }
            (GroupState::Empty, _) => self.prepare_rebalance(now, self.initial_delay, "a member joined"),
            _ => self.prepare_rebalance(now, Duration::ZERO, "a member joined"),
        }
    }

    /// Starts a rebalance that completes no sooner than `delay` from now.
    fn prepare_rebalance(&mut self, now: Instant, delay: Duration, reason: &str) {
        for member in self.members.values_mut() {
            if let Some(waiter) = member.sync_waiter.take() {
                let _ = waiter.send(SyncResult::error(ErrorCode::REBALANCE_IN_PROGRESS));
            }
        }
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        info!(
            group = self.id,
            generation = self.generation,
            members = self.members.len(),
            reason,
            "preparing to rebalance"
        );
        self.state = GroupState::PreparingRebalance;
        self.rebalance = Some(Rebalance {
            not_before: now + delay.min(timeout),
            deadline: now + timeout,
        });
        self.maybe_complete_rebalance(now);
    }

    /// Completes the rebalance once every member has rejoined (after the initial delay),
    /// or at the deadline without those that did not.
    fn maybe_complete_rebalance(&mut self, now: Instant) {
        let Some(rebalance) = &self.rebalance else { return };
        let all_joined = self.members.values().all(|m| m.join_waiter.is_some());
        if now < rebalance.not_before || !(all_joined || now >= rebalance.deadline) {
            return;
        }
        self.rebalance = None;
        let before = self.members.len();
        self.members.retain(|_, m| m.join_waiter.is_some());
        let members = &self.members;
        self.static_members.retain(|_, id| members.contains_key(id));
        self.generation += 1;
        if self.members.is_empty() {
            info!(
                group = self.id,
                generation = self.generation,
                "rebalance completed without members: group empty"
            );
            self.state = GroupState::Empty;
            self.protocol_name = None;
            self.leader = None;
            self.metadata_changed = true;
            return;
        }
        self.protocol_name = Some(self.vote());
        let leader_stays = self.leader.as_ref().is_some_and(|l| self.members.contains_key(l));
        if !leader_stays {
            self.leader = self.members.keys().next().cloned();
        }
        self.state = GroupState::CompletingRebalance;
        info!(
            group = self.id,
            generation = self.generation,
            members = self.members.len(),
            dropped = before - self.members.len(),
            leader = self.leader.as_deref().unwrap_or_default(),
            "rebalance completed, awaiting the leader's assignment"
        );
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            self.answer_join(&id);
        }
    }

    /// The protocol every member supports that most members prefer.
    fn vote(&self) -> String {
        let supported_by_all = |name: &str| {
            self.members
                .values()
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        };
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for member in self.members.values() {
            if let Some((name, _)) = member.protocols.iter().find(|(n, _)| supported_by_all(n)) {
                *votes.entry(name).or_default() += 1;
            }
        }
        let best = votes.values().max().copied().unwrap_or_default();
        votes
            .into_iter()
            .find(|(_, count)| *count == best)
            .map(|(name, _)| name.to_string())
            .unwrap_or_default()
    }

    fn answer_join(&mut self, member_id: &str) {
        let leader = self.leader.clone().unwrap_or_default();
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.members
                .values()
                .map(|m| (m.id.clone(), m.group_instance_id.clone(), m.metadata(&protocol)))
                .collect()
        } else {
            Vec::new()
        };
        let result = JoinResult {
            error: ErrorCode::NONE,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader,
            member_id: member_id.to_string(),
            members,
        };
        if let Some(waiter) = self.members.get_mut(member_id).and_then(|m| m.join_waiter.take()) {
            let _ = waiter.send(result);
        }
    }

    pub fn sync(
        &mut self,
        member: Identity<'_>,
        generation: i32,
        protocol: (Option<&str>, Option<&str>),
        assignments: Vec<(String, Bytes)>,
        now: Instant,
    ) -> oneshot::Receiver<SyncResult> {
        let (tx, rx) = oneshot::channel();
        let (member_id, instance_id) = member;
        if let Err(error) = self.check_member(member_id, instance_id, generation) {
            let _ = tx.send(SyncResult::error(error));
            return rx;
        }
        let (protocol_type, protocol_name) = protocol;
        let mismatch = |asked: Option<&str>, ours: &Option<String>| asked.is_some_and(|a| Some(a) != ours.as_deref());
        if mismatch(protocol_type, &self.protocol_type) || mismatch(protocol_name, &self.protocol_name) {
            let _ = tx.send(SyncResult::error(ErrorCode::INCONSISTENT_GROUP_PROTOCOL));
            return rx;
        }
        let member = self.members.get_mut(member_id).expect("checked above");
        member.last_seen = now;
        match self.state {
            GroupState::PreparingRebalance => {
                let _ = tx.send(SyncResult::error(ErrorCode::REBALANCE_IN_PROGRESS));
            }
            GroupState::CompletingRebalance => {
                member.sync_waiter = Some(tx);
                if self.leader.as_deref() == Some(member_id) {
                    let mut assignments: HashMap<String, Bytes> = assignments.into_iter().collect();
                    for member in self.members.values_mut() {
                        member.assignment = assignments.remove(&member.id).unwrap_or_default();
                    }
                    self.state = GroupState::Stable;
                    info!(
                        group = self.id,
                        generation = self.generation,
                        "group stable with the leader's assignment"
                    );
                    self.metadata_changed = true;
                    let ids: Vec<String> = self.members.keys().cloned().collect();
                    for id in ids {
                        self.answer_sync(&id);
                    }
                }
            }
            _ => {
                member.sync_waiter = Some(tx);
                self.answer_sync(member_id);
            }
        }
        rx
    }

    fn answer_sync(&mut self, member_id: &str) {
        let (protocol_type, protocol_name) = (self.protocol_type.clone(), self.protocol_name.clone());
        if let Some(member) = self.members.get_mut(member_id) {
            if let Some(waiter) = member.sync_waiter.take() {
                let _ = waiter.send(SyncResult {
                    error: ErrorCode::NONE,
                    protocol_type,
                    protocol_name,
                    assignment: member.assignment.clone(),
                });
            }
        }
    }

    /// A static member's instance id must go with its current member id; an older
    /// incarnation is fenced.
    fn check_instance(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), ErrorCode> {
        match instance_id.and_then(|instance| self.static_members.get(instance)) {
            Some(current) if current != member_id => Err(ErrorCode::FENCED_INSTANCE_ID),
            _ => Ok(()),
        }
    }

    /// The member exists (as this incarnation, if static) in this generation.
    fn check_member(&self, member_id: &str, instance_id: Option<&str>, generation: i32) -> Result<(), ErrorCode> {
        self.check_instance(member_id, instance_id)?;
        if !self.members.contains_key(member_id) {
            return Err(ErrorCode::UNKNOWN_MEMBER_ID);
        }
        if generation != self.generation {
            return Err(ErrorCode::ILLEGAL_GENERATION);
        }
        Ok(())
    }

    pub fn heartbeat(&mut self, member: Identity<'_>, generation: i32, now: Instant) -> ErrorCode {
        let (member_id, instance_id) = member;
        if let Err(error) = self.check_member(member_id, instance_id, generation) {
            return error;
        }
        if let Some(member) = self.members.get_mut(member_id) {
            member.last_seen = now;
        }
        match self.state {
            GroupState::PreparingRebalance => ErrorCode::REBALANCE_IN_PROGRESS,
            _ => ErrorCode::NONE,
        }
    }

    /// A member leaves by member id, or by instance id for a static member (whose member
    /// id, if given too, must be its current one).
    pub fn leave(&mut self, member: Identity<'_>, now: Instant) -> ErrorCode {
        let (member_id, instance_id) = member;
        let member_id = match instance_id.map(|instance| self.static_members.get(instance)) {
            Some(Some(current)) if member_id.is_empty() || current == member_id => current.clone(),
            Some(Some(_)) => return ErrorCode::FENCED_INSTANCE_ID,
            Some(None) => return ErrorCode::UNKNOWN_MEMBER_ID,
            None => member_id.to_string(),
        };
        if self.members.remove(&member_id).is_none() {
            return ErrorCode::UNKNOWN_MEMBER_ID;
        }
        self.static_members.retain(|_, id| *id != member_id);
        match self.state {
            GroupState::PreparingRebalance => self.maybe_complete_rebalance(now),
            _ => self.prepare_rebalance(now, Duration::ZERO, "a member left"),
        }
        ErrorCode::NONE
    }

    /// Removes members whose session expired and ids never used, and completes a rebalance
    /// whose time has come. A member waiting for its join response is not expected to
    /// heartbeat.
    pub fn tick(&mut self, now: Instant) {
        self.pending_members.retain(|_, expiry| *expiry > now);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.join_waiter.is_none() && m.last_seen + m.session_timeout <= now)
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            info!(group = self.id, member = id, "member removed: session expired");
            self.leave((&id, None), now);
        }
        self.maybe_complete_rebalance(now);
    }

    /// Whether a member of a `consumer` group subscribes to `topic`, by the subscriptions in
    /// its metadata (ConsumerProtocolSubscription, which begins with a version and the topic
    /// names in every version). Groups of other protocol types subscribe to nothing, as in
    /// Kafka; unreadable metadata counts as subscribed, to keep offsets rather than lose them.
    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        if self.protocol_type.as_deref() != Some("consumer") {
            return false;
        }
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members.values().any(|m| {
            let mut reader = Reader::new(m.metadata(&protocol));
            let topics = reader.i16().and_then(|_| reader.i32());
            match topics {
                Ok(count) => (0..count).any(|_| reader.string(false, "topic").map_or(true, |t| t == topic)),
                Err(_) => true,
            }
        })
    }

    /// Whether an OffsetCommit with these credentials may write, as Kafka's classic
    /// coordinator decides: a generation of -1 is a simple commit, for groups without members.
    pub fn check_commit(&self, member: Identity<'_>, generation: i32) -> Result<(), ErrorCode> {
        let (member_id, instance_id) = member;
        match self.state {
            GroupState::Dead => Err(ErrorCode::COORDINATOR_NOT_AVAILABLE),
            GroupState::Empty if generation < 0 => Ok(()),
            GroupState::CompletingRebalance => Err(ErrorCode::REBALANCE_IN_PROGRESS),
            _ => self.check_member(member_id, instance_id, generation),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELAY: Duration = Duration::from_millis(100);
    const SESSION: Duration = Duration::from_secs(10);

    fn join_request(member_id: &str, new_member_id: &str, protocols: &[&str]) -> JoinRequest {
        JoinRequest {
            member_id: member_id.into(),
            new_member_id: new_member_id.into(),
            group_instance_id: None,
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::from(p.to_string())))
                .collect(),
            session_timeout: SESSION,
            rebalance_timeout: Duration::from_secs(30),
            require_known_member_id: true,
        }
    }

    fn answer<T>(mut rx: oneshot::Receiver<T>) -> Option<T> {
        rx.try_recv().ok()
    }

    /// Joins with an issued member id (KIP-394's two steps) and returns the waiting answer.
    fn join_new(group: &mut Group, id: &str, protocols: &[&str], now: Instant) -> oneshot::Receiver<JoinResult> {
        let first = answer(group.join(join_request("", id, protocols), now)).unwrap();
        assert_eq!(
            (first.error, first.member_id.as_str()),
            (ErrorCode::MEMBER_ID_REQUIRED, id)
        );
        group.join(join_request(id, "", protocols), now)
    }

    #[test]
    fn a_rebalance_waits_for_the_initial_delay_then_votes_and_syncs() {
        let start = Instant::now();
        let mut group = Group::new("g", DELAY);
        let a = join_new(&mut group, "a", &["range", "roundrobin"], start);
        let b = join_new(&mut group, "b", &["roundrobin", "range"], start);
        let c = join_new(&mut group, "c", &["roundrobin"], start);
        assert_eq!(group.state, GroupState::PreparingRebalance);
        group.tick(start + DELAY / 2);
        assert_eq!(
            group.state,
            GroupState::PreparingRebalance,
            "the initial delay holds it"
        );
        group.tick(start + DELAY);
        assert_eq!(group.state, GroupState::CompletingRebalance);

        let (a, b, c) = (answer(a).unwrap(), answer(b).unwrap(), answer(c).unwrap());
        assert_eq!(a.generation, 1);
        assert_eq!(
            a.protocol_name.as_deref(),
            Some("roundrobin"),
            "only roundrobin is common"
        );
        assert_eq!(a.leader, "a");
        assert_eq!(a.members.len(), 3, "the leader gets every member's metadata");
        assert!(b.members.is_empty() && c.members.is_empty());

        let b_sync = group.sync(("b", None), 1, (Some("consumer"), Some("roundrobin")), vec![], start);
        assert!(answer(b_sync).is_none(), "waits for the leader");
        let b_sync = group.sync(("b", None), 1, (None, None), vec![], start);
        let assignments = vec![("a".into(), Bytes::from("A")), ("b".into(), Bytes::from("B"))];
        let a_sync = answer(group.sync(("a", None), 1, (None, None), assignments, start)).unwrap();
        assert_eq!(a_sync.assignment, Bytes::from("A"));
        assert_eq!(answer(b_sync).unwrap().assignment, Bytes::from("B"));
        assert_eq!(group.state, GroupState::Stable);
        let c_sync = answer(group.sync(("c", None), 1, (None, None), vec![], start)).unwrap();
        assert_eq!((c_sync.error, c_sync.assignment), (ErrorCode::NONE, Bytes::new()));
    }

    fn stable_group(now: Instant) -> Group {
        let mut group = Group::new("g", Duration::ZERO);
        let a = join_new(&mut group, "a", &["range"], now);
        assert_eq!(answer(a).unwrap().generation, 1);
        answer(group.sync(("a", None), 1, (None, None), vec![("a".into(), Bytes::from("A"))], now)).unwrap();
        assert_eq!(group.state, GroupState::Stable);
        group
    }

    #[test]
    fn heartbeats_and_commits_check_member_and_generation() {
        let now = Instant::now();
        let mut group = stable_group(now);
        assert_eq!(group.heartbeat(("a", None), 1, now), ErrorCode::NONE);
        assert_eq!(group.heartbeat(("a", None), 0, now), ErrorCode::ILLEGAL_GENERATION);
        assert_eq!(group.heartbeat(("x", None), 1, now), ErrorCode::UNKNOWN_MEMBER_ID);
        assert_eq!(group.check_commit(("a", None), 1), Ok(()));
        assert_eq!(group.check_commit(("a", None), 0), Err(ErrorCode::ILLEGAL_GENERATION));
        assert_eq!(group.check_commit(("", None), -1), Err(ErrorCode::UNKNOWN_MEMBER_ID));

        let b = join_new(&mut group, "b", &["range"], now);
        assert_eq!(group.heartbeat(("a", None), 1, now), ErrorCode::REBALANCE_IN_PROGRESS);
        let a = group.join(join_request("a", "", &["range"]), now);
        assert_eq!(answer(a).unwrap().generation, 2);
        assert_eq!(answer(b).unwrap().leader, "a", "the leader stays the leader");
        assert_eq!(
            group.check_commit(("a", None), 2),
            Err(ErrorCode::REBALANCE_IN_PROGRESS)
        );
    }

    #[test]
    fn an_expired_session_removes_the_member_and_the_last_one_leaving_empties_the_group() {
        let now = Instant::now();
        let mut group = stable_group(now);
        group.tick(now + SESSION);
        assert_eq!(group.state, GroupState::Empty);
        assert!(group.members.is_empty());
        assert_eq!(group.generation, 2);
        assert_eq!(group.check_commit(("", None), -1), Ok(()));

        let mut group = stable_group(now);
        assert_eq!(group.leave(("a", None), now), ErrorCode::NONE);
        assert_eq!(group.state, GroupState::Empty);
        assert_eq!(group.leave(("a", None), now), ErrorCode::UNKNOWN_MEMBER_ID);
    }

    #[test]
    fn a_member_that_does_not_rejoin_is_dropped_at_the_rebalance_deadline() {
        let now = Instant::now();
        let mut group = stable_group(now);
        let b = join_new(&mut group, "b", &["range"], now);
        for seconds in [9, 18, 27] {
            let at = now + Duration::from_secs(seconds);
            assert_eq!(group.heartbeat(("a", None), 1, at), ErrorCode::REBALANCE_IN_PROGRESS);
            group.tick(at);
        }
        assert_eq!(group.state, GroupState::PreparingRebalance);
        group.tick(now + Duration::from_secs(30));
        let b = answer(b).unwrap();
        assert_eq!((b.generation, b.leader.as_str()), (2, "b"));
        assert!(!group.members.contains_key("a"));
    }

    #[test]
    fn a_restarted_static_member_takes_its_place_without_a_rebalance() {
        let now = Instant::now();
        let mut group = Group::new("g", Duration::ZERO);
        let mut request = join_request("", "a", &["range"]);
        request.group_instance_id = Some("i".into());
        let first = answer(group.join(request.clone(), now)).unwrap();
        assert_eq!(
            (first.error, first.member_id.as_str()),
            (ErrorCode::NONE, "a"),
            "static: no MEMBER_ID_REQUIRED"
        );
        answer(group.sync(
            ("a", Some("i")),
            1,
            (None, None),
            vec![("a".into(), Bytes::from("A"))],
            now,
        ))
        .unwrap();

        request.new_member_id = "a2".into();
        let again = answer(group.join(request, now)).unwrap();
        assert_eq!(
            (again.error, again.member_id.as_str(), again.generation),
            (ErrorCode::NONE, "a2", 1)
        );
        assert_eq!(group.state, GroupState::Stable);
        let synced = answer(group.sync(("a2", Some("i")), 1, (None, None), vec![], now)).unwrap();
        assert_eq!(synced.assignment, Bytes::from("A"), "kept its assignment");
        assert_eq!(group.heartbeat(("a", Some("i")), 1, now), ErrorCode::FENCED_INSTANCE_ID);
        assert_eq!(group.leave(("a", Some("i")), now), ErrorCode::FENCED_INSTANCE_ID);
        assert_eq!(group.leave(("", Some("i")), now), ErrorCode::NONE);
        assert_eq!(group.state, GroupState::Empty);
    }

    #[test]
    fn membership_is_written_when_it_settles_and_restores_as_it_was() {
        let now = Instant::now();
        let mut group = stable_group(now);
        let written = group.take_changed_metadata(7).expect("a rebalance completed");
        assert_eq!((written.generation, written.leader.as_deref()), (1, Some("a")));
        assert_eq!(written.members[0].assignment, Bytes::from("A"));
        assert_eq!(group.take_changed_metadata(7), None, "taken once");

        let mut restored = Group::new("g", Duration::ZERO);
        restored.restore(written, now);
        assert_eq!(restored.state, GroupState::Stable);
        assert_eq!(restored.heartbeat(("a", None), 1, now), ErrorCode::NONE);
        let synced = answer(restored.sync(("a", None), 1, (None, None), vec![], now)).unwrap();
        assert_eq!(synced.assignment, Bytes::from("A"));

        assert_eq!(restored.leave(("a", None), now), ErrorCode::NONE);
        let empty = restored.take_changed_metadata(8).expect("became Empty");
        assert_eq!((empty.generation, empty.members.len()), (2, 0));
    }

    #[test]
    fn subscriptions_are_read_from_consumer_protocol_metadata() {
        let now = Instant::now();
        let mut group = Group::new("g", Duration::ZERO);
        // ConsumerProtocolSubscription v0: version, topics ["orders"], null user data.
        let subscription = Bytes::from_static(b"\x00\x00\x00\x00\x00\x01\x00\x06orders\xff\xff\xff\xff");
        let mut request = join_request("", "a", &["range"]);
        request.protocols[0].1 = subscription;
        request.require_known_member_id = false;
        answer(group.join(request, now)).unwrap();
        assert!(group.is_subscribed_to("orders"));
        assert!(!group.is_subscribed_to("events"));
    }

    #[test]
    fn inconsistent_protocols_and_unknown_ids_are_refused() {
        let now = Instant::now();
        let mut group = stable_group(now);
        let other = answer(group.join(join_request("", "b", &["sticky"]), now)).unwrap();
        assert_eq!(other.error, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
        let unknown = answer(group.join(join_request("zz", "", &["range"]), now)).unwrap();
        assert_eq!(unknown.error, ErrorCode::UNKNOWN_MEMBER_ID);
    }
}
