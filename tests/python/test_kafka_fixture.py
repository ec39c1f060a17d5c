"""Tidelog serves a data directory Apache Kafka 4.0 wrote (tests/fixtures/kafka-4.0, copied
first): every record exactly as Kafka served it (manifest.json), the log starts and high
watermarks, the groups' committed offsets, the topic config overrides; the transactional id
Kafka's producer used goes on, and new records append after the old ones, also after a
restart. kafka-python is the client: its own implementation of the protocol."""

import base64
import json
import shutil
import stat
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from conftest import admin_client, start_broker

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "kafka-4.0"
MANIFEST = json.loads((FIXTURE / "manifest.json").read_text())
# The committed offsets are older than Kafka's 7-day offsets.retention.minutes (README).
NEVER_EXPIRE = "offsets.retention.minutes=100000000"


def decode(text):
    return None if text is None else base64.b64decode(text)


def copy_fixture(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(FIXTURE / "data", data)
    for path in [data, *data.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return data


def serve_fixture(tmp_path):
    copy_fixture(tmp_path)
    return start_broker(tmp_path, extra_args=("--node-id", str(MANIFEST["node_id"]), "--override", NEVER_EXPIRE))


def read_partition(broker, topic, partition, isolation, end):
    """Every record of the partition below `end` (its high watermark), as (offset,
    timestamp, timestamp type, key, value, headers)."""
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, isolation_level=isolation,
                             enable_auto_commit=False, request_timeout_ms=30000)
    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    records = []
    # Bounded: a broker that serves less than it should fails the comparison, not the loop.
    for _ in range(100):
        if consumer.position(tp) >= end:
            break
        for message in consumer.poll(timeout_ms=1000).get(tp, []):
            records.append((message.offset, message.timestamp, message.timestamp_type + 1, message.key,
                            message.value, [(k, v) for k, v in message.headers]))
    consumer.close()
    return records


def expected_records(entries):
    return [(r["offset"], r["timestamp"], r["timestamp_type"], decode(r["key"]), decode(r["value"]),
             [(k, decode(v)) for k, v in r["headers"]]) for r in entries]


def offsets(broker, topic, partitions):
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    starts = consumer.beginning_offsets(tps)
    ends = consumer.end_offsets(tps)
    consumer.close()
    return {tp.partition: (starts[tp], ends[tp]) for tp in tps}


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
    for group, committed in MANIFEST["groups"].items():
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False)
        for name, offset in committed.items():
            topic, partition = name.rsplit("-", 1)
            assert consumer.committed(TopicPartition(topic, int(partition))) == offset, f"{group} {name}"
        consumer.close()
    admin = admin_client(broker)
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, topic) for topic in MANIFEST["configs"]]
        described = admin.describe_configs(resources)["topic"]
        overrides = {topic: {key: entry["value"] for key, entry in entries.items()
                             if entry["config_source"] == "DYNAMIC_TOPIC_CONFIG"}
                     for topic, entries in described.items()}
        assert overrides == MANIFEST["configs"]
    finally:
        admin.close()


def test_a_kafka_data_directory_is_served_as_kafka_served_it(tmp_path):
    broker = serve_fixture(tmp_path)
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
