//! Log compaction on real files: what a cleaning keeps (the latest record of each key at its
//! offset, tombstones until their delete horizon, committed transactions, the last batch of
//! each producer, codecs) and that a crash at any step of the swap leaves the log as it was
//! before the cleaning or as after it.

mod common;

use bytes::Bytes;
use common::copy_dir;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use tidelog_log::{
    clean_log, CheckpointFile, CleanerConfig, Cleaning, LogConfig, PartitionLog, Recovery, Throttler, TopicPartition,
    CLEANER_OFFSET_CHECKPOINT, DEFAULT_DELETE_RETENTION_MS,
};
use tidelog_protocol::records::{
    marker_batch, Compression, ControlType, Header, RecordBatch, RecordBatchBuilder, TxnMarker,
};

const T0: i64 = 1_700_000_000_000;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 4_096,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

/// A record as a consumer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    offset: i64,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<Header>,
}

fn create(dir: &Path) -> (PathBuf, PartitionLog) {
    let path = dir.join("compacted-0");
    let log = PartitionLog::create(&path, config()).unwrap();
    (path, log)
}

/// Every batch from the log start, as fetches return them.
fn read_batches(log: &PartitionLog) -> Vec<RecordBatch> {
    snapshot_batches(&log.snapshot())
}

/// Every batch a snapshot reads from its log start (a snapshot taken before a cleaning
/// keeps reading the segments it had).
fn snapshot_batches(snapshot: &tidelog_log::LogSnapshot) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    let mut offset = snapshot.log_start_offset();
    while offset < snapshot.log_end_offset() {
        let read = snapshot.read(offset, 1 << 20, snapshot.log_end_offset()).unwrap();
        let more = common::batches(&read.records);
        if more.is_empty() {
            break;
        }
        offset = read.next_offset;
        batches.extend(more);
    }
    batches
}

fn read_records(log: &PartitionLog) -> Vec<Seen> {
    read_batches(log)
        .iter()
        .filter(|batch| !batch.is_control())
        .flat_map(|batch| batch.records(1 << 30).unwrap().map(Result::unwrap))
        .map(|r| Seen {
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key,
            value: r.value,
            headers: r.headers,
        })
        .collect()
}

/// Appends a batch of `(key, value)` records stamped from `timestamp` and returns them as
/// consumers will see them.
fn append(
    log: &mut PartitionLog,
    builder: RecordBatchBuilder,
    records: &[(&str, Option<String>)],
    timestamp: i64,
) -> Vec<Seen> {
    let mut builder = builder;
    for (i, (key, value)) in records.iter().enumerate() {
        let headers = [Header {
            key: Bytes::from_static(b"n"),
            value: Some(Bytes::from(format!("{key}@{}", timestamp + i as i64))),
        }];
        builder.append(
            timestamp + i as i64,
            Some(key.as_bytes()),
            value.as_deref().map(str::as_bytes),
            &headers,
        );
    }
    let info = log.append(builder.build().as_bytes().clone()).unwrap();
    records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Seen {
            offset: info.base_offset + i as i64,
            timestamp: timestamp + i as i64,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: value.as_ref().map(|v| Bytes::from(v.clone())),
            headers: vec![Header {
                key: Bytes::from_static(b"n"),
                value: Some(Bytes::from(format!("{key}@{}", timestamp + i as i64))),
            }],
        })
        .collect()
}

fn plain(log: &mut PartitionLog, records: &[(&str, Option<String>)], timestamp: i64) -> Vec<Seen> {
    append(log, RecordBatchBuilder::new(0), records, timestamp)
}

/// Two large batches, so the last segment (never cleaned) holds only the second.
fn roll(log: &mut PartitionLog, timestamp: i64) -> Vec<Seen> {
    let big = Some("f".repeat(3_000));
    let mut seen = plain(log, &[("filler-1", big.clone())], timestamp);
    seen.extend(plain(log, &[("filler-2", big)], timestamp + 1));
    assert_eq!(log.segments().last().unwrap().base_offset(), seen[1].offset);
    seen
}

/// The latest record of each key, in offset order.
fn latest(written: &[Seen]) -> Vec<Seen> {
    let mut by_key = BTreeMap::new();
    for seen in written {
        by_key.insert(seen.key.clone(), seen.clone());
    }
    let mut kept: Vec<Seen> = by_key.into_values().collect();
    kept.sort_by_key(|s| s.offset);
    kept
}

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

