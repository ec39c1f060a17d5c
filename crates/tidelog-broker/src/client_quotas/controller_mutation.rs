//! `controller_mutation_rate` (KIP-599, Kafka's `ControllerMutationQuotaManager`): the
//! partitions a client may create or delete a second, by CreateTopics, CreatePartitions and
//! DeleteTopics. Unlike the byte rates it is a token bucket ([`TokenBucket`]), as in Kafka:
//! it refills at the quota a second up to `controller.quota.window.num` ×
//! `controller.quota.window.size.seconds` seconds' worth, starts full, and a mutation may
//! take it below zero; the throttle is the time until it is back at zero.
//!
//! From the versions whose clients know the error (CreateTopics v6, CreatePartitions v3,
//! DeleteTopics v5) the quota is strict: while the bucket is below zero, a topic is refused
//! `THROTTLING_QUOTA_EXCEEDED` and nothing is recorded. Older clients are served
//! permissively: every mutation is done and recorded, and the response is throttled.

use tidelog_protocol::ErrorCode;

use super::{QuotaWindow, SensorKey, Sensors, TokenBucket, CONTROLLER_MUTATION_RATE};
use crate::broker::ApiError;
use crate::clock::now_ms;
use crate::handlers::RequestContext;

/// Kafka's `Errors.THROTTLING_QUOTA_EXCEEDED` message.
const EXCEEDED: &str = "The throttling quota has been exceeded.";

/// The token buckets of the clients under a `controller_mutation_rate`.
pub struct ControllerMutationQuotaManager {
    window: QuotaWindow,
    buckets: Sensors<SensorKey, TokenBucket>,
}

impl ControllerMutationQuotaManager {
    pub fn new(window: QuotaWindow) -> ControllerMutationQuotaManager {
        ControllerMutationQuotaManager {
            window,
            buckets: Sensors::default(),
        }
    }

    /// The quota of one request: strict from API version `strict_since` on (Kafka's
    /// `newQuotaFor`), unbounded when no `controller_mutation_rate` applies to its client.
    pub fn quota_for(&self, ctx: &RequestContext, strict_since: i16) -> MutationQuota<'_> {
        let configs = ctx.broker.metadata.client_quotas();
        MutationQuota {
            manager: self,
            sensor: configs.resolve(CONTROLLER_MUTATION_RATE, ctx.principal.name(), &ctx.client_id),
            strict: ctx.api_version >= strict_since,
            throttle_ms: 0,
        }
    }

    /// No quota: a change another node forwards was charged to its client there.
    pub fn unbounded(&self) -> MutationQuota<'_> {
        MutationQuota {
            manager: self,
            sensor: None,
            strict: false,
            throttle_ms: 0,
        }
    }

    /// Takes `permits` from the bucket of `sensor` at `now_ms`, strictly (refused, taking
    /// nothing, while it is below zero) or not. The throttle in ms: 0 while the bucket is
    /// not below zero, else the time to refill it to zero, at most the bucket's span.
    fn record(&self, (sensor, rate): &(SensorKey, f64), permits: f64, strict: bool, now_ms: i64) -> Result<i32, i32> {
        let span_ms = self.window.samples as f64 * self.window.window_ms as f64;
        let burst = rate * span_ms / 1000.0;
        // A rate of 0 never refills: the longest throttle, as for the byte rates.
        let throttle = |bucket: &TokenBucket| bucket.throttle_ms(*rate).min(span_ms).round() as i32;
        let full = || TokenBucket::full(burst, now_ms);
        self.buckets.with(sensor, now_ms, full, |bucket| {
            if strict && bucket.refill(*rate, burst, now_ms) < 0.0 {
                return Err(throttle(bucket));
            }
            bucket.take(permits, *rate, burst, now_ms);
            Ok(throttle(bucket))
        })
    }
}

/// One request's `controller_mutation_rate` (Kafka's `ControllerMutationQuota`): what its
/// mutations are recorded on, and the throttle they earned.
pub struct MutationQuota<'a> {
    manager: &'a ControllerMutationQuotaManager,
    sensor: Option<(SensorKey, f64)>,
    strict: bool,
    throttle_ms: i32,
}

impl MutationQuota<'_> {
    /// Records the creation or deletion of `partitions`; refused `THROTTLING_QUOTA_EXCEEDED`
    /// when strict and the client's bucket is empty already. A strict quota throttles only
    /// what it refuses: the mutation that empties the bucket passes unthrottled (Kafka's
    /// `StrictControllerMutationQuota`).
    pub fn record(&mut self, partitions: i64) -> Result<(), ApiError> {
        let Some(sensor) = &self.sensor else {
            return Ok(());
        };
        match self
            .manager
            .record(sensor, partitions.max(0) as f64, self.strict, now_ms())
        {
            Ok(throttle) => {
                if !self.strict {
                    self.throttle_ms = throttle;
                }
                Ok(())
            }
            Err(throttle) => {
                self.throttle_ms = throttle;
                Err(ApiError::new(ErrorCode::THROTTLING_QUOTA_EXCEEDED, EXCEEDED))
            }
        }
    }

    /// The response's `throttle_time_ms`; the connection is muted for as long.
    pub fn throttle(&self, ctx: &RequestContext) -> i32 {
        ctx.throttle.mute(self.throttle_ms);
        self.throttle_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sensor(client_id: &str, rate: f64) -> (SensorKey, f64) {
        let key = SensorKey {
            key: CONTROLLER_MUTATION_RATE.to_string(),
            user: String::new(),
            client_id: client_id.to_string(),
        };
        (key, rate)
    }

    #[test]
    fn a_strict_quota_refuses_once_the_bucket_is_below_zero() {
        // 2 a second over 11 windows of a second: a bucket of 22 partitions.
        let manager = ControllerMutationQuotaManager::new(QuotaWindow::default());
        let two = sensor("two", 2.0);
        assert_eq!(manager.record(&two, 20.0, true, 0), Ok(0));
        // 2 left: 5 more is allowed, and leaves the bucket 3 below zero.
        assert_eq!(manager.record(&two, 5.0, true, 0), Ok(1500));
        // Refused, nothing taken: 1.5 s until the bucket is back at zero.
        assert_eq!(manager.record(&two, 1.0, true, 0), Err(1500));
        assert_eq!(manager.record(&two, 1.0, true, 500), Err(1000));
        // Refilled to zero: allowed again.
        assert_eq!(manager.record(&two, 1.0, true, 1500), Ok(500));
    }

    #[test]
    fn a_permissive_quota_takes_everything_and_throttles() {
        let manager = ControllerMutationQuotaManager::new(QuotaWindow::default());
        let one = sensor("one", 1.0);
        assert_eq!(manager.record(&one, 15.0, false, 0), Ok(4000));
        assert_eq!(manager.record(&one, 1.0, false, 0), Ok(5000));
        // Never refilled: the throttle is the bucket's span at most.
        let zero = sensor("zero", 0.0);
        assert_eq!(manager.record(&zero, 1.0, false, 0), Ok(11_000));
    }
}
