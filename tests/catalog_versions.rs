//! The catalog on the wire, through the sans-IO session: version 2 streams the list in parts,
//! then sends deltas (a receiver that misses one asks for a full resend); version 1 keeps
//! getting full snapshots; messages are built only when the link asks for the next one.

mod common;

use common::*;
use peerbox::seeder::incoming::IncomingStore;
use peerbox::seeder::protocol::Message;
use peerbox::watch::{Entry, Progress, Snapshot, Stat};

fn file(path: &str, n: u64) -> Entry {
    let stat = Stat {
        size: n,
        mtime_ns: n * 1_000_000,
        ..Default::default()
    };
    Entry::new(path, stat, blake3::hash(&n.to_le_bytes()), "/x".as_ref())
}

fn files(range: std::ops::Range<u64>) -> Vec<Entry> {
    range
        .map(|i| file(&format!("d{}/f{i}.txt", i % 7), i))
        .collect()
}

/// A version-2 receiver: the library's, which the Rust client keeps its catalog in.
use peerbox::client::CatalogView as Receiver;

fn receiver_at(version: u64) -> Receiver {
    let mut r = Receiver::default();
    r.version = version;
    r
}

fn paths(s: &Snapshot) -> Vec<String> {
    let mut v: Vec<String> = s.entries.values().map(|e| e.path.to_string()).collect();
    v.sort();
    v
}

struct Setup {
    _tmp: tempfile::TempDir,
    store: IncomingStore,
    peer: Peer,
}

fn setup(version: u32) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = cfg();
    let mut store = IncomingStore::open(&tmp.path().join("incoming"), &cfg).unwrap();
    let mut peer = Peer::speaking(version, "phone", tmp.path(), &cfg, &mut store);
    peer.session.set_catalog(snapshot(1, []));
    assert!(!peer.catalog().is_empty(), "the empty list, then version 1");
    Setup {
        _tmp: tmp,
        store,
        peer,
    }
}

/// Delivers every catalog message the session has now; answers go back to the session.
fn pump(s: &mut Setup, r: &mut Receiver) -> usize {
    let mut n = 0;
    while let Some(t) = s.peer.session.next_catalog() {
        n += 1;
        if let Some(back) = r
            .apply(Message::parse(&t).unwrap())
            .expect("a catalog message")
        {
            assert!(s.peer.msg(&mut s.store, back).is_empty());
        }
    }
    n
}

#[test]
fn version_2_streams_parts_then_deltas_and_recovers_from_a_gap() {
    let mut s = setup(2);
    let first = snapshot(5, files(0..1000));
    s.peer.session.set_catalog(first.clone());
    let mut r = receiver_at(1);
    // In step at version 1 (empty): 1000 new files come as one delta in several messages.
    assert!(pump(&mut s, &mut r) >= 4);
    assert_eq!((r.version, r.paths()), (5, paths(&first)));
    // A resend request gets the whole list in parts, built one at a time when asked.
    s.peer
        .msg(&mut s.store, Message::CatalogResend { version: 5 });
    let m = s.peer.session.next_catalog().unwrap();
    assert!(
        m.starts_with(r#"{"type":"catalog_part","version":5,"part":0,"total":1000"#),
        "{}",
        &m[..80]
    );
    r.files.clear();
    assert_eq!(r.apply(Message::parse(&m).unwrap()), Ok(None));
    assert!(
        pump(&mut s, &mut r) >= 3,
        "1000 files come in several parts"
    );
    assert_eq!((r.version, r.paths()), (5, paths(&first)));

    // Add 300, remove 10, change one: a delta from 5 to 6, nothing re-sent whole.
    let mut next: Vec<Entry> = files(10..1300);
    next.retain(|e| &*e.path != "d0/f700.txt");
    next.push(file("d0/f700.txt", 7));
    let second = snapshot(6, next);
    s.peer.session.set_catalog(second.clone());
    let msgs = s.peer.catalog();
    assert!(!msgs.is_empty());
    let (mut added, mut changed, mut removed) = (0, 0, 0);
    for m in msgs {
        match &m {
            Message::CatalogDelta {
                from: 5,
                version: 6,
                added: a,
                changed: c,
                removed: rm,
                ..
            } => {
                added += a.len();
                changed += c.len();
                removed += rm.len();
            }
            other => panic!("expected a delta from 5 to 6, got {other:?}"),
        }
        assert_eq!(r.apply(m), Ok(None));
    }
    assert_eq!((added, changed, removed), (300, 1, 10));
    assert_eq!((r.version, r.paths()), (6, paths(&second)));

    // The receiver misses a version (as if a delta were lost): it asks for a resend and gets
    // the whole list again, then deltas from there.
    r.version = 4;
    let third = snapshot(7, files(0..50));
    s.peer.session.set_catalog(third.clone());
    pump(&mut s, &mut r);
    assert_eq!(r.resends, 1);
    assert_eq!((r.version, r.paths()), (7, paths(&third)));
    s.peer.session.set_catalog(snapshot(8, files(0..51)));
    pump(&mut s, &mut r);
    assert_eq!((r.version, r.files.len(), r.resends), (8, 51, 1));
}

#[test]
fn version_2_reports_hashing_progress_until_done() {
    let mut s = setup(2);
    let mut snap = Snapshot::of(2, files(0..3));
    snap.progress = Progress {
        seen: 10,
        offered: 3,
    };
    s.peer
        .session
        .set_catalog(std::sync::Arc::new(snap.clone()));
    let mut r = receiver_at(1);
    pump(&mut s, &mut r);
    assert_eq!(r.progress, Some((3, 10)));
    assert_eq!((r.version, r.files.len(), r.resends), (2, 3, 0));
    snap.version = 3;
    snap.progress = Progress {
        seen: 10,
        offered: 10,
    };
    s.peer.session.set_catalog(std::sync::Arc::new(snap));
    pump(&mut s, &mut r);
    assert_eq!(
        r.progress,
        Some((10, 10)),
        "one last report when hashing is done"
    );
    assert_eq!(
        pump(&mut s, &mut r),
        0,
        "then nothing while nothing changes"
    );
}

#[test]
fn version_1_gets_whole_snapshots_finished_before_the_next() {
    let mut s = setup(1);
    s.peer.session.set_catalog(snapshot(2, files(0..500)));
    // Half-way through version 2's parts, version 3 appears: version 2 is finished first.
    let mut got = vec![s.peer.session.next_catalog().unwrap()];
    s.peer.session.set_catalog(snapshot(3, files(0..501)));
    got.extend(std::iter::from_fn(|| s.peer.session.next_catalog()));
    let msgs: Vec<(u64, u32, u32, usize)> = got
        .iter()
        .map(|t| match Message::parse(t).unwrap() {
            Message::Catalog {
                version,
                part,
                parts,
                files,
            } => (version, part, parts, files.len()),
            other => panic!("version 1 gets only `catalog`, got {other:?}"),
        })
        .collect();
    for v in [2, 3] {
        let parts: Vec<_> = msgs.iter().filter(|m| m.0 == v).collect();
        assert_eq!(parts.len() as u32, parts[0].2, "every part of version {v}");
        assert_eq!(parts.iter().map(|m| m.3).sum::<usize>(), 498 + v as usize);
    }
    assert!(
        msgs.windows(2).all(|w| w[0].0 <= w[1].0),
        "in version order"
    );
}
