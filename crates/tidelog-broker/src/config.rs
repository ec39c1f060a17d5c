//! Broker configuration with Kafka's property names and defaults.
//!
//! Read from a `server.properties`-style file, then overridden by `key=value` pairs from
//! the command line. Unknown properties are warned about, not fatal (so a Kafka config
//! file works as is); a known property with an invalid value is an error at start.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

mod http;
mod quorum;
pub use http::HttpListenerAddress;
pub use quorum::{ProcessRoles, QuorumConfig, Voter};

use crate::authorizer::{AuthorizerSettings, STANDARD_AUTHORIZER};
use crate::metadata::kraft::MetadataLogSettings;
use crate::oauthbearer::settings::{self, OAuthBearerProperties};
use crate::oauthbearer::{OAuthBearerSettings, OAUTHBEARER};
use crate::topic_config;
use thiserror::Error;
use tidelog_log::{
    DEFAULT_DEDUPE_BUFFER_BYTES, DEFAULT_IO_MAX_BYTES_PER_SECOND, MIN_SEGMENT_BYTES, MIN_SEGMENT_INDEX_BYTES,
};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("line {line} of the config file is not `key=value`: {text}")]
    Syntax { line: usize, text: String },
    #[error("invalid value `{value}` for `{key}`: {reason}")]
    Invalid { key: String, value: String, reason: String },
}

pub const PLAINTEXT: &str = "PLAINTEXT";
pub const SASL_PLAINTEXT: &str = "SASL_PLAINTEXT";
pub const SSL: &str = "SSL";
pub const SASL_SSL: &str = "SASL_SSL";

/// Kafka's security protocols, which `listener.security.protocol.map` maps each protocol's
/// own name to by default.
const SECURITY_PROTOCOLS: [&str; 4] = [PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL];

/// The TLS properties Tidelog applies, each also settable per listener
/// (`listener.name.<name>.ssl.*`, which wins).
const SSL_PROPERTIES: [&str; 14] = [
    "ssl.keystore.type",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.truststore.password",
    "ssl.keystore.location",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.client.auth",
    "ssl.enabled.protocols",
    "ssl.cipher.suites",
    "ssl.principal.mapping.rules",
];

/// The TLS versions Tidelog speaks, by Kafka's names: `ssl.enabled.protocols`' default.
const TLS_PROTOCOLS: [&str; 2] = ["TLSv1.2", "TLSv1.3"];

/// A key or trust store as Kafka's `ssl.keystore.*` or `ssl.truststore.*` give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// A PEM file (`*.location`, type PEM).
    PemFile(PathBuf),
    /// PEM text in the properties themselves (`ssl.keystore.certificate.chain` and
    /// `ssl.keystore.key`, or `ssl.truststore.certificates`).
    PemInline(Password),
    /// A PKCS12 file (`*.location`, type PKCS12) and the store's password.
    Pkcs12File(PathBuf, Password),
}

/// A secret from the properties (a password, a private key): never printed, so a
/// configuration logged or shown in an error does not give it away.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(secret: impl Into<String>) -> Password {
        Password(secret.into())
    }

    /// The secret itself, for the code that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[hidden]")
    }
}

/// Kafka's `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    /// A client certificate is asked for and checked if given, not required.
    Requested,
    Required,
}

/// A TLS listener's settings, from Kafka's PEM key and trust store properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The private key and the certificate chain.
    pub keystore: Store,
    /// `ssl.key.password`: what decrypts an encrypted PEM private key.
    pub key_password: Option<Password>,
    /// The CA certificates client certificates are checked against.
    pub truststore: Option<Store>,
    pub client_auth: ClientAuth,
    /// `ssl.enabled.protocols`: some of [`TLS_PROTOCOLS`].
    pub enabled_protocols: Vec<String>,
    /// `ssl.cipher.suites`, by IANA's names; empty for every suite (Kafka's default).
    pub cipher_suites: Vec<String>,
    /// `ssl.principal.mapping.rules`, parsed when the listener is bound.
    pub principal_mapping_rules: String,
}

/// The prefix of Kafka's per-listener properties, `listener.name.<name>.<property>`.
pub(crate) const LISTENER_PREFIX: &str = "listener.name.";

/// A SASL listener's PLAIN accounts, after [`LISTENER_PREFIX`] and the listener's name in
/// lower case: a JAAS line whose `user_NAME="PASSWORD"` entries are the accounts.
const PLAIN_JAAS: &str = "plain.sasl.jaas.config";

/// A listener, `NAME://host:port`: its name, and the security protocol the name maps to
/// (`listener.security.protocol.map`; by default a protocol's name maps to itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub protocol: String,
    pub host: String,
    pub port: u16,
}

