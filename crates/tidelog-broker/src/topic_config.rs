//! Topic-level configs: Kafka's names, the broker property each one defaults to, Kafka's
//! default value, and validation. Used by CreateTopics, AlterConfigs and DescribeConfigs,
//! and by the log to find a topic's effective segment and retention settings.

use std::collections::BTreeMap;

use tidelog_log::{MIN_SEGMENT_BYTES, MIN_SEGMENT_INDEX_BYTES};

use crate::config::BrokerConfig;

/// Kafka's config resource types (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs).
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// Kafka's `ConfigType` in DescribeConfigs v3+.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    Double = 6,
    List = 7,
    Password = 9,
}

/// Kafka's `ConfigSource` in DescribeConfigs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic = 1,
    StaticBroker = 4,
    Default = 5,
}

pub struct TopicConfigDef {
    pub name: &'static str,
    /// The broker property that supplies the default, if any.
    pub broker_synonym: Option<&'static str>,
    pub default: &'static str,
    pub ty: ConfigType,
    validate: fn(&str) -> Result<(), String>,
}

fn long_at_least(min: i64) -> impl Fn(&str) -> Result<(), String> {
    move |v| match v.parse::<i64>() {
        Ok(n) if n >= min => Ok(()),
        _ => Err(format!("must be an integer of at least {min}")),
    }
}

fn one_of(v: &str, allowed: &[&str]) -> Result<(), String> {
    if allowed.contains(&v) {
        Ok(())
    } else {
        Err(format!("must be one of {}", allowed.join(", ")))
    }
}

/// Kafka's throttled-replica lists: `*`, or `partition:broker` pairs. Tidelog does not
/// replicate yet, so they are kept and listed, as Kafka does on a single node.
fn throttled_replicas(value: &str) -> Result<(), String> {
    let pair = |p: &str| {
        let (partition, broker) = p.trim().split_once(':')?;
        partition.parse::<u32>().ok()?;
        broker.parse::<u32>().ok()
    };
    match value.trim() {
        "" | "*" => Ok(()),
        list if list.split(',').all(|p| pair(p).is_some()) => Ok(()),
        _ => Err("must be *, or a list of partition:broker pairs".into()),
    }
}

/// Tiered storage does not exist here; Kafka refuses to enable it where it is off.
fn no_tiered_storage(value: &str) -> Result<(), String> {
    match value {
        "false" => Ok(()),
        "true" => Err("Tiered Storage functionality is disabled in the broker".into()),
        _ => Err("must be true or false".into()),
    }
}

macro_rules! defs {
    ($($name:literal, $synonym:expr, $default:literal, $ty:ident, $validate:expr;)*) => {
        pub static TOPIC_CONFIGS: &[TopicConfigDef] = &[
            $(TopicConfigDef { name: $name, broker_synonym: $synonym, default: $default, ty: ConfigType::$ty, validate: $validate },)*
        ];
    };
}

