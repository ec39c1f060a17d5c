//! The machinery both sparse indexes share: fixed-size big-endian entries kept in memory
//! for binary search and appended to a file that holds exactly the entries.
//!
//! Kafka preallocates and memory-maps its index files; writing exactly the entries instead
//! keeps the files valid at every moment for Kafka's `DumpLogSegments` and lets a loader
//! detect a torn file from its length alone. The entries are read once, at open; the file
//! is written through the [`crate::file_cache`], so a sealed segment's index keeps no
//! descriptor open.

use crate::error::{IoContext, LogError, Result};
use crate::file_cache::{Access, CachedFile};
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// One fixed-size index entry.
pub trait IndexEntry: Copy {
    const SIZE: usize;
    fn encode(&self, out: &mut [u8]);
    fn decode(bytes: &[u8]) -> Self;
}

#[derive(Debug)]
pub struct IndexFile<E> {
    file: CachedFile,
    entries: Vec<E>,
    max_entries: usize,
}

impl<E: IndexEntry> IndexFile<E> {
    /// Loads the entries of `path`; a missing file has none, and is created by the first
    /// write.
    pub fn open(path: &Path, max_entries: usize) -> Result<Self> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).context("read index", path),
        };
        if bytes.len() % E::SIZE != 0 {
            let reason = format!(
                "{} bytes is not a whole number of {}-byte entries",
                bytes.len(),
                E::SIZE
            );
            return Err(LogError::corrupt(path, reason));
        }
        Ok(Self {
            file: CachedFile::new(path.to_path_buf(), Access::ReadWrite),
            entries: bytes.chunks_exact(E::SIZE).map(E::decode).collect(),
            max_entries,
        })
    }

    pub fn path(&self) -> PathBuf {
        self.file.path()
    }

    /// Follows a rename of the file.
    pub fn renamed(&self, path: PathBuf) {
        self.file.renamed(path);
    }

    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.max_entries
    }

    /// Appends an entry to the file and the memory copy. A full index takes no more
    /// entries: lookups stay correct, only the forward scans after them get longer.
    pub fn append(&mut self, entry: E) -> Result<()> {
        if self.is_full() {
            return Ok(());
        }
        let mut buf = [0u8; 16];
        let buf = &mut buf[..E::SIZE];
        entry.encode(buf);
        let position = (self.entries.len() * E::SIZE) as u64;
        self.file
            .with("append to index", |file| file.write_all_at(buf, position))?;
        self.entries.push(entry);
        Ok(())
    }

    /// Keeps the first `len` entries.
    pub fn truncate(&mut self, len: usize) -> Result<()> {
        if len < self.entries.len() {
            let len_bytes = (len * E::SIZE) as u64;
            self.file.with("truncate index", |file| file.set_len(len_bytes))?;
            self.entries.truncate(len);
        }
        Ok(())
    }

    pub fn sync(&self) -> Result<()> {
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    struct Pair(u32, u32);

    impl IndexEntry for Pair {
        const SIZE: usize = 8;
        fn encode(&self, out: &mut [u8]) {
            out[..4].copy_from_slice(&self.0.to_be_bytes());
            out[4..].copy_from_slice(&self.1.to_be_bytes());
        }
        fn decode(bytes: &[u8]) -> Self {
            Pair(
                u32::from_be_bytes(bytes[..4].try_into().unwrap()),
                u32::from_be_bytes(bytes[4..8].try_into().unwrap()),
            )
        }
    }

    #[test]
    fn file_holds_exactly_the_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        let mut index = IndexFile::<Pair>::open(&path, 3).unwrap();
        for i in 1..=4 {
            index.append(Pair(i, i * 10)).unwrap();
        }
        assert!(index.is_full());
        assert_eq!(index.entries(), [Pair(1, 10), Pair(2, 20), Pair(3, 30)]);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            [0, 0, 0, 1, 0, 0, 0, 10, 0, 0, 0, 2, 0, 0, 0, 20, 0, 0, 0, 3, 0, 0, 0, 30]
        );

        index.truncate(1).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 8);
        let reopened = IndexFile::<Pair>::open(&path, 3).unwrap();
        assert_eq!(reopened.entries(), [Pair(1, 10)]);
    }

    #[test]
    fn a_torn_entry_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        std::fs::write(&path, [0u8; 12]).unwrap();
        assert!(matches!(
            IndexFile::<Pair>::open(&path, 3),
            Err(LogError::Corrupt { .. })
        ));
    }
}
