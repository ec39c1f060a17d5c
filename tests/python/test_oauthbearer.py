"""SASL/OAUTHBEARER through kafka-python, whose OAUTHBEARER code (a token provider, the
client first message, the `\\x01` answer to a refusal) is its own: with unsecured tokens
the client is the token's `sub`, whose ACLs hold; with Kafka's signed-token validator an
RS256 token from a key made here, checked against a JWKS file, produces and consumes, and
an expired one is refused while nothing of it reaches the log."""

import base64
import json
import subprocess
import time

import pytest
from conftest import start_broker
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import (ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, KafkaAdminClient,
                         NewTopic, ResourcePattern, ResourceType)
from kafka.errors import KafkaTimeoutError, TopicAuthorizationFailedError
from kafka.net.sasl.oauth import AbstractTokenProvider

OAUTHBEARER_ONLY = "sasl.enabled.mechanisms=OAUTHBEARER"
AUTHORIZER = "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
SIGNED_HANDLER = ("listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class="
                  "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerValidatorCallbackHandler")
ISSUER = "https://issuer.test"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(sub, life_s=600):
    now = int(time.time())
    return {"sub": sub, "iat": now, "exp": now + life_s, "aud": "tidelog", "iss": ISSUER}


class Tokens(AbstractTokenProvider):
    """Hands kafka-python one fixed token."""

    def __init__(self, token):
        super().__init__()
        self._token = token

    def token(self):
        return self._token


def unsecured(sub):
    header, payload = json.dumps({"alg": "none"}).encode(), json.dumps(claims(sub)).encode()
    return f"{b64url(header)}.{b64url(payload)}."


def login(token):
    return {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "OAUTHBEARER",
            "sasl_oauth_token_provider": Tokens(token)}


def running(tmp_path, *overrides):
    args = []
    for override in (OAUTHBEARER_ONLY, *overrides):
        args += ["--override", override]
    return start_broker(tmp_path, protocol="SASL_PLAINTEXT", extra_args=args)


@pytest.fixture
def stopped_after():
    brokers = []
    yield brokers.append
    for broker in brokers:
        print("---- tidelog log ----\n" + broker.log())
        if broker.process.poll() is None:
            assert broker.stop() == 0, broker.log()


def produce_and_read(bootstrap, topic, token):
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, retries=0, **login(token))
    sent = producer.send(topic, key=b"k", value=topic.encode(), partition=0).get(timeout=15)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=15000, **login(token))
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    record = next(consumer)
    consumer.close()
    return sent.offset, (record.offset, record.key, record.value)


def test_an_unsecured_token_is_its_sub_whose_acls_hold(tmp_path, stopped_after):
    broker = running(tmp_path, AUTHORIZER, "super.users=User:admin")
    stopped_after(broker)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=15000, **login(unsecured("admin")))
    admin.create_topics([NewTopic("orders", 1, 1), NewTopic("payments", 1, 1)])
    acls = [ACL(principal="User:alice", host="*", operation=operation, permission_type=ACLPermissionType.ALLOW,
                resource_pattern=ResourcePattern(ResourceType.TOPIC, "orders", ACLResourcePatternType.LITERAL))
            for operation in (ACLOperation.WRITE, ACLOperation.READ)]
    created = admin.create_acls(acls)
    assert created["failed"] == [] and len(created["succeeded"]) == 2
    admin.close()

    alice = unsecured("alice")
    assert produce_and_read(broker.bootstrap, "orders", alice) == (0, (0, b"k", b"orders"))
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks=1, retries=0, **login(alice))
    with pytest.raises(TopicAuthorizationFailedError):
        producer.send("payments", b"refused", partition=0).get(timeout=15)
    producer.close()


class RsaKey:
    """An RSA key made by the openssl command, which also signs (RS256)."""

    def __init__(self, directory, kid):
        self.kid = kid
        self.pem = directory / f"{kid}.pem"
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", str(self.pem)], check=True, capture_output=True)
        modulus = subprocess.run(["openssl", "rsa", "-in", str(self.pem), "-noout", "-modulus"],
                                 check=True, capture_output=True, text=True).stdout
        self.n = bytes.fromhex(modulus.strip().split("=", 1)[1])

    def jwk(self):
        return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": b64url(self.n), "e": "AQAB"}

    def token(self, token_claims):
        header = json.dumps({"alg": "RS256", "typ": "JWT", "kid": self.kid}).encode()
        signing_input = f"{b64url(header)}.{b64url(json.dumps(token_claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.pem)], input=signing_input.encode(),
                                   check=True, capture_output=True).stdout
        return f"{signing_input}.{b64url(signature)}"


def test_a_signed_token_is_checked_against_the_jwks_file(tmp_path, stopped_after):
    key = RsaKey(tmp_path, "k1")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [key.jwk()]}))
    broker = running(tmp_path, SIGNED_HANDLER, f"sasl.oauthbearer.jwks.endpoint.url=file://{jwks}",
                     "sasl.oauthbearer.expected.audience=tidelog", f"sasl.oauthbearer.expected.issuer={ISSUER}")
    stopped_after(broker)
    good = key.token(claims("alice"))
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=15000, **login(good))
    admin.create_topics([NewTopic("signed", 1, 1)])
    admin.close()
    assert produce_and_read(broker.bootstrap, "signed", good) == (0, (0, b"k", b"signed"))

    # kafka-python answers the broker's challenge, is refused, and gives up after 3 s.
    expired = key.token(claims("alice", life_s=-60))
    with pytest.raises(KafkaTimeoutError):
        KafkaAdminClient(bootstrap_servers=broker.bootstrap, bootstrap_timeout_ms=3000, **login(expired))
    log = broker.log()
    assert "SASL authentication refused" in log
    for token in (good, expired):
        assert token.rsplit(".", 1)[1] not in log and token.split(".")[1] not in log
