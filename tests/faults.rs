//! Fault injection against the real daemon binary and a real WebRTC peer: kill -9 in the middle
//! of an upload, a disk that fills up mid-upload, and a shared file that is deleted or
//! truncated while it is being downloaded. Nothing may be lost, corrupted or left behind.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::client::Client;
use common::daemon::{launch, peerbox};
use common::{hash, listing, partial_count, random_bytes};
use peerbox::seeder::protocol::{Code, Message};

const CONFIG: &str = r#"
[seeder.webrtc]
udp_bind = ["127.0.0.1"]
[seeder]
progress_ack_bytes = 1048576
free_space_reserve_bytes = 0
[watch]
settle_ms = 50
"#;

struct Dirs {
    root: tempfile::TempDir,
}

impl Dirs {
    fn new() -> Dirs {
        let root = tempfile::tempdir().unwrap();
        for d in ["share", "incoming", "state"] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        std::fs::write(root.path().join("peerbox.toml"), CONFIG).unwrap();
        Dirs { root }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.path().join(p)
    }

    /// `run` with this test's directories and config, optionally wrapped (e.g. by `unshare`).
    fn start(&self) -> (Child, SocketAddr) {
        launch(self.run_args(&mut peerbox(self.root.path())))
    }

    fn run_args<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.args(["run", "--listen", "127.0.0.1:0", "--config"])
            .arg(self.path("peerbox.toml"))
            .arg("--share-dir")
            .arg(self.path("share"))
            .arg("--incoming-dir")
            .arg(self.path("incoming"))
            .arg("--state-dir")
            .arg(self.path("state"))
            .env("RUST_LOG", "warn")
            .stderr(Stdio::inherit())
    }
}

