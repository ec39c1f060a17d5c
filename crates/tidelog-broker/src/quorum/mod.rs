//! The metadata quorum on openraft (issue 12, docs/design/quorum.md): openraft's log
//! storage, state machine and types over Kafka's KRaft metadata log `__cluster_metadata-0`.
//! The broker's metadata store commits through a [`Quorum`] of one voter; the transport
//! between several nodes is the design's next step (S8).

// openraft's storage traits return its `StorageError` (208 bytes); the helpers that build
// those errors return it too.
#![allow(clippy::result_large_err)]

pub mod codec;
mod controller_quorum;
pub mod log_store;
mod network;
pub mod state_machine;
mod status;
pub mod transport;
pub mod types;
pub mod wire;

pub use controller_quorum::{ControllerAnswer, Peers, Quorum, QuorumError};
pub use log_store::LogStore;
pub use state_machine::StateMachine;
pub use status::QuorumStatus;
pub use types::{MetadataEntry, NodeId, Payload, Proposal, TypeConfig, VoterEndpoint, VoterNode};

#[cfg(test)]
mod simulation;
#[cfg(test)]
mod tests;