defs! {
    "cleanup.policy", Some("log.cleanup.policy"), "delete", List,
        |v| v.split(',').try_for_each(|p| one_of(p.trim(), &["delete", "compact"]));
    "compression.gzip.level", Some("compression.gzip.level"), "-1", Int,
        |v| match v.parse::<i32>() { Ok(-1 | 1..=9) => Ok(()), _ => Err("must be -1 or between 1 and 9".into()) };
    "compression.lz4.level", Some("compression.lz4.level"), "9", Int,
        |v| match v.parse::<i32>() { Ok(1..=17) => Ok(()), _ => Err("must be between 1 and 17".into()) };
    "compression.type", Some("compression.type"), "producer", String,
        |v| one_of(v, &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]);
    "compression.zstd.level", Some("compression.zstd.level"), "3", Int,
        |v| match v.parse::<i32>() { Ok(-131072..=22) => Ok(()), _ => Err("must be between -131072 and 22".into()) };
    "delete.retention.ms", Some("log.cleaner.delete.retention.ms"), "86400000", Long, |v| long_at_least(0)(v);
    "file.delete.delay.ms", Some("log.segment.delete.delay.ms"), "60000", Long, |v| long_at_least(0)(v);
    "flush.messages", Some("log.flush.interval.messages"), "9223372036854775807", Long, |v| long_at_least(1)(v);
    "flush.ms", Some("log.flush.interval.ms"), "9223372036854775807", Long, |v| long_at_least(0)(v);
    "follower.replication.throttled.replicas", None, "", List, throttled_replicas;
    "index.interval.bytes", Some("log.index.interval.bytes"), "4096", Int, |v| long_at_least(0)(v);
    "leader.replication.throttled.replicas", None, "", List, throttled_replicas;
    "local.retention.bytes", Some("log.local.retention.bytes"), "-2", Long, |v| long_at_least(-2)(v);
    "local.retention.ms", Some("log.local.retention.ms"), "-2", Long, |v| long_at_least(-2)(v);
    "max.compaction.lag.ms", Some("log.cleaner.max.compaction.lag.ms"), "9223372036854775807", Long, |v| long_at_least(1)(v);
    "max.message.bytes", Some("message.max.bytes"), "1048588", Int, |v| long_at_least(0)(v);
    "message.timestamp.after.max.ms", Some("log.message.timestamp.after.max.ms"), "3600000", Long, |v| long_at_least(0)(v);
    "message.timestamp.before.max.ms", Some("log.message.timestamp.before.max.ms"), "9223372036854775807", Long, |v| long_at_least(0)(v);
    "message.timestamp.type", Some("log.message.timestamp.type"), "CreateTime", String,
        |v| one_of(v, &["CreateTime", "LogAppendTime"]);
    "min.cleanable.dirty.ratio", Some("log.cleaner.min.cleanable.ratio"), "0.5", Double,
        |v| match v.parse::<f64>() { Ok(r) if (0.0..=1.0).contains(&r) => Ok(()), _ => Err("must be between 0 and 1".into()) };
    "min.compaction.lag.ms", Some("log.cleaner.min.compaction.lag.ms"), "0", Long, |v| long_at_least(0)(v);
    "min.insync.replicas", Some("min.insync.replicas"), "1", Int, |v| long_at_least(1)(v);
    "preallocate", Some("log.preallocate"), "false", Boolean, |v| one_of(v, &["true", "false"]);
    "remote.log.copy.disable", None, "false", Boolean, |v| one_of(v, &["true", "false"]);
    "remote.log.delete.on.disable", None, "false", Boolean, |v| one_of(v, &["true", "false"]);
    "remote.storage.enable", None, "false", Boolean, no_tiered_storage;
    "retention.bytes", Some("log.retention.bytes"), "-1", Long, |v| long_at_least(-1)(v);
    "retention.ms", Some("log.retention.ms"), "604800000", Long, |v| long_at_least(-1)(v);
    "segment.bytes", Some("log.segment.bytes"), "1073741824", Int, |v| long_at_least(MIN_SEGMENT_BYTES.into())(v);
    "segment.index.bytes", Some("log.index.size.max.bytes"), "10485760", Int,
        |v| long_at_least(MIN_SEGMENT_INDEX_BYTES.into())(v);
    "segment.jitter.ms", Some("log.roll.jitter.ms"), "0", Long, |v| long_at_least(0)(v);
    "segment.ms", Some("log.roll.ms"), "604800000", Long, |v| long_at_least(1)(v);
    "unclean.leader.election.enable", Some("unclean.leader.election.enable"), "false", Boolean,
        |v| one_of(v, &["true", "false"]);
}

pub fn def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks `value` of a broker property that gives a topic config its default
/// (`log.cleanup.policy`, `log.segment.delete.delay.ms`, ...) as the topic config's values
/// are checked; `None` for a property that gives none.
pub fn validate_broker_default(property: &str, value: &str) -> Option<Result<(), String>> {
    TOPIC_CONFIGS
        .iter()
        .find(|d| d.broker_synonym == Some(property))
        .map(|d| (d.validate)(value))
}

/// Checks a set of topic config overrides: known names, valid values.
pub fn validate(configs: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in configs {
        let d = def(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
        (d.validate)(value).map_err(|reason| format!("Invalid value {value} for configuration {name}: {reason}"))?;
    }
    Ok(())
}

/// One resolved config value with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedConfig {
    pub name: &'static str,
    pub value: String,
    pub source: ConfigSource,
    /// Every level that defines it, most specific first: (name, value, source).
    pub synonyms: Vec<(String, String, ConfigSource)>,
    pub ty: ConfigType,
}

/// The broker's value for a broker-level property, if it was set or is one we model.
fn broker_value(broker: &BrokerConfig, property: &str) -> Option<(String, ConfigSource)> {
    if let Some(v) = broker.explicit.get(property) {
        return Some((v.clone(), ConfigSource::StaticBroker));
    }
    // Properties that Kafka derives from a coarser unit (`log.retention.hours`, ...).
    let derived = match property {
        "log.retention.ms" => Some(broker.log_retention_ms.to_string()),
        "log.roll.ms" => Some(broker.log_roll_ms.to_string()),
        _ => None,
    };
    let explicit_unit = ["log.retention.hours", "log.retention.minutes", "log.roll.hours"]
        .iter()
        .any(|k| k.starts_with(property.trim_end_matches(".ms")) && broker.explicit.contains_key(*k));
    derived
        .filter(|_| explicit_unit)
        .map(|v| (v, ConfigSource::StaticBroker))
}

