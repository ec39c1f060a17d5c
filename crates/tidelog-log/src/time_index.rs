//! Kafka's `.timeindex`: a sparse map from timestamps to offsets, for ListOffsets by time
//! and for time-based retention.
//!
//! Each entry is (timestamp `i64`, offset relative to the segment base `i32`), big-endian:
//! the largest batch max timestamp seen so far in the segment and the last offset of the
//! batch that carried it. Entries are added alongside offset index entries, and only when
//! the timestamp grows, so timestamps strictly increase along the file.

use crate::error::Result;
use crate::index_file::{IndexEntry, IndexFile};
use std::path::Path;

pub const TIME_ENTRY_SIZE: usize = 12;

/// Kafka's "no timestamp".
pub const NO_TIMESTAMP: i64 = -1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    timestamp: i64,
    relative_offset: i32,
}

impl IndexEntry for TimeEntry {
    const SIZE: usize = TIME_ENTRY_SIZE;

    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.relative_offset.to_be_bytes());
    }

    fn decode(bytes: &[u8]) -> Self {
        Self {
            timestamp: i64::from_be_bytes(bytes[..8].try_into().expect("8 bytes")),
            relative_offset: i32::from_be_bytes(bytes[8..12].try_into().expect("4 bytes")),
        }
    }
}

/// A timestamp and the offset it was seen at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

#[derive(Debug)]
pub struct TimeIndex {
    base_offset: i64,
    file: IndexFile<TimeEntry>,
}

impl TimeIndex {
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

    /// Adds `entry` if its timestamp is larger than the last one's (and than "no timestamp").
    pub fn maybe_append(&mut self, entry: TimestampOffset) -> Result<()> {
        if entry.timestamp <= self.last_entry().map_or(NO_TIMESTAMP, |last| last.timestamp) {
            return Ok(());
        }
        self.file.append(TimeEntry {
            timestamp: entry.timestamp,
            relative_offset: (entry.offset - self.base_offset) as i32,
        })
    }

    /// The greatest entry whose timestamp is at most `target` (Kafka's lookup), or
    /// (no timestamp, segment base). Every batch up to that entry's offset has a max
    /// timestamp of at most `target`, and none before it reaches the entry's timestamp, so
    /// the first batch whose max timestamp is at least `target` is found by scanning
    /// forward from the batch holding that offset.
    pub fn lookup(&self, target: i64) -> TimestampOffset {
        let entries = self.file.entries();
        let after = entries.partition_point(|e| e.timestamp <= target);
        match after.checked_sub(1) {
            Some(i) => self.absolute(entries[i]),
            None => TimestampOffset {
                timestamp: NO_TIMESTAMP,
                offset: self.base_offset,
            },
        }
    }

    /// The first `max` entries, for inspection (the web console's segment inspector).
    pub fn entries(&self, max: usize) -> Vec<TimestampOffset> {
        self.file
            .entries()
            .iter()
            .take(max)
            .map(|&e| self.absolute(e))
            .collect()
    }

    pub fn last_entry(&self) -> Option<TimestampOffset> {
        self.file.entries().last().map(|&e| self.absolute(e))
    }

    /// Drops the entries for offsets at or past `offset`, once the log is cut there.
    pub fn truncate_to(&mut self, offset: i64) -> Result<()> {
        let keep = self
            .file
            .entries()
            .partition_point(|&e| self.absolute(e).offset < offset);
        self.file.truncate(keep)
    }

    /// Why the entries cannot belong to a segment ending before `next_offset`, if they
    /// cannot: timestamps must increase, offsets must not decrease and stay in the segment.
    pub fn sanity_check(&self, next_offset: i64) -> Result<(), String> {
        let mut previous: Option<TimeEntry> = None;
        for &entry in self.file.entries() {
            let offset = self.absolute(entry).offset;
            let in_range = entry.relative_offset >= 0 && offset < next_offset;
            let increasing =
                previous.is_none_or(|p| entry.timestamp > p.timestamp && entry.relative_offset >= p.relative_offset);
            if !in_range || !increasing {
                return Err(format!(
                    "entry ({}, {}) of {} does not fit a segment ending before offset {next_offset}",
                    entry.timestamp,
                    entry.relative_offset,
                    self.file.path().display()
                ));
            }
            previous = Some(entry);
        }
        Ok(())
    }

    pub fn is_full(&self) -> bool {
        self.file.is_full()
    }

    pub fn sync(&self) -> Result<()> {
        self.file.sync()
    }

    fn absolute(&self, entry: TimeEntry) -> TimestampOffset {
        TimestampOffset {
            timestamp: entry.timestamp,
            offset: self.base_offset + i64::from(entry.relative_offset),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(timestamp: i64, offset: i64) -> TimestampOffset {
        TimestampOffset { timestamp, offset }
    }

    #[test]
    fn entries_only_grow_and_lookup_finds_the_greatest_at_or_below() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000100.timeindex");
        let mut index = TimeIndex::open(&path, 100, 100).unwrap();
        assert_eq!(index.lookup(5_000), ts(NO_TIMESTAMP, 100));
        assert_eq!(index.last_entry(), None);
        index.maybe_append(ts(NO_TIMESTAMP, 101)).unwrap(); // no timestamp: skipped
        index.maybe_append(ts(1_000, 104)).unwrap();
        index.maybe_append(ts(1_000, 109)).unwrap(); // not larger: skipped
        index.maybe_append(ts(900, 110)).unwrap(); // older: skipped
        index.maybe_append(ts(2_000, 119)).unwrap();
        assert_eq!(index.last_entry(), Some(ts(2_000, 119)));
        assert_eq!(index.lookup(999), ts(NO_TIMESTAMP, 100));
        assert_eq!(index.lookup(1_000), ts(1_000, 104));
        assert_eq!(index.lookup(1_999), ts(1_000, 104));
        assert_eq!(index.lookup(i64::MAX), ts(2_000, 119));

        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 24);
        assert_eq!(&bytes[..12], &[0, 0, 0, 0, 0, 0, 0x03, 0xe8, 0, 0, 0, 4]);

        index.truncate_to(119).unwrap();
        assert_eq!(index.last_entry(), Some(ts(1_000, 104)));
        let reopened = TimeIndex::open(&path, 100, 100).unwrap();
        assert_eq!(reopened.last_entry(), Some(ts(1_000, 104)));
        assert_eq!(reopened.sanity_check(105), Ok(()));
        assert!(reopened.sanity_check(104).is_err());
    }
}
