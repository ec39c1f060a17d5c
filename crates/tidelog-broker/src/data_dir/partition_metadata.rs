//! `partition.metadata` in each partition directory: the id of the partition's topic, so a
//! directory a deleted topic left behind is never taken for a new topic of the same name
//! (KIP-516).
//!
//! Kafka's text, without a final newline: `version: 0\ntopic_id: <base64url id>`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tidelog_log::{
    install_tmp_file, read_text_file, replace_file, replace_file_before_dir_sync, sync_log_dirs, write_tmp_file,
    LogError,
};
use tidelog_protocol::Uuid;

use crate::ids::{uuid_base64, uuid_from_base64};

pub const PARTITION_METADATA: &str = "partition.metadata";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub topic_id: Uuid,
}

impl PartitionMetadata {
    /// The file in the partition directory `dir`; `None` when there is none.
    pub fn read(dir: &Path) -> Result<Option<PartitionMetadata>, LogError> {
        read_text_file(&dir.join(PARTITION_METADATA), parse)
    }

    /// Replaces the file in `dir` atomically.
    pub fn write(&self, dir: &Path) -> Result<(), LogError> {
        replace_file(&dir.join(PARTITION_METADATA), self.text().as_bytes())
    }

    /// [`PartitionMetadata::write`] without the fsync of `dir`, which the caller does next.
    pub fn write_before_dir_sync(&self, dir: &Path) -> Result<(), LogError> {
        replace_file_before_dir_sync(&dir.join(PARTITION_METADATA), self.text().as_bytes())
    }

    /// Writes the file of each partition directory of `files` (a shutdown's), each replaced
    /// atomically as [`PartitionMetadata::write`] replaces one, but with two syncfs(2) of the
    /// log dirs' filesystems for all of them (after the `.tmp` files, after the renames)
    /// instead of two fsyncs each: thousands of partitions stop in a moment.
    pub fn write_all(files: &[(PathBuf, PartitionMetadata)]) -> Result<(), LogError> {
        let log_dirs: BTreeSet<PathBuf> = files
            .iter()
            .filter_map(|(dir, _)| dir.parent())
            .map(Path::to_path_buf)
            .collect();
        for (dir, metadata) in files {
            metadata.write_unsynced(dir)?;
        }
        sync_log_dirs(&log_dirs)?;
        for (dir, _) in files {
            PartitionMetadata::install_unsynced(dir)?;
        }
        sync_log_dirs(&log_dirs)
    }

    /// The first half of a replacement made durable by the caller's syncs of the file
    /// system (see [`PartitionMetadata::write_all`]): the new content, in a temporary file.
    pub fn write_unsynced(&self, dir: &Path) -> Result<(), LogError> {
        write_tmp_file(&dir.join(PARTITION_METADATA), self.text().as_bytes())
    }

    /// The second half, once that content is durable: the temporary file renamed over
    /// the file.
    pub fn install_unsynced(dir: &Path) -> Result<(), LogError> {
        install_tmp_file(&dir.join(PARTITION_METADATA))
    }

    fn text(&self) -> String {
        format!("version: 0\ntopic_id: {}", uuid_base64(self.topic_id))
    }
}

fn parse(text: &str) -> Result<PartitionMetadata, String> {
    let fields: Vec<_> = text.lines().map(|line| line.split_once(':')).collect();
    let [Some(("version", version)), Some(("topic_id", id))] = fields[..] else {
        return Err("expected a version line and a topic_id line".into());
    };
    if version.trim() != "0" {
        return Err(format!("unsupported version {version:?}"));
    }
    match uuid_from_base64(id.trim()) {
        Some(topic_id) if !topic_id.is_nil() => Ok(PartitionMetadata { topic_id }),
        _ => Err(format!("malformed topic id {id:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::assert_each_corrupt;

    #[test]
    fn round_trips_in_kafkas_format() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(PartitionMetadata::read(dir.path()).unwrap(), None);
        let metadata = PartitionMetadata {
            topic_id: Uuid::from_u128(0x8987ba02fc9f4562b122c220f0c3bfda),
        };
        metadata.write(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(PARTITION_METADATA)).unwrap();
        assert_eq!(text, "version: 0\ntopic_id: iYe6AvyfRWKxIsIg8MO_2g");
        assert_eq!(PartitionMetadata::read(dir.path()).unwrap(), Some(metadata));
    }

    #[test]
    fn many_are_written_at_once_each_as_one_is() {
        let log_dir = tempfile::tempdir().unwrap();
        let files: Vec<_> = (0..3u128)
            .map(|i| {
                let dir = log_dir.path().join(format!("t-{i}"));
                std::fs::create_dir(&dir).unwrap();
                (
                    dir,
                    PartitionMetadata {
                        topic_id: Uuid::from_u128(i + 1),
                    },
                )
            })
            .collect();
        PartitionMetadata::write_all(&files).unwrap();
        for (dir, metadata) in &files {
            assert_eq!(PartitionMetadata::read(dir).unwrap(), Some(*metadata));
            let names: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, [PARTITION_METADATA], "no .tmp left");
        }
    }

    #[test]
    fn malformed_files_name_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let texts = [
            "",
            "version: 0\n",
            "version: 1\ntopic_id: iYe6AvyfRWKxIsIg8MO_2g",
            "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAA",
            "version: 0\ntopic_id: nope",
            "version: 0\ntopic_id: iYe6AvyfRWKxIsIg8MO_2g\nmore: 1",
        ];
        assert_each_corrupt(&dir.path().join(PARTITION_METADATA), &texts, || {
            PartitionMetadata::read(dir.path())
        });
    }
}
