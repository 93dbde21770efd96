//! BLAKE3 of a file, fast on big files and safe against files that change underneath.
//!
//! A big file is cut along BLAKE3's own tree: the left subtree is always the largest power of
//! two of 1 KiB chunks that leaves something on the right, so both halves can be hashed on
//! different cores and merged into exactly the hash of the whole (`blake3::hazmat`). Each leaf
//! is read with positional reads into a small per-thread buffer, so the work splits without a
//! shared file cursor and memory stays at one buffer per core whatever the file size.
//!
//! Not mmap: a file truncated while mapped raises SIGBUS, which would kill the daemon for a
//! user editing a shared file. A file that shrinks while read gives `UnexpectedEof` here; one
//! that changes otherwise is caught by the caller comparing its metadata before and after.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use blake3::hazmat::{
    left_subtree_len, merge_subtrees_non_root, merge_subtrees_root, ChainingValue, HasherExt, Mode,
};
use blake3::Hasher;

use super::pieces::{piece_size, Digest, Pieces};

/// Largest subtree hashed by one task. Small enough that a 1 GiB file gives thousands of tasks
/// to balance across cores; large enough that the SIMD kernels run on long stretches.
const LEAF: u64 = 1 << 20;
/// One read. Fits in L2 on the machines we run on, so the hash reads what the copy just wrote.
const READ: usize = 256 << 10;

