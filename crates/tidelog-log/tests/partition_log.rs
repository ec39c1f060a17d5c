//! A partition log through its public API: appends and reads across segment rolls, the
//! fetch rules, timestamp lookups, retention, DeleteRecords, truncation and flushing.

mod common;

use bytes::{Bytes, BytesMut};
use common::{batch_at, batches, fill, produced, small_config};
use std::sync::{Arc, Mutex};
use tidelog_log::{LogConfig, LogError, PartitionLog, TimestampOffset};
use tidelog_protocol::records::{RecordBatch, RecordBatchMut};

const T0: i64 = 1_700_000_000_000;

fn new_log(config: LogConfig) -> (tempfile::TempDir, PartitionLog) {
    let dir = tempfile::tempdir().unwrap();
    let log = PartitionLog::create(&dir.path().join("orders-0"), config).unwrap();
    (dir, log)
}

fn concat(batches: &[RecordBatch]) -> Bytes {
    batches
        .iter()
        .flat_map(|b| b.as_bytes().to_vec())
        .collect::<Vec<u8>>()
        .into()
}

/// The batch holding `offset`.
fn holding(written: &[RecordBatch], offset: i64) -> &RecordBatch {
    written
        .iter()
        .find(|b| b.base_offset() <= offset && offset <= b.last_offset())
        .unwrap()
}

#[test]
fn appends_read_back_across_segment_rolls() {
    let (_dir, mut log) = new_log(small_config());
    let written = fill(&mut log, 60, T0);
    let end = written.last().unwrap().next_offset();
    assert_eq!(end, 150, "60 batches of 1, 2, 3, 4, 1, ... records");
    assert_eq!(log.log_end_offset(), end);

    // Segments start at batch boundaries, never exceed segment.bytes, and each file holds
    // exactly the batches in its range.
    let segments = log.segments();
    assert!(segments.len() > 5, "{} segments", segments.len());
    for (i, segment) in segments.iter().enumerate() {
        let next_base = segments.get(i + 1).map_or(end, |s| s.base_offset());
        let inside: Vec<RecordBatch> = written
            .iter()
            .filter(|b| b.base_offset() >= segment.base_offset() && b.base_offset() < next_base)
            .cloned()
            .collect();
        assert_eq!(inside[0].base_offset(), segment.base_offset());
        assert!(segment.size() <= 1_000);
        assert_eq!(std::fs::read(segment.path()).unwrap(), concat(&inside));
        // A read from the segment's start returns all of it, and stops at its end.
        let read = log.read(segment.base_offset(), 1 << 20, i64::MAX).unwrap();
        assert_eq!(read.records.to_bytes().unwrap(), concat(&inside));
    }
}

#[test]
fn appended_bytes_are_the_batches_with_their_base_offsets_rewritten() {
    let (_dir, mut log) = new_log(LogConfig::default());
    fill(&mut log, 3, T0);
    let before = std::fs::read(log.segments()[0].path()).unwrap();
    // More batches than one `writev` takes (1024 slices, two per batch), so the write is
    // resumed after a partial one.
    let produced: Vec<Bytes> = (0..700).map(|i| produced(1 + i % 5, T0 + i as i64)).collect();
    let info = log.append(produced.concat().into()).unwrap();
    assert_eq!(info.base_offset, 6);

    // What an append that copies the batches and rewrites them in place writes.
    let mut expected = BytesMut::new();
    let mut offset = info.base_offset;
    for batch in &produced {
        let mut batch = BytesMut::from(&batch[..]);
        let mut rewritten = RecordBatchMut::new(&mut batch).unwrap();
        rewritten.set_base_offset(offset);
        offset += RecordBatch::parse(batch.clone().freeze()).unwrap().last_offset_delta() as i64 + 1;
        expected.extend_from_slice(&batch);
    }
    assert_eq!(info.last_offset, offset - 1);
    assert_eq!(
        std::fs::read(log.segments()[0].path()).unwrap(),
        [&before[..], &expected[..]].concat()
    );
    assert_eq!(
        log.read(6, 1 << 30, i64::MAX).unwrap().records.to_bytes().unwrap(),
        expected
    );
}

