//! OffsetFetch: a group's committed offsets, for the partitions asked or all of them;
//! -1 where none was committed. One group per request before v8, several from v8.
//! `require_stable` needs no wait: only durable commits are ever visible, and there are no
//! transactional offsets yet.

use tidelog_protocol::messages::offset_fetch_request::OffsetFetchRequest;
use tidelog_protocol::messages::offset_fetch_response::{
    OffsetFetchResponse, OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};

use crate::broker::Broker;
use crate::coordinator::group::state::Committed;

/// One partition's answer: its committed offset, -1 if none.
type Fetched = (i32, Committed);

pub fn handle(broker: &Broker, request: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    if version < 8 {
        let wanted = request
            .topics
            .map(|ts| ts.into_iter().map(|t| (t.name, t.partition_indexes)).collect());
        let topics = fetch(broker, &request.group_id, wanted)
            .into_iter()
            .map(|(name, partitions)| OffsetFetchResponseTopic {
                name,
                partitions: partitions
                    .into_iter()
                    .map(|(partition_index, c)| OffsetFetchResponsePartition {
                        partition_index,
                        committed_offset: c.offset,
                        committed_leader_epoch: c.leader_epoch,
                        metadata: Some(c.metadata),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        return OffsetFetchResponse {
            topics,
            ..Default::default()
        };
    }
    let groups = request
        .groups
        .into_iter()
        .map(|g| {
            let wanted = g
                .topics
                .map(|ts| ts.into_iter().map(|t| (t.name, t.partition_indexes)).collect());
            let topics = fetch(broker, &g.group_id, wanted)
                .into_iter()
                .map(|(name, partitions)| OffsetFetchResponseTopics {
                    name,
                    partitions: partitions
                        .into_iter()
                        .map(|(partition_index, c)| OffsetFetchResponsePartitions {
                            partition_index,
                            committed_offset: c.offset,
                            committed_leader_epoch: c.leader_epoch,
                            metadata: Some(c.metadata),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect();
            OffsetFetchResponseGroup {
                group_id: g.group_id,
                topics,
                ..Default::default()
            }
        })
        .collect();
    OffsetFetchResponse {
        groups,
        ..Default::default()
    }
}

/// Kafka's answer for a partition without a commit.
fn none_committed() -> Committed {
    Committed {
        offset: -1,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp: -1,
    }
}

/// The committed offsets of the `wanted` partitions by topic, or of all when `None`.
fn fetch(broker: &Broker, group_id: &str, wanted: Option<Vec<(String, Vec<i32>)>>) -> Vec<(String, Vec<Fetched>)> {
    let offsets = broker
        .groups
        .with_existing(group_id, |g| g.offsets.clone())
        .unwrap_or_default();
    let Some(wanted) = wanted else {
        let mut topics: Vec<(String, Vec<Fetched>)> = Vec::new();
        for ((topic, partition), committed) in offsets {
            if topics.last().is_none_or(|(t, _)| *t != topic) {
                topics.push((topic.clone(), Vec::new()));
            }
            topics.last_mut().expect("pushed above").1.push((partition, committed));
        }
        return topics;
    };
    wanted
        .into_iter()
        .map(|(name, partitions)| {
            let fetched = partitions
                .into_iter()
                .map(|p| {
                    (
                        p,
                        offsets.get(&(name.clone(), p)).cloned().unwrap_or_else(none_committed),
                    )
                })
                .collect();
            (name, fetched)
        })
        .collect()
}
