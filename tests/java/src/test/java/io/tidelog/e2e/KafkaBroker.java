package io.tidelog.e2e;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.Uuid;

/**
 * A real Apache Kafka broker (KRaft, broker and controller in one process, as
 * {@code kafka-storage.sh format --standalone} and {@code kafka-server-start.sh} make it)
 * from the jars on target/classpath.txt, on free loopback ports and a temporary directory:
 * the reference Tidelog's behaviour is compared with. Or started on a data directory
 * already formatted ({@link #startOn}), as Tidelog leaves one.
 */
public final class KafkaBroker implements AutoCloseable, BrokerEndpoint {
    /** Safety net: Kafka starts in a few seconds here. */
    private static final long START_TIMEOUT_S = 120;

    private final Path dir;
    private final Process process;
    private final String bootstrap;
    /** The PROXIED listener's own address, or null. */
    private final String proxied;

    private KafkaBroker(Path dir, Process process, String bootstrap, String proxied) {
        this.dir = dir;
        this.process = process;
        this.bootstrap = bootstrap;
        this.proxied = proxied;
    }

    /** A loopback port free now (another process could still take it before it is used). */
    static int freePort() throws IOException {
        return freePorts(1)[0];
    }

    /**
     * {@code count} different loopback ports free now: all held open until every one is
     * chosen, since two ports picked one after the other can be the same (seen in CI: Kafka
     * then refuses two listeners on one port).
     */
    static int[] freePorts(int count) throws IOException {
        ServerSocket[] sockets = new ServerSocket[count];
        try {
            int[] ports = new int[count];
            for (int i = 0; i < count; i++) {
                sockets[i] = new ServerSocket(0);
                ports[i] = sockets[i].getLocalPort();
            }
            return ports;
        } finally {
            for (ServerSocket socket : sockets) {
                if (socket != null) {
                    socket.close();
                }
            }
        }
    }

    public static KafkaBroker start() throws Exception {
        return start(null, true, null, Map.of());
    }

    /**
     * Kafka on a new data directory {@code logDir}, formatted first as {@link #start()}'s
     * is; but the directory is the caller's: closing the broker (a clean shutdown) leaves it
     * in place, for another broker to start on.
     */
    public static KafkaBroker startFormatting(Path logDir) throws Exception {
        return start(logDir, true, null, Map.of());
    }

    /**
     * Kafka on a data directory that is already formatted (meta.properties, the KRaft
     * metadata log), as {@code kafka-server-start.sh} starts on one: no
     * {@code kafka-storage format}. The directory is the caller's: closing the broker
     * leaves it in place.
     */
    public static KafkaBroker startOn(Path logDir) throws Exception {
        return start(logDir, false, null, Map.of());
    }

    /**
     * A broker with a second listener, PROXIED, advertised as {@code proxy}: an address that
     * leads to {@link #proxied()} (a proxy's), so that clients bootstrapping there go on
     * through it, as Sarama's test cluster is reached through toxiproxy. The first listener
     * stays direct, for {@link #bootstrap()} and the readiness check. {@code more} is added
     * to the configuration.
     */
    public static KafkaBroker startBehind(String proxy, Map<String, String> more) throws Exception {
        return start(null, true, proxy, more);
    }

    /**
     * {@code logDir} null: a new one in the broker's temporary directory (deleted with it);
     * {@code format}: run {@code kafka-storage format} on it first.
     */
    private static KafkaBroker start(Path logDir, boolean format, String proxy, Map<String, String> more)
            throws Exception {
        Path dir = Files.createTempDirectory("kafka-reference-");
        if (logDir == null) {
            logDir = dir.resolve("data");
        }
        int[] ports = freePorts(3);
        int port = ports[0];
        int controllerPort = ports[1];
        String listeners = "PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort;
        String advertised = "PLAINTEXT://127.0.0.1:" + port;
        String protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT";
        String proxied = null;
        if (proxy != null) {
            proxied = "127.0.0.1:" + ports[2];
            listeners += ",PROXIED://" + proxied;
            advertised += ",PROXIED://" + proxy;
            protocols += ",PROXIED:PLAINTEXT";
        }
        Properties config = new Properties();
        config.put("process.roles", "broker,controller");
        config.put("node.id", "1");
        config.put("controller.quorum.bootstrap.servers", "127.0.0.1:" + controllerPort);
        config.put("listeners", listeners);
        config.put("advertised.listeners", advertised);
        config.put("controller.listener.names", "CONTROLLER");
        config.put("listener.security.protocol.map", protocols);
        config.put("log.dirs", logDir.toString());
        // A single node, as Tidelog's defaults are for one.
        config.put("offsets.topic.replication.factor", "1");
        config.put("transaction.state.log.replication.factor", "1");
        config.put("transaction.state.log.min.isr", "1");
        config.put("group.initial.rebalance.delay.ms", "0");
        // Kafka 4.3+ computes KIP-848 assignments in the background (KIP-1263), so whether a
        // heartbeat carries its assignment would depend on timing; computed inline, as
        // Kafka 4.0-4.2 and Tidelog do, the answers can be compared. (Older Kafkas ignore
        // the property, with a warning.)
        config.put("group.consumer.assignor.offload.enable", "false");
        config.putAll(more);
        Path properties = dir.resolve("server.properties");
        try (var out = Files.newBufferedWriter(properties)) {
            config.store(out, "Apache Kafka, the reference for Tidelog's tests");
        }
        if (format) {
            KafkaTool.Result formatted = KafkaTool.run("kafka.tools.StorageTool", List.of("format",
                    "-t", Uuid.randomUuid().toString(), "-c", properties.toString(), "--standalone"));
            if (formatted.exitCode() != 0) {
                throw new IllegalStateException("kafka-storage format failed:\n" + formatted.output());
            }
        }
        Process process = new ProcessBuilder(KafkaTool.javaCommand("kafka.Kafka", List.of(properties.toString())))
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("kafka.log").toFile())
                .start();
        KafkaBroker broker = new KafkaBroker(dir, process, "127.0.0.1:" + port, proxied);
        broker.awaitReady();
        return broker;
    }

    /** Ready once its metadata names itself: listening, and the controller has it. */
    private void awaitReady() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(START_TIMEOUT_S);
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("default.api.timeout.ms", "5000");
        props.put("request.timeout.ms", "5000");
        while (true) {
            if (!process.isAlive()) {
                throw new IllegalStateException("Kafka exited " + process.exitValue() + ":\n" + log());
            }
            try (Admin admin = Admin.create(props)) {
                if (!admin.describeCluster().nodes().get().isEmpty()) {
                    return;
                }
            } catch (Exception notYet) {
                // Not listening yet.
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("Kafka did not start:\n" + log());
            }
            Thread.sleep(200);
        }
    }

    @Override
    public String bootstrap() {
        return bootstrap;
    }

    /** The PROXIED listener's own address (see {@link #startBehind}). */
    public String proxied() {
        return proxied;
    }

    public String log() {
        try {
            return Files.readString(dir.resolve("kafka.log"));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    @Override
    public void close() throws Exception {
        try {
            process.destroy();
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
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
