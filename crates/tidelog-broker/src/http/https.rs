//! HTTPS for the HTTP listeners: a [`Listener`] that `axum::serve` (hyper-util's server
//! underneath) takes connections from once their TLS handshake is done, by tokio-rustls
//! with the acceptor of a [`TlsListener`] (so a changed key or trust store serves new
//! connections, as on the Kafka listeners). Each handshake runs in its own task, within
//! [`TLS_HANDSHAKE_TIMEOUT`], so a client silent in its handshake holds up nobody else,
//! and a failed one (plain HTTP on the HTTPS port, an untrusted client certificate) closes
//! only its own connection.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tracing::{debug, warn};

use crate::connection::TLS_HANDSHAKE_TIMEOUT;
use crate::tls::TlsListener;

/// How many handshaken connections may wait for the server to take them.
const HANDSHAKEN_QUEUE: usize = 64;

/// An HTTPS listener: the connections whose handshake is done, in the order it was done.
pub struct HttpsListener {
    local_addr: SocketAddr,
    handshaken: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl HttpsListener {
    /// Accepts on `listener` (from now until the server drops this) with `tls`' acceptor.
    pub fn new(listener: TcpListener, tls: Arc<TlsListener>) -> io::Result<HttpsListener> {
        let local_addr = listener.local_addr()?;
        let (sender, handshaken) = mpsc::channel(HANDSHAKEN_QUEUE);
        tokio::spawn(accept(listener, tls, sender));
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
) {
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
            () = handshaken.closed() => return,
        };
        let (acceptor, handshaken) = (tls.acceptor(), handshaken.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let _ = handshaken.send((stream, peer)).await;
                }
                Ok(Err(error)) => debug!(%peer, %error, "closing HTTPS connection: TLS handshake failed"),
                Err(_) => debug!(%peer, "closing HTTPS connection: no TLS handshake within {TLS_HANDSHAKE_TIMEOUT:?}"),
            }
        });
    }
}
