package io.tidelog.e2e;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * IBM Sarama's own functional tests (its functional_*_test.go files, build tag
 * "functional") run against Apache Kafka and against Tidelog in the same run: every test
 * that passes against Kafka must pass against Tidelog. They are written for a cluster of
 * five brokers behind toxiproxy; here each broker runs alone behind a {@link Toxiproxy}
 * whose five proxies all lead to it, with the suite's own cluster's settings that its
 * tests rely on. The tests that need more brokers, or docker compose to stop one, fail on
 * Kafka too and so are not compared. The module comes from the Go module proxy at a pinned
 * version. Runs when -Dtidelog.goSuites=true, as FranzGoSuiteTest.
 */
class SaramaSuiteTest {
    private static final String MODULE = "github.com/IBM/sarama@v1.62.0";
    /**
     * The one change to the suite, a file added to a copy of the module: TestMain creates its
     * test topics with three replicas, which one broker cannot have.
     */
    private static final String ONE_REPLICA = """
            //go:build functional

            package sarama

            // Added by Tidelog's SaramaSuiteTest, which runs the suite against one broker.
            func init() {
            	for _, topic := range testTopicDetails {
            		topic.ReplicationFactor = 1
            	}
            }
            """;
    /**
     * From the suite's docker-compose.yml: TestFuncClientMetadata expects a topic it asks
     * about not to be created.
     */
    private static final Map<String, String> CONFIG = Map.of("auto.create.topics.enable", "false");
    /**
     * Tests that pass on Kafka and may not on Tidelog, with the reason (docs/COMPATIBILITY.md
     * says the same).
     */
    /** Fewer passing on Kafka means a broken run (71 passed there on 2026-12-06). */
    private static final int MINIMUM_ON_KAFKA = 65;

    private static final Map<String, String> EXPLAINED = Map.of(
            "TestFuncAdminIncrementalAlterConfigs",
            "alters a broker config (log.cleaner.backoff.ms) at runtime: Tidelog has no dynamic broker configs"
                    + " (README, What does not work yet)");

    /** A whole suite run still going after this is hung (one takes 3 minutes here). */
    private static final long SUITE_TIMEOUT_MIN = 8;

    @Test
    @Timeout(value = 2 * SUITE_TIMEOUT_MIN + 5, unit = TimeUnit.MINUTES)
    void everyFunctionalTestThatPassesOnKafkaPassesOnTidelog() throws Exception {
        assumeTrue(Boolean.getBoolean("tidelog.goSuites"), "-Dtidelog.goSuites=true runs Sarama's suite");
        Path source = copyWithOneReplica(GoSuite.download(MODULE));
        try {
            GoSuite suite = new GoSuite("Sarama " + MODULE + " functional tests", source,
                    List.of("-tags", "functional", "."), SUITE_TIMEOUT_MIN);
            Map<String, GoSuite.Outcome> onKafka;
            try (KafkaBroker kafka = KafkaBroker.startBehind(Toxiproxy.BROKER_1, CONFIG);
                    Toxiproxy toxiproxy = Toxiproxy.start(kafka.proxied())) {
                onKafka = suite.run(env(toxiproxy), List.of());
            }
            Map<String, GoSuite.Outcome> onTidelog;
            try (TidelogBroker tidelog = TidelogBroker.start(tidelogArgs());
                    Toxiproxy toxiproxy = Toxiproxy.start(tidelog.bootstrap())) {
                onTidelog = suite.runOnTidelog(env(toxiproxy), onKafka);
            }
            suite.assertTidelogPassesWhatKafkaPasses(onKafka, onTidelog, EXPLAINED, MINIMUM_ON_KAFKA);
        } finally {
            try (Stream<Path> files = Files.walk(source)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** Tidelog (node 1, as Kafka) advertising the proxy kafka1, with {@link #CONFIG}. */
    private static String[] tidelogArgs() {
        Stream<String> advertised = Stream.of("--advertised-listeners", "PLAINTEXT://" + Toxiproxy.BROKER_1);
        Stream<String> overrides = CONFIG.entrySet().stream()
                .flatMap(e -> Stream.of("--override", e.getKey() + "=" + e.getValue()));
        return Stream.concat(advertised, overrides).toArray(String[]::new);
    }

    /** Where the suite finds toxiproxy, and which Kafka version's tests to run. */
    private static Map<String, String> env(Toxiproxy toxiproxy) {
        return Map.of("TOXIPROXY_ADDR", toxiproxy.api(), "KAFKA_VERSION", System.getProperty("tidelog.kafkaVersion"));
    }

    /** A writable copy of the module (the module cache is read-only) with {@link #ONE_REPLICA}. */
    private static Path copyWithOneReplica(Path module) throws Exception {
        Path copy = Files.createTempDirectory("sarama-");
        try (Stream<Path> files = Files.walk(module)) {
            for (Path file : (Iterable<Path>) files::iterator) {
                Path target = copy.resolve(module.relativize(file).toString());
                if (Files.isDirectory(file)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(file, target);
                }
            }
        }
        Files.writeString(copy.resolve("tidelog_one_replica_test.go"), ONE_REPLICA);
        return copy;
    }
}
