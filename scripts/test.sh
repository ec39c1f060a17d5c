#!/usr/bin/env bash
# The project's test command: every Rust test (unit, codec and end-to-end), then the
# Python client tests, the Node.js (kafkajs) client tests and the Java tests (Kafka's own
# client and tools, newest 4.x and 4.0; 4.1's data directories) against the same binary.
#
# One profile, debug, for everything: `cargo test` builds the `tidelog` binary that the
# end-to-end tests spawn, and pytest, node and Maven run that same binary, so nothing is
# built twice.
# Honours CARGO_TARGET_DIR (default: ./target).
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"

echo "==> docs/COMPATIBILITY.md lists the differential corpus's explained differences"
python3 scripts/compatibility.py --check

echo "==> cargo build"
cargo build --workspace --locked

echo "==> cargo test"
cargo test --workspace --locked

echo "==> Python virtualenv (.venv)"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt

echo "==> pytest tests/python"
cargo build --locked -p tidelog --bin tidelog
status=0
# Bounded, as the Rust tests are by their watchdog: a hung test fails the run in minutes
# instead of stalling it (SIGINT first, so pytest reports where it was and stops brokers).
TIDELOG_BIN="$target_dir/debug/tidelog" timeout --signal=INT --kill-after=30s 20m \
    .venv/bin/python -m pytest tests/python || status=$?
if [ "$status" -eq 5 ]; then
    # pytest's 5 means it collected no test: fine only if there is truly none to collect.
    if compgen -G "tests/python/test_*.py" > /dev/null || compgen -G "tests/python/*_test.py" > /dev/null; then
        echo "pytest collected no test, but tests/python has test files" >&2
        exit 1
    fi
    echo "no Python tests"
    status=0
fi
[ "$status" -eq 0 ] || exit "$status"

echo "==> npm ci (tests/node)"
npm ci --prefix tests/node --no-audit --no-fund

echo "==> node --test tests/node"
tidelog_bin="$(realpath "$target_dir/debug/tidelog")"
# Named, not discovered: `node --test` alone passes when it finds no test file at all, and
# an unmatched pattern reaches node as a path that does not exist, which fails.
(cd tests/node && TIDELOG_BIN="$tidelog_bin" node --test ./*.test.js)

# Kafka's Java client of the newest 4.x, then of 4.0 (the first with transactions v2), each
# with the Kafka broker of its version beside Tidelog as the reference.
# Surefire fails the run when it finds no test; each test has a 5-minute timeout, and the
# whole run is bounded like pytest's.
# franz-go's and Sarama's own suites (Go) run once, beside the newest Kafka.
# The file connectors and MirrorMaker 2 come a release behind (none is published as 4.4.0),
# and run (as Kafka Connect itself) on the clients of their own version: tests/java/connect.
for kafka_version in 4.4.0 4.0.2; do
    go_suites=false
    connect_plugins=$kafka_version
    if [ "$kafka_version" = 4.4.0 ]; then
        go_suites=true
        connect_plugins=4.3.1
    fi
    echo "==> mvn test tests/java (Kafka clients and tools $kafka_version, Go client suites: $go_suites)"
    TIDELOG_BIN="$tidelog_bin" timeout --signal=INT --kill-after=30s 40m \
        mvn -B --no-transfer-progress -f tests/java/pom.xml test -Dkafka.version="$kafka_version" \
        -Dtidelog.goSuites="$go_suites" -Dconnect.plugins.version="$connect_plugins" -DfailIfNoTests=true
done

# Data directories of Kafka 4.1 (KRaft metadata, segments, internal topics), both ways:
# Tidelog serves what Kafka 4.1 wrote, and Kafka 4.1 serves what Tidelog wrote. Only the
# two directory tests, on 4.1's clients and broker (the file connectors of the same version
# only make up the classpath Maven builds), without the Go suites.
kafka_version=4.1.2
echo "==> mvn test tests/java (Kafka $kafka_version data directories)"
TIDELOG_BIN="$tidelog_bin" timeout --signal=INT --kill-after=30s 15m \
    mvn -B --no-transfer-progress -f tests/java/pom.xml test -Dkafka.version="$kafka_version" \
    -Dtidelog.goSuites=false -Dconnect.plugins.version="$kafka_version" -DfailIfNoTests=true \
    -Dtest='TidelogReadsKafkaDirectoryTest,KafkaReadsTidelogDirectoryTest'
