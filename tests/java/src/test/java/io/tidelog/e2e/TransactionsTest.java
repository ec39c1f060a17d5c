package io.tidelog.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.FeatureUpdate;
import org.apache.kafka.clients.admin.UpdateFeaturesOptions;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Java transactional producer (transactions v2 and v1 with the 4.x clients): committed records
 * are read by read_committed consumers, aborted ones only by read_uncommitted ones, offsets
 * sent to a transaction are committed with it, and a new incarnation fences the old one.
 */
class TransactionsTest {
    private static KafkaProducer<String, String> transactional(TidelogBroker broker, String id) {
        Map<String, Object> settings = new HashMap<>(Map.of(
                "transactional.id", id,
                "key.serializer", StringSerializer.class.getName(),
                "value.serializer", StringSerializer.class.getName()));
        return new KafkaProducer<>(broker.clientProps(settings));
    }

    private static List<String> values(List<ConsumerRecord<byte[], byte[]>> records) {
        return records.stream()
                .sorted(java.util.Comparator.comparingInt(ConsumerRecord<byte[], byte[]>::partition)
                        .thenComparingLong(ConsumerRecord::offset))
                .map(r -> new String(r.value(), StandardCharsets.UTF_8))
                .toList();
    }

    /**
     * Transactions v2 (the cluster's default {@code transaction.version} 2), and v1, which
     * the Java client uses once {@code kafka-features downgrade} set it to 1: v2 ends each
     * transaction with a new producer epoch, v1 keeps the one {@code initTransactions} got.
     */
    @ParameterizedTest(name = "transaction.version {0}")
    @ValueSource(shorts = {2, 1})
    void committedAbortedAndOffsetsInATransaction(short transactionVersion) throws Exception {
        try (TidelogBroker broker = TidelogBroker.start()) {
            if (transactionVersion != 2) {
                try (Admin admin = Admin.create(broker.clientProps())) {
                    admin.updateFeatures(Map.of("transaction.version", new FeatureUpdate(transactionVersion,
                            FeatureUpdate.UpgradeType.SAFE_DOWNGRADE)), new UpdateFeaturesOptions()).all().get();
                    assertEquals(transactionVersion, admin.describeFeatures().featureMetadata().get()
                            .finalizedFeatures().get("transaction.version").maxVersionLevel());
                }
            }
            Topics.create(broker, "orders", 2);
            // Offsets of a topic that does not exist are refused (UNKNOWN_TOPIC_OR_PARTITION,
            // as Kafka does), and the client retries them until its timeout.
            Topics.create(broker, "input", 1);
            TopicPartition source = new TopicPartition("input", 0);
            try (KafkaProducer<String, String> producer = transactional(broker, "orders-tx")) {
                producer.initTransactions();
                producer.beginTransaction();
                for (int i = 0; i < 4; i++) {
                    producer.send(new ProducerRecord<>("orders", i % 2, "k", "committed-" + i));
                }
                producer.commitTransaction();

                producer.beginTransaction();
                producer.send(new ProducerRecord<>("orders", 0, "k", "aborted-0"));
                producer.send(new ProducerRecord<>("orders", 1, "k", "aborted-1"));
                producer.flush();
                producer.abortTransaction();

                producer.beginTransaction();
                producer.send(new ProducerRecord<>("orders", 1, "k", "with-offsets"));
                producer.sendOffsetsToTransaction(Map.of(source, new OffsetAndMetadata(42)),
                        new ConsumerGroupMetadata("processors"));
                producer.commitTransaction();
            }
            assertEquals(List.of("committed-0", "committed-2", "committed-1", "committed-3", "with-offsets"),
                    values(Topics.readAll(broker, "orders", "read_committed")));
            assertEquals(List.of("committed-0", "committed-2", "aborted-0",
                            "committed-1", "committed-3", "aborted-1", "with-offsets"),
                    values(Topics.readAll(broker, "orders", "read_uncommitted")));
            try (Admin admin = Admin.create(broker.clientProps())) {
                Map<TopicPartition, OffsetAndMetadata> committed =
                        admin.listConsumerGroupOffsets("processors").partitionsToOffsetAndMetadata().get();
                assertEquals(42, committed.get(source).offset());
                int epoch = admin.describeTransactions(List.of("orders-tx")).all().get()
                        .get("orders-tx").producerEpoch();
                assertEquals(transactionVersion == 2 ? 3 : 0, epoch, "the producer epoch after three transactions");
            }
        }
    }

    @Test
    void aNewIncarnationFencesTheOldOneAndAbortsItsTransaction() throws Exception {
        try (TidelogBroker broker = TidelogBroker.start()) {
            Topics.create(broker, "fenced", 1);
            KafkaProducer<String, String> old = transactional(broker, "fence-tx");
            old.initTransactions();
            old.beginTransaction();
            old.send(new ProducerRecord<>("fenced", "k", "from-the-old-one")).get();
            try (KafkaProducer<String, String> current = transactional(broker, "fence-tx")) {
                current.initTransactions();
                assertThrows(ProducerFencedException.class, old::commitTransaction);
                old.close();
                current.beginTransaction();
                current.send(new ProducerRecord<>("fenced", "k", "from-the-new-one"));
                current.commitTransaction();
            }
            assertEquals(List.of("from-the-new-one"), values(Topics.readAll(broker, "fenced", "read_committed")));
        }
    }
}
