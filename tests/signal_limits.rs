//! Every signaling limit, enforced by the real server, and hostile input.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use peerbox::signal::SignalConfig;
use serde_json::json;
use tokio_tungstenite::tungstenite::{Bytes, Message};

#[tokio::test]
async fn bad_input_gets_coded_errors_and_others_never_notice() {
    let srv = start(SignalConfig::default()).await;
    let (mut a, _) = srv.connect().await;
    let (mut b, _) = srv.connect().await;
    join(&mut b, "r").await;
    let cases = [
        ("{not json", "bad_json"),
        (r#"{"type":"dance"}"#, "unknown_type"),
        (r#"{"type":"join"}"#, "bad_message"),
        (
            r#"{"type":"signal","to":"x","signal":{"kind":"offer"}}"#,
            "bad_message",
        ),
        (r#"{"type":"join","room":"../etc"}"#, "bad_room_name"),
        (r#"{"type":"leave","room":"nope"}"#, "not_in_room"),
    ];
    for (text, code) in cases {
        a.send(Message::text(text)).await.unwrap();
        let e = recv(&mut a).await;
        assert_eq!(
            (e["type"].as_str(), e["code"].as_str()),
            (Some("error"), Some(code)),
            "{text}"
        );
        assert!(!e["message"].as_str().unwrap().is_empty());
    }
    a.send(Message::Binary(Bytes::from_static(b"\x00\x01")))
        .await
        .unwrap();
    assert_eq!(recv(&mut a).await["code"], "unsupported");
    // The other client is unaffected.
    send(&mut b, json!({"type":"ping"})).await;
    assert_eq!(recv(&mut b).await["type"], "pong");
    let m = srv.metrics().await;
    assert_eq!(
        metric(&m, "peerbox_signal_errors_total{code=\"bad_message\"}"),
        2
    );
    srv.stop().await;
}

#[tokio::test]
async fn max_message_bytes_closes_with_1009() {
    let srv = start(SignalConfig {
        max_message_bytes: 2048,
        ..Default::default()
    })
    .await;
    let (mut a, _) = srv.connect().await;
    let big = json!({"type":"chat","room":"r","text":"x".repeat(4000)});
    send(&mut a, big).await;
    assert_eq!(recv(&mut a).await["code"], "too_big");
    assert_eq!(closed_with(&mut a).await, Some(1009));
    let (mut b, _) = srv.connect().await;
    join(&mut b, "still-up").await;
    srv.stop().await;
}

#[tokio::test]
async fn connection_caps_total_and_per_address() {
    let srv = start(SignalConfig {
        max_connections: 3,
        max_connections_per_address: 2,
        ..Default::default()
    })
    .await;
    let _a = srv.connect().await;
    let _b = srv.connect().await;
    assert_eq!(srv.refused_status("", &[]).await, 429);
    // X-Forwarded-For is not trusted by default, so it cannot dodge the per-address cap.
    assert_eq!(
        srv.refused_status("", &[("x-forwarded-for", "10.1.1.1")])
            .await,
        429
    );
    srv.stop().await;

    let srv = start(SignalConfig {
        max_connections: 3,
        max_connections_per_address: 2,
        trust_forwarded_for: true,
        ..Default::default()
    })
    .await;
    let _a = srv.connect().await;
    let _b = srv.connect().await;
    let _c = srv
        .try_connect("", &[("x-forwarded-for", "10.1.1.1")])
        .await
        .unwrap();
    assert_eq!(
        srv.refused_status("", &[("x-forwarded-for", "10.2.2.2")])
            .await,
        503
    );
    srv.stop().await;
}

#[tokio::test]
async fn room_limits() {
    let srv = start(SignalConfig {
        max_rooms: 2,
        max_rooms_per_peer: 1,
        max_peers_per_room: 2,
        max_room_name_bytes: 8,
        ..Default::default()
    })
    .await;
    let (mut a, _) = srv.connect().await;
    let (mut b, _) = srv.connect().await;
    let (mut c, _) = srv.connect().await;
    send(&mut a, json!({"type":"join","room":"123456789"})).await;
    assert_eq!(recv(&mut a).await["code"], "bad_room_name");
    join(&mut a, "one").await;
    send(&mut a, json!({"type":"join","room":"two"})).await;
    assert_eq!(recv(&mut a).await["code"], "too_many_rooms");
    join(&mut b, "one").await;
    send(&mut c, json!({"type":"join","room":"one"})).await;
    assert_eq!(recv(&mut c).await["code"], "room_full");
    join(&mut c, "two").await;
    let (mut d, _) = srv.connect().await;
    send(&mut d, json!({"type":"join","room":"three"})).await;
    assert_eq!(recv(&mut d).await["code"], "server_full");
    srv.stop().await;
}

#[tokio::test]
async fn rate_limit_counts_pings_and_persistent_abuse_closes_with_1008() {
    let srv = start(SignalConfig {
        rate_per_sec: 1,
        rate_burst: 3,
        max_errors_per_min: 3,
        ..Default::default()
    })
    .await;
    let (mut a, _) = srv.connect().await;
    a.send(Message::Ping(Bytes::new())).await.unwrap();
    a.send(Message::Ping(Bytes::new())).await.unwrap();
    send(&mut a, json!({"type":"ping"})).await;
    assert_eq!(recv(&mut a).await["type"], "pong");
    send(&mut a, json!({"type":"ping"})).await;
    assert_eq!(recv(&mut a).await["code"], "rate_limited");
    for _ in 0..5 {
        let _ = a.send(Message::text("{}")).await;
    }
    assert_eq!(closed_with(&mut a).await, Some(1008));
    assert!(
        srv.metric("peerbox_signal_closes_total{code=\"1008\"}")
            .await
            >= 1
    );
    srv.stop().await;
}

#[tokio::test]
async fn handshake_timeout_closes_a_client_that_never_joins() {
    let srv = start(SignalConfig {
        handshake_timeout_secs: 1,
        ..Default::default()
    })
    .await;
    let (mut idle, _) = srv.connect().await;
    let (mut joined, _) = srv.connect().await;
    join(&mut joined, "r").await;
    assert_eq!(closed_with(&mut idle).await, Some(1008));
    tokio::time::sleep(Duration::from_millis(300)).await;
    send(&mut joined, json!({"type":"ping"})).await;
    assert_eq!(recv(&mut joined).await["type"], "pong");
    srv.stop().await;
}

#[tokio::test]
async fn idle_timeout_reaps_silent_clients_but_not_live_ones() {
    let srv = start(SignalConfig {
        ping_interval_secs: 1,
        idle_timeout_secs: 2,
        ..Default::default()
    })
    .await;
    let (mut silent, _) = srv.connect().await;
    let (mut live, _) = srv.connect().await;
    join(&mut silent, "r").await;
    join(&mut live, "r").await;
    // `live` reads (and so answers pings); `silent` does not read for 3.5 s.
    let reader = tokio::spawn(async move {
        let end = tokio::time::Instant::now() + Duration::from_millis(3500);
        while tokio::time::timeout_at(end, live.next()).await.is_ok() {}
        live
    });
    let mut live = reader.await.unwrap();
    assert_eq!(closed_with(&mut silent).await, Some(1000));
    send(&mut live, json!({"type":"ping"})).await;
    assert_eq!(recv_type(&mut live, "pong").await["type"], "pong");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_and_others_keep_going() {
    let srv = start(SignalConfig {
        outbound_queue_len: 8,
        rate_per_sec: 10_000,
        rate_burst: 10_000,
        ..Default::default()
    })
    .await;
    let (mut stuck, _) = srv.connect().await;
    let (mut talker, _) = srv.connect().await;
    let (mut listener, _) = srv.connect().await;
    join(&mut stuck, "r").await;
    join(&mut talker, "r").await;
    join(&mut listener, "r").await;
    let text = "y".repeat(40_000);
    let n = 600; // 24 MB: more than the kernel's socket buffers can hide
    let listen = tokio::spawn(async move {
        let mut seen = 0;
        while seen < n {
            if recv(&mut listener).await["type"] == "chat" {
                seen += 1;
            }
        }
        listener
    });
    // The talker reads its own echo before the next chat, so only `stuck` falls behind.
    let talk = tokio::spawn(async move {
        for _ in 0..n {
            send(&mut talker, json!({"type":"chat","room":"r","text":text})).await;
            recv_type(&mut talker, "chat").await;
        }
        talker
    });
    let _talker = talk.await.unwrap();
    let _listener = listen.await.unwrap();
    srv.wait_metric("peerbox_signal_connections", 2).await;
    assert!(
        srv.metric("peerbox_signal_closes_total{code=\"1008\"}")
            .await
            >= 1
    );
    drop(stuck);
    srv.stop().await;
}

#[tokio::test]
async fn foreign_origin_is_refused_with_403() {
    let srv = start(SignalConfig {
        allowed_origins: vec!["https://app.example".into()],
        ..Default::default()
    })
    .await;
    assert_eq!(
        srv.refused_status("", &[("origin", "http://evil.example")])
            .await,
        403
    );
    assert_eq!(srv.refused_status("", &[("origin", "null")]).await, 403);
    let own = format!("http://{}", srv.addr);
    srv.try_connect("", &[("origin", &own)]).await.unwrap();
    srv.try_connect("", &[("origin", "https://app.example")])
        .await
        .unwrap();
    srv.try_connect("", &[]).await.unwrap();
    srv.stop().await;
}

#[tokio::test]
async fn ice_servers_and_limits_are_announced() {
    let srv = start(SignalConfig {
        ice_servers: vec![peerbox::signal::IceServer {
            urls: vec!["stun:stun.example:3478".into()],
            username: None,
            credential: None,
        }],
        ..Default::default()
    })
    .await;
    let (_a, w) = srv.connect().await;
    assert_eq!(w["ice_servers"][0]["urls"][0], "stun:stun.example:3478");
    assert_eq!(w["limits"]["max_peers_per_room"], 32);
    srv.stop().await;
}

/// A raw client, so it can send what a well-behaved WebSocket library never would.
async fn raw_client(srv: &Server) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        srv.addr
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(s.read_u8().await.unwrap());
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    s
}

/// Reads server frames until a close frame; returns its code.
async fn raw_close_code(s: &mut tokio::net::TcpStream) -> u16 {
    use tokio::io::AsyncReadExt;
    loop {
        let b0 = s.read_u8().await.unwrap();
        let mut len = u64::from(s.read_u8().await.unwrap() & 0x7f);
        if len == 126 {
            len = u64::from(s.read_u16().await.unwrap());
        } else if len == 127 {
            len = s.read_u64().await.unwrap();
        }
        let mut payload = vec![0; len as usize];
        s.read_exact(&mut payload).await.unwrap();
        if b0 & 0x0f == 0x8 {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

#[tokio::test]
async fn malformed_frames_close_only_that_connection() {
    use tokio::io::AsyncWriteExt;
    let srv = start(SignalConfig::default()).await;
    let (mut bystander, _) = srv.connect().await;
    // Invalid UTF-8 in a text frame (masked with a zero key): 1007.
    let mut s = raw_client(&srv).await;
    s.write_all(&[0x81, 0x82, 0, 0, 0, 0, 0xc3, 0x28])
        .await
        .unwrap();
    assert_eq!(raw_close_code(&mut s).await, 1007);
    // An unmasked client frame violates RFC 6455: 1002.
    let mut s = raw_client(&srv).await;
    s.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    assert_eq!(raw_close_code(&mut s).await, 1002);
    send(&mut bystander, json!({"type":"ping"})).await;
    assert_eq!(recv(&mut bystander).await["type"], "pong");
    srv.stop().await;
}
