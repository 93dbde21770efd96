//! Hashing files for the catalog: `watch.hash_concurrency` blocking threads take small batches
//! from one shared queue until it is empty, so the threads never wait for the engine to hand
//! them the next batch (the engine only keeps the queue topped up) and exit when idle.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::files::Job;
use super::pieces::Digest;
use super::scan::Stat;

/// A file's hash result: `None` when it changed while being read.
pub type Hashed = (Arc<str>, Stat, std::io::Result<Option<Digest>>);

/// Results are reported in batches of at most this many files or bytes.
const BATCH_FILES: usize = 64;
const BATCH_BYTES: u64 = 8 << 20;

#[derive(Default)]
struct Shared {
    queue: VecDeque<Job>,
    workers: usize,
}

#[derive(Clone)]
pub struct HashPool {
    shared: Arc<Mutex<Shared>>,
    threads: usize,
    tx: mpsc::UnboundedSender<Vec<Hashed>>,
}

impl HashPool {
    pub fn new(threads: usize, tx: mpsc::UnboundedSender<Vec<Hashed>>) -> Self {
        HashPool {
            shared: Arc::default(),
            threads: threads.max(1),
            tx,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Files waiting for a thread.
    pub fn queued(&self) -> usize {
        self.lock().queue.len()
    }

    /// Queues files and starts threads up to the limit.
    pub fn push(&self, jobs: impl IntoIterator<Item = Job>) {
        let mut s = self.lock();
        s.queue.extend(jobs);
        while s.workers < self.threads && !s.queue.is_empty() {
            s.workers += 1;
            let pool = self.clone();
            tokio::task::spawn_blocking(move || pool.work());
        }
    }

    fn work(&self) {
        loop {
            let batch = {
                let mut s = self.lock();
                if s.queue.is_empty() {
                    s.workers -= 1;
                    return;
                }
                let (mut batch, mut bytes) = (Vec::new(), 0);
                while batch.len() < BATCH_FILES && bytes < BATCH_BYTES {
                    let Some(job) = s.queue.pop_front() else {
                        break;
                    };
                    bytes += job.2.size;
                    batch.push(job);
                }
                batch
            };
            let done = batch
                .into_iter()
                .map(|(key, real, stat)| {
                    let res = hash_file(&real, stat);
                    (key, stat, res)
                })
                .collect();
            if self.tx.send(done).is_err() {
                let mut s = self.lock();
                s.queue.clear();
                s.workers -= 1;
                return;
            }
        }
    }
}

/// BLAKE3 of a file and its pieces, or `None` when it changed while being read.
fn hash_file(real: &Path, expect: Stat) -> std::io::Result<Option<Digest>> {
    let file = std::fs::File::open(real)?;
    if Stat::of(&file.metadata()?) != expect {
        return Ok(None);
    }
    let hash = match super::hash::digest_file(&file, expect.size) {
        Ok(h) => h,
        // Truncated while being read: it will settle again and be hashed again.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    };
    // Written to while being read? (The file's own inode: a rename over its path shows up as
    // an event, and the engine drops a result whose stat is no longer the file's.)
    if Stat::of(&file.metadata()?) != expect {
        return Ok(None);
    }
    Ok(Some(hash))
}
