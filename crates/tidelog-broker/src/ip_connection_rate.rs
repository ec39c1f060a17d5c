//! `connection_creation_rate` of the `ip` quota entity (KIP-612, Kafka's
//! `ConnectionQuotas.recordIpConnectionMaybeThrottle`): the new connections an address may
//! open a second, set for one address or for every address (the default `ip` entity) with
//! AlterClientQuotas. The rate is measured per address over `quota.window.num` windows of
//! `quota.window.size.seconds`, as the client quotas are ([`SampledRate`]). A connection
//! over it is not served: it is not counted against the rate or the connection limits, and
//! is closed once the throttle time (at most one window) has passed, as Kafka's acceptor
//! closes a throttled socket after its delay, so that a client retrying at once is slowed.
//!
//! An entity named by a host name applies to the address the name resolves to, as Kafka
//! applies it (`InetAddress.getByName` when the quota record is applied): the names are
//! resolved when the quota configs change ([`IpConnectionRates::resolve_host_names`], in
//! the background), never for a connection; a name that does not resolve applies to no
//! connection, and is logged once.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tracing::{info, warn};

use crate::client_quotas::{ClientQuotaConfigs, QuotaWindow, SampledRate, Sensors, CONNECTION_CREATION_RATE, IP};

/// The longest a host name's resolution may take (the system resolver's own timeouts are
/// usually shorter).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the host names of `ip` entities resolved to: `None` for a name that did not.
type HostAddresses = BTreeMap<String, Option<IpAddr>>;

/// The measured connection rates of the addresses under a `connection_creation_rate`.
pub struct IpConnectionRates {
    window: QuotaWindow,
    rates: Sensors<IpAddr, SampledRate>,
    /// The host names of the `ip` entities with a rate, as last resolved.
    hosts: RwLock<Arc<HostAddresses>>,
}

impl IpConnectionRates {
    pub fn new(window: QuotaWindow) -> IpConnectionRates {
        IpConnectionRates {
            window,
            rates: Sensors::default(),
            hosts: RwLock::default(),
        }
    }

    /// Records a new connection from `ip` at `now_ms`; `Some(delay)` when it is over the
    /// address's quota in `configs`: then it is taken back, and the connection is to be
    /// closed after `delay`. `None` without a quota for the address.
    pub fn throttle(&self, configs: &ClientQuotaConfigs, ip: IpAddr, now_ms: i64) -> Option<Duration> {
        let bound = quota_of(configs, &self.hosts(), ip)?;
        let window = self.window;
        let throttle = self.rates.with(
            &ip,
            now_ms,
            || SampledRate::new(window, now_ms),
            |rate| {
                rate.record(1.0, now_ms);
                let throttle = rate.throttle_ms(bound, now_ms).min(window.window_ms as f64);
                if throttle > 0.0 {
                    rate.record(-1.0, now_ms);
                }
                throttle
            },
        );
        (throttle > 0.0).then(|| Duration::from_millis(throttle.round() as u64))
    }

    /// Resolves the host names among `configs`' `ip` entities that were not resolved yet,
    /// and forgets those no entity names any more (one set again is resolved again). Called
    /// every second or so: with no change, it compares two short lists.
    pub async fn resolve_host_names(&self, configs: &ClientQuotaConfigs) {
        let named = host_names(configs);
        let known = self.hosts();
        if named.iter().eq(known.keys()) {
            return;
        }
        let mut hosts = HostAddresses::new();
        let mut resolved = Vec::new();
        for name in named {
            let address = match known.get(&name) {
                Some(address) => *address,
                None => {
                    let address = resolve(&name).await;
                    resolved.push((name.clone(), address));
                    address
                }
            };
            hosts.insert(name, address);
        }
        *self.hosts.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(hosts);
        // Logged once in effect: a connection after the line is under the quota.
        for (name, address) in resolved {
            match address {
                Some(address) => info!(name, %address, "ip quota entity resolved"),
                None => warn!(
                    name,
                    "ip quota entity does not resolve: its quota applies to no connection"
                ),
            }
        }
    }

