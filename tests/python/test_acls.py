"""ACLs through kafka-python's admin client (its own CreateAcls, DescribeAcls and DeleteAcls
code): a super user adds a PREFIXED ALLOW, lists and removes it; what it adds holds for a
producer logging in as alice."""

import pytest
from conftest import start_broker
from kafka import KafkaProducer
from kafka.admin import (ACL, ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                         KafkaAdminClient, NewTopic, ResourcePattern, ResourcePatternFilter, ResourceType)
from kafka.errors import TopicAuthorizationFailedError

ACCOUNTS = ('listener.name.sasl_plaintext.plain.sasl.jaas.config='
            'org.apache.kafka.common.security.plain.PlainLoginModule required '
            'user_admin="admin-secret" user_alice="alice-secret";')
AUTHORIZER = "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"


@pytest.fixture
def acl_broker(tmp_path):
    running = start_broker(tmp_path, protocol="SASL_PLAINTEXT",
                           extra_args=("--override", ACCOUNTS, "--override", AUTHORIZER,
                                       "--override", "super.users=User:admin"))
    yield running
    print("---- tidelog log ----\n" + running.log())
    if running.process.poll() is None:
        assert running.stop() == 0, running.log()


def login(user):
    return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
            "sasl_plain_username": user, "sasl_plain_password": f"{user}-secret"}


def test_admin_creates_describes_and_deletes_acls_that_the_broker_enforces(acl_broker):
    bootstrap = acl_broker.bootstrap
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000, **login("admin"))
    admin.create_topics([NewTopic("orders-eu", 1, 1), NewTopic("payments", 1, 1)])

    writer = ACL(principal="User:alice", host="*", operation=ACLOperation.WRITE,
                 permission_type=ACLPermissionType.ALLOW,
                 resource_pattern=ResourcePattern(ResourceType.TOPIC, "orders-", ACLResourcePatternType.PREFIXED))
    created = admin.create_acls([writer])
    assert created["failed"] == [] and len(created["succeeded"]) == 1

    everything = ACLFilter(principal=None, host=None, operation=ACLOperation.ANY,
                           permission_type=ACLPermissionType.ANY,
                           resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
    acls, error = admin.describe_acls(everything)
    assert error.errno == 0
    assert [(a.principal, a.operation, a.resource_pattern.resource_name, a.resource_pattern.pattern_type)
            for a in acls] == [("User:alice", ACLOperation.WRITE, "orders-", ACLResourcePatternType.PREFIXED)]

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, retries=0, **login("alice"))
    producer.send("orders-eu", b"allowed", partition=0).get(timeout=15)
    with pytest.raises(TopicAuthorizationFailedError):
        producer.send("payments", b"refused", partition=0).get(timeout=15)
    producer.close()

    deleted = admin.delete_acls([everything])
    (_, matches, error), = deleted
    assert error.errno == 0
    assert [acl.principal for acl in matches] == ["User:alice"]
    acls, _ = admin.describe_acls(everything)
    assert acls == []
    admin.close()
