//! What of a KIP-848 group goes to `__consumer_offsets`, and how a group comes back from it.
//!
//! Each group keeps the records last written for it (`ConsumerGroup::written`). After a
//! change, the group is encoded afresh and only the records that differ are written, with
//! tombstones for those no longer there: a heartbeat writes a few small records, and replay,
//! which keeps the last value of each key, rebuilds exactly what was written. A group
//! without members has no records (all of them tombstoned when its last member goes): it is
//! forgotten, where Kafka would keep it Empty with its epoch.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use tidelog_protocol::{EncodeError, ErrorCode};
use tokio::time::Instant;
use tracing::warn;

use super::assignor::Partitions;
use super::group::{full_match, pattern, rebalance_timeout, ConsumerGroup, Member, LEAVE_STATIC};
use super::records::{self, CurrentAssignment, MemberMetadata, RecordKey, RecordValue, TopicPartitions};
use crate::coordinator::group::PendingWrite;
use crate::metadata::MetadataImage;

/// A group's records by key: the encoded values.
pub type Written = BTreeMap<RecordKey, Bytes>;

/// Appends a group's (key, value) records to its partition of `__consumer_offsets`.
pub type Append<'a> = &'a dyn Fn(&str, Vec<(Bytes, Option<Bytes>)>) -> Result<Option<PendingWrite>, ErrorCode>;

/// Kafka's MemberState values.
const STABLE: i8 = 0;
const UNREVOKED_PARTITIONS: i8 = 1;
const UNRELEASED_PARTITIONS: i8 = 2;

/// Writes what changed in the group since its last write; the change counts once the
/// returned write is durable. On failure nothing is marked written, so the next change
/// writes it again.
pub fn write_changes(
    group: &mut ConsumerGroup,
    image: &MetadataImage,
    append: Append<'_>,
) -> Result<Option<PendingWrite>, ErrorCode> {
    let now = records_of(group, image).map_err(|_| ErrorCode::INVALID_REQUEST)?;
    let write = append(&group.id, changes(&group.id, &group.written, &now)?)?;
    group.written = now;
    Ok(write)
}

/// The (key, value) records that turn `before` into `after`, tombstones last.
fn changes(group_id: &str, before: &Written, after: &Written) -> Result<Vec<(Bytes, Option<Bytes>)>, ErrorCode> {
    let key = |k: &RecordKey| records::encode_key(group_id, k).map_err(|_| ErrorCode::INVALID_REQUEST);
    let mut out = Vec::new();
    for (k, value) in after {
        if before.get(k) != Some(value) {
            out.push((key(k)?, Some(value.clone())));
        }
    }
    for k in before.keys().filter(|k| !after.contains_key(*k)) {
        out.push((key(k)?, None));
    }
    Ok(out)
}

/// The group's records as they should be now: none without members. Partitions of topics
/// that no longer exist are left out: they have no id.
fn records_of(group: &ConsumerGroup, image: &MetadataImage) -> Result<Written, EncodeError> {
    if group.members.is_empty() {
        return Ok(Written::new());
    }
    let by_id = |partitions: &Partitions| records::by_topic_id(partitions, image);
    let mut values = vec![
        (RecordKey::Group, RecordValue::Group { epoch: group.epoch }),
        (
            RecordKey::TargetMetadata,
            RecordValue::TargetMetadata {
                assignment_epoch: group.assignment_epoch,
            },
        ),
    ];
    for member in group.members.values() {
        let metadata = MemberMetadata {
            instance_id: member.instance_id.clone(),
            rack_id: member.rack_id.clone(),
            client_id: member.client_id.clone(),
            client_host: member.client_host.clone(),
            subscribed_topic_names: member.subscribed.iter().cloned().collect(),
            subscribed_topic_regex: member.subscribed_regex.as_ref().map(|r| pattern(r).to_string()),
            rebalance_timeout_ms: member.rebalance_timeout.as_millis().try_into().unwrap_or(i32::MAX),
            // The group's assignor, which any member may have chosen; it comes back from here.
            server_assignor: Some(group.assignor.clone()),
        };
        let target = group.target.get(&member.id).cloned().unwrap_or_default();
        // Kafka's member states: waiting to give partitions up; at the target's epoch but
        // waiting for partitions others still hold; otherwise stable at its epoch.
        let state = if !member.revoking.is_empty() {
            UNREVOKED_PARTITIONS
        } else if member.epoch == group.assignment_epoch && member.owned != target {
            UNRELEASED_PARTITIONS
        } else {
            STABLE
        };
        // A static member away for a while is written with Kafka's epoch -2, its own epoch
        // as the previous one.
        let (member_epoch, previous_member_epoch) = match member.left_temporarily {
            true => (LEAVE_STATIC, member.epoch),
            false => (member.epoch, member.previous_epoch),
        };
        let current = CurrentAssignment {
            member_epoch,
            previous_member_epoch,
            state,
            assigned: by_id(&member.owned),
            pending_revocation: by_id(&member.revoking),
        };
        values.push((RecordKey::Member(member.id.clone()), RecordValue::Member(metadata)));
        values.push((
            RecordKey::Target(member.id.clone()),
            RecordValue::Target(by_id(&target)),
        ));
        values.push((RecordKey::Current(member.id.clone()), RecordValue::Current(current)));
    }
    values
        .into_iter()
        .map(|(key, value)| Ok((key, records::encode_value(&value)?)))
        .collect()
}

