//! One offered file, kept compact: a catalog of 100,000 files is held once in memory and
//! shared by every snapshot and connection, so each byte here is paid per file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::pieces::{Digest, Pieces};
use super::scan::Stat;

/// A file's id: the first 16 bytes of BLAKE3 over its display path, so it is stable across
/// restarts. On the wire it is 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub [u8; 16]);

impl FileId {
    pub fn of(display_path: &str) -> FileId {
        let h = blake3::hash(display_path.as_bytes());
        let mut id = [0u8; 16];
        id.copy_from_slice(&h.as_bytes()[..16]);
        FileId(id)
    }

    /// The id in its wire form; `None` unless exactly 32 lowercase hex digits.
    pub fn parse(hex: &str) -> Option<FileId> {
        let b = hex.as_bytes();
        if b.len() != 32 {
            return None;
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut id = [0u8; 16];
        for (i, pair) in b.chunks_exact(2).enumerate() {
            id[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
        }
        Some(FileId(id))
    }

    /// 32 lowercase hex digits, without allocating.
    pub fn hex(&self) -> HexId {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[(b >> 4) as usize];
            out[2 * i + 1] = DIGITS[(b & 15) as usize];
        }
        HexId(out)
    }
}

/// The hex form of a [`FileId`].
pub struct HexId([u8; 32]);

impl HexId {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

impl fmt::Debug for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hex().as_str())
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hex().as_str())
    }
}

/// The wire id of a display path (32 hex digits).
pub fn entry_id(display_path: &str) -> String {
    FileId::of(display_path).hex().as_str().to_owned()
}

/// Where an entry's bytes are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// `dir` joined with the display path after its first `skip` bytes (the root's prefix).
    Root { dir: Arc<Path>, skip: u16 },
    /// A symlink's target, resolved when it was found (swapping the link later cannot redirect
    /// a download).
    Link(Arc<Path>),
}

/// One offered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: FileId,
    /// '/'-separated, including the root's prefix; folders are implied by the separators.
    /// Shared with the catalog engine's own record of the file.
    pub path: Arc<str>,
    /// BLAKE3 of the content.
    pub hash: blake3::Hash,
    /// Size, mtime, inode and device when it was hashed.
    pub stat: Stat,
    /// Piece hashes of a file of several pieces (nothing stored for one piece).
    pub pieces: Pieces,
    /// From the extension, by table lookup (`application/octet-stream` when unknown).
    pub mime: &'static str,
    source: Source,
}

impl Entry {
    /// An entry for `path` whose bytes are read from `real`.
    pub fn new(path: &str, stat: Stat, hash: blake3::Hash, real: &Path) -> Entry {
        Entry {
            id: FileId::of(path),
            path: path.into(),
            hash,
            stat,
            pieces: Pieces::default(),
            mime: mime_of(path),
            source: Source::Link(real.into()),
        }
    }

    /// An entry the engine found under a root (`skip` = length of the root's display prefix
    /// with its '/', or `link` for a symlinked file).
    pub(super) fn found(
        path: Arc<str>,
        stat: Stat,
        digest: Digest,
        root: &Arc<Path>,
        skip: usize,
        link: Option<&Arc<Path>>,
    ) -> Entry {
        let source = match link {
            Some(real) => Source::Link(real.clone()),
            None => Source::Root {
                dir: root.clone(),
                skip: skip as u16,
            },
        };
        Entry {
            id: FileId::of(&path),
            mime: mime_of(&path),
            path,
            hash: digest.hash,
            pieces: digest.pieces,
            stat,
            source,
        }
    }

    /// With the piece hashes of a multi-piece file (tests and tools).
    pub fn with_pieces(mut self, pieces: Pieces) -> Entry {
        self.pieces = pieces;
        self
    }

    /// Every piece hash of this file, in order (one, the file hash, for a one-piece file).
    pub fn piece_hashes(&self) -> Option<Vec<[u8; 32]>> {
        self.pieces.all(&self.hash, self.stat.size)
    }

    pub fn size(&self) -> u64 {
        self.stat.size
    }

    pub fn mtime_ms(&self) -> u64 {
        self.stat.mtime_ns / 1_000_000
    }

    /// The real file to serve.
    pub fn real(&self) -> PathBuf {
        match &self.source {
            Source::Root { dir, skip } => dir.join(&self.path[*skip as usize..]),
            Source::Link(p) => p.to_path_buf(),
        }
    }

    /// True when the file on disk is still the version that was hashed.
    pub fn still_matches(&self, meta: &std::fs::Metadata) -> bool {
        let now = Stat::of(meta);
        now.size == self.stat.size && now.mtime_ns == self.stat.mtime_ns && now.ino == self.stat.ino
    }
}

/// The MIME type of a path by its extension: a static string from `mime_guess`'s table.
pub fn mime_of(path: &str) -> &'static str {
    mime_guess::from_path(path)
        .first_raw()
        .unwrap_or("application/octet-stream")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_roundtrip_and_reject_anything_else() {
        let id = FileId::of("a/b.txt");
        let hex = id.hex().as_str().to_owned();
        assert_eq!(hex, entry_id("a/b.txt"));
        assert_eq!(hex, blake3::hash(b"a/b.txt").to_hex()[..32]);
        assert_eq!(FileId::parse(&hex), Some(id));
        for bad in [
            "",
            "f1",
            &hex.to_uppercase(),
            &format!("{hex}0"),
            &hex[..31],
        ] {
            assert_eq!(FileId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn mime_by_table_and_real_path_from_the_root() {
        assert_eq!(mime_of("x/photo.JPG"), "image/jpeg");
        assert_eq!(mime_of("notes"), "application/octet-stream");
        let root: Arc<Path> = Path::new("/srv/in").into();
        let e = Entry::found(
            "incoming/a/b.txt".into(),
            Stat::default(),
            Digest::whole(blake3::hash(b"")),
            &root,
            "incoming/".len(),
            None,
        );
        assert_eq!(e.real(), Path::new("/srv/in/a/b.txt"));
        assert_eq!(e.mime, "text/plain");
    }
}
