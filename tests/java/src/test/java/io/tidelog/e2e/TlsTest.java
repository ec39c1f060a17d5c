package io.tidelog.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.SslAuthenticationException;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * TLS with Kafka's own Java client, whose TLS is the JDK's (JSSE), against the broker's
 * rustls: PKCS12 stores made by keytool on both sides. Over SSL the client checks the
 * broker's certificate (a client without the CA is refused) and produces and consumes;
 * with {@code ssl.client.auth=required} a client certificate's subject is the principal
 * ACLs see, and a client without one fails with Kafka's {@link SslAuthenticationException};
 * over SASL_SSL a SCRAM-SHA-512 user the Admin client made logs in, produces and consumes.
 */
class TlsTest {
    private static final String ALICE = "CN=alice,OU=eng,O=Tidelog";
    private static final String SCRAM_PASSWORD = "carol-Pa55word";

    @TempDir
    static Path pkiDirectory;
    private static KeytoolAuthority authority;
    private static Path serverKeystore;
    private static Path aliceKeystore;
    private static Path bobKeystore;

    @BeforeAll
    static void makeCertificates() throws Exception {
        authority = new KeytoolAuthority(pkiDirectory, "tidelog-test");
        serverKeystore = authority.keystore("server", "CN=localhost", "dns:localhost", "ip:127.0.0.1");
        aliceKeystore = authority.keystore("alice", ALICE);
        bobKeystore = authority.keystore("bob", "CN=bob,OU=sales,O=Tidelog");
    }

    /** A broker whose TLS listeners serve the keytool-made server key store. */
    private static TidelogBroker start(String listeners, String... overrides) throws Exception {
        List<String> args = new ArrayList<>();
        for (String setting : List.of("ssl.keystore.type=PKCS12", "ssl.keystore.location=" + serverKeystore,
                "ssl.keystore.password=" + KeytoolAuthority.PASSWORD, "ssl.truststore.type=PKCS12",
                "ssl.truststore.location=" + authority.truststore(),
                "ssl.truststore.password=" + KeytoolAuthority.PASSWORD)) {
            args.addAll(List.of("--override", setting));
        }
        for (String setting : overrides) {
            args.addAll(List.of("--override", setting));
        }
        return TidelogBroker.startWithListeners(listeners, args.toArray(String[]::new));
    }

    /**
     * A Java client's settings for {@code protocol} at {@code address}, trusting the test CA
     * (or the JDK's default CAs when {@code trusting} is false), presenting {@code keystore}
     * if not null; a producer that cannot send fails within seconds, not a minute.
     */
    private static Properties client(String protocol, String address, boolean trusting, Path keystore) {
        Properties props = new Properties();
        props.put("bootstrap.servers", address);
        props.put("security.protocol", protocol);
        props.put("max.block.ms", "20000");
        if (trusting) {
            props.put("ssl.truststore.type", "PKCS12");
            props.put("ssl.truststore.location", authority.truststore().toString());
            props.put("ssl.truststore.password", KeytoolAuthority.PASSWORD);
        }
        if (keystore != null) {
            props.put("ssl.keystore.type", "PKCS12");
            props.put("ssl.keystore.location", keystore.toString());
            props.put("ssl.keystore.password", KeytoolAuthority.PASSWORD);
        }
        return props;
    }

