//! The catalog's event loop: file-system events, settle timers, background hashing, publishing.
//!
//! All state lives in one task; disk work (stat, walks, hashing, cache writes) runs on blocking
//! threads and reports back, so the loop never waits on the disk. The loop sleeps until
//! something is due (an event, a settle deadline, a debounce window, a publish, a cache save,
//! the configured rescan): a settled catalog costs no CPU.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use inotify::{EventOwned, EventStream};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::cache;
use super::files::{FileMap, Origin, RootInfo};
use super::hashing::{HashPool, Hashed};
use super::ignore::Ignore;
use super::inotify::{Change, Watcher};
use super::scan::{Found, Probe, RootDir, Walker};
use super::stats::{self, Stats};
use super::{Root, Snapshot, WatchConfig, WatchError};

/// Changes are published at most this often (a burst of hashed files is one new version).
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// The hash cache is written this long after the catalog last changed...
const SAVE_AFTER: Duration = Duration::from_secs(2);
/// ...and at most this often while a hashing backlog is being worked off.
const SAVE_WHILE_HASHING: Duration = Duration::from_secs(30);
/// Files handed to the hashing threads ahead of time, per thread: enough that the threads never
/// wait for this task to be scheduled on a busy machine (a few hundred KB of paths).
const AHEAD: usize = 2048;
/// Events whose watch is not known yet are kept up to this many (then a rescan covers them).
const MAX_ORPHANS: usize = 10_000;

/// What the blocking threads report back.
enum Done {
    Probed(Vec<(usize, String, Probe, Vec<Found>)>),
    Rescanned(Vec<Vec<Found>>),
    Saved,
}

struct Engine {
    config: WatchConfig,
    walker: Walker,
    state_dir: PathBuf,
    map: FileMap,
    /// Paths events named, waiting for the debounce window to close.
    pending: BTreeSet<(usize, String)>,
    pending_since: Option<Instant>,
    orphans: Vec<EventOwned>,
    /// A walk (probe or rescan) is running; the next one waits for it.
    walking: bool,
    pool: HashPool,
    saving: bool,
    rescan_at: Option<Instant>,
    publish_at: Option<Instant>,
    save_at: Option<Instant>,
    version: u64,
    tx: watch::Sender<Arc<Snapshot>>,
    done_tx: mpsc::UnboundedSender<Done>,
    stats: Arc<Stats>,
}

pub(super) async fn start(
    config: WatchConfig,
    roots: Vec<Root>,
    state_dir: &Path,
    shutdown: CancellationToken,
    stats: Arc<Stats>,
) -> Result<watch::Receiver<Arc<Snapshot>>, WatchError> {
    let ignore = Ignore::new(&config.ignore).map_err(WatchError::Config)?;
    let mut dirs = Vec::new();
    let mut infos = Vec::new();
    for root in roots {
        // Absolute paths: events name directories by the path they were watched under.
        let dir = std::path::absolute(&root.dir).unwrap_or_else(|_| root.dir.clone());
        let canon = std::fs::canonicalize(&dir).map_err(|source| WatchError::Root {
            path: root.dir.clone(),
            source,
        })?;
        let prefix = match root.prefix.trim_matches('/') {
            "" => String::new(),
            p => format!("{p}/"),
        };
        infos.push(RootInfo {
            dir: dir.as_path().into(),
            prefix,
        });
        dirs.push(RootDir { dir, canon });
    }
    let (watcher, stream) = match config.poll {
        true => (None, None),
        false => match Watcher::new() {
            Ok((w, s)) => (Some(w), Some(s)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch for changes; relying on periodic rescans");
                (None, None)
            }
        },
    };
    let walker = Walker {
        dirs,
        ignore,
        limit: config.max_files,
        watcher,
    };
    let state = state_dir.to_owned();
    let prefixes: Vec<String> = infos.iter().map(|r| r.prefix.clone()).collect();
    let initial = {
        let walker = walker.clone();
        tokio::task::spawn_blocking(move || initial_scan(&walker, &state, &prefixes))
            .await
            .expect("initial scan task")
    };
    let settle = Duration::from_millis(config.settle_ms);
    let mut map = FileMap::new(infos, settle, config.max_files);
    for (idx, found) in initial.into_iter().enumerate() {
        for (f, cached) in found {
            map.upsert(idx, f, Origin::Start(cached));
        }
    }
    let (tx, rx) = watch::channel(Arc::new(Snapshot::default()));
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let (hash_tx, hash_rx) = mpsc::unbounded_channel();
    let pool = HashPool::new(config.hash_concurrency, hash_tx);
    let mut engine = Engine {
        config,
        walker,
        state_dir: state_dir.to_owned(),
        map,
        pending: BTreeSet::new(),
        pending_since: None,
        orphans: Vec::new(),
        walking: false,
        pool,
        saving: false,
        rescan_at: None,
        publish_at: None,
        save_at: None,
        version: 0,
        tx,
        done_tx,
        stats,
    };
    engine.plan_rescan();
    engine.step(Instant::now());
    engine.publish();
    tokio::spawn(engine.run(shutdown, stream, done_rx, hash_rx));
    Ok(rx)
}

