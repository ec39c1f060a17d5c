//! The accept loop over every listener, and graceful shutdown.
//!
//! On shutdown the listener stops accepting, every connection stops reading new requests
//! and finishes the ones in flight, and only then does the caller flush and close the logs.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::broker::Broker;
use crate::clock::now_ms;
use crate::config::{BrokerConfig, Listener};
use crate::connection;
use crate::connection_quotas::{ConnectionQuotas, ConnectionSlot, TooManyConnections, Waited};
use crate::ip_connection_rate::IpConnectionRates;
use crate::oauthbearer::Validator;
use crate::tls::TlsListener;

/// How long in-flight requests get to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A bound listener socket, with its TLS acceptor on an SSL or SASL_SSL listener and its
/// bearer-token validator on a SASL listener that enables OAUTHBEARER.
pub struct BoundListener {
    socket: TcpListener,
    tls: Option<Arc<TlsListener>>,
    oauthbearer: Option<Arc<Validator>>,
}

/// A listener being served: its socket and acceptor, and what it advertises (its name and
/// security protocol too).
struct Served {
    bound: BoundListener,
    advertised: Arc<Listener>,
}

pub struct Server {
    listeners: Vec<Served>,
    broker: Arc<Broker>,
    quotas: Arc<ConnectionQuotas>,
    ip_rates: Arc<IpConnectionRates>,
}

