//! Names on disk, as Kafka lays them out: `<log.dir>/<topic>-<partition>/` holding
//! `<20-digit base offset>.log`, `.index`, `.timeindex` and `.txnindex` per segment.

use crate::error::{IoContext, LogError, Result};
use std::fmt;
use std::path::{Path, PathBuf};

pub const LOG_SUFFIX: &str = "log";
pub const OFFSET_INDEX_SUFFIX: &str = "index";
pub const TIME_INDEX_SUFFIX: &str = "timeindex";
pub const TXN_INDEX_SUFFIX: &str = "txnindex";
/// A partition's producer state at an offset (Kafka's `<offset>.snapshot`).
pub const PRODUCER_SNAPSHOT_SUFFIX: &str = "snapshot";
/// Added to the files of a segment the cleaner is writing (Kafka's `.cleaned`).
pub const CLEANED_SUFFIX: &str = "cleaned";
/// Added to the files of a cleaned segment committed to replace the ones it was made of.
pub const SWAP_SUFFIX: &str = "swap";
/// Added to the files of a segment deleted from its log, which are removed
/// `file.delete.delay.ms` later (Kafka's `.deleted`).
pub const DELETED_SUFFIX: &str = "deleted";

/// A topic partition whose name is safe to use as a directory inside a log dir.
///
/// The broker enforces Kafka's topic naming rules; this type only refuses what would let a
/// name escape the log dir or be unparseable, so storage stays safe whatever the caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    topic: String,
    partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Result<Self> {
        let topic = topic.into();
        let escapes = topic.is_empty() || topic == "." || topic == ".." || topic.contains(['/', '\0']);
        if escapes || partition < 0 {
            return Err(LogError::InvalidTopicPartition(format!("{topic}-{partition}")));
        }
        Ok(Self { topic, partition })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// `<topic>-<partition>`, the partition's directory name.
    pub fn dir_name(&self) -> String {
        self.to_string()
    }

    /// Reads a directory name back; `None` for anything that is not a partition dir
    /// (Kafka's `-delete` and `-future` dirs, stray files).
    pub fn from_dir_name(name: &str) -> Option<Self> {
        let (topic, partition) = name.rsplit_once('-')?;
        let partition: i32 = partition.parse().ok()?;
        // Refuse "+1" and "01": only the canonical form maps back to the same name.
        if partition.to_string() != name[topic.len() + 1..] {
            return None;
        }
        Self::new(topic, partition).ok()
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// `<dir>/<20-digit base offset>.<suffix>`.
pub fn segment_file(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{suffix}"))
}

/// `<dir>/<20-digit base offset>.<suffix>.<extra>`: the cleaner's `.cleaned` and `.swap`
/// files.
pub fn temp_segment_file(dir: &Path, base_offset: i64, suffix: &str, extra: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{suffix}.{extra}"))
}

/// The base offset of a segment's `.log` file name, `None` for any other file.
pub fn parse_log_file_name(name: &str) -> Option<i64> {
    parse_offset_file_name(name, LOG_SUFFIX)
}

/// The offset of a `<20-digit offset>.<suffix>` file name, `None` for any other file.
pub fn parse_offset_file_name(name: &str, suffix: &str) -> Option<i64> {
    let digits = name.strip_suffix(suffix)?.strip_suffix('.')?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The names of the files in the partition directory `dir`, which its open lists once for
/// its cleanings to complete, its segments and its producer snapshots.
pub(crate) fn file_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).context("list", dir)? {
        if let Ok(name) = entry.context("list", dir)?.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names_round_trip() {
        for (topic, partition) in [
            ("orders", 0),
            ("my-topic", 12),
            ("__consumer_offsets", 49),
            ("a.b_c", 7),
        ] {
            let tp = TopicPartition::new(topic, partition).unwrap();
            assert_eq!(tp.dir_name(), format!("{topic}-{partition}"));
            assert_eq!(TopicPartition::from_dir_name(&tp.dir_name()), Some(tp));
        }
    }

    #[test]
    fn names_that_escape_the_dir_are_refused() {
        for topic in ["", ".", "..", "a/b", "../etc", "/abs", "nul\0"] {
            assert!(
                matches!(TopicPartition::new(topic, 0), Err(LogError::InvalidTopicPartition(_))),
                "{topic:?}"
            );
        }
        assert!(TopicPartition::new("ok", -1).is_err());
        // Names that only look like partition dirs.
        for name in [
            "..-0",
            "topic",
            "topic-",
            "topic-x",
            "topic-+1",
            "topic-01",
            "t-0.abc-delete",
            "-3",
        ] {
            assert_eq!(TopicPartition::from_dir_name(name), None, "{name}");
        }
    }

    #[test]
    fn segment_file_names_are_kafkas() {
        let path = segment_file(Path::new("/data/t-0"), 42, LOG_SUFFIX);
        assert_eq!(path, Path::new("/data/t-0/00000000000000000042.log"));
        assert_eq!(parse_log_file_name("00000000000000000042.log"), Some(42));
        assert_eq!(parse_log_file_name("00000000000000000042.index"), None);
        assert_eq!(parse_log_file_name("42.log"), None);
        assert_eq!(parse_log_file_name("0000000000000000004x.log"), None);
        assert_eq!(parse_log_file_name("00000000000000000042.log.deleted"), None);
    }
}
