//! Transfer protocol version 3 (the swarm) through a real Session + Edge over real files: range
//! requests, piece hashes, availability and sources through the shared tracker, and the
//! version gate that keeps older peers served exactly as before.

mod common;

use std::sync::Arc;

use common::*;
use peerbox::seeder::edge::Outgoing;
use peerbox::seeder::frame;
use peerbox::seeder::incoming::IncomingStore;
use peerbox::seeder::protocol::{Code, Message};
use peerbox::seeder::session::Session;
use peerbox::seeder::swarm::Swarm;
use peerbox::watch::pieces::{piece_size, MIN_PIECE};

struct Setup {
    _tmp: tempfile::TempDir,
    share: std::path::PathBuf,
    store: IncomingStore,
    data: Vec<u8>,
    entry: peerbox::watch::Entry,
    swarm: Arc<Swarm>,
}

fn setup(size: usize) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let share = tmp.path().join("share");
    std::fs::create_dir_all(&share).unwrap();
    let data = random_bytes(size);
    std::fs::write(share.join("big.bin"), &data).unwrap();
    let store = IncomingStore::open(&tmp.path().join("incoming"), &cfg()).unwrap();
    let real = share.join("big.bin");
    let file = std::fs::File::open(&real).unwrap();
    let digest = peerbox::watch::hash::digest_file(&file, size as u64).unwrap();
    let stat = peerbox::watch::Stat::of(&std::fs::metadata(&real).unwrap());
    let entry =
        peerbox::watch::Entry::new("big.bin", stat, digest.hash, &real).with_pieces(digest.pieces);
    Setup {
        _tmp: tmp,
        share,
        store,
        data,
        entry,
        swarm: Arc::new(Swarm::new(8)),
    }
}

fn peer(s: &mut Setup, name: &str, version: u32) -> Peer {
    let cfg = cfg();
    let mut p = Peer::speaking(version, name, &s.share, &cfg, &mut s.store);
    p.session = Session::new(cfg.max_transfers_per_peer, cfg.catalog_files_per_message)
        .with_swarm(name, s.swarm.clone());
    let hello = Message::Hello {
        version,
        agent: None,
    };
    p.msg(&mut s.store, hello);
    p.session.set_catalog(snapshot(1, [s.entry.clone()]));
    p.catalog();
    p
}

/// Pumps transfer `id` to its end; returns the payload (checked contiguous from `start`) and
/// the final text messages.
fn drain(p: &mut Peer, id: u32, start: u64) -> (Vec<u8>, Vec<Message>) {
    let (mut bytes, mut msgs, mut next) = (Vec::new(), Vec::new(), start);
    loop {
        let out = p.edge.pump(&mut p.session, 4);
        if out.is_empty() {
            return (bytes, msgs);
        }
        for o in out {
            match o {
                Outgoing::Binary(b) => {
                    let c = frame::decode(&b).unwrap();
                    assert_eq!((c.transfer_id, c.offset), (id, next));
                    next += c.data.len() as u64;
                    bytes.extend_from_slice(c.data);
                }
                Outgoing::Text(t) => msgs.push(Message::parse(&t).unwrap()),
            }
        }
    }
}

#[test]
fn a_range_sends_exactly_its_bytes_then_end_with_the_whole_files_hash() {
    let mut s = setup(3 * MIN_PIECE as usize + 12345);
    let mut p = peer(&mut s, "phone", 3);
    let hash = s.entry.hash.to_hex().to_string();
    let (off, len) = (MIN_PIECE, MIN_PIECE);
    // By catalog id, and by content hash (how browsers name the files they re-seed).
    for (id, file_id) in [(1, s.entry.id.to_string()), (3, hash.clone())] {
        let range = Message::DownloadRange {
            transfer_id: id,
            file_id,
            offset: off,
            length: len,
        };
        assert_eq!(p.msg(&mut s.store, range), vec![]);
        let (got, msgs) = drain(&mut p, id, off);
        assert!(got == s.data[off as usize..(off + len) as usize]);
        let size = s.data.len() as u64;
        assert_eq!(
            msgs,
            vec![Message::End {
                transfer_id: id,
                size,
                hash: hash.clone()
            }]
        );
    }
    // Past the end, or empty: refused; nothing is sent.
    for (id, offset, length) in [(5, 3 * MIN_PIECE, MIN_PIECE), (7, 0, 0)] {
        let range = Message::DownloadRange {
            transfer_id: id,
            file_id: hash.clone(),
            offset,
            length,
        };
        assert_eq!(code_of(&p.msg(&mut s.store, range)), Some(Code::BadOffset));
    }
}

