//! Soak run: churn against the real daemon binary while watching it for leaks.
//!
//! Every round, WebRTC peers join, start a download and an upload, cancel both half-way and
//! leave, while signaling-only clients join rooms, chat and vanish without a close frame. After
//! each round the daemon's RSS, open file descriptors, threads and live async tasks are sampled
//! from /proc and /metrics. At the end, once idle, they must be back near the level of the
//! first idle sample, and the daemon's CPU time over an idle interval (utime + stime from
//! /proc, with 2,000 files in its share) must not have grown: the run exits 1 if anything grew.
//!
//! ```text
//! cargo build --release --bin peerbox --example soak
//! target/release/examples/soak target/release/peerbox --secs 300
//! ```

#[path = "support/daemon.rs"]
mod daemon;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use peerbox::client::{Client, Incoming, Options};
use peerbox::seeder::protocol::{Code, Message};
use tokio_tungstenite::tungstenite::Message as Ws;

/// Loopback ICE for the Rust peers, and room for 20 clients from one address.
fn env() -> Vec<(&'static str, String)> {
    vec![
        (
            "PEERBOX_SEEDER__WEBRTC__UDP_BIND",
            r#"["127.0.0.1"]"#.into(),
        ),
        ("PEERBOX_WATCH__SETTLE_MS", "50".into()),
        ("PEERBOX_SIGNAL__MAX_CONNECTIONS_PER_ADDRESS", "64".into()),
        ("PEERBOX_SIGNAL__RATE_PER_SEC", "100".into()),
        ("PEERBOX_SIGNAL__RATE_BURST", "200".into()),
    ]
}
const WEBRTC_PEERS: usize = 3;
const WS_CLIENTS: usize = 20;
/// Small files in the share besides the one downloaded, so the catalog has work to stay idle on.
const SHARE_FILES: usize = 2_000;
/// Length of an idle interval whose CPU time is measured.
const IDLE_SECS: u64 = 3;

/// CPU milliseconds the daemon uses in `IDLE_SECS` with nothing connected.
async fn idle_cpu_ms(pid: u32) -> u64 {
    let before = daemon::cpu_secs(pid);
    tokio::time::sleep(Duration::from_secs(IDLE_SECS)).await;
    ((daemon::cpu_secs(pid) - before) * 1000.0).round() as u64
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    secs: f64,
    rss_kib: u64,
    fds: usize,
    threads: usize,
    tasks: u64,
    signal_conns: u64,
}

fn count_dir(path: String) -> usize {
    std::fs::read_dir(path).map(|d| d.count()).unwrap_or(0)
}

async fn metric(addr: SocketAddr, name: &str) -> u64 {
    let text = async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.ok()?;
        Some(buf)
    }
    .await
    .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

async fn sample(pid: u32, addr: SocketAddr, t0: Instant) -> Sample {
    Sample {
        secs: t0.elapsed().as_secs_f64(),
        rss_kib: daemon::rss_kib(pid),
        fds: count_dir(format!("/proc/{pid}/fd")),
        threads: count_dir(format!("/proc/{pid}/task")),
        tasks: metric(addr, "peerbox_runtime_alive_tasks").await,
        signal_conns: metric(addr, "peerbox_signal_connections").await,
    }
}

/// One WebRTC peer's life: join, start a download and an upload, cancel both, leave.
async fn webrtc_churn(addr: SocketAddr, upload: &[u8]) {
    let mut c = Client::connect(&addr.to_string(), Options::default())
        .await
        .expect("connect");
    let file = c
        .wait_for("soak.bin", Duration::from_secs(30))
        .await
        .expect("offered");
    c.send(Message::Download {
        transfer_id: 1,
        file_id: file.id.clone(),
        offset: 0,
    })
    .await
    .expect("send");
    let mut got = 0;
    while got < 1 << 20 {
        match c.next().await.expect("download") {
            Incoming::Frame(raw) => got += raw.len(),
            Incoming::Control(m) => panic!("download: {m:?}"),
        }
    }
    c.send(Message::Cancel {
        transfer_id: 1,
        code: Code::Canceled,
    })
    .await
    .expect("send");
    c.send(Message::Offer {
        transfer_id: 3,
        name: "soak-upload.bin".into(),
        size: upload.len() as u64,
        hash: blake3::hash(upload).to_hex().to_string(),
        folder: None,
    })
    .await
    .expect("send");
    loop {
        match c.next().await.expect("answer to the offer") {
            Incoming::Control(Message::Accept { transfer_id: 3, .. }) => break,
            Incoming::Control(Message::Refuse { code, .. }) => panic!("upload refused: {code:?}"),
            _ => {} // chunks of the canceled download still in flight
        }
    }
    let quarter = &upload[..upload.len() / 4];
    let payload = c.max_payload();
    for (i, part) in quarter.chunks(payload).enumerate() {
        let at = (i * payload) as u64;
        c.send_chunk(3, at, part).await.expect("send a chunk");
    }
    c.send(Message::Cancel {
        transfer_id: 3,
        code: Code::Canceled,
    })
    .await
    .expect("send");
    c.close().await;
}

