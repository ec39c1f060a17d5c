//! Per-log settings, named and defaulted as Kafka's broker properties (`log.*`) and topic
//! configs, and typed as Kafka types them so the broker maps properties one to one.

use crate::error::{LogError, Result};
use crate::offset_index::OFFSET_ENTRY_SIZE;
use crate::time_index::TIME_ENTRY_SIZE;
use tidelog_protocol::records::HEADER_LEN;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The smallest `segment.bytes` the log works with: room for one batch header. Kafka's
/// own floor (14 bytes before 4.0, 1 MiB since KIP-1030) differs; the broker validates
/// the properties against these floors so that every accepted config opens.
pub const MIN_SEGMENT_BYTES: i32 = HEADER_LEN as i32;

/// The smallest `segment.index.bytes` the log works with: one time index entry.
pub const MIN_SEGMENT_INDEX_BYTES: i32 = TIME_ENTRY_SIZE as i32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `log.segment.bytes` / `segment.bytes`: a segment rolls before it would exceed this.
    /// An `i32` because index entries store file positions as `i32`.
    pub segment_bytes: i32,
    /// `log.roll.ms` / `segment.ms`: a segment rolls once its first batch is this old.
    pub segment_ms: i64,
    /// `log.index.interval.bytes` / `index.interval.bytes`: bytes of log between two entries
    /// of the sparse indexes.
    pub index_interval_bytes: i32,
    /// `log.index.size.max.bytes` / `segment.index.bytes`: caps each index file, so a segment
    /// also rolls when its offset or time index is full.
    pub segment_index_bytes: i32,
    /// `log.retention.ms` / `retention.ms`: segments whose newest batch is older are deleted;
    /// -1 keeps them forever.
    pub retention_ms: i64,
    /// `log.retention.bytes` / `retention.bytes`: oldest segments are deleted while the log is
    /// larger; -1 means no limit.
    pub retention_bytes: i64,
    /// `log.segment.delete.delay.ms` / `file.delete.delay.ms`: how long the files of a
    /// segment deleted from the log stay, renamed `.deleted`, before they are removed.
    pub file_delete_delay_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 30,
            segment_ms: 7 * DAY_MS,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 << 20,
            retention_ms: 7 * DAY_MS,
            retention_bytes: -1,
            file_delete_delay_ms: 60_000,
        }
    }
}

impl LogConfig {
    /// Refuses values the log cannot work with (Kafka refuses them at config time too).
    pub fn validate(&self) -> Result<()> {
        let fail = |what: String| Err(LogError::InvalidConfig(what));
        if self.segment_bytes < MIN_SEGMENT_BYTES {
            return fail(format!(
                "segment.bytes {} is smaller than a batch header",
                self.segment_bytes
            ));
        }
        if self.segment_ms <= 0 {
            return fail(format!("segment.ms {} must be positive", self.segment_ms));
        }
        if self.index_interval_bytes < 0 {
            return fail(format!(
                "index.interval.bytes {} is negative",
                self.index_interval_bytes
            ));
        }
        if self.segment_index_bytes < MIN_SEGMENT_INDEX_BYTES {
            return fail(format!(
                "segment.index.bytes {} holds no index entry",
                self.segment_index_bytes
            ));
        }
        if self.file_delete_delay_ms < 0 {
            return fail(format!(
                "file.delete.delay.ms {} is negative",
                self.file_delete_delay_ms
            ));
        }
        Ok(())
    }

    /// How many entries the offset index of a segment may hold.
    pub fn max_offset_index_entries(&self) -> usize {
        self.segment_index_bytes.max(0) as usize / OFFSET_ENTRY_SIZE
    }

    /// How many entries the time index of a segment may hold.
    pub fn max_time_index_entries(&self) -> usize {
        self.segment_index_bytes.max(0) as usize / TIME_ENTRY_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let config = LogConfig::default();
        assert_eq!(config.segment_bytes, 1_073_741_824);
        assert_eq!(config.segment_ms, 604_800_000);
        assert_eq!(config.index_interval_bytes, 4096);
        assert_eq!(config.segment_index_bytes, 10_485_760);
        assert_eq!(config.retention_ms, 604_800_000);
        assert_eq!(config.retention_bytes, -1);
        assert_eq!(config.file_delete_delay_ms, 60_000);
        assert_eq!(config.max_offset_index_entries(), 1_310_720);
        assert_eq!(config.max_time_index_entries(), 873_813);
        config.validate().unwrap();
    }

    #[test]
    fn validate_refuses_unusable_values() {
        let invalid = [
            LogConfig {
                segment_bytes: 60,
                ..LogConfig::default()
            },
            LogConfig {
                segment_ms: 0,
                ..LogConfig::default()
            },
            LogConfig {
                index_interval_bytes: -1,
                ..LogConfig::default()
            },
            LogConfig {
                segment_index_bytes: 11,
                ..LogConfig::default()
            },
            LogConfig {
                file_delete_delay_ms: -1,
                ..LogConfig::default()
            },
        ];
        for config in invalid {
            assert!(
                matches!(config.validate(), Err(LogError::InvalidConfig(_))),
                "{config:?}"
            );
        }
    }
}
