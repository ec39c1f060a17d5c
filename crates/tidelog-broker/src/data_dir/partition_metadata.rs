//! `partition.metadata` in each partition directory: the id of the partition's topic, so a
//! directory a deleted topic left behind is never taken for a new topic of the same name
//! (KIP-516).
//!
//! Kafka's text, without a final newline: `version: 0\ntopic_id: <base64url id>`.

use std::path::Path;

use tidelog_log::{read_text_file, replace_file, LogError};
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
        let text = format!("version: 0\ntopic_id: {}", uuid_base64(self.topic_id));
        replace_file(&dir.join(PARTITION_METADATA), text.as_bytes())
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
