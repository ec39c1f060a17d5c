//! Group commit: a few threads fsync the partitions with unflushed appends, then advance
//! their high watermarks.
//!
//! Appends mark their partition dirty and return at once. Each flusher thread takes one
//! dirty partition that no other thread is flushing, fsyncs it and publishes its new high
//! watermark; appends arriving meanwhile queue the partition again and are made durable
//! together by its next fsync, so concurrent producers share fsyncs. Different partitions
//! are fsynced in parallel: a small fsync waits on the disk's latency rather than its
//! bandwidth, and concurrent ones share ext4's journal commits, so with many partitions a
//! partition no longer waits for all the others (docs/PERFORMANCE.md: 100 partitions at
//! acks=all, median latency 360 ms with one thread, 15 ms with eight). After each fsync
//! that moved a high watermark, `data_version` changes, which wakes long-poll fetches.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use tokio::sync::watch;
use tracing::error;

use crate::metrics::latency_histogram;

use crate::partitions::{flush_new_partitions, Partition};

/// fsyncs in flight at once. Threads waiting on the disk cost no CPU; 8 already let the
/// file system share its journal commits between them.
const FLUSH_THREADS: usize = 8;

/// New partitions flushed together by one thread with syncfs(2) (see
/// [`flush_new_partitions`]): from this many queued, and at most this many at once.
const NEW_TOGETHER_MIN: usize = 16;
const NEW_TOGETHER_MAX: usize = 8192;

#[derive(Default)]
struct Pending {
    /// Dirty partitions in the order they were dirtied, each at most once.
    dirty: VecDeque<Arc<Partition>>,
    /// The partitions in `dirty`, by [`key`] (a broker may hold 100,000 dirty at once),
    /// with the appends (marks) each had since it was queued: what its next fsync makes
    /// durable.
    queued: HashMap<usize, u64>,
    /// Partitions being fsynced, by [`key`]; they stay queued in `dirty` until that fsync
    /// is done.
    flushing: HashSet<usize>,
    stop: bool,
}

/// A partition's identity while an `Arc` of it is held here.
fn key(partition: &Arc<Partition>) -> usize {
    Arc::as_ptr(partition) as usize
}

impl Pending {
    /// Queues `partition` unless it is queued already, and counts the append.
    fn push(&mut self, partition: &Arc<Partition>) {
        let appends = self.queued.entry(key(partition)).or_insert(0);
        if *appends == 0 {
            self.dirty.push_back(partition.clone());
        }
        *appends += 1;
    }

