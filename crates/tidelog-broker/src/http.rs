//! The HTTP listeners (`http.listeners`): Prometheus metrics and health checks for
//! orchestrators and scrapers, and the web console (`console`), served by axum on the
//! broker's tokio runtime; an `https://` one over TLS ([`https`]) with the `http.ssl.*`
//! stores, watched for changes as the Kafka listeners' are.
//!
//! They are bound before the logs are recovered, so that `/health/live` answers during a
//! long recovery; `/health/ready`, `/metrics` and the console answer 503 until
//! [`Readiness::ready`].

mod https;

use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Extension;
use axum::Router;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::broker::Broker;
use crate::config::{HttpListenerAddress, TlsSettings};
use crate::tls::TlsListener;
use crate::{console, metrics};
use https::{HandshakeFailures, HttpsListener};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Set once the logs are recovered and the Kafka listener serves; with the HTTPS
/// listeners' failed handshakes, counted before that too.
#[derive(Clone, Default)]
pub struct Readiness {
    ready: Arc<OnceLock<Ready>>,
    https_handshake_failures: HandshakeFailures,
}

/// What the routes serve from once the broker is ready.
struct Ready {
    registry: Registry,
    broker: Arc<Broker>,
}

impl Readiness {
    pub fn ready(&self, broker: Arc<Broker>) {
        let mut registry = metrics::registry(broker.clone());
        registry.register(
            "https_handshake_failures",
            "TLS handshakes the HTTPS listeners refused or gave up on, by listener",
            self.https_handshake_failures.family(),
        );
        let _ = self.ready.set(Ready { registry, broker });
    }

    /// The broker, once it serves.
    pub fn broker(&self) -> Option<&Arc<Broker>> {
        self.ready.get().map(|ready| &ready.broker)
    }
}

/// A bound HTTP listener and the host names it serves.
pub struct HttpListener {
    listener: TcpListener,
    served: ServedHosts,
    /// The TLS side of an HTTPS listener (one, shared by every HTTPS listener).
    tls: Option<Arc<TlsListener>>,
}

impl HttpListener {
    /// The address of a plain HTTP listener reachable from beyond this host (bound to
    /// neither a loopback address): where the console's basic authentication, when the
    /// broker has SASL listeners, would carry passwords in clear text.
    pub fn clear_text_beyond_loopback(&self) -> Option<std::net::SocketAddr> {
        let bound = self.listener.local_addr().ok()?;
        (self.tls.is_none() && !bound.ip().is_loopback()).then_some(bound)
    }
}

/// The `Host` header values a listener answers the console for: its port with the host
/// it was configured with, the address it bound, `localhost`, `127.0.0.1` or `[::1]`.
/// A page of another site whose name was made to resolve to this address (DNS
/// rebinding) sends its own name, and is refused.
#[derive(Debug, Clone)]
pub struct ServedHosts {
    names: Vec<String>,
    port: u16,
    /// The port a `Host` without one means: 80 for HTTP, 443 for HTTPS.
    default_port: u16,
}

impl ServedHosts {
    pub fn new(configured: &str, bound: std::net::SocketAddr, https: bool) -> ServedHosts {
        let configured_host = configured
            .rsplit_once(':')
            .map_or(configured, |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let mut names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
            bound.ip().to_string(),
        ];
        if !configured_host.is_empty() && !names.contains(&configured_host) {
            names.push(configured_host);
        }
        ServedHosts {
            names,
            port: bound.port(),
            default_port: if https { 443 } else { 80 },
        }
    }