#[test]
fn read_at_every_offset_starts_with_the_batch_holding_it() {
    let (_dir, mut log) = new_log(small_config());
    let written = fill(&mut log, 40, T0);
    for offset in 0..log.log_end_offset() {
        let read = log.read(offset, 1, i64::MAX).unwrap();
        assert_eq!(
            batches(&read.records),
            [holding(&written, offset).clone()],
            "offset {offset}"
        );
        assert_eq!((read.log_start_offset, read.log_end_offset), (0, 100));
    }
}

#[test]
fn reads_return_whole_batches_and_at_least_one() {
    let (_dir, mut log) = new_log(LogConfig::default());
    let written = fill(&mut log, 10, T0);
    let size = |n: usize| written[..n].iter().map(|b| b.size_in_bytes()).sum::<usize>();

    assert_eq!(
        log.read(0, 0, i64::MAX).unwrap().records.to_bytes().unwrap(),
        concat(&written[..1]),
        "one batch past max_bytes"
    );
    assert_eq!(
        log.read(0, size(1) - 1, i64::MAX).unwrap().records.to_bytes().unwrap(),
        concat(&written[..1])
    );
    assert_eq!(
        log.read(0, size(3), i64::MAX).unwrap().records.to_bytes().unwrap(),
        concat(&written[..3])
    );
    assert_eq!(
        log.read(0, size(3) + 30, i64::MAX).unwrap().records.to_bytes().unwrap(),
        concat(&written[..3]),
        "no partial batch"
    );
    assert_eq!(
        log.read(0, 1 << 20, i64::MAX).unwrap().records.to_bytes().unwrap(),
        concat(&written)
    );

    // The read says where it stopped: after its last whole batch, or where it started.
    let after = |n: usize| written[n - 1].next_offset();
    assert_eq!(log.read(0, size(3) + 30, i64::MAX).unwrap().next_offset, after(3));
    assert_eq!(log.read(0, 1 << 20, i64::MAX).unwrap().next_offset, after(10));
    let end = log.log_end_offset();
    assert_eq!(log.read(end, 1 << 20, i64::MAX).unwrap().next_offset, end);
}

#[test]
fn reads_stop_at_the_high_watermark_and_check_the_range() {
    let (_dir, mut log) = new_log(LogConfig::default());
    let written = fill(&mut log, 30, T0);
    let end = log.log_end_offset();
    for (i, batch) in written.iter().enumerate() {
        let high_watermark = batch.base_offset();
        let read = log.read(0, 1 << 20, high_watermark).unwrap();
        assert_eq!(
            read.records.to_bytes().unwrap(),
            concat(&written[..i]),
            "high watermark {high_watermark}"
        );
        // From the high watermark up to the log end there is nothing to read yet.
        assert!(log
            .read(high_watermark, 1 << 20, high_watermark)
            .unwrap()
            .records
            .is_empty());
    }
    assert!(log.read(end, 1 << 20, i64::MAX).unwrap().records.is_empty());
    let out_of_range = log.read(end + 1, 1 << 20, i64::MAX).unwrap_err();
    assert!(
        matches!(out_of_range, LogError::OffsetOutOfRange { requested, log_start: 0, log_end }
        if requested == end + 1 && log_end == end)
    );
}

#[test]
fn a_snapshot_sees_what_was_committed_when_it_was_taken() {
    let (_dir, mut log) = new_log(LogConfig::default());
    let before = fill(&mut log, 5, T0);
    let snapshot = log.snapshot();
    let after = fill(&mut log, 5, T0 + 1_000);
    assert_eq!(
        snapshot.read(0, 1 << 20, i64::MAX).unwrap().records.to_bytes().unwrap(),
        concat(&before)
    );
    assert!(snapshot
        .read(snapshot.log_end_offset(), 1 << 20, i64::MAX)
        .unwrap()
        .records
        .is_empty());
    let all = [before, after].concat();
    assert_eq!(
        log.read(0, 1 << 20, i64::MAX).unwrap().records.to_bytes().unwrap(),
        concat(&all)
    );
}

