"""Topic administration through kafka-python, a client with its own protocol code (not
librdkafka): create, describe, configs (altered too), add partitions, delete topics and
records, and Kafka's error codes."""

import time

import pytest
from conftest import admin_client
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import (
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    InvalidTopicError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)


def topic_spec(partitions, replication_factor=1, **configs):
    """kafka-python's dict form of a new topic. Explicit counts: until Tidelog advertises
    Produce/Fetch, kafka-python guesses a pre-2.4 broker and refuses -1 defaults."""
    return {"num_partitions": partitions, "replication_factor": replication_factor, "configs": configs}


def errors_by_topic(response):
    return {t["name"]: t["error_code"] for t in response["topics"]}


def partition_counts(admin):
    return {t["name"]: len(t["partitions"]) for t in admin.describe_topics()}


def topic_configs(admin, topic, config_filter):
    result = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter=config_filter)
    return result["topic"][topic]


def test_create_describe_grow_and_delete_topics(admin):
    response = admin.create_topics({
        "orders": topic_spec(3, **{"retention.ms": "60000", "cleanup.policy": "compact"}),
        "events": topic_spec(1),
    })
    assert errors_by_topic(response) == {"orders": 0, "events": 0}
    created = {t["name"]: (t["num_partitions"], t["replication_factor"]) for t in response["topics"]}
    assert created == {"orders": (3, 1), "events": (1, 1)}

    assert sorted(admin.list_topics()) == ["events", "orders"]
    (orders,) = admin.describe_topics(["orders"])
    assert orders["error_code"] == 0
    assert [(p["partition_index"], p["leader_id"], p["replica_nodes"]) for p in orders["partitions"]] == [
        (0, 1, [1]), (1, 1, [1]), (2, 1, [1])]

    # The default filter keeps what was set on the topic; "all" adds Kafka's defaults.
    modified = topic_configs(admin, "orders", "modified")
    assert {name: (c["value"], c["config_source"]) for name, c in modified.items()} == {
        "retention.ms": ("60000", "DYNAMIC_TOPIC_CONFIG"),
        "cleanup.policy": ("compact", "DYNAMIC_TOPIC_CONFIG"),
    }
    everything = topic_configs(admin, "orders", "all")
    for name, value in [("segment.bytes", "1073741824"), ("max.message.bytes", "1048588"),
                        ("retention.bytes", "-1")]:
        assert (everything[name]["value"], everything[name]["config_source"]) == (value, "DEFAULT_CONFIG")

    admin.create_partitions({"orders": 5})
    assert partition_counts(admin) == {"orders": 5, "events": 1}

    admin.delete_topics(["events"])
    assert admin.list_topics() == ["orders"]


def test_refusals_carry_kafka_error_codes(admin):
    admin.create_topics({"taken": topic_spec(2)})

    response = admin.create_topics({
        "three-replicas": topic_spec(1, replication_factor=3),
        "../x": topic_spec(1),
        "x" * 250: topic_spec(1),
        "taken": topic_spec(1),
        "bad-config": topic_spec(1, **{"cleanup.policy": "forever"}),
    }, raise_errors=False)
    assert errors_by_topic(response) == {
        "three-replicas": InvalidReplicationFactorError.errno,
        "../x": InvalidTopicError.errno,
        "x" * 250: InvalidTopicError.errno,
        "taken": TopicAlreadyExistsError.errno,
        "bad-config": 40,  # INVALID_CONFIG
    }
    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topics({"taken": topic_spec(2)})
    with pytest.raises(InvalidPartitionsError):
        admin.create_partitions({"taken": 1})
    with pytest.raises(UnknownTopicOrPartitionError):
        admin.delete_topics(["missing"])
    # Nothing refused changed anything.
    assert partition_counts(admin) == {"taken": 2}


def test_validate_only_creates_nothing(admin):
    response = admin.create_topics({"checked": topic_spec(4)}, validate_only=True)
    assert errors_by_topic(response) == {"checked": 0}
    assert admin.list_topics() == []


