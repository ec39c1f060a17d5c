package io.tidelog.e2e;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/** What several tests do with topics: create them, and read one whole. */
public final class Topics {
    /** The longest a test waits for records that should be there. */
    public static final Duration READ_TIMEOUT = Duration.ofSeconds(60);

    private Topics() {
    }

    public static void create(TidelogBroker broker, String topic, int partitions) throws Exception {
        try (Admin admin = Admin.create(broker.clientProps())) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
        }
    }

    /**
     * Every record of the topic from the start to its end as seen at {@code isolation}
     * ("read_committed" stops at the last stable offset and skips aborted records).
     */
    public static List<ConsumerRecord<byte[], byte[]>> readAll(TidelogBroker broker, String topic, String isolation) {
        return readAll(broker.clientProps(), topic, isolation);
    }

    /** {@link #readAll(TidelogBroker, String, String)} from the broker {@code clientProps} reach. */
    public static List<ConsumerRecord<byte[], byte[]>> readAll(Properties clientProps, String topic, String isolation) {
        Properties props = new Properties();
        props.putAll(clientProps);
        props.putAll(Map.of(
                "key.deserializer", ByteArrayDeserializer.class.getName(),
                "value.deserializer", ByteArrayDeserializer.class.getName(),
                "isolation.level", isolation,
                "max.poll.records", 10_000));
        List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic).stream()
                    .map(p -> new TopicPartition(topic, p.partition()))
                    .toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
            long deadline = System.nanoTime() + READ_TIMEOUT.toNanos();
            while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("could not read " + topic + " to " + end + ": " + records.size() + " read");
                }
                consumer.poll(Duration.ofMillis(200)).forEach(records::add);
            }
        }
        return records;
    }
}
