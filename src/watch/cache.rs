//! Hashes survive restarts: a JSON file in the state directory maps (path, size, mtime, inode)
//! to a BLAKE3 hash, so unchanged files are never read again. Written as temp file + fsync +
//! rename, so a crash leaves the old cache or the new one, never a torn one.
//!
//! The cache is the catalog itself: it is written from a snapshot of the offered files (cheap to
//! take, streamed to disk on a blocking thread) and read back only at start-up, so its records
//! are not held in memory a second time while the daemon runs. Reading borrows the paths from
//! the file's bytes, and both are dropped once the initial scan has looked its files up.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};

use super::scan::Stat;
use super::Files;

const FILE_NAME: &str = "hash-cache.json";

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    path: Cow<'a, str>,
    size: u64,
    mtime_ns: u64,
    ino: u64,
    #[serde(borrow)]
    hash: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Stored<'a> {
    version: u32,
    #[serde(borrow)]
    entries: Vec<Record<'a>>,
}

/// The cache as read at start-up: display path -> (size, mtime_ns, ino) and hash, borrowing
/// the file's bytes.
pub struct Loaded<'a>(HashMap<Cow<'a, str>, (Key, blake3::Hash)>);

/// What a cached hash was computed at: size, mtime_ns, inode.
type Key = (u64, u64, u64);

pub fn file(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE_NAME)
}

/// The cache file's bytes; none when it is missing or unreadable (it is only a cache).
pub fn read(state_dir: &Path) -> Vec<u8> {
    std::fs::read(file(state_dir)).unwrap_or_default()
}

/// Parses what [`read`] returned; an unreadable cache is empty.
pub fn parse(data: &[u8]) -> Loaded<'_> {
    if data.is_empty() {
        return Loaded(HashMap::new());
    }
    let map = match serde_json::from_slice::<Stored>(data) {
        Ok(s) if s.version == 1 => s
            .entries
            .into_iter()
            .filter_map(|r| {
                let hash = blake3::Hash::from_hex(&*r.hash).ok()?;
                Some((r.path, ((r.size, r.mtime_ns, r.ino), hash)))
            })
            .collect(),
        Ok(_) => HashMap::new(),
        Err(e) => {
            tracing::warn!(error = %e, "hash cache unreadable; starting empty");
            HashMap::new()
        }
    };
    Loaded(map)
}

impl Loaded<'_> {
    /// The cached hash of `path` when the file still has the stat it was hashed at.
    pub fn get(&self, path: &str, stat: &Stat) -> Option<blake3::Hash> {
        let (key, hash) = self.0.get(path)?;
        (*key == (stat.size, stat.mtime_ns, stat.ino)).then_some(*hash)
    }
}

/// Writes every offered file's hash (blocking: run it off the async threads).
pub fn save(state_dir: &Path, files: &Files) -> std::io::Result<()> {
    // 0o666 as `File::create` uses: the umask decides, as for any other file.
    crate::durable::write_atomic_with(&file(state_dir), 0o666, |w| {
        serde_json::to_writer(w, &Out(files)).map_err(std::io::Error::other)
    })
}

struct Out<'a>(&'a Files);
struct Entries<'a>(&'a Files);

impl Serialize for Out<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Stored", 2)?;
        st.serialize_field("version", &1u32)?;
        st.serialize_field("entries", &Entries(self.0))?;
        st.end()
    }
}

impl Serialize for Entries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Rec<'a> {
            path: &'a str,
            size: u64,
            mtime_ns: u64,
            ino: u64,
            hash: &'a str,
        }
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for e in self.0.values() {
            let hex = e.hash.to_hex();
            seq.serialize_element(&Rec {
                path: &e.path,
                size: e.stat.size,
                mtime_ns: e.stat.mtime_ns,
                ino: e.stat.ino,
                hash: hex.as_str(),
            })?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::{Entry, Snapshot};

    #[test]
    fn saved_entries_load_back_and_match_only_the_same_stat() {
        let dir = tempfile::tempdir().unwrap();
        let stat = Stat {
            size: 3,
            mtime_ns: 7,
            ino: 9,
            dev: 1,
        };
        let e = Entry::new("a/b.txt", stat, blake3::hash(b"abc"), Path::new("/x"));
        save(dir.path(), &Snapshot::of(1, [e]).entries).unwrap();
        let bytes = read(dir.path());
        let loaded = parse(&bytes);
        assert_eq!(loaded.get("a/b.txt", &stat), Some(blake3::hash(b"abc")));
        let other = Stat {
            mtime_ns: 8,
            ..stat
        };
        assert_eq!(loaded.get("a/b.txt", &other), None);
        assert_eq!(loaded.get("a/c.txt", &stat), None);
    }
}
