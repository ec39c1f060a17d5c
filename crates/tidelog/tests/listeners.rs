//! Several listeners at once, each with its security protocol: a PLAINTEXT and a
//! SASL_PLAINTEXT listener of one broker each serve their clients, Metadata names the
//! endpoint of the listener it was asked on, and a client speaking the other protocol is
//! refused as Kafka refuses it, while the broker goes on serving everyone else.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::clients::{block_on, first_record, new_topic, CLIENT_TIMEOUT};
use common::raw::RawClient;
use common::Broker;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;

const SERVER_PROPERTIES: &str = "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0\n\
    listener.name.sasl_plaintext.plain.sasl.jaas.config=\
    org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";\n\
    auto.create.topics.enable=false\n";

/// How long a client that cannot get in tries before the test calls it refused.
const REFUSED_WITHIN: Timeout = Timeout::After(Duration::from_secs(3));

struct TwoListeners {
    broker: Broker,
    _dir: tempfile::TempDir,
    plaintext: SocketAddr,
    sasl: SocketAddr,
}

fn two_listeners() -> TwoListeners {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("server.properties");
    std::fs::write(&file, SERVER_PROPERTIES).expect("write the file");
    let broker = Broker::start_from_file(&file);
    let sasl = broker.listener_addr("SASL_PLAINTEXT");
    TwoListeners {
        plaintext: broker.addr(),
        sasl,
        broker,
        _dir: dir,
    }
}

/// The harness's client settings, bootstrapping from `addr`.
fn plaintext_client(broker: &Broker, addr: SocketAddr) -> ClientConfig {
    let mut config = broker.client_config();
    config.set("bootstrap.servers", addr.to_string());
    config
}

fn sasl_client(broker: &Broker, addr: SocketAddr) -> ClientConfig {
    let mut config = plaintext_client(broker, addr);
    config
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanisms", "PLAIN")
        .set("sasl.username", "alice")
        .set("sasl.password", "alice-secret");
    config
}

fn produce(config: &ClientConfig, topic: &str, payload: &str) {
    let producer: BaseProducer = config.create().expect("a producer");
    producer
        .send(BaseRecord::to(topic).key("k").payload(payload))
        .expect("queued");
    producer.flush(CLIENT_TIMEOUT).expect("delivered");
}

/// The port of the one broker the Metadata response asked through `config` names.
fn advertised_port(config: &ClientConfig) -> i32 {
    let consumer: BaseConsumer = config.create().expect("a client");
    let metadata = consumer.fetch_metadata(None, CLIENT_TIMEOUT).expect("metadata");
    let brokers = metadata.brokers();
    assert_eq!(brokers.len(), 1);
    brokers[0].port()
}

#[test]
fn each_listener_serves_its_protocol_and_advertises_itself() {
    let TwoListeners {
        broker,
        plaintext,
        sasl,
        ..
    } = two_listeners();
    assert_ne!(plaintext.port(), sasl.port());
    let (plain, secure) = (plaintext_client(&broker, plaintext), sasl_client(&broker, sasl));

    let admin: AdminClient<DefaultClientContext> = secure.create().expect("an admin client");
    let options = AdminOptions::new().request_timeout(Some(CLIENT_TIMEOUT));
    let topics = [new_topic("plain-side", 1, 1), new_topic("sasl-side", 1, 1)];
    let created = block_on(admin.create_topics(&topics, &options)).expect("CreateTopics");
    assert!(created.iter().all(Result::is_ok), "{created:?}");

    // Each side produces, and each reads what the other wrote: one broker behind both.
    produce(&plain, "plain-side", "by plaintext");
    produce(&secure, "sasl-side", "by alice");
    assert_eq!(first_record(&secure, "plain-side"), (0, b"by plaintext".to_vec()));
    assert_eq!(first_record(&plain, "sasl-side"), (0, b"by alice".to_vec()));

    // Metadata names the endpoint of the listener it was asked on.
    assert_eq!(advertised_port(&plain), i32::from(plaintext.port()));
    assert_eq!(advertised_port(&secure), i32::from(sasl.port()));
    assert!(!broker.log().contains("alice-secret"), "a password in the log");
}

#[test]
fn a_client_of_the_other_protocol_is_refused_and_others_are_served() {
    let TwoListeners {
        broker,
        plaintext,
        sasl,
        ..
    } = two_listeners();

    // SASL on the PLAINTEXT listener: the handshake is answered ILLEGAL_SASL_STATE, so the
    // client never authenticates.
    let confused: BaseConsumer = sasl_client(&broker, plaintext).create().expect("a client");
    assert!(confused.fetch_metadata(None, REFUSED_WITHIN).is_err());

    // No SASL on the SASL_PLAINTEXT listener: its Metadata request closes the connection.
    let stranger: BaseConsumer = plaintext_client(&broker, sasl).create().expect("a client");
    assert!(stranger.fetch_metadata(None, REFUSED_WITHIN).is_err());
    broker.wait_for_line(&["closing connection", "before SASL authentication"]);

    // A raw connection shows the same refusal, and both listeners keep serving.
    let mut raw = RawClient::connect(sasl);
    raw.send(7, &tidelog_protocol::RequestBody::Metadata(Default::default()));
    raw.assert_closed();
    assert_eq!(
        advertised_port(&plaintext_client(&broker, plaintext)),
        i32::from(plaintext.port())
    );
    assert_eq!(advertised_port(&sasl_client(&broker, sasl)), i32::from(sasl.port()));
}
