package io.tidelog.e2e;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One of Kafka's command-line tools run as its shell script runs it: a child JVM with the
 * tool's main class on the Kafka jars' classpath (Maven writes it to target/classpath.txt).
 */
public final class KafkaTool {
    /** A tool still running after this is hung. */
    private static final long TIMEOUT_S = 240;

    /** The exit code and everything the tool printed (stdout and stderr together). */
    public record Result(int exitCode, String output) {
    }

    private KafkaTool() {
    }

    /**
     * The first of {@code candidates} on the classpath: some tools moved package between
     * Kafka 4.0 and 4.4 (ConfigCommand from kafka.admin, DumpLogSegments from kafka.tools).
     */
    public static String mainClass(String... candidates) {
        for (String candidate : candidates) {
            try {
                Class.forName(candidate, false, KafkaTool.class.getClassLoader());
                return candidate;
            } catch (ClassNotFoundException absent) {
                // The next one.
            }
        }
        throw new IllegalStateException("none of " + List.of(candidates) + " is on the classpath");
    }

    /** The command line that runs {@code mainClass} with the Kafka jars, as Kafka's scripts do. */
    public static List<String> javaCommand(String mainClass, List<String> args) throws IOException {
        return javaCommand(Path.of(System.getProperty("tidelog.toolsClasspath")), mainClass, args);
    }

    /** The same with the jars listed in {@code classpathFile} (as Maven's build-classpath writes it). */
    public static List<String> javaCommand(Path classpathFile, String mainClass, List<String> args) throws IOException {
        String classpath = Files.readString(classpathFile).trim();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new ArrayList<>(List.of(java, "-Xmx512m", "-cp", classpath, mainClass));
        command.addAll(args);
        return command;
    }

    public static Result run(String mainClass, List<String> args) throws IOException, InterruptedException {
        // Into a file, not a pipe: nothing to drain while it runs, so the timeout holds.
        Path output = Files.createTempFile("kafka-tool-", ".out");
        try {
            Process process = new ProcessBuilder(javaCommand(mainClass, args))
                    .redirectErrorStream(true)
                    .redirectOutput(output.toFile())
                    .start();
            if (!process.waitFor(TIMEOUT_S, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IllegalStateException(mainClass + " did not finish: " + Files.readString(output));
            }
            return new Result(process.exitValue(), Files.readString(output, StandardCharsets.UTF_8));
        } finally {
            Files.delete(output);
        }
    }
}
