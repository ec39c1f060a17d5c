package io.tidelog.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.junit.jupiter.api.Test;

/**
 * Kafka Streams with {@code processing.guarantee=exactly_once_v2} on Tidelog: a word count
 * whose words are regrouped through a repartition topic and counted in a state store backed
 * by a compacted changelog topic. The broker is restarted cleanly, then killed with SIGKILL,
 * in the middle of the input while the application runs; the counts it commits must still be
 * exact: a record processed twice or lost would show as a wrong count.
 */
class StreamsWordCountTest {
    private static final String APP = "wordcount";
    private static final String INPUT = "lines";
    private static final String OUTPUT = "word-counts";
    private static final String STORE = "counts";
    private static final List<String> VOCABULARY = List.of(
            "tide", "log", "kafka", "stream", "broker", "record", "offset", "epoch", "fence", "commit");
    private static final int LINES = 15_000;
    private static final Duration CATCH_UP_TIMEOUT = Duration.ofSeconds(180);

    /** The line numbered {@code n}: a few words picked deterministically from the vocabulary. */
    private static String line(int n) {
        StringBuilder text = new StringBuilder();
        for (int w = 0; w <= n % 4; w++) {
            text.append(VOCABULARY.get((n * 7 + w * 3) % VOCABULARY.size())).append(' ');
        }
        return text.toString().trim();
    }

    private static KafkaStreams wordCount(TidelogBroker broker, Path stateDir, AtomicReference<Throwable> failure) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(INPUT, Consumed.with(Serdes.String(), Serdes.String()))
                .flatMapValues(text -> Arrays.asList(text.split(" ")))
                // A new key: Streams writes the words to a repartition topic and reads them back.
                .groupBy((key, word) -> word, Grouped.with(Serdes.String(), Serdes.String()))
                .count(Materialized.as(STORE))
                .toStream()
                .to(OUTPUT, Produced.with(Serdes.String(), Serdes.Long()));
        Properties props = broker.clientProps();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, APP);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 2);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        // While the broker is down the clients retry; past the broker's restart they go on.
        props.put(StreamsConfig.TASK_TIMEOUT_MS_CONFIG, 120_000);
        KafkaStreams streams = new KafkaStreams(builder.build(), props);
        streams.setUncaughtExceptionHandler(error -> {
            // A thread that fails while the broker is away is replaced, as an operator
            // would configure it; the failure is kept to report if the counts come out wrong.
            failure.compareAndSet(null, error);
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
        });
        return streams;
    }

    /**
     * Produces lines {@code 0..LINES} in the background, a little at a time, so that the
     * broker's restarts fall in the middle of the input; {@link #produced()} says how far.
     */
    private static final class LineProducer extends Thread {
        private final KafkaProducer<String, String> producer;
        private volatile int produced;
        private volatile Exception failure;

        LineProducer(TidelogBroker broker) {
            super("line-producer");
            producer = new KafkaProducer<>(broker.clientProps(Map.of(
                    "key.serializer", StringSerializer.class.getName(),
                    "value.serializer", StringSerializer.class.getName(),
                    "acks", "all",
                    "enable.idempotence", true,
                    "delivery.timeout.ms", 120_000)));
        }

        int produced() {
            return produced;
        }

        @Override
        public void run() {
            try (producer) {
                for (int n = 0; n < LINES; n++) {
                    producer.send(new ProducerRecord<>(INPUT, "line-" + n, line(n)));
                    if (n % 100 == 99) {
                        producer.flush();
                        produced = n + 1;
                        Thread.sleep(20);
                    }
                }
                producer.flush();
                produced = LINES;
            } catch (Exception e) {
                failure = e;
            }
        }

        /** Waits for it to have produced {@code lines} lines; fails the test if it failed. */
        void awaitProduced(int lines) throws InterruptedException {
            long deadline = System.nanoTime() + CATCH_UP_TIMEOUT.toNanos();
            while (produced < lines && isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            if (produced < lines) {
                throw new AssertionError("the input producer stopped at line " + produced, failure);
            }
        }
    }

    private static Map<String, Long> expectedCounts(int lines) {
        Map<String, Long> counts = new TreeMap<>();
        for (int n = 0; n < lines; n++) {
            for (String word : line(n).split(" ")) {
                counts.merge(word, 1L, Long::sum);
            }
        }
        return counts;
    }

    /**
     * The committed output's latest count per word. Each word's counts only grow: a count
     * that fell back would be a committed update processed again after a failure.
     */
    private static Map<String, Long> latestCounts(TidelogBroker broker) {
        Map<String, Long> counts = new TreeMap<>();
        for (ConsumerRecord<byte[], byte[]> record : Topics.readAll(broker, OUTPUT, "read_committed")) {
            String word = new String(record.key(), StandardCharsets.UTF_8);
            long count = Serdes.Long().deserializer().deserialize(OUTPUT, record.value());
            Long before = counts.put(word, count);
            if (before != null && before >= count) {
                throw new AssertionError(word + " counted " + count + " after " + before + " at "
                        + record.partition() + "/" + record.offset());
            }
        }
        return counts;
    }

    /** Waits for the application to have counted {@code lines} lines, at most the timeout. */
    private static Map<String, Long> awaitCounts(TidelogBroker broker, int lines) throws InterruptedException {
        Map<String, Long> expected = expectedCounts(lines);
        long deadline = System.nanoTime() + CATCH_UP_TIMEOUT.toNanos();
        Map<String, Long> counts = latestCounts(broker);
        while (!counts.equals(expected) && System.nanoTime() < deadline) {
            Thread.sleep(500);
            counts = latestCounts(broker);
        }
        return counts;
    }

    @Test
    void exactCountsThroughACleanRestartAndACrash() throws Exception {
        Path stateDir = Files.createTempDirectory("streams-state-");
        AtomicReference<Throwable> failure = new AtomicReference<>();
        try (TidelogBroker broker = TidelogBroker.start()) {
            Topics.create(broker, INPUT, 3);
            Topics.create(broker, OUTPUT, 2);
            try (KafkaStreams streams = wordCount(broker, stateDir, failure)) {
                streams.start();
                LineProducer input = new LineProducer(broker);
                input.start();
                try {
                    // A clean restart, then a crash with transactions open, while the input
                    // keeps coming and the application keeps processing.
                    input.awaitProduced(LINES / 3);
                    assertEquals(0, broker.stop(), broker.log());
                    broker.restart();
                    input.awaitProduced(2 * LINES / 3);
                    broker.kill9();
                    broker.restart();
                    input.awaitProduced(LINES);
                } finally {
                    input.join(CATCH_UP_TIMEOUT.toMillis());
                }
                assertEquals(expectedCounts(LINES), awaitCounts(broker, LINES),
                        "thread failure: " + failure.get() + "\nbroker log:\n" + broker.log());
            }

            // The state store's changelog is compacted, as Streams asked when it created it.
            try (Admin admin = Admin.create(broker.clientProps())) {
                String changelog = APP + "-" + STORE + "-changelog";
                ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, changelog);
                Config config = admin.describeConfigs(List.of(resource)).all().get().get(resource);
                assertEquals("compact", config.get("cleanup.policy").value());
                Map<String, Object> names = new HashMap<>();
                admin.listTopics().names().get().forEach(name -> names.put(name, name));
                assertEquals(changelog, names.get(changelog));
                String repartition = APP + "-" + STORE + "-repartition";
                assertEquals(repartition, names.get(repartition), "topics: " + names.keySet());
            }
        } finally {
            try (var files = Files.walk(stateDir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
