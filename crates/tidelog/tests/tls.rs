//! TLS listeners (SSL) with Kafka's PEM stores: a TLS client produces and fetches (the
//! fetched records come through the TLS path that replaces `sendfile`, in several reads),
//! Metadata names the SSL listener's port, a plaintext client on the TLS port gets no Kafka
//! answer and is closed, and with `ssl.client.auth=required` (set for that listener alone)
//! a client without a certificate is refused while one with a certificate the
//! truststore's CA signed is served; SASL/PLAIN and OAUTHBEARER work over SASL_SSL; the broker serves
//! everyone else all along; `/metrics` counts the handshakes as authentications of the SSL
//! listener. Mutual TLS names the principal ACLs see (`ssl.principal.mapping.rules`);
//! untrusted, expired and TLS 1.2 clients on a TLS 1.3 listener are refused; a replaced
//! keystore serves new connections while open ones go on; a silent client is closed after
//! the handshake timeout; fuzzed TLS and SASL handshakes close only their own connection;
//! DescribeConfigs shows TLS passwords as set, never their values.
//! The HTTPS listener (`http.listeners=https://...`, `http.ssl.*`) serves `/metrics`, the
//! health checks and the console (basic authentication as over HTTP) with its own
//! certificate to clients trusting its CA, refuses clients that do not and plain HTTP,
//! asks for client certificates when told, and serves a replaced keystore.
//! The clients are rustls clients speaking raw frames (and raw HTTP/1.0), and librdkafka
//! (OpenSSL) with Kafka's `ssl.*` client settings for mutual TLS.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::clients::{block_on, CLIENT_TIMEOUT};
use common::raw::{self, RawClient};
use common::Broker;
use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, FutureProducer, FutureRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore};
use tidelog_protocol::messages::describe_configs_request::{DescribeConfigsRequest, DescribeConfigsResource};
use tidelog_protocol::messages::sasl_authenticate_request::SaslAuthenticateRequest;
use tidelog_protocol::messages::sasl_handshake_request::SaslHandshakeRequest;
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

/// A certificate and its key.
type Signed = (Certificate, KeyPair);

/// A CA, and the broker's certificate (`localhost`) it signed.
struct Pki {
    dir: tempfile::TempDir,
    ca: Certificate,
    ca_key: KeyPair,
}

