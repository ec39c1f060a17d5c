//! A partition change merged into the partition's state, as Kafka's
//! `PartitionRegistration.merge` does: every field the change leaves at its default (null,
//! -2 for the leader, -1 for the recovery state) keeps its value, a new leader bumps the
//! leader epoch, and every change bumps the partition epoch.

use tidelog_protocol::metadata::records::partition_change_record::PartitionChangeRecord;
use tidelog_protocol::metadata::records::partition_record::PartitionRecord;
use tidelog_protocol::Uuid;

/// `leader` of a change that leaves the leader as it is.
const NO_LEADER_CHANGE: i32 = -2;
/// `leader_recovery_state` of a change that leaves it as it is.
const NO_RECOVERY_STATE_CHANGE: i8 = -1;

pub(super) fn merge(partition: &mut PartitionRecord, change: &PartitionChangeRecord) {
    if let Some(replicas) = &change.replicas {
        // Each replica keeps its directory unless the change names them all; a new one has
        // none yet (Kafka's `DirectoryId.UNASSIGNED`, the nil id).
        let directories = change.directories.clone().unwrap_or_else(|| {
            replicas
                .iter()
                .map(|replica| {
                    let old = partition.replicas.iter().position(|r| r == replica);
                    old.and_then(|i| partition.directories.get(i).copied())
                        .unwrap_or(Uuid::NIL)
                })
                .collect()
        });
        partition.replicas = replicas.clone();
        partition.directories = directories;
    } else if let Some(directories) = &change.directories {
        partition.directories = directories.clone();
    }
    for (field, changed) in [
        (&mut partition.isr, &change.isr),
        (&mut partition.removing_replicas, &change.removing_replicas),
        (&mut partition.adding_replicas, &change.adding_replicas),
    ] {
        if let Some(changed) = changed {
            field.clone_from(changed);
        }
    }
    for (field, changed) in [
        (
            &mut partition.eligible_leader_replicas,
            &change.eligible_leader_replicas,
        ),
        (&mut partition.last_known_elr, &change.last_known_elr),
    ] {
        if changed.is_some() {
            field.clone_from(changed);
        }
    }
    if change.leader != NO_LEADER_CHANGE {
        partition.leader = change.leader;
        partition.leader_epoch += 1;
    }
    if change.leader_recovery_state != NO_RECOVERY_STATE_CHANGE {
        partition.leader_recovery_state = change.leader_recovery_state;
    }
    partition.partition_epoch += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition() -> PartitionRecord {
        PartitionRecord {
            partition_id: 0,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            leader: 1,
            leader_epoch: 4,
            partition_epoch: 7,
            directories: vec![Uuid::from_u128(11), Uuid::from_u128(12), Uuid::from_u128(13)],
            ..Default::default()
        }
    }

    #[test]
    fn a_change_sets_only_what_it_names() {
        let mut p = partition();
        merge(
            &mut p,
            &PartitionChangeRecord {
                isr: Some(vec![1, 3]),
                ..Default::default()
            },
        );
        assert_eq!((p.isr.as_slice(), p.replicas.len()), (&[1, 3][..], 3));
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (1, 4, 8));

        merge(
            &mut p,
            &PartitionChangeRecord {
                leader: -1,
                leader_recovery_state: 1,
                eligible_leader_replicas: Some(vec![3]),
                ..Default::default()
            },
        );
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (-1, 5, 9));
        assert_eq!(
            (p.leader_recovery_state, p.eligible_leader_replicas),
            (1, Some(vec![3]))
        );
        assert_eq!(p.last_known_elr, None);
    }

    #[test]
    fn new_replicas_keep_the_directories_of_those_that_stay() {
        let mut p = partition();
        merge(
            &mut p,
            &PartitionChangeRecord {
                replicas: Some(vec![3, 4, 1]),
                ..Default::default()
            },
        );
        assert_eq!(p.directories, [Uuid::from_u128(13), Uuid::NIL, Uuid::from_u128(11)]);
    }
}