impl Listener {
    /// Parses `NAME://host:port`; the name is upper-cased, as Kafka normalises it.
    fn parse(text: &str) -> Result<Listener, String> {
        let (name, rest) = text.split_once("://").ok_or("expected NAME://host:port")?;
        let name = name.to_ascii_uppercase();
        let (host, port) = rest.rsplit_once(':').ok_or("expected a port")?;
        let port = port.parse().map_err(|_| format!("bad port `{port}`"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        Ok(Listener {
            protocol: name.clone(),
            name,
            host,
            port,
        })
    }

    /// Whether clients must authenticate with SASL before anything else.
    pub fn is_sasl(&self) -> bool {
        self.protocol == SASL_PLAINTEXT || self.protocol == SASL_SSL
    }

    /// Whether connections speak TLS.
    pub fn is_tls(&self) -> bool {
        self.protocol == SSL || self.protocol == SASL_SSL
    }

    /// The address to bind: an empty host binds every interface; a host name is resolved
    /// (the first address it has).
    pub fn bind_addr(&self) -> Result<SocketAddr, String> {
        let host = if self.host.is_empty() { "0.0.0.0" } else { &self.host };
        (host, self.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
            .next()
            .ok_or_else(|| format!("`{host}` has no address"))
    }
}

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub node_id: i32,
    /// `process.roles`, the voters and the inter-broker listener.
    pub quorum: QuorumConfig,
    pub listeners: Vec<Listener>,
    /// What clients are told to connect to, one per listener and in the same order: the
    /// `advertised.listeners` entry of the listener's name, else the listener itself with
    /// an empty or wildcard host advertised as `localhost`.
    pub advertised_listeners: Vec<Listener>,
    /// The listeners of `controller.listener.names`, served (to the other voters' quorum
    /// RPCs only) when the metadata quorum has more than this node; else none.
    pub controller_listeners: Vec<Listener>,
    pub log_dirs: Vec<PathBuf>,
    /// The HTTP listeners (metrics, health, console); none turns HTTP off.
    pub http_listeners: Vec<HttpListenerAddress>,
    /// The TLS settings of the HTTPS listeners (`http.ssl.*`, else `ssl.*`), if there are any.
    pub http_tls: Option<TlsSettings>,
    /// `metrics.partition.series.enable` (Tidelog's): whether `/metrics` has a series per
    /// partition (log size, start and end offsets, the cleaner's figures); off for brokers
    /// of many partitions, whose scrapes they would make large.
    pub metrics_partition_series_enable: bool,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics_enable: bool,
    pub log_segment_bytes: i64,
    /// `metadata.log.segment.bytes`, `metadata.log.max.record.bytes.between.snapshots`,
    /// `metadata.max.retention.bytes` and `.ms`: how the KRaft metadata log is kept.
    pub metadata_log: MetadataLogSettings,
    pub log_roll_ms: i64,
    pub log_retention_ms: i64,
    pub log_retention_bytes: i64,
    pub log_retention_check_interval_ms: i64,
    /// `log.cleaner.backoff.ms`: how often the cleaner looks for partitions to compact.
    pub log_cleaner_backoff_ms: i64,
    /// `log.cleaner.dedupe.buffer.size`: the memory of the cleaner's offset map.
    pub log_cleaner_dedupe_buffer_size: i64,
    /// `log.cleaner.threads`: how many partitions are cleaned at once; 0 turns the cleaner
    /// off, as in Kafka.
    pub log_cleaner_threads: i32,
    /// `log.cleaner.io.max.bytes.per.second`: the cleaner threads' reads and writes together.
    pub log_cleaner_io_max_bytes_per_second: f64,
    /// `log.open.files.max` (Tidelog's): how many segment and index files stay open at
    /// once; -1 for half the process's open-file limit (see `open_files.rs`).
    pub log_open_files_max: i64,
    /// `num.recovery.threads.per.data.dir`: partitions each log dir opens at once at a
    /// start (Kafka's default 2).
    pub num_recovery_threads_per_data_dir: i32,
    pub log_index_interval_bytes: i32,
    pub log_index_size_max_bytes: i32,
    pub message_max_bytes: i32,
    pub socket_request_max_bytes: i32,
    /// The most a Fetch response holds, whatever the client asks (KIP-74; Kafka: 55 MiB),
    /// but for the first batch of a response.
    pub fetch_max_bytes: i32,
    pub log_flush_interval_messages: i64,
    pub log_flush_interval_ms: Option<i64>,
    pub delete_topic_enable: bool,
    /// How long a rebalance of an empty group waits for more members (Kafka: 3 s).
    pub group_initial_rebalance_delay_ms: i64,
    /// Partitions of `__consumer_offsets` when it is created.
    pub offsets_topic_num_partitions: i32,
    /// `segment.bytes` of `__consumer_offsets` when it is created (Kafka: 100 MiB, smaller
    /// than other topics' so that it is compacted sooner).
    pub offsets_topic_segment_bytes: i32,
    /// How long the offsets of a group without members are kept (Kafka: 7 days, set in
    /// minutes by `offsets.retention.minutes`).
    pub offsets_retention_ms: i64,
    /// How often expired offsets are looked for (Kafka: 10 minutes).
    pub offsets_retention_check_interval_ms: i64,
    /// How long a partition remembers an idle idempotent producer (Kafka: a day).
    pub producer_id_expiration_ms: i64,
    /// KIP-848 consumer groups: a member's session timeout (Kafka: 45 s).
    pub group_consumer_session_timeout_ms: i64,
    /// In a cluster: how long the controller waits for a broker's heartbeat before it
    /// fences it: 1 s, the quorum's own election timeout (Kafka: 9 s), so that a dead
    /// leader's partitions move within seconds.
    pub broker_session_timeout_ms: i64,
    /// In a cluster: how often a broker sends the controller a heartbeat: 200 ms, five to
    /// a session (Kafka: 2 s).
    pub broker_heartbeat_interval_ms: i64,
    /// The in-sync replicas an acks=all write needs, for topics that do not set it.
    pub min_insync_replicas: i64,
    /// Whether the controller moves leaderships back to preferred replicas by itself, every
    /// `leader.imbalance.check.interval.seconds`, for the brokers that lead fewer than
    /// `100 - leader.imbalance.per.broker.percentage` % of the partitions they prefer.
    pub auto_leader_rebalance_enable: bool,
    /// This broker's rack (`broker.rack`), registered with the controller and listed in
    /// Metadata.
    pub broker_rack: Option<String>,
    /// Whether leaders send consumers to a replica in their rack (KIP-392):
    /// `replica.selector.class` set to Kafka's RackAwareReplicaSelector.
    pub rack_aware_replica_selector: bool,
    pub leader_imbalance_check_interval_seconds: i64,
    pub leader_imbalance_per_broker_percentage: i64,
    /// A follower not caught up with its leader for this long leaves the in-sync replicas.
    pub replica_lag_time_max_ms: i64,
    /// How long a follower's fetch waits at the leader for new data.
    pub replica_fetch_wait_max_ms: i32,
    /// What a follower's fetch asks of each partition, and of all of them.
    pub replica_fetch_max_bytes: i32,
    pub replica_fetch_response_max_bytes: i32,
    /// KIP-848 consumer groups: the heartbeat interval told to members (Kafka: 5 s).
    pub group_consumer_heartbeat_interval_ms: i64,
    /// KIP-848 server-side assignors offered, the first being the default.
    pub group_consumer_assignors: Vec<String>,
    /// Partitions of `__transaction_state` when it is created (Kafka: 50).
    pub transaction_state_log_num_partitions: i32,
    /// `segment.bytes` of `__transaction_state` when it is created (Kafka: 100 MiB).
    pub transaction_state_log_segment_bytes: i32,
    /// The longest transaction timeout a producer may ask for (Kafka: 15 minutes).
    pub transaction_max_timeout_ms: i32,
    /// How long an unused transactional id is remembered (Kafka: 7 days).
    pub transactional_id_expiration_ms: i64,
    /// How often transactions past their timeout are looked for and aborted (Kafka: 10 s).
    pub transaction_abort_timed_out_transaction_cleanup_interval_ms: i64,
    /// Whether a transactional batch is accepted only for a partition its producer added
    /// to its ongoing transaction (KIP-890 part 1; Kafka: true).
    pub transaction_partition_verification_enable: bool,
    /// The SASL/PLAIN accounts of each SASL listener, by listener name: user name to
    /// password.
    pub sasl_plain_users: BTreeMap<String, BTreeMap<String, String>>,
    /// `sasl.enabled.mechanisms`: what SASL listeners offer unless their own
    /// `listener.name.<name>.sasl.enabled.mechanisms` says otherwise (Kafka: GSSAPI, which
    /// Tidelog lacks; here PLAIN).
    pub sasl_enabled_mechanisms: Vec<String>,
    /// `listener.name.<name>.sasl.enabled.mechanisms`, by listener name.
    pub listener_sasl_enabled_mechanisms: BTreeMap<String, Vec<String>>,
    /// How each SASL listener that enables OAUTHBEARER checks bearer tokens, by listener name.
    pub oauthbearer: BTreeMap<String, OAuthBearerSettings>,
    /// `connections.max.reauth.ms` (KIP-368): a SASL session's lifetime, past which its
    /// connection is closed unless it re-authenticated; 0 (Kafka's default): no limit.
    pub connections_max_reauth_ms: i64,
    /// `max.connections`, `max.connections.per.ip` (and its overrides) and
    /// `max.connection.creation.rate`.
    pub connection_limits: crate::connection_quotas::ConnectionLimits,
    /// `quota.window.num` windows of `quota.window.size.seconds` each, over which client
    /// quotas are measured.
    pub quota_window: crate::client_quotas::QuotaWindow,
    /// `controller.quota.window.num` windows of `controller.quota.window.size.seconds`:
    /// a `controller_mutation_rate` bucket holds this span's worth of partitions.
    pub controller_quota_window: crate::client_quotas::QuotaWindow,
    /// The TLS settings of each SSL and SASL_SSL listener, by listener name.
    pub tls: BTreeMap<String, TlsSettings>,
    /// ACLs enforced (`authorizer.class.name` is Kafka's StandardAuthorizer), with these
    /// settings; `None`: everyone may do everything.
    pub authorizer: Option<AuthorizerSettings>,
    /// Every property as given (after overrides), for DescribeConfigs; secrets left out.
    pub explicit: BTreeMap<String, String>,
    /// The names of the secret properties given, without their values: DescribeConfigs
    /// says a [`SENSITIVE_CONFIGS`] one was set.
    pub secrets_given: BTreeSet<String>,
}

/// Kafka's broker configs of type PASSWORD that Tidelog reads: DescribeConfigs lists them
/// as Kafka does, sensitive and without a value.
pub const SENSITIVE_CONFIGS: [&str; 4] = [
    "ssl.key.password",
    "ssl.keystore.key",
    "ssl.keystore.password",
    "ssl.truststore.password",
];

const HOUR_MS: i64 = 60 * 60 * 1000;

impl Default for BrokerConfig {
    fn default() -> BrokerConfig {
        let listener = Listener {
            name: PLAINTEXT.into(),
            protocol: PLAINTEXT.into(),
            host: String::new(),
            port: 9092,
        };
        BrokerConfig {
            node_id: 1,
            quorum: QuorumConfig::default(),
            listeners: vec![listener.clone()],
            advertised_listeners: vec![advertise(&listener)],
            controller_listeners: Vec::new(),
            log_dirs: vec![PathBuf::from("data")],
            http_listeners: vec![HttpListenerAddress::http("127.0.0.1:8080")],
            http_tls: None,
            metrics_partition_series_enable: true,
            num_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics_enable: true,
            log_segment_bytes: 1 << 30,
            metadata_log: MetadataLogSettings::default(),
            log_roll_ms: 168 * HOUR_MS,
            log_retention_ms: 168 * HOUR_MS,
            log_retention_bytes: -1,
            log_retention_check_interval_ms: 300_000,
            log_cleaner_backoff_ms: 15_000,
            log_cleaner_dedupe_buffer_size: DEFAULT_DEDUPE_BUFFER_BYTES as i64,
            log_cleaner_threads: 1,
            log_cleaner_io_max_bytes_per_second: DEFAULT_IO_MAX_BYTES_PER_SECOND,
            log_open_files_max: -1,
            num_recovery_threads_per_data_dir: 2,
            log_index_interval_bytes: 4096,
            log_index_size_max_bytes: 10 * 1024 * 1024,
            message_max_bytes: 1_048_588,
            socket_request_max_bytes: 104_857_600,
            fetch_max_bytes: 57_671_680,
            log_flush_interval_messages: i64::MAX,
            log_flush_interval_ms: None,
            delete_topic_enable: true,
            group_initial_rebalance_delay_ms: 3000,
            offsets_topic_num_partitions: 50,
            offsets_topic_segment_bytes: 100 << 20,
            offsets_retention_ms: 7 * 24 * HOUR_MS,
            offsets_retention_check_interval_ms: 600_000,
            producer_id_expiration_ms: 86_400_000,
            group_consumer_session_timeout_ms: 45_000,
            broker_session_timeout_ms: 1_000,
            broker_heartbeat_interval_ms: 200,
            min_insync_replicas: 1,
            auto_leader_rebalance_enable: true,
            broker_rack: None,
            rack_aware_replica_selector: false,
            leader_imbalance_check_interval_seconds: 300,
            leader_imbalance_per_broker_percentage: 10,
            replica_lag_time_max_ms: 30_000,
            replica_fetch_wait_max_ms: 500,
            replica_fetch_max_bytes: 1_048_576,
            replica_fetch_response_max_bytes: 10_485_760,
            group_consumer_heartbeat_interval_ms: 5_000,
            group_consumer_assignors: vec!["uniform".into(), "range".into()],
            transaction_state_log_num_partitions: 50,
            transaction_state_log_segment_bytes: 100 << 20,
            transaction_max_timeout_ms: 900_000,
            transactional_id_expiration_ms: 604_800_000,
            transaction_abort_timed_out_transaction_cleanup_interval_ms: 10_000,
            transaction_partition_verification_enable: true,
            sasl_plain_users: BTreeMap::new(),
            sasl_enabled_mechanisms: vec![crate::sasl::PLAIN.to_string()],
            listener_sasl_enabled_mechanisms: BTreeMap::new(),
            oauthbearer: BTreeMap::new(),
            connections_max_reauth_ms: 0,
            connection_limits: Default::default(),
            quota_window: Default::default(),
            controller_quota_window: Default::default(),
            authorizer: None,
            tls: BTreeMap::new(),
            explicit: BTreeMap::new(),
            secrets_given: BTreeSet::new(),
        }
    }
}

fn advertise(listener: &Listener) -> Listener {
    let mut advertised = listener.clone();
    if advertised.host.is_empty() || advertised.host == "0.0.0.0" || advertised.host == "::" {
        advertised.host = "localhost".into();
    }
    advertised
}

/// Parses Java `.properties` text: `key=value` or `key: value`, `#`/`!` comments.
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let mut line = raw.trim().to_string();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        // As in Java's properties: a line ending in an odd number of backslashes goes on
        // on the next one (Kafka's documentation writes JAAS lines so).
        while (line.len() - line.trim_end_matches('\\').len()) % 2 == 1 {
            line.pop();
            match lines.next() {
                Some((_, next)) => line.push_str(next.trim()),
                None => break,
            }
        }
        let split = line.find(['=', ':']).ok_or_else(|| ConfigError::Syntax {
            line: i + 1,
            text: raw.into(),
        })?;
        out.push((line[..split].trim().to_string(), line[split + 1..].trim().to_string()));
    }
    Ok(out)
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value.parse().map_err(|_| invalid(key, value, "not a number in range"))
}

fn at_least<T: std::str::FromStr + PartialOrd + std::fmt::Display>(
    key: &str,
    value: &str,
    min: T,
) -> Result<T, ConfigError> {
    let n: T = number(key, value)?;
    if n < min {
        return Err(invalid(key, value, format!("must be at least {min}")));
    }
    Ok(n)
}

/// A rate in bytes a second: at least one (Kafka takes any double, but a rate of nothing
/// would stop the cleaner for good).
fn rate(key: &str, value: &str) -> Result<f64, ConfigError> {
    match at_least::<f64>(key, value, 1.0)? {
        rate if rate.is_nan() => Err(invalid(key, value, "not a number in range")),
        rate => Ok(rate),
    }
}

/// `value` as Java's `Double.toString` writes it, as Kafka describes its double configs:
/// scientific notation (`1.7976931348623157E308`) outside 10^-3 to 10^7.
fn java_double(value: f64) -> String {
    if value == 0.0 || (1e-3..1e7).contains(&value.abs()) {
        return format!("{value:?}");
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} has an exponent");
    match mantissa.contains('.') {
        true => format!("{mantissa}E{exponent}"),
        false => format!("{mantissa}.0E{exponent}"),
    }
}

/// A replication factor, which is 1 until replication exists: a larger one would be
/// accepted here and then fail every topic creation.
fn one_replica(key: &str, value: &str) -> Result<i16, ConfigError> {
    match at_least(key, value, 1)? {
        1 => Ok(1),
        _ => Err(invalid(
            key,
            value,
            "must be 1: a single Tidelog node keeps one replica of each partition",
        )),
    }
}

/// A comma-separated list of known assignor names, at least one.
fn assignors(key: &str, value: &str) -> Result<Vec<String>, ConfigError> {
    let names: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect();
    let known = crate::coordinator::consumer::assignor::ASSIGNORS;
    if names.is_empty() || names.iter().any(|n| !known.contains(&n.as_str())) {
        return Err(invalid(key, value, format!("must list assignors among {known:?}")));
    }
    Ok(names)
}

