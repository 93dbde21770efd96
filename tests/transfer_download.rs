//! Downloads from the share directory, catalog announcement, and malformed input.

mod common;

use common::*;
use peerbox::seeder::edge::Outgoing;
use peerbox::seeder::frame;
use peerbox::seeder::incoming::IncomingStore;
use peerbox::seeder::protocol::{Code, FileInfo, Message, MAX_TEXT_BYTES};

struct Setup {
    id: String,
    _tmp: tempfile::TempDir,
    share: std::path::PathBuf,
    store: IncomingStore,
    peer: Peer,
    data: Vec<u8>,
}

fn setup(size: usize) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let share = tmp.path().join("share");
    std::fs::create_dir_all(share.join("sub")).unwrap();
    let data = random_bytes(size);
    std::fs::write(share.join("sub/file.bin"), &data).unwrap();
    let cfg = cfg();
    let mut store = IncomingStore::open(&tmp.path().join("incoming"), &cfg).unwrap();
    let mut peer = Peer::new("phone", &share, &cfg, &mut store);
    let file = entry(&share, "sub/file.bin");
    let id = file.id.to_string();
    peer.session.set_catalog(snapshot(1, [file]));
    match peer.catalog().as_slice() {
        [Message::Catalog {
            version: 1,
            parts: 1,
            files,
            ..
        }] => assert_eq!(files[0].id, id),
        other => panic!("{other:?}"),
    }
    Setup {
        id,
        _tmp: tmp,
        share,
        store,
        peer,
        data,
    }
}

/// Pumps until nothing is left; returns (payload bytes from frames, text messages).
fn drain(s: &mut Setup, id: u32, start: u64) -> (Vec<u8>, Vec<Message>) {
    let mut bytes = Vec::new();
    let mut msgs = Vec::new();
    let mut next = start;
    loop {
        let out = s.peer.edge.pump(&mut s.peer.session, 4);
        if out.is_empty() {
            break;
        }
        for o in out {
            match o {
                Outgoing::Binary(f) => {
                    assert!(f.len() <= frame::BASE_FRAME_BYTES);
                    let c = frame::decode(&f).unwrap();
                    assert_eq!((c.transfer_id, c.offset), (id, next));
                    next += c.data.len() as u64;
                    bytes.extend_from_slice(c.data);
                }
                Outgoing::Text(t) => msgs.push(Message::parse(&t).unwrap()),
            }
        }
    }
    (bytes, msgs)
}

#[test]
fn download_from_offset_yields_exact_bytes_and_end() {
    let mut s = setup(1_000_003);
    let r = s.peer.msg(
        &mut s.store,
        Message::Download {
            transfer_id: 9,
            file_id: s.id.clone(),
            offset: 12_345,
        },
    );
    assert!(r.is_empty(), "{r:?}");
    let (bytes, msgs) = drain(&mut s, 9, 12_345);
    assert_eq!(bytes, s.data[12_345..]);
    assert_eq!(
        msgs,
        vec![Message::End {
            transfer_id: 9,
            size: 1_000_003,
            hash: hash(&s.data)
        }]
    );
    assert!(!s.peer.edge.sending());
    // Offset == size: nothing but `end`.
    s.peer.msg(
        &mut s.store,
        Message::Download {
            transfer_id: 10,
            file_id: s.id.clone(),
            offset: 1_000_003,
        },
    );
    let (bytes, msgs) = drain(&mut s, 10, 1_000_003);
    assert!(bytes.is_empty());
    assert!(matches!(
        msgs.as_slice(),
        [Message::End {
            transfer_id: 10,
            ..
        }]
    ));
}

#[test]
fn bad_download_requests_are_refused() {
    let mut s = setup(1000);
    let r = s.peer.msg(
        &mut s.store,
        Message::Download {
            transfer_id: 1,
            file_id: "nope".into(),
            offset: 0,
        },
    );
    assert_eq!(code_of(&r), Some(Code::NotFound));
    let r = s.peer.msg(
        &mut s.store,
        Message::Download {
            transfer_id: 2,
            file_id: s.id.clone(),
            offset: 1001,
        },
    );
    assert_eq!(code_of(&r), Some(Code::BadOffset));
    // Deleted before the download starts.
    std::fs::remove_file(s.share.join("sub/file.bin")).unwrap();
    let r = s.peer.msg(
        &mut s.store,
        Message::Download {
            transfer_id: 3,
            file_id: s.id.clone(),
            offset: 0,
        },
    );
    assert_eq!(code_of(&r), Some(Code::NotFound));
}

