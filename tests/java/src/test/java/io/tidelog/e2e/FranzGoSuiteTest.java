package io.tidelog.e2e;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import com.fasterxml.jackson.databind.JsonNode;

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
    private static final Map<String, String> EXPLAINED = Map.of(
            "TestConsumeRegexShareSkipsInternal",
            "needs share groups (KIP-932), which Tidelog does not have: the test skips itself");

    /** A whole suite run still going after this is hung. */
    private static final long SUITE_TIMEOUT_MIN = 20;

    @Test
    @Timeout(value = 2 * SUITE_TIMEOUT_MIN + 10, unit = TimeUnit.MINUTES)
    void everyKgoTestThatPassesOnKafkaPassesOnTidelog() throws Exception {
        assumeTrue(Boolean.getBoolean("tidelog.goSuites"), "-Dtidelog.goSuites=true runs franz-go's suite");
        Path module = download();
        Map<String, String> onKafka;
        try (KafkaBroker kafka = KafkaBroker.start()) {
            onKafka = run(module, kafka.bootstrap(), List.of());
        }
        Map<String, String> onTidelog;
        TidelogBroker tidelog = TidelogBroker.start();
        try (tidelog) {
            onTidelog = run(module, tidelog.bootstrap(), List.of());
            List<String> failed = onKafka.entrySet().stream()
                    .filter(e -> e.getValue().equals("pass") && !"pass".equals(onTidelog.get(e.getKey())))
                    .map(Map.Entry::getKey)
                    .toList();
            // A second chance, alone, for what failed among many tests running in parallel.
            if (!failed.isEmpty()) {
                onTidelog.putAll(run(module, tidelog.bootstrap(), failed));
            }
        }
        List<String> regressions = onKafka.entrySet().stream()
                .filter(e -> e.getValue().equals("pass") && !"pass".equals(onTidelog.get(e.getKey())))
                .filter(e -> !EXPLAINED.containsKey(e.getKey()))
                .map(e -> e.getKey() + " (Tidelog: " + onTidelog.get(e.getKey()) + ")")
                .toList();
        System.out.println("franz-go " + MODULE + " kgo tests, Kafka " + System.getProperty("tidelog.kafkaVersion")
                + ": Kafka " + count(onKafka) + "; Tidelog " + count(onTidelog)
                + "\n  failing on Kafka: " + outcome(onKafka, "fail") + "\n  failing on Tidelog: "
                + outcome(onTidelog, "fail") + "\n  skipped on Tidelog only: " + onTidelog.entrySet().stream()
                        .filter(e -> e.getValue().equals("skip") && !"skip".equals(onKafka.get(e.getKey())))
                        .map(Map.Entry::getKey).toList());
        assertTrue(regressions.isEmpty(), "pass on Kafka, not on Tidelog: " + regressions);
    }

    private static List<String> outcome(Map<String, String> results, String outcome) {
        return results.entrySet().stream().filter(e -> e.getValue().equals(outcome)).map(Map.Entry::getKey).toList();
    }

    private static String count(Map<String, String> results) {
        return results.values().stream().collect(Collectors.groupingBy(v -> v, TreeMap::new, Collectors.counting()))
                .toString();
    }

    /** The module's source directory, downloaded through the Go module proxy. */
    private static Path download() throws Exception {
        Path output = Files.createTempFile("go-mod-download-", ".json");
        try {
            Process process = new ProcessBuilder("go", "mod", "download", "-json", MODULE)
                    .redirectOutput(output.toFile())
                    .redirectError(ProcessBuilder.Redirect.INHERIT)
                    .start();
            if (!process.waitFor(5, TimeUnit.MINUTES) || process.exitValue() != 0) {
                process.destroyForcibly();
                throw new IllegalStateException("go mod download " + MODULE + ": " + Files.readString(output));
            }
            return Path.of(Differential.JSON.readTree(output.toFile()).get("Dir").asText());
        } finally {
            Files.delete(output);
        }
    }

    /**
     * Runs the kgo tests (or only {@code only}) against {@code seeds}: each top-level test's
     * outcome, "pass", "fail" or "skip".
     */
    private static Map<String, String> run(Path module, String seeds, List<String> only) throws Exception {
        List<String> command = new ArrayList<>(List.of("go", "test", "-json", "-count=1",
                "-timeout", SUITE_TIMEOUT_MIN + "m"));
        if (!only.isEmpty()) {
            command.addAll(List.of("-run", "^(" + String.join("|", only) + ")$"));
        }
        command.add("./pkg/kgo");
        Path output = Files.createTempFile("kgo-", ".json");
        ProcessBuilder builder = new ProcessBuilder(command)
                .directory(module.toFile())
                .redirectOutput(output.toFile())
                .redirectError(ProcessBuilder.Redirect.INHERIT);
        builder.environment().putAll(Map.of("KGO_SEEDS", seeds, "KGO_TEST_RF", "1",
                "KGO_TEST_RECORDS", RECORDS, "KGO_LOG_LEVEL", "none"));
        Process process = builder.start();
        if (!process.waitFor(SUITE_TIMEOUT_MIN + 2, TimeUnit.MINUTES)) {
            process.destroyForcibly();
            throw new IllegalStateException("go test did not finish");
        }
        Map<String, String> outcomes = new TreeMap<>();
        try {
            for (String line : Files.readAllLines(output)) {
                if (!line.startsWith("{")) {
                    continue;
                }
                JsonNode event = Differential.JSON.readTree(line);
                String test = event.path("Test").asText("");
                String action = event.path("Action").asText();
                if (!test.isEmpty() && !test.contains("/") && List.of("pass", "fail", "skip").contains(action)) {
                    outcomes.put(test, action);
                }
            }
        } finally {
            Files.delete(output);
        }
        if (outcomes.isEmpty()) {
            throw new IllegalStateException("go test ran no test (exit " + process.exitValue() + ")");
        }
        return outcomes;
    }
}
