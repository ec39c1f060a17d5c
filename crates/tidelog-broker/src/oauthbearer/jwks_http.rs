//! One GET of a JWKS endpoint (`sasl.oauthbearer.jwks.endpoint.url=https://...`), as
//! Kafka's `RefreshingHttpsJwks` makes it: HTTP/1.1 on a new connection, over TLS for
//! `https:` (the server checked against the system's CA certificates, as the JVM checks its
//! cacerts), a 200 answer whose body is the JWKS. No redirect is followed. Bounded in time
//! and size, so a slow or hostile endpoint holds only the refresh task, never a login.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, HOST};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How long one fetch may take, connection and TLS handshake included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest JWKS read: a set of a few dozen keys is a few tens of kilobytes.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// The body of a 200 answer to a GET of `uri`; the error says what failed, without the
/// URL's query (which could carry a credential).
pub async fn fetch(uri: &Uri) -> Result<Bytes, String> {
    let host = uri.host().ok_or("the URL has no host")?;
    tokio::time::timeout(FETCH_TIMEOUT, exchange(uri, host))
        .await
        .map_err(|_| format!("no answer from {host} within {FETCH_TIMEOUT:?}"))?
}

async fn exchange(uri: &Uri, host: &str) -> Result<Bytes, String> {
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    // A bracketed IPv6 literal connects and names the server without its brackets.
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = TcpStream::connect((bare_host, port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    // Host and port only: the URL's authority may carry a user and password.
    let host_header = match uri.port_u16() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let request = Request::get(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(HOST, host_header)
        .header(ACCEPT, "application/json")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("a request to {host}: {e}"))?;
    let response = if https {
        let name = ServerName::try_from(bare_host.to_string()).map_err(|e| format!("{host}: {e}"))?;
        let tls = TlsConnector::from(client_config()?)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {host}: {e}"))?;
        send(tls, request).await
    } else {
        send(tcp, request).await
    };
    response.map_err(|e| format!("{host}: {e}"))
}

/// Sends `request` on a new HTTP/1 connection over `io` and reads the answer's body.
async fn send<I>(io: I, request: Request<Empty<Bytes>>) -> Result<Bytes, String>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    let answer = async move {
        let response: Response<Incoming> = sender.send_request(request).await.map_err(|e| e.to_string())?;
        if response.status() != StatusCode::OK {
            return Err(format!("answered {}", response.status()));
        }
        let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map_err(|e| format!("the JWKS body: {e}"))?;
        Ok(body.to_bytes())
    };
    // The connection is driven alongside; it ends once the answer is read and the sender
    // dropped.
    let (answer, _) = tokio::join!(answer, connection);
    answer
}

/// The TLS client settings: the system's CA certificates, loaded once.
fn client_config() -> Result<Arc<ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(format!(
                    "no CA certificate found in the system's store to check the JWKS endpoint with ({:?})",
                    found.errors
                ));
            }
            #[allow(deprecated)] // ring, as the TLS listeners use it (see tls.rs).
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}
