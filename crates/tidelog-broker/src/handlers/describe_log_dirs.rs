//! DescribeLogDirs (v1-4): each log directory with the partitions it holds and their sizes,
//! and (v4) the directory's filesystem capacity. On one node no replica lags: offset lag 0.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use tidelog_protocol::messages::describe_log_dirs_request::DescribeLogDirsRequest;
use tidelog_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResponse, DescribeLogDirsResult, DescribeLogDirsTopic,
};

use crate::broker::Broker;

pub fn handle(broker: &Broker, request: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    // None asks for every partition.
    let wanted: Option<BTreeMap<String, Vec<i32>>> = request
        .topics
        .map(|topics| topics.into_iter().map(|t| (t.topic, t.partitions)).collect());
    let results = broker
        .partitions
        .sizes_by_dir()
        .into_iter()
        .map(|(dir, partitions)| {
            let mut topics: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
            for (tp, size) in partitions {
                let asked = wanted
                    .as_ref()
                    .is_none_or(|w| w.get(tp.topic()).is_some_and(|p| p.contains(&tp.partition())));
                if asked {
                    topics
                        .entry(tp.topic().to_string())
                        .or_default()
                        .push(DescribeLogDirsPartition {
                            partition_index: tp.partition(),
                            partition_size: size as i64,
                            ..Default::default()
                        });
                }
            }
            let (total_bytes, usable_bytes) = capacity(&dir).unwrap_or((-1, -1));
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

/// The total and available bytes of the filesystem holding `dir`.
fn capacity(dir: &Path) -> Option<(i64, i64)> {
    let path = CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs(3) writes only into `stats`, which lives for the call.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
        return None;
    }
    let block = stats.f_frsize as i64;
    Some((stats.f_blocks as i64 * block, stats.f_bavail as i64 * block))
}
