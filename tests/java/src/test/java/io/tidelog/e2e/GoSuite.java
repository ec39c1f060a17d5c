package io.tidelog.e2e;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Collectors;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;

/**
 * A Go client's own integration tests, run with {@code go test -json} against Apache Kafka
 * and against Tidelog (FranzGoSuiteTest, SaramaSuiteTest): the module comes from the Go
 * module proxy, each top-level test's outcome is read from the JSON events, and every test
 * that passes on Kafka must pass on Tidelog unless a reason is given.
 */
final class GoSuite {
    /** The lines of a failed test's output shown in the report. */
    private static final int OUTPUT_LINES = 40;

    /** A top-level test's outcome, "pass", "fail" or "skip"; for a failure, its output's end. */
    record Outcome(String action, String output) {
        boolean passed() {
            return action.equals("pass");
        }
    }

    private final String name;
    private final Path dir;
    private final List<String> args;
    private final long timeoutMin;

    /**
     * @param name what the report calls the suite
     * @param dir where {@code go test} runs
     * @param args {@code go test}'s flags and packages, after its own {@code -json -count=1
     *     -timeout}
     * @param timeoutMin a whole run still going after this is hung
     */
    GoSuite(String name, Path dir, List<String> args, long timeoutMin) {
        this.name = name;
        this.dir = dir;
        this.args = args;
        this.timeoutMin = timeoutMin;
    }

    /** The source directory of {@code module} ("path@version") in Go's module cache. */
    static Path download(String module) throws Exception {
        Path output = Files.createTempFile("go-mod-download-", ".json");
        try {
            Process process = new ProcessBuilder("go", "mod", "download", "-json", module)
                    .redirectOutput(output.toFile())
                    .redirectError(ProcessBuilder.Redirect.INHERIT)
                    .start();
            if (!process.waitFor(5, TimeUnit.MINUTES) || process.exitValue() != 0) {
                process.destroyForcibly();
                throw new IllegalStateException("go mod download " + module + ": " + Files.readString(output));
            }
            return Path.of(Differential.JSON.readTree(output.toFile()).get("Dir").asText());
        } finally {
            Files.delete(output);
        }
    }

    /** Runs the tests (or only those named in {@code only}) with {@code env} set. */
    Map<String, Outcome> run(Map<String, String> env, List<String> only) throws Exception {
        List<String> command = new ArrayList<>(List.of("go", "test", "-json", "-count=1",
                "-timeout", timeoutMin + "m"));
        if (!only.isEmpty()) {
            command.addAll(List.of("-run", "^(" + String.join("|", only) + ")$"));
        }
        command.addAll(args);
        Path output = Files.createTempFile("go-test-", ".json");
        try {
            ProcessBuilder builder = new ProcessBuilder(command)
                    .directory(dir.toFile())
                    .redirectOutput(output.toFile())
                    .redirectError(ProcessBuilder.Redirect.INHERIT);
            builder.environment().putAll(env);
            Process process = builder.start();
            if (!process.waitFor(timeoutMin + 2, TimeUnit.MINUTES)) {
                process.destroyForcibly();
                throw new IllegalStateException(name + ": go test did not finish");
            }
            return outcomes(output, process.exitValue());
        } finally {
            Files.delete(output);
        }
    }

    /** Each top-level test's outcome in {@code go test -json}'s events. */
    private Map<String, Outcome> outcomes(Path events, int exitCode) throws Exception {
        Map<String, String> actions = new TreeMap<>();
        Map<String, Deque<String>> outputs = new HashMap<>();
        for (String line : Files.readAllLines(events)) {
            JsonNode event = event(line);
            if (event == null) {
                continue;
            }
            String fullName = event.path("Test").asText("");
            // A subtest's output counts for its top-level test; "" is the package's own.
            String test = fullName.split("/", 2)[0];
            String action = event.path("Action").asText();
            if (action.equals("output")) {
                Deque<String> kept = outputs.computeIfAbsent(test, t -> new ArrayDeque<>());
                kept.add(event.path("Output").asText().stripTrailing());
                if (kept.size() > OUTPUT_LINES) {
                    kept.removeFirst();
                }
            } else if (!test.isEmpty() && test.equals(fullName) && List.of("pass", "fail", "skip").contains(action)) {
                actions.put(test, action);
            }
        }
        if (actions.isEmpty()) {
            throw new IllegalStateException(name + ": go test ran no test (exit " + exitCode + "):\n"
                    + String.join("\n", outputs.getOrDefault("", new ArrayDeque<>())));
        }
        Map<String, Outcome> outcomes = new TreeMap<>();
        actions.forEach((test, action) -> outcomes.put(test, new Outcome(action,
                action.equals("fail") ? String.join("\n", outputs.getOrDefault(test, new ArrayDeque<>())) : "")));
        return outcomes;
    }