/// `total` records over 100 keys, a tenth of them tombstones, in batches of 1 to 10 records.
fn write_keyed(log: &mut PartitionLog, total: usize) -> Vec<Seen> {
    let mut rng = Lcg(42);
    let mut written = Vec::new();
    let mut i = 0;
    while i < total {
        let count = (1 + rng.next(10) as usize).min(total - i);
        let keys: Vec<String> = (0..count).map(|_| format!("key-{}", rng.next(100))).collect();
        let records: Vec<(&str, Option<String>)> = keys
            .iter()
            .enumerate()
            .map(|(j, key)| (key.as_str(), (rng.next(10) != 0).then(|| format!("value-{}", i + j))))
            .collect();
        written.extend(plain(log, &records, T0 + i as i64));
        i += count;
    }
    written
}

/// A log in `dir` with [`write_keyed`]'s `total` records, rolled at `roll_at` (so they are
/// all cleanable) and flushed; with what a consumer reads of it.
fn keyed_log(dir: &Path, total: usize, roll_at: i64) -> (PathBuf, PartitionLog, Vec<Seen>) {
    let (path, mut log) = create(dir);
    let mut written = write_keyed(&mut log, total);
    written.extend(roll(&mut log, roll_at));
    log.flush().unwrap();
    (path, log, written)
}

#[test]
fn cleaning_keeps_the_latest_record_of_each_key_and_tombstones_until_their_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut log, written) = keyed_log(dir.path(), 10_000, T0 + 20_000);
    let segments_before = log.segments().len();
    assert!(segments_before > 50, "{segments_before} segments");
    let cleaner = CleanerConfig::default();
    assert_eq!(Cleaning::new(&log, None, &cleaner, T0).unwrap().dirty_ratio(), 1.0);

    let expected = latest(&written);
    let tombstones = expected.iter().filter(|s| s.value.is_none()).count();
    assert!(tombstones > 0 && tombstones < 50, "{tombstones} tombstones");
    let now = T0 + 60_000;
    let summary = clean_log(&mut log, &cleaner, now).unwrap().unwrap();
    let active_base = log.segments().last().unwrap().base_offset();
    assert_eq!(summary.first_dirty_offset, active_base);
    assert_eq!(summary.next_delete_horizon_ms, Some(now + DEFAULT_DELETE_RETENTION_MS));
    assert!(summary.bytes_after < summary.bytes_before / 10, "{summary:?}");
    assert_eq!(read_records(&log), expected);
    // Without producers no batch is left empty: a fetch of empty batches only would make
    // librdkafka fail.
    assert!(read_batches(&log).iter().all(|b| b.record_count() > 0));
    let checkpoint = CheckpointFile::new(dir.path(), CLEANER_OFFSET_CHECKPOINT)
        .read()
        .unwrap();
    assert_eq!(
        checkpoint.get(&TopicPartition::new("compacted", 0).unwrap()),
        Some(&active_base)
    );
    // Nothing is dirty now; cleaning again before the horizon changes nothing.
    let again = Cleaning::new(&log, Some(active_base), &cleaner, now).unwrap();
    assert_eq!(again.dirty_ratio(), 0.0);
    // As Kafka's, groups are formed by the sizes before cleaning: the second cleaning
    // merges the small segments the first one left.
    clean_log(&mut log, &cleaner, now + 1_000).unwrap().unwrap();
    assert_eq!(read_records(&log), expected);
    assert!(
        log.segments().len() < segments_before / 5,
        "{} segments",
        log.segments().len()
    );

    // What the cleaning wrote reads back the same after a crash that scans every batch.
    drop(log);
    let mut log = PartitionLog::open(&path, config(), Recovery::From(0), 0).unwrap();
    assert_eq!(read_records(&log), expected);

    // Past the delete horizon the tombstones go too.
    clean_log(&mut log, &cleaner, now + DEFAULT_DELETE_RETENTION_MS + 1)
        .unwrap()
        .unwrap();
    let live: Vec<Seen> = expected.into_iter().filter(|s| s.value.is_some()).collect();
    assert_eq!(read_records(&log), live);
    drop(log);
    let log = PartitionLog::open(&path, config(), Recovery::Skip, 0).unwrap();
    assert_eq!(read_records(&log), live);
}

const ABORTED: i64 = 100;
const COMMITTED: i64 = 200;
const IDEMPOTENT: i64 = 300;

