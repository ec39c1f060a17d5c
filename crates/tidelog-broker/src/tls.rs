//! TLS for SSL and SASL_SSL listeners, with rustls (no OpenSSL): the server's key and
//! certificate chain and the CAs trusted for client certificates come from Kafka's PEM
//! stores (`ssl.keystore.*`, `ssl.truststore.*`); `ssl.client.auth` decides whether a
//! client certificate is asked for and whether one is required; `ssl.enabled.protocols` and
//! `ssl.cipher.suites` narrow what is negotiated. On an SSL listener a client certificate's
//! subject, through `ssl.principal.mapping.rules`, is the connection's principal.
//!
//! The store files are watched: a new connection after they change gets the new
//! certificate, as Kafka's dynamic `ssl.keystore.*` update gives it, while open connections
//! keep the session they have. A background task checks them every
//! [`STORE_CHECK_INTERVAL`] and swaps in an acceptor built from them; a handshake only
//! clones the acceptor in use.

mod distinguished_name;
mod principal_mapping;
mod stores;

use crate::file_version::FileVersion;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::crypto::{ring, CryptoProvider};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, SupportedProtocolVersion};
use tokio::time::MissedTickBehavior;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use crate::config::{ClientAuth, Store, TlsSettings};
use crate::handlers::Principal;
use principal_mapping::PrincipalMapper;

/// How often the store files are checked for a change (a `stat` each).
pub const STORE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// A TLS listener: its acceptor, reloaded when the store files change, and how its clients'
/// certificates name principals.
pub struct TlsListener {
    name: String,
    settings: TlsSettings,
    mapper: PrincipalMapper,
    /// The acceptor new connections get, replaced whole (built outside the lock).
    acceptor: RwLock<TlsAcceptor>,
    /// The store files' versions when they were last loaded (or failed to load).
    files: Mutex<Vec<FileStamp>>,
}

/// A store file's version, `None` if it cannot be read.
type FileStamp = Option<FileVersion>;

impl TlsListener {
    /// The TLS side of the listener `name`; the error names the setting or file at fault.
    pub fn new(name: &str, settings: &TlsSettings) -> Result<TlsListener, String> {
        let mapper = PrincipalMapper::parse(&settings.principal_mapping_rules)
            .map_err(|e| format!("ssl.principal.mapping.rules: {e}"))?;
        let files = stamps(settings);
        let acceptor = acceptor(settings)?;
        Ok(TlsListener {
            name: name.to_string(),
            settings: settings.clone(),
            mapper,
            acceptor: RwLock::new(acceptor),
            files: Mutex::new(files),
        })
    }

    /// The acceptor for a new connection: the one in use, whatever the files hold now.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Checks the store files every [`STORE_CHECK_INTERVAL`], for as long as the listener
    /// serves (the server aborts the task). The check and the load (small files, a PKCS12
    /// key derivation) are blocking file work, so they run on tokio's blocking threads.
    pub async fn watch_stores(self: Arc<Self>) {
        let mut interval = tokio::time::interval(STORE_CHECK_INTERVAL);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let listener = Arc::clone(&self);
            let _ = tokio::task::spawn_blocking(move || listener.reload_if_changed()).await;
        }
    }

    /// After a change of the store files, loads them anew and swaps the acceptor; a load
    /// that fails (a file half written, a key that does not fit) keeps the acceptor in use
    /// and logs why, once per change.
    fn reload_if_changed(&self) {
        let files = stamps(&self.settings);
        {
            let mut loaded = self.files.lock().unwrap_or_else(|e| e.into_inner());
            if files == *loaded {
                return;
            }
            *loaded = files;
        }
        match acceptor(&self.settings) {
            Ok(acceptor) => {
                *self.acceptor.write().unwrap_or_else(|e| e.into_inner()) = acceptor;
                info!(listener = %self.name, "TLS key and trust stores changed: new connections use them");
            }
            Err(error) => warn!(listener = %self.name, %error,
                "TLS key or trust store changed but cannot be loaded: keeping the previous one"),
        }
    }

    /// The principal of a connection whose handshake is done: the client certificate's
    /// subject (as Java prints it) through `ssl.principal.mapping.rules`, `User:ANONYMOUS`
    /// without a certificate. The error says why the certificate names no principal.
    pub fn principal(&self, connection: &ServerConnection) -> Result<Principal, String> {
        let Some(certificate) = connection.peer_certificates().and_then(|chain| chain.first()) else {
            return Ok(Principal::anonymous());
        };
        let parsed = webpki::EndEntityCert::try_from(certificate).map_err(|e| format!("client certificate: {e}"))?;
        let subject = distinguished_name::rfc2253(parsed.subject())
            .ok_or("the client certificate's subject is not a DER name")?;
        match self.mapper.name(&subject) {
            Some(name) => Ok(Principal::user(&name)),
            None => Err(format!("no ssl.principal.mapping.rules rule applies to {subject}")),
        }
    }
}

