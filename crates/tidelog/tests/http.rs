//! The HTTP listener (`http.listeners`): health checks and the metrics page of a real
//! broker process, the listener turned off, and the web console's pages over records,
//! batches and a consumer group that real clients made, its forms, and bad input, and the
//! warning about the console's passwords over plain HTTP beyond loopback. The
//! metrics' values are checked against a known workload by tests/python/test_metrics.py,
//! the console in a real browser by tests/python/test_console.py.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::clients::{
    assigned_partitions, close_consumers, flush, queue, send, TestRecord, CLIENT_TIMEOUT, SETTLE_TIMEOUT,
};
use common::raw;
use common::Broker;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

/// The status code, headers and body of one request (HTTP/1.0: the server closes after
/// answering).
fn request(addr: SocketAddr, head: &str, body: &str, host: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{head}Host: {host}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (headers, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (status, headers.to_string(), body.to_string())
}

/// The status code and body of a GET.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    get_as(addr, path, &addr.to_string())
}

/// A GET with `host` as its `Host` header.
fn get_as(addr: SocketAddr, path: &str, host: &str) -> (u16, String) {
    let (status, _, body) = request(addr, &format!("GET {path} HTTP/1.0\r\n"), "", host);
    (status, body)
}

/// A form POST as a same-origin page sends it: the status, the redirect's target (if any)
/// and the body.
fn post(addr: SocketAddr, path: &str, fields: &[(&str, &str)]) -> (u16, Option<String>, String) {
    post_from(addr, path, fields, &format!("http://{addr}"))
}

fn post_from(addr: SocketAddr, path: &str, fields: &[(&str, &str)], origin: &str) -> (u16, Option<String>, String) {
    let head =
        format!("POST {path} HTTP/1.0\r\nOrigin: {origin}\r\nContent-Type: application/x-www-form-urlencoded\r\n");
    let (status, headers, body) = request(addr, &head, &form_body(fields), &addr.to_string());
    let location = headers
        .lines()
        .find_map(|line| line.strip_prefix("location: ").map(str::to_string));
    (status, location, body)
}

/// A form's fields as a browser posts them.
fn form_body(fields: &[(&str, &str)]) -> String {
    let form: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    form.join("&")
}

/// Percent-encodes every byte but letters and digits (valid in a query and a form).
fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Resets console-group's offsets to `to` (with `offset`) through the form; the committed
/// offsets its page shows then.
fn reset_group(http: SocketAddr, to: &str, offset: &str) -> Vec<String> {
    let (status, _, body) = post(http, "/groups/console-group/reset", &[("to", to), ("offset", offset)]);
    assert_eq!(status, 303, "{body}");
    cells(&get(http, "/groups/console-group").1, "num committed")
}

/// The value of the fact `name` on a page (a labelled box of `layout::facts`).
fn fact(page: &str, name: &str) -> String {
    let open = format!("<dt>{name}</dt><dd>");
    let rest = page
        .split_once(&open)
        .unwrap_or_else(|| panic!("no fact {name}: {page}"))
        .1;
    rest.split("</dd>").next().unwrap().to_string()
}

/// A topic page's config `name`: the value its form holds and its source.
fn config(page: &str, name: &str) -> (String, String) {
    let row = page
        .split_once(&format!("<tr id=\"config-{name}\">"))
        .unwrap_or_else(|| panic!("no config {name}: {page}"))
        .1
        .split("</tr>")
        .next()
        .unwrap();
    let value = row
        .split_once("name=\"value\" value=\"")
        .unwrap()
        .1
        .split('"')
        .next()
        .unwrap();
    (value.to_string(), cells(row, "source").concat())
}

/// The text of every table cell of class `class` on a page.
fn cells(page: &str, class: &str) -> Vec<String> {
    let open = format!("<td class=\"{class}\">");
    page.split(&open)
        .skip(1)
        .map(|rest| rest.split("</td>").next().unwrap().to_string())
        .collect()
}

#[test]
fn health_and_metrics_answer_once_the_broker_serves() {
    let broker = Broker::start(&[]);
    let http = broker.http_addr().expect("an HTTP listener");
    assert_eq!(get(http, "/health/live").0, 200);
    assert_eq!(get(http, "/health/ready"), (200, "ready\n".to_string()));
    broker.raw().api_versions();
    let (status, metrics) = get(http, "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("tidelog_requests_total{api=\"ApiVersions\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE tidelog_log_flush_duration_seconds histogram"),
        "{metrics}"
    );
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");
    let (status, body) = get(http, "/nothing");
    assert_eq!(status, 404);
    assert!(body.contains("No such page."), "{body}");
}

