//! The watched share directory: a live, hashed catalog.
//!
//! An initial scan plus `notify` events (debounced) keep a map of files per root. A file is
//! offered once it has *settled* (size and mtime unchanged for `watch.settle_ms`) and been
//! hashed with BLAKE3, which browsers can verify incrementally with a small WASM hasher even on
//! plain http. Hashing runs on blocking threads with bounded concurrency and never holds up the
//! catalog; hashes are cached in the state directory so a restart reads no unchanged file.
//! Subscribers get every new [`Snapshot`] through a `tokio::sync::watch` channel.
//!
//! Several roots can be merged into one catalog, each under a display prefix: the share
//! directory at the top, and the incoming directory under `incoming/` (the drop box).

mod cache;
mod config;
mod engine;
pub mod hash;
mod ignore;
mod scan;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use config::WatchConfig;
pub use ignore::Ignore;
pub use scan::Stat;

/// A directory to offer, shown under `prefix` ("" for the top level).
#[derive(Debug, Clone)]
pub struct Root {
    pub dir: PathBuf,
    pub prefix: String,
}

/// One offered file, as sent to browsers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Stable for the same root prefix and relative path across restarts (BLAKE3 of both).
    pub id: String,
    /// '/'-separated, including the root's prefix; folders are implied by the separators.
    pub path: String,
    pub size: u64,
    pub mtime_ms: u64,
    pub mime: String,
    /// BLAKE3 of the content, 64 hex digits.
    pub hash: String,
    /// The real file to serve (a symlink's target); never sent.
    #[serde(skip)]
    pub real: PathBuf,
    #[serde(skip)]
    pub stat: Stat,
}

impl Entry {
    /// True when the file on disk is still the version that was hashed.
    pub fn still_matches(&self, meta: &std::fs::Metadata) -> bool {
        let now = Stat::of(meta);
        now.size == self.stat.size && now.mtime_ns == self.stat.mtime_ns && now.ino == self.stat.ino
    }
}

/// The offered files at one moment; `version` grows with every change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub version: u64,
    pub entries: BTreeMap<String, Entry>,
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
    hashed: Arc<AtomicU64>,
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
        let hashed = Arc::new(AtomicU64::new(0));
        let rx = engine::start(config, roots, state_dir, shutdown, hashed.clone()).await?;
        Ok(Catalog { rx, hashed })
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.rx.clone()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.rx.borrow().clone()
    }

    /// The entry and the real path to read for an id, if it is offered now.
    pub fn resolve(&self, id: &str) -> Option<Entry> {
        self.rx.borrow().entries.get(id).cloned()
    }

    /// Files hashed (read in full) since start; cache hits do not count.
    pub fn hashes_computed(&self) -> u64 {
        self.hashed.load(Ordering::Relaxed)
    }
}

/// The id of a path: derived from the path alone, so it is stable across restarts.
pub fn entry_id(display_path: &str) -> String {
    blake3::hash(display_path.as_bytes()).to_hex()[..32].to_owned()
}
