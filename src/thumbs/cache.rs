//! Thumbnails kept on disk in `<state_dir>/thumbs/`, keyed by the source's content hash (and the
//! thumbnail size), so a renamed or copied photo costs nothing and an edited one gets a new
//! thumbnail. A source that yields none is remembered by an empty `.none` file, so it is not
//! decoded again. The total is kept under a byte cap by removing the least recently used files
//! (a hit renews a file's modification time at most once an hour). Blocking calls.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// A hit renews the file's time only when it is older than this (no write per request).
const RENEW_AFTER: Duration = Duration::from_secs(3600);

/// What the cache knows about a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Cached {
    Thumb(Vec<u8>),
    /// The source yields no thumbnail.
    Nothing,
}

pub struct Cache {
    dir: PathBuf,
    max_bytes: u64,
    /// Files by name with (bytes, last use); read from the directory on first use.
    index: Mutex<Option<Index>>,
}

#[derive(Default)]
struct Index {
    files: HashMap<String, (u64, SystemTime)>,
    total: u64,
}

/// Keys are content hashes (hex) with a size: nothing else may name a file here.
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 80
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl Cache {
    pub fn new(dir: PathBuf, max_bytes: u64) -> Self {
        Self {
            dir,
            max_bytes,
            index: Mutex::new(None),
        }
    }

    fn with_index<T>(&self, f: impl FnOnce(&mut Index) -> T) -> io::Result<T> {
        let mut guard = self.index.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(self.load()?);
        }
        Ok(f(guard.as_mut().expect("loaded above")))
    }

    fn load(&self) -> io::Result<Index> {
        fs::create_dir_all(&self.dir)?;
        let mut index = Index::default();
        for item in fs::read_dir(&self.dir)? {
            let item = item?;
            let name = item.file_name().to_string_lossy().into_owned();
            let meta = item.metadata()?;
            if name.ends_with(".tmp") {
                let _ = fs::remove_file(item.path());
                continue;
            }
            if meta.is_file() {
                let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                index.total += meta.len();
                index.files.insert(name, (meta.len(), used));
            }
        }
        Ok(index)
    }

    pub fn get(&self, key: &str) -> io::Result<Option<Cached>> {
        if !valid_key(key) {
            return Ok(None);
        }
        for (name, thumb) in [(format!("{key}.jpg"), true), (format!("{key}.none"), false)] {
            let known = self.with_index(|i| i.files.get(&name).map(|e| e.1))?;
            let Some(used) = known else { continue };
            let path = self.dir.join(&name);
            let data = match fs::read(&path) {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.forget(&name)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let now = SystemTime::now();
            if now.duration_since(used).unwrap_or_default() > RENEW_AFTER {
                if let Ok(f) = fs::File::options().write(true).open(&path) {
                    let _ = f.set_modified(now);
                }
                self.with_index(|i| {
                    if let Some(e) = i.files.get_mut(&name) {
                        e.1 = now;
                    }
                })?;
            }
            return Ok(Some(if thumb {
                Cached::Thumb(data)
            } else {
                Cached::Nothing
            }));
        }
        Ok(None)
    }

    /// Stores a thumbnail (`Some`) or the fact that there is none, then evicts down to the cap.
    pub fn put(&self, key: &str, thumb: Option<&[u8]>) -> io::Result<()> {
        if !valid_key(key) {
            return Ok(());
        }
        let name = match thumb {
            Some(_) => format!("{key}.jpg"),
            None => format!("{key}.none"),
        };
        let data = thumb.unwrap_or_default();
        let len = data.len() as u64;
        if len > self.max_bytes {
            return Ok(());
        }
        self.with_index(|_| ())?; // the directory exists
        let tmp = self.dir.join(format!("{name}.tmp"));
        fs::write(&tmp, data)?;
        fs::rename(&tmp, self.dir.join(&name))?;
        let evict = self.with_index(|i| {
            if let Some((old, _)) = i.files.insert(name.clone(), (len, SystemTime::now())) {
                i.total -= old;
            }
            i.total += len;
            let mut evict = Vec::new();
            if i.total > self.max_bytes {
                let mut by_age: Vec<_> = i.files.iter().map(|(n, e)| (e.1, n.clone())).collect();
                by_age.sort();
                for (_, n) in by_age {
                    if i.total <= self.max_bytes {
                        break;
                    }
                    if n == name {
                        continue;
                    }
                    if let Some((l, _)) = i.files.remove(&n) {
                        i.total -= l;
                        evict.push(n);
                    }
                }
            }
            evict
        })?;
        for n in evict {
            let _ = fs::remove_file(self.dir.join(n));
        }
        Ok(())
    }

    fn forget(&self, name: &str) -> io::Result<()> {
        self.with_index(|i| {
            if let Some((l, _)) = i.files.remove(name) {
                i.total -= l;
            }
        })
    }

    /// Bytes held now (as far as this process knows).
    pub fn bytes(&self) -> u64 {
        let guard = self.index.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map_or(0, |i| i.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_misses_negatives_and_eviction_by_age() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("thumbs"), 250);
        assert_eq!(cache.get("aa-256").unwrap(), None);
        cache.put("aa-256", Some(&[1u8; 100])).unwrap();
        cache.put("bb-256", None).unwrap();
        assert_eq!(
            cache.get("aa-256").unwrap(),
            Some(Cached::Thumb(vec![1; 100]))
        );
        assert_eq!(cache.get("bb-256").unwrap(), Some(Cached::Nothing));
        // Make aa the oldest, then go over the cap: aa goes, the new one stays.
        let old = SystemTime::now() - Duration::from_secs(7200);
        cache
            .with_index(|i| i.files.get_mut("aa-256.jpg").unwrap().1 = old)
            .unwrap();
        cache.put("cc-256", Some(&[2u8; 100])).unwrap();
        cache.put("dd-256", Some(&[3u8; 100])).unwrap();
        assert_eq!(cache.get("aa-256").unwrap(), None);
        assert!(!dir.path().join("thumbs/aa-256.jpg").exists());
        assert!(cache.get("dd-256").unwrap().is_some());
        assert!(cache.bytes() <= 250);

        // A new process finds what is on disk.
        let again = Cache::new(dir.path().join("thumbs"), 250);
        assert_eq!(
            again.get("dd-256").unwrap(),
            Some(Cached::Thumb(vec![3; 100]))
        );
        assert_eq!(again.bytes(), cache.bytes());
    }

    #[test]
    fn keys_cannot_name_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("thumbs"), 1000);
        cache.put("../escape", Some(b"x")).unwrap();
        assert!(!dir.path().join("escape.jpg").exists());
        assert_eq!(cache.get("../escape").unwrap(), None);
    }
}
