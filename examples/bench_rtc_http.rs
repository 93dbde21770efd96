//! Item 2 of the benchmarks: the same shared file from the same running daemon, once through
//! the seeder over WebRTC to `peerbox::client` (a real peer: signaling over `/ws`, a DataChannel
//! `peerbox`, docs/protocol.md, the BLAKE3 checked), once as a plain HTTP `GET /files/<id>`.
//! Loopback only, explicit addresses. Prints `key value` lines; never asserts on timings.
//! Usage: `bench_rtc_http ADDR PATH RUNS [rtc|http|both]` (ADDR = the daemon's `host:port`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use peerbox::client::{Client, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// One download through the seeder with a new client; returns (bytes, seconds from the first
/// frame to `end`).
async fn rtc_download(addr: SocketAddr, path: &str) -> Res<(u64, f64)> {
    let mut c = Client::connect(&addr.to_string(), Options::default()).await?;
    let file = c.wait_for(path, Duration::from_secs(60)).await?;
    let got = c.fetch(&file, |_| {}).await?;
    c.close().await;
    let secs = (got.elapsed - got.first_byte.unwrap_or_default()).as_secs_f64();
    Ok((got.received, secs))
}

/// One plain HTTP GET of `/files/<id>`; returns (body bytes, seconds from request to last byte).
async fn http_download(addr: SocketAddr, path: &str) -> Res<(u64, f64)> {
    let id = peerbox::watch::entry_id(path);
    let start = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let req = format!("GET /files/{id} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut buf = vec![0u8; 256 << 10];
    let (mut head, mut body) = (Vec::new(), 0u64);
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        if body == 0 && !head.ends_with(b"\r\n\r\n") {
            head.extend_from_slice(&buf[..n]);
            if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                body = (head.len() - i - 4) as u64;
                head.truncate(i + 4);
                if !head.starts_with(b"HTTP/1.1 200") {
                    return Err(String::from_utf8_lossy(&head).into_owned().into());
                }
            }
        } else {
            body += n as u64;
        }
    }
    Ok((body, start.elapsed().as_secs_f64()))
}

/// Waits until the daemon has hashed the file and serves it (a one-byte range answers 206).
async fn wait_ready(addr: SocketAddr, path: &str) -> Res<()> {
    let id = peerbox::watch::entry_id(path);
    let req = format!(
        "GET /files/{id} HTTP/1.1\r\nHost: {addr}\r\nRange: bytes=0-0\r\nConnection: close\r\n\r\n"
    );
    for _ in 0..600 {
        if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
            let mut head = [0u8; 12];
            if s.write_all(req.as_bytes()).await.is_ok()
                && s.read_exact(&mut head).await.is_ok()
                && &head == b"HTTP/1.1 206"
            {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{path} was never offered").into())
}

/// This process's CPU time (user + system) in seconds: the client's own share of the cost.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit(") ").next().unwrap_or("");
    let f: Vec<f64> = rest.split(' ').map(|x| x.parse().unwrap_or(0.0)).collect();
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr: SocketAddr = args.get(1).ok_or("ADDR")?.parse()?;
    let path = args.get(2).ok_or("PATH")?.clone();
    let runs: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
    let which = args.get(4).map(String::as_str).unwrap_or("both");
    wait_ready(addr, &path).await?;
    let (mut rtc, mut http) = (Vec::new(), Vec::new());
    for i in 0..runs {
        if which != "http" {
            let cpu0 = cpu_secs();
            let (bytes, secs) = rtc_download(addr, &path).await?;
            let mbps = bytes as f64 / 1e6 / secs;
            println!("rtc_run_{i} {mbps:.1}");
            println!(
                "rtc_client_busy_{i} {:.0}",
                100.0 * (cpu_secs() - cpu0) / secs
            );
            rtc.push(mbps);
        }
        if which != "rtc" {
            let (bytes, secs) = http_download(addr, &path).await?;
            let mbps = bytes as f64 / 1e6 / secs;
            println!("http_run_{i} {mbps:.1}");
            http.push(mbps);
        }
    }
    if !rtc.is_empty() {
        println!("rtc_mbps {:.1}", median(rtc.clone()));
    }
    if !http.is_empty() {
        println!("http_mbps {:.1}", median(http.clone()));
    }
    if !rtc.is_empty() && !http.is_empty() {
        println!("ratio {:.3}", median(rtc) / median(http));
    }
    Ok(())
}
