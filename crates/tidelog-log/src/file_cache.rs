//! The process's open segment and index files, bounded by a budget of descriptors
//! ([`set_budget`]), whatever the number of partitions and segments.
//!
//! Every `.log`, `.index`, `.timeindex` and `.txnindex` is a [`CachedFile`]: a path that is
//! opened when used and kept open in a cache that closes the least recently used files
//! (the CLOCK approximation of LRU: a file used since the hand last passed gets a second
//! chance) once more than the budget are open. A user gets an `Arc<File>`, so a read, an
//! fsync or a `sendfile` in flight keeps its descriptor until it finishes even when the
//! cache closes the file meanwhile: the budget bounds what is kept open, not what is in use.
//!
//! The cache is process-wide because the limit it keeps under, `RLIMIT_NOFILE`, is.
//!
//! Durability across a close: a file written and not yet fsynced ([`CachedFile::wrote`],
//! [`CachedFile::sync_data`]) is never closed by the cache. A descriptor kept open keeps the
//! inode in memory, and with it a writeback error for the fsync to report: once no
//! descriptor holds it, the kernel may drop the inode and the error with it, and an fsync
//! through a new descriptor would succeed for data that was lost.

use crate::error::{IoContext, LogError, Result};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};
use std::time::SystemTime;

/// The budget until [`set_budget`] says otherwise: no limit a test process could reach.
const DEFAULT_BUDGET: usize = 1 << 20;

static CACHE: LazyLock<Cache> = LazyLock::new(|| Cache {
    budget: AtomicUsize::new(DEFAULT_BUDGET),
    open: AtomicUsize::new(0),
    ring: Mutex::new(VecDeque::new()),
    opens: AtomicU64::new(0),
});

/// Sets how many segment and index files may stay open at once, closing files now if more
/// are open.
pub fn set_budget(files: usize) {
    CACHE.budget.store(files.max(1), Ordering::Relaxed);
    CACHE.evict();
}

/// What the cache holds and has done, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileCacheStats {
    /// Files the cache keeps open now.
    pub open: usize,
    /// The budget they are kept within.
    pub budget: usize,
    /// How many times a file was opened on use since the process started.
    pub opens: u64,
}

pub fn stats() -> FileCacheStats {
    FileCacheStats {
        open: CACHE.open.load(Ordering::Relaxed),
        budget: CACHE.budget.load(Ordering::Relaxed),
        opens: CACHE.opens.load(Ordering::Relaxed),
    }
}

/// How a [`CachedFile`] is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read and append: a `.log`, which must exist.
    Append,
    /// Read and write at positions, created if missing: an index.
    ReadWrite,
}

impl Access {
    fn options(self) -> OpenOptions {
        let mut options = OpenOptions::new();
        match self {
            Access::Append => options.read(true).append(true),
            Access::ReadWrite => options.read(true).write(true).create(true),
        };
        options
    }
}

/// A file opened on use and kept open while the cache has room (see the module doc).
#[derive(Debug)]
pub(crate) struct CachedFile(Arc<Slot>);

#[derive(Debug)]
struct Slot {
    path: Mutex<PathBuf>,
    access: Access,
    open: Mutex<Opened>,
    /// Used since the clock hand last passed.
    used: AtomicBool,
    /// Writes begun, and how many of them the last successful fsync covered: the cache
    /// keeps the file open while they differ.
    writes: AtomicU64,
    synced: AtomicU64,
}

impl Slot {
    fn unsynced(&self) -> bool {
        self.writes.load(Ordering::Acquire) > self.synced.load(Ordering::Acquire)
    }
}

#[derive(Debug, Default)]
struct Opened {
    file: Option<Arc<File>>,
    /// Which file the path named when first opened: a reopen that finds another one there
    /// (the partition deleted and made again under its name) fails rather than read it.
    identity: Option<Identity>,
}

/// A file as the file system tells it from others: an inode number can be reused by the
/// next file created, its birth time tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    device: u64,
    inode: u64,
    born: Option<SystemTime>,
}

impl Identity {
    fn of(file: &File, path: &Path) -> Result<Self> {
        let metadata = file.metadata().context("stat", path)?;
        Ok(Self {
            device: metadata.dev(),
            inode: metadata.ino(),
            born: metadata.created().ok(),
        })
    }
}

struct Cache {
    budget: AtomicUsize,
    /// Slots holding an open file.
    open: AtomicUsize,
    /// The open slots, in the order the clock hand visits them; a slot dropped while open
    /// leaves a dead entry the hand removes when it passes.
    ring: Mutex<VecDeque<Weak<Slot>>>,
    opens: AtomicU64,
}

impl CachedFile {
    /// A file at `path`, not opened until used.
    pub(crate) fn new(path: PathBuf, access: Access) -> Self {
        Self(Arc::new(Slot {
            path: Mutex::new(path),
            access,
            open: Mutex::default(),
            used: AtomicBool::new(false),
            writes: AtomicU64::new(0),
            synced: AtomicU64::new(0),
        }))
    }

    /// The open file, opened now if the cache had closed it.
    pub(crate) fn get(&self) -> Result<Arc<File>> {
        let slot = &self.0;
        slot.used.store(true, Ordering::Relaxed);
        let file = {
            let mut open = lock(&slot.open);
            if let Some(file) = &open.file {
                return Ok(Arc::clone(file));
            }
            let path = self.path();
            let mut options = slot.access.options();
            // Made by the first open only: a later one, of a deleted segment's file, must
            // not make an empty one in its place.
            options.create(open.identity.is_none() && slot.access == Access::ReadWrite);
            let file = options.open(&path).context("open", &path)?;
            let identity = Identity::of(&file, &path)?;
            if open.identity.is_some_and(|known| known != identity) {
                let replaced = io::Error::new(
                    io::ErrorKind::NotFound,
                    "the file was deleted and another made in its place",
                );
                return Err(replaced).context("open", &path);
            }
            open.identity = Some(identity);
            CACHE.opens.fetch_add(1, Ordering::Relaxed);
            Arc::clone(open.file.insert(Arc::new(file)))
        };
        CACHE.admit(slot);
        Ok(file)
    }

