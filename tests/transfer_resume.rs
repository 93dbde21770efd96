//! Resume from the durable offset across reconnects and daemon restarts; stale partials.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use peerbox::seeder::incoming::IncomingStore;
use peerbox::seeder::protocol::Message;

fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let incoming = tmp.path().join("incoming");
    let share = tmp.path().join("share");
    std::fs::create_dir_all(&share).unwrap();
    (tmp, incoming, share)
}

fn accepted_offset(r: &[Message]) -> u64 {
    match r {
        [Message::Accept { offset, .. }] => *offset,
        other => panic!("expected accept, got {other:?}"),
    }
}

#[test]
fn resume_after_restart_continues_from_durable_offset() {
    let (_tmp, incoming, share) = setup();
    let cfg = cfg();
    let data = random_bytes(3 * 1024 * 1024 + 17);
    let last_ack;
    {
        let mut store = IncomingStore::open(&incoming, &cfg).unwrap();
        let mut p = Peer::new("alice", &share, &cfg, &mut store);
        assert_eq!(
            accepted_offset(&p.offer(&mut store, 1, "movie.mp4", &data)),
            0
        );
        let acks = p.chunks(&mut store, 1, &data, 0, 1_400_000);
        last_ack = match acks.last() {
            Some(Message::Progress { offset, .. }) => *offset,
            other => panic!("{other:?}"),
        };
        assert!(last_ack > 0 && last_ack < 1_400_000);
        // Simulated kill: session and store dropped without `closed()`.
    }
    let mut store = IncomingStore::open(&incoming, &cfg).unwrap();
    // Another identity does not get alice's partial.
    let mut eve = Peer::new("eve", &share, &cfg, &mut store);
    assert_eq!(
        accepted_offset(&eve.offer(&mut store, 1, "movie.mp4", &data)),
        0
    );
    eve.msg(
        &mut store,
        Message::Cancel {
            transfer_id: 1,
            code: peerbox::seeder::protocol::Code::Canceled,
        },
    );

    let mut p = Peer::new("alice", &share, &cfg, &mut store);
    let off = accepted_offset(&p.offer(&mut store, 7, "movie.mp4", &data));
    assert_eq!(
        off, last_ack,
        "resumes exactly at the last acknowledged durable offset"
    );
    p.chunks(&mut store, 7, &data, off as usize, data.len());
    let r = p.end(&mut store, 7, &data);
    assert_eq!(
        r,
        vec![Message::Done {
            transfer_id: 7,
            name: Some("movie.mp4".into())
        }]
    );
    assert_eq!(std::fs::read(incoming.join("movie.mp4")).unwrap(), data);
    assert_eq!(partial_count(&incoming), 0);
}

#[test]
fn resume_after_disconnect_and_corrupted_tail_is_caught() {
    let (_tmp, incoming, share) = setup();
    let cfg = cfg();
    let data = random_bytes(1_000_000);
    let mut store = IncomingStore::open(&incoming, &cfg).unwrap();
    let mut p = Peer::new("bob", &share, &cfg, &mut store);
    p.offer(&mut store, 1, "a.bin", &data);
    p.chunks(&mut store, 1, &data, 0, 400_000);
    p.close(&mut store); // clean disconnect: everything received is made durable
    let mut p = Peer::new("bob", &share, &cfg, &mut store);
    let off = accepted_offset(&p.offer(&mut store, 1, "renamed.bin", &data));
    assert_eq!(off, 400_000);
    // A sender that resumes with different bytes is caught by the final hash check.
    let mut wrong = data.clone();
    wrong[900_000] ^= 0xff;
    p.chunks(&mut store, 1, &wrong, off as usize, data.len());
    let r = p.end(&mut store, 1, &data);
    assert_eq!(
        code_of(&r),
        Some(peerbox::seeder::protocol::Code::HashMismatch)
    );
    assert!(listing(&incoming).is_empty());
    assert_eq!(partial_count(&incoming), 0);
}

#[test]
fn stale_partials_are_cleaned_and_fresh_ones_kept() {
    let (_tmp, incoming, share) = setup();
    let cfg = cfg();
    let data = random_bytes(200_000);
    let mut store = IncomingStore::open(&incoming, &cfg).unwrap();
    let mut p = Peer::new("carol", &share, &cfg, &mut store);
    p.offer(&mut store, 1, "a.bin", &data);
    p.chunks(&mut store, 1, &data, 0, 100_000);
    p.close(&mut store);
    // Debris a crash may leave: an orphan temp file without a sidecar.
    std::fs::write(
        incoming.join(".peerbox-partial/0123456789abcdef0123456789abcdef.part"),
        b"x",
    )
    .unwrap();
    assert_eq!(partial_count(&incoming), 3);
    assert_eq!(store.cleanup(SystemTime::now()).unwrap(), 0);
    let later = SystemTime::now() + Duration::from_secs(cfg.partial_timeout_secs + 60);
    assert_eq!(store.cleanup(later).unwrap(), 2);
    assert_eq!(partial_count(&incoming), 0);
    // A resume after cleanup starts over.
    let mut p = Peer::new("carol", &share, &cfg, &mut store);
    assert_eq!(accepted_offset(&p.offer(&mut store, 2, "a.bin", &data)), 0);

    // The cleanup pass also runs at start (short timeout, old mtime).
    drop(p);
    drop(store);
    let short = peerbox::seeder::SeederConfig {
        partial_timeout_secs: 1,
        ..cfg.clone()
    };
    let old = SystemTime::now() - Duration::from_secs(3600);
    for e in std::fs::read_dir(incoming.join(".peerbox-partial")).unwrap() {
        let f = std::fs::File::options()
            .write(true)
            .open(e.unwrap().path())
            .unwrap();
        f.set_modified(old).unwrap();
    }
    assert!(partial_count(&incoming) > 0);
    let _store = IncomingStore::open(&incoming, &short).unwrap();
    assert_eq!(partial_count(&incoming), 0);
}
