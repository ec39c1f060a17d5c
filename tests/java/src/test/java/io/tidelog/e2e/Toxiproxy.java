package io.tidelog.e2e;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Shopify's toxiproxy in front of one broker, as Sarama's functional tests want it: they
 * bootstrap at the fixed addresses 127.0.0.1:29091-29095, of the proxies kafka1-kafka5,
 * and cut or slow a broker's connections through the proxy named after its node id. Here
 * all five lead to the one broker, node 1, which advertises {@link #BROKER_1}. Built with
 * {@code go install} from the Go module proxy.
 */
final class Toxiproxy implements AutoCloseable {
    private static final String MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0";
    /** The address of the proxy kafka1, which the broker (node 1) advertises. */
    static final String BROKER_1 = "127.0.0.1:29091";
    private static final int PROXIES = 5;
    /** Safety net: it starts in milliseconds. */
    private static final long START_TIMEOUT_S = 30;

    private final Path dir;
    private final Process process;
    private final String api;

    private Toxiproxy(Path dir, Process process, String api) {
        this.dir = dir;
        this.process = process;
        this.api = api;
    }

    /** Builds toxiproxy and starts it with the five proxies leading to {@code upstream}. */
    static Toxiproxy start(String upstream) throws Exception {
        Path dir = Files.createTempDirectory("toxiproxy-");
        Path binary = build(dir);
        Path config = dir.resolve("proxies.json");
        Differential.JSON.writeValue(config.toFile(), IntStream.rangeClosed(1, PROXIES)
                .mapToObj(i -> Map.of("name", "kafka" + i, "listen", "127.0.0.1:" + (29090 + i),
                        "upstream", upstream, "enabled", true))
                .toList());
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        Process process = new ProcessBuilder(binary.toString(), "-host", "127.0.0.1", "-port", String.valueOf(port),
                "-config", config.toString())
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("toxiproxy.log").toFile())
                .start();
        Toxiproxy toxiproxy = new Toxiproxy(dir, process, "http://127.0.0.1:" + port);
        try {
            toxiproxy.awaitProxies();
        } catch (Exception e) {
            toxiproxy.close();
            throw e;
        }
        return toxiproxy;
    }

    private static Path build(Path dir) throws Exception {
        ProcessBuilder builder = new ProcessBuilder("go", "install", MODULE)
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("build.log").toFile());
        builder.environment().put("GOBIN", dir.toString());
        Process process = builder.start();
        if (!process.waitFor(5, TimeUnit.MINUTES) || process.exitValue() != 0) {
            process.destroyForcibly();
            throw new IllegalStateException("go install " + MODULE + ":\n" + Files.readString(dir.resolve("build.log")));
        }
        return dir.resolve("server");
    }

    /** Ready once its API lists the five proxies (one whose port is taken is left out). */
    private void awaitProxies() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        HttpRequest request = HttpRequest.newBuilder(URI.create(api + "/proxies")).build();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(START_TIMEOUT_S);
        while (true) {
            try {
                HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
                JsonNode proxies = Differential.JSON.readTree(response.body());
                if (proxies.size() == PROXIES) {
                    return;
                }
            } catch (IOException notYet) {
                // Not listening yet.
            }
            if (!process.isAlive() || System.nanoTime() > deadline) {
                throw new IllegalStateException("toxiproxy did not set up its " + PROXIES + " proxies on ports 29091-"
                        + (29090 + PROXIES) + ":\n" + Files.readString(dir.resolve("toxiproxy.log")));
            }
            Thread.sleep(100);
        }
    }

    /** Its HTTP API, for Sarama's TOXIPROXY_ADDR. */
    String api() {
        return api;
    }

    @Override
    public void close() throws Exception {
        try {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
