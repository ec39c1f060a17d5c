//! Hostile or broken input: each case closes only the offending connection (with a log
//! line saying why) or gets the answer Kafka gives, and the broker goes on serving other
//! clients. Also: how `tidelog serve` treats invalid and unknown configuration.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::clients::new_topic;
use common::Broker;
use tidelog_protocol::messages::api_versions_response::ApiVersionsResponse;
use tidelog_protocol::{ApiKey, ErrorCode, ResponseBody};

/// Asserts that other clients are served: raw ApiVersions and Metadata on a new
/// connection, and a topic created and listed through librdkafka.
fn assert_still_serving(broker: &Broker) {
    static TOPICS: AtomicUsize = AtomicUsize::new(0);
    let mut raw = broker.raw();
    let versions = raw.api_versions();
    assert_eq!(ErrorCode(versions.error_code), ErrorCode::NONE);
    assert!(versions.api_keys.iter().any(|k| k.api_key == ApiKey::Metadata as i16));
    let metadata = raw.metadata(None, false);
    let ports: Vec<i32> = metadata.brokers.iter().map(|b| b.port).collect();
    assert_eq!(ports, [i32::from(broker.addr().port())]);

    let topic = format!("after-bad-input-{}", TOPICS.fetch_add(1, Ordering::Relaxed));
    let admin = broker.admin();
    admin.create_ok(&[new_topic(&topic, 1, 1)]);
    assert!(admin.topic_partitions().contains(&(topic, 1)));
}

/// A length prefix followed by `body`.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    frame
}

#[test]
fn frame_over_socket_request_max_bytes_closes_only_that_connection() {
    let broker = Broker::start(&["--override", "socket.request.max.bytes=1024"]);
    let mut bystander = broker.raw();
    assert_eq!(bystander.api_versions().error_code, 0);

    let mut client = broker.raw();
    client.send_bytes(&1025u32.to_be_bytes());
    broker.assert_closed_and_logged(&mut client, "1025");

    // The connection opened before is untouched, and requests under the limit still work.
    assert_eq!(bystander.api_versions().error_code, 0);
    assert_still_serving(&broker);
}

#[test]
fn huge_and_negative_length_prefixes_close_the_connection() {
    let broker = Broker::start(&[]);
    let cases = [
        (0x7fff_ffffu32, "frame of 2147483647 bytes exceeds the limit"),
        (0x8000_0000, "negative frame length -2147483648"),
        (0xffff_ffff, "negative frame length -1"),
    ];
    for (prefix, reason) in cases {
        let mut client = broker.raw();
        client.send_bytes(&prefix.to_be_bytes());
        broker.assert_closed_and_logged(&mut client, reason);
    }
    assert_still_serving(&broker);
}

#[test]
fn truncated_frame_then_close_is_logged() {
    let broker = Broker::start(&[]);
    let mut client = broker.raw();
    client.send_bytes(&100u32.to_be_bytes());
    client.send_bytes(&[0u8; 10]);
    client.shutdown_write();
    broker.assert_closed_and_logged(&mut client, "inside a frame");
    assert_still_serving(&broker);
}