impl Pki {
    /// Writes `ca.pem` (the truststore) and `server.pem` (key and chain, the keystore).
    fn new() -> Pki {
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "tidelog test CA");
        let ca = ca_params.self_signed(&ca_key).expect("the CA certificate");
        let dir = tempfile::tempdir().expect("a temp dir");
        let pki = Pki { dir, ca, ca_key };
        std::fs::write(pki.dir.path().join("ca.pem"), pki.ca.pem()).expect("write the CA");
        pki.write_keystore("server.pem", &pki.server_certificate());
        pki
    }

    /// A certificate for `localhost` and 127.0.0.1 (the address the broker advertises,
    /// which librdkafka checks), each with a new key and serial.
    fn server_certificate(&self) -> Signed {
        let names = vec!["localhost".into(), "127.0.0.1".into()];
        self.sign(&[(DnType::CommonName, "localhost")], names, false)
    }

    /// Writes the keystore `file` (key and chain) at once, by renaming a complete file
    /// over it.
    fn write_keystore(&self, file: &str, (certificate, key): &Signed) {
        let keystore = format!("{}{}{}", key.serialize_pem(), certificate.pem(), self.ca.pem());
        let staged = self.dir.path().join(format!("{file}.new"));
        std::fs::write(&staged, keystore).expect("write the keystore");
        std::fs::rename(staged, self.dir.path().join(file)).expect("replace the keystore");
    }

    /// A certificate the CA signed for the subject `dn` (in DER order, the top RDN
    /// first), expired since 2021 if `expired`.
    fn sign(&self, dn: &[(DnType, &str)], names: Vec<String>, expired: bool) -> Signed {
        let key = KeyPair::generate().expect("a key");
        let mut params = CertificateParams::new(names).expect("params");
        // Without rcgen's default common name, which would stay first.
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (kind, value) in dn {
            params.distinguished_name.push(kind.clone(), *value);
        }
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        (
            params.signed_by(&key, &self.ca, &self.ca_key).expect("a certificate"),
            key,
        )
    }

    /// A client certificate with the subject `CN=<common_name>,OU=<unit>,O=Tidelog`.
    fn client_certificate(&self, common_name: &str, unit: &str) -> Signed {
        let dn = [
            (DnType::OrganizationName, "Tidelog"),
            (DnType::OrganizationalUnitName, unit),
            (DnType::CommonName, common_name),
        ];
        self.sign(&dn, Vec::new(), false)
    }

    fn path(&self, file: &str) -> String {
        self.dir.path().join(file).display().to_string()
    }

    /// A PLAINTEXT and an SSL listener, with `more` properties after (which may replace
    /// `listeners`).
    fn broker(&self, more: &str) -> Broker {
        self.broker_with(more, &[])
    }

    /// [`Pki::broker`] with `extra_args` for `tidelog serve`.
    fn broker_with(&self, more: &str, extra_args: &[&str]) -> Broker {
        let properties = format!(
            "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0\n\
             ssl.keystore.type=PEM\nssl.keystore.location={}\n{more}",
            self.path("server.pem")
        );
        let file = self.dir.path().join("server.properties");
        std::fs::write(&file, properties).expect("write the properties");
        Broker::start_from_file_with(&file, extra_args)
    }

    /// A TLS client trusting the CA, presenting `certificate` if given.
    fn client(&self, certificate: Option<&Signed>) -> Arc<ClientConfig> {
        self.client_of(rustls::DEFAULT_VERSIONS, certificate)
    }

    /// [`Pki::client`] speaking only the TLS `versions`.
    fn client_of(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
        certificate: Option<&Signed>,
    ) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).expect("trust the CA");
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .expect("TLS versions")
            .with_root_certificates(roots);
        let config = match certificate {
            Some((certificate, key)) => {
                let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(key.serialize_der()));
                builder
                    .with_client_auth_cert(vec![CertificateDer::from(certificate.der().to_vec())], key)
                    .expect("a client certificate")
            }
            None => builder.with_no_client_auth(),
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

    let mut tls = RawClient::connect_tls(ssl, pki.client(None));
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

    let mut anonymous = RawClient::connect_tls(ssl, pki.client(None));
    anonymous.send(3, &RequestBody::ApiVersions(Default::default()));
    let answer = anonymous.read_until_closed();
    assert!(
        answer.as_ref().is_err() || answer.as_ref().is_ok_and(Vec::is_empty),
        "served without a certificate: {answer:?}"
    );
    broker.wait_for_line(&["closing connection: TLS handshake failed"]);

    let mut alice = RawClient::connect_tls(ssl, pki.client(Some(&pki.client_certificate("alice", "eng"))));
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
    // A broker-wide ssl.client.auth=required is the SSL listener's only: as in Kafka
    // (KIP-684), a SASL_SSL listener asks for certificates by its own setting alone, so
    // the clients below, which have none, are served.
    let broker = pki.broker(&format!(
        "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0\n\
         listener.name.sasl_ssl.plain.sasl.jaas.config=x required user_alice=\"alice-secret\";\n\
         listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,OAUTHBEARER\n\
         ssl.client.auth=required\nssl.truststore.type=PEM\nssl.truststore.location={}\n",
        pki.path("ca.pem")
    ));
    let sasl_ssl = broker.listener_addr("SASL_SSL");

    let mut alice = RawClient::connect_tls(sasl_ssl, pki.client(None));
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
    let mut bob = RawClient::connect_tls(sasl_ssl, pki.client(None));
    assert_eq!(bob.sasl_handshake("OAUTHBEARER").0, ErrorCode::NONE);
    let answer = bob.sasl_authenticate(format!("n,,\x01auth=Bearer {token}\x01\x01").as_bytes());
    assert_eq!(
        (ErrorCode(answer.error_code), answer.auth_bytes.len()),
        (ErrorCode::NONE, 0)
    );
    assert_eq!(bob.metadata(None, false).brokers.len(), 1);

    // Without authenticating, nothing but ApiVersions is served over TLS either.
    let mut stranger = RawClient::connect_tls(sasl_ssl, pki.client(None));
    stranger.send(12, &RequestBody::Metadata(Default::default()));
    broker.assert_closed_and_logged(&mut stranger, "before SASL authentication");
}

