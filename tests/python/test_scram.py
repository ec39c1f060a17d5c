"""SASL/SCRAM-SHA-256 and -512 through kafka-python, whose SCRAM code is its own: its admin
client sets the users' credentials (AlterUserScramCredentials, the password salted on the
client) and describes them over the PLAINTEXT listener; on the SASL_PLAINTEXT listener,
which offers only SCRAM, each user creates a topic, produces and consumes; a wrong
password and an unknown user are refused while the others go on; the credentials survive
a restart, and no password reaches the log."""

import pytest
from conftest import start_broker
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import (KafkaAdminClient, NewTopic, ScramMechanism, UserScramCredentialDeletion,
                         UserScramCredentialUpsertion)
from kafka.errors import KafkaTimeoutError

LISTENERS = "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"
MECHANISMS = "listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512"
PASSWORDS = {"alice": "alice-Pa55word", "bob": "bob-Pa55word"}


@pytest.fixture
def scram_broker(tmp_path):
    running = start_broker(tmp_path, listeners=LISTENERS, extra_args=("--override", MECHANISMS))
    yield running
    print("---- tidelog log ----\n" + running.log())
    if running.process.poll() is None:
        assert running.stop() == 0, running.log()


def login(user, password, mechanism):
    return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": mechanism,
            "sasl_plain_username": user, "sasl_plain_password": password}


def produce_and_consume(bootstrap, topic, settings):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000, **settings)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, **settings)
    producer.send(topic, key=b"k", value=topic.encode(), partition=0).get(timeout=15)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=15000, **settings)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    record = next(consumer)
    assert (record.offset, record.key, record.value) == (0, b"k", topic.encode())
    consumer.close()


def refused(bootstrap, settings):
    # kafka-python cannot bootstrap and gives up after 3 s; the broker's log says why.
    with pytest.raises(KafkaTimeoutError):
        KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=3000, **settings)


def test_scram_users_produce_and_consume_and_others_are_refused(scram_broker):
    admin = KafkaAdminClient(bootstrap_servers=scram_broker.bootstrap, request_timeout_ms=15000)
    answers = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion("alice", ScramMechanism.SCRAM_SHA_256, PASSWORDS["alice"], iterations=8192),
        UserScramCredentialUpsertion("bob", ScramMechanism.SCRAM_SHA_512, PASSWORDS["bob"]),
        UserScramCredentialUpsertion("carol", ScramMechanism.SCRAM_SHA_512, "x", iterations=4095),
        UserScramCredentialDeletion("dave", ScramMechanism.SCRAM_SHA_256),
    ])
    assert answers == {"alice": None, "bob": None, "carol": "Too few iterations",
                       "dave": "Attempt to delete a user credential that does not exist"}
    described = admin.describe_user_scram_credentials()
    assert described == {
        "alice": {"error": None, "credential_infos": [{"mechanism": ScramMechanism.SCRAM_SHA_256, "iterations": 8192}]},
        "bob": {"error": None, "credential_infos": [{"mechanism": ScramMechanism.SCRAM_SHA_512, "iterations": 4096}]},
    }
    admin.close()

    sasl = scram_broker.listener("SASL_PLAINTEXT")
    produce_and_consume(sasl, "alices", login("alice", PASSWORDS["alice"], "SCRAM-SHA-256"))
    produce_and_consume(sasl, "bobs", login("bob", PASSWORDS["bob"], "SCRAM-SHA-512"))
    refused(sasl, login("alice", "guess", "SCRAM-SHA-256"))
    refused(sasl, login("mallory", "guess", "SCRAM-SHA-512"))
    # bob's credential is SCRAM-SHA-512's alone.
    refused(sasl, login("bob", PASSWORDS["bob"], "SCRAM-SHA-256"))
    # (kafka-python retries within its 3 s: one refusal line or more each.)
    assert "SASL authentication refused" in scram_broker.log()

    scram_broker.restart()
    sasl = scram_broker.listener("SASL_PLAINTEXT")
    produce_and_consume(sasl, "bobs-again", login("bob", PASSWORDS["bob"], "SCRAM-SHA-512"))

    log = scram_broker.log()
    for secret in (*PASSWORDS.values(), "guess"):
        assert secret not in log
