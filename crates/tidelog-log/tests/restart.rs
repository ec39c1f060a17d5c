//! Restarts through the log manager: clean shutdown, crashes with torn or overwritten tails,
//! the recovery point, checkpoint files, and placement of partitions across log dirs.

mod common;

use common::{batches, copy_dir, fill, produced, small_config};
use std::fs;
use std::path::{Path, PathBuf};
use tidelog_log::{
    CheckpointFile, LogConfig, LogError, LogManager, PartitionLog, TopicPartition, CLEAN_SHUTDOWN_MARKER,
    LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT,
};
use tidelog_protocol::records::RecordBatch;

const T0: i64 = 1_700_000_000_000;

fn orders() -> TopicPartition {
    TopicPartition::new("orders", 0).unwrap()
}

fn open(dirs: &[PathBuf]) -> LogManager {
    LogManager::open(dirs, &small_config()).unwrap()
}

/// Everything from the log start, batch by batch.
fn read_all(log: &PartitionLog) -> Vec<RecordBatch> {
    let mut all = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let read = batches(&log.read(offset, 1 << 20, i64::MAX).unwrap().records);
        offset = read.last().unwrap().next_offset();
        all.extend(read);
    }
    all
}

/// The segment files of a partition dir by name, with their content. Producer snapshots
/// are left out: they are written when a log rolls or closes, so a recovered log and one
/// written in one go hold different ones for the same batches.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().extension().is_none_or(|ext| ext != "snapshot"))
        .map(|e| (e.file_name().into_string().unwrap(), fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}

/// A log dir left by a crash: `flushed` batches flushed and checkpointed, then `unflushed`
/// more written to the files but never flushed, and no clean shutdown.
fn crashed(root: &Path, flushed: usize, unflushed: usize) -> Vec<RecordBatch> {
    let manager = open(&[root.to_path_buf()]);
    let log = manager.get_or_create_log(&orders(), small_config()).unwrap();
    let mut written = fill(&mut log.lock().unwrap(), flushed, T0);
    log.lock().unwrap().flush().unwrap();
    manager.checkpoint_recovery_points().unwrap();
    written.extend(fill(&mut log.lock().unwrap(), unflushed, T0 + 10 * flushed as i64));
    written
}

/// The partition dir holding `batches`, written by appends and closed.
fn reference(root: &Path, written: &[RecordBatch], config: LogConfig) -> PathBuf {
    let dir = root.join("orders-0");
    let mut log = PartitionLog::create(&dir, config).unwrap();
    for batch in written {
        let records = batch.last_offset_delta() as usize + 1;
        let info = log.append(produced(records, batch.base_timestamp())).unwrap();
        assert_eq!(info.base_offset, batch.base_offset());
    }
    log.close().unwrap();
    dir
}

/// Writes 30 batches to `orders-0` in a new log manager over `dirs`, moves its log start
/// to `log_start` and shuts it down cleanly; returns the batches.
fn written_and_shut_down(dirs: &[PathBuf], log_start: i64) -> Vec<RecordBatch> {
    let manager = open(dirs);
    let log = manager.get_or_create_log(&orders(), small_config()).unwrap();
    let written = fill(&mut log.lock().unwrap(), 30, T0);
    log.lock().unwrap().delete_records_before(log_start).unwrap();
    manager.shutdown().unwrap();
    written
}

/// The segments' `.log` files in a partition dir with their base offsets, oldest first.
fn segment_logs(partition: &Path) -> Vec<(i64, PathBuf)> {
    let mut logs: Vec<(i64, PathBuf)> = fs::read_dir(partition)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| (p.file_stem().unwrap().to_str().unwrap().parse().unwrap(), p))
        .collect();
    logs.sort();
    logs
}