#[test]
fn a_tls_or_https_listener_without_a_usable_keystore_does_not_start() {
    let pki = Pki::new();
    let missing = Path::new(&pki.path("nowhere.pem")).display().to_string();
    let keystore = format!(
        "listeners=SSL://127.0.0.1:0\nssl.keystore.type=PEM\nssl.keystore.location={}\n",
        pki.path("server.pem")
    );
    let kafka = [
        ("listeners=SSL://127.0.0.1:0\n".to_string(), "ssl.keystore.type=PEM"),
        (
            format!("listeners=SSL://127.0.0.1:0\nssl.keystore.type=PEM\nssl.keystore.location={missing}\n"),
            "nowhere.pem",
        ),
        (
            format!("{keystore}ssl.cipher.suites=TLS_AES_128_GCM_SHA256,TLS_RSA_WITH_RC4_128_MD5\n"),
            "ssl.cipher.suites: TLS_RSA_WITH_RC4_128_MD5 is not a suite Tidelog offers",
        ),
        (
            format!("{keystore}ssl.principal.mapping.rules=RULE:^CN=(.*)$/$1/X\n"),
            "ssl.principal.mapping.rules: invalid rule",
        ),
        (format!("{keystore}ssl.keystore.type=JKS\n"), "keytool -importkeystore"),
    ];
    let https = [
        (
            "listeners=PLAINTEXT://127.0.0.1:0\n".to_string(),
            "the HTTPS listener (by its http.ssl.* properties, else the ssl.* ones) needs ssl.keystore.type",
        ),
        (
            format!(
                "listeners=PLAINTEXT://127.0.0.1:0\nhttp.ssl.keystore.type=PEM\nhttp.ssl.keystore.location={missing}\n"
            ),
            "cannot listen for HTTP: https: ",
        ),
    ];
    let cases = kafka
        .into_iter()
        .map(|case| (case, &[][..]))
        .chain(https.into_iter().map(|case| (case, &HTTPS_ON_A_FREE_PORT[..])));
    for ((properties, says), extra_args) in cases {
        let file = pki.dir.path().join("bad.properties");
        std::fs::write(&file, properties).expect("write the properties");
        // "" as the protocol: the listeners come from the file.
        let data = pki.dir.path().join("data");
        let mut args = vec!["--config", file.to_str().unwrap()];
        args.extend_from_slice(extra_args);
        let (status, log) = common::serve_dir_expecting_exit(&data, "", &args);
        assert!(!status.success(), "{log}");
        assert!(log.contains(says), "{log}");
    }
}

/// Kafka's StandardAuthorizer with no ACLs: only super users are served.
const AUTHORIZER: &str = "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n";

/// The error of a Metadata request for `topic` (auto-created for those allowed to).
fn metadata_error(client: &mut RawClient, topic: &str) -> ErrorCode {
    ErrorCode(client.metadata(Some(&[topic]), true).topics[0].error_code)
}

#[test]
fn a_client_certificate_names_the_principal_acls_see() {
    let pki = Pki::new();
    let broker = pki.broker(&format!(
        "{AUTHORIZER}super.users=User:alice;User:CN=carol,OU=ops,O=Tidelog\n\
         listener.name.ssl.ssl.client.auth=requested\n\
         ssl.truststore.type=PEM\nssl.truststore.location={}\n\
         listener.name.ssl.ssl.principal.mapping.rules=RULE:^CN=([^,]*),OU=eng,.*$/$1/L,\\\n  DEFAULT\n",
        pki.path("ca.pem")
    ));
    let ssl = broker.listener_addr("SSL");
    let connect = |certificate: Option<&Signed>| RawClient::connect_tls(ssl, pki.client(certificate));

    // CN=Alice,OU=eng,O=Tidelog: the rule makes it `alice`, a super user.
    let mut alice = connect(Some(&pki.client_certificate("Alice", "eng")));
    produce_and_fetch(&mut alice, "alice-topic");
    // CN=carol,OU=ops,O=Tidelog: no rule but DEFAULT applies, so the principal is the whole
    // name, as Java prints it (the last RDN first), a super user too.
    let mut carol = connect(Some(&pki.client_certificate("carol", "ops")));
    produce_and_fetch(&mut carol, "carol-topic");
    // `bob` is no super user, and with `requested` a client without a certificate is
    // User:ANONYMOUS: both are served, and refused the topic.
    let mut bob = connect(Some(&pki.client_certificate("bob", "eng")));
    assert_eq!(
        metadata_error(&mut bob, "alice-topic"),
        ErrorCode::TOPIC_AUTHORIZATION_FAILED
    );
    let mut anonymous = connect(None);
    assert_eq!(
        metadata_error(&mut anonymous, "alice-topic"),
        ErrorCode::TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(metadata_error(&mut alice, "alice-topic"), ErrorCode::NONE);
}

/// What the broker sent before closing `client`'s connection (or the error the close
/// caused); panics if it neither answered nor closed within the read timeout.
fn closed_by_broker(client: &mut RawClient) -> Result<Vec<u8>, std::io::Error> {
    let read = client.read_until_closed();
    match &read {
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            panic!("the broker neither answered nor closed: {e}")
        }
        _ => read,
    }
}

/// Whether a client was refused in the handshake: no Kafka answer, the connection closed.
fn refused(client: &mut RawClient) -> bool {
    match client.try_send(3, &RequestBody::ApiVersions(Default::default())) {
        Err(_) => true,
        Ok(_) => closed_by_broker(client).map_or(true, |answer| answer.is_empty()),
    }
}

