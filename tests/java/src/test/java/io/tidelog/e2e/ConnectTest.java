package io.tidelog.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.IntStream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kafka Connect in distributed mode on Tidelog: its config, offset and status topics are
 * Tidelog's, and so are the file source connector's topic and the file sink connector's
 * consumer group. A file is copied through a topic into another file while the worker is
 * stopped (SIGTERM) mid-copy and a new one takes over from what the first one stored.
 *
 * <p>The file sink is at-least-once: a worker that dies re-delivers what it wrote after its
 * last offset commit. A worker stopped with SIGTERM commits both tasks' offsets as it stops,
 * so the copy is exact, each line once: so it was on Apache Kafka (a one-off run of this
 * test against KafkaBroker, with Connect 4.0.2 and 4.3.1), and so it must be on Tidelog.
 */
class ConnectTest {
    private static final int LINES = 20_000;
    /** The source file grows in this many appends, some while no worker runs. */
    private static final int PARTS = 4;
    /** Lines appended at a time while the first worker is about to be stopped. */
    private static final int TRICKLE = 100;
    private static final String GROUP = "connect-e2e";
    private static final String TOPIC = "lines";
    /** Safety net: the copy takes seconds. */
    private static final Duration SINK_TIMEOUT = Duration.ofSeconds(120);

    @TempDir
    Path dir;

    @Test
    void fileSourceToFileSinkAcrossAWorkerRestart() throws Exception {
        try (TidelogBroker broker = TidelogBroker.start()) {
            // One partition: the sink writes the lines in the order the source read them.
            Topics.create(broker, TOPIC, 1);
            copyAcrossARestart(broker.bootstrap());
        }
    }

    private void copyAcrossARestart(String bootstrap) throws Exception {
        Path source = Files.createFile(dir.resolve("source.txt"));
        Path sink = dir.resolve("sink.txt");
        List<String> lines = IntStream.range(0, LINES).mapToObj(i -> String.format("line %05d", i)).toList();
        int part = LINES / PARTS;
        String stoppedAt;
        boolean stoppedCleanly;
        try (ConnectWorker first = ConnectWorker.start(bootstrap, GROUP)) {
            first.putConnector("file-source", Map.of(
                    "connector.class", "org.apache.kafka.connect.file.FileStreamSourceConnector",
                    "tasks.max", "1", "file", source.toString(), "topic", TOPIC));
            first.putConnector("file-sink", Map.of(
                    "connector.class", "org.apache.kafka.connect.file.FileStreamSinkConnector",
                    "tasks.max", "1", "file", sink.toString(), "topics", TOPIC));
            first.awaitRunning("file-source");
            first.awaitRunning("file-sink");
            append(source, lines.subList(0, part));
            awaitSink(sink, first.jvm(), found -> found.size() >= part);
            // The second part trickles in, and the worker is stopped as soon as the sink has
            // some of it: mid-copy, the source task holding lines its sink task has not written.
            int written = part;
            while (written < 2 * part && completeLines(sink).size() <= part) {
                append(source, lines.subList(written, written + TRICKLE));
                written += TRICKLE;
                Thread.sleep(20);
            }
            int atSigterm = completeLines(sink).size();
            stoppedCleanly = first.stop();
            stoppedAt = "the sink had " + atSigterm + " of the " + written + " lines written at SIGTERM, "
                    + completeLines(sink).size() + " once it had stopped";
            // The rest, while no worker runs: the next one reads it from the source's stored offset.
            append(source, lines.subList(written, 3 * part));
        }
        try (ConnectWorker second = ConnectWorker.start(bootstrap, GROUP)) {
            // Not created again: the new worker reads both from the config topic.
            second.awaitRunning("file-source");
            second.awaitRunning("file-sink");
            append(source, lines.subList(3 * part, LINES));
            List<String> copied = awaitSink(sink, second.jvm(), found -> found.contains(lines.get(LINES - 1)));
            second.awaitRunning("file-source");
            second.awaitRunning("file-sink");
            String what = "the sink file (when the first worker stopped, " + stoppedAt + ")";
            if (stoppedCleanly) {
                // A clean stop commits both connectors' offsets: nothing is lost or copied twice.
                assertEquals(lines, copied, what);
            } else {
                // Killed in Connect's own shutdown hang: at least once, in order (a replay
                // repeats lines already written, never skips one).
                assertEquals(lines, List.copyOf(new LinkedHashSet<>(copied)), what + ", killed after hanging in its shutdown");
            }
        }
    }

    /** The file's lines, less a last one still being written (no newline yet). */
    private static List<String> completeLines(Path file) throws Exception {
        if (!Files.exists(file)) {
            return List.of();
        }
        String text = Files.readString(file, StandardCharsets.UTF_8);
        return text.lines().limit(text.chars().filter(c -> c == '\n').count()).toList();
    }

    /** The sink file's complete lines once they satisfy {@code done}; fails after a minute or two. */
    private static List<String> awaitSink(Path sink, ConnectJvm worker, Predicate<List<String>> done) throws Exception {
        long deadline = System.nanoTime() + SINK_TIMEOUT.toNanos();
        while (true) {
            worker.assertAlive();
            List<String> found = completeLines(sink);
            if (done.test(found)) {
                return found;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the sink file has " + found.size() + " lines; " + worker.logTail());
            }
            Thread.sleep(200);
        }
    }

    private static void append(Path file, List<String> lines) throws Exception {
        Files.write(file, lines, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    }
}
