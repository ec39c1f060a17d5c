//! Connection limits, as Kafka's `ConnectionQuotas`:
//!
//! - `max.connections`: while this many connections are open, a new one is accepted and
//!   held unread until one closes (Kafka's acceptor accepts, then waits for a slot; the
//!   kernel's backlog holds the ones after it).
//! - `max.connections.per.ip`, `max.connections.per.ip.overrides` (`host:count,...`): a
//!   connection from an address that already has its maximum open is closed at once,
//!   before anything is read from it; the others are untouched.
//! - `max.connection.creation.rate`: at most this many new connections a second,
//!   broker-wide; past it the acceptor waits (Kafka throttles its acceptor the same way).
//! - `listener.name.<l>.max.connections`, `listener.name.<l>.max.connection.creation.rate`:
//!   the same for one listener; only that listener's acceptor waits, as each of Kafka's
//!   listeners has its own.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tracing::info;

use crate::client_quotas::TokenBucket;

/// The settings, as the configuration gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionLimits {
    pub max_connections: i32,
    pub max_connections_per_ip: i32,
    /// Resolved addresses and their own maximum.
    pub max_connections_per_ip_overrides: HashMap<IpAddr, i32>,
    /// New connections a second.
    pub max_connection_creation_rate: i32,
    /// `listener.name.<l>.max.connections`, by listener name.
    pub listener_max_connections: BTreeMap<String, i32>,
    /// `listener.name.<l>.max.connection.creation.rate`, by listener name.
    pub listener_max_connection_creation_rate: BTreeMap<String, i32>,
}

impl Default for ConnectionLimits {
    /// Kafka's defaults: no limit (`Int.MaxValue`).
    fn default() -> Self {
        ConnectionLimits {
            max_connections: i32::MAX,
            max_connections_per_ip: i32::MAX,
            max_connections_per_ip_overrides: HashMap::new(),
            max_connection_creation_rate: i32::MAX,
            listener_max_connections: BTreeMap::new(),
            listener_max_connection_creation_rate: BTreeMap::new(),
        }
    }
}

/// `max.connections.per.ip.overrides`: `host:count` pairs, a host a name or an address
/// (resolved now, as Kafka resolves it when the config is read); empty is none.
pub fn parse_overrides(value: &str) -> Result<HashMap<IpAddr, i32>, String> {
    let mut overrides = HashMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (host, count) = entry
            .rsplit_once(':')
            .ok_or_else(|| format!("{entry} is not host:count"))?;
        let count: i32 = count
            .trim()
            .parse()
            .ok()
            .filter(|c| *c >= 0)
            .ok_or_else(|| format!("{entry}: the count must be a non-negative integer"))?;
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => (host, 0)
                .to_socket_addrs()
                .map_err(|e| format!("{entry}: cannot resolve {host}: {e}"))?
                .map(|a| a.ip())
                .collect(),
        };
        for ip in addresses {
            overrides.insert(ip, count);
        }
    }
    Ok(overrides)
}

/// Why a connection is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooManyConnections {
    pub ip: IpAddr,
    pub max: i32,
}

/// The broker's open connections, counted by address, against the limits.
pub struct ConnectionQuotas {
    limits: ConnectionLimits,
    counts: Mutex<Counts>,
    /// Woken when a connection closes.
    closed: Notify,
    /// The broker-wide creation rate, and each listener's that has one.
    creation_rate: CreationRate,
    listener_creation_rates: HashMap<String, CreationRate>,
    /// Connections the creation rate delayed, and when that was last logged.
    throttled: AtomicU64,
    throttle_logged: Mutex<Option<Instant>>,
}

/// The least time between two log lines about the creation rate.
const THROTTLE_LOG_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Counts {
    total: i64,
    by_ip: HashMap<IpAddr, i32>,
    by_listener: HashMap<String, i32>,
}

/// A creation rate: a bucket of up to a second's connections, on a clock of ms since it
/// was made.
struct CreationRate {
    rate: f64,
    epoch: Instant,
    bucket: Mutex<TokenBucket>,
}

impl CreationRate {
    fn new(rate: i32) -> CreationRate {
        let rate = f64::from(rate);
        CreationRate {
            rate,
            epoch: Instant::now(),
            bucket: Mutex::new(TokenBucket::full(rate, 0)),
        }
    }