fn txn_builder(pid: i64, first_seq: i32) -> RecordBatchBuilder {
    RecordBatchBuilder::new(0)
        .producer(pid, 0, first_seq)
        .transactional(true)
}

fn marker(log: &mut PartitionLog, pid: i64, control_type: ControlType) -> i64 {
    let marker = TxnMarker {
        control_type,
        coordinator_epoch: 0,
    };
    log.append(marker_batch(pid, 0, marker, T0).as_bytes().clone())
        .unwrap()
        .base_offset
}

/// The markers in the log, by offset.
fn markers(log: &PartitionLog) -> Vec<i64> {
    read_batches(log)
        .iter()
        .filter(|b| b.is_control())
        .map(|b| b.base_offset())
        .collect()
}

fn value(s: &str) -> Option<String> {
    Some(s.to_string())
}

#[test]
fn aborted_records_go_committed_ones_stay_and_markers_stay_while_needed() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut log) = create(dir.path());
    let mut committed = plain(&mut log, &[("k0", value("v0")), ("k1", value("v1"))], T0);
    committed.extend(append(
        &mut log,
        txn_builder(COMMITTED, 0),
        &[("t0", value("committed")), ("t1", value("committed"))],
        T0 + 10,
    ));
    append(
        &mut log,
        txn_builder(ABORTED, 0),
        &[("k0", value("aborted")), ("a1", value("aborted"))],
        T0 + 20,
    );
    let abort = marker(&mut log, ABORTED, ControlType::Abort);
    let commit = marker(&mut log, COMMITTED, ControlType::Commit);
    // The committed transaction's records are overwritten: its marker stays only while
    // the cleaner still sees them.
    committed.extend(plain(
        &mut log,
        &[("t0", value("later")), ("t1", value("later"))],
        T0 + 30,
    ));
    committed.extend(roll(&mut log, T0 + 40));
    log.flush().unwrap();
    let cleaner = CleanerConfig::default();
    let end = log.log_end_offset();
    assert_eq!(log.snapshot().aborted_txns(0, end).len(), 1);

    let expected = latest(&committed);
    let now = T0 + 60_000;
    clean_log(&mut log, &cleaner, now).unwrap().unwrap();
    assert_eq!(read_records(&log), expected, "aborted records removed");
    assert_eq!(markers(&log), [abort, commit], "both transactions had records");
    assert_eq!(log.snapshot().aborted_txns(0, end).len(), 1);

    // The producers' last batches (kept empty) still count as records of their
    // transactions: once the producers expire, the batches go, then the markers get a
    // delete horizon, and go once it has passed.
    assert_eq!(log.remove_expired_producers(now, 0), 2);
    clean_log(&mut log, &cleaner, now).unwrap().unwrap();
    assert_eq!(markers(&log), [abort, commit], "the last batches were seen");
    clean_log(&mut log, &cleaner, now).unwrap().unwrap();
    assert_eq!(markers(&log), [abort, commit], "kept until the horizon");
    assert!(log.snapshot().aborted_txns(0, end).is_empty());
    assert_eq!(read_records(&log), expected);
    let later = now + DEFAULT_DELETE_RETENTION_MS + 1;
    clean_log(&mut log, &cleaner, later).unwrap().unwrap();
    assert_eq!(markers(&log), Vec::<i64>::new());
    assert_eq!(read_records(&log), expected);
}

