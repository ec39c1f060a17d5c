"""TLS listeners through kafka-python, whose TLS is Python's ssl module (OpenSSL), a client
stack independent of the broker's rustls: with mutual TLS the client certificate's subject,
through ssl.principal.mapping.rules, is the principal ACLs see; a certificate of another CA,
an expired one and a plaintext client on the TLS port are refused while others are served;
a replaced keystore is what new connections see, and a producer connected before goes on;
PKCS12 key and trust stores and an encrypted PEM key serve clients, and a wrong password
stops the start without showing up in the log.
The certificates are made here, in a temporary directory, by the `cryptography` package."""

import datetime
import ipaddress
import os
import socket
import ssl
import subprocess
import time

import pytest
from conftest import start_broker
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import AuthorizationError, KafkaTimeoutError

NOW = datetime.datetime.now(datetime.timezone.utc)


class Authority:
    """A CA that signs certificates and writes them, with their keys, as PEM files."""

    def __init__(self, directory, name):
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.certificate = self._build(self.name, self.key.public_key(), NOW, NOW + datetime.timedelta(days=1),
                                       ca=True)
        self.ca_file = self._write(name + "-ca.pem", self.certificate)

    def _build(self, subject, public_key, not_before, not_after, ca=False, names=()):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(self.name)
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(not_before - datetime.timedelta(minutes=5)).not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def _write(self, file_name, *objects):
        path = self.directory / file_name
        path.write_bytes(b"".join(
            o.public_bytes(serialization.Encoding.PEM) if isinstance(o, x509.Certificate)
            else o.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
            for o in objects))
        return str(path)

    def issue(self, file_name, subject, names=(), expired=False):
        """Writes `file_name`.key and `file_name`.pem; returns (cert path, key path, certificate)."""
        key = ec.generate_private_key(ec.SECP256R1())
        not_before, not_after = NOW, NOW + datetime.timedelta(days=1)
        if expired:
            not_before, not_after = NOW - datetime.timedelta(days=30), NOW - datetime.timedelta(days=1)
        certificate = self._build(subject, key.public_key(), not_before, not_after, names=names)
        return (self._write(file_name + ".pem", certificate), self._write(file_name + ".key", key), certificate)

    def issue_server_keystore(self, file_name):
        """A keystore for `localhost` and 127.0.0.1 (key, certificate and CA in one file,
        written at once by a rename); returns its certificate."""
        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        certificate = self._build(subject, key.public_key(), NOW, NOW + datetime.timedelta(days=1), names=names)
        staged = self._write(file_name + ".new", key, certificate, self.certificate)
        (self.directory / staged).rename(self.directory / file_name)
        return certificate


def subject(common_name, unit):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tidelog"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture
def pki(tmp_path):
    directory = tmp_path / "pki"
    directory.mkdir()
    ca = Authority(directory, "tidelog-test")
    ca.issue_server_keystore("server.pem")
    return ca


def tls_broker(tmp_path, pki, *overrides):
    settings = ["ssl.keystore.type=PEM", f"ssl.keystore.location={pki.directory / 'server.pem'}",
                "ssl.truststore.type=PEM", f"ssl.truststore.location={pki.ca_file}", *overrides]
    args = [arg for setting in settings for arg in ("--override", setting)]
    return start_broker(tmp_path, listeners="PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0", extra_args=args)


def tls(pki, certificate=None):
    """kafka-python's settings for the SSL listener, presenting `certificate` (cert, key) if given."""
    settings = {"security_protocol": "SSL", "ssl_cafile": pki.ca_file}
    if certificate:
        settings.update(ssl_certfile=certificate[0], ssl_keyfile=certificate[1])
    return settings


def refused(bootstrap, **settings):
    """Whether kafka-python cannot even bootstrap (it gives up after 3 s)."""
    try:
        KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=3000, **settings).close()
    except KafkaTimeoutError:
        return True
    return False


def produce(bootstrap, topic, value, **settings):
    producer = KafkaProducer(bootstrap_servers=bootstrap, **settings)
    metadata = producer.send(topic, value=value, partition=0).get(timeout=15)
    producer.close()
    return metadata.offset


@pytest.fixture
def stop_after():
    brokers = []
    yield brokers.append
    for running in brokers:
        print("---- tidelog log ----\n" + running.log())
        if running.process.poll() is None:
            assert running.stop() == 0, running.log()


