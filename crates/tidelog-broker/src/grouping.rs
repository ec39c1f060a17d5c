//! Grouping (topic, item) pairs by topic. Kafka's requests and responses list each topic
//! once with its partitions under it, while the broker works partition by partition; this
//! is the one place that turns the flat form back into the nested one.

use std::collections::BTreeSet;

/// Groups `pairs` by topic, keeping their order: each run of consecutive pairs of one
/// topic becomes one entry. Pairs come topic by topic (from a sorted set, or from a request
/// that lists each topic once), so each topic has one entry.
pub fn by_topic<K: PartialEq, T>(pairs: impl IntoIterator<Item = (K, T)>) -> Vec<(K, Vec<T>)> {
    let mut topics: Vec<(K, Vec<T>)> = Vec::new();
    for (topic, item) in pairs {
        match topics.last_mut() {
            Some((last, items)) if *last == topic => items.push(item),
            _ => topics.push((topic, vec![item])),
        }
    }
    topics
}

/// A set of (topic, partition) grouped by topic, in order.
pub fn partitions_by_topic(partitions: &BTreeSet<(String, i32)>) -> Vec<(&str, Vec<i32>)> {
    by_topic(partitions.iter().map(|(topic, partition)| (topic.as_str(), *partition)))
}

#[cfg(test)]
mod tests {
    use super::by_topic;

    #[test]
    fn consecutive_pairs_of_a_topic_share_one_entry_in_order() {
        let grouped = by_topic([("b", 1), ("b", 0), ("a", 2), ("c", 0), ("c", 1)]);
        assert_eq!(grouped, [("b", vec![1, 0]), ("a", vec![2]), ("c", vec![0, 1])]);
        assert!(by_topic(Vec::<(&str, i32)>::new()).is_empty());
    }
}
