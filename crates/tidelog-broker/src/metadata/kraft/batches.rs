//! The record batches of a file of the metadata partition (a log segment or a snapshot),
//! read one at a time so memory holds one batch, each checked (length, header, CRC) before
//! its records are read; and the batches written to them, uncompressed as KRaft writes them.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tidelog_protocol::metadata::MetadataLogRecord;
use tidelog_protocol::records::{RecordBatch, RecordBatchBuilder, RecordsError, HEADER_LEN};

use super::error::KraftError;

/// Metadata records per batch written (to the log or a snapshot), which keeps batches far
/// below KRaft's 8 MiB.
pub(super) const RECORDS_PER_BATCH: usize = 1024;

/// `baseOffset` and `batchLength`, the bytes before those `batchLength` counts.
const LOG_OVERHEAD: usize = 12;

pub(super) struct BatchFile {
    path: PathBuf,
    reader: BufReader<File>,
    position: u64,
    len: u64,
}

/// What follows in the file.
pub(super) enum Next {
    Batch(RecordBatch),
    End,
    /// A batch that is cut short (what a crash during a write leaves) or damaged, at byte
    /// `position`. Nothing after it is read.
    Bad {
        position: u64,
        reason: RecordsError,
    },
}

impl BatchFile {
    pub(super) fn open(path: &Path) -> Result<BatchFile, KraftError> {
        let io_err = |source| KraftError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        Ok(BatchFile {
            path: path.to_path_buf(),
            reader: BufReader::new(file),
            position: 0,
            len,
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Where the next batch starts.
    pub(super) fn position(&self) -> u64 {
        self.position
    }

    pub(super) fn next(&mut self) -> Result<Next, KraftError> {
        let available = usize::try_from(self.len - self.position).unwrap_or(usize::MAX);
        if available == 0 {
            return Ok(Next::End);
        }
        let position = self.position;
        let bad = |reason| Ok(Next::Bad { position, reason });
        if available < LOG_OVERHEAD {
            return bad(RecordsError::Truncated {
                needed: LOG_OVERHEAD,
                available,
            });
        }
        let mut prefix = [0; LOG_OVERHEAD];
        self.read_exact(&mut prefix)?;
        let batch_length = i32::from_be_bytes(prefix[8..].try_into().expect("4 bytes"));
        let size = match usize::try_from(batch_length) {
            Ok(length) if LOG_OVERHEAD + length >= HEADER_LEN => LOG_OVERHEAD + length,
            _ => return bad(RecordsError::InvalidBatchLength(batch_length)),
        };
        // The file's length bounds what is allocated, whatever the length field says.
        if size > available {
            return bad(RecordsError::Truncated {
                needed: size,
                available,
            });
        }
        let mut bytes = vec![0; size];
        bytes[..LOG_OVERHEAD].copy_from_slice(&prefix);
        self.read_exact(&mut bytes[LOG_OVERHEAD..])?;
        match RecordBatch::parse(Bytes::from(bytes)).and_then(|batch| batch.verify_crc().map(|()| batch)) {
            Ok(batch) => {
                self.position += size as u64;
                Ok(Next::Batch(batch))
            }
            Err(reason) => bad(reason),
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), KraftError> {
        self.reader.read_exact(buf).map_err(|source| KraftError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// One batch of `records` from `base_offset`, of leader epoch `epoch`: a control batch when
/// they are KRaft control records (callers never mix the two kinds in a batch).
pub(super) fn encode(
    path: &Path,
    base_offset: i64,
    epoch: i32,
    now_ms: i64,
    records: &[MetadataLogRecord],
) -> Result<RecordBatch, KraftError> {
    let control = matches!(records.first(), Some(MetadataLogRecord::Control(_)));
    let mut builder = RecordBatchBuilder::new(base_offset)
        .partition_leader_epoch(epoch)
        .control(control);
    for record in records {
        let (key, value) = record.encode().map_err(|source| KraftError::Encode {
            path: path.to_path_buf(),
            source,
        })?;
        builder.append(now_ms, key.as_deref(), Some(&value), &[]);
    }
    Ok(builder.build())
}
