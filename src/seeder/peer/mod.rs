//! The seeder's WebRTC transport, built on `str0m` (sans-IO).
//!
//! Why str0m and not webrtc-rs: measured here, a webrtc-rs 0.21.1 sender pushing 100 MiB into
//! Chromium stalled almost completely in 4 of 14 runs, while a str0m sender completed 8 of 8
//! (`shared/notes/webrtc-testing.md`). str0m also leaves the I/O to us, which keeps the whole
//! transport in one task: UDP sockets bound to explicit addresses (host candidates, no mDNS:
//! browsers' `.local` candidates are not needed, they reach us as peer-reflexive), one `Rtc`
//! per remote browser, demultiplexed with `Rtc::accepts`.
//!
//! Browsers offer and open the DataChannels; the seeder answers. Flow control: a send reports
//! the channel's buffered amount; above the high-water mark the caller waits for
//! [`PeerEvent::BufferedLow`] (the `low_water_bytes` threshold), never a round trip per chunk.
//! Received data carries a [`Received`] guard: until the consumer drops it, it counts against
//! the peer's backlog, and past `recv_backlog_bytes` that peer's packets are dropped so SCTP's
//! own window throttles the sender instead of memory growing.

mod config;
mod driver;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub use config::WebrtcConfig;
pub use str0m::channel::ChannelId;

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("no usable network address to bind for WebRTC")]
    NoAddress,
    #[error("cannot bind UDP {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
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
    #[error("message of {0} bytes exceeds the 65536-byte limit")]
    TooBig(usize),
    #[error("the WebRTC transport has stopped")]
    Stopped,
}

/// Bytes received from a peer; they count against its backlog until this is dropped.
pub struct Received {
    pub data: Vec<u8>,
    backlog: Arc<AtomicUsize>,
}

impl Drop for Received {
    fn drop(&mut self) {
        self.backlog.fetch_sub(self.data.len(), Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Received({} bytes)", self.data.len())
    }
}

/// What happens on the transport, for the seeder to act on.
#[derive(Debug)]
pub enum PeerEvent {
    /// ICE and DTLS are up.
    Connected {
        remote: String,
    },
    ChannelOpen {
        remote: String,
        channel: ChannelId,
        label: String,
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
    /// closed on purpose, so the other side can be told through signaling.
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
    /// No room now: wait for [`PeerEvent::BufferedLow`] and send it again.
    Full,
}

enum Cmd {
    Accept {
        remote: String,
        offer: String,
        reply: oneshot::Sender<Result<String, PeerError>>,
    },
    Offer {
        remote: String,
        labels: Vec<String>,
        reply: oneshot::Sender<Result<String, PeerError>>,
    },
    Answer {
        remote: String,
        answer: String,
        reply: oneshot::Sender<Result<(), PeerError>>,
    },
    Candidate {
        remote: String,
        candidate: String,
    },
    Send {
        remote: String,
        channel: ChannelId,
        binary: bool,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<Sent, PeerError>>,
    },
    Close {
        remote: String,
    },
}

/// Handle to the transport task; cheap to clone.
#[derive(Clone)]
pub struct Peers {
    tx: mpsc::Sender<Cmd>,
    local: Arc<Vec<SocketAddr>>,
    config: Arc<WebrtcConfig>,
}

impl Peers {
    /// Binds the UDP sockets and starts the transport task.
    pub async fn start(
        config: WebrtcConfig,
        shutdown: CancellationToken,
    ) -> Result<(Peers, mpsc::UnboundedReceiver<PeerEvent>), PeerError> {
        let (tx, rx) = mpsc::channel(256);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let local = driver::spawn(config.clone(), rx, events_tx, shutdown).await?;
        Ok((
            Peers {
                tx,
                local: Arc::new(local),
                config: Arc::new(config),
            },
            events_rx,
        ))
    }

    /// The UDP addresses offered as host candidates.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local
    }

    /// Answers a browser's offer; any earlier connection with `remote` is replaced.
    pub async fn accept_offer(&self, remote: &str, offer: &str) -> Result<String, PeerError> {
        let (reply, rx) = oneshot::channel();
        self.cmd(Cmd::Accept {
            remote: remote.to_owned(),
            offer: offer.to_owned(),
            reply,
        })
        .await?;
        rx.await.map_err(|_| PeerError::Stopped)?
    }

    /// Offers a connection to `remote` with reliable, ordered DataChannels named `labels` (the
    /// browser's role; used by Rust clients such as the tests and benchmarks).
    pub async fn create_offer(&self, remote: &str, labels: &[&str]) -> Result<String, PeerError> {
        let (reply, rx) = oneshot::channel();
        self.cmd(Cmd::Offer {
            remote: remote.to_owned(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            reply,
        })
        .await?;
        rx.await.map_err(|_| PeerError::Stopped)?
    }

    /// Completes a [`Peers::create_offer`] with the remote's answer.
    pub async fn accept_answer(&self, remote: &str, answer: &str) -> Result<(), PeerError> {
        let (reply, rx) = oneshot::channel();
        self.cmd(Cmd::Answer {
            remote: remote.to_owned(),
            answer: answer.to_owned(),
            reply,
        })
        .await?;
        rx.await.map_err(|_| PeerError::Stopped)?
    }

    /// A trickled remote candidate (`candidate:…` line); mDNS `.local` ones are skipped.
    pub async fn add_candidate(&self, remote: &str, candidate: &str) -> Result<(), PeerError> {
        self.cmd(Cmd::Candidate {
            remote: remote.to_owned(),
            candidate: candidate.to_owned(),
        })
        .await
    }

    pub async fn send(
        &self,
        remote: &str,
        channel: ChannelId,
        binary: bool,
        data: Vec<u8>,
    ) -> Result<Sent, PeerError> {
        if data.len() > 65536 {
            return Err(PeerError::TooBig(data.len()));
        }
        let (reply, rx) = oneshot::channel();
        self.cmd(Cmd::Send {
            remote: remote.to_owned(),
            channel,
            binary,
            data,
            reply,
        })
        .await?;
        rx.await.map_err(|_| PeerError::Stopped)?
    }

    /// True when a channel this full should wait for [`PeerEvent::BufferedLow`].
    pub fn should_wait(&self, buffered: usize) -> bool {
        buffered + 65536 > self.config.max_buffered_bytes
    }

    pub async fn close(&self, remote: &str) -> Result<(), PeerError> {
        self.cmd(Cmd::Close {
            remote: remote.to_owned(),
        })
        .await
    }

    async fn cmd(&self, cmd: Cmd) -> Result<(), PeerError> {
        self.tx.send(cmd).await.map_err(|_| PeerError::Stopped)
    }
}
