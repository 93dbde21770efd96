//! The seeder as the tracker of its rooms (transfer protocol version 3): which connected peer
//! holds which pieces of which file (`have`), which pieces each is fetching from the seeder
//! right now, and the byte counts `/metrics` compares: what the seeder sent for downloads
//! against what peers report serving to each other (`served`).
//!
//! No I/O here: sessions call it as messages arrive; one [`Swarm`] is shared by every link.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::protocol::SourcePeer;
use crate::watch::pieces::MAX_PIECES;

/// Longest availability bitfield: one bit per piece.
const MAX_BITFIELD: usize = (MAX_PIECES as usize).div_ceil(8);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HaveError {
    #[error("`pieces` is not a base64 bitfield of at most {MAX_BITFIELD} bytes")]
    BadBitfield,
    #[error("this peer announces {0} files already (seeder.swarm_files_per_peer)")]
    TooManyFiles(usize),
}

#[derive(Default)]
struct Peer {
    /// file hash -> bitfield of held pieces.
    have: HashMap<String, Vec<u8>>,
    /// transfer id -> (file hash, first piece, last piece) it is fetching from the seeder.
    fetching: HashMap<u32, (String, u32, u32)>,
}

/// Shared swarm state of one seeder.
pub struct Swarm {
    peers: Mutex<HashMap<String, Peer>>,
    files_per_peer: usize,
    seeder_bytes: AtomicU64,
    peer_bytes: AtomicU64,
}

impl Swarm {
    pub fn new(files_per_peer: usize) -> Swarm {
        Swarm {
            peers: Mutex::default(),
            files_per_peer,
            seeder_bytes: AtomicU64::new(0),
            peer_bytes: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Peer>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `peer` holds these pieces of `hash` now (an empty or all-zero bitfield: none).
    pub fn have(&self, peer: &str, hash: &str, pieces: &str) -> Result<(), HaveError> {
        let bits = B64.decode(pieces).map_err(|_| HaveError::BadBitfield)?;
        if bits.len() > MAX_BITFIELD {
            return Err(HaveError::BadBitfield);
        }
        let mut peers = self.lock();
        let p = peers.entry(peer.to_owned()).or_default();
        if bits.iter().all(|b| *b == 0) {
            p.have.remove(hash);
            return Ok(());
        }
        if !p.have.contains_key(hash) && p.have.len() >= self.files_per_peer {
            return Err(HaveError::TooManyFiles(p.have.len()));
        }
        p.have.insert(hash.to_owned(), bits);
        Ok(())
    }

    /// The peers other than `asker` that hold pieces of `hash` or fetch them from the seeder.
    pub fn sources(&self, hash: &str, asker: &str) -> Vec<SourcePeer> {
        let peers = self.lock();
        let mut out: Vec<SourcePeer> = peers
            .iter()
            .filter(|(name, _)| name.as_str() != asker)
            .filter_map(|(name, p)| {
                let have = p.have.get(hash);
                let mut fetching = Vec::new();
                for (h, first, last) in p.fetching.values() {
                    if h == hash {
                        set_bits(&mut fetching, *first, *last);
                    }
                }
                if have.is_none() && fetching.is_empty() {
                    return None;
                }
                Some(SourcePeer {
                    name: name.clone(),
                    pieces: have.map(|b| B64.encode(b)).unwrap_or_default(),
                    fetching: if fetching.is_empty() {
                        String::new()
                    } else {
                        B64.encode(&fetching)
                    },
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// `peer` started fetching pieces `first..=last` of `hash` from the seeder (transfer `id`).
    pub fn fetching(&self, peer: &str, id: u32, hash: &str, first: u32, last: u32) {
        let mut peers = self.lock();
        let p = peers.entry(peer.to_owned()).or_default();
        if p.fetching.len() < 64 {
            p.fetching.insert(id, (hash.to_owned(), first, last));
        }
    }

    /// Transfer `id` of `peer` ended (finished or not).
    pub fn fetched(&self, peer: &str, id: u32) {
        if let Some(p) = self.lock().get_mut(peer) {
            p.fetching.remove(&id);
        }
    }

    /// `peer` is gone: it serves nothing any more.
    pub fn left(&self, peer: &str) {
        self.lock().remove(peer);
    }

    /// The seeder put `bytes` of download frames on a channel.
    pub fn seeder_sent(&self, bytes: u64) {
        self.seeder_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A peer reported serving `bytes` to other peers.
    pub fn peer_served(&self, bytes: u64) {
        self.peer_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// (bytes the seeder sent, bytes peers reported serving each other).
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.seeder_bytes.load(Ordering::Relaxed),
            self.peer_bytes.load(Ordering::Relaxed),
        )
    }
}

fn set_bits(bits: &mut Vec<u8>, first: u32, last: u32) {
    let last = last.min(MAX_PIECES as u32 - 1);
    for i in first..=last {
        let (byte, bit) = ((i / 8) as usize, 7 - (i % 8));
        if bits.len() <= byte {
            bits.resize(byte + 1, 0);
        }
        bits[byte] |= 1 << bit;
    }
}

impl crate::metrics::Source for Swarm {
    fn render(&self, out: &mut crate::metrics::Exposition) {
        let (seeder, peers) = self.bytes();
        out.counter(
            "peerbox_swarm_seeder_bytes_total",
            "Bytes of file data the seeder sent to downloaders (chunk frames).",
            seeder,
        );
        out.counter(
            "peerbox_swarm_peer_bytes_total",
            "Bytes of file data peers reported serving to other peers (`served`).",
            peers,
        );
        let (files, peers) = {
            let p = self.lock();
            (p.values().map(|p| p.have.len()).sum::<usize>(), p.len())
        };
        out.gauge(
            "peerbox_swarm_peers",
            "Connected peers the tracker knows.",
            peers as f64,
        );
        out.gauge(
            "peerbox_swarm_announced_files",
            "Files peers announce pieces of (`have`), summed over peers.",
            files as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";

    #[test]
    fn sources_list_other_holders_and_what_they_fetch() {
        let s = Swarm::new(2);
        s.have("a", H, &B64.encode([0b1010_0000])).unwrap();
        s.fetching("b", 7, H, 0, 8);
        let got = s.sources(H, "c");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].pieces, B64.encode([0b1010_0000]));
        assert_eq!(got[1].fetching, B64.encode([0xff, 0x80]));
        assert_eq!(
            s.sources(H, "a").len(),
            1,
            "the asker is not its own source"
        );
        s.fetched("b", 7);
        s.have("a", H, "").unwrap();
        assert!(s.sources(H, "c").is_empty());
    }

    #[test]
    fn bad_bitfields_and_too_many_files_are_refused() {
        let s = Swarm::new(1);
        assert_eq!(s.have("a", H, "***"), Err(HaveError::BadBitfield));
        let huge = B64.encode(vec![1u8; MAX_BITFIELD + 1]);
        assert_eq!(s.have("a", H, &huge), Err(HaveError::BadBitfield));
        s.have("a", H, "gA==").unwrap();
        let other = "0".repeat(64);
        assert_eq!(s.have("a", &other, "gA=="), Err(HaveError::TooManyFiles(1)));
        s.left("a");
        assert!(s.sources(H, "x").is_empty());
    }
}
