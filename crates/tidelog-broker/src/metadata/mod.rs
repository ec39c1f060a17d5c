//! Cluster metadata: topics, their ids, partition counts and config overrides, producer id
//! blocks and feature levels.
//!
//! The store keeps it in Kafka's KRaft metadata log (`kraft`) and the broker reads it from
//! an in-memory image; each change is a [`MetadataEvent`], written as Kafka's metadata
//! records (`records`) and durable before it is acknowledged.

mod image;
pub mod kraft;
mod legacy;
pub mod records;
mod store;

pub use image::{
    validate_topic_name, BrokerEndpoint, BrokerMeta, MetadataEvent, MetadataImage, PartitionMeta, ReplicaRole,
    TopicMeta,
};
pub use legacy::LEGACY_LOG_FILE;
pub use store::{MetadataStore, StoreError, StoreSettings};
