//! Signaling against the real server: routing, rooms, names, shutdown, counters.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use peerbox::signal::SignalConfig;
use serde_json::json;

fn name(welcome: &serde_json::Value) -> String {
    welcome["name"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn two_clients_exchange_offer_answer_and_candidates() {
    let srv = start(SignalConfig::default()).await;
    let (mut a, wa) = srv.connect().await;
    let (mut b, wb) = srv.connect().await;
    assert_eq!(wa["v"], 2);
    assert_eq!(wa["kind"], "browser");
    assert!(wa["limits"]["max_message_bytes"].as_u64().unwrap() > 0);
    assert!(wa["ice_servers"].is_array());
    assert_ne!(name(&wa), name(&wb));
    join(&mut a, "kitchen").await;
    let roster = join(&mut b, "kitchen").await;
    assert_eq!(roster["peers"].as_array().unwrap().len(), 2);
    let roster_a = recv_type(&mut a, "peers").await;
    assert!(names(&roster_a).contains(&name(&wb)));

    let offer = json!({"kind": "offer", "sdp": "v=0\r\n".repeat(2700)});
    // A forged `from` is ignored: the server stamps the real sender.
    send(
        &mut a,
        json!({"type":"signal","to":name(&wb),"from":"mallory","signal":offer}),
    )
    .await;
    let got = recv(&mut b).await;
    assert_eq!(got["type"], "signal");
    assert_eq!(got["from"], name(&wa));
    assert_eq!(got["signal"], offer);

    let answer = json!({"kind": "answer", "sdp": "v=0 answer"});
    send(
        &mut b,
        json!({"type":"signal","to":name(&wa),"signal":answer}),
    )
    .await;
    assert_eq!(recv(&mut a).await["signal"], answer);

    let cand = json!({"kind":"candidate","candidate":"candidate:1 1 udp 2122260223 192.168.1.2 5000 typ host","sdpMid":"0","sdpMLineIndex":0});
    send(
        &mut a,
        json!({"type":"signal","to":name(&wb),"signal":cand}),
    )
    .await;
    assert_eq!(recv(&mut b).await["signal"], cand);
    let eoc = json!({"kind":"end-of-candidates"});
    send(&mut a, json!({"type":"signal","to":name(&wb),"signal":eoc})).await;
    assert_eq!(recv(&mut b).await["signal"], eoc);

    // Signal to self is refused with its code, echoing the client's id.
    send(
        &mut a,
        json!({"type":"signal","to":name(&wa),"signal":eoc,"id":42}),
    )
    .await;
    let e = recv(&mut a).await;
    assert_eq!(
        (e["code"].as_str(), e["re"].as_str(), e["id"].as_u64()),
        (Some("self_target"), Some("signal"), Some(42))
    );
    assert_eq!(
        srv.metric("peerbox_signal_messages_forwarded_total").await,
        4
    );
    srv.stop().await;
}

/// A phone keeps its name across a daemon restart: the token is signed with a key kept in the
/// state directory, so the new process can check it without the old one's memory.
#[tokio::test]
async fn name_survives_a_daemon_restart() {
    let state = tempfile::tempdir().unwrap();
    let srv = common::start_in(SignalConfig::default(), state.path()).await;
    let (_ws, w) = srv.connect().await;
    srv.stop().await;
    let srv = common::start_in(SignalConfig::default(), state.path()).await;
    let q = format!("?resume={}", w["resume_token"].as_str().unwrap());
    let (_ws2, w2) = srv.try_connect(&q, &[]).await.unwrap();
    assert_eq!((&w2["name"], &w2["resumed"]), (&w["name"], &json!(true)));
    srv.stop().await;
    // A new key (a wiped state directory) makes the old token worthless, never someone's name.
    let other = tempfile::tempdir().unwrap();
    let srv = common::start_in(SignalConfig::default(), other.path()).await;
    let (_ws3, w3) = srv.try_connect(&q, &[]).await.unwrap();
    assert_eq!(w3["resumed"], false);
    srv.stop().await;
}

#[tokio::test]
async fn other_rooms_are_invisible() {
    let srv = start(SignalConfig::default()).await;
    let (mut a, _) = srv.connect().await;
    let (mut c, wc) = srv.connect().await;
    join(&mut a, "one").await;
    join(&mut c, "two").await;
    let offer = json!({"kind":"offer","sdp":"x"});
    send(
        &mut a,
        json!({"type":"signal","to":name(&wc),"signal":offer}),
    )
    .await;
    let e = recv(&mut a).await;
    assert_eq!(e["code"], "unknown_peer");
    send(&mut a, json!({"type":"chat","room":"two","text":"psst"})).await;
    assert_eq!(recv(&mut a).await["code"], "not_in_room");
    // c got nothing: the next thing it sees is the answer to its own ping.
    send(&mut c, json!({"type":"ping"})).await;
    assert_eq!(recv(&mut c).await["type"], "pong");
    srv.stop().await;
}

#[tokio::test]
async fn chat_fans_out_to_the_room_with_sender_and_time() {
    let srv = start(SignalConfig::default()).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let (mut ws, w) = srv.connect().await;
        join(&mut ws, "r").await;
        clients.push((ws, w));
    }
    let sender = name(&clients[0].1);
    send(
        &mut clients[0].0,
        json!({"type":"chat","room":"r","text":"<b>hi</b> 👋"}),
    )
    .await;
    for (ws, _) in &mut clients {
        let m = recv_type(ws, "chat").await;
        assert_eq!(
            (m["from"].as_str(), m["text"].as_str()),
            (Some(sender.as_str()), Some("<b>hi</b> 👋"))
        );
        assert!(m["ts"].as_u64().unwrap() > 1_600_000_000_000);
    }
    srv.stop().await;
}

#[tokio::test]
async fn roster_follows_join_leave_and_abrupt_disconnect() {
    let srv = start(SignalConfig::default()).await;
    let (mut a, _) = srv.connect().await;
    let (mut b, wb) = srv.connect().await;
    let (c, wc) = srv.connect().await;
    let mut c = c;
    join(&mut a, "r").await;
    join(&mut b, "r").await;
    assert_eq!(names(&recv_type(&mut a, "peers").await).len(), 2);
    join(&mut c, "r").await;
    assert!(names(&recv_type(&mut a, "peers").await).contains(&name(&wc)));
    send(&mut b, json!({"type":"leave","room":"r"})).await;
    assert_eq!(recv_type(&mut b, "left").await["room"], "r");
    assert!(!names(&recv_type(&mut a, "peers").await).contains(&name(&wb)));
    // Abrupt: drop the TCP connection without a close frame.
    drop(c);
    let after = recv_type(&mut a, "peers").await;
    assert_eq!(names(&after).len(), 1);
    srv.stop().await;
}

#[tokio::test]
async fn name_resume_inside_and_outside_grace() {
    let srv = start(SignalConfig {
        resume_grace_secs: 1,
        ..Default::default()
    })
    .await;
    let (ws, w) = srv.connect().await;
    drop(ws);
    srv.wait_metric("peerbox_signal_connections", 0).await;
    let q = format!("?resume={}", w["resume_token"].as_str().unwrap());
    let (ws2, w2) = srv.try_connect(&q, &[]).await.unwrap();
    assert_eq!(
        (w2["name"].clone(), w2["resumed"].clone()),
        (w["name"].clone(), json!(true))
    );
    drop(ws2);
    srv.wait_metric("peerbox_signal_connections", 0).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    // The reservation lapsed but nobody took the name: it still comes back.
    let q = format!("?resume={}", w2["resume_token"].as_str().unwrap());
    let (_ws3, w3) = srv.try_connect(&q, &[]).await.unwrap();
    assert_eq!((&w3["name"], &w3["resumed"]), (&w["name"], &json!(true)));
    // A token nobody was given gets a fresh name, never someone else's.
    let (_ws4, w4) = srv
        .try_connect("?resume=0123456789abcdef", &[])
        .await
        .unwrap();
    assert_eq!(w4["resumed"], false);
    srv.stop().await;
}

#[tokio::test]
async fn resume_while_the_old_socket_lingers_replaces_it() {
    let srv = start(SignalConfig::default()).await;
    let (mut old, w) = srv.connect().await;
    let q = format!("?resume={}", w["resume_token"].as_str().unwrap());
    let (_new, w2) = srv.try_connect(&q, &[]).await.unwrap();
    assert_eq!(w2["name"], w["name"]);
    assert_eq!(closed_with(&mut old).await, Some(4000));
    srv.stop().await;
}

#[tokio::test]
async fn seeder_authenticates_and_picks_its_name() {
    let srv = start(SignalConfig::default()).await;
    let auth = format!("Bearer {}", srv.app.signal.seeder_token());
    let (mut s, w) = srv
        .try_connect("?name=peerbox", &[("authorization", &auth)])
        .await
        .unwrap();
    assert_eq!(
        (w["name"].as_str(), w["kind"].as_str()),
        (Some("peerbox"), Some("seeder"))
    );
    // Still unique, and only with the right token.
    assert_eq!(
        srv.refused_status("?name=peerbox", &[("authorization", &auth)])
            .await,
        409
    );
    assert_eq!(
        srv.refused_status("?name=x", &[("authorization", "Bearer nope")])
            .await,
        401
    );
    assert_eq!(
        srv.refused_status("?name=../x", &[("authorization", &auth)])
            .await,
        400
    );
    let (mut b, wb) = srv.try_connect("?name=peerbox2", &[]).await.unwrap();
    assert_eq!(wb["kind"], "browser");
    assert_ne!(wb["name"], "peerbox2");
    join(&mut s, "r").await;
    let roster = join(&mut b, "r").await;
    let kinds: Vec<_> = roster["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].clone(), p["kind"].clone()))
        .collect();
    assert!(kinds.contains(&(json!("peerbox"), json!("seeder"))));
    srv.stop().await;
}

#[tokio::test]
async fn shutdown_closes_every_socket_with_1001() {
    let srv = start(SignalConfig::default()).await;
    let (mut a, _) = srv.connect().await;
    let (mut b, _) = srv.connect().await;
    join(&mut a, "r").await;
    let stopping = tokio::spawn(srv.stop());
    assert_eq!(closed_with(&mut a).await, Some(1001));
    assert_eq!(closed_with(&mut b).await, Some(1001));
    tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_clients_and_every_gauge_returns_to_zero() {
    let srv = start(SignalConfig {
        max_connections: 1100,
        max_connections_per_address: 1100,
        max_rooms: 200,
        ..Default::default()
    })
    .await;
    let url = srv.url("");
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
            recv_type(&mut ws, "welcome").await;
            let room = format!("room-{}", i / 10);
            send(&mut ws, json!({"type":"join","room":room})).await;
            recv_type(&mut ws, "peers").await;
            (ws, room)
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.unwrap());
    }
    assert_eq!(srv.metric("peerbox_signal_connections").await, 1000);
    assert_eq!(srv.metric("peerbox_signal_rooms").await, 100);
    let mut tasks = Vec::new();
    for (mut ws, room) in clients {
        tasks.push(tokio::spawn(async move {
            send(&mut ws, json!({"type":"chat","room":room,"text":"hello"})).await;
            // Everyone in the room chats once, so each client sees 10 chats.
            let mut seen = 0;
            while seen < 10 {
                if recv(&mut ws).await["type"] == "chat" {
                    seen += 1;
                }
            }
            (ws, room)
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.unwrap());
    }
    assert_eq!(
        srv.metric("peerbox_signal_messages_forwarded_total").await,
        10_000
    );
    for (mut ws, room) in clients {
        send(&mut ws, json!({"type":"leave","room":room})).await;
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    }
    srv.wait_metric("peerbox_signal_connections", 0).await;
    let m = srv.metrics().await;
    for g in [
        "peerbox_signal_rooms",
        "peerbox_signal_room_members",
        "peerbox_signal_addresses",
    ] {
        assert_eq!(metric(&m, g), 0, "{g}");
    }
    assert_eq!(metric(&m, "peerbox_signal_connections_total"), 1000);
    srv.stop().await;
}
