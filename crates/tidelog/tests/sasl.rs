//! SASL/PLAIN on a SASL_PLAINTEXT listener: librdkafka clients with an account produce and
//! consume, a wrong password is refused, and in raw frames the exchange's steps and
//! refusals (Kafka's error codes, the connection closed), that nothing but ApiVersions is
//! served before authentication, and how `/metrics` counts them. A PLAINTEXT listener
//! answers the SASL requests with ILLEGAL_SASL_STATE.

mod common;

use common::clients::{first_record, new_topic, CLIENT_TIMEOUT};
use common::raw::RawClient;
use common::{serve_on_expecting_exit, Broker};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;
use tidelog_protocol::messages::sasl_authenticate_request::SaslAuthenticateRequest;
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

const ACCOUNTS: &str = "listener.name.sasl_plaintext.plain.sasl.jaas.config=\
    org.apache.kafka.common.security.plain.PlainLoginModule required \
    username=\"admin\" password=\"admin-secret\" \
    user_admin=\"admin-secret\" user_alice=\"alice-secret\";";

fn sasl_broker() -> Broker {
    Broker::start_on("SASL_PLAINTEXT", &["--override", ACCOUNTS])
}

/// A librdkafka client configuration logging in as `user` with `password`.
fn login(broker: &Broker, user: &str, password: &str) -> ClientConfig {
    let mut config = broker.client_config();
    config
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanisms", "PLAIN")
        .set("sasl.username", user)
        .set("sasl.password", password);
    config
}

#[test]
fn clients_with_an_account_produce_and_consume_and_a_wrong_password_is_refused() {
    let broker = sasl_broker();
    let admin: AdminClient<DefaultClientContext> = login(&broker, "alice", "alice-secret")
        .create()
        .expect("an admin client");
    let options = AdminOptions::new().request_timeout(Some(CLIENT_TIMEOUT));
    let created = common::clients::block_on(admin.create_topics(&[new_topic("private", 1, 1)], &options));
    assert_eq!(created.expect("CreateTopics"), [Ok("private".to_string())]);

    let producer: rdkafka::producer::BaseProducer =
        login(&broker, "alice", "alice-secret").create().expect("a producer");
    producer
        .send(BaseRecord::to("private").key("k").payload("for alice"))
        .expect("queued");
    producer.flush(CLIENT_TIMEOUT).expect("delivered");

    let read = first_record(&login(&broker, "admin", "admin-secret"), "private");
    assert_eq!(read, (0, b"for alice".to_vec()));

    // A wrong password gets nothing: no metadata, and the broker logs the refusal.
    let intruder: BaseConsumer = login(&broker, "alice", "guess").create().expect("a client");
    assert!(intruder
        .fetch_metadata(None, Timeout::After(std::time::Duration::from_secs(3)))
        .is_err());
    broker.wait_for_line(&["closing connection", "SASL authentication refused"]);
    let log = broker.log();
    assert!(
        !log.contains("alice-secret") && !log.contains("guess"),
        "a password in the log:\n{log}"
    );
}

fn handshake(raw: &mut RawClient, mechanism: &str) -> (ErrorCode, Vec<String>) {
    raw.sasl_handshake(mechanism)
}

fn authenticate(raw: &mut RawClient, token: &[u8]) -> ErrorCode {
    ErrorCode(raw.sasl_authenticate(token).error_code)
}

