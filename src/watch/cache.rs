//! Hashes survive restarts: a JSON file in the state directory maps (path, size, mtime, inode)
//! to a BLAKE3 hash, so unchanged files are never read again. Written as temp file + fsync +
//! rename, so a crash leaves the old cache or the new one, never a torn one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::scan::Stat;

const FILE_NAME: &str = "hash-cache.json";

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Key {
    path: String,
    size: u64,
    mtime_ns: u64,
    ino: u64,
}

#[derive(Serialize, Deserialize)]
struct Record {
    #[serde(flatten)]
    key: Key,
    hash: String,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    version: u32,
    entries: Vec<Record>,
}

pub struct HashCache {
    file: PathBuf,
    map: HashMap<Key, String>,
    dirty: bool,
}

fn key(path: &str, stat: &Stat) -> Key {
    Key {
        path: path.to_owned(),
        size: stat.size,
        mtime_ns: stat.mtime_ns,
        ino: stat.ino,
    }
}

impl HashCache {
    /// Loads the cache; a missing or unreadable one starts empty (it is only a cache).
    pub fn load(state_dir: &Path) -> Self {
        let file = state_dir.join(FILE_NAME);
        let map = std::fs::read(&file)
            .ok()
            .and_then(|data| match serde_json::from_slice::<Stored>(&data) {
                Ok(s) if s.version == 1 => Some(s),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "hash cache unreadable; starting empty");
                    None
                }
            })
            .map(|s| s.entries.into_iter().map(|r| (r.key, r.hash)).collect())
            .unwrap_or_default();
        HashCache {
            file,
            map,
            dirty: false,
        }
    }

    pub fn get(&self, path: &str, stat: &Stat) -> Option<&str> {
        self.map.get(&key(path, stat)).map(String::as_str)
    }

    pub fn put(&mut self, path: &str, stat: &Stat, hash: String) {
        self.map.insert(key(path, stat), hash);
        self.dirty = true;
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Keeps only entries for which `keep(path, size, mtime_ns, ino)` holds, then writes.
    pub fn save(&mut self, keep: impl Fn(&str, u64, u64, u64) -> bool) -> std::io::Result<()> {
        self.map
            .retain(|k, _| keep(&k.path, k.size, k.mtime_ns, k.ino));
        let stored = Stored {
            version: 1,
            entries: self
                .map
                .iter()
                .map(|(k, h)| Record {
                    key: k.clone(),
                    hash: h.clone(),
                })
                .collect(),
        };
        let data = serde_json::to_vec(&stored)?;
        // 0o666 as `File::create` uses: the umask decides, as for any other file.
        crate::durable::write_atomic(&self.file, &data, 0o666)?;
        self.dirty = false;
        Ok(())
    }
}