thread_local! {
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The BLAKE3 hash of the first `len` bytes of `file`.
///
/// Runs on the rayon global pool when `len` is over one leaf. `UnexpectedEof` when the file
/// is shorter than `len`.
pub fn hash_file(file: &File, len: u64) -> io::Result<blake3::Hash> {
    if len <= LEAF {
        let mut hasher = Hasher::new();
        feed(file, 0, len, &mut hasher)?;
        return Ok(hasher.finalize());
    }
    let left = left_subtree_len(len);
    let (l, r) = rayon_core::join(
        || subtree(file, 0, left),
        || subtree(file, left, len - left),
    );
    Ok(merge_subtrees_root(&l?, &r?, Mode::Hash))
}

/// Chaining value of the subtree at `offset`; the split keeps every part a valid subtree.
fn subtree(file: &File, offset: u64, len: u64) -> io::Result<ChainingValue> {
    if len <= LEAF {
        let mut hasher = Hasher::new();
        hasher.set_input_offset(offset);
        feed(file, offset, len, &mut hasher)?;
        return Ok(hasher.finalize_non_root());
    }
    let left = left_subtree_len(len);
    let (l, r) = rayon_core::join(
        || subtree(file, offset, left),
        || subtree(file, offset + left, len - left),
    );
    Ok(merge_subtrees_non_root(&l?, &r?, Mode::Hash))
}

/// The BLAKE3 hash of the first `len` bytes of `file` and the hash of each of its pieces
/// ([`super::pieces`]), from one read.
///
/// A piece is a power of two of BLAKE3 chunks, so the tree's subtrees split at piece boundaries:
/// with pieces as the leaves, each piece's bytes are read once and fed to two hashers, the
/// file's (at the piece's offset) and the piece's own. That costs a second BLAKE3 pass over the
/// bytes of multi-piece files on their first hashing (hashing is far faster than the disk on the
/// machines we run on), never a second read.
pub fn digest_file(file: &File, len: u64) -> io::Result<Digest> {
    let piece = piece_size(len);
    if len <= piece {
        return Ok(Digest::whole(hash_file(file, len)?));
    }
    let mut pieces = Vec::with_capacity(len.div_ceil(piece) as usize);
    let left = left_subtree_len(len);
    let (l, r) = rayon_core::join(
        || piece_tree(file, 0, left, piece),
        || piece_tree(file, left, len - left, piece),
    );
    let (l, lp) = l?;
    let (r, rp) = r?;
    pieces.extend(lp);
    pieces.extend(rp);
    Ok(Digest {
        hash: merge_subtrees_root(&l, &r, Mode::Hash),
        pieces: Pieces::of(pieces),
    })
}

/// Chaining value of the subtree at `offset` and the hashes of its pieces, in order.
fn piece_tree(
    file: &File,
    offset: u64,
    len: u64,
    piece: u64,
) -> io::Result<(ChainingValue, Vec<[u8; 32]>)> {
    if len <= piece {
        let mut tree = Hasher::new();
        tree.set_input_offset(offset);
        let mut own = Hasher::new();
        feed_both(file, offset, len, &mut tree, &mut own)?;
        return Ok((tree.finalize_non_root(), vec![*own.finalize().as_bytes()]));
    }
    let left = left_subtree_len(len);
    let (l, r) = rayon_core::join(
        || piece_tree(file, offset, left, piece),
        || piece_tree(file, offset + left, len - left, piece),
    );
    let (l, mut lp) = l?;
    let (r, rp) = r?;
    lp.extend(rp);
    Ok((merge_subtrees_non_root(&l, &r, Mode::Hash), lp))
}

fn feed_both(file: &File, offset: u64, len: u64, a: &mut Hasher, b: &mut Hasher) -> io::Result<()> {
    read_range(file, offset, len, |bytes| {
        a.update(bytes);
        b.update(bytes);
    })
}

fn feed(file: &File, offset: u64, len: u64, hasher: &mut Hasher) -> io::Result<()> {
    read_range(file, offset, len, |bytes| {
        hasher.update(bytes);
    })
}

/// Hands `len` bytes of `file` from `offset` to `each`, one read of at most `READ` at a time,
/// through the thread's buffer.
fn read_range(
    file: &File,
    mut offset: u64,
    len: u64,
    mut each: impl FnMut(&[u8]),
) -> io::Result<()> {
    BUF.with_borrow_mut(|buf| {
        let want = (len as usize).min(READ);
        if buf.len() < want {
            buf.resize(want, 0);
        }
        let end = offset + len;
        while offset < end {
            let n = ((end - offset) as usize).min(READ);
            file.read_exact_at(&mut buf[..n], offset)?;
            each(&buf[..n]);
            offset += n as u64;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 1021) as u8).collect()
    }

    #[test]
    fn same_hash_as_one_pass_for_every_split_shape() {
        let leaf = LEAF as usize;
        let sizes = [
            0,
            1,
            1023,
            1024,
            1025,
            READ + 3,
            leaf - 1,
            leaf,
            leaf + 1,
            2 * leaf,
            3 * leaf + 1024 * 5 + 17,
            8 * leaf + 1,
        ];
        for len in sizes {
            let bytes = data(len);
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(&bytes).unwrap();
            let got = hash_file(&f, len as u64).unwrap();
            assert_eq!(got, blake3::hash(&bytes), "len {len}");
        }
    }

    #[test]
    fn piece_hashes_come_with_the_file_hash_from_one_read() {
        use super::super::pieces::{piece_count, MIN_PIECE};
        let p = MIN_PIECE as usize;
        for len in [0, 5, p, p + 1, 3 * p + 4097, 100 * p / 7] {
            let bytes = data(len);
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(&bytes).unwrap();
            let d = digest_file(&f, len as u64).unwrap();
            assert_eq!(d.hash, blake3::hash(&bytes), "len {len}");
            let want: Vec<[u8; 32]> = if len == 0 {
                vec![*blake3::hash(b"").as_bytes()]
            } else {
                bytes
                    .chunks(p)
                    .map(|c| *blake3::hash(c).as_bytes())
                    .collect()
            };
            assert_eq!(want.len() as u64, piece_count(len as u64));
            assert_eq!(d.pieces.all(&d.hash, len as u64), Some(want), "len {len}");
            assert_eq!(d.pieces.stored().is_empty(), len <= p, "len {len}");
        }
    }

    #[test]
    fn a_file_shorter_than_announced_is_an_error_not_a_hash() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&data(3 * LEAF as usize)).unwrap();
        let err = hash_file(&f, 4 * LEAF).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
