//! Connection limits with Kafka's semantics (ConnectionQuotas): a connection over
//! `max.connections.per.ip` (or its address's override) is closed at once while the others
//! go on; at `max.connections` the broker accepts nothing more until a connection closes;
//! past `max.connection.creation.rate` new connections wait, and are then served; a
//! listener at its own `listener.name.<l>.max.connections` holds its next connection while
//! the other listeners serve.

mod common;

use common::raw::RawClient;
use common::Broker;
use tidelog_protocol::{ApiKey, RequestBody, ResponseBody};

/// A connection the broker has accepted: its ApiVersions is answered.
fn accepted(broker: &Broker) -> RawClient {
    let mut raw = broker.raw();
    assert!(!raw.api_versions().api_keys.is_empty());
    raw
}

#[test]
fn a_connection_over_max_connections_per_ip_is_closed_and_the_others_go_on() {
    // No connection from anywhere (0) but 127.0.0.1, which may have two.
    let broker = Broker::start(&[
        "--override",
        "max.connections.per.ip=0",
        "--override",
        "max.connections.per.ip.overrides=127.0.0.1:2",
    ]);
    let mut first = accepted(&broker);
    let mut second = accepted(&broker);
    let mut third = broker.raw();
    broker.assert_closed_and_logged(&mut third, "max.connections.per.ip");
    assert_eq!(first.metadata(None, false).brokers.len(), 1);
    assert_eq!(second.metadata(None, false).brokers.len(), 1);
}

#[test]
fn at_max_connections_nothing_more_is_accepted_until_one_closes() {
    let broker = Broker::start(&["--override", "max.connections=2"]);
    let first = accepted(&broker);
    let mut second = accepted(&broker);
    // Accepted and held unread, as Kafka's acceptor holds it: its request waits.
    let mut third = broker.raw();
    let correlation_id = third.send(3, &tidelog_protocol::RequestBody::ApiVersions(Default::default()));
    broker.wait_for_line(&["max.connections reached"]);
    drop(first);
    let answer = third.read_response(tidelog_protocol::ApiKey::ApiVersions, 3, correlation_id);
    assert!(matches!(answer, tidelog_protocol::ResponseBody::ApiVersions(_)));
    assert_eq!(second.metadata(None, false).brokers.len(), 1);
    assert_eq!(third.metadata(None, false).brokers.len(), 1);
}

#[test]
fn past_max_connection_creation_rate_connections_wait_and_are_served() {
    let broker = Broker::start(&["--override", "max.connection.creation.rate=1"]);
    let mut clients: Vec<RawClient> = (0..3).map(|_| accepted(&broker)).collect();
    broker.wait_for_line(&["max.connection.creation.rate reached", "rate=1"]);
    for client in &mut clients {
        assert_eq!(client.metadata(None, false).brokers.len(), 1);
    }
}

#[test]
fn a_listener_at_its_max_connections_holds_the_next_while_another_listener_serves() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("server.properties");
    let properties = "listeners=PLAINTEXT://127.0.0.1:0,INTERNAL://127.0.0.1:0\n\
        listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT\n\
        listener.name.internal.max.connections=1\n";
    std::fs::write(&file, properties).expect("write the file");
    let broker = Broker::start_from_file(&file);
    let internal = broker.listener_addr("INTERNAL");
    let mut first = RawClient::connect(internal);
    assert!(!first.api_versions().api_keys.is_empty());
    // Accepted and held unread, as Kafka's acceptor holds it: its request waits.
    let mut second = RawClient::connect(internal);
    let correlation_id = second.send(3, &RequestBody::ApiVersions(Default::default()));
    broker.wait_for_line(&["listener.name.<l>.max.connections reached", "listener=INTERNAL"]);
    // The other listener has no maximum of its own.
    let mut outside = accepted(&broker);
    drop(first);
    let answer = second.read_response(ApiKey::ApiVersions, 3, correlation_id);
    assert!(matches!(answer, ResponseBody::ApiVersions(_)));
    assert_eq!(outside.metadata(None, false).brokers.len(), 1);
}
