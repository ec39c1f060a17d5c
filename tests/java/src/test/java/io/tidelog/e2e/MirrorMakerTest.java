package io.tidelog.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.function.IntUnaryOperator;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.connect.mirror.RemoteClusterUtils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * MirrorMaker 2 (the dedicated {@code connect-mirror-maker.sh}) replicating a topic and a
 * consumer group's offsets from Apache Kafka into Tidelog: Tidelog is the target cluster,
 * holding the replica topic, MirrorMaker's Connect topics, its checkpoints and the group
 * offsets it syncs, so that the group's consumers can move to Tidelog.
 *
 * <p>MirrorMaker translates a group's offset through the offset syncs its source task
 * writes: exactly when the group is at the end of what has been replicated (a sync is
 * written for the last record replicated), and otherwise to just past the closest earlier
 * sync, which re-delivers records (OffsetSyncStore#translateDownstream). So the group
 * consumes everything produced so far before MirrorMaker starts, and more is produced once
 * its offsets are on Tidelog: the remaining records, which the group then reads on Tidelog.
 */
class MirrorMakerTest {
    private static final String TOPIC = "orders";
    private static final String REPLICA = "kafka." + TOPIC;
    private static final String GROUP = "billing";
    private static final int PARTITIONS = 3;
    /** Safety net: replication and checkpoints take seconds here. */
    private static final Duration TIMEOUT = Duration.ofSeconds(120);

    @TempDir
    Path dir;

    @Test
    void replicatesRecordsAndTranslatesGroupOffsetsFromKafkaToTidelog() throws Exception {
        try (KafkaBroker kafka = KafkaBroker.start(); TidelogBroker tidelog = TidelogBroker.start()) {
            try (Admin admin = Admin.create(kafka.clientProps())) {
                admin.createTopics(List.of(new NewTopic(TOPIC, PARTITIONS, (short) 1))).all().get();
            }
            // Partition p gets 20 + 10 p records before MirrorMaker starts, 15 more after.
            produce(kafka, 0, p -> 20 + 10 * p);
            consumeToTheEnd(kafka.clientProps(), TOPIC, "earliest");
            Map<TopicPartition, Long> consumed = groupOffsets(kafka.clientProps());
            try (ConnectJvm mirrorMaker = ConnectJvm.start("mirror-maker", "org.apache.kafka.connect.mirror.MirrorMaker",
                    List.of(mm2Properties(kafka, tidelog).toString(), "--clusters", "tidelog"))) {
                Map<TopicPartition, Long> expected = consumed.entrySet().stream().collect(Collectors.toMap(
                        e -> new TopicPartition(REPLICA, e.getKey().partition()), Map.Entry::getValue));
                await(mirrorMaker, "group offsets synced to Tidelog",
                        () -> expected.equals(groupOffsets(tidelog.clientProps())),
                        () -> "Tidelog has " + groupOffsets(tidelog.clientProps()) + ", Kafka " + consumed);

                produce(kafka, 1, p -> 15);
                Map<Integer, Long> sourceEnd = endOffsets(kafka.clientProps(), TOPIC);
                await(mirrorMaker, REPLICA + " on Tidelog as long as " + TOPIC,
                        () -> sourceEnd.equals(endOffsets(tidelog.clientProps(), REPLICA)),
                        () -> "Tidelog's end offsets " + endOffsets(tidelog.clientProps(), REPLICA) + ", Kafka's " + sourceEnd);
                List<ConsumerRecord<byte[], byte[]>> source = Topics.readAll(kafka.clientProps(), TOPIC, "read_uncommitted");
                assertEquals(describe(source), describe(Topics.readAll(tidelog.clientProps(), REPLICA, "read_uncommitted")),
                        "the records on Tidelog");

                // Still the group's offsets on Kafka, and MirrorMaker's checkpoints on Tidelog say the same.
                assertEquals(expected, groupOffsets(tidelog.clientProps()));
                Map<String, Object> tidelogClient = Map.of("bootstrap.servers", tidelog.bootstrap());
                assertEquals(expected, offsets(RemoteClusterUtils.translateOffsets(tidelogClient, "kafka", GROUP, TIMEOUT)),
                        "the checkpoints on Tidelog");

                // The group moves to Tidelog and reads the remaining records, each once. (While
                // it has a member, MirrorMaker's offset syncs are refused: UNKNOWN_MEMBER_ID.)
                List<ConsumerRecord<byte[], byte[]>> remaining = source.stream()
                        .filter(r -> r.headers().lastHeader("batch").value()[0] == 1)
                        .toList();
                assertEquals(describe(remaining), describe(consumeToTheEnd(tidelog.clientProps(), REPLICA, "none")),
                        "what the group read on Tidelog");
            }
        }
    }

    /** Batch {@code batch}: {@code count.applyAsInt(p)} records to each partition p, with keys and headers. */
    private static void produce(KafkaBroker kafka, int batch, IntUnaryOperator count) {
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(kafka.clientProps(Map.of(
                "key.serializer", StringSerializer.class.getName(),
                "value.serializer", StringSerializer.class.getName())))) {
            for (int p = 0; p < PARTITIONS; p++) {
                for (int i = 0; i < count.applyAsInt(p); i++) {
                    ProducerRecord<String, String> record = new ProducerRecord<>(TOPIC, p, "key-" + p + "-" + i,
                            "value-" + p + "-" + i);
                    record.headers().add("batch", new byte[] {(byte) batch});
                    if (i % 2 == 0) {
                        record.headers().add("even", ("" + i).getBytes(StandardCharsets.UTF_8));
                    }
                    producer.send(record);
                }
            }
        }
    }

    private static KafkaConsumer<byte[], byte[]> groupConsumer(Properties clientProps, String offsetReset) {
        Properties props = new Properties();
        props.putAll(clientProps);
        props.putAll(Map.of("group.id", GROUP, "enable.auto.commit", "false", "auto.offset.reset", offsetReset,
                "key.deserializer", ByteArrayDeserializer.class.getName(),
                "value.deserializer", ByteArrayDeserializer.class.getName()));
        return new KafkaConsumer<>(props);
    }

    /**
     * The group's consumer reads {@code topic} from its committed offsets (from the start if
     * it has none) to the end, and commits: the records it read.
     */
    private static List<ConsumerRecord<byte[], byte[]>> consumeToTheEnd(Properties clientProps, String topic,
            String offsetReset) throws Exception {
        Map<Integer, Long> end = endOffsets(clientProps, topic);
        List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = groupConsumer(clientProps, offsetReset)) {
            consumer.subscribe(List.of(topic));
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            while (consumer.assignment().size() < PARTITIONS
                    || consumer.assignment().stream().anyMatch(tp -> consumer.position(tp) < end.get(tp.partition()))) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("the group did not read " + topic + " to " + end + ": " + records.size() + " read");
                }
                consumer.poll(Duration.ofMillis(200)).forEach(records::add);
            }
            consumer.commitSync();
        }
        return records;
    }

    /** The latest offset of each partition of {@code topic}, by partition. */
    private static Map<Integer, Long> endOffsets(Properties clientProps, String topic) throws Exception {
        try (Admin admin = Admin.create(clientProps)) {
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            for (int p = 0; p < PARTITIONS; p++) {
                latest.put(new TopicPartition(topic, p), OffsetSpec.latest());
            }
            Map<Integer, Long> end = new TreeMap<>();
            admin.listOffsets(latest).all().get().forEach((tp, info) -> end.put(tp.partition(), info.offset()));
            return end;
        }
    }

    /** The group's committed offsets on {@code clientProps}' broker, by partition. */
    private static Map<TopicPartition, Long> groupOffsets(Properties clientProps) throws Exception {
        try (Admin admin = Admin.create(clientProps)) {
            return offsets(admin.listConsumerGroupOffsets(GROUP).partitionsToOffsetAndMetadata().get());
        }
    }

    private static Map<TopicPartition, Long> offsets(Map<TopicPartition, OffsetAndMetadata> committed) {
        Map<TopicPartition, Long> offsets = new HashMap<>();
        committed.forEach((tp, offset) -> {
            if (offset != null) {
                offsets.put(tp, offset.offset());
            }
        });
        return offsets;
    }

    /** What a copy must keep of each record: where it is, its timestamp, key, value and headers. */
    private static List<String> describe(List<ConsumerRecord<byte[], byte[]>> records) {
        return records.stream()
                .sorted(Comparator.comparingInt((ConsumerRecord<byte[], byte[]> r) -> r.partition())
                        .thenComparingLong(ConsumerRecord::offset))
                .map(r -> r.partition() + "@" + r.offset() + " " + r.timestampType() + "=" + r.timestamp() + " "
                        + text(r.key()) + "=" + text(r.value()) + " " + Arrays.stream(r.headers().toArray())
                                .map(h -> h.key() + "=" + HexFormat.of().formatHex(h.value()))
                                .toList())
                .toList();
    }

    private static String text(byte[] bytes) {
        return bytes == null ? "null" : new String(bytes, StandardCharsets.UTF_8);
    }

    /** Waits for {@code done} (an exception counts as not yet), failing with {@code state} and MirrorMaker's log. */
    private static void await(ConnectJvm mirrorMaker, String what, Callable<Boolean> done, Callable<String> state)
            throws Exception {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        Exception last = null;
        while (true) {
            mirrorMaker.assertAlive();
            try {
                if (done.call()) {
                    return;
                }
            } catch (Exception notYet) {
                last = notYet;
            }
            if (System.nanoTime() > deadline) {
                String now;
                try {
                    now = state.call();
                } catch (Exception e) {
                    now = e.toString();
                }
                throw new AssertionError("no " + what + " within " + TIMEOUT + ": " + now + " (last error: " + last
                        + "); " + mirrorMaker.logTail());
            }
            Thread.sleep(500);
        }
    }

    private Path mm2Properties(KafkaBroker kafka, TidelogBroker tidelog) throws Exception {
        Properties props = new Properties();
        props.put("clusters", "kafka, tidelog");
        props.put("kafka.bootstrap.servers", kafka.bootstrap());
        props.put("tidelog.bootstrap.servers", tidelog.bootstrap());
        props.put("kafka->tidelog.enabled", "true");
        props.put("kafka->tidelog.topics", TOPIC);
        props.put("kafka->tidelog.groups", GROUP);
        props.put("sync.group.offsets.enabled", "true");
        props.put("sync.group.offsets.interval.seconds", "1");
        props.put("emit.checkpoints.interval.seconds", "1");
        props.put("refresh.topics.interval.seconds", "1");
        props.put("refresh.groups.interval.seconds", "1");
        // The source task sends the offset sync of the last record replicated when its worker
        // commits offsets: every second, instead of every minute.
        props.put("tidelog.offset.flush.interval.ms", "1000");
        // Single-node clusters.
        for (String factor : List.of("replication.factor", "checkpoints.topic.replication.factor",
                "heartbeats.topic.replication.factor", "offset-syncs.topic.replication.factor",
                "offset.storage.replication.factor", "status.storage.replication.factor",
                "config.storage.replication.factor")) {
            props.put(factor, "1");
        }
        Path file = dir.resolve("mm2.properties");
        try (var out = Files.newBufferedWriter(file)) {
            props.store(out, "MirrorMaker 2, Kafka to Tidelog");
        }
        return file;
    }
}