#[test]
fn reads_run_beside_appends() {
    let (_dir, log) = new_log(small_config());
    let log = Arc::new(Mutex::new(log));
    let reader = {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for _ in 0..200 {
                let snapshot = log.lock().unwrap().snapshot();
                // The fetch runs without the lock: every batch it returns is whole and intact.
                let mut offset = snapshot.log_start_offset();
                while offset < snapshot.log_end_offset() {
                    let read = snapshot.read(offset, 4096, i64::MAX).unwrap();
                    let got = batches(&read.records);
                    assert!(got[0].base_offset() <= offset && offset <= got[0].last_offset());
                    offset = got.last().unwrap().next_offset();
                }
            }
        })
    };
    for i in 0..300 {
        log.lock().unwrap().append(produced(1 + i % 3, T0 + i as i64)).unwrap();
    }
    reader.join().unwrap();
    assert_eq!(log.lock().unwrap().log_end_offset(), 600);
}

#[test]
fn timestamps_find_the_first_record_reaching_them() {
    let (_dir, mut log) = new_log(small_config());
    // Batch max timestamps go up and down, across several segments.
    let starts = [5_000, 4_000, 6_000, 5_500, 9_000, 7_000, 10_000, 2_000];
    let mut records: Vec<(i64, i64)> = Vec::new(); // (offset, timestamp)
    for i in 0..40 {
        let ts = T0 + starts[i % starts.len()] + i as i64;
        let info = log.append(produced(3, ts)).unwrap();
        records.extend((0..3).map(|r| (info.base_offset + r, ts + r)));
    }
    assert!(log.segments().len() > 3);
    for target in (T0..T0 + 11_000).step_by(97) {
        let expected = records
            .iter()
            .find(|(_, ts)| *ts >= target)
            .map(|&(offset, timestamp)| TimestampOffset { timestamp, offset });
        assert_eq!(log.offset_for_timestamp(target).unwrap(), expected, "target {target}");
    }
    assert_eq!(log.offset_for_timestamp(T0 + 20_000).unwrap(), None);

    let &(offset, timestamp) = records.iter().max_by_key(|(offset, ts)| (*ts, -offset)).unwrap();
    assert_eq!(
        log.max_timestamp_offset().unwrap(),
        Some(TimestampOffset { timestamp, offset })
    );
}

#[test]
fn segments_roll_on_age_and_on_a_full_index() {
    let day = 24 * 60 * 60 * 1000;
    let (_dir, mut log) = new_log(LogConfig::default());
    // As in Kafka, age is measured from the first batch's timestamp to the incoming one's.
    for ts in [T0, T0 + 7 * day, T0 + 7 * day + 1, T0 + 7 * day + 2, T0 + 14 * day + 2] {
        log.append(produced(2, ts)).unwrap();
    }
    let bases: Vec<i64> = log.segments().iter().map(|s| s.base_offset()).collect();
    assert_eq!(bases, [0, 4, 8], "rolled once 7 days had passed within a segment");

    // Index files of 24 bytes hold 2 time entries; an entry per batch after the first.
    let config = LogConfig {
        segment_index_bytes: 24,
        index_interval_bytes: 0,
        ..LogConfig::default()
    };
    let (_dir, mut log) = new_log(config);
    fill(&mut log, 10, T0);
    let bases: Vec<i64> = log.segments().iter().map(|s| s.base_offset()).collect();
    assert_eq!(
        bases,
        [0, 6, 13, 21],
        "3 batches (of 1, 2, 3, 4, 1, ... records) per segment"
    );
}