#[test]
fn a_clean_shutdown_is_trusted_without_a_scan() {
    let root = tempfile::tempdir().unwrap();
    let dirs = [root.path().to_path_buf()];
    assert!(!root.path().join(CLEAN_SHUTDOWN_MARKER).exists());
    let written = written_and_shut_down(&dirs, 0);
    let end = written.last().unwrap().next_offset();

    assert!(root.path().join(CLEAN_SHUTDOWN_MARKER).exists());
    let checkpoint = CheckpointFile::new(root.path(), RECOVERY_POINT_CHECKPOINT)
        .read()
        .unwrap();
    assert_eq!(checkpoint.into_iter().collect::<Vec<_>>(), [(orders(), end)]);

    // Break the CRC of a batch in the first and in the last segment: a scan would cut
    // the log there, a trusted open leaves both alone.
    let partition = root.path().join("orders-0");
    let segment_files = segment_logs(&partition);
    assert!(segment_files.len() > 3);
    for (_, path) in [&segment_files[0], segment_files.last().unwrap()] {
        let mut bytes = fs::read(path).unwrap();
        bytes[70] ^= 0xff;
        fs::write(path, bytes).unwrap();
    }
    let before = files(&partition);

    let manager = open(&dirs);
    assert!(
        !root.path().join(CLEAN_SHUTDOWN_MARKER).exists(),
        "the marker only lives between runs"
    );
    let log = manager.get_log(&orders()).unwrap();
    let log = log.lock().unwrap();
    assert_eq!(
        (log.log_start_offset(), log.log_end_offset(), log.flushed_offset()),
        (0, end, end)
    );
    assert_eq!(files(&partition), before, "nothing was scanned, so nothing was cut");
    assert_eq!(log.segments().len(), segment_files.len());
}

#[test]
fn a_torn_tail_is_cut_at_every_position_inside_the_last_batch() {
    let template = tempfile::tempdir().unwrap();
    let written = crashed(template.path(), 25, 4);
    let last = written.last().unwrap().clone();
    let reference_root = tempfile::tempdir().unwrap();
    let expected = reference(reference_root.path(), &written[..written.len() - 1], small_config());
    let (_, active) = segment_logs(&template.path().join("orders-0")).pop().unwrap();
    let full_len = fs::metadata(&active).unwrap().len();
    let last_position = full_len - last.size_in_bytes() as u64;
    assert!(last_position > 0, "the last batch is not alone in its segment");

    for cut in last_position + 1..full_len {
        let root = tempfile::tempdir().unwrap();
        copy_dir(template.path(), root.path());
        let segment = root.path().join("orders-0").join(active.file_name().unwrap());
        fs::OpenOptions::new()
            .write(true)
            .open(&segment)
            .unwrap()
            .set_len(cut)
            .unwrap();

        let manager = open(&[root.path().to_path_buf()]);
        let log = manager.get_log(&orders()).unwrap();
        let mut log = log.lock().unwrap();
        assert_eq!(log.log_end_offset(), last.base_offset(), "cut at {cut}");
        assert_eq!(fs::metadata(&segment).unwrap().len(), last_position);
        assert_eq!(
            files(&root.path().join("orders-0")),
            files(&expected),
            "indexes rebuilt as appends build them"
        );
        assert_eq!(read_all(&log), written[..written.len() - 1]);

        let info = log.append(produced(2, T0)).unwrap();
        assert_eq!((info.base_offset, info.position), (last.base_offset(), last_position));
        assert_eq!(log.flushed_offset(), last.base_offset(), "recovered data was flushed");
    }
}

#[test]
fn garbage_over_the_tail_is_cut_off() {
    let root = tempfile::tempdir().unwrap();
    let written = crashed(root.path(), 25, 3);
    let last = written.last().unwrap();
    let (_, active) = segment_logs(&root.path().join("orders-0")).pop().unwrap();
    let mut bytes = fs::read(&active).unwrap();
    let last_position = bytes.len() - last.size_in_bytes();
    bytes[last_position + 20..].fill(0xab);
    bytes.extend_from_slice(&[0x5a; 300]);
    fs::write(&active, bytes).unwrap();

    let manager = open(&[root.path().to_path_buf()]);
    let log = manager.get_log(&orders()).unwrap();
    let mut log = log.lock().unwrap();
    assert_eq!(log.log_end_offset(), last.base_offset());
    assert_eq!(fs::metadata(&active).unwrap().len(), last_position as u64);
    assert_eq!(read_all(&log), written[..written.len() - 1]);
    assert_eq!(log.append(produced(1, T0)).unwrap().base_offset, last.base_offset());
}

