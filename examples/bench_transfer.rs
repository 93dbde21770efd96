//! Benchmark items 3 and 4: download concurrency and time to first byte, against the release
//! daemon as a child process, with the Rust WebRTC client (`peerbox::client`, the path a
//! browser takes: signaling, ICE, DTLS, SCTP, the transfer protocol, hash check).
//!
//! `bench_transfer PEERBOX concurrency [MIB]`: one download of a MIB file, then four at once
//! from four clients; prints `key value` lines (MB/s of each, aggregate, ratio).
//! `bench_transfer PEERBOX ttfb [RUNS]`: RUNS times a new client connects and fetches a 1 MiB
//! file; prints connect and first-byte latencies (p50, p95, max) and the slowest whole fetch.
//! A measurement tool: it asserts nothing about speed.

#[path = "support/daemon.rs"]
mod daemon;

use std::io::Write;
use std::time::{Duration, Instant};

use daemon::Daemon;
use peerbox::client::{Client, Options};

fn env() -> Vec<(&'static str, String)> {
    vec![
        (
            "PEERBOX_SEEDER__WEBRTC__UDP_BIND",
            r#"["127.0.0.1"]"#.into(),
        ),
        ("PEERBOX_WATCH__SETTLE_MS", "100".into()),
    ]
}

fn write_file(path: &std::path::Path, mib: usize) {
    let mut block = vec![0u8; 1 << 20];
    rand::fill(&mut block[..]);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..mib {
        block[..8].copy_from_slice(&(i as u64).to_le_bytes());
        f.write_all(&block).unwrap();
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn ready(d: &Daemon, path: &str) -> (Client, peerbox::seeder::protocol::FileInfo) {
    let mut c = Client::connect(&d.addr, Options::default())
        .await
        .expect("connect");
    let f = c
        .wait_for(path, Duration::from_secs(120))
        .await
        .expect("offered");
    (c, f)
}

async fn concurrency(d: &Daemon, mib: usize) {
    write_file(&d.share().join("big.bin"), mib);
    let bytes = (mib << 20) as f64;
    let (mut one, f) = ready(d, "big.bin").await;
    let (daemon0, own0) = (cpu_secs(d.pid()), cpu_secs(std::process::id()));
    let single = one.fetch(&f, |_| {}).await.expect("single download");
    let (daemon1, own1) = (cpu_secs(d.pid()), cpu_secs(std::process::id()));
    one.close().await;
    println!(
        "single_mb_s {:.1}",
        bytes / 1e6 / single.elapsed.as_secs_f64()
    );
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(ready(d, "big.bin").await);
    }
    let (daemon2, own2) = (cpu_secs(d.pid()), cpu_secs(std::process::id()));
    let t0 = Instant::now();
    let runs = clients.into_iter().map(|(mut c, f)| {
        tokio::spawn(async move {
            let r = c.fetch(&f, |_| {}).await.expect("concurrent download");
            c.close().await;
            r
        })
    });
    let results = futures_util::future::join_all(runs).await;
    let wall = t0.elapsed().as_secs_f64();
    let (daemon3, own3) = (cpu_secs(d.pid()), cpu_secs(std::process::id()));
    // CPU seconds per GiB moved, daemon and clients: whether four links cost more per byte.
    let gib = bytes / (1u64 << 30) as f64;
    println!(
        "single_daemon_cpu_s_per_gib {:.1}",
        (daemon1 - daemon0) / gib
    );
    println!("single_client_cpu_s_per_gib {:.1}", (own1 - own0) / gib);
    println!(
        "four_daemon_cpu_s_per_gib {:.1}",
        (daemon3 - daemon2) / (4.0 * gib)
    );
    println!(
        "four_client_cpu_s_per_gib {:.1}",
        (own3 - own2) / (4.0 * gib)
    );
    for (i, r) in results.iter().enumerate() {
        let r = r.as_ref().expect("task");
        println!("each_{i}_mb_s {:.1}", bytes / 1e6 / r.elapsed.as_secs_f64());
    }
    let aggregate = 4.0 * bytes / 1e6 / wall;
    println!("aggregate_mb_s {aggregate:.1}");
    println!(
        "ratio {:.2}",
        aggregate / (bytes / 1e6 / single.elapsed.as_secs_f64())
    );
    println!("cpu_secs {:.1}", cpu_secs(d.pid()));
}

/// utime + stime of the daemon so far, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

async fn ttfb(d: &Daemon, runs: usize) {
    write_file(&d.share().join("one.bin"), 1);
    // Warm the catalog (hashing) outside the measurement.
    let (c, _) = ready(d, "one.bin").await;
    c.close().await;
    let (mut connect, mut first, mut whole) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        let t0 = Instant::now();
        let (mut c, f) = ready(d, "one.bin").await;
        connect.push(ms(t0.elapsed()));
        let r = c.fetch(&f, |_| {}).await.expect("download");
        first.push(ms(r.first_byte.expect("bytes arrived")));
        whole.push(ms(r.elapsed));
        c.close().await;
        eprintln!(
            "run {i}: connect {:.0} ms, first byte {:.1} ms",
            connect[i], first[i]
        );
    }
    for (name, v) in [
        ("connect", &mut connect),
        ("ttfb", &mut first),
        ("whole", &mut whole),
    ] {
        v.sort_by(f64::total_cmp);
        println!("{name}_p50_ms {:.1}", pct(v, 50.0));
        println!("{name}_p95_ms {:.1}", pct(v, 95.0));
        println!("{name}_max_ms {:.1}", v[v.len() - 1]);
    }
    println!("runs {runs}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `RUST_LOG=peerbox=debug,rtc_sctp=debug` traces a slow run (the client runs in here).
    if let Ok(directive) = std::env::var("RUST_LOG") {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let filter = peerbox::logging::parse(&directive).expect("RUST_LOG");
        tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .with(filter)
            .init();
    }
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: bench_transfer PEERBOX (concurrency [MIB] | ttfb [RUNS])";
    let bin = std::path::PathBuf::from(args.get(1).expect(usage));
    let d = Daemon::start(&bin, &env()).expect("start peerbox");
    match args.get(2).map(String::as_str) {
        Some("concurrency") => {
            concurrency(&d, args.get(3).and_then(|v| v.parse().ok()).unwrap_or(100)).await
        }
        Some("ttfb") => ttfb(&d, args.get(3).and_then(|v| v.parse().ok()).unwrap_or(20)).await,
        _ => panic!("{usage}"),
    }
}
