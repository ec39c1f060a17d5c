//! Idempotent producers (librdkafka, `enable.idempotence=true`) against the real binary:
//! when connections die with requests in flight, or the broker is killed, the producer's
//! retries leave every record in the log exactly once and in order.

mod common;

use std::time::Duration;

use common::clients::{self, new_topic, send, Received, TestRecord, TrackedProducer};
use common::proxy::CuttingProxy;
use common::{now_ms, wait_until, Broker};

const TOPIC: &str = "exactly-once";

/// Generous: the producer reconnects and retries through every cut.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);

fn record(id: usize) -> TestRecord {
    TestRecord {
        key: format!("id-{id}").into_bytes(),
        value: format!("value-{id}-{}", "x".repeat(id % 200)).into_bytes(),
        headers: vec![],
        timestamp: now_ms(),
    }
}

/// A broker reached only through `proxy`, with a one-partition topic.
fn broker_behind(proxy: &CuttingProxy) -> Broker {
    let advertised = format!("advertised.listeners=PLAINTEXT://{}", proxy.addr());
    let broker = Broker::start(&["--override", &advertised]);
    proxy.forward_to(broker.addr());
    broker.admin().create_ok(&[new_topic(TOPIC, 1, 1)]);
    broker
}

/// An idempotent producer connecting through `proxy`, sending small batches so that many
/// requests are in flight when a connection dies.
fn idempotent_producer(broker: &Broker, proxy: &CuttingProxy) -> TrackedProducer {
    let bootstrap = proxy.addr().to_string();
    broker.tracked_producer(&[
        ("bootstrap.servers", &bootstrap),
        ("enable.idempotence", "true"),
        ("batch.num.messages", "20"),
        ("linger.ms", "1"),
        ("retry.backoff.ms", "20"),
        ("reconnect.backoff.ms", "20"),
        ("reconnect.backoff.max.ms", "200"),
        ("message.timeout.ms", &DELIVERY_TIMEOUT.as_millis().to_string()),
    ])
}

/// Asserts that every record `0..count` was acknowledged at offset `id` and that the
/// partition holds exactly those records, in order.
fn assert_exactly_once(broker: &Broker, producer: &TrackedProducer, count: usize) {
    let deliveries = clients::take_deliveries(producer);
    assert_eq!(deliveries.len(), count, "a delivery report per record");
    for id in 0..count {
        match &deliveries[&id] {
            Ok(at) => assert_eq!(*at, (0, id as i64), "record {id} acknowledged at"),
            Err(error) => panic!("record {id} failed: {error}"),
        }
    }
    let (low, high) = broker.watermarks(TOPIC, 0);
    assert_eq!((low, high), (0, count as i64), "the log holds each record once");
    let stored: Vec<Received> = broker.read_partition(TOPIC, 0, 0, high);
    for (id, message) in stored.iter().enumerate() {
        assert_eq!(message.offset, id as i64);
        assert_eq!(message.key.as_deref(), Some(record(id).key.as_slice()), "offset {id}");
        assert_eq!(
            message.value.as_deref(),
            Some(record(id).value.as_slice()),
            "offset {id}"
        );
    }
}

#[test]
fn retries_after_cut_connections_store_every_record_once_in_order() {
    const RECORDS: usize = 4_000;
    let proxy = CuttingProxy::start();
    let broker = broker_behind(&proxy);
    let producer = idempotent_producer(&broker, &proxy);
    proxy.arm(2_000, 10);
    for id in 0..RECORDS {
        send(&producer, TOPIC, Some(0), id, &record(id));
        if id % 100 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    clients::flush(&producer, DELIVERY_TIMEOUT);
    proxy.disarm();
    assert!(proxy.cuts_done() > 0, "the proxy cut connections");
    assert_exactly_once(&broker, &producer, RECORDS);
}

#[test]
fn retries_across_a_broker_kill_store_every_record_once_in_order() {
    const RECORDS: usize = 4_000;
    /// Sent while the proxy throws the answers away, just before the kill.
    const UNANSWERED: std::ops::Range<usize> = 2_000..2_100;
    let proxy = CuttingProxy::start();
    let mut broker = broker_behind(&proxy);
    let producer = idempotent_producer(&broker, &proxy);
    let send_range = |ids: std::ops::Range<usize>| {
        for id in ids {
            send(&producer, TOPIC, Some(0), id, &record(id));
            if id % 100 == 0 {
                producer.poll(Duration::ZERO);
            }
        }
    };
    send_range(0..UNANSWERED.start);
    clients::flush(&producer, DELIVERY_TIMEOUT);

    // Batches the broker writes but whose answers never arrive: after the restart the
    // producer retries them, and only the producer state rebuilt from the log tells that
    // they are there already.
    let segment = broker.segment_file(TOPIC, 0, 0, "log");
    let size = || std::fs::metadata(&segment).map_or(0, |m| m.len());
    let written = size();
    proxy.drop_responses(true);
    send_range(UNANSWERED);
    producer.poll(Duration::ZERO);
    wait_until("the unanswered batches are written", || {
        (size() > written).then_some(())
    });
    broker.kill9();
    proxy.drop_responses(false);
    broker.restart();
    proxy.forward_to(broker.addr());

    send_range(UNANSWERED.end..RECORDS);
    clients::flush(&producer, DELIVERY_TIMEOUT);
    assert_exactly_once(&broker, &producer, RECORDS);
}