#[test]
fn only_segments_from_the_recovery_point_on_are_scanned() {
    let template = tempfile::tempdir().unwrap();
    let written = crashed(template.path(), 40, 12);
    let partition = template.path().join("orders-0");
    let recovery_point = CheckpointFile::new(template.path(), RECOVERY_POINT_CHECKPOINT)
        .read()
        .unwrap()[&orders()];
    assert_eq!(recovery_point, written[39].next_offset());

    // Corrupt a batch in the middle of the first segment (below the recovery point) and of
    // the last one (past it).
    let segments = segment_logs(&partition);
    let (last_base, last_path) = segments.last().unwrap().clone();
    assert!(
        segments[1].0 <= recovery_point && last_base > recovery_point,
        "{segments:?}"
    );
    assert!(
        written.last().unwrap().base_offset() > last_base,
        "two batches in the last segment"
    );
    let in_segment = |base: i64| written.iter().filter(move |b| b.base_offset() >= base);
    let victim_first = in_segment(0).nth(2).unwrap().clone();
    let victim_last = in_segment(last_base).nth(1).unwrap().clone();
    let position_in = |batch: &RecordBatch, base: i64| -> usize {
        in_segment(base)
            .take_while(|b| b.base_offset() < batch.base_offset())
            .map(|b| b.size_in_bytes())
            .sum()
    };
    let corrupt = |path: &Path, position: usize| {
        let mut bytes = fs::read(path).unwrap();
        bytes[position + 70] ^= 0xff;
        fs::write(path, bytes).unwrap();
    };
    corrupt(&segments[0].1, position_in(&victim_first, 0));
    corrupt(&last_path, position_in(&victim_last, last_base));

    // With the checkpoint: the first segment is trusted as it is, the last one is cut.
    let root = tempfile::tempdir().unwrap();
    copy_dir(template.path(), root.path());
    let first_segment = root.path().join("orders-0").join(segments[0].1.file_name().unwrap());
    let first_before = fs::read(&first_segment).unwrap();
    let manager = open(&[root.path().to_path_buf()]);
    let log = manager.get_log(&orders()).unwrap();
    let log = log.lock().unwrap();
    assert_eq!(
        fs::read(&first_segment).unwrap(),
        first_before,
        "the trusted segment was not scanned"
    );
    assert_eq!(log.log_end_offset(), victim_last.base_offset());
    assert_eq!(log.segments().len(), segments.len());
    drop((log, manager));

    // Without it, the scan starts at the first segment, cuts it, and drops every later one.
    fs::remove_file(partition.parent().unwrap().join(RECOVERY_POINT_CHECKPOINT)).unwrap();
    let manager = open(&[template.path().to_path_buf()]);
    let log = manager.get_log(&orders()).unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.log_end_offset(), victim_first.base_offset());
    assert_eq!(log.segments().len(), 1);
    assert_eq!(files(&partition).len(), 3, "one .log, .index and .timeindex left");
}

#[test]
fn recovery_starts_at_the_recovery_point_inside_its_segment() {
    // One segment, with an index entry every 100 bytes.
    let config = LogConfig {
        index_interval_bytes: 100,
        ..LogConfig::default()
    };
    let root = tempfile::tempdir().unwrap();
    let dirs = [root.path().to_path_buf()];
    let manager = LogManager::open(&dirs, &config).unwrap();
    let log = manager.get_or_create_log(&orders(), config.clone()).unwrap();
    let mut written = fill(&mut log.lock().unwrap(), 40, T0);
    log.lock().unwrap().flush().unwrap();
    manager.checkpoint_recovery_points().unwrap();
    written.extend(fill(&mut log.lock().unwrap(), 10, T0));
    drop((manager, log));

    // A flipped record byte below the recovery point, and garbage from batch 45 on.
    let (_, segment) = segment_logs(&root.path().join("orders-0")).pop().unwrap();
    let position = |i: usize| written[..i].iter().map(|b| b.size_in_bytes()).sum::<usize>();
    let mut bytes = fs::read(&segment).unwrap();
    bytes[position(39) + 70] ^= 0xff;
    bytes[position(45) + 20..].fill(0xab);
    fs::write(&segment, &bytes).unwrap();

    let manager = LogManager::open(&dirs, &config).unwrap();
    let log = manager.get_log(&orders()).unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.log_end_offset(), written[45].base_offset());
    assert_eq!(
        fs::read(&segment).unwrap(),
        bytes[..position(45)],
        "cut at batch 45, the flushed part untouched"
    );
    let reference_root = tempfile::tempdir().unwrap();
    let expected = reference(reference_root.path(), &written[..45], config);
    let indexes = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        files(dir)
            .into_iter()
            .filter(|(name, _)| !name.ends_with(".log"))
            .collect()
    };
    assert_eq!(
        indexes(&root.path().join("orders-0")),
        indexes(&expected),
        "indexes as appends build them"
    );
}

