//! The seeder's WebRTC transport, built on `webrtc` (webrtc-rs 0.21, an async layer over the
//! sans-IO `rtc` crates), with two small patches of its crates (`patches/`): SCTP loss recovery
//! and pacing, and the DTLS server choosing the cipher suite in its own order.
//!
//! One `PeerConnection` per remote browser, each with its own driver task and its UDP sockets
//! bound to explicit addresses (host candidates; no mDNS socket at all: browsers' `.local`
//! candidates are skipped, their addresses arrive as peer-reflexive, and a machine without a
//! multicast-capable interface must still seed). The seeder trickles its candidates and then
//! `end-of-candidates` ([`PeerEvent::Candidate`]). It answers as the DTLS server so the cipher
//! suite is its choice ([`cipher`]).
//!
//! Browsers offer and open the DataChannels; the seeder answers. Flow control: a send reports
//! the channel's outstanding bytes; above the high-water mark the caller waits for
//! [`PeerEvent::BufferedLow`] (the `low_water_bytes` threshold), never a round trip per chunk.
//! Sends are never cancelled (a cancelled webrtc-rs send can leave data queued unnoticed).
//! Received data carries a [`Received`] guard: until the consumer drops it, it counts against
//! the peer's backlog, and past `recv_backlog_bytes` the channel is not read, so SCTP's own
//! window throttles the sender instead of memory growing.

pub mod cipher;
mod config;
mod conn;
mod sockets;
mod stats;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use config::{CipherChoice, WebrtcConfig};
pub use stats::PeerStats;
pub use webrtc::data_channel::RTCDataChannelId as ChannelId;

/// The largest `seeder.webrtc.max_message_bytes`: 256 KiB, what Chromium accepts and the
/// WebRTC stack's ceiling.
pub const MAX_MESSAGE_CEILING: usize = 262144;
/// The smallest: every WebRTC peer accepts 64 KiB messages (RFC 8841 default).
pub const MIN_MESSAGE_BYTES: usize = 65536;

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("no usable network address to bind for WebRTC")]
    NoAddress,
    #[error("cannot set up a WebRTC connection: {0}")]
    Setup(String),
    #[error("invalid offer: {0}")]
    BadOffer(String),
    #[error("invalid answer: {0}")]
    BadAnswer(String),
    #[error("too many peer connections (seeder.webrtc.max_peers)")]
    TooManyPeers,
    #[error("no connection with {0}")]
    UnknownPeer(String),
    #[error("channel is closed")]
    ChannelClosed,
    #[error("message of {0} bytes exceeds the link's {1}-byte limit")]
    TooBig(usize, usize),
    #[error("the WebRTC transport has stopped")]
    Stopped,
}

/// Bytes received from a peer; they count against its backlog until this is dropped.
pub struct Received {
    pub data: Vec<u8>,
    /// What was counted, whatever happens to `data` meanwhile.
    counted: usize,
    backlog: Arc<conn::Backlog>,
}

impl Drop for Received {
    fn drop(&mut self) {
        self.backlog.release(self.counted);
    }
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Received({} bytes)", self.data.len())
    }
}

/// A local ICE candidate to trickle to the remote, in the shape of `RTCIceCandidate.toJSON()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCandidate {
    pub candidate: String,
    pub sdp_mid: Option<String>,
    pub sdp_m_line_index: Option<u16>,
}

/// What happens on the transport, for the seeder to act on.
#[derive(Debug)]
pub enum PeerEvent {
    /// ICE and DTLS are up.
    Connected {
        remote: String,
    },
    /// A local candidate to send to `remote`; `None` is end-of-candidates.
    Candidate {
        remote: String,
        candidate: Option<LocalCandidate>,
    },
    ChannelOpen {
        remote: String,
        channel: ChannelId,
        label: String,
        /// Largest message both sides accept on this connection (the smaller of the two SDPs'
        /// `a=max-message-size`).
        max_message: usize,
    },
    Message {
        remote: String,
        channel: ChannelId,
        binary: bool,
        data: Received,
    },
    /// The channel's buffered amount dropped below `low_water_bytes`: send more.
    BufferedLow {
        remote: String,
        channel: ChannelId,
    },
    ChannelClosed {
        remote: String,
        channel: ChannelId,
    },
    /// The connection is gone; `failed` when it broke (ICE/DTLS/timeout) rather than being
    /// closed on purpose by either side, so the other side can be told through signaling.
    Closed {
        remote: String,
        reason: String,
        failed: bool,
    },
}

