//! TLS listeners (SSL) with Kafka's PEM stores: a TLS client produces and fetches (the
//! fetched records come through the TLS path that replaces `sendfile`, in several reads),
//! Metadata names the SSL listener's port, a plaintext client on the TLS port gets no Kafka
//! answer and is closed, and with `ssl.client.auth=required` (set for that listener alone)
//! a client without a certificate is refused while one with a certificate the
//! truststore's CA signed is served; SASL/PLAIN and OAUTHBEARER work over SASL_SSL; the broker serves
//! everyone else all along; `/metrics` counts the handshakes as authentications of the SSL
//! listener. The clients are rustls clients speaking raw frames: the
//! librdkafka the tests build has no SSL.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::raw::{self, RawClient};
use common::Broker;
use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore};
use tidelog_protocol::messages::sasl_authenticate_request::SaslAuthenticateRequest;
use tidelog_protocol::messages::sasl_handshake_request::SaslHandshakeRequest;
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

/// A CA, and certificates it signed for the broker (`localhost`) and for a client.
struct Pki {
    dir: tempfile::TempDir,
    ca: Certificate,
    client: (Certificate, KeyPair),
}

impl Pki {
    /// Writes `ca.pem` (the truststore) and `server.pem` (key and chain, the keystore).
    fn new() -> Pki {
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "tidelog test CA");
        let ca = ca_params.self_signed(&ca_key).expect("the CA certificate");
        let signed = |names: Vec<String>, common_name: &str| {
            let key = KeyPair::generate().expect("a key");
            let mut params = CertificateParams::new(names).expect("params");
            params.distinguished_name.push(DnType::CommonName, common_name);
            (params.signed_by(&key, &ca, &ca_key).expect("a certificate"), key)
        };
        let (server, server_key) = signed(vec!["localhost".into()], "localhost");
        let client = signed(Vec::new(), "alice");
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).expect("write the CA");
        let keystore = format!("{}{}{}", server_key.serialize_pem(), server.pem(), ca.pem());
        std::fs::write(dir.path().join("server.pem"), keystore).expect("write the keystore");
        Pki { dir, ca, client }
    }

    fn path(&self, file: &str) -> String {
        self.dir.path().join(file).display().to_string()
    }

    /// A PLAINTEXT and an SSL listener, with `more` properties after (which may replace
    /// `listeners`).
    fn broker(&self, more: &str) -> Broker {
        let properties = format!(
            "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0\n\
             ssl.keystore.type=PEM\nssl.keystore.location={}\n{more}",
            self.path("server.pem")
        );
        let file = self.dir.path().join("server.properties");
        std::fs::write(&file, properties).expect("write the properties");
        Broker::start_from_file(&file)
    }

    /// A TLS client trusting the CA, presenting the client certificate if `with_certificate`.
    fn client(&self, with_certificate: bool) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).expect("trust the CA");
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots);
        let config = match with_certificate {
            true => {
                let (certificate, key) = &self.client;
                let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(key.serialize_der()));
                builder
                    .with_client_auth_cert(vec![CertificateDer::from(certificate.der().to_vec())], key)
                    .expect("a client certificate")
            }
            false => builder.with_no_client_auth(),
        };
        Arc::new(config)
    }
}

/// ring, as the broker uses it (deprecated in rustls for lacking post-quantum groups).
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A value larger than the chunks a TLS connection reads a file region in.
const LARGE: usize = 600 * 1024;

/// Produces two records over `raw` to a new topic, the second of [`LARGE`] bytes, and
/// fetches them back.
fn produce_and_fetch(raw: &mut RawClient, topic: &str) {
    raw.metadata(Some(&[topic]), true);
    let large = vec![b'x'; LARGE];
    let produced = raw.produce(topic, 0, -1, raw::batch(1, &[(b"k", b"first"), (b"k", &large)]));
    assert_eq!(ErrorCode(produced.error_code), ErrorCode::NONE);
    let fetched = raw.fetch(raw::fetch_request(topic, 0, 0, 0, 1));
    let values: Vec<Vec<u8>> = fetched
        .records
        .as_ref()
        .map(raw::decode_records)
        .unwrap_or_default()
        .into_iter()
        .map(|record| record.value.unwrap_or_default().to_vec())
        .collect();
    assert_eq!(values, [b"first".to_vec(), large]);
}

#[test]
fn an_ssl_listener_serves_tls_clients_and_closes_plaintext_ones() {
    let pki = Pki::new();
    let broker = pki.broker("");
    let ssl = broker.listener_addr("SSL");

    let mut tls = RawClient::connect_tls(ssl, pki.client(false));
    let brokers = tls.metadata(None, false).brokers;
    assert_eq!(
        brokers[0].port,
        i32::from(ssl.port()),
        "Metadata names the SSL listener"
    );
    produce_and_fetch(&mut tls, "over-tls");

    // A plaintext client on the TLS port gets no Kafka answer (at most a TLS alert).
    let mut plain = RawClient::connect(ssl);
    plain.send(3, &RequestBody::ApiVersions(Default::default()));
    let answer = plain.read_until_closed().unwrap_or_default();
    assert!(answer.first().is_none_or(|b| *b == 0x15), "not a TLS alert: {answer:?}");
    broker.wait_for_line(&["closing connection: TLS handshake failed"]);

    // Everyone else is served.
    produce_and_fetch(&mut RawClient::connect(broker.addr()), "over-plaintext");
    assert_eq!(tls.metadata(None, false).brokers.len(), 1);
}

