//! `connection_creation_rate` of the `ip` quota entity (KIP-612, Kafka's
//! `ConnectionQuotas.recordIpConnectionMaybeThrottle`): the new connections an address may
//! open a second, set for one address or for every address (the default `ip` entity) with
//! AlterClientQuotas. The rate is measured per address over `quota.window.num` windows of
//! `quota.window.size.seconds`, as the client quotas are ([`SampledRate`]). A connection
//! over it is not served: it is not counted against the rate or the connection limits, and
//! is closed once the throttle time (at most one window) has passed, as Kafka's acceptor
//! closes a throttled socket after its delay, so that a client retrying at once is slowed.

use std::net::IpAddr;
use std::time::Duration;

use crate::client_quotas::{ClientQuotaConfigs, QuotaWindow, SampledRate, Sensors, CONNECTION_CREATION_RATE, IP};

/// The measured connection rates of the addresses under a `connection_creation_rate`.
pub struct IpConnectionRates {
    window: QuotaWindow,
    rates: Sensors<IpAddr, SampledRate>,
}

impl IpConnectionRates {
    pub fn new(window: QuotaWindow) -> IpConnectionRates {
        IpConnectionRates {
            window,
            rates: Sensors::default(),
        }
    }

    /// Records a new connection from `ip` at `now_ms`; `Some(delay)` when it is over the
    /// address's quota in `configs`: then it is taken back, and the connection is to be
    /// closed after `delay`. `None` without a quota for the address.
    pub fn throttle(&self, configs: &ClientQuotaConfigs, ip: IpAddr, now_ms: i64) -> Option<Duration> {
        let bound = quota_of(configs, ip)?;
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
}

/// The `connection_creation_rate` of `ip`: its own entity's, else the default `ip` entity's.
/// Entity names are compared as addresses, as Kafka parses them (`::1` is `0:0:0:0:0:0:0:1`).
/// With no such quota set, a new connection costs one look, not a walk of every entity.
fn quota_of(configs: &ClientQuotaConfigs, ip: IpAddr) -> Option<f64> {
    if !configs.sets(CONNECTION_CREATION_RATE) {
        return None;
    }
    let mut default = None;
    for (entity, values) in configs.entities() {
        let (Some(name), 1) = (entity.get(IP), entity.len()) else {
            continue;
        };
        let Some(&rate) = values.get(CONNECTION_CREATION_RATE) else {
            continue;
        };
        match name {
            None => default = Some(rate),
            Some(name) if name.parse::<IpAddr>().is_ok_and(|named| named == ip) => return Some(rate),
            Some(_) => {}
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
        let both = configs(&[(None, 5.0), (Some("0:0:0:0:0:0:0:1"), 2.0)]);
        assert_eq!(quota_of(&both, "::1".parse().unwrap()), Some(2.0));
        assert_eq!(quota_of(&both, "10.0.0.1".parse().unwrap()), Some(5.0));
        let one = configs(&[(Some("10.0.0.1"), 2.0)]);
        assert_eq!(quota_of(&one, "10.0.0.2".parse().unwrap()), None);
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
