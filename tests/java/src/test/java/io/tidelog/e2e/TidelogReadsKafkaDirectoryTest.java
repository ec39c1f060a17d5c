package io.tidelog.e2e;

import static io.tidelog.e2e.DirectoryContents.abortATransaction;
import static io.tidelog.e2e.DirectoryContents.assertServes;
import static io.tidelog.e2e.DirectoryContents.bytes;
import static io.tidelog.e2e.DirectoryContents.commitAsMember;
import static io.tidelog.e2e.DirectoryContents.offsets;
import static io.tidelog.e2e.DirectoryContents.producerProps;
import static io.tidelog.e2e.DirectoryContents.read;
import static io.tidelog.e2e.DirectoryContents.record;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;

import io.tidelog.e2e.DirectoryContents.Expected;
import io.tidelog.e2e.DirectoryContents.Rec;

/**
 * Tidelog on a data directory Apache Kafka (of the Maven-selected version) wrote: Kafka's
 * clients fill it (topics with and without overrides, a compacted one, keyed records with
 * headers, batches of every codec, a committed and an aborted transaction, a classic and a
 * KIP-848 group's commits, DeleteRecords), Kafka's answers are recorded, Kafka stops
 * cleanly, and Tidelog started on the directory (as node 1, Kafka's) serves exactly those
 * answers: topics, topic ids, partition counts, overrides, every record read_committed and
 * read_uncommitted, log start offsets, high watermarks and both groups' offsets. Then the
 * transactional id goes on and plain records append at the old ends; nothing is set aside
 * as stray.
 */
class TidelogReadsKafkaDirectoryTest {
    private static final String PLAIN = "kt-plain";
    private static final String CONFIGURED = "kt-configured";
    private static final String COMPACTED = "kt-compacted";
    private static final String TXN = "kt-txn";
    private static final String TXN_ID = "kt-tx";
    private static final String CLASSIC_GROUP = "kt-classic";
    /** A KIP-848 group ({@code group.protocol=consumer}). */
    private static final String CONSUMER_GROUP = "kt-consumer";
    /** The group the transactional producer commits offsets for. */
    private static final String EOS_GROUP = "kt-eos";
    private static final Map<String, String> OVERRIDES = Map.of("retention.ms", "-1",
            "max.message.bytes", "2097152", "message.timestamp.type", "LogAppendTime");
    private static final Map<String, String> COMPACT = Map.of("cleanup.policy", "compact");
    /** kt-plain-1's records below this are deleted (DeleteRecords). */
    private static final long DELETED_BELOW = 4;
    /** Kafka's committed offsets outlive its default 7-day retention here (as the Python fixture's). */
    private static final String NEVER_EXPIRE = "offsets.retention.minutes=100000000";

    private static final Map<TopicPartition, OffsetAndMetadata> CLASSIC_OFFSETS = Map.of(
            new TopicPartition(PLAIN, 0), new OffsetAndMetadata(7, "p0"),
            new TopicPartition(PLAIN, 1), new OffsetAndMetadata(10, "p1"),
            new TopicPartition(PLAIN, 2), new OffsetAndMetadata(3, ""),
            new TopicPartition(CONFIGURED, 0), new OffsetAndMetadata(6, "configured"));
    private static final Map<TopicPartition, OffsetAndMetadata> CONSUMER_OFFSETS = Map.of(
            new TopicPartition(PLAIN, 0), new OffsetAndMetadata(2, "848-p0"),
            new TopicPartition(PLAIN, 1), new OffsetAndMetadata(12, "848-p1"),
            new TopicPartition(PLAIN, 2), new OffsetAndMetadata(20, null),
            new TopicPartition(COMPACTED, 0), new OffsetAndMetadata(9, "compacted"));
    private static final Map<TopicPartition, OffsetAndMetadata> EOS_OFFSETS = Map.of(
            new TopicPartition(PLAIN, 0), new OffsetAndMetadata(5, "eos"));