#[test]
fn per_partition_series_can_be_turned_off() {
    let series = |broker: &Broker| {
        broker.admin().create_ok(&[common::clients::new_topic("metered", 2, 1)]);
        let metrics = get(broker.http_addr().expect("an HTTP listener"), "/metrics").1;
        let count = |prefix: &str| metrics.lines().filter(|l| l.starts_with(prefix)).count();
        (
            count("tidelog_log_size_bytes{"),
            count("tidelog_log_end_offset{topic=\"metered\""),
            metrics
                .lines()
                .find(|l| l.starts_with("tidelog_partitions "))
                .map(str::to_string),
        )
    };
    let default = series(&Broker::start(&[]));
    assert_eq!((default.0 >= 2, default.1), (true, 2), "{default:?}");
    let off = Broker::start(&["--override", "metrics.partition.series.enable=false"]);
    let (sizes, ends, partitions) = series(&off);
    assert_eq!((sizes, ends), (0, 0));
    assert_eq!(partitions, default.2, "the partition count stays");
}

/// Records out are counted for reads sent from the file too (a read of 64 KiB or more is a
/// file region the broker never reads, `sendfile`), by the offsets each read takes its
/// consumer past: a fetch from inside a batch gets the whole batch, and counts only the
/// offsets from its fetch offset on.
#[test]
fn records_fetched_are_counted_for_reads_sent_from_the_file() {
    const RECORDS: usize = 400;
    const INSIDE: i64 = 390;
    let broker = Broker::start(&[]);
    let topic = "metered-large";
    broker.admin().create_ok(&[common::clients::new_topic(topic, 1, 1)]);
    let keys: Vec<Vec<u8>> = (0..RECORDS).map(|i| format!("key-{i}").into_bytes()).collect();
    let value = [b'v'; 200];
    let records: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (k.as_slice(), value.as_slice())).collect();
    let batch = raw::batch(1_700_000_000_000, &records);
    // One batch: every read of it is a file region.
    assert!(batch.len() >= 64 << 10, "{}", batch.len());
    let mut client = broker.raw();
    let produced = client.produce(topic, 0, -1, batch.clone());
    assert_eq!((produced.error_code, produced.base_offset), (0, 0), "{produced:?}");
    for from in [0, INSIDE] {
        let read = client.fetch(raw::fetch_request(topic, 0, from, 0, 1));
        assert_eq!(read.error_code, 0, "{read:?}");
        let got = raw::decode_records(&read.records.expect("records"));
        assert_eq!(got.len(), RECORDS, "the whole batch, fetched from {from}");
    }
    let metrics = get(broker.http_addr().expect("an HTTP listener"), "/metrics").1;
    let series = |name: &str| -> u64 {
        let prefix = format!("{name}{{topic=\"{topic}\"}} ");
        let line = metrics.lines().find_map(|l| l.strip_prefix(&prefix));
        line.unwrap_or_else(|| panic!("no {prefix} in {metrics}"))
            .parse()
            .unwrap()
    };
    assert_eq!(series("tidelog_fetch_bytes_total"), 2 * batch.len() as u64);
    assert_eq!(
        series("tidelog_fetch_records_total"),
        (2 * RECORDS) as u64 - INSIDE as u64
    );
}

#[test]
fn an_empty_http_listeners_turns_http_off() {
    let broker = Broker::start(&["--override", "http.listeners="]);
    assert_eq!(broker.http_addr(), None, "{}", broker.log());
}