    /// Whether a request's `Host` header (`name`, `name:port`, `[v6]:port`) names this
    /// listener; without a port it is the scheme's default, 80 or 443.
    pub fn serves(&self, host: &str) -> bool {
        let (name, port) = match host.strip_prefix('[') {
            Some(rest) => match rest.split_once(']') {
                Some((name, "")) => (name, None),
                Some((name, port)) => match port.strip_prefix(':') {
                    Some(port) => (name, Some(port)),
                    None => return false,
                },
                None => return false,
            },
            None => match host.split_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (host, None),
            },
        };
        let port_matches = match port {
            None => self.port == self.default_port,
            Some(port) => port.parse::<u16>() == Ok(self.port),
        };
        port_matches && self.names.iter().any(|served| served.eq_ignore_ascii_case(name))
    }

    /// The host names served, for a refusal's message.
    pub fn names(&self) -> String {
        self.names
            .iter()
            .map(|n| match n.contains(':') {
                true => format!("[{n}]:{}", self.port),
                false => format!("{n}:{}", self.port),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Binds every address (port 0 picks a free one) and logs what it bound; the HTTPS ones
/// with `tls` (the config has it when there is one), its stores loaded now.
pub async fn bind(addrs: &[HttpListenerAddress], tls: Option<&TlsSettings>) -> std::io::Result<Vec<HttpListener>> {
    let tls = match tls {
        Some(settings) if addrs.iter().any(|addr| addr.https) => Some(Arc::new(
            TlsListener::new("HTTPS", settings).map_err(|e| std::io::Error::other(format!("https: {e}")))?,
        )),
        _ => None,
    };
    let mut listeners = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let listener = TcpListener::bind(addr.address.as_str())
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", addr.url())))?;
        let bound = listener.local_addr()?;
        info!(http_addr = %bound, https = addr.https, "http listener bound");
        listeners.push(HttpListener {
            listener,
            served: ServedHosts::new(&addr.address, bound, addr.https),
            tls: tls.clone().filter(|_| addr.https),
        });
    }
    Ok(listeners)
}

/// Serves the routes on every listener until `shutdown` turns true.
pub fn spawn(listeners: Vec<HttpListener>, readiness: Readiness, shutdown: watch::Receiver<bool>) {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/health/live", get(|| async { "live\n" }))
        .route("/health/ready", get(ready))
        .merge(console::router(readiness.clone()))
        .with_state(readiness.clone());
    if let Some(tls) = listeners.iter().find_map(|l| l.tls.clone()) {
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tls.watch_stores() => {}
                _ = stop.wait_for(|stop| *stop) => {}
            }
        });
    }
    for HttpListener { listener, served, tls } in listeners {
        // The console's Host check reads which listener a request came in on.
        let (app, stop) = (app.clone().layer(Extension(served)), shutdown.clone());
        match tls {
            None => tokio::spawn(serve(listener, app, stop)),
            Some(tls) => match HttpsListener::new(listener, tls, &readiness.https_handshake_failures) {
                Ok(listener) => tokio::spawn(serve(listener, app, stop)),
                Err(e) => {
                    warn!(error = %e, "https listener failed");
                    continue;
                }
            },
        };
    }
}

/// Serves `app` on `listener` until `stop` turns true, letting requests in flight finish.
async fn serve<L>(listener: L, app: Router, mut stop: watch::Receiver<bool>)
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
{
    let stopped = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
        warn!(error = %e, "http listener failed");
    }
}

pub(crate) fn not_ready() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
}

async fn ready(State(readiness): State<Readiness>) -> Response {
    match readiness.ready.get() {
        Some(_) => "ready\n".into_response(),
        None => not_ready(),
    }
}

async fn scrape(State(readiness): State<Readiness>) -> Response {
    let Some(ready) = readiness.ready.get() else {
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

    #[test]
    fn a_listener_serves_its_own_names_and_loopback_only() {
        let served = ServedHosts::new("127.0.0.1:0", "127.0.0.1:8080".parse().unwrap(), false);
        for host in ["127.0.0.1:8080", "localhost:8080", "LocalHost:8080", "[::1]:8080"] {
            assert!(served.serves(host), "{host}");
        }
        for host in [
            "evil.example:8080",
            "127.0.0.1:8081",
            "127.0.0.1",
            "localhost",
            "[::1]",
            "[::1]x",
            "",
            ":8080",
        ] {
            assert!(!served.serves(host), "{host}");
        }
        let named = ServedHosts::new("Broker-1.internal:80", "10.0.0.5:80".parse().unwrap(), false);
        for host in ["broker-1.internal", "broker-1.internal:80", "10.0.0.5", "localhost"] {
            assert!(named.serves(host), "{host}");
        }
        assert!(!named.serves("rebound.example"));
        let v6 = ServedHosts::new("[::]:9000", "[::]:9000".parse().unwrap(), false);
        assert!(v6.serves("[::1]:9000") && v6.serves("[::]:9000") && !v6.serves("::1:9000"));
        let https = ServedHosts::new("console.internal:443", "10.0.0.5:443".parse().unwrap(), true);
        assert!(https.serves("console.internal") && https.serves("console.internal:443"));
        assert!(!ServedHosts::new("localhost:80", "127.0.0.1:80".parse().unwrap(), true).serves("localhost"));
    }
}
