//! The measures of one quota kind, one per client or address, as Kafka's quota sensors:
//! made when first used, and dropped once idle for an hour ([`INACTIVE_SENSOR_MS`]), so
//! that clients come and gone do not pile up.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// A measure unused this long is dropped, as Kafka expires its quota sensors.
const INACTIVE_SENSOR_MS: i64 = 60 * 60 * 1000;

/// A measure that knows when it was last used.
pub trait Measure {
    fn last_used_ms(&self) -> i64;
}

/// The measures by what they measure (a client's sensor, an address).
pub struct Sensors<K, M> {
    measures: Mutex<HashMap<K, M>>,
}

impl<K, M> Default for Sensors<K, M> {
    fn default() -> Self {
        Sensors {
            measures: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone, M: Measure> Sensors<K, M> {
    /// `use_it` on the measure of `key` at `now_ms`, made by `make` if there is none (and
    /// then the idle ones are dropped first).
    pub fn with<R>(&self, key: &K, now_ms: i64, make: impl FnOnce() -> M, use_it: impl FnOnce(&mut M) -> R) -> R {
        let mut measures = self.measures.lock().unwrap_or_else(|e| e.into_inner());
        if !measures.contains_key(key) {
            measures.retain(|_, measure| now_ms - measure.last_used_ms() < INACTIVE_SENSOR_MS);
        }
        use_it(measures.entry(key.clone()).or_insert_with(make))
    }

    /// `use_it` on the measure of `key`, if there is one.
    pub fn with_existing(&self, key: &K, use_it: impl FnOnce(&mut M)) {
        if let Some(measure) = self.measures.lock().unwrap_or_else(|e| e.into_inner()).get_mut(key) {
            use_it(measure);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Measure for i64 {
        fn last_used_ms(&self) -> i64 {
            *self
        }
    }

    #[test]
    fn a_measure_idle_for_an_hour_is_dropped_when_a_new_one_comes() {
        let sensors: Sensors<&str, i64> = Sensors::default();
        sensors.with(&"old", 0, || 0, |_| ());
        sensors.with(&"recent", 1, || 1, |_| ());
        // Used again, a measure is not made anew.
        assert_eq!(sensors.with(&"old", 10, || 99, |m| *m), 0);
        sensors.with(&"new", INACTIVE_SENSOR_MS, || INACTIVE_SENSOR_MS, |_| ());
        let mut left: Vec<&str> = sensors.measures.lock().unwrap().keys().copied().collect();
        left.sort();
        assert_eq!(left, ["new", "recent"]);
    }
}
