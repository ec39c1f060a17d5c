//! Kafka's offset checkpoint files (`recovery-point-offset-checkpoint`,
//! `log-start-offset-checkpoint`): a per-log-dir map from partitions to offsets that must
//! survive restarts.
//!
//! Text: a version line `0`, a count line, then one `topic partition offset` line per
//! partition. Written to a temporary file, fsynced, renamed over the old one and the
//! directory fsynced, so a crash leaves either the old or the new file, never a mix.

use crate::error::{IoContext, LogError, Result};
use crate::layout::TopicPartition;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
pub const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
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
        let text = match fs::read_to_string(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Offsets::new()),
            read => read.context("read checkpoint", &self.path)?,
        };
        parse(&text).map_err(|reason| LogError::corrupt(&self.path, reason))
    }

    /// Replaces the file atomically with `offsets`.
    pub fn write(&self, offsets: &Offsets) -> Result<()> {
        let mut text = format!("{VERSION}\n{}\n", offsets.len());
        for (tp, offset) in offsets {
            text.push_str(&format!("{} {} {offset}\n", tp.topic(), tp.partition()));
        }
        let tmp = self.path.with_extension("tmp");
        let mut file = File::create(&tmp).context("create checkpoint", &tmp)?;
        file.write_all(text.as_bytes()).context("write checkpoint", &tmp)?;
        file.sync_all().context("fsync checkpoint", &tmp)?;
        fs::rename(&tmp, &self.path).context("rename checkpoint over", &self.path)?;
        sync_dir(self.path.parent().expect("a checkpoint lives in a log dir"))
    }
}

/// Makes entries created, renamed or removed in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .context("fsync directory", dir)
}

fn parse(text: &str) -> Result<Offsets, String> {
    let mut lines = text.lines();
    match lines.next() {
        Some(VERSION) => {}
        other => return Err(format!("unsupported version line {other:?}")),
    }
    let count: usize = lines
        .next()
        .and_then(|line| line.trim().parse().ok())
        .ok_or("missing or malformed entry count")?;
    let mut offsets = Offsets::new();
    for line in lines.by_ref().take(count) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [topic, partition, offset] = fields[..] else {
            return Err(format!("malformed entry {line:?}"));
        };
        let partition = partition
            .parse()
            .map_err(|_| format!("malformed partition in {line:?}"))?;
        let offset = offset.parse().map_err(|_| format!("malformed offset in {line:?}"))?;
        let tp = TopicPartition::new(topic, partition).map_err(|e| e.to_string())?;
        offsets.insert(tp, offset);
    }
    if offsets.len() != count || lines.any(|line| !line.trim().is_empty()) {
        return Err(format!("expected {count} entries"));
    }
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition::new(topic, partition).unwrap()
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
            "",
            "1\n0\n",
            "0\n",
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