#[test]
fn recovering_on_many_threads_gives_what_one_thread_gives() {
    let template = tempfile::tempdir().unwrap();
    let manager = open(&[template.path().to_path_buf()]);
    let partitions: Vec<TopicPartition> = (0..12).map(|p| TopicPartition::new("orders", p).unwrap()).collect();
    let mut ends = Vec::new();
    for (p, tp) in partitions.iter().enumerate() {
        let log = manager.get_or_create_log(tp, small_config()).unwrap();
        fill(&mut log.lock().unwrap(), 20 + p, T0);
        log.lock().unwrap().flush().unwrap();
    }
    manager.checkpoint_recovery_points().unwrap();
    for (p, tp) in partitions.iter().enumerate() {
        let log = manager.get_log(tp).unwrap();
        fill(&mut log.lock().unwrap(), p % 4 * 5, T0);
        ends.push(log.lock().unwrap().log_end_offset());
    }
    drop(manager);
    // Torn tails in every third partition.
    for tp in partitions.iter().step_by(3) {
        let (_, active) = segment_logs(&template.path().join(tp.dir_name())).pop().unwrap();
        let len = fs::metadata(&active).unwrap().len();
        fs::OpenOptions::new()
            .write(true)
            .open(&active)
            .unwrap()
            .set_len(len - 7)
            .unwrap();
    }

    let [one, many] = [(); 2].map(|_| tempfile::tempdir().unwrap());
    copy_dir(template.path(), one.path());
    copy_dir(template.path(), many.path());
    let sequential = LogManager::open_with_recovery_threads(&[one.path().to_path_buf()], &small_config(), 1).unwrap();
    let parallel = LogManager::open_with_recovery_threads(&[many.path().to_path_buf()], &small_config(), 4).unwrap();
    for (p, tp) in partitions.iter().enumerate() {
        let state = |manager: &LogManager| {
            let log = manager.get_log(tp).unwrap();
            let log = log.lock().unwrap();
            (
                log.log_start_offset(),
                log.log_end_offset(),
                log.flushed_offset(),
                read_all(&log),
            )
        };
        let (_, end, _, _) = state(&sequential);
        assert_eq!(end < ends[p], p % 3 == 0, "partition {p} lost only a torn last batch");
        assert_eq!(state(&parallel), state(&sequential), "partition {p}");
        assert_eq!(
            files(&many.path().join(tp.dir_name())),
            files(&one.path().join(tp.dir_name())),
            "partition {p}"
        );
    }
}

#[test]
fn unchanged_checkpoints_are_not_rewritten() {
    let root = tempfile::tempdir().unwrap();
    let manager = open(&[root.path().to_path_buf()]);
    let log = manager.get_or_create_log(&orders(), small_config()).unwrap();
    fill(&mut log.lock().unwrap(), 5, T0);
    log.lock().unwrap().flush().unwrap();
    manager.checkpoint_recovery_points().unwrap();
    manager.checkpoint_log_start_offsets().unwrap();

    // Removed to see whether the next checkpoints write them again.
    let recovery_points = root.path().join(RECOVERY_POINT_CHECKPOINT);
    let log_starts = root.path().join(LOG_START_OFFSET_CHECKPOINT);
    fs::remove_file(&recovery_points).unwrap();
    fs::remove_file(&log_starts).unwrap();
    manager.checkpoint_recovery_points().unwrap();
    manager.checkpoint_log_start_offsets().unwrap();
    assert!(!recovery_points.exists() && !log_starts.exists());

    fill(&mut log.lock().unwrap(), 1, T0);
    let flushed = log.lock().unwrap().flush().unwrap();
    manager.checkpoint_recovery_points().unwrap();
    manager.checkpoint_log_start_offsets().unwrap();
    let checkpoint = CheckpointFile::new(root.path(), RECOVERY_POINT_CHECKPOINT)
        .read()
        .unwrap();
    assert_eq!(checkpoint.into_iter().collect::<Vec<_>>(), [(orders(), flushed)]);
    assert!(!log_starts.exists(), "the log start did not move");
}

