//! Producer ids, handed out from blocks recorded in the metadata log before use, as
//! Kafka's controller allocates them (`AllocateProducerIds`): after a restart allocation
//! starts past the last recorded block, so an id is never given twice; ids of a block
//! unused at a crash are skipped.

use std::sync::Mutex;

use crate::metadata::{MetadataEvent, MetadataStore, StoreError};

/// How many ids one metadata record reserves (Kafka's block size).
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

/// The next id to give and the end of the current block.
#[derive(Debug)]
pub struct ProducerIdManager {
    block: Mutex<(i64, i64)>,
}

impl ProducerIdManager {
    /// Starts with no block: the first allocation records a new one past every earlier one.
    pub fn new(metadata: &MetadataStore) -> Self {
        let end = metadata.image().producer_ids_end();
        Self {
            block: Mutex::new((end, end)),
        }
    }

    /// A producer id never handed out before, durable before it is returned.
    pub fn allocate(&self, metadata: &MetadataStore) -> Result<i64, StoreError> {
        let mut block = self.block.lock().unwrap_or_else(|e| e.into_inner());
        let (next, end) = *block;
        if next < end {
            *block = (next + 1, end);
            return Ok(next);
        }
        let committed = metadata.commit::<()>(|image| {
            let start = image.producer_ids_end();
            Ok(MetadataEvent::ProducerIdsAllocated {
                end: start + PRODUCER_ID_BLOCK_SIZE,
            })
        })?;
        let Ok(MetadataEvent::ProducerIdsAllocated { end }) = committed else {
            unreachable!("the check above always allocates")
        };
        let start = end - PRODUCER_ID_BLOCK_SIZE;
        *block = (start + 1, end);
        Ok(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_never_repeat_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..3 {
            let metadata = MetadataStore::open(dir.path(), &crate::metadata::StoreSettings::for_tests()).unwrap();
            let ids = ProducerIdManager::new(&metadata);
            for _ in 0..1_500 {
                assert!(seen.insert(ids.allocate(&metadata).unwrap()));
            }
        }
        assert_eq!(*seen.iter().min().unwrap(), 0);
        let metadata = MetadataStore::open(dir.path(), &crate::metadata::StoreSettings::for_tests()).unwrap();
        assert_eq!(metadata.image().producer_ids_end(), 6 * PRODUCER_ID_BLOCK_SIZE);
    }
}
