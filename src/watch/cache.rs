//! Hashes survive restarts: a JSON file in the state directory maps (path, size, mtime, inode)
//! to a BLAKE3 hash and, for a file of several pieces, its piece hashes (`pieces`, hex; version 2
//! of the file), so unchanged files are never read again. A version-1 cache still gives the hash
//! of one-piece files; a multi-piece file without pieces counts as a miss and is read once more. Written as temp file + fsync +
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

use super::pieces::{Digest, Pieces};
use super::scan::Stat;
use super::Files;

const FILE_NAME: &str = "hash-cache.json";
/// Version 2 added `pieces`.
const VERSION: u32 = 2;

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    path: Cow<'a, str>,
    size: u64,
    mtime_ns: u64,
    ino: u64,
    #[serde(borrow)]
    hash: Cow<'a, str>,
    #[serde(borrow, default)]
    pieces: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Stored<'a> {
    version: u32,
    #[serde(borrow)]
    entries: Vec<Record<'a>>,
}

/// The cache as read at start-up: display path -> (size, mtime_ns, ino) and hash, borrowing
/// the file's bytes.
pub struct Loaded<'a>(HashMap<Cow<'a, str>, Cached<'a>>);

/// A cache record: the stat it was hashed at, the hash, and the piece hashes (hex), if any.
type Cached<'a> = (Key, blake3::Hash, Option<Cow<'a, str>>);

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
        Ok(s) if s.version == 1 || s.version == VERSION => s
            .entries
            .into_iter()
            .filter_map(|r| {
                let hash = blake3::Hash::from_hex(&*r.hash).ok()?;
                Some((r.path, ((r.size, r.mtime_ns, r.ino), hash, r.pieces)))
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
    /// The cached hashes of `path` when the file still has the stat it was hashed at (and the
    /// piece hashes fit its size).
    pub fn get(&self, path: &str, stat: &Stat) -> Option<Digest> {
        let (key, hash, pieces) = self.0.get(path)?;
        if *key != (stat.size, stat.mtime_ns, stat.ino) {
            return None;
        }
        let pieces = match pieces {
            Some(hex) => Pieces::from_hex(hex)?,
            None => Pieces::default(),
        };
        let fits = pieces.fits(stat.size);
        fits.then_some(Digest {
            hash: *hash,
            pieces,
        })
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
        st.serialize_field("version", &VERSION)?;
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
            #[serde(skip_serializing_if = "Option::is_none")]
            pieces: Option<String>,
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
                pieces: (!e.pieces.stored().is_empty()).then(|| e.pieces.to_hex()),
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
        assert_eq!(
            loaded.get("a/b.txt", &stat),
            Some(Digest::whole(blake3::hash(b"abc")))
        );
        let other = Stat {
            mtime_ns: 8,
            ..stat
        };
        assert_eq!(loaded.get("a/b.txt", &other), None);
        assert_eq!(loaded.get("a/c.txt", &stat), None);
    }

    #[test]
    fn piece_hashes_survive_and_a_cache_without_them_is_a_miss_for_big_files() {
        let dir = tempfile::tempdir().unwrap();
        let stat = Stat {
            size: (2 << 20) + 1,
            mtime_ns: 7,
            ino: 9,
            dev: 1,
        };
        let pieces = Pieces::of(vec![[1; 32], [2; 32], [3; 32]]);
        let e = Entry::new("big.bin", stat, blake3::hash(b"big"), Path::new("/x"))
            .with_pieces(pieces.clone());
        save(dir.path(), &Snapshot::of(1, [e]).entries).unwrap();
        let bytes = read(dir.path());
        let got = parse(&bytes).get("big.bin", &stat).unwrap();
        assert_eq!(got.pieces, pieces);
        // The same record as version 1 wrote it (no pieces): read again, not offered pieceless.
        let old = format!(
            r#"{{"version":1,"entries":[{{"path":"big.bin","size":{},"mtime_ns":7,"ino":9,"hash":"{}"}}]}}"#,
            stat.size,
            blake3::hash(b"big").to_hex()
        );
        assert_eq!(parse(old.as_bytes()).get("big.bin", &stat), None);
    }
}
