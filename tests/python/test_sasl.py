"""SASL/PLAIN through kafka-python, a client with its own SASL code: with an account it
creates a topic, produces and consumes; a wrong password is refused."""

import pytest
from conftest import start_broker
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaTimeoutError

ACCOUNTS = ('listener.name.sasl_plaintext.plain.sasl.jaas.config='
            'org.apache.kafka.common.security.plain.PlainLoginModule required '
            'user_alice="alice-secret";')


@pytest.fixture
def sasl_broker(tmp_path):
    running = start_broker(tmp_path, protocol="SASL_PLAINTEXT", extra_args=("--override", ACCOUNTS))
    yield running
    print("---- tidelog log ----\n" + running.log())
    if running.process.poll() is None:
        assert running.stop() == 0, running.log()


def login(password):
    return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
            "sasl_plain_username": "alice", "sasl_plain_password": password}


def test_an_account_produces_and_consumes_and_a_wrong_password_is_refused(sasl_broker):
    bootstrap = sasl_broker.bootstrap
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000, **login("alice-secret"))
    admin.create_topics([NewTopic("private", 1, 1)])
    admin.close()

    producer = KafkaProducer(bootstrap_servers=bootstrap, **login("alice-secret"))
    producer.send("private", key=b"k", value=b"for alice", partition=0).get(timeout=15)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=15000, **login("alice-secret"))
    partition = TopicPartition("private", 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    record = next(consumer)
    assert (record.offset, record.key, record.value) == (0, b"k", b"for alice")
    consumer.close()

    # kafka-python cannot bootstrap and gives up after 3 s; the broker's log says why.
    with pytest.raises(KafkaTimeoutError):
        KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=3000, **login("guess"))
    log = sasl_broker.log()
    assert "SASL authentication refused" in log
    assert "alice-secret" not in log and "guess" not in log
