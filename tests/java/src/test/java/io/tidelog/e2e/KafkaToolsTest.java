package io.tidelog.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * Kafka's own command-line tools, run from the jars as their shell scripts run them,
 * against Tidelog: each does what it does on Apache Kafka, checked by its output and by
 * what a client then sees.
 */
class KafkaToolsTest {
    private static KafkaTool.Result tool(TidelogBroker broker, String mainClass, String... args) throws Exception {
        List<String> all = new ArrayList<>(List.of("--bootstrap-server", broker.bootstrap()));
        all.addAll(List.of(args));
        KafkaTool.Result result = KafkaTool.run(mainClass, all);
        assertEquals(0, result.exitCode(), mainClass + " " + all + ":\n" + result.output());
        return result;
    }

    private static void produce(TidelogBroker broker, String topic, int count) {
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(broker.clientProps(Map.of(
                "key.serializer", StringSerializer.class.getName(),
                "value.serializer", StringSerializer.class.getName())))) {
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(topic, 0, "key-" + i, "value-" + i));
            }
        }
    }

    private static void assertLine(String output, String regex) {
        assertTrue(Pattern.compile(regex, Pattern.MULTILINE).matcher(output).find(),
                "no line matching " + regex + " in:\n" + output);
    }

    @Test
    void kafkaTopicsCreatesListsDescribesAltersAndDeletes() throws Exception {
        String topics = "org.apache.kafka.tools.TopicCommand";
        try (TidelogBroker broker = TidelogBroker.start()) {
            assertLine(tool(broker, topics, "--create", "--topic", "cli", "--partitions", "3",
                    "--config", "retention.ms=3600000").output(), "^Created topic cli\\.");
            assertLine(tool(broker, topics, "--list").output(), "^cli$");
            String described = tool(broker, topics, "--describe", "--topic", "cli").output();
            assertLine(described, "Topic: cli\\s+TopicId: \\S+\\s+PartitionCount: 3\\s+ReplicationFactor: 1\\s+Configs: retention.ms=3600000");
            assertLine(described, "Topic: cli\\s+Partition: 2\\s+Leader: 1\\s+Replicas: 1\\s+Isr: 1");
            tool(broker, topics, "--alter", "--topic", "cli", "--partitions", "5");
            assertLine(tool(broker, topics, "--describe", "--topic", "cli").output(), "PartitionCount: 5");
            tool(broker, topics, "--delete", "--topic", "cli");
            assertFalse(Pattern.compile("^cli$", Pattern.MULTILINE).matcher(tool(broker, topics, "--list").output())
                    .find());
        }
    }

    @Test
    void kafkaConfigsAltersAndDescribesTopicConfigs() throws Exception {
        String configs = KafkaTool.mainClass("org.apache.kafka.tools.ConfigCommand", "kafka.admin.ConfigCommand");
        try (TidelogBroker broker = TidelogBroker.start()) {
            Topics.create(broker, "configured", 1);
            tool(broker, configs, "--entity-type", "topics", "--entity-name", "configured", "--alter",
                    "--add-config", "retention.ms=1000,max.message.bytes=2048");
            String described = tool(broker, configs, "--entity-type", "topics", "--entity-name", "configured",
                    "--describe").output();
            assertLine(described, "retention.ms=1000 sensitive=false");
            assertLine(described, "max.message.bytes=2048 sensitive=false");
            tool(broker, configs, "--entity-type", "topics", "--entity-name", "configured", "--alter",
                    "--delete-config", "retention.ms");
            described = tool(broker, configs, "--entity-type", "topics", "--entity-name", "configured",
                    "--describe").output();
            assertFalse(described.contains("retention.ms=1000"), described);
        }
    }

    @Test
    void kafkaConsumerGroupsDescribesListsResetsAndDeletes() throws Exception {
        String groups = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";
        try (TidelogBroker broker = TidelogBroker.start()) {
            Topics.create(broker, "grouped", 1);
            produce(broker, "grouped", 10);
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(broker.clientProps(Map.of(
                    "group.id", "readers", "auto.offset.reset", "earliest", "enable.auto.commit", "false",
                    "key.deserializer", StringDeserializer.class.getName(),
                    "value.deserializer", StringDeserializer.class.getName())))) {
                consumer.subscribe(List.of("grouped"));
                int read = 0;
                long deadline = System.nanoTime() + Topics.READ_TIMEOUT.toNanos();
                while (read < 10 && System.nanoTime() < deadline) {
                    read += consumer.poll(Duration.ofMillis(200)).count();
                }
                assertEquals(10, read);
                consumer.commitSync();
            }
            assertLine(tool(broker, groups, "--list").output(), "^readers$");
            assertLine(tool(broker, groups, "--describe", "--group", "readers").output(),
                    "^readers\\s+grouped\\s+0\\s+10\\s+10\\s+0\\s");
            String reset = tool(broker, groups, "--reset-offsets", "--group", "readers", "--topic", "grouped",
                    "--to-earliest", "--execute").output();
            assertLine(reset, "^readers\\s+grouped\\s+0\\s+0\\s*$");
            try (Admin admin = Admin.create(broker.clientProps())) {
                assertEquals(0, admin.listConsumerGroupOffsets("readers").partitionsToOffsetAndMetadata().get()
                        .get(new TopicPartition("grouped", 0)).offset());
            }
            assertLine(tool(broker, groups, "--delete", "--group", "readers").output(),
                    "Deletion of requested consumer groups \\('readers'\\) was successful");
            assertFalse(Pattern.compile("^readers$", Pattern.MULTILINE).matcher(tool(broker, groups, "--list").output())
                    .find());
        }
    }

    @Test
    void kafkaTransactionsAndKafkaFeaturesDescribeWhatTheBrokerHas() throws Exception {
        try (TidelogBroker broker = TidelogBroker.start()) {
            Topics.create(broker, "txn", 1);
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(broker.clientProps(Map.of(
                    "transactional.id", "tool-tx",
                    "key.serializer", StringSerializer.class.getName(),
                    "value.serializer", StringSerializer.class.getName())))) {
                producer.initTransactions();
                producer.beginTransaction();
                producer.send(new ProducerRecord<>("txn", "k", "v"));
                producer.commitTransaction();
            }
            String transactions = "org.apache.kafka.tools.TransactionsCommand";
            assertLine(tool(broker, transactions, "list").output(), "^tool-tx\\s+1\\s+\\d+\\s+CompleteCommit");
            assertLine(tool(broker, transactions, "describe", "--transactional-id", "tool-tx").output(),
                    "^1\\s+tool-tx\\s+\\d+\\s+\\d+\\s+CompleteCommit");
            String features = tool(broker, "org.apache.kafka.tools.FeatureCommand", "describe").output();
            assertLine(features, "Feature: transaction.version\\s+SupportedMinVersion: \\d+\\s+SupportedMaxVersion: 2\\s+FinalizedVersionLevel: 2");
            assertLine(features, "Feature: group.version\\s+SupportedMinVersion: \\d+\\s+SupportedMaxVersion: 1\\s+FinalizedVersionLevel: 1");
            assertLine(tool(broker, "org.apache.kafka.tools.FeatureCommand", "downgrade", "--feature",
                    "transaction.version=1").output(), "^transaction.version was downgraded to 1.$");
            assertLine(tool(broker, "org.apache.kafka.tools.FeatureCommand", "describe").output(),
                    "Feature: transaction.version\\s+SupportedMinVersion: \\d+\\s+SupportedMaxVersion: 2\\s+FinalizedVersionLevel: 1");
            KafkaTool.Result refused = KafkaTool.run("org.apache.kafka.tools.FeatureCommand", List.of(
                    "--bootstrap-server", broker.bootstrap(), "upgrade", "--feature", "transaction.version=3"));
            assertNotEquals(0, refused.exitCode(), refused.output());
            assertLine(refused.output(), "Invalid update version 3 for feature transaction.version");
            assertLine(tool(broker, "org.apache.kafka.tools.FeatureCommand", "upgrade", "--feature",
                    "transaction.version=2").output(), "^transaction.version was upgraded to 2.$");
        }
    }

    @Test
    void kafkaLeaderElectionFindsEveryLeaderInPlace() throws Exception {
        try (TidelogBroker broker = TidelogBroker.start()) {
            Topics.create(broker, "led", 2);
            String election = "org.apache.kafka.tools.LeaderElectionCommand";
            assertLine(tool(broker, election, "--election-type", "preferred", "--topic", "led", "--partition", "1")
                    .output(), "^Valid replica already elected for partitions led-1$");
            KafkaTool.Result unknown = KafkaTool.run(election, List.of("--bootstrap-server", broker.bootstrap(),
                    "--election-type", "unclean", "--topic", "nope", "--partition", "0"));
            assertNotEquals(0, unknown.exitCode(), unknown.output());
            assertLine(unknown.output(), "nope-0.*UnknownTopicOrPartitionException");
        }
    }

    @Test
    void offsetsRecordsAndTheConsumerPerfTest() throws Exception {
        try (TidelogBroker broker = TidelogBroker.start()) {
            Topics.create(broker, "measured", 1);
            produce(broker, "measured", 100);
            assertLine(tool(broker, "org.apache.kafka.tools.GetOffsetShell", "--topic", "measured").output(),
                    "^measured:0:100$");
            Path offsets = Files.createTempFile("delete-records", ".json");
            Files.writeString(offsets,
                    "{\"partitions\":[{\"topic\":\"measured\",\"partition\":0,\"offset\":30}],\"version\":1}");
            assertLine(tool(broker, "org.apache.kafka.tools.DeleteRecordsCommand", "--offset-json-file",
                    offsets.toString()).output(), "partition: measured-0\\s+low_watermark: 30");
            Files.delete(offsets);
            assertLine(tool(broker, "org.apache.kafka.tools.GetOffsetShell", "--topic", "measured", "--time",
                    "-2").output(), "^measured:0:30$");
            // The perf consumer reads what is left: 70 records.
            String perf = tool(broker, "org.apache.kafka.tools.ConsumerPerformance", "--topic", "measured",
                    "--messages", "70", "--timeout", "60000").output();
            assertLine(perf, ",\\s*70,\\s*[0-9.]+,");
        }
    }

    /** kafka-dump-log reads Tidelog's segment and both indexes, batch by batch. */
    @Test
    void kafkaDumpLogReadsTidelogsSegmentsAndIndexes() throws Exception {
        String dumpLog = KafkaTool.mainClass("org.apache.kafka.tools.DumpLogSegments", "kafka.tools.DumpLogSegments");
        try (TidelogBroker broker = TidelogBroker.start()) {
            Topics.create(broker, "dumped", 1);
            produce(broker, "dumped", 50);
            assertEquals(0, broker.stop());
            Path partition = broker.logDir().resolve("dumped-0");
            String segment = partition.resolve("00000000000000000000.log").toString();
            KafkaTool.Result log = KafkaTool.run(dumpLog, List.of("--files", segment, "--print-data-log"));
            assertEquals(0, log.exitCode(), log.output());
            assertFalse(log.output().contains("Exception"), log.output());
            assertLine(log.output(), "baseOffset: 0 lastOffset: \\d+ count: \\d+");
            assertLine(log.output(), "offset: 49 .*key: key-49 payload: value-49");
            for (String index : List.of("00000000000000000000.index", "00000000000000000000.timeindex")) {
                KafkaTool.Result dumped = KafkaTool.run(dumpLog, List.of("--files",
                        partition.resolve(index).toString(), "--index-sanity-check"));
                assertEquals(0, dumped.exitCode(), dumped.output());
                assertFalse(dumped.output().contains("Exception") || dumped.output().contains("mismatch"),
                        dumped.output());
            }
            broker.restart();
        }
    }
}
