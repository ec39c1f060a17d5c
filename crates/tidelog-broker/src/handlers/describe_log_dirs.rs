//! DescribeLogDirs (v1-4): each log directory with the partitions it holds and their sizes,
//! and (v4) the directory's filesystem capacity. On one node no replica lags: offset lag 0.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use tidelog_protocol::messages::describe_log_dirs_request::DescribeLogDirsRequest;
use tidelog_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResponse, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use tidelog_protocol::ErrorCode;
use tidelog_protocol::ResponseBody;

use crate::broker::Broker;
use crate::data_dir;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 1 to 4.
pub const VERSIONS: RangeInclusive<i16> = 1..=4;

pub async fn handle(ctx: &RequestContext, request: DescribeLogDirsRequest) -> Reply {
    if !ctx.authorize_cluster() {
        return Reply::Now(ResponseBody::DescribeLogDirs(DescribeLogDirsResponse {
            error_code: ErrorCode::CLUSTER_AUTHORIZATION_FAILED.0,
            ..Default::default()
        }));
    }
    Reply::Now(ResponseBody::DescribeLogDirs(respond(&ctx.broker, request)))
}

fn respond(broker: &Broker, request: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    // None asks for every partition.
    let wanted: Option<BTreeMap<String, Vec<i32>>> = request
        .topics
        .map(|topics| topics.into_iter().map(|t| (t.topic, t.partitions)).collect());
    let summaries = broker.partitions.summaries_by_dir();
    let results = summaries
        .into_iter()
        .map(|(dir, partitions)| {
            let mut topics: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
            for (tp, summary) in partitions {
                let asked = wanted
                    .as_ref()
                    .is_none_or(|w| w.get(tp.topic()).is_some_and(|p| p.contains(&tp.partition())));
                if asked {
                    topics
                        .entry(tp.topic().to_string())
                        .or_default()
                        .push(DescribeLogDirsPartition {
                            partition_index: tp.partition(),
                            partition_size: summary.size_bytes as i64,
                            ..Default::default()
                        });
                }
            }
            let (total_bytes, usable_bytes) =
                data_dir::capacity(&dir).map_or((-1, -1), |(total, usable)| (total as i64, usable as i64));
            DescribeLogDirsResult {
                log_dir: std::path::absolute(&dir).unwrap_or(dir).display().to_string(),
                topics: topics
                    .into_iter()
                    .map(|(name, partitions)| DescribeLogDirsTopic {
                        name,
                        partitions,
                        ..Default::default()
                    })
                    .collect(),
                total_bytes,
                usable_bytes,
                ..Default::default()
            }
        })
        .collect();
    DescribeLogDirsResponse {
        results,
        ..Default::default()
    }
}
