//! A browser stand-in in Rust: real signaling over WebSocket plus the seeder's own str0m
//! transport in the browser's role, speaking the transfer protocol of docs/protocol.md.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use peerbox::seeder::frame;
use peerbox::seeder::peer::{ChannelId, PeerEvent, Peers, Sent, WebrtcConfig};
use peerbox::seeder::protocol::{FileInfo, Message};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_util::sync::CancellationToken;

pub const WAIT: Duration = Duration::from_secs(30);
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A browser stand-in: a signaling connection plus a WebRTC peer with one DataChannel.
pub struct Client {
    pub ws: WsStream,
    pub name: String,
    pub token: String,
    pub peers: Peers,
    pub events: mpsc::UnboundedReceiver<PeerEvent>,
    pub channel: ChannelId,
    pub catalog: Vec<FileInfo>,
    /// Events that arrived while waiting for buffered-amount-low, kept for `next`.
    pub held: std::collections::VecDeque<PeerEvent>,
    pub stop: CancellationToken,
}

pub async fn ws_recv(ws: &mut WsStream) -> Value {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("signaling message")
            .unwrap()
            .unwrap();
        if let Ws::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

impl Client {
    pub async fn connect(addr: SocketAddr, resume: Option<&str>) -> Client {
        let q = resume.map(|t| format!("?resume={t}")).unwrap_or_default();
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws{q}"))
            .await
            .unwrap();
        let welcome = ws_recv(&mut ws).await;
        let name = welcome["name"].as_str().unwrap().to_owned();
        let token = welcome["resume_token"].as_str().unwrap().to_owned();
        ws.send(Ws::text(json!({"type":"join","room":"home"}).to_string()))
            .await
            .unwrap();
        loop {
            let m = ws_recv(&mut ws).await;
            if m["type"] == "peers"
                && m["peers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["kind"] == "seeder")
            {
                break;
            }
        }
        let stop = CancellationToken::new();
        let cfg = WebrtcConfig {
            udp_bind: vec![LOOPBACK],
            ..WebrtcConfig::default()
        };
        let (peers, mut events) = Peers::start(cfg, stop.clone()).await.unwrap();
        let offer = peers.create_offer("peerbox", &["peerbox"]).await.unwrap();
        let msg = json!({"type":"signal","to":"peerbox","signal":{"kind":"offer","sdp":offer}});
        ws.send(Ws::text(msg.to_string())).await.unwrap();
        let answer = loop {
            let m = ws_recv(&mut ws).await;
            if m["type"] == "signal" && m["signal"]["kind"] == "answer" {
                assert_eq!(m["from"], "peerbox");
                break m["signal"]["sdp"].as_str().unwrap().to_owned();
            }
        };
        peers.accept_answer("peerbox", &answer).await.unwrap();
        let channel = loop {
            match tokio::time::timeout(WAIT, events.recv())
                .await
                .expect("channel open")
                .unwrap()
            {
                PeerEvent::ChannelOpen { channel, label, .. } if label == "peerbox" => {
                    break channel
                }
                _ => {}
            }
        };
        let mut c = Client {
            ws,
            name,
            token,
            peers,
            events,
            channel,
            catalog: Vec::new(),
            held: Default::default(),
            stop,
        };
        c.send(Message::Hello {
            version: 1,
            agent: Some("test".into()),
        })
        .await;
        match c.next().await {
            Err(Message::Hello { version: 1, .. }) => {}
            other => panic!("expected hello, got {other:?}"),
        }
        c
    }

    pub async fn send_raw(&mut self, binary: bool, data: Vec<u8>) {
        loop {
            match self
                .peers
                .send("peerbox", self.channel, binary, data.clone())
                .await
                .unwrap()
            {
                Sent::Queued { buffered } if !self.peers.should_wait(buffered) => return,
                Sent::Queued { .. } => {
                    self.wait_low().await;
                    return;
                }
                Sent::Full => self.wait_low().await,
            }
        }
    }

    /// Waits for buffered-amount-low, keeping other events (the peer's replies) for later.
    pub async fn wait_low(&mut self) {
        let held = &mut self.held;
        let events = &mut self.events;
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

    pub async fn send(&mut self, m: Message) {
        self.send_raw(false, m.to_text().into_bytes()).await;
    }

    /// Next data from the seeder: Ok(binary chunk) or Err(control message). Catalogs are kept.
    pub async fn next(&mut self) -> Result<Vec<u8>, Message> {
        loop {
            let ev = match self.held.pop_front() {
                Some(ev) => ev,
                None => tokio::time::timeout(WAIT, self.events.recv())
                    .await
                    .expect("peer event")
                    .expect("open"),
            };
            match ev {
                PeerEvent::Message {
                    binary: true, data, ..
                } => return Ok(data.data.clone()),
                PeerEvent::Message {
                    binary: false,
                    data,
                    ..
                } => {
                    let m = Message::parse(std::str::from_utf8(&data.data).unwrap()).unwrap();
                    if let Message::Catalog { files, part, .. } = &m {
                        if *part == 0 {
                            self.catalog.clear();
                        }
                        self.catalog.extend(files.iter().cloned());
                        continue;
                    }
                    return Err(m);
                }
                PeerEvent::Closed { reason, .. } => panic!("connection closed: {reason}"),
                _ => {}
            }
        }
    }

    /// Waits until the catalog lists `path`.
    pub async fn file(&mut self, path: &str) -> FileInfo {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(f) = self.catalog.iter().find(|f| f.path == path) {
                return f.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} never offered"
            );
            let _ = tokio::time::timeout(Duration::from_millis(200), async {
                if let Err(m) = self.next().await {
                    panic!("unexpected {m:?}");
                }
            })
            .await;
        }
    }

    /// Downloads `file` from `offset`; returns the bytes and checks `end`.
    pub async fn download(&mut self, id: u32, file: &FileInfo, offset: u64) -> Vec<u8> {
        self.send(Message::Download {
            transfer_id: id,
            file_id: file.id.clone(),
            offset,
        })
        .await;
        let mut got = Vec::new();
        loop {
            match self.next().await {
                Ok(raw) => {
                    let c = frame::decode(&raw).unwrap();
                    assert_eq!(c.transfer_id, id);
                    assert_eq!(c.offset, offset + got.len() as u64, "contiguous chunks");
                    got.extend_from_slice(c.data);
                }
                Err(Message::End {
                    transfer_id,
                    size,
                    hash,
                }) => {
                    assert_eq!(
                        (transfer_id, size, hash.as_str()),
                        (id, file.size, file.hash.as_str())
                    );
                    return got;
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Sends `data[from..to]` of upload `id` as chunk frames.
    pub async fn chunks(&mut self, id: u32, data: &[u8], from: usize, to: usize) {
        let mut off = from;
        while off < to {
            let n = (to - off).min(frame::MAX_PAYLOAD_BYTES);
            self.send_raw(true, frame::encode(id, off as u64, &data[off..off + n]))
                .await;
            off += n;
        }
    }

    pub async fn close(self) {
        let _ = self.peers.close("peerbox").await;
        self.stop.cancel();
        drop(self.ws);
    }
}