    /** Sends {@code values} to partition 0 of {@code topic}, one at a time; their offsets. */
    private static List<Long> produce(Properties props, String topic, String... values) throws Exception {
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        List<Long> offsets = new ArrayList<>();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            for (String value : values) {
                offsets.add(producer.send(new ProducerRecord<>(topic, 0, null, value)).get().offset());
            }
        }
        return offsets;
    }

    /** {@code offset:value} of the first {@code count} records of partition 0 of {@code topic}. */
    private static List<String> consume(Properties props, String topic, int count) {
        props.put("key.deserializer", StringDeserializer.class.getName());
        props.put("value.deserializer", StringDeserializer.class.getName());
        List<String> read = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            TopicPartition partition = new TopicPartition(topic, 0);
            consumer.assign(List.of(partition));
            consumer.seekToBeginning(List.of(partition));
            // Bounded: 30 polls of at most a second each.
            for (int poll = 0; poll < 30 && read.size() < count; poll++) {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofSeconds(1)).records(partition)) {
                    read.add(record.offset() + ":" + record.value());
                }
            }
        }
        return read;
    }

    /** What listing topics with {@code props} fails with. */
    private static Throwable refusal(Properties props) {
        try (Admin admin = Admin.create(props)) {
            return assertThrows(ExecutionException.class, () -> admin.listTopics().names().get()).getCause();
        }
    }

    @Test
    void javaClientsProduceAndConsumeOverSslCheckingTheBrokerCertificate() throws Exception {
        try (TidelogBroker broker = start("PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0")) {
            String ssl = broker.listenerAddress("SSL");
            try (Admin admin = Admin.create(client("SSL", ssl, true, null))) {
                admin.createTopics(List.of(new NewTopic("over-tls", 1, (short) 1))).all().get();
            }
            assertEquals(List.of(0L, 1L, 2L), produce(client("SSL", ssl, true, null), "over-tls", "a", "b", "c"));
            assertEquals(List.of("0:a", "1:b", "2:c"), consume(client("SSL", ssl, true, null), "over-tls", 3));

            // The JDK's default CAs do not include the test CA: the client refuses the broker.
            assertInstanceOf(SslAuthenticationException.class, refusal(client("SSL", ssl, false, null)));
        }
    }

    @Test
    void mutualTlsNamesThePrincipalAndRefusesAClientWithoutACertificate() throws Exception {
        try (TidelogBroker broker = start("PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
                "listener.name.ssl.ssl.client.auth=required",
                "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                // The PLAINTEXT listener is the operator's here.
                "super.users=User:ANONYMOUS")) {
            try (Admin operator = Admin.create(broker.clientProps())) {
                operator.createTopics(List.of(new NewTopic("mtls", 1, (short) 1))).all().get();
                ResourcePattern topic = new ResourcePattern(ResourceType.TOPIC, "mtls", PatternType.LITERAL);
                operator.createAcls(List.of(AclOperation.WRITE, AclOperation.READ).stream()
                        .map(operation -> new AclBinding(topic,
                                new AccessControlEntry("User:" + ALICE, "*", operation, AclPermissionType.ALLOW)))
                        .toList()).all().get();
            }
            String ssl = broker.listenerAddress("SSL");
            assertEquals(List.of(0L), produce(client("SSL", ssl, true, aliceKeystore), "mtls", "from alice"));
            assertEquals(List.of("0:from alice"), consume(client("SSL", ssl, true, aliceKeystore), "mtls", 1));

            // Bob's certificate is trusted, but User:CN=bob,OU=sales,O=Tidelog has no ACL.
            ExecutionException bob = assertThrows(ExecutionException.class,
                    () -> produce(client("SSL", ssl, true, bobKeystore), "mtls", "from bob"));
            assertInstanceOf(TopicAuthorizationException.class, bob.getCause());

            assertInstanceOf(SslAuthenticationException.class, refusal(client("SSL", ssl, true, null)));
            // Served all along.
            assertEquals(List.of(1L), produce(client("SSL", ssl, true, aliceKeystore), "mtls", "still served"));
        }
    }

    @Test
    void aScramSha512UserProducesAndConsumesOverSaslSsl() throws Exception {
        try (TidelogBroker broker = start("PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
                "listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512")) {
            try (Admin operator = Admin.create(broker.clientProps())) {
                operator.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion("carol",
                        new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), SCRAM_PASSWORD))).all().get();
                operator.createTopics(List.of(new NewTopic("scram-tls", 1, (short) 1))).all().get();
            }
            String saslSsl = broker.listenerAddress("SASL_SSL");
            assertEquals(List.of(0L, 1L), produce(scram(saslSsl), "scram-tls", "x", "y"));
            assertEquals(List.of("0:x", "1:y"), consume(scram(saslSsl), "scram-tls", 2));
            assertFalse(broker.log().contains(SCRAM_PASSWORD), broker.log());
        }
    }

    private static Properties scram(String address) {
        Properties props = client("SASL_SSL", address, true, null);
        props.put("sasl.mechanism", "SCRAM-SHA-512");
        props.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required "
                + "username=\"carol\" password=\"" + SCRAM_PASSWORD + "\";");
        return props;
    }
}
