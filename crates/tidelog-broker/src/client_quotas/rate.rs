//! A rate over sampled windows, as Kafka's `Rate` over a `SampledStat`: what was recorded
//! in the last `samples` windows of `window_ms` each, divided by the time they cover. A
//! rate measured before `samples - 1` whole windows have passed is divided as if they had
//! (Kafka's `Rate.windowSize`), so a burst at the start is not read as a huge rate.

/// `quota.window.num` windows of `quota.window.size.seconds` (Kafka: 11 of 1 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaWindow {
    pub samples: usize,
    pub window_ms: i64,
}

impl Default for QuotaWindow {
    fn default() -> Self {
        QuotaWindow {
            samples: 11,
            window_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    start_ms: i64,
    total: f64,
}

/// The samples of one quota sensor (one client's produce bytes, say).
#[derive(Debug, Clone)]
pub struct SampledRate {
    window: QuotaWindow,
    samples: Vec<Sample>,
    current: usize,
}

impl SampledRate {
    pub fn new(window: QuotaWindow, now_ms: i64) -> SampledRate {
        SampledRate {
            window,
            samples: vec![Sample {
                start_ms: now_ms,
                total: 0.0,
            }],
            current: 0,
        }
    }

    /// Adds `value` (negative to take back what was recorded) at `now_ms`.
    pub fn record(&mut self, value: f64, now_ms: i64) {
        if now_ms - self.samples[self.current].start_ms >= self.window.window_ms {
            self.current = (self.current + 1) % self.window.samples;
            let fresh = Sample {
                start_ms: now_ms,
                total: 0.0,
            };
            match self.samples.get_mut(self.current) {
                Some(sample) => *sample = fresh,
                None => self.samples.push(fresh),
            }
        }
        self.samples[self.current].total += value;
    }

    /// The rate a second at `now_ms`.
    pub fn measure(&mut self, now_ms: i64) -> f64 {
        self.forget_old(now_ms);
        let total: f64 = self.samples.iter().map(|s| s.total).sum();
        total * 1000.0 / self.window_size_ms(now_ms) as f64
    }

    /// How long, in ms, until the rate is back at `bound` if nothing more is recorded (Kafka's
    /// `QuotaUtils.throttleTime`); 0 at or under it, infinite for a bound of 0.
    pub fn throttle_ms(&mut self, bound: f64, now_ms: i64) -> f64 {
        let observed = self.measure(now_ms);
        match observed <= bound {
            true => 0.0,
            false => (observed - bound) / bound * self.window_size_ms(now_ms) as f64,
        }
    }

    /// The time the samples cover, at least `samples - 1` whole windows.
    pub fn window_size_ms(&mut self, now_ms: i64) -> i64 {
        self.forget_old(now_ms);
        let oldest = self.samples.iter().map(|s| s.start_ms).min().unwrap_or(now_ms);
        let elapsed = now_ms - oldest;
        let full_windows = elapsed / self.window.window_ms;
        let least = self.window.samples as i64 - 1;
        match full_windows < least {
            true => elapsed + (least - full_windows) * self.window.window_ms,
            false => elapsed,
        }
    }

    /// Empties the samples older than all the windows together (Kafka's
    /// `purgeObsoleteSamples`).
    fn forget_old(&mut self, now_ms: i64) {
        let expiry = self.window.samples as i64 * self.window.window_ms;
        for sample in &mut self.samples {
            if now_ms - sample.start_ms >= expiry {
                *sample = Sample {
                    start_ms: now_ms,
                    total: 0.0,
                };
            }
        }
    }

    /// When the newest sample started.
    pub fn last_window_ms(&self) -> i64 {
        self.samples[self.current].start_ms
    }
}

/// A rate idle for long is dropped.
impl super::Measure for SampledRate {
    fn last_used_ms(&self) -> i64 {
        self.last_window_ms()
    }
}

/// A token bucket (Kafka's `TokenBucket` stat): it refills at a rate a second up to a
/// capacity, starts full, and a take may overdraw it; the throttle is the time until it is
/// back at zero. The controller mutation quota, the connection creation rates, and the
/// producer byte rate's burst bound are each one.
///
/// Beside a byte rate's samples it holds one window of the quota: Kafka's windowed rate lets
/// through a burst of up to `samples - 1` windows of the quota while its samples are fresh
/// (it divides by the whole span), and again each time the sample that held the last burst
/// expires: a 1 MB/s producer quota passes 1.3 MB/s over its first 20 s
/// (docs/PERFORMANCE.md). Throttling by the larger of the two bounds each burst to one
/// window's worth, so the quota holds within a few percent over any 20 s; a client under
/// its quota is never throttled by it.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens: f64,
    at_ms: i64,
}

impl TokenBucket {
    /// A bucket holding `capacity` at `now_ms`.
    pub fn full(capacity: f64, now_ms: i64) -> TokenBucket {
        TokenBucket {
            tokens: capacity,
            at_ms: now_ms,
        }
    }

