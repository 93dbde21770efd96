//! What the engine knows about each file on disk, and the offered catalog it keeps in step.
//!
//! Every operation costs in proportion to the files it touches: a change to one file updates
//! one record and at most one catalog entry; a folder's removal visits the records below it
//! (kept in path order, so they are one range); only a rescan visits everything.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::inotify::is_under;
use super::scan::{Found, Stat};
use super::{Digest, Entry, FileId, Files, Progress};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Changed recently; waits in `settling` until `settle_ms` passed.
    Settling,
    /// Settled; waits in `queue` for a hashing thread.
    Queued,
    Hashing,
    Offered,
    /// Could not be read; tried again when it changes or at the next rescan.
    Failed,
}

struct FileState {
    root: usize,
    stat: Stat,
    /// A symlink's real target; `None` for a plain file under its root.
    link: Option<Arc<Path>>,
    changed_at: Instant,
    phase: Phase,
}

/// One root as the engine uses it.
pub struct RootInfo {
    pub dir: Arc<Path>,
    /// Display prefix with its '/' ("" for the top level).
    pub prefix: String,
}

impl RootInfo {
    pub fn display(&self, rel: &str) -> String {
        format!("{}{rel}", self.prefix)
    }
}

/// How a file came to be looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The initial scan, with the hash cached for exactly this stat, if any.
    Start(Option<Digest>),
    /// An event or a rescan.
    Seen,
}

/// A file to hash: its display path, where to read it, the stat it must still have.
pub type Job = (Arc<str>, PathBuf, Stat);

pub struct FileMap {
    pub roots: Vec<RootInfo>,
    settle: Duration,
    max_files: usize,
    files: BTreeMap<Arc<str>, FileState>,
    /// Files waiting to settle, in the order they changed (so deadlines are in order too).
    settling: VecDeque<(Instant, Arc<str>)>,
    queue: VecDeque<Arc<str>>,
    pub entries: Files,
    pub offered_bytes: u64,
    /// The catalog changed since the last publish / the last cache save.
    pub dirty: bool,
    pub unsaved: bool,
    limit_warned: bool,
}

impl FileMap {
    pub fn new(roots: Vec<RootInfo>, settle: Duration, max_files: usize) -> Self {
        FileMap {
            roots,
            settle,
            max_files,
            files: BTreeMap::new(),
            settling: VecDeque::new(),
            queue: VecDeque::new(),
            entries: Files::new(),
            offered_bytes: 0,
            dirty: true,
            unsaved: false,
            limit_warned: false,
        }
    }

    pub fn progress(&self) -> Progress {
        Progress {
            seen: self.files.len() as u64,
            offered: self.entries.len() as u64,
        }
    }

    /// Files not offered yet (settling, queued or being hashed).
    pub fn backlog(&self) -> u64 {
        (self.files.len() - self.entries.len()) as u64
    }

    /// Records a file's current stat; a change restarts its settle timer and withdraws its
    /// offer until it is hashed again. At start-up a cached hash of the same stat is offered
    /// at once, and a file older than the settle time is settled already.
    pub fn upsert(&mut self, idx: usize, found: Found, origin: Origin) {
        let key = self.roots[idx].display(&found.rel);
        let now = Instant::now();
        let link = found.link.map(Arc::<Path>::from);
        if let Some(f) = self.files.get_mut(key.as_str()) {
            if f.stat == found.stat && f.root == idx {
                if f.link != link {
                    f.link = link;
                }
                return;
            }
        } else if self.files.len() >= self.max_files {
            if !self.limit_warned {
                tracing::warn!(
                    limit = self.max_files,
                    "watch.max_files reached; further files are not offered"
                );
                self.limit_warned = true;
            }
            return;
        }
        let key: Arc<str> = key.into();
        self.withdraw(&key);
        let mut state = FileState {
            root: idx,
            stat: found.stat,
            link,
            changed_at: now,
            phase: Phase::Settling,
        };
        if let Origin::Start(Some(hash)) = origin {
            state.phase = Phase::Offered;
            self.offer(&key, &state, hash);
        } else if matches!(origin, Origin::Start(_)) && age(&found.stat) >= self.settle {
            state.phase = Phase::Queued;
            self.queue.push_back(key.clone());
        } else {
            self.settling.push_back((now + self.settle, key.clone()));
        }
        self.files.insert(key, state);
        self.dirty = true;
    }

    fn offer(&mut self, key: &Arc<str>, f: &FileState, hash: Digest) {
        let root = &self.roots[f.root];
        let e = Entry::found(
            key.clone(),
            f.stat,
            hash,
            &root.dir,
            root.prefix.len(),
            f.link.as_ref(),
        );
        self.offered_bytes += f.stat.size;
        if let Some(old) = self.entries.insert(e.id, Arc::new(e)) {
            self.offered_bytes -= old.stat.size;
        }
        self.dirty = true;
        self.unsaved = true;
    }

