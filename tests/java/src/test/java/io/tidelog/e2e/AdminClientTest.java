package io.tidelog.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.FeatureMetadata;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicCollection;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * Kafka's Java AdminClient over every admin API Tidelog serves: topics, partitions, configs,
 * records, offsets, groups, transactions, producers, features and the cluster. Each answer
 * is checked field by field against what the test did, and refusals by their exception.
 */
class AdminClientTest {
    private static <T> Throwable cause(org.apache.kafka.common.KafkaFuture<T> future) {
        ExecutionException failed = assertThrows(ExecutionException.class, future::get);
        return failed.getCause();
    }

    private static KafkaProducer<String, String> producer(TidelogBroker broker, Map<String, Object> more) {
        Map<String, Object> settings = new java.util.HashMap<>(Map.of(
                "key.serializer", StringSerializer.class.getName(),
                "value.serializer", StringSerializer.class.getName()));
        settings.putAll(more);
        return new KafkaProducer<>(broker.clientProps(settings));
    }

    @Test
    void topicsPartitionsConfigsAndTheCluster() throws Exception {
        try (TidelogBroker broker = TidelogBroker.start(); Admin admin = Admin.create(broker.clientProps())) {
            NewTopic orders = new NewTopic("orders", 3, (short) 1)
                    .configs(Map.of("retention.ms", "86400000", "cleanup.policy", "delete"));
            admin.createTopics(List.of(orders)).all().get();
            assertInstanceOf(TopicExistsException.class,
                    cause(admin.createTopics(List.of(new NewTopic("orders", 1, (short) 1))).all()));
            assertTrue(admin.listTopics().names().get().contains("orders"));

            TopicDescription described = admin.describeTopics(List.of("orders")).allTopicNames().get().get("orders");
            assertEquals(3, described.partitions().size());
            assertEquals(1, described.partitions().get(0).replicas().size());
            TopicDescription byId = admin.describeTopics(TopicCollection.ofTopicIds(List.of(described.topicId())))
                    .allTopicIds().get().get(described.topicId());
            assertEquals("orders", byId.name());
            assertInstanceOf(UnknownTopicOrPartitionException.class,
                    cause(admin.describeTopics(List.of("missing")).allTopicNames()));

            admin.createPartitions(Map.of("orders", NewPartitions.increaseTo(5))).all().get();
            assertEquals(5, admin.describeTopics(List.of("orders")).allTopicNames().get()
                    .get("orders").partitions().size());
            assertInstanceOf(InvalidPartitionsException.class,
                    cause(admin.createPartitions(Map.of("orders", NewPartitions.increaseTo(2))).all()));

            ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, "orders");
            Config config = admin.describeConfigs(List.of(topic)).all().get().get(topic);
            assertEquals("86400000", config.get("retention.ms").value());
            assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, config.get("retention.ms").source());
            assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, config.get("segment.bytes").source());
            admin.incrementalAlterConfigs(Map.of(topic, List.of(
                    new AlterConfigOp(new ConfigEntry("max.message.bytes", "2097152"), AlterConfigOp.OpType.SET),
                    new AlterConfigOp(new ConfigEntry("retention.ms", ""), AlterConfigOp.OpType.DELETE))))
                    .all().get();
            Config altered = admin.describeConfigs(List.of(topic)).all().get().get(topic);
            assertEquals("2097152", altered.get("max.message.bytes").value());
            assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, altered.get("retention.ms").source());

            DescribeClusterResult cluster = admin.describeCluster();
            assertEquals(1, cluster.nodes().get().size());
            assertEquals(cluster.nodes().get().iterator().next(), cluster.controller().get());
            assertTrue(!cluster.clusterId().get().isEmpty());
            ConfigResource brokerResource = new ConfigResource(ConfigResource.Type.BROKER,
                    String.valueOf(cluster.nodes().get().iterator().next().id()));
            Config brokerConfig = admin.describeConfigs(List.of(brokerResource)).all().get().get(brokerResource);
            assertEquals("1", brokerConfig.get("num.partitions").value());

            FeatureMetadata features = admin.describeFeatures().featureMetadata().get();
            assertEquals(2, features.finalizedFeatures().get("transaction.version").maxVersionLevel());

            admin.deleteTopics(List.of("orders")).all().get();
            assertTrue(!admin.listTopics().names().get().contains("orders"));
        }
    }

    @Test
    void recordsOffsetsAndGroups() throws Exception {
        try (TidelogBroker broker = TidelogBroker.start(); Admin admin = Admin.create(broker.clientProps())) {
            admin.createTopics(List.of(new NewTopic("events", 2, (short) 1))).all().get();
            long before = System.currentTimeMillis();
            try (KafkaProducer<String, String> producer = producer(broker, Map.of())) {
                for (int i = 0; i < 10; i++) {
                    producer.send(new ProducerRecord<>("events", 0, before + i, "k" + i, "v" + i));
                }
            }
            TopicPartition p0 = new TopicPartition("events", 0);
            TopicPartition p1 = new TopicPartition("events", 1);
            Map<TopicPartition, ListOffsetsResultInfo> latest =
                    admin.listOffsets(Map.of(p0, OffsetSpec.latest(), p1, OffsetSpec.latest())).all().get();
            assertEquals(10, latest.get(p0).offset());
            assertEquals(0, latest.get(p1).offset());
            assertEquals(3, admin.listOffsets(Map.of(p0, OffsetSpec.forTimestamp(before + 3))).all().get()
                    .get(p0).offset());
            ListOffsetsResultInfo max = admin.listOffsets(Map.of(p0, OffsetSpec.maxTimestamp())).all().get().get(p0);
            assertEquals(9, max.offset());
            assertEquals(before + 9, max.timestamp());

            admin.deleteRecords(Map.of(p0, RecordsToDelete.beforeOffset(4))).all().get();
            assertEquals(4, admin.listOffsets(Map.of(p0, OffsetSpec.earliest())).all().get().get(p0).offset());

            // Offsets committed through the admin client, read back, deleted, and the group.
            admin.alterConsumerGroupOffsets("auditors", Map.of(p0, new OffsetAndMetadata(7, "seven"))).all().get();
            Map<TopicPartition, OffsetAndMetadata> committed =
                    admin.listConsumerGroupOffsets("auditors").partitionsToOffsetAndMetadata().get();
            assertEquals(Map.of(p0, new OffsetAndMetadata(7, "seven")), Map.of(p0, committed.get(p0)));
            Collection<GroupListing> groups = admin.listGroups().all().get();
            assertTrue(groups.stream().anyMatch(g -> g.groupId().equals("auditors")), groups.toString());
            ConsumerGroupDescription group =
                    admin.describeConsumerGroups(List.of("auditors")).all().get().get("auditors");
            assertEquals(0, group.members().size());
            admin.deleteConsumerGroupOffsets("auditors", Set.of(p0)).all().get();
            assertTrue(admin.listConsumerGroupOffsets("auditors").partitionsToOffsetAndMetadata().get().isEmpty());
            admin.deleteConsumerGroups(List.of("auditors")).all().get();
        }
    }

    @Test
    void transactionsAndProducers() throws Exception {
        try (TidelogBroker broker = TidelogBroker.start(); Admin admin = Admin.create(broker.clientProps())) {
            admin.createTopics(List.of(new NewTopic("ledger", 1, (short) 1))).all().get();
            TopicPartition ledger = new TopicPartition("ledger", 0);
            try (KafkaProducer<String, String> producer = producer(broker, Map.of("transactional.id", "ledger-tx"))) {
                producer.initTransactions();
                producer.beginTransaction();
                producer.send(new ProducerRecord<>("ledger", "k", "open")).get();

                TransactionDescription open = admin.describeTransactions(List.of("ledger-tx")).all().get()
                        .get("ledger-tx");
                assertEquals(TransactionState.ONGOING, open.state());
                assertEquals(Set.of(ledger), open.topicPartitions());
                Collection<TransactionListing> listed = admin.listTransactions().all().get();
                assertEquals(List.of("ledger-tx"),
                        listed.stream().map(TransactionListing::transactionalId).collect(Collectors.toList()));
                List<ProducerState> producers = admin.describeProducers(List.of(ledger)).all().get()
                        .get(ledger).activeProducers();
                assertEquals(1, producers.size());
                assertEquals(open.producerId(), producers.get(0).producerId());
                assertEquals(0, producers.get(0).currentTransactionStartOffset().orElse(-1));

                producer.commitTransaction();
            }
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            TransactionState state;
            do {
                state = admin.describeTransactions(List.of("ledger-tx")).all().get().get("ledger-tx").state();
            } while (state != TransactionState.COMPLETE_COMMIT && System.nanoTime() < deadline);
            assertEquals(TransactionState.COMPLETE_COMMIT, state);
        }
    }
}