#[test]
fn file_truncated_during_download_is_a_clear_error() {
    let mut s = setup(2_000_000);
    s.peer.msg(
        &mut s.store,
        Message::Download {
            transfer_id: 5,
            file_id: s.id.clone(),
            offset: 0,
        },
    );
    let first = s.peer.edge.pump(&mut s.peer.session, 2);
    assert_eq!(first.len(), 2);
    std::fs::File::options()
        .write(true)
        .open(s.share.join("sub/file.bin"))
        .unwrap()
        .set_len(1_000_000)
        .unwrap();
    let (bytes, msgs) = drain(&mut s, 5, 2 * frame::BASE_PAYLOAD_BYTES as u64);
    // Read-ahead frames from before the truncation may still go out; they hold the right
    // bytes, and no byte past the truncation is ever sent.
    assert!(bytes.len() + 2 * frame::BASE_PAYLOAD_BYTES <= 1_000_000);
    let start = 2 * frame::BASE_PAYLOAD_BYTES;
    assert_eq!(bytes, s.data[start..start + bytes.len()]);
    assert_eq!(code_of(&msgs), Some(Code::Changed), "{msgs:?}");
    assert!(!msgs.iter().any(|m| matches!(m, Message::End { .. })));
    assert!(!s.peer.edge.sending());
    // A size changed before the start is refused at open.
    let r = s.peer.msg(
        &mut s.store,
        Message::Download {
            transfer_id: 6,
            file_id: s.id.clone(),
            offset: 0,
        },
    );
    assert_eq!(code_of(&r), Some(Code::Changed));
    assert!(!s.peer.edge.sending());
}

#[test]
fn file_growing_during_download_is_reported_not_cut() {
    let mut s = setup(300_000);
    s.peer.msg(
        &mut s.store,
        Message::Download {
            transfer_id: 4,
            file_id: s.id.clone(),
            offset: 0,
        },
    );
    assert_eq!(s.peer.edge.pump(&mut s.peer.session, 1).len(), 1);
    use std::io::Write;
    let mut f = std::fs::File::options()
        .append(true)
        .open(s.share.join("sub/file.bin"))
        .unwrap();
    f.write_all(b"more").unwrap();
    let (bytes, msgs) = drain(&mut s, 4, frame::BASE_PAYLOAD_BYTES as u64);
    assert_eq!(bytes, s.data[frame::BASE_PAYLOAD_BYTES..]);
    assert_eq!(code_of(&msgs), Some(Code::Changed), "{msgs:?}");
    assert!(!msgs.iter().any(|m| matches!(m, Message::End { .. })));
}

#[test]
fn large_catalogs_are_split_under_the_message_limit() {
    let entries: Vec<peerbox::watch::Entry> = (0..1500u64)
        .map(|i| {
            let stat = peerbox::watch::Stat {
                size: i,
                ..Default::default()
            };
            let path = format!("{}/{i}.txt", "deep/".repeat(60));
            peerbox::watch::Entry::new(&path, stat, blake3::hash(&i.to_le_bytes()), "/x".as_ref())
        })
        .collect();
    let want: Vec<FileInfo> = entries.iter().map(FileInfo::from).collect();
    let mut session = peerbox::seeder::session::Session::new(4, 200);
    session.set_catalog(snapshot(3, entries));
    assert_eq!(session.next_catalog(), None, "nothing before hello");
    session.on_text(r#"{"type":"hello","version":1}"#);
    let mut seen = Vec::new();
    let mut count = 0;
    while let Some(t) = session.next_catalog() {
        assert!(t.len() < MAX_TEXT_BYTES);
        match Message::parse(&t).unwrap() {
            Message::Catalog {
                version: 3,
                part,
                parts,
                files,
            } => {
                assert_eq!(part, count);
                assert!(files.len() <= 200);
                assert!(parts > 8);
                count += 1;
                assert!(part < parts);
                seen.extend(files);
            }
            other => panic!("{other:?}"),
        }
    }
    seen.sort_by_key(|f| f.size);
    assert_eq!(seen, want);
}

#[test]
fn malformed_input_never_panics_and_gets_typed_errors() {
    let mut s = setup(10);
    let mut fresh = peerbox::seeder::session::Session::new(4, 200);
    let r = fresh.on_text(r#"{"type":"download","transfer_id":1,"file_id":"f1","offset":0}"#);
    assert_eq!(r.len(), 1, "hello must come first");
    for bad in [r#"0"#, r#""2""#, r#"-1"#, r#"1.5"#, r#"null"#] {
        let r = fresh.on_text(&format!(r#"{{"type":"hello","version":{bad}}}"#));
        assert!(
            format!("{r:?}").contains("unsupported_version"),
            "{bad}: {r:?}"
        );
    }
    assert_eq!(
        code_of(&s.peer.text(&mut s.store, "{not json")),
        Some(Code::BadMessage)
    );
    assert_eq!(
        code_of(&s.peer.binary(&mut s.store, &[1, 2, 3])),
        Some(Code::BadChunk)
    );
    assert_eq!(
        code_of(&s.peer.binary(&mut s.store, &frame::encode(77, 0, b"x"))),
        Some(Code::UnknownTransfer)
    );
    for i in 0..3000usize {
        let len = i % 300;
        let mut bytes = random_bytes(len);
        if i % 3 == 0 && len > 0 {
            bytes[0] = b'{';
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let _ = s.peer.session.on_text(&text);
        if i % 2 == 0 && len > 0 {
            bytes[0] = 1;
        }
        let _ = s.peer.session.on_binary(&bytes);
    }
}
