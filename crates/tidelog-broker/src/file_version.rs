//! What tells a reloaded file from the one read before (the TLS stores, a JWKS file): its
//! size, modification time and inode, so a rewrite or a replacement (a rename over it) shows.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::SystemTime;

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct FileVersion {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl FileVersion {
    pub fn of(file: &Path) -> std::io::Result<FileVersion> {
        let meta = std::fs::metadata(file)?;
        Ok(FileVersion {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode: meta.ino(),
        })
    }
}
