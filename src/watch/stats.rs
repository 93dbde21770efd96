//! The catalog's figures for `/metrics`, updated by the engine as it works.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics::{Exposition, Source};

/// Counters and gauges of one catalog; the engine writes, `/metrics` reads.
#[derive(Debug, Default)]
pub struct Stats {
    pub(super) offered: AtomicU64,
    pub(super) offered_bytes: AtomicU64,
    pub(super) seen: AtomicU64,
    pub(super) backlog: AtomicU64,
    pub(super) hashed: AtomicU64,
    pub(super) hashed_bytes: AtomicU64,
    pub(super) rescans: AtomicU64,
    pub(super) events: AtomicU64,
    pub(super) watched_dirs: AtomicU64,
    pub(super) version: AtomicU64,
    /// Rescans stand in for events (polling, or the watch limit was reached).
    pub(super) fallback: std::sync::atomic::AtomicBool,
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

pub(super) fn set(a: &AtomicU64, v: u64) {
    a.store(v, Ordering::Relaxed);
}

pub(super) fn add(a: &AtomicU64, v: u64) {
    a.fetch_add(v, Ordering::Relaxed);
}

impl Stats {
    /// Files hashed (read in full) since start; cache hits do not count.
    pub fn hashed(&self) -> u64 {
        get(&self.hashed)
    }

    /// File-system events handled since start.
    pub fn events(&self) -> u64 {
        get(&self.events)
    }

    /// Full walks of the roots since the initial scan.
    pub fn rescans(&self) -> u64 {
        get(&self.rescans)
    }
}

impl Source for Stats {
    fn render(&self, out: &mut Exposition) {
        let gauges: [(&str, &str, &AtomicU64); 6] = [
            ("peerbox_catalog_files", "Files offered (settled and hashed).", &self.offered),
            ("peerbox_catalog_bytes", "Bytes in the files offered.", &self.offered_bytes),
            (
                "peerbox_catalog_files_seen",
                "Files found in the shared folders; the first hashing is done when it equals peerbox_catalog_files.",
                &self.seen,
            ),
            ("peerbox_catalog_hash_backlog", "Files waiting to settle or to be hashed.", &self.backlog),
            ("peerbox_catalog_watched_dirs", "Directories with an inotify watch.", &self.watched_dirs),
            ("peerbox_catalog_version", "Version of the catalog offered now.", &self.version),
        ];
        for (name, help, v) in gauges {
            out.gauge(name, help, get(v) as f64);
        }
        let counters: [(&str, &str, &AtomicU64); 4] = [
            (
                "peerbox_catalog_hashed_total",
                "Files hashed (read in full); hash-cache hits do not count.",
                &self.hashed,
            ),
            ("peerbox_catalog_hashed_bytes_total", "Bytes read to hash files.", &self.hashed_bytes),
            (
                "peerbox_catalog_rescans_total",
                "Full walks of the shared folders after the initial scan (periodic or after lost events).",
                &self.rescans,
            ),
            ("peerbox_catalog_events_total", "File-system events handled.", &self.events),
        ];
        for (name, help, v) in counters {
            out.counter(name, help, get(v));
        }
    }
}
