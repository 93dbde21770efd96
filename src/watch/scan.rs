//! Reading the share tree: one path at a time (after an event) or a whole subtree (start-up,
//! new folders, periodic reconciliation). Runs on blocking threads.
//!
//! Symlink policy: a symlinked *file* is offered when its real path stays inside the root (the
//! real path is what gets served, so swapping the link later cannot redirect a download);
//! symlinks that lead outside the root are never followed; symlinked *directories* are never
//! descended into, which also rules out loops.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::ignore::Ignore;
use super::inotify::Watcher;

/// What identifies one version of a file's content without reading it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Stat {
    pub size: u64,
    pub mtime_ns: u64,
    pub ino: u64,
    pub dev: u64,
}

impl Stat {
    pub fn of(meta: &std::fs::Metadata) -> Self {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Stat {
            size: meta.len(),
            mtime_ns,
            ino: meta.ino(),
            dev: meta.dev(),
        }
    }
}

/// One shared root as seen from disk.
#[derive(Debug, Clone)]
pub struct RootDir {
    pub dir: PathBuf,
    /// `dir` with symlinks resolved, for the "stays inside" check.
    pub canon: PathBuf,
}

/// An offerable file: its path relative to the root, a symlink's real target (`None` for a
/// plain file, served from the root), its stat.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub rel: String,
    pub link: Option<PathBuf>,
    pub stat: Stat,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    File(Found),
    Dir,
    /// Missing, ignored, not UTF-8, special, or a symlink out of the root.
    Nothing,
}

/// Looks at one path under the root.
pub fn probe(root: &RootDir, abs: &Path, ignore: &Ignore) -> Probe {
    let Ok(rel) = abs.strip_prefix(&root.dir) else {
        return Probe::Nothing;
    };
    let Some(rel) = rel_string(rel) else {
        return Probe::Nothing;
    };
    if rel.is_empty() {
        return Probe::Dir;
    }
    if ignore.path(&rel) {
        return Probe::Nothing;
    }
    let Ok(lmeta) = std::fs::symlink_metadata(abs) else {
        return Probe::Nothing;
    };
    if lmeta.is_dir() {
        return Probe::Dir;
    }
    if lmeta.is_file() {
        let stat = Stat::of(&lmeta);
        return Probe::File(Found {
            rel,
            link: None,
            stat,
        });
    }
    if lmeta.file_type().is_symlink() {
        let Ok(real) = std::fs::canonicalize(abs) else {
            return Probe::Nothing;
        };
        if !real.starts_with(&root.canon) {
            tracing::warn!(path = %abs.display(), target = %real.display(),
                "symlink leads outside the share root; not offered");
            return Probe::Nothing;
        }
        if let Ok(meta) = std::fs::metadata(&real) {
            if meta.is_file() {
                let stat = Stat::of(&meta);
                return Probe::File(Found {
                    rel,
                    link: Some(real),
                    stat,
                });
            }
        }
    }
    Probe::Nothing
}

/// Every offerable file below `start` (a directory under the root), up to `limit` files.
/// `on_dir` is called with each directory before it is read (the watcher adds its watch there,
/// so nothing created during the walk is missed).
pub fn walk(
    root: &RootDir,
    start: &Path,
    ignore: &Ignore,
    limit: usize,
    on_dir: &mut dyn FnMut(&Path),
) -> Vec<Found> {
    let mut out = Vec::new();
    let mut stack = vec![start.to_owned()];
    while let Some(dir) = stack.pop() {
        on_dir(&dir);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match probe(root, &path, ignore) {
                Probe::File(found) => {
                    if out.len() >= limit {
                        tracing::warn!(
                            limit,
                            "watch.max_files reached; further files are not offered"
                        );
                        return out;
                    }
                    out.push(found);
                }
                Probe::Dir => {
                    // probe() reports Dir only for real directories, never symlinked ones.
                    stack.push(path);
                }
                Probe::Nothing => {}
            }
        }
    }
    out
}

/// Walks the roots (on a blocking thread), watching each directory on the way when events work.
#[derive(Clone)]
pub struct Walker {
    pub dirs: Vec<RootDir>,
    pub ignore: Ignore,
    pub limit: usize,
    pub watcher: Option<Watcher>,
}

impl Walker {
    /// Every offerable file under `abs` (a directory of root `idx`).
    pub fn walk(&self, idx: usize, abs: &Path) -> Vec<Found> {
        let root = &self.dirs[idx];
        walk(root, abs, &self.ignore, self.limit, &mut |d| {
            if let Some(w) = &self.watcher {
                w.add(idx, root, d);
            }
        })
    }

    /// Every root, whole.
    pub fn all(&self) -> Vec<Vec<Found>> {
        (0..self.dirs.len())
            .map(|i| self.walk(i, &self.dirs[i].dir))
            .collect()
    }

    /// What `rel` of root `idx` is now, and the files below it when it is a directory.
    pub fn look(&self, idx: usize, rel: &str) -> (Probe, Vec<Found>) {
        let abs = self.dirs[idx].dir.join(rel);
        let probe = probe(&self.dirs[idx], &abs, &self.ignore);
        let below = match probe {
            Probe::Dir => self.walk(idx, &abs),
            _ => Vec::new(),
        };
        (probe, below)
    }
}

/// '/'-separated UTF-8 relative path; `None` for names that are not UTF-8.
pub fn rel_string(rel: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            std::path::Component::Normal(s) => parts.push(s.to_str()?),
            _ => return None,
        }
    }
    Some(parts.join("/"))
}