fn kill9(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Offers `data` as `name`; returns the accepted offset.
async fn offer(c: &mut Client, id: u32, name: &str, data: &[u8]) -> Result<u64, Message> {
    c.send(Message::Offer {
        transfer_id: id,
        name: name.into(),
        size: data.len() as u64,
        hash: hash(data),
        folder: None,
    })
    .await;
    match c.next().await {
        Err(Message::Accept { offset, .. }) => Ok(offset),
        Err(other) => Err(other),
        Ok(_) => panic!("a chunk in reply to an offer"),
    }
}

/// Waits for a progress ack of at least `at` bytes of transfer `id`.
async fn durable(c: &mut Client, id: u32, at: u64) {
    loop {
        match c.next().await {
            Err(Message::Progress {
                transfer_id,
                offset,
            }) if transfer_id == id && offset >= at => return,
            Err(Message::Progress { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn finish(c: &mut Client, id: u32, data: &[u8]) -> Message {
    c.send(Message::End {
        transfer_id: id,
        size: data.len() as u64,
        hash: hash(data),
    })
    .await;
    loop {
        match c.next().await {
            Err(Message::Progress { .. }) => {}
            Err(m) => return m,
            Ok(_) => panic!("a chunk during an upload"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_upload_then_restart_resumes_and_never_shows_partial_content() {
    let dirs = Dirs::new();
    let data = random_bytes(8 << 20);
    let (child, addr) = dirs.start();
    let mut c = Client::connect(addr, None).await;
    assert_eq!(offer(&mut c, 1, "film.mkv", &data).await, Ok(0));
    c.chunks(1, &data, 0, 5 << 20).await;
    durable(&mut c, 1, 2 << 20).await;
    let (name, token) = (c.name.clone(), c.token.clone());
    kill9(child);
    drop(c);

    let incoming = dirs.path("incoming");
    assert_eq!(
        listing(&incoming),
        Vec::<String>::new(),
        "nothing under a final name"
    );
    assert!(
        partial_count(&incoming) >= 1,
        "the durable part is kept for a resume"
    );

    // The restarted daemon gives the name back (the token key is on disk), and the upload
    // continues from what was fsynced before the kill.
    let (child, addr) = dirs.start();
    let mut c = Client::connect(addr, Some(&token)).await;
    assert_eq!(c.name, name);
    let at = offer(&mut c, 1, "film.mkv", &data).await.unwrap();
    assert!((2 << 20..=5 << 20).contains(&at), "resumed at {at}");
    c.chunks(1, &data, at as usize, data.len()).await;
    assert!(matches!(
        finish(&mut c, 1, &data).await,
        Message::Done { .. }
    ));
    assert!(std::fs::read(incoming.join("film.mkv")).unwrap() == data);
    assert_eq!(listing(&incoming), vec!["film.mkv".to_string()]);
    assert_eq!(partial_count(&incoming), 0, "temp files are gone");
    c.close().await;
    kill9(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_file_deleted_or_truncated_mid_download_fails_cleanly() {
    let dirs = Dirs::new();
    let data = random_bytes(40 << 20);
    for f in ["gone.bin", "short.bin"] {
        std::fs::write(dirs.path("share").join(f), &data).unwrap();
    }
    let (child, addr) = dirs.start();
    let mut c = Client::connect(addr, None).await;
    for (id, path, harm) in [(1, "gone.bin", 0), (3, "short.bin", 1)] {
        let file = c.file(path).await;
        c.send(Message::Download {
            transfer_id: id,
            file_id: file.id.clone(),
            offset: 0,
        })
        .await;
        let mut got = 0u64;
        let mut harmed = false;
        let outcome = loop {
            match c.next().await {
                Ok(raw) => {
                    let chunk = peerbox::seeder::frame::decode(&raw).unwrap();
                    assert_eq!(chunk.offset, got, "contiguous");
                    assert!(
                        chunk.data == &data[got as usize..got as usize + chunk.data.len()],
                        "never a wrong byte"
                    );
                    got += chunk.data.len() as u64;
                    if !harmed && got >= 1 << 20 {
                        harmed = true;
                        let p = dirs.path("share").join(path);
                        if harm == 0 {
                            std::fs::remove_file(&p).unwrap();
                        } else {
                            let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
                            f.set_len(2 << 20).unwrap();
                        }
                    }
                }
                Err(m) => break m,
            }
        };
        // An unlinked file stays readable through the open handle, so that download may
        // legitimately complete with the right bytes; a truncated one must be refused.
        match outcome {
            Message::End { size, hash, .. } if harm == 0 => {
                assert_eq!((size, hash), (data.len() as u64, common::hash(&data)));
                assert_eq!(got, data.len() as u64);
            }
            Message::Error { code, message, .. } => {
                assert!(
                    got < data.len() as u64,
                    "{path}: error after the whole file"
                );
                eprintln!("{path}: {code:?} {message:?} after {got} bytes");
            }
            Message::Cancel { code, .. } => {
                assert!(
                    got < data.len() as u64,
                    "{path}: cancel after the whole file"
                );
                eprintln!("{path}: canceled ({code:?}) after {got} bytes");
            }
            other => panic!("{path}: unexpected {other:?} after {got} bytes"),
        }
    }
    // The daemon is still fine: a fresh file downloads whole.
    let small = random_bytes(300_000);
    std::fs::write(dirs.path("share/after.bin"), &small).unwrap();
    let after = c.file("after.bin").await;
    assert!(c.download(&after, 0).await == small);
    c.close().await;
    kill9(child);
}

/// Disk fills while an upload is running: that upload fails with a clear error and leaves no
/// temp file; a download by another peer goes on. The incoming folder is a 6 MiB tmpfs in a
/// private user+mount namespace (`unshare -rm`, no privileges); the test fills it from outside
/// through `/proc/<pid>/root`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_that_upload_and_the_daemon_serves_on() {
    let probe = Command::new("unshare").args(["-rm", "true"]).status();
    if !matches!(probe, Ok(s) if s.success()) {
        eprintln!("SKIPPED: unprivileged user+mount namespaces are unavailable here");
        return;
    }
    let dirs = Dirs::new();
    let shared = random_bytes(20 << 20);
    std::fs::write(dirs.path("share/big.bin"), &shared).unwrap();
    let incoming = dirs.path("incoming");
    let script = format!(
        "mount -t tmpfs -o size=6m none '{}' && exec \"$@\"",
        incoming.display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["-rm", "sh", "-c", &script, "sh", common::daemon::BIN])
        .arg("--system-config")
        .arg(dirs.path("none.toml"));
    let (child, addr) = launch(dirs.run_args(&mut cmd));
    let inside = |p: &Path| -> PathBuf {
        PathBuf::from(format!("/proc/{}/root{}", child.id(), p.display()))
    };

    let mut up = Client::connect(addr, None).await;
    let mut down = Client::connect(addr, None).await;
    let big = down.file("big.bin").await;
    let download = tokio::spawn(async move {
        let got = down.download(&big, 0).await;
        down.close().await;
        got
    });

    let data = random_bytes(5 << 20);
    assert_eq!(offer(&mut up, 1, "big-upload.bin", &data).await, Ok(0));
    up.chunks(1, &data, 0, 1 << 20).await;
    durable(&mut up, 1, 1 << 20).await;
    // Something else takes the rest of the disk.
    let filler = inside(&incoming.join("filler"));
    let _ = std::fs::write(&filler, vec![0u8; 5 << 20]);
    up.chunks(1, &data, 1 << 20, data.len()).await;
    let failed = loop {
        match up.next().await {
            Err(Message::Progress { .. }) => {}
            Err(m) => break m,
            Ok(_) => panic!("a chunk during an upload"),
        }
    };
    match &failed {
        Message::Error { code, message, .. } => {
            assert_eq!(*code, Code::NoSpace, "{message:?}");
        }
        other => panic!("expected a no_space error, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let partials = std::fs::read_dir(inside(&incoming.join(".peerbox-partial")))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(partials, 0, "the failed upload's temp file is removed");
    assert!(!inside(&incoming.join("big-upload.bin")).exists());

    // Room again: the same peer can upload a small file, and the other download finished whole.
    std::fs::remove_file(&filler).unwrap();
    let small = random_bytes(100_000);
    assert_eq!(offer(&mut up, 3, "small.bin", &small).await, Ok(0));
    up.chunks(3, &small, 0, small.len()).await;
    assert!(matches!(
        finish(&mut up, 3, &small).await,
        Message::Done { .. }
    ));
    assert!(
        download.await.unwrap() == shared,
        "the other peer's download is intact"
    );
    up.close().await;
    kill9(child);
}
