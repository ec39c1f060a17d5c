//! Durability across restarts and crashes of the real binary: acknowledged records survive
//! SIGKILL at random moments, a damaged segment tail is cut at the last good batch (and
//! logged), and records and offsets are the same after clean and crash restarts.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use common::clients::{self, new_topic, send, Received, TestRecord, CLIENT_TIMEOUT};
use common::raw;
use common::{now_ms, Broker, Rng};
use rdkafka::types::RDKafkaErrorCode;
use tidelog_protocol::ErrorCode;

/// The id a test gave a record, from its `id-N` key.
fn id_of(message: &Received) -> usize {
    let key = message.key.as_deref().expect("a keyed record");
    std::str::from_utf8(key)
        .ok()
        .and_then(|k| k.strip_prefix("id-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("offset {}: not a key the test wrote: {key:?}", message.offset))
}

/// Record `id`: its value's length and bytes derive from the id, so a torn record or one
/// mixed up with another cannot pass for it.
fn record(id: usize) -> TestRecord {
    let len = 16 + (id * 7919) % 700;
    TestRecord {
        key: format!("id-{id}").into_bytes(),
        value: (0..len).map(|i| (id.wrapping_mul(31) + i * 7) as u8).collect(),
        headers: vec![("id".to_string(), Some(id.to_string().into_bytes()))],
        timestamp: now_ms(),
    }
}

mod sigkill {
    use super::*;

    const TOPIC: &str = "crashes";
    const PARTITIONS: i32 = 2;
    const ROUNDS: usize = 20;
    /// Records queued between two polls of the producer: about 10 per millisecond.
    const BURST: usize = 10;

    /// Asserts what every partition serves after a restart: only records the test sent,
    /// each intact and in its own partition, at offsets 0, 1, 2, ...; and every
    /// acknowledged record at the offset its acknowledgement gave. Returns how many
    /// records are served, and how many distinct ones.
    fn assert_intact(broker: &Broker, sent: &[TestRecord], acked: &BTreeMap<usize, (i32, i64)>) -> (usize, usize) {
        let (mut served, mut distinct) = (0, HashSet::new());
        for partition in 0..PARTITIONS {
            let (low, high) = broker.watermarks(TOPIC, partition);
            assert_eq!(low, 0, "partition {partition}: log start");
            let messages = broker.read_partition(TOPIC, partition, 0, high);
            let mut id_at = HashMap::new();
            for (position, message) in messages.iter().enumerate() {
                assert_eq!(message.offset, position as i64, "partition {partition}: offsets");
                let id = id_of(message);
                assert!(id < sent.len(), "offset {}: record {id} was never sent", message.offset);
                assert_eq!(
                    message.as_sent().as_ref(),
                    Some(&sent[id]),
                    "partition {partition} offset {}: record {id} differs from what was sent",
                    message.offset
                );
                assert_eq!(id as i32 % PARTITIONS, partition, "record {id} in the wrong partition");
                id_at.insert(message.offset, id);
                distinct.insert(id);
            }
            served += messages.len();
            for (&id, &(p, offset)) in acked.iter().filter(|(_, (p, _))| *p == partition) {
                assert_eq!(
                    id_at.get(&offset),
                    Some(&id),
                    "record {id}, acknowledged at {p}/{offset}, is not there (high watermark {high})"
                );
            }
        }
        (served, distinct.len())
    }

    #[test]
    fn acknowledged_records_survive_twenty_sigkills_at_random_moments() {
        let mut rng = Rng::from_env_or_clock("acknowledged_records_survive_twenty_sigkills_at_random_moments");
        let mut broker = Broker::start(&[]);
        // Small segments: crashes also land around segment rolls.
        broker
            .admin()
            .create_ok(&[new_topic(TOPIC, PARTITIONS, 1).set("segment.bytes", "65536")]);
        let mut sent: Vec<TestRecord> = Vec::new();
        let mut acked: BTreeMap<usize, (i32, i64)> = BTreeMap::new();
        for round in 0..ROUNDS {
            let kill_after = Duration::from_millis(rng.in_range(10..400));
            let producer = broker.tracked_producer(&[
                ("acks", "all"),
                ("enable.idempotence", "false"),
                ("linger.ms", "1"),
                // A batch must fit in a segment (RECORD_LIST_TOO_LARGE otherwise).
                ("batch.size", "32768"),
                ("retry.backoff.ms", "50"),
                ("reconnect.backoff.max.ms", "200"),
            ]);
            let first_id = sent.len();
            let started = Instant::now();
            while started.elapsed() < kill_after {
                for _ in 0..BURST {
                    let id = sent.len();
                    sent.push(record(id));
                    send(&producer, TOPIC, Some(id as i32 % PARTITIONS), id, &sent[id]);
                }
                producer.poll(Duration::from_millis(1));
            }
            broker.kill9();
            broker.restart();
            // Records in flight at the kill are retried against the restarted broker (a
            // record written before the kill may so be written twice) or fail.
            clients::flush(&producer, CLIENT_TIMEOUT * 2);
            let reports = clients::take_deliveries(&producer);
            assert_eq!(reports.len(), sent.len() - first_id, "one report per record");
            let mut round_acked = Vec::new();
            let mut failures = BTreeMap::new();
            for (id, report) in reports {
                match report {
                    Ok(at) => round_acked.push((id, at)),
                    Err(e) => *failures.entry(e.to_string()).or_insert(0) += 1,
                }
            }
            eprintln!(
                "round {round}: killed after {kill_after:?}; sent {}, acknowledged {}, failed {failures:?}",
                sent.len() - first_id,
                round_acked.len()
            );
            acked.extend(round_acked);
            let (served, distinct) = assert_intact(&broker, &sent, &acked);
            eprintln!(
                "round {round}: {served} records served, {} written twice",
                served - distinct
            );
        }
        assert!(!acked.is_empty(), "no record was ever acknowledged");
    }
}

mod damaged_tail {
    use super::*;

    const BATCHES: usize = 10;
    const RECORDS_PER_BATCH: usize = 5;

    fn batch_records(batch: usize) -> Vec<TestRecord> {
        (0..RECORDS_PER_BATCH)
            .map(|r| record(batch * RECORDS_PER_BATCH + r))
            .collect()
    }

    /// Writes ten batches of five records, kills the broker, lets `damage` change the
    /// segment file (given each batch's size), restarts, and asserts that recovery cut
    /// the log after its first `good_batches` batches, logged it, serves those records
    /// unchanged, and appends again from the next offset.
    fn assert_cut_after(topic: &str, good_batches: usize, damage: impl FnOnce(&Path, &[u64])) {
        let mut broker = Broker::start(&[]);
        broker.admin().create_ok(&[new_topic(topic, 1, 1)]);
        let mut raw = broker.raw();
        let batches: Vec<Vec<TestRecord>> = (0..BATCHES).map(batch_records).collect();
        let mut sizes = Vec::new();
        for (b, records) in batches.iter().enumerate() {
            let bytes = raw::encode_batch(records, tidelog_protocol::records::Compression::None);
            sizes.push(bytes.len() as u64);
            let response = raw.produce(topic, 0, -1, bytes);
            assert_eq!(ErrorCode(response.error_code), ErrorCode::NONE);
            assert_eq!(response.base_offset, (b * RECORDS_PER_BATCH) as i64);
        }
        broker.kill9();

        let segment = broker.segment_file(topic, 0, 0, "log");
        let file_len = std::fs::metadata(&segment).expect("the segment file").len();
        assert_eq!(file_len, sizes.iter().sum::<u64>(), "the segment holds the ten batches");
        damage(&segment, &sizes);
        broker.restart();

        let kept_bytes: u64 = sizes[..good_batches].iter().sum();
        broker.wait_for_line(&[
            "truncated a torn or corrupt tail",
            &format!("{topic}-0"),
            &format!("position={kept_bytes}"),
        ]);
        assert_eq!(std::fs::metadata(&segment).expect("the segment file").len(), kept_bytes);
        let log_end = (good_batches * RECORDS_PER_BATCH) as i64;
        let mut raw = broker.raw();
        assert_eq!(raw.latest_offset(topic, 0), log_end);
        let expected: Vec<TestRecord> = batches[..good_batches].concat();
        // From the start, and from the middle of a batch.
        for from in [0, 3] {
            let messages = broker.read_partition(topic, 0, from, log_end);
            let got: Vec<Option<TestRecord>> = messages.iter().map(Received::as_sent).collect();
            let want: Vec<Option<TestRecord>> = expected[from as usize..].iter().cloned().map(Some).collect();
            assert_eq!(got, want, "read from {from}");
        }

        // Appends go on from the cut.
        let next = batch_records(BATCHES);
        let response = raw.produce(
            topic,
            0,
            -1,
            raw::encode_batch(&next, tidelog_protocol::records::Compression::None),
        );
        assert_eq!(
            (ErrorCode(response.error_code), response.base_offset),
            (ErrorCode::NONE, log_end)
        );
        let messages = broker.read_partition(topic, 0, log_end, log_end + RECORDS_PER_BATCH as i64);
        let got: Vec<Option<TestRecord>> = messages.iter().map(Received::as_sent).collect();
        assert_eq!(got, next.into_iter().map(Some).collect::<Vec<_>>());
    }

    fn write_at(path: &Path, position: u64, bytes: &[u8]) {
        let mut file = OpenOptions::new().write(true).open(path).expect("open the segment");
        file.seek(SeekFrom::Start(position)).expect("seek");
        file.write_all(bytes).expect("write garbage");
    }

    #[test]
    fn garbage_over_the_last_bytes_cuts_the_last_batch() {
        assert_cut_after("overwritten", BATCHES - 1, |path, sizes| {
            let end: u64 = sizes.iter().sum();
            write_at(path, end - 10, &[0xee; 10]);
        });
    }

    #[test]
    fn garbage_appended_after_the_last_batch_is_cut() {
        let mut rng = Rng::from_env_or_clock("garbage_appended_after_the_last_batch_is_cut");
        let garbage: Vec<u8> = (0..300).map(|_| rng.next_u64() as u8).collect();
        assert_cut_after("appended", BATCHES, |path, sizes| {
            write_at(path, sizes.iter().sum(), &garbage);
        });
    }

    #[test]
    fn zeros_appended_after_the_last_batch_are_cut() {
        assert_cut_after("zeroed", BATCHES, |path, sizes| {
            write_at(path, sizes.iter().sum(), &[0; 4096]);
        });
    }

    #[test]
    fn a_torn_last_batch_is_cut() {
        assert_cut_after("torn", BATCHES - 1, |path, sizes| {
            let end: u64 = sizes.iter().sum();
            let file = OpenOptions::new().write(true).open(path).expect("open the segment");
            file.set_len(end - sizes[BATCHES - 1] / 2)
                .expect("truncate the segment");
        });
    }
}

mod restarts {
    use super::*;

    const TOPIC: &str = "kept";
    const PARTITIONS: i32 = 3;

    /// Produces records `ids` by key and returns their acknowledged (partition, offset).
    fn produce(broker: &Broker, ids: std::ops::Range<usize>, sent: &mut Vec<TestRecord>) -> Vec<(i32, i64)> {
        // A batch must fit in a 16 KiB segment.
        let producer = broker.tracked_producer(&[("acks", "all"), ("linger.ms", "5"), ("batch.size", "8192")]);
        for id in ids.clone() {
            sent.push(record(id));
            send(&producer, TOPIC, None, id, &sent[id]);
        }
        clients::flush(&producer, CLIENT_TIMEOUT);
        let reports = clients::take_deliveries(&producer);
        ids.map(|id| reports[&id].clone().expect("acknowledged")).collect()
    }

    /// Every partition's messages, from offset 0 to its high watermark.
    fn everything(broker: &Broker) -> Vec<Vec<Received>> {
        (0..PARTITIONS).map(|p| broker.read_all(TOPIC, p)).collect()
    }

    #[test]
    fn records_and_offsets_survive_clean_and_crash_restarts() {
        let mut broker = Broker::start(&[]);
        broker
            .admin()
            .create_ok(&[new_topic(TOPIC, PARTITIONS, 1).set("segment.bytes", "16384")]);
        let mut sent = Vec::new();
        produce(&broker, 0..2_000, &mut sent);
        let before = everything(&broker);
        assert_eq!(before.iter().map(Vec::len).sum::<usize>(), 2_000);

        broker.stop();
        broker.restart();
        assert_eq!(everything(&broker), before, "after a clean restart");

        // More records, then a crash before any clean shutdown.
        produce(&broker, 2_000..4_000, &mut sent);
        let before = everything(&broker);
        broker.kill9();
        broker.restart();
        assert_eq!(everything(&broker), before, "after a crash");

        // Appends continue at each partition's log end.
        let ends: Vec<i64> = before.iter().map(|m| m.len() as i64).collect();
        let acked = produce(&broker, 4_000..4_300, &mut sent);
        let mut next = ends.clone();
        for (partition, offset) in acked {
            assert_eq!(offset, next[partition as usize], "partition {partition}");
            next[partition as usize] += 1;
        }
        let after = everything(&broker);
        for (partition, messages) in after.iter().enumerate() {
            assert_eq!(messages[..ends[partition] as usize], before[partition][..]);
            for message in messages {
                assert_eq!(message.as_sent().as_ref(), Some(&sent[id_of(message)]));
            }
        }
    }

    /// Regression: CreateTopics accepted a segment.bytes below a batch header (14..61) and
    /// a segment.index.bytes below one index entry (4..12), which the log cannot use: the
    /// topic was recorded without its logs, and the broker never started again.
    #[test]
    fn topic_configs_the_log_cannot_use_are_refused_so_restarts_keep_working() {
        let mut broker = Broker::start(&[]);
        let admin = broker.admin();
        let results = admin.create_topics(&[
            new_topic("tiny-segments", 1, 1).set("segment.bytes", "60"),
            new_topic("tiny-indexes", 1, 1).set("segment.index.bytes", "11"),
            new_topic("smallest", 1, 1)
                .set("segment.bytes", "61")
                .set("segment.index.bytes", "12"),
        ]);
        let invalid = |name: &str| Err((name.to_string(), RDKafkaErrorCode::InvalidConfig));
        assert_eq!(
            results,
            [
                invalid("tiny-segments"),
                invalid("tiny-indexes"),
                Ok("smallest".to_string())
            ]
        );
        let smallest_only = vec![("smallest".to_string(), 1)];
        assert_eq!(admin.topic_partitions(), smallest_only);
        drop(admin);

        broker.stop();
        broker.restart();
        assert_eq!(broker.admin().topic_partitions(), smallest_only);

        // The broker-wide defaults are held to the same floor, naming the property.
        for setting in ["log.segment.bytes=60", "log.index.size.max.bytes=11"] {
            let (status, log) = common::serve_expecting_exit(&["--override", setting]);
            assert!(!status.success(), "{setting}: {log}");
            let property = setting.split('=').next().unwrap();
            assert!(log.contains(property), "{setting}: {log}");
        }
    }
}

/// A broker whose log output went away (stderr a pipe nobody reads any more) keeps serving
/// and still shuts down cleanly. It used to die at its next log line, with exit code 101
/// and no clean-shutdown marker: the log writer reported the failed write on that same
/// stderr, which panicked. Java's `Process.destroy()` closes the child's pipes before it
/// sends SIGTERM, so every broker a Java harness stopped crashed on its way down.
#[test]
fn a_broker_whose_log_reader_went_away_keeps_serving_and_stops_cleanly() {
    let data_dir = tempfile::tempdir().expect("a data dir");
    let (mut child, addr) = common::serve_then_close_its_log(data_dir.path());
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", addr.to_string())
        .set("message.timeout.ms", CLIENT_TIMEOUT.as_millis().to_string());
    // Each of these logs a line into the closed pipe.
    clients::Admin::new(config.clone()).create_ok(&[new_topic("after", 1, 1)]);
    let producer: rdkafka::producer::FutureProducer = config.create().expect("a producer");
    let delivered = clients::block_on(producer.send(
        rdkafka::producer::FutureRecord::<(), _>::to("after").payload("kept"),
        CLIENT_TIMEOUT,
    ));
    let delivery = delivered.expect("delivered");
    assert_eq!((delivery.partition, delivery.offset), (0, 0));
    let status = common::terminate(&mut child);
    assert!(status.success(), "exited with {status}");
    assert!(data_dir.path().join(".kafka_cleanshutdown").exists());
}

/// SIGTERM the moment the broker says it listens stops it cleanly: its signal handlers are
/// in place before that line. They used to be registered by a task that might not have
/// run yet, and such a SIGTERM killed the broker (this loop failed on every run then).
#[test]
fn sigterm_right_after_the_listening_line_is_a_clean_shutdown() {
    for _ in 0..20 {
        // `stop` sends SIGTERM and asserts a zero exit.
        Broker::start(&[]).stop();
    }
}
