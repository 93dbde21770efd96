//! Daemon memory (benchmark item 7): RSS idle, with 1000 signaling clients, and while a Rust
//! WebRTC client downloads a 1 GiB file, sampled every 200 ms.
//!
//! ```text
//! cargo build --release --bin peerbox --examples
//! target/release/examples/bench_memory target/release/peerbox [clients] [MiB]
//! ```
//! Prints `key value` lines (KiB unless named otherwise) for bench/sections/07-memory.sh.
//! Measures only; asserts nothing about the figures.

#[path = "support/daemon.rs"]
mod daemon;

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use daemon::Daemon;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as Ws;

const ROOMS: usize = 100;

fn env(clients: usize) -> Vec<(&'static str, String)> {
    let cap = (clients + 64).to_string();
    vec![
        ("PEERBOX_SERVER__MAX_CONNECTIONS", cap.clone()),
        ("PEERBOX_SIGNAL__MAX_CONNECTIONS", cap.clone()),
        ("PEERBOX_SIGNAL__MAX_CONNECTIONS_PER_ADDRESS", cap),
        ("PEERBOX_SIGNAL__MAX_ROOMS", (ROOMS + 16).to_string()),
        (
            "PEERBOX_SEEDER__WEBRTC__UDP_BIND",
            r#"["127.0.0.1"]"#.into(),
        ),
        ("PEERBOX_WATCH__SETTLE_MS", "100".into()),
    ]
}

/// Opens an idle signaling client in `room`; it keeps answering pings until dropped.
async fn idle_client(url: &str, room: &str) -> tokio::task::JoinHandle<()> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    ws.next().await; // welcome
    let join = format!(r#"{{"type":"join","room":"{room}"}}"#);
    ws.send(Ws::text(join)).await.expect("join");
    tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} })
}

/// Writes `mib` MiB of incompressible bytes (one random MiB repeated).
fn write_file(path: &std::path::Path, mib: usize) -> std::io::Result<()> {
    let mut block = vec![0u8; 1 << 20];
    rand::fill(&mut block[..]);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in 0..mib {
        block[..8].copy_from_slice(&(i as u64).to_le_bytes());
        f.write_all(&block)?;
    }
    f.flush()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let bin = args
        .next()
        .unwrap_or_else(|| "target/release/peerbox".into());
    let clients: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let mib: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1024);
    daemon::raise_nofile();

    let d = Daemon::start(bin.as_ref(), &env(clients)).expect("start peerbox");
    let pid = d.pid();
    // Idle: the seeder has connected to signaling and the (empty) catalog is up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!("idle_rss {}", d.rss_kib());

    let url = format!("ws://{}/ws", d.addr);
    let mut idle = Vec::with_capacity(clients);
    for i in 0..clients {
        idle.push(idle_client(&url, &format!("room-{}", i % ROOMS)).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("clients {clients}");
    println!("clients_rss {}", d.rss_kib());
    for h in idle {
        h.abort();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("after_clients_rss {}", d.rss_kib());

    let t = Instant::now();
    write_file(&d.share().join("big.bin"), mib).expect("write the test file");
    println!("file_mib {mib}");
    println!("write_secs {:.2}", t.elapsed().as_secs_f64());
    let mut c = peerbox::client::Client::connect(&d.addr, Default::default())
        .await
        .expect("client");
    let t = Instant::now();
    let file = c
        .wait_for("big.bin", Duration::from_secs(120))
        .await
        .expect("offered");
    println!("offered_after_secs {:.2}", t.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!("start_rss {}", d.rss_kib());

    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::<(u64, u64)>::new()));
    let sampler = {
        let (done, stop, samples) = (done.clone(), stop.clone(), samples.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let s = (done.load(Ordering::Relaxed), daemon::rss_kib(pid));
                samples.lock().unwrap().push(s);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let mut n = 0u64;
    let got = c
        .fetch(&file, |d| {
            n += d.len() as u64;
            done.store(n, Ordering::Relaxed)
        })
        .await
        .expect("download");
    let end_rss = d.rss_kib();
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let total = got.received;
    println!("download_secs {:.2}", got.elapsed.as_secs_f64());
    println!(
        "download_mib_s {:.1}",
        total as f64 / (1 << 20) as f64 / got.elapsed.as_secs_f64()
    );
    println!("samples {}", samples.len());
    println!(
        "max_rss {}",
        samples.iter().map(|s| s.1).max().unwrap_or(0).max(end_rss)
    );
    for q in [25u64, 50, 75] {
        let at = samples
            .iter()
            .find(|s| s.0 * 100 >= total * q)
            .map_or(0, |s| s.1);
        println!("rss_at_{q} {at}");
    }
    println!("rss_at_100 {end_rss}");
    c.close().await;
}