/// Outcome of a send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Queued; `buffered` bytes are now waiting for acknowledgement on this channel.
    Queued { buffered: usize },
}

/// Handle to the transport; cheap to clone.
#[derive(Clone)]
pub struct Peers {
    shared: Arc<conn::Shared>,
}

impl Peers {
    /// Works out the addresses to bind and starts the transport; every connection is closed when
    /// `shutdown` fires.
    pub async fn start(
        config: WebrtcConfig,
        shutdown: CancellationToken,
    ) -> Result<(Peers, mpsc::UnboundedReceiver<PeerEvent>), PeerError> {
        let ips = bind_addrs(&config);
        if ips.is_empty() {
            return Err(PeerError::NoAddress);
        }
        let (events, events_rx) = mpsc::unbounded_channel();
        let has_aes = cipher::cpu_has_aes();
        let suites = cipher::suites(config.cipher, has_aes);
        tracing::info!(addrs = ?ips, aes_instructions = has_aes,
            ciphers = ?suites.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "WebRTC transport ready");
        let shared = Arc::new(conn::Shared::new(config, ips, suites, events));
        let on_stop = shared.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            on_stop.close_all("the server is shutting down").await;
        });
        Ok((Peers { shared }, events_rx))
    }

    /// The addresses connections bind and offer as host candidates (port 0: one per connection).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        let port = self.shared.config.udp_port;
        let ips = self.shared.ips.iter();
        ips.map(|ip| SocketAddr::new(*ip, port)).collect()
    }

    /// Figures for `/metrics`.
    pub fn stats(&self) -> Arc<PeerStats> {
        self.shared.stats.clone()
    }

    /// Answers a browser's offer; any earlier connection with `remote` is replaced. Local
    /// candidates follow as [`PeerEvent::Candidate`].
    pub async fn accept_offer(&self, remote: &str, offer: &str) -> Result<String, PeerError> {
        self.shared.accept(remote, offer).await
    }

    /// Offers a connection to `remote` with reliable, ordered DataChannels named `labels` (the
    /// browser's role; used by Rust clients).
    pub async fn create_offer(&self, remote: &str, labels: &[&str]) -> Result<String, PeerError> {
        self.shared.offer(remote, labels).await
    }

    /// Completes a [`Peers::create_offer`] with the remote's answer.
    pub async fn accept_answer(&self, remote: &str, answer: &str) -> Result<(), PeerError> {
        self.shared.answer(remote, answer).await
    }

    /// A trickled remote candidate (`candidate:…` line); mDNS `.local` ones are skipped, and an
    /// empty one (end-of-candidates) is ignored.
    pub async fn add_candidate(&self, remote: &str, candidate: &str) -> Result<(), PeerError> {
        self.shared.candidate(remote, candidate).await
    }

    /// Queues one message; never waits for room (see [`Peers::should_wait`]).
    pub async fn send(
        &self,
        remote: &str,
        channel: ChannelId,
        binary: bool,
        data: Vec<u8>,
    ) -> Result<Sent, PeerError> {
        self.shared.send(remote, channel, binary, data).await
    }

    /// True when a channel this full should wait for [`PeerEvent::BufferedLow`].
    pub fn should_wait(&self, buffered: usize) -> bool {
        buffered + self.shared.config.max_message_bytes > self.shared.config.max_buffered_bytes
    }

    /// Waits until everything queued on `channel` was acknowledged, at most `limit`: before a
    /// close, so the last message is not lost with the association (a peer that gets the ABORT
    /// first drops what it has not delivered yet).
    pub async fn flush(&self, remote: &str, channel: ChannelId, limit: std::time::Duration) {
        self.shared.flush(remote, channel, limit).await
    }

    /// Closes the connection with `remote` (a [`PeerEvent::Closed`] follows, not failed).
    pub async fn close(&self, remote: &str) -> Result<(), PeerError> {
        self.shared
            .end(remote, None, "closed by this side", false)
            .await;
        Ok(())
    }
}

/// Addresses to bind: the configured ones, or every non-loopback interface address.
fn bind_addrs(config: &WebrtcConfig) -> Vec<IpAddr> {
    if !config.udp_bind.is_empty() {
        return config.udp_bind.clone();
    }
    if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .filter(|ip| !ip.is_loopback())
        // Link-local IPv6 needs scope ids that SDP candidates cannot carry reliably.
        .filter(|ip| !matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80))
        .collect()
}
