//! The broker-side assignors of KIP-848: `uniform` and `range`. Both are pure functions
//! from the members' subscriptions and the topics' partition counts to a target assignment.

use std::collections::{BTreeMap, BTreeSet};

/// A set of (topic, partition).
pub type Partitions = BTreeSet<(String, i32)>;

/// The assignors this broker offers, the first one being the default.
pub const ASSIGNORS: &[&str] = &["uniform", "range"];

/// Assigns every partition of the subscribed topics (`topics`: name → partition count) to
/// exactly one member subscribed to its topic. `members`: id → subscribed topic names.
pub fn assign(
    assignor: &str,
    members: &BTreeMap<String, BTreeSet<String>>,
    topics: &BTreeMap<String, i32>,
) -> BTreeMap<String, Partitions> {
    let mut target: BTreeMap<String, Partitions> = members.keys().map(|m| (m.clone(), Partitions::new())).collect();
    match assignor {
        "range" => range(members, topics, &mut target),
        _ => uniform(members, topics, &mut target),
    }
    target
}

/// Spreads all partitions evenly: each goes to the least-loaded member subscribed to its
/// topic (ties broken by member id), so member counts differ by at most one when all
/// members share a subscription.
fn uniform(
    members: &BTreeMap<String, BTreeSet<String>>,
    topics: &BTreeMap<String, i32>,
    target: &mut BTreeMap<String, Partitions>,
) {
    for (topic, count) in topics {
        for partition in 0..*count {
            let owner = members
                .iter()
                .filter(|(_, subscribed)| subscribed.contains(topic))
                .min_by_key(|(id, _)| (target[*id].len(), (*id).clone()))
                .map(|(id, _)| id.clone());
            if let Some(owner) = owner {
                target
                    .get_mut(&owner)
                    .expect("every member has an entry")
                    .insert((topic.clone(), partition));
            }
        }
    }
}

/// Kafka's range assignment per topic: the subscribers, sorted by id, get consecutive
/// ranges, the first ones one partition more when the count does not divide evenly.
fn range(
    members: &BTreeMap<String, BTreeSet<String>>,
    topics: &BTreeMap<String, i32>,
    target: &mut BTreeMap<String, Partitions>,
) {
    for (topic, count) in topics {
        let subscribers: Vec<&String> = members
            .iter()
            .filter(|(_, s)| s.contains(topic))
            .map(|(id, _)| id)
            .collect();
        if subscribers.is_empty() {
            continue;
        }
        let n = subscribers.len() as i32;
        let mut next = 0;
        for (i, member) in subscribers.iter().enumerate() {
            let size = count / n + i32::from((i as i32) < count % n);
            let owned = target.get_mut(*member).expect("every member has an entry");
            owned.extend((next..next + size).map(|p| (topic.clone(), p)));
            next += size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(ids: &[&str], topics: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
        let subscribed: BTreeSet<String> = topics.iter().map(|t| t.to_string()).collect();
        ids.iter().map(|id| (id.to_string(), subscribed.clone())).collect()
    }

    #[test]
    fn uniform_gives_six_partitions_two_each() {
        let topics = BTreeMap::from([("t".to_string(), 6)]);
        let target = assign("uniform", &members(&["a", "b", "c"], &["t"]), &topics);
        assert!(target.values().all(|p| p.len() == 2));
        let all: Partitions = target.values().flatten().cloned().collect();
        assert_eq!(all.len(), 6);
    }

    #[test]
    fn range_gives_consecutive_ranges() {
        let topics = BTreeMap::from([("t".to_string(), 5)]);
        let target = assign("range", &members(&["a", "b"], &["t"]), &topics);
        let a: Vec<i32> = target["a"].iter().map(|(_, p)| *p).collect();
        let b: Vec<i32> = target["b"].iter().map(|(_, p)| *p).collect();
        assert_eq!((a, b), (vec![0, 1, 2], vec![3, 4]));
    }

    #[test]
    fn only_subscribers_get_a_topic() {
        let mut m = members(&["a"], &["t"]);
        m.insert("b".into(), BTreeSet::from(["u".to_string()]));
        let topics = BTreeMap::from([("t".to_string(), 2), ("u".to_string(), 1)]);
        for assignor in ASSIGNORS {
            let target = assign(assignor, &m, &topics);
            assert_eq!(target["a"].len(), 2);
            assert_eq!(target["b"], Partitions::from([("u".to_string(), 0)]));
        }
    }
}
