//! The TURN relay against a TURN client that is not ours (coturn's `turnutils_uclient`), all on
//! loopback: credentials from a live browser signaling connection allocate and relay to an
//! allowed peer; a relay request to a peer outside the allowed networks gets 403; forged,
//! expired and orphaned (signaling connection gone) credentials are refused; the daemon keeps
//! serving. Browsers use the relay in tests/web/suites/connect.mjs.

mod common;

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use common::{metric, start_config, Server};
use peerbox::Config;
use serde_json::Value;

async fn start(ttl: u64) -> Server {
    let mut config = Config::default();
    let state = tempfile::tempdir().unwrap();
    config.storage.state_dir = state.path().to_owned();
    std::mem::forget(state);
    config.seeder.enabled = false;
    config.turn.bind = vec!["127.0.0.1".parse().unwrap()];
    config.turn.port = 0;
    // Loopback stands in for the LAN; 127.0.0.2 is "outside" (and still loopback, so even a
    // failed refusal could not send anything off this machine).
    config.turn.allowed_networks = vec!["127.0.0.1/32".parse().unwrap()];
    config.turn.credential_ttl_secs = ttl;
    start_config(config).await
}

/// The relay URL's port, user and password from a welcome.
fn creds(welcome: &Value) -> (u16, String, String) {
    let s = &welcome["ice_servers"][0];
    let url = s["urls"][0].as_str().unwrap();
    assert!(
        url.starts_with("turn:127.0.0.1:") && url.ends_with("?transport=udp"),
        "{url}"
    );
    let port = url["turn:127.0.0.1:".len()..]
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (
        port,
        s["username"].as_str().unwrap().to_owned(),
        s["credential"].as_str().unwrap().to_owned(),
    )
}

/// A UDP echo peer on 127.0.0.1 (what `turnutils_peer` would be).
fn echo_peer() -> u16 {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let _ = sock.send_to(&buf[..n], from);
        }
    });
    port
}

/// Runs the client: one allocation, 5 messages of 100 bytes to `peer`; its output.
async fn uclient(port: u16, user: &str, pass: &str, peer: &str, peer_port: u16) -> String {
    let args: Vec<String> = [
        "-c",
        "-X",
        "-n",
        "5",
        "-u",
        user,
        "-w",
        pass,
        "-p",
        &port.to_string(),
        "-e",
        peer,
        "-r",
        &peer_port.to_string(),
        "127.0.0.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new("turnutils_uclient")
            .args(&args)
            .output()
            .expect("turnutils_uclient (Debian package coturn) is installed");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
    .await
    .unwrap()
}

fn refused(metrics: &str, reason: &str) -> u64 {
    let key = format!("peerbox_turn_refused_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&key))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn relay_serves_live_credentials_and_refuses_the_rest() {
    let srv = start(3600).await;
    let (ws_conn, welcome) = srv.connect().await;
    let (port, user, pass) = creds(&welcome);
    assert!(
        user.ends_with(&format!(":{}", welcome["name"].as_str().unwrap())),
        "{user}"
    );
    let peer = echo_peer();

    let out = uclient(port, &user, &pass, "127.0.0.1", peer).await;
    assert!(out.contains("Total lost packets 0"), "{out}");
    let m = srv.metrics().await;
    assert!(metric(&m, "peerbox_turn_allocations_total") >= 1, "{m}");
    assert!(
        m.contains("peerbox_turn_relayed_bytes_total{direction=\"to_peer\"}"),
        "{m}"
    );

    // A peer outside the allowed networks: CreatePermission/ChannelBind refused with 403.
    let out = uclient(port, &user, &pass, "127.0.0.2", peer).await;
    assert!(out.contains("403"), "{out}");
    assert!(refused(&srv.metrics().await, "peer_network") >= 1);

    // Forged credentials: the right user name with a password not from this daemon.
    let out = uclient(port, &user, "bm90LXRoZS1yaWdodC1tYWM=", "127.0.0.1", peer).await;
    assert!(!out.contains("Total lost packets 0"), "{out}");
    assert!(refused(&srv.metrics().await, "bad_credentials") >= 1);

    // The signaling connection ends: its credentials stop working.
    drop(ws_conn);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = uclient(port, &user, &pass, "127.0.0.1", peer).await;
    assert!(!out.contains("Total lost packets 0"), "{out}");
    assert!(refused(&srv.metrics().await, "not_live") >= 1);

    // Everyone else is still served.
    let (_ws2, welcome2) = srv.connect().await;
    let (_, user2, pass2) = creds(&welcome2);
    let out = uclient(port, &user2, &pass2, "127.0.0.1", peer).await;
    assert!(out.contains("Total lost packets 0"), "{out}");
}

#[tokio::test]
async fn expired_credentials_are_refused() {
    let srv = start(1).await;
    let (_ws, welcome) = srv.connect().await;
    let (port, user, pass) = creds(&welcome);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let out = uclient(port, &user, &pass, "127.0.0.1", echo_peer()).await;
    assert!(!out.contains("Total lost packets 0"), "{out}");
    assert!(refused(&srv.metrics().await, "expired") >= 1);
}
