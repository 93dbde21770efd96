//! Uploads into the incoming directory through Session + Edge + IncomingStore.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use peerbox::seeder::frame;
use peerbox::seeder::incoming::IncomingStore;
use peerbox::seeder::protocol::{Code, Message};

struct Dirs {
    _tmp: tempfile::TempDir,
    incoming: std::path::PathBuf,
    share: std::path::PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let incoming = tmp.path().join("incoming");
    let share = tmp.path().join("share");
    std::fs::create_dir_all(&share).unwrap();
    Dirs {
        incoming,
        share,
        _tmp: tmp,
    }
}

#[test]
fn multi_mib_upload_lands_complete_with_progress_and_mode() {
    let d = dirs();
    let cfg = cfg();
    let mut store = IncomingStore::open(&d.incoming, &cfg).unwrap();
    let mut p = Peer::new("alice", &d.share, &cfg, &mut store);
    let data = random_bytes(5 * 1024 * 1024 + 123);
    assert_eq!(
        p.offer(&mut store, 1, "big.bin", &data),
        vec![Message::Accept {
            transfer_id: 1,
            offset: 0
        }]
    );
    let replies = p.chunks(&mut store, 1, &data, 0, data.len());
    let acks: Vec<u64> = replies
        .iter()
        .map(|m| match m {
            Message::Progress {
                transfer_id: 1,
                offset,
            } => *offset,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(acks.len() >= 15, "{acks:?}");
    assert!(acks.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        p.end(&mut store, 1, &data),
        vec![Message::Done {
            transfer_id: 1,
            name: Some("big.bin".into())
        }]
    );
    let saved = d.incoming.join("big.bin");
    assert_eq!(std::fs::read(&saved).unwrap(), data);
    assert_eq!(
        std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert_eq!(partial_count(&d.incoming), 0);
    assert_eq!(listing(&d.incoming), vec!["big.bin"]);
}

#[test]
fn hash_mismatch_leaves_no_file() {
    let d = dirs();
    let cfg = cfg();
    let mut store = IncomingStore::open(&d.incoming, &cfg).unwrap();
    let mut p = Peer::new("alice", &d.share, &cfg, &mut store);
    let data = random_bytes(300_000);
    let mut other = data.clone();
    other[1234] ^= 1;
    p.offer(&mut store, 1, "x.bin", &data);
    p.chunks(&mut store, 1, &other, 0, other.len());
    let r = p.end(&mut store, 1, &data);
    assert_eq!(code_of(&r), Some(Code::HashMismatch));
    assert!(listing(&d.incoming).is_empty());
    assert_eq!(partial_count(&d.incoming), 0);
    // An `end` whose hash differs from the offer is refused too.
    p.offer(&mut store, 2, "y.bin", &data);
    p.chunks(&mut store, 2, &data, 0, data.len());
    assert_eq!(
        code_of(&p.end(&mut store, 2, &other)),
        Some(Code::HashMismatch)
    );
    assert!(listing(&d.incoming).is_empty());
}

#[test]
fn bad_offsets_and_sizes_fail_the_transfer() {
    let d = dirs();
    let cfg = cfg();
    let mut store = IncomingStore::open(&d.incoming, &cfg).unwrap();
    let mut p = Peer::new("alice", &d.share, &cfg, &mut store);
    let data = random_bytes(200_000);
    let n = frame::BASE_PAYLOAD_BYTES;
    // (name, frames to send after one good frame, expected code)
    let cases: Vec<(&str, Vec<Vec<u8>>, Code)> = vec![
        (
            "past-end",
            vec![frame::encode(0, 500_000, b"x")],
            Code::BadOffset,
        ),
        (
            "overlap",
            vec![frame::encode(0, (n - 10) as u64, &data[n - 10..n + 10])],
            Code::BadOffset,
        ),
        (
            "duplicate",
            vec![frame::encode(0, 0, &data[..n])],
            Code::BadOffset,
        ),
        (
            "gap",
            vec![frame::encode(0, (n + 1) as u64, b"x")],
            Code::BadOffset,
        ),
        (
            "too-many",
            vec![
                frame::encode(0, n as u64, &data[n..2 * n]),
                frame::encode(0, 2 * n as u64, &data[2 * n..3 * n]),
                frame::encode(0, 3 * n as u64, &[7u8; 10_000]),
            ],
            Code::BadChunk,
        ),
    ];
    for (i, (label, frames, want)) in cases.into_iter().enumerate() {
        let id = i as u32 + 1;
        let name = format!("{label}.bin");
        p.offer(&mut store, id, &name, &data);
        assert!(p
            .binary(&mut store, &frame::encode(id, 0, &data[..n]))
            .is_empty());
        let mut replies = Vec::new();
        for f in frames {
            let mut f = f;
            f[1..5].copy_from_slice(&id.to_be_bytes());
            replies.extend(p.binary(&mut store, &f));
        }
        assert_eq!(code_of(&replies), Some(want), "{label}: {replies:?}");
        // Later chunks of the failed transfer are ignored, not errors.
        assert!(p.binary(&mut store, &frame::encode(id, 1, b"z")).is_empty());
    }
    // Fewer bytes then end.
    p.offer(&mut store, 50, "short.bin", &data);
    p.chunks(&mut store, 50, &data, 0, 100_000);
    assert_eq!(
        code_of(&p.end(&mut store, 50, &data)),
        Some(Code::ShortTransfer)
    );
    // Fewer bytes then close: no final file (the hidden partial stays for a resume).
    p.offer(&mut store, 51, "closed.bin", &data);
    p.chunks(&mut store, 51, &data, 0, 100_000);
    p.close(&mut store);
    assert!(listing(&d.incoming).is_empty());
    assert_eq!(partial_count(&d.incoming), 2, "one .part and one .json");
}

#[test]
fn declared_sizes_are_checked_before_writing() {
    let d = dirs();
    let mut cfg = cfg();
    cfg.max_upload_bytes = u64::MAX;
    cfg.per_peer_quota_bytes = u64::MAX;
    let mut store = IncomingStore::open(&d.incoming, &cfg).unwrap();
    let mut p = Peer::new("alice", &d.share, &cfg, &mut store);
    let h = hash(b"");
    let offer = |id: u32, size: u64| Message::Offer {
        transfer_id: id,
        name: "a".into(),
        size,
        hash: h.clone(),
        folder: None,
    };
    assert_eq!(
        code_of(&p.msg(&mut store, offer(1, u64::MAX))),
        Some(Code::NoSpace)
    );
    assert_eq!(
        code_of(&p.msg(&mut store, offer(2, u64::MAX - 5))),
        Some(Code::NoSpace)
    );
    let neg = format!(r#"{{"type":"offer","transfer_id":3,"name":"a","size":-1,"hash":"{h}"}}"#);
    assert_eq!(code_of(&p.text(&mut store, &neg)), Some(Code::BadMessage));
    assert_eq!(partial_count(&d.incoming), 0);

    let small = peerbox::seeder::SeederConfig {
        max_upload_bytes: 1000,
        ..cfg.clone()
    };
    let mut store2 = IncomingStore::open(&d.incoming, &small).unwrap();
    let mut p2 = Peer::new("bob", &d.share, &small, &mut store2);
    assert_eq!(
        code_of(&p2.msg(&mut store2, offer(1, 1001))),
        Some(Code::TooLarge)
    );
    let reserve = peerbox::seeder::SeederConfig {
        free_space_reserve_bytes: u64::MAX / 2,
        ..cfg.clone()
    };
    let mut store3 = IncomingStore::open(&d.incoming, &reserve).unwrap();
    let mut p3 = Peer::new("bob", &d.share, &reserve, &mut store3);
    assert_eq!(
        code_of(&p3.msg(&mut store3, offer(1, 10))),
        Some(Code::NoSpace)
    );
    assert_eq!(partial_count(&d.incoming), 0);
}

#[test]
fn limits_busy_and_quota() {
    let d = dirs();
    let cfg = peerbox::seeder::SeederConfig {
        max_transfers_per_peer: 1,
        per_peer_quota_bytes: 150_000,
        ..cfg()
    };
    let mut store = IncomingStore::open(&d.incoming, &cfg).unwrap();
    let mut p = Peer::new("alice", &d.share, &cfg, &mut store);
    let data = random_bytes(100_000);
    p.offer(&mut store, 1, "a", &data);
    assert_eq!(
        code_of(&p.offer(&mut store, 2, "b", &data)),
        Some(Code::Busy)
    );
    assert_eq!(
        code_of(&p.offer(&mut store, 1, "b", &data)),
        Some(Code::DuplicateTransfer)
    );
    let mut q = Peer::new("alice", &d.share, &cfg, &mut store);
    assert_eq!(
        code_of(&q.offer(&mut store, 1, "c", &data)),
        Some(Code::Quota)
    );
    let mut other = Peer::new("bob", &d.share, &cfg, &mut store);
    assert_eq!(other.upload(&mut store, 1, "c", &data), "c");
    // Cancel frees the slot and removes the partial.
    p.msg(
        &mut store,
        Message::Cancel {
            transfer_id: 1,
            code: Code::Canceled,
        },
    );
    assert_eq!(partial_count(&d.incoming), 0);
    assert_eq!(p.upload(&mut store, 3, "a", &data), "a");
    // An empty file is a valid upload.
    assert_eq!(p.upload(&mut store, 4, "empty.txt", b""), "empty.txt");
    assert_eq!(std::fs::read(d.incoming.join("empty.txt")).unwrap(), b"");
}