#[test]
fn the_exchange_in_raw_frames_and_what_comes_before_it() {
    let broker = sasl_broker();

    // ApiVersions is served before authentication, and lists the SASL APIs.
    let mut raw = broker.raw();
    let keys: Vec<i16> = raw.api_versions().api_keys.iter().map(|k| k.api_key).collect();
    assert!(keys.contains(&17) && keys.contains(&36), "{keys:?}");
    // Anything else closes the connection.
    raw.send(12, &RequestBody::Metadata(Default::default()));
    broker.assert_closed_and_logged(&mut raw, "before SASL authentication");

    // Before authentication a frame may be 512 KiB at most (the listener takes 100 MB after).
    let mut raw = broker.raw();
    raw.send_bytes(&(512 * 1024 + 1u32).to_be_bytes());
    broker.assert_closed_and_logged(&mut raw, "524289");

    // A mechanism we do not offer: refused with the list, and closed.
    let mut raw = broker.raw();
    assert_eq!(
        handshake(&mut raw, "SCRAM-SHA-256"),
        (ErrorCode::UNSUPPORTED_SASL_MECHANISM, vec!["PLAIN".to_string()])
    );
    raw.assert_closed();

    // Between the handshake and authenticating, only SaslAuthenticate.
    let mut raw = broker.raw();
    assert_eq!(handshake(&mut raw, "PLAIN").0, ErrorCode::NONE);
    raw.send(3, &RequestBody::ApiVersions(Default::default()));
    broker.assert_closed_and_logged(&mut raw, "before SASL authentication");

    // Authenticating before the handshake is out of order.
    let mut raw = broker.raw();
    assert_eq!(
        authenticate(&mut raw, b"\0alice\0alice-secret"),
        ErrorCode::ILLEGAL_SASL_STATE
    );
    raw.assert_closed();

    // A wrong password: refused, and closed.
    let mut raw = broker.raw();
    assert_eq!(handshake(&mut raw, "PLAIN").0, ErrorCode::NONE);
    assert_eq!(
        authenticate(&mut raw, b"\0alice\0admin-secret"),
        ErrorCode::SASL_AUTHENTICATION_FAILED
    );
    raw.assert_closed();

    // The right one: the connection is served, and a second handshake is out of order.
    let mut raw = broker.raw();
    assert_eq!(handshake(&mut raw, "PLAIN").0, ErrorCode::NONE);
    assert_eq!(authenticate(&mut raw, b"\0alice\0alice-secret"), ErrorCode::NONE);
    assert_eq!(raw.metadata(None, false).brokers.len(), 1);
    assert_eq!(handshake(&mut raw, "PLAIN").0, ErrorCode::ILLEGAL_SASL_STATE);
    raw.assert_closed();

    // /metrics, by listener: three exchanges refused (the mechanism, the order, the
    // password; the last connection's second handshake came after it authenticated) and
    // one authentication, on seven connections, all closed now.
    let series = |name: &str| format!("tidelog_{name}{{listener=\"SASL_PLAINTEXT\"}}");
    broker.wait_for_metric(&series("authentication_failures_total"), 3.0);
    broker.wait_for_metric(&series("authentications_total"), 1.0);
    // A session that does not expire cannot re-authenticate: its second handshake is no
    // re-authentication.
    broker.wait_for_metric(&series("reauthentication_failures_total"), 0.0);
    broker.wait_for_metric(&series("connections_accepted_total"), 7.0);
    broker.wait_for_metric(&series("connections_closed_total"), 7.0);
    broker.wait_for_metric(&series("connections_open"), 0.0);
}

#[test]
fn a_plaintext_listener_answers_sasl_requests_with_illegal_sasl_state() {
    let broker = Broker::start(&[]);
    let mut raw = broker.raw();
    assert_eq!(handshake(&mut raw, "PLAIN").0, ErrorCode::ILLEGAL_SASL_STATE);
    assert_eq!(authenticate(&mut raw, b"\0a\0b"), ErrorCode::ILLEGAL_SASL_STATE);
    // The connection goes on.
    assert_eq!(raw.metadata(None, false).brokers.len(), 1);
}

#[test]
fn a_sasl_listener_without_accounts_or_with_another_mechanism_does_not_start() {
    let (status, log) = serve_on_expecting_exit("SASL_PLAINTEXT", &[]);
    assert!(!status.success());
    assert!(log.contains("needs accounts"), "{log}");
    let (status, log) = serve_on_expecting_exit(
        "SASL_PLAINTEXT",
        &["--override", ACCOUNTS, "--override", "sasl.enabled.mechanisms=GSSAPI"],
    );
    assert!(!status.success());
    assert!(log.contains("GSSAPI is not supported"), "{log}");
}