#[test]
fn the_console_shows_records_batches_segments_and_group_lag() {
    let broker = Broker::start(&[]);
    let http = broker.http_addr().expect("an HTTP listener");
    broker
        .admin()
        .create_ok(&[common::clients::new_topic("console-orders", 1, 1)]);
    let producer = broker.tracked_producer(&[("enable.idempotence", "true"), ("linger.ms", "50")]);
    for i in 0..3 {
        let record = TestRecord {
            key: format!("key-{i}").into_bytes(),
            value: format!("order-{i}").into_bytes(),
            headers: vec![("source".to_string(), Some(b"test".to_vec()))],
            timestamp: 1_700_000_000_000 + i,
        };
        send(&producer, "console-orders", Some(0), i as usize, &record);
    }
    flush(&producer, CLIENT_TIMEOUT);

    let (status, overview) = get(http, "/");
    assert_eq!(status, 200, "{overview}");
    let (_, topics) = get(http, "/topics");
    assert!(topics.contains("href=\"/topics/console-orders\""), "{topics}");
    let listed = topics.matches("<tr><td><a href=\"/topics/").count();
    assert_eq!(fact(&overview, "Topics"), listed.to_string(), "{overview}");
    assert_eq!(fact(&overview, "Brokers"), "1", "{overview}");
    assert_eq!(fact(&overview, "Consumer groups"), "0", "{overview}");
    // The metadata quorum of one voter, which leads it: the topic's creation is committed.
    let node = fact(&overview, "Node id");
    assert_eq!(fact(&overview, "Leader"), node, "{overview}");
    assert_eq!(fact(&overview, "This node"), "Leader", "{overview}");
    assert!(
        fact(&overview, "Leader epoch").parse::<u64>().unwrap() >= 1,
        "{overview}"
    );
    let committed: u64 = fact(&overview, "Committed offset").parse().unwrap();
    let last: u64 = fact(&overview, "Last log offset").parse().unwrap();
    assert!(committed >= 1 && committed <= last, "{overview}");
    assert!(
        fact(&overview, "Voters").starts_with(&format!("{node} (CONTROLLER://")),
        "{overview}"
    );
    // The live charts' totals: what was produced, as /metrics counts it.
    let (status, totals) = get(http, "/overview/throughput.json");
    assert_eq!(status, 200, "{totals}");
    let metrics = get(http, "/metrics").1;
    let produced_bytes = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tidelog_produce_bytes_total{topic=\"console-orders\"} "))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(totals.contains("\"produce_records\":3,"), "{totals}");
    assert!(
        totals.contains(&format!("\"produce_bytes\":{produced_bytes},")),
        "{totals} {produced_bytes}"
    );
    assert!(
        overview.contains("<script src=\"/static/uplot-1.6.32.iife.min.js\" defer></script>"),
        "{overview}"
    );
    let (status, uplot) = get(http, "/static/uplot-1.6.32.iife.min.js");
    assert_eq!(status, 200);
    assert!(uplot.contains("uPlot"), "the vendored uPlot");
    assert_eq!(get(http, "/static/overview.js").0, 200);
    let (status, topic) = get(http, "/topics/console-orders");
    assert_eq!(status, 200, "{topic}");
    // Partition 0: log start 0, high watermark 3, last stable 3, one segment.
    assert_eq!(cells(&topic, "num")[..4], ["0", "0", "3", "3"], "{topic}");
    assert_eq!(
        config(&topic, "retention.ms"),
        ("604800000".to_string(), "DEFAULT_CONFIG".to_string())
    );

    let (status, messages) = get(
        http,
        "/topics/console-orders/partitions/0/messages?mode=offset&offset=1",
    );
    assert_eq!(status, 200, "{messages}");
    assert!(!messages.contains("order-0"), "{messages}");
    assert!(
        messages.contains("<pre>order-1</pre>") && messages.contains("<pre>key-2</pre>"),
        "{messages}"
    );
    assert!(messages.contains("<code>source</code>"), "{messages}");
    // One batch of an idempotent producer: a real producer id, epoch 0, sequence 0.
    let producer_ids = cells(&messages, "num producer");
    assert_eq!(producer_ids.len(), 1, "{messages}");
    let producer_id: i64 = producer_ids[0].parse().unwrap();
    assert!(producer_id >= 0, "{messages}");
    assert!(
        messages.contains("<span class=\"ok\">ok</span>"),
        "the CRC is checked: {messages}"
    );
    let (_, filtered) = get(http, "/topics/console-orders/partitions/0/messages?value=order-2");
    assert!(
        filtered.contains("<pre>order-2</pre>") && !filtered.contains("<pre>order-1</pre>"),
        "{filtered}"
    );
    let (_, first) = get(
        http,
        "/topics/console-orders/partitions/0/messages?mode=offset&offset=0&count=1",
    );
    assert!(
        first.contains("<pre>order-0</pre>") && !first.contains("order-1"),
        "{first}"
    );
    assert!(
        first.contains("2023-11-14 22:13:20.000 UTC"),
        "the producer's timestamp: {first}"
    );
    assert!(first.contains("Next records from offset 1"), "{first}");
    let (_, hex) = get(http, "/topics/console-orders/partitions/0/messages?format=hex&count=1");

    assert!(hex.contains("6f 72 64 65 72 2d 32"), "order-2 in hex: {hex}");

    let (_, segments) = get(http, "/topics/console-orders/partitions/0/segments");
    assert!(segments.contains("00000000000000000000.log"), "{segments}");
    let (status, segment) = get(http, "/topics/console-orders/partitions/0/segments/0");
    assert_eq!(status, 200, "{segment}");
    assert_eq!(cells(&segment, "num producer"), [producer_id.to_string()], "{segment}");
    // The one batch at position 0: offsets 0 to 2, 3 records, epoch 0, sequence 0, its
    // largest timestamp the last record's.
    let row = cells(&segment, "num");
    let bytes = row[4].clone();
    assert_eq!(
        row,
        ["0", "0", "2", "3", &bytes, "0", "0", "1700000000002"],
        "{segment}"
    );
    assert!(
        bytes.parse::<usize>().unwrap() > 61,
        "a header and three records: {segment}"
    );

    // A group that consumed one record: lag 2; reset to latest while it has no members: 0.
    let consumer = broker.consumer("console-group");
    let mut commit = TopicPartitionList::new();
    commit
        .add_partition_offset("console-orders", 0, Offset::Offset(1))
        .unwrap();
    consumer.commit(&commit, CommitMode::Sync).expect("commit");
    let (status, group) = get(http, "/groups/console-group");
    assert_eq!(status, 200, "{group}");
    assert_eq!(cells(&group, "num lag"), ["2"], "{group}");
    let (_, groups) = get(http, "/groups");
    assert!(groups.contains("href=\"/groups/console-group\""), "{groups}");
    let reset = post(
        http,
        "/groups/console-group/reset",
        &[("topic", ""), ("to", "latest"), ("offset", "")],
    );
    assert_eq!(
        (reset.0, reset.1.as_deref()),
        (303, Some("/groups/console-group")),
        "{}",
        reset.2
    );
    let (_, group) = get(http, "/groups/console-group");
    assert_eq!(cells(&group, "num committed"), ["3"], "{group}");
    assert_eq!(cells(&group, "num lag"), ["0"], "{group}");
    // The records' timestamps are 1_700_000_000_000 + their offset: the first record at
    // or after the timestamp. An offset below the log start becomes the log start.
    assert_eq!(reset_group(http, "timestamp", "1700000000001"), ["1"]);
    assert_eq!(reset_group(http, "offset", "-5"), ["0"]);

    // A subscribed member is shown with the partitions the group assigned it.
    let member = broker.consumer("console-members");
    member.subscribe(&["console-orders"]).expect("subscribe");
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while assigned_partitions(&member).is_empty() {
        assert!(Instant::now() < deadline, "the member is assigned a partition in time");
        let _ = member.poll(Duration::from_millis(100));
    }
    let (_, members) = get(http, "/groups/console-members");
    assert_eq!(cells(&members, "assigned"), ["console-orders-0"], "{members}");
    // While it has a member, its offsets are not reset nor is it deleted (NON_EMPTY_GROUP).
    member.commit(&commit, CommitMode::Sync).expect("a member's commit");
    let (status, _, body) = post(http, "/groups/console-members/reset", &[("to", "earliest")]);
    assert_eq!(status, 409, "{body}");
    assert!(
        body.contains("Group console-members has 1 member(s) (state Stable, NON_EMPTY_GROUP)"),
        "{body}"
    );
    let (status, _, body) = post(http, "/groups/console-members/delete", &[]);
    assert_eq!(status, 409, "{body}");
    assert!(
        body.contains("Group console-members has members (NON_EMPTY_GROUP)"),
        "{body}"
    );
    let (_, members) = get(http, "/groups/console-members");
    assert_eq!(cells(&members, "num committed"), ["1"], "unchanged: {members}");
    close_consumers(vec![member], &[]);

    // A page of another site whose name was rebound to the broker's address sends its own
    // name as Host: refused, for reads and forms; loopback names are served.
    let port = http.port();
    let (status, body) = get_as(http, "/groups/console-group", &format!("rebound.example:{port}"));
    assert_eq!(status, 421, "{body}");
    assert!(
        body.contains("Host &quot;rebound.example:") && body.contains("not a name this listener serves"),
        "{body}"
    );
    assert_eq!(get_as(http, "/", &format!("localhost:{port}")).0, 200);
    assert_eq!(get_as(http, "/", &format!("[::1]:{port}")).0, 200);
    assert_eq!(get_as(http, "/", "localhost").0, 421, "another port");
    let head = format!("POST /groups/console-group/delete HTTP/1.0\r\nOrigin: http://rebound.example:{port}\r\n");
    let (status, _, body) = request(http, &head, "", &format!("rebound.example:{port}"));
    assert_eq!(status, 421, "{body}");
    assert_eq!(get(http, "/groups/console-group").0, 200, "not deleted");
    assert_eq!(
        get_as(http, "/metrics", "rebound.example").0,
        200,
        "a scrape is not the console's"
    );

    // A form posted from another site's page is refused and changes nothing.
    let (status, _, body) = post_from(http, "/groups/console-group/delete", &[], "http://evil.example");
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        post(http, "/groups/console-group/delete", &[]).1.as_deref(),
        Some("/groups")
    );
    assert_eq!(get(http, "/groups/console-group").0, 404);
}