#[test]
fn the_last_batch_of_a_live_producer_survives_empty_and_its_sequences_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut log) = create(dir.path());
    let idempotent = |seq| RecordBatchBuilder::new(0).producer(IDEMPOTENT, 0, seq);
    append(&mut log, idempotent(0), &[("x0", value("a")), ("x1", value("a"))], T0);
    let last = append(
        &mut log,
        idempotent(2),
        &[("x0", value("b")), ("x1", value("b"))],
        T0 + 10,
    );
    let mut written = plain(&mut log, &[("x0", value("c")), ("x1", value("c"))], T0 + 20);
    written.extend(roll(&mut log, T0 + 30));
    log.flush().unwrap();
    clean_log(&mut log, &CleanerConfig::default(), T0 + 60_000)
        .unwrap()
        .unwrap();
    assert_eq!(read_records(&log), written);
    let producer_batches: Vec<RecordBatch> = read_batches(&log)
        .into_iter()
        .filter(|b| b.producer_id() == IDEMPOTENT)
        .collect();
    assert_eq!(producer_batches.len(), 1, "only the last batch stays");
    let kept = &producer_batches[0];
    assert_eq!(
        (
            kept.base_offset(),
            kept.last_offset(),
            kept.base_sequence(),
            kept.record_count()
        ),
        (last[0].offset, last[1].offset, 2, 0)
    );

    // The producer state rebuilt from the cleaned log alone knows the sequences.
    drop(log);
    for entry in fs::read_dir(&path).unwrap() {
        let entry = entry.unwrap().path();
        if entry.extension().is_some_and(|e| e == "snapshot") {
            fs::remove_file(entry).unwrap();
        }
    }
    let mut log = PartitionLog::open(&path, config(), Recovery::From(0), 0).unwrap();
    assert_eq!(log.producer_state().entry(IDEMPOTENT).unwrap().last_seq(), Some(3));
    let retry = idempotent(2);
    let mut retry_builder = retry;
    retry_builder.append(T0 + 10, Some(b"x0"), Some(b"b"), &[]);
    retry_builder.append(T0 + 11, Some(b"x1"), Some(b"b"), &[]);
    let info = log.append(retry_builder.build().as_bytes().clone()).unwrap();
    assert!(info.duplicate && info.base_offset == last[0].offset);
    let next = append(&mut log, idempotent(4), &[("x2", value("d"))], T0 + 40);
    assert_eq!(next[0].offset, log.log_end_offset() - 1);
}

#[test]
fn compressed_batches_keep_their_codec() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut log) = create(dir.path());
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    let mut written = Vec::new();
    let mut codec_at = BTreeMap::new();
    for i in 0..60 {
        let codec = codecs[i % codecs.len()];
        let keys: Vec<String> = (0..5).map(|j| format!("key-{}", (i * 3 + j * 7) % 20)).collect();
        let records: Vec<(&str, Option<String>)> = keys.iter().map(|k| (k.as_str(), value(&format!("v{i}")))).collect();
        let seen = append(
            &mut log,
            RecordBatchBuilder::new(0).compression(codec),
            &records,
            T0 + 10 * i as i64,
        );
        codec_at.insert(seen[0].offset, codec);
        written.extend(seen);
    }
    written.extend(roll(&mut log, T0 + 1_000));
    log.flush().unwrap();
    clean_log(&mut log, &CleanerConfig::default(), T0 + 60_000)
        .unwrap()
        .unwrap();
    assert_eq!(read_records(&log), latest(&written));
    let mut rewritten = 0;
    for batch in read_batches(&log) {
        if let Some(codec) = codec_at.get(&batch.base_offset()) {
            assert_eq!(batch.compression(), *codec, "batch at {}", batch.base_offset());
            rewritten += usize::from(batch.record_count() < 5);
        }
    }
    assert!(rewritten >= 3, "{rewritten} batches lost records");
}

/// The bytes of every batch of the log in `dir` after it opens as after a crash, and
/// whether files of a cleaning were left behind.
fn recovered(dir: &Path) -> Vec<Bytes> {
    let log = PartitionLog::open(dir, config(), Recovery::From(0), 0).unwrap();
    let leftovers: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| {
            [".cleaned", ".swap", ".deleted"]
                .iter()
                .any(|suffix| name.ends_with(suffix))
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    batch_bytes(read_batches(&log))
}

fn names_ending(dir: &Path, suffix: &str) -> Vec<i64> {
    let mut bases: Vec<i64> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(suffix).map(|digits| digits.parse().unwrap())
        })
        .collect();
    bases.sort_unstable();
    bases
}

/// One step of a swap, as the cleaner makes it: a rename.
#[derive(Debug, Clone)]
struct Step(String, String);

