#!/usr/bin/env bash
# Issue 16's A/B (docs/PERFORMANCE.md), from the repository root after a release build, with the disk taken out: the broker's data on tmpfs, so the runs differ only
# by the scrape's CPU, not by fsync latency. Pairs alternate their order to cancel drift.
set -u
B=${TIDELOG:-$PWD/target/release/tidelog}
D=/dev/shm/tidelog-ab; rm -rf $D; mkdir -p $D
$B serve --log-dirs $D/data --listeners PLAINTEXT://127.0.0.1:19392 --override http.listeners=127.0.0.1:18380 \
  --override log.retention.bytes=134217728 --override log.segment.bytes=33554432 --override log.retention.check.interval.ms=1000 > $D.log 2>&1 &
PID=$!
sleep 2
export TIDELOG_BOOTSTRAP_SERVER=127.0.0.1:19392
$B bench produce --topic ab --partitions 8 --records 20000 > /dev/null 2>&1
plain() { $B bench produce --topic ab --partitions 8 --duration 10 2>/dev/null | grep -i "MB/s" | head -1; }
scraped() { $B bench produce --topic ab --partitions 8 --duration 10 --scrape-metrics 127.0.0.1:18380 2>/dev/null | grep -i "MB/s\|scrape" | head -2; }
for i in 1 2 3 4 5 6 7 8; do
  echo "pair $i"
  if [ $((i % 2)) = 1 ]; then echo -n "A "; plain; echo -n "B "; scraped; else echo -n "B "; scraped; echo -n "A "; plain; fi
  du -sh $D | tail -1
done
kill $PID; wait $PID 2>/dev/null
rm -rf $D
