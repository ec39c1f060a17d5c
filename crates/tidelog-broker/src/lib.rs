//! The Tidelog broker: a Kafka-compatible server on the `tidelog-protocol` codecs.
//!
//! `server` accepts connections, `connection` frames requests and orders responses,
//! `dispatch` routes each request to its handler in `handlers/` (one file per Kafka API),
//! and `broker` holds the shared state: configuration, identity and the `metadata` image.
//! `http` serves the `metrics`, health checks and the web `console`.

pub mod authorized_operations;
pub mod authorizer;
pub mod broker;
pub mod broker_lifecycle;
pub mod broker_sessions;
pub mod client_quotas;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod config_docs;
pub mod connection;
pub mod connection_quotas;
pub mod console;
pub mod coordinator;
pub mod data_dir;
pub mod dispatch;
pub mod features;
pub mod fetch_session;
pub mod file_version;
pub mod flusher;
pub mod grouping;
pub mod handlers;
pub mod http;
pub mod ids;
pub mod ip_connection_rate;
pub mod metadata;
pub mod metrics;
pub mod oauthbearer;
pub mod open_files;
pub mod partitions;
pub mod produce_validation;
pub mod quorum;
pub mod rejections;
pub mod replica;
pub mod replica_assignment;
pub mod replica_fetcher;
pub mod replication;
pub mod sasl;
pub mod scram;
pub mod server;
#[cfg(test)]
mod test_util;
pub mod tls;
pub mod topic_config;

pub use broker::{format_log_dirs, Broker};
pub use config::BrokerConfig;
pub use server::Server;
