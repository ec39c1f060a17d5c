//! Group commit: one thread fsyncs every partition with unflushed appends, then advances
//! their high watermarks.
//!
//! Appends mark their partition dirty and return at once; while the flusher is in an
//! fsync, further appends pile up and are made durable together by the next round, so
//! concurrent producers share fsyncs. After each round that moved a high watermark,
//! `data_version` changes, which wakes long-poll fetches.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use tokio::sync::watch;
use tracing::error;

use crate::partitions::Partition;

#[derive(Default)]
struct Pending {
    partitions: Vec<Arc<Partition>>,
    stop: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    data_version: watch::Sender<u64>,
}

pub struct Flusher {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Flusher {
    pub fn start() -> Flusher {
        let shared = Arc::new(Shared {
            pending: Mutex::default(),
            wake: Condvar::new(),
            data_version: watch::channel(0).0,
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("tidelog-flusher".into())
            .spawn(move || run(&worker))
            .expect("spawn the flusher thread");
        Flusher {
            shared,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Queues `partition` for the next fsync round.
    pub fn mark_dirty(&self, partition: &Arc<Partition>) {
        let mut pending = self.shared.pending.lock().unwrap_or_else(|e| e.into_inner());
        if !pending.partitions.iter().any(|p| Arc::ptr_eq(p, partition)) {
            pending.partitions.push(partition.clone());
        }
        self.shared.wake.notify_one();
    }

    /// Changes whenever some high watermark advanced.
    pub fn data_changes(&self) -> watch::Receiver<u64> {
        self.shared.data_version.subscribe()
    }

    /// Flushes what is pending and stops the thread.
    pub fn stop(&self) {
        self.shared.pending.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

fn run(shared: &Shared) {
    loop {
        let (round, stop) = {
            let mut pending = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
            while pending.partitions.is_empty() && !pending.stop {
                pending = shared.wake.wait(pending).unwrap_or_else(|e| e.into_inner());
            }
            (std::mem::take(&mut pending.partitions), pending.stop)
        };
        let mut advanced = false;
        for partition in &round {
            match partition.flush() {
                Ok(moved) => advanced |= moved,
                // The data stays unacknowledged; the next append to it retries the flush.
                Err(e) => error!(topic = partition.tp.topic(), partition = partition.tp.partition(), error = %e,
                    "flush failed"),
            }
        }
        if advanced {
            shared.data_version.send_modify(|v| *v = v.wrapping_add(1));
        }
        if stop
            && shared
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .partitions
                .is_empty()
        {
            return;
        }
    }
}
