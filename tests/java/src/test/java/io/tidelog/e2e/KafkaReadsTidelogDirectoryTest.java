package io.tidelog.e2e;

import static io.tidelog.e2e.DirectoryContents.abortATransaction;
import static io.tidelog.e2e.DirectoryContents.assertServes;
import static io.tidelog.e2e.DirectoryContents.bytes;
import static io.tidelog.e2e.DirectoryContents.commitAsMember;
import static io.tidelog.e2e.DirectoryContents.dynamicTopicConfigs;
import static io.tidelog.e2e.DirectoryContents.offsets;
import static io.tidelog.e2e.DirectoryContents.producerProps;
import static io.tidelog.e2e.DirectoryContents.read;
import static io.tidelog.e2e.DirectoryContents.record;
import static io.tidelog.e2e.DirectoryContents.send;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.Future;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.Test;

import io.tidelog.e2e.DirectoryContents.Expected;
import io.tidelog.e2e.DirectoryContents.Rec;

/**
 * Apache Kafka on a data directory Tidelog wrote: Kafka's own tools parse its files
 * (the KRaft metadata log and snapshot, segments, indexes), and a Kafka broker started on
 * it, without {@code kafka-storage format}, serves what Tidelog was given: topics, topic
 * ids, config overrides, every record read_committed, log start offsets, high watermarks
 * and committed group offsets, and marks no partition stray.
 */
class KafkaReadsTidelogDirectoryTest {
    private static final String PLAIN = "rt-plain";
    private static final String CONFIGURED = "rt-configured";
    private static final String TXN = "rt-txn";
    private static final String GROUP = "rt-group";
    /** The group the transactional producer commits offsets for. */
    private static final String EOS_GROUP = "rt-eos";
    private static final Map<String, String> OVERRIDES = Map.of("retention.ms", "-1", "max.message.bytes", "2097152");
    /** rt-plain-1's records below this are deleted (DeleteRecords). */
    private static final long DELETED_BELOW = 4;

