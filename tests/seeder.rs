//! The seeder end to end: a real daemon, real signaling over WebSocket, and a real Rust WebRTC
//! peer (`peerbox::client`, on the seeder's own WebRTC stack, in the browser's role) downloading and uploading files.

mod common;

use std::time::Duration;

use common::client::{ws_recv, Client, LOOPBACK, WAIT};
use common::{random_bytes, TestServer};
use futures_util::SinkExt;
use peerbox::client::{ClientError, Incoming};
use peerbox::seeder::peer::{Peers, WebrtcConfig};
use peerbox::seeder::protocol::Message;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_util::sync::CancellationToken;

async fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.seeder.enabled = true;
        c.seeder.webrtc.udp_bind = vec![LOOPBACK];
        c.seeder.progress_ack_bytes = 1 << 20;
        c.watch.settle_ms = 50;
    })
    .await
}

fn b3(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_whole_resumed_and_concurrent() {
    let srv = server().await;
    let data = random_bytes(50 << 20);
    std::fs::write(srv.dirs.path().join("share/big.bin"), &data).unwrap();

    let mut a = Client::connect(srv.addr, None).await;
    let file = a.file("big.bin").await;
    assert_eq!(file.hash, b3(&data));
    let got = a.download(&file, 0).await;
    assert_eq!(got.len(), data.len());
    assert!(got == data, "50 MiB arrived intact");

    let half = (data.len() / 2) as u64 + 12345;
    let rest = a.download(&file, half).await;
    assert!(rest == data[half as usize..], "resumed from the middle");

    // Two peers at once.
    let mut b = Client::connect(srv.addr, None).await;
    let file_b = b.file("big.bin").await;
    let (ga, gb) = tokio::join!(a.download(&file, 0), b.download(&file_b, 0));
    assert!(ga == data && gb == data, "both concurrent downloads intact");
    a.close().await;
    b.close().await;
    srv.stop().await;
}

/// The seeder speaks transfer protocol version 3 (the swarm); a client that says version 1 gets
/// a version-1 session and downloads as it always did, also from a seeder whose upload is
/// capped; the seeder counts the file bytes it sent for `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_client_still_downloads_from_a_capped_seeder() {
    let srv = TestServer::start_with(|c| {
        c.seeder.enabled = true;
        c.seeder.webrtc.udp_bind = vec![LOOPBACK];
        c.seeder.max_upload_bytes_per_sec = 16 << 20;
        c.watch.settle_ms = 50;
    })
    .await;
    let data = random_bytes((3 << 20) + 17);
    std::fs::write(srv.dirs.path().join("share/three.bin"), &data).unwrap();
    let opts = peerbox::client::Options {
        version: 1,
        ..Default::default()
    };
    let mut a = peerbox::client::Client::connect(&srv.addr.to_string(), opts)
        .await
        .expect("connect");
    assert_eq!(a.version(), 1, "the session speaks the lower version");
    let file = a.wait_for("three.bin", WAIT).await.expect("offered");
    let mut got = Vec::new();
    a.stream(&file, 0, |d| got.extend_from_slice(d))
        .await
        .expect("download");
    assert!(
        got == data,
        "a multi-piece file arrived intact over a version-1 session"
    );
    let metrics = String::from_utf8(common::get(srv.addr, "/metrics", &[]).await.body).unwrap();
    assert!(
        metrics.contains(&format!("peerbox_swarm_seeder_bytes_total {}", data.len())),
        "the seeder counted what it sent: {metrics}"
    );
    a.close().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_lands_in_incoming_and_resumes_after_a_disconnect() {
    let srv = server().await;
    let incoming = srv.dirs.path().join("incoming");
    let data = random_bytes(6 << 20);
    let hash = b3(&data);

    let mut c = Client::connect(srv.addr, None).await;
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
    let mut c = Client::connect(srv.addr, Some(&token)).await;
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
    let mut c = Client::connect(srv.addr, None).await;
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
        match c.try_next().await {
            Ok(Incoming::Control(Message::Error { message, .. })) => {
                break message.unwrap_or_default()
            }
            Ok(_) => {}
            Err(ClientError::Closed(reason)) => break reason,
            Err(e) => panic!("{e}"),
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
    common::client::until_seeder_listed(&mut ws).await;
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
    // Within a few connect timeouts, or the test fails instead of hanging the run.
    let bye = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let m = ws_recv(&mut ws).await;
            if m["type"] == "signal" && m["signal"]["kind"] == "bye" {
                break m;
            }
        }
    })
    .await
    .expect("the seeder tells the browser its connection failed");
    assert_eq!(bye["from"], "peerbox");
    let reason = bye["signal"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("ICE/DTLS") || reason.contains("negotiation"),
        "{reason}"
    );
    // Signaling version 2: the bye names the attempt it ends by its offer's ufrag.
    let ufrag = peerbox::signal::protocol::sdp_ufrag(&offer).unwrap();
    assert_eq!(bye["signal"]["ufrag"], ufrag, "{bye}");
    srv.stop().await;
}