/// A KIP-848 group (librdkafka with `group.protocol=consumer`): its page shows what
/// ConsumerGroupDescribe tells, its epochs, assignor and each member's current and target
/// partitions; the list tells it from a classic group.
#[test]
fn the_console_shows_a_kip848_group_as_consumer_group_describe_tells_it() {
    let broker = Broker::start(&["--override", "group.consumer.heartbeat.interval.ms=200"]);
    let http = broker.http_addr().expect("an HTTP listener");
    broker
        .admin()
        .create_ok(&[common::clients::new_topic("kip848-orders", 2, 1)]);
    let consumer: rdkafka::consumer::BaseConsumer = broker
        .client_config()
        .set("group.id", "kip848-console")
        .set("group.protocol", "consumer")
        .set("client.id", "kip848-client")
        .create()
        .expect("create a consumer");
    consumer.subscribe(&["kip848-orders"]).expect("subscribe");
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while assigned_partitions(&consumer).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the member is assigned both partitions in time"
        );
        let _ = consumer.poll(Duration::from_millis(100));
    }
    let (status, page) = get(http, "/groups/kip848-console");
    assert_eq!(status, 200, "{page}");
    assert_eq!(fact(&page, "Protocol"), "KIP-848", "{page}");
    assert_eq!(fact(&page, "State"), "Stable", "{page}");
    assert_eq!(fact(&page, "Assignor"), "uniform", "{page}");
    assert_eq!(fact(&page, "Members"), "1", "{page}");
    let group_epoch: i32 = fact(&page, "Group epoch").parse().unwrap();
    assert!(group_epoch >= 1, "{page}");
    assert_eq!(fact(&page, "Assignment epoch"), group_epoch.to_string(), "{page}");
    assert_eq!(cells(&page, "num epoch"), [group_epoch.to_string()], "{page}");
    assert_eq!(cells(&page, "subscribed"), ["kip848-orders"], "{page}");
    assert_eq!(cells(&page, "assigned"), ["kip848-orders-0, kip848-orders-1"], "{page}");
    assert_eq!(cells(&page, "target"), ["kip848-orders-0, kip848-orders-1"], "{page}");
    assert!(page.contains("<td>kip848-client</td>"), "{page}");
    let (_, groups) = get(http, "/groups");
    assert_eq!(cells(&groups, "type"), ["consumer"], "{groups}");
    close_consumers(vec![consumer], &[]);
}

