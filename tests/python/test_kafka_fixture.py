"""Tidelog serves a data directory Apache Kafka 4.0 wrote (tests/fixtures/kafka-4.0, copied
first): every record exactly as Kafka served it (manifest.json), the log starts and high
watermarks, the groups' committed offsets, the topic config overrides; the transactional id
Kafka's producer used goes on, and new records append after the old ones, also after a
restart. kafka-python is the client: its own implementation of the protocol."""

import base64
import json

from kafka import KafkaProducer

from conftest import admin_client
from directories import FIXTURES, committed, dynamic_configs, offsets, read_partition, serve_copy

MANIFEST = json.loads((FIXTURES / "kafka-4.0" / "manifest.json").read_text())


def decode(text):
    return None if text is None else base64.b64decode(text)


def expected_records(entries):
    return [(r["offset"], r["timestamp"], r["timestamp_type"], decode(r["key"]), decode(r["value"]),
             [(k, decode(v)) for k, v in r["headers"]]) for r in entries]


def assert_serves_the_manifest(broker):
    for topic, spec in MANIFEST["topics"].items():
        served = offsets(broker, topic, spec["partitions"])
        for isolation in ("read_committed", "read_uncommitted"):
            for partition, expected in spec.get(isolation, {}).items():
                partition = int(partition)
                assert served[partition] == (expected["log_start_offset"], expected["high_watermark"]), \
                    f"{topic}-{partition} log start and high watermark"
                got = read_partition(broker, topic, partition, isolation, expected["high_watermark"])
                assert got == expected_records(expected["records"]), f"{topic}-{partition} {isolation}"
    for group, expected in MANIFEST["groups"].items():
        assert committed(broker, group, expected) == expected, group
    admin = admin_client(broker)
    try:
        assert dynamic_configs(admin, MANIFEST["configs"]) == MANIFEST["configs"]
    finally:
        admin.close()


def test_a_kafka_data_directory_is_served_as_kafka_served_it(tmp_path):
    broker = serve_copy(tmp_path, "kafka-4.0", MANIFEST["node_id"])
    try:
        assert_serves_the_manifest(broker)
        # Kafka's transactional id goes on: its epoch is bumped, a new transaction commits.
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id="fixture-txn",
                                 request_timeout_ms=30000)
        producer.init_transactions()
        producer.begin_transaction()
        txn_end = MANIFEST["topics"]["txn"]["read_uncommitted"]["0"]["high_watermark"]
        sent = producer.send("txn", key=b"new", value=b"after kafka", partition=0).get(30)
        producer.commit_transaction()
        producer.close()
        assert sent.offset == txn_end
        # Plain appends continue where Kafka's records end.
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        plain_end = MANIFEST["topics"]["plain"]["read_committed"]["0"]["high_watermark"]
        assert producer.send("plain", key=b"k", value=b"after kafka", partition=0).get(30).offset == plain_end
        producer.close()
        broker.restart()
        records = read_partition(broker, "txn", 0, "read_committed", txn_end + 2)
        assert records[-1][3:5] == (b"new", b"after kafka"), records[-3:]
        assert read_partition(broker, "plain", 0, "read_committed", plain_end + 1)[-1][0] == plain_end
    finally:
        print("---- tidelog log ----\n" + broker.log())
        if broker.process.poll() is None:
            assert broker.stop() == 0, broker.log()
