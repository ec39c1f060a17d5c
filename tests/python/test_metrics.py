"""`/metrics` and the health checks of a real broker after a known workload: the page
parses with the Prometheus client's own parser, produce counts equal what was sent, fetch
counts what a consumer read, and a group's lag is the high watermark minus its committed offset."""

import json
import os
import pathlib
import re
import urllib.request

import pytest

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError
from kafka.structs import OffsetAndMetadata
from prometheus_client.parser import text_string_to_metric_families

TOPIC = "metered"
GROUP = "metered-group"
RECORDS = 50
COMMITTED = 20
VALUE = b"v" * 100


def http_get(broker, path):
    with urllib.request.urlopen(f"http://{broker.http}{path}", timeout=10) as response:
        return response.status, response.read().decode()


def samples(text):
    """Every sample as {(name, frozenset(labels)): value}."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_a_known_workload_and_health_answers(broker, admin):
    assert http_get(broker, "/health/live")[0] == 200
    assert http_get(broker, "/health/ready") == (200, "ready\n")
    admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
    # Errors of APIs other than Produce and Fetch, one each.
    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
    with pytest.raises(UnknownTopicOrPartitionError):
        admin.delete_topics(["metered-missing"])

    # One request per record, so that the request count is known.
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=0,
                             max_in_flight_requests_per_connection=1)
    for i in range(RECORDS):
        producer.send(TOPIC, key=b"k%03d" % i, value=VALUE).get(timeout=15)
    producer.close()

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=GROUP, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=10000)
    tp = TopicPartition(TOPIC, 0)
    consumer.assign([tp])
    seen = 0
    for _ in consumer:
        seen += 1
        if seen == RECORDS:
            break
    assert seen == RECORDS
    consumer.commit({tp: OffsetAndMetadata(COMMITTED, None, -1)})
    consumer.close()
    # What went out is what the consumer read: each record once, the batches as produced.
    read = samples(http_get(broker, "/metrics")[1])
    assert read[("tidelog_fetch_records_total", frozenset({("topic", TOPIC)}))] == RECORDS
    out = read[("tidelog_fetch_bytes_total", frozenset({("topic", TOPIC)}))]
    assert out == read[("tidelog_produce_bytes_total", frozenset({("topic", TOPIC)}))]

    # A fetch past the end is answered OFFSET_OUT_OF_RANGE; the consumer then resets to
    # the earliest offset and reads a record.
    stray = KafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest",
                          consumer_timeout_ms=10000)
    stray.assign([tp])
    stray.seek(tp, RECORDS + 1000)
    assert next(iter(stray)).offset == 0
    stray.close()

    cpu_before = cpu_seconds(broker.process.pid)
    status, text = http_get(broker, "/metrics")
    cpu_after = cpu_seconds(broker.process.pid)
    assert status == 200
    values = samples(text)
    topic = frozenset({("topic", TOPIC)})

    def value(name, labels):
        return values[(name, frozenset(labels.items()))]

    assert value("tidelog_requests_total", {"api": "Produce"}) == RECORDS
    # Each produce request observed once in each phase of its time and in its total, and
    # the phases add up to the total; with acks=all, waiting (for the fsync) took time.
    produce = {"api": "Produce"}
    phases = ["request_queue", "request_handling", "request_waiting", "response_queue", "response_send"]
    for name in phases + ["request"]:
        assert value(f"tidelog_{name}_duration_seconds_count", produce) == RECORDS, name
    total = value("tidelog_request_duration_seconds_sum", produce)
    parts = sum(value(f"tidelog_{name}_duration_seconds_sum", produce) for name in phases)
    assert total == pytest.approx(parts, rel=1e-6)
    assert value("tidelog_request_waiting_duration_seconds_sum", produce) > 0
    assert value("tidelog_produce_records_total", {"topic": TOPIC}) == RECORDS
    assert values[("tidelog_produce_bytes_total", topic)] > RECORDS * len(VALUE)
    assert values[("tidelog_fetch_bytes_total", topic)] >= RECORDS * len(VALUE)
    partition = {"topic": TOPIC, "partition": "0"}
    assert value("tidelog_log_end_offset", partition) == RECORDS
    assert value("tidelog_log_start_offset", partition) == 0
    assert value("tidelog_consumer_group_lag", {"group": GROUP, **partition}) == RECORDS - COMMITTED
    assert value("tidelog_log_flush_duration_seconds_count", {}) >= 1
    # Each acks=all produce is one append made durable by some fsync (the offset commit too).
    assert value("tidelog_log_flush_appends_sum", {}) >= RECORDS
    plaintext = {"listener": "PLAINTEXT"}
    assert value("tidelog_connections_accepted_total", plaintext) >= 3
    # PLAINTEXT authenticates no one; its series are there at 0.
    assert value("tidelog_authentications_total", plaintext) == 0
    assert value("tidelog_authentication_failures_total", plaintext) == 0
    assert value("tidelog_process_resident_memory_bytes", {}) > 0
    assert value("tidelog_process_virtual_memory_bytes", {}) > value("tidelog_process_resident_memory_bytes", {})
    assert value("tidelog_process_open_fds", {}) > 0
    # The broker's own figures, as /proc shows them to the test around the scrape.
    assert cpu_before <= value("tidelog_process_cpu_seconds_total", {}) <= cpu_after
    assert cpu_after > 0
    assert value("tidelog_process_max_fds", {}) == max_open_files(broker.process.pid)
    assert value("tidelog_process_start_time_seconds", {}) == pytest.approx(start_time(broker.process.pid), abs=1e-6)
    # The topic's active segment is open (the metadata log's too), within the budget.
    assert 1 <= value("tidelog_log_open_files", {}) <= value("tidelog_log_open_files_budget", {})
    assert value("tidelog_log_file_opens_total", {}) >= 1
    assert value("tidelog_request_errors_total", {"api": "Fetch", "error": "OFFSET_OUT_OF_RANGE"}) >= 1
    assert value("tidelog_request_errors_total", {"api": "CreateTopics", "error": "TOPIC_ALREADY_EXISTS"}) == 1
    assert value("tidelog_request_errors_total", {"api": "DeleteTopics", "error": "UNKNOWN_TOPIC_OR_PARTITION"}) == 1
    assert_dashboard_queries_exist(text)


def stat_fields(pid):
    """/proc/PID/stat's fields from the state on (proc(5)'s field 3 at index 0): the
    command name before it is in parentheses and may hold spaces."""
    return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid):
    fields = stat_fields(pid)
    return (int(fields[14 - 3]) + int(fields[15 - 3])) / os.sysconf("SC_CLK_TCK")


def start_time(pid):
    boot = next(int(line.split()[1]) for line in open("/proc/stat") if line.startswith("btime "))
    return boot + int(stat_fields(pid)[22 - 3]) / os.sysconf("SC_CLK_TCK")


def max_open_files(pid):
    line = next(line for line in open(f"/proc/{pid}/limits") if line.startswith("Max open files"))
    return int(line.split()[3])


DASHBOARD = pathlib.Path(__file__).resolve().parents[2] / "docs" / "grafana" / "tidelog-broker.json"


def assert_dashboard_queries_exist(text):
    """Every series the Grafana dashboard queries has samples in this scrape."""
    scraped = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queried = {name for expr in exprs for name in re.findall(r"\btidelog_[a-z_]+", expr)}
    assert len(exprs) >= 14 and len(queried) >= 14, exprs
    assert sorted(queried - scraped) == [], f"queried by {DASHBOARD.name} but not in /metrics"
    # The variables' query too.
    for variable in dashboard["templating"]["list"]:
        for name in re.findall(r"\btidelog_[a-z_]+", variable.get("query", "")):
            assert name in scraped, name