/// The effective value of every topic config for a topic with `overrides`.
pub fn resolve(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> Vec<ResolvedConfig> {
    TOPIC_CONFIGS
        .iter()
        .map(|d| resolve_one(broker, overrides, d))
        .collect()
}

/// Broker properties with no default of their own in Kafka (they derive from a coarser
/// one, as `log.retention.ms` from `log.retention.hours`): Kafka lists them as synonyms
/// only when they are set.
const SYNONYMS_WITHOUT_DEFAULT: &[&str] = &[
    "log.retention.ms",
    "log.roll.ms",
    "log.roll.jitter.ms",
    "log.flush.interval.ms",
];

/// One topic config: the topic's override, else the broker's property, else the default.
fn resolve_one(broker: &BrokerConfig, overrides: &BTreeMap<String, String>, d: &TopicConfigDef) -> ResolvedConfig {
    let mut synonyms = Vec::new();
    if let Some(v) = overrides.get(d.name) {
        synonyms.push((d.name.to_string(), v.clone(), ConfigSource::DynamicTopic));
    }
    if let Some(property) = d.broker_synonym {
        if let Some((v, source)) = broker_value(broker, property) {
            synonyms.push((property.to_string(), v, source));
        }
        if !SYNONYMS_WITHOUT_DEFAULT.contains(&property) {
            synonyms.push((property.to_string(), d.default.to_string(), ConfigSource::Default));
        }
    }
    let (value, source) = synonyms
        .first()
        .map(|(_, v, s)| (v.clone(), *s))
        .unwrap_or_else(|| (d.default.to_string(), ConfigSource::Default));
    ResolvedConfig {
        name: d.name,
        value,
        source,
        synonyms,
        ty: d.ty,
    }
}

/// The effective value of one topic config (empty for a name that is not one).
pub fn effective(broker: &BrokerConfig, overrides: &BTreeMap<String, String>, name: &str) -> String {
    def(name).map_or_else(String::new, |d| resolve_one(broker, overrides, d).value)
}

/// Whether the topic's `cleanup.policy` includes `delete`: only then do retention and
/// DeleteRecords remove its records.
pub fn deletes(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> bool {
    has_cleanup_policy(broker, overrides, "delete")
}

/// Whether the topic's `cleanup.policy` includes `compact`: its records need keys.
pub fn compacts(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> bool {
    has_cleanup_policy(broker, overrides, "compact")
}

fn has_cleanup_policy(broker: &BrokerConfig, overrides: &BTreeMap<String, String>, wanted: &str) -> bool {
    effective(broker, overrides, "cleanup.policy")
        .split(',')
        .any(|policy| policy.trim() == wanted)
}

/// `effective` parsed as a number, falling back to the default on a bad stored value.
pub fn effective_i64(broker: &BrokerConfig, overrides: &BTreeMap<String, String>, name: &str) -> i64 {
    let fallback = def(name).and_then(|d| d.default.parse().ok()).unwrap_or(0);
    effective(broker, overrides, name).parse().unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_rejects_unknown_names_and_bad_values() {
        let ok = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
        assert!(validate(&ok).is_ok());
        let unknown = BTreeMap::from([("retention.mss".to_string(), "1".to_string())]);
        assert!(validate(&unknown).unwrap_err().contains("Unknown topic config"));
        let bad = BTreeMap::from([("cleanup.policy".to_string(), "forever".to_string())]);
        assert!(validate(&bad).is_err());
    }

    #[test]
    fn resolution_prefers_topic_then_broker_then_default() {
        let props = vec![("log.retention.hours".to_string(), "1".to_string())];
        let (broker, _) = BrokerConfig::from_properties(&props).unwrap();
        let none = BTreeMap::new();
        let retention = resolve(&broker, &none)
            .into_iter()
            .find(|c| c.name == "retention.ms")
            .unwrap();
        assert_eq!(
            (retention.value.as_str(), retention.source),
            ("3600000", ConfigSource::StaticBroker)
        );
        let segment = resolve(&broker, &none)
            .into_iter()
            .find(|c| c.name == "segment.bytes")
            .unwrap();
        assert_eq!(
            (segment.value.as_str(), segment.source),
            ("1073741824", ConfigSource::Default)
        );
        let topic = BTreeMap::from([("retention.ms".to_string(), "5".to_string())]);
        assert_eq!(effective_i64(&broker, &topic, "retention.ms"), 5);
    }
}
