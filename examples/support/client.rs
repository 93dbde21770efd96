//! A Rust stand-in for the web client: signaling over `/ws`, a str0m WebRTC connection to the
//! daemon's seeding peer, and downloads through the transfer protocol.
//!
//! Bench programs include it with `#[path = "support/client.rs"] mod client;`. It takes the same
//! path as a browser (join a room, offer to `peerbox`, DataChannel `peerbox`, `hello`,
//! `download`), so what it measures is what a phone would cause. Unlike the tests' client it
//! never keeps a download in memory: bytes are hashed as they arrive and checked at `end`.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use peerbox::seeder::frame;
use peerbox::seeder::peer::{ChannelId, PeerEvent, Peers, Sent, WebrtcConfig};
use peerbox::seeder::protocol::{FileInfo, Message};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_util::sync::CancellationToken;

/// The seeding peer's signaling name (the daemon's default `seeder.name`).
pub const SEEDER: &str = "peerbox";
const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("signaling: {0}")]
    Signaling(String),
    #[error("webrtc: {0}")]
    Peer(#[from] peerbox::seeder::peer::PeerError),
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("transfer: {0}")]
    Transfer(String),
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Client {
    ws: WsStream,
    pub name: String,
    peers: Peers,
    events: mpsc::UnboundedReceiver<PeerEvent>,
    channel: ChannelId,
    pub catalog: Vec<FileInfo>,
    /// Events that arrived while waiting for buffered-amount-low, kept for `next`.
    held: VecDeque<PeerEvent>,
    stop: CancellationToken,
}

/// What a finished download looked like.
#[derive(Debug, Clone)]
pub struct Downloaded {
    pub bytes: u64,
    pub elapsed: Duration,
}

async fn ws_recv(ws: &mut WsStream) -> Result<Value, ClientError> {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .map_err(|_| ClientError::Timeout("a signaling message"))?
            .ok_or_else(|| ClientError::Signaling("closed".into()))?
            .map_err(|e| ClientError::Signaling(e.to_string()))?;
        if let Ws::Text(t) = msg {
            return serde_json::from_str(&t).map_err(|e| ClientError::Signaling(e.to_string()));
        }
    }
}

async fn ws_send(ws: &mut WsStream, v: Value) -> Result<(), ClientError> {
    ws.send(Ws::text(v.to_string()))
        .await
        .map_err(|e| ClientError::Signaling(e.to_string()))
}

