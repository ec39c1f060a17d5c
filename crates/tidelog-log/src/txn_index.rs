//! A segment's `.txnindex`: the transactions aborted by markers in that segment, so that a
//! read_committed fetch can tell its consumer which records to drop without the broker
//! decoding any of them.
//!
//! The format is Kafka's `TransactionIndex`: back-to-back 34-byte entries of
//! `version i16 (0) | producer_id i64 | first_offset i64 | last_offset i64 |
//! last_stable_offset i64`, big-endian, in marker order, appended when an ABORT marker is
//! written. The file exists only once an entry does, as with Kafka. Entries are also kept in
//! memory: they are few (one per aborted transaction) and every read_committed fetch looks
//! at them.

use crate::error::{IoContext, Result};
use crate::file_cache::{Access, CachedFile};
use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use tracing::warn;

/// Bytes per entry.
pub const ENTRY_LEN: usize = 34;
const VERSION: i16 = 0;

/// One aborted transaction: the producer, the offsets from its first batch to its marker,
/// and the last stable offset once it was aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut entry = [0u8; ENTRY_LEN];
        entry[0..2].copy_from_slice(&VERSION.to_be_bytes());
        entry[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        entry[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        entry[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        entry[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        entry
    }

    fn decode(entry: &[u8]) -> Result<Self, String> {
        let field = |at: usize| i64::from_be_bytes(entry[at..at + 8].try_into().expect("8 bytes"));
        match i16::from_be_bytes([entry[0], entry[1]]) {
            VERSION => Ok(Self {
                producer_id: field(2),
                first_offset: field(10),
                last_offset: field(18),
                last_stable_offset: field(26),
            }),
            version => Err(format!("unknown entry version {version}")),
        }
    }

    /// Whether the transaction holds records in `from..to`.
    pub fn overlaps(&self, from: i64, to: i64) -> bool {
        self.last_offset >= from && self.first_offset < to
    }
}

#[derive(Debug)]
pub(crate) struct TxnIndex {
    /// Created by the first append when it does not exist.
    file: CachedFile,
    /// Appended to since it was opened: what a flush must fsync.
    written: bool,
    entries: Vec<AbortedTxn>,
}

impl TxnIndex {
    /// Loads `path` if it exists. A torn last entry (a crash mid-write) or an entry of an
    /// unknown version ends the index there, and the file is cut to match: the entries lost
    /// are rebuilt by replaying the markers (see `PartitionLog::open`).
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).context("read", path),
        };
        let mut entries = Vec::with_capacity(bytes.len() / ENTRY_LEN);
        let mut failure = (bytes.len() % ENTRY_LEN != 0).then(|| "a torn last entry".to_string());
        for chunk in bytes.chunks_exact(ENTRY_LEN) {
            match AbortedTxn::decode(chunk) {
                Ok(entry) => entries.push(entry),
                Err(reason) => {
                    failure = Some(reason);
                    break;
                }
            }
        }
        let mut index = Self {
            file: CachedFile::new(path.to_path_buf(), Access::ReadWrite),
            written: false,
            entries,
        };
        if let Some(reason) = failure {
            warn!(index = %path.display(), %reason, kept = index.entries.len(), "cutting the transaction index");
            index.truncate_to(i64::MAX)?;
        }
        Ok(index)
    }

    pub(crate) fn append(&mut self, txn: AbortedTxn) -> Result<()> {
        // The file holds exactly the entries (a torn one is cut at open).
        let position = (self.entries.len() * ENTRY_LEN) as u64;
        self.file
            .with("append to", |file| file.write_all_at(&txn.encode(), position))?;
        self.written = true;
        self.entries.push(txn);
        Ok(())
    }

    /// Drops the entries of transactions whose marker is at or past `offset`, and rewrites
    /// the file's length to the entries kept.
    pub(crate) fn truncate_to(&mut self, offset: i64) -> Result<()> {
        self.entries.retain(|e| e.last_offset < offset);
        let len = (self.entries.len() * ENTRY_LEN) as u64;
        let path = self.file.path();
        match OpenOptions::new().write(true).open(&path) {
            Ok(file) => file.set_len(len).context("truncate", &path),
            Err(e) if e.kind() == ErrorKind::NotFound && len == 0 => Ok(()),
            Err(e) => Err(e).context("open", &path),
        }
    }

    /// Follows a rename of the file.
    pub(crate) fn renamed(&self, path: PathBuf) {
        self.file.renamed(path);
    }

    /// The marker offset of the last entry: replay adds only entries past it.
    pub(crate) fn last_offset(&self) -> Option<i64> {
        self.entries.last().map(|e| e.last_offset)
    }

    pub(crate) fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    pub(crate) fn sync(&self) -> Result<()> {
        match self.written {
            true => self.file.sync_data(),
            false => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(first_offset: i64, last_offset: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: 7,
            first_offset,
            last_offset,
            last_stable_offset: last_offset + 1,
        }
    }

    #[test]
    fn entries_are_kafkas_34_bytes_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.txnindex");
        let mut index = TxnIndex::open(&path).unwrap();
        assert!(!path.exists(), "created with the first entry");
        index.append(txn(3, 9)).unwrap();
        index.append(txn(12, 20)).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 2 * ENTRY_LEN);
        assert_eq!(&bytes[0..2], &[0, 0], "version 0");
        assert_eq!(&bytes[2..10], &7i64.to_be_bytes());
        assert_eq!(&bytes[10..18], &3i64.to_be_bytes());
        assert_eq!(&bytes[18..26], &9i64.to_be_bytes());
        assert_eq!(&bytes[26..34], &10i64.to_be_bytes());
        assert_eq!(TxnIndex::open(&path).unwrap().entries(), &[txn(3, 9), txn(12, 20)]);
    }

    #[test]
    fn a_torn_entry_is_cut_and_truncation_drops_later_markers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.txnindex");
        let mut index = TxnIndex::open(&path).unwrap();
        for (first, last) in [(0, 4), (5, 9), (10, 14)] {
            index.append(txn(first, last)).unwrap();
        }
        let mut bytes = fs::read(&path).unwrap();
        bytes.truncate(3 * ENTRY_LEN - 5);
        fs::write(&path, &bytes).unwrap();
        let mut index = TxnIndex::open(&path).unwrap();
        assert_eq!(index.entries(), &[txn(0, 4), txn(5, 9)]);
        assert_eq!(fs::metadata(&path).unwrap().len(), 2 * ENTRY_LEN as u64);
        index.truncate_to(9).unwrap();
        assert_eq!((index.entries(), index.last_offset()), (&[txn(0, 4)][..], Some(4)));
        assert_eq!(TxnIndex::open(&path).unwrap().entries(), &[txn(0, 4)]);
        assert!(txn(5, 9).overlaps(9, 10) && !txn(5, 9).overlaps(10, 20) && !txn(5, 9).overlaps(0, 5));
    }
}
