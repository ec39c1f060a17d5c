//! SASL/OAUTHBEARER against the real binary, in raw frames so that every step of the
//! exchange and its error codes are seen (kafka-python and kafkajs produce and consume with
//! it in tests/python and tests/node, and librdkafka with its unsecured tokens here):
//!
//! - unsecured tokens (KIP-255, Kafka's default): the connection is the token's `sub`, and
//!   that user's ACLs apply;
//! - signed tokens (KIP-768) with Kafka's OAuthBearerValidatorCallbackHandler and a JWKS
//!   file: an RS256 token from a key the test makes is accepted; expired, wrong audience,
//!   wrong issuer, bad signature, unknown key id and `alg: none` are each challenged with
//!   Kafka's JSON, then refused with SASL_AUTHENTICATION_FAILED once the client answers
//!   `\x01`, while the broker serves the others; a rotated JWKS file is read again; no
//!   token reaches the log; a JWKS served over HTTP by the test is fetched at start, and
//!   again when a token names a key it rotated in;
//! - KIP-368: the session lasts as long as the token, and the connection closes at its
//!   next request after that unless it re-authenticated.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::raw::{batch, RawClient, METADATA_VERSION};
use common::{now_ms, Broker};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RsaPublicKeyComponents, RSA_PKCS1_SHA256};
use rustls::pki_types::PrivatePkcs8KeyDer;
use serde_json::{json, Value};
use tidelog_protocol::messages::create_acls_request::{AclCreation, CreateAclsRequest};
use tidelog_protocol::messages::metadata_request::MetadataRequest;
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

const OAUTHBEARER_ONLY: &str = "sasl.enabled.mechanisms=OAUTHBEARER";
const ISSUER: &str = "https://issuer.test";
const INVALID_TOKEN: &str = r#"{"status":"invalid_token"}"#;

/// An unsecured JWS (`alg: none`, empty signature) for `sub`, expiring `life_s` from now.
fn unsecured_token(sub: &str, life_s: i64) -> String {
    let now_s = now_ms() / 1000;
    let claims = json!({"sub": sub, "iat": now_s, "exp": now_s + life_s});
    format!("{}.{}.", encode(&json!({"alg": "none"})), encode(&claims))
}

fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// OAUTHBEARER's client first message, as Kafka's clients write it.
fn first_message(token: &str) -> Vec<u8> {
    format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// How an OAUTHBEARER exchange ended.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Authenticated, with the session lifetime (KIP-368) the broker gave.
    Authenticated { session_lifetime_ms: i64 },
    /// Challenged with this JSON, then refused with this error and message.
    Refused {
        challenge: String,
        error: ErrorCode,
        message: Option<String>,
    },
}

/// Authenticates `raw` with `token`, answering a challenge with `\x01` as Kafka's clients do.
fn authenticate(raw: &mut RawClient, token: &str) -> Outcome {
    let (error, mechanisms) = raw.sasl_handshake("OAUTHBEARER");
    assert_eq!((error, mechanisms), (ErrorCode::NONE, vec!["OAUTHBEARER".to_string()]));
    let answer = raw.sasl_authenticate(&first_message(token));
    assert_eq!(ErrorCode(answer.error_code), ErrorCode::NONE, "{answer:?}");
    if answer.auth_bytes.is_empty() {
        return Outcome::Authenticated {
            session_lifetime_ms: answer.session_lifetime_ms,
        };
    }
    let challenge = String::from_utf8(answer.auth_bytes.to_vec()).expect("a JSON challenge");
    let refusal = raw.sasl_authenticate(b"\x01");
    Outcome::Refused {
        challenge,
        error: ErrorCode(refusal.error_code),
        message: refusal.error_message,
    }
}

fn refused_as_kafka_refuses() -> Outcome {
    Outcome::Refused {
        challenge: INVALID_TOKEN.into(),
        error: ErrorCode::SASL_AUTHENTICATION_FAILED,
        message: Some(INVALID_TOKEN.into()),
    }
}

/// A raw client authenticated as the token's principal.
fn login(broker: &Broker, token: &str) -> RawClient {
    let mut raw = broker.raw();
    let outcome = authenticate(&mut raw, token);
    assert!(matches!(outcome, Outcome::Authenticated { .. }), "{outcome:?}");
    raw
}

