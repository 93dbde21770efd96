//! The seeder's WebRTC transport (str0m, `peerbox::seeder::peer`) against a real browser,
//! without signaling: serves a page and `POST /offer` (non-trickle SDP exchange) on the given
//! address. A DataChannel labelled `data` gets `size` bytes of a deterministic pattern
//! (download); one labelled `upload` is read until `size` payload bytes arrived, then answered
//! with the text `done` (upload). Driven by `tests/web/peer-bench.mjs` and
//! `tests/web/stack-bench.mjs` inside a test network namespace; `peer_bench_webrtc_rs` is the
//! same bench on the other stack. Usage: `peer_bench 10.77.0.1 [max_buffered_bytes]`.

#[path = "support/bench_http.rs"]
mod bench_http;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bench_http::{count_upload, frame, FRAME, HEADER};
use peerbox::seeder::peer::{ChannelId, PeerEvent, Peers, Sent, WebrtcConfig};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

type Waiters = Arc<Mutex<HashMap<(String, ChannelId), Arc<Notify>>>>;

async fn stream(peers: Peers, waiters: Waiters, remote: String, ch: ChannelId, size: u64) {
    let notify = Arc::new(Notify::new());
    waiters
        .lock()
        .unwrap()
        .insert((remote.clone(), ch), notify.clone());
    let mut offset = 0u64;
    while offset < size {
        let n = ((size - offset) as usize).min(FRAME - HEADER);
        let frame = frame(offset, n);
        loop {
            let wait = notify.notified();
            match peers.send(&remote, ch, true, frame.clone()).await {
                Ok(Sent::Queued { buffered }) => {
                    if peers.should_wait(buffered) {
                        wait.await;
                    }
                    break;
                }
                Ok(Sent::Full) => wait.await,
                Err(e) => {
                    eprintln!("send to {remote} failed at {offset}: {e}");
                    return;
                }
            }
        }
        offset += n as u64;
    }
}

#[tokio::main]
async fn main() {
    let ip = bench_http::ip_arg();
    let mut config = WebrtcConfig {
        udp_bind: vec![ip],
        ..WebrtcConfig::default()
    };
    // Optional: max_buffered_bytes and low_water_bytes, for tuning runs.
    if let Some(max) = std::env::args().nth(2).and_then(|s| s.parse().ok()) {
        config.max_buffered_bytes = max;
        config.low_water_bytes = max / 4;
    }
    let (peers, mut events) = Peers::start(config, CancellationToken::new())
        .await
        .expect("transport");
    let waiters: Waiters = Arc::default();
    let sizes: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    {
        let (peers, waiters, sizes) = (peers.clone(), waiters.clone(), sizes.clone());
        tokio::spawn(async move {
            let mut uploads: HashMap<(String, ChannelId), u64> = HashMap::new();
            while let Some(ev) = events.recv().await {
                match ev {
                    PeerEvent::ChannelOpen {
                        remote,
                        channel,
                        label,
                    } => {
                        let size = sizes.lock().unwrap().get(&remote).copied().unwrap_or(0);
                        if label == "data" {
                            let (p, w) = (peers.clone(), waiters.clone());
                            tokio::spawn(stream(p, w, remote, channel, size));
                        } else if label == "upload" {
                            uploads.insert((remote, channel), 0);
                        }
                    }
                    PeerEvent::Message {
                        remote,
                        channel,
                        data,
                        ..
                    } => {
                        let size = sizes.lock().unwrap().get(&remote).copied().unwrap_or(0);
                        let key = (remote, channel);
                        if let Some(got) = uploads.get_mut(&key) {
                            if count_upload(got, size, &data.data) {
                                let p = peers.clone();
                                tokio::spawn(async move {
                                    let _ = p.send(&key.0, key.1, false, b"done".to_vec()).await;
                                });
                            }
                        }
                    }
                    PeerEvent::BufferedLow { remote, channel } => {
                        if let Some(n) = waiters.lock().unwrap().get(&(remote, channel)) {
                            n.notify_one();
                        }
                    }
                    PeerEvent::Closed { remote, reason, .. } => {
                        eprintln!("{remote} closed: {reason}");
                        waiters.lock().unwrap().retain(|(r, _), _| *r != remote);
                        uploads.retain(|(r, _), _| *r != remote);
                        sizes.lock().unwrap().remove(&remote);
                    }
                    _ => {}
                }
            }
        });
    }
    bench_http::serve(ip, move |offer| {
        let (peers, sizes) = (peers.clone(), sizes.clone());
        async move {
            sizes
                .lock()
                .unwrap()
                .insert(offer.remote.clone(), offer.size);
            peers
                .accept_offer(&offer.remote, &offer.sdp)
                .await
                .unwrap_or_else(|e| format!("error: {e}"))
        }
    })
    .await;
}