/// Whether `authorizer.class.name` turns ACLs on: Kafka's StandardAuthorizer does, an empty
/// name (Kafka's default) does not, and any other class is refused rather than ignored.
fn authorizer_class(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        "" => Ok(false),
        STANDARD_AUTHORIZER => Ok(true),
        _ => Err(invalid(
            key,
            value,
            format!("the one authorizer is {STANDARD_AUTHORIZER}"),
        )),
    }
}

/// Kafka's replica selector that sends a consumer to a replica of its rack (KIP-392).
pub const RACK_AWARE_REPLICA_SELECTOR: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";

/// Whether `replica.selector.class` sends consumers to replicas of their rack: Kafka's
/// RackAwareReplicaSelector does, an empty name (Kafka's default: the leader serves all)
/// does not, and any other class is refused rather than ignored.
fn replica_selector(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        "" | "org.apache.kafka.common.replica.LeaderSelector" => Ok(false),
        RACK_AWARE_REPLICA_SELECTOR => Ok(true),
        _ => Err(invalid(
            key,
            value,
            format!("the one replica selector is {RACK_AWARE_REPLICA_SELECTOR}"),
        )),
    }
}

fn boolean(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, value, "expected true or false")),
    }
}

/// Properties that hold passwords (JAAS lines, `*.password`): never kept as given.
fn is_secret(key: &str) -> bool {
    key.ends_with("jaas.config") || key.contains("password") || key.ends_with("ssl.keystore.key")
}

/// The `user_NAME="PASSWORD"` options of a PlainLoginModule JAAS line.
fn jaas_users(jaas: &str) -> Result<BTreeMap<String, String>, String> {
    let mut users = BTreeMap::new();
    for (name, value) in jaas_options(jaas)? {
        if let Some(user) = name.strip_prefix("user_") {
            if user.is_empty() || value.is_empty() {
                return Err("an account needs a user name and a password".into());
            }
            users.insert(user.to_string(), value);
        }
    }
    Ok(users)
}

/// The `name="value"` (or `name=value`) options of a JAAS line, read as they are written
/// (a backslash escapes the next character in a quoted value).
pub(crate) fn jaas_options(jaas: &str) -> Result<BTreeMap<String, String>, String> {
    let mut options = BTreeMap::new();
    let mut rest = jaas;
    while let Some(equals) = rest.find('=') {
        let name = rest[..equals].split_whitespace().last().unwrap_or_default();
        let quoted = rest[equals + 1..].trim_start();
        let (value, after) = match quoted.strip_prefix('"') {
            Some(inside) => quoted_value(inside).ok_or("unterminated quoted value")?,
            None => {
                let end = quoted.find([' ', ';']).unwrap_or(quoted.len());
                (quoted[..end].to_string(), &quoted[end..])
            }
        };
        options.insert(name.to_string(), value);
        rest = after;
    }
    Ok(options)
}

/// The value of a quoted option, from just after its opening quote; with what follows it.
fn quoted_value(inside: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = inside.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?.1),
            '"' => return Some((value, &inside[i + 1..])),
            c => value.push(c),
        }
    }
    None
}

fn list_listeners(listeners: &[Listener]) -> String {
    listeners
        .iter()
        .map(|l| format!("{}://{}:{}", l.name, l.host, l.port))
        .collect::<Vec<_>>()
        .join(",")
}

/// `host:port,...`; empty for none.
/// -1 (automatic) or a budget of at least [`crate::open_files::MIN_BUDGET`] files.
fn open_files_max(key: &str, value: &str) -> Result<i64, ConfigError> {
    let min = crate::open_files::MIN_BUDGET as i64;
    match number(key, value)? {
        n if n == -1 || n >= min => Ok(n),
        _ => Err(invalid(key, value, format!("must be -1 or at least {min}"))),
    }
}

fn listeners(key: &str, value: &str) -> Result<Vec<Listener>, ConfigError> {
    let list: Result<Vec<_>, _> = value.split(',').map(|l| Listener::parse(l.trim())).collect();
    list.map_err(|reason| invalid(key, value, reason))
}

/// Kafka's `listener.security.protocol.map`: `NAME:PROTOCOL,...`.
fn protocol_map(key: &str, value: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    value
        .split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| {
            let (name, protocol) = entry
                .split_once(':')
                .ok_or_else(|| invalid(key, value, "expected NAME:PROTOCOL entries"))?;
            Ok((name.trim().to_ascii_uppercase(), protocol.trim().to_ascii_uppercase()))
        })
        .collect()
}

/// The controller listeners of a quorum of several voters: plaintext for now (the quorum's
/// RPCs do not use TLS or SASL yet).
fn controller_listeners(
    controllers: Vec<Listener>,
    protocols: &BTreeMap<String, String>,
) -> Result<Vec<Listener>, ConfigError> {
    for listener in &controllers {
        if let Err(reason) = listener.bind_addr() {
            return Err(invalid("listeners", &listener.name, reason));
        }
        let protocol = protocols.get(&listener.name).map_or("", String::as_str);
        if protocol != "PLAINTEXT" {
            return Err(invalid(
                "listener.security.protocol.map",
                &format!("{}:{protocol}", listener.name),
                "the controller listener of a quorum of several voters is PLAINTEXT for now",
            ));
        }
    }
    Ok(controllers
        .into_iter()
        .map(|l| Listener {
            protocol: "PLAINTEXT".into(),
            ..l
        })
        .collect())
}

/// The listeners clients use: every one but the controller's (`controller.listener.names`),
/// each with the security protocol `listener.security.protocol.map` gives its name, checked
/// as Kafka's KafkaConfig checks them (distinct names, distinct ports but 0, a protocol for
/// every name), and each speaking a protocol served here.
fn client_listeners(
    all: &[Listener],
    protocols: &BTreeMap<String, String>,
    controller_names: &[String],
) -> Result<Vec<Listener>, ConfigError> {
    let text = list_listeners(all);
    let refuse = |reason: String| Err(invalid("listeners", &text, reason));
    let mut served: Vec<Listener> = Vec::new();
    for listener in all.iter().filter(|l| !controller_names.contains(&l.name)) {
        let Some(protocol) = protocols.get(&listener.name) else {
            return refuse(format!(
                "no security protocol defined for listener {} in listener.security.protocol.map",
                listener.name
            ));
        };
        if !SECURITY_PROTOCOLS.contains(&protocol.as_str()) {
            return refuse(format!(
                "listener {} maps to `{protocol}`, which is none of {}",
                listener.name,
                SECURITY_PROTOCOLS.join(", ")
            ));
        }
        if served.iter().any(|l| l.name == listener.name) {
            return refuse(format!("each listener must have a different name ({})", listener.name));
        }
        if listener.port != 0 && served.iter().any(|l| l.port == listener.port) {
            return refuse(format!("each listener must have a different port ({})", listener.port));
        }
        served.push(Listener {
            protocol: protocol.clone(),
            ..listener.clone()
        });
    }
    if served.is_empty() {
        return refuse("no listener for clients (every one is a controller listener)".into());
    }
    Ok(served)
}

/// For each of `listeners`, what clients are told: its `advertised.listeners` entry (which
/// must name a listener and not the wildcard address, as Kafka requires), else itself.
fn advertised_listeners(
    listeners: &[Listener],
    advertised: Option<&[Listener]>,
    controller_names: &[String],
) -> Result<Vec<Listener>, ConfigError> {
    const KEY: &str = "advertised.listeners";
    let given: Vec<&Listener> = advertised
        .unwrap_or_default()
        .iter()
        .filter(|l| !controller_names.contains(&l.name))
        .collect();
    let text = || {
        given
            .iter()
            .map(|l| format!("{}://{}:{}", l.name, l.host, l.port))
            .collect::<Vec<_>>()
            .join(",")
    };
    for (i, entry) in given.iter().enumerate() {
        if !listeners.iter().any(|l| l.name == entry.name) {
            let names: Vec<&str> = listeners.iter().map(|l| l.name.as_str()).collect();
            return Err(invalid(
                KEY,
                &text(),
                format!(
                    "listener names must be equal to or a subset of the ones defined in listeners; {} is not one of {}",
                    entry.name,
                    names.join(",")
                ),
            ));
        }
        if given[..i].iter().any(|l| l.name == entry.name) {
            return Err(invalid(KEY, &text(), format!("{} is advertised twice", entry.name)));
        }
        if entry.host == "0.0.0.0" || entry.host == "::" {
            return Err(invalid(
                KEY,
                &text(),
                "cannot use the nonroutable meta-address 0.0.0.0; use a routable IP address",
            ));
        }
    }
    Ok(listeners
        .iter()
        .map(|listener| match given.iter().find(|a| a.name == listener.name) {
            Some(entry) => Listener {
                protocol: listener.protocol.clone(),
                ..(*entry).clone()
            },
            None => advertise(listener),
        })
        .collect())
}

/// Whose `ssl.*` properties these are.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum SslScope {
    /// `ssl.*`: every TLS listener's, unless its own property says otherwise.
    Broker,
    /// `listener.name.<name>.ssl.*`: the Kafka listener `<name>`'s.
    Listener(String),
    /// `http.ssl.*`: the HTTPS listeners'.
    Http,
}

/// The `ssl.*` properties given, by (scope, property): the key as written and the value.
type SslProperties = BTreeMap<(SslScope, String), (String, String)>;

/// The TLS listener whose settings are read, as errors name it: the property that made
/// it (`listeners`, `http.listeners`), its entry there, and what it is.
struct TlsOwner {
    scope: SslScope,
    key: &'static str,
    entry: String,
    what: String,
    /// Whether only the owner's own `ssl.client.auth` applies: a SASL_SSL listener's, as
    /// Kafka's ChannelBuilders has it since KIP-684, so a broker-wide `required` for the
    /// SSL listeners does not ask SASL clients for certificates.
    own_client_auth_only: bool,
}

impl TlsOwner {
    fn listener(listener: &Listener) -> TlsOwner {
        TlsOwner {
            scope: SslScope::Listener(listener.name.clone()),
            key: "listeners",
            entry: format!("{}://{}:{}", listener.name, listener.host, listener.port),
            what: format!("the {} listener {}", listener.protocol, listener.name),
            own_client_auth_only: listener.is_sasl(),
        }
    }

    fn http(listener: &HttpListenerAddress) -> TlsOwner {
        TlsOwner {
            scope: SslScope::Http,
            key: "http.listeners",
            entry: listener.url(),
            what: "the HTTPS listener (by its http.ssl.* properties, else the ssl.* ones)".to_string(),
            own_client_auth_only: false,
        }
    }
}