    /// Takes a file out of the catalog (it changed or is gone).
    fn withdraw(&mut self, key: &str) {
        if let Some(old) = self.entries.remove(&FileId::of(key)) {
            self.offered_bytes -= old.stat.size;
            self.dirty = true;
            self.unsaved = true;
        }
    }

    fn remove(&mut self, key: &str) {
        if self.files.remove(key).is_some() {
            self.withdraw(key);
            self.dirty = true;
        }
    }

    /// Forgets every file at or below `rel` of root `idx` ("" = the whole root).
    pub fn remove_under(&mut self, idx: usize, rel: &str) {
        let gone = self.keys_under(idx, rel);
        for key in gone {
            self.remove(&key);
        }
    }

    fn keys_under(&self, idx: usize, rel: &str) -> Vec<Arc<str>> {
        let display = self.roots[idx].display(rel);
        let from = Bound::Included(display.as_str());
        self.files
            .range::<str, _>((from, Bound::Unbounded))
            .take_while(|(k, _)| rel.is_empty() || k.starts_with(display.as_str()))
            .filter(|(k, f)| f.root == idx && is_under(k, &display))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Makes the files under folder `rel` ("" = the root) exactly `found`; files that failed
    /// to hash are tried again.
    pub fn reconcile(&mut self, idx: usize, rel: &str, found: Vec<Found>) {
        let keep: HashSet<String> = found
            .iter()
            .map(|f| self.roots[idx].display(&f.rel))
            .collect();
        for key in self.keys_under(idx, rel) {
            if !keep.contains(&*key) {
                self.remove(&key);
            } else if let Some(f) = self.files.get_mut(&key) {
                if f.phase == Phase::Failed {
                    f.phase = Phase::Queued;
                    self.queue.push_back(key);
                }
            }
        }
        for f in found {
            self.upsert(idx, f, Origin::Seen);
        }
    }

    /// Moves files whose settle time is over to the hash queue; returns the next deadline.
    pub fn settle_due(&mut self, now: Instant) -> Option<Instant> {
        while let Some((due, key)) = self.settling.front() {
            if *due > now {
                return Some(*due);
            }
            let key = key.clone();
            self.settling.pop_front();
            if let Some(f) = self.files.get_mut(&key) {
                // A later change queued the file again with a later deadline.
                if f.phase == Phase::Settling && f.changed_at + self.settle <= now {
                    f.phase = Phase::Queued;
                    self.queue.push_back(key);
                }
            }
        }
        None
    }

    /// Up to `max_files` queued files to hash, marked as being hashed.
    pub fn next_batch(&mut self, max_files: usize) -> Vec<Job> {
        let mut batch = Vec::new();
        while batch.len() < max_files {
            let Some(key) = self.queue.pop_front() else {
                break;
            };
            let Some(f) = self.files.get_mut(&key) else {
                continue;
            };
            if f.phase != Phase::Queued {
                continue;
            }
            f.phase = Phase::Hashing;
            let root = &self.roots[f.root];
            let real = match &f.link {
                Some(l) => l.to_path_buf(),
                None => root.dir.join(&key[root.prefix.len()..]),
            };
            batch.push((key, real, f.stat));
        }
        batch
    }

    /// When the next settling file is due.
    pub fn next_settle(&self) -> Option<Instant> {
        self.settling.front().map(|(due, _)| *due)
    }

    pub fn has_queued(&self) -> bool {
        !self.queue.is_empty()
    }

    /// A hash came back: offer the file, or let it settle again if it changed meanwhile.
    pub fn hashed(&mut self, key: &Arc<str>, stat: Stat, res: std::io::Result<Option<Digest>>) {
        let now = Instant::now();
        let Some(f) = self.files.get_mut(key) else {
            return;
        };
        if f.phase != Phase::Hashing || f.stat != stat {
            return; // changed meanwhile and queued again
        }
        match res {
            Ok(Some(hash)) => {
                f.phase = Phase::Offered;
                let state = FileState {
                    link: f.link.clone(),
                    ..*f
                };
                self.offer(key, &state, hash);
            }
            Ok(None) => {
                // Changed while being read: it settles again and is hashed again.
                f.phase = Phase::Settling;
                f.changed_at = now;
                self.settling.push_back((now + self.settle, key.clone()));
            }
            Err(e) => {
                tracing::warn!(path = %key, error = %e, "cannot hash; trying again when it changes");
                f.phase = Phase::Failed;
            }
        }
    }
}

/// How long ago the file was last modified.
fn age(stat: &Stat) -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|now| now.saturating_sub(Duration::from_nanos(stat.mtime_ns)))
        .unwrap_or_default()
}
