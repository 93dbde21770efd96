//! Signaling under load (benchmark item 6): peerbox against `matchbox_server`, same workload.
//!
//! N clients in R rooms (client i in room i % R) connect and stay; then for `secs` seconds the
//! harness sends `rate` signals per second in total, round-robin over the clients, each to the
//! next client of its room. Every payload carries its send time, so the receiver gets one-way
//! forward latency (same process, same monotonic clock). The server's RSS is read before the
//! clients connect, with them idle, and every 200 ms under load.
//!
//! ```text
//! target/release/examples/bench_signal peerbox target/release/peerbox
//! target/release/examples/bench_signal matchbox ~/.cargo/bin/matchbox_server
//! ```
//! Optional after the binary: clients rooms rate secs (1000 100 1000 20). Prints `key value`
//! lines for bench/sections/06-signaling.sh; asserts nothing.

#[path = "support/daemon.rs"]
mod daemon;

use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use peerbox::signal::protocol::{ClientMsg, ServerMsg, Signal};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as Ws;

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;
type Sink = SplitSink<WsStream, Ws>;

#[derive(Clone, Copy, PartialEq)]
enum Server {
    Peerbox,
    Matchbox,
}

static EPOCH: OnceLock<Instant> = OnceLock::new();

fn now_us() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// The same ICE candidate both servers forward; the send time rides in `usernameFragment`.
fn candidate(ts: u64) -> Signal {
    Signal::Candidate {
        candidate: "candidate:842163049 1 udp 1677729535 127.0.0.1 50000 typ host generation 0"
            .into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
        username_fragment: Some(ts.to_string()),
    }
}

fn outgoing(server: Server, to: &str, ts: u64) -> String {
    match server {
        Server::Peerbox => serde_json::to_string(&ClientMsg::Signal {
            to: to.into(),
            signal: candidate(ts),
        })
        .expect("serializable"),
        Server::Matchbox => json!({"Signal": {"receiver": to, "data": candidate(ts)}}).to_string(),
    }
}

/// The send time of a forwarded signal, if `text` is one.
fn sent_at(server: Server, text: &str) -> Option<u64> {
    let signal = match server {
        Server::Peerbox => match serde_json::from_str::<ServerMsg>(text).ok()? {
            ServerMsg::Signal { signal, .. } => signal,
            _ => return None,
        },
        Server::Matchbox => {
            let mut v: Value = serde_json::from_str(text).ok()?;
            serde_json::from_value(v.get_mut("Signal")?.get_mut("data")?.take()).ok()?
        }
    };
    match signal {
        Signal::Candidate {
            username_fragment: Some(ts),
            ..
        } => ts.parse().ok(),
        _ => None,
    }
}

/// The server process; its storage (peerbox only) goes with it.
/// A server under test; either kind is killed when this is dropped.
enum Running {
    Peerbox(daemon::Daemon),
    Matchbox { child: Child, addr: String },
}

impl Running {
    fn pid(&self) -> u32 {
        match self {
            Running::Peerbox(d) => d.pid(),
            Running::Matchbox { child, .. } => child.id(),
        }
    }