/// The TLS settings of `owner` from the `ssl.*` properties, its own first, checked as far
/// as text allows (the files are read when the listener is bound).
fn tls_settings(owner: &TlsOwner, ssl: &SslProperties) -> Result<TlsSettings, ConfigError> {
    let of = |scope: SslScope, property: &str| {
        ssl.get(&(scope, property.to_string()))
            .map(|(key, value)| (key.as_str(), value.as_str()))
    };
    let get = |property: &str| of(owner.scope.clone(), property).or_else(|| of(SslScope::Broker, property));
    let missing = |what: &str| invalid(owner.key, &owner.entry, format!("{} needs {what}", owner.what));
    // Whether the store `property` names is PKCS12 (else PEM).
    let pkcs12 = |property: &str| match get(property) {
        Some((_, value)) if value.eq_ignore_ascii_case("PEM") => Ok(false),
        Some((_, value)) if value.eq_ignore_ascii_case("PKCS12") => Ok(true),
        Some((key, value)) if value.eq_ignore_ascii_case("JKS") => Err(invalid(
            key,
            value,
            "JKS is Java's own format: convert the store with keytool -importkeystore \
             -srckeystore <store>.jks -destkeystore <store>.p12 -deststoretype PKCS12 and set PKCS12",
        )),
        Some((key, value)) => Err(invalid(key, value, "the store types are PEM and PKCS12")),
        None => Err(missing(&format!(
            "{property}=PEM or PKCS12 (Kafka's default, JKS, is not supported)"
        ))),
    };
    let password = |property: &str| get(property).map(|(_, value)| Password::new(value));
    let keystore = match (
        pkcs12("ssl.keystore.type")?,
        get("ssl.keystore.location"),
        get("ssl.keystore.certificate.chain"),
        get("ssl.keystore.key"),
    ) {
        (false, Some((_, path)), None, None) => Store::PemFile(PathBuf::from(path)),
        (false, None, Some((_, chain)), Some((_, key))) => Store::PemInline(Password::new(format!("{chain}\n{key}"))),
        (true, Some((_, path)), None, None) => match password("ssl.keystore.password") {
            Some(password) => Store::Pkcs12File(PathBuf::from(path), password),
            None => return Err(missing("ssl.keystore.password for its PKCS12 keystore")),
        },
        (true, ..) => return Err(missing("ssl.keystore.location for its PKCS12 keystore")),
        _ => {
            return Err(missing(
                "ssl.keystore.location, or ssl.keystore.certificate.chain and ssl.keystore.key",
            ))
        }
    };
    let client_auth_given = match owner.own_client_auth_only {
        true => of(owner.scope.clone(), "ssl.client.auth"),
        false => get("ssl.client.auth"),
    };
    let client_auth = match client_auth_given {
        None => ClientAuth::None,
        Some((_, value)) if value.eq_ignore_ascii_case("none") => ClientAuth::None,
        Some((_, value)) if value.eq_ignore_ascii_case("requested") => ClientAuth::Requested,
        Some((_, value)) if value.eq_ignore_ascii_case("required") => ClientAuth::Required,
        Some((key, value)) => return Err(invalid(key, value, "expected none, requested or required")),
    };
    let truststore = match (get("ssl.truststore.location"), get("ssl.truststore.certificates")) {
        (None, None) => None,
        // A PKCS12 truststore without a password is read without checking its integrity,
        // as Java reads it.
        (Some((_, path)), _) if pkcs12("ssl.truststore.type")? => Some(Store::Pkcs12File(
            PathBuf::from(path),
            password("ssl.truststore.password").unwrap_or_else(|| Password::new("")),
        )),
        (Some((_, path)), _) => Some(Store::PemFile(PathBuf::from(path))),
        (None, Some((_, certificates))) => match pkcs12("ssl.truststore.type")? {
            false => Some(Store::PemInline(Password::new(certificates))),
            true => return Err(missing("ssl.truststore.type=PEM for ssl.truststore.certificates")),
        },
    };
    if client_auth != ClientAuth::None && truststore.is_none() {
        return Err(missing(
            "ssl.truststore.location (or ssl.truststore.certificates) to check client certificates",
        ));
    }
    let list = |property: &str| -> Vec<String> {
        get(property)
            .map(|(_, value)| {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    let enabled_protocols = match list("ssl.enabled.protocols") {
        given if given.is_empty() => TLS_PROTOCOLS.map(String::from).to_vec(),
        given => given,
    };
    if let Some(unknown) = enabled_protocols.iter().find(|p| !TLS_PROTOCOLS.contains(&p.as_str())) {
        let (key, value) = get("ssl.enabled.protocols").unwrap_or_default();
        return Err(invalid(
            key,
            value,
            format!(
                "{unknown} is not supported: the protocols are {}",
                TLS_PROTOCOLS.join(", ")
            ),
        ));
    }
    Ok(TlsSettings {
        keystore,
        key_password: password("ssl.key.password"),
        truststore,
        client_auth,
        enabled_protocols,
        cipher_suites: list("ssl.cipher.suites"),
        principal_mapping_rules: get("ssl.principal.mapping.rules")
            .map_or("DEFAULT", |(_, v)| v)
            .to_string(),
    })
}

/// An `http.ssl.*` property, kept for the HTTPS listeners: `None` if the key is not one.
/// `http.ssl.principal.mapping.rules` is not: the console's user comes from basic
/// authentication, not from a client certificate.
fn http_ssl_property(ssl: &mut SslProperties, key: &str, value: &str) -> Option<Result<(), ConfigError>> {
    let property = key
        .strip_prefix(http::HTTP_PREFIX)
        .filter(|property| SSL_PROPERTIES.contains(property) && *property != "ssl.principal.mapping.rules")?;
    ssl.insert(
        (SslScope::Http, property.to_string()),
        (key.to_string(), value.to_string()),
    );
    Some(Ok(()))
}

/// A `sasl.enabled.mechanisms` list (also per listener): PLAIN, SCRAM-SHA-256,
/// SCRAM-SHA-512 and OAUTHBEARER, at least one.
fn sasl_mechanisms(key: &str, value: &str) -> Result<Vec<String>, ConfigError> {
    let mechanisms: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(unknown) = mechanisms
        .iter()
        .find(|m| !crate::sasl::SUPPORTED_MECHANISMS.contains(&m.as_str()))
    {
        return Err(invalid(
            key,
            value,
            format!(
                "{unknown} is not supported: the SASL mechanisms are {}",
                crate::sasl::SUPPORTED_MECHANISMS.join(", ")
            ),
        ));
    }
    match mechanisms.is_empty() {
        true => Err(invalid(key, value, "at least one SASL mechanism must be enabled")),
        false => Ok(mechanisms),
    }
}

/// A `listener.name.<name>.<property>` property: `None` if it is not one Tidelog knows.
fn listener_property(
    c: &mut BrokerConfig,
    ssl: &mut SslProperties,
    oauthbearer: &mut OAuthBearerProperties,
    key: &str,
    value: &str,
) -> Option<Result<(), ConfigError>> {
    let scoped = key.strip_prefix(LISTENER_PREFIX)?;
    let (name, property) = scoped.split_once('.')?;
    let name = name.to_ascii_uppercase();
    let applied = match property {
        _ if SSL_PROPERTIES.contains(&property) => {
            ssl.insert(
                (SslScope::Listener(name), property.to_string()),
                (key.to_string(), value.to_string()),
            );
            Ok(())
        }
        PLAIN_JAAS => jaas_users(value)
            .map(|users| {
                c.sasl_plain_users.insert(name, users);
            })
            .map_err(|reason| invalid(key, "(hidden)", reason)),
        "sasl.enabled.mechanisms" => sasl_mechanisms(key, value).map(|mechanisms| {
            c.listener_sasl_enabled_mechanisms.insert(name, mechanisms);
        }),
        // At least one, as Kafka's listener quotas validate them.
        "max.connections" => at_least(key, value, 1).map(|max| {
            c.connection_limits.listener_max_connections.insert(name, max);
        }),
        "max.connection.creation.rate" => at_least(key, value, 1).map(|rate| {
            c.connection_limits
                .listener_max_connection_creation_rate
                .insert(name, rate);
        }),
        _ => {
            let oauth = property.strip_prefix("oauthbearer.")?;
            if !settings::SIGNED_PROPERTIES.contains(&oauth) && !settings::LISTENER_PROPERTIES.contains(&oauth) {
                return None;
            }
            oauthbearer.insert((Some(name), oauth.to_string()), (key.to_string(), value.to_string()));
            Ok(())
        }
    };
    Some(applied)
}

/// Properties a Kafka 4 file sets that mean nothing on a single Tidelog node (its KRaft
/// controller, threads and buffers sized by the JVM's model, share groups): accepted and
/// reported as not used, rather than as unknown.
const NOT_USED_ON_ONE_NODE: &[&str] = &[
    "num.network.threads",
    "num.io.threads",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "transaction.state.log.min.isr",
    "share.coordinator.state.topic.replication.factor",
    "share.coordinator.state.topic.min.isr",
];

/// What a configuration set that Tidelog does not act on, to report at start.
#[derive(Debug, Default, PartialEq)]
pub struct NotApplied {
    /// Properties Tidelog does not know.
    pub unknown: Vec<String>,
    /// Kafka properties with no meaning on one node ([`NOT_USED_ON_ONE_NODE`]), and the
    /// controller listeners, which the cluster will use.
    pub not_used: Vec<String>,
}

impl BrokerConfig {
    /// Builds the configuration from properties applied in order (file first, then
    /// overrides). Returns it with the names of the properties it did not know.
    pub fn from_properties(props: &[(String, String)]) -> Result<(BrokerConfig, NotApplied), ConfigError> {
        let mut c = BrokerConfig::default();
        let mut report = NotApplied::default();
        let mut advertised = None;
        let mut ssl = SslProperties::new();
        let mut oauthbearer = OAuthBearerProperties::new();
        let mut protocols: BTreeMap<String, String> = SECURITY_PROTOCOLS
            .iter()
            .map(|p| (p.to_string(), p.to_string()))
            .collect();
        let mut controller_names = Vec::new();
        let mut authorizer_on = false;
        let mut authorizer = AuthorizerSettings::default();
        // The finest-grained unit wins, as in Kafka: *.ms over *.minutes over *.hours.
        let mut retention = (None, None, None);
        let mut roll = (None, None);
        for (key, value) in props {
            let (k, v) = (key.as_str(), value.as_str());
            match k {
                "node.id" | "broker.id" => c.node_id = at_least(k, v, 0)?,
                "listeners" => c.listeners = listeners(k, v)?,
                "advertised.listeners" => advertised = Some(listeners(k, v)?),
                "log.dirs" | "log.dir" => {
                    c.log_dirs = v
                        .split(',')
                        .map(|d| PathBuf::from(d.trim()))
                        .filter(|d| !d.as_os_str().is_empty())
                        .collect();
                    if c.log_dirs.is_empty() {
                        return Err(invalid(k, v, "no directory"));
                    }
                }
                "http.listeners" => c.http_listeners = http::http_listeners(k, v)?,
                "metrics.partition.series.enable" => c.metrics_partition_series_enable = boolean(k, v)?,
                "listener.security.protocol.map" => protocols = protocol_map(k, v)?,
                "controller.listener.names" => {
                    controller_names = v.split(',').map(|n| n.trim().to_ascii_uppercase()).collect();
                }
                "num.partitions" => c.num_partitions = at_least(k, v, 1)?,
                "default.replication.factor" => c.default_replication_factor = at_least(k, v, 1)?,
                "offsets.topic.replication.factor" | "transaction.state.log.replication.factor" => {
                    one_replica(k, v)?;
                }
                "auto.create.topics.enable" => c.auto_create_topics_enable = boolean(k, v)?,
                "delete.topic.enable" => c.delete_topic_enable = boolean(k, v)?,
                "log.segment.bytes" => c.log_segment_bytes = at_least(k, v, i64::from(MIN_SEGMENT_BYTES))?,
                "metadata.log.segment.bytes" => c.metadata_log.segment_bytes = at_least(k, v, MIN_SEGMENT_BYTES)?,
                "metadata.log.max.record.bytes.between.snapshots" => c.metadata_log.snapshot_bytes = at_least(k, v, 1)?,
                "metadata.max.retention.bytes" => c.metadata_log.retention_bytes = at_least(k, v, -1)?,
                "metadata.max.retention.ms" => c.metadata_log.retention_ms = at_least(k, v, -1)?,
                "log.roll.ms" => roll.0 = Some(at_least(k, v, 1)?),
                "log.roll.hours" => roll.1 = Some(at_least::<i64>(k, v, 1)? * HOUR_MS),
                "log.retention.ms" => retention.0 = Some(at_least(k, v, -1)?),
                "log.retention.minutes" => retention.1 = Some(at_least::<i64>(k, v, -1)?.saturating_mul(60_000)),
                "log.retention.hours" => retention.2 = Some(at_least::<i64>(k, v, -1)?.saturating_mul(HOUR_MS)),
                "log.retention.bytes" => c.log_retention_bytes = at_least(k, v, -1)?,
                "log.retention.check.interval.ms" => c.log_retention_check_interval_ms = at_least(k, v, 1)?,
                "log.cleaner.backoff.ms" => c.log_cleaner_backoff_ms = at_least(k, v, 1)?,
                "log.cleaner.dedupe.buffer.size" => c.log_cleaner_dedupe_buffer_size = at_least(k, v, 1 << 20)?,
                "log.cleaner.threads" => c.log_cleaner_threads = at_least(k, v, 0)?,
                "log.cleaner.io.max.bytes.per.second" => c.log_cleaner_io_max_bytes_per_second = rate(k, v)?,
                "log.open.files.max" => c.log_open_files_max = open_files_max(k, v)?,
                "num.recovery.threads.per.data.dir" => c.num_recovery_threads_per_data_dir = at_least(k, v, 1)?,
                "log.index.interval.bytes" => c.log_index_interval_bytes = at_least(k, v, 0)?,
                "log.index.size.max.bytes" => c.log_index_size_max_bytes = at_least(k, v, MIN_SEGMENT_INDEX_BYTES)?,
                "message.max.bytes" => c.message_max_bytes = at_least(k, v, 0)?,
                "socket.request.max.bytes" => c.socket_request_max_bytes = at_least(k, v, 1)?,
                "max.connections" => c.connection_limits.max_connections = at_least(k, v, 0)?,
                "connections.max.reauth.ms" => c.connections_max_reauth_ms = at_least(k, v, 0)?,
                "max.connections.per.ip" => c.connection_limits.max_connections_per_ip = at_least(k, v, 0)?,
                "max.connections.per.ip.overrides" => {
                    c.connection_limits.max_connections_per_ip_overrides =
                        crate::connection_quotas::parse_overrides(v).map_err(|reason| invalid(k, v, reason))?
                }
                // At least one: none a second would never accept a connection again.
                "max.connection.creation.rate" => c.connection_limits.max_connection_creation_rate = at_least(k, v, 1)?,
                "quota.window.num" => c.quota_window.samples = at_least(k, v, 1)?,
                "quota.window.size.seconds" => {
                    c.quota_window.window_ms = at_least::<i64>(k, v, 1)?.saturating_mul(1000)
                }
                "controller.quota.window.num" => c.controller_quota_window.samples = at_least(k, v, 1)?,
                "controller.quota.window.size.seconds" => {
                    c.controller_quota_window.window_ms = at_least::<i64>(k, v, 1)?.saturating_mul(1000)
                }
                "fetch.max.bytes" => c.fetch_max_bytes = at_least(k, v, 1024)?,
                "log.flush.interval.messages" => c.log_flush_interval_messages = at_least(k, v, 1)?,
                "log.flush.interval.ms" => c.log_flush_interval_ms = Some(at_least(k, v, 0)?),
                "group.initial.rebalance.delay.ms" => c.group_initial_rebalance_delay_ms = at_least(k, v, 0)?,
                "offsets.topic.num.partitions" => c.offsets_topic_num_partitions = at_least(k, v, 1)?,
                "offsets.topic.segment.bytes" => c.offsets_topic_segment_bytes = at_least(k, v, MIN_SEGMENT_BYTES)?,
                "offsets.retention.minutes" => {
                    c.offsets_retention_ms = at_least::<i64>(k, v, 1)?.saturating_mul(60_000)
                }
                "offsets.retention.check.interval.ms" => c.offsets_retention_check_interval_ms = at_least(k, v, 1)?,
                "producer.id.expiration.ms" => c.producer_id_expiration_ms = at_least(k, v, 1)?,
                "group.consumer.session.timeout.ms" => c.group_consumer_session_timeout_ms = at_least(k, v, 1)?,
                "broker.session.timeout.ms" => c.broker_session_timeout_ms = at_least(k, v, 1)?,
                "broker.heartbeat.interval.ms" => c.broker_heartbeat_interval_ms = at_least(k, v, 1)?,
                "min.insync.replicas" => c.min_insync_replicas = at_least(k, v, 1)?,
                "auto.leader.rebalance.enable" => c.auto_leader_rebalance_enable = boolean(k, v)?,
                "broker.rack" => c.broker_rack = Some(v.trim().to_string()).filter(|r| !r.is_empty()),
                "replica.selector.class" => c.rack_aware_replica_selector = replica_selector(k, v)?,
                "leader.imbalance.check.interval.seconds" => {
                    c.leader_imbalance_check_interval_seconds = at_least(k, v, 1)?
                }
                "leader.imbalance.per.broker.percentage" => {
                    c.leader_imbalance_per_broker_percentage = at_least(k, v, 0)?
                }
                "replica.lag.time.max.ms" => c.replica_lag_time_max_ms = at_least(k, v, 1)?,
                "replica.fetch.wait.max.ms" => c.replica_fetch_wait_max_ms = at_least(k, v, 0)?,
                "replica.fetch.max.bytes" => c.replica_fetch_max_bytes = at_least(k, v, 0)?,
                "replica.fetch.response.max.bytes" => c.replica_fetch_response_max_bytes = at_least(k, v, 0)?,
                // One fetcher per leader broker, whatever the count asked.
                "num.replica.fetchers" => {
                    at_least::<i32>(k, v, 1)?;
                }
                "group.consumer.heartbeat.interval.ms" => c.group_consumer_heartbeat_interval_ms = at_least(k, v, 1)?,
                "group.consumer.assignors" => c.group_consumer_assignors = assignors(k, v)?,
                "transaction.state.log.num.partitions" => c.transaction_state_log_num_partitions = at_least(k, v, 1)?,
                "transaction.state.log.segment.bytes" => {
                    c.transaction_state_log_segment_bytes = at_least(k, v, MIN_SEGMENT_BYTES)?
                }
                "transaction.max.timeout.ms" => c.transaction_max_timeout_ms = at_least(k, v, 1)?,
                "transactional.id.expiration.ms" => c.transactional_id_expiration_ms = at_least(k, v, 1)?,
                "transaction.abort.timed.out.transaction.cleanup.interval.ms" => {
                    c.transaction_abort_timed_out_transaction_cleanup_interval_ms = at_least(k, v, 1)?
                }
                "transaction.partition.verification.enable" => {
                    c.transaction_partition_verification_enable = boolean(k, v)?
                }
                "sasl.enabled.mechanisms" => c.sasl_enabled_mechanisms = sasl_mechanisms(k, v)?,
                "authorizer.class.name" => authorizer_on = authorizer_class(k, v)?,
                "super.users" => {
                    authorizer.super_users = v
                        .split(';')
                        .map(str::trim)
                        .filter(|u| !u.is_empty())
                        .map(String::from)
                        .collect();
                }
                "allow.everyone.if.no.acl.found" => authorizer.allow_everyone_if_no_acl_found = boolean(k, v)?,
                _ if SSL_PROPERTIES.contains(&k) => {
                    ssl.insert((SslScope::Broker, k.to_string()), (key.clone(), value.clone()));
                }
                _ if settings::SIGNED_PROPERTIES.contains(&k) => {
                    oauthbearer.insert((None, k.to_string()), (key.clone(), value.clone()));
                }
                _ if NOT_USED_ON_ONE_NODE.contains(&k) => report.not_used.push(key.clone()),
                _ => match c
                    .quorum
                    .apply(k, v)
                    .or_else(|| listener_property(&mut c, &mut ssl, &mut oauthbearer, k, v))
                    .or_else(|| http_ssl_property(&mut ssl, k, v))
                {
                    Some(applied) => applied?,
                    // A topic config's broker default: read where the topic config is resolved.
                    None => match topic_config::validate_broker_default(k, v) {
                        Some(checked) => checked.map_err(|reason| invalid(k, v, reason))?,
                        None => report.unknown.push(key.clone()),
                    },
                },
            }
            if is_secret(k) {
                c.secrets_given.insert(key.clone());
            } else {
                c.explicit.insert(key.clone(), value.clone());
            }
        }
        c.quorum.check(c.node_id, &c.listeners, &controller_names)?;
        let (controllers, _): (Vec<Listener>, Vec<Listener>) = c
            .listeners
            .iter()
            .cloned()
            .partition(|l| controller_names.contains(&l.name));
        if c.quorum.has_other_voters(c.node_id) {
            c.controller_listeners = controller_listeners(controllers, &protocols)?;
            c.quorum.check_own_voter(c.node_id, &c.controller_listeners)?;
        } else {
            let unused = controllers
                .iter()
                .map(|l| format!("{}://{}:{} (a controller listener)", l.name, l.host, l.port));
            report.not_used.extend(unused);
        }
        c.authorizer = authorizer_on.then_some(authorizer);
        c.listeners = client_listeners(&c.listeners, &protocols, &controller_names)?;
        c.advertised_listeners = advertised_listeners(&c.listeners, advertised.as_deref(), &controller_names)?;
        for listener in c.listeners.iter().filter(|l| l.is_tls()) {
            c.tls.insert(
                listener.name.clone(),
                tls_settings(&TlsOwner::listener(listener), &ssl)?,
            );
        }
        if let Some(https) = c.http_listeners.iter().find(|l| l.https) {
            c.http_tls = Some(tls_settings(&TlsOwner::http(https), &ssl)?);
        }
        let bearer_listeners: Vec<String> = c
            .listeners
            .iter()
            .filter(|l| l.is_sasl() && c.sasl_mechanisms(&l.name).iter().any(|m| m == OAUTHBEARER))
            .map(|l| l.name.clone())
            .collect();
        for name in bearer_listeners {
            let settings = settings::settings(&name, &oauthbearer)?;
            c.oauthbearer.insert(name, settings);
        }
        let without_accounts = c.listeners.iter().find(|l| {
            l.is_sasl()
                && c.sasl_mechanisms(&l.name).iter().any(|m| m == crate::sasl::PLAIN)
                && c.sasl_plain_users.get(&l.name).is_none_or(BTreeMap::is_empty)
        });
        if let Some(listener) = without_accounts {
            return Err(invalid(
                "listeners",
                &list_listeners(&c.listeners),
                format!(
                    "the {} listener {} needs accounts: {LISTENER_PREFIX}{}.{PLAIN_JAAS} with user_NAME=\"PASSWORD\" entries",
                    listener.protocol,
                    listener.name,
                    listener.name.to_ascii_lowercase()
                ),
            ));
        }
        let limits = &c.connection_limits;
        if limits.max_connections_per_ip == 0 && limits.max_connections_per_ip_overrides.is_empty() {
            return Err(invalid(
                "max.connections.per.ip",
                "0",
                "max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides property is set.",
            ));
        }
        let minutes_or_hours = |r: (Option<i64>, Option<i64>, Option<i64>)| r.0.or(r.1).or(r.2);
        if let Some(ms) = minutes_or_hours(retention) {
            // Kafka treats any negative retention as unlimited.
            c.log_retention_ms = if ms < 0 { -1 } else { ms };
        }
        if let Some(ms) = roll.0.or(roll.1) {
            c.log_roll_ms = ms;
        }
        for l in &c.listeners {
            l.bind_addr()
                .map_err(|reason| invalid("listeners", &format!("{}:{}", l.host, l.port), reason))?;
        }
        Ok((c, report))
    }

    /// Reads a properties file and applies `overrides` on top.
    pub fn load(
        path: Option<&std::path::Path>,
        overrides: &[(String, String)],
    ) -> Result<(BrokerConfig, NotApplied), ConfigError> {
        let mut props = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.into(), source })?;
                parse_properties(&text)?
            }
            None => Vec::new(),
        };
        props.extend(overrides.iter().cloned());
        BrokerConfig::from_properties(&props)
    }
}

