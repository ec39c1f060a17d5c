"""The README's quick start, run as written: its shell blocks in order, in one shell, in a
fresh directory, with the tests' binary on PATH where the README installs it with
`cargo install`. A README that cannot be pasted fails here."""

import os
import pathlib
import re
import subprocess

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
INSTALL = "cargo install --path crates/tidelog --locked"
# Safety net for the whole quick start: it builds a virtualenv and installs confluent-kafka.
TIMEOUT_S = 600


def quick_start_blocks():
    section = README.read_text().split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def test_the_quick_start_runs_as_written(tmp_path):
    blocks = quick_start_blocks()
    assert len(blocks) == 3 and blocks[0].startswith(INSTALL), blocks
    script = "\n".join(blocks).replace(INSTALL, "true", 1)
    # The broker the README starts in the background stops with the shell, cleanly.
    wrapped = "set -euo pipefail\ntrap 'kill %1 && wait' EXIT\n" + script
    env = {**os.environ, "PATH": f"{pathlib.Path(os.environ['TIDELOG_BIN']).parent}:{os.environ['PATH']}"}
    env.pop("TIDELOG_BOOTSTRAP_SERVER", None)
    done = subprocess.run(["bash", "-c", wrapped], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    lines = done.stdout.splitlines()
    assert "['events']" in lines, done.stdout
    assert "k1\thello" in lines and "k2\tworld" in lines, done.stdout
    assert any(line.split() == ["orders"] for line in lines), done.stdout
    assert "stopped" in done.stderr, done.stderr
    assert (tmp_path / "tidelog-data" / "meta.properties").exists()
