//! What a start checks and holds in each log directory before it touches anything: the
//! directory's lock (one process per directory, as Kafka's `.lock`), its identity
//! (`meta.properties`), and that its contents are ones this broker can serve without
//! losing any. Every check reads only; a refused start leaves the directory as it was.
//! Kafka's small files of a data directory have a module each.

pub mod meta_properties;
pub mod partition_metadata;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use tidelog_log::TopicPartition;

use crate::broker::StartError;
use crate::ids::random_uuid;
use crate::metadata::kraft::METADATA_DIR;
use crate::metadata::LEGACY_LOG_FILE;
use meta_properties::MetaProperties;

/// Kafka's lock file name, held exclusively for the life of the process.
const LOCK_FILE: &str = ".lock";

/// Checks every log directory for a start as `node_id`, reading only, and returns the
/// cluster id found in them, if any. `log_dirs[0]` holds the metadata log (or, written by
/// an older Tidelog, the event log it is converted from).
pub fn check(log_dirs: &[std::path::PathBuf], node_id: i32) -> Result<Option<String>, StartError> {
    let mut cluster_id: Option<String> = None;
    let metadata_exists = has_metadata(&log_dirs[0]);
    for (i, dir) in log_dirs.iter().enumerate() {
        let io_err = |source| StartError::LogDir {
            path: dir.display().to_string(),
            source,
        };
        if !dir.exists() {
            continue;
        }
        if !dir.is_dir() {
            return Err(StartError::NotADirectory {
                path: dir.display().to_string(),
            });
        }
        if i > 0 && dir.join(METADATA_DIR).exists() {
            return Err(StartError::MetadataElsewhere {
                path: dir.display().to_string(),
                first: log_dirs[0].display().to_string(),
            });
        }
        if let Some(props) = MetaProperties::read(dir)? {
            if props.node_id != node_id {
                return Err(StartError::NodeMismatch {
                    path: dir.display().to_string(),
                    found: props.node_id.to_string(),
                    expected: node_id,
                });
            }
            match &cluster_id {
                Some(first) if *first != props.cluster_id => {
                    return Err(StartError::ClusterMismatch {
                        path: dir.display().to_string(),
                        found: props.cluster_id,
                        expected: first.clone(),
                    })
                }
                Some(_) => {}
                None => cluster_id = Some(props.cluster_id),
            }
        }
        if !metadata_exists {
            if let Some(partition) = first_partition_dir(dir).map_err(io_err)? {
                return Err(StartError::MetadataLost {
                    path: dir.display().to_string(),
                    partition,
                    metadata: log_dirs[0].join(METADATA_DIR).display().to_string(),
                });
            }
        }
    }
    Ok(cluster_id)
}

/// Whether the first log dir `dir` holds metadata: the KRaft log, or an older Tidelog's.
pub fn has_metadata(dir: &Path) -> bool {
    dir.join(METADATA_DIR).exists() || dir.join(LEGACY_LOG_FILE).exists()
}

/// Each of `log_dirs`' identity in `meta.properties`, reading only: the existing one, or
/// (where there is none, or it lacks a directory id, as Tidelog wrote them before issue 10)
/// a new one with a new directory id, which [`write_identities`] writes once the start is
/// sure to go on, as Kafka does. Run after [`check`] accepted the directories.
pub fn identities(
    log_dirs: &[std::path::PathBuf],
    cluster_id: &str,
    node_id: i32,
) -> Result<Vec<Identity>, StartError> {
    let mut identities = Vec::with_capacity(log_dirs.len());
    for dir in log_dirs {
        let identity = match MetaProperties::read(dir)? {
            Some(props) if props.directory_id.is_some() => Identity { props, new: false },
            _ => Identity {
                props: MetaProperties::new(
                    cluster_id.to_string(),
                    node_id,
                    Some(random_uuid()),
                    std::time::SystemTime::now(),
                ),
                new: true,
            },
        };
        identities.push(identity);
    }
    Ok(identities)
}

/// A log dir's `meta.properties`, and whether it is yet to be written.
pub struct Identity {
    pub props: MetaProperties,
    pub new: bool,
}

impl Identity {
    pub fn directory_id(&self) -> tidelog_protocol::Uuid {
        self.props.directory_id.expect("every identity has a directory id")
    }
}

/// Writes the new ones of `identities`, each into its log dir.
pub fn write_identities(log_dirs: &[std::path::PathBuf], identities: &[Identity]) -> Result<(), StartError> {
    for (dir, identity) in log_dirs.iter().zip(identities).filter(|(_, i)| i.new) {
        identity.props.write(dir)?;
    }
    Ok(())
}

/// Creates `dir` if needed and takes its lock, held as long as the returned file is open;
/// another process holding it refuses this start.
pub fn lock(dir: &Path) -> Result<File, StartError> {
    let io_err = |source| StartError::LogDir {
        path: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io_err)?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(io_err)?;
    // A POSIX record lock of the whole file, as Java's `FileChannel.tryLock` takes Kafka's:
    // a Kafka broker on the directory and this process each see the other's (an flock
    // would not). It lasts while the process keeps the file open.
    // SAFETY: `lock` is a plain struct for fcntl(2) to read, on a descriptor `file` owns.
    let locked = unsafe {
        let mut lock: libc::flock = std::mem::zeroed();
        lock.l_type = libc::F_WRLCK as libc::c_short;
        lock.l_whence = libc::SEEK_SET as libc::c_short;
        libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock)
    };
    if locked == 0 {
        return Ok(file);
    }
    match io::Error::last_os_error() {
        e if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EAGAIN)) => Err(StartError::Locked {
            path: dir.display().to_string(),
        }),
        e => Err(io_err(e)),
    }
}

/// The name of a partition directory in `dir`, if it holds any.
fn first_partition_dir(dir: &Path) -> io::Result<Option<String>> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() && TopicPartition::from_dir_name(&name).is_some() {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

/// The total bytes of the file system holding `dir`, and those an unprivileged process may
/// still write (DescribeLogDirs reports both; `bench` checks the second before writing).
pub fn capacity(dir: &Path) -> io::Result<(u64, u64)> {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).map_err(io::Error::other)?;
    // SAFETY: statvfs(3) reads a NUL-terminated path and fills the zeroed struct it is given.
    let (status, stats) = unsafe {
        let mut stats: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(path.as_ptr(), &mut stats), stats)
    };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    // All u64 on 64-bit Linux, the machines this builds for.
    let block = stats.f_frsize;
    Ok((
        stats.f_blocks.saturating_mul(block),
        stats.f_bavail.saturating_mul(block),
    ))
}
