//! TLS for SSL and SASL_SSL listeners, with rustls (no OpenSSL): the server's key and
//! certificate chain and the CAs trusted for client certificates come from Kafka's PEM
//! stores (`ssl.keystore.*`, `ssl.truststore.*`); `ssl.client.auth` decides whether a
//! client certificate is asked for and whether one is required.

use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::config::{ClientAuth, Pem, TlsSettings};

/// The acceptor of a listener with `settings`; the error names what could not be read.
pub fn acceptor(settings: &TlsSettings) -> Result<TlsAcceptor, String> {
    let keystore = read(&settings.keystore, "ssl.keystore")?;
    let chain = certificates(&keystore, "ssl.keystore")?;
    let key = PrivateKeyDer::from_pem_slice(&keystore)
        .map_err(|e| format!("ssl.keystore: no unencrypted private key in PEM: {e}"))?;
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match (&settings.truststore, settings.client_auth) {
        (Some(truststore), ClientAuth::Requested | ClientAuth::Required) => {
            let mut roots = RootCertStore::empty();
            for certificate in certificates(&read(truststore, "ssl.truststore")?, "ssl.truststore")? {
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

/// ring's primitives: rustls 0.23.48 deprecates them for lacking post-quantum key exchange,
/// but its alternative, aws-lc-rs, needs cmake and a long C build on every machine, and
/// Kafka's clients negotiate the classic groups ring offers.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn read(pem: &Pem, store: &str) -> Result<Vec<u8>, String> {
    match pem {
        Pem::File(path) => std::fs::read(path).map_err(|e| format!("{store}.location {}: {e}", path.display())),
        Pem::Inline(text) => Ok(text.clone().into_bytes()),
    }
}

fn certificates(pem: &[u8], store: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{store}: unreadable PEM: {e}"))?;
    match certificates.is_empty() {
        true => Err(format!("{store}: no certificate in the PEM text")),
        false => Ok(certificates),
    }
}
