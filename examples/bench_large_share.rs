//! Large shares (benchmark item 12): the catalog with 10,000 to 300,000 files.
//!
//! For each size: writes the files (a few bytes each, 1,000 per folder), starts the real
//! `peerbox::watch::Catalog` in this process (default settings but `max_files`), and measures
//! - the first hashing: time until every file is offered,
//! - idle CPU once settled: this process's utime + stime over `idle_secs` (nothing else runs),
//! - RSS per file: this process's VmRSS after settling, less before the catalog started,
//! - five pages: five version-2 sessions (`peerbox::seeder::session::Session`, the sans-IO
//!   protocol a page speaks with the seeder) that each received the whole list, RSS added,
//! - a drop: a file written into the share, until a page's session sends the delta naming it,
//! - cold start: the catalog started again on the same state directory (hash cache present),
//!   until it offers every file;
//! - with a daemon binary given (`--daemon PATH`), the whole daemon on the same share and state
//!   (seeder, signaling and all): start until `/metrics` shows every file offered, its CPU
//!   time over `idle_secs` once settled, its RSS, then five real pages (WebRTC clients of the
//!   seeder, version 2, each holding the whole list): the RSS they add to the daemon, and a drop
//!   until the first page's catalog lists it.
//!
//! ```text
//! target/release/examples/bench_large_share [--daemon PATH] [idle_secs] [sizes...]
//! ```
//! Prints `key_N value` lines for bench/sections/12-large-shares.sh; asserts nothing.

#[path = "support/daemon.rs"]
mod daemon;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peerbox::client::{Client, Options};
use peerbox::seeder::session::Session;
use peerbox::watch::{Catalog, Root, Snapshot, WatchConfig};
use tokio_util::sync::CancellationToken;

const PAGES: usize = 5;

fn rss_kib() -> u64 {
    daemon::rss_kib(std::process::id())
}

