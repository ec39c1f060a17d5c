package io.tidelog.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Two Java consumers share a topic through a group of either protocol (classic with the
 * cooperative-sticky assignor, and KIP-848's {@code group.protocol=consumer} where the broker
 * assigns): every record is read, the partitions are split between them without overlap,
 * commits land, and when one leaves the other takes all partitions and resumes at the commits.
 */
class ConsumerGroupTest {
    private static final String TOPIC = "shared";
    private static final int PARTITIONS = 6;
    private static final Duration SETTLE = Duration.ofSeconds(90);

    private static KafkaConsumer<String, String> consumer(TidelogBroker broker, String protocol, String group) {
        Map<String, Object> settings = new HashMap<>(Map.of(
                "group.id", group,
                "group.protocol", protocol,
                "auto.offset.reset", "earliest",
                "enable.auto.commit", "false",
                "key.deserializer", StringDeserializer.class.getName(),
                "value.deserializer", StringDeserializer.class.getName()));
        if (protocol.equals("classic")) {
            settings.put("partition.assignment.strategy",
                    "org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
            settings.put("heartbeat.interval.ms", "500");
        }
        KafkaConsumer<String, String> consumer = new KafkaConsumer<>(broker.clientProps(settings));
        consumer.subscribe(List.of(TOPIC));
        return consumer;
    }

    private static void produce(TidelogBroker broker, int from, int to) {
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(broker.clientProps(Map.of(
                "key.serializer", StringSerializer.class.getName(),
                "value.serializer", StringSerializer.class.getName())))) {
            for (int i = from; i < to; i++) {
                producer.send(new ProducerRecord<>(TOPIC, i % PARTITIONS, "k" + i, String.valueOf(i)));
            }
        }
    }

    /** Polls each consumer in turn, committing what it read, until the condition holds. */
    private static void pollUntil(List<KafkaConsumer<String, String>> consumers, java.util.Collection<Integer> read,
                                  java.util.function.BooleanSupplier done) {
        long deadline = System.nanoTime() + SETTLE.toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                List<Set<TopicPartition>> assignments = consumers.stream().map(KafkaConsumer::assignment).toList();
                throw new AssertionError("no settling: " + read.size() + " read, assignments " + assignments);
            }
            for (KafkaConsumer<String, String> consumer : consumers) {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(100))) {
                    read.add(Integer.parseInt(record.value()));
                }
                try {
                    consumer.commitSync();
                } catch (RebalanceInProgressException | CommitFailedException rebalancing) {
                    // Refused mid-rebalance (classic), or with a member epoch the broker has
                    // moved past (KIP-848's STALE_MEMBER_EPOCH): the next poll catches up and
                    // the next commit covers these records.
                }
            }
        }
    }

    /** Commits what the consumer read, polling between refusals while its group settles. */
    private static void commit(KafkaConsumer<String, String> consumer) {
        long deadline = System.nanoTime() + SETTLE.toNanos();
        while (true) {
            try {
                consumer.commitSync();
                return;
            } catch (RebalanceInProgressException | CommitFailedException settling) {
                if (System.nanoTime() > deadline) {
                    throw settling;
                }
                // Everything was read and checked before: this poll only lets the group settle.
                consumer.poll(Duration.ofMillis(100));
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"classic", "consumer"})
    void twoConsumersSplitTheTopicAndTheSurvivorResumesAtTheCommits(String protocol) throws Exception {
        String group = "java-" + protocol;
        try (TidelogBroker broker = TidelogBroker.start("--override", "group.consumer.heartbeat.interval.ms=500")) {
            Topics.create(broker, TOPIC, PARTITIONS);
            produce(broker, 0, 600);
            KafkaConsumer<String, String> a = consumer(broker, protocol, group);
            KafkaConsumer<String, String> b = consumer(broker, protocol, group);
            Set<Integer> read = new HashSet<>();
            pollUntil(List.of(a, b), read, () -> read.size() == 600
                    && a.assignment().size() == PARTITIONS / 2 && b.assignment().size() == PARTITIONS / 2);
            Set<TopicPartition> both = new HashSet<>(a.assignment());
            both.addAll(b.assignment());
            assertEquals(PARTITIONS, both.size(), "no partition is assigned twice");
            commit(a);
            commit(b);

            a.close();
            produce(broker, 600, 700);
            // A list: a record read twice would count twice.
            List<Integer> after = new ArrayList<>();
            pollUntil(List.of(b), after, () -> b.assignment().size() == PARTITIONS && after.size() >= 100);
            assertTrue(b.poll(Duration.ofMillis(500)).isEmpty(), "nothing more to read");
            assertEquals(600, new TreeSet<>(after).first(), "the survivor resumes at the commits");
            assertEquals(100, after.size(), "each of the 100 new records once: " + after);
            assertEquals(100, new TreeSet<>(after).size());
            commit(b);
            b.close();

            try (Admin admin = Admin.create(broker.clientProps())) {
                Map<TopicPartition, OffsetAndMetadata> committed =
                        admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
                List<Long> offsets = new ArrayList<>();
                for (int p = 0; p < PARTITIONS; p++) {
                    offsets.add(committed.get(new TopicPartition(TOPIC, p)).offset());
                }
                List<Long> ends = new ArrayList<>();
                for (int p = 0; p < PARTITIONS; p++) {
                    ends.add(p < 4 ? 117L : 116L);
                }
                assertEquals(ends, offsets);
            }
        }
    }
}
