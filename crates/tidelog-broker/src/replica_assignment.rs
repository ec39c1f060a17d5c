//! Replicas a request names for new partitions (CreateTopics' and CreatePartitions'
//! manual assignments), checked as Kafka's controller checks them, with its messages.

use tidelog_protocol::ErrorCode;

use crate::broker::ApiError;
use crate::metadata::MetadataImage;

/// Checks `replicas`, the assignments of partitions `first..` in order: each names
/// registered brokers (this node, `node_id`, where none registered: not a cluster), none
/// twice, at least one of them unfenced, and as many as `replication_factor` (the
/// topic's, for new partitions of an existing topic; else the first assignment's).
pub fn check(
    image: &MetadataImage,
    node_id: i32,
    first: i32,
    replicas: &[Vec<i32>],
    replication_factor: Option<usize>,
) -> Result<(), ApiError> {
    let registered = |id: i32| match image.brokers().is_empty() {
        true => id == node_id,
        false => image.brokers().contains_key(&id),
    };
    let unfenced = |id: &i32| image.brokers().get(id).is_none_or(|b| !b.fenced);
    let expected = replication_factor.or_else(|| replicas.first().map(Vec::len));
    for (partition, ids) in (first..).zip(replicas) {
        if ids.is_empty() {
            return Err(invalid(
                "The manual partition assignment includes an empty replica list.",
            ));
        }
        // In id order, as Kafka's controller checks them: the error names the same broker.
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        for (i, &id) in sorted.iter().enumerate() {
            if !registered(id) {
                return Err(invalid(format!(
                    "The manual partition assignment includes broker {id}, but no such broker is registered."
                )));
            }
            if sorted[..i].contains(&id) {
                return Err(invalid(format!(
                    "The manual partition assignment includes the broker {id} more than once."
                )));
            }
        }
        if let Some(expected) = expected.filter(|&n| n != ids.len()) {
            return Err(invalid(format!(
                "The manual partition assignment includes a partition with {} replica(s), but this is not \
                 consistent with previous partitions, which have {expected} replica(s).",
                ids.len()
            )));
        }
        if !ids.iter().any(unfenced) {
            return Err(invalid(format!(
                "All brokers specified in the manual partition assignment for partition {partition} are fenced or \
                 in controlled shutdown."
            )));
        }
    }
    Ok(())
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::INVALID_REPLICA_ASSIGNMENT, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::MetadataEvent;
    use crate::test_util::registered_broker;

    fn cluster(fenced: &[i32]) -> MetadataImage {
        let mut image = MetadataImage::default();
        for id in 1..=3 {
            image.apply(&MetadataEvent::BrokerRegistered(registered_broker(
                id,
                fenced.contains(&id),
            )));
        }
        image
    }

    fn refusal(image: &MetadataImage, replicas: &[Vec<i32>], rf: Option<usize>) -> String {
        let err = check(image, 1, 4, replicas, rf).expect_err("refused");
        assert_eq!(err.code, ErrorCode::INVALID_REPLICA_ASSIGNMENT);
        err.message
    }

    #[test]
    fn assignments_are_checked_as_kafka_checks_them() {
        let image = cluster(&[3]);
        assert!(check(&image, 1, 0, &[vec![1, 2, 3], vec![3, 2, 1]], None).is_ok());
        assert!(
            check(&image, 1, 0, &[vec![3, 2], vec![1, 3]], Some(2)).is_ok(),
            "a fenced replica among others"
        );
        assert_eq!(
            refusal(&image, &[vec![1], vec![]], None),
            "The manual partition assignment includes an empty replica list."
        );
        assert_eq!(
            refusal(&image, &[vec![1, 9]], None),
            "The manual partition assignment includes broker 9, but no such broker is registered."
        );
        assert_eq!(
            refusal(&image, &[vec![2, 1, 2]], None),
            "The manual partition assignment includes the broker 2 more than once."
        );
        assert!(refusal(&image, &[vec![1, 2], vec![2]], None)
            .starts_with("The manual partition assignment includes a partition with 1 replica(s)"));
        assert!(refusal(&image, &[vec![1, 2]], Some(3)).ends_with("which have 3 replica(s)."));
        assert_eq!(
            refusal(&image, &[vec![1], vec![3]], None),
            "All brokers specified in the manual partition assignment for partition 5 are fenced or in \
             controlled shutdown."
        );
    }

    #[test]
    fn a_node_out_of_any_cluster_is_the_only_broker() {
        let alone = MetadataImage::default();
        assert!(check(&alone, 1, 0, &[vec![1]], None).is_ok());
        assert!(refusal(&alone, &[vec![2]], None).contains("broker 2, but no such broker is registered"));
    }
}
