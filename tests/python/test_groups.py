"""Consumer groups through kafka-python, a second client implementation beside librdkafka:
members share a topic's partitions, the admin client lists and describes the group, and
committed offsets survive a broker restart."""

import threading
import time

from conftest import admin_client
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata

# Safety net only: a group settles in about the broker's initial rebalance delay (3 s).
SETTLE_TIMEOUT_S = 60


def consumer(broker, group):
    return KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        client_id="tidelog-python-e2e",
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=200,
    )


def test_two_consumers_share_four_partitions_and_the_group_is_listed_and_described(broker, admin):
    admin.create_topics([NewTopic("shared", 4, 1)])
    consumers = [consumer(broker, "python-sharing") for _ in range(2)]
    # Each consumer polls in a thread of its own, as applications run them. Polling both in
    # turn from one thread with short timeouts makes kafka-python 3.0.12 drop the leader's
    # join whenever it completes between two of its polls (its next poll sees a finished
    # join task and starts another), so the leader rejoins after every sync, forever.
    assigned = [[] for _ in consumers]
    stop = threading.Event()

    def run(i, c):
        c.subscribe(["shared"])
        while not stop.is_set():
            c.poll(timeout_ms=100)
            assigned[i] = sorted(tp.partition for tp in c.assignment())

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(consumers)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    try:
        while not (all(len(a) == 2 for a in assigned) and sorted(sum(assigned, [])) == [0, 1, 2, 3]):
            assert time.monotonic() < deadline, f"the group did not settle: {assigned}"
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()

    listed = admin.list_groups(states_filter=["Stable"])
    assert [(g["group_id"], g["protocol_type"]) for g in listed] == [("python-sharing", "consumer")]
    described = admin.describe_groups(["python-sharing"])
    group = described["python-sharing"]
    assert group["group_state"] == "Stable"
    assert len(group["members"]) == 2
    for c in consumers:
        c.close()


def test_a_restarted_consumer_resumes_at_its_commit(broker, admin):
    admin.create_topics([NewTopic("resume", 1, 1)])
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True)
    for i in range(10):
        producer.send("resume", key=str(i).encode(), value=b"value", partition=0)
    producer.flush()
    producer.close()
    partition = TopicPartition("resume", 0)

    first = consumer(broker, "python-resumers")
    first.subscribe(["resume"])
    seen = []
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while len(seen) < 4:
        for records in first.poll(timeout_ms=100).values():
            seen.extend(r.offset for r in records)
        assert time.monotonic() < deadline, "no records"
    first.commit({partition: OffsetAndMetadata(4, "", -1)})
    assert first.committed(partition) == 4
    assert admin.list_group_offsets({"python-resumers": None})["python-resumers"][partition].offset == 4
    first.close()

    broker.restart()
    second = consumer(broker, "python-resumers")
    assert second.committed(partition) == 4
    second.subscribe(["resume"])
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        batches = list(second.poll(timeout_ms=100).values())
        if batches:
            assert batches[0][0].offset == 4
            assert batches[0][0].key == b"4"
            break
        assert time.monotonic() < deadline, "no records after the restart"
    second.close()
    # The admin fixture's client knew the old port; a new one deletes the empty group.
    restarted_admin = admin_client(broker)
    restarted_admin.delete_groups(["python-resumers"])
    assert restarted_admin.list_groups() == []
    restarted_admin.close()