#[test]
fn a_crash_at_any_step_of_the_swap_leaves_the_log_before_or_after_the_cleaning() {
    let dir = tempfile::tempdir().unwrap();
    // The crash is in a second cleaning, which merges the segments the first one left
    // with new ones.
    let (path, mut log, _) = keyed_log(dir.path(), 2_000, T0 + 20_000);
    clean_log(&mut log, &CleanerConfig::default(), T0).unwrap().unwrap();
    write_keyed(&mut log, 1_000);
    roll(&mut log, T0 + 30_000);
    log.flush().unwrap();
    let before = batch_bytes(read_batches(&log));
    let cleaner = CleanerConfig::default();
    let checkpoint = CheckpointFile::new(dir.path(), CLEANER_OFFSET_CHECKPOINT)
        .read()
        .unwrap();
    let first_dirty = checkpoint.values().next().copied();
    let cleaned = Cleaning::new(&log, first_dirty, &cleaner, T0)
        .unwrap()
        .run(&cleaner, T0, &Throttler::unlimited())
        .unwrap();
    let staged = dir.path().join("staged");
    copy_dir(&path, &staged);
    cleaned.install(&mut log).unwrap().unwrap();
    let after = batch_bytes(read_batches(&log));
    assert_ne!(before, after);
    assert_eq!(recovered(&path), after);

    let new_bases = names_ending(&staged, ".log.cleaned");
    let mut old_bases = names_ending(&staged, ".log");
    old_bases.pop(); // the active segment
    assert!(new_bases.len() >= 2, "{new_bases:?}");
    let name = |base: i64, suffix: &str| format!("{base:020}.{suffix}");
    let mut steps = Vec::new();
    for &base in &new_bases {
        for suffix in ["txnindex", "log"] {
            steps.push(Step(
                name(base, &format!("{suffix}.cleaned")),
                name(base, &format!("{suffix}.swap")),
            ));
        }
    }
    let commit_point = 2;
    for &base in &old_bases {
        for suffix in ["log", "index", "timeindex", "txnindex"] {
            if staged.join(name(base, suffix)).exists() {
                steps.push(Step(name(base, suffix), name(base, &format!("{suffix}.deleted"))));
            }
        }
    }
    for &base in &new_bases {
        for suffix in ["index", "timeindex"] {
            steps.push(Step(name(base, &format!("{suffix}.cleaned")), name(base, suffix)));
        }
        for suffix in ["txnindex", "log"] {
            steps.push(Step(name(base, &format!("{suffix}.swap")), name(base, suffix)));
        }
    }
    let finish_start = steps.len() - 4 * new_bases.len();
    assert!(
        new_bases.len() < old_bases.len(),
        "segments merged: {new_bases:?} for {old_bases:?}"
    );
    // Every step but most renames of the old segments, which all leave the same kind of state.
    let crashes =
        (0..=steps.len()).filter(|&done| done <= commit_point + 2 || done + 2 >= finish_start || done % 7 == 0);
    for done in crashes {
        let crashed = dir.path().join(format!("crashed-{done}"));
        copy_dir(&staged, &crashed);
        for Step(from, to) in &steps[..done] {
            fs::rename(crashed.join(from), crashed.join(to)).unwrap();
        }
        let expected = if done < commit_point { &before } else { &after };
        assert!(
            recovered(&crashed) == *expected,
            "crash after {done} steps: {:?}",
            steps[..done].last()
        );
    }
}

fn batch_bytes(batches: Vec<RecordBatch>) -> Vec<Bytes> {
    batches.into_iter().map(|b| b.as_bytes().clone()).collect()
}

#[test]
fn readers_holding_the_replaced_segments_keep_reading_them() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut log, _) = keyed_log(dir.path(), 2_000, T0 + 20_000);
    let snapshot = log.snapshot();
    let before = batch_bytes(snapshot_batches(&snapshot));
    // A fetch's bytes taken before the swap, sent after it.
    let in_flight = log.read(0, 1 << 20, log.log_end_offset()).unwrap();
    let in_flight_bytes = common::bytes(&in_flight.records);

    clean_log(&mut log, &CleanerConfig::default(), T0).unwrap().unwrap();
    assert_ne!(batch_bytes(read_batches(&log)), before);
    assert_eq!(batch_bytes(snapshot_batches(&snapshot)), before);
    assert_eq!(common::bytes(&in_flight.records), in_flight_bytes);
}

#[test]
fn a_cleaning_is_dropped_when_retention_ran_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut log, _) = keyed_log(dir.path(), 2_000, T0 + 20_000);
    let cleaner = CleanerConfig::default();
    let cleaned = Cleaning::new(&log, None, &cleaner, T0)
        .unwrap()
        .run(&cleaner, T0, &Throttler::unlimited())
        .unwrap();
    assert!(log.apply_retention(T0 + 100_000, 0, -1).unwrap() > 0);
    let kept = batch_bytes(read_batches(&log));
    assert_eq!(cleaned.install(&mut log).unwrap(), None);
    assert_eq!(batch_bytes(read_batches(&log)), kept);
    let leftovers = fs::read_dir(&path)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains(".cleaned"))
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn a_dirty_section_with_more_keys_than_the_map_holds_is_cleaned_in_passes() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut log, written) = keyed_log(dir.path(), 3_000, T0 + 20_000);
    let active_base = log.segments().last().unwrap().base_offset();
    // Room for about 20 of the 100 keys.
    let cleaner = CleanerConfig {
        dedupe_buffer_bytes: 20 * 56,
        ..CleanerConfig::default()
    };
    let mut passes = 0;
    let mut first_dirty = 0;
    while first_dirty < active_base {
        let summary = clean_log(&mut log, &cleaner, T0).unwrap().unwrap();
        assert!(summary.first_dirty_offset > first_dirty, "each pass makes progress");
        first_dirty = summary.first_dirty_offset;
        passes += 1;
    }
    assert!(passes > 3, "{passes} passes");
    assert_eq!(read_records(&log), latest(&written));
}

