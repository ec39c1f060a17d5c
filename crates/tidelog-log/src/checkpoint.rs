//! Kafka's offset checkpoint files (`recovery-point-offset-checkpoint`,
//! `log-start-offset-checkpoint`, `cleaner-offset-checkpoint`): a per-log-dir map from partitions to offsets that must
//! survive restarts.
//!
//! Text: a version line `0`, a count line, then one `topic partition offset` line per
//! partition. Kafka's `leader-epoch-checkpoint` has the same frame with other lines
//! ([`parse_entries`], [`format_entries`]). Replaced whole ([`replace_file`]).

use crate::error::Result;
use crate::layout::TopicPartition;
use crate::small_file::{read_text_file, replace_file};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
pub const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
/// Per compacted partition, where the log cleaner's next dirty section starts.
pub const CLEANER_OFFSET_CHECKPOINT: &str = "cleaner-offset-checkpoint";
/// Kafka's high watermarks; written at shutdown for Kafka, never read (see `LogManager::shutdown`).
pub const REPLICATION_OFFSET_CHECKPOINT: &str = "replication-offset-checkpoint";
const VERSION: &str = "0";

pub type Offsets = BTreeMap<TopicPartition, i64>;

#[derive(Debug, Clone)]
pub struct CheckpointFile {
    path: PathBuf,
}

impl CheckpointFile {
    pub fn new(dir: &Path, name: &str) -> Self {
        Self { path: dir.join(name) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The offsets in the file; none when the file does not exist yet.
    pub fn read(&self) -> Result<Offsets> {
        Ok(read_text_file(&self.path, parse)?.unwrap_or_default())
    }

    /// Replaces the file atomically with `offsets`.
    pub fn write(&self, offsets: &Offsets) -> Result<()> {
        let lines = offsets
            .iter()
            .map(|(tp, offset)| format!("{} {} {offset}", tp.topic(), tp.partition()));
        replace_file(&self.path, format_entries(lines).as_bytes())
    }
}

/// The text of a checkpoint holding `lines`, one an entry.
pub(crate) fn format_entries(lines: impl ExactSizeIterator<Item = String>) -> String {
    let mut text = format!("{VERSION}\n{}\n", lines.len());
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// The entries of a checkpoint's text, each line's whitespace-separated fields read by
/// `parse_entry`. Nothing but blank lines may follow the counted entries. An empty file, or
/// one of a version line only, holds none, as Kafka's `CheckpointFile` reads them: Kafka
/// creates its checkpoint files empty (`cleaner-offset-checkpoint` stays so until a first
/// cleaning).
pub(crate) fn parse_entries<T>(
    text: &str,
    parse_entry: impl Fn(&[&str]) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let mut lines = text.lines();
    match lines.next() {
        None => return Ok(Vec::new()),
        Some(VERSION) => {}
        other => return Err(format!("unsupported version line {other:?}")),
    }
    // A version line alone holds no entry, as Kafka's `CheckpointReadBuffer` reads it.
    let Some(count) = lines.next() else {
        return Ok(Vec::new());
    };
    let count: usize = count.trim().parse().map_err(|_| "malformed entry count")?;
    let entries = lines
        .by_ref()
        .take(count)
        .map(|line| parse_entry(&line.split_whitespace().collect::<Vec<_>>()).map_err(|e| format!("{e} in {line:?}")))
        .collect::<Result<Vec<T>, String>>()?;
    if entries.len() != count || lines.any(|line| !line.trim().is_empty()) {
        return Err(format!("expected {count} entries"));
    }
    Ok(entries)
}

fn parse(text: &str) -> Result<Offsets, String> {
    let entries = parse_entries(text, |fields| {
        let [topic, partition, offset] = fields[..] else {
            return Err("malformed entry".into());
        };
        let partition = partition.parse().map_err(|_| "malformed partition")?;
        let offset = offset.parse().map_err(|_| "malformed offset")?;
        let tp = TopicPartition::new(topic, partition).map_err(|e| e.to_string())?;
        Ok((tp, offset))
    })?;
    let count = entries.len();
    let offsets = Offsets::from_iter(entries);
    if offsets.len() != count {
        return Err("a partition appears twice".into());
    }
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LogError;
    use std::fs;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition::new(topic, partition).unwrap()
    }

    #[test]
    fn an_empty_file_as_kafka_creates_it_holds_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        let file = CheckpointFile::new(dir.path(), RECOVERY_POINT_CHECKPOINT);
        fs::write(file.path(), "").unwrap();
        assert!(file.read().unwrap().is_empty());
        fs::write(file.path(), "0\n").unwrap();
        assert!(file.read().unwrap().is_empty(), "a version line alone");
        fs::write(file.path(), "\n").unwrap();
        assert!(file.read().is_err(), "a blank version line is not an empty file");
    }

    #[test]
    fn round_trips_in_kafkas_format() {
        let dir = tempfile::tempdir().unwrap();
        let file = CheckpointFile::new(dir.path(), RECOVERY_POINT_CHECKPOINT);
        assert_eq!(file.read().unwrap(), Offsets::new());

        let offsets = Offsets::from([(tp("orders", 0), 1234), (tp("orders", 1), 0), (tp("my-topic", 7), 99)]);
        file.write(&offsets).unwrap();
        let text = fs::read_to_string(dir.path().join(RECOVERY_POINT_CHECKPOINT)).unwrap();
        assert_eq!(text, "0\n3\nmy-topic 7 99\norders 0 1234\norders 1 0\n");
        assert_eq!(file.read().unwrap(), offsets);

        // Rewriting replaces the content and leaves no temporary file behind.
        file.write(&Offsets::from([(tp("orders", 0), 2000)])).unwrap();
        assert_eq!(file.read().unwrap(), Offsets::from([(tp("orders", 0), 2000)]));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [RECOVERY_POINT_CHECKPOINT]);
    }

    #[test]
    fn a_stale_temporary_file_does_not_disturb_the_checkpoint() {
        // A crash between writing the temporary file and renaming it leaves the old file intact.
        let dir = tempfile::tempdir().unwrap();
        let file = CheckpointFile::new(dir.path(), LOG_START_OFFSET_CHECKPOINT);
        let offsets = Offsets::from([(tp("t", 0), 5)]);
        file.write(&offsets).unwrap();
        fs::write(
            dir.path().join(format!("{LOG_START_OFFSET_CHECKPOINT}.tmp")),
            "0\n1\nt 0 9",
        )
        .unwrap();
        assert_eq!(file.read().unwrap(), offsets);
        file.write(&Offsets::from([(tp("t", 0), 6)])).unwrap();
        assert_eq!(file.read().unwrap(), Offsets::from([(tp("t", 0), 6)]));
    }

    #[test]
    fn malformed_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = CheckpointFile::new(dir.path(), RECOVERY_POINT_CHECKPOINT);
        for text in [
            "1\n0\n",
            "0\n2\nt 0 1\n",
            "0\n1\nt 0\n",
            "0\n1\nt x 1\n",
            "0\n1\n.. 0 1\n",
            "0\n0\nt 0 1\n",
        ] {
            fs::write(file.path(), text).unwrap();
            assert!(matches!(file.read(), Err(LogError::Corrupt { .. })), "{text:?}");
        }
    }
}