#[test]
fn mutual_tls_required_refuses_a_client_without_a_certificate() {
    let pki = Pki::new();
    let broker = pki.broker(&format!(
        "listener.name.ssl.ssl.client.auth=required\nssl.truststore.type=PEM\nssl.truststore.location={}\n",
        pki.path("ca.pem")
    ));
    let ssl = broker.listener_addr("SSL");

    let mut anonymous = RawClient::connect_tls(ssl, pki.client(false));
    anonymous.send(3, &RequestBody::ApiVersions(Default::default()));
    let answer = anonymous.read_until_closed();
    assert!(
        answer.as_ref().is_err() || answer.as_ref().is_ok_and(Vec::is_empty),
        "served without a certificate: {answer:?}"
    );
    broker.wait_for_line(&["closing connection: TLS handshake failed"]);

    let mut alice = RawClient::connect_tls(ssl, pki.client(true));
    produce_and_fetch(&mut alice, "mutual");
    assert_eq!(RawClient::connect(broker.addr()).metadata(None, false).brokers.len(), 1);

    // The handshakes are the SSL listener's authentications in /metrics: one failed, one
    // succeeded; none on PLAINTEXT.
    broker.wait_for_metric("tidelog_authentication_failures_total{listener=\"SSL\"}", 1.0);
    broker.wait_for_metric("tidelog_authentications_total{listener=\"SSL\"}", 1.0);
    broker.wait_for_metric("tidelog_authentications_total{listener=\"PLAINTEXT\"}", 0.0);
}

#[test]
fn a_sasl_ssl_listener_authenticates_over_tls() {
    let pki = Pki::new();
    let broker = pki.broker(
        "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0\n\
         listener.name.sasl_ssl.plain.sasl.jaas.config=x required user_alice=\"alice-secret\";\n\
         listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,OAUTHBEARER\n",
    );
    let sasl_ssl = broker.listener_addr("SASL_SSL");

    let mut alice = RawClient::connect_tls(sasl_ssl, pki.client(false));
    let handshake = RequestBody::SaslHandshake(SaslHandshakeRequest {
        mechanism: "PLAIN".into(),
        ..Default::default()
    });
    match alice.request(1, handshake) {
        ResponseBody::SaslHandshake(r) => assert_eq!(ErrorCode(r.error_code), ErrorCode::NONE),
        other => panic!("not a SaslHandshake response: {other:?}"),
    }
    let authenticate = RequestBody::SaslAuthenticate(SaslAuthenticateRequest {
        auth_bytes: bytes::Bytes::from_static(b"\0alice\0alice-secret"),
        ..Default::default()
    });
    match alice.request(2, authenticate) {
        ResponseBody::SaslAuthenticate(r) => assert_eq!(ErrorCode(r.error_code), ErrorCode::NONE),
        other => panic!("not a SaslAuthenticate response: {other:?}"),
    }
    let brokers = alice.metadata(None, false).brokers;
    assert_eq!(brokers[0].port, i32::from(sasl_ssl.port()));

    // OAUTHBEARER over TLS too, with an unsecured token (`alg: none`) for bob, expiring in 2100.
    use base64::Engine;
    let encode = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let token = format!(
        "{}.{}.",
        encode(r#"{"alg":"none"}"#),
        encode(r#"{"sub":"bob","exp":4102444800}"#)
    );
    let mut bob = RawClient::connect_tls(sasl_ssl, pki.client(false));
    assert_eq!(bob.sasl_handshake("OAUTHBEARER").0, ErrorCode::NONE);
    let answer = bob.sasl_authenticate(format!("n,,\x01auth=Bearer {token}\x01\x01").as_bytes());
    assert_eq!(
        (ErrorCode(answer.error_code), answer.auth_bytes.len()),
        (ErrorCode::NONE, 0)
    );
    assert_eq!(bob.metadata(None, false).brokers.len(), 1);

    // Without authenticating, nothing but ApiVersions is served over TLS either.
    let mut stranger = RawClient::connect_tls(sasl_ssl, pki.client(false));
    stranger.send(12, &RequestBody::Metadata(Default::default()));
    broker.assert_closed_and_logged(&mut stranger, "before SASL authentication");
}

#[test]
fn a_tls_listener_without_a_usable_keystore_does_not_start() {
    let pki = Pki::new();
    let missing = Path::new(&pki.path("nowhere.pem")).display().to_string();
    for (properties, says) in [
        ("listeners=SSL://127.0.0.1:0\n".to_string(), "ssl.keystore.type=PEM"),
        (
            format!("listeners=SSL://127.0.0.1:0\nssl.keystore.type=PEM\nssl.keystore.location={missing}\n"),
            "nowhere.pem",
        ),
    ] {
        let file = pki.dir.path().join("bad.properties");
        std::fs::write(&file, properties).expect("write the properties");
        // "" as the protocol: the listeners come from the file.
        let data = pki.dir.path().join("data");
        let (status, log) = common::serve_dir_expecting_exit(&data, "", &["--config", file.to_str().unwrap()]);
        assert!(!status.success(), "{log}");
        assert!(log.contains(says), "{log}");
    }
}
