//! One module per Kafka API, named after it, each with one entry point of the same shape:
//! `async fn handle(ctx: &RequestContext, request: <Api>Request) -> Reply`, and the versions
//! it serves in `VERSIONS`, which ApiVersions advertises.
//!
//! A handler does its ordered work (appends, metadata changes) before it returns (a Produce
//! or TxnOffsetCommit that must first add partitions to a transaction awaits that, so a
//! later request of the connection cannot write ahead of it), and may return a future for
//! the part that waits (durability, long-poll), so the connection can read on while the
//! response waits its turn.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tidelog_protocol::ResponseBody;

use crate::broker::Broker;
use crate::config::Listener;

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_configs;
pub mod api_versions;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_topic_partitions;
pub mod describe_transactions;
pub mod elect_leaders;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod produce;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod update_features;
pub mod write_txn_markers;

/// What a handler knows of a request besides its body: who sent it, on which listener, and
/// the header's version and client id. One struct for every API, so that authorization,
/// quotas and the cluster's per-listener answers read the same facts.
pub struct RequestContext {
    pub broker: Arc<Broker>,
    /// The request header's API version.
    pub api_version: i16,
    /// The request header's client id (empty when null), as Kafka shows it in group members.
    pub client_id: String,
    pub principal: Principal,
    /// The listener the connection came in on, as advertised: its name, its security
    /// protocol and the host and port clients are told to use.
    pub listener: Arc<Listener>,
    pub peer: SocketAddr,
}

impl RequestContext {
    /// A request of `api_version` made inside the broker (the console's calls of
    /// handlers): an anonymous client named `client_id` on the broker's first listener,
    /// from 127.0.0.1.
    pub fn local(broker: &Arc<Broker>, api_version: i16, client_id: &str) -> RequestContext {
        RequestContext {
            broker: broker.clone(),
            api_version,
            client_id: client_id.to_string(),
            principal: Principal::anonymous(),
            listener: Arc::new(broker.config.advertised_listeners[0].clone()),
            peer: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }

    /// [`RequestContext::local`] without a client id, for handler tests.
    #[cfg(test)]
    pub fn for_test(broker: &Arc<Broker>, api_version: i16) -> RequestContext {
        RequestContext::local(broker, api_version, "")
    }

    /// The client's host as Kafka's group coordinator shows it: `/` and the address.
    pub fn client_host(&self) -> String {
        format!("/{}", self.peer.ip())
    }
}

/// Who sent a request, as Kafka's `KafkaPrincipal`: `User:alice` after SASL/PLAIN,
/// `User:ANONYMOUS` on a connection that did not authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
}

impl Principal {
    pub fn anonymous() -> Principal {
        Principal {
            name: "ANONYMOUS".into(),
        }
    }

    pub fn user(name: &str) -> Principal {
        Principal { name: name.into() }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "User:{}", self.name)
    }
}

/// What a handler answers.
pub enum Reply {
    Now(ResponseBody),
    Later(Pin<Box<dyn Future<Output = ResponseBody> + Send>>),
    Nothing,
    /// No answer, and the connection reads nothing more and closes once the responses
    /// before it are written: an `acks=0` Produce that failed, as Kafka closes it so that
    /// the client refreshes its metadata.
    Close,
}
