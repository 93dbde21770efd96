//! Measures the resident memory one idle signaling WebSocket costs the daemon.
//!
//! Starts the real `peerbox` binary as a child on a loopback port, opens N clients that join a
//! room and then sit idle, and reads the child's VmRSS from /proc before and after.
//!
//! ```text
//! cargo build --release --bin peerbox
//! cargo run --release --example signal_rss -- target/release/peerbox 1000
//! ```
//! A measurement tool, not a test: it prints numbers and asserts nothing.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn open(url: &str, room: &str) -> impl Sized {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    ws.next().await; // welcome
    let join = format!(r#"{{"type":"join","room":"{room}"}}"#);
    ws.send(Message::text(join)).await.expect("join");
    ws.next().await; // roster
                     // Idle clients still answer pings; keep reading in the background.
    tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let bin = args
        .next()
        .unwrap_or_else(|| "target/release/peerbox".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let cap = (n + 100).to_string();
    let mut child = std::process::Command::new(&bin)
        .args(["--listen", &addr, "--system-config", "/nonexistent"])
        .arg("--share-dir")
        .arg(dir.path().join("share"))
        .arg("--incoming-dir")
        .arg(dir.path().join("in"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env("PEERBOX_LOG__LEVEL", "warn")
        .env("PEERBOX_SERVER__MAX_CONNECTIONS", &cap)
        .env("PEERBOX_SIGNAL__MAX_CONNECTIONS", &cap)
        .env("PEERBOX_SIGNAL__MAX_CONNECTIONS_PER_ADDRESS", &cap)
        .env("PEERBOX_SIGNAL__MAX_ROOMS", "1000")
        .spawn()
        .expect("start peerbox");
    let pid = child.id();
    let url = format!("ws://{addr}/ws");
    let mut ready = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(&addr).await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "peerbox did not start");
    // Warm up: runtime threads, code pages, first allocations.
    let mut keep = Vec::new();
    for i in 0..20 {
        keep.push(open(&url, &format!("warm-{}", i / 10)).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = vm_rss_kib(pid);
    for i in 0..n {
        keep.push(open(&url, &format!("idle-{}", i / 30)).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = vm_rss_kib(pid);
    let per = (after.saturating_sub(before)) as f64 * 1024.0 / n as f64;
    println!("VmRSS before: {before} KiB, with {n} more idle clients: {after} KiB");
    println!(
        "per idle connection: {:.1} KiB ({per:.0} bytes)",
        per / 1024.0
    );
    drop(keep);
    let _ = child.kill();
    let _ = child.wait();
}