/// A broker with a SASL listener (PLAIN users admin and alice, SCRAM users set with
/// `tidelog users`) and ACLs; its PLAINTEXT listener's anonymous client is a super user,
/// so that the CLI may set SCRAM credentials.
const SECURED_PROPERTIES: &str = "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0\n\
    listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512\n\
    listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule \
    required username=\"admin\" password=\"admin-secret\" \
    user_admin=\"admin-secret\" user_alice=\"alice-secret\";\n\
    authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
    super.users=User:admin;User:ANONYMOUS\n";

/// A request with HTTP basic authentication as `user:password` (`None`: without).
fn request_as(
    addr: SocketAddr,
    method_path: &str,
    credentials: Option<&str>,
    fields: &[(&str, &str)],
) -> (u16, String, String) {
    use base64::Engine;
    let authorization = credentials.map_or_else(String::new, |c| {
        format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(c)
        )
    });
    let head = format!("{method_path} HTTP/1.0\r\n{authorization}Content-Type: application/x-www-form-urlencoded\r\n");
    request(addr, &head, &form_body(fields), &addr.to_string())
}

/// What the broker logs when the console would ask for passwords over plain HTTP that
/// other hosts can reach.
const CLEAR_TEXT_WARNING: &str = "asks SASL users for their passwords over plain HTTP reachable beyond this host";

