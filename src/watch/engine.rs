//! The catalog's event loop: file-system events, settle timers, background hashing, publishing.
//!
//! All state lives in one task; disk work (stat, walks, hashing, cache writes) runs on blocking
//! threads and reports back, so the loop never waits on the disk.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use notify::RecursiveMode;
use notify_debouncer_mini::{new_debouncer_opt, Config as DebounceConfig, DebounceEventResult};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::cache::HashCache;
use super::ignore::Ignore;
use super::scan::{self, Probe, RootDir, Stat};
use super::{entry_id, Entry, Root, Snapshot, WatchConfig, WatchError};

/// The hash cache is written at most this often while files keep changing.
const CACHE_SAVE_EVERY: Duration = Duration::from_secs(2);

struct FileState {
    real: PathBuf,
    stat: Stat,
    changed_at: Instant,
    hash: Option<String>,
    hashing: bool,
}

enum Msg {
    Paths(usize, Vec<PathBuf>),
    WatchLimit(usize),
    WatchError(usize, String),
}

/// One file's hash result: root index, relative path, the stat it was hashed at, the outcome.
type Hashed = (usize, String, Stat, std::io::Result<Option<String>>);
/// Small files are hashed in batches so ten thousand of them cost few thread hand-offs.
const BATCH_FILES: usize = 256;
const BATCH_BYTES: u64 = 32 << 20;

struct Engine {
    config: WatchConfig,
    roots: Vec<(Root, RootDir)>,
    ignore: Ignore,
    files: Vec<HashMap<String, FileState>>,
    cache: Option<HashCache>,
    in_flight: usize,
    /// Something changed since the last published snapshot.
    dirty: bool,
    fallback: bool,
    last_rescan: Instant,
    last_cache_save: Instant,
    tx: watch::Sender<Arc<Snapshot>>,
    hashed: Arc<AtomicU64>,
    hash_tx: mpsc::UnboundedSender<Vec<Hashed>>,
}

pub(super) async fn start(
    config: WatchConfig,
    roots: Vec<Root>,
    state_dir: &Path,
    shutdown: CancellationToken,
    hashed: Arc<AtomicU64>,
) -> Result<watch::Receiver<Arc<Snapshot>>, WatchError> {
    let ignore = Ignore::new(&config.ignore).map_err(WatchError::Config)?;
    let mut resolved = Vec::new();
    for root in roots {
        let canon = std::fs::canonicalize(&root.dir).map_err(|source| WatchError::Root {
            path: root.dir.clone(),
            source,
        })?;
        let dir = RootDir {
            dir: root.dir.clone(),
            canon,
        };
        resolved.push((root, dir));
    }
    let state_dir = state_dir.to_owned();
    let (cache, initial) = {
        let roots: Vec<RootDir> = resolved.iter().map(|(_, d)| d.clone()).collect();
        let (ig, limit) = (ignore.clone(), config.max_files);
        tokio::task::spawn_blocking(move || {
            let cache = HashCache::load(&state_dir);
            let found: Vec<_> = roots
                .iter()
                .map(|r| scan::walk(r, &r.dir, &ig, limit))
                .collect();
            (cache, found)
        })
        .await
        .expect("initial scan task")
    };
    let (tx, rx) = watch::channel(Arc::new(Snapshot::default()));
    let (hash_tx, hash_rx) = mpsc::unbounded_channel();
    let mut engine = Engine {
        files: (0..resolved.len()).map(|_| HashMap::new()).collect(),
        config,
        roots: resolved,
        ignore,
        cache: Some(cache),
        in_flight: 0,
        dirty: true,
        fallback: false,
        last_rescan: Instant::now(),
        last_cache_save: Instant::now(),
        tx,
        hashed,
        hash_tx,
    };
    for (idx, found) in initial.into_iter().enumerate() {
        for (rel, real, stat) in found {
            engine.upsert(idx, rel, real, stat, true);
        }
    }
    engine.schedule();
    engine.publish();
    let (msg_tx, msg_rx) = mpsc::unbounded_channel();
    let watchers = engine.watch_roots(msg_tx);
    tokio::spawn(engine.run(shutdown, msg_rx, hash_rx, watchers));
    Ok(rx)
}