#[test]
fn a_cleaning_of_a_deleted_partition_never_lands_in_its_successor() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut old) = create(dir.path());
    write_keyed(&mut old, 2_000);
    roll(&mut old, T0 + 20_000);
    old.flush().unwrap();
    let cleaner = CleanerConfig::default();
    let cleaning = Cleaning::new(&old, None, &cleaner, T0).unwrap();
    // The topic is deleted and made anew under the same name while the cleaning runs.
    old.delete().unwrap();
    let (_, mut new) = create(dir.path());
    write_keyed(&mut new, 500);
    new.flush().unwrap();
    let files = |path: &Path| {
        let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.to_string_lossy().contains(".cleaned"))
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    fs::read(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let before = files(&path);
    // The cleaning reads the old files through descriptors it still has, or, where the file
    // cache had closed them, refuses to read the new partition's files in their place.
    match cleaning.run(&cleaner, T0, &Throttler::unlimited()) {
        Ok(cleaned) => assert_eq!(cleaned.install(&mut old).unwrap(), None),
        Err(e) => assert!(e.to_string().contains("another made in its place"), "{e}"),
    }
    assert_eq!(files(&path), before, "the new partition's files are untouched");
    assert_eq!(names_ending(&path, ".cleaned"), Vec::<i64>::new());
}

#[test]
fn the_max_compaction_delay_counts_from_the_oldest_dirty_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut log, _) = keyed_log(dir.path(), 2_000, T0 + 20_000);
    let cleaner = CleanerConfig {
        max_compaction_lag_ms: 1_000,
        ..CleanerConfig::default()
    };
    let delay = |log: &PartitionLog, checkpoint, now| {
        let cleaning = Cleaning::new(log, checkpoint, &cleaner, now).unwrap();
        cleaning.max_compaction_delay_ms()
    };
    // Counted from the first batch's max timestamp, as in Kafka.
    let first = log.segments()[0].first_batch_timestamp();
    assert!((T0..T0 + 10).contains(&first), "{first}");
    assert_eq!(delay(&log, None, first + 1_000), 0);
    assert_eq!(delay(&log, None, first + 1_500), 500);
    let unlimited = Cleaning::new(&log, None, &CleanerConfig::default(), i64::MAX).unwrap();
    assert_eq!(unlimited.max_compaction_delay_ms(), 0, "the default never makes it due");

    // Cleaned, nothing is dirty but the active segment, which does not count.
    let summary = clean_log(&mut log, &cleaner, T0).unwrap().unwrap();
    assert_eq!(delay(&log, Some(summary.first_dirty_offset), T0 + 1_000_000), 0);
}

#[test]
fn a_throttled_cleaning_keeps_its_reads_and_writes_to_the_rate() {
    let dir = tempfile::tempdir().unwrap();
    let (_path, mut log, written) = keyed_log(dir.path(), 2_000, T0 + 20_000);
    let segments = log.segments();
    let cleanable: u64 = segments[..segments.len() - 1].iter().map(|s| s.size()).sum();
    let cleaner = CleanerConfig::default();
    // The rewrite alone reads every cleanable byte: a second's worth at this rate.
    let throttler = Throttler::new(cleanable as f64);
    let started = std::time::Instant::now();
    let cleaned = Cleaning::new(&log, None, &cleaner, T0)
        .unwrap()
        .run(&cleaner, T0, &throttler)
        .unwrap();
    let took = started.elapsed();
    // All but the last few milliseconds' worth (shorter sleeps wait for more bytes).
    assert!(took >= std::time::Duration::from_millis(950), "{took:?}");
    cleaned.install(&mut log).unwrap().unwrap();
    assert_eq!(read_records(&log), latest(&written));
}