/// Rebuilds a group from the records replayed for it, or `None` when its group record is
/// gone (it was deleted). Members come back with their epochs and partitions and a fresh
/// session; records that cannot be read are skipped with a warning.
pub fn restore(
    id: &str,
    written: Written,
    image: &MetadataImage,
    default_assignor: &str,
    session_timeout: Duration,
    now: Instant,
) -> Option<ConsumerGroup> {
    if !written.contains_key(&RecordKey::Group) {
        return None;
    }
    let by_name = |partitions: TopicPartitions| records::by_topic_name(partitions, image);
    let mut group = ConsumerGroup::new(id, default_assignor);
    let mut metadata = BTreeMap::new();
    let mut current = BTreeMap::new();
    for (key, bytes) in &written {
        let value = match records::decode_value(key, bytes.clone()) {
            Ok(value) => value,
            Err(error) => {
                warn!(group = id, ?key, %error, "skipping an unreadable consumer group record");
                continue;
            }
        };
        match (key, value) {
            (_, RecordValue::Group { epoch }) => group.epoch = epoch,
            (_, RecordValue::TargetMetadata { assignment_epoch }) => group.assignment_epoch = assignment_epoch,
            (RecordKey::Member(m), RecordValue::Member(value)) => {
                metadata.insert(m.clone(), value);
            }
            (RecordKey::Target(m), RecordValue::Target(value)) => {
                group.target.insert(m.clone(), by_name(value));
            }
            (RecordKey::Current(m), RecordValue::Current(value)) => {
                current.insert(m.clone(), value);
            }
            _ => unreachable!("decode_value answers with the key's value type"),
        }
    }
    for (member_id, m) in metadata {
        let c = current.remove(&member_id).unwrap_or_default();
        let (epoch, previous_epoch, left_temporarily) = match c.member_epoch {
            LEAVE_STATIC => (c.previous_member_epoch, c.previous_member_epoch, true),
            epoch => (epoch, c.previous_member_epoch, false),
        };
        let rebalance_timeout = rebalance_timeout(m.rebalance_timeout_ms, session_timeout);
        if let Some(assignor) = m.server_assignor {
            group.assignor = assignor;
        }
        let revoking = by_name(c.pending_revocation);
        group.members.insert(
            member_id.clone(),
            Member {
                id: member_id,
                epoch,
                previous_epoch,
                instance_id: m.instance_id,
                rack_id: m.rack_id,
                client_id: m.client_id,
                client_host: m.client_host,
                subscribed: m.subscribed_topic_names.into_iter().collect::<BTreeSet<_>>(),
                subscribed_regex: m.subscribed_topic_regex.and_then(|p| full_match(&p).ok().flatten()),
                // Resolved once already, before it was written.
                regex_resolved: true,
                owned: by_name(c.assigned),
                revocation_deadline: (!revoking.is_empty()).then(|| now + rebalance_timeout),
                revoking,
                left_temporarily,
                rebalance_timeout,
                session_deadline: now + session_timeout,
            },
        );
    }
    group.target.retain(|m, _| group.members.contains_key(m));
    // The partition counts the target was computed from, as far as it shows them: a topic
    // grown, created or deleted while the broker was down moves the group epoch at its
    // first tick.
    for (topic, partition) in group.target.values().flatten() {
        let count = group.topics.entry(topic.clone()).or_insert(0);
        *count = (*count).max(partition + 1);
    }
    group.written = written;
    Some(group)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::consumer::group::Heartbeat;
    use crate::metadata::{MetadataEvent, TopicMeta};
    use tidelog_protocol::Uuid;

    fn image() -> MetadataImage {
        let mut image = MetadataImage::default();
        image.apply(&MetadataEvent::TopicCreated(TopicMeta {
            name: "t".into(),
            id: Uuid([1; 16]),
            partitions: 4,
            configs: BTreeMap::new(),
            replication_factor: 1,
        }));
        image
    }

    fn join(group: &mut ConsumerGroup, id: &str) -> i32 {
        let request = Heartbeat {
            subscribed_topics: Some(vec!["t".into()]),
            server_assignor: Some("range".into()),
            ..Heartbeat::bare(id, 0)
        };
        let topics = BTreeMap::from([("t".to_string(), 4)]);
        let session = Duration::from_secs(45);
        group
            .heartbeat(request, || unreachable!(), &topics, session, Instant::now())
            .unwrap()
            .member_epoch
    }

    /// Replays `log` as the broker does at start (the last value of each key) and restores
    /// the group from it.
    fn replay(log: &[(Bytes, Option<Bytes>)], image: &MetadataImage) -> ConsumerGroup {
        let mut replayed = Written::new();
        for (key, value) in log {
            let (_, key) = records::decode_key(key.clone()).unwrap().unwrap();
            match value {
                Some(value) => replayed.insert(key, value.clone()),
                None => replayed.remove(&key),
            };
        }
        let session = Duration::from_secs(45);
        restore("g", replayed, image, "uniform", session, Instant::now()).unwrap()
    }

    /// The records one write of the group's changes appends.
    fn written(group: &mut ConsumerGroup, image: &MetadataImage) -> Vec<(Bytes, Option<Bytes>)> {
        let log = std::cell::RefCell::new(Vec::new());
        let append = |_: &str, records: Vec<(Bytes, Option<Bytes>)>| {
            log.borrow_mut().extend(records);
            Ok(None)
        };
        write_changes(group, image, &append).unwrap();
        log.into_inner()
    }

    #[test]
    fn static_regex_and_revoking_members_come_back_as_they_were() {
        let image = image();
        let mut group = ConsumerGroup::new("g", "uniform");
        join(&mut group, "a");
        join(&mut group, "b");
        // "a" is a static member away for a while (written with epoch -2).
        let a = group.members.get_mut("a").unwrap();
        a.instance_id = Some("instance-a".into());
        a.rack_id = Some("rack-1".into());
        a.left_temporarily = true;
        // "b" subscribes by regex and has partitions to give up, after an epoch bump.
        let b = group.members.get_mut("b").unwrap();
        b.subscribed_regex = full_match("t|u.*").unwrap();
        b.revoking = Partitions::from([("t".to_string(), 3)]);
        b.previous_epoch = b.epoch;
        b.epoch += 1;

        let back = replay(&written(&mut group, &image), &image);
        let (a, restored_a) = (&group.members["a"], &back.members["a"]);
        assert_eq!(
            (
                restored_a.epoch,
                restored_a.left_temporarily,
                restored_a.instance_id.as_deref(),
                restored_a.rack_id.as_deref()
            ),
            (a.epoch, true, Some("instance-a"), Some("rack-1"))
        );
        let (b, restored_b) = (&group.members["b"], &back.members["b"]);
        assert_eq!(
            (restored_b.epoch, restored_b.previous_epoch, &restored_b.revoking),
            (b.epoch, b.previous_epoch, &b.revoking)
        );
        assert_eq!(restored_b.subscribed_regex.as_ref().map(pattern), Some("t|u.*"));
        assert!(
            restored_b.revocation_deadline.is_some(),
            "its revocation is timed again"
        );
        assert!(!restored_b.left_temporarily);
    }

    #[test]
    fn a_group_comes_back_from_its_records_and_later_changes_write_only_the_difference() {
        let image = image();
        let mut group = ConsumerGroup::new("g", "uniform");
        join(&mut group, "a");
        join(&mut group, "b");
        let log = written(&mut group, &image);
        // Group, target metadata, and three records per member.
        assert_eq!(log.len(), 8);

        let back = replay(&log, &image);
        assert_eq!(
            (back.epoch, back.assignment_epoch),
            (group.epoch, group.assignment_epoch)
        );
        assert_eq!(back.assignor, "range");
        assert_eq!(back.target, group.target);
        for (id, member) in &group.members {
            let restored = &back.members[id];
            assert_eq!(
                (
                    restored.epoch,
                    &restored.owned,
                    &restored.revoking,
                    &restored.subscribed
                ),
                (member.epoch, &member.owned, &member.revoking, &member.subscribed)
            );
        }
        assert_eq!(back.topics, BTreeMap::from([("t".to_string(), 4)]));

        // "b" leaves: its three records are tombstoned, the group epoch rewritten.
        let mut back = back;
        back.members.remove("b");
        back.epoch += 1;
        let tombstones = written(&mut back, &image).iter().filter(|(_, v)| v.is_none()).count();
        assert_eq!(tombstones, 3);
        // The last member leaves: every record of the group is tombstoned.
        back.members.clear();
        let log = written(&mut back, &image);
        assert!(log.iter().all(|(_, v)| v.is_none()));
        assert_eq!(log.len(), 5);
        assert!(back.written.is_empty());
    }
}
