//! Bytes on their way out: in memory, or still in a file.
//!
//! A Fetch response's records are a range of a segment file. Handing the socket that range
//! (`sendfile`) instead of the bytes keeps the broker from reading or mapping them at all:
//! the kernel moves page-cache pages into the socket. So the `records` fields of responses,
//! and the chunks an [`crate::EncodeBuf`] produces, are a [`Payload`]: either [`Bytes`] or a
//! [`FileRegion`]. Requests' `records` stay [`Bytes`]: they arrive in memory.

use std::any::Any;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

/// `len` bytes of `file` from `offset`, to be sent as they are in the file.
///
/// Whoever makes one promises that those bytes stay as they are while it lives; `guard`
/// is what keeps that promise (a log segment refuses to truncate in place while one of
/// its guards is held), and is dropped with the region.
#[derive(Clone)]
pub struct FileRegion {
    file: Arc<File>,
    offset: u64,
    len: usize,
    _guard: Arc<dyn Any + Send + Sync>,
}

impl FileRegion {
    pub fn new(file: Arc<File>, offset: u64, len: usize, guard: Arc<dyn Any + Send + Sync>) -> FileRegion {
        FileRegion {
            file,
            offset,
            len,
            _guard: guard,
        }
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops the first `n` bytes (those a partial send already wrote).
    pub fn advance(&mut self, n: usize) {
        assert!(n <= self.len, "advance past the end of a file region");
        self.offset += n as u64;
        self.len -= n;
    }

    /// The bytes, read into memory: for those who need them there rather than in a
    /// socket. A file shorter than the region is an error: its promise was broken.
    pub fn read(&self) -> io::Result<Bytes> {
        let mut buf = vec![0u8; self.len];
        self.file.read_exact_at(&mut buf, self.offset)?;
        Ok(Bytes::from(buf))
    }
}

impl fmt::Debug for FileRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileRegion")
            .field("offset", &self.offset)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// Two regions are equal when they are the same bytes of the same open file.
impl PartialEq for FileRegion {
    fn eq(&self, other: &FileRegion) -> bool {
        Arc::ptr_eq(&self.file, &other.file) && self.offset == other.offset && self.len == other.len
    }
}

/// Bytes to send: in memory, or a region of a file sent without being read.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Memory(Bytes),
    File(FileRegion),
}

impl Payload {
    pub fn len(&self) -> usize {
        match self {
            Payload::Memory(bytes) => bytes.len(),
            Payload::File(region) => region.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes in memory: a clone of [`Payload::Memory`], a read of a [`Payload::File`].
    pub fn to_bytes(&self) -> io::Result<Bytes> {
        match self {
            Payload::Memory(bytes) => Ok(bytes.clone()),
            Payload::File(region) => region.read(),
        }
    }
}

/// Chunks joined into one buffer, file regions read: a frame as a client receives it (for
/// clients and tests; the broker sends the chunks as they are).
pub fn concat(chunks: &[Payload]) -> io::Result<Bytes> {
    let mut all = BytesMut::with_capacity(chunks.iter().map(Payload::len).sum());
    for chunk in chunks {
        all.extend_from_slice(&chunk.to_bytes()?);
    }
    Ok(all.freeze())
}

impl Default for Payload {
    fn default() -> Payload {
        Payload::Memory(Bytes::new())
    }
}

impl From<Bytes> for Payload {
    fn from(bytes: Bytes) -> Payload {
        Payload::Memory(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_region_reads_its_range_and_advances_past_what_was_sent() {
        let file = tempfile_with(b"0123456789");
        let mut region = FileRegion::new(Arc::new(file), 2, 5, Arc::new(()));
        assert_eq!(Payload::File(region.clone()).to_bytes().unwrap(), &b"23456"[..]);
        region.advance(3);
        assert_eq!((region.offset(), region.len()), (5, 2));
        assert_eq!(region.read().unwrap(), &b"56"[..]);
    }

    #[test]
    fn a_region_past_the_end_of_its_file_is_an_error() {
        let region = FileRegion::new(Arc::new(tempfile_with(b"0123")), 2, 5, Arc::new(()));
        assert_eq!(region.read().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    fn tempfile_with(content: &[u8]) -> File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(content).unwrap();
        file
    }
}
