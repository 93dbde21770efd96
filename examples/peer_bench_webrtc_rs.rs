//! `peer_bench` built on the other Rust WebRTC stack, webrtc-rs (`webrtc` crate, a
//! dev-dependency only): the same page, the same `POST /offer` and the same two modes
//! (`data`: stream `size` pattern bytes to the browser; `upload`: read `size` bytes, answer
//! `done`), so the stack comparison (`bench/sections/09-stack.sh`) changes nothing but the
//! server's WebRTC stack. Flow control as a browser app does it: keep at most
//! `max_buffered_bytes` (default 1 MiB) outstanding, resume on buffered-amount-low (a quarter of
//! it). Sends are awaited one after another and never cancelled (a cancelled webrtc-rs send
//! can leave data queued with its driver not woken). Usage:
//! `peer_bench_webrtc_rs 10.77.0.1 [max_buffered_bytes]`.

#[path = "support/bench_http.rs"]
mod bench_http;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bench_http::{count_upload, frame, FRAME, HEADER};
use bytes::BytesMut;
use tokio::sync::{mpsc, Notify};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCPeerConnectionState, RTCSessionDescription,
};

struct Handler {
    size: u64,
    high: usize,
    gathered: mpsc::UnboundedSender<()>,
    done: mpsc::UnboundedSender<()>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(());
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if matches!(
            state,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
        ) {
            let _ = self.done.send(());
        }
    }

    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        // Returning promptly unblocks the connection's driver: work goes to tasks.
        tokio::spawn(channel(dc, self.size, self.high, self.done.clone()));
    }
}

/// Reads the channel's events; for `data` a second task streams under flow control.
async fn channel(
    dc: Arc<dyn DataChannel>,
    size: u64,
    high: usize,
    done: mpsc::UnboundedSender<()>,
) {
    let label = dc.label().await.unwrap_or_default();
    let low = Arc::new(Notify::new());
    let _ = dc
        .set_buffered_amount_low_threshold((high / 4) as u32)
        .await;
    let mut got = 0u64;
    while let Some(ev) = dc.poll().await {
        match ev {
            DataChannelEvent::OnOpen if label == "data" => {
                tokio::spawn(stream(dc.clone(), size, high, low.clone()));
            }
            DataChannelEvent::OnBufferedAmountLow => low.notify_one(),
            DataChannelEvent::OnMessage(msg) if label == "upload" => {
                let complete = count_upload(&mut got, size, &msg.data);
                if complete {
                    let _ = dc.send_text("done").await;
                }
            }
            DataChannelEvent::OnClose => break,
            _ => {}
        }
    }
    let _ = done.send(());
}

async fn stream(dc: Arc<dyn DataChannel>, size: u64, high: usize, low: Arc<Notify>) {
    let mut offset = 0u64;
    while offset < size {
        let n = ((size - offset) as usize).min(FRAME - HEADER);
        // The low event is edge-triggered; the timeout re-checks in case one was missed.
        while dc.outstanding_bytes().await.unwrap_or(0) + FRAME > high {
            let _ = tokio::time::timeout(Duration::from_millis(50), low.notified()).await;
        }
        if let Err(e) = dc.send(BytesMut::from(&frame(offset, n)[..])).await {
            eprintln!("send failed at {offset}: {e}");
            return;
        }
        offset += n as u64;
    }
}

async fn answer(ip: IpAddr, high: usize, offer: bench_http::Offer) -> Result<String, String> {
    let (gathered, mut gathered_rx) = mpsc::unbounded_channel();
    let (done, mut done_rx) = mpsc::unbounded_channel();
    let handler = Handler {
        size: offer.size,
        high,
        gathered,
        done,
    };
    let pc = PeerConnectionBuilder::new()
        .with_handler(Arc::new(handler))
        .with_udp_addrs(vec![format!("{ip}:0")])
        .build()
        .await
        .map_err(|e| e.to_string())?;
    let desc = RTCSessionDescription::offer(offer.sdp).map_err(|e| e.to_string())?;
    pc.set_remote_description(desc)
        .await
        .map_err(|e| e.to_string())?;
    let answer = pc.create_answer(None).await.map_err(|e| e.to_string())?;
    pc.set_local_description(answer)
        .await
        .map_err(|e| e.to_string())?;
    let _ = tokio::time::timeout(Duration::from_secs(5), gathered_rx.recv()).await;
    let sdp = pc
        .local_description()
        .await
        .map(|d| d.sdp)
        .ok_or("no local description")?;
    // The connection lives until its channel closes or it fails; then it is closed and freed.
    tokio::spawn(async move {
        let _ = done_rx.recv().await;
        let _ = pc.close().await;
        eprintln!("{} closed", offer.remote);
    });
    Ok(sdp)
}

#[tokio::main]
async fn main() {
    let ip = bench_http::ip_arg();
    let high: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1 << 20);
    bench_http::serve(ip, move |offer| async move {
        answer(ip, high, offer)
            .await
            .unwrap_or_else(|e| format!("error: {e}"))
    })
    .await;
}
