//! The metadata event log of Tidelog before issue 10, `tidelog-metadata.log`: read once, at
//! the first start of a newer Tidelog, to convert it into the KRaft metadata log. It is
//! kept beside it afterwards as `tidelog-metadata.log.converted`.
//!
//! Each entry is `[u32 length][u32 CRC-32C][JSON event]`, big-endian. A torn or corrupt tail
//! was never acknowledged (acknowledgement waited for its fsync): reading stops there.

use std::path::Path;

use tracing::{info, warn};

use super::image::{MetadataEvent, MetadataImage};
use super::store::StoreError;

/// The file name, at the root of the first log directory.
pub const LEGACY_LOG_FILE: &str = "tidelog-metadata.log";

/// What the file is renamed to once converted.
pub const CONVERTED_SUFFIX: &str = ".converted";

/// No event is anywhere near this big; a larger length means a corrupt entry.
const MAX_ENTRY_LEN: u32 = 16 * 1024 * 1024;

/// The image the legacy log at `path` builds, reading only.
pub fn read(path: &Path) -> Result<MetadataImage, StoreError> {
    let contents = std::fs::read(path).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let (events, valid_len) = parse_entries(&contents);
    if valid_len < contents.len() {
        warn!(path = %path.display(), kept = valid_len, dropped = contents.len() - valid_len,
            "the old metadata log has a torn or corrupt tail, never acknowledged: converting what precedes it");
    }
    let mut image = MetadataImage::default();
    for event in &events {
        image.apply(event);
    }
    info!(path = %path.display(), events = events.len(), "old metadata log read");
    Ok(image)
}

/// The events of every complete, intact entry and the length of that valid prefix.
fn parse_entries(contents: &[u8]) -> (Vec<MetadataEvent>, usize) {
    let mut events = Vec::new();
    let mut pos = 0;
    while let Some(header) = contents.get(pos..pos + 8) {
        let len = u32::from_be_bytes(header[..4].try_into().unwrap());
        let crc = u32::from_be_bytes(header[4..].try_into().unwrap());
        if len > MAX_ENTRY_LEN {
            break;
        }
        let Some(body) = contents.get(pos + 8..pos + 8 + len as usize) else {
            break;
        };
        if crc32c::crc32c(body) != crc {
            break;
        }
        let Ok(event) = serde_json::from_slice(body) else { break };
        events.push(event);
        pos += 8 + len as usize;
    }
    (events, pos)
}

/// Writes `events` as the legacy log did, for the conversion's tests.
#[cfg(test)]
pub fn write(path: &Path, events: &[MetadataEvent]) {
    let mut bytes = Vec::new();
    for event in events {
        let json = serde_json::to_vec(event).unwrap();
        bytes.extend_from_slice(&(json.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&crc32c::crc32c(&json).to_be_bytes());
        bytes.extend_from_slice(&json);
    }
    std::fs::write(path, bytes).unwrap();
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tidelog_protocol::Uuid;

    use super::*;
    use crate::metadata::TopicMeta;

    #[test]
    fn a_torn_tail_is_left_out_and_the_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LEGACY_LOG_FILE);
        let topic = |name: &str| {
            MetadataEvent::TopicCreated(TopicMeta {
                name: name.into(),
                id: Uuid::from_u128(9),
                partitions: 2,
                configs: BTreeMap::new(),
                replication_factor: 1,
            })
        };
        write(&path, &[topic("a"), topic("b")]);
        let full = std::fs::read(&path).unwrap();
        std::fs::write(&path, &full[..full.len() - 3]).unwrap();
        let image = read(&path).unwrap();
        assert!(image.topic("a").is_some() && image.topic("b").is_none());
        assert_eq!(std::fs::read(&path).unwrap().len(), full.len() - 3);
    }
}