fn is_served(raw: &mut RawClient) -> bool {
    raw.metadata(Some(&[]), false).brokers.len() == 1
}

/// A broker whose SASL listener offers OAUTHBEARER only, with ACLs enforced and
/// `super_user` allowed everything.
fn oauthbearer_with_acls(super_user: &str) -> Broker {
    let super_users = format!("super.users={super_user}");
    Broker::start_on(
        "SASL_PLAINTEXT",
        &[
            "--override",
            OAUTHBEARER_ONLY,
            "--override",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "--override",
            &super_users,
        ],
    )
}

#[test]
fn an_unsecured_token_authenticates_as_its_sub_and_that_user_s_acls_apply() {
    let broker = oauthbearer_with_acls("User:admin");
    let mut admin = login(&broker, &unsecured_token("admin", 600));
    let created = admin.metadata(Some(&["orders"]), true);
    assert_eq!(created.topics[0].error_code, 0, "{created:?}");
    // User:alice may write to `orders`; nobody else but the super user may.
    let creations = [4, 8]
        .into_iter()
        .map(|operation| AclCreation {
            resource_type: 2,
            resource_name: "orders".into(),
            resource_pattern_type: 3,
            principal: "User:alice".into(),
            host: "*".into(),
            operation,
            permission_type: 3,
            ..Default::default()
        })
        .collect();
    let request = RequestBody::CreateAcls(CreateAclsRequest {
        creations,
        ..Default::default()
    });
    match admin.request(3, request) {
        ResponseBody::CreateAcls(r) => assert!(r.results.iter().all(|r| r.error_code == 0), "{r:?}"),
        other => panic!("{other:?}"),
    }

    let records = || batch(now_ms(), &[(b"k", b"from alice")]);
    let mut alice = login(&broker, &unsecured_token("alice", 600));
    let written = alice.produce("orders", 0, -1, records());
    assert_eq!(
        (ErrorCode(written.error_code), written.base_offset),
        (ErrorCode::NONE, 0)
    );
    let mut mallory = login(&broker, &unsecured_token("mallory", 600));
    let refused = mallory.produce("orders", 0, -1, records());
    assert_eq!(ErrorCode(refused.error_code), ErrorCode::TOPIC_AUTHORIZATION_FAILED);

    // An expired token is challenged, then refused; the broker goes on serving alice.
    let mut late = broker.raw();
    assert_eq!(
        authenticate(&mut late, &unsecured_token("alice", -60)),
        refused_as_kafka_refuses()
    );
    broker.assert_closed_and_logged(&mut late, "SASL authentication refused");
    let written = alice.produce("orders", 0, -1, records());
    assert_eq!(
        (ErrorCode(written.error_code), written.base_offset),
        (ErrorCode::NONE, 1)
    );
}

/// librdkafka (built with OpenSSL, which its OAUTHBEARER needs) produces and consumes with
/// its own unsecured tokens: the connection is the token's principal, whose ACLs apply.
#[test]
fn librdkafka_produces_and_consumes_with_an_unsecured_token() {
    let broker = oauthbearer_with_acls("User:alice");
    let token_for = |principal: &str| {
        let mut config = broker.client_config();
        config
            .set("security.protocol", "SASL_PLAINTEXT")
            .set("sasl.mechanisms", "OAUTHBEARER")
            .set("enable.sasl.oauthbearer.unsecure.jwt", "true")
            .set("sasl.oauthbearer.config", format!("principal={principal}"));
        config
    };
    let producer: rdkafka::producer::BaseProducer = token_for("alice").create().expect("a producer");
    producer
        .send(rdkafka::producer::BaseRecord::to("tokens").key("k").payload("as alice"))
        .expect("queued");
    rdkafka::producer::Producer::flush(&producer, Duration::from_secs(30)).expect("delivered");
    assert_eq!(
        common::clients::first_record(&token_for("alice"), "tokens"),
        (0, b"as alice".to_vec())
    );
    // Another principal, with no ACL, is authenticated but may not write.
    let stranger: rdkafka::producer::BaseProducer = token_for("mallory").create().expect("a producer");
    stranger
        .send(
            rdkafka::producer::BaseRecord::to("tokens")
                .key("m")
                .payload("as mallory"),
        )
        .expect("queued");
    // Flushed once librdkafka has given up on it (TOPIC_AUTHORIZATION_FAILED is final).
    rdkafka::producer::Producer::flush(&stranger, Duration::from_secs(30)).expect("given up");
    let reader: rdkafka::consumer::BaseConsumer = token_for("alice").create().expect("a consumer");
    let watermarks = rdkafka::consumer::Consumer::fetch_watermarks(&reader, "tokens", 0, Duration::from_secs(10));
    assert_eq!(watermarks.expect("watermarks"), (0, 1), "only alice's record is there");
}

