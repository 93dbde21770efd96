//! Helpers shared by the integration tests: a daemon on an ephemeral port and a tiny HTTP client.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use peerbox::Config;

/// A daemon serving on 127.0.0.1:0 inside the test's runtime; dropped state dirs go with it.
pub struct TestServer {
    pub addr: SocketAddr,
    pub dirs: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with the defaults, storage in a temp dir, and `tweak` applied last.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dirs = tempfile::tempdir().expect("tempdir");
        let mut config = Config::default();
        config.storage.share_dir = dirs.path().join("share");
        config.storage.incoming_dir = dirs.path().join("incoming");
        config.storage.state_dir = dirs.path().join("state");
        config.server.shutdown_grace_secs = 2;
        // HTTP tests need no seeder; the seeder tests turn it on.
        config.seeder.enabled = false;
        // Nor a relay (its default UDP port would be shared by every test); relay tests set it.
        config.turn.enabled = false;
        tweak(&mut config);
        peerbox::server::prepare_storage(&config).expect("storage");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(peerbox::run(listener, config, async move {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            dirs,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Triggers shutdown and waits for `run` to return.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server result");
        }
    }
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A blocking HTTP/1.1 request with `Connection: close`; run it in `spawn_blocking` from async code.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    parse_response(&raw, method == "HEAD")
}

pub fn parse_response(raw: &[u8], head_only: bool) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("complete response head");
    let head = std::str::from_utf8(&raw[..split]).expect("ascii head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if chunked && !head_only {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let path = path.to_owned();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        request(addr, "GET", &path, &h)
    })
    .await
    .unwrap()
}

pub mod client;
pub mod daemon;
mod transfer;
mod ws;
#[allow(unused_imports)]
pub use transfer::*;
#[allow(unused_imports)]
pub use ws::*;

/// Writes `data` to `path` (parents created) with an mtime an hour ago, so the catalog counts
/// the file as settled at once.
pub fn write_settled(path: &std::path::Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(old).unwrap();
}

/// Waits until `/catalog.json` offers `count` files.
pub async fn wait_offered(addr: SocketAddr, count: usize) {
    for _ in 0..200 {
        let cat = get(addr, "/catalog.json", &[]).await;
        if cat.status == 200 {
            let v: serde_json::Value = serde_json::from_slice(&cat.body).unwrap();
            if v["files"].as_array().map_or(0, |f| f.len()) == count {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the share was never offered in full");
}