#[test]
fn garbage_bytes_close_the_connection() {
    let broker = Broker::start(&[]);
    // An HTTP request: "GET " read as a length is over 1 GiB.
    let mut http = broker.raw();
    http.send_bytes(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    broker.assert_closed_and_logged(&mut http, "exceeds the limit");
    // A well-framed body of noise: API key 0xfffe, then junk.
    let mut noise = broker.raw();
    noise.send_bytes(&frame(b"\xff\xfe\x13\x37 this is not a kafka request \x00\xff"));
    broker.assert_closed_and_logged(&mut noise, "undecodable");
    assert_still_serving(&broker);
}

#[test]
fn unknown_api_key_closes_the_connection() {
    let broker = Broker::start(&[]);
    let mut client = broker.raw();
    client.send_hand_made(999, 0, &[]);
    broker.assert_closed_and_logged(&mut client, "unknown API key 999");
    assert_still_serving(&broker);
}

#[test]
fn one_byte_frame_closes_the_connection() {
    let broker = Broker::start(&[]);
    let mut client = broker.raw();
    client.send_bytes(&frame(&[0x00]));
    broker.assert_closed_and_logged(&mut client, "undecodable");
    assert_still_serving(&broker);
}

/// A flood of bad frames does not flood the log: in an interval (10 s) the first hundred
/// rejections get their own line, the others are counted in a summary line by reason and
/// peer; every rejection is in one or the other.
#[test]
fn a_flood_of_bad_frames_writes_a_bounded_number_of_lines() {
    const FLOOD: usize = 1000;
    let mut broker = Broker::start(&[]);
    for _ in 0..FLOOD {
        let mut client = broker.raw();
        client.send_bytes(&frame(&[0x00]));
        client.assert_closed();
    }
    assert_still_serving(&broker);
    // The summary of the interval still open is written at shutdown.
    broker.stop();
    broker.wait_for_line(&["not logged one by one"]);
    let log = broker.log();
    let one_by_one = log
        .lines()
        .filter(|l| l.contains("closing connection: undecodable"))
        .count();
    let summaries: Vec<&str> = log.lines().filter(|l| l.contains("not logged one by one")).collect();
    let suppressed: usize = summaries
        .iter()
        .map(|line| {
            let count = line.split("suppressed=").nth(1).expect("a count");
            count
                .split_whitespace()
                .next()
                .unwrap()
                .parse::<usize>()
                .expect("a number")
        })
        .sum();
    assert_eq!(one_by_one + suppressed, FLOOD, "{summaries:?}");
    // A hundred an interval: the flood would have to last over 20 s to pass 200.
    assert!((100..=200).contains(&one_by_one), "{one_by_one} lines");
    assert!(
        summaries
            .iter()
            .all(|l| l.contains("undecodable request: ") && l.contains("127.0.0.1: ")),
        "{summaries:?}"
    );
}

#[test]
fn unsupported_version_of_a_known_api_closes_the_connection() {
    let broker = Broker::start(&[]);
    let mut client = broker.raw();
    client.send_hand_made(ApiKey::Metadata as i16, 99, &[]);
    broker.assert_closed_and_logged(&mut client, "version 99");
    assert_still_serving(&broker);
}

#[test]
fn api_versions_above_ours_gets_a_v0_unsupported_version_answer() {
    let broker = Broker::start(&[]);
    let mut client = broker.raw();
    // A v3-shaped body (client name and version, no tags); at v99 its content is unknown.
    let body = [4, b'e', b'2', b'e', 2, b'1', 0];
    let correlation_id = client.send_hand_made(ApiKey::ApiVersions as i16, 99, &body);
    let fallback = match client.read_response(ApiKey::ApiVersions, 0, correlation_id) {
        ResponseBody::ApiVersions(response) => response,
        other => panic!("not an ApiVersions response: {other:?}"),
    };
    assert_eq!(ErrorCode(fallback.error_code), ErrorCode::UNSUPPORTED_VERSION);
    let (min, max) = version_range(&fallback, ApiKey::ApiVersions).expect("ApiVersions is listed");
    assert!(
        min == 0 && max >= common::raw::API_VERSIONS_VERSION,
        "ApiVersions {min}..={max}"
    );
    assert!(version_range(&fallback, ApiKey::Metadata).is_some());

    // The client retries on the same connection at a version from the list, as clients do,
    // and gets the same list without an error.
    let retried = client.api_versions();
    assert_eq!(ErrorCode(retried.error_code), ErrorCode::NONE);
    assert_eq!(retried.api_keys, fallback.api_keys);
    assert_still_serving(&broker);
}

fn version_range(response: &ApiVersionsResponse, api: ApiKey) -> Option<(i16, i16)> {
    response
        .api_keys
        .iter()
        .find(|k| k.api_key == api as i16)
        .map(|k| (k.min_version, k.max_version))
}

#[test]
fn invalid_config_value_refuses_to_start_naming_the_property() {
    for (property, value) in [
        ("num.partitions", "0"),
        ("auto.create.topics.enable", "maybe"),
        ("default.replication.factor", "0"),
    ] {
        let setting = format!("{property}={value}");
        let (status, log) = common::serve_expecting_exit(&["--override", &setting]);
        assert!(!status.success(), "{setting}: exited with {status}");
        let message = log
            .lines()
            .find(|line| line.contains("tidelog:"))
            .unwrap_or_else(|| panic!("{setting}: no error message in:\n{log}"));
        assert!(
            message.contains(property) && message.contains(value),
            "{setting}: {message}"
        );
    }
}

/// The property lines of Kafka 4.0's shipped `config/server.properties`; its `log.dirs`
/// is overridden by the harness's `--log-dirs`.
const KAFKA_4_SERVER_PROPERTIES: &str = include_str!("../../../tests/fixtures/kafka-4.0-server.properties");

#[test]
fn kafkas_stock_server_properties_start_the_broker() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("server.properties");
    std::fs::write(&file, KAFKA_4_SERVER_PROPERTIES).expect("write the file");
    // Its listener is Kafka's port, 9092, on every interface.
    let broker = Broker::start_from_file(&file);
    assert_eq!(broker.addr().port(), 9092, "{}", broker.log());
    // The controller listener and the properties without meaning on one node are reported
    // in one line, and nothing is called unknown; the quorum's properties (process.roles,
    // controller.quorum.bootstrap.servers) are read and checked, so not among them.
    let log = broker.wait_for_line(&["not used on a single node", "CONTROLLER://:9093"]);
    assert!(
        log.contains("num.io.threads") && !log.contains("process.roles"),
        "{log}"
    );
    assert!(!broker.log().contains("unknown propert"), "{}", broker.log());
    assert_still_serving(&broker);
}

#[test]
fn unknown_property_only_warns() {
    let broker = Broker::start(&["--override", "no.such.property=1"]);
    broker.wait_for_line(&["WARN", "unknown properties ignored", "no.such.property"]);
    assert_still_serving(&broker);
}

#[test]
fn a_port_in_use_is_refused_naming_the_address() {
    let broker = Broker::start(&[]);
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("server.properties");
    std::fs::write(&file, format!("listeners=PLAINTEXT://{}\n", broker.bootstrap())).unwrap();
    // "" as the protocol: the listener comes from the file.
    let data = dir.path().join("data");
    let (status, log) = common::serve_dir_expecting_exit(&data, "", &["--config", file.to_str().unwrap()]);
    assert!(!status.success(), "{log}");
    assert!(log.contains(&format!("cannot listen: {}", broker.bootstrap())), "{log}");
    assert_still_serving(&broker);
}
