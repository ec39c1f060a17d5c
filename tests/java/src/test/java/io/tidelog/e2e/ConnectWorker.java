package io.tidelog.e2e;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * A Kafka Connect worker in distributed mode ({@code connect-distributed.sh}) as a child
 * JVM, its config, offset and status topics on the given broker and its REST API on a free
 * loopback port; and that REST API, as an operator uses it.
 */
public final class ConnectWorker implements AutoCloseable {
    /** Safety net for the worker to answer and for a connector to run: seconds here. */
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(120);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final ConnectJvm jvm;
    private final Path config;
    private final URI rest;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private ConnectWorker(ConnectJvm jvm, Path config, URI rest) {
        this.jvm = jvm;
        this.config = config;
        this.rest = rest;
    }

    /**
     * Starts a worker of {@code groupId} whose internal topics are {@code groupId}-configs,
     * -offsets and -status: a second worker started with the same arguments takes over what
     * the first one ran.
     */
    public static ConnectWorker start(String bootstrap, String groupId) throws Exception {
        int port = KafkaBroker.freePort();
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("group.id", groupId);
        props.put("config.storage.topic", groupId + "-configs");
        props.put("offset.storage.topic", groupId + "-offsets");
        props.put("status.storage.topic", groupId + "-status");
        props.put("config.storage.replication.factor", "1");
        props.put("offset.storage.replication.factor", "1");
        props.put("status.storage.replication.factor", "1");
        // Lines stay text: a record's value is the line, as connect-file's quickstart has it.
        props.put("key.converter", "org.apache.kafka.connect.storage.StringConverter");
        props.put("value.converter", "org.apache.kafka.connect.storage.StringConverter");
        // Commits (and the file sink's flushes) every second instead of every minute.
        props.put("offset.flush.interval.ms", "1000");
        props.put("listeners", "http://127.0.0.1:" + port);
        props.put("rest.advertised.host.name", "127.0.0.1");
        props.put("rest.advertised.port", String.valueOf(port));
        Path config = Files.createTempFile("connect-distributed-", ".properties");
        try (var out = Files.newBufferedWriter(config)) {
            props.store(out, "Kafka Connect worker for Tidelog's tests");
        }
        ConnectJvm jvm = ConnectJvm.start("connect-worker", "org.apache.kafka.connect.cli.ConnectDistributed",
                List.of(config.toString()));
        ConnectWorker worker = new ConnectWorker(jvm, config, URI.create("http://127.0.0.1:" + port));
        try {
            worker.awaitRestApi();
        } catch (Throwable e) {
            worker.close();
            throw e;
        }
        return worker;
    }

    private void awaitRestApi() throws Exception {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        while (true) {
            jvm.assertAlive();
            try {
                if (send(HttpRequest.newBuilder(rest.resolve("/connectors")).GET()).statusCode() == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // Not listening yet.
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("Connect's REST API did not answer; " + jvm.logTail());
            }
            Thread.sleep(500);
        }
    }

    private HttpResponse<String> send(HttpRequest.Builder request) throws IOException, InterruptedException {
        return http.send(request.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /**
     * Creates or updates a connector ({@code PUT /connectors/NAME/config}). A worker that is
     * still joining its group answers 409 (rebalancing) or times out: asked again until the
     * deadline.
     */
    public void putConnector(String name, Map<String, String> connectorConfig) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(rest.resolve("/connectors/" + name + "/config"))
                .header("Content-Type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(connectorConfig)));
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        while (true) {
            jvm.assertAlive();
            HttpResponse<String> response = send(request);
            if (response.statusCode() == 200 || response.statusCode() == 201) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("PUT " + name + ": " + response.statusCode() + " " + response.body()
                        + "; " + jvm.logTail());
            }
            Thread.sleep(500);
        }
    }

    /** Waits for the connector and each of its tasks to be RUNNING; fails at once if one FAILED. */
    public void awaitRunning(String name) throws Exception {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        while (true) {
            jvm.assertAlive();
            HttpResponse<String> response = send(HttpRequest.newBuilder(rest.resolve("/connectors/" + name + "/status")).GET());
            if (response.statusCode() == 200) {
                JsonNode status = JSON.readTree(response.body());
                List<String> states = new ArrayList<>(status.get("tasks").findValuesAsText("state"));
                states.add(status.get("connector").get("state").asText());
                if (states.contains("FAILED")) {
                    throw new AssertionError(name + " failed: " + response.body() + "; " + jvm.logTail());
                }
                if (status.get("tasks").size() > 0 && states.stream().allMatch("RUNNING"::equals)) {
                    return;
                }
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError(name + " is not running: " + response.statusCode() + " " + response.body()
                        + "; " + jvm.logTail());
            }
            Thread.sleep(500);
        }
    }

    public ConnectJvm jvm() {
        return jvm;
    }

    /**
     * SIGTERM: the worker stops its tasks, commits their offsets and leaves its group.
     * Returns false if it hung in its own shutdown and was killed ({@link ConnectJvm#stop}).
     */
    public boolean stop() throws InterruptedException {
        return jvm.stop();
    }

    @Override
    public void close() throws Exception {
        try {
            jvm.close();
        } finally {
            Files.deleteIfExists(config);
        }
    }
}