    /// Takes a token at `now`; if there is none, takes the next one ahead and returns how
    /// long until it is there. The rate is at least 1 (the configuration says so).
    fn take(&self, now: Instant) -> Option<Duration> {
        if self.rate >= f64::from(i32::MAX) {
            return None;
        }
        let now_ms = now.saturating_duration_since(self.epoch).as_millis() as i64;
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let delay_ms = bucket.take(1.0, self.rate, self.rate, now_ms);
        (delay_ms > 0.0).then(|| Duration::from_secs_f64(delay_ms / 1000.0))
    }
}

impl ConnectionQuotas {
    pub fn new(limits: ConnectionLimits) -> Arc<ConnectionQuotas> {
        let listener_creation_rates = limits
            .listener_max_connection_creation_rate
            .iter()
            .map(|(listener, rate)| (listener.clone(), CreationRate::new(*rate)))
            .collect();
        Arc::new(ConnectionQuotas {
            creation_rate: CreationRate::new(limits.max_connection_creation_rate),
            listener_creation_rates,
            limits,
            counts: Mutex::new(Counts::default()),
            closed: Notify::new(),
            throttled: AtomicU64::new(0),
            throttle_logged: Mutex::new(None),
        })
    }

    /// Waits until a connection on `listener` may be served: fewer than `max.connections`
    /// open, and fewer than the listener's own maximum on it; then the broker's and the
    /// listener's creation rates under their maximum. Returns whether it waited for either,
    /// so the caller can say so.
    pub async fn wait_for_slot(&self, listener: &str) -> Waited {
        let mut waited = Waited::default();
        let listener_max = self.limits.listener_max_connections.get(listener).copied();
        loop {
            let closed = self.closed.notified();
            let (open, on_listener) = {
                let counts = self.lock();
                (counts.total, counts.by_listener.get(listener).copied().unwrap_or(0))
            };
            let listener_full = listener_max.is_some_and(|max| on_listener >= max);
            if open < i64::from(self.limits.max_connections) && !listener_full {
                break;
            }
            if !waited.for_a_slot {
                let limit = match listener_full {
                    true => "listener.name.<l>.max.connections",
                    false => "max.connections",
                };
                info!(
                    open,
                    listener = %listener,
                    "{limit} reached: no connection is served until one closes"
                );
            }
            waited.for_a_slot = true;
            closed.await;
        }
        let now = Instant::now();
        let listener_delay = self.listener_creation_rates.get(listener).and_then(|r| r.take(now));
        if let Some(delay) = self.creation_rate.take(now).max(listener_delay) {
            waited.for_the_rate = true;
            self.note_throttle(listener);
            tokio::time::sleep(delay).await;
        }
        waited
    }

    /// Counts a connection a creation rate delays, and says so in a line at the first
    /// and then at most one an interval: a flood of connections must not become a flood of
    /// log lines.
    fn note_throttle(&self, listener: &str) {
        let throttled = self.throttled.fetch_add(1, Ordering::Relaxed) + 1;
        let mut logged = self.throttle_logged.lock().unwrap_or_else(|e| e.into_inner());
        if logged.is_none_or(|at| at.elapsed() >= THROTTLE_LOG_INTERVAL) {
            let listener_rate = self.limits.listener_max_connection_creation_rate.get(listener);
            info!(
                rate = self.limits.max_connection_creation_rate,
                listener = %listener,
                listener_rate,
                throttled,
                "max.connection.creation.rate reached: connections are served more slowly"
            );
            *logged = Some(Instant::now());
        }
    }

