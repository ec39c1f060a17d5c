//! Helpers for the unit tests of Kafka's small files.

use std::fmt::Debug;
use std::path::Path;

use tidelog_log::LogError;

/// Writes each of `texts` to `path` in turn, and checks that `read` refuses it as corrupt,
/// naming `path`.
pub fn assert_each_corrupt<T: Debug>(path: &Path, texts: &[&str], read: impl Fn() -> Result<T, LogError>) {
    for text in texts {
        std::fs::write(path, text).unwrap();
        match read() {
            Err(LogError::Corrupt { path: named, .. }) => assert_eq!(named, path, "{text:?}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
}
