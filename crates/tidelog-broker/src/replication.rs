//! The leader's side of replication, as Kafka's `Partition` and `ReplicaManager` do it: a
//! follower's fetch is checked for divergence (KIP-320's last fetched epoch) and moves the
//! high watermark; the in-sync replicas change through the controller (AlterPartition,
//! KIP-497), which this module also answers on the quorum's leader.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tidelog_protocol::messages::alter_partition_request::{
    AlterPartitionRequest, BrokerState, PartitionData, TopicData,
};
use tidelog_protocol::messages::alter_partition_response::{self, AlterPartitionResponse};
use tidelog_protocol::messages::fetch_response::EpochEndOffset;
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody, Uuid};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::broker::Broker;
use crate::clock::now_ms;
use crate::metadata::{MetadataEvent, MetadataImage};
use crate::partitions::Partition;

/// A follower's fetch of `partition` (led here) from `fetch_offset`, the epoch of its last
/// batch being `last_fetched_epoch`: where its log diverges from this one, if it does
/// (it truncates there and fetches again), else its progress recorded.
pub fn follower_fetch(
    broker: &Broker,
    partition: &Partition,
    replica_id: i32,
    fetch_offset: i64,
    last_fetched_epoch: i32,
) -> Result<Option<EpochEndOffset>, ErrorCode> {
    if last_fetched_epoch >= 0 {
        let (epoch, end_offset) = partition.end_offset_for_epoch(last_fetched_epoch).map_err(|e| {
            error!(partition = %partition.tp, error = %e, "cannot read the leader epochs of a log");
            ErrorCode::KAFKA_STORAGE_ERROR
        })?;
        if epoch < last_fetched_epoch || end_offset < fetch_offset {
            // Without an epoch that old here, nothing of the follower's is known to be this
            // log's: it diverges at this log's start.
            let end_offset = match epoch < 0 {
                true => partition.log_start_offset(),
                false => end_offset,
            };
            return Ok(Some(EpochEndOffset {
                epoch,
                end_offset,
                ..Default::default()
            }));
        }
    }
    match partition.record_follower_fetch(replica_id, fetch_offset) {
        None => Err(ErrorCode::NOT_LEADER_OR_FOLLOWER),
        Some(moved) => {
            if moved {
                broker.partitions.flusher.notify_data_changed();
            }
            Ok(None)
        }
    }
}

/// How often a leader looks for in-sync replica changes to ask for.
const ISR_CHECK_EVERY: Duration = Duration::from_millis(200);

/// How long a leader waits for the controller's answer to an AlterPartition.
const ALTER_TIMEOUT: Duration = Duration::from_secs(5);

/// While the node runs: asks the controller to change the in-sync replicas of the
/// partitions it leads where they should (see [`crate::replica::ReplicaState::isr_change_due`]).
pub async fn maintain_isr(broker: Arc<Broker>, stop: watch::Receiver<bool>) {
    crate::cluster::every(ISR_CHECK_EVERY, broker, stop, ask_isr_changes).await;
}

/// One look over the led partitions, and one AlterPartition for those whose set changes.
fn ask_isr_changes(broker: &Broker) {
    let lag_max = broker.config.replica_lag_time_max_ms;
    let now = now_ms();
    let unfenced: Vec<i32> = {
        let image = broker.metadata.image();
        image.brokers().values().filter(|b| !b.fenced).map(|b| b.id).collect()
    };
    let eligible = |id: i32| unfenced.contains(&id);
    let mut asked: Vec<(Arc<Partition>, TopicData)> = Vec::new();
    for partition in broker.partitions.led() {
        let high_watermark = partition.high_watermark();
        let mut state = partition.replica();
        let Some(isr) = state.isr_change_due(high_watermark, now, lag_max, eligible) else {
            continue;
        };
        info!(partition = %partition.tp, from = ?state.isr(), to = ?isr, "asking to change the in-sync replicas");
        let data = PartitionData {
            partition_index: partition.tp.partition(),
            leader_epoch: state.leader_epoch(),
            new_isr_with_epochs: isr
                .iter()
                .map(|&broker_id| BrokerState {
                    broker_id,
                    broker_epoch: -1,
                    ..Default::default()
                })
                .collect(),
            partition_epoch: state.partition_epoch(),
            ..Default::default()
        };
        state.isr_asked(isr);
        drop(state);
        let topic = TopicData {
            topic_id: partition.topic_id,
            partitions: vec![data],
            ..Default::default()
        };
        asked.push((partition, topic));
    }
    if asked.is_empty() {
        return;
    }
    let node_id = broker.config.node_id;
    let request = AlterPartitionRequest {
        broker_id: node_id,
        broker_epoch: broker.metadata.image().brokers().get(&node_id).map_or(-1, |b| b.epoch),
        topics: asked.iter().map(|(_, topic)| topic.clone()).collect(),
        ..Default::default()
    };
    let answer = broker
        .metadata
        .ask_leader(RequestBody::AlterPartition(request), ALTER_TIMEOUT);
    let refused: Vec<ErrorCode> = match answer {
        Ok(ResponseBody::AlterPartition(r)) if r.error_code == 0 => r
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| ErrorCode(p.error_code)))
            .collect(),
        other => {
            debug!(answer = ?other.err(), "no answer to an AlterPartition");
            vec![ErrorCode::REQUEST_TIMED_OUT; asked.len()]
        }
    };
    for ((partition, _), code) in asked.iter().zip(refused) {
        if code != ErrorCode::NONE {
            warn!(partition = %partition.tp, ?code, "the controller refused an in-sync replica change");
            partition.replica().isr_refused();
        }
    }
}