/// Basic authentication over plain HTTP is warned about where other hosts can reach it,
/// not on loopback (the default) nor without SASL listeners.
#[test]
fn console_passwords_over_plain_http_beyond_loopback_are_warned_about() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("server.properties");
    std::fs::write(&file, SECURED_PROPERTIES).expect("write the file");
    let exposed = Broker::start_from_file_with(&file, &["--override", "http.listeners=0.0.0.0:0"]);
    exposed.wait_for_line(&[CLEAR_TEXT_WARNING]);
    // Both start only after their HTTP listeners are bound, where the warning is logged.
    let loopback = Broker::start_from_file(&file);
    assert!(!loopback.log().contains(CLEAR_TEXT_WARNING), "{}", loopback.log());
    let without_sasl = Broker::start(&["--override", "http.listeners=0.0.0.0:0"]);
    assert!(
        !without_sasl.log().contains(CLEAR_TEXT_WARNING),
        "{}",
        without_sasl.log()
    );
}

/// With SASL listeners the console asks for their users' passwords (PLAIN's accounts and
/// SCRAM credentials), and with an authorizer each user sees and does what its ACLs allow:
/// a user with none sees no topic and is refused changes with a clear message, a super user
/// sees and does everything. `/metrics` stays open to scrapers.
#[test]
fn the_console_authenticates_sasl_users_and_shows_what_their_acls_allow() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("server.properties");
    std::fs::write(&file, SECURED_PROPERTIES).expect("write the file");
    let broker = Broker::start_from_file(&file);
    let http = broker.http_addr().expect("an HTTP listener");
    let run = common::cli::tidelog(
        &broker,
        &["users", "set", "carol", "--mechanism", "SCRAM-SHA-512"],
        "carol-Pa55\n",
    );
    assert!(run.success, "{}", run.stderr);

    let (status, headers, body) = request_as(http, "GET /topics", None, &[]);
    assert_eq!(status, 401, "{body}");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("www-authenticate: basic realm=\"tidelog console\""),
        "{headers}"
    );
    for wrong in ["alice:admin-secret", "carol:carol-pa55", "nobody:x", "alice"] {
        let (status, _, body) = request_as(http, "GET /topics", Some(wrong), &[]);
        assert_eq!(status, 401, "{wrong}: {body}");
        assert!(
            body.contains("Wrong user name or password.") || body.contains("Sign in"),
            "{body}"
        );
    }
    assert_eq!(get(http, "/metrics").0, 200, "a scrape needs no password");
    assert_eq!(get(http, "/health/ready").0, 200);

    // The super user creates a topic through the console and sees it.
    let admin = Some("admin:admin-secret");
    let (status, headers, body) = request_as(http, "POST /topics", admin, &[("name", "secured"), ("partitions", "1")]);
    assert_eq!(status, 303, "{headers}{body}");
    let (status, _, topics) = request_as(http, "GET /topics", admin, &[]);
    assert_eq!(status, 200, "{topics}");
    assert!(topics.contains("href=\"/topics/secured\""), "{topics}");
    assert_eq!(request_as(http, "GET /topics/secured", admin, &[]).0, 200);

    // Users with no ACLs (PLAIN's alice, SCRAM's carol) sign in and see no topic.
    for user in ["alice:alice-secret", "carol:carol-Pa55"] {
        let (status, _, topics) = request_as(http, "GET /topics", Some(user), &[]);
        assert_eq!(status, 200, "{user}: {topics}");
        assert!(!topics.contains("href=\"/topics/"), "{user}: {topics}");
    }
    // And are refused what their ACLs do not allow, saying why.
    let alice = Some("alice:alice-secret");
    let refusals = [
        ("GET /topics/secured", vec![]),
        ("GET /topics/secured/partitions/0/messages", vec![]),
        ("POST /topics/secured/delete", vec![]),
        ("POST /topics", vec![("name", "alices"), ("partitions", "1")]),
        (
            "POST /topics/secured/partitions/0/produce",
            vec![("key", ""), ("value", "v")],
        ),
        (
            "POST /topics/secured/configs",
            vec![("name", "retention.ms"), ("value", "1000"), ("op", "set")],
        ),
    ];
    for (method_path, fields) in refusals {
        let (status, _, body) = request_as(http, method_path, alice, &fields);
        assert_eq!(status, 403, "{method_path}: {body}");
        let clear = [
            "TOPIC_AUTHORIZATION_FAILED: the ACLs do not allow this",
            "User:alice may not do this",
        ];
        assert!(
            clear.iter().any(|message| body.contains(message)),
            "{method_path}: {body}"
        );
    }
    assert_eq!(
        request_as(http, "GET /topics/secured", admin, &[]).0,
        200,
        "not deleted"
    );
    let log = broker.log();
    for secret in ["alice-secret", "carol-Pa55", "admin-secret"] {
        assert!(!log.contains(secret), "{secret} in the log");
    }
}

