package io.tidelog.e2e;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Kafka Connect or MirrorMaker 2 as a child JVM, started as its shell script starts it, on
 * the Connect classpath (target/connect-classpath.txt: see connect/pom.xml). Its output goes
 * to a file, not a pipe, so nothing has to drain it; failure messages quote the file's end.
 * Closing it stops it and removes the file.
 */
public final class ConnectJvm implements AutoCloseable {
    /**
     * Longer than the 60 s Connect's REST server (Jetty) may take to stop gracefully on its
     * own, plus the herder's shutdown after it. Connect and MirrorMaker stop in seconds,
     * unless their own shutdown hangs: two CI runs saw a worker's shutdown hook stuck after
     * "Stopped oejs.Server", with Jetty's shutdown hook (Connect's RestServer sets
     * stopAtShutdown) failing beside it ("Unable to destroy ... STARTED"), before the herder
     * stopped and long after anything was asked of the broker.
     */
    private static final long STOP_TIMEOUT_S = 90;
    /** How much of the log a failure message quotes. */
    private static final int LOG_TAIL_LINES = 150;

    private final String name;
    private final Path logFile;
    private final Process process;

    private ConnectJvm(String name, Path logFile, Process process) {
        this.name = name;
        this.logFile = logFile;
        this.process = process;
    }

    public static ConnectJvm start(String name, String mainClass, List<String> args) throws IOException {
        Path logFile = Files.createTempFile(name + "-", ".log");
        Path classpath = Path.of(System.getProperty("tidelog.connectClasspath"));
        Process process = new ProcessBuilder(KafkaTool.javaCommand(classpath, mainClass, args))
                .redirectErrorStream(true)
                .redirectOutput(logFile.toFile())
                .start();
        return new ConnectJvm(name, logFile, process);
    }

    /** Fails, quoting the log, if the JVM has exited. */
    public void assertAlive() {
        if (!process.isAlive()) {
            throw new AssertionError(name + " exited " + process.exitValue() + "; " + logTail());
        }
    }

    /** The last lines of its output, for failure messages. */
    public String logTail() {
        try {
            List<String> lines = Files.readAllLines(logFile, StandardCharsets.UTF_8);
            int from = Math.max(0, lines.size() - LOG_TAIL_LINES);
            return "the last " + (lines.size() - from) + " lines of " + name + "'s log:\n"
                    + String.join("\n", lines.subList(from, lines.size()));
        } catch (IOException e) {
            return "(no log of " + name + ": " + e + ")";
        }
    }

    /**
     * SIGTERM, as an operator stops it, then waits for the JVM's shutdown hooks to finish.
     * Returns whether it stopped so; if it hangs in its own shutdown (see
     * {@link #STOP_TIMEOUT_S}), prints its threads and its log's end to stderr, kills it and
     * returns false: the caller then gets what a crashed worker leaves.
     */
    public boolean stop() throws InterruptedException {
        process.destroy();
        if (process.waitFor(STOP_TIMEOUT_S, TimeUnit.SECONDS)) {
            return true;
        }
        System.err.println(name + " did not stop within " + STOP_TIMEOUT_S + " s of SIGTERM; its threads:\n"
                + threadDump() + "\n" + logTail());
        process.destroyForcibly();
        process.waitFor();
        return false;
    }

    /** `jcmd <pid> Thread.print` of the JVM, for a stop that hangs. */
    private String threadDump() {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        try {
            Process dump = new ProcessBuilder(jcmd.toString(), Long.toString(process.pid()), "Thread.print")
                    .redirectErrorStream(true)
                    .start();
            String text = new String(dump.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            dump.waitFor(30, TimeUnit.SECONDS);
            return text;
        } catch (IOException | InterruptedException e) {
            return "(no thread dump: " + e + ")";
        }
    }

    @Override
    public void close() throws Exception {
        try {
            if (process.isAlive()) {
                stop();
            }
        } finally {
            process.destroyForcibly();
            Files.deleteIfExists(logFile);
        }
    }
}