    /// Says a write is about to go through the file, which the cache then keeps open until
    /// a [`CachedFile::sync_data`] after it (see the module doc). Called before
    /// [`CachedFile::get`], so that the file is not closed between the two.
    pub(crate) fn wrote(&self) {
        self.0.writes.fetch_add(1, Ordering::AcqRel);
    }

    /// fdatasync of the file, which releases it to the cache if no write came meanwhile.
    pub(crate) fn sync_data(&self) -> Result<()> {
        let writes = self.0.writes.load(Ordering::Acquire);
        self.with("fsync", File::sync_data)?;
        self.0.synced.fetch_max(writes, Ordering::AcqRel);
        Ok(())
    }

    /// Runs `io` on the open file; an error names `action` and the file (the path is read
    /// only then: an index append is on the produce path).
    pub(crate) fn with<T>(&self, action: &str, io: impl FnOnce(&File) -> io::Result<T>) -> Result<T> {
        io(&*self.get()?).map_err(|source| LogError::io(action, &self.path(), source))
    }

    pub(crate) fn path(&self) -> PathBuf {
        lock(&self.0.path).clone()
    }

    /// Follows a rename of the file: later opens use `path`.
    pub(crate) fn renamed(&self, path: PathBuf) {
        *lock(&self.0.path) = path;
    }

    /// Uses `file` from now on: the path was made to name it. Users holding the old
    /// descriptor keep it.
    pub(crate) fn replace(&self, file: File) -> Result<()> {
        let identity = Identity::of(&file, &self.path())?;
        let previous = {
            let mut open = lock(&self.0.open);
            open.identity = Some(identity);
            open.file.replace(Arc::new(file))
        };
        if previous.is_none() {
            CACHE.admit(&self.0);
        }
        Ok(())
    }

    /// Closes the file as the cache would, for tests of what follows.
    #[cfg(test)]
    pub(crate) fn close(&self) {
        if lock(&self.0.open).file.take().is_some() {
            CACHE.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let open = self.open.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        if open.file.is_some() {
            CACHE.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Cache {
    /// Puts a slot whose file was just opened in the ring, and closes others if that
    /// exceeds the budget.
    fn admit(&self, slot: &Arc<Slot>) {
        // Counted first: an eviction between the two must not count it closed before open.
        self.open.fetch_add(1, Ordering::Relaxed);
        {
            let mut ring = lock(&self.ring);
            // Slots dropped while open leave entries that only the clock hand removes, and
            // it moves only when the budget is reached.
            if ring.len() > 2 * self.open.load(Ordering::Relaxed) + 64 {
                ring.retain(|weak| weak.strong_count() > 0);
            }
            ring.push_back(Arc::downgrade(slot));
        }
        self.evict();
    }

    /// Closes files until at most the budget are open: the hand takes slots from the front,
    /// gives a used one a second chance at the back, and closes an unused one. Each slot's
    /// flag is cleared as it passes, so two turns of the ring close enough, unless files
    /// written and not yet fsynced (kept open) fill the budget for a moment.
    fn evict(&self) {
        let budget = self.budget.load(Ordering::Relaxed);
        let mut ring = lock(&self.ring);
        let mut visits = 2 * ring.len();
        while self.open.load(Ordering::Relaxed) > budget && visits > 0 {
            visits -= 1;
            let Some(weak) = ring.pop_front() else { break };
            let Some(slot) = weak.upgrade() else { continue };
            if slot.used.swap(false, Ordering::Relaxed) || slot.unsynced() {
                ring.push_back(weak);
            } else if lock(&slot.open).file.take().is_some() {
                self.open.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The file at `path`, opened as `access` says; when `create`, created empty (or emptied)
/// now and kept open.
pub(crate) fn open(path: &Path, access: Access, create: bool) -> Result<CachedFile> {
    let cached = CachedFile::new(path.to_path_buf(), access);
    if create {
        let file = access.options().create(true).open(path).context("create", path)?;
        // `truncate` does not go with `append`: a leftover of the same name is emptied here.
        file.set_len(0).context("empty", path)?;
        cached.replace(file)?;
    }
    Ok(cached)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::FileExt;

    fn read(file: &CachedFile) -> Result<Vec<u8>> {
        let file = file.get()?;
        let mut buf = vec![0u8; file.metadata().unwrap().len() as usize];
        file.read_exact_at(&mut buf, 0).unwrap();
        Ok(buf)
    }

    #[test]
    fn a_closed_file_reopens_where_it_was_renamed_and_never_opens_another_in_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (dir.path().join("0.log"), dir.path().join("0.log.deleted"));
        fs::write(&first, b"one").unwrap();
        let file = CachedFile::new(first.clone(), Access::Append);
        assert_eq!(read(&file).unwrap(), b"one");

        file.close();
        fs::rename(&first, &second).unwrap();
        file.renamed(second.clone());
        assert_eq!(read(&file).unwrap(), b"one", "reopened under its new name");

        // The file goes, and another is made under the name (a partition deleted and made
        // again): a reopen refuses it.
        let held = file.get().unwrap();
        file.close();
        fs::remove_file(&second).unwrap();
        fs::write(&second, b"two").unwrap();
        let refused = read(&file).unwrap_err().to_string();
        assert!(refused.contains("another made in its place"), "{refused}");
        let mut buf = [0u8; 3];
        held.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"one", "a holder reads on");
    }
}
