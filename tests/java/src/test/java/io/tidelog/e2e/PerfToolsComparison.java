package io.tidelog.e2e;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

/**
 * A benchmark, not a test (it asserts no figure): Kafka's own kafka-producer-perf-test and
 * kafka-consumer-perf-test against Tidelog and against Apache Kafka on this machine, in
 * alternating rounds, printed as a table for docs/PERFORMANCE.md. Skipped unless asked:
 *
 * <pre>
 * cargo build --release -p tidelog
 * TIDELOG_BIN=$PWD/target/release/tidelog mvn -f tests/java/pom.xml test \
 *     -Dtest=PerfToolsComparison -Dtidelog.bench=true [-Dtidelog.benchRounds=3] [-Dtidelog.benchRecords=2000000]
 * </pre>
 */
class PerfToolsComparison {
    private static final Pattern PRODUCED = Pattern.compile(
            "(\\d+) records sent, [0-9.]+ records/sec \\(([0-9.]+) MB/sec\\), ([0-9.]+) ms avg latency, "
                    + "([0-9.]+) ms max latency, (\\d+) ms 50th, (\\d+) ms 95th, (\\d+) ms 99th");

    @Test
    void producerAndConsumerPerfToolsAgainstTidelogAndKafka() throws Exception {
        assumeTrue(Boolean.getBoolean("tidelog.bench"), "a benchmark: -Dtidelog.bench=true runs it");
        int rounds = Integer.getInteger("tidelog.benchRounds", 3);
        int records = Integer.getInteger("tidelog.benchRecords", 2_000_000);
        List<String> rows = new ArrayList<>();
        rows.add("| round | broker | produce MB/s | p50 ms | p99 ms | consume MB/s (fetching) | group join ms |");
        rows.add("| --- | --- | --- | --- | --- | --- | --- |");
        for (int round = 1; round <= rounds; round++) {
            for (String broker : List.of("Tidelog", "Kafka")) {
                // Tidelog with the reference Kafka's group.initial.rebalance.delay.ms (0), so
                // the consumers' joins compare.
                AutoCloseable running = broker.equals("Tidelog")
                        ? TidelogBroker.start("--override", "group.initial.rebalance.delay.ms=0")
                        : KafkaBroker.start();
                try (running) {
                    String bootstrap = running instanceof TidelogBroker t ? t.bootstrap() : ((KafkaBroker) running).bootstrap();
                    rows.add(String.format(Locale.ROOT, "| %d | %s | %s |", round, broker, measure(bootstrap, records)));
                }
            }
        }
        System.out.println("kafka-*-perf-test " + System.getProperty("tidelog.kafkaVersion") + ", " + records
                + " records of 100 bytes, 8 partitions, acks=all, 1 producer and 1 consumer:\n"
                + String.join("\n", rows));
    }

    private static String measure(String bootstrap, int records) throws Exception {
        KafkaTool.Result created = KafkaTool.run("org.apache.kafka.tools.TopicCommand", List.of(
                "--bootstrap-server", bootstrap, "--create", "--topic", "perf", "--partitions", "8"));
        if (created.exitCode() != 0) {
            throw new IllegalStateException(created.output());
        }
        KafkaTool.Result produced = KafkaTool.run("org.apache.kafka.tools.ProducerPerformance", List.of(
                "--topic", "perf", "--num-records", String.valueOf(records), "--record-size", "100",
                "--throughput", "-1", "--producer-props", "acks=all", "bootstrap.servers=" + bootstrap));
        // The line of the whole run: the one that counts every record.
        java.util.regex.MatchResult summary = null;
        for (Matcher m = PRODUCED.matcher(produced.output()); m.find(); ) {
            if (Long.parseLong(m.group(1)) == records) {
                summary = m.toMatchResult();
            }
        }
        if (produced.exitCode() != 0 || summary == null) {
            throw new IllegalStateException(produced.output());
        }
        KafkaTool.Result consumed = KafkaTool.run("org.apache.kafka.tools.ConsumerPerformance", List.of(
                "--bootstrap-server", bootstrap, "--topic", "perf", "--messages", String.valueOf(records),
                "--timeout", "120000"));
        // The data line: start, end, MB, MB/sec, records, records/sec, rebalance ms, fetch ms,
        // fetch MB/sec (the rate once the group is joined), fetch records/sec.
        Matcher data = Pattern.compile("^[0-9-]+ [0-9:.]+, [0-9-]+ [0-9:.]+, [0-9.]+, [0-9.]+, \\d+, [0-9.]+, "
                + "(\\d+), \\d+, ([0-9.]+), [0-9.]+$", Pattern.MULTILINE).matcher(consumed.output());
        if (consumed.exitCode() != 0 || !data.find()) {
            throw new IllegalStateException(consumed.output());
        }
        return String.format(Locale.ROOT, "%s | %s | %s | %.1f | %s", summary.group(2), summary.group(5),
                summary.group(7), Double.parseDouble(data.group(2)), data.group(1));
    }
}
