//! Cluster metadata: topics, their ids, partition counts and config overrides.
//!
//! The state is an in-memory image rebuilt by replaying an event log (`store`), so every
//! change is durable before it is acknowledged and survives restarts.

mod image;
pub mod kraft;
mod store;

pub use image::{validate_topic_name, MetadataEvent, MetadataImage, TopicMeta};
pub use store::{MetadataStore, StoreError, METADATA_LOG_FILE};