    /** Step 1: everything a client does to Tidelog, remembered. */
    private static Expected fill(TidelogBroker tidelog) throws Exception {
        Expected expected = new Expected();
        expected.configs.put(CONFIGURED, OVERRIDES);
        try (Admin admin = Admin.create(tidelog.clientProps())) {
            admin.createTopics(List.of(
                    new NewTopic(PLAIN, 3, (short) 1),
                    new NewTopic(CONFIGURED, 1, (short) 1).configs(OVERRIDES),
                    new NewTopic(TXN, 1, (short) 1))).all().get();
            for (TopicDescription topic : admin.describeTopics(List.of(PLAIN, CONFIGURED, TXN)).allTopicNames().get()
                    .values()) {
                expected.topicIds.put(topic.name(), topic.topicId());
                expected.partitionCounts.put(topic.name(), topic.partitions().size());
            }
        }
        // Plain keyed records with headers (one with a null value, one with a null header value);
        // rt-configured's compressed, one of them larger than the default max.message.bytes.
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(tidelog, Map.of()))) {
            List<ProducerRecord<byte[], byte[]>> sent = new ArrayList<>();
            for (int i = 0; i < 30; i++) {
                sent.add(record(PLAIN, i % 3, "key-" + i, i == 7 ? null : "value-" + i,
                        "seq", String.valueOf(i), "source", i == 11 ? null : "tidelog"));
            }
            send(producer, sent, expected);
        }
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(tidelog, Map.of(
                "compression.type", "gzip", "max.request.size", 2_000_000)))) {
            List<ProducerRecord<byte[], byte[]>> sent = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                sent.add(record(CONFIGURED, 0, "conf-" + i, "configured-" + i, "n", String.valueOf(i)));
            }
            ProducerRecord<byte[], byte[]> big = new ProducerRecord<>(CONFIGURED, 0, System.currentTimeMillis(),
                    bytes("big"), new byte[1_500_000]);
            new Random(42).nextBytes(big.value());
            big.headers().add("size", bytes("1500000"));
            sent.add(big);
            send(producer, sent, expected);
        }

        // rt-plain-1's log start moves past its first records.
        try (Admin admin = Admin.create(tidelog.clientProps())) {
            TopicPartition deleted = new TopicPartition(PLAIN, 1);
            long low = admin.deleteRecords(Map.of(deleted, RecordsToDelete.beforeOffset(DELETED_BELOW)))
                    .lowWatermarks().get(deleted).get().lowWatermark();
            assertEquals(DELETED_BELOW, low);
            expected.records.removeIf(r -> r.topic().equals(PLAIN) && r.partition() == 1 && r.offset() < DELETED_BELOW);
        }

        // A transaction committed (records and a group's offsets), one aborted, then plain records
        // after them in the same partitions.
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(tidelog, Map.of(
                "transactional.id", "rt-tx")))) {
            producer.initTransactions();
            producer.beginTransaction();
            List<ProducerRecord<byte[], byte[]>> committed = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                committed.add(record(TXN, 0, "committed-" + i, "c" + i, "txn", "commit"));
            }
            committed.add(record(PLAIN, 2, "committed-plain", "c", "txn", "commit"));
            List<Future<RecordMetadata>> futures = committed.stream().map(producer::send).toList();
            producer.sendOffsetsToTransaction(Map.of(new TopicPartition(PLAIN, 0), new OffsetAndMetadata(5, "eos")),
                    new ConsumerGroupMetadata(EOS_GROUP));
            producer.commitTransaction();
            for (int i = 0; i < committed.size(); i++) {
                expected.records.add(Rec.sent(futures.get(i).get(), committed.get(i)));
            }

            abortATransaction(producer, TXN, PLAIN, EOS_GROUP);
        }
        expected.groupOffsets.put(EOS_GROUP, Map.of(new TopicPartition(PLAIN, 0), new OffsetAndMetadata(5, "eos")));
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(tidelog, Map.of()))) {
            send(producer, List.of(record(TXN, 0, "after-0", "p0"), record(TXN, 0, "after-1", "p1"),
                    record(PLAIN, 2, "after-plain", "p")), expected);
        }

        // A classic group's committed offsets, with metadata, on both plain topics.
        Map<TopicPartition, OffsetAndMetadata> committedOffsets = Map.of(
                new TopicPartition(PLAIN, 0), new OffsetAndMetadata(7, "p0"),
                new TopicPartition(PLAIN, 1), new OffsetAndMetadata(10, "p1"),
                new TopicPartition(PLAIN, 2), new OffsetAndMetadata(3, ""),
                new TopicPartition(CONFIGURED, 0), new OffsetAndMetadata(6, "configured"));
        commitAsMember(tidelog, GROUP, "classic", List.of(PLAIN, CONFIGURED), committedOffsets);
        expected.groupOffsets.put(GROUP, committedOffsets);

        // What Tidelog itself serves: the expectations are right before Kafka is asked.
        try (Admin admin = Admin.create(tidelog.clientProps())) {
            Set<TopicPartition> partitions = expected.allPartitions();
            expected.earliest.putAll(offsets(admin, partitions, OffsetSpec.earliest()));
            expected.latest.putAll(offsets(admin, partitions, OffsetSpec.latest()));
            for (var group : expected.groupOffsets.entrySet()) {
                assertEquals(group.getValue(), admin.listConsumerGroupOffsets(group.getKey())
                        .partitionsToOffsetAndMetadata().get(), "Tidelog's offsets of " + group.getKey());
            }
            assertEquals(OVERRIDES, dynamicTopicConfigs(admin, CONFIGURED));
        }
        assertEquals(DELETED_BELOW, expected.earliest.get(new TopicPartition(PLAIN, 1)));
        // Both transaction markers, the aborted records and the last plain records count in rt-txn-0.
        assertEquals(4 + 1 + 3 + 1 + 2, expected.latest.get(new TopicPartition(TXN, 0)));
        for (String topic : List.of(PLAIN, CONFIGURED, TXN)) {
            assertEquals(expected.of(topic), read(tidelog, topic, "read_committed"), "Tidelog's records of " + topic);
        }
        return expected;
    }

    // ---- Step 2: Kafka's tools on Tidelog's files ----

    private static String dump(String... args) throws Exception {
        String dumpLog = KafkaTool.mainClass("org.apache.kafka.tools.DumpLogSegments", "kafka.tools.DumpLogSegments");
        KafkaTool.Result result = KafkaTool.run(dumpLog, List.of(args));
        assertEquals(0, result.exitCode(), "kafka-dump-log " + List.of(args) + ":\n" + result.output());
        assertNoComplaint("kafka-dump-log " + List.of(args), result.output());
        return result.output();
    }

    private static final Pattern COMPLAINT = Pattern.compile("(?i)exception|corrupt|mismatch|non-consecutive");

    private static void assertNoComplaint(String what, String output) {
        List<String> complaints = output.lines().filter(l -> COMPLAINT.matcher(l).find()).toList();
        assertTrue(complaints.isEmpty(), what + " complained:\n" + String.join("\n", complaints)
                + "\n---- whole output:\n" + output);
    }

    private static void assertLine(String output, String regex) {
        assertTrue(Pattern.compile(regex, Pattern.MULTILINE).matcher(output).find(),
                "no line matching " + regex + " in:\n" + output);
    }

    private static List<Path> files(Path dir, String suffix) throws Exception {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(f -> f.getFileName().toString().endsWith(suffix)).sorted().toList();
        }
    }

    private static void dumpTidelogsFiles(Path logDir, Expected expected) throws Exception {
        // The KRaft metadata log and its snapshots: between them, every topic and override.
        Path metadata = logDir.resolve("__cluster_metadata-0");
        StringBuilder decoded = new StringBuilder();
        decoded.append(dump("--cluster-metadata-decoder", "--files",
                metadata.resolve("00000000000000000000.log").toString()));
        List<Path> snapshots = files(metadata, ".checkpoint");
        assertFalse(snapshots.isEmpty(), "no snapshot in " + metadata);
        for (Path snapshot : snapshots) {
            decoded.append(dump("--cluster-metadata-decoder", "--files", snapshot.toString()));
        }
        String metadataRecords = decoded.toString();
        for (var topic : expected.topicIds.entrySet()) {
            assertLine(metadataRecords, "\"type\":\"TOPIC_RECORD\".*\"name\":\"" + topic.getKey()
                    + "\",\"topicId\":\"" + topic.getValue() + "\"");
        }
        for (var config : OVERRIDES.entrySet()) {
            assertLine(metadataRecords, "\"type\":\"CONFIG_RECORD\".*\"resourceName\":\"" + CONFIGURED
                    + "\",\"name\":\"" + config.getKey() + "\",\"value\":\"" + config.getValue() + "\"");
        }
        assertLine(metadataRecords, "\"type\":\"FEATURE_LEVEL_RECORD\".*\"name\":\"metadata.version\"");

        // Segments, record by record, with keys, payloads, headers and transaction markers.
        String plain = dump("--deep-iteration", "--print-data-log", "--files",
                logDir.resolve(PLAIN + "-0").resolve("00000000000000000000.log").toString());
        assertLine(plain, "offset: 0 .*headerKeys: \\[seq, ?source\\] key: key-0 payload: value-0");
        String txn = dump("--deep-iteration", "--print-data-log", "--files",
                logDir.resolve(TXN + "-0").resolve("00000000000000000000.log").toString());
        assertLine(txn, "isTransactional: true");
        assertLine(txn, "endTxnMarker: COMMIT");
        assertLine(txn, "endTxnMarker: ABORT");
        assertLine(txn, "key: aborted-0 payload: a0");
        String configured = dump("--deep-iteration", "--print-data-log", "--files",
                logDir.resolve(CONFIGURED + "-0").resolve("00000000000000000000.log").toString());
        assertLine(configured, "compresscodec: gzip");
        assertLine(configured, "key: conf-4 payload: configured-4");
        // Their indexes, checked against the segments.
        for (String partition : List.of(PLAIN + "-0", CONFIGURED + "-0", TXN + "-0")) {
            for (String index : List.of("00000000000000000000.index", "00000000000000000000.timeindex")) {
                dump("--index-sanity-check", "--files", logDir.resolve(partition).resolve(index).toString());
                dump("--files", logDir.resolve(partition).resolve(index).toString());
            }
        }
        // The groups' offsets and the transaction in Kafka's internal topics.
        String offsetsPartition = "__consumer_offsets-" + Utils.abs(GROUP.hashCode()) % partitionDirs(logDir,
                "__consumer_offsets");
        String offsets = dump("--offsets-decoder", "--files",
                logDir.resolve(offsetsPartition).resolve("00000000000000000000.log").toString());
        // Kafka 4.4 decodes to JSON, 4.0 to key=value pairs.
        assertLine(offsets, "\"group\":\"" + GROUP + "\",\"topic\":\"" + PLAIN + "\",\"partition\":1"
                + "|group=" + GROUP + ",partition=" + PLAIN + "-1");
        String txnPartition = "__transaction_state-" + Utils.abs("rt-tx".hashCode()) % partitionDirs(logDir,
                "__transaction_state");
        String transactions = dump("--transaction-log-decoder", "--files",
                logDir.resolve(txnPartition).resolve("00000000000000000000.log").toString());
        assertLine(transactions, "\"transactionalId\":\"rt-tx\"|transactionalId=rt-tx ");
    }

    private static int partitionDirs(Path logDir, String topic) throws Exception {
        try (Stream<Path> dirs = Files.list(logDir)) {
            return (int) dirs.filter(d -> d.getFileName().toString().matches(Pattern.quote(topic) + "-\\d+")).count();
        }
    }

    // ---- Step 3: Kafka on Tidelog's directory ----

    @Test
    void kafkaToolsAndKafkaItselfReadWhatTidelogWrote() throws Exception {
        try (TidelogBroker tidelog = TidelogBroker.start()) {
            Expected expected = fill(tidelog);
            assertEquals(0, tidelog.stop(), tidelog.log());
            Path logDir = tidelog.logDir();

            dumpTidelogsFiles(logDir, expected);

            try (KafkaBroker kafka = KafkaBroker.startOn(logDir)) {
                try {
                    assertServes(kafka, expected);
                } catch (AssertionError | Exception e) {
                    throw new AssertionError(e.getMessage() + "\n---- Kafka's log:\n" + kafka.log(), e);
                }
                // For the record (the report shows it): what Kafka warned of on Tidelog's files.
                kafka.log().lines().filter(l -> l.contains(" WARN ") || l.contains(" ERROR "))
                        .forEach(l -> System.out.println("Kafka on Tidelog's directory: " + l));
                // A partition directory Kafka cannot place (no or another partition.metadata) is
                // renamed *-stray; an index it cannot trust is "corrupted" and rebuilt.
                List<String> refused = kafka.log().lines()
                        .filter(l -> Pattern.compile("(?i)stray|corrupt").matcher(l).find()).toList();
                assertTrue(refused.isEmpty(), "Kafka refused some of Tidelog's files:\n" + String.join("\n", refused));
            }
        }
    }
}
