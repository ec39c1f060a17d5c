//! OffsetFetch: a group's committed offsets, for the partitions asked or all of them;
//! -1 where none was committed. One group per request before v8, several from v8.
//! With `require_stable` (read_committed consumers), a partition whose offset an open
//! transaction has committed answers UNSTABLE_OFFSET_COMMIT, which the client retries
//! until the transaction ends; without it, the last offset committed outside it.

use std::ops::RangeInclusive;
use tidelog_protocol::messages::offset_fetch_request::OffsetFetchRequest;
use tidelog_protocol::messages::offset_fetch_response::{
    OffsetFetchResponse, OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};

use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::authorizer::ResourceType;
use crate::coordinator::group::state::Committed;
use crate::grouping::by_topic;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 1 to 9.
pub const VERSIONS: RangeInclusive<i16> = 1..=9;

/// One partition's answer: its committed offset (-1 if none) and its error.
type Fetched = (i32, Committed, ErrorCode);

/// The fetched offsets by topic in the response types of `$topic` and `$partition`:
/// those before v8 and from v8 are different generated types with the same fields, which
/// only a macro can fill alike.
macro_rules! fetch_answer {
    ($fetched:expr, $topic:ident, $partition:ident) => {
        $fetched
            .into_iter()
            .map(|(name, partitions)| $topic {
                name,
                partitions: partitions
                    .into_iter()
                    .map(|(partition_index, c, error): Fetched| $partition {
                        partition_index,
                        committed_offset: c.offset,
                        committed_leader_epoch: c.leader_epoch,
                        metadata: Some(c.metadata),
                        error_code: error.0,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect()
    };
}

pub async fn handle(ctx: &RequestContext, request: OffsetFetchRequest) -> Reply {
    Reply::Now(ResponseBody::OffsetFetch(respond(ctx, request)))
}

pub(crate) fn respond(ctx: &RequestContext, request: OffsetFetchRequest) -> OffsetFetchResponse {
    let version = ctx.api_version;
    let denied = |group_id: &str| match ctx.authorize(ResourceType::Group, group_id) {
        true => 0,
        false => ErrorCode::GROUP_AUTHORIZATION_FAILED.0,
    };
    if version < 8 {
        let error_code = denied(&request.group_id);
        if error_code != 0 {
            return OffsetFetchResponse {
                error_code,
                ..Default::default()
            };
        }
        let wanted = request
            .topics
            .map(|ts| ts.into_iter().map(|t| (t.name, t.partition_indexes)).collect());
        let fetched = fetch(ctx, &request.group_id, wanted, request.require_stable);
        return OffsetFetchResponse {
            topics: fetch_answer!(fetched, OffsetFetchResponseTopic, OffsetFetchResponsePartition),
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
            let error_code = denied(&g.group_id);
            if error_code != 0 {
                return OffsetFetchResponseGroup {
                    group_id: g.group_id,
                    error_code,
                    ..Default::default()
                };
            }
            let fetched = fetch(ctx, &g.group_id, wanted, request.require_stable);
            OffsetFetchResponseGroup {
                group_id: g.group_id,
                topics: fetch_answer!(fetched, OffsetFetchResponseTopics, OffsetFetchResponsePartitions),
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

/// The committed offsets of the `wanted` partitions by topic, or of all when `None`: of
/// the topics the principal may describe (the others are left out, or refused
/// TOPIC_AUTHORIZATION_FAILED when named).
fn fetch(
    ctx: &RequestContext,
    group_id: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Vec<(String, Vec<Fetched>)> {
    let broker = &ctx.broker;
    let offsets = broker
        .groups
        .with_existing(group_id, |g| g.offsets.clone())
        .unwrap_or_default();
    let answer = |topic: &str, partition: i32, committed: Option<Committed>| match require_stable
        && broker.groups.has_pending_txn_offset(group_id, topic, partition)
    {
        true => (partition, none_committed(), ErrorCode::UNSTABLE_OFFSET_COMMIT),
        false => (partition, committed.unwrap_or_else(none_committed), ErrorCode::NONE),
    };
    let Some(wanted) = wanted else {
        let offsets = offsets
            .into_iter()
            .filter(|((topic, _), _)| ctx.authorize(ResourceType::Topic, topic));
        return by_topic(offsets.map(|((topic, partition), committed)| {
            let fetched = answer(&topic, partition, Some(committed));
            (topic, fetched)
        }));
    };
    wanted
        .into_iter()
        .map(|(name, partitions)| {
            if !ctx.authorize(ResourceType::Topic, &name) {
                let refused = (none_committed(), ErrorCode::TOPIC_AUTHORIZATION_FAILED);
                let fetched = partitions
                    .into_iter()
                    .map(|p| (p, refused.0.clone(), refused.1))
                    .collect();
                return (name, fetched);
            }
            let fetched = partitions
                .into_iter()
                .map(|p| answer(&name, p, offsets.get(&(name.clone(), p)).cloned()))
                .collect();
            (name, fetched)
        })
        .collect()
}