/// Walks every root and looks each file up in the hash cache (blocking). The cache is read and
/// dropped here, so it never stays in memory beside the catalog.
fn initial_scan(
    walker: &Walker,
    state_dir: &Path,
    prefixes: &[String],
) -> Vec<Vec<(Found, Option<super::Digest>)>> {
    let bytes = cache::read(state_dir);
    let cache = cache::parse(&bytes);
    let mut key = String::new();
    walker
        .all()
        .into_iter()
        .zip(prefixes)
        .map(|(files, prefix)| {
            files
                .into_iter()
                .map(|f| {
                    key.clear();
                    key.push_str(prefix);
                    key.push_str(&f.rel);
                    let cached = cache.get(&key, &f.stat);
                    (f, cached)
                })
                .collect()
        })
        .collect()
}

async fn next_event(
    stream: &mut Option<EventStream<Vec<u8>>>,
) -> Option<std::io::Result<EventOwned>> {
    match stream {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

impl Engine {
    async fn run(
        mut self,
        shutdown: CancellationToken,
        mut stream: Option<EventStream<Vec<u8>>>,
        mut done: mpsc::UnboundedReceiver<Done>,
        mut hashed: mpsc::UnboundedReceiver<Vec<Hashed>>,
    ) {
        loop {
            let wake = self.next_wake();
            tokio::select! {
                () = shutdown.cancelled() => break,
                ev = next_event(&mut stream) => match ev {
                    Some(Ok(ev)) => self.on_event(ev),
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "reading file-system events failed; relying on rescans");
                        stream = None;
                        self.walker.watcher = None;
                        self.plan_rescan();
                    }
                    None => stream = None,
                },
                Some(d) = done.recv() => self.on_done(d),
                Some(h) = hashed.recv() => self.on_hashed(h),
                () = sleep_until(wake) => {}
            }
            self.step(Instant::now());
        }
        if self.map.unsaved {
            let (dir, files) = (self.state_dir.clone(), self.map.entries.clone());
            let _ = tokio::task::spawn_blocking(move || save(&dir, &files)).await;
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let debounce = self
            .pending_since
            .filter(|_| !self.walking)
            .map(|t| t + Duration::from_millis(self.config.debounce_ms));
        let rescan = self.rescan_at.filter(|_| !self.walking);
        let save = self.save_at.filter(|_| !self.saving);
        [
            debounce,
            rescan,
            save,
            self.publish_at,
            self.map.next_settle(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn on_event(&mut self, ev: EventOwned) {
        stats::add(&self.stats.events, 1);
        let Some(w) = &self.walker.watcher else {
            return;
        };
        match w.change(&ev) {
            Change::Path(idx, rel) => {
                if !self.walker.ignore.path(&rel) {
                    self.pending.insert((idx, rel));
                    self.pending_since.get_or_insert_with(Instant::now);
                }
            }
            Change::Rescan => self.rescan_at = Some(Instant::now()),
            Change::Unknown if self.orphans.len() < MAX_ORPHANS => self.orphans.push(ev),
            Change::Unknown => self.rescan_at = Some(Instant::now()),
            Change::Nothing => {}
        }
    }

    fn on_hashed(&mut self, results: Vec<Hashed>) {
        for (key, stat, res) in results {
            if let Ok(Some(_)) = res {
                stats::add(&self.stats.hashed, 1);
                stats::add(&self.stats.hashed_bytes, stat.size);
            }
            self.map.hashed(&key, stat, res);
        }
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Probed(results) => {
                self.walking = false;
                for (idx, rel, probe, below) in results {
                    match probe {
                        Probe::File(found) => self.map.upsert(idx, found, Origin::Seen),
                        Probe::Dir => self.map.reconcile(idx, &rel, below),
                        Probe::Nothing => {
                            self.map.remove_under(idx, &rel);
                            if let Some(w) = &self.walker.watcher {
                                w.forget_under(idx, &rel);
                            }
                        }
                    }
                }
                self.replay_orphans();
            }
            Done::Rescanned(found) => {
                self.walking = false;
                stats::add(&self.stats.rescans, 1);
                for (idx, files) in found.into_iter().enumerate() {
                    self.map.reconcile(idx, "", files);
                }
                self.plan_rescan();
                self.replay_orphans();
            }
            Done::Saved => self.saving = false,
        }
    }

    /// Events that arrived before their watch was known: the walk that added it is done now.
    fn replay_orphans(&mut self) {
        for ev in std::mem::take(&mut self.orphans) {
            if let Some(w) = &self.walker.watcher {
                if let Change::Path(idx, rel) = w.change(&ev) {
                    if !self.walker.ignore.path(&rel) {
                        self.pending.insert((idx, rel));
                        self.pending_since.get_or_insert_with(Instant::now);
                    }
                }
            }
        }
    }

    /// The next periodic rescan: `rescan_secs` while events work, `poll_interval_secs` when
    /// polling or when the inotify watch limit was reached.
    fn plan_rescan(&mut self) {
        let exhausted = self.walker.watcher.as_ref().is_some_and(Watcher::exhausted);
        if exhausted
            && !self
                .stats
                .fallback
                .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!(
                rescan_secs = self.config.poll_interval_secs,
                "inotify watch limit reached (raise fs.inotify.max_user_watches); \
                 falling back to periodic rescans"
            );
        }
        let secs = if self.walker.watcher.is_none() || exhausted {
            self.config.poll_interval_secs
        } else {
            self.config.rescan_secs
        };
        self.rescan_at = (secs > 0).then(|| Instant::now() + Duration::from_secs(secs));
    }

    /// Does whatever is due at `now`.
    fn step(&mut self, now: Instant) {
        self.map.settle_due(now);
        if !self.walking {
            if self.rescan_at.is_some_and(|t| t <= now) {
                self.rescan_at = None;
                self.start_rescan();
            } else if self
                .pending_since
                .is_some_and(|t| t + Duration::from_millis(self.config.debounce_ms) <= now)
            {
                self.start_probe();
            }
        }
        let ahead = AHEAD * self.config.hash_concurrency;
        let queued = self.pool.queued();
        if queued < ahead / 2 && self.map.has_queued() {
            self.pool.push(self.map.next_batch(ahead - queued));
        }
        if self.map.dirty {
            let at = *self.publish_at.get_or_insert(now + PUBLISH_EVERY);
            if at <= now {
                self.publish();
            }
        }
        if self.map.unsaved && !self.saving {
            let wait = if self.map.backlog() > 0 {
                SAVE_WHILE_HASHING
            } else {
                SAVE_AFTER
            };
            let at = *self.save_at.get_or_insert(now + wait);
            self.save_at = Some(at.min(now + wait));
            if at <= now {
                self.save_at = None;
                self.map.unsaved = false;
                self.saving = true;
                let (dir, files, tx) = (
                    self.state_dir.clone(),
                    self.map.entries.clone(),
                    self.done_tx.clone(),
                );
                tokio::task::spawn_blocking(move || {
                    save(&dir, &files);
                    let _ = tx.send(Done::Saved);
                });
            }
        }
        self.update_stats();
    }

    fn start_probe(&mut self) {
        self.pending_since = None;
        let paths = std::mem::take(&mut self.pending);
        if !paths.is_empty() {
            self.walk(move |w| {
                Done::Probed(
                    paths
                        .into_iter()
                        .map(|(idx, rel)| {
                            let (probe, below) = w.look(idx, &rel);
                            (idx, rel, probe, below)
                        })
                        .collect(),
                )
            });
        }
    }

    fn start_rescan(&mut self) {
        self.walk(|w| Done::Rescanned(w.all()));
    }

    /// Runs a walk on a blocking thread; the next one waits until it reported back.
    fn walk(&mut self, job: impl FnOnce(&Walker) -> Done + Send + 'static) {
        self.walking = true;
        let (walker, tx) = (self.walker.clone(), self.done_tx.clone());
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(job(&walker));
        });
    }

    /// Sends a new snapshot: the catalog map is shared, not copied.
    fn publish(&mut self) {
        self.publish_at = None;
        self.map.dirty = false;
        let progress = self.map.progress();
        let cur = self.tx.borrow().clone();
        if cur.entries.ptr_eq(&self.map.entries) && cur.progress == progress && self.version > 0 {
            return;
        }
        self.version += 1;
        self.tx.send_replace(Arc::new(Snapshot {
            version: self.version,
            entries: self.map.entries.clone(),
            progress,
        }));
    }

    fn update_stats(&self) {
        let s = &self.stats;
        let p = self.map.progress();
        stats::set(&s.offered, p.offered);
        stats::set(&s.seen, p.seen);
        stats::set(&s.backlog, self.map.backlog());
        stats::set(&s.offered_bytes, self.map.offered_bytes);
        stats::set(&s.version, self.version);
        let watched = self.walker.watcher.as_ref().map_or(0, Watcher::watched);
        stats::set(&s.watched_dirs, watched as u64);
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn save(dir: &Path, files: &super::Files) {
    if let Err(e) = cache::save(dir, files) {
        tracing::warn!(error = %e, "cannot write the hash cache");
    }
}
