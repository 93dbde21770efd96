//! The seeder end to end: a real daemon, real signaling over WebSocket, and a real Rust WebRTC
//! peer (the same str0m transport, in the browser's role) downloading and uploading files.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{random_bytes, TestServer};
use futures_util::{SinkExt, StreamExt};
use peerbox::seeder::frame;
use peerbox::seeder::peer::{ChannelId, PeerEvent, Peers, Sent, WebrtcConfig};
use peerbox::seeder::protocol::{FileInfo, Message};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(30);
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.seeder.enabled = true;
        c.seeder.webrtc.udp_bind = vec![LOOPBACK];
        c.seeder.progress_ack_bytes = 1 << 20;
        c.watch.settle_ms = 50;
    })
    .await
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A browser stand-in: a signaling connection plus a WebRTC peer with one DataChannel.
struct Client {
    ws: WsStream,
    name: String,
    token: String,
    peers: Peers,
    events: mpsc::UnboundedReceiver<PeerEvent>,
    channel: ChannelId,
    catalog: Vec<FileInfo>,
    /// Events that arrived while waiting for buffered-amount-low, kept for `next`.
    held: std::collections::VecDeque<PeerEvent>,
    stop: CancellationToken,
}

async fn ws_recv(ws: &mut WsStream) -> Value {
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
    async fn connect(srv: &TestServer, resume: Option<&str>) -> Client {
        let q = resume.map(|t| format!("?resume={t}")).unwrap_or_default();
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws{q}", srv.addr))
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

    async fn send_raw(&mut self, binary: bool, data: Vec<u8>) {
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
    async fn wait_low(&mut self) {
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

    async fn send(&mut self, m: Message) {
        self.send_raw(false, m.to_text().into_bytes()).await;
    }

    /// Next data from the seeder: Ok(binary chunk) or Err(control message). Catalogs are kept.
    async fn next(&mut self) -> Result<Vec<u8>, Message> {
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
    async fn file(&mut self, path: &str) -> FileInfo {
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
    async fn download(&mut self, id: u32, file: &FileInfo, offset: u64) -> Vec<u8> {
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
    async fn chunks(&mut self, id: u32, data: &[u8], from: usize, to: usize) {
        let mut off = from;
        while off < to {
            let n = (to - off).min(frame::MAX_PAYLOAD_BYTES);
            self.send_raw(true, frame::encode(id, off as u64, &data[off..off + n]))
                .await;
            off += n;
        }
    }

    async fn close(self) {
        let _ = self.peers.close("peerbox").await;
        self.stop.cancel();
        drop(self.ws);
    }
}

fn b3(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_whole_resumed_and_concurrent() {
    let srv = server().await;
    let data = random_bytes(50 << 20);
    std::fs::write(srv.dirs.path().join("share/big.bin"), &data).unwrap();

    let mut a = Client::connect(&srv, None).await;
    let file = a.file("big.bin").await;
    assert_eq!(file.hash, b3(&data));
    let got = a.download(1, &file, 0).await;
    assert_eq!(got.len(), data.len());
    assert!(got == data, "50 MiB arrived intact");

    let half = (data.len() / 2) as u64 + 12345;
    let rest = a.download(2, &file, half).await;
    assert!(rest == data[half as usize..], "resumed from the middle");

    // Two peers at once.
    let mut b = Client::connect(&srv, None).await;
    let file_b = b.file("big.bin").await;
    let (ga, gb) = tokio::join!(a.download(3, &file, 0), b.download(1, &file_b, 0));
    assert!(ga == data && gb == data, "both concurrent downloads intact");
    a.close().await;
    b.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_lands_in_incoming_and_resumes_after_a_disconnect() {
    let srv = server().await;
    let incoming = srv.dirs.path().join("incoming");
    let data = random_bytes(6 << 20);
    let hash = b3(&data);

    let mut c = Client::connect(&srv, None).await;
    c.send(Message::Offer {
        transfer_id: 1,
        name: "photo.jpg".into(),
        size: data.len() as u64,
        hash: hash.clone(),
        folder: None,
    })
    .await;
    assert_eq!(
        c.next().await,
        Err(Message::Accept {
            transfer_id: 1,
            offset: 0
        })
    );
    c.chunks(1, &data, 0, data.len()).await;
    c.send(Message::End {
        transfer_id: 1,
        size: data.len() as u64,
        hash: hash.clone(),
    })
    .await;
    loop {
        match c.next().await {
            Err(Message::Done {
                transfer_id: 1,
                name,
            }) => {
                assert_eq!(name.as_deref(), Some("photo.jpg"));
                break;
            }
            Err(Message::Progress { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(std::fs::read(incoming.join("photo.jpg")).unwrap() == data);
    // The drop box offers it to the room.
    let dropped = c.file("incoming/photo.jpg").await;
    assert_eq!(dropped.hash, hash);

    // A hostile name is refused through the whole stack.
    c.send(Message::Offer {
        transfer_id: 2,
        name: "../escape".into(),
        size: 10,
        hash: b3(b"0123456789"),
        folder: None,
    })
    .await;
    match c.next().await {
        Err(Message::Refuse {
            transfer_id: 2,
            code,
            ..
        }) => assert_eq!(format!("{code:?}"), "BadName"),
        other => panic!("unexpected {other:?}"),
    }

    // Second file: the connection drops after 4 MiB; no final file appears.
    let data2 = random_bytes(7 << 20);
    let hash2 = b3(&data2);
    c.send(Message::Offer {
        transfer_id: 3,
        name: "video.mp4".into(),
        size: data2.len() as u64,
        hash: hash2.clone(),
        folder: None,
    })
    .await;
    assert_eq!(
        c.next().await,
        Err(Message::Accept {
            transfer_id: 3,
            offset: 0
        })
    );
    c.chunks(3, &data2, 0, 4 << 20).await;
    // Wait until the seeder says some of it is durable, then vanish.
    loop {
        let m = c.next().await;
        if let Err(Message::Progress {
            transfer_id: 3,
            offset,
        }) = m
        {
            if offset >= 2 << 20 {
                break;
            }
        }
    }
    let (name, token) = (c.name.clone(), c.token.clone());
    c.close().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !incoming.join("video.mp4").exists(),
        "no final file for an interrupted upload"
    );

    // Back within the grace period: same name, same file: it resumes from the durable offset.
    let mut c = Client::connect(&srv, Some(&token)).await;
    assert_eq!(c.name, name, "name taken back with the resume token");
    c.send(Message::Offer {
        transfer_id: 1,
        name: "video.mp4".into(),
        size: data2.len() as u64,
        hash: hash2.clone(),
        folder: None,
    })
    .await;
    let offset = match c.next().await {
        Err(Message::Accept {
            transfer_id: 1,
            offset,
        }) => offset,
        other => panic!("unexpected {other:?}"),
    };
    assert!((2 << 20..=4 << 20).contains(&offset), "resumed at {offset}");
    c.chunks(1, &data2, offset as usize, data2.len()).await;
    c.send(Message::End {
        transfer_id: 1,
        size: data2.len() as u64,
        hash: hash2,
    })
    .await;
    loop {
        match c.next().await {
            Err(Message::Done { transfer_id: 1, .. }) => break,
            Err(Message::Progress { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        std::fs::read(incoming.join("video.mp4")).unwrap() == data2,
        "resumed upload intact"
    );
    c.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_is_detected_and_reported() {
    let srv = TestServer::start_with(|c| {
        c.seeder.enabled = true;
        c.seeder.webrtc.udp_bind = vec![LOOPBACK];
        c.seeder.stall_timeout_secs = 2;
    })
    .await;
    let data = random_bytes(3 << 20);
    let mut c = Client::connect(&srv, None).await;
    let offer = Message::Offer {
        transfer_id: 1,
        name: "stuck.bin".into(),
        size: data.len() as u64,
        hash: b3(&data),
        folder: None,
    };
    c.send(offer).await;
    assert_eq!(
        c.next().await,
        Err(Message::Accept {
            transfer_id: 1,
            offset: 0
        })
    );
    c.chunks(1, &data, 0, 1 << 20).await;
    // The sender goes quiet without closing: the seeder must notice and say so.
    let t0 = std::time::Instant::now();
    let reported = loop {
        let ev = match c.held.pop_front() {
            Some(ev) => ev,
            None => tokio::time::timeout(WAIT, c.events.recv())
                .await
                .expect("a report")
                .expect("open"),
        };
        match ev {
            PeerEvent::Message {
                binary: false,
                data,
                ..
            } => {
                if let Ok(Message::Error { message, .. }) =
                    Message::parse(std::str::from_utf8(&data.data).unwrap())
                {
                    break message.unwrap_or_default();
                }
            }
            PeerEvent::Closed { reason, .. } => break reason,
            _ => {}
        }
    };
    assert!(reported.contains("stalled"), "{reported}");
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "detected after {:?}",
        t0.elapsed()
    );
    assert!(!srv.dirs.path().join("incoming/stuck.bin").exists());
    c.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_comes_up_is_reported_through_signaling() {
    let srv = TestServer::start_with(|c| {
        c.seeder.enabled = true;
        c.seeder.webrtc.udp_bind = vec![LOOPBACK];
        c.seeder.webrtc.connect_timeout_secs = 1;
    })
    .await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", srv.addr))
        .await
        .unwrap();
    ws_recv(&mut ws).await; // welcome
    ws.send(Ws::text(json!({"type":"join","room":"home"}).to_string()))
        .await
        .unwrap();
    // An offer from a peer that then vanishes: ICE can never complete.
    let stop = CancellationToken::new();
    let cfg = WebrtcConfig {
        udp_bind: vec![LOOPBACK],
        ..WebrtcConfig::default()
    };
    let (peers, _events) = Peers::start(cfg, stop.clone()).await.unwrap();
    let offer = peers.create_offer("peerbox", &["peerbox"]).await.unwrap();
    stop.cancel();
    let msg = json!({"type":"signal","to":"peerbox","signal":{"kind":"offer","sdp":offer}});
    ws.send(Ws::text(msg.to_string())).await.unwrap();
    let bye = loop {
        let m = ws_recv(&mut ws).await;
        if m["type"] == "signal" && m["signal"]["kind"] == "bye" {
            break m;
        }
    };
    assert_eq!(bye["from"], "peerbox");
    let reason = bye["signal"]["reason"].as_str().unwrap();
    assert!(reason.contains("ICE/DTLS"), "{reason}");
    srv.stop().await;
}
