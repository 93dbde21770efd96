//! A share of 20,000 files against the real daemon binary: once its catalog has settled, the
//! daemon does no work (its own CPU time from /proc, not wall time, so a busy machine cannot
//! make this flaky), and a file dropped in is offered.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use common::daemon::{launch, peerbox};

#[path = "../examples/support/daemon.rs"]
mod support;
use support::cpu_secs;

const FILES: usize = 20_000;
/// CPU seconds the settled daemon may use in `IDLE` (a debug build; the seeder's WebRTC and
/// signaling timers tick a few times a second; the old catalog engine used 4.8 s per 10 s
/// with 3,000 files, walking its tree again and again).
const IDLE: Duration = Duration::from_secs(10);
const IDLE_CPU_LIMIT: f64 = 0.25;

fn metric(addr: SocketAddr, name: &str) -> Option<u64> {
    let res = common::request(addr, "GET", "/metrics", &[]);
    res.text()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn make_share(share: &Path) {
    for d in 0..100 {
        let dir = share.join(format!("d{d:02}/sub{}", d % 7));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..FILES / 100 {
            std::fs::write(dir.join(format!("f{f}.txt")), format!("{d}-{f}")).unwrap();
        }
    }
}

#[test]
fn twenty_thousand_files_idle_once_settled_and_a_drop_appears() {
    let tmp = tempfile::tempdir().unwrap();
    let share = tmp.path().join("share");
    make_share(&share);
    let mut cmd = peerbox(tmp.path());
    cmd.args(["run", "--listen", "127.0.0.1:0", "--share-dir"])
        .arg(&share)
        .arg("--incoming-dir")
        .arg(tmp.path().join("incoming"))
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .env("RUST_LOG", "warn")
        .env("PEERBOX_SEEDER__WEBRTC__UDP_BIND", r#"["127.0.0.1"]"#);
    let (child, addr) = launch(&mut cmd);
    let daemon = Daemon(child);
    let pid = daemon.0.id();
    wait_for("20,000 files offered", Duration::from_secs(120), || {
        metric(addr, "peerbox_catalog_files") == Some(FILES as u64)
            && metric(addr, "peerbox_catalog_hash_backlog") == Some(0)
    });
    // Let the hash cache be written (2 s after the last change), then measure.
    std::thread::sleep(Duration::from_secs(3));
    let events = metric(addr, "peerbox_catalog_events_total");
    // The daemon's own reads (serving a file) raise no events.
    let id = peerbox::watch::entry_id("d42/sub0/f7.txt");
    let got = common::request(addr, "GET", &format!("/files/{id}"), &[]);
    assert_eq!((got.status, got.body.as_slice()), (200, &b"42-7"[..]));
    let before = cpu_secs(pid);
    std::thread::sleep(IDLE);
    let used = cpu_secs(pid) - before;
    println!(
        "settled daemon with {FILES} files: {used:.3} CPU s in {} s",
        IDLE.as_secs()
    );
    assert!(
        used < IDLE_CPU_LIMIT,
        "the settled daemon used {used:.3} CPU s in {} s (limit {IDLE_CPU_LIMIT})",
        IDLE.as_secs()
    );
    assert_eq!(
        metric(addr, "peerbox_catalog_events_total"),
        events,
        "no file-system events from the daemon's own work"
    );

    // A file dropped in is offered (the catalog entry is served over HTTP by its id).
    std::fs::create_dir_all(share.join("new")).unwrap();
    std::fs::write(share.join("new/dropped.txt"), b"dropped").unwrap();
    let id = peerbox::watch::entry_id("new/dropped.txt");
    let t = Instant::now();
    wait_for("the dropped file", Duration::from_secs(20), || {
        common::request(addr, "HEAD", &format!("/files/{id}"), &[]).status == 200
    });
    println!("dropped file offered after {:?}", t.elapsed());
    assert_eq!(
        metric(addr, "peerbox_catalog_files"),
        Some(FILES as u64 + 1)
    );
}