#[test]
fn piece_hashes_match_the_bytes_and_fit_in_messages() {
    let mut s = setup(5 * MIN_PIECE as usize + 1);
    let mut p = peer(&mut s, "phone", 3);
    let id = s.entry.id.to_string();
    let out = p.msg(&mut s.store, Message::Pieces { file_id: id });
    let [Message::PieceHashes {
        hash,
        size,
        piece_size: ps,
        first: 0,
        hashes,
        last: true,
        ..
    }] = out.as_slice()
    else {
        panic!("{out:?}")
    };
    assert_eq!(*size, s.data.len() as u64);
    assert_eq!(*ps, piece_size(*size));
    assert_eq!(*hash, s.entry.hash.to_hex().to_string());
    let want: String = s
        .data
        .chunks(*ps as usize)
        .map(|c| blake3::hash(c).to_hex().to_string())
        .collect();
    assert_eq!(*hashes, want);
    let missing = Message::Pieces {
        file_id: "0".repeat(32),
    };
    assert_eq!(code_of(&p.msg(&mut s.store, missing)), Some(Code::NotFound));
}

#[test]
fn sources_name_the_peers_that_hold_pieces_and_forget_them_when_they_leave() {
    let mut s = setup(2 * MIN_PIECE as usize);
    let hash = s.entry.hash.to_hex().to_string();
    let mut a = peer(&mut s, "a", 3);
    let mut b = peer(&mut s, "b", 3);
    let have = Message::Have {
        hash: hash.clone(),
        pieces: "gA==".into(),
    };
    assert_eq!(a.msg(&mut s.store, have), vec![]);
    // b fetches piece 1 from the seeder: a learns not to ask the seeder for it too.
    let range = Message::DownloadRange {
        transfer_id: 2,
        file_id: hash.clone(),
        offset: MIN_PIECE,
        length: MIN_PIECE,
    };
    b.msg(&mut s.store, range);
    let ask = Message::Sources {
        hash: hash.clone(),
        peers: None,
    };
    let out = a.msg(&mut s.store, ask.clone());
    let [Message::Sources {
        peers: Some(peers), ..
    }] = out.as_slice()
    else {
        panic!("{out:?}")
    };
    assert_eq!(peers.len(), 1);
    assert_eq!(
        (peers[0].name.as_str(), peers[0].fetching.as_str()),
        ("b", "QA==")
    );
    let out = b.msg(&mut s.store, ask.clone());
    assert!(
        matches!(&out[0], Message::Sources { peers: Some(p), .. } if p[0].name == "a" && p[0].pieces == "gA==")
    );
    a.close(&mut s.store);
    let out = b.msg(&mut s.store, ask);
    assert!(matches!(&out[0], Message::Sources { peers: Some(p), .. } if p.is_empty()));
    // Reports of bytes served between peers add up for /metrics.
    b.msg(&mut s.store, Message::Served { bytes: 1000 });
    assert_eq!(s.swarm.bytes().1, 1000);
}

#[test]
fn older_sessions_get_no_swarm_messages_and_still_download() {
    let mut s = setup(MIN_PIECE as usize + 7);
    for version in [1, 2] {
        let mut p = peer(&mut s, "old", version);
        let hash = s.entry.hash.to_hex().to_string();
        let range = Message::DownloadRange {
            transfer_id: 1,
            file_id: hash.clone(),
            offset: 0,
            length: 10,
        };
        let out = p.msg(&mut s.store, range);
        assert_eq!(code_of(&out), Some(Code::ProtocolViolation), "v{version}");
        let have = Message::Have {
            hash,
            pieces: "gA==".into(),
        };
        assert_eq!(
            code_of(&p.msg(&mut s.store, have)),
            Some(Code::ProtocolViolation)
        );
        let dl = Message::Download {
            transfer_id: 3,
            file_id: s.entry.id.to_string(),
            offset: 0,
        };
        assert_eq!(p.msg(&mut s.store, dl), vec![]);
        let (got, msgs) = drain(&mut p, 3, 0);
        assert!(got == s.data, "v{version}");
        assert!(matches!(msgs.as_slice(), [Message::End { .. }]));
    }
    assert!(s.swarm.sources(&s.entry.hash.to_hex(), "x").is_empty());
}
