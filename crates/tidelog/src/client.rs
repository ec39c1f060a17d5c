//! What the client commands (`topics`, `groups`, `produce`, `consume`, `bench`) share:
//! librdkafka's configuration for a broker, and an admin client whose async calls are
//! run to completion, so each command reads as a list of blocking calls.

use std::future::Future;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::metadata::{Metadata, MetadataTopic};

/// How long any single client call may take before the command gives up.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The broker the client commands talk to when none is named.
pub const DEFAULT_BOOTSTRAP: &str = "localhost:9092";

/// Settings every client shares.
pub fn client_config(bootstrap: &str, client_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("client.id", client_id);
    config
}

/// librdkafka's admin client with a runtime to wait on its answers.
pub struct Admin {
    pub client: AdminClient<DefaultClientContext>,
    runtime: tokio::runtime::Runtime,
    bootstrap: String,
}

impl Admin {
    pub fn connect(bootstrap: &str, client_id: &str) -> Result<Admin, String> {
        let client = client_config(bootstrap, client_id)
            .create()
            .map_err(|e| format!("cannot create the admin client: {e}"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Admin {
            client,
            runtime,
            bootstrap: bootstrap.to_string(),
        })
    }

    /// Options for every admin call: the broker has [`TIMEOUT`] to answer.
    pub fn options(&self) -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(TIMEOUT))
            .operation_timeout(Some(TIMEOUT))
    }

    /// Waits for an admin call's answer.
    pub fn wait<F: Future>(&self, call: F) -> F::Output {
        self.runtime.block_on(call)
    }

    /// The metadata of every topic. (Asking for one topic by name would create it, with
    /// the broker's `auto.create.topics.enable`.)
    pub fn metadata(&self) -> Result<Metadata, String> {
        self.client
            .inner()
            .fetch_metadata(None, TIMEOUT)
            .map_err(|e| format!("cannot read metadata from {}: {e}", self.bootstrap))
    }

    /// The partition ids of `topic`, sorted.
    pub fn partitions(&self, topic: &str) -> Result<Vec<i32>, String> {
        let metadata = self.metadata()?;
        let mut ids: Vec<i32> = find_topic(&metadata, topic)?
            .partitions()
            .iter()
            .map(|p| p.id())
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }
}

/// `topic` in `metadata`, or the error that it does not exist.
pub fn find_topic<'a>(metadata: &'a Metadata, topic: &str) -> Result<&'a MetadataTopic, String> {
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| format!("topic {topic} does not exist"))
}