def test_topics_survive_a_restart(broker, admin):
    admin.create_topics({"durable": topic_spec(2, **{"retention.ms": "60000"})})
    (before,) = admin.describe_topics(["durable"])

    broker.restart()
    again = admin_client(broker)
    try:
        (after,) = again.describe_topics(["durable"])
        assert (after["topic_id"], len(after["partitions"])) == (before["topic_id"], 2)
        assert topic_configs(again, "durable", "modified")["retention.ms"]["value"] == "60000"
    finally:
        again.close()


def test_configs_are_altered_on_a_running_broker(broker, admin):
    admin.create_topics({"tuned": topic_spec(1, **{"segment.ms": "3600000"})})
    tuned = lambda **configs: [ConfigResource(ConfigResourceType.TOPIC, "tuned", configs=configs)]
    modified = lambda client: {
        name: c["value"] for name, c in topic_configs(client, "tuned", "modified").items()}

    # kafka-python picks IncrementalAlterConfigs, which Tidelog advertises: SET and APPEND.
    assert admin.alter_configs(tuned(**{
        "retention.ms": "60000", "cleanup.policy": ("APPEND", "compact")})) == {"topic": {"tuned": "OK"}}
    assert modified(admin) == {
        "segment.ms": "3600000", "retention.ms": "60000", "cleanup.policy": "delete,compact"}
    # The older AlterConfigs, to which kafka-python adds the other overrides itself.
    assert admin.alter_configs(tuned(**{"max.message.bytes": "2048"}), incremental=False) == {
        "topic": {"tuned": "OK"}}
    # A reset is a DELETE: back to the default.
    assert admin.reset_configs(tuned(**{"cleanup.policy": None})) == {"topic": {"tuned": "OK"}}
    expected = {"segment.ms": "3600000", "retention.ms": "60000", "max.message.bytes": "2048"}
    assert modified(admin) == expected

    refused = admin.alter_configs(tuned(**{"retention.ms": "-5"}))["topic"]["tuned"]
    assert "InvalidConfigurationError" in str(refused)
    assert modified(admin) == expected

    broker.restart()
    again = admin_client(broker)
    try:
        assert modified(again) == expected
    finally:
        again.close()


def test_delete_records_moves_the_earliest_offset(broker, admin):
    admin.create_topics({"trimmed": topic_spec(1)})
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for i in range(10):
        producer.send("trimmed", value=str(i).encode(), partition=0)
    producer.flush()
    producer.close()
    partition = TopicPartition("trimmed", 0)

    deleted = admin.delete_records({partition: 4})
    assert deleted[partition]["low_watermark"] == 4
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    try:
        assert consumer.beginning_offsets([partition]) == {partition: 4}
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        batches, deadline = {}, time.monotonic() + 30
        while not batches:
            assert time.monotonic() < deadline, "no records after the new start"
            batches = consumer.poll(timeout_ms=100)
        assert [r.value for r in batches[partition]][:1] == [b"4"]
    finally:
        consumer.close()


def test_log_dirs_are_described_with_partition_sizes(broker, admin):
    admin.create_topics({"sized": topic_spec(2)})
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for i in range(20):
        producer.send("sized", value=b"x" * 100, partition=0)
    producer.flush()
    producer.close()

    [answer] = admin.describe_log_dirs({"sized": [0, 1]})
    [log_dir] = answer["log_dirs"]
    assert log_dir["error_code"] == 0
    assert log_dir["log_dir"] == str(broker.data_dir.resolve())
    # The file system's capacity (v4): what statvfs says of the directory's file system.
    assert 0 < log_dir["usable_bytes"] <= log_dir["total_bytes"], log_dir
    [topic] = log_dir["topics"]
    assert topic["name"] == "sized"
    sizes = {p["partition_index"]: p["partition_size"] for p in topic["partitions"]}
    # Twenty 100-byte values in partition 0 take at least their own bytes; 1 is empty.
    assert sizes[0] >= 2000 and sizes[1] == 0, sizes
    assert all(p["offset_lag"] == 0 for p in topic["partitions"])