    fn addr(&self) -> &str {
        match self {
            Running::Peerbox(d) => &d.addr,
            Running::Matchbox { addr, .. } => addr,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Running::Matchbox { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_server(server: Server, bin: &str, clients: usize, rooms: usize) -> Running {
    if let Server::Peerbox = server {
        // Connection caps lifted so one address can open every client.
        let cap = (clients + 64).to_string();
        let env = [
            ("PEERBOX_SERVER__MAX_CONNECTIONS", cap.clone()),
            ("PEERBOX_SIGNAL__MAX_CONNECTIONS", cap.clone()),
            ("PEERBOX_SIGNAL__MAX_CONNECTIONS_PER_ADDRESS", cap),
            ("PEERBOX_SIGNAL__MAX_ROOMS", (rooms + 16).to_string()),
        ];
        let d = daemon::Daemon::start(std::path::Path::new(bin), &env).expect("start peerbox");
        return Running::Peerbox(d);
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(bin)
        .arg(&addr)
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start the server");
    let listening = (0..200).any(|_| {
        let up = std::net::TcpStream::connect(&addr).is_ok();
        if !up {
            std::thread::sleep(Duration::from_millis(25));
        }
        up
    });
    if !listening {
        let _ = child.kill();
        let _ = child.wait();
        panic!("server did not listen on {addr}");
    }
    Running::Matchbox { child, addr }
}

/// Connects one client to `room`; returns its id as the server knows it, and the sink. A
/// reader task records the latency of every signal it receives.
async fn connect(
    server: Server,
    addr: &str,
    room: &str,
    lat: Arc<Mutex<Vec<u32>>>,
) -> (String, Sink) {
    let url = match server {
        Server::Peerbox => format!("ws://{addr}/ws"),
        Server::Matchbox => format!("ws://{addr}/{room}"),
    };
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let (mut sink, mut stream) = ws.split();
    let first = loop {
        match stream.next().await {
            Some(Ok(Ws::Text(t))) => break serde_json::from_str::<Value>(&t).expect("json"),
            Some(Ok(_)) => continue,
            other => panic!("no greeting: {other:?}"),
        }
    };
    let id = match server {
        Server::Peerbox => {
            let join = serde_json::to_string(&ClientMsg::Join { room: room.into() }).unwrap();
            sink.send(Ws::text(join)).await.expect("join");
            first["name"].as_str().expect("welcome name").to_owned()
        }
        Server::Matchbox => first["IdAssigned"].as_str().expect("IdAssigned").to_owned(),
    };
    tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            if let Ws::Text(t) = msg {
                if let Some(ts) = sent_at(server, &t) {
                    let us = now_us().saturating_sub(ts);
                    lat.lock().unwrap().push(us.min(u32::MAX as u64) as u32);
                }
            }
        }
    });
    (id, sink)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let server = match args.next().as_deref() {
        Some("matchbox") => Server::Matchbox,
        Some("peerbox") => Server::Peerbox,
        _ => panic!("usage: bench_signal peerbox|matchbox BIN [clients rooms rate secs]"),
    };
    let bin = args.next().expect("server binary");
    let mut num = |d: usize| args.next().and_then(|s| s.parse().ok()).unwrap_or(d);
    let (clients, rooms, rate, secs) = (num(1000), num(100), num(1000), num(20));
    daemon::raise_nofile();
    now_us();

    let running = start_server(server, &bin, clients, rooms);
    let (pid, addr) = (running.pid(), running.addr().to_owned());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = daemon::rss_kib(pid);

    let lat = Arc::new(Mutex::new(Vec::with_capacity(rate * secs)));
    let t = Instant::now();
    let mut ids = Vec::with_capacity(clients);
    let mut sinks = Vec::with_capacity(clients);
    for i in 0..clients {
        let (id, sink) = connect(server, &addr, &format!("room-{}", i % rooms), lat.clone()).await;
        ids.push(id);
        sinks.push(sink);
    }
    let connect_secs = t.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = daemon::rss_kib(pid);

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut max = 0;
            while !stop.load(Ordering::Relaxed) {
                max = max.max(daemon::rss_kib(pid));
                std::thread::sleep(Duration::from_millis(200));
            }
            max
        })
    };
    let total = rate * secs;
    let start = tokio::time::Instant::now();
    let mut late = 0usize;
    for k in 0..total {
        let due = start + Duration::from_secs_f64(k as f64 / rate as f64);
        if tokio::time::Instant::now() > due + Duration::from_millis(5) {
            late += 1;
        }
        tokio::time::sleep_until(due).await;
        let from = k % clients;
        let to = &ids[(from + rooms) % clients];
        let text = outgoing(server, to, now_us());
        sinks[from].send(Ws::text(text)).await.expect("send");
    }
    let send_secs = start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    let rss_load = sampler.join().unwrap();

    let mut l = lat.lock().unwrap().clone();
    l.sort_unstable();
    let p = server_name(server);
    println!("{p}_clients {clients}");
    println!("{p}_rooms {rooms}");
    println!("{p}_connect_secs {connect_secs:.2}");
    println!("{p}_rss_before {rss_before}");
    println!("{p}_rss_idle {rss_idle}");
    println!("{p}_rss_load_max {rss_load}");
    let per = (rss_idle.saturating_sub(rss_before)) as f64 / clients as f64;
    println!("{p}_kib_per_conn {per:.1}");
    println!("{p}_sent {total}");
    println!("{p}_send_secs {send_secs:.2}");
    println!("{p}_sent_late {late}");
    println!("{p}_received {}", l.len());
    println!("{p}_p50_ms {:.3}", percentile(&l, 0.50));
    println!("{p}_p99_ms {:.3}", percentile(&l, 0.99));
    println!("{p}_max_ms {:.3}", percentile(&l, 1.0));
    drop(sinks);
    drop(running);
}

fn server_name(s: Server) -> &'static str {
    match s {
        Server::Peerbox => "peerbox",
        Server::Matchbox => "matchbox",
    }
}
