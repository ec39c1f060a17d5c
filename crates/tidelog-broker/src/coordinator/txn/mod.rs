//! The transaction coordinator; for now the producer id allocation idempotent producers
//! need (InitProducerId without a transactional id).

mod producer_ids;

pub use producer_ids::{ProducerIdManager, PRODUCER_ID_BLOCK_SIZE};