impl BrokerConfig {
    /// The SASL mechanisms the listener `name` offers: its own
    /// `listener.name.<name>.sasl.enabled.mechanisms`, else `sasl.enabled.mechanisms`.
    pub fn sasl_mechanisms(&self, name: &str) -> &[String] {
        self.listener_sasl_enabled_mechanisms
            .get(name)
            .unwrap_or(&self.sasl_enabled_mechanisms)
    }

    /// The broker properties DescribeConfigs reports: name, effective value, and whether it
    /// was set explicitly (STATIC_BROKER_CONFIG) or is Kafka's default.
    pub fn describe(&self) -> Vec<(&'static str, String, bool)> {
        let list = list_listeners;
        let dirs = self
            .log_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(",");
        let values = [
            ("node.id", self.node_id.to_string()),
            ("listeners", list(&self.listeners)),
            ("advertised.listeners", list(&self.advertised_listeners)),
            ("log.dirs", dirs),
            ("num.partitions", self.num_partitions.to_string()),
            (
                "default.replication.factor",
                self.default_replication_factor.to_string(),
            ),
            ("auto.create.topics.enable", self.auto_create_topics_enable.to_string()),
            (
                "metrics.partition.series.enable",
                self.metrics_partition_series_enable.to_string(),
            ),
            ("delete.topic.enable", self.delete_topic_enable.to_string()),
            ("log.segment.bytes", self.log_segment_bytes.to_string()),
            (
                "metadata.log.segment.bytes",
                self.metadata_log.segment_bytes.to_string(),
            ),
            (
                "metadata.log.max.record.bytes.between.snapshots",
                self.metadata_log.snapshot_bytes.to_string(),
            ),
            (
                "metadata.max.retention.bytes",
                self.metadata_log.retention_bytes.to_string(),
            ),
            ("metadata.max.retention.ms", self.metadata_log.retention_ms.to_string()),
            ("log.roll.ms", self.log_roll_ms.to_string()),
            ("log.retention.ms", self.log_retention_ms.to_string()),
            ("log.retention.bytes", self.log_retention_bytes.to_string()),
            (
                "log.retention.check.interval.ms",
                self.log_retention_check_interval_ms.to_string(),
            ),
            ("log.cleaner.backoff.ms", self.log_cleaner_backoff_ms.to_string()),
            (
                "log.cleaner.dedupe.buffer.size",
                self.log_cleaner_dedupe_buffer_size.to_string(),
            ),
            ("log.cleaner.threads", self.log_cleaner_threads.to_string()),
            (
                "log.cleaner.io.max.bytes.per.second",
                java_double(self.log_cleaner_io_max_bytes_per_second),
            ),
            ("log.open.files.max", self.log_open_files_max.to_string()),
            (
                "num.recovery.threads.per.data.dir",
                self.num_recovery_threads_per_data_dir.to_string(),
            ),
            ("log.index.interval.bytes", self.log_index_interval_bytes.to_string()),
            ("log.index.size.max.bytes", self.log_index_size_max_bytes.to_string()),
            ("message.max.bytes", self.message_max_bytes.to_string()),
            ("socket.request.max.bytes", self.socket_request_max_bytes.to_string()),
            ("max.connections", self.connection_limits.max_connections.to_string()),
            ("connections.max.reauth.ms", self.connections_max_reauth_ms.to_string()),
            (
                "max.connections.per.ip",
                self.connection_limits.max_connections_per_ip.to_string(),
            ),
            (
                "max.connection.creation.rate",
                self.connection_limits.max_connection_creation_rate.to_string(),
            ),
            ("quota.window.num", self.quota_window.samples.to_string()),
            (
                "quota.window.size.seconds",
                (self.quota_window.window_ms / 1000).to_string(),
            ),
            (
                "controller.quota.window.num",
                self.controller_quota_window.samples.to_string(),
            ),
            (
                "controller.quota.window.size.seconds",
                (self.controller_quota_window.window_ms / 1000).to_string(),
            ),
            ("fetch.max.bytes", self.fetch_max_bytes.to_string()),
            (
                "log.flush.interval.messages",
                self.log_flush_interval_messages.to_string(),
            ),
            (
                "log.flush.interval.ms",
                self.log_flush_interval_ms.map(|v| v.to_string()).unwrap_or_default(),
            ),
            (
                "group.initial.rebalance.delay.ms",
                self.group_initial_rebalance_delay_ms.to_string(),
            ),
            (
                "offsets.topic.num.partitions",
                self.offsets_topic_num_partitions.to_string(),
            ),
            (
                "offsets.topic.segment.bytes",
                self.offsets_topic_segment_bytes.to_string(),
            ),
            (
                "offsets.retention.minutes",
                (self.offsets_retention_ms / 60_000).to_string(),
            ),
            (
                "offsets.retention.check.interval.ms",
                self.offsets_retention_check_interval_ms.to_string(),
            ),
            ("producer.id.expiration.ms", self.producer_id_expiration_ms.to_string()),
            (
                "group.consumer.session.timeout.ms",
                self.group_consumer_session_timeout_ms.to_string(),
            ),
            ("broker.session.timeout.ms", self.broker_session_timeout_ms.to_string()),
            ("min.insync.replicas", self.min_insync_replicas.to_string()),
            (
                "auto.leader.rebalance.enable",
                self.auto_leader_rebalance_enable.to_string(),
            ),
            ("broker.rack", self.broker_rack.clone().unwrap_or_default()),
            (
                "replica.selector.class",
                match self.rack_aware_replica_selector {
                    true => RACK_AWARE_REPLICA_SELECTOR.to_string(),
                    false => String::new(),
                },
            ),
            (
                "leader.imbalance.check.interval.seconds",
                self.leader_imbalance_check_interval_seconds.to_string(),
            ),
            (
                "leader.imbalance.per.broker.percentage",
                self.leader_imbalance_per_broker_percentage.to_string(),
            ),
            ("replica.lag.time.max.ms", self.replica_lag_time_max_ms.to_string()),
            ("replica.fetch.wait.max.ms", self.replica_fetch_wait_max_ms.to_string()),
            ("replica.fetch.max.bytes", self.replica_fetch_max_bytes.to_string()),
            (
                "replica.fetch.response.max.bytes",
                self.replica_fetch_response_max_bytes.to_string(),
            ),
            (
                "broker.heartbeat.interval.ms",
                self.broker_heartbeat_interval_ms.to_string(),
            ),
            (
                "group.consumer.heartbeat.interval.ms",
                self.group_consumer_heartbeat_interval_ms.to_string(),
            ),
            ("group.consumer.assignors", self.group_consumer_assignors.join(",")),
            (
                "transaction.state.log.num.partitions",
                self.transaction_state_log_num_partitions.to_string(),
            ),
            (
                "transaction.state.log.segment.bytes",
                self.transaction_state_log_segment_bytes.to_string(),
            ),
            (
                "transaction.max.timeout.ms",
                self.transaction_max_timeout_ms.to_string(),
            ),
            (
                "transactional.id.expiration.ms",
                self.transactional_id_expiration_ms.to_string(),
            ),
            (
                "transaction.abort.timed.out.transaction.cleanup.interval.ms",
                self.transaction_abort_timed_out_transaction_cleanup_interval_ms
                    .to_string(),
            ),
            (
                "transaction.partition.verification.enable",
                self.transaction_partition_verification_enable.to_string(),
            ),
        ];
        values
            .into_iter()
            .map(|(name, value)| (name, value, self.explicit.contains_key(name)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(text: &str) -> Vec<(String, String)> {
        parse_properties(text).unwrap()
    }

    #[test]
    fn defaults_match_the_issue() {
        let (c, report) = BrokerConfig::from_properties(&[]).unwrap();
        assert_eq!(report, NotApplied::default());
        assert_eq!(c.listeners[0].port, 9092);
        assert_eq!(c.advertised_listeners[0].host, "localhost");
        assert_eq!(c.log_dirs, vec![PathBuf::from("data")]);
        assert_eq!(c.node_id, 1);
        assert_eq!(c.message_max_bytes, 1_048_588);
        assert_eq!(c.fetch_max_bytes, 57_671_680);
        assert_eq!(c.log_retention_ms, 168 * HOUR_MS);
    }

    #[test]
    fn reads_kafka_names_and_warns_on_unknown() {
        let text = "# comment\nlisteners=PLAINTEXT://127.0.0.1:19092\nlog.dirs=/a, /b\nnum.partitions: 3\n\
                    log.retention.hours=1\nzookeeper.connect=x:2181\n";
        let (c, report) = BrokerConfig::from_properties(&props(text)).unwrap();
        assert_eq!(c.listeners[0].host, "127.0.0.1");
        assert_eq!(c.advertised_listeners[0].host, "127.0.0.1");
        assert_eq!(c.log_dirs, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(c.num_partitions, 3);
        assert_eq!(c.log_retention_ms, HOUR_MS);
        assert_eq!(report.unknown, vec!["zookeeper.connect".to_string()]);
    }

    #[test]
    fn topic_config_defaults_set_on_the_broker_are_known_and_checked() {
        let text = "log.segment.delete.delay.ms=1000
log.cleaner.max.compaction.lag.ms=60000
                    log.cleanup.policy=compact
";
        let (c, report) = BrokerConfig::from_properties(&props(text)).unwrap();
        assert_eq!(report, NotApplied::default());
        let overrides = BTreeMap::new();
        assert_eq!(
            topic_config::effective_i64(&c, &overrides, "file.delete.delay.ms"),
            1000
        );
        assert!(topic_config::compacts(&c, &overrides));
        for bad in ["log.segment.delete.delay.ms=-1", "log.cleanup.policy=shred"] {
            assert!(
                matches!(
                    BrokerConfig::from_properties(&props(bad)),
                    Err(ConfigError::Invalid { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_listener_has_its_own_connection_limits() {
        let text = "listener.name.internal.max.connections=3\n\
            listener.name.internal.max.connection.creation.rate=5";
        let (c, report) = BrokerConfig::from_properties(&props(text)).unwrap();
        assert_eq!(report, NotApplied::default());
        let limits = &c.connection_limits;
        assert_eq!(
            limits.listener_max_connections,
            BTreeMap::from([("INTERNAL".into(), 3)])
        );
        assert_eq!(
            limits.listener_max_connection_creation_rate,
            BTreeMap::from([("INTERNAL".into(), 5)])
        );
        for bad in [
            "listener.name.internal.max.connections=0",
            "listener.name.internal.max.connection.creation.rate=0",
        ] {
            assert!(BrokerConfig::from_properties(&props(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_controller_quota_window_is_kafkas_and_its_own() {
        let (c, _) = BrokerConfig::from_properties(&[]).unwrap();
        assert_eq!(c.controller_quota_window, crate::client_quotas::QuotaWindow::default());
        let text = "controller.quota.window.num=5\ncontroller.quota.window.size.seconds=2";
        let (c, report) = BrokerConfig::from_properties(&props(text)).unwrap();
        assert_eq!(report, NotApplied::default());
        let window = crate::client_quotas::QuotaWindow {
            samples: 5,
            window_ms: 2000,
        };
        assert_eq!((c.controller_quota_window, c.quota_window.samples), (window, 11));
        assert!(BrokerConfig::from_properties(&props("controller.quota.window.num=0")).is_err());
    }

    #[test]
    fn the_cleaner_threads_and_io_rate_are_kafkas_and_described_as_kafka_does() {
        let described = |c: &BrokerConfig, name: &str| {
            let found = c.describe().into_iter().find(|(n, ..)| *n == name);
            found.map(|(_, value, _)| value).unwrap()
        };
        let (c, _) = BrokerConfig::from_properties(&[]).unwrap();
        assert_eq!(c.log_cleaner_threads, 1);
        assert_eq!(
            described(&c, "log.cleaner.io.max.bytes.per.second"),
            "1.7976931348623157E308"
        );
        let text = "log.cleaner.threads=4\nlog.cleaner.io.max.bytes.per.second=1048576";
        let (c, report) = BrokerConfig::from_properties(&props(text)).unwrap();
        assert_eq!(report, NotApplied::default());
        assert_eq!(
            (c.log_cleaner_threads, c.log_cleaner_io_max_bytes_per_second),
            (4, 1_048_576.0)
        );
        assert_eq!(described(&c, "log.cleaner.io.max.bytes.per.second"), "1048576.0");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(0.0005), "5.0E-4");
        for bad in [
            "log.cleaner.threads=-1",
            "log.cleaner.io.max.bytes.per.second=0",
            "log.cleaner.io.max.bytes.per.second=NaN",
        ] {
            assert!(BrokerConfig::from_properties(&props(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_internal_topics_segment_sizes_are_kafkas() {
        let (c, _) = BrokerConfig::from_properties(&[]).unwrap();
        assert_eq!(
            (c.offsets_topic_segment_bytes, c.transaction_state_log_segment_bytes),
            (104_857_600, 104_857_600)
        );
        let text = "offsets.topic.segment.bytes=16384\ntransaction.state.log.segment.bytes=32768";
        let (c, report) = BrokerConfig::from_properties(&props(text)).unwrap();
        assert_eq!(report, NotApplied::default());
        assert_eq!(
            (c.offsets_topic_segment_bytes, c.transaction_state_log_segment_bytes),
            (16_384, 32_768)
        );
        assert!(BrokerConfig::from_properties(&props("offsets.topic.segment.bytes=1")).is_err());
    }

    #[test]
    fn http_listeners_default_to_8080_on_loopback_and_empty_turns_them_off() {
        let http = |text: &str| BrokerConfig::from_properties(&props(text)).map(|(c, _)| c.http_listeners);
        assert_eq!(http("").unwrap(), vec![HttpListenerAddress::http("127.0.0.1:8080")]);
        assert_eq!(http("http.listeners=").unwrap(), Vec::<HttpListenerAddress>::new());
        assert_eq!(
            http("http.listeners=localhost:0, [::1]:9100").unwrap(),
            vec![
                HttpListenerAddress::http("localhost:0"),
                HttpListenerAddress::http("[::1]:9100")
            ]
        );
        assert!(http("http.listeners=8080")
            .unwrap_err()
            .to_string()
            .contains("http.listeners"));
    }

    #[test]
    fn finest_retention_unit_wins_and_overrides_apply_last() {
        let mut p = props("log.retention.ms=5000\nlog.retention.hours=2\nnum.partitions=2");
        p.push(("num.partitions".into(), "4".into()));
        let (c, _) = BrokerConfig::from_properties(&p).unwrap();
        assert_eq!(c.log_retention_ms, 5000);
        assert_eq!(c.num_partitions, 4);
    }

    #[test]
    fn invalid_values_are_clear_errors() {
        for bad in [
            "num.partitions=0",
            "auto.create.topics.enable=yes",
            "listeners=SSL://:9093",
            "message.max.bytes=x",
            "fetch.max.bytes=1023",
            "default.replication.factor=0",
            "offsets.topic.replication.factor=3",
            "listeners=PLAINTEXT://:1,CONTROLLER://:2",
        ] {
            let err = BrokerConfig::from_properties(&props(bad)).unwrap_err();
            assert!(matches!(err, ConfigError::Invalid { .. }), "{bad}: {err}");
        }
        assert!(matches!(
            parse_properties("no separator here"),
            Err(ConfigError::Syntax { line: 1, .. })
        ));
    }

    #[test]
    fn sasl_accounts_come_from_the_jaas_line_and_are_never_kept_as_given() {
        let text = "listeners=SASL_PLAINTEXT://127.0.0.1:9092\n\
            listener.name.sasl_plaintext.plain.sasl.jaas.config=\\\n\
            \x20 org.apache.kafka.common.security.plain.PlainLoginModule required \\\n\
            \x20 username=\"admin\" password=\"x_user_y\" \\\n\
            \x20 user_admin=\"a\\\"b c\" user_alice=\"alice=1\";\n";
        let parsed = parse_properties(text).unwrap();
        assert_eq!(parsed.len(), 2, "{parsed:?}");
        let (c, report) = BrokerConfig::from_properties(&parsed).unwrap();
        assert_eq!(report, NotApplied::default());
        let users: Vec<(&str, &str)> = c.sasl_plain_users[SASL_PLAINTEXT]
            .iter()
            .map(|(u, p)| (u.as_str(), p.as_str()))
            .collect();
        assert_eq!(users, [("admin", "a\"b c"), ("alice", "alice=1")]);
        assert!(c.explicit.keys().all(|k| !k.contains("jaas")), "{:?}", c.explicit);

        let empty = "listener.name.sasl_plaintext.plain.sasl.jaas.config=x required user_=\"\";";
        assert!(BrokerConfig::from_properties(&props(empty)).is_err());
        let other_listeners_accounts = "listeners=PLAINTEXT://:1,SASL_PLAINTEXT://:2\n\
            listener.name.plaintext.plain.sasl.jaas.config=x required user_a=\"b\";";
        let err = BrokerConfig::from_properties(&props(other_listeners_accounts)).unwrap_err();
        assert!(
            err.to_string()
                .contains("listener.name.sasl_plaintext.plain.sasl.jaas.config"),
            "{err}"
        );
    }

    #[test]
    fn several_listeners_each_with_its_protocol_accounts_and_advertised_endpoint() {
        let text = "listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9093,clients://:9094,\
                    CONTROLLER://:9095\n\
                    listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,\
                    CLIENTS:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT\n\
                    controller.listener.names=CONTROLLER\n\
                    advertised.listeners=CLIENTS://clients.example:19094,PLAINTEXT://plain.example:9092\n\
                    listener.name.sasl_plaintext.plain.sasl.jaas.config=x required user_a=\"1\";\n\
                    listener.name.clients.plain.sasl.jaas.config=x required user_b=\"2\";\n\
                    listener.name.clients.sasl.enabled.mechanisms=PLAIN\n";
        let (c, report) = BrokerConfig::from_properties(&props(text)).unwrap();
        assert_eq!(report.unknown, Vec::<String>::new());
        let listeners: Vec<(&str, &str, u16)> = c
            .listeners
            .iter()
            .map(|l| (l.name.as_str(), l.protocol.as_str(), l.port))
            .collect();
        assert_eq!(
            listeners,
            [
                (PLAINTEXT, PLAINTEXT, 9092),
                (SASL_PLAINTEXT, SASL_PLAINTEXT, 9093),
                ("CLIENTS", SASL_PLAINTEXT, 9094)
            ]
        );
        let advertised: Vec<(&str, &str, &str, u16)> = c
            .advertised_listeners
            .iter()
            .map(|l| (l.name.as_str(), l.protocol.as_str(), l.host.as_str(), l.port))
            .collect();
        assert_eq!(
            advertised,
            [
                (PLAINTEXT, PLAINTEXT, "plain.example", 9092),
                (SASL_PLAINTEXT, SASL_PLAINTEXT, "127.0.0.1", 9093),
                ("CLIENTS", SASL_PLAINTEXT, "clients.example", 19094)
            ]
        );
        assert!(c.sasl_plain_users[SASL_PLAINTEXT].contains_key("a"));
        assert!(c.sasl_plain_users["CLIENTS"].contains_key("b"));
        // Port 0 (a free port picked at bind) may repeat, as in Kafka.
        assert!(BrokerConfig::from_properties(&props(
            "listeners=PLAINTEXT://:0,OTHER://:0\n\
            listener.security.protocol.map=PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT"
        ))
        .is_ok());
    }

    #[test]
    fn tls_listeners_read_kafkas_pem_properties_their_own_first() {
        let text = "listeners=SSL://:9093,SASL_SSL://:9094,INTERNAL://:9095\n\
            listener.security.protocol.map=SSL:SSL,SASL_SSL:SASL_SSL,INTERNAL:SSL\n\
            ssl.keystore.type=PEM\nssl.keystore.location=/etc/tidelog/server.pem\n\
            listener.name.sasl_ssl.plain.sasl.jaas.config=x required user_a=\"1\";\n\
            listener.name.internal.ssl.keystore.location=/etc/tidelog/internal.pem\n\
            listener.name.internal.ssl.client.auth=required\n\
            listener.name.internal.ssl.truststore.type=PEM\n\
            listener.name.internal.ssl.truststore.location=/etc/tidelog/ca.pem\n\
            listener.name.internal.ssl.enabled.protocols=TLSv1.3\n\
            listener.name.internal.ssl.cipher.suites=TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256\n\
            listener.name.internal.ssl.principal.mapping.rules=RULE:^CN=(.*?),.*$/$1/,DEFAULT\n";
        let (c, report) = BrokerConfig::from_properties(&props(text)).unwrap();
        assert_eq!(report.unknown, Vec::<String>::new());
        let file = |path: &str| Store::PemFile(PathBuf::from(path));
        let server = TlsSettings {
            keystore: file("/etc/tidelog/server.pem"),
            key_password: None,
            truststore: None,
            client_auth: ClientAuth::None,
            enabled_protocols: vec!["TLSv1.2".into(), "TLSv1.3".into()],
            cipher_suites: Vec::new(),
            principal_mapping_rules: "DEFAULT".into(),
        };
        assert_eq!((&c.tls[SSL], &c.tls[SASL_SSL]), (&server, &server));
        let internal = TlsSettings {
            keystore: file("/etc/tidelog/internal.pem"),
            key_password: None,
            truststore: Some(file("/etc/tidelog/ca.pem")),
            client_auth: ClientAuth::Required,
            enabled_protocols: vec!["TLSv1.3".into()],
            cipher_suites: vec!["TLS_AES_256_GCM_SHA384".into(), "TLS_CHACHA20_POLY1305_SHA256".into()],
            principal_mapping_rules: "RULE:^CN=(.*?),.*$/$1/,DEFAULT".into(),
        };
        assert_eq!(c.tls["INTERNAL"], internal);
        assert!(c.listeners[1].is_sasl() && c.listeners[1].is_tls());

        let inline = "listeners=SSL://:9093\nssl.keystore.type=PEM\n\
            ssl.keystore.certificate.chain=CHAIN\nssl.keystore.key=KEY\n";
        let (c, _) = BrokerConfig::from_properties(&props(inline)).unwrap();
        assert_eq!(c.tls[SSL].keystore, Store::PemInline(Password::new("CHAIN\nKEY")));
        assert!(!c.explicit.contains_key("ssl.keystore.key"), "a private key kept");
        let pkcs12 = "listeners=SSL://:9093\nssl.keystore.type=PKCS12\nssl.keystore.location=/k.p12\n\
            ssl.keystore.password=store-secret\nssl.key.password=key-secret\n\
            ssl.truststore.type=PKCS12\nssl.truststore.location=/t.p12\n";
        let (c, _) = BrokerConfig::from_properties(&props(pkcs12)).unwrap();
        let settings = &c.tls[SSL];
        assert_eq!(
            (&settings.keystore, &settings.truststore, &settings.key_password),
            (
                &Store::Pkcs12File("/k.p12".into(), Password::new("store-secret")),
                &Some(Store::Pkcs12File("/t.p12".into(), Password::new(""))),
                &Some(Password::new("key-secret"))
            )
        );
        let printed = format!("{c:?}");
        assert!(
            !printed.contains("store-secret") && !printed.contains("key-secret"),
            "a password printed"
        );
        assert!(!c.explicit.keys().any(|k| k.contains("password")), "a password kept");
        for (bad, says) in [
            ("ssl.keystore.type=JKS", "keytool -importkeystore"),
            ("ssl.keystore.type=PKCS11", "the store types are PEM and PKCS12"),
            (
                "ssl.keystore.type=PKCS12",
                "ssl.keystore.password for its PKCS12 keystore",
            ),
            ("ssl.enabled.protocols=TLSv1.2,TLSv1.1", "TLSv1.1 is not supported"),
            ("ssl.client.auth=required", "ssl.truststore.location"),
            ("ssl.client.auth=sometimes", "none, requested or required"),
        ] {
            let text = format!("listeners=SSL://:9093\nssl.keystore.type=PEM\nssl.keystore.location=/k.pem\n{bad}");
            let err = BrokerConfig::from_properties(&props(&text)).unwrap_err();
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn a_sasl_ssl_listener_asks_for_certificates_only_by_its_own_client_auth() {
        let text = "listeners=SSL://:9093,SASL_SSL://:9094,OTHER://:9095\n\
            listener.security.protocol.map=SSL:SSL,SASL_SSL:SASL_SSL,OTHER:SASL_SSL\n\
            listener.name.sasl_ssl.plain.sasl.jaas.config=x required user_a=\"1\";\n\
            listener.name.other.plain.sasl.jaas.config=x required user_a=\"1\";\n\
            ssl.keystore.type=PEM\nssl.keystore.location=/k.pem\n\
            ssl.truststore.type=PEM\nssl.truststore.location=/ca.pem\n\
            ssl.client.auth=required\nlistener.name.other.ssl.client.auth=requested\n";
        let (c, _) = BrokerConfig::from_properties(&props(text)).unwrap();
        let client_auth = |listener: &str| c.tls[listener].client_auth;
        assert_eq!(
            (client_auth(SSL), client_auth(SASL_SSL), client_auth("OTHER")),
            (ClientAuth::Required, ClientAuth::None, ClientAuth::Requested)
        );
    }

    #[test]
    fn https_listeners_read_http_ssl_properties_then_the_brokers() {
        let text = "listeners=SSL://:9093\nhttp.listeners=127.0.0.1:8080,https://0.0.0.0:8443\n\
            ssl.keystore.type=PEM\nssl.keystore.location=/etc/tidelog/server.pem\n\
            ssl.client.auth=required\nssl.truststore.type=PEM\nssl.truststore.location=/etc/tidelog/ca.pem\n\
            http.ssl.keystore.type=PKCS12\nhttp.ssl.keystore.location=/etc/tidelog/console.p12\n\
            http.ssl.keystore.password=console-secret\nhttp.ssl.client.auth=none\n";
        let (c, report) = BrokerConfig::from_properties(&props(text)).unwrap();
        assert_eq!(report.unknown, Vec::<String>::new());
        let https = c.http_tls.expect("the HTTPS listener's settings");
        assert_eq!(
            (&https.keystore, https.client_auth, &https.truststore),
            (
                &Store::Pkcs12File("/etc/tidelog/console.p12".into(), Password::new("console-secret")),
                ClientAuth::None,
                &Some(Store::PemFile("/etc/tidelog/ca.pem".into()))
            ),
            "its own keystore and client auth, the broker's truststore"
        );
        assert_eq!(
            c.tls[SSL].client_auth,
            ClientAuth::Required,
            "the Kafka listener keeps its own"
        );
        assert!(c.secrets_given.contains("http.ssl.keystore.password"));
        assert!(!c.explicit.keys().any(|k| k.contains("password")), "a password kept");

        let plain = BrokerConfig::from_properties(&props("http.listeners=127.0.0.1:0"))
            .unwrap()
            .0;
        assert_eq!(plain.http_tls, None, "no HTTPS listener, no TLS settings needed");
        let err = BrokerConfig::from_properties(&props("http.listeners=https://127.0.0.1:0")).unwrap_err();
        assert!(
            err.to_string().contains("http.listeners") && err.to_string().contains("http.ssl.*"),
            "{err}"
        );
        let (_, report) = BrokerConfig::from_properties(&props(
            "http.ssl.principal.mapping.rules=DEFAULT\nhttp.ssl.keystore.type=PEM",
        ))
        .unwrap();
        assert_eq!(report.unknown, vec!["http.ssl.principal.mapping.rules".to_string()]);
    }

    #[test]
    fn listener_mistakes_stop_the_start_naming_the_property() {
        for (text, property, says) in [
            (
                "listeners=CLIENTS://:9094",
                "listeners",
                "no security protocol defined for listener CLIENTS",
            ),
            (
                "listeners=PLAINTEXT://:9092,CLIENTS://:9094\nlistener.security.protocol.map=CLIENTS:PLAINTEXT",
                "listeners",
                "no security protocol defined for listener PLAINTEXT",
            ),
            (
                "listeners=PLAINTEXT://:9092,plaintext://:9093",
                "listeners",
                "different name",
            ),
            (
                "listeners=PLAINTEXT://:9092,SASL_PLAINTEXT://:9092\n\
                 listener.name.sasl_plaintext.plain.sasl.jaas.config=x required user_a=\"1\";",
                "listeners",
                "different port",
            ),
            ("listeners=SSL://:9093", "listeners", "needs ssl.keystore.type=PEM"),
            (
                "listeners=CLIENTS://:9093\nlistener.security.protocol.map=CLIENTS:TLS",
                "listeners",
                "none of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL",
            ),
            (
                "listeners=PLAINTEXT://:9092\nadvertised.listeners=OTHER://h:1",
                "advertised.listeners",
                "subset of the ones defined in listeners",
            ),
            (
                "listeners=PLAINTEXT://:9092\nadvertised.listeners=PLAINTEXT://0.0.0.0:9092",
                "advertised.listeners",
                "nonroutable meta-address",
            ),
            (
                "max.connections.per.ip=0",
                "max.connections.per.ip",
                "can be set to zero only if max.connections.per.ip.overrides",
            ),
            (
                "max.connections.per.ip.overrides=127.0.0.1",
                "max.connections.per.ip.overrides",
                "is not host:count",
            ),
            (
                "max.connection.creation.rate=0",
                "max.connection.creation.rate",
                "at least 1",
            ),
            (
                "listeners=PLAINTEXT://:9092\nlistener.name.plaintext.sasl.enabled.mechanisms=GSSAPI",
                "listener.name.plaintext.sasl.enabled.mechanisms",
                "GSSAPI is not supported",
            ),
        ] {
            let err = BrokerConfig::from_properties(&props(text)).unwrap_err();
            let ConfigError::Invalid { key, reason, .. } = &err else {
                panic!("{text}: {err}");
            };
            assert_eq!(key, property, "{text}: {err}");
            assert!(reason.contains(says), "{text}: {err}");
        }
    }

    /// The property lines of Kafka 4.0's shipped `config/server.properties`.
    const KAFKA_4_SERVER_PROPERTIES: &str = include_str!("../../../tests/fixtures/kafka-4.0-server.properties");

    #[test]
    fn kafkas_own_server_properties_are_accepted() {
        let (c, report) = BrokerConfig::from_properties(&props(KAFKA_4_SERVER_PROPERTIES)).unwrap();
        assert_eq!(report.unknown, Vec::<String>::new());
        assert_eq!(report.not_used.len(), 8, "{:?}", report.not_used);
        assert_eq!(
            (c.quorum.roles, c.quorum.bootstrap_servers.as_slice()),
            (Some(ProcessRoles::default()), ["localhost:9093".to_string()].as_slice())
        );
        assert_eq!(c.num_recovery_threads_per_data_dir, 1, "Kafka's file sets 1");
        assert!(
            report.not_used.iter().any(|n| n.starts_with("CONTROLLER://:9093")),
            "{report:?}"
        );
        assert_eq!(
            (c.listeners.len(), c.listeners[0].port, c.listeners[0].protocol.as_str()),
            (1, 9092, PLAINTEXT)
        );
        assert_eq!(
            (c.advertised_listeners[0].host.as_str(), c.advertised_listeners.len()),
            ("localhost", 1)
        );
        assert_eq!(c.log_retention_ms, 168 * HOUR_MS);
    }

    #[test]
    fn listener_names_map_to_protocols_and_hosts_resolve() {
        let text = "listeners=CLIENTS://localhost:29095\nlistener.security.protocol.map=CLIENTS:SASL_PLAINTEXT\n\
                    listener.name.clients.plain.sasl.jaas.config=x required user_a=\"b\";\n";
        let (c, _) = BrokerConfig::from_properties(&props(text)).unwrap();
        assert!(c.listeners[0].is_sasl());
        assert!(c.listeners[0].bind_addr().unwrap().ip().is_loopback());
    }
}