#[test]
fn untrusted_expired_and_old_protocol_clients_are_refused_and_others_served() {
    let pki = Pki::new();
    let stranger_ca = Pki::new();
    let broker = pki.broker(&format!(
        "listener.name.ssl.ssl.client.auth=required\nssl.truststore.type=PEM\nssl.truststore.location={}\n\
         listener.name.ssl.ssl.enabled.protocols=TLSv1.3\n\
         listener.name.ssl.ssl.cipher.suites=TLS_AES_256_GCM_SHA384\n",
        pki.path("ca.pem")
    ));
    let ssl = broker.listener_addr("SSL");
    let alice = pki.client_certificate("alice", "eng");
    let mut served = RawClient::connect_tls(ssl, pki.client(Some(&alice)));
    produce_and_fetch(&mut served, "before");

    let untrusted = stranger_ca.client_certificate("mallory", "eng");
    let expired = pki.sign(&[(DnType::CommonName, "old")], Vec::new(), true);
    let tls12 = pki.client_of(&[&rustls::version::TLS12], Some(&alice));
    for (who, config) in [
        ("a certificate of another CA", pki.client(Some(&untrusted))),
        ("an expired certificate", pki.client(Some(&expired))),
        ("a TLSv1.2 client on a TLSv1.3 listener", tls12),
    ] {
        assert!(refused(&mut RawClient::connect_tls(ssl, config)), "{who} was served");
        // The broker goes on serving the connection it had, and new ones.
        assert_eq!(served.metadata(None, false).brokers.len(), 1, "after {who}");
        let mut again = RawClient::connect_tls(ssl, pki.client(Some(&alice)));
        assert_eq!(again.metadata(None, false).brokers.len(), 1, "after {who}");
    }
    // The other CA has the same name as ours: its signature is what fails.
    broker.wait_for_line(&["TLS handshake failed", "invalid peer certificate: BadSignature"]);
    broker.wait_for_line(&["TLS handshake failed", "certificate expired"]);
    broker.wait_for_line(&["TLS handshake failed", "Tls12NotOfferedOrEnabled"]);
    broker.wait_for_metric("tidelog_authentication_failures_total{listener=\"SSL\"}", 3.0);
}

/// The certificate a TLS handshake with the listener at `addr` shows.
fn presented_certificate(addr: std::net::SocketAddr, config: Arc<ClientConfig>) -> Vec<u8> {
    let mut socket = std::net::TcpStream::connect(addr).expect("connect");
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .expect("a read timeout");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a server name");
    let mut tls = rustls::ClientConnection::new(config, name).expect("a TLS client");
    while tls.is_handshaking() {
        tls.complete_io(&mut socket).expect("the handshake");
    }
    tls.peer_certificates().expect("the server's chain")[0].to_vec()
}

#[test]
fn a_replaced_keystore_serves_new_connections_while_open_ones_go_on() {
    let pki = Pki::new();
    let broker = pki.broker("");
    let ssl = broker.listener_addr("SSL");
    let first = presented_certificate(ssl, pki.client(None));
    let mut open = RawClient::connect_tls(ssl, pki.client(None));
    produce_and_fetch(&mut open, "before-rotation");

    // A keystore that cannot be loaded keeps the certificate in use.
    std::fs::write(pki.dir.path().join("server.pem"), "not PEM").expect("break the keystore");
    assert_eq!(presented_certificate(ssl, pki.client(None)), first);
    broker.wait_for_line(&["cannot be loaded: keeping the previous one"]);

    let (renewed, _) = {
        let signed = pki.server_certificate();
        pki.write_keystore("server.pem", &signed);
        (signed.0.der().to_vec(), signed.1)
    };
    assert_ne!(renewed, first, "a new serial and key");
    // The files are checked every second, in the background.
    broker.wait_for_line(&["TLS key and trust stores changed"]);
    assert_eq!(presented_certificate(ssl, pki.client(None)), renewed);
    // The connection opened before keeps its session and produces on.
    let produced = open.produce("before-rotation", 0, -1, raw::batch(2, &[(b"k", b"after")]));
    assert_eq!(
        (ErrorCode(produced.error_code), produced.base_offset),
        (ErrorCode::NONE, 2)
    );
}

#[test]
fn a_client_silent_in_the_handshake_is_closed() {
    let pki = Pki::new();
    let broker = pki.broker("");
    let ssl = broker.listener_addr("SSL");
    let mut silent = RawClient::connect(ssl);
    // Meanwhile the listener serves others.
    produce_and_fetch(&mut RawClient::connect_tls(ssl, pki.client(None)), "meanwhile");
    // The broker closes it (the read would time out with an error otherwise).
    assert_eq!(closed_by_broker(&mut silent).expect("a clean close"), Vec::<u8>::new());
    broker.wait_for_line(&["TLS handshake failed", "no handshake within 10s"]);
}

