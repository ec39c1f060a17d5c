//! What a start checks and holds in each log directory before it touches anything: the
//! directory's lock (one process per directory, as Kafka's `.lock`), its identity
//! (`meta.properties`), and that its contents are ones this broker can serve without
//! losing any. Every check reads only; a refused start leaves the directory as it was.
//! Kafka's small files of a data directory have a module each.

pub mod meta_properties;
pub mod partition_metadata;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use tidelog_log::TopicPartition;

use crate::broker::StartError;
use crate::metadata::kraft::METADATA_DIR;
use crate::metadata::METADATA_LOG_FILE;
use meta_properties::{properties, META_PROPERTIES};

/// Kafka's lock file name, held exclusively for the life of the process.
const LOCK_FILE: &str = ".lock";

/// Checks every log directory for a start as `node_id`, reading only, and returns the
/// cluster id found in them, if any. `log_dirs[0]` holds the metadata log.
pub fn check(log_dirs: &[std::path::PathBuf], node_id: i32) -> Result<Option<String>, StartError> {
    let mut cluster_id = None;
    let metadata_exists = log_dirs[0].join(METADATA_LOG_FILE).exists();
    for dir in log_dirs {
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
        if dir.join(METADATA_DIR).exists() {
            return Err(StartError::KafkaDirectory {
                path: dir.display().to_string(),
            });
        }
        if let Some(props) = read_meta_properties(dir).map_err(io_err)? {
            if let Some(node) = props.get("node.id").filter(|n| **n != node_id.to_string()) {
                return Err(StartError::NodeMismatch {
                    path: dir.display().to_string(),
                    found: node.clone(),
                    expected: node_id,
                });
            }
            cluster_id = cluster_id.or_else(|| props.get("cluster.id").cloned());
        }
        if !metadata_exists {
            if let Some(partition) = first_partition_dir(dir).map_err(io_err)? {
                return Err(StartError::MetadataLost {
                    path: dir.display().to_string(),
                    partition,
                    metadata: log_dirs[0].join(METADATA_LOG_FILE).display().to_string(),
                });
            }
        }
    }
    Ok(cluster_id)
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
    // SAFETY: flock(2) on a descriptor `file` owns; it touches no memory of ours.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if locked == 0 {
        return Ok(file);
    }
    match io::Error::last_os_error() {
        e if e.kind() == io::ErrorKind::WouldBlock => Err(StartError::Locked {
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

fn read_meta_properties(dir: &Path) -> io::Result<Option<BTreeMap<String, String>>> {
    match std::fs::read_to_string(dir.join(META_PROPERTIES)) {
        Ok(text) => Ok(Some(properties(&text))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `meta.properties` (version 1) as Kafka does, through a renamed temporary file.
pub fn write_meta_properties(dir: &Path, cluster_id: &str, node_id: i32) -> io::Result<()> {
    let text = format!("#\n#Written by Tidelog\nversion=1\ncluster.id={cluster_id}\nnode.id={node_id}\n");
    let tmp = dir.join("meta.properties.tmp");
    std::fs::write(&tmp, text)?;
    File::open(&tmp)?.sync_all()?;
    std::fs::rename(tmp, dir.join(META_PROPERTIES))
}
