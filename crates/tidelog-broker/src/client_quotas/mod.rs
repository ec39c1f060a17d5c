//! Client quotas, as Kafka's `ClientQuotaManager` enforces them (KIP-13, KIP-55, KIP-219):
//! byte rates a second for produce (`producer_byte_rate`, on request bytes) and fetch
//! (`consumer_byte_rate`, on response bytes), set per user principal, per client id, or
//! both, each with a default entity (a `None` name). A request's quota is the most specific
//! entity set for its (user, client id) ([`ClientQuotaConfigs::resolve`]); it is measured
//! over `quota.window.num` windows of `quota.window.size.seconds` ([`rate`]). A client over
//! its quota is answered at once with `throttle_time_ms` and its connection handles no
//! request for that long ([`Throttle`]); the client backs off too.
//!
//! With no quota of a kind set, nothing is measured at all: one look at the configs.

pub mod controller_mutation;
pub mod rate;
pub mod request_time;
pub mod sensors;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::clock::now_ms;

pub use self::rate::{QuotaWindow, SampledRate, TokenBucket};
pub use self::sensors::{Measure, Sensors};

/// A quota entity: entity type (`user`, `client-id`, `ip`) to name, `None` for the type's
/// default entity, as the metadata image keeps it.
pub use crate::metadata::kraft::QuotaEntity;

pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";
pub const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

/// The quota values set, by entity, as the metadata holds them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientQuotaConfigs {
    entities: BTreeMap<QuotaEntity, BTreeMap<String, f64>>,
    /// How many entities set each key: a kind no entity sets costs a request nothing.
    /// Counted as values come and go, so that replaying many quota records stays linear.
    keys: BTreeMap<String, usize>,
}

impl ClientQuotaConfigs {
    /// Sets (or with `None` removes) `key` of `entity`; an entity left without values is gone.
    pub fn set(&mut self, entity: &QuotaEntity, key: &str, value: Option<f64>) {
        match value {
            Some(value) => {
                let values = self.entities.entry(entity.clone()).or_default();
                if values.insert(key.to_string(), value).is_none() {
                    *self.keys.entry(key.to_string()).or_default() += 1;
                }
            }
            None => {
                let Some(values) = self.entities.get_mut(entity) else {
                    return;
                };
                if values.remove(key).is_some() {
                    if let Some(count) = self.keys.get_mut(key) {
                        *count -= 1;
                        if *count == 0 {
                            self.keys.remove(key);
                        }
                    }
                }
                if values.is_empty() {
                    self.entities.remove(entity);
                }
            }
        }
    }

    /// Whether any entity sets `key`.
    pub fn sets(&self, key: &str) -> bool {
        self.keys.contains_key(key)
    }

    /// Every entity with its values, in entity order.
    pub fn entities(&self) -> &BTreeMap<QuotaEntity, BTreeMap<String, f64>> {
        &self.entities
    }

    pub fn get(&self, entity: &QuotaEntity) -> Option<&BTreeMap<String, f64>> {
        self.entities.get(entity)
    }

    /// The quota `key` of a request of `user` with `client_id`, with the sensor it is
    /// measured on, by Kafka's precedence: user and client id, user and default client id,
    /// user, default user and client id, default user and default client id, default user,
    /// client id, default client id. A sensor is shared by what the matching entity covers:
    /// a user's quota by all its client ids, a default entity's per user or client id.
    pub fn resolve(&self, key: &str, user: &str, client_id: &str) -> Option<(SensorKey, f64)> {
        if !self.sets(key) {
            return None;
        }
        let (u, c) = (Some(user), Some(client_id));
        // (entity's user, entity's client id) as (absent, default None, or named), and the
        // sensor's tags: the entity's scope.
        let candidates: [(Part, Part, bool, bool); 8] = [
            (Some(u), Some(c), true, true),
            (Some(u), Some(None), true, true),
            (Some(u), None, true, false),
            (Some(None), Some(c), true, true),
            (Some(None), Some(None), true, true),
            (Some(None), None, true, false),
            (None, Some(c), false, true),
            (None, Some(None), false, true),
        ];
        candidates
            .into_iter()
            .find_map(|(entity_user, entity_client, by_user, by_client)| {
                let entity = entity_of(entity_user, entity_client);
                let bound = *self.entities.get(&entity)?.get(key)?;
                let sensor = SensorKey {
                    key: key.to_string(),
                    user: if by_user { user.to_string() } else { String::new() },
                    client_id: if by_client {
                        client_id.to_string()
                    } else {
                        String::new()
                    },
                };
                Some((sensor, bound))
            })
    }
}

