package io.tidelog.e2e;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * franz-go's own integration tests (its kgo package, which takes a seed broker from
 * KGO_SEEDS) run against Apache Kafka and against Tidelog in the same run: every test that
 * passes against Kafka must pass against Tidelog. The module comes from the Go module proxy
 * at a pinned version. Runs when -Dtidelog.goSuites=true (scripts/test.sh sets it for one of
 * its two Maven runs).
 */
class FranzGoSuiteTest {
    private static final String MODULE = "github.com/twmb/franz-go@v1.22.3";
    /** Records per test (the suite's default, 500 000, is for a bench, not for CI). */
    private static final String RECORDS = "10000";
    /**
     * Tests that pass on Kafka and may not on Tidelog, with the reason (docs/COMPATIBILITY.md
     * says the same).
     */
    /** Fewer passing on Kafka means a broken run (148 passed there on 2026-12-06). */
    private static final int MINIMUM_ON_KAFKA = 140;

    private static final Map<String, String> EXPLAINED = Map.of(
            "TestConsumeRegexShareSkipsInternal",
            "needs share groups (KIP-932), which Tidelog does not have: the test skips itself");

    /** A whole suite run still going after this is hung. */
    private static final long SUITE_TIMEOUT_MIN = 20;

    @Test
    @Timeout(value = 2 * SUITE_TIMEOUT_MIN + 10, unit = TimeUnit.MINUTES)
    void everyKgoTestThatPassesOnKafkaPassesOnTidelog() throws Exception {
        assumeTrue(Boolean.getBoolean("tidelog.goSuites"), "-Dtidelog.goSuites=true runs franz-go's suite");
        GoSuite suite = new GoSuite("franz-go " + MODULE + " kgo tests", GoSuite.download(MODULE),
                List.of("./pkg/kgo"), SUITE_TIMEOUT_MIN);
        Map<String, GoSuite.Outcome> onKafka;
        try (KafkaBroker kafka = KafkaBroker.start()) {
            onKafka = suite.run(env(kafka.bootstrap()), List.of());
        }
        Map<String, GoSuite.Outcome> onTidelog;
        try (TidelogBroker tidelog = TidelogBroker.start()) {
            onTidelog = suite.runOnTidelog(env(tidelog.bootstrap()), onKafka);
        }
        suite.assertTidelogPassesWhatKafkaPasses(onKafka, onTidelog, EXPLAINED, MINIMUM_ON_KAFKA);
    }

    private static Map<String, String> env(String seeds) {
        return Map.of("KGO_SEEDS", seeds, "KGO_TEST_RF", "1", "KGO_TEST_RECORDS", RECORDS, "KGO_LOG_LEVEL", "none");
    }
}
