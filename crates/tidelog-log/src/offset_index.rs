//! Kafka's `.index`: a sparse map from offsets to file positions in the segment's `.log`.
//!
//! Each entry is (offset relative to the segment base as `i32`, file position as `i32`),
//! big-endian. As in Kafka, the offset of an entry is the *last* offset of the batch that
//! starts at its position (Kafka's `DumpLogSegments` checks exactly that), and an entry is
//! written every `index.interval.bytes` of log, so a lookup gives a position from which a
//! short forward scan of batch headers reaches any offset.

use crate::error::Result;
use crate::index_file::{IndexEntry, IndexFile};
use std::path::Path;

pub const OFFSET_ENTRY_SIZE: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    relative_offset: i32,
    position: i32,
}

impl IndexEntry for OffsetEntry {
    const SIZE: usize = OFFSET_ENTRY_SIZE;

    fn encode(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&self.relative_offset.to_be_bytes());
        out[4..8].copy_from_slice(&self.position.to_be_bytes());
    }

    fn decode(bytes: &[u8]) -> Self {
        Self {
            relative_offset: i32::from_be_bytes(bytes[..4].try_into().expect("4 bytes")),
            position: i32::from_be_bytes(bytes[4..8].try_into().expect("4 bytes")),
        }
    }
}

/// An absolute offset and the file position of a batch at or before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPosition {
    pub offset: i64,
    pub position: u64,
}

#[derive(Debug)]
pub struct OffsetIndex {
    base_offset: i64,
    file: IndexFile<OffsetEntry>,
}

impl OffsetIndex {
    pub fn open(path: &Path, base_offset: i64, max_entries: usize) -> Result<Self> {
        Ok(Self {
            base_offset,
            file: IndexFile::open(path, max_entries)?,
        })
    }

    /// Follows a rename of the file.
    pub(crate) fn renamed(&self, path: std::path::PathBuf) {
        self.file.renamed(path);
    }

    /// Records that the batch starting at `position` ends at `last_offset`. The segment
    /// guarantees both fit in an `i32` (it rolls before they would not).
    pub fn append(&mut self, last_offset: i64, position: u64) -> Result<()> {
        self.file.append(OffsetEntry {
            relative_offset: (last_offset - self.base_offset) as i32,
            position: position as i32,
        })
    }

    /// The greatest entry whose offset is at most `target`, or the segment start: where a
    /// forward scan for `target` begins.
    pub fn lookup(&self, target: i64) -> OffsetPosition {
        let entries = self.file.entries();
        let after = entries.partition_point(|e| self.absolute(e) <= target);
        self.position_of(after.checked_sub(1).map(|i| entries[i]))
    }

    /// The greatest entry whose position is at most `position`, or the segment start:
    /// entries increase in position as in offset, so the index finds batches by position
    /// too (where a read of so many bytes ends).
    pub fn lookup_position(&self, position: u64) -> OffsetPosition {
        let entries = self.file.entries();
        let after = entries.partition_point(|e| e.position as u64 <= position);
        self.position_of(after.checked_sub(1).map(|i| entries[i]))
    }

    /// The first `max` entries, for inspection (the web console's segment inspector).
    pub fn entries(&self, max: usize) -> Vec<OffsetPosition> {
        self.file
            .entries()
            .iter()
            .take(max)
            .map(|&e| self.position_of(Some(e)))
            .collect()
    }

    /// The last entry, or the segment start: where scanning for the end of the log begins.
    pub fn last_entry(&self) -> OffsetPosition {
        self.position_of(self.file.entries().last().copied())
    }

    /// Drops the entries for batches at or past `position`, once the log is cut there.
    pub fn truncate_to_position(&mut self, position: u64) -> Result<()> {
        let keep = self.file.entries().partition_point(|e| (e.position as u64) < position);
        self.file.truncate(keep)
    }