    fn hosts(&self) -> Arc<HostAddresses> {
        self.hosts.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// The address `name` (a host name or an address) stands for, as Kafka's
/// `InetAddress.getByName` picks it: the first IPv4 address the resolver gives, else its
/// first address (Java prefers IPv4 unless told otherwise); `None` if it does not resolve.
pub async fn resolve(name: &str) -> Option<IpAddr> {
    if let Ok(address) = name.parse() {
        return Some(address);
    }
    let lookup = tokio::net::lookup_host((name, 0));
    let addresses: Vec<IpAddr> = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Ok(Ok(addresses)) => addresses.map(|a| a.ip()).collect(),
        _ => return None,
    };
    addresses.iter().find(|a| a.is_ipv4()).or(addresses.first()).copied()
}

/// The names of the `ip` entities with a `connection_creation_rate` that are not addresses,
/// in order.
fn host_names(configs: &ClientQuotaConfigs) -> Vec<String> {
    if !configs.sets(CONNECTION_CREATION_RATE) {
        return Vec::new();
    }
    ip_rates(configs)
        .filter_map(|(name, _)| name.filter(|n| n.parse::<IpAddr>().is_err()))
        .map(str::to_string)
        .collect()
}

/// Each `ip` entity (`None`: the default one) with its `connection_creation_rate`.
fn ip_rates(configs: &ClientQuotaConfigs) -> impl Iterator<Item = (Option<&str>, f64)> {
    configs.entities().iter().filter_map(|(entity, values)| {
        let (Some(name), 1) = (entity.get(IP), entity.len()) else {
            return None;
        };
        Some((name.as_deref(), *values.get(CONNECTION_CREATION_RATE)?))
    })
}

/// The `connection_creation_rate` of `ip`: its own entity's, else the default `ip` entity's.
/// Entity names are compared as addresses, as Kafka parses them (`::1` is `0:0:0:0:0:0:0:1`),
/// a host name by the address it resolved to in `hosts`. With no such quota set, a new
/// connection costs one look, not a walk of every entity.
fn quota_of(configs: &ClientQuotaConfigs, hosts: &HostAddresses, ip: IpAddr) -> Option<f64> {
    if !configs.sets(CONNECTION_CREATION_RATE) {
        return None;
    }
    let mut default = None;
    for (name, rate) in ip_rates(configs) {
        let Some(name) = name else {
            default = Some(rate);
            continue;
        };
        let address = match name.parse::<IpAddr>() {
            Ok(address) => Some(address),
            Err(_) => hosts.get(name).copied().flatten(),
        };
        if address == Some(ip) {
            return Some(rate);
        }
    }
    default
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_quotas::QuotaEntity;

    fn ip_entity(name: Option<&str>) -> QuotaEntity {
        QuotaEntity::from([(IP.to_string(), name.map(str::to_string))])
    }

    fn configs(entries: &[(Option<&str>, f64)]) -> ClientQuotaConfigs {
        let mut configs = ClientQuotaConfigs::default();
        for (name, rate) in entries {
            configs.set(&ip_entity(*name), CONNECTION_CREATION_RATE, Some(*rate));
        }
        configs
    }

    #[test]
    fn an_address_quota_beats_the_default_one() {
        let hosts = HostAddresses::new();
        let both = configs(&[(None, 5.0), (Some("0:0:0:0:0:0:0:1"), 2.0)]);
        assert_eq!(quota_of(&both, &hosts, "::1".parse().unwrap()), Some(2.0));
        assert_eq!(quota_of(&both, &hosts, "10.0.0.1".parse().unwrap()), Some(5.0));
        let one = configs(&[(Some("10.0.0.1"), 2.0)]);
        assert_eq!(quota_of(&one, &hosts, "10.0.0.2".parse().unwrap()), None);
    }

    #[tokio::test]
    async fn a_host_name_applies_to_the_address_it_resolved_to_once_resolved() {
        let rates = IpConnectionRates::new(QuotaWindow::default());
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let quota = configs(&[(Some("localhost"), 2.0), (Some("no-such-host.invalid"), 3.0)]);
        // Not resolved yet: nothing applies (a connection never waits for a resolver).
        assert_eq!(quota_of(&quota, &rates.hosts(), loopback), None);
        rates.resolve_host_names(&quota).await;
        let hosts = rates.hosts();
        assert_eq!(hosts.get("localhost"), Some(&Some(loopback)));
        // A name that does not resolve is kept as such: not resolved again, applied to nothing.
        assert_eq!(hosts.get("no-such-host.invalid"), Some(&None));
        assert_eq!(quota_of(&quota, &hosts, loopback), Some(2.0));
        assert_eq!(quota_of(&quota, &hosts, "10.0.0.1".parse().unwrap()), None);
        // Unchanged names: the same table. A name no entity has any more is forgotten.
        rates.resolve_host_names(&quota).await;
        assert!(Arc::ptr_eq(&hosts, &rates.hosts()));
        rates.resolve_host_names(&configs(&[(Some("10.0.0.1"), 1.0)])).await;
        assert!(rates.hosts().is_empty());
    }

    #[tokio::test]
    async fn resolve_prefers_an_ipv4_address_as_java_does() {
        assert_eq!(resolve("::1").await, Some("::1".parse().unwrap()));
        assert_eq!(resolve("localhost").await, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(resolve("no-such-host.invalid").await, None);
    }

    #[test]
    fn connections_over_the_rate_are_throttled_and_not_counted() {
        let rates = IpConnectionRates::new(QuotaWindow::default());
        let quota = configs(&[(Some("10.0.0.1"), 1.0)]);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        // A rate is taken over 10 windows at least: 10 connections at once are 1 a second.
        for _ in 0..10 {
            assert_eq!(rates.throttle(&quota, ip, 0), None);
        }
        // The 11th would be 1.1 a second: closed after a second (one window at most), and
        // not counted, so the next one is throttled the same.
        assert_eq!(rates.throttle(&quota, ip, 0), Some(Duration::from_secs(1)));
        assert_eq!(rates.throttle(&quota, ip, 0), Some(Duration::from_secs(1)));
        // Another address has no quota.
        assert_eq!(rates.throttle(&quota, "10.0.0.2".parse().unwrap(), 0), None);
        // 11 s on, the first window is forgotten.
        assert_eq!(rates.throttle(&quota, ip, 11_000), None);
    }
}
