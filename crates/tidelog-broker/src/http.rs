//! The HTTP listeners (`http.listeners`): Prometheus metrics and health checks for
//! orchestrators and scrapers, and the web console (`console`), served by axum on the
//! broker's tokio runtime.
//!
//! They are bound before the logs are recovered, so that `/health/live` answers during a
//! long recovery; `/health/ready`, `/metrics` and the console answer 503 until
//! [`Readiness::ready`].

use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::broker::Broker;
use crate::{console, metrics};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Set once the logs are recovered and the Kafka listener serves.
#[derive(Clone, Default)]
pub struct Readiness(Arc<OnceLock<Ready>>);

/// What the routes serve from once the broker is ready.
struct Ready {
    registry: Registry,
    broker: Arc<Broker>,
}

impl Readiness {
    pub fn ready(&self, broker: Arc<Broker>) {
        let registry = metrics::registry(broker.clone());
        let _ = self.0.set(Ready { registry, broker });
    }

    /// The broker, once it serves.
    pub fn broker(&self) -> Option<&Arc<Broker>> {
        self.0.get().map(|ready| &ready.broker)
    }
}

/// Binds every address (`host:port`; port 0 picks a free one) and logs what it bound.
pub async fn bind(addrs: &[String]) -> std::io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let listener = TcpListener::bind(addr.as_str())
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("{addr}: {e}")))?;
        info!(http_addr = %listener.local_addr()?, "http listener bound");
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Serves the routes on every listener until `shutdown` turns true.
pub fn spawn(listeners: Vec<TcpListener>, readiness: Readiness, shutdown: watch::Receiver<bool>) {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/health/live", get(|| async { "live\n" }))
        .route("/health/ready", get(ready))
        .merge(console::router())
        .with_state(readiness);
    for listener in listeners {
        let (app, mut stop) = (app.clone(), shutdown.clone());
        tokio::spawn(async move {
            let stopped = async move {
                let _ = stop.wait_for(|stop| *stop).await;
            };
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
                warn!(error = %e, "http listener failed");
            }
        });
    }
}

pub(crate) fn not_ready() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
}

async fn ready(State(readiness): State<Readiness>) -> Response {
    match readiness.0.get() {
        Some(_) => "ready\n".into_response(),
        None => not_ready(),
    }
}

async fn scrape(State(readiness): State<Readiness>) -> Response {
    let Some(ready) = readiness.0.get() else {
        return not_ready();
    };
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &ready.registry) {
        Ok(()) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn not_ready_until_the_broker_serves() {
        let readiness = Readiness::default();
        assert_eq!(
            ready(State(readiness.clone())).await.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(scrape(State(readiness)).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