    /** The event on {@code line}, or null; a line that is not one is shown on stderr. */
    private static JsonNode event(String line) {
        try {
            return Differential.JSON.readTree(line);
        } catch (JsonProcessingException e) {
            System.err.println("go test -json printed a line that is not an event: " + line);
            return null;
        }
    }

    /**
     * Runs the tests against Tidelog, then once more, alone, those that passed on Kafka and
     * did not here: among many tests running in parallel, one may just have been slow.
     */
    Map<String, Outcome> runOnTidelog(Map<String, String> env, Map<String, Outcome> onKafka) throws Exception {
        Map<String, Outcome> onTidelog = run(env, List.of());
        List<String> failed = passedOnKafkaOnly(onKafka, onTidelog);
        if (!failed.isEmpty()) {
            onTidelog.putAll(run(env, failed));
        }
        return onTidelog;
    }

    /**
     * Prints both runs' counts and differences, and fails on a test that passed on Kafka and
     * not on Tidelog, unless {@code explained} gives the reason.
     */
    /**
     * Every test that passes on Kafka passes on Tidelog, but the explained ones, which must
     * still fail there (an explanation that no longer holds is dropped); and Kafka passes at
     * least {@code minimumOnKafka}, so a run broken on both sides cannot pass.
     */
    void assertTidelogPassesWhatKafkaPasses(Map<String, Outcome> onKafka, Map<String, Outcome> onTidelog,
            Map<String, String> explained, int minimumOnKafka) {
        List<String> differing = passedOnKafkaOnly(onKafka, onTidelog);
        List<String> regressions = differing.stream().filter(test -> !explained.containsKey(test)).toList();
        StringBuilder report = new StringBuilder(name + ", Kafka " + System.getProperty("tidelog.kafkaVersion")
                + ": Kafka " + count(onKafka) + "; Tidelog " + count(onTidelog)
                + "\n  failing on Kafka: " + tests(onKafka, o -> o.action().equals("fail"))
                + "\n  failing on Tidelog: " + tests(onTidelog, o -> o.action().equals("fail"))
                + "\n  skipped on Tidelog only: " + tests(onTidelog, o -> o.action().equals("skip")).stream()
                        .filter(test -> !"skip".equals(action(onKafka, test))).toList());
        differing.stream().filter(explained::containsKey).forEach(test -> report.append("\n  passing on Kafka only: ")
                .append(test).append(" (").append(explained.get(test)).append(')'));
        for (String test : regressions) {
            report.append("\n---- ").append(test).append(" on Tidelog (").append(action(onTidelog, test))
                    .append("):\n").append(onTidelog.containsKey(test) ? onTidelog.get(test).output() : "");
        }
        System.out.println(report);
        int passedOnKafka = tests(onKafka, Outcome::passed).size();
        assertTrue(passedOnKafka >= minimumOnKafka,
                name + ": only " + passedOnKafka + " tests passed on Kafka, fewer than " + minimumOnKafka);
        assertTrue(regressions.isEmpty(), name + ": pass on Kafka, not on Tidelog: " + regressions);
        List<String> stale = explained.keySet().stream().filter(test -> "pass".equals(action(onTidelog, test))).toList();
        assertTrue(stale.isEmpty(), name + ": explained as failing on Tidelog, but passing: " + stale);
    }

    private static List<String> passedOnKafkaOnly(Map<String, Outcome> onKafka, Map<String, Outcome> onTidelog) {
        return tests(onKafka, Outcome::passed).stream()
                .filter(test -> !"pass".equals(action(onTidelog, test)))
                .toList();
    }

    /** The test's action, or null when it did not run. */
    private static String action(Map<String, Outcome> outcomes, String test) {
        Outcome outcome = outcomes.get(test);
        return outcome == null ? null : outcome.action();
    }

    private static List<String> tests(Map<String, Outcome> outcomes, Predicate<Outcome> which) {
        return outcomes.entrySet().stream().filter(e -> which.test(e.getValue())).map(Map.Entry::getKey).toList();
    }

    private static String count(Map<String, Outcome> outcomes) {
        return outcomes.values().stream()
                .collect(Collectors.groupingBy(Outcome::action, TreeMap::new, Collectors.counting()))
                .toString();
    }
}