/// One entity type's part of an entity: absent, the default (`Some(None)`) or named.
pub type Part<'a> = Option<Option<&'a str>>;

/// The entity of a user part and a client id part.
pub fn entity_of(user: Part, client_id: Part) -> QuotaEntity {
    let mut entity = QuotaEntity::new();
    if let Some(name) = user {
        entity.insert(USER.to_string(), name.map(str::to_string));
    }
    if let Some(name) = client_id {
        entity.insert(CLIENT_ID.to_string(), name.map(str::to_string));
    }
    entity
}

/// What one sensor measures: a quota key for a user, a client id, or both (empty: not
/// part of it), as Kafka's quota metric tags.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SensorKey {
    pub key: String,
    pub user: String,
    pub client_id: String,
}

/// The measured rates of the clients under quota.
pub struct ClientQuotaManager {
    window: QuotaWindow,
    sensors: Sensors<SensorKey, Sensor>,
}

/// One client's measure of one quota: Kafka's windowed rate, and for a producer byte rate
/// the bucket that bounds bursts to one window (see [`TokenBucket`]).
struct Sensor {
    rate: SampledRate,
    burst: TokenBucket,
}

impl Measure for Sensor {
    fn last_used_ms(&self) -> i64 {
        self.rate.last_window_ms()
    }
}

impl ClientQuotaManager {
    pub fn new(window: QuotaWindow) -> ClientQuotaManager {
        ClientQuotaManager {
            window,
            sensors: Sensors::default(),
        }
    }

    /// Records `value` against `quota` at `now_ms`; the time to throttle the client for, in
    /// ms: 0 under its quota. Over it, as Kafka's `QuotaUtils.throttleTime`: how long until
    /// the rate is back at the quota.
    pub fn record(&self, quota: &RequestQuota, value: f64, now_ms: i64) -> i32 {
        // The burst bucket holds one window of the quota.
        let burst_capacity = quota.bound * self.window.window_ms as f64 / 1000.0;
        let make = || Sensor {
            rate: SampledRate::new(self.window, now_ms),
            burst: TokenBucket::full(burst_capacity, now_ms),
        };
        let throttle = self.sensors.with(&quota.sensor, now_ms, make, |sensor| {
            sensor.rate.record(value, now_ms);
            let throttle = sensor.rate.throttle_ms(quota.bound, now_ms);
            // A producer's only: a fetch over its quota is answered empty, so a bucket
            // smaller than the largest fetch allowed (`max_in_window`) would never let one
            // through.
            match quota.sensor.key == PRODUCER_BYTE_RATE {
                true => throttle.max(sensor.burst.take(value, quota.bound, burst_capacity, now_ms)),
                false => throttle,
            }
        });
        // Bounded by the quota's whole window span: a bound of 0 (or a tiny one) would
        // otherwise mute the connection for i32::MAX ms, about 25 days. A request time
        // quota's by one window, as Kafka's `ClientRequestQuotaManager` bounds it.
        let longest = match quota.sensor.key.as_str() {
            REQUEST_PERCENTAGE => self.window.window_ms as f64,
            _ => self.window.samples as f64 * self.window.window_ms as f64,
        };
        throttle.round().min(longest) as i32
    }

    /// Takes back `value` recorded at `now_ms` (a throttled fetch returns nothing, so what
    /// it would have returned does not count).
    pub fn unrecord(&self, quota: &RequestQuota, value: f64, now_ms: i64) {
        self.sensors.with_existing(&quota.sensor, |sensor| {
            sensor.rate.record(-value, now_ms);
            sensor.burst.give_back(value);
        });
    }