    /// Counts a new connection from `ip` on `listener`; refused (and not counted) when its
    /// address has its maximum open already. The slot is given back when the returned guard
    /// drops.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, listener: &str) -> Result<ConnectionSlot, TooManyConnections> {
        let max = self
            .limits
            .max_connections_per_ip_overrides
            .get(&ip)
            .copied()
            .unwrap_or(self.limits.max_connections_per_ip);
        let mut counts = self.lock();
        let open = counts.by_ip.entry(ip).or_default();
        if *open >= max {
            if *open == 0 {
                counts.by_ip.remove(&ip);
            }
            return Err(TooManyConnections { ip, max });
        }
        *open += 1;
        counts.total += 1;
        *counts.by_listener.entry(listener.to_string()).or_default() += 1;
        Ok(ConnectionSlot {
            quotas: self.clone(),
            ip,
            listener: listener.to_string(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What [`ConnectionQuotas::wait_for_slot`] waited for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Waited {
    pub for_a_slot: bool,
    pub for_the_rate: bool,
}

/// An open connection's place in the counts.
pub struct ConnectionSlot {
    quotas: Arc<ConnectionQuotas>,
    ip: IpAddr,
    listener: String,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self.quotas.lock();
        counts.total -= 1;
        if let Some(open) = counts.by_ip.get_mut(&self.ip) {
            *open -= 1;
            if *open <= 0 {
                counts.by_ip.remove(&self.ip);
            }
        }
        if let Some(open) = counts.by_listener.get_mut(&self.listener) {
            *open -= 1;
        }
        drop(counts);
        self.quotas.closed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_address_over_its_maximum_is_refused_and_its_slots_come_back() {
        let quotas = ConnectionQuotas::new(ConnectionLimits {
            max_connections_per_ip: 2,
            max_connections_per_ip_overrides: parse_overrides("127.0.0.2:0, 127.0.0.3:3").unwrap(),
            ..ConnectionLimits::default()
        });
        let first = quotas.admit(ip("127.0.0.1"), "PLAINTEXT").unwrap();
        let _second = quotas.admit(ip("127.0.0.1"), "PLAINTEXT").unwrap();
        let refused = quotas.admit(ip("127.0.0.1"), "PLAINTEXT").err();
        assert_eq!(
            refused,
            Some(TooManyConnections {
                ip: ip("127.0.0.1"),
                max: 2
            })
        );
        // Overrides: none at all, or more than the default.
        assert!(quotas.admit(ip("127.0.0.2"), "PLAINTEXT").is_err());
        let three: Vec<_> = (0..3)
            .map(|_| quotas.admit(ip("127.0.0.3"), "PLAINTEXT").unwrap())
            .collect();
        assert!(quotas.admit(ip("127.0.0.3"), "PLAINTEXT").is_err());
        drop(first);
        assert!(quotas.admit(ip("127.0.0.1"), "PLAINTEXT").is_ok());
        drop(three);
        assert_eq!(quotas.lock().total, 1);
    }

    #[test]
    fn overrides_are_host_count_pairs() {
        let parsed = parse_overrides("localhost:5,[::1]:2,10.0.0.1:0").unwrap();
        assert_eq!(parsed.get(&ip("127.0.0.1")), Some(&5));
        assert_eq!(parsed.get(&ip("::1")), Some(&2));
        assert_eq!(parsed.get(&ip("10.0.0.1")), Some(&0));
        assert!(parse_overrides("").unwrap().is_empty());
        assert!(parse_overrides("10.0.0.1").is_err());
        assert!(parse_overrides("10.0.0.1:-1").is_err());
        assert!(parse_overrides("10.0.0.1:x").is_err());
    }

    #[test]
    fn the_creation_rate_allows_a_second_of_connections_then_spaces_them() {
        let quotas = ConnectionQuotas::new(ConnectionLimits {
            max_connection_creation_rate: 2,
            ..ConnectionLimits::default()
        });
        let start = Instant::now();
        assert_eq!(quotas.creation_rate.take(start), None);
        assert_eq!(quotas.creation_rate.take(start), None);
        assert_eq!(quotas.creation_rate.take(start), Some(Duration::from_millis(500)));
        // Half a second later that one is paid for; the next waits half a second more.
        let later = start + Duration::from_millis(500);
        assert_eq!(quotas.creation_rate.take(later), Some(Duration::from_millis(500)));
        let much_later = start + Duration::from_secs(10);
        assert_eq!(quotas.creation_rate.take(much_later), None);
    }

    #[test]
    fn a_listener_at_its_maximum_waits_and_the_others_do_not() {
        let quotas = ConnectionQuotas::new(ConnectionLimits {
            listener_max_connections: BTreeMap::from([("INTERNAL".to_string(), 1)]),
            ..ConnectionLimits::default()
        });
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let open = quotas.admit(ip("127.0.0.1"), "INTERNAL").unwrap();
        let mut other = std::pin::pin!(quotas.wait_for_slot("EXTERNAL"));
        assert_eq!(other.as_mut().poll(&mut cx), std::task::Poll::Ready(Waited::default()));
        let mut internal = std::pin::pin!(quotas.wait_for_slot("INTERNAL"));
        assert!(internal.as_mut().poll(&mut cx).is_pending());
        drop(open);
        let waited = Waited {
            for_a_slot: true,
            for_the_rate: false,
        };
        assert_eq!(internal.as_mut().poll(&mut cx), std::task::Poll::Ready(waited));
    }
}