#[test]
fn console_forms_create_and_delete_topics_produce_and_refuse_bad_input() {
    let broker = Broker::start(&[]);
    let http = broker.http_addr().expect("an HTTP listener");
    let created = post(
        http,
        "/topics",
        &[
            ("name", "from-console"),
            ("partitions", "2"),
            ("configs", "retention.ms=3600000"),
        ],
    );
    assert_eq!(
        (created.0, created.1.as_deref()),
        (303, Some("/topics/from-console")),
        "{}",
        created.2
    );
    let (_, topic) = get(http, "/topics/from-console");
    assert!(topic.contains("/topics/from-console/partitions/1/messages"), "{topic}");
    let dynamic = |value: &str| (value.to_string(), "DYNAMIC_TOPIC_CONFIG".to_string());
    assert_eq!(config(&topic, "retention.ms"), dynamic("3600000"));
    assert_eq!(
        config(&topic, "cleanup.policy"),
        ("delete".to_string(), "DEFAULT_CONFIG".to_string())
    );
    // Configs edited through IncrementalAlterConfigs: set, refused with its reason, reset.
    let alter = |name: &str, value: &str, op: &str| {
        post(
            http,
            "/topics/from-console/configs",
            &[("name", name), ("value", value), ("op", op)],
        )
    };
    let set = alter("cleanup.policy", "compact", "set");
    assert_eq!(
        (set.0, set.1.as_deref()),
        (303, Some("/topics/from-console#config-cleanup.policy")),
        "{}",
        set.2
    );
    let bad = alter("retention.ms", "soon", "set");
    assert_eq!(bad.0, 400, "{}", bad.2);
    assert!(
        bad.2
            .contains("INVALID_CONFIG: Invalid value soon for configuration retention.ms"),
        "{}",
        bad.2
    );
    let unknown = alter("no.such.config", "1", "set");
    assert_eq!(unknown.0, 400, "{}", unknown.2);
    assert_eq!(alter("retention.ms", "", "delete").0, 303);
    let (_, topic) = get(http, "/topics/from-console");
    assert_eq!(config(&topic, "cleanup.policy"), dynamic("compact"));
    assert_eq!(
        config(&topic, "retention.ms"),
        ("604800000".to_string(), "DEFAULT_CONFIG".to_string()),
        "reset to the default"
    );
    let again = post(http, "/topics", &[("name", "from-console"), ("partitions", "1")]);
    assert_eq!(again.0, 409, "{}", again.2);
    assert!(again.2.contains("TOPIC_ALREADY_EXISTS"), "{}", again.2);
    let bad = post(http, "/topics", &[("name", "x"), ("partitions", "many")]);
    assert_eq!(bad.0, 400, "{}", bad.2);
    let internal = post(http, "/topics/__consumer_offsets/delete", &[]);
    assert_eq!(internal.0, 403, "an internal topic is not deleted: {}", internal.2);

    // A record with HTML in its key, value and header, produced from the form.
    let script = "<script>alert(1)</script>";
    let produced = post(
        http,
        "/topics/from-console/partitions/1/produce",
        &[("key", script), ("value", script), ("headers", &format!("h={script}"))],
    );
    assert_eq!(
        (produced.0, produced.1.as_deref()),
        (
            303,
            Some("/topics/from-console/partitions/1/messages?mode=offset&offset=0")
        ),
        "{}",
        produced.2
    );
    let (status, found) = get(
        http,
        &format!("/topics/from-console/partitions/1/messages?value={}", encode(script)),
    );
    assert_eq!(status, 200, "{found}");
    assert_eq!(
        found.matches("&lt;script&gt;alert(1)&lt;/script&gt;").count(),
        3 + 1,
        "key, value, header and the filter box: {found}"
    );
    assert!(!found.contains("<script"), "{found}");
    let (_, none) = get(
        http,
        &format!("/topics/from-console/partitions/1/messages?key={}", encode(".*[(\\")),
    );
    assert!(none.contains("No records match."), "{none}");

    let (status, body) = get(http, "/topics/no-such-topic");
    assert_eq!(status, 404);
    assert!(body.contains("Unknown topic no-such-topic."), "{body}");
    assert_eq!(get(http, "/topics/no-such-topic/partitions/0/messages").0, 404);
    let (status, body) = get(http, "/topics/from-console/partitions/9/messages");
    assert_eq!(status, 404);
    assert!(body.contains("Topic from-console has no partition 9."), "{body}");
    let (status, body) = get(
        http,
        "/topics/from-console/partitions/0/messages?mode=offset&offset=9223372036854775807",
    );
    assert_eq!(status, 400);
    assert!(body.contains("Offset 9223372036854775807 is out of range"), "{body}");
    let (status, body) = get(
        http,
        "/topics/from-console/partitions/0/messages?mode=offset&offset=99999999999999999999",
    );
    assert_eq!(status, 400);
    assert!(body.contains("Offset must be a whole number"), "{body}");
    assert_eq!(
        get(http, "/topics/from-console/partitions/0/messages?count=100000").0,
        400
    );
    assert_eq!(get(http, "/topics/from-console/partitions/1/segments/12345").0, 404);
    assert_eq!(get(http, "/topics/from-console/partitions/1/segments/zzz").0, 404);
    assert_eq!(get(http, "/groups/nobody").0, 404);

    let deleted = post(http, "/topics/from-console/delete", &[]);
    assert_eq!(deleted.1.as_deref(), Some("/topics"), "{}", deleted.2);
    assert_eq!(get(http, "/topics/from-console").0, 404);
}