/// The first flight of a TLS client: its ClientHello record.
fn client_hello(config: Arc<ClientConfig>) -> Vec<u8> {
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a server name");
    let mut tls = rustls::ClientConnection::new(config, name).expect("a TLS client");
    let mut hello = Vec::new();
    tls.write_tls(&mut hello).expect("the ClientHello");
    hello
}

/// A SASL frame: SaslHandshake v1 for PLAIN, then SaslAuthenticate v2 with `auth_bytes`.
fn sasl_frames(auth_bytes: &[u8]) -> Vec<u8> {
    let mut frames = Vec::new();
    for (version, body) in [
        (
            1,
            RequestBody::SaslHandshake(SaslHandshakeRequest {
                mechanism: "PLAIN".into(),
                ..Default::default()
            }),
        ),
        (
            2,
            RequestBody::SaslAuthenticate(SaslAuthenticateRequest {
                auth_bytes: bytes::Bytes::copy_from_slice(auth_bytes),
                ..Default::default()
            }),
        ),
    ] {
        let header = tidelog_protocol::header::RequestHeader {
            api_key: body.api_key() as i16,
            api_version: version,
            correlation_id: 1,
            client_id: Some("fuzz".into()),
            ..Default::default()
        };
        let chunks = tidelog_protocol::encode_request(&header, &body).expect("encode");
        frames.extend_from_slice(&tidelog_protocol::codec::concat(&chunks).expect("in memory"));
    }
    frames
}

/// `valid` cut at a random point, with a few random bytes flipped, or random bytes alone.
fn mangle(rng: &mut common::Rng, valid: &[u8]) -> Vec<u8> {
    match rng.in_range(0..3) {
        0 => (0..rng.in_range(0..2048)).map(|_| rng.next_u64() as u8).collect(),
        1 => valid[..rng.in_range(0..valid.len() as u64) as usize].to_vec(),
        _ => {
            let mut bytes = valid.to_vec();
            for _ in 0..rng.in_range(1..8) {
                let at = rng.in_range(0..bytes.len() as u64) as usize;
                bytes[at] ^= rng.next_u64() as u8 | 1;
            }
            bytes
        }
    }
}

/// Random, truncated and corrupted ClientHellos and SASL frames (plain and inside TLS),
/// [`FUZZ_CONNECTIONS`] of them, seeded: each connection is closed by the broker once the
/// client stops sending (no hang), the broker stays up, and a TLS and a SASL client are
/// served between them.
#[test]
fn fuzzed_tls_and_sasl_handshakes_close_only_their_connection() {
    const FUZZ_CONNECTIONS: usize = 240;
    let pki = Pki::new();
    let mut broker = pki.broker(
        "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0\n\
         listener.name.sasl_plaintext.plain.sasl.jaas.config=x required user_alice=\"alice-secret\";\n\
         listener.name.sasl_ssl.plain.sasl.jaas.config=x required user_alice=\"alice-secret\";\n",
    );
    let (ssl, sasl, sasl_ssl) = (
        broker.listener_addr("SSL"),
        broker.listener_addr("SASL_PLAINTEXT"),
        broker.listener_addr("SASL_SSL"),
    );
    let hello = client_hello(pki.client(None));
    let sasl_valid = sasl_frames(b"\0alice\0alice-secret");
    let mut rng = common::Rng::from_env_or_clock("fuzzed_tls_and_sasl_handshakes");
    let healthy = |pki: &Pki| {
        assert_eq!(
            RawClient::connect_tls(ssl, pki.client(None))
                .metadata(None, false)
                .brokers
                .len(),
            1
        );
        let mut alice = RawClient::connect(sasl);
        assert_eq!(alice.sasl_handshake("PLAIN").0, ErrorCode::NONE);
        assert_eq!(
            ErrorCode(alice.sasl_authenticate(b"\0alice\0alice-secret").error_code),
            ErrorCode::NONE
        );
        assert_eq!(alice.metadata(None, false).brokers.len(), 1);
    };
    for round in 0..FUZZ_CONNECTIONS {
        let (mut client, input) = match round % 3 {
            0 => (RawClient::connect(ssl), mangle(&mut rng, &hello)),
            1 => (RawClient::connect(sasl), mangle(&mut rng, &sasl_valid)),
            _ => (
                RawClient::connect_tls(sasl_ssl, pki.client(None)),
                mangle(&mut rng, &sasl_valid),
            ),
        };
        // The broker may close before all is sent (or even reset the connection); what
        // matters is what it does next.
        let _ = client.try_send_bytes(&input);
        let _ = client.try_shutdown_write();
        let _ = closed_by_broker(&mut client);
        if round % 40 == 39 {
            healthy(&pki);
        }
    }
    assert!(broker.is_running(), "the broker died");
    healthy(&pki);
}