#[test]
fn log_start_offsets_survive_restarts() {
    let root = tempfile::tempdir().unwrap();
    let dirs = [root.path().to_path_buf()];
    let manager = open(&dirs);
    let log = manager.get_or_create_log(&orders(), small_config()).unwrap();
    fill(&mut log.lock().unwrap(), 30, T0);
    assert_eq!(log.lock().unwrap().delete_records_before(17).unwrap(), 17);
    manager.checkpoint_log_start_offsets().unwrap();
    drop((manager, log)); // a crash: the checkpoint was written, the marker was not

    let starts = CheckpointFile::new(root.path(), LOG_START_OFFSET_CHECKPOINT)
        .read()
        .unwrap();
    assert_eq!(starts.into_iter().collect::<Vec<_>>(), [(orders(), 17)]);
    let manager = open(&dirs);
    let log = manager.get_log(&orders()).unwrap();
    assert_eq!(log.lock().unwrap().log_start_offset(), 17);
    assert!(matches!(
        log.lock().unwrap().read(16, 1, i64::MAX),
        Err(LogError::OffsetOutOfRange { .. })
    ));

    log.lock().unwrap().delete_records_before(21).unwrap();
    manager.shutdown().unwrap();
    drop((manager, log));
    let manager = open(&dirs);
    assert_eq!(
        manager.get_log(&orders()).unwrap().lock().unwrap().log_start_offset(),
        21
    );
}

#[test]
fn partitions_spread_over_log_dirs_and_can_be_deleted() {
    let roots = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let dirs: Vec<PathBuf> = roots.iter().map(|r| r.path().to_path_buf()).collect();
    // Not partitions: skipped.
    fs::create_dir(dirs[0].join("orders-9.0123abcd-delete")).unwrap();
    fs::create_dir(dirs[0].join("lost+found")).unwrap();

    let manager = open(&dirs);
    let partitions: Vec<TopicPartition> = (0..4).map(|p| TopicPartition::new("orders", p).unwrap()).collect();
    for tp in &partitions {
        manager.get_or_create_log(tp, small_config()).unwrap();
    }
    let placed = |dir: &Path| partitions.iter().filter(|tp| dir.join(tp.dir_name()).is_dir()).count();
    assert_eq!((placed(&dirs[0]), placed(&dirs[1])), (2, 2));
    assert_eq!(manager.logs().len(), 4);

    let gone = &partitions[1];
    let gone_dir = dirs
        .iter()
        .map(|d| d.join(gone.dir_name()))
        .find(|d| d.is_dir())
        .unwrap();
    assert!(manager.delete_log(gone).unwrap());
    assert!(!gone_dir.exists());
    assert!(manager.get_log(gone).is_none());
    assert!(!manager.delete_log(gone).unwrap());
    manager.shutdown().unwrap();
    let checkpointed: usize = dirs
        .iter()
        .map(|d| CheckpointFile::new(d, RECOVERY_POINT_CHECKPOINT).read().unwrap().len())
        .sum();
    assert_eq!(checkpointed, 3);
    drop(manager);

    // The same partition in two log dirs is refused, as Kafka refuses it.
    let kept = &partitions[0];
    let (from, to) = match dirs[0].join(kept.dir_name()).is_dir() {
        true => (&dirs[0], &dirs[1]),
        false => (&dirs[1], &dirs[0]),
    };
    copy_dir(&from.join(kept.dir_name()), &to.join(kept.dir_name()));
    let duplicate = LogManager::open(&dirs, &small_config()).unwrap_err();
    assert!(matches!(duplicate, LogError::DuplicatePartition { .. }), "{duplicate}");
}

#[test]
fn names_that_would_escape_the_log_dir_are_refused() {
    for topic in ["..", ".", "../../etc", "a/b", ""] {
        assert!(
            matches!(TopicPartition::new(topic, 0), Err(LogError::InvalidTopicPartition(_))),
            "{topic:?}"
        );
    }
}

