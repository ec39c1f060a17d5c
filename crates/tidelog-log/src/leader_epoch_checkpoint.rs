//! Kafka's `leader-epoch-checkpoint` in each partition directory (and in KRaft's
//! `__cluster_metadata-0`): the offset at which each leader epoch's records start, which a
//! replica reads to find where its log and the leader's diverge (KIP-101, KIP-279).
//!
//! The offset checkpoints' frame (version `0`, a count) with `epoch startOffset` lines,
//! oldest epoch first.

use crate::checkpoint::{format_entries, parse_entries};
use crate::error::Result;
use crate::small_file::{install_tmp_file, read_text_file, replace_file, replace_file_before_dir_sync, write_tmp_file};
use std::path::{Path, PathBuf};

pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";

/// A leader epoch and the offset of its first record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

#[derive(Debug, Clone)]
pub struct LeaderEpochCheckpointFile {
    path: PathBuf,
}

impl LeaderEpochCheckpointFile {
    /// The file of the partition directory `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(LEADER_EPOCH_CHECKPOINT),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entries in the file; none when it does not exist, as for a partition Kafka
    /// never led.
    pub fn read(&self) -> Result<Vec<EpochEntry>> {
        Ok(read_text_file(&self.path, parse)?.unwrap_or_default())
    }

    /// Replaces the file atomically with `entries`.
    pub fn write(&self, entries: &[EpochEntry]) -> Result<()> {
        replace_file(&self.path, text(entries).as_bytes())
    }

    /// [`LeaderEpochCheckpointFile::write`] without the directory fsync, for a caller that
    /// fsyncs the directory before anything depends on the new entries.
    pub fn write_before_dir_sync(&self, entries: &[EpochEntry]) -> Result<()> {
        replace_file_before_dir_sync(&self.path, text(entries).as_bytes())
    }

    /// `entries` in the temporary file, not fsynced: see [`crate::write_tmp_file`].
    pub fn write_tmp_unsynced(&self, entries: &[EpochEntry]) -> Result<()> {
        write_tmp_file(&self.path, text(entries).as_bytes())
    }

    /// The temporary file renamed into place: see [`crate::install_tmp_file`].
    pub fn install_tmp_unsynced(&self) -> Result<()> {
        install_tmp_file(&self.path)
    }
}

fn text(entries: &[EpochEntry]) -> String {
    format_entries(entries.iter().map(|e| format!("{} {}", e.epoch, e.start_offset)))
}

fn parse(text: &str) -> Result<Vec<EpochEntry>, String> {
    parse_entries(text, |fields| {
        let [epoch, start_offset] = fields[..] else {
            return Err("malformed entry".into());
        };
        Ok(EpochEntry {
            epoch: epoch.parse().map_err(|_| "malformed epoch")?,
            start_offset: start_offset.parse().map_err(|_| "malformed start offset")?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LogError;
    use std::fs;

    #[test]
    fn round_trips_in_kafkas_format() {
        let dir = tempfile::tempdir().unwrap();
        let file = LeaderEpochCheckpointFile::new(dir.path());
        assert_eq!(file.read().unwrap(), []);
        let entries = [
            EpochEntry {
                epoch: 0,
                start_offset: 0,
            },
            EpochEntry {
                epoch: 3,
                start_offset: 120,
            },
        ];
        file.write(&entries).unwrap();
        assert_eq!(fs::read_to_string(file.path()).unwrap(), "0\n2\n0 0\n3 120\n");
        assert_eq!(file.read().unwrap(), entries);
    }

    #[test]
    fn malformed_files_name_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let file = LeaderEpochCheckpointFile::new(dir.path());
        for text in [
            "1\n0\n",
            "0\n1\n",
            "0\n1\n0\n",
            "0\n1\n0 x\n",
            "0\n1\n0 0 0\n",
            "0\n0\n1 5\n",
        ] {
            fs::write(file.path(), text).unwrap();
            match file.read() {
                Err(LogError::Corrupt { path, .. }) => assert_eq!(path, file.path(), "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }
}