/// An RSA key made by the `openssl` command (ring signs with RSA keys but cannot make
/// them), signing RS256 tokens.
struct RsaSigner {
    kid: &'static str,
    pair: RsaKeyPair,
}

impl RsaSigner {
    fn new(kid: &'static str) -> RsaSigner {
        let made = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-outform",
                "DER",
            ])
            .output()
            .expect("openssl runs");
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        // PKCS#1 from OpenSSL 3, PKCS#8 from others.
        let pair = RsaKeyPair::from_der(&made.stdout)
            .or_else(|_| RsaKeyPair::from_pkcs8(&made.stdout))
            .expect("an RSA key");
        RsaSigner { kid, pair }
    }

    fn jwk(&self) -> Value {
        let public: RsaPublicKeyComponents<Vec<u8>> = self.pair.public().into();
        json!({"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
               "n": URL_SAFE_NO_PAD.encode(&public.n), "e": URL_SAFE_NO_PAD.encode(&public.e)})
    }

    /// A JWS of `claims` signed with this key, its header naming `kid`.
    fn sign(&self, kid: &str, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            encode(&json!({"alg": "RS256", "typ": "JWT", "kid": kid})),
            encode(claims)
        );
        let mut signature = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .expect("signed");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn token(&self, claims: &Value) -> String {
        self.sign(self.kid, claims)
    }
}

/// Claims the signed listener accepts, for `sub`.
fn good_claims(sub: &str) -> Value {
    let now_s = now_ms() / 1000;
    json!({"sub": sub, "iat": now_s, "exp": now_s + 600, "aud": ["tidelog"], "iss": ISSUER})
}

/// The JWKS document of `signers`' public keys.
fn jwks_of(signers: &[&RsaSigner]) -> String {
    let keys: Vec<Value> = signers.iter().map(|s| s.jwk()).collect();
    json!({ "keys": keys }).to_string()
}

fn write_jwks(file: &Path, signers: &[&RsaSigner]) {
    let written = file.with_extension("new");
    std::fs::write(&written, jwks_of(signers)).expect("JWKS written");
    std::fs::rename(&written, file).expect("JWKS replaced");
}

/// A broker whose SASL listener checks signed tokens (Kafka's
/// OAuthBearerValidatorCallbackHandler) against the JWKS at `jwks_url`, started with `env`.
fn signed_broker(jwks_url: &str, env: &[(&str, &str)]) -> Broker {
    Broker::start_on_with_env(
        "SASL_PLAINTEXT",
        &[
            "--override",
            OAUTHBEARER_ONLY,
            "--override",
            "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class=\
             org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
            "--override",
            &format!("sasl.oauthbearer.jwks.endpoint.url={jwks_url}"),
            "--override",
            "sasl.oauthbearer.expected.audience=tidelog",
            "--override",
            &format!("sasl.oauthbearer.expected.issuer={ISSUER}"),
        ],
        env,
    )
}

