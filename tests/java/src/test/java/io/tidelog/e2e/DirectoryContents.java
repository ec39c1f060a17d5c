package io.tidelog.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Future;
import java.util.function.Function;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * What a broker serves of its data directory, as Kafka's clients see it: the expectations
 * of the two directory tests (Kafka on Tidelog's directory, Tidelog on Kafka's), and the
 * check that a broker serves exactly them.
 */
final class DirectoryContents {
    private DirectoryContents() {
    }

    /** One record as a consumer sees it; a long value by its size and digest. */
    record Rec(String topic, int partition, long offset, TimestampType timestampType, long timestamp, String key,
               String value, List<String> headers) {
        static Rec of(ConsumerRecord<byte[], byte[]> r) {
            return new Rec(r.topic(), r.partition(), r.offset(), r.timestampType(), r.timestamp(), text(r.key()),
                    text(r.value()), headerList(r.headers()));
        }

        /** As a topic of {@code message.timestamp.type=CreateTime} serves what was sent. */
        static Rec sent(RecordMetadata meta, ProducerRecord<byte[], byte[]> r) {
            return new Rec(meta.topic(), meta.partition(), meta.offset(), TimestampType.CREATE_TIME, r.timestamp(),
                    text(r.key()), text(r.value()), headerList(r.headers()));
        }
    }

