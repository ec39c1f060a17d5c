//! `request_percentage` (KIP-124, Kafka's `ClientRequestQuotaManager`): the share of the
//! broker's request-handling time a client may use, in percent of one thread: 100 is one
//! thread busy all the time, 50 half of one. Kafka counts the same way (its quota is per
//! request-handler or network thread); Tidelog has no fixed handler pool, its handlers run
//! as tasks on the runtime's threads, so one thread is the honest unit.
//!
//! A request's time is the time its handler spends being polled ([`Timed`]): its own work,
//! and nothing of what it waits for (an fsync, a long-poll fetch, a coordinator). It is
//! recorded once the answer is made, on the same windows as the byte rates; over the quota,
//! the answer carries `throttle_time_ms` (the larger of this and any byte-rate throttle)
//! and the connection reads nothing for that long. Kafka bounds this throttle by one quota
//! window; so does [`super::ClientQuotaManager::record`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tidelog_protocol::ResponseBody;

use super::RequestQuota;
use crate::broker::Broker;
use crate::handlers::Reply;

/// A future and the time spent polling it so far, if it is timed.
pub struct Timed<F> {
    inner: F,
    spent: Option<Duration>,
}

/// `future`, timed when `timing` (a request under a `request_percentage`): it resolves to
/// its output and the time spent polling it, zero untimed. Untimed, a poll reads no clock:
/// without the quota, the produce and fetch paths pay nothing for it.
pub fn timed<F: Future + Unpin>(future: F, timing: bool) -> Timed<F> {
    Timed {
        inner: future,
        spent: timing.then_some(Duration::ZERO),
    }
}

impl<F: Future + Unpin> Future for Timed<F> {
    type Output = (F::Output, Duration);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(spent) = self.spent else {
            return Pin::new(&mut self.inner)
                .poll(cx)
                .map(|output| (output, Duration::ZERO));
        };
        let start = Instant::now();
        let polled = Pin::new(&mut self.inner).poll(cx);
        let spent = spent + start.elapsed();
        self.spent = Some(spent);
        polled.map(|output| (output, spent))
    }
}

/// Charges a request's handler time, `spent` so far, to its `request_percentage` quota once
/// its answer is made; with no quota, the reply as it is. A request answered with nothing
/// (an `acks=0` produce) is not charged, as in Kafka.
pub fn charge(broker: &Arc<Broker>, quota: Option<RequestQuota>, reply: Reply, spent: Duration) -> Reply {
    let Some(quota) = quota else {
        return reply;
    };
    match reply {
        Reply::Now(body) => Reply::Now(throttled(broker, &quota, body, spent)),
        Reply::Later(body) => {
            let broker = broker.clone();
            Reply::Later(Box::pin(async move {
                let (body, later) = timed(body, true).await;
                throttled(&broker, &quota, body, spent + later)
            }))
        }
        unanswered => unanswered,
    }
}

/// Records `spent` against `quota`; over it, `body`'s `throttle_time_ms` says for how long
/// (unless a byte-rate throttle already says longer) and the connection is muted.
fn throttled(broker: &Broker, quota: &RequestQuota, mut body: ResponseBody, spent: Duration) -> ResponseBody {
    let throttle = quota.record(&broker.client_quotas, percent_seconds(spent));
    if let Some(throttle_time_ms) = body.throttle_time_ms_mut() {
        *throttle_time_ms = (*throttle_time_ms).max(throttle);
    }
    body
}

/// Time as a `request_percentage` counts it: a second of one thread is 100.
fn percent_seconds(spent: Duration) -> f64 {
    spent.as_secs_f64() * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_of_one_thread_is_a_hundred_percent() {
        assert_eq!(percent_seconds(Duration::from_secs(1)), 100.0);
        assert_eq!(percent_seconds(Duration::from_millis(5)), 0.5);
    }

    #[test]
    fn the_time_between_polls_does_not_count() {
        let mut polls = 0;
        let work = Duration::from_millis(20);
        let pending_once = std::future::poll_fn(|cx| {
            polls += 1;
            match polls {
                1 => {
                    std::thread::sleep(work);
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                _ => Poll::Ready(7),
            }
        });
        let mut timed = timed(Box::pin(pending_once), true);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(Pin::new(&mut timed).poll(&mut cx).is_pending());
        // Waiting between polls (for an fsync, say) is not the handler's time.
        let wait = Duration::from_secs(1);
        std::thread::sleep(wait);
        let Poll::Ready((output, spent)) = Pin::new(&mut timed).poll(&mut cx) else {
            panic!("ready on the second poll");
        };
        assert_eq!(output, 7);
        assert!(spent >= work && spent < wait, "{spent:?}");
    }

    #[test]
    fn an_untimed_future_counts_nothing() {
        let slow = std::future::poll_fn(|_| {
            std::thread::sleep(Duration::from_millis(5));
            Poll::Ready(7)
        });
        let mut untimed = timed(Box::pin(slow), false);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert_eq!(Pin::new(&mut untimed).poll(&mut cx), Poll::Ready((7, Duration::ZERO)));
    }
}