    /// The tokens at `now_ms`, refilled at `rate` a second up to `capacity`.
    pub fn refill(&mut self, rate: f64, capacity: f64, now_ms: i64) -> f64 {
        let elapsed = (now_ms - self.at_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + rate * elapsed).min(capacity);
        self.at_ms = now_ms;
        self.tokens
    }

    /// Takes `value` at `now_ms` from a bucket refilled at `rate` up to `capacity`; how long,
    /// in ms, until it is back at zero if that overdraws it, else 0 (infinite at a rate of 0).
    pub fn take(&mut self, value: f64, rate: f64, capacity: f64, now_ms: i64) -> f64 {
        self.tokens = self.refill(rate, capacity, now_ms) - value;
        self.throttle_ms(rate)
    }

    /// How long, in ms, until the bucket is back at zero at `rate` (Kafka's
    /// `ControllerMutationQuotaManager.throttleTimeMs`); 0 while it is not below zero.
    pub fn throttle_ms(&self, rate: f64) -> f64 {
        match self.tokens < 0.0 {
            true => -self.tokens / rate * 1000.0,
            false => 0.0,
        }
    }

    /// Gives back `value` taken (what a throttled fetch did not return).
    pub fn give_back(&mut self, value: f64) {
        self.tokens += value;
    }
}

/// When the bucket was last refilled: a bucket idle for long is dropped.
impl super::Measure for TokenBucket {
    fn last_used_ms(&self) -> i64 {
        self.at_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 10-window burst that the windowed rate reads as the quota itself is throttled by the
    /// bucket for the nine windows' worth over its one; a client at its quota never is.
    #[test]
    fn a_burst_beyond_one_window_is_throttled_by_the_bucket() {
        let mut rate = SampledRate::new(QuotaWindow::default(), 0);
        let mut bucket = TokenBucket::full(1000.0, 0);
        rate.record(10_000.0, 0);
        assert_eq!(
            rate.throttle_ms(1000.0, 0),
            0.0,
            "Kafka's windowed rate lets it through"
        );
        assert_eq!(bucket.take(10_000.0, 1000.0, 1000.0, 0), 9000.0);
        bucket.give_back(10_000.0);
        let mut steady = TokenBucket::full(1000.0, 0);
        for second in 0..30 {
            assert_eq!(
                steady.take(1000.0, 1000.0, 1000.0, second * 1000),
                0.0,
                "second {second}"
            );
        }
    }

    #[test]
    fn a_first_burst_is_spread_over_the_whole_window() {
        let mut rate = SampledRate::new(QuotaWindow::default(), 0);
        rate.record(10_000.0, 0);
        // 10 windows of a second at least: 1000 a second, not 10000.
        assert_eq!(rate.measure(0), 1000.0);
        assert_eq!(rate.window_size_ms(500), 10_500);
    }

    #[test]
    fn samples_older_than_the_windows_are_forgotten() {
        let mut rate = SampledRate::new(QuotaWindow::default(), 0);
        for second in 0..20 {
            rate.record(1000.0, second * 1000);
        }
        // 11 samples of 1000 over 10 s since the oldest kept (plus the current one's start).
        let measured = rate.measure(19_000);
        assert!((measured - 1100.0).abs() < 1e-9, "{measured}");
        assert_eq!(rate.measure(40_000), 0.0);
    }

    #[test]
    fn a_recorded_value_can_be_taken_back() {
        let mut rate = SampledRate::new(QuotaWindow::default(), 0);
        rate.record(5000.0, 100);
        rate.record(-5000.0, 200);
        assert_eq!(rate.measure(300), 0.0);
    }
}