#[test]
fn describe_configs_marks_tls_passwords_sensitive_without_their_values() {
    let pki = Pki::new();
    // An unencrypted key needs no ssl.key.password; a given one is still a secret.
    let broker = pki.broker("ssl.key.password=hunter2-secret\n");
    let request = RequestBody::DescribeConfigs(DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: 4, // BROKER
            resource_name: "1".into(),
            configuration_keys: None,
            ..Default::default()
        }],
        ..Default::default()
    });
    let ResponseBody::DescribeConfigs(response) = broker.raw().request(4, request) else {
        panic!("not a DescribeConfigs response");
    };
    let entry = |name: &str| {
        let entry = response.results[0].configs.iter().find(|c| c.name == name);
        let entry = entry.unwrap_or_else(|| panic!("no {name}"));
        (
            entry.value.clone(),
            entry.is_sensitive,
            entry.config_source,
            entry.config_type,
        )
    };
    // Kafka's null value, is_sensitive, STATIC_BROKER_CONFIG (4) or DEFAULT_CONFIG (5), PASSWORD (9).
    assert_eq!(entry("ssl.key.password"), (None, true, 4, 9));
    assert_eq!(entry("ssl.truststore.password"), (None, true, 5, 9));
    assert!(!format!("{response:?}").contains("hunter2"));
    assert!(!broker.log().contains("hunter2"));
}

/// librdkafka's own TLS (OpenSSL) with Kafka's client settings against an SSL listener
/// requiring client certificates: with one it produces and consumes as `User:alice` (the
/// only super user), without one it cannot even fetch metadata.
#[test]
fn librdkafka_produces_and_consumes_over_mutual_tls() {
    let pki = Pki::new();
    let broker = pki.broker(&format!(
        "{AUTHORIZER}super.users=User:alice\nssl.principal.mapping.rules=RULE:^CN=([^,]*),.*$/$1/\n\
         listener.name.ssl.ssl.client.auth=required\nssl.truststore.type=PEM\nssl.truststore.location={}\n",
        pki.path("ca.pem")
    ));
    let (certificate, key) = pki.client_certificate("alice", "eng");
    std::fs::write(pki.dir.path().join("alice.pem"), certificate.pem()).expect("write the certificate");
    std::fs::write(pki.dir.path().join("alice.key"), key.serialize_pem()).expect("write the key");
    let ssl = broker.listener_addr("SSL").to_string();
    let over_tls = |mut config: rdkafka::ClientConfig, with_certificate: bool| {
        config
            .set("bootstrap.servers", &ssl)
            .set("security.protocol", "ssl")
            .set("ssl.ca.location", pki.path("ca.pem"));
        if with_certificate {
            config
                .set("ssl.certificate.location", pki.path("alice.pem"))
                .set("ssl.key.location", pki.path("alice.key"));
        }
        config
    };

    let producer: FutureProducer = over_tls(broker.client_config(), true).create().expect("a producer");
    for (i, value) in ["one", "two", "three"].into_iter().enumerate() {
        let record = FutureRecord::to("mtls").key("k").payload(value).partition(0);
        let delivered = block_on(producer.send(record, CLIENT_TIMEOUT));
        assert_eq!(delivered.expect("delivered").offset, i as i64);
    }
    let consumer: BaseConsumer = over_tls(broker.consumer_config("mtls-group"), true)
        .create()
        .expect("a consumer");
    let mut partitions = TopicPartitionList::new();
    partitions
        .add_partition_offset("mtls", 0, Offset::Beginning)
        .expect("partition 0");
    consumer.assign(&partitions).expect("assign");
    let mut values = Vec::new();
    for _ in 0..100 {
        if values.len() == 3 {
            break;
        }
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.expect("a record");
            values.push((message.offset(), message.payload().map(|p| p.to_vec())));
        }
    }
    let expected: Vec<_> = ["one", "two", "three"]
        .into_iter()
        .enumerate()
        .map(|(i, v)| (i as i64, Some(v.as_bytes().to_vec())))
        .collect();
    assert_eq!(values, expected);

    let anonymous: BaseProducer = over_tls(broker.client_config(), false).create().expect("a producer");
    assert!(anonymous.client().fetch_metadata(None, Duration::from_secs(3)).is_err());
    broker.wait_for_line(&["TLS handshake failed"]);
}

