"""Fixtures: a real `tidelog serve` process per test, and a kafka-python admin client on it.

The broker binary comes from $TIDELOG_BIN (scripts/test.sh builds it and sets it).
"""

import os
import re
import signal
import subprocess
import threading

import pytest
from kafka.admin import KafkaAdminClient

# Safety nets only: a healthy broker starts and stops in milliseconds.
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 60

LISTENING = re.compile(r"listening addr=(\S+)")
HTTP_ADDR = re.compile(r"http_addr=(\S+)")


class Broker:
    """A `tidelog serve` child on a free loopback port, its stderr drained by a thread so
    the child never blocks on a full pipe."""

    def __init__(self, binary, data_dir, protocol="PLAINTEXT", extra_args=(), listeners=None):
        self.binary = binary
        self.data_dir = data_dir
        # HTTP (metrics, health) on a free port too, so that brokers can run side by side.
        # `listeners` (NAME://host:port,...) instead of one listener of `protocol`: the
        # first one's address is `bootstrap`, the others' `listener(NAME)`.
        listeners = listeners or f"{protocol}://127.0.0.1:0"
        self.command = [binary, "serve", "--listeners", listeners, "--log-dirs", str(data_dir),
                        "--override", "http.listeners=127.0.0.1:0", *extra_args]
        self.lines = []
        self._spawn()

    def _spawn(self):
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, env={**os.environ, "RUST_LOG": "info"},
        )
        self.bootstrap = None
        self.http = None
        # Each process's drain thread sets its own event: the previous process's thread may
        # reach its end of file only after this spawn, and must not wake this wait.
        ready = threading.Event()
        threading.Thread(target=self._drain, args=(self.process, ready), daemon=True).start()
        if not ready.wait(START_TIMEOUT_S) or self.bootstrap is None:
            self.process.kill()
            raise RuntimeError("tidelog did not start; log:\n" + self.log())

    def _drain(self, process, ready):
        for line in process.stderr:
            self.lines.append(line)
            http = HTTP_ADDR.search(line)
            if http and self.http is None:
                self.http = http.group(1)
            found = LISTENING.search(line)
            if found and self.bootstrap is None:
                self.bootstrap = found.group(1)
                ready.set()
        ready.set()  # exited: let the constructor report it

    def log(self):
        return "".join(self.lines)

    def listener(self, name):
        """The `host:port` of the listener `name`, from the newest listening line."""
        line = [line for line in self.lines if LISTENING.search(line)][-1]
        listed = re.search(r'listeners="?([^"\s]+)', line).group(1)
        return next(entry.split("://", 1)[1] for entry in listed.split(",") if entry.startswith(name + "://"))

    def stop(self):
        """SIGTERM and wait: a graceful shutdown exits 0."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def restart(self):
        """Clean stop, then start on the same data directory (the port may change)."""
        assert self.stop() == 0, self.log()
        self.start_again()

    def kill(self):
        """SIGKILL, as a crash: nothing is flushed or closed."""
        self.process.kill()
        self.process.wait(STOP_TIMEOUT_S)

    def start_again(self):
        """Starts the stopped or killed broker on the same data directory."""
        self.lines.append("---- restart ----\n")
        self._spawn()


def admin_client(broker):
    return KafkaAdminClient(
        bootstrap_servers=broker.bootstrap,
        client_id="tidelog-python-e2e",
        request_timeout_ms=15000,
    )


def start_broker(tmp_path, **kwargs):
    binary = os.environ.get("TIDELOG_BIN")
    if not binary:
        pytest.fail("set TIDELOG_BIN to the tidelog binary (scripts/test.sh does)")
    return Broker(binary, tmp_path / "data", **kwargs)


@pytest.fixture
def broker(tmp_path):
    running = start_broker(tmp_path)
    yield running
    # Captured, and shown by pytest only for a failing test.
    print("---- tidelog log ----\n" + running.log())
    if running.process.poll() is None:
        assert running.stop() == 0, running.log()


@pytest.fixture
def admin(broker):
    client = admin_client(broker)
    yield client
    client.close()
