//! The watched share directory: a live, hashed catalog.
//!
//! An initial scan plus inotify events (coalesced over `watch.debounce_ms`) keep a map of files
//! per root. A file is offered once it has *settled* (size and mtime unchanged for
//! `watch.settle_ms`) and been hashed with BLAKE3, which browsers can verify incrementally with a
//! small WASM hasher even on plain http. Hashing runs on blocking threads with bounded
//! concurrency and never holds up the catalog; hashes are cached in the state directory so a
//! restart reads no unchanged file.
//!
//! Idle means idle: the watcher asks the kernel only for changes (never for opens or reads, so
//! the daemon's own walks, hashing and downloads raise no events), and the engine sleeps until an
//! event, a settle deadline or the configured rescan. Work per event is proportional to what
//! changed: the offered files are a persistent map ([`Files`]) that a change updates in place
//! and every [`Snapshot`] shares, so subscribers (one per connected page) hold the catalog
//! without copying it and find what changed between two snapshots with [`Files::diff`], which
//! skips the parts both share.
//!
//! Several roots can be merged into one catalog, each under a display prefix: the share
//! directory at the top, and the incoming directory under `incoming/` (the drop box).

mod cache;
mod config;
mod engine;
mod entry;
mod files;
pub mod hash;
mod hashing;
mod ignore;
mod inotify;
pub mod pieces;
mod scan;
mod stats;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use config::WatchConfig;
pub use entry::{entry_id, Entry, FileId};
pub use ignore::Ignore;
pub use pieces::{Digest, Pieces};
pub use scan::Stat;
pub use stats::Stats;

/// The offered files by id, shared between snapshots (cloning is O(1)).
pub type Files = imbl::OrdMap<FileId, Arc<Entry>>;

/// A directory to offer, shown under `prefix` ("" for the top level).
#[derive(Debug, Clone)]
pub struct Root {
    pub dir: PathBuf,
    pub prefix: String,
}

/// Files found on disk against files offered: while `offered < seen`, hashing is under way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub seen: u64,
    pub offered: u64,
}

/// The offered files at one moment; `version` grows with every change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub version: u64,
    pub entries: Files,
    pub progress: Progress,
}

impl Snapshot {
    /// A snapshot of the given entries (tests and tools; the engine builds its own).
    pub fn of(version: u64, entries: impl IntoIterator<Item = Entry>) -> Snapshot {
        let entries: Files = entries.into_iter().map(|e| (e.id, Arc::new(e))).collect();
        let n = entries.len() as u64;
        Snapshot {
            version,
            entries,
            progress: Progress {
                seen: n,
                offered: n,
            },
        }
    }

    /// The entry with the id in its wire form (32 hex digits).
    pub fn get(&self, id: &str) -> Option<&Arc<Entry>> {
        self.entries.get(&FileId::parse(id)?)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot read root {path}: {source}")]
    Root {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid watch configuration: {0}")]
    Config(String),
}

/// Handle to the running catalog; cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    rx: watch::Receiver<Arc<Snapshot>>,
    stats: Arc<Stats>,
}

impl Catalog {
    /// Scans every root, starts watching, and returns once the initial scan is in memory
    /// (hashing of new files continues in the background).
    pub async fn start(
        config: WatchConfig,
        roots: Vec<Root>,
        state_dir: &Path,
        shutdown: CancellationToken,
    ) -> Result<Catalog, WatchError> {
        let stats = Arc::new(Stats::default());
        let rx = engine::start(config, roots, state_dir, shutdown, stats.clone()).await?;
        Ok(Catalog { rx, stats })
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.rx.clone()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.rx.borrow().clone()
    }

    /// The entry for an id (32 hex digits), if it is offered now.
    pub fn resolve(&self, id: &str) -> Option<Arc<Entry>> {
        self.rx.borrow().get(id).cloned()
    }

    /// Files hashed (read in full) since start; cache hits do not count.
    pub fn hashes_computed(&self) -> u64 {
        self.stats.hashed()
    }

    /// The catalog's figures for `/metrics`.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }
}