/// `-X security.protocol=ssl` reaches librdkafka only: the commands that speak through
/// Tidelog's own admin client say they need a plain listener instead of failing on TLS.
#[test]
fn the_admin_commands_refuse_tls_client_properties_clearly() {
    let pki = Pki::new();
    let broker = pki.broker("");
    let run = common::cli::tidelog(&broker, &["-X", "security.protocol=ssl", "topics", "list"], "");
    assert!(!run.success, "{}", run.stdout);
    assert!(
        run.stderr.contains("admin client speaks plain TCP only"),
        "{}",
        run.stderr
    );
    // Without it, the same command is served on the PLAINTEXT listener.
    assert!(common::cli::tidelog(&broker, &["topics", "list"], "").success);
}

/// `tidelog serve`'s arguments for an HTTPS listener on a free port.
const HTTPS_ON_A_FREE_PORT: [&str; 2] = ["--override", "http.listeners=https://127.0.0.1:0"];

/// An HTTPS listener with its own keystore, `console.pem` (a certificate for `localhost`
/// other than the Kafka listener's), and `more` properties after.
fn https_broker(pki: &Pki, more: &str) -> (Broker, Vec<u8>) {
    let console = pki.server_certificate();
    pki.write_keystore("console.pem", &console);
    let properties = format!(
        "http.ssl.keystore.type=PEM\nhttp.ssl.keystore.location={}\n{more}",
        pki.path("console.pem")
    );
    (
        pki.broker_with(&properties, &HTTPS_ON_A_FREE_PORT),
        console.0.der().to_vec(),
    )
}

/// One HTTP/1.0 request over TLS (`head` ends with its headers' last line): the status,
/// headers and body; the handshake's error if there is no TLS session.
fn https_request(
    addr: std::net::SocketAddr,
    config: Arc<ClientConfig>,
    head: &str,
) -> Result<(u16, String, String), std::io::Error> {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(addr)?;
    socket.set_read_timeout(Some(Duration::from_secs(15)))?;
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a server name");
    let mut tls = rustls::ClientConnection::new(config, name).expect("a TLS client");
    while tls.is_handshaking() {
        tls.complete_io(&mut socket)?;
    }
    let mut stream = rustls::Stream::new(&mut tls, &mut socket);
    write!(stream, "{head}Host: {addr}\r\n\r\n")?;
    let mut response = String::new();
    // HTTP/1.0: the server closes after answering (a close without close_notify is
    // hyper's, and fine here: the body is read whole).
    match stream.read_to_string(&mut response) {
        Err(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => return Err(e),
        _ => {}
    }
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {response:?}"));
    let (headers, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    Ok((status, headers.to_string(), body.to_string()))
}

/// A GET over TLS: the status and body.
fn https_get(addr: std::net::SocketAddr, config: Arc<ClientConfig>, path: &str) -> (u16, String) {
    let (status, _, body) = https_request(addr, config, &format!("GET {path} HTTP/1.0\r\n")).expect("an HTTPS answer");
    (status, body)
}

#[test]
fn https_serves_metrics_and_health_to_clients_trusting_its_ca_only() {
    let pki = Pki::new();
    let (broker, console_certificate) = https_broker(&pki, "");
    let https = broker.http_addr().expect("an HTTPS listener");
    assert_eq!(
        presented_certificate(https, pki.client(None)),
        console_certificate,
        "http.ssl.keystore.location, not the Kafka listener's ssl.keystore.location"
    );
    assert_eq!(
        https_get(https, pki.client(None), "/health/live"),
        (200, "live\n".into())
    );
    assert_eq!(
        https_get(https, pki.client(None), "/health/ready"),
        (200, "ready\n".into())
    );
    RawClient::connect_tls(broker.listener_addr("SSL"), pki.client(None)).api_versions();
    let (status, metrics) = https_get(https, pki.client(None), "/metrics");
    assert_eq!(status, 200, "{metrics}");
    assert!(
        metrics.contains("tidelog_requests_total{api=\"ApiVersions\"} 1"),
        "{metrics}"
    );
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");
    let failures = format!("tidelog_https_handshake_failures_total{{listener=\"https://{https}\"}}");
    assert!(metrics.contains(&format!("{failures} 0\n")), "{metrics}");

    // A client trusting another CA (of the same name: the signature is what fails) does
    // not finish the handshake.
    let stranger = Pki::new();
    let refused = https_request(https, stranger.client(None), "GET /metrics HTTP/1.0\r\n")
        .expect_err("a client that does not trust the CA was served");
    assert!(
        refused.to_string().contains("invalid peer certificate: BadSignature"),
        "{refused}"
    );

    // Plain HTTP on the HTTPS port gets no HTTP answer (at most a TLS alert), and is closed.
    let mut plain = std::net::TcpStream::connect(https).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("a read timeout");
    std::io::Write::write_all(
        &mut plain,
        format!("GET /metrics HTTP/1.0\r\nHost: {https}\r\n\r\n").as_bytes(),
    )
    .expect("send a GET");
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut plain, &mut answer);
    assert!(!answer.starts_with(b"HTTP/"), "plain HTTP was answered");
    assert!(answer.first().is_none_or(|b| *b == 0x15), "not a TLS alert: {answer:?}");

    // The listener serves on after both, and counted and logged their handshakes.
    assert_eq!(https_get(https, pki.client(None), "/health/ready").0, 200);
    let scrape = || https_get(https, pki.client(None), "/metrics").1;
    common::wait_for_metric_on(scrape, &failures, 2.0);
    broker.wait_for_line(&["WARN", "closing HTTPS connection: TLS handshake failed", "DecryptError"]);
    broker.wait_for_line(&[
        "WARN",
        "closing HTTPS connection: TLS handshake failed",
        "InvalidContentType",
    ]);
}

/// With a SASL listener the console asks for a password over HTTPS as over HTTP.
#[test]
fn the_console_authenticates_over_https() {
    let pki = Pki::new();
    let (broker, _) = https_broker(
        &pki,
        "listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0\n\
         listener.name.sasl_ssl.plain.sasl.jaas.config=x required user_alice=\"alice-secret\";\n",
    );
    let https = broker.http_addr().expect("an HTTPS listener");
    let as_user = |credentials: Option<&str>| {
        use base64::Engine;
        let authorization = credentials.map_or_else(String::new, |c| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(c);
            format!("Authorization: Basic {encoded}\r\n")
        });
        let head = format!("GET /topics HTTP/1.0\r\n{authorization}");
        https_request(https, pki.client(None), &head).expect("an HTTPS answer")
    };
    let (status, headers, body) = as_user(None);
    assert_eq!(status, 401, "{body}");
    assert!(
        headers.to_ascii_lowercase().contains("www-authenticate: basic"),
        "{headers}"
    );
    assert_eq!(as_user(Some("alice:wrong")).0, 401);
    let (status, _, topics) = as_user(Some("alice:alice-secret"));
    assert_eq!(status, 200, "{topics}");
    assert_eq!(
        https_get(https, pki.client(None), "/metrics").0,
        200,
        "a scrape needs no password"
    );
}

