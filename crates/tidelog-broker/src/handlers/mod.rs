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

use tidelog_protocol::{ApiKey, ResponseBody};

use crate::authorizer::{self, table, AclOperation, Requester, ResourceType, CLUSTER_NAME};
use crate::broker::{ApiError, Broker};
use crate::client_quotas::{RequestQuota, Throttle};
use crate::config::Listener;

pub mod acls;
pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_client_quotas;
pub mod alter_configs;
pub mod alter_user_scram_credentials;
pub mod api_versions;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_acls;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_acls;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_acls;
pub mod describe_client_quotas;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_quorum;
pub mod describe_topic_partitions;
pub mod describe_transactions;
pub mod describe_user_scram_credentials;
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
pub mod offset_for_leader_epoch;
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
    /// The request's API.
    pub api_key: ApiKey,
    /// The request header's API version.
    pub api_version: i16,
    /// The request header's client id (empty when null), as Kafka shows it in group members.
    pub client_id: String,
    /// The connection's principal, set once it authenticates.
    pub principal: Arc<Principal>,
    /// The listener the connection came in on, as advertised: its name, its security
    /// protocol and the host and port clients are told to use.
    pub listener: Arc<Listener>,
    pub peer: SocketAddr,
    /// The request frame's size in bytes, as a produce quota counts it.
    pub request_size: usize,
    /// The connection's mute, for a client over its quota.
    pub throttle: Arc<Throttle>,
}

impl RequestContext {
    /// A request of `api_version` made inside the broker (the console's calls of
    /// handlers): an anonymous client named `client_id` on the broker's first listener,
    /// from 127.0.0.1.
    pub fn local(broker: &Arc<Broker>, api_version: i16, client_id: &str) -> RequestContext {
        RequestContext {
            broker: broker.clone(),
            api_key: ApiKey::ApiVersions,
            api_version,
            client_id: client_id.to_string(),
            principal: Arc::new(Principal::anonymous()),
            listener: Arc::new(broker.config.advertised_listeners[0].clone()),
            peer: SocketAddr::from(([127, 0, 0, 1], 0)),
            request_size: 0,
            throttle: Arc::default(),
        }
    }

    /// The quota `key` (`producer_byte_rate`, `consumer_byte_rate`) this request is
    /// measured against; `None`, at the cost of one look, when none applies to its user
    /// and client id.
    pub fn quota(&self, key: &'static str) -> Option<RequestQuota> {
        let configs = self.broker.metadata.client_quotas();
        RequestQuota::resolve(&configs, key, self.principal.name(), &self.client_id, &self.throttle)
    }

    /// Whether the principal may do to the resource what this request's API does to that
    /// type of resource (`authorizer::table`): the one check of every API. Always with no
    /// authorizer configured; never for a type of resource the table does not give the API.
    pub fn authorize(&self, resource_type: ResourceType, name: &str) -> bool {
        self.authorize_as(self.api_key, resource_type, name)
    }

    /// As [`authorize`](Self::authorize), for the cluster.
    pub fn authorize_cluster(&self) -> bool {
        self.authorize(ResourceType::Cluster, CLUSTER_NAME)
    }

    /// Whether the principal may do `operation` to the resource, whatever the API: for the
    /// operations a describe API reports (KIP-430) and the checks an API borrows from
    /// another's row of the table.
    pub fn authorize_operation(&self, operation: AclOperation, resource_type: ResourceType, name: &str) -> bool {
        let Some(settings) = &self.broker.config.authorizer else {
            return true;
        };
        // Never the image's lock: a caller may hold it (see `MetadataStore::acls`).
        let acls = self.broker.metadata.acls();
        authorizer::allowed(settings, &acls, self.requester(), operation, resource_type, name)
    }

    /// Whether the principal may do what API `api` does to the resource (a Metadata
    /// request that creates a topic needs what CreateTopics needs).
    pub fn authorize_as(&self, api: ApiKey, resource_type: ResourceType, name: &str) -> bool {
        // Without an authorizer, before the table's linear search: produce and fetch ask
        // this for each topic of each request.
        if self.broker.config.authorizer.is_none() {
            return true;
        }
        match table::operation(api, resource_type) {
            Some(operation) => self.authorize_operation(operation, resource_type, name),
            None => false,
        }
    }

    /// Whether the principal may do this API's operation on some resource of the type
    /// (Kafka's `authorizeByResourceType`).
    pub fn authorize_on_some(&self, operation: AclOperation, resource_type: ResourceType) -> bool {
        let Some(settings) = &self.broker.config.authorizer else {
            return true;
        };
        let who = self.requester();
        settings.super_users.iter().any(|u| *u == who.principal)
            || self
                .broker
                .metadata
                .acls()
                .allowed_on_some(who, operation, resource_type)
    }

    /// Whether the principal may do this API's operation on the resource of a config API
    /// (`ConfigResource` type: 2 topic, 4 broker and 8 broker logger, both the cluster's,
    /// 32 group); the resource's authorization error when it may not.
    pub fn authorize_config_resource(&self, config_resource_type: i8, name: &str) -> Result<(), ApiError> {
        let (resource_type, name) = match config_resource_type {
            2 => (ResourceType::Topic, name),
            32 => (ResourceType::Group, name),
            _ => (ResourceType::Cluster, CLUSTER_NAME),
        };
        match self.authorize(resource_type, name) {
            true => Ok(()),
            false => Err(ApiError::new(
                authorizer::denied_code(resource_type),
                "Authorization failed.",
            )),
        }
    }

    fn requester(&self) -> Requester<'_> {
        Requester {
            principal: self.principal.kafka(),
            host: self.peer.ip(),
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
    /// `User:<name>`, as ACLs name it.
    kafka: String,
}

impl Principal {
    pub fn anonymous() -> Principal {
        Principal::user("ANONYMOUS")
    }

    pub fn user(name: &str) -> Principal {
        Principal {
            kafka: format!("User:{name}"),
        }
    }

    /// The user's name, without the `User:` type.
    pub fn name(&self) -> &str {
        &self.kafka["User:".len()..]
    }

    /// `User:<name>`.
    pub fn kafka(&self) -> &str {
        &self.kafka
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kafka)
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
