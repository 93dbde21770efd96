//! Daemon CPU while nothing moves (benchmark section 13): idle with no connection, idle with a
//! connected client, and a download whose receiver stopped reading (the client holds the
//! frames, its transport stops reading past its receive backlog, SCTP's window closes, and the
//! seeder's send waits with the window full). Each phase is `SECS` long and reports the
//! daemon's utime+stime from /proc (CPU time, never wall-clock), so busy polling shows up as
//! CPU that does not follow bytes. Prints `key value` lines; asserts nothing about timings.
//! Usage: `bench_wait PEERBOX [SECS]`.

#[path = "support/daemon.rs"]
mod daemon;

use std::time::Duration;

use peerbox::client::{Client, Options};
use peerbox::seeder::protocol::Message;

/// utime + stime of `pid` so far, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

async fn phase(pid: u32, secs: u64) -> f64 {
    let c0 = cpu_secs(pid);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    cpu_secs(pid) - c0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let bin = args
        .next()
        .unwrap_or_else(|| "target/release/peerbox".into());
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let env = vec![
        (
            "PEERBOX_SEEDER__WEBRTC__UDP_BIND",
            r#"["127.0.0.1"]"#.to_string(),
        ),
        ("PEERBOX_WATCH__SETTLE_MS", "100".into()),
    ];
    let d = daemon::Daemon::start(bin.as_ref(), &env).expect("start peerbox");
    let mut data = vec![0u8; 256 << 20];
    rand::fill(&mut data[..]);
    std::fs::write(d.share().join("big.bin"), &data).expect("write the file");
    drop(data);
    let mut c = Client::connect(&d.addr, Options::default())
        .await
        .expect("connect");
    let file = c
        .wait_for("big.bin", Duration::from_secs(120))
        .await
        .expect("offered");
    tokio::time::sleep(Duration::from_secs(2)).await;

    println!("secs {secs}");
    println!("idle_connected_cpu_secs {:.2}", phase(d.pid(), secs).await);

    // Ask for 256 MiB and read none of it: the frames pile up in the client until its
    // transport stops reading, then the seeder waits on a full window.
    c.send(Message::Download {
        transfer_id: 1,
        file_id: file.id.clone(),
        offset: 0,
    })
    .await
    .expect("request");
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!("waiting_cpu_secs {:.2}", phase(d.pid(), secs).await);
    c.close().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("idle_cpu_secs {:.2}", phase(d.pid(), secs).await);
}
