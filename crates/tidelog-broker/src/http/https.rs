//! HTTPS for the HTTP listeners: a [`Listener`] that `axum::serve` (hyper-util's server
//! underneath) takes connections from once their TLS handshake is done, by tokio-rustls
//! with the acceptor of a [`TlsListener`] (so a changed key or trust store serves new
//! connections, as on the Kafka listeners). Each handshake runs in its own task, within
//! [`TLS_HANDSHAKE_TIMEOUT`], so a client silent in its handshake holds up nobody else,
//! and a failed one (plain HTTP on the HTTPS port, an untrusted client certificate) closes
//! only its own connection. Failed handshakes are counted for `/metrics`
//! ([`HandshakeFailures`]) and logged as the Kafka listeners' are: a WARN line each, up to
//! a budget per interval, then a summary ([`Rejections`]).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tracing::warn;

use crate::connection::TLS_HANDSHAKE_TIMEOUT;
use crate::rejections::{self, Rejections};
use crate::tls::TlsListener;

/// How many handshaken connections may wait for the server to take them.
const HANDSHAKEN_QUEUE: usize = 64;

/// The HTTPS listeners' failed TLS handshakes (refused, or not done within
/// [`TLS_HANDSHAKE_TIMEOUT`]), by listener (`https://<bound address>`): counted from the
/// bind on, before the broker, and `/metrics` with it, serves. Clones share the counts.
#[derive(Clone, Debug, Default)]
pub struct HandshakeFailures(Family<HttpsListenerLabels, Counter>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpsListenerLabels {
    listener: String,
}

impl HandshakeFailures {
    /// The counter of the listener bound at `addr`, in the family from now on (at 0).
    fn of(&self, addr: SocketAddr) -> Counter {
        let labels = HttpsListenerLabels {
            listener: format!("https://{addr}"),
        };
        self.0.get_or_create(&labels).clone()
    }

    /// The family, for the `/metrics` registry.
    pub fn family(&self) -> Family<HttpsListenerLabels, Counter> {
        self.0.clone()
    }
}

/// An HTTPS listener: the connections whose handshake is done, in the order it was done.
pub struct HttpsListener {
    local_addr: SocketAddr,
    handshaken: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl HttpsListener {
    /// Accepts on `listener` (from now until the server drops this) with `tls`' acceptor,
    /// counting its failed handshakes in `failures`.
    pub fn new(
        listener: TcpListener,
        tls: Arc<TlsListener>,
        failures: &HandshakeFailures,
    ) -> io::Result<HttpsListener> {
        let local_addr = listener.local_addr()?;
        let (sender, handshaken) = mpsc::channel(HANDSHAKEN_QUEUE);
        tokio::spawn(accept(listener, tls, sender, failures.of(local_addr)));
        Ok(HttpsListener { local_addr, handshaken })
    }
}

impl Listener for HttpsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(connection) => connection,
            // The accepting task ends only once this receiver is gone, so never.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr)
    }
}

/// Accepts TCP connections and hands each to a handshake task, until the server has
/// dropped its [`HttpsListener`] (on shutdown).
async fn accept(
    listener: TcpListener,
    tls: Arc<TlsListener>,
    handshaken: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    failures: Counter,
) {
    let rejections = Arc::new(Rejections::default());
    // The summary of the failures not logged one by one, once their interval is over.
    let mut summary = tokio::time::interval(rejections::INTERVAL);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    warn!(%error, "https accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = summary.tick() => {
                rejections.flush(false);
                continue;
            }
            () = handshaken.closed() => break,
        };
        let (acceptor, handshaken) = (tls.acceptor(), handshaken.clone());
        let (failures, rejections) = (failures.clone(), rejections.clone());
        tokio::spawn(async move {
            let error = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let _ = handshaken.send((stream, peer)).await;
                    return;
                }
                Ok(Err(error)) => error.to_string(),
                Err(_) => format!("no handshake within {TLS_HANDSHAKE_TIMEOUT:?}"),
            };
            failures.inc();
            if rejections.log_in_full("HTTPS TLS handshake failed", peer.ip()) {
                warn!(%peer, %error, "closing HTTPS connection: TLS handshake failed");
            }
        });
    }
    rejections.flush(true);
}
