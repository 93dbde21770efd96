//! Item 2 of the benchmarks: the same shared file from the same running daemon, once through
//! the seeder over WebRTC to a webrtc-rs client (the other Rust stack, a dev-dependency only:
//! the daemon's own str0m is on the serving side), once as a plain HTTP `GET /files/<id>`.
//! The WebRTC client is a real peer: it joins room `home` over the daemon's `/ws`, offers a
//! DataChannel `peerbox` to the seeder, and speaks docs/protocol.md (hello, catalog, download,
//! chunk frames, end, done) with `peerbox::seeder::{protocol, frame}`. Loopback only, explicit
//! addresses. Prints `key value` lines; never asserts on timings.
//! Usage: `bench_rtc_http ADDR PATH RUNS [rtc|http|both]` (ADDR = the daemon's `host:port`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use peerbox::seeder::frame;
use peerbox::seeder::protocol::{FileInfo, Message};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Ws;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCSessionDescription,
};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;
const WAIT: Duration = Duration::from_secs(60);

struct Gathered(mpsc::UnboundedSender<()>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Gathered {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.0.send(());
        }
    }
}

/// Joins `home` and returns the signaling socket and the seeder's name.
async fn join(
    addr: SocketAddr,
) -> Res<(
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    String,
)> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws")).await?;
    ws.send(Ws::text(json!({"type":"join","room":"home"}).to_string()))
        .await?;
    loop {
        let Some(msg) = tokio::time::timeout(WAIT, ws.next()).await?.transpose()? else {
            return Err("signaling closed".into());
        };
        let Ws::Text(t) = msg else { continue };
        let m: Value = serde_json::from_str(&t)?;
        if m["type"] == "peers" {
            if let Some(p) = m["peers"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["kind"] == "seeder"))
            {
                return Ok((ws, p["name"].as_str().unwrap_or("peerbox").to_owned()));
            }
        }
    }
}

/// One download through the seeder; returns (bytes, seconds from first frame to `end`).
async fn rtc_download(addr: SocketAddr, path: &str) -> Res<(u64, f64)> {
    let (mut ws, seeder) = join(addr).await?;
    let (gtx, mut grx) = mpsc::unbounded_channel();
    let pc = PeerConnectionBuilder::new()
        .with_handler(Arc::new(Gathered(gtx)))
        .with_udp_addrs(vec![format!("{}:0", addr.ip())])
        .build()
        .await?;
    let dc = pc.create_data_channel("peerbox", None).await?;
    let offer = pc.create_offer(None).await?;
    pc.set_local_description(offer).await?;
    let _ = tokio::time::timeout(Duration::from_secs(5), grx.recv()).await;
    let sdp = pc.local_description().await.ok_or("no offer")?.sdp;
    let signal = json!({"type":"signal","to":seeder,"signal":{"kind":"offer","sdp":sdp}});
    ws.send(Ws::text(signal.to_string())).await?;
    let answer = loop {
        let Some(msg) = tokio::time::timeout(WAIT, ws.next()).await?.transpose()? else {
            return Err("signaling closed".into());
        };
        let Ws::Text(t) = msg else { continue };
        let m: Value = serde_json::from_str(&t)?;
        if m["type"] == "signal" && m["signal"]["kind"] == "answer" {
            break m["signal"]["sdp"].as_str().unwrap_or_default().to_owned();
        }
    };
    pc.set_remote_description(RTCSessionDescription::answer(answer)?)
        .await?;
    let result = tokio::time::timeout(Duration::from_secs(600), transfer(&dc, path)).await;
    let _ = pc.close().await;
    let _ = ws.close(None).await;
    result?
}

async fn transfer(dc: &Arc<dyn DataChannel>, path: &str) -> Res<(u64, f64)> {
    let send = |m: Message| async move { dc.send_text(&m.to_text()).await };
    let mut file: Option<FileInfo> = None;
    let (mut got, mut first) = (0u64, None::<Instant>);
    while let Some(ev) = dc.poll().await {
        match ev {
            DataChannelEvent::OnOpen => {
                send(Message::Hello {
                    version: 1,
                    agent: Some("bench-webrtc-rs".into()),
                })
                .await?;
            }
            DataChannelEvent::OnMessage(msg) if !msg.is_string => {
                let chunk = frame::decode(&msg.data).map_err(|e| e.to_string())?;
                if chunk.offset != got {
                    return Err(format!("gap at {got}: frame at {}", chunk.offset).into());
                }
                first.get_or_insert_with(Instant::now);
                got += chunk.data.len() as u64;
            }
            DataChannelEvent::OnMessage(msg) => {
                let text = std::str::from_utf8(&msg.data)?;
                match Message::parse(text).map_err(|e| e.to_string())? {
                    Message::Catalog { files, .. } if file.is_none() => {
                        let Some(f) = files.into_iter().find(|f| f.path == path) else {
                            continue; // a later part, or the file is still being hashed
                        };
                        send(Message::Download {
                            transfer_id: 1,
                            file_id: f.id.clone(),
                            offset: 0,
                        })
                        .await?;
                        file = Some(f);
                    }
                    Message::End { size, .. } => {
                        let secs = first.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
                        if got != size {
                            return Err(format!("short: {got} of {size}").into());
                        }
                        send(Message::Done {
                            transfer_id: 1,
                            name: None,
                        })
                        .await?;
                        return Ok((got, secs));
                    }
                    m @ (Message::Error { .. } | Message::Refuse { .. }) => {
                        return Err(format!("seeder: {}", m.to_text()).into())
                    }
                    _ => {}
                }
            }
            DataChannelEvent::OnClose => break,
            _ => {}
        }
    }
    Err("channel closed".into())
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
