"""Three `tidelog serve` processes as one cluster (issue 12), each a broker and a voter of
the metadata quorum, through kafka-python (its own protocol code) and confluent-kafka
(librdkafka): a topic made through the cluster has its 12 partitions' leaders spread over
the three brokers, and records produced to every partition, each to its leader, are read
back from all of them, by assignment and by a consumer group. A topic of three replicas
(issue 13) keeps every acknowledged record through its leader's kill -9, and the broker
back joins its in-sync replicas again. Replicas named by the client (a manual assignment)
place a topic and its added partitions."""

import os
import socket
import subprocess
import threading
import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from conftest import Broker
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaTopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError

CLUSTER_ID = "p3Wq3Wq3Wq3Wq3Wq3Wq3Ww"
TOPIC = "spread"
PARTITIONS = 12
RECORDS = 10
# A bound on every wait below; a healthy cluster is there within seconds.
WAIT_S = 60


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_node(binary, tmp_path, node_id, ports):
    """Formats node `node_id`'s data directory for the cluster, then starts it (its start
    returns once the quorum has a leader, so the nodes start together)."""
    voters = ",".join(f"{i + 1}@127.0.0.1:{port}" for i, port in enumerate(ports))
    config = tmp_path / f"node{node_id}.properties"
    config.write_text(
        "process.roles=broker,controller\n"
        f"node.id={node_id}\n"
        "controller.listener.names=CONTROLLER\n"
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
        f"controller.quorum.voters={voters}\n")
    data_dir = tmp_path / f"data{node_id}"
    listeners = f"PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{ports[node_id - 1]}"
    subprocess.run(
        [binary, "format", "--config", str(config), "--cluster-id", CLUSTER_ID,
         "--listeners", listeners, "--log-dirs", str(data_dir)],
        check=True, capture_output=True)
    return Broker(binary, data_dir, listeners=listeners, extra_args=["--config", str(config)])


@pytest.fixture
def nodes(tmp_path):
    binary = os.environ.get("TIDELOG_BIN")
    if not binary:
        pytest.fail("set TIDELOG_BIN to the tidelog binary (scripts/test.sh does)")
    ports = free_ports(3)
    started = [None] * 3
    failures = []

    def start(i):
        try:
            started[i] = start_node(binary, tmp_path, i + 1, ports)
        except Exception as e:  # reported below, with the others
            failures.append(e)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    running = [n for n in started if n is not None]
    try:
        assert not failures, failures
        yield running
    finally:
        for node in running:
            print(f"---- tidelog log of {node.bootstrap} ----\n" + node.log())
            if node.process.poll() is None:
                node.stop()


def wait_for(what, check):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"not within {WAIT_S}s: {what}")


def cluster_admin(bootstrap):
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="tidelog-cluster-e2e",
                            request_timeout_ms=15000)


def wait_for_unfenced(bootstrap):
    """Waits until the three brokers are registered and unfenced (kafka-python asks
    DescribeCluster for fenced brokers too)."""
    watching = cluster_admin(bootstrap)
    try:
        def unfenced():
            brokers = watching.describe_cluster()["brokers"]
            return sorted(b["broker_id"] for b in brokers if not b["is_fenced"]) == [1, 2, 3]

        wait_for("three unfenced brokers", unfenced)
    finally:
        watching.close()