/// While this node leads the quorum and `auto.leader.rebalance.enable`: every
/// `leader.imbalance.check.interval.seconds`, moves leaderships back to their preferred
/// replicas for the brokers that lead too few of theirs ([`imbalanced`]), as Kafka's
/// controller does.
pub async fn rebalance_leaders(broker: Arc<Broker>, stop: watch::Receiver<bool>) {
    if !broker.config.auto_leader_rebalance_enable {
        return;
    }
    let every = Duration::from_secs(broker.config.leader_imbalance_check_interval_seconds.max(1) as u64);
    crate::cluster::every(every, broker, stop, |broker| {
        if !broker.metadata.leads() {
            return;
        }
        let percentage = broker.config.leader_imbalance_per_broker_percentage;
        let due = imbalanced(&broker.metadata.image(), percentage);
        if due.is_empty() {
            return;
        }
        match elect_leaders(broker, due, false) {
            Ok(elected) => {
                let moved = elected.iter().filter(|e| e.is_ok()).count();
                info!(moved, "leaderships moved back to their preferred replicas");
            }
            Err(e) => warn!(error = %e, "cannot move leaderships back to their preferred replicas"),
        }
    })
    .await;
}

/// Elects leaders for `partitions` (by topic id and index) through the metadata quorum:
/// each one's preferred replica ([`MetadataImage::preferred_leader`]), or with `unclean`
/// its first live replica where it has no leader ([`MetadataImage::unclean_leader`]).
/// Answers the leader elected for each, or why none was.
pub fn elect_leaders(
    broker: &Broker,
    partitions: Vec<(Uuid, i32)>,
    unclean: bool,
) -> Result<Vec<Result<i32, ErrorCode>>, crate::metadata::StoreError> {
    let check = |image: &MetadataImage, _: &[MetadataEvent], (topic_id, partition): (Uuid, i32)| {
        let leader = match unclean {
            true => image.unclean_leader(topic_id, partition)?,
            false => image.preferred_leader(topic_id, partition)?,
        };
        Ok::<_, ErrorCode>(MetadataEvent::LeaderElected {
            topic_id,
            partition,
            leader,
            unclean,
        })
    };
    let answers = broker.metadata.commit_all(partitions, check)?;
    let leader = |event| match event {
        MetadataEvent::LeaderElected { leader, .. } => leader,
        other => unreachable!("an election answers LeaderElected, not {other:?}"),
    };
    Ok(answers.into_iter().map(|a| a.map(leader)).collect())
}

/// How often the quorum's leader looks for leaderless partitions that allow an unclean
/// election.
const UNCLEAN_CHECK_EVERY: Duration = Duration::from_secs(1);