impl Server {
    /// Binds every listener, in the configuration's order, and reads the TLS listeners'
    /// key and trust stores and the OAUTHBEARER listeners' JWKS files, so that a mistake
    /// stops the start before the logs are opened.
    /// A port of 0 picks a free port, which is then also the one that listener advertises,
    /// so tests can start brokers without guessing ports.
    pub async fn bind_listeners(mut config: BrokerConfig) -> std::io::Result<(Vec<BoundListener>, BrokerConfig)> {
        let mut bound = Vec::with_capacity(config.listeners.len());
        for (listener, advertised) in config.listeners.iter().zip(&mut config.advertised_listeners) {
            let refused = |e: String| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("listener {}: {e}", listener.name),
                )
            };
            let tls = match config.tls.get(&listener.name) {
                Some(settings) => Some(Arc::new(
                    TlsListener::new(&listener.name, settings).map_err(|e| refused(e.to_string()))?,
                )),
                None => None,
            };
            let oauthbearer = match config.oauthbearer.get(&listener.name) {
                Some(settings) => Some(Arc::new(Validator::new(settings).await.map_err(refused)?)),
                None => None,
            };
            let addr = listener.bind_addr().map_err(std::io::Error::other)?;
            let socket = TcpListener::bind(addr)
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("{addr} (listener {}): {e}", listener.name)))?;
            if advertised.port == 0 {
                advertised.port = socket.local_addr()?.port();
            }
            bound.push(BoundListener {
                socket,
                tls,
                oauthbearer,
            });
        }
        Ok((bound, config))
    }

    /// `listeners` as [`Server::bind_listeners`] returned them.
    pub fn new(listeners: Vec<BoundListener>, broker: Arc<Broker>) -> Server {
        let advertised = broker.config.advertised_listeners.iter().cloned().map(Arc::new);
        for listener in &broker.config.advertised_listeners {
            broker.metrics.listener_serves(&listener.name);
        }
        Server {
            listeners: listeners
                .into_iter()
                .zip(advertised)
                .map(|(bound, advertised)| Served { bound, advertised })
                .collect(),
            quotas: ConnectionQuotas::new(broker.config.connection_limits.clone()),
            ip_rates: Arc::new(IpConnectionRates::new(broker.config.quota_window)),
            broker,
        }
    }

    /// Each listener's name and bound address, in the configuration's order.
    pub fn local_addrs(&self) -> std::io::Result<Vec<(String, SocketAddr)>> {
        self.listeners
            .iter()
            .map(|served| Ok((served.advertised.name.clone(), served.bound.socket.local_addr()?)))
            .collect()
    }

    /// Serves until `shutdown` turns true, then drains the connections.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let mut connections = JoinSet::new();
        let mut stop_accepting = shutdown.clone();
        // One per listener, each kept across the loop's turns: a connection closing
        // (join_next) or one accepted on another listener must not cancel a wait for a
        // connection slot or for a creation rate.
        let mut next: Vec<_> = self
            .listeners
            .iter()
            .map(|served| Box::pin(next_connection(&self.quotas, served)))
            .collect();
        // The summary of rejections not logged one by one, once their interval is over.
        let rejections_broker = self.broker.clone();
        let mut background = JoinSet::new();
        background.spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                rejections_broker.rejections.flush(false);
            }
        });
        // The host names of `ip` quota entities, resolved when the quotas change.
        let (quotas_broker, ip_rates) = (self.broker.clone(), self.ip_rates.clone());
        background.spawn(async move {
            loop {
                ip_rates
                    .resolve_host_names(&quotas_broker.metadata.client_quotas())
                    .await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        // The TLS listeners' store files, watched for a new certificate, and the signed
        // OAUTHBEARER validators' JWKS, read again for new keys.
        for tls in self.listeners.iter().filter_map(|served| served.bound.tls.clone()) {
            background.spawn(tls.watch_stores());
        }
        for validator in self
            .listeners
            .iter()
            .filter_map(|served| served.bound.oauthbearer.as_ref())
        {
            if let Some(refresh) = validator.refresh() {
                background.spawn(refresh);
            }
        }
        loop {
            tokio::select! {
                (accepted, index) = first_ready(&mut next) => {
                    let served = &self.listeners[index];
                    match accepted {
                        Ok((stream, peer)) => match self.admit(peer.ip(), &served.advertised.name) {
                            Admitted::Throttled(delay) => {
                                if self.broker.rejections.log_in_full("connection_creation_rate", peer.ip()) {
                                    warn!(%peer, ?delay,
                                        "closing connection after a delay: the address is over its connection_creation_rate quota");
                                }
                                connections.spawn(async move {
                                    tokio::time::sleep(delay).await;
                                    drop(stream);
                                });
                            }
                            Admitted::Open(Ok(slot)) => {
                                let _ = stream.set_nodelay(true);
                                let broker = self.broker.clone();
                                let listener = served.advertised.clone();
                                let tls = served.bound.tls.clone();
                                let oauthbearer = served.bound.oauthbearer.clone();
                                let stop = shutdown.clone();
                                let open = broker.metrics.connection_opened(&listener.name);
                                connections.spawn(async move {
                                    let security = connection::Security { tls, oauthbearer };
                                    connection::accept(broker, listener, security, stream, peer, stop).await;
                                    drop((open, slot));
                                });
                            }
                            // Closed before anything is read, as Kafka closes it.
                            Admitted::Open(Err(refused)) => {
                                if self.broker.rejections.log_in_full("max.connections.per.ip", peer.ip()) {
                                    warn!(%peer, max = refused.max,
                                        "closing connection: the address already has max.connections.per.ip connections open");
                                }
                                drop(stream);
                            }
                        },
                        Err(e) => {
                            warn!(listener = %served.advertised.name, error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                    next[index] = Box::pin(next_connection(&self.quotas, served));
                },
                _ = stop_accepting.wait_for(|stop| *stop) => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(next);
        background.abort_all();
        drop(self.listeners);
        info!(
            connections = connections.len(),
            "stopped accepting; draining connections"
        );
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            warn!("connections still busy after the drain timeout; closing them");
            connections.abort_all();
        }
        self.broker.rejections.flush(true);
    }

    /// Whether a connection from `ip` is served: over the address's
    /// `connection_creation_rate` it is throttled before it is counted, as Kafka records the
    /// address's rate before its count; then `max.connections.per.ip` may refuse it.
    fn admit(&self, ip: IpAddr, listener: &str) -> Admitted {
        let configs = self.broker.metadata.client_quotas();
        match self.ip_rates.throttle(&configs, ip, now_ms()) {
            Some(delay) => Admitted::Throttled(delay),
            None => Admitted::Open(self.quotas.admit(ip, listener)),
        }
    }
}

/// What [`Server::admit`] decided for a new connection.
enum Admitted {
    /// Over its address's connection rate: closed after this long, unread.
    Throttled(Duration),
    /// Counted, or refused by `max.connections.per.ip`.
    Open(Result<ConnectionSlot, TooManyConnections>),
}

/// The next connection on `served` once `quotas` let one in there (fewer than
/// `max.connections` open, and than the listener's own maximum; the creation rates under
/// theirs). As Kafka's acceptor, it accepts first and then waits, holding the connection
/// unread; the other listeners go on meanwhile.
async fn next_connection(quotas: &ConnectionQuotas, served: &Served) -> std::io::Result<(TcpStream, SocketAddr)> {
    let accepted = served.bound.socket.accept().await?;
    let waited = quotas.wait_for_slot(&served.advertised.name).await;
    if waited != Waited::default() {
        debug!(
            ?waited,
            listener = %served.advertised.name,
            "a connection waited for max.connections or max.connection.creation.rate"
        );
    }
    Ok(accepted)
}

/// The output of the first of `futures` ready, with its index.
async fn first_ready<F: Future + Unpin>(futures: &mut [F]) -> (F::Output, usize) {
    std::future::poll_fn(|cx| {
        for (index, future) in futures.iter_mut().enumerate() {
            if let Poll::Ready(output) = Pin::new(future).poll(cx) {
                return Poll::Ready((output, index));
            }
        }
        Poll::Pending
    })
    .await
}
