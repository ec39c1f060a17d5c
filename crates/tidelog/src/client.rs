//! What the client commands (`topics`, `groups`, `produce`, `consume`, `bench`) share: the
//! broker they talk to, how long they wait for it, and librdkafka's configuration for it.

use std::sync::OnceLock;
use std::time::Duration;

use rdkafka::config::ClientConfig;

/// How long any single client call may take before the command gives up.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The broker the client commands talk to when none is named.
pub const DEFAULT_BOOTSTRAP: &str = "localhost:9092";

/// The environment variable naming the broker when `--bootstrap-server` does not.
pub const BOOTSTRAP_ENV: &str = "TIDELOG_BOOTSTRAP_SERVER";

/// The `-X KEY=VALUE` librdkafka properties of the command line: set once, before any
/// client is made, and the same for every client of the command (a process-wide setting,
/// as the bootstrap servers are, without passing it through every command's code).
static PROPERTIES: OnceLock<Vec<(String, String)>> = OnceLock::new();

/// Records the command line's `-X` properties; only the first call counts.
pub fn set_properties(properties: Vec<(String, String)>) {
    let _ = PROPERTIES.set(properties);
}

/// Whether the `-X` properties ask for TLS (`security.protocol` SSL or SASL_SSL), which
/// only the librdkafka clients speak.
pub fn over_tls() -> bool {
    PROPERTIES
        .get()
        .into_iter()
        .flatten()
        .any(|(key, value)| key == "security.protocol" && value.to_ascii_lowercase().ends_with("ssl"))
}

/// Settings every librdkafka client shares, then the command line's `-X` properties.
/// Callers setting more after this win over `-X`, so `-X` cannot undo what a command needs.
pub fn client_config(bootstrap: &str, client_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap).set("client.id", client_id);
    for (key, value) in PROPERTIES.get().into_iter().flatten() {
        config.set(key, value);
    }
    config
}
