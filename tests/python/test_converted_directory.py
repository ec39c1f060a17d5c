"""A data directory an older Tidelog wrote (tests/fixtures/tidelog-jsonlog: its metadata in the
JSON event log `tidelog-metadata.log`, copied first) is converted at the first start into the
KRaft metadata log, once, keeping the old file: every topic with its id, partitions and
configs, every record and the group's committed offsets are served as before, and again
after a restart that reads the KRaft log alone."""

import json

from conftest import admin_client
from directories import FIXTURES, committed, dynamic_configs, offsets, read_partition, serve_copy

MANIFEST = json.loads((FIXTURES / "tidelog-jsonlog" / "manifest.json").read_text())


def assert_serves_the_manifest(broker):
    admin = admin_client(broker)
    try:
        described = admin.describe_topic_partitions(list(MANIFEST["topics"]))["topics"]
        ids = {t["name"]: str(t["topic_id"]).replace("-", "") for t in described}
        assert ids == {name: t["id"] for name, t in MANIFEST["topics"].items()}
        counts = {t["name"]: len(t["partitions"]) for t in described}
        assert counts == {name: t["partitions"] for name, t in MANIFEST["topics"].items()}
        assert dynamic_configs(admin, MANIFEST["topics"]) == {
            name: t["configs"] for name, t in MANIFEST["topics"].items()}
    finally:
        admin.close()
    for topic, spec in MANIFEST["topics"].items():
        served = offsets(broker, topic, spec["partitions"])
        for partition, expected in spec["partitions_detail"].items():
            partition = int(partition)
            assert served[partition] == (expected["log_start_offset"], expected["high_watermark"]), \
                f"{topic}-{partition}"
            if "records" in expected:
                got = [(r[0], r[1], r[3], r[4]) for r in
                       read_partition(broker, topic, partition, "read_committed", expected["high_watermark"])]
                want = [(r["offset"], r["timestamp"], r["key"].encode(), r["value"].encode())
                        for r in expected["records"]]
                assert got == want, f"{topic}-{partition}"
    for group, expected in MANIFEST["groups"].items():
        assert committed(broker, group, expected) == expected, group


def test_an_old_tidelog_directory_is_converted_once_and_served_as_before(tmp_path):
    old_log = (FIXTURES / "tidelog-jsonlog" / "data" / "tidelog-metadata.log").read_bytes()
    broker = serve_copy(tmp_path, "tidelog-jsonlog", MANIFEST["node_id"])
    data = tmp_path / "data"
    try:
        assert_serves_the_manifest(broker)
        assert not (data / "tidelog-metadata.log").exists()
        assert (data / "tidelog-metadata.log.converted").read_bytes() == old_log
        assert (data / "__cluster_metadata-0" / "quorum-state").exists()
        identity = (data / "meta.properties").read_text()
        assert f"cluster.id={MANIFEST['cluster_id']}" in identity and "directory.id=" in identity
        broker.restart()
        assert "converted" not in "".join(broker.lines[broker.lines.index("---- restart ----\n"):])
        assert_serves_the_manifest(broker)
    finally:
        print("---- tidelog log ----\n" + broker.log())
        if broker.process.poll() is None:
            assert broker.stop() == 0, broker.log()