#[test]
fn after_a_clean_shutdown_a_log_opens_at_its_first_use() {
    let root = tempfile::tempdir().unwrap();
    let dirs = [root.path().to_path_buf()];
    let (start, written) = (5, written_and_shut_down(&dirs, 5));
    let end = written.last().unwrap().next_offset();
    let partition = root.path().join("orders-0");
    let checkpoints = || {
        [RECOVERY_POINT_CHECKPOINT, LOG_START_OFFSET_CHECKPOINT].map(|name| fs::read(root.path().join(name)).unwrap())
    };
    let (before, checkpointed) = (files(&partition), checkpoints());
    let size: u64 = segment_logs(&partition)
        .iter()
        .map(|(_, path)| fs::metadata(path).unwrap().len())
        .sum();

    // Unopened, it tells its offsets and size, is checkpointed and shut down as it was.
    let manager = open(&dirs);
    let log = manager.get_log(&orders()).unwrap();
    assert!(!log.is_open(), "not opened by the start");
    let summary = log.summary().unwrap();
    assert_eq!(
        (summary.log_start_offset, summary.log_end_offset, summary.size_bytes),
        (start, end, size)
    );
    assert!(log.has_sealed_segments().unwrap());
    let config = LogConfig {
        segment_bytes: 2_000,
        ..small_config()
    };
    log.set_config(config.clone()).unwrap();
    log.become_leader(7);
    manager.checkpoint_recovery_points().unwrap();
    manager.checkpoint_log_start_offsets().unwrap();
    manager.shutdown().unwrap();
    assert!(!log.is_open(), "a shutdown opens nothing");
    assert_eq!(checkpoints(), checkpointed, "the same offsets");
    assert_eq!(files(&partition), before, "no file touched");
    assert!(root.path().join(CLEAN_SHUTDOWN_MARKER).exists());
    drop((manager, log));

    // Opened by its first lock, with what it was told meanwhile.
    let manager = open(&dirs);
    let shared = manager.get_log(&orders()).unwrap();
    shared.set_config(config.clone()).unwrap();
    shared.become_leader(7);
    let mut log = shared.lock().unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (start, end));
    assert_eq!(
        read_all(&log),
        written[written.iter().position(|b| b.next_offset() > start).unwrap()..]
    );
    assert_eq!(log.config().segment_bytes, 2_000);
    let appended = fill(&mut log, 1, T0 + 1_000);
    let read = batches(&log.read(end, 1 << 20, i64::MAX).unwrap().records);
    assert_eq!(read.len(), appended.len());
    assert_eq!(
        read[0].partition_leader_epoch(),
        7,
        "appended in the epoch it was given"
    );
    drop(log);
    assert!(shared.is_open());
    manager.shutdown().unwrap();
}

#[test]
fn a_log_is_opened_by_the_start_unless_both_its_offsets_are_checkpointed() {
    let root = tempfile::tempdir().unwrap();
    let dirs = [root.path().to_path_buf()];
    let manager = open(&dirs);
    for p in 0..2 {
        let tp = TopicPartition::new("orders", p).unwrap();
        let log = manager.get_or_create_log(&tp, small_config()).unwrap();
        fill(&mut log.lock().unwrap(), 3, T0);
    }
    manager.shutdown().unwrap();
    drop(manager);
    let log_starts = CheckpointFile::new(root.path(), LOG_START_OFFSET_CHECKPOINT);
    let mut offsets = log_starts.read().unwrap();
    offsets.remove(&orders());
    log_starts.write(&offsets).unwrap();

    let manager = open(&dirs);
    assert!(
        manager.get_log(&orders()).unwrap().is_open(),
        "its log start is unknown"
    );
    let other = manager.get_log(&TopicPartition::new("orders", 1).unwrap()).unwrap();
    assert!(!other.is_open());

    // Deleted without being opened.
    assert!(manager.delete_log(&TopicPartition::new("orders", 1).unwrap()).unwrap());
    assert!(!root.path().join("orders-1").exists());
    manager.shutdown().unwrap();
}

#[test]
fn a_partition_whose_directory_cannot_be_read_is_left_out_of_the_summaries() {
    let root = tempfile::tempdir().unwrap();
    let dirs = [root.path().to_path_buf()];
    let written = written_and_shut_down(&dirs, 0);
    let manager = open(&dirs);
    let payments = TopicPartition::new("payments", 0).unwrap();
    manager.get_or_create_log(&payments, small_config()).unwrap();
    // orders-0 is not opened after the clean shutdown: its summary lists its directory.
    fs::remove_dir_all(root.path().join("orders-0")).unwrap();

    let summaries = manager.summaries_by_dir();
    assert_eq!(summaries.len(), 1);
    let listed: Vec<(String, i64)> = summaries[0]
        .1
        .iter()
        .map(|(tp, summary)| (tp.to_string(), summary.log_end_offset))
        .collect();
    assert_eq!(
        listed,
        [("payments-0".to_string(), 0)],
        "orders-0 left out, the rest kept"
    );
    assert!(!written.is_empty());
}