/// A signaling-only client that joins, chats and drops the TCP connection without a close.
async fn ws_churn(addr: SocketAddr, i: usize) {
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await else {
        return;
    };
    let join = format!(r#"{{"type":"join","room":"soak-{}"}}"#, i % 5);
    let chat = format!(
        r#"{{"type":"chat","room":"soak-{}","text":"hi {i}"}}"#,
        i % 5
    );
    let _ = ws.send(Ws::text(join)).await;
    let _ = ws.send(Ws::text(chat)).await;
    let _ = tokio::time::timeout(Duration::from_millis(200), ws.next()).await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bin = args.get(1).expect("usage: soak PEERBOX_BINARY [--secs N]");
    let bin = std::fs::canonicalize(bin).expect("the peerbox binary");
    let secs: u64 = args
        .iter()
        .position(|a| a == "--secs")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(60);
    let d = daemon::Daemon::start(&bin, &env()).expect("start peerbox");
    let (pid, addr): (u32, SocketAddr) = (d.pid(), d.addr.parse().unwrap());
    let shared: Vec<u8> = (0..8u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(d.share().join("soak.bin"), &shared).unwrap();
    for i in 0..SHARE_FILES {
        let dir = d.share().join(format!("many/{:02}", i % 40));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{i}.txt")), i.to_string()).unwrap();
    }
    let upload: Vec<u8> = (0..2u32 << 20).map(|i| (i * 13 % 241) as u8).collect();

    let t0 = Instant::now();
    let round = |n: usize| {
        let upload = upload.clone();
        async move {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..WEBRTC_PEERS {
                let up = upload.clone();
                set.spawn(async move { webrtc_churn(addr, &up).await });
            }
            for i in 0..WS_CLIENTS {
                set.spawn(ws_churn(addr, n * WS_CLIENTS + i));
            }
            while let Some(r) = set.join_next().await {
                r.expect("a churn task failed");
            }
        }
    };
    let settle = || tokio::time::sleep(Duration::from_secs(2));
    // Warm up once so lazily grown pools (allocator arenas, thread pools) count as baseline.
    round(0).await;
    settle().await;
    let baseline = sample(pid, addr, t0).await;
    let idle_before = idle_cpu_ms(pid).await;
    println!("idle CPU: {idle_before} ms in {IDLE_SECS} s (after warm-up)");
    println!("   secs   rss_KiB  fds  threads  tasks  signal_conns");
    let print = |s: &Sample| {
        println!(
            "{:7.1} {:9} {:4} {:8} {:6} {:13}",
            s.secs, s.rss_kib, s.fds, s.threads, s.tasks, s.signal_conns
        )
    };
    print(&baseline);
    let mut rounds = 1;
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        round(rounds).await;
        rounds += 1;
        print(&sample(pid, addr, t0).await);
    }
    settle().await;
    // Idle again: dropped clients are reaped by the server's idle timeout at the latest.
    let rss_limit = baseline.rss_kib + (baseline.rss_kib / 5).max(4096);
    let checks = |end: &Sample| {
        [
            ("RSS (KiB)", end.rss_kib, rss_limit),
            ("open fds", end.fds as u64, baseline.fds as u64 + 2),
            // Idle blocking-pool threads linger for 10 s before they exit.
            ("threads", end.threads as u64, baseline.threads as u64 + 2),
            ("alive tasks", end.tasks, baseline.tasks + 4),
            (
                "signal connections",
                end.signal_conns,
                baseline.signal_conns,
            ),
        ]
    };
    // Idle again: give dropped clients (reaped by ping/idle timeouts) and lingering pool
    // threads up to 30 s to go.
    let mut end = sample(pid, addr, t0).await;
    for _ in 0..30 {
        if checks(&end).iter().all(|(_, now, limit)| now <= limit) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        end = sample(pid, addr, t0).await;
    }
    print(&end);
    let idle_after = idle_cpu_ms(pid).await;
    println!("idle CPU: {idle_after} ms in {IDLE_SECS} s (after {rounds} rounds)");
    drop(d);
    println!(
        "{rounds} rounds of {WEBRTC_PEERS} WebRTC peers + {WS_CLIENTS} WebSocket clients in {:.0} s",
        t0.elapsed().as_secs_f64()
    );
    let mut grew = false;
    // CPU at rest: twice the first idle interval's, plus 50 ms for timer jitter.
    let idle = ("idle CPU ms", idle_after, idle_before * 2 + 50);
    for (what, now, limit) in checks(&end).into_iter().chain([idle]) {
        let ok = now <= limit;
        grew |= !ok;
        println!(
            "  {what:<20} end {now:>8}  limit {limit:>8}  {}",
            if ok { "ok" } else { "GREW" }
        );
    }
    if grew {
        println!("soak: FAILED, the daemon did not return to its idle baseline");
        std::process::exit(1);
    }
    println!("soak: ok, no growth");
}
