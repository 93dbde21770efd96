//! Hostile and ordinary names, symlinks, and never overwriting.

mod common;

use common::*;
use peerbox::seeder::incoming::IncomingStore;
use peerbox::seeder::protocol::{Code, Message};

fn setup() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let incoming = tmp.path().join("box/incoming");
    let share = tmp.path().join("share");
    std::fs::create_dir_all(&incoming).unwrap();
    std::fs::create_dir_all(&share).unwrap();
    (tmp, incoming, share)
}

/// Every file under `root`, relative, sorted.
fn tree(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
            out.push(rel);
        }
    }
    out.sort();
    out
}

#[test]
fn hostile_names_are_refused_and_nothing_escapes() {
    let (tmp, incoming, share) = setup();
    let cfg = cfg();
    let mut store = IncomingStore::open(&incoming, &cfg).unwrap();
    let mut p = Peer::new("mallory", &share, &cfg, &mut store);
    let before = tree(tmp.path());
    let data = b"pwned".to_vec();
    let names = [
        "../x",
        "a/../../x",
        "/etc/passwd",
        "/tmp/x",
        "C:\\x",
        "c:x",
        "\\??\\c:\\x",
        "..",
        ".",
        "a\0b",
        "line\nbreak",
        "esc\u{1b}[2J",
        "bell\u{7}",
        "gnp.\u{202E}exe",
        "a\u{2066}b\u{2069}",
        "a/b",
        "a\\b",
        ".peerbox-partial",
    ];
    for (i, name) in names.iter().enumerate() {
        let r = p.offer(&mut store, i as u32, name, &data);
        assert_eq!(code_of(&r), Some(Code::BadName), "{name:?}: {r:?}");
    }
    let long = "a".repeat(256);
    assert_eq!(
        code_of(&p.offer(&mut store, 100, &long, &data)),
        Some(Code::BadName)
    );
    for (i, folder) in [
        "../up",
        "a/../../b",
        "/abs",
        "C:\\win",
        "ok/\u{202E}x",
        "a\nb",
        "a//b",
    ]
    .iter()
    .enumerate()
    {
        let r = p.msg(
            &mut store,
            Message::Offer {
                transfer_id: 200 + i as u32,
                name: "f.txt".into(),
                size: 5,
                hash: hash(&data),
                folder: Some(folder.to_string()),
            },
        );
        assert_eq!(code_of(&r), Some(Code::BadName), "{folder:?}");
    }
    assert_eq!(tree(tmp.path()), before);
}

#[test]
fn ordinary_odd_names_and_no_overwrite() {
    let (_tmp, incoming, share) = setup();
    let cfg = cfg();
    let mut store = IncomingStore::open(&incoming, &cfg).unwrap();
    let mut p = Peer::new("alice", &share, &cfg, &mut store);
    let long = "é".repeat(125) + ".txt"; // 254 bytes
    let cases = [
        ("(test).txt", "(test).txt"),
        ("report..pdf", "report..pdf"),
        ("./file.txt", "file.txt"),
        ("🎉 party 🎈.jpg", "🎉 party 🎈.jpg"),
        (".hidden", ".hidden"),
        (long.as_str(), long.as_str()),
    ];
    for (i, (sent, saved)) in cases.iter().enumerate() {
        let data = random_bytes(1000 + i);
        assert_eq!(p.upload(&mut store, i as u32, sent, &data), *saved);
        assert_eq!(std::fs::read(incoming.join(saved)).unwrap(), data);
    }
    // Existing names are never overwritten.
    std::fs::write(incoming.join("dup.txt"), b"original").unwrap();
    let a = random_bytes(10);
    let b = random_bytes(11);
    assert_eq!(p.upload(&mut store, 50, "dup.txt", &a), "dup (1).txt");
    assert_eq!(p.upload(&mut store, 51, "dup.txt", &b), "dup (2).txt");
    assert_eq!(
        std::fs::read(incoming.join("dup.txt")).unwrap(),
        b"original"
    );
    assert_eq!(std::fs::read(incoming.join("dup (2).txt")).unwrap(), b);
    // A 254-byte name still fits its numbered alternative within 255 bytes.
    let again = p.upload(&mut store, 52, &long, &a);
    assert!(again.len() <= 255 && again.ends_with(" (1).txt"), "{again}");
    // Folders are created inside incoming.
    let data = random_bytes(100);
    let r = p.msg(
        &mut store,
        Message::Offer {
            transfer_id: 60,
            name: "in.txt".into(),
            size: 100,
            hash: hash(&data),
            folder: Some("./photos/2024 trip".into()),
        },
    );
    assert_eq!(
        r,
        vec![Message::Accept {
            transfer_id: 60,
            offset: 0
        }]
    );
    p.chunks(&mut store, 60, &data, 0, 100);
    let r = p.end(&mut store, 60, &data);
    assert_eq!(
        r,
        vec![Message::Done {
            transfer_id: 60,
            name: Some("photos/2024 trip/in.txt".into())
        }]
    );
    assert_eq!(
        std::fs::read(incoming.join("photos/2024 trip/in.txt")).unwrap(),
        data
    );
}

#[test]
fn symlinks_are_never_followed() {
    let (tmp, incoming, share) = setup();
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let cfg = cfg();

    // A symlink planted at the partial dir: the store refuses to open.
    std::os::unix::fs::symlink(&outside, incoming.join(".peerbox-partial")).unwrap();
    assert!(IncomingStore::open(&incoming, &cfg).is_err());
    std::fs::remove_file(incoming.join(".peerbox-partial")).unwrap();

    let mut store = IncomingStore::open(&incoming, &cfg).unwrap();
    let mut p = Peer::new("alice", &share, &cfg, &mut store);
    let data = random_bytes(5000);

    // A symlink as a folder component: refused at the offer.
    std::os::unix::fs::symlink(&outside, incoming.join("pics")).unwrap();
    let offer = |id, folder: &str| Message::Offer {
        transfer_id: id,
        name: "a.bin".into(),
        size: data.len() as u64,
        hash: hash(&data),
        folder: Some(folder.into()),
    };
    assert_eq!(
        code_of(&p.msg(&mut store, offer(1, "pics"))),
        Some(Code::BadName)
    );
    assert_eq!(
        code_of(&p.msg(&mut store, offer(2, "pics/deeper"))),
        Some(Code::BadName)
    );

    // A symlink planted after the offer was accepted: refused at publish.
    assert_eq!(
        p.msg(&mut store, offer(3, "late")),
        vec![Message::Accept {
            transfer_id: 3,
            offset: 0
        }]
    );
    std::os::unix::fs::symlink(&outside, incoming.join("late")).unwrap();
    p.chunks(&mut store, 3, &data, 0, data.len());
    assert_eq!(code_of(&p.end(&mut store, 3, &data)), Some(Code::BadName));

    // A symlink at the final name (even a dangling one) is left alone.
    std::os::unix::fs::symlink(outside.join("target"), incoming.join("x.bin")).unwrap();
    assert_eq!(p.upload(&mut store, 4, "x.bin", &data), "x (1).bin");
    assert!(
        std::fs::read_dir(&outside).unwrap().next().is_none(),
        "nothing written outside"
    );
    assert_eq!(partial_count(&incoming), 0);
}