/// A client authenticated with `token`, signed by a key the broker has not read yet: the
/// first try is refused and asks the broker to read its JWKS again (in the background,
/// never during a login); a later try finds the key.
fn login_once_the_key_is_read(broker: &Broker, token: &str) -> RawClient {
    let mut first = broker.raw();
    assert_eq!(
        authenticate(&mut first, token),
        refused_as_kafka_refuses(),
        "a key not read yet"
    );
    for _ in 0..100 {
        let mut raw = broker.raw();
        if matches!(authenticate(&mut raw, token), Outcome::Authenticated { .. }) {
            return raw;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the broker never read the new key");
}

#[test]
fn signed_tokens_are_checked_against_the_jwks_and_refused_ones_never_logged() {
    let keys = tempfile::tempdir().expect("a directory");
    let jwks = keys.path().join("jwks.json");
    let (signer, stranger) = (RsaSigner::new("k1"), RsaSigner::new("k2"));
    write_jwks(&jwks, &[&signer]);
    let broker = signed_broker(&format!("file://{}", jwks.display()), &[]);

    let good = signer.token(&good_claims("alice"));
    let mut alice = broker.raw();
    let Outcome::Authenticated { session_lifetime_ms } = authenticate(&mut alice, &good) else {
        panic!("a good token refused");
    };
    assert!((1..=600_000).contains(&session_lifetime_ms), "{session_lifetime_ms}");
    assert!(is_served(&mut alice));

    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = good_claims("alice");
        change(&mut claims);
        claims
    };
    let refused_tokens = [
        (
            "expired",
            signer.token(&with(&|c| c["exp"] = (now_ms() / 1000 - 60).into())),
        ),
        (
            "wrong audience",
            signer.token(&with(&|c| c["aud"] = json!(["elsewhere"]))),
        ),
        (
            "wrong issuer",
            signer.token(&with(&|c| c["iss"] = "https://elsewhere.test".into())),
        ),
        ("bad signature", stranger.sign("k1", &good_claims("alice"))),
        ("unknown kid", stranger.token(&good_claims("alice"))),
        (
            "alg none",
            format!("{}.{}.", encode(&json!({"alg": "none"})), encode(&good_claims("alice"))),
        ),
    ];
    for (what, token) in &refused_tokens {
        let mut raw = broker.raw();
        assert_eq!(authenticate(&mut raw, token), refused_as_kafka_refuses(), "{what}");
        raw.assert_closed();
        assert!(is_served(&mut alice), "alice is served after the {what} token");
    }

    // The key rotates: the file is read again, without a restart.
    write_jwks(&jwks, &[&signer, &stranger]);
    let rotated = stranger.token(&good_claims("bob"));
    let mut bob = login_once_the_key_is_read(&broker, &rotated);
    assert!(is_served(&mut bob));

    broker.wait_for_line(&["closing connection", "SASL authentication refused"]);
    let log = broker.log();
    for token in refused_tokens.iter().map(|(_, t)| t).chain([&good, &rotated]) {
        let signature_or_claims = token.rsplit('.').find(|part| !part.is_empty()).expect("a part");
        assert!(!log.contains(signature_or_claims), "a token in the log:\n{log}");
    }
}

#[test]
fn a_session_ends_with_its_token_unless_re_authenticated() {
    let broker = Broker::start_on("SASL_PLAINTEXT", &["--override", OAUTHBEARER_ONLY]);
    // Tokens count in seconds: one that expires in 2 s has 1 to 2 s left.
    let short = unsecured_token("alice", 2);
    let mut lapsing = broker.raw();
    let Outcome::Authenticated { session_lifetime_ms } = authenticate(&mut lapsing, &short) else {
        panic!("refused");
    };
    assert!((1..=2000).contains(&session_lifetime_ms), "{session_lifetime_ms}");

    let mut renewing = broker.raw();
    let first = authenticate(&mut renewing, &short);
    let Outcome::Authenticated {
        session_lifetime_ms: first_ms,
    } = first
    else {
        panic!("refused");
    };
    // KIP-368: a handshake and a new token of the same principal on the open connection.
    let Outcome::Authenticated {
        session_lifetime_ms: renewed_ms,
    } = authenticate(&mut renewing, &unsecured_token("alice", 600))
    else {
        panic!("re-authentication refused");
    };
    assert!(renewed_ms > 2000, "{renewed_ms}");

    std::thread::sleep(Duration::from_millis(session_lifetime_ms.max(first_ms) as u64 + 200));
    assert!(is_served(&mut renewing), "a re-authenticated session goes on");
    lapsing.send(METADATA_VERSION, &RequestBody::Metadata(MetadataRequest::default()));
    broker.assert_closed_and_logged(&mut lapsing, "SASL session expired");
}

/// A JWKS endpoint for the tests: HTTP/1.1 on a local port, over TLS with `tls`, answering
/// every GET with the JWKS it holds now, one answer per connection, for at most 100
/// connections.
struct JwksEndpoint {
    url: String,
    jwks: Arc<Mutex<String>>,
}

impl JwksEndpoint {
    fn start(signers: &[&RsaSigner], tls: Option<Arc<rustls::ServerConfig>>) -> JwksEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
        let port = listener.local_addr().expect("its address").port();
        let url = match tls {
            Some(_) => format!("https://localhost:{port}/.well-known/jwks.json"),
            None => format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
        };
        let jwks = Arc::new(Mutex::new(jwks_of(signers)));
        let served = Arc::clone(&jwks);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(100) {
                let body = served.lock().expect("the JWKS").clone();
                let _ = stream.and_then(|stream| {
                    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
                    match &tls {
                        None => answer(stream, &body),
                        Some(config) => {
                            let session =
                                rustls::ServerConnection::new(Arc::clone(config)).map_err(std::io::Error::other)?;
                            answer(rustls::StreamOwned::new(session, stream), &body)
                        }
                    }
                });
            }
        });
        JwksEndpoint { url, jwks }
    }

    /// What the endpoint serves from now on.
    fn serve(&self, signers: &[&RsaSigner]) {
        *self.jwks.lock().expect("the JWKS") = jwks_of(signers);
    }
}

