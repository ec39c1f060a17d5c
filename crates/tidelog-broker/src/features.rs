//! The cluster's feature levels (KIP-584, KIP-1022): what this broker supports, what is
//! finalized, and the rules for changing a finalized level (UpdateFeatures, kafka-features).

use std::collections::BTreeMap;

/// Every feature with the highest level supported, which is also the level a new cluster
/// finalizes, as a new Kafka 4.x cluster is formatted; every one is supported from level 0.
/// `group.version` 1: the KIP-848 consumer protocol is enabled. `transaction.version` 2:
/// transactions v2 (KIP-890 part 2), which Kafka 4 Java clients then use; at 1 they use
/// transactions v1, as clients that do not look at it (librdkafka) always do.
pub const SUPPORTED: &[(&str, i16)] = &[("group.version", 1), ("transaction.version", 2)];

pub const GROUP_VERSION: &str = "group.version";

/// Kafka's `FeatureUpdate.UpgradeType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeType {
    Upgrade,
    SafeDowngrade,
    UnsafeDowngrade,
}

impl UpgradeType {
    pub fn from_wire(code: i8) -> Option<UpgradeType> {
        match code {
            1 => Some(UpgradeType::Upgrade),
            2 => Some(UpgradeType::SafeDowngrade),
            3 => Some(UpgradeType::UnsafeDowngrade),
            _ => None,
        }
    }
}

/// The highest level of `name` this broker supports, if it knows the feature.
pub fn supported_max(name: &str) -> Option<i16> {
    SUPPORTED.iter().find(|(n, _)| *n == name).map(|(_, max)| *max)
}

/// The finalized levels: each supported feature at its default level unless `changed`
/// (the levels set since the cluster was formatted) says otherwise. Level 0 is not
/// finalized at all, so it is left out, as Kafka leaves it out.
pub fn finalized(changed: &BTreeMap<String, i16>) -> Vec<(&'static str, i16)> {
    SUPPORTED
        .iter()
        .map(|(name, default)| (*name, changed.get(*name).copied().unwrap_or(*default)))
        .filter(|(_, level)| *level > 0)
        .collect()
}

/// Why `name` cannot go from `current` to `level` with `upgrade` (`None`: an upgrade type
/// Kafka does not know), in Kafka's words, or `None` when it can.
pub fn refuse_update(name: &str, current: i16, level: i16, upgrade: Option<UpgradeType>) -> Option<String> {
    let reason = match supported_max(name) {
        None => "The broker does not support this feature.".to_string(),
        Some(_) if upgrade.is_none() => "The broker does not support the given upgrade type.".to_string(),
        Some(max) if level < 0 || level > max => format!("The broker only supports versions 0-{max}"),
        Some(_) if level < current && upgrade == Some(UpgradeType::Upgrade) => {
            "Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade."
                .to_string()
        }
        Some(_) => return None,
    };
    Some(format!("Invalid update version {level} for feature {name}. {reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_finalized_until_changed() {
        let mut changed = BTreeMap::new();
        assert_eq!(
            finalized(&changed),
            vec![("group.version", 1), ("transaction.version", 2)]
        );
        changed.insert("transaction.version".to_string(), 1);
        changed.insert("group.version".to_string(), 0);
        assert_eq!(finalized(&changed), vec![("transaction.version", 1)]);
    }

    #[test]
    fn updates_follow_the_upgrade_type() {
        let refuse = |name, current, level, upgrade| refuse_update(name, current, level, upgrade).is_some();
        assert!(!refuse("transaction.version", 2, 1, Some(UpgradeType::SafeDowngrade)));
        assert!(refuse("transaction.version", 2, 1, Some(UpgradeType::Upgrade)));
        assert!(!refuse("transaction.version", 1, 2, Some(UpgradeType::Upgrade)));
        assert!(refuse("transaction.version", 1, 3, Some(UpgradeType::Upgrade)));
        assert!(refuse("transaction.version", 1, 2, None));
        assert!(refuse("no.such.feature", 0, 1, Some(UpgradeType::Upgrade)));
    }
}