def test_mutual_tls_names_the_principal_and_refuses_untrusted_expired_and_plaintext(tmp_path, pki, stop_after):
    broker = tls_broker(tmp_path, pki, "listener.name.ssl.ssl.client.auth=required",
                        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                        "super.users=User:alice",
                        "ssl.principal.mapping.rules=RULE:^CN=([^,]*),OU=eng,O=Tidelog$/$1/,DEFAULT")
    stop_after(broker)
    ssl_listener = broker.listener("SSL")
    alice = pki.issue("alice", subject("alice", "eng"))
    bob = pki.issue("bob", subject("bob", "sales"))

    # CN=alice,OU=eng,O=Tidelog maps to User:alice, a super user: the topic is auto-created.
    assert produce(ssl_listener, "secure", b"from alice", **tls(pki, alice)) == 0
    consumer = KafkaConsumer(bootstrap_servers=ssl_listener, consumer_timeout_ms=15000, **tls(pki, alice))
    consumer.assign([TopicPartition("secure", 0)])
    consumer.seek_to_beginning()
    record = next(consumer)
    assert (record.offset, record.value) == (0, b"from alice")

    # Bob's certificate is trusted, but User:CN=bob,OU=sales,O=Tidelog (DEFAULT) has no ACL.
    bob_producer = KafkaProducer(bootstrap_servers=ssl_listener, max_block_ms=3000, **tls(pki, bob))
    with pytest.raises(AuthorizationError):
        bob_producer.send("secure", value=b"from bob", partition=0).get(timeout=15)
    bob_producer.close()

    stranger = Authority(pki.directory, "stranger").issue("mallory", subject("mallory", "eng"))
    expired = pki.issue("expired", subject("old", "eng"), expired=True)
    assert refused(ssl_listener, **tls(pki, stranger))
    assert refused(ssl_listener, **tls(pki, expired))
    assert refused(ssl_listener, **tls(pki))
    assert refused(ssl_listener)  # a plaintext client on the TLS port
    log = broker.log()
    assert "invalid peer certificate" in log and "certificate expired" in log

    # Served all along, on the open connection and on new ones.
    assert produce(ssl_listener, "secure", b"still served", **tls(pki, alice)) == 1
    record = next(consumer)
    assert (record.offset, record.value) == (1, b"still served")
    consumer.close()


def served_certificate(address):
    host, port = address.rsplit(":", 1)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, int(port)), timeout=15) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as wrapped:
            return x509.load_der_x509_certificate(wrapped.getpeercert(binary_form=True))


def test_a_replaced_keystore_is_what_new_connections_see(tmp_path, pki, stop_after):
    broker = tls_broker(tmp_path, pki)
    stop_after(broker)
    ssl_listener = broker.listener("SSL")
    producer = KafkaProducer(bootstrap_servers=ssl_listener, **tls(pki))
    assert producer.send("rotated", value=b"before", partition=0).get(timeout=15).offset == 0
    before = served_certificate(ssl_listener)

    renewed = pki.issue_server_keystore("server.pem")
    assert renewed.serial_number != before.serial_number
    # The broker checks the files every second, in the background.
    for _ in range(200):
        if "TLS key and trust stores changed" in broker.log():
            break
        time.sleep(0.05)
    else:
        pytest.fail("the broker did not reload the keystore: " + broker.log())
    assert served_certificate(ssl_listener).serial_number == renewed.serial_number
    # The producer connected before goes on (kafka-python verifies the new certificate too,
    # should it reconnect: the same CA signed it).
    assert producer.send("rotated", value=b"after", partition=0).get(timeout=15).offset == 1
    producer.close()


def start_failure(tmp_path, *overrides):
    """The log of a broker that refuses to start with `overrides`."""
    binary = os.environ["TIDELOG_BIN"]
    args = [arg for setting in overrides for arg in ("--override", setting)]
    done = subprocess.run([binary, "serve", "--listeners", "SSL://127.0.0.1:0", "--log-dirs", str(tmp_path / "bad"),
                           *args], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0, done.stderr
    return done.stderr


def test_pkcs12_stores_and_an_encrypted_pem_key(tmp_path, pki, stop_after):
    server_key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    localhost = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    server = pki._build(localhost, server_key.public_key(), NOW, NOW + datetime.timedelta(days=1), names=names)
    keystore = tmp_path / "server.p12"
    keystore.write_bytes(pkcs12.serialize_key_and_certificates(
        b"server", server_key, server, [pki.certificate], serialization.BestAvailableEncryption(b"store-secret")))
    truststore = tmp_path / "trust.p12"
    truststore.write_bytes(pkcs12.serialize_java_truststore(
        [pkcs12.PKCS12Certificate(pki.certificate, b"ca")], serialization.BestAvailableEncryption(b"trust-secret")))
    encrypted_pem = tmp_path / "server-encrypted.pem"
    encrypted_pem.write_bytes(
        server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.BestAvailableEncryption(b"key-secret"))
        + server.public_bytes(serialization.Encoding.PEM))
    alice = pki.issue("alice", subject("alice", "eng"))

    pkcs12_store = ["ssl.keystore.type=PKCS12", f"ssl.keystore.location={keystore}",
                    "ssl.keystore.password=store-secret", "ssl.truststore.type=PKCS12",
                    f"ssl.truststore.location={truststore}", "ssl.truststore.password=trust-secret",
                    "ssl.client.auth=required"]
    encrypted_key = ["ssl.keystore.type=PEM", f"ssl.keystore.location={encrypted_pem}",
                     "ssl.key.password=key-secret"]
    for overrides in (pkcs12_store, encrypted_key):
        args = [arg for setting in overrides for arg in ("--override", setting)]
        broker = start_broker(tmp_path / str(len(overrides)), listeners="PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
                              extra_args=args)
        stop_after(broker)
        assert produce(broker.listener("SSL"), "stored", b"v", **tls(pki, alice)) == 0
        assert served_certificate(broker.listener("SSL")).serial_number == server.serial_number
        assert "secret" not in broker.log()

    # A wrong password stops the start, and the log never shows a password.
    for wrong in ([*pkcs12_store[:2], "ssl.keystore.password=guess"],
                  [*encrypted_key[:2], "ssl.key.password=guess"]):
        log = start_failure(tmp_path, *wrong)
        assert "ssl.keystore" in log and "guess" not in log and "secret" not in log, log
    assert "keytool -importkeystore" in start_failure(tmp_path, "ssl.keystore.type=JKS",
                                                      "ssl.keystore.location=/k.jks")
