//! The seeder's WebRTC transport against a real browser, without signaling: serves a page and
//! `POST /offer` (non-trickle SDP exchange) on the given address, and streams `size` bytes of a
//! deterministic pattern over each DataChannel labelled `data` that a browser opens.
//! Driven by `tests/web/peer-bench.mjs` inside a test network namespace; used by the transport
//! test and the benchmarks. Usage: `peer_bench 10.77.0.1` (prints `listening on http://…`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use peerbox::seeder::peer::{ChannelId, PeerEvent, Peers, Sent, WebrtcConfig};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const PAGE: &str = include_str!("peer_bench.html");
const FRAME: usize = 65536;
const HEADER: usize = 13;

type Waiters = Arc<Mutex<HashMap<(String, ChannelId), Arc<Notify>>>>;

/// Byte `i` of the stream; the page checks every byte against the same formula.
fn pattern(i: u64) -> u8 {
    ((i.wrapping_mul(7)) % 251) as u8
}

async fn stream(peers: Peers, waiters: Waiters, remote: String, ch: ChannelId, size: u64) {
    let notify = Arc::new(Notify::new());
    waiters
        .lock()
        .unwrap()
        .insert((remote.clone(), ch), notify.clone());
    let mut offset = 0u64;
    while offset < size {
        let n = ((size - offset) as usize).min(FRAME - HEADER);
        let mut frame = vec![0u8; HEADER + n];
        frame[0] = 1;
        frame[5..13].copy_from_slice(&offset.to_be_bytes());
        for (k, b) in frame[HEADER..].iter_mut().enumerate() {
            *b = pattern(offset + k as u64);
        }
        loop {
            let wait = notify.notified();
            match peers.send(&remote, ch, true, frame.clone()).await {
                Ok(Sent::Queued { buffered }) => {
                    if peers.should_wait(buffered) {
                        wait.await;
                    }
                    break;
                }
                Ok(Sent::Full) => wait.await,
                Err(e) => {
                    eprintln!("send to {remote} failed at {offset}: {e}");
                    return;
                }
            }
        }
        offset += n as u64;
    }
}

#[tokio::main]
async fn main() {
    let ip: IpAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "10.77.0.1".into())
        .parse()
        .expect("an IP address");
    let mut config = WebrtcConfig {
        udp_bind: vec![ip],
        ..WebrtcConfig::default()
    };
    // Optional: max_buffered_bytes and low_water_bytes, for tuning runs.
    if let Some(max) = std::env::args().nth(2).and_then(|s| s.parse().ok()) {
        config.max_buffered_bytes = max;
        config.low_water_bytes = max / 4;
    }
    let (peers, mut events) = Peers::start(config, CancellationToken::new())
        .await
        .expect("transport");
    let waiters: Waiters = Arc::default();
    let sizes: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    {
        let (peers, waiters, sizes) = (peers.clone(), waiters.clone(), sizes.clone());
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                match ev {
                    PeerEvent::ChannelOpen {
                        remote,
                        channel,
                        label,
                    } if label == "data" => {
                        let size = sizes.lock().unwrap().get(&remote).copied().unwrap_or(0);
                        tokio::spawn(stream(
                            peers.clone(),
                            waiters.clone(),
                            remote,
                            channel,
                            size,
                        ));
                    }
                    PeerEvent::BufferedLow { remote, channel } => {
                        if let Some(n) = waiters.lock().unwrap().get(&(remote, channel)) {
                            n.notify_one();
                        }
                    }
                    PeerEvent::Closed { remote, reason, .. } => {
                        eprintln!("{remote} closed: {reason}");
                        waiters.lock().unwrap().retain(|(r, _), _| *r != remote);
                    }
                    _ => {}
                }
            }
        });
    }
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, 0))
        .await
        .unwrap();
    println!("listening on http://{}/", listener.local_addr().unwrap());
    let mut next_id = 0u64;
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let (peers, sizes) = (peers.clone(), sizes.clone());
        next_id += 1;
        let conn_id = next_id;
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                let (peers, sizes) = (peers.clone(), sizes.clone());
                async move {
                    if req.method() == hyper::Method::GET {
                        let mut res = Response::new(Full::new(Bytes::from(PAGE)));
                        res.headers_mut()
                            .insert("content-type", "text/html".parse().unwrap());
                        return Ok::<_, Infallible>(res);
                    }
                    let size: u64 = req
                        .uri()
                        .query()
                        .and_then(|q| q.strip_prefix("size="))
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(1 << 20);
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let offer = String::from_utf8_lossy(&body).into_owned();
                    let remote = format!("browser-{conn_id}-{}", rand_suffix());
                    sizes.lock().unwrap().insert(remote.clone(), size);
                    let answer = peers
                        .accept_offer(&remote, &offer)
                        .await
                        .unwrap_or_else(|e| format!("error: {e}"));
                    Ok(Response::new(Full::new(Bytes::from(answer))))
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
