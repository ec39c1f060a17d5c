package io.tidelog.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.UserScramCredentialsDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ResourceNotFoundException;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * SASL/SCRAM with Kafka's own tool and Java client: {@code kafka-configs --alter
 * --add-config 'SCRAM-SHA-256=[iterations=8192,password=...]' --entity-type users} sets the
 * credentials over the PLAINTEXT listener, the AdminClient describes them, and on the
 * SASL_PLAINTEXT listener (SCRAM only) the Java client's ScramLoginModule logs in,
 * produces and consumes; a wrong password is refused with Kafka's message.
 */
class ScramTest {
    private static final String ALICE_PASSWORD = "alice-Pa55word";
    private static final String BOB_PASSWORD = "bob-Pa55word";

    private static void setCredential(TidelogBroker broker, String user, String config) throws Exception {
        String configs = KafkaTool.mainClass("org.apache.kafka.tools.ConfigCommand", "kafka.admin.ConfigCommand");
        KafkaTool.Result result = KafkaTool.run(configs, List.of("--bootstrap-server", broker.bootstrap(),
                "--alter", "--add-config", config, "--entity-type", "users", "--entity-name", user));
        assertEquals(0, result.exitCode(), result.output());
    }

    private static Properties login(TidelogBroker broker, String mechanism, String user, String password) {
        Properties props = new Properties();
        props.put("bootstrap.servers", broker.listenerAddress("SASL_PLAINTEXT"));
        props.put("security.protocol", "SASL_PLAINTEXT");
        props.put("sasl.mechanism", mechanism);
        props.put("sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required "
                + "username=\"" + user + "\" password=\"" + password + "\";");
        return props;
    }

    @Test
    void kafkaConfigsSetsScramUsersAndTheJavaClientLogsInWithThem() throws Exception {
        try (TidelogBroker broker = TidelogBroker.startWithListeners(
                "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
                "--override", "listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512")) {
            setCredential(broker, "alice", "SCRAM-SHA-256=[iterations=8192,password=" + ALICE_PASSWORD + "]");
            setCredential(broker, "bob", "SCRAM-SHA-512=[password=" + BOB_PASSWORD + "]");

            try (Admin admin = Admin.create(broker.clientProps())) {
                Map<String, UserScramCredentialsDescription> described =
                        admin.describeUserScramCredentials().all().get();
                Map<String, String> infos = new TreeMap<>();
                described.forEach((user, d) -> infos.put(user, d.credentialInfos().stream()
                        .map(i -> i.mechanism() + "/" + i.iterations()).collect(Collectors.joining(","))));
                assertEquals(Map.of("alice", "SCRAM_SHA_256/8192", "bob", "SCRAM_SHA_512/4096"), infos);
                ExecutionException missing = assertThrows(ExecutionException.class,
                        () -> admin.describeUserScramCredentials(List.of("nobody")).description("nobody").get());
                assertInstanceOf(ResourceNotFoundException.class, missing.getCause());
            }

            Properties alice = login(broker, "SCRAM-SHA-256", "alice", ALICE_PASSWORD);
            try (Admin admin = Admin.create(alice)) {
                admin.createTopics(List.of(new NewTopic("scram", 1, (short) 1))).all().get();
            }
            Properties producerProps = login(broker, "SCRAM-SHA-256", "alice", ALICE_PASSWORD);
            producerProps.put("key.serializer", StringSerializer.class.getName());
            producerProps.put("value.serializer", StringSerializer.class.getName());
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps)) {
                producer.send(new ProducerRecord<>("scram", 0, "k", "from alice")).get();
            }
            Properties consumerProps = login(broker, "SCRAM-SHA-512", "bob", BOB_PASSWORD);
            consumerProps.put("key.deserializer", StringDeserializer.class.getName());
            consumerProps.put("value.deserializer", StringDeserializer.class.getName());
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerProps)) {
                TopicPartition partition = new TopicPartition("scram", 0);
                consumer.assign(List.of(partition));
                consumer.seekToBeginning(List.of(partition));
                List<ConsumerRecord<String, String>> read = consumer.poll(Duration.ofSeconds(30)).records(partition);
                assertEquals(List.of("from alice"), read.stream().map(ConsumerRecord::value).toList());
            }

            try (Admin intruder = Admin.create(login(broker, "SCRAM-SHA-256", "alice", "guess"))) {
                ExecutionException refused = assertThrows(ExecutionException.class,
                        () -> intruder.listTopics().names().get());
                assertInstanceOf(SaslAuthenticationException.class, refused.getCause());
                assertTrue(refused.getCause().getMessage().contains(
                        "Authentication failed during authentication due to invalid credentials with SASL mechanism "
                                + "SCRAM-SHA-256"), refused.getCause().getMessage());
            }
            String log = broker.log();
            for (String secret : List.of(ALICE_PASSWORD, BOB_PASSWORD, "guess")) {
                assertFalse(log.contains(secret), secret + " in the log:\n" + log);
            }
        }
    }
}
