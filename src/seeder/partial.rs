//! The hidden partial directory: temp files, their JSON sidecars, and `*at` helpers that never
//! follow symlinks.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, OFlags};
use serde::{Deserialize, Serialize};

/// The hidden directory inside `incoming` that holds partial uploads.
pub const PARTIAL_DIR: &str = ".peerbox-partial";

/// What survives a restart about one partial upload. `durable` counts only bytes that were
/// fsynced before the sidecar was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    pub name: String,
    pub folder: Vec<String>,
    pub size: u64,
    pub hash: String,
    pub owner: String,
    pub durable: u64,
}

const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::RDONLY)
    .union(OFlags::CLOEXEC);

/// Opens (creating when missing, mode 0700 for the partial dir) a child directory, refusing a
/// symlink or a non-directory in its place.
pub fn open_child_dir(parent: impl AsFd, name: &str, mode: u32) -> std::io::Result<OwnedFd> {
    match rustix::fs::mkdirat(parent.as_fd(), name, Mode::from_raw_mode(mode)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty())?)
}

/// Opens an existing child directory without following a symlink; `None` when it is missing.
pub fn open_existing_dir(parent: impl AsFd, name: &str) -> std::io::Result<Option<OwnedFd>> {
    match rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty()) {
        Ok(fd) => Ok(Some(fd)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Opens a directory given by the operator's configuration (trusted path), without following a
/// symlink in its last component.
pub fn open_root(path: &std::path::Path) -> std::io::Result<OwnedFd> {
    std::fs::create_dir_all(path)?;
    Ok(rustix::fs::openat(
        rustix::fs::CWD,
        path,
        DIR_FLAGS,
        Mode::empty(),
    )?)
}

/// A fresh unpredictable key (128 random bits as hex).
pub fn new_key() -> String {
    let bits: u128 = rand::random();
    format!("{bits:032x}")
}

pub fn part_name(key: &str) -> String {
    format!("{key}.part")
}

pub fn sidecar_name(key: &str) -> String {
    format!("{key}.json")
}

/// Creates the temp file exclusively; an existing entry (file or planted symlink) is an error.
pub fn create_part(dir: impl AsFd, key: &str) -> std::io::Result<std::fs::File> {
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, part_name(key), flags, Mode::from_raw_mode(0o600))?;
    Ok(fd.into())
}

/// Reopens an existing temp file for resuming; refuses anything but a regular file.
pub fn open_part(dir: impl AsFd, key: &str) -> std::io::Result<std::fs::File> {
    let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, part_name(key), flags, Mode::empty())?;
    let st = rustix::fs::fstat(&fd)?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(std::io::Error::other("partial is not a regular file"));
    }
    Ok(fd.into())
}

/// Writes the sidecar atomically: temp sidecar, fsync, rename over the old one.
pub fn write_sidecar(dir: impl AsFd, key: &str, sc: &Sidecar) -> std::io::Result<()> {
    let tmp = format!("{key}.json.tmp");
    let flags =
        OFlags::CREATE | OFlags::TRUNC | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir.as_fd(), tmp.as_str(), flags, Mode::from_raw_mode(0o600))?;
    let mut f = std::fs::File::from(fd);
    f.write_all(&serde_json::to_vec(sc).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    rustix::fs::renameat(dir.as_fd(), tmp.as_str(), dir.as_fd(), sidecar_name(key))?;
    Ok(())
}

/// Reads a sidecar, or `None` when it is missing, unreadable or malformed.
pub fn read_sidecar(dir: impl AsFd, key: &str) -> Option<Sidecar> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, sidecar_name(key), flags, Mode::empty()).ok()?;
    let mut buf = Vec::new();
    use std::io::Read;
    std::fs::File::from(fd)
        .take(64 * 1024)
        .read_to_end(&mut buf)
        .ok()?;
    serde_json::from_slice(&buf).ok()
}

/// Removes the temp file and its sidecars; missing entries are fine.
pub fn remove_all(dir: impl AsFd, key: &str) {
    for n in [part_name(key), sidecar_name(key), format!("{key}.json.tmp")] {
        let _ = rustix::fs::unlinkat(dir.as_fd(), n.as_str(), AtFlags::empty());
    }
}

/// Keys of entries in the partial dir with their newest mtime (seconds since the epoch).
pub fn list(dir: impl AsFd) -> std::io::Result<Vec<(String, i64)>> {
    let mut out: Vec<(String, i64)> = Vec::new();
    let d = rustix::fs::Dir::read_from(dir.as_fd())?;
    for entry in d {
        let entry = entry?;
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        let Some(key) = name.split('.').next().filter(|k| k.len() == 32) else {
            continue;
        };
        let Ok(st) = rustix::fs::statat(dir.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        let mtime = st.st_mtime;
        match out.iter_mut().find(|(k, _)| k == key) {
            Some((_, m)) => *m = (*m).max(mtime),
            None => out.push((key.to_owned(), mtime)),
        }
    }
    Ok(out)
}

/// BLAKE3 state over the first `len` bytes of `file` (re-hashing a durable prefix on resume).
pub fn hash_prefix(file: &std::fs::File, len: u64) -> std::io::Result<blake3::Hasher> {
    use std::os::unix::fs::FileExt;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut pos = 0u64;
    while pos < len {
        let want = buf.len().min((len - pos) as usize);
        let n = file.read_at(&mut buf[..want], pos)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        hasher.update(&buf[..n]);
        pos += n as u64;
    }
    Ok(hasher)
}

/// Hard-links the temp file of `key` into `dir` under `name` or the first free
/// `name (n).ext`; `linkat` fails rather than replace anything (a symlink included), which makes
/// the choice atomic. Returns the name used.
pub fn link_free_name(
    partial: impl AsFd,
    key: &str,
    dir: impl AsFd,
    name: &str,
) -> std::io::Result<String> {
    let part = part_name(key);
    // A name on disk that differs only in Unicode normalization is taken too.
    let twins = super::names::nfc_twins(&dir)?;
    for n in 0..10_000 {
        let candidate = super::names::numbered(name, n);
        if twins.contains_key(&candidate) {
            continue;
        }
        let r = rustix::fs::linkat(
            partial.as_fd(),
            part.as_str(),
            dir.as_fd(),
            candidate.as_str(),
            AtFlags::empty(),
        );
        match r {
            Ok(()) => return Ok(candidate),
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "no free name",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_creation_never_follows_a_planted_symlink() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("target");
        let dir = open_root(d.path()).unwrap();
        let key = new_key();
        assert_ne!(key, new_key());
        std::os::unix::fs::symlink(&target, d.path().join(part_name(&key))).unwrap();
        assert!(create_part(&dir, &key).is_err());
        assert!(open_part(&dir, &key).is_err());
        assert!(!target.exists());
        // A planted sidecar symlink is not read through either.
        std::fs::write(&target, b"{}").unwrap();
        std::os::unix::fs::symlink(&target, d.path().join(sidecar_name(&key))).unwrap();
        assert!(read_sidecar(&dir, &key).is_none());
        // A file where a directory is expected is refused.
        std::fs::write(d.path().join("notdir"), b"").unwrap();
        assert!(open_child_dir(&dir, "notdir", 0o700).is_err());
    }
}
