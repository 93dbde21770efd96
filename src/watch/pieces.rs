//! Pieces: the swarm cuts each file into fixed pieces, each with its own BLAKE3 hash, so a
//! downloader can take pieces from other browsers and check every one before keeping it.
//!
//! The piece size follows from the file size alone (both sides compute it): 1 MiB, doubled
//! until the file has at most [`MAX_PIECES`] pieces, so a huge file's list stays small (at most
//! 32 KiB of hashes, 128 bytes of availability bitfield). A piece size is always a power of two
//! of BLAKE3 chunks, so the file's own BLAKE3 tree splits at piece boundaries and both hashes come
//! from one read (see [`super::hash::digest_file`]). A file of one piece stores nothing extra:
//! its piece hash is its file hash.

use std::sync::Arc;

/// The smallest piece: 16 messages of 64 KiB.
pub const MIN_PIECE: u64 = 1 << 20;
/// A file has at most this many pieces; larger files get larger pieces.
pub const MAX_PIECES: u64 = 1024;

/// The piece size of a file of `size` bytes.
pub fn piece_size(size: u64) -> u64 {
    let mut p = MIN_PIECE;
    while size.div_ceil(p) > MAX_PIECES {
        p *= 2;
    }
    p
}

/// How many pieces a file of `size` bytes has (an empty file has one, empty, piece).
pub fn piece_count(size: u64) -> u64 {
    size.div_ceil(piece_size(size)).max(1)
}

/// A file's BLAKE3 and its piece hashes, as computed from one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub hash: blake3::Hash,
    pub pieces: Pieces,
}

impl Digest {
    /// A one-piece file's digest (its piece hash is the file hash).
    pub fn whole(hash: blake3::Hash) -> Digest {
        Digest {
            hash,
            pieces: Pieces::default(),
        }
    }
}

/// Piece hashes of a file with more than one piece; nothing for a one-piece file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pieces(Option<Arc<[[u8; 32]]>>);

impl Pieces {
    /// From the list of every piece's hash; a list of one stores nothing.
    pub fn of(list: Vec<[u8; 32]>) -> Pieces {
        if list.len() <= 1 {
            Pieces(None)
        } else {
            Pieces(Some(list.into()))
        }
    }

    /// The hashes stored for a multi-piece file (empty for a one-piece file).
    pub fn stored(&self) -> &[[u8; 32]] {
        self.0.as_deref().unwrap_or(&[])
    }

    /// Every piece hash of the file with hash `file` and `size` bytes, or `None` when what is
    /// stored does not fit that size (a cache written under other rules).
    pub fn all(&self, file: &blake3::Hash, size: u64) -> Option<Vec<[u8; 32]>> {
        let n = piece_count(size) as usize;
        match &self.0 {
            None if n == 1 => Some(vec![*file.as_bytes()]),
            Some(list) if list.len() == n => Some(list.to_vec()),
            _ => None,
        }
    }

    /// Whether these fit a file of `size` bytes.
    pub fn fits(&self, size: u64) -> bool {
        let n = piece_count(size) as usize;
        match &self.0 {
            None => n == 1,
            Some(list) => list.len() == n,
        }
    }

    /// The stored hashes as one hex string (empty for a one-piece file).
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(self.stored().len() * 64);
        for h in self.stored() {
            out.push_str(blake3::Hash::from_bytes(*h).to_hex().as_str());
        }
        out
    }

    /// Parses [`Pieces::to_hex`]; `None` unless whole hashes of lowercase hex.
    pub fn from_hex(hex: &str) -> Option<Pieces> {
        if hex.len() % 64 != 0 {
            return None;
        }
        let list = hex
            .as_bytes()
            .chunks(64)
            .map(|c| {
                let s = std::str::from_utf8(c).ok()?;
                if s.bytes().any(|b| b.is_ascii_uppercase()) {
                    return None;
                }
                blake3::Hash::from_hex(s).ok().map(|h| *h.as_bytes())
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Pieces::of(list))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_size_grows_only_to_keep_the_list_short() {
        assert_eq!(piece_size(0), MIN_PIECE);
        assert_eq!(piece_count(0), 1);
        assert_eq!(piece_count(1), 1);
        assert_eq!(piece_count(MIN_PIECE), 1);
        assert_eq!(piece_count(MIN_PIECE + 1), 2);
        assert_eq!(piece_size(100 << 20), MIN_PIECE);
        assert_eq!(piece_count(100 << 20), 100);
        assert_eq!(piece_size(1 << 30), MIN_PIECE);
        assert_eq!(piece_size((1 << 30) + 1), 2 * MIN_PIECE);
        assert_eq!(piece_size(1 << 40), 1 << 30);
        for size in [1u64 << 30, 5 << 30, (1 << 40) + 7] {
            assert!(piece_count(size) <= MAX_PIECES);
            assert!(piece_size(size).is_power_of_two());
        }
    }

    #[test]
    fn one_piece_stores_nothing_and_hex_roundtrips() {
        let h = blake3::hash(b"x");
        let one = Pieces::of(vec![*h.as_bytes()]);
        assert_eq!(one, Pieces::default());
        assert_eq!(one.all(&h, 10), Some(vec![*h.as_bytes()]));
        assert_eq!(one.all(&h, 3 << 20), None);
        let two = Pieces::of(vec![[0xab; 32], [2; 32]]);
        assert!(two.fits(MIN_PIECE + 1) && !two.fits(MIN_PIECE));
        assert_eq!(Pieces::from_hex(&two.to_hex()), Some(two.clone()));
        assert_eq!(Pieces::from_hex(&two.to_hex()[1..]), None);
        assert_eq!(Pieces::from_hex(&two.to_hex().to_uppercase()), None);
    }
}
