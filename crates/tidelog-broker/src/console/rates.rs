//! Each topic's rates for the topic list (bytes and records in and out per second), from
//! the counters `/metrics` exposes. They are sampled when the list is viewed, so they cost
//! nothing while no one looks and nothing on the produce and fetch paths: a view keeps the
//! counters it read once [`MIN_WINDOW`] has passed since the kept ones, and the rates are
//! the change between the last two kept samples, over the time between them.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::metrics::{Metrics, TopicTotals};

/// The shortest time two samples are apart: a reload sooner shows the same rates.
pub const MIN_WINDOW: Duration = Duration::from_secs(2);

/// The console's last two samples of the topics' counters.
#[derive(Default)]
pub struct TopicRates {
    samples: Mutex<[Option<Sample>; 2]>,
}

struct Sample {
    at: Instant,
    totals: HashMap<String, TopicTotals>,
}

/// One topic's rates, per second.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Rate {
    pub produce_bytes: f64,
    pub produce_records: f64,
    pub fetch_bytes: f64,
    pub fetch_records: f64,
}

/// The rates between two samples, `window` apart.
pub struct Rates {
    pub window: Duration,
    by_topic: HashMap<String, Rate>,
}

impl Rates {
    /// A topic's rates: 0 for one that had no traffic in the window.
    pub fn of(&self, topic: &str) -> Rate {
        self.by_topic.get(topic).copied().unwrap_or_default()
    }
}

impl TopicRates {
    /// Samples the counters if the last sample is old enough at `now`, and returns the
    /// rates between the last two samples; `None` until there are two.
    pub fn sample(&self, metrics: &Metrics, now: Instant) -> Option<Rates> {
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        if samples[1].as_ref().is_none_or(|latest| now - latest.at >= MIN_WINDOW) {
            let taken = Sample {
                at: now,
                totals: metrics.topic_totals(),
            };
            samples[0] = samples[1].replace(taken);
        }
        let [Some(before), Some(after)] = &*samples else {
            return None;
        };
        Some(rates_between(before, after))
    }
}

fn rates_between(before: &Sample, after: &Sample) -> Rates {
    let window = after.at - before.at;
    let seconds = window.as_secs_f64();
    let by_topic = after
        .totals
        .iter()
        .map(|(topic, now)| {
            let then = before.totals.get(topic).copied().unwrap_or_default();
            let per_second = |now: u64, then: u64| now.saturating_sub(then) as f64 / seconds;
            let rate = Rate {
                produce_bytes: per_second(now.produce_bytes, then.produce_bytes),
                produce_records: per_second(now.produce_records, then.produce_records),
                fetch_bytes: per_second(now.fetch_bytes, then.fetch_bytes),
                fetch_records: per_second(now.fetch_records, then.fetch_records),
            };
            (topic.clone(), rate)
        })
        .collect();
    Rates { window, by_topic }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_the_change_between_samples_per_second() {
        let start = Instant::now();
        let sample = |seconds: u64, produce_bytes: u64, fetch_records: u64| Sample {
            at: start + Duration::from_secs(seconds),
            totals: HashMap::from([(
                "t".to_string(),
                TopicTotals {
                    produce_bytes,
                    fetch_records,
                    ..TopicTotals::default()
                },
            )]),
        };
        let rates = rates_between(&sample(0, 100, 10), &sample(4, 500, 30));
        assert_eq!(rates.window, Duration::from_secs(4));
        let expected = Rate {
            produce_bytes: 100.0,
            fetch_records: 5.0,
            ..Rate::default()
        };
        assert_eq!(rates.of("t"), expected);
        assert_eq!(rates.of("quiet"), Rate::default());
    }

    #[test]
    fn a_view_samples_once_the_window_passed() {
        let (rates, metrics, start) = (TopicRates::default(), Metrics::default(), Instant::now());
        assert!(rates.sample(&metrics, start).is_none(), "one sample");
        metrics.produced("t", 10, 1);
        assert!(
            rates.sample(&metrics, start + MIN_WINDOW / 2).is_none(),
            "too soon for another"
        );
        let later = rates.sample(&metrics, start + MIN_WINDOW).expect("two samples");
        assert_eq!((later.window, later.of("t").produce_bytes), (MIN_WINDOW, 5.0));
    }
}