/// The stamps of the listener's store files (none for inline PEM, which cannot change).
fn stamps(settings: &TlsSettings) -> Vec<FileStamp> {
    [Some(&settings.keystore), settings.truststore.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|store| match store {
            Store::PemFile(path) | Store::Pkcs12File(path, _) => Some(stamp(path)),
            Store::PemInline(_) => None,
        })
        .collect()
}

fn stamp(path: &Path) -> FileStamp {
    FileVersion::of(path).ok()
}

/// An acceptor for `settings`, the files read now.
fn acceptor(settings: &TlsSettings) -> Result<TlsAcceptor, String> {
    let (chain, key) = stores::key_and_chain(&settings.keystore, settings.key_password.as_ref())?;
    let provider = provider(&settings.cipher_suites)?;
    let versions = protocol_versions(&settings.enabled_protocols)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("ssl.cipher.suites and ssl.enabled.protocols: {e}"))?;
    let builder = match (&settings.truststore, settings.client_auth) {
        (Some(truststore), ClientAuth::Requested | ClientAuth::Required) => {
            let mut roots = RootCertStore::empty();
            for certificate in stores::trusted(truststore)? {
                roots
                    .add(certificate)
                    .map_err(|e| format!("ssl.truststore: a certificate rustls refuses: {e}"))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match settings.client_auth {
                ClientAuth::Requested => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| format!("ssl.truststore: {e}"))?)
        }
        _ => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("ssl.keystore: the key does not fit the certificate chain: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// ring's primitives with the suites `ssl.cipher.suites` names (all of ring's when it is
/// empty, Kafka's default). Kafka names suites as IANA does; rustls calls the TLS 1.3 ones
/// `TLS13_*`, so both spellings are accepted.
///
/// ring: rustls 0.23.48 deprecates it for lacking post-quantum key exchange, but its
/// alternative, aws-lc-rs, needs cmake and a long C build on every machine, and Kafka's
/// clients negotiate the classic groups ring offers.
#[allow(deprecated)]
fn provider(cipher_suites: &[String]) -> Result<Arc<CryptoProvider>, String> {
    let mut provider = ring::default_provider();
    if !cipher_suites.is_empty() {
        let all = std::mem::take(&mut provider.cipher_suites);
        for name in cipher_suites {
            let named = |suite: &&rustls::SupportedCipherSuite| {
                suite.suite().as_str().is_some_and(|rustls| {
                    rustls == name
                        || rustls
                            .strip_prefix("TLS13_")
                            .is_some_and(|rest| name.strip_prefix("TLS_") == Some(rest))
                })
            };
            match all.iter().find(named) {
                Some(suite) => provider.cipher_suites.push(*suite),
                None => {
                    let known: Vec<String> = all.iter().filter_map(|s| s.suite().as_str()).map(iana).collect();
                    return Err(format!(
                        "ssl.cipher.suites: {name} is not a suite Tidelog offers (it offers {})",
                        known.join(", ")
                    ));
                }
            }
        }
    }
    Ok(Arc::new(provider))
}

/// A rustls suite name as IANA (and so Kafka) writes it.
fn iana(rustls: &str) -> String {
    match rustls.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => rustls.to_string(),
    }
}

/// rustls' versions for `ssl.enabled.protocols` (the config checked the names).
fn protocol_versions(names: &[String]) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    names
        .iter()
        .map(|name| match name.as_str() {
            "TLSv1.2" => Ok(&rustls::version::TLS12),
            "TLSv1.3" => Ok(&rustls::version::TLS13),
            other => Err(format!(
                "ssl.enabled.protocols: {other} is not supported (TLSv1.2, TLSv1.3)"
            )),
        })
        .collect()
}