impl Engine {
    /// Starts one debounced watcher per root; `None` where watching failed (rescans cover it).
    fn watch_roots(
        &mut self,
        tx: mpsc::UnboundedSender<Msg>,
    ) -> Vec<Box<dyn std::any::Any + Send>> {
        let mut keep: Vec<Box<dyn std::any::Any + Send>> = Vec::new();
        let dirs: Vec<PathBuf> = self.roots.iter().map(|(_, d)| d.dir.clone()).collect();
        for (idx, dir) in dirs.iter().enumerate() {
            let tx = tx.clone();
            let handler = move |res: DebounceEventResult| {
                let _ = tx.send(match res {
                    Ok(events) => Msg::Paths(idx, events.into_iter().map(|e| e.path).collect()),
                    Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => {
                        Msg::WatchLimit(idx)
                    }
                    Err(e) => Msg::WatchError(idx, e.to_string()),
                });
            };
            let debounce = DebounceConfig::default()
                .with_timeout(Duration::from_millis(self.config.debounce_ms))
                .with_notify_config(
                    notify::Config::default()
                        .with_poll_interval(Duration::from_secs(self.config.poll_interval_secs)),
                );
            let result = if self.config.poll {
                new_debouncer_opt::<_, notify::PollWatcher>(debounce, handler).and_then(|mut d| {
                    d.watcher().watch(dir, RecursiveMode::Recursive)?;
                    Ok(Box::new(d) as Box<dyn std::any::Any + Send>)
                })
            } else {
                new_debouncer_opt::<_, notify::RecommendedWatcher>(debounce, handler).and_then(
                    |mut d| {
                        d.watcher().watch(dir, RecursiveMode::Recursive)?;
                        Ok(Box::new(d) as Box<dyn std::any::Any + Send>)
                    },
                )
            };
            match result {
                Ok(w) => keep.push(w),
                Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => {
                    self.enter_fallback(idx)
                }
                Err(e) => {
                    tracing::warn!(root = %dir.display(), error = %e,
                        "cannot watch for changes; relying on periodic rescans");
                    self.fallback = true;
                }
            }
        }
        keep
    }

    fn enter_fallback(&mut self, idx: usize) {
        if !self.fallback {
            tracing::warn!(
                root = %self.roots[idx].1.dir.display(),
                rescan_secs = self.config.poll_interval_secs,
                "inotify watch limit reached (raise fs.inotify.max_user_watches); \
                 falling back to periodic rescans"
            );
        }
        self.fallback = true;
    }

    async fn run(
        mut self,
        shutdown: CancellationToken,
        mut msgs: mpsc::UnboundedReceiver<Msg>,
        mut hashes: mpsc::UnboundedReceiver<Vec<Hashed>>,
        _watchers: Vec<Box<dyn std::any::Any + Send>>,
    ) {
        let tick_ms = (self.config.settle_ms / 4).clamp(50, 250);
        let mut tick = tokio::time::interval(Duration::from_millis(tick_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(msg) = msgs.recv() => match msg {
                    Msg::Paths(idx, paths) => self.on_paths(idx, paths).await,
                    Msg::WatchLimit(idx) => self.enter_fallback(idx),
                    Msg::WatchError(idx, e) => tracing::warn!(
                        root = %self.roots[idx].1.dir.display(), error = %e, "watch error"),
                },
                Some(done) = hashes.recv() => {
                    self.in_flight -= 1;
                    for one in done {
                        self.on_hashed(one);
                    }
                    self.schedule();
                }
                _ = tick.tick() => {
                    let every = if self.fallback {
                        Some(self.config.poll_interval_secs)
                    } else {
                        Some(self.config.rescan_secs).filter(|s| *s > 0)
                    };
                    if every.is_some_and(|s| self.last_rescan.elapsed() >= Duration::from_secs(s)) {
                        self.rescan().await;
                    }
                    self.schedule();
                    self.publish();
                    if self.last_cache_save.elapsed() >= CACHE_SAVE_EVERY {
                        self.save_cache().await;
                    }
                }
            }
        }
        self.save_cache().await;
    }

