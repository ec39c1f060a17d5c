//! The accept loop and graceful shutdown.
//!
//! On shutdown the listener stops accepting, every connection stops reading new requests
//! and finishes the ones in flight, and only then does the caller flush and close the logs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::connection;

/// How long in-flight requests get to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Server {
    listener: TcpListener,
    broker: Arc<Broker>,
}

impl Server {
    /// Binds the first listener. A port of 0 picks a free port, which is then also the
    /// advertised one, so tests can start brokers without guessing ports.
    pub async fn bind_listener(mut config: BrokerConfig) -> std::io::Result<(TcpListener, BrokerConfig)> {
        let addr = config.listeners[0].bind_addr().map_err(std::io::Error::other)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("{addr}: {e}")))?;
        let port = listener.local_addr()?.port();
        for advertised in &mut config.advertised_listeners {
            if advertised.port == 0 {
                advertised.port = port;
            }
        }
        Ok((listener, config))
    }

    pub fn new(listener: TcpListener, broker: Arc<Broker>) -> Server {
        Server { listener, broker }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` turns true, then drains the connections.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let mut connections = JoinSet::new();
        let mut stop_accepting = shutdown.clone();
        let advertised = Arc::new(self.broker.config.advertised_listeners[0].clone());
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        let broker = self.broker.clone();
                        let listener = advertised.clone();
                        let stop = shutdown.clone();
                        let open = broker.metrics.connection_opened();
                        connections.spawn(async move {
                            connection::serve(broker, listener, stream, peer, stop).await;
                            drop(open);
                        });
                    }
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = stop_accepting.wait_for(|stop| *stop) => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(self.listener);
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
    }
}
