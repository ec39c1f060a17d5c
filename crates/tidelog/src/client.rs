//! What the client commands (`topics`, `groups`, `produce`, `consume`, `bench`) share: the
//! broker they talk to, how long they wait for it, and librdkafka's configuration for it.

use std::time::Duration;

use rdkafka::config::ClientConfig;

/// How long any single client call may take before the command gives up.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The broker the client commands talk to when none is named.
pub const DEFAULT_BOOTSTRAP: &str = "localhost:9092";

/// The environment variable naming the broker when `--bootstrap-server` does not.
pub const BOOTSTRAP_ENV: &str = "TIDELOG_BOOTSTRAP_SERVER";

/// Settings every librdkafka client shares.
pub fn client_config(bootstrap: &str, client_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("client.id", client_id);
    config
}
