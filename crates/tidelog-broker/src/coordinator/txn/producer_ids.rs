//! Producer ids, handed out from blocks recorded in the metadata log before use, as
//! Kafka's controller allocates them (`AllocateProducerIds`): after a restart allocation
//! starts past the last recorded block, so an id is never given twice; ids of a block
//! unused at a crash are skipped. On a node of a cluster that does not lead the metadata
//! quorum, a block is asked of the leader, as Kafka's brokers ask the controller.

use std::sync::Mutex;
use std::time::Duration;

use tidelog_protocol::messages::allocate_producer_ids_request::AllocateProducerIdsRequest;
use tidelog_protocol::messages::allocate_producer_ids_response::AllocateProducerIdsResponse;
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

use crate::metadata::{MetadataEvent, MetadataStore, StoreError};

/// How long a node waits for the leader's block.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

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
        let start = match metadata.is_cluster() && !metadata.leads() {
            true => ask_leader(metadata)?,
            false => commit_block(metadata)?,
        };
        *block = (start + 1, start + PRODUCER_ID_BLOCK_SIZE);
        Ok(start)
    }
}

/// On the quorum's leader: a new block for the broker asking (AllocateProducerIds), if it
/// is registered at the epoch it says, as Kafka's controller checks.
pub fn grant_block(metadata: &MetadataStore, request: AllocateProducerIdsRequest) -> AllocateProducerIdsResponse {
    let refused = |code: ErrorCode| AllocateProducerIdsResponse {
        error_code: code.0,
        producer_id_start: -1,
        ..Default::default()
    };
    if !metadata.leads() {
        return refused(ErrorCode::NOT_CONTROLLER);
    }
    let registered = metadata.image().brokers().get(&request.broker_id).map(|b| b.epoch);
    if registered != Some(request.broker_epoch) {
        return refused(ErrorCode::STALE_BROKER_EPOCH);
    }
    match commit_block(metadata) {
        Ok(start) => AllocateProducerIdsResponse {
            producer_id_start: start,
            producer_id_len: PRODUCER_ID_BLOCK_SIZE as i32,
            ..Default::default()
        },
        Err(e) => {
            tracing::warn!(broker = request.broker_id, error = %e, "cannot allocate a producer id block");
            refused(crate::broker::store_error(e).code)
        }
    }
}

/// Records the next block in the metadata log (on the quorum's leader); its first id.
fn commit_block(metadata: &MetadataStore) -> Result<i64, StoreError> {
    let committed = metadata.commit::<()>(|image| {
        let start = image.producer_ids_end();
        Ok(MetadataEvent::ProducerIdsAllocated {
            end: start + PRODUCER_ID_BLOCK_SIZE,
        })
    })?;
    let Ok(MetadataEvent::ProducerIdsAllocated { end }) = committed else {
        unreachable!("the check above always allocates")
    };
    Ok(end - PRODUCER_ID_BLOCK_SIZE)
}

/// Asks the quorum's leader for a block; its first id.
fn ask_leader(metadata: &MetadataStore) -> Result<i64, StoreError> {
    let broker_id = metadata.node_id();
    let broker_epoch = metadata.image().brokers().get(&broker_id).map_or(-1, |b| b.epoch);
    let request = RequestBody::AllocateProducerIds(AllocateProducerIdsRequest {
        broker_id,
        broker_epoch,
        ..Default::default()
    });
    let refused = |why: String| StoreError::Controller(format!("no producer id block from the quorum's leader: {why}"));
    match metadata.ask_leader(request, ASK_TIMEOUT).map_err(refused)? {
        ResponseBody::AllocateProducerIds(r)
            if r.error_code == 0 && r.producer_id_len as i64 == PRODUCER_ID_BLOCK_SIZE =>
        {
            Ok(r.producer_id_start)
        }
        ResponseBody::AllocateProducerIds(r) => Err(refused(format!(
            "{} ({} ids)",
            ErrorCode(r.error_code).name(),
            r.producer_id_len
        ))),
        _ => Err(refused("an answer of another kind".into())),
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
