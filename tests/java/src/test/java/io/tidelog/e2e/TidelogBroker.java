package io.tidelog.e2e;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A real {@code tidelog serve} child process ($TIDELOG_BIN) on a free loopback port with a
 * temporary data directory, its log kept for failure messages. Closing it stops it with
 * SIGTERM, checks the clean exit, and removes the directory. Or started on a log directory
 * of the caller's ({@link #startOn}), which closing leaves in place.
 */
public final class TidelogBroker implements AutoCloseable, BrokerEndpoint {
    private static final Pattern LISTENING = Pattern.compile("listening addr=(\\S+)");
    /** Safety nets only: a healthy broker starts and stops in milliseconds. */
    private static final long START_TIMEOUT_S = 60;
    private static final long STOP_TIMEOUT_S = 60;

    /** The temporary directory closing removes, or null: the log directory is the caller's. */
    private final Path dataDir;
    private final Path logDir;
    private final List<String> extraArgs;
    private final List<String> log = new ArrayList<>();
    /** Port 0 at first; then the address it got, so a restart keeps its clients' bootstrap. */
    private String listener = "PLAINTEXT://127.0.0.1:0";
    private Process process;
    private Thread drain;
    private volatile String bootstrap;

    private TidelogBroker(Path dataDir, Path logDir, List<String> extraArgs) {
        this.dataDir = dataDir;
        this.logDir = logDir;
        this.extraArgs = extraArgs;
    }

    /** Starts a broker; {@code extraArgs} go to {@code tidelog serve} as they are. */
    public static TidelogBroker start(String... extraArgs) throws IOException, InterruptedException {
        Path dataDir = Files.createTempDirectory("tidelog-java-");
        TidelogBroker broker = new TidelogBroker(dataDir, dataDir.resolve("data"), List.of(extraArgs));
        broker.spawn();
        return broker;
    }

    /**
     * Starts a broker listening on {@code listeners} ({@code NAME://host:port,...}): the
     * first one's address is {@link #bootstrap()}, the others' {@link #listenerAddress}. (A
     * restart listens on the first one alone.)
     */
    public static TidelogBroker startWithListeners(String listeners, String... extraArgs)
            throws IOException, InterruptedException {
        Path dataDir = Files.createTempDirectory("tidelog-java-");
        TidelogBroker broker = new TidelogBroker(dataDir, dataDir.resolve("data"), List.of(extraArgs));
        broker.listener = listeners;
        broker.spawn();
        return broker;
    }

    /** The {@code host:port} of the listener {@code name}, from the listening line. */
    public String listenerAddress(String name) {
        Matcher listed = Pattern.compile("listening addr=\\S+ listeners=\"?([^\"\\s]+)").matcher(log());
        if (!listed.find()) {
            throw new IllegalStateException("no listening line in:\n" + log());
        }
        return Stream.of(listed.group(1).split(","))
                .filter(entry -> entry.startsWith(name + "://"))
                .map(entry -> entry.substring(name.length() + 3))
                .findFirst()
                .orElseThrow(() -> new IllegalStateException("no " + name + " listener in " + listed.group(1)));
    }

    /**
     * Starts a broker on {@code logDir} as it is (one another broker wrote, say); closing it
     * leaves the directory in place.
     */
    public static TidelogBroker startOn(Path logDir, String... extraArgs) throws IOException, InterruptedException {
        TidelogBroker broker = new TidelogBroker(null, logDir, List.of(extraArgs));
        broker.spawn();
        return broker;
    }

    private void spawn() throws IOException, InterruptedException {
        String binary = System.getenv("TIDELOG_BIN");
        if (binary == null || binary.isEmpty()) {
            throw new IllegalStateException("set TIDELOG_BIN to the tidelog binary (scripts/test.sh does)");
        }
        List<String> command = new ArrayList<>(List.of(binary, "serve",
                "--listeners", listener, "--log-dirs", logDir.toString(),
                // HTTP (metrics, health) off: these tests do not use it, and brokers run side by side.
                "--override", "http.listeners="));
        command.addAll(extraArgs);
        ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        // TIDELOG_LOG=debug (or any RUST_LOG filter) for more detail.
        builder.environment().put("RUST_LOG", System.getenv().getOrDefault("TIDELOG_LOG", "info"));
        bootstrap = null;
        process = builder.start();
        CountDownLatch ready = new CountDownLatch(1);
        Process child = process;
        drain = new Thread(() -> {
            try (BufferedReader lines = new BufferedReader(
                    new InputStreamReader(child.getErrorStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    synchronized (log) {
                        log.add(line);
                    }
                    Matcher found = LISTENING.matcher(line);
                    if (bootstrap == null && found.find()) {
                        bootstrap = found.group(1);
                        ready.countDown();
                    }
                }
            } catch (IOException ignored) {
                // The child is gone.
            }
            ready.countDown();
        }, "tidelog-log");
        drain.setDaemon(true);
        drain.start();
        if (!ready.await(START_TIMEOUT_S, TimeUnit.SECONDS) || bootstrap == null) {
            process.destroyForcibly();
            throw new IllegalStateException("tidelog did not start; log:\n" + log());
        }
        listener = "PLAINTEXT://" + bootstrap;
    }

    @Override
    public String bootstrap() {
        return bootstrap;
    }

    /** The broker's log directory: partition directories, checkpoints, metadata. */
    public Path logDir() {
        return logDir;
    }

    public String log() {
        synchronized (log) {
            return String.join("\n", log);
        }
    }

    /** SIGTERM, then the exit code of a graceful shutdown. */
    public int stop() throws InterruptedException {
        process.destroy();
        if (!process.waitFor(STOP_TIMEOUT_S, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new IllegalStateException("tidelog did not stop; log:\n" + log());
        }
        drain.join(TimeUnit.SECONDS.toMillis(STOP_TIMEOUT_S));
        return process.exitValue();
    }

    /** SIGKILL: a crash. */
    public void kill9() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(STOP_TIMEOUT_S, TimeUnit.SECONDS);
    }

    /** Starts it again on the same data directory and address. */
    public void restart() throws IOException, InterruptedException {
        synchronized (log) {
            log.add("---- restart ----");
        }
        spawn();
    }

    @Override
    public void close() throws Exception {
        try {
            if (process.isAlive()) {
                int code = stop();
                if (code != 0) {
                    throw new IllegalStateException("tidelog exited " + code + "; log:\n" + log());
                }
            }
        } finally {
            if (dataDir != null) {
                try (Stream<Path> files = Files.walk(dataDir)) {
                    files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
            }
        }
    }
}