    /// Re-reads what events named: a file is updated, a folder rescanned, a gone path removed.
    async fn on_paths(&mut self, idx: usize, mut paths: Vec<PathBuf>) {
        paths.sort();
        paths.dedup();
        let root = self.roots[idx].1.clone();
        let (ig, limit) = (self.ignore.clone(), self.config.max_files);
        let probes = tokio::task::spawn_blocking(move || {
            paths
                .into_iter()
                .map(|p| {
                    let rel = p
                        .strip_prefix(&root.dir)
                        .ok()
                        .and_then(|r| r.to_str())
                        .map(str::to_owned);
                    let probe = scan::probe(&root, &p, &ig);
                    let below =
                        matches!(probe, Probe::Dir).then(|| scan::walk(&root, &p, &ig, limit));
                    (rel, probe, below)
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for (rel, probe, below) in probes {
            let Some(rel) = rel else { continue };
            match probe {
                Probe::File(rel, real, stat) => self.upsert(idx, rel, real, stat, false),
                Probe::Dir => self.reconcile(idx, &rel, below.unwrap_or_default()),
                Probe::Nothing => self.remove_under(idx, &rel),
            }
        }
        self.schedule();
        self.publish();
    }

    /// Full walk of every root: catches anything events missed.
    async fn rescan(&mut self) {
        self.last_rescan = Instant::now();
        let roots: Vec<RootDir> = self.roots.iter().map(|(_, d)| d.clone()).collect();
        let (ig, limit) = (self.ignore.clone(), self.config.max_files);
        let found = tokio::task::spawn_blocking(move || {
            roots
                .iter()
                .map(|r| scan::walk(r, &r.dir, &ig, limit))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for (idx, files) in found.into_iter().enumerate() {
            self.reconcile(idx, "", files);
        }
    }

    /// Makes the files under folder `rel` ("" = the root) exactly `found`.
    fn reconcile(&mut self, idx: usize, rel: &str, found: Vec<(String, PathBuf, Stat)>) {
        let seen: HashSet<String> = found.iter().map(|(r, _, _)| r.clone()).collect();
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        self.files[idx].retain(|r, _| !r.starts_with(&prefix) || seen.contains(r));
        self.dirty = true;
        for (r, real, stat) in found {
            self.upsert(idx, r, real, stat, false);
        }
    }

    fn remove_under(&mut self, idx: usize, rel: &str) {
        let prefix = format!("{rel}/");
        self.files[idx].retain(|r, _| r != rel && !r.starts_with(&prefix));
        self.dirty = true;
    }

    /// Records a file's current stat; a change restarts its settle timer and drops its hash.
    fn upsert(&mut self, idx: usize, rel: String, real: PathBuf, stat: Stat, initial: bool) {
        if let Some(f) = self.files[idx].get_mut(&rel) {
            if f.stat == stat {
                f.real = real;
                return;
            }
        }
        let settle = Duration::from_millis(self.config.settle_ms);
        // At start-up a file whose mtime is already older than the settle time is settled.
        let age = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|now| now.saturating_sub(Duration::from_nanos(stat.mtime_ns)));
        let now = Instant::now();
        let changed_at = match age {
            Some(age) if initial && age >= settle => now.checked_sub(settle).unwrap_or(now),
            _ => now,
        };
        self.dirty = true;
        self.files[idx].insert(
            rel,
            FileState {
                real,
                stat,
                changed_at,
                hash: None,
                hashing: false,
            },
        );
    }

    /// Settled files without a hash take it from the cache or get queued for hashing, in
    /// batches, at most `hash_concurrency` batches at a time.
    fn schedule(&mut self) {
        let settle = Duration::from_millis(self.config.settle_ms);
        let mut batch: Vec<(usize, String, PathBuf, Stat)> = Vec::new();
        let mut batch_bytes = 0u64;
        'roots: for idx in 0..self.files.len() {
            let prefix = self.roots[idx].0.prefix.clone();
            for (rel, f) in self.files[idx].iter_mut() {
                if f.hash.is_some() || f.hashing || f.changed_at.elapsed() < settle {
                    continue;
                }
                let key = display_path(&prefix, rel);
                if let Some(h) = self.cache.as_ref().and_then(|c| c.get(&key, &f.stat)) {
                    f.hash = Some(h.to_owned());
                    self.dirty = true;
                    continue;
                }
                if self.in_flight >= self.config.hash_concurrency {
                    break 'roots;
                }
                f.hashing = true;
                batch_bytes += f.stat.size;
                batch.push((idx, rel.clone(), f.real.clone(), f.stat));
                if batch.len() >= BATCH_FILES || batch_bytes >= BATCH_BYTES {
                    self.in_flight += 1;
                    spawn_hash_batch(std::mem::take(&mut batch), self.hash_tx.clone());
                    batch_bytes = 0;
                }
            }
        }
        if !batch.is_empty() {
            self.in_flight += 1;
            spawn_hash_batch(batch, self.hash_tx.clone());
        }
    }

    fn on_hashed(&mut self, (idx, rel, stat, res): Hashed) {
        let prefix = self.roots[idx].0.prefix.clone();
        let Some(f) = self.files[idx].get_mut(&rel) else {
            return;
        };
        f.hashing = false;
        match res {
            Ok(Some(hash)) if f.stat == stat => {
                self.hashed.fetch_add(1, Ordering::Relaxed);
                if let Some(c) = self.cache.as_mut() {
                    c.put(&display_path(&prefix, &rel), &stat, hash.clone());
                }
                f.hash = Some(hash);
                self.dirty = true;
            }
            // Changed while being read: it will settle again and be hashed again.
            Ok(_) => f.changed_at = Instant::now(),
            Err(e) => {
                tracing::warn!(path = %f.real.display(), error = %e, "cannot hash; retrying later");
                f.changed_at = Instant::now();
            }
        }
    }

    /// Sends a new snapshot when the set of offered files changed.
    fn publish(&mut self) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let mut entries = BTreeMap::new();
        for (idx, files) in self.files.iter().enumerate() {
            let prefix = &self.roots[idx].0.prefix;
            for (rel, f) in files {
                let Some(hash) = &f.hash else { continue };
                let path = display_path(prefix, rel);
                let id = entry_id(&path);
                let mime = mime_guess::from_path(rel)
                    .first_or_octet_stream()
                    .essence_str()
                    .to_owned();
                entries.insert(
                    id.clone(),
                    Entry {
                        id,
                        path,
                        size: f.stat.size,
                        mtime_ms: f.stat.mtime_ns / 1_000_000,
                        mime,
                        hash: hash.clone(),
                        real: f.real.clone(),
                        stat: f.stat,
                    },
                );
            }
        }
        self.tx.send_if_modified(|cur| {
            if cur.entries == entries {
                return false;
            }
            *cur = Arc::new(Snapshot {
                version: cur.version + 1,
                entries,
            });
            true
        });
    }

    async fn save_cache(&mut self) {
        self.last_cache_save = Instant::now();
        if !self.cache.as_ref().is_some_and(HashCache::is_dirty) {
            return;
        }
        let Some(mut cache) = self.cache.take() else {
            return;
        };
        let live: HashSet<(String, u64, u64, u64)> = self
            .files
            .iter()
            .enumerate()
            .flat_map(|(idx, files)| {
                let prefix = self.roots[idx].0.prefix.clone();
                files
                    .iter()
                    .filter(|(_, f)| f.hash.is_some())
                    .map(move |(rel, f)| {
                        (
                            display_path(&prefix, rel),
                            f.stat.size,
                            f.stat.mtime_ns,
                            f.stat.ino,
                        )
                    })
            })
            .collect();
        let cache = tokio::task::spawn_blocking(move || {
            if let Err(e) = cache.save(|p, s, m, i| live.contains(&(p.to_owned(), s, m, i))) {
                tracing::warn!(error = %e, "cannot write the hash cache");
            }
            cache
        })
        .await;
        self.cache = cache.ok();
    }
}

fn spawn_hash_batch(
    batch: Vec<(usize, String, PathBuf, Stat)>,
    tx: mpsc::UnboundedSender<Vec<Hashed>>,
) {
    tokio::task::spawn_blocking(move || {
        let done = batch
            .into_iter()
            .map(|(idx, rel, real, stat)| (idx, rel, stat, hash_file(&real, stat)))
            .collect();
        let _ = tx.send(done);
    });
}

fn display_path(prefix: &str, rel: &str) -> String {
    if prefix.is_empty() {
        rel.to_owned()
    } else {
        format!("{prefix}/{rel}")
    }
}

/// BLAKE3 of a file, or `None` when it changed while being read.
fn hash_file(real: &Path, expect: Stat) -> std::io::Result<Option<String>> {
    let file = std::fs::File::open(real)?;
    if Stat::of(&file.metadata()?) != expect {
        return Ok(None);
    }
    let hash = match super::hash::hash_file(&file, expect.size) {
        Ok(h) => h,
        // Truncated while being read: it will settle again and be hashed again.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    };
    if Stat::of(&std::fs::metadata(real)?) != expect {
        return Ok(None);
    }
    Ok(Some(hash.to_hex().to_string()))
}