#[test]
fn retention_deletes_the_oldest_segments_by_time_and_size() {
    let (_dir, mut log) = new_log(small_config());
    fill(&mut log, 80, T0);
    let segments = log.segments().to_vec();
    let n = segments.len();
    assert!(n >= 8, "{n} segments");
    let paths: Vec<_> = segments.iter().map(|s| s.path().to_path_buf()).collect();

    // By time: segments whose newest batch is more than 1 s older than `now`.
    let cutoff = segments[2].max_timestamp().timestamp;
    assert_eq!(log.apply_retention(cutoff + 1_001, 1_000, -1).unwrap(), 3);
    assert_eq!(log.log_start_offset(), segments[3].base_offset());
    assert!(!paths[2].exists() && paths[3].exists());
    let below = log.read(segments[3].base_offset() - 1, 100, i64::MAX).unwrap_err();
    assert!(matches!(below, LogError::OffsetOutOfRange { .. }));
    assert_eq!(
        batches(&log.read(log.log_start_offset(), 1, i64::MAX).unwrap().records)[0].base_offset(),
        segments[3].base_offset()
    );

    // By size: keep the newest segments whose total stays within the limit.
    let kept: u64 = segments[n - 3..].iter().map(|s| s.size()).sum();
    assert_eq!(log.apply_retention(T0, -1, kept as i64).unwrap(), n - 6);
    assert_eq!(log.log_start_offset(), segments[n - 3].base_offset());
    assert_eq!(log.segments().len(), 3);

    // The active segment is never deleted.
    assert_eq!(log.apply_retention(i64::MAX, 0, 0).unwrap(), 2);
    assert_eq!(log.segments().len(), 1);
    assert_eq!(log.log_start_offset(), segments[n - 1].base_offset());
}