/// On the quorum's leader, every [`UNCLEAN_CHECK_EVERY`]: gives each partition without a
/// leader whose topic sets `unclean.leader.election.enable` (or the broker's default) its
/// first live replica, in sync or not, as Kafka's controller does once no in-sync replica
/// is left to elect. What the lost in-sync replicas had and it lacks is lost.
pub async fn elect_unclean_leaders(broker: Arc<Broker>, stop: watch::Receiver<bool>) {
    crate::cluster::every(UNCLEAN_CHECK_EVERY, broker, stop, |broker| {
        if !broker.metadata.leads() {
            return;
        }
        let due = unclean_due(&broker.metadata.image(), &broker.config);
        if due.is_empty() {
            return;
        }
        match elect_leaders(broker, due.clone(), true) {
            Ok(elected) => {
                for ((topic_id, partition), leader) in due.into_iter().zip(elected) {
                    if let Ok(leader) = leader {
                        warn!(%topic_id, partition, leader, "unclean leader election: a replica out of sync leads; records only the lost in-sync replicas had are lost");
                    }
                }
            }
            Err(e) => warn!(error = %e, "cannot elect leaders out of sync"),
        }
    })
    .await;
}

/// The leaderless partitions of `image` that allow an unclean election and have a live
/// replica to elect.
/// Leaderless partitions first (few, and cheap to find): a topic's configs are resolved
/// only for them, not for every topic every second.
fn unclean_due(image: &MetadataImage, config: &crate::config::BrokerConfig) -> Vec<(Uuid, i32)> {
    let allowed = |id: Uuid| {
        image.topic_by_id(id).is_some_and(|t| {
            crate::topic_config::effective(config, &t.configs, "unclean.leader.election.enable") == "true"
        })
    };
    let mut due: Vec<(Uuid, i32)> = image
        .placed_partitions()
        .filter(|(_, _, p)| p.leader < 0)
        .map(|(id, index, _)| (id, index))
        .filter(|&(id, index)| image.unclean_leader(id, index).is_ok() && allowed(id))
        .collect();
    due.sort();
    due
}

/// The partitions whose preferred replica (the first) can take their leadership back, of
/// the brokers that do not lead more than `percentage` % of the partitions they prefer.
/// Sorted by topic id and partition.
pub fn imbalanced(image: &MetadataImage, percentage: i64) -> Vec<(Uuid, i32)> {
    /// A preferred broker's partitions, those it does not lead, those it can take back.
    type Preferred = (i64, i64, Vec<(Uuid, i32)>);
    let mut preferred: BTreeMap<i32, Preferred> = BTreeMap::new();
    for (topic_id, partition, p) in image.placed_partitions().filter(|(_, _, p)| p.replicas.len() > 1) {
        let entry = preferred.entry(p.replicas[0]).or_default();
        entry.0 += 1;
        if p.leader != p.replicas[0] {
            entry.1 += 1;
        }
        if image.preferred_leader(topic_id, partition).is_ok() {
            entry.2.push((topic_id, partition));
        }
    }
    let mut due: Vec<(Uuid, i32)> = preferred
        .into_values()
        .filter(|(total, not_led, _)| not_led * 100 > percentage * total)
        .flat_map(|(_, _, movable)| movable)
        .collect();
    due.sort();
    due
}

/// On the quorum's leader: applies a partition leader's AlterPartition, each partition
/// checked as Kafka's controller checks it: the sender leads it in the epoch it names, at
/// the partition epoch it names, and every new in-sync replica is an unfenced replica.
pub fn answer_alter_partition(broker: &Broker, request: AlterPartitionRequest) -> AlterPartitionResponse {
    if !broker.metadata.leads() {
        return AlterPartitionResponse {
            error_code: ErrorCode::NOT_CONTROLLER.0,
            ..Default::default()
        };
    }
    let sender = request.broker_id;
    let items: Vec<(Uuid, PartitionData)> = request
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.topic_id, p.clone())))
        .collect();
    let keys: Vec<(Uuid, i32)> = items.iter().map(|(id, p)| (*id, p.partition_index)).collect();
    let check = |image: &MetadataImage, _: &[MetadataEvent], (topic_id, p): (Uuid, PartitionData)| {
        checked_isr_change(image, sender, topic_id, &p)
    };
    let answers = match broker.metadata.commit_all(items, check) {
        Ok(answers) => answers,
        Err(e) => {
            warn!(error = %e, "cannot commit an in-sync replica change");
            return AlterPartitionResponse {
                error_code: ErrorCode::NOT_CONTROLLER.0,
                ..Default::default()
            };
        }
    };
    let image = broker.metadata.image();
    let mut topics: Vec<alter_partition_response::TopicData> = Vec::new();
    for ((topic_id, index), answer) in keys.into_iter().zip(answers) {
        let mut data = alter_partition_response::PartitionData {
            partition_index: index,
            ..Default::default()
        };
        match answer {
            Ok(_) => {
                if let Some(p) = image.partition(topic_id, index) {
                    data.leader_id = p.leader;
                    data.leader_epoch = p.leader_epoch;
                    data.isr.clone_from(&p.isr);
                    data.partition_epoch = p.partition_epoch;
                }
            }
            Err(code) => data.error_code = code.0,
        }
        match topics.last_mut().filter(|t| t.topic_id == topic_id) {
            Some(topic) => topic.partitions.push(data),
            None => topics.push(alter_partition_response::TopicData {
                topic_id,
                partitions: vec![data],
                ..Default::default()
            }),
        }
    }
    AlterPartitionResponse {
        topics,
        ..Default::default()
    }
}

