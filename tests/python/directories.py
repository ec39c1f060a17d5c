"""Helpers for the tests that serve a data directory another broker wrote (a fixture under
tests/fixtures, copied first): start Tidelog on the copy, and read back what it serves."""

import shutil
import stat
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from conftest import start_broker

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# Fixtures' committed offsets outlive the default offsets.retention.minutes (7 days).
NEVER_EXPIRE = "offsets.retention.minutes=100000000"


def serve_copy(tmp_path, fixture, node_id):
    """A broker on a writable copy of `fixture`'s `data/` (the fixture itself stays as it is)."""
    data = tmp_path / "data"
    shutil.copytree(FIXTURES / fixture / "data", data)
    for path in [data, *data.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return start_broker(tmp_path, extra_args=("--node-id", str(node_id), "--override", NEVER_EXPIRE))


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


def offsets(broker, topic, partitions):
    """Each partition's (log start, high watermark)."""
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    starts = consumer.beginning_offsets(tps)
    ends = consumer.end_offsets(tps)
    consumer.close()
    return {tp.partition: (starts[tp], ends[tp]) for tp in tps}


def committed(broker, group, names):
    """The committed offset of `group` for each `topic-partition` of `names`."""
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False)
    found = {}
    for name in names:
        topic, partition = name.rsplit("-", 1)
        found[name] = consumer.committed(TopicPartition(topic, int(partition)))
    consumer.close()
    return found


def dynamic_configs(admin, topics):
    """Each topic's config overrides (DYNAMIC_TOPIC_CONFIG)."""
    from kafka.admin import ConfigResource, ConfigResourceType
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])["topic"]
    return {topic: {key: entry["value"] for key, entry in entries.items()
                    if entry["config_source"] == "DYNAMIC_TOPIC_CONFIG"}
            for topic, entries in described.items()}
