//! Helpers shared by unit tests: Kafka's small files, registered brokers.

use std::fmt::Debug;
use std::path::Path;

use tidelog_log::LogError;
use tidelog_protocol::Uuid;

use crate::metadata::BrokerMeta;

/// Broker `id` as the metadata registers it: epoch `10 + id`, one log dir of id `100 + id`.
pub fn registered_broker(id: i32, fenced: bool) -> BrokerMeta {
    BrokerMeta {
        id,
        epoch: 10 + i64::from(id),
        incarnation_id: Uuid::from_u128(id as u128),
        endpoints: Vec::new(),
        rack: None,
        log_dirs: vec![Uuid::from_u128(100 + id as u128)],
        fenced,
    }
}

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
