//! Batches for unit tests, built with the records module's builder.

use bytes::Bytes;
use tidelog_protocol::records::RecordBatchBuilder;

/// A batch of `records` records at `base_offset`, timestamps `timestamp`, `timestamp + 1`, ...
pub fn batch(base_offset: i64, records: usize, timestamp: i64) -> Bytes {
    let mut builder = RecordBatchBuilder::new(base_offset);
    for i in 0..records {
        let value = format!("value-{}", base_offset + i as i64);
        builder.append(timestamp + i as i64, None, Some(value.as_bytes()), &[]);
    }
    builder.build().as_bytes().clone()
}