/// Offers to the seeder through raw signaling with a client transport of its own; returns the
/// answer SDP as the seeder sent it, the peers, their events and the signaling socket.
async fn raw_offer(
    addr: std::net::SocketAddr,
) -> (
    String,
    Peers,
    tokio::sync::mpsc::UnboundedReceiver<peerbox::seeder::peer::PeerEvent>,
    common::client::WsStream,
    CancellationToken,
) {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    ws_recv(&mut ws).await; // welcome
    ws.send(Ws::text(json!({"type":"join","room":"home"}).to_string()))
        .await
        .unwrap();
    common::client::until_seeder_listed(&mut ws).await;
    let stop = CancellationToken::new();
    // A client that takes the largest messages the stack allows.
    let cfg = WebrtcConfig {
        udp_bind: vec![LOOPBACK],
        max_message_bytes: peerbox::seeder::peer::MAX_MESSAGE_CEILING,
        ..WebrtcConfig::default()
    };
    let (peers, events) = Peers::start(cfg, stop.clone()).await.unwrap();
    let offer = peers.create_offer("peerbox", &["peerbox"]).await.unwrap();
    let msg = json!({"type":"signal","to":"peerbox","signal":{"kind":"offer","sdp":offer}});
    ws.send(Ws::text(msg.to_string())).await.unwrap();
    let answer = loop {
        let m = ws_recv(&mut ws).await;
        if m["type"] == "signal" && m["signal"]["kind"] == "answer" {
            break m["signal"]["sdp"].as_str().unwrap().to_owned();
        }
    };
    (answer, peers, events, ws, stop)
}

fn max_message_size(sdp: &str) -> usize {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=max-message-size:"))
        .expect("a=max-message-size in the answer")
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_states_the_message_size_the_seeder_accepts_and_one_more_is_refused() {
    use peerbox::seeder::frame;
    use peerbox::seeder::peer::PeerEvent;
    // The default: the answer says 256 KiB, the seeder's limit.
    let srv = server().await;
    let (answer, _peers, _events, _ws, stop) = raw_offer(srv.addr).await;
    assert_eq!(
        max_message_size(&answer),
        WebrtcConfig::default().max_message_bytes
    );
    stop.cancel();
    srv.stop().await;

    // A seeder set to 128 KiB says so; a client that ignores it (the answer altered to claim
    // 256 KiB) gets a message of exactly 128 KiB through and one byte more refused.
    let srv = TestServer::start_with(|c| {
        c.seeder.enabled = true;
        c.seeder.webrtc.udp_bind = vec![LOOPBACK];
        c.seeder.webrtc.max_message_bytes = 131072;
    })
    .await;
    let (answer, peers, mut events, mut ws, stop) = raw_offer(srv.addr).await;
    assert_eq!(max_message_size(&answer), 131072);
    let lied = answer.replace("a=max-message-size:131072", "a=max-message-size:262144");
    peers.accept_answer("peerbox", &lied).await.unwrap();
    let open_by = tokio::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    let channel = loop {
        tokio::select! {
            () = tokio::time::sleep_until(open_by) => panic!("no channel; saw {seen:?}"),
            m = ws_recv(&mut ws) => {
                seen.push(m["type"].to_string() + "/" + m["signal"]["kind"].as_str().unwrap_or(""));
                if m["type"] == "signal" && m["signal"]["kind"] == "candidate" {
                    let c = m["signal"]["candidate"].as_str().unwrap();
                    peers.add_candidate("peerbox", c).await.unwrap();
                }
            }
            ev = events.recv() => match ev.expect("transport") {
                PeerEvent::ChannelOpen { channel, max_message, .. } => {
                    assert_eq!(max_message, 262144, "the client believes the altered answer");
                    break channel;
                }
                PeerEvent::Candidate { candidate: Some(c), .. } => {
                    let msg = json!({"type":"signal","to":"peerbox","signal":{"kind":"candidate","candidate":c.candidate}});
                    ws.send(Ws::text(msg.to_string())).await.unwrap();
                }
                _ => {}
            },
        }
    };
    let hello = Message::Hello {
        version: 1,
        agent: None,
    };
    let send = |binary: bool, data: Vec<u8>| peers.send("peerbox", channel, binary, data);
    send(false, hello.to_text().into_bytes()).await.unwrap();
    // A chunk frame for a transfer the seeder does not know is answered `unknown_transfer`,
    // which shows it was received and parsed.
    let probe =
        |id: u32, total: usize| frame::encode(id, 0, &vec![7u8; total - frame::HEADER_BYTES]);
    send(true, probe(77, 131072)).await.unwrap();
    send(true, probe(78, 131073)).await.unwrap();
    send(true, probe(79, 131072)).await.unwrap();
    let mut answered = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, events.recv()).await {
        match ev {
            PeerEvent::Message {
                binary: false,
                data,
                ..
            } => {
                if let Ok(Message::Error {
                    transfer_id: Some(id),
                    ..
                }) = Message::parse(std::str::from_utf8(&data.data).unwrap())
                {
                    answered.push(id);
                    if id == 79 {
                        break;
                    }
                }
            }
            PeerEvent::Closed { .. } => break,
            _ => {}
        }
    }
    assert!(answered.contains(&77), "128 KiB accepted: {answered:?}");
    assert!(!answered.contains(&78), "128 KiB + 1 refused: {answered:?}");
    stop.cancel();
    srv.stop().await;
}
