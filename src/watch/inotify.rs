//! Change events from the kernel, for every directory under the roots.
//!
//! `inotify` directly, with a mask of changes only: created, deleted, modified, written and
//! closed, moved, attributes, and the watched directory itself going away. Never `IN_OPEN` or
//! `IN_ACCESS`: the daemon opens directories to walk them and files to hash and serve them, and
//! a watcher that reported those would send the catalog back to walk again forever (which is
//! what `notify`'s recursive watcher, registering `IN_OPEN` on every directory, did).
//!
//! Watches are added by the walks, one per directory before it is read; the map from watch to
//! directory is shared with the walking threads. An event whose watch is not known yet (its walk
//! has not reported back) waits in the engine until that walk is done.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use inotify::{EventMask, EventOwned, EventStream, Inotify, WatchDescriptor, WatchMask, Watches};

use super::scan::{rel_string, RootDir};

/// Bytes of the buffer events are read into (many events per read).
const EVENT_BUFFER: usize = 16 << 10;

fn mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MODIFY
        | WatchMask::CLOSE_WRITE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::ATTRIB
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
        | WatchMask::DONT_FOLLOW
        | WatchMask::EXCL_UNLINK
}

/// One watched directory: its root and its path relative to that root ("" = the root).
struct Dir {
    wd: WatchDescriptor,
    root: usize,
    rel: Arc<str>,
}

/// What an event names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Something happened to this path (root index, relative path): look at it again.
    Path(usize, String),
    /// Events were lost (the kernel's queue overflowed) or a root itself went away.
    Rescan,
    /// The watch is not known yet: keep the event until the walk that adds it reports back.
    Unknown,
    Nothing,
}

/// Shared by the engine (reading events) and the walks (adding watches); cheap to clone.
#[derive(Clone)]
pub struct Watcher {
    watches: Watches,
    dirs: Arc<Mutex<HashMap<i32, Dir>>>,
    /// The kernel's watch limit (`fs.inotify.max_user_watches`) was reached.
    exhausted: Arc<AtomicBool>,
}

impl Watcher {
    pub fn new() -> std::io::Result<(Watcher, EventStream<Vec<u8>>)> {
        let inotify = Inotify::init()?;
        let stream = inotify.into_event_stream(vec![0u8; EVENT_BUFFER])?;
        let w = Watcher {
            watches: stream.watches(),
            dirs: Arc::default(),
            exhausted: Arc::default(),
        };
        Ok((w, stream))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Dir>> {
        self.dirs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Watches directory `abs` of root `idx` (a blocking call: it resolves the path). After the
    /// limit was reached once, no more watches are tried.
    pub fn add(&self, idx: usize, root: &RootDir, abs: &Path) {
        if self.exhausted() {
            return;
        }
        let Some(rel) = abs.strip_prefix(&root.dir).ok().and_then(rel_string) else {
            return;
        };
        match self.watches.clone().add(abs, mask()) {
            Ok(wd) => {
                let id = wd.get_watch_descriptor_id();
                let dir = Dir {
                    wd,
                    root: idx,
                    rel: rel.into(),
                };
                self.lock().insert(id, dir);
            }
            Err(e) if e.raw_os_error() == Some(libc_enospc()) => {
                self.exhausted.store(true, Ordering::Relaxed);
            }
            // Gone or unreadable meanwhile: the walk skips it too.
            Err(e) => tracing::debug!(dir = %abs.display(), error = %e, "cannot watch"),
        }
    }

    pub fn exhausted(&self) -> bool {
        self.exhausted.load(Ordering::Relaxed)
    }

    /// Stops watching every directory at or below `rel` of root `idx` (deleted or moved away;
    /// a directory moved within the roots is watched again by the walk of its new path).
    pub fn forget_under(&self, idx: usize, rel: &str) {
        let mut dirs = self.lock();
        let gone: Vec<i32> = dirs
            .iter()
            .filter(|(_, d)| d.root == idx && is_under(&d.rel, rel))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(d) = dirs.remove(&id) {
                let _ = self.watches.clone().remove(d.wd);
            }
        }
    }

    /// Directories watched now.
    pub fn watched(&self) -> usize {
        self.lock().len()
    }

    /// What an event means for the catalog.
    pub fn change(&self, ev: &EventOwned) -> Change {
        if ev.mask.contains(EventMask::Q_OVERFLOW) {
            return Change::Rescan;
        }
        let id = ev.wd.get_watch_descriptor_id();
        let mut dirs = self.lock();
        if ev.mask.contains(EventMask::IGNORED) {
            // The kernel dropped the watch (its directory is gone).
            dirs.remove(&id);
            return Change::Nothing;
        }
        let Some(dir) = dirs.get(&id) else {
            return Change::Unknown;
        };
        let name = ev.name.as_deref().and_then(OsStr::to_str);
        match name {
            Some(name) => Change::Path(dir.root, join(&dir.rel, name)),
            // An event about the watched directory itself.
            None if dir.rel.is_empty()
                && ev
                    .mask
                    .intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF) =>
            {
                Change::Rescan
            }
            None if ev
                .mask
                .intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF) =>
            {
                Change::Path(dir.root, dir.rel.to_string())
            }
            None => Change::Nothing,
        }
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// `path` is `dir` or below it ("" is the root, which holds everything).
pub fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

fn libc_enospc() -> i32 {
    rustix::io::Errno::NOSPC.raw_os_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_means_the_folder_or_below_it() {
        assert!(is_under("a/b", ""));
        assert!(is_under("a/b", "a"));
        assert!(is_under("a", "a"));
        assert!(!is_under("ab/c", "a"));
        assert!(!is_under("a", "a/b"));
    }
}
