//! Floods and slow clients on the HTTP port: the total connection cap, request heads that
//! never finish, and log lines that a hostile client cannot multiply.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use common::daemon::{launch, peerbox};
use common::TestServer;

/// True when the server closes `s` (EOF or reset) within `secs`.
fn closed_within(s: &mut TcpStream, secs: u64) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(secs))).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn healthz_ok(addr: std::net::SocketAddr) -> bool {
    common::request(addr, "GET", "/healthz", &[]).status == 200
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_and_frees_up() {
    let srv = TestServer::start_with(|c| c.server.max_connections = 4).await;
    let addr = srv.addr;
    tokio::task::spawn_blocking(move || {
        // Four idle keep-alive connections take every slot.
        let mut held: Vec<TcpStream> = (0..4)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                let mut buf = [0u8; 256];
                assert!(s.read(&mut buf).unwrap() > 0);
                s
            })
            .collect();
        let mut fifth = TcpStream::connect(addr).unwrap();
        assert!(
            closed_within(&mut fifth, 5),
            "over the cap: closed at accept"
        );
        held.pop();
        std::thread::sleep(Duration::from_millis(200));
        assert!(healthz_ok(addr), "a freed slot serves again");
    })
    .await
    .unwrap();
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_heads_that_never_finish_are_dropped_while_others_are_served() {
    let srv = TestServer::start_with(|c| c.server.header_read_timeout_secs = 1).await;
    let addr = srv.addr;
    tokio::task::spawn_blocking(move || {
        let mut slow: Vec<TcpStream> = (0..8)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    .unwrap();
                s
            })
            .collect();
        assert!(healthz_ok(addr), "served while slow clients dribble");
        for s in &mut slow {
            let _ = s.write_all(b"a");
            assert!(closed_within(s, 5), "a head that never ends is cut off");
        }
    })
    .await
    .unwrap();
    srv.stop().await;
}

/// A client that gets itself refused hundreds of times costs a bounded number of log lines.
#[test]
fn refused_upgrades_cannot_flood_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let (mut child, addr) = launch(
        peerbox(dir.path())
            .args(["run", "--listen", "127.0.0.1:0"])
            .env("PEERBOX_SEEDER__ENABLED", "false")
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap())),
    );
    for _ in 0..300 {
        let mut s = TcpStream::connect(addr).unwrap();
        let req =
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n\
                   Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                   Origin: http://evil.example\r\n\r\n";
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines = text
        .lines()
        .filter(|l| l.contains("upgrade refused"))
        .count();
    assert!(lines >= 1, "the first refusals are logged:\n{text}");
    assert!(lines <= 40, "{lines} log lines for 300 refusals");
}
