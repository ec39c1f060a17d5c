//! The metadata quorum on openraft (issue 12, docs/design/quorum.md): openraft's log
//! storage, state machine and types over Kafka's KRaft metadata log `__cluster_metadata-0`.
//! Step S2–S4 of the design: the storage layer, checked by openraft's own storage suite;
//! the broker does not run a `Raft` on it yet.

// openraft's storage traits return its `StorageError` (208 bytes); the helpers that build
// those errors return it too.
#![allow(clippy::result_large_err)]

pub mod codec;
pub mod log_store;
pub mod state_machine;
pub mod types;

pub use log_store::LogStore;
pub use state_machine::StateMachine;
pub use types::{MetadataEntry, NodeId, Payload, Proposal, TypeConfig, VoterEndpoint, VoterNode};

#[cfg(test)]
mod tests;