impl Client {
    /// Connects to the daemon at `addr` (`host:port`), joins `room`, opens the DataChannel to
    /// the seeder and exchanges `hello`. The daemon must offer loopback ICE candidates
    /// (`seeder.webrtc.udp_bind = ["127.0.0.1"]`).
    pub async fn connect(addr: &str, room: &str) -> Result<Client, ClientError> {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .map_err(|e| ClientError::Signaling(e.to_string()))?;
        let welcome = ws_recv(&mut ws).await?;
        let name = welcome["name"].as_str().unwrap_or_default().to_owned();
        ws_send(&mut ws, json!({"type":"join","room":room})).await?;
        loop {
            let m = ws_recv(&mut ws).await?;
            let has_seeder = m["peers"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["kind"] == "seeder"));
            if m["type"] == "peers" && has_seeder {
                break;
            }
        }
        let stop = CancellationToken::new();
        let cfg = WebrtcConfig {
            udp_bind: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            ..WebrtcConfig::default()
        };
        let (peers, mut events) = Peers::start(cfg, stop.clone()).await?;
        let offer = peers.create_offer(SEEDER, &[SEEDER]).await?;
        let msg = json!({"type":"signal","to":SEEDER,"signal":{"kind":"offer","sdp":offer}});
        ws_send(&mut ws, msg).await?;
        let answer = loop {
            let m = ws_recv(&mut ws).await?;
            if m["type"] == "signal" && m["signal"]["kind"] == "answer" {
                break m["signal"]["sdp"].as_str().unwrap_or_default().to_owned();
            }
        };
        peers.accept_answer(SEEDER, &answer).await?;
        let channel = loop {
            let ev = tokio::time::timeout(WAIT, events.recv())
                .await
                .map_err(|_| ClientError::Timeout("the DataChannel"))?
                .ok_or(ClientError::Timeout("the DataChannel"))?;
            if let PeerEvent::ChannelOpen { channel, label, .. } = ev {
                if label == SEEDER {
                    break channel;
                }
            }
        };
        let mut c = Client {
            ws,
            name,
            peers,
            events,
            channel,
            catalog: Vec::new(),
            held: VecDeque::new(),
            stop,
        };
        let hello = Message::Hello {
            version: 1,
            agent: Some("peerbox-bench".into()),
        };
        c.send(hello).await?;
        match c.next().await? {
            Err(Message::Hello { .. }) => Ok(c),
            other => Err(ClientError::Transfer(format!(
                "expected hello, got {other:?}"
            ))),
        }
    }

    pub async fn send(&mut self, m: Message) -> Result<(), ClientError> {
        let data = m.to_text().into_bytes();
        loop {
            match self
                .peers
                .send(SEEDER, self.channel, false, data.clone())
                .await?
            {
                Sent::Queued { buffered } if self.peers.should_wait(buffered) => {
                    self.wait_low().await;
                    return Ok(());
                }
                Sent::Queued { .. } => return Ok(()),
                Sent::Full => self.wait_low().await,
            }
        }
    }

    async fn wait_low(&mut self) {
        let (held, events) = (&mut self.held, &mut self.events);
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(ev) = events.recv().await {
                if matches!(ev, PeerEvent::BufferedLow { .. }) {
                    return;
                }
                held.push_back(ev);
            }
        })
        .await;
    }

    /// Next data from the seeder: Ok(binary frame) or Err(control message). Catalog parts
    /// are folded into `self.catalog` and not returned.
    pub async fn next(&mut self) -> Result<Result<Vec<u8>, Message>, ClientError> {
        loop {
            let ev = match self.held.pop_front() {
                Some(ev) => ev,
                None => tokio::time::timeout(WAIT, self.events.recv())
                    .await
                    .map_err(|_| ClientError::Timeout("data from the seeder"))?
                    .ok_or(ClientError::Timeout("data from the seeder"))?,
            };
            match ev {
                PeerEvent::Message {
                    binary: true, data, ..
                } => return Ok(Ok(data.data.clone())),
                PeerEvent::Message { data, .. } => {
                    let text = String::from_utf8_lossy(&data.data);
                    let m = Message::parse(&text)
                        .map_err(|e| ClientError::Transfer(format!("bad message: {e:?}")))?;
                    if let Message::Catalog { files, part, .. } = &m {
                        if *part == 0 {
                            self.catalog.clear();
                        }
                        self.catalog.extend(files.iter().cloned());
                        continue;
                    }
                    return Ok(Err(m));
                }
                PeerEvent::Closed { reason, .. } => return Err(ClientError::Transfer(reason)),
                _ => {}
            }
        }
    }

    /// Waits until the catalog lists `path` (hashed and offered).
    pub async fn file(&mut self, path: &str, limit: Duration) -> Result<FileInfo, ClientError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(f) = self.catalog.iter().find(|f| f.path == path) {
                return Ok(f.clone());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::Timeout("the file in the catalog"));
            }
            let wait = tokio::time::timeout(Duration::from_millis(200), self.next()).await;
            if let Ok(got) = wait {
                if let Ok(other) = got? {
                    let n = other.len();
                    return Err(ClientError::Transfer(format!("unexpected {n}-byte frame")));
                }
            }
        }
    }

    /// Downloads `file` whole, hashing as it goes; `progress(bytes_so_far)` is called after
    /// every frame. Fails unless the bytes arrive contiguous and match the catalog's hash.
    pub async fn download(
        &mut self,
        id: u32,
        file: &FileInfo,
        mut progress: impl FnMut(u64),
    ) -> Result<Downloaded, ClientError> {
        let start = std::time::Instant::now();
        let download = Message::Download {
            transfer_id: id,
            file_id: file.id.clone(),
            offset: 0,
        };
        self.send(download).await?;
        let mut hasher = blake3::Hasher::new();
        let mut got = 0u64;
        loop {
            match self.next().await? {
                Ok(raw) => {
                    let c = frame::decode(&raw)
                        .map_err(|e| ClientError::Transfer(format!("bad frame: {e}")))?;
                    if c.transfer_id != id || c.offset != got {
                        return Err(ClientError::Transfer(format!(
                            "frame for {} at {}, expected {id} at {got}",
                            c.transfer_id, c.offset
                        )));
                    }
                    hasher.update(c.data);
                    got += c.data.len() as u64;
                    progress(got);
                }
                Err(Message::End { size, hash, .. }) => {
                    let ours = hasher.finalize().to_hex();
                    if size != got || hash != file.hash || ours.as_str() != hash {
                        return Err(ClientError::Transfer(format!(
                            "end: {size} bytes {hash}, received {got} bytes {ours}"
                        )));
                    }
                    let elapsed = start.elapsed();
                    return Ok(Downloaded {
                        bytes: got,
                        elapsed,
                    });
                }
                Err(other) => return Err(ClientError::Transfer(format!("unexpected {other:?}"))),
            }
        }
    }

    pub async fn close(self) {
        let _ = self.peers.close(SEEDER).await;
        self.stop.cancel();
        drop(self.ws);
    }
}