    /** The codecs of the client on the classpath (snappy only with its native library's jar). */
    private static List<String> codecs() {
        List<String> codecs = new ArrayList<>(List.of("gzip", "lz4", "zstd"));
        try {
            Class.forName("org.xerial.snappy.Snappy", false, TidelogReadsKafkaDirectoryTest.class.getClassLoader());
            codecs.add("snappy");
        } catch (ClassNotFoundException absent) {
            System.out.println("no snappy-java on the classpath: no snappy batch");
        }
        return codecs;
    }

    /** Step 1: Kafka's clients write to Kafka. */
    private static void fill(KafkaBroker kafka) throws Exception {
        try (Admin admin = Admin.create(kafka.clientProps())) {
            admin.createTopics(List.of(
                    new NewTopic(PLAIN, 3, (short) 1),
                    new NewTopic(CONFIGURED, 1, (short) 1).configs(OVERRIDES),
                    new NewTopic(COMPACTED, 1, (short) 1).configs(COMPACT),
                    new NewTopic(TXN, 1, (short) 1))).all().get();
        }
        // Keyed records with headers (a null value, a null header value), uncompressed.
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(kafka, Map.of()))) {
            for (int i = 0; i < 30; i++) {
                producer.send(record(PLAIN, i % 3, "key-" + i, i == 7 ? null : "value-" + i,
                        "seq", String.valueOf(i), "source", i == 11 ? null : "kafka"));
            }
            producer.flush();
        }
        // A batch of each codec in each partition.
        for (String codec : codecs()) {
            try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(kafka, Map.of(
                    "compression.type", codec, "linger.ms", 100)))) {
                for (int i = 0; i < 12; i++) {
                    producer.send(record(PLAIN, i % 3, codec + "-" + i, codec + " value " + i + " " + "x".repeat(i * 10),
                            "codec", codec));
                }
                producer.flush();
            }
        }
        // LogAppendTime, compressed, one record larger than the default max.message.bytes.
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(kafka, Map.of(
                "compression.type", "lz4", "max.request.size", 2_000_000)))) {
            for (int i = 0; i < 5; i++) {
                producer.send(record(CONFIGURED, 0, "conf-" + i, "configured-" + i, "n", String.valueOf(i)));
            }
            ProducerRecord<byte[], byte[]> big = new ProducerRecord<>(CONFIGURED, 0, System.currentTimeMillis(),
                    bytes("big"), new byte[1_500_000]);
            new Random(42).nextBytes(big.value());
            big.headers().add("size", bytes("1500000"));
            producer.send(big);
            producer.flush();
        }
        // Compacted: keys written twice, one deleted (a tombstone).
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(kafka, Map.of()))) {
            for (int round = 0; round < 2; round++) {
                for (int k = 0; k < 5; k++) {
                    producer.send(record(COMPACTED, 0, "k" + k, "v" + k + "." + round));
                }
            }
            producer.send(record(COMPACTED, 0, "k2", null, "deleted", "yes"));
            producer.flush();
        }
        // A transaction committed (records and a group's offsets), one aborted, then plain records.
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(kafka, Map.of(
                "transactional.id", TXN_ID)))) {
            producer.initTransactions();
            producer.beginTransaction();
            for (int i = 0; i < 4; i++) {
                producer.send(record(TXN, 0, "committed-" + i, "c" + i, "txn", "commit"));
            }
            producer.send(record(PLAIN, 2, "committed-plain", "c", "txn", "commit"));
            producer.sendOffsetsToTransaction(EOS_OFFSETS, new ConsumerGroupMetadata(EOS_GROUP));
            producer.commitTransaction();

            abortATransaction(producer, TXN, PLAIN, EOS_GROUP);
        }
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(kafka, Map.of()))) {
            producer.send(record(TXN, 0, "after-0", "p0"));
            producer.send(record(TXN, 0, "after-1", "p1"));
            producer.send(record(PLAIN, 2, "after-plain", "p"));
            producer.flush();
        }
        // kt-plain-1's log start moves past its first records.
        try (Admin admin = Admin.create(kafka.clientProps())) {
            TopicPartition deleted = new TopicPartition(PLAIN, 1);
            long low = admin.deleteRecords(Map.of(deleted, RecordsToDelete.beforeOffset(DELETED_BELOW)))
                    .lowWatermarks().get(deleted).get().lowWatermark();
            assertEquals(DELETED_BELOW, low);
        }
        // A classic group's and a KIP-848 group's committed offsets.
        commitAsMember(kafka, CLASSIC_GROUP, "classic", List.of(PLAIN, CONFIGURED), CLASSIC_OFFSETS);
        commitAsMember(kafka, CONSUMER_GROUP, "consumer", List.of(PLAIN, COMPACTED), CONSUMER_OFFSETS);
        awaitStable(kafka);
    }

    /** Until every transaction marker is written: read_committed's ends are the high watermarks. */
    private static void awaitStable(KafkaBroker kafka) throws Exception {
        try (Admin admin = Admin.create(kafka.clientProps())) {
            Map<TopicPartition, OffsetSpec> ends = Map.of(new TopicPartition(TXN, 0), OffsetSpec.latest(),
                    new TopicPartition(PLAIN, 2), OffsetSpec.latest());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (true) {
                Map<TopicPartition, Long> latest = offsets(admin, ends.keySet(), OffsetSpec.latest());
                Map<TopicPartition, Long> stable = new TreeMap<>(Comparator.comparing(TopicPartition::toString));
                admin.listOffsets(ends, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).all().get()
                        .forEach((p, info) -> stable.put(p, info.offset()));
                if (stable.equals(latest)) {
                    return;
                }
                assertTrue(System.nanoTime() < deadline, "transactions still open: " + stable + " < " + latest);
                Thread.sleep(100);
            }
        }
    }

    /** What Kafka served is what its clients wrote (so the expectations mean something). */
    private static void checkKafkasAnswers(Expected kafka) {
        assertEquals(Map.of(PLAIN, 3, CONFIGURED, 1, COMPACTED, 1, TXN, 1), kafka.partitionCounts);
        assertEquals(Map.of(CONFIGURED, OVERRIDES, COMPACTED, COMPACT), kafka.configs);
        assertEquals(Map.of(CLASSIC_GROUP, CLASSIC_OFFSETS, CONSUMER_GROUP, CONSUMER_OFFSETS, EOS_GROUP, EOS_OFFSETS),
                kafka.groupOffsets);
        assertEquals(DELETED_BELOW, kafka.earliest.get(new TopicPartition(PLAIN, 1)));
        // Both markers, the aborted records and the plain ones after them count in kt-txn-0.
        assertEquals(4 + 1 + 3 + 1 + 2, kafka.latest.get(new TopicPartition(TXN, 0)));
        assertEquals(List.of("committed-0", "committed-1", "committed-2", "committed-3", "after-0", "after-1"),
                kafka.of(TXN).stream().map(Rec::key).toList());
        assertEquals(List.of("committed-0", "committed-1", "committed-2", "committed-3",
                        "aborted-0", "aborted-1", "aborted-2", "after-0", "after-1"),
                kafka.uncommitted.get(TXN).stream().map(Rec::key).toList());
        assertTrue(kafka.uncommitted.get(PLAIN).stream().anyMatch(r -> r.key().equals("aborted-plain")));
        assertTrue(kafka.of(PLAIN).stream().noneMatch(r -> r.key().equals("aborted-plain")));
        for (String codec : codecs()) {
            assertEquals(12, kafka.of(PLAIN).stream().filter(r -> r.key().startsWith(codec + "-")).count(), codec);
        }
        assertEquals(6, kafka.of(CONFIGURED).size());
        assertTrue(kafka.of(CONFIGURED).stream().allMatch(r -> r.timestampType() == TimestampType.LOG_APPEND_TIME),
                "LogAppendTime");
        assertEquals(11, kafka.of(COMPACTED).size());
    }

    private static List<String> strays(Path logDir) throws Exception {
        try (Stream<Path> dirs = Files.list(logDir)) {
            return dirs.map(d -> d.getFileName().toString()).filter(n -> n.endsWith("-stray")).toList();
        }
    }

    /** Step 2: Tidelog on the directory serves Kafka's answers, then goes on. */
    private static void checkTidelog(TidelogBroker tidelog, Expected expected) throws Exception {
        assertServes(tidelog, expected);

        // Kafka's transactional id: a new producer epoch, a new transaction after the old ones.
        TopicPartition txn = new TopicPartition(TXN, 0);
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(tidelog, Map.of(
                "transactional.id", TXN_ID)))) {
            producer.initTransactions();
            producer.beginTransaction();
            long offset = producer.send(record(TXN, 0, "new", "after kafka")).get().offset();
            producer.commitTransaction();
            assertEquals(expected.latest.get(txn), offset, "the new transaction's first offset");
        }
        List<Rec> committed = read(tidelog, TXN, "read_committed");
        assertEquals("new", committed.get(committed.size() - 1).key(), committed.toString());
        // Plain appends go on at the old ends.
        TopicPartition plain = new TopicPartition(PLAIN, 0);
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(tidelog, Map.of()))) {
            assertEquals(expected.latest.get(plain), producer.send(record(PLAIN, 0, "new", "after kafka")).get().offset(),
                    "a plain append's offset");
        }
    }

    @Test
    void tidelogServesWhatKafkaWrote() throws Exception {
        Path dir = Files.createTempDirectory("kafka-directory-");
        try {
            Path logDir = dir.resolve("data");
            Expected expected;
            try (KafkaBroker kafka = KafkaBroker.startFormatting(logDir)) {
                try {
                    fill(kafka);
                    expected = Expected.servedBy(kafka, List.of(CLASSIC_GROUP, CONSUMER_GROUP, EOS_GROUP),
                            List.of(PLAIN, TXN));
                    checkKafkasAnswers(expected);
                } catch (AssertionError | Exception e) {
                    throw new AssertionError(e.getMessage() + "\n---- Kafka's log:\n" + kafka.log(), e);
                }
            }
            assertTrue(Files.exists(logDir.resolve(".kafka_cleanshutdown")), "Kafka did not shut down cleanly");

            String log;
            try (TidelogBroker tidelog = TidelogBroker.startOn(logDir, "--node-id", "1", "--override", NEVER_EXPIRE)) {
                try {
                    checkTidelog(tidelog, expected);
                } catch (AssertionError | Exception e) {
                    throw new AssertionError(e.getMessage() + "\n---- Tidelog's log:\n" + tidelog.log(), e);
                }
                assertEquals(0, tidelog.stop(), tidelog.log());
                log = tidelog.log();
            }
            // For the record (the report shows it): what Tidelog warned of on Kafka's files.
            List<String> warnings = log.lines().filter(l -> Pattern.compile("WARN|ERROR").matcher(l).find()).toList();
            System.out.println("Tidelog on Kafka " + System.getProperty("tidelog.kafkaVersion") + "'s directory logged "
                    + log.lines().count() + " lines, " + warnings.size() + " WARN/ERROR");
            warnings.forEach(l -> System.out.println("Tidelog on Kafka's directory: " + l));
            List<String> stray = log.lines().filter(l -> l.contains("-stray")).toList();
            assertTrue(stray.isEmpty(), "Tidelog set partitions aside:\n" + String.join("\n", stray));
            assertEquals(List.of(), strays(logDir), "stray partition directories");
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