/// The change `p` asks of partition `p.partition_index` of topic `topic_id` from `sender`,
/// or Kafka's error for it.
fn checked_isr_change(
    image: &MetadataImage,
    sender: i32,
    topic_id: Uuid,
    p: &PartitionData,
) -> Result<MetadataEvent, ErrorCode> {
    if image.topic_by_id(topic_id).is_none() {
        return Err(ErrorCode::UNKNOWN_TOPIC_ID);
    }
    let Some(current) = image.partition(topic_id, p.partition_index) else {
        return Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
    };
    if current.leader != sender {
        return Err(ErrorCode::INVALID_REQUEST);
    }
    if p.leader_epoch != current.leader_epoch {
        return Err(ErrorCode::FENCED_LEADER_EPOCH);
    }
    if p.partition_epoch != current.partition_epoch {
        return Err(ErrorCode::INVALID_UPDATE_VERSION);
    }
    let isr: Vec<i32> = p.new_isr_with_epochs.iter().map(|b| b.broker_id).collect();
    let unfenced = |id: &i32| image.brokers().get(id).is_some_and(|b| !b.fenced);
    let eligible = isr.iter().all(|r| current.replicas.contains(r) && unfenced(r));
    if !eligible || !isr.contains(&sender) {
        return Err(ErrorCode::INELIGIBLE_REPLICA);
    }
    Ok(MetadataEvent::IsrChanged {
        topic_id,
        partition: p.partition_index,
        isr,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::metadata::{PartitionMeta, TopicMeta};
    use crate::test_util::registered_broker;

    /// An image of brokers 1 to 3 and one topic whose partitions have `placed` (replicas,
    /// leader), all in sync.
    fn image(placed: &[(&[i32], i32)]) -> MetadataImage {
        let topic = TopicMeta {
            name: "t".into(),
            id: Uuid::from_u128(1),
            partitions: placed.len() as i32,
            configs: BTreeMap::new(),
            replication_factor: 3,
        };
        let partitions = placed
            .iter()
            .map(|(replicas, leader)| PartitionMeta {
                replicas: replicas.to_vec(),
                isr: replicas.to_vec(),
                leader: *leader,
                leader_epoch: 1,
                partition_epoch: 1,
            })
            .collect();
        let brokers = (1..=3).map(|b| (b, registered_broker(b, false))).collect();
        MetadataImage::restored(vec![(topic, partitions)], brokers, 0, BTreeMap::new(), 0)
    }

    #[test]
    fn only_brokers_leading_too_few_of_their_preferred_partitions_take_them_back() {
        // Broker 1 prefers 4 partitions and leads 3 (25 % not led); broker 2 prefers 10
        // and leads 9 (10 %: not over the default's 10).
        let mut placed: Vec<(&[i32], i32)> = vec![(&[1, 2, 3], 1), (&[1, 2, 3], 1), (&[1, 2, 3], 1), (&[1, 2, 3], 3)];
        placed.extend(std::iter::repeat_n((&[2, 3, 1][..], 2), 9));
        placed.push((&[2, 3, 1], 3));
        let image = image(&placed);
        assert_eq!(imbalanced(&image, 10), [(Uuid::from_u128(1), 3)]);
        assert_eq!(
            imbalanced(&image, 5),
            [(Uuid::from_u128(1), 3), (Uuid::from_u128(1), 13)]
        );
        assert_eq!(imbalanced(&image, 30), []);
    }
}