#[test]
fn delete_records_moves_the_log_start() {
    let (_dir, mut log) = new_log(small_config());
    let written = fill(&mut log, 40, T0);
    let second = log.segments()[1].base_offset();
    let target = second + 1;
    assert_eq!(log.delete_records_before(target).unwrap(), target);
    assert_eq!(
        log.segments()[0].base_offset(),
        second,
        "the segment wholly below is gone"
    );
    assert!(matches!(
        log.read(second, 1, i64::MAX),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(
        batches(&log.read(target, 1, i64::MAX).unwrap().records),
        [holding(&written, target).clone()]
    );
    assert_eq!(
        log.delete_records_before(target - 1).unwrap(),
        target,
        "the log start never moves back"
    );
    assert!(matches!(
        log.delete_records_before(1_000),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn truncation_removes_batches_and_appends_continue() {
    let (_dir, mut log) = new_log(small_config());
    let written = fill(&mut log, 40, T0);
    let target = written[25].base_offset();
    let before = log.segments().len();
    log.truncate_to(target).unwrap();
    assert_eq!(log.log_end_offset(), target);
    assert!(log.segments().len() < before);
    assert_eq!(
        log.read(0, 1 << 20, i64::MAX).unwrap().records.len(),
        log.segments()[0].size() as usize
    );
    let mut all = Vec::new();
    let mut offset = 0;
    while offset < log.log_end_offset() {
        let read = batches(&log.read(offset, 1 << 20, i64::MAX).unwrap().records);
        offset = read.last().unwrap().next_offset();
        all.extend(read);
    }
    assert_eq!(all, written[..25]);

    let info = log.append(produced(2, T0)).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (target, target + 1));
    assert_eq!(
        log.read(target, 1, i64::MAX).unwrap().records.to_bytes().unwrap(),
        batch_at(target, 2, T0)
    );

    // Below the log start, the log empties and restarts at the target.
    log.delete_records_before(10).unwrap();
    log.truncate_to(5).unwrap();
    assert_eq!(
        (log.log_start_offset(), log.log_end_offset(), log.segments().len()),
        (5, 5, 1)
    );
    assert_eq!(log.append(produced(1, T0)).unwrap().base_offset, 5);
}

fn wall_clock_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since_epoch.unwrap().as_millis() as i64
}

/// The names in `dir` that end in `suffix`, sorted.
fn files_ending(dir: &std::path::Path, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(suffix))
        .collect();
    names.sort();
    names
}

fn deleted_files(dir: &std::path::Path) -> Vec<String> {
    files_ending(dir, ".deleted")
}

#[test]
fn deleted_segments_are_renamed_and_their_files_removed_after_the_delay() {
    let config = LogConfig {
        file_delete_delay_ms: 60_000,
        ..small_config()
    };
    let (dir, mut log) = new_log(config.clone());
    let path = dir.path().join("orders-0");
    fill(&mut log, 80, T0);
    let segments = log.segments().to_vec();
    let n = segments.len();
    let snapshot = log.snapshot();
    let read_all = |snapshot: &tidelog_log::LogSnapshot| {
        let read = snapshot.read(segments[0].base_offset(), 1 << 20, i64::MAX).unwrap();
        read.records.to_bytes().unwrap()
    };
    let before = read_all(&snapshot);
    let start = wall_clock_ms();

    // Retention, DeleteRecords and truncation: two segments each.
    let cutoff = segments[1].max_timestamp().timestamp;
    assert_eq!(log.apply_retention(cutoff + 1_001, 1_000, -1).unwrap(), 2);
    log.delete_records_before(segments[4].base_offset()).unwrap();
    log.truncate_to(segments[n - 2].base_offset()).unwrap();
    let gone: Vec<&std::sync::Arc<tidelog_log::Segment>> = segments[..4].iter().chain(&segments[n - 2..]).collect();
    let mut expected: Vec<String> = Vec::new();
    for segment in &gone {
        assert!(!segment.path().exists(), "{}", segment.path().display());
        let name = segment.path().file_name().unwrap().to_str().unwrap();
        for suffix in ["log", "index", "timeindex"] {
            expected.push(format!("{}.{suffix}.deleted", name.trim_end_matches(".log")));
        }
    }
    expected.sort();
    assert_eq!(deleted_files(&path), expected);
    assert_eq!(read_all(&snapshot), before, "a reader holding them reads on");

    assert_eq!(log.delete_due_files(start + 59_999).unwrap(), 0, "not yet due");
    assert_eq!(deleted_files(&path), expected);
    // A read under way when the files go keeps the descriptors it read through.
    let in_flight = snapshot.read(segments[0].base_offset(), 1 << 20, i64::MAX).unwrap();
    assert_eq!(log.delete_due_files(wall_clock_ms() + 60_000).unwrap(), expected.len());
    assert_eq!(deleted_files(&path), Vec::<String>::new());
    assert_eq!(
        in_flight.records.to_bytes().unwrap(),
        before,
        "nor does the removal stop it"
    );

    // A start removes what a stop left waiting.
    let closed = log.segments().len() - 1;
    assert_eq!(log.apply_retention(i64::MAX, 0, -1).unwrap(), closed);
    assert!(!deleted_files(&path).is_empty());
    let log_start = log.log_start_offset();
    drop(log);
    let log = PartitionLog::open(&path, config.clone(), tidelog_log::Recovery::From(0), log_start).unwrap();
    assert_eq!(deleted_files(&path), Vec::<String>::new());
    assert_eq!(log.log_start_offset(), log_start);

    // Without a delay the files go at once.
    let (dir, mut log) = new_log(LogConfig {
        file_delete_delay_ms: 0,
        ..config
    });
    fill(&mut log, 20, T0);
    assert!(log.apply_retention(i64::MAX, 0, -1).unwrap() > 0);
    assert_eq!(deleted_files(&dir.path().join("orders-0")), Vec::<String>::new());
}

#[test]
fn flush_makes_everything_appended_durable() {
    let (_dir, mut log) = new_log(small_config());
    assert_eq!(log.flushed_offset(), 0);
    fill(&mut log, 20, T0);
    assert_eq!(log.flushed_offset(), 0, "appends alone are not durable");
    let snapshot = log.snapshot();
    fill(&mut log, 5, T0);
    assert_eq!(snapshot.flush().unwrap(), 50, "a snapshot flushes what it sees");
    assert_eq!(log.flushed_offset(), 50);

    let stale = log.snapshot();
    log.truncate_to(10).unwrap();
    assert_eq!((log.log_end_offset(), log.flushed_offset()), (10, 10));
    assert_eq!(stale.flush().unwrap(), 61);
    assert_eq!(
        log.flushed_offset(),
        10,
        "a stale snapshot cannot mark truncated offsets durable"
    );
    log.append(produced(3, T0)).unwrap();
    assert_eq!(log.flush().unwrap(), 13);
    assert_eq!(log.flushed_offset(), 13);
}

#[test]
fn appends_refuse_what_is_not_whole_batches() {
    let (_dir, mut log) = new_log(small_config());
    assert!(matches!(log.append(Bytes::new()), Err(LogError::EmptyAppend)));
    let torn = produced(2, T0);
    assert!(matches!(
        log.append(torn.slice(..torn.len() - 1)),
        Err(LogError::InvalidBatch { position: 0, .. })
    ));
    let first_len = produced(1, T0).len();
    let second_torn = [&produced(1, T0)[..], &produced(1, T0)[..70]].concat();
    assert!(
        matches!(log.append(second_torn.into()), Err(LogError::InvalidBatch { position, .. }) if position == first_len)
    );
    let big: Vec<u8> = (0..12).flat_map(|_| produced(4, T0).to_vec()).collect();
    assert!(matches!(log.append(big.into()), Err(LogError::AppendTooLarge { .. })));
    assert_eq!(log.log_end_offset(), 0, "nothing was appended");
    assert_eq!(log.append(produced(2, T0)).unwrap().base_offset, 0);
}

#[test]
fn a_leader_stamps_its_epoch_on_what_it_appends_and_records_where_each_began() {
    let (_dir, mut log) = new_log(small_config());
    // Before any epoch, batches keep their own (the metadata log stamps its own).
    log.append(produced(2, T0)).unwrap();
    log.become_leader(3);
    log.append(produced(1, T0)).unwrap();
    log.become_leader(3);
    log.append(produced(1, T0)).unwrap();
    let recorded = |log: &PartitionLog| -> Vec<(i32, i64)> {
        let checkpoint = tidelog_log::LeaderEpochCheckpointFile::new(log.dir()).read().unwrap();
        checkpoint.iter().map(|e| (e.epoch, e.start_offset)).collect()
    };
    assert_eq!(recorded(&log), [], "in a new directory, by its first flush");
    log.flush().unwrap();
    assert_eq!(recorded(&log), [(3, 2)]);
    log.become_leader(5);
    log.append(produced(2, T0)).unwrap();
    assert_eq!(recorded(&log), [(3, 2), (5, 4)], "then by the append");
    let read = log.read(0, 1 << 20, i64::MAX).unwrap();
    let epochs: Vec<(i64, i32)> = batches(&read.records)
        .iter()
        .map(|b| (b.base_offset(), b.partition_leader_epoch()))
        .collect();
    assert_eq!(epochs, [(0, -1), (2, 3), (3, 3), (4, 5)]);
}

#[test]
fn a_follower_appends_the_leaders_batches_as_they_are_and_truncates_where_the_logs_diverge() {
    let (_dir, mut leader) = new_log(small_config());
    leader.become_leader(1);
    leader.append(produced(2, T0)).unwrap();
    leader.become_leader(4);
    leader.append(produced(3, T0)).unwrap();
    let fetched = leader.read(0, 1 << 20, i64::MAX).unwrap().records;
    let dir = tempfile::tempdir().unwrap();
    let mut follower = PartitionLog::create(&dir.path().join("orders-0"), small_config()).unwrap();
    follower.become_follower();
    follower.append_as_follower(fetched.to_bytes().unwrap()).unwrap();
    let bytes = |log: &PartitionLog| log.read(0, 1 << 20, i64::MAX).unwrap().records.to_bytes().unwrap();
    assert_eq!(bytes(&follower), bytes(&leader), "the same bytes, offsets and epochs");
    assert_eq!(follower.latest_epoch().unwrap(), Some(4));
    assert_eq!(follower.end_offset_for_epoch(1).unwrap(), (1, 2));
    assert_eq!(
        follower.end_offset_for_epoch(3).unwrap(),
        (1, 2),
        "the largest epoch at or below"
    );
    assert_eq!(
        follower.end_offset_for_epoch(4).unwrap(),
        (4, 5),
        "the newest ends at the log end"
    );
    assert_eq!(follower.end_offset_for_epoch(0).unwrap(), (-1, -1));
    // Batches that do not continue the log are refused, whole.
    let again = leader.read(0, 1 << 20, i64::MAX).unwrap().records.to_bytes().unwrap();
    assert!(matches!(
        follower.append_as_follower(again),
        Err(LogError::OutOfOrderAppend {
            offset: 0,
            log_end_offset: 5
        })
    ));
    // A truncation forgets the epochs it cuts.
    follower.truncate_to(2).unwrap();
    assert_eq!(follower.latest_epoch().unwrap(), Some(1));
    assert_eq!(
        follower.end_offset_for_epoch(4).unwrap(),
        (-1, -1),
        "newer than any it has now"
    );
    follower.flush().unwrap();
    let checkpoint = tidelog_log::LeaderEpochCheckpointFile::new(follower.dir())
        .read()
        .unwrap();
    assert_eq!(
        checkpoint.iter().map(|e| (e.epoch, e.start_offset)).collect::<Vec<_>>(),
        [(1, 0)]
    );
    // A follower that becomes leader appends in its own epoch after the leader's.
    follower.become_leader(6);
    follower.append(produced(1, T0)).unwrap();
    assert_eq!(follower.end_offset_for_epoch(6).unwrap(), (6, 3));
    assert_eq!(follower.end_offset_for_epoch(5).unwrap(), (1, 2));
}

#[test]
fn retention_below_an_offset_keeps_every_segment_reaching_past_it() {
    let (_dir, mut log) = new_log(small_config());
    fill(&mut log, 60, T0);
    let bases: Vec<i64> = log.segments().iter().map(|s| s.base_offset()).collect();
    let end = bases[3] + 1;
    // No size allowed at all: still only the segments wholly below `end` go.
    assert_eq!(log.apply_retention_below(T0, -1, 0, end).unwrap(), 3);
    assert_eq!(log.log_start_offset(), bases[3]);
    assert_eq!(log.segments()[0].base_offset(), bases[3]);
    // Nothing is older than a day, so time alone deletes nothing.
    assert_eq!(log.apply_retention_below(T0, 86_400_000, -1, i64::MAX).unwrap(), 0);
}

#[test]
fn a_close_writes_a_producer_snapshot_only_where_the_log_moved_since_the_last() {
    let (dir, mut log) = new_log(small_config());
    let path = dir.path().join("orders-0");
    log.close().unwrap();
    assert_eq!(
        files_ending(&path, ".snapshot"),
        Vec::<String>::new(),
        "an empty log needs none"
    );
    log.append(produced(2, T0)).unwrap();
    log.close_unsynced().unwrap();
    assert_eq!(files_ending(&path, ".snapshot"), ["00000000000000000002.snapshot"]);
    drop(log);

    // Reopened at that snapshot, a close has nothing new to write.
    let mut log = PartitionLog::open(&path, small_config(), tidelog_log::Recovery::Skip, 0).unwrap();
    std::fs::remove_file(path.join("00000000000000000002.snapshot")).unwrap();
    log.close().unwrap();
    assert_eq!(files_ending(&path, ".snapshot"), Vec::<String>::new());
}

#[test]
fn a_close_before_the_first_flush_writes_the_epoch_entry_with_the_records() {
    let (_dir, mut log) = new_log(small_config());
    log.become_leader(2);
    log.append(produced(1, T0)).unwrap();
    let end = log.close_unsynced().unwrap();
    assert_eq!(end, 1);
    let checkpoint = tidelog_log::LeaderEpochCheckpointFile::new(log.dir()).read().unwrap();
    let entries: Vec<(i32, i64)> = checkpoint.iter().map(|e| (e.epoch, e.start_offset)).collect();
    assert_eq!(entries, [(2, 0)]);
}