    /// The first dirty partition no thread is flushing, moved to `flushing`. Those passed
    /// over are being flushed, so at most one per flusher thread. A new partition comes
    /// with the other new ones queued if they are many (up to [`NEW_TOGETHER_MAX`]), to be
    /// flushed together. Also how many appends the batch's fsync makes durable.
    fn take(&mut self) -> Option<(Vec<Arc<Partition>>, u64)> {
        let index = self.dirty.iter().position(|p| !self.flushing.contains(&key(p)))?;
        let first = &self.dirty[index];
        let together = |p: &Arc<Partition>| p.has_new_dir() && !self.flushing.contains(&key(p));
        let taken: HashSet<usize> = match first.has_new_dir() {
            true => {
                let new = self.dirty.iter().filter(|p| together(p)).take(NEW_TOGETHER_MAX);
                new.map(key).collect()
            }
            false => HashSet::new(),
        };
        let batch: Vec<Arc<Partition>> = if taken.len() >= NEW_TOGETHER_MIN {
            let (batch, rest): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.dirty)
                .into_iter()
                .partition(|p| taken.contains(&key(p)));
            self.dirty = rest;
            batch.into()
        } else {
            vec![self.dirty.remove(index).expect("found")]
        };
        let mut appends = 0;
        for partition in &batch {
            appends += self.queued.remove(&key(partition)).unwrap_or(0);
            self.flushing.insert(key(partition));
        }
        Some((batch, appends))
    }
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    data_version: watch::Sender<u64>,
    fsync_seconds: Histogram,
    fsync_appends: Histogram,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct Flusher {
    shared: Arc<Shared>,
    /// Each flush's duration (its count is the number of flushes), for `/metrics`.
    pub fsync_seconds: Histogram,
    /// The appends each flush made durable: the group commit's batch size, for `/metrics`.
    pub fsync_appends: Histogram,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Flusher {
    pub fn start() -> Flusher {
        let shared = Arc::new(Shared {
            pending: Mutex::default(),
            wake: Condvar::new(),
            data_version: watch::channel(0).0,
            fsync_seconds: latency_histogram(),
            fsync_appends: Histogram::new(exponential_buckets(1.0, 2.0, 16)),
        });
        let threads = (0..FLUSH_THREADS)
            .map(|i| {
                let worker = shared.clone();
                std::thread::Builder::new()
                    .name(format!("tidelog-flusher-{i}"))
                    .spawn(move || run(&worker))
                    .expect("spawn a flusher thread")
            })
            .collect();
        Flusher {
            fsync_seconds: shared.fsync_seconds.clone(),
            fsync_appends: shared.fsync_appends.clone(),
            shared,
            threads: Mutex::new(threads),
        }
    }

    /// Queues `partition` for an fsync.
    pub fn mark_dirty(&self, partition: &Arc<Partition>) {
        self.shared.lock().push(partition);
        self.shared.wake.notify_one();
    }

    /// Wakes the long-poll fetches: a high watermark moved outside a flush (a follower's
    /// fetch moved a leader's).
    pub fn notify_data_changed(&self) {
        self.shared.data_version.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Changes whenever some high watermark advanced.
    pub fn data_changes(&self) -> watch::Receiver<u64> {
        self.shared.data_version.subscribe()
    }

    /// Flushes what is pending and stops the threads.
    pub fn stop(&self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

fn run(shared: &Shared) {
    loop {
        let (batch, appends) = {
            let mut pending = shared.lock();
            loop {
                if let Some(taken) = pending.take() {
                    break taken;
                }
                // Partitions still queued behind an fsync in flight are left to the thread
                // doing it, which looks again once done.
                if pending.stop && pending.dirty.is_empty() {
                    return;
                }
                pending = shared.wake.wait(pending).unwrap_or_else(|e| e.into_inner());
            }
        };
        let started = std::time::Instant::now();
        let flushed = match &batch[..] {
            [partition] => partition.flush(),
            partitions => flush_new_partitions(partitions),
        };
        shared.fsync_seconds.observe(started.elapsed().as_secs_f64());
        shared.fsync_appends.observe(appends as f64);
        let advanced = match flushed {
            Ok(moved) => moved,
            // The data stays unacknowledged; the next append to it retries the flush.
            Err(e) => {
                let partition = &batch[0].tp;
                error!(topic = partition.topic(), partition = partition.partition(), together = batch.len(),
                    error = %e, "flush failed");
                false
            }
        };
        {
            let mut pending = shared.lock();
            for partition in &batch {
                pending.flushing.remove(&key(partition));
            }
            // Appends made during the fsync may have queued the partitions again; when
            // stopping, threads waiting for them may now exit.
            if pending.stop || batch.iter().any(|p| pending.queued.contains_key(&key(p))) {
                shared.wake.notify_all();
            }
        }
        if advanced {
            shared.data_version.send_modify(|v| *v = v.wrapping_add(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use tidelog_log::{EpochEntry, LeaderEpochCheckpointFile};
    use tidelog_protocol::records::RecordBatchBuilder;

    use crate::config::BrokerConfig;
    use crate::data_dir::partition_metadata::PARTITION_METADATA;
    use crate::ids::random_uuid;
    use crate::metadata::TopicMeta;
    use crate::partitions::Partitions;

    use super::*;

    const PARTITIONS: i32 = 20;

    fn open(dir: &std::path::Path) -> Partitions {
        let config = BrokerConfig {
            log_dirs: vec![dir.to_path_buf()],
            ..BrokerConfig::default()
        };
        let topic = TopicMeta {
            name: "t".into(),
            id: random_uuid(),
            partitions: PARTITIONS,
            configs: BTreeMap::new(),
            replication_factor: 1,
        };
        Partitions::open(&config, &crate::metadata::MetadataImage::of_topics([topic])).unwrap()
    }

    /// Appends one single-record batch to every partition and marks each dirty.
    fn append_to_all(partitions: &Partitions) {
        let mut builder = RecordBatchBuilder::new(0);
        builder.append(1_000, None, Some(b"value"), &[]);
        let batch = builder.build();
        for p in 0..PARTITIONS {
            let partition = partitions.get("t", p).unwrap();
            partition.append(batch.as_bytes().clone()).unwrap();
            partitions.flusher.mark_dirty(&partition);
        }
    }

    fn high_watermarks(partitions: &Partitions) -> Vec<i64> {
        (0..PARTITIONS)
            .map(|p| partitions.get("t", p).unwrap().high_watermark())
            .collect()
    }

    /// A histogram's `_sum` and `_count` as `/metrics` shows them.
    fn sum_and_count(histogram: &Histogram) -> (String, String) {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("h", "", histogram.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let value = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).unwrap().to_string();
        (value("h_sum "), value("h_count "))
    }

    #[test]
    fn appends_from_many_threads_all_become_durable_and_stop_flushes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let partitions = open(dir.path());
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| (0..25).for_each(|_| append_to_all(&partitions)));
            }
        });
        let all_durable = vec![100; PARTITIONS as usize];
        let deadline = Instant::now() + Duration::from_secs(60);
        while high_watermarks(&partitions) != all_durable && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(high_watermarks(&partitions), all_durable);

        append_to_all(&partitions);
        partitions.flusher.stop();
        assert_eq!(high_watermarks(&partitions), vec![101; PARTITIONS as usize]);
        // Every append is counted by exactly one fsync: the group commit's batch sizes.
        let (appends, flushes) = sum_and_count(&partitions.flusher.fsync_appends);
        assert_eq!(appends, format!("{}.0", 101 * PARTITIONS));
        assert_eq!(flushes, sum_and_count(&partitions.flusher.fsync_seconds).1);
    }

    #[test]
    fn many_new_partitions_are_flushed_together_and_the_others_one_by_one() {
        let dir = tempfile::tempdir().unwrap();
        let partitions = open(dir.path());
        partitions.flusher.stop();
        let all: Vec<Arc<Partition>> = (0..PARTITIONS).map(|p| partitions.get("t", p).unwrap()).collect();
        let mut builder = RecordBatchBuilder::new(0);
        builder.append(1_000, None, Some(b"value"), &[]);
        let batch = builder.build();
        for partition in &all {
            partition.append(batch.as_bytes().clone()).unwrap();
        }
        let epochs = LeaderEpochCheckpointFile::new(&dir.path().join("t-0"));
        assert_eq!(epochs.read().unwrap(), [], "written by the first flush, not the append");

        // Fewer new ones than NEW_TOGETHER_MIN: one at a time.
        let mut pending = Pending::default();
        all[..NEW_TOGETHER_MIN - 1].iter().for_each(|p| pending.push(p));
        assert_eq!(
            pending.take().map(|(batch, appends)| (batch.len(), appends)),
            Some((1, 1))
        );

        let mut pending = Pending::default();
        all.iter().for_each(|p| pending.push(p));
        all[0..2].iter().for_each(|p| pending.push(p));
        let (together, appends) = pending.take().unwrap();
        assert_eq!(together.len(), all.len(), "all new, taken together");
        assert_eq!(appends, all.len() as u64 + 2, "each append counted once");
        assert!(pending.take().is_none() && pending.dirty.is_empty());
        assert!(flush_new_partitions(&together).unwrap());
        assert_eq!(high_watermarks(&partitions), vec![1; PARTITIONS as usize]);
        for (p, partition) in all.iter().enumerate() {
            assert!(!partition.has_new_dir());
            let file = dir.path().join(format!("t-{p}")).join(PARTITION_METADATA);
            assert!(std::fs::read_to_string(file).unwrap().starts_with("version: 0"));
            let epochs = LeaderEpochCheckpointFile::new(&dir.path().join(format!("t-{p}")));
            assert_eq!(
                epochs.read().unwrap(),
                [EpochEntry {
                    epoch: 0,
                    start_offset: 0
                }]
            );
        }

        // No longer new: one at a time.
        for partition in &all {
            partition.append(batch.as_bytes().clone()).unwrap();
        }
        let mut pending = Pending::default();
        all.iter().for_each(|p| pending.push(p));
        assert_eq!(
            pending.take().map(|(batch, appends)| (batch.len(), appends)),
            Some((1, 1))
        );
    }
}