    /// The most a client may take in one quota window's span (Kafka's
    /// `getMaxValueInQuotaWindow`: quota × (samples − 1) × window).
    pub fn max_in_window(&self, quota: &RequestQuota) -> f64 {
        let span_seconds = (self.window.samples as f64 - 1.0) * self.window.window_ms as f64 / 1000.0;
        quota.bound * span_seconds
    }
}

/// The quota one request is measured against, resolved once when the request comes: the
/// sensor it counts on, the quota's bound, and the connection to mute. Owned, so a
/// response made later (a long-poll fetch) records once it knows its size.
pub struct RequestQuota {
    sensor: SensorKey,
    bound: f64,
    throttle: Arc<Throttle>,
}

impl RequestQuota {
    /// The quota `key` of a request of `user` with `client_id` in `configs`, if one is set.
    pub fn resolve(
        configs: &ClientQuotaConfigs,
        key: &str,
        user: &str,
        client_id: &str,
        throttle: &Arc<Throttle>,
    ) -> Option<RequestQuota> {
        let (sensor, bound) = configs.resolve(key, user, client_id)?;
        Some(RequestQuota {
            sensor,
            bound,
            throttle: Arc::clone(throttle),
        })
    }

    /// Records `value` now; over the quota, mutes the connection. The throttle time in ms
    /// for the response's `throttle_time_ms`.
    pub fn record(&self, manager: &ClientQuotaManager, value: f64) -> i32 {
        let throttle = manager.record(self, value, now_ms());
        self.throttle.mute(throttle);
        throttle
    }

    pub fn unrecord(&self, manager: &ClientQuotaManager, value: f64) {
        manager.unrecord(self, value, now_ms());
    }
}

/// A connection's mute (Kafka's throttled channel): set by a request over its quota, and
/// read by the connection before it handles its next request, even one already read.
#[derive(Debug, Default)]
pub struct Throttle {
    until: Mutex<Option<Instant>>,
}

impl Throttle {
    /// Mutes the connection for `ms` from now (a longer mute already set stays).
    pub fn mute(&self, ms: i32) {
        if ms <= 0 {
            return;
        }
        let until = Instant::now() + Duration::from_millis(ms as u64);
        let mut current = self.until.lock().unwrap_or_else(|e| e.into_inner());
        if current.is_none_or(|c| c < until) {
            *current = Some(until);
        }
    }

