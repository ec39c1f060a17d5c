package io.tidelog.e2e;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;

import org.apache.kafka.common.message.MetadataRequestData;
import org.apache.kafka.common.message.MetadataResponseData;
import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.protocol.ApiMessage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.TestInstance;

/**
 * Apache Kafka as the oracle: every sequence of the corpus (src/test/resources/differential)
 * is sent, request by request, to a real Kafka broker and to Tidelog, each on its own
 * connection, and each pair of responses must be equal field by field but for what must
 * differ (ids, timestamps, throttle times, prose) and what a step lists, with its reason in
 * docs/COMPATIBILITY.md. Wrong requests are part of the corpus: unknown topics, stale epochs,
 * bad sequence numbers, oversized batches, wrong generations. A connection the broker closes
 * is an answer too, compared as such; the next step opens a new one. A step with
 * {@code "noResponse": true} (a Produce with acks=0) is only sent; one with
 * {@code "kafkaAtLeast": "4.1"} is skipped with an older Kafka.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DifferentialTest {
    private KafkaBroker kafka;
    private TidelogBroker tidelog;

    @BeforeAll
    void start() throws Exception {
        kafka = KafkaBroker.start();
        tidelog = TidelogBroker.start();
    }

    @AfterAll
    void stop() throws Exception {
        try (KafkaBroker k = kafka; TidelogBroker t = tidelog) {
            // Both closed, even if one fails.
        }
    }

    @TestFactory
    Stream<DynamicTest> corpus() throws Exception {
        Path dir = Path.of(getClass().getResource("/differential").toURI());
        List<Path> files;
        try (Stream<Path> listed = Files.list(dir)) {
            // -Dtidelog.corpus=08 runs the sequences whose file names start so.
            String only = System.getProperty("tidelog.corpus", "");
            files = listed.filter(p -> p.toString().endsWith(".json"))
                    .filter(p -> p.getFileName().toString().startsWith(only))
                    .sorted().toList();
        }
        assertTrue(!files.isEmpty(), "an empty corpus");
        return files.stream().map(file -> DynamicTest.dynamicTest(file.getFileName().toString(), () -> run(file)));
    }

    private void run(Path file) throws Exception {
        JsonNode sequence = Differential.JSON.readTree(file.toFile());
        Map<String, String> kafkaVariables = new HashMap<>();
        Map<String, String> tidelogVariables = new HashMap<>();
        List<String> failures = new ArrayList<>();
        try (WireClient toKafka = new WireClient(kafka.bootstrap());
             WireClient toTidelog = new WireClient(tidelog.bootstrap())) {
            int index = 0;
            for (JsonNode step : sequence.get("steps")) {
                index++;
                if (step.has("awaitTopics")) {
                    List<String> topics = new ArrayList<>();
                    step.get("awaitTopics").forEach(t -> topics.add(t.asText()));
                    awaitLeaders(toKafka, topics);
                    awaitLeaders(toTidelog, topics);
                    continue;
                }
                if (step.has("kafkaAtLeast") && olderThan(System.getProperty("tidelog.kafkaVersion", ""),
                        step.get("kafkaAtLeast").asText())) {
                    continue;
                }
                ApiKeys api = ApiKeys.valueOf(toConstant(step.get("api").asText()));
                short version = (short) step.get("version").asInt();
                JsonNode template = step.get("request");
                if (step.path("noResponse").asBoolean(false)) {
                    toKafka.write(api, version, Differential.request(api, version, template, kafkaVariables));
                    toTidelog.write(api, version, Differential.request(api, version, template, tidelogVariables));
                    continue;
                }
                JsonNode until = step.path("retryUntil");
                earlierAnswers.clear();
                JsonNode fromKafka = sendSettled(toKafka, api, version, template, kafkaVariables, until);
                JsonNode fromTidelog = sendSettled(toTidelog, api, version, template, tidelogVariables, until);
                save(step, fromKafka, kafkaVariables);
                save(step, fromTidelog, tidelogVariables);
                List<String> ignored = Differential.alwaysIgnored();
                step.path("ignore").fieldNames().forEachRemaining(ignored::add);
                sequence.path("ignore").path(step.get("api").asText()).fieldNames().forEachRemaining(ignored::add);
                List<String> unordered = new ArrayList<>();
                step.path("unordered").forEach(p -> unordered.add(p.asText()));
                List<String> differences = Differential.differences(
                        Differential.flatten(fromKafka, unordered), Differential.flatten(fromTidelog, unordered), ignored);
                if (!differences.isEmpty()) {
                    failures.add("step " + index + " (" + api + " v" + version + "):\n  "
                            + String.join("\n  ", differences)
                            + "\n  Kafka:   " + fromKafka + "\n  Tidelog: " + fromTidelog
                            + (earlierAnswers.isEmpty() ? "" : "\n  before settling: " + earlierAnswers));
                }
            }
        }
        assertTrue(failures.isEmpty(), sequence.get("name").asText() + "\n" + String.join("\n", failures));
    }

    /**
     * Error codes a client retries because the broker is still settling (a coordinator
     * loading, a leader being elected): a fresh Kafka answers them for a moment after a topic
     * or an internal topic is created. Compared are the answers once settled.
     */
    private static final List<Integer> SETTLING = List.of(
            5, // LEADER_NOT_AVAILABLE
            6, // NOT_LEADER_OR_FOLLOWER
            14, // COORDINATOR_LOAD_IN_PROGRESS
            15, // COORDINATOR_NOT_AVAILABLE
            16); // NOT_COORDINATOR

    /** The answers of the current step before it settled, shown when it fails. */
    private final List<String> earlierAnswers = new ArrayList<>();

    /**
     * Sends the step until its answer has settled: no {@link #SETTLING} error, and every
     * value {@code until} names (JSON pointer → value, or {@code {"$size": n}} for an array's
     * length) reached. A state a broker reaches in
     * the background (Kafka writes transaction markers after answering EndTxn) is compared
     * once both have reached it.
     */
    private JsonNode sendSettled(WireClient client, ApiKeys api, short version, JsonNode template,
                                 Map<String, String> variables, JsonNode until) throws Exception {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (true) {
            JsonNode response;
            try {
                response = Differential.json(
                        client.send(api, version, Differential.request(api, version, template, variables)), version);
            } catch (java.io.EOFException | java.net.SocketException closed) {
                // The broker closed the connection, which is compared as an answer of its own
                // (a time-out or a wrong correlation id is not that: it fails the step).
                client.connect();
                return Differential.JSON.createObjectNode().put("connection", "closed by the broker");
            }
            boolean settled = response.findValues("errorCode").stream().noneMatch(c -> SETTLING.contains(c.asInt()));
            java.util.Iterator<Map.Entry<String, JsonNode>> wanted = until.fields();
            while (wanted.hasNext()) {
                Map.Entry<String, JsonNode> value = wanted.next();
                JsonNode want = value.getValue();
                if (value.getKey().contains("[")) {
                    // A path through an array's element by its key, as differences name it
                    // ("/finalizedFeatures/[group.version]/maxVersionLevel"): the elements'
                    // order is each broker's own.
                    String got = Differential.flatten(response, List.of()).get(value.getKey());
                    settled &= want.asText().equals(got);
                    continue;
                }
                JsonNode got = response.at(value.getKey());
                // {"$size": n}: an array of n elements. Otherwise as text: the corpus's 0 is
                // an int, a response's error code a short.
                settled &= want.has("$size") ? got.isArray() && got.size() == want.get("$size").asInt()
                        : got.asText().equals(want.asText());
            }
            if (settled || System.nanoTime() > deadline) {
                return response;
            }
            // Shown with a failing step: what was answered before it settled.
            earlierAnswers.add(response.toString());
            Thread.sleep(100);
        }
    }

    /** Whether Kafka {@code version} ("4.0.2") is older than {@code least} ("4.1"). */
    private static boolean olderThan(String version, String least) {
        String[] have = version.split("\\.");
        String[] want = least.split("\\.");
        for (int i = 0; i < want.length; i++) {
            int a = i < have.length ? Integer.parseInt(have[i]) : 0;
            int b = Integer.parseInt(want[i]);
            if (a != b) {
                return a < b;
            }
        }
        return false;
    }

    /** "DescribeConfigs" as Kafka's enum spells it: DESCRIBE_CONFIGS. */
    private static String toConstant(String api) {
        return api.replaceAll("([a-z])([A-Z])", "$1_$2").toUpperCase();
    }

    private static void save(JsonNode step, JsonNode response, Map<String, String> variables) {
        step.path("save").fields().forEachRemaining(e -> {
            JsonNode value = response.at(e.getValue().asText());
            if (value.isMissingNode()) {
                throw new IllegalArgumentException("nothing at " + e.getValue().asText() + " in " + response);
            }
            // As JSON: a number stays a number where it is written in.
            variables.put(e.getKey(), value.toString());
        });
    }

    /** Waits until the broker knows every partition of the topics with a leader. */
    private static void awaitLeaders(WireClient client, List<String> topics) throws Exception {
        MetadataRequestData request = new MetadataRequestData().setAllowAutoTopicCreation(false);
        topics.forEach(t -> request.topics().add(new MetadataRequestData.MetadataRequestTopic().setName(t)));
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (true) {
            ApiMessage answer = client.send(ApiKeys.METADATA, (short) 12, request);
            MetadataResponseData metadata = (MetadataResponseData) answer;
            boolean ready = metadata.topics().size() == topics.size() && metadata.topics().stream()
                    .allMatch(t -> t.errorCode() == 0 && !t.partitions().isEmpty()
                            && t.partitions().stream().allMatch(p -> p.errorCode() == 0 && p.leaderId() >= 0));
            if (ready) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("topics " + topics + " never got leaders: " + metadata);
            }
            Thread.sleep(50);
        }
    }
}