def test_a_topic_spreads_over_three_brokers_and_every_record_is_read_back(nodes):
    bootstrap = ",".join(n.bootstrap for n in nodes)

    def admin():
        return cluster_admin(bootstrap)

    # Each broker registers with the quorum's leader and is unfenced once caught up.
    wait_for_unfenced(bootstrap)

    # A client that knows the three brokers: kafka-python sends CreateTopics to the
    # controller Metadata names.
    creating = admin()
    try:
        creating.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])

        def leaders():
            (topic,) = creating.describe_topics([TOPIC])
            by_partition = {p["partition_index"]: p["leader_id"] for p in topic["partitions"]}
            return by_partition if len(by_partition) == PARTITIONS and -1 not in by_partition.values() else None

        placed = wait_for("every partition led", leaders)
    finally:
        creating.close()
    assert sorted(list(placed.values()).count(broker) for broker in (1, 2, 3)) == [4, 4, 4], placed

    # kafka-python produces to every partition, each batch to its leader.
    producer = KafkaProducer(bootstrap_servers=nodes[0].bootstrap, acks="all", linger_ms=5)
    futures = [(p, i, producer.send(TOPIC, key=f"p{p}-k{i}".encode(), value=f"p{p}-v{i}".encode(), partition=p))
               for p in range(PARTITIONS) for i in range(RECORDS)]
    producer.flush(WAIT_S)
    acknowledged = {(p, i): f.get(WAIT_S).offset for p, i, f in futures}
    producer.close()
    assert acknowledged == {(p, i): i for p in range(PARTITIONS) for i in range(RECORDS)}

    # librdkafka reads them back from the three brokers, bootstrapped at another node.
    consumer = Consumer({"bootstrap.servers": nodes[2].bootstrap, "group.id": "tidelog-cluster-reader",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    received = {}
    deadline = time.monotonic() + WAIT_S
    while len(received) < PARTITIONS * RECORDS and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        assert message.error() is None, message.error()
        received[(message.partition(), message.offset())] = (message.key(), message.value())
    consumer.close()
    expected = {(p, i): (f"p{p}-k{i}".encode(), f"p{p}-v{i}".encode())
                for p in range(PARTITIONS) for i in range(RECORDS)}
    assert received == expected

    # A kafka-python consumer group reads them too, through its coordinator (its
    # __consumer_offsets partition's leader, on whichever broker that is), and commits.
    group = KafkaConsumer(TOPIC, bootstrap_servers=nodes[1].bootstrap, group_id="tidelog-cluster-group",
                          auto_offset_reset="earliest", enable_auto_commit=False)
    read = {}
    deadline = time.monotonic() + WAIT_S
    while len(read) < PARTITIONS * RECORDS and time.monotonic() < deadline:
        for records in group.poll(timeout_ms=500).values():
            for r in records:
                read[(r.partition, r.offset)] = (r.key, r.value)
    assert read == expected
    group.commit()
    committed = {p: group.committed(KafkaTopicPartition(TOPIC, p)) for p in range(PARTITIONS)}
    group.close()
    assert committed == {p: RECORDS for p in range(PARTITIONS)}


def test_a_replicated_topic_keeps_every_acknowledged_record_when_its_leader_is_killed(nodes):
    bootstrap = ",".join(n.bootstrap for n in nodes)
    wait_for_unfenced(bootstrap)
    # A client that knows the three brokers sends CreateTopics to the controller.
    admin = cluster_admin(bootstrap)
    try:
        admin.create_topics([NewTopic("replicated", 1, 3, topic_configs={"min.insync.replicas": "2"})])

        def placed():
            try:
                (topic,) = admin.describe_topics(["replicated"])
            except KafkaError:
                return None  # a connection to a broker killed or restarted: asked again
            (p,) = topic["partitions"] or [None]
            in_sync = p is not None and p["leader_id"] > 0 and sorted(p["isr_nodes"]) == [1, 2, 3]
            return p if in_sync else None

        before = wait_for("the partition led, three replicas in sync", placed)
        assert sorted(before["replica_nodes"]) == [1, 2, 3], before

        def write(first, count):
            producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=10,
                                     request_timeout_ms=10000)
            futures = [producer.send("replicated", value=f"v{i}".encode(), partition=0)
                       for i in range(first, first + count)]
            producer.flush(WAIT_S)
            offsets = [f.get(WAIT_S).offset for f in futures]
            producer.close()
            return offsets

        assert write(0, 50) == list(range(50))
        # The leader dies: another in-sync replica leads, in a new epoch, and takes writes.
        leader = before["leader_id"]
        nodes[leader - 1].kill()

        def moved():
            try:
                (topic,) = admin.describe_topics(["replicated"])
            except KafkaError:
                return None  # its connection to the killed broker, dropped: asked again
            p = topic["partitions"][0]
            return p if p["leader_id"] not in (-1, leader) and leader not in p["isr_nodes"] else None

        after = wait_for("a new leader from the in-sync replicas", moved)
        assert after["leader_epoch"] > before["leader_epoch"], (before, after)
        assert write(50, 50) == list(range(50, 100))

        # librdkafka reads all 100 back, in order, from the new leader.
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "tidelog-replicated-reader",
                             "enable.auto.commit": False})
        consumer.assign([TopicPartition("replicated", 0, 0)])
        values = []
        deadline = time.monotonic() + WAIT_S
        while len(values) < 100 and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            values.append((message.offset(), message.value()))
        consumer.close()
        assert values == [(i, f"v{i}".encode()) for i in range(100)]

        # Back, the killed broker catches up and is in sync again.
        nodes[leader - 1].start_again()
        wait_for("the restarted broker in sync again", placed)
    finally:
        admin.close()


def test_replicas_named_by_the_client_place_new_topics_and_partitions(nodes):
    """confluent-kafka's (librdkafka's) admin client names each partition's replicas, as
    `kafka-topics --replica-assignment` does: the topic and the partitions added later are
    placed there, led by the first of each, and an assignment naming a broker that is not
    registered is refused with Kafka's error and message."""
    from confluent_kafka.admin import AdminClient, NewPartitions
    from confluent_kafka.admin import NewTopic as RdNewTopic
    from confluent_kafka import KafkaException

    bootstrap = ",".join(n.bootstrap for n in nodes)
    wait_for_unfenced(bootstrap)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    created = admin.create_topics([RdNewTopic("named", 2, replica_assignment=[[2, 3], [3, 1]])])
    created["named"].result(WAIT_S)
    added = admin.create_partitions([NewPartitions("named", 3, replica_assignment=[[1, 2]])])
    added["named"].result(WAIT_S)
    refused = admin.create_topics([RdNewTopic("nowhere", 1, replica_assignment=[[1, 7]])])
    with pytest.raises(KafkaException) as error:
        refused["nowhere"].result(WAIT_S)
    assert error.value.args[0].name() == "INVALID_REPLICA_ASSIGNMENT"
    assert "includes broker 7, but no such broker is registered" in error.value.args[0].str()

    def placed():
        topic = admin.list_topics("named", timeout=10).topics["named"]
        partitions = {p.id: (p.leader, p.replicas, sorted(p.isrs)) for p in topic.partitions.values()}
        expected = {0: (2, [2, 3], [2, 3]), 1: (3, [3, 1], [1, 3]), 2: (1, [1, 2], [1, 2])}
        return partitions if partitions == expected else None

    wait_for("the partitions on the replicas named, led by the first", placed)
