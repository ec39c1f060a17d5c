//! The metadata event log: every change is appended and fsynced before it is applied, and
//! the image is rebuilt by replaying the file at start.
//!
//! Each entry is `[u32 length][u32 CRC-32C][JSON event]`, big-endian. Replay stops at the
//! first torn or corrupt entry and truncates the file there: that entry was never
//! acknowledged, because acknowledgement waits for the fsync.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock, RwLockReadGuard};

use thiserror::Error;
use tracing::{info, warn};

use super::image::{MetadataEvent, MetadataImage};

/// The file name, at the root of the first log directory.
pub const METADATA_LOG_FILE: &str = "tidelog-metadata.log";

/// No event is anywhere near this big; a larger length means a corrupt entry.
const MAX_ENTRY_LEN: u32 = 16 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("metadata log {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

pub struct MetadataStore {
    path: PathBuf,
    file: Mutex<File>,
    image: RwLock<MetadataImage>,
}

impl MetadataStore {
    /// Opens (or creates) the log in `dir` and replays it.
    pub fn open(dir: &Path) -> Result<MetadataStore, StoreError> {
        let path = dir.join(METADATA_LOG_FILE);
        let io_err = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_err)?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_err)?;
        let mut contents = Vec::new();
        file.read_to_end(&mut contents).map_err(io_err)?;
        let (events, valid_len) = parse_entries(&contents);
        if valid_len < contents.len() {
            warn!(path = %path.display(), kept = valid_len, dropped = contents.len() - valid_len,
                "metadata log has a torn or corrupt tail; truncating it");
            file.set_len(valid_len as u64).map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
        }
        let mut image = MetadataImage::default();
        for event in &events {
            image.apply(event);
        }
        info!(path = %path.display(), events = events.len(), "metadata replayed");
        Ok(MetadataStore {
            path,
            file: Mutex::new(file),
            image: RwLock::new(image),
        })
    }

    pub fn image(&self) -> RwLockReadGuard<'_, MetadataImage> {
        self.image.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `event` durable, then applies it. `check` runs against the current image
    /// under the write lock first, so validation and application are atomic.
    pub fn commit<E>(
        &self,
        check: impl FnOnce(&MetadataImage) -> Result<MetadataEvent, E>,
    ) -> Result<Result<MetadataEvent, E>, StoreError> {
        let mut image = self.image.write().unwrap_or_else(|e| e.into_inner());
        let event = match check(&image) {
            Ok(event) => event,
            Err(e) => return Ok(Err(e)),
        };
        let json = serde_json::to_vec(&event).expect("metadata events serialize");
        let mut entry = Vec::with_capacity(json.len() + 8);
        entry.extend_from_slice(&(json.len() as u32).to_be_bytes());
        entry.extend_from_slice(&crc32c::crc32c(&json).to_be_bytes());
        entry.extend_from_slice(&json);
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let io_err = |source| StoreError::Io {
            path: self.path.clone(),
            source,
        };
        file.write_all(&entry).map_err(io_err)?;
        file.sync_data().map_err(io_err)?;
        image.apply(&event);
        Ok(Ok(event))
    }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tidelog_protocol::Uuid;

    use super::*;
    use crate::metadata::TopicMeta;

    fn create(store: &MetadataStore, name: &str) {
        let topic = TopicMeta {
            name: name.into(),
            id: Uuid::from_u128(9),
            partitions: 2,
            configs: BTreeMap::new(),
        };
        store
            .commit::<()>(|_| Ok(MetadataEvent::TopicCreated(topic)))
            .unwrap()
            .unwrap();
    }

    #[test]
    fn survives_reopen_and_truncates_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = MetadataStore::open(dir.path()).unwrap();
            create(&store, "a");
            create(&store, "b");
        }
        let path = dir.path().join(METADATA_LOG_FILE);
        let full = std::fs::metadata(&path).unwrap().len();
        // Tear the last entry: every cut inside it loses only that entry.
        for cut in [full - 1, full - 10] {
            let file = OpenOptions::new().write(true).open(&path).unwrap();
            file.set_len(cut).unwrap();
            let store = MetadataStore::open(dir.path()).unwrap();
            assert!(store.image().topic("a").is_some());
            assert!(store.image().topic("b").is_none());
            create(&store, "b");
        }
        let store = MetadataStore::open(dir.path()).unwrap();
        assert_eq!(store.image().topics().count(), 2);
    }

    #[test]
    fn a_refused_check_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataStore::open(dir.path()).unwrap();
        assert_eq!(store.commit(|_| Err("no")).unwrap(), Err("no"));
        assert_eq!(std::fs::metadata(dir.path().join(METADATA_LOG_FILE)).unwrap().len(), 0);
    }
}
