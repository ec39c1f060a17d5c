//! Times `LogManager::open` after a crash.
//!
//! `recovery_time write <dir> <partitions> <MiB per partition> <unflushed MiB per partition>`
//! fills a fresh log dir with 16 KiB batches: each partition is written, flushed and its
//! recovery point checkpointed, then written some more without a flush, and the process
//! ends without a clean shutdown, as a SIGKILL would leave it.
//!
//! `recovery_time open <dir> [threads]` times opening that log dir, which recovers what was
//! written after the recovery points, on `threads` threads (by default as many as CPUs).
//! Opening writes neither checkpoints nor the shutdown marker, so it can be repeated;
//! delete `<dir>/recovery-point-offset-checkpoint` first to time the worst case, where
//! every segment is scanned.

use std::path::PathBuf;
use std::time::Instant;
use tidelog_log::{LogConfig, LogManager, TopicPartition};
use tidelog_protocol::records::RecordBatchBuilder;

const MIB: u64 = 1 << 20;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| -> u64 { args[i].parse().expect("a number") };
    match args.first().map(String::as_str) {
        Some("write") if args.len() == 5 => write(PathBuf::from(&args[1]), number(2), number(3), number(4)),
        Some("open") if args.len() == 2 => open(PathBuf::from(&args[1]), None),
        Some("open") if args.len() == 3 => open(PathBuf::from(&args[1]), Some(number(2) as usize)),
        _ => {
            eprintln!("usage: recovery_time write <dir> <partitions> <MiB each> <unflushed MiB each>");
            eprintln!("       recovery_time open <dir> [threads]");
            std::process::exit(2);
        }
    }
}

fn write(dir: PathBuf, partitions: u64, mib: u64, unflushed_mib: u64) {
    let manager = LogManager::open(std::slice::from_ref(&dir), &LogConfig::default()).unwrap();
    let batch = batch_of_16_kib();
    let appends = |mib: u64| (mib * MIB).div_ceil(batch.len() as u64);
    let started = Instant::now();
    for p in 0..partitions {
        let tp = TopicPartition::new("bench", p as i32).unwrap();
        let log = manager.get_or_create_log(&tp, LogConfig::default()).unwrap();
        let mut log = log.lock().unwrap();
        for _ in 0..appends(mib - unflushed_mib) {
            log.append(batch.clone()).unwrap();
        }
        log.flush().unwrap();
        for _ in 0..appends(unflushed_mib) {
            log.append(batch.clone()).unwrap();
        }
    }
    manager.checkpoint_recovery_points().unwrap();
    println!(
        "wrote {partitions} partitions of {mib} MiB ({unflushed_mib} MiB after the recovery point) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Dropped without `shutdown`: no clean shutdown marker.
}

fn open(dir: PathBuf, threads: Option<usize>) {
    let dirs = std::slice::from_ref(&dir);
    let started = Instant::now();
    let manager = match threads {
        Some(threads) => LogManager::open_with_recovery_threads(dirs, &LogConfig::default(), threads),
        None => LogManager::open(dirs, &LogConfig::default()),
    }
    .unwrap();
    let elapsed = started.elapsed();
    let logs = manager.logs();
    let bytes: u64 = logs
        .iter()
        .flat_map(|(_, log)| {
            log.lock()
                .unwrap()
                .segments()
                .iter()
                .map(|s| s.size())
                .collect::<Vec<_>>()
        })
        .sum();
    println!(
        "opened {} partitions, {:.2} GiB, in {:.3} s",
        logs.len(),
        bytes as f64 / (1u64 << 30) as f64,
        elapsed.as_secs_f64()
    );
}

/// A batch of 16 records of 1000 bytes, about the size of a producer's default `batch.size`.
fn batch_of_16_kib() -> bytes::Bytes {
    let mut builder = RecordBatchBuilder::new(0);
    let value: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
    for i in 0..16 {
        builder.append(1_700_000_000_000 + i, Some(b"key"), Some(&value), &[]);
    }
    builder.build().as_bytes().clone()
}