/// KIP-368: with `connections.max.reauth.ms` the SaslAuthenticate answer gives the session's
/// lifetime; a client may re-authenticate (same user, same mechanism) and go on; past the
/// lifetime the next request closes the connection, with a log line.
#[test]
fn sessions_live_connections_max_reauth_ms_unless_re_authenticated() {
    let broker = Broker::start_on(
        "SASL_PLAINTEXT",
        &["--override", ACCOUNTS, "--override", "connections.max.reauth.ms=60000"],
    );
    let mut raw = broker.raw();
    assert_eq!(handshake(&mut raw, "PLAIN").0, ErrorCode::NONE);
    let answer = raw.sasl_authenticate(b"\0alice\0alice-secret");
    assert_eq!((answer.error_code, answer.session_lifetime_ms), (0, 60_000));
    assert_eq!(handshake(&mut raw, "PLAIN").0, ErrorCode::NONE);
    let again = raw.sasl_authenticate(b"\0alice\0alice-secret");
    assert_eq!((again.error_code, again.session_lifetime_ms), (0, 60_000));
    assert_eq!(raw.metadata(None, false).brokers.len(), 1);
    // Another user on the same connection is refused, as Kafka refuses it.
    assert_eq!(handshake(&mut raw, "PLAIN").0, ErrorCode::NONE);
    let other = raw.sasl_authenticate(b"\0admin\0admin-secret");
    assert_eq!(
        other.error_message.as_deref(),
        Some("Cannot change principals during re-authentication from User.alice: User.admin")
    );
    raw.assert_closed();
    // /metrics: one authentication, then one re-authentication and one refused, counted
    // apart as Kafka's successful- and failed-reauthentication-total.
    let series = |name: &str| format!("tidelog_{name}{{listener=\"SASL_PLAINTEXT\"}}");
    broker.wait_for_metric(&series("connections_closed_total"), 1.0);
    for (name, count) in [
        ("authentications_total", 1.0),
        ("authentication_failures_total", 0.0),
        ("reauthentications_total", 1.0),
        ("reauthentication_failures_total", 1.0),
    ] {
        broker.wait_for_metric(&series(name), count);
    }

    // A lifetime of 200 ms, and a request 400 ms after authenticating (past it, whatever
    // the machine's speed): the connection is closed.
    let broker = Broker::start_on(
        "SASL_PLAINTEXT",
        &["--override", ACCOUNTS, "--override", "connections.max.reauth.ms=200"],
    );
    let mut raw = broker.raw();
    assert_eq!(handshake(&mut raw, "PLAIN").0, ErrorCode::NONE);
    assert_eq!(raw.sasl_authenticate(b"\0alice\0alice-secret").session_lifetime_ms, 200);
    // A client on SaslAuthenticate v0 (no lifetime in its answer, it cannot re-authenticate)
    // is held to the lifetime all the same, as Kafka holds it.
    let mut old = broker.raw();
    assert_eq!(handshake(&mut old, "PLAIN").0, ErrorCode::NONE);
    let authenticate_v0 = RequestBody::SaslAuthenticate(SaslAuthenticateRequest {
        auth_bytes: bytes::Bytes::from_static(b"\0alice\0alice-secret"),
        ..Default::default()
    });
    match old.request(0, authenticate_v0) {
        ResponseBody::SaslAuthenticate(answer) => assert_eq!(answer.error_code, 0),
        other => panic!("not a SaslAuthenticate response: {other:?}"),
    }
    std::thread::sleep(std::time::Duration::from_millis(400));
    for raw in [&mut raw, &mut old] {
        raw.send(12, &RequestBody::Metadata(Default::default()));
        broker.assert_closed_and_logged(raw, "SASL session expired");
    }
}