/// Reads a request's head (up to its blank line, 16 KiB at most) and answers `body`.
fn answer(mut stream: impl Read + Write, body: &str) -> std::io::Result<()> {
    let (mut head, mut buf) = (Vec::new(), [0u8; 1024]);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 << 10 {
        let read = stream.read(&mut buf)?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buf[..read]);
    }
    assert!(head.starts_with(b"GET /.well-known/jwks.json HTTP/1.1\r\n"), "{head:?}");
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

/// TLS for the endpoint: a certificate for `localhost` signed by a CA made here, and the
/// CA written to `ca.pem` in `dir`, for the broker to trust through `SSL_CERT_FILE`.
fn endpoint_tls(dir: &Path) -> (Arc<rustls::ServerConfig>, String) {
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("the CA certificate");
    let key = KeyPair::generate().expect("a key");
    let certificate = CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .signed_by(&key, &ca, &ca_key)
        .expect("a certificate");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("the CA written");
    #[allow(deprecated)] // ring, as the broker's TLS uses it.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![certificate.der().clone()],
            PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
        .expect("the endpoint's certificate");
    (Arc::new(config), ca_file.display().to_string())
}

#[test]
fn a_jwks_endpoint_is_fetched_at_start_and_again_for_a_key_it_rotates_in() {
    let (first, second) = (RsaSigner::new("k1"), RsaSigner::new("k2"));
    let endpoint = JwksEndpoint::start(&[&first], None);
    let broker = signed_broker(&endpoint.url, &[]);
    let mut alice = login(&broker, &first.token(&good_claims("alice")));
    assert!(is_served(&mut alice));

    // The issuer rotates its key: a token of the new one makes the broker fetch the set again.
    endpoint.serve(&[&second]);
    let mut bob = login_once_the_key_is_read(&broker, &second.token(&good_claims("bob")));
    assert!(is_served(&mut bob));
    // The old key left the set, so the broker's.
    let mut old = broker.raw();
    assert_eq!(
        authenticate(&mut old, &first.token(&good_claims("alice"))),
        refused_as_kafka_refuses()
    );
}

#[test]
fn a_jwks_endpoint_over_https_is_trusted_only_through_the_cas_the_broker_trusts() {
    let dir = tempfile::tempdir().expect("a directory");
    let (tls, ca_file) = endpoint_tls(dir.path());
    let signer = RsaSigner::new("k1");
    let endpoint = JwksEndpoint::start(&[&signer], Some(tls));
    let token = signer.token(&good_claims("alice"));
    let trusting = signed_broker(&endpoint.url, &[("SSL_CERT_FILE", &ca_file)]);
    let mut alice = login(&trusting, &token);
    assert!(is_served(&mut alice));

    // A broker with only the system's CAs refuses the endpoint's certificate: no keys.
    let distrusting = signed_broker(&endpoint.url, &[]);
    let mut refused = distrusting.raw();
    assert_eq!(authenticate(&mut refused, &token), refused_as_kafka_refuses());
    distrusting.wait_for_line(&["JWKS endpoint not read at start"]);
}
