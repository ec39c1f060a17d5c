package io.tidelog.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

/**
 * Kafka's own kafka-producer-perf-test (ProducerPerformance) against Tidelog, as a user tries
 * it first. A transactional run with the Java client (transactions v2, KIP-890) used to fail
 * with OutOfOrderSequenceException: a Produce that had to add its partitions to the
 * transaction appended after a later request of the same connection. Every run must now
 * succeed and a read_committed consumer read exactly what was sent.
 */
class ProducerPerformanceTest {
    private static final int RECORDS = 200_000;

    private static KafkaTool.Result perfTest(TidelogBroker broker, String topic, List<String> more) throws Exception {
        List<String> args = new ArrayList<>(List.of("--topic", topic, "--num-records", String.valueOf(RECORDS),
                "--record-size", "100", "--throughput", "-1"));
        args.addAll(more);
        return KafkaTool.run("org.apache.kafka.tools.ProducerPerformance", args);
    }

    private static void assertClean(KafkaTool.Result result, TidelogBroker broker) {
        assertEquals(0, result.exitCode(), result.output() + "\n---- tidelog ----\n" + broker.log());
        assertFalse(result.output().contains("Exception"), result.output());
    }

    @Test
    void transactionalRunsInARowAreReadExactlyOnceByReadCommitted() throws Exception {
        int runs = Integer.getInteger("tidelog.perfRuns", 3);
        // A seed in the log makes a failing sequence of durations repeatable.
        long seed = Long.getLong("tidelog.seed", System.nanoTime());
        System.out.println("transaction durations from seed " + seed);
        Random random = new Random(seed);
        try (TidelogBroker broker = TidelogBroker.start()) {
            Topics.create(broker, "jtx", 4);
            for (int run = 0; run < runs; run++) {
                int durationMs = 20 + random.nextInt(480);
                KafkaTool.Result result = perfTest(broker, "jtx", List.of(
                        "--transactional-id", "java-tx",
                        "--transaction-duration-ms", String.valueOf(durationMs),
                        "--producer-props", "acks=all", "bootstrap.servers=" + broker.bootstrap()));
                assertClean(result, broker);
            }
            assertEquals((long) runs * RECORDS, Topics.readAll(broker, "jtx", "read_committed").size());
        }
    }

    @Test
    void idempotentRunWithFiveInFlightKeepsEveryRecordOnce() throws Exception {
        try (TidelogBroker broker = TidelogBroker.start()) {
            Topics.create(broker, "jidem", 4);
            KafkaTool.Result result = perfTest(broker, "jidem", List.of("--producer-props", "acks=all",
                    "enable.idempotence=true", "max.in.flight.requests.per.connection=5",
                    "bootstrap.servers=" + broker.bootstrap()));
            assertClean(result, broker);
            assertEquals(RECORDS, Topics.readAll(broker, "jidem", "read_uncommitted").size());
        }
    }
}