#[test]
fn https_with_client_auth_required_serves_only_clients_with_a_trusted_certificate() {
    let pki = Pki::new();
    let (broker, _) = https_broker(
        &pki,
        &format!(
            "http.ssl.client.auth=required\nhttp.ssl.truststore.type=PEM\nhttp.ssl.truststore.location={}\n",
            pki.path("ca.pem")
        ),
    );
    let https = broker.http_addr().expect("an HTTPS listener");
    let alice = pki.client_certificate("alice", "ops");
    assert_eq!(https_get(https, pki.client(Some(&alice)), "/health/ready").0, 200);
    let untrusted = Pki::new().client_certificate("mallory", "ops");
    for (who, config) in [
        ("no certificate", pki.client(None)),
        ("a certificate of another CA", pki.client(Some(&untrusted))),
    ] {
        // TLS 1.3: the server refuses the certificate after the client's handshake is
        // done, so the refusal comes as the answer to the request.
        let answer = https_request(https, config, "GET /health/ready HTTP/1.0\r\n");
        assert!(answer.is_err(), "{who} was served: {answer:?}");
    }
    let failures = format!("tidelog_https_handshake_failures_total{{listener=\"https://{https}\"}}");
    let scrape = || https_get(https, pki.client(Some(&alice)), "/metrics").1;
    common::wait_for_metric_on(scrape, &failures, 2.0);
    // The Kafka SSL listener asks for no certificate: ssl.client.auth is not set for it.
    RawClient::connect_tls(broker.listener_addr("SSL"), pki.client(None)).api_versions();
}

#[test]
fn a_replaced_https_keystore_serves_new_connections() {
    let pki = Pki::new();
    let (broker, first) = https_broker(&pki, "");
    let https = broker.http_addr().expect("an HTTPS listener");
    assert_eq!(presented_certificate(https, pki.client(None)), first);
    let renewed = pki.server_certificate();
    pki.write_keystore("console.pem", &renewed);
    broker.wait_for_line(&["listener=HTTPS", "TLS key and trust stores changed"]);
    assert_eq!(presented_certificate(https, pki.client(None)), renewed.0.der().to_vec());
    assert_eq!(https_get(https, pki.client(None), "/health/ready").0, 200);
}