    /// Why the entries cannot describe a log of `log_size` bytes, if they cannot: offsets
    /// and positions must increase and stay inside the segment (a torn or zero-filled tail
    /// breaks that).
    pub fn sanity_check(&self, log_size: u64) -> Result<(), String> {
        let mut previous: Option<OffsetEntry> = None;
        for entry in self.file.entries() {
            let in_range = entry.relative_offset >= 0 && entry.position >= 0 && (entry.position as u64) < log_size;
            let increasing =
                previous.is_none_or(|p| entry.relative_offset > p.relative_offset && entry.position > p.position);
            if !in_range || !increasing {
                return Err(format!(
                    "entry ({}, {}) of {} does not fit a {log_size}-byte log",
                    entry.relative_offset,
                    entry.position,
                    self.file.path().display()
                ));
            }
            previous = Some(*entry);
        }
        Ok(())
    }

    pub fn is_full(&self) -> bool {
        self.file.is_full()
    }

    pub fn sync(&self) -> Result<()> {
        self.file.sync()
    }

    fn absolute(&self, entry: &OffsetEntry) -> i64 {
        self.base_offset + i64::from(entry.relative_offset)
    }

    fn position_of(&self, entry: Option<OffsetEntry>) -> OffsetPosition {
        match entry {
            Some(entry) => OffsetPosition {
                offset: self.absolute(&entry),
                position: entry.position as u64,
            },
            None => OffsetPosition {
                offset: self.base_offset,
                position: 0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: i64, position: u64) -> OffsetPosition {
        OffsetPosition { offset, position }
    }

    #[test]
    fn lookup_finds_the_greatest_entry_at_or_below() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000001000.index");
        let mut index = OffsetIndex::open(&path, 1000, 100).unwrap();
        assert_eq!(index.lookup(1500), at(1000, 0));
        assert_eq!(index.last_entry(), at(1000, 0));
        for (offset, position) in [(1009, 4100), (1019, 8200), (1029, 12300)] {
            index.append(offset, position).unwrap();
        }
        assert_eq!(index.lookup(999), at(1000, 0));
        assert_eq!(index.lookup(1008), at(1000, 0));
        assert_eq!(index.lookup(1009), at(1009, 4100));
        assert_eq!(index.lookup(1018), at(1009, 4100));
        assert_eq!(index.lookup(1019), at(1019, 8200));
        assert_eq!(index.lookup(i64::MAX), at(1029, 12300));
        assert_eq!(index.last_entry(), at(1029, 12300));
        assert_eq!(index.lookup_position(4099), at(1000, 0));
        assert_eq!(index.lookup_position(4100), at(1009, 4100));
        assert_eq!(index.lookup_position(12299), at(1019, 8200));
        assert_eq!(index.lookup_position(u64::MAX), at(1029, 12300));

        // Kafka's format: big-endian (relative offset, position) pairs, nothing else.
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 24);
        assert_eq!(&bytes[..8], &[0, 0, 0, 9, 0, 0, 0x10, 0x04]);

        index.truncate_to_position(8200).unwrap();
        assert_eq!(index.last_entry(), at(1009, 4100));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 8);
        let reopened = OffsetIndex::open(&path, 1000, 100).unwrap();
        assert_eq!(reopened.lookup(2000), at(1009, 4100));
    }

    #[test]
    fn sanity_check_catches_entries_that_cannot_be() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut index = OffsetIndex::open(&path, 0, 100).unwrap();
        index.append(9, 4100).unwrap();
        index.append(19, 8200).unwrap();
        assert_eq!(index.sanity_check(8201), Ok(()));
        assert!(index.sanity_check(8200).is_err(), "position past the log");
        // A zero-filled tail, as a crash can leave behind.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[0; 8]);
        std::fs::write(&path, bytes).unwrap();
        let torn = OffsetIndex::open(&path, 0, 100).unwrap();
        assert!(torn.sanity_check(100_000).is_err());
    }
}
