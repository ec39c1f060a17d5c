//! The cleaner's map from each key to the offset of its latest record in the dirty section,
//! bounded in memory (`log.cleaner.dedupe.buffer.size`): a dirty section with more keys than
//! fit is cleaned in several passes, each mapping as far as the memory allows.
//!
//! Kafka's `SkimpyOffsetMap` stores a 16-byte hash per key and accepts hash collisions;
//! keeping the keys themselves costs more memory per key but can never keep the wrong
//! record.

use std::collections::HashMap;

/// What an entry costs besides its key: the offset and the hash table's own overhead.
const ENTRY_OVERHEAD_BYTES: usize = 48;

#[derive(Debug)]
pub(crate) struct OffsetMap {
    offsets: HashMap<Box<[u8]>, i64>,
    used_bytes: usize,
    capacity_bytes: usize,
}

impl OffsetMap {
    pub(crate) fn new(capacity_bytes: usize) -> Self {
        Self {
            offsets: HashMap::new(),
            used_bytes: 0,
            capacity_bytes,
        }
    }

    /// Whether the map has used its memory: the mapping stops before the next batch.
    pub(crate) fn is_full(&self) -> bool {
        self.used_bytes >= self.capacity_bytes
    }

    /// Records that `key`'s latest record so far is at `offset` (offsets come in order).
    pub(crate) fn put(&mut self, key: &[u8], offset: i64) {
        match self.offsets.get_mut(key) {
            Some(latest) => *latest = offset,
            None => {
                self.used_bytes += key.len() + ENTRY_OVERHEAD_BYTES;
                self.offsets.insert(key.into(), offset);
            }
        }
    }

    /// The offset of `key`'s latest record in the mapped section, if it has one there.
    pub(crate) fn get(&self, key: &[u8]) -> Option<i64> {
        self.offsets.get(key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_offset_and_fills_up() {
        let mut map = OffsetMap::new(2 * (ENTRY_OVERHEAD_BYTES + 1));
        map.put(b"a", 1);
        map.put(b"a", 5);
        assert!(!map.is_full());
        map.put(b"b", 7);
        assert!(map.is_full());
        assert_eq!((map.get(b"a"), map.get(b"b"), map.get(b"c")), (Some(5), Some(7), None));
    }
}