    static String text(byte[] bytes) {
        if (bytes == null) {
            return null;
        }
        if (bytes.length <= 100) {
            return new String(bytes, StandardCharsets.UTF_8);
        }
        try {
            return bytes.length + " bytes, sha-256 "
                    + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static List<String> headerList(Iterable<Header> headers) {
        List<String> all = new ArrayList<>();
        headers.forEach(h -> all.add(h.key() + "=" + text(h.value())));
        return all;
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** A keyed record with headers given as name, value pairs (a value may be null). */
    static ProducerRecord<byte[], byte[]> record(String topic, int partition, String key, String value,
                                                 String... headers) {
        ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(topic, partition, System.currentTimeMillis(),
                bytes(key), value == null ? null : bytes(value));
        for (int i = 0; i < headers.length; i += 2) {
            r.headers().add(new RecordHeader(headers[i], headers[i + 1] == null ? null : bytes(headers[i + 1])));
        }
        return r;
    }

    static Properties producerProps(BrokerEndpoint broker, Map<String, Object> more) {
        Map<String, Object> props = new HashMap<>(more);
        props.put("key.serializer", ByteArraySerializer.class.getName());
        props.put("value.serializer", ByteArraySerializer.class.getName());
        return broker.clientProps(props);
    }

    /** Sends {@code records}, and remembers each as read_committed will serve it. */
    static void send(KafkaProducer<byte[], byte[]> producer, List<ProducerRecord<byte[], byte[]>> records,
                     Expected expected) throws Exception {
        List<Future<RecordMetadata>> futures = records.stream().map(producer::send).toList();
        for (int i = 0; i < records.size(); i++) {
            expected.records.add(Rec.sent(futures.get(i).get(), records.get(i)));
        }
    }

    /** What a broker must serve. */
    static final class Expected {
        /** Every record read_committed serves. */
        final List<Rec> records = new ArrayList<>();
        /** For the topics also read read_uncommitted: every record that serves. */
        final Map<String, List<Rec>> uncommitted = new TreeMap<>();
        final Map<String, Uuid> topicIds = new TreeMap<>();
        final Map<String, Integer> partitionCounts = new TreeMap<>();
        /** Each topic's overrides (DYNAMIC_TOPIC_CONFIG); a topic absent here has none. */
        final Map<String, Map<String, String>> configs = new TreeMap<>();
        final Map<TopicPartition, Long> earliest = new TreeMap<>(Comparator.comparing(TopicPartition::toString));
        final Map<TopicPartition, Long> latest = new TreeMap<>(Comparator.comparing(TopicPartition::toString));
        final Map<String, Map<TopicPartition, OffsetAndMetadata>> groupOffsets = new TreeMap<>();

        /** The topic's read_committed records, by partition and offset. */
        List<Rec> of(String topic) {
            return records.stream().filter(r -> r.topic().equals(topic))
                    .sorted(Comparator.comparing(Rec::partition).thenComparing(Rec::offset)).toList();
        }

        Set<TopicPartition> allPartitions() {
            Set<TopicPartition> all = new HashSet<>();
            partitionCounts.forEach((topic, count) -> {
                for (int p = 0; p < count; p++) {
                    all.add(new TopicPartition(topic, p));
                }
            });
            return all;
        }

        /**
         * Everything {@code broker} serves of its (non-internal) topics and of {@code groups},
         * with {@code uncommittedTopics} read read_uncommitted as well.
         */
        static Expected servedBy(BrokerEndpoint broker, Collection<String> groups, Collection<String> uncommittedTopics)
                throws Exception {
            Expected served = new Expected();
            try (Admin admin = Admin.create(broker.clientProps())) {
                Set<String> topics = admin.listTopics(new ListTopicsOptions().listInternal(false)).names().get();
                for (TopicDescription topic : admin.describeTopics(topics).allTopicNames().get().values()) {
                    served.topicIds.put(topic.name(), topic.topicId());
                    served.partitionCounts.put(topic.name(), topic.partitions().size());
                    Map<String, String> overrides = dynamicTopicConfigs(admin, topic.name());
                    if (!overrides.isEmpty()) {
                        served.configs.put(topic.name(), overrides);
                    }
                }
                Set<TopicPartition> partitions = served.allPartitions();
                served.earliest.putAll(offsets(admin, partitions, OffsetSpec.earliest()));
                served.latest.putAll(offsets(admin, partitions, OffsetSpec.latest()));
                for (String group : groups) {
                    served.groupOffsets.put(group, admin.listConsumerGroupOffsets(group)
                            .partitionsToOffsetAndMetadata().get());
                }
            }
            for (String topic : served.partitionCounts.keySet()) {
                served.records.addAll(read(broker, topic, "read_committed"));
            }
            for (String topic : uncommittedTopics) {
                served.uncommitted.put(topic, read(broker, topic, "read_uncommitted"));
            }
            return served;
        }
    }

    /** Every record of {@code topic} at {@code isolation}, by partition and offset. */
    static List<Rec> read(BrokerEndpoint broker, String topic, String isolation) {
        return Topics.readAll(broker.clientProps(), topic, isolation).stream().map(Rec::of)
                .sorted(Comparator.comparing(Rec::partition).thenComparing(Rec::offset)).toList();
    }

    static Map<TopicPartition, Long> offsets(Admin admin, Set<TopicPartition> partitions, OffsetSpec spec)
            throws Exception {
        var answers = admin.listOffsets(partitions.stream().collect(Collectors.toMap(Function.identity(), p -> spec)))
                .all().get();
        Map<TopicPartition, Long> offsets = new TreeMap<>(Comparator.comparing(TopicPartition::toString));
        answers.forEach((p, info) -> offsets.put(p, info.offset()));
        return offsets;
    }

    static Map<String, String> dynamicTopicConfigs(Admin admin, String topic) throws Exception {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config config = admin.describeConfigs(List.of(resource)).all().get().get(resource);
        return config.entries().stream()
                .filter(e -> e.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG)
                .collect(Collectors.toMap(ConfigEntry::name, ConfigEntry::value, (a, b) -> a, TreeMap::new));
    }

    /**
     * {@code broker} serves exactly {@code expected}: its topics (no other), their ids,
     * partition counts and overrides, log start offsets, high watermarks, the groups'
     * committed offsets, and every record read_committed (and read_uncommitted where expected).
     */
    static void assertServes(BrokerEndpoint broker, Expected expected) throws Exception {
        try (Admin admin = Admin.create(broker.clientProps())) {
            assertEquals(expected.partitionCounts.keySet(), new TreeSet<>(admin.listTopics(
                    new ListTopicsOptions().listInternal(false)).names().get()), "topics");
            for (TopicDescription topic : admin.describeTopics(expected.partitionCounts.keySet()).allTopicNames().get()
                    .values()) {
                assertEquals(expected.topicIds.get(topic.name()), topic.topicId(), "topic id of " + topic.name());
                assertEquals(expected.partitionCounts.get(topic.name()), topic.partitions().size(),
                        "partitions of " + topic.name());
            }
            for (String topic : expected.partitionCounts.keySet()) {
                assertEquals(expected.configs.getOrDefault(topic, Map.of()), dynamicTopicConfigs(admin, topic),
                        "overrides of " + topic);
            }
            Set<TopicPartition> partitions = expected.allPartitions();
            assertEquals(expected.earliest, offsets(admin, partitions, OffsetSpec.earliest()), "log start offsets");
            assertEquals(expected.latest, offsets(admin, partitions, OffsetSpec.latest()), "high watermarks");
            for (var group : expected.groupOffsets.entrySet()) {
                assertEquals(group.getValue(), admin.listConsumerGroupOffsets(group.getKey())
                        .partitionsToOffsetAndMetadata().get(), "offsets of " + group.getKey());
            }
        }
        for (String topic : expected.partitionCounts.keySet()) {
            assertEquals(expected.of(topic), read(broker, topic, "read_committed"), "records of " + topic);
        }
        for (var topic : expected.uncommitted.entrySet()) {
            assertEquals(topic.getValue(), read(broker, topic.getKey(), "read_uncommitted"),
                    "read_uncommitted records of " + topic.getKey());
        }
    }

    /**
     * A transaction that aborts: records to {@code txnTopic}-0 and {@code plainTopic}-2, and
     * offsets of {@code group}, none of which any reader may see.
     */
    static void abortATransaction(KafkaProducer<byte[], byte[]> producer, String txnTopic, String plainTopic,
                                  String group) {
        producer.beginTransaction();
        for (int i = 0; i < 3; i++) {
            producer.send(record(txnTopic, 0, "aborted-" + i, "a" + i, "txn", "abort"));
        }
        producer.send(record(plainTopic, 2, "aborted-plain", "a", "txn", "abort"));
        producer.sendOffsetsToTransaction(Map.of(new TopicPartition(plainTopic, 0), new OffsetAndMetadata(9, "aborted")),
                new ConsumerGroupMetadata(group));
        producer.flush();
        producer.abortTransaction();
    }

    /** Joins {@code group} with {@code protocol}, waits for the partitions of {@code offsets}, and commits them. */
    static void commitAsMember(BrokerEndpoint broker, String group, String protocol, List<String> topics,
                               Map<TopicPartition, OffsetAndMetadata> offsets) {
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(broker.clientProps(Map.of(
                "group.id", group, "group.protocol", protocol, "auto.offset.reset", "earliest",
                "enable.auto.commit", "false",
                "key.deserializer", ByteArrayDeserializer.class.getName(),
                "value.deserializer", ByteArrayDeserializer.class.getName())))) {
            consumer.subscribe(topics);
            long deadline = System.nanoTime() + Topics.READ_TIMEOUT.toNanos();
            while (consumer.assignment().size() < offsets.size()) {
                assertTrue(System.nanoTime() < deadline, group + " never got all its partitions: "
                        + consumer.assignment());
                consumer.poll(Duration.ofMillis(200));
            }
            consumer.commitSync(offsets);
        }
    }

}