#[test]
fn the_segment_inspector_shows_aborted_transactions_and_producer_state() {
    let broker = Broker::start(&[]);
    let http = broker.http_addr().expect("an HTTP listener");
    broker
        .admin()
        .create_ok(&[common::clients::new_topic("console-txn", 1, 1)]);
    let producer = broker.transactional_producer("console-aborter", &[]);
    producer.begin_transaction().expect("begin_transaction");
    queue(
        &producer,
        BaseRecord::to("console-txn").partition(0).key("k").payload("aborted"),
    );
    producer.flush(CLIENT_TIMEOUT).expect("flush");
    producer.abort_transaction(CLIENT_TIMEOUT).expect("abort_transaction");

    let (status, segments) = get(http, "/topics/console-txn/partitions/0/segments");
    assert_eq!(status, 200, "{segments}");
    let producers = cells(&segments, "num pid");
    assert_eq!(producers.len(), 1, "{segments}");
    // The coordinator writes the ABORT marker after it answers EndTxn.
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let segment = loop {
        let (_, segment) = get(http, "/topics/console-txn/partitions/0/segments/0");
        if segment.contains("control</td>") || Instant::now() > deadline {
            break segment;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The aborted record's batch and its ABORT marker, both of that producer.
    assert_eq!(
        cells(&segment, "num producer"),
        [producers[0].clone(), producers[0].clone()],
        "{segment}"
    );
    assert!(segment.contains("<td>transactional, control</td>"), "{segment}");
    // The .txnindex entry: that producer, records 0 to 0, last stable offset 0.
    assert_eq!(cells(&segment, "num pid"), producers, "{segment}");

    // The transactions page: the aborted one, then the next one open on console-txn-0.
    let (status, page) = get(http, "/transactions");
    assert_eq!(status, 200, "{page}");
    assert_eq!(cells(&page, "txn-id"), ["<code>console-aborter</code>"], "{page}");
    assert_eq!(cells(&page, "state"), ["CompleteAbort"], "{page}");
    assert_eq!(cells(&page, "num pid"), producers, "{page}");
    producer.begin_transaction().expect("begin_transaction");
    queue(
        &producer,
        BaseRecord::to("console-txn").partition(0).key("k").payload("open"),
    );
    producer.flush(CLIENT_TIMEOUT).expect("flush");
    let (_, page) = get(http, "/transactions");
    assert_eq!(cells(&page, "state"), ["Ongoing"], "{page}");
    assert_eq!(
        cells(&page, "partitions"),
        ["<a href=\"/topics/console-txn/partitions/0/segments\">console-txn-0</a> "],
        "{page}"
    );
    // Its producers on console-txn: that producer, its open transaction from offset 2
    // (the aborted record 0 and the ABORT marker 1 before it).
    let (status, page) = get(http, "/transactions?topic=console-txn");
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        cells(&page, "num pid"),
        [producers[0].clone(), producers[0].clone()],
        "{page}"
    );
    assert_eq!(cells(&page, "num txn-start"), ["2"], "{page}");
    producer.commit_transaction(CLIENT_TIMEOUT).expect("commit_transaction");
    let (status, body) = get(http, "/transactions?topic=no-such-topic");
    assert_eq!(status, 404);
    assert!(body.contains("Unknown topic no-such-topic."), "{body}");
}