    /// When the mute ends, if one is set; clears it.
    pub fn take(&self) -> Option<Instant> {
        self.until.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(entries: &[(QuotaEntity, f64)]) -> ClientQuotaConfigs {
        let mut configs = ClientQuotaConfigs::default();
        for (entity, value) in entries {
            configs.set(entity, PRODUCER_BYTE_RATE, Some(*value));
        }
        configs
    }

    #[test]
    fn the_most_specific_entity_wins_in_kafkas_order() {
        let order = [
            entity_of(Some(Some("alice")), Some(Some("app"))),
            entity_of(Some(Some("alice")), Some(None)),
            entity_of(Some(Some("alice")), None),
            entity_of(Some(None), Some(Some("app"))),
            entity_of(Some(None), Some(None)),
            entity_of(Some(None), None),
            entity_of(None, Some(Some("app"))),
            entity_of(None, Some(None)),
        ];
        // With the entities from position i on set, entity i is the one that applies.
        for i in 0..order.len() {
            let set: Vec<(QuotaEntity, f64)> = order[i..]
                .iter()
                .enumerate()
                .map(|(j, e)| (e.clone(), (i + j) as f64 + 1.0))
                .collect();
            let (_, bound) = configs(&set).resolve(PRODUCER_BYTE_RATE, "alice", "app").unwrap();
            assert_eq!(bound, i as f64 + 1.0, "entity {i}");
        }
        assert!(configs(&[]).resolve(PRODUCER_BYTE_RATE, "alice", "app").is_none());
        let other_key = configs(&[(order[0].clone(), 1.0)]);
        assert!(other_key.resolve(CONSUMER_BYTE_RATE, "alice", "app").is_none());
    }

    #[test]
    fn a_user_quota_is_shared_by_its_client_ids_and_a_default_is_per_user() {
        let user = configs(&[(entity_of(Some(Some("alice")), None), 10.0)]);
        let (a, _) = user.resolve(PRODUCER_BYTE_RATE, "alice", "one").unwrap();
        let (b, _) = user.resolve(PRODUCER_BYTE_RATE, "alice", "two").unwrap();
        assert_eq!(a, b);
        let default_user = configs(&[(entity_of(Some(None), None), 10.0)]);
        let (a, _) = default_user.resolve(PRODUCER_BYTE_RATE, "alice", "x").unwrap();
        let (b, _) = default_user.resolve(PRODUCER_BYTE_RATE, "bob", "x").unwrap();
        assert_ne!(a, b);
    }

    fn quota(configs: &ClientQuotaConfigs, client_id: &str) -> Option<RequestQuota> {
        RequestQuota::resolve(configs, PRODUCER_BYTE_RATE, "u", client_id, &Arc::default())
    }

    #[test]
    fn a_client_over_its_quota_is_throttled_until_back_at_it() {
        let configs = configs(&[(entity_of(None, Some(Some("app"))), 1000.0)]);
        let manager = ClientQuotaManager::new(QuotaWindow::default());
        let app = quota(&configs, "app").expect("a quota");
        // 10 s of samples at least: 10000 bytes is the windowed rate's worth, but nine
        // windows more than the burst bucket holds: 9 s to be back at the quota.
        assert_eq!(manager.record(&app, 10_000.0, 0), 9_000);
        // 19 s to be back at it by the bucket, 10 s by the rate: bounded by the windows' span.
        assert_eq!(manager.record(&app, 10_000.0, 0), 11_000);
        // Another client id has no quota.
        assert!(quota(&configs, "other").is_none());
        manager.unrecord(&app, 10_000.0, 0);
        manager.unrecord(&app, 10_000.0, 0);
        assert_eq!(manager.record(&app, 0.0, 0), 0);
        // Under the quota, a second at a time, never throttled.
        for second in 1..30 {
            assert_eq!(manager.record(&app, 900.0, second * 1000), 0, "second {second}");
        }
        assert_eq!(manager.max_in_window(&app), 10_000.0);
    }

    #[test]
    fn a_throttle_never_outlasts_the_quota_window() {
        let manager = ClientQuotaManager::new(QuotaWindow::default());
        // A quota of 0 (or a tiny one) divides by nothing: the mute is the window's span.
        for bound in [0.0, 1e-9] {
            let configs = configs(&[(entity_of(None, Some(Some("app"))), bound)]);
            let app = quota(&configs, "app").expect("a quota");
            assert_eq!(manager.record(&app, 1e6, 0), 11_000, "bound {bound}");
        }
    }

    #[test]
    fn a_key_counts_while_any_entity_sets_it() {
        let (alice, bob) = (entity_of(Some(Some("alice")), None), entity_of(Some(Some("bob")), None));
        let mut configs = configs(&[(alice.clone(), 5.0), (bob.clone(), 6.0)]);
        // Setting a value again, or removing one never set, changes no count.
        configs.set(&alice, PRODUCER_BYTE_RATE, Some(7.0));
        configs.set(&alice, CONSUMER_BYTE_RATE, None);
        configs.set(&alice, PRODUCER_BYTE_RATE, None);
        assert_eq!(
            configs.resolve(PRODUCER_BYTE_RATE, "bob", "x").map(|(_, b)| b),
            Some(6.0)
        );
        configs.set(&bob, PRODUCER_BYTE_RATE, None);
        assert_eq!(configs, ClientQuotaConfigs::default());
    }

    #[test]
    fn removing_the_last_value_removes_the_entity() {
        let entity = entity_of(Some(Some("alice")), None);
        let mut configs = configs(&[(entity.clone(), 5.0)]);
        configs.set(&entity, PRODUCER_BYTE_RATE, None);
        assert_eq!(configs, ClientQuotaConfigs::default());
    }
}