fn make_files(share: &Path, n: usize) {
    for i in 0..n {
        let dir = share.join(format!("album{:04}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        std::fs::write(dir.join(format!("IMG_{i:06}.jpg")), i.to_string()).unwrap();
    }
}

async fn until(catalog: &Catalog, limit: Duration, ok: impl Fn(&Snapshot) -> bool) -> bool {
    let mut rx = catalog.subscribe();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if ok(&rx.borrow_and_update()) {
            return true;
        }
        if tokio::time::timeout_at(deadline, rx.changed())
            .await
            .is_err()
        {
            return false;
        }
    }
}

fn page(snapshot: Arc<Snapshot>) -> (Session, usize) {
    let mut s = Session::new(4, 200);
    s.set_catalog(snapshot);
    s.on_text(r#"{"type":"hello","version":2}"#);
    let mut bytes = 0;
    while let Some(m) = s.next_catalog() {
        bytes += m.len();
    }
    (s, bytes)
}

async fn start(share: &Path, state: &Path, stop: &CancellationToken) -> Catalog {
    let roots = vec![Root {
        dir: share.to_owned(),
        prefix: String::new(),
    }];
    Catalog::start(config(), roots, state, stop.clone())
        .await
        .expect("catalog")
}

/// The defaults, with room for the largest size (`watch.max_files` is 100,000 by default).
fn config() -> WatchConfig {
    WatchConfig {
        max_files: 1_000_000,
        ..WatchConfig::default()
    }
}

async fn stop(catalog: Catalog, token: CancellationToken) {
    let mut rx = catalog.subscribe();
    drop(catalog);
    token.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(60), async {
        while rx.changed().await.is_ok() {}
    })
    .await;
}

fn metric(addr: &str, name: &str) -> Option<u64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The real daemon on the same share and state: start with the cache, idle CPU, RSS; then
/// five real pages (`peerbox::client` WebRTC connections speaking version 2, each holding the
/// whole list), the RSS they add, and a drop until the first page's catalog lists it.
async fn daemon_figures(bin: &Path, dir: &Path, n: usize, idle: Duration) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18999);
    let addr = format!("127.0.0.1:{port}");
    std::fs::create_dir_all(dir.join("incoming")).unwrap();
    let t = Instant::now();
    let mut child = std::process::Command::new(bin)
        .args(["run", "--listen", &addr, "--system-config", "/nonexistent"])
        .arg("--share-dir")
        .arg(dir.join("share"))
        .arg("--incoming-dir")
        .arg(dir.join("incoming"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env("PEERBOX_LOG__LEVEL", "warn")
        .env("PEERBOX_WATCH__MAX_FILES", "1000000")
        .env("PEERBOX_SEEDER__WEBRTC__UDP_BIND", r#"["127.0.0.1"]"#)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start the daemon");
    let want = n as u64;
    while metric(&addr, "peerbox_catalog_files") != Some(want) {
        if t.elapsed() > Duration::from_secs(300) {
            println!("daemon_timeout_{n} 1");
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("daemon_start_secs_{n} {:.2}", t.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_secs(4)).await;
    let c0 = daemon::cpu_secs(child.id());
    tokio::time::sleep(idle).await;
    let cpu = daemon::cpu_secs(child.id()) - c0;
    println!("daemon_idle_cpu_secs_{n} {cpu:.3}");
    let rss_idle = daemon::rss_kib(child.id());
    println!("daemon_rss_kib_{n} {rss_idle}");
    let url = format!("http://{addr}/?room=home");
    let mut pages = Vec::new();
    for _ in 0..PAGES {
        match open_page(&url, n).await {
            Ok(c) => pages.push(c),
            Err(e) => {
                eprintln!("page: {e}");
                break;
            }
        }
    }
    if pages.len() == PAGES {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let added = daemon::rss_kib(child.id()) as i64 - rss_idle as i64;
        println!("daemon_five_pages_kib_{n} {added}");
        // Diagnosis: keep the pages open this long, printing the RSS they add every second.
        let hold: u64 = std::env::var("BENCH_LARGE_HOLD_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        for s in 0..hold {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let added = daemon::rss_kib(child.id()) as i64 - rss_idle as i64;
            eprintln!("hold pid {} +{s}s: five pages add {added} KiB", child.id());
        }
        // A drop, until the first page's catalog lists it.
        std::fs::create_dir_all(dir.join("share/late")).unwrap();
        let t = Instant::now();
        std::fs::write(dir.join("share/late/dropped.jpg"), b"new").unwrap();
        let limit = Duration::from_secs(30);
        if pages[0].wait_for("late/dropped.jpg", limit).await.is_ok() {
            println!(
                "daemon_drop_to_page_secs_{n} {:.3}",
                t.elapsed().as_secs_f64()
            );
        }
    }
    for c in pages {
        c.close().await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A page: a version-2 client of the daemon's seeder holding the whole list of `n` files.
async fn open_page(url: &str, n: usize) -> Result<Client, String> {
    let mut c = Client::connect(url, Options::default())
        .await
        .map_err(|e| e.to_string())?;
    let listed = tokio::time::timeout(Duration::from_secs(120), c.wait_catalog())
        .await
        .map_err(|_| "no whole list in 120 s".to_string())?
        .map_err(|e| e.to_string())?
        .files
        .len();
    if listed != n {
        return Err(format!("{listed} of {n} files listed"));
    }
    Ok(c)
}

async fn one_size(n: usize, idle: Duration, bin: Option<PathBuf>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (share, state) = (tmp.path().join("share"), tmp.path().join("state"));
    std::fs::create_dir_all(&state).unwrap();
    let t = Instant::now();
    make_files(&share, n);
    println!("generate_secs_{n} {:.1}", t.elapsed().as_secs_f64());

    let rss0 = rss_kib();
    let token = CancellationToken::new();
    let t = Instant::now();
    let catalog = start(&share, &state, &token).await;
    let all = |s: &Snapshot| s.entries.len() == n;
    if !until(&catalog, Duration::from_secs(600), all).await {
        println!("timeout_{n} 1");
        return;
    }
    println!("first_hashing_secs_{n} {:.2}", t.elapsed().as_secs_f64());
    // The hash cache is written 2 s after the last change; let that pass, then sit idle.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let me = std::process::id();
    let (c0, events0) = (daemon::cpu_secs(me), catalog.stats().events());
    tokio::time::sleep(idle).await;
    let cpu = daemon::cpu_secs(me) - c0;
    println!("idle_cpu_secs_{n} {cpu:.3}");
    println!("idle_secs_{n} {}", idle.as_secs());
    println!("idle_events_{n} {}", catalog.stats().events() - events0);
    let rss1 = rss_kib();
    println!("rss_kib_{n} {rss1}");
    println!(
        "rss_bytes_per_file_{n} {:.0}",
        (rss1.saturating_sub(rss0) * 1024) as f64 / n as f64
    );

    let mut pages = Vec::new();
    let mut wire = 0;
    for _ in 0..PAGES {
        let (s, bytes) = page(catalog.snapshot());
        wire = bytes;
        pages.push(s);
    }
    let rss2 = rss_kib();
    println!("catalog_wire_bytes_{n} {wire}");
    println!("five_pages_kib_{n} {}", rss2 as i64 - rss1 as i64);

    // A drop, until the first page's session sends the delta naming it.
    let mut rx = catalog.subscribe();
    rx.borrow_and_update();
    std::fs::create_dir_all(share.join("late")).unwrap();
    let t = Instant::now();
    std::fs::write(share.join("late/dropped.jpg"), b"new").unwrap();
    let mut seen = None;
    while seen.is_none() && t.elapsed() < Duration::from_secs(30) {
        if tokio::time::timeout(Duration::from_secs(1), rx.changed())
            .await
            .is_err()
        {
            continue;
        }
        let snap = rx.borrow_and_update().clone();
        for p in pages.iter_mut() {
            p.set_catalog(snap.clone());
        }
        while let Some(m) = pages[0].next_catalog() {
            if m.contains("late/dropped.jpg") && m.contains("catalog_delta") {
                seen = Some(t.elapsed());
            }
        }
    }
    match seen {
        Some(d) => println!("drop_to_page_secs_{n} {:.3}", d.as_secs_f64()),
        None => println!("drop_timeout_{n} 1"),
    }
    drop(pages);
    stop(catalog, token).await;

    // Cold start with the hash cache present.
    let token = CancellationToken::new();
    let t = Instant::now();
    let catalog = start(&share, &state, &token).await;
    let ok = until(&catalog, Duration::from_secs(120), |s| {
        s.entries.len() == n + 1
    })
    .await;
    println!(
        "cold_start_secs_{n} {:.2}",
        if ok { t.elapsed().as_secs_f64() } else { -1.0 }
    );
    println!("cold_start_hashed_{n} {}", catalog.hashes_computed());
    stop(catalog, token).await;
    if let Some(bin) = bin {
        std::fs::remove_dir_all(share.join("late")).unwrap();
        let dir = tmp.path().to_owned();
        daemon_figures(&bin, &dir, n, idle).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let bin = match args.iter().position(|a| a == "--daemon") {
        Some(i) if i + 1 < args.len() => {
            let path = PathBuf::from(args.remove(i + 1));
            args.remove(i);
            Some(std::fs::canonicalize(&path).expect("the daemon binary"))
        }
        _ => None,
    };
    let mut args = args.into_iter();
    let idle = Duration::from_secs(args.next().and_then(|s| s.parse().ok()).unwrap_or(60));
    let mut sizes: Vec<usize> = args.filter_map(|s| s.parse().ok()).collect();
    if sizes.is_empty() {
        sizes = vec![10_000, 100_000, 300_000];
    }
    println!("settle_ms {}", WatchConfig::default().settle_ms);
    println!(
        "sizes {}",
        sizes
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    for n in sizes {
        one_size(n, idle, bin.clone()).await;
    }
}
