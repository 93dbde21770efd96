//! Image thumbnails for the web client's file list, made lazily on the first request.
//!
//! A Pi must not pay much for them: only JPEGs are thumbnailed (what phones and cameras make),
//! from the EXIF thumbnail when there is one, else decoded at reduced scale ([`make`]); sources
//! over `thumbnails.max_source_bytes` or `max_pixels` are skipped; `concurrency` bounds the
//! work (on blocking threads, never on the transfer path) and a request waits at most
//! `timeout_ms`. Results, including "no thumbnail", are cached by content hash in
//! `<state_dir>/thumbs/` under `cache_max_bytes` ([`cache`]).

mod cache;
mod config;
pub mod make;

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Semaphore;

pub use cache::{Cache, Cached};
pub use config::ThumbsConfig;

use crate::watch::Entry;

/// The answer for one file.
#[derive(Debug)]
pub enum Outcome {
    Jpeg(Bytes),
    /// No thumbnail for this file (and none will come): not a JPEG, too large, undecodable.
    None(String),
    /// Not ready within `timeout_ms` (busy); it lands in the cache when done.
    Busy,
}

#[derive(Default)]
struct Counts {
    made: AtomicU64,
    hits: AtomicU64,
    skipped: AtomicU64,
    timeouts: AtomicU64,
}

pub struct Thumbs {
    cfg: ThumbsConfig,
    cache: Arc<Cache>,
    permits: Arc<Semaphore>,
    counts: Arc<Counts>,
}

impl Thumbs {
    pub fn new(cfg: ThumbsConfig, state_dir: &Path) -> Self {
        Self {
            cache: Arc::new(Cache::new(state_dir.join("thumbs"), cfg.cache_max_bytes)),
            permits: Arc::new(Semaphore::new(cfg.concurrency)),
            counts: Arc::default(),
            cfg,
        }
    }

    pub fn enabled(&self) -> bool {
        self.cfg.enabled
    }

    /// The thumbnail of a catalog entry (made now if it is not cached).
    pub async fn get(&self, entry: &Entry) -> Outcome {
        let c = &self.cfg;
        let skip = |why: String| {
            self.counts.skipped.fetch_add(1, Ordering::Relaxed);
            Outcome::None(why)
        };
        if !c.enabled {
            return skip("thumbnails are off".into());
        }
        if entry.mime != "image/jpeg" {
            return skip("only JPEG images get thumbnails".into());
        }
        if entry.size() > c.max_source_bytes {
            return skip("the image is too large for a thumbnail".into());
        }
        let key = format!("{}-{}", entry.hash, c.size);
        let cache = self.cache.clone();
        let k = key.clone();
        match tokio::task::spawn_blocking(move || cache.get(&k)).await {
            Ok(Ok(Some(hit))) => {
                self.counts.hits.fetch_add(1, Ordering::Relaxed);
                return outcome(hit);
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "thumbnail cache unreadable"),
            _ => {}
        }
        let work = {
            let permits = self.permits.clone();
            let cache = self.cache.clone();
            let counts = self.counts.clone();
            let entry = entry.clone();
            let limits = make::Limits {
                size: c.size,
                max_pixels: c.max_pixels,
                quality: c.quality,
            };
            async move {
                let permit = permits.acquire_owned().await.ok()?;
                let made = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    // Another request may have made it while this one waited.
                    if let Ok(Some(hit)) = cache.get(&key) {
                        return Some(hit);
                    }
                    let result = read_source(&entry).and_then(|bytes| {
                        make::thumbnail(&bytes, limits).map_err(|e| e.to_string())
                    });
                    counts.made.fetch_add(1, Ordering::Relaxed);
                    match result {
                        Ok(jpeg) => {
                            let _ = cache.put(&key, Some(&jpeg));
                            Some(Cached::Thumb(jpeg))
                        }
                        Err(why) => {
                            tracing::debug!(path = %entry.path, %why, "no thumbnail");
                            let _ = cache.put(&key, None);
                            Some(Cached::Nothing)
                        }
                    }
                });
                made.await.ok().flatten()
            }
        };
        // The work goes on when the request stops waiting: its result lands in the cache.
        let handle = tokio::spawn(work);
        match tokio::time::timeout(Duration::from_millis(c.timeout_ms), handle).await {
            Ok(Ok(Some(done))) => outcome(done),
            Ok(_) => Outcome::Busy,
            Err(_) => {
                self.counts.timeouts.fetch_add(1, Ordering::Relaxed);
                Outcome::Busy
            }
        }
    }
}

fn outcome(c: Cached) -> Outcome {
    match c {
        Cached::Thumb(jpeg) => Outcome::Jpeg(Bytes::from(jpeg)),
        Cached::Nothing => Outcome::None("this image has no thumbnail".into()),
    }
}

/// The source's bytes, if it is still the version the catalog hashed.
fn read_source(entry: &Entry) -> Result<Vec<u8>, String> {
    let mut file = std::fs::File::open(entry.real()).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !entry.still_matches(&meta) {
        return Err("changed since it was hashed".into());
    }
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    file.by_ref()
        .take(entry.size())
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

impl crate::metrics::Source for Thumbs {
    fn render(&self, out: &mut crate::metrics::Exposition) {
        let c = &self.counts;
        for (name, help, value) in [
            (
                "made",
                "Thumbnails made (or found impossible) from a source image.",
                &c.made,
            ),
            (
                "cache_hits",
                "Thumbnail requests answered from the cache.",
                &c.hits,
            ),
            (
                "skipped",
                "Thumbnail requests for files that get none (type, size, turned off).",
                &c.skipped,
            ),
            (
                "timeouts",
                "Thumbnail requests that stopped waiting (busy).",
                &c.timeouts,
            ),
        ] {
            let name = format!("peerbox_thumbnails_{name}_total");
            out.counter(&name, help, value.load(Ordering::Relaxed));
        }
        out.gauge(
            "peerbox_thumbnails_cache_bytes",
            "Bytes in the thumbnail cache.",
            self.cache.bytes() as f64,
        );
    }
}
