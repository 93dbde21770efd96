//! The connections: one webrtc-rs `PeerConnection` per remote, its event handler, and one task
//! per DataChannel that turns the channel's events into [`PeerEvent`]s.
//!
//! Every connection has a generation number; events of a connection that was replaced
//! meanwhile are dropped, so a late event of an old connection never touches the link of the
//! new one.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::peer_connection::configuration::setting_engine::SctpMaxMessageSize;
use rtc::peer_connection::transport::RTCDtlsRole;
use tokio::sync::{mpsc, Notify};
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    CipherSuiteId, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceCandidateInit, RTCIceGatheringState, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    RTCSessionDescription, SettingEngineBuilder, StatsSelector,
};

use super::{
    cipher, ChannelId, LocalCandidate, PeerError, PeerEvent, PeerStats, Received, Sent,
    WebrtcConfig,
};

/// How often ICE sends connectivity checks while connecting.
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(50);
/// Checks per candidate pair before it is given up: 1.4 s, as the crate's default.
const ICE_BINDING_REQUESTS: u16 = 28;

/// Received bytes not yet consumed, per connection; reading stops above the limit.
pub(super) struct Backlog {
    bytes: AtomicUsize,
    limit: usize,
    drained: Notify,
}

impl Backlog {
    pub(super) fn release(&self, n: usize) {
        let before = self.bytes.fetch_sub(n, Ordering::AcqRel);
        if before > self.limit && before - n <= self.limit {
            self.drained.notify_waiters();
        }
    }

    /// Waits until the backlog is at or under the limit.
    async fn room(&self) {
        loop {
            let drained = self.drained.notified();
            if self.bytes.load(Ordering::Acquire) <= self.limit {
                return;
            }
            drained.await;
        }
    }
}

struct Conn {
    generation: u64,
    pc: Arc<dyn PeerConnection>,
    /// Open channels and the largest message each may carry.
    channels: HashMap<ChannelId, (Arc<dyn DataChannel>, usize)>,
    port: u16,
    connected: Arc<AtomicBool>,
}

pub(super) struct Shared {
    pub(super) config: WebrtcConfig,
    pub(super) ips: Vec<IpAddr>,
    pub(super) stats: Arc<PeerStats>,
    suites: Vec<CipherSuiteId>,
    events: mpsc::UnboundedSender<PeerEvent>,
    conns: Mutex<HashMap<String, Conn>>,
    next_generation: AtomicU64,
    runtime: Arc<dyn webrtc::runtime::Runtime>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `a=mid:` of the first media section, for trickled candidates.
fn first_mid(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=mid:"))
        .map(str::to_owned)
}

impl Shared {
    pub(super) fn new(
        config: WebrtcConfig,
        ips: Vec<IpAddr>,
        suites: Vec<CipherSuiteId>,
        events: mpsc::UnboundedSender<PeerEvent>,
    ) -> Shared {
        let buffers = config.udp_buffer_bytes;
        Shared {
            config,
            ips,
            stats: Arc::default(),
            suites,
            events,
            runtime: Arc::new(super::sockets::BufferedRuntime::new(buffers)),
            conns: Mutex::new(HashMap::new()),
            next_generation: AtomicU64::new(1),
        }
    }

    /// Sends `ev` unless a newer connection with `remote` replaced connection `generation`
    /// (the last messages and the channel close of a connection that just ended still go out).
    fn emit(&self, remote: &str, generation: u64, ev: PeerEvent) {
        let current = lock(&self.conns).get(remote).map(|c| c.generation);
        if current.is_none_or(|g| g == generation) {
            let _ = self.events.send(ev);
        }
    }

    /// A port for a new connection: the lowest free one of the configured range, or 0.
    fn free_port(&self, conns: &HashMap<String, Conn>) -> Result<u16, PeerError> {
        if self.config.udp_port == 0 {
            return Ok(0);
        }
        let used: HashSet<u16> = conns.values().map(|c| c.port).collect();
        (0..self.config.max_peers)
            .map(|i| self.config.udp_port + i as u16)
            .find(|p| !used.contains(p))
            .ok_or(PeerError::TooManyPeers)
    }

    /// Builds a connection for `remote`, replacing any earlier one, and registers it.
    async fn create(
        self: &Arc<Self>,
        remote: &str,
        mid: String,
    ) -> Result<Arc<dyn PeerConnection>, PeerError> {
        self.end(remote, None, "replaced by a new connection", false)
            .await;
        let (generation, port) = {
            let conns = lock(&self.conns);
            if conns.len() >= self.config.max_peers {
                return Err(PeerError::TooManyPeers);
            }
            let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
            (generation, self.free_port(&conns)?)
        };
        let connected = Arc::new(AtomicBool::new(false));
        let handler = Handler {
            shared: Arc::downgrade(self),
            remote: remote.to_owned(),
            generation,
            mid,
            connected: connected.clone(),
        };
        let settings = SettingEngineBuilder::new()
            // No mDNS socket: a server offers real addresses and learns the browser's as
            // peer-reflexive; opening a multicast socket can fail on a host without a
            // multicast-capable interface, which must never stop the seeder.
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            // Connectivity checks every 50 ms rather than the crate's 200 ms: a check that
            // finds no pair yet (the remote's candidates trickle in just after) is retried
            // within 50 ms instead of 200, and nomination follows the first success sooner.
            // Same give-up time as the default (7 x 200 ms).
            .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(ICE_BINDING_REQUESTS))
            .with_dtls_cipher_suites(self.suites.clone())
            // The DTLS server picks the suite, in its own order (patches/rtc-dtls).
            .with_answering_dtls_role(RTCDtlsRole::Server)
            .with_sctp_max_message_size(SctpMaxMessageSize::Bounded(
                self.config.max_message_bytes as u32,
            ))
            .build();
        let addrs: Vec<SocketAddr> = self
            .ips
            .iter()
            .map(|ip| SocketAddr::new(*ip, port))
            .collect();
        let pc = PeerConnectionBuilder::new()
            .with_runtime(self.runtime.clone())
            .with_setting_engine(settings)
            .with_handler(Arc::new(handler))
            .with_udp_addrs(addrs)
            .build()
            .await
            .map_err(|e| PeerError::Setup(e.to_string()))?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let replaced = lock(&self.conns).insert(
            remote.to_owned(),
            Conn {
                generation,
                pc: pc.clone(),
                channels: HashMap::new(),
                port,
                connected,
            },
        );
        if let Some(old) = replaced {
            // Another create for the same remote raced this one: the newer one wins.
            tokio::spawn(async move { old.pc.close().await });
        }
        let me = self.clone();
        let (remote, timeout) = (remote.to_owned(), self.config.connect_timeout_secs);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(timeout)).await;
            let stale = lock(&me.conns).get(&remote).is_some_and(|c| {
                c.generation == generation && !c.connected.load(Ordering::Acquire)
            });
            if stale {
                me.end(
                    &remote,
                    Some(generation),
                    "could not connect (ICE/DTLS timed out)",
                    true,
                )
                .await;
            }
        });
        Ok(pc)
    }

    pub(super) async fn accept(
        self: &Arc<Self>,
        remote: &str,
        offer: &str,
    ) -> Result<String, PeerError> {
        let desc = RTCSessionDescription::offer(offer.to_owned())
            .map_err(|e| PeerError::BadOffer(e.to_string()))?;
        let mid = first_mid(offer).unwrap_or_else(|| "0".into());
        let pc = self.create(remote, mid).await?;
        let result = async {
            pc.set_remote_description(desc).await?;
            let answer = pc.create_answer(None).await?;
            pc.set_local_description(answer.clone()).await?;
            Ok::<_, webrtc::error::Error>(answer.sdp)
        }
        .await;
        match result {
            Ok(sdp) => Ok(sdp),
            Err(e) => {
                self.end(remote, None, "the offer was refused", false).await;
                Err(PeerError::BadOffer(e.to_string()))
            }
        }
    }

    pub(super) async fn offer(
        self: &Arc<Self>,
        remote: &str,
        labels: &[&str],
    ) -> Result<String, PeerError> {
        let pc = self.create(remote, "0".into()).await?;
        let result = async {
            let mut channels = Vec::new();
            for label in labels {
                let init = RTCDataChannelInit {
                    ordered: true,
                    ..Default::default()
                };
                channels.push(pc.create_data_channel(label, Some(init)).await?);
            }
            let offer = pc.create_offer(None).await?;
            pc.set_local_description(offer.clone()).await?;
            Ok::<_, webrtc::error::Error>((offer.sdp, channels))
        }
        .await;
        match result {
            Ok((sdp, channels)) => {
                let generation = lock(&self.conns).get(remote).map(|c| c.generation);
                for dc in channels {
                    let me = self.clone();
                    let remote = remote.to_owned();
                    tokio::spawn(async move { me.pump(dc, remote, generation.unwrap_or(0)).await });
                }
                Ok(sdp)
            }
            Err(e) => {
                self.end(remote, None, "the offer could not be made", false)
                    .await;
                Err(PeerError::Setup(e.to_string()))
            }
        }
    }

    fn pc(&self, remote: &str) -> Result<Arc<dyn PeerConnection>, PeerError> {
        lock(&self.conns)
            .get(remote)
            .map(|c| c.pc.clone())
            .ok_or_else(|| PeerError::UnknownPeer(remote.to_owned()))
    }

    pub(super) async fn answer(&self, remote: &str, answer: &str) -> Result<(), PeerError> {
        let pc = self.pc(remote)?;
        let desc = RTCSessionDescription::answer(answer.to_owned())
            .map_err(|e| PeerError::BadAnswer(e.to_string()))?;
        pc.set_remote_description(desc)
            .await
            .map_err(|e| PeerError::BadAnswer(e.to_string()))
    }

    pub(super) async fn candidate(&self, remote: &str, candidate: &str) -> Result<(), PeerError> {
        let line = candidate.trim().trim_start_matches("a=");
        if line.is_empty() || line.contains(".local ") {
            tracing::debug!(%remote, "skipping an mDNS or empty candidate");
            return Ok(());
        }
        let pc = self.pc(remote)?;
        let init = RTCIceCandidateInit {
            candidate: line.to_owned(),
            ..Default::default()
        };
        if let Err(e) = pc.add_ice_candidate(init).await {
            tracing::debug!(%remote, error = %e, "bad remote candidate");
        }
        Ok(())
    }

    pub(super) async fn send(
        &self,
        remote: &str,
        channel: ChannelId,
        binary: bool,
        data: Vec<u8>,
    ) -> Result<Sent, PeerError> {
        let (dc, limit) = lock(&self.conns)
            .get(remote)
            .ok_or_else(|| PeerError::UnknownPeer(remote.to_owned()))?
            .channels
            .get(&channel)
            .cloned()
            .ok_or(PeerError::ChannelClosed)?;
        let n = data.len();
        if n > limit {
            return Err(PeerError::TooBig(n, limit));
        }
        let sent = if binary {
            dc.send(BytesMut::from(Bytes::from(data))).await
        } else {
            let text = String::from_utf8(data).map_err(|_| PeerError::ChannelClosed)?;
            dc.send_text(&text).await
        };
        if let Err(e) = sent {
            tracing::debug!(%remote, error = %e, "channel send failed");
            return Err(PeerError::ChannelClosed);
        }
        self.stats.sent(n);
        let buffered = dc.outstanding_bytes().await.unwrap_or(0);
        Ok(Sent::Queued { buffered })
    }

    pub(super) async fn flush(&self, remote: &str, channel: ChannelId, limit: Duration) {
        let dc = lock(&self.conns)
            .get(remote)
            .and_then(|c| c.channels.get(&channel).map(|(dc, _)| dc.clone()));
        let Some(dc) = dc else { return };
        let deadline = tokio::time::Instant::now() + limit;
        // Only on the way out of a broken transfer: a few checks, then the close goes ahead.
        while dc.outstanding_bytes().await.unwrap_or(0) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Removes and closes the connection with `remote` (only generation `only`, when given) and
    /// reports it closed.
    pub(super) async fn end(&self, remote: &str, only: Option<u64>, reason: &str, failed: bool) {
        let conn = {
            let mut conns = lock(&self.conns);
            match conns.get(remote) {
                Some(c) if only.is_none_or(|g| g == c.generation) => conns.remove(remote),
                _ => None,
            }
        };
        let Some(conn) = conn else { return };
        if conn.connected.load(Ordering::Acquire) {
            self.stats.link_closed();
        }
        tracing::debug!(%remote, %reason, "peer connection closed");
        let _ = self.events.send(PeerEvent::Closed {
            remote: remote.to_owned(),
            reason: reason.to_owned(),
            failed,
        });
        if let Err(e) = conn.pc.close().await {
            tracing::debug!(%remote, error = %e, "closing the peer connection");
        }
    }

    pub(super) async fn close_all(&self, reason: &str) {
        let names: Vec<String> = lock(&self.conns).keys().cloned().collect();
        for name in names {
            self.end(&name, None, reason, false).await;
        }
    }

    /// Reads one DataChannel's events until it closes.
    async fn pump(self: Arc<Self>, dc: Arc<dyn DataChannel>, remote: String, generation: u64) {
        let backlog = Arc::new(Backlog {
            bytes: AtomicUsize::new(0),
            limit: self.config.recv_backlog_bytes,
            drained: Notify::new(),
        });
        let channel = dc.id();
        loop {
            backlog.room().await;
            let Some(ev) = dc.poll().await else { break };
            match ev {
                DataChannelEvent::OnOpen => {
                    let label = dc.label().await.unwrap_or_default();
                    let low = self.config.low_water_bytes as u32;
                    let _ = dc.set_buffered_amount_low_threshold(low).await;
                    let max_message = self.negotiated_max_message(&remote).await;
                    if let Some(c) = lock(&self.conns).get_mut(&remote) {
                        if c.generation == generation {
                            c.channels.insert(channel, (dc.clone(), max_message));
                        }
                    }
                    let ev = PeerEvent::ChannelOpen {
                        remote: remote.clone(),
                        channel,
                        label,
                        max_message,
                    };
                    self.emit(&remote, generation, ev);
                }
                DataChannelEvent::OnMessage(msg) => {
                    let data: Vec<u8> = msg.data.into();
                    backlog.bytes.fetch_add(data.len(), Ordering::AcqRel);
                    self.stats.received(data.len());
                    let data = Received {
                        counted: data.len(),
                        data,
                        backlog: backlog.clone(),
                    };
                    let ev = PeerEvent::Message {
                        remote: remote.clone(),
                        channel,
                        binary: !msg.is_string,
                        data,
                    };
                    self.emit(&remote, generation, ev);
                }
                DataChannelEvent::OnBufferedAmountLow => {
                    let ev = PeerEvent::BufferedLow {
                        remote: remote.clone(),
                        channel,
                    };
                    self.emit(&remote, generation, ev);
                }
                DataChannelEvent::OnClose => break,
                _ => {}
            }
        }
        if let Some(c) = lock(&self.conns).get_mut(&remote) {
            if c.generation == generation {
                c.channels.remove(&channel);
            }
        }
        let ev = PeerEvent::ChannelClosed {
            remote: remote.clone(),
            channel,
        };
        self.emit(&remote, generation, ev);
    }

    /// The smaller of the two sides' `a=max-message-size` (RFC 8841: 64 KiB when absent).
    async fn negotiated_max_message(&self, remote: &str) -> usize {
        let ours = self.config.max_message_bytes;
        let Ok(pc) = self.pc(remote) else {
            return super::MIN_MESSAGE_BYTES;
        };
        match pc.sctp().await {
            Some(t) => t
                .max_message_size()
                .await
                .map_or(ours, |n| (n as usize).min(ours)),
            None => super::MIN_MESSAGE_BYTES,
        }
    }

    /// Records the negotiated cipher suite once the connection is up.
    async fn connected(self: Arc<Self>, remote: String, generation: u64) {
        let Ok(pc) = self.pc(&remote) else { return };
        let report = pc.get_stats(Instant::now(), StatsSelector::None).await;
        let suite = report
            .transport()
            .map(|t| t.dtls_cipher.clone())
            .unwrap_or_default();
        let name = cipher::short_name(&suite);
        tracing::info!(%remote, cipher = name, "peer connected");
        self.stats.link_opened(name);
        self.emit(
            &remote,
            generation,
            PeerEvent::Connected {
                remote: remote.clone(),
            },
        );
    }
}

/// Events of one connection, called on its driver task: they must return promptly.
struct Handler {
    shared: std::sync::Weak<Shared>,
    remote: String,
    generation: u64,
    mid: String,
    connected: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let Ok(init) = event.candidate.to_json() else {
            return;
        };
        let candidate = LocalCandidate {
            candidate: init.candidate,
            sdp_mid: Some(self.mid.clone()),
            sdp_m_line_index: Some(0),
        };
        let ev = PeerEvent::Candidate {
            remote: self.remote.clone(),
            candidate: Some(candidate),
        };
        shared.emit(&self.remote, self.generation, ev);
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        if state == RTCIceGatheringState::Complete {
            let ev = PeerEvent::Candidate {
                remote: self.remote.clone(),
                candidate: None,
            };
            shared.emit(&self.remote, self.generation, ev);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let (remote, generation) = (self.remote.clone(), self.generation);
        match state {
            RTCPeerConnectionState::Connected => {
                if !self.connected.swap(true, Ordering::AcqRel) {
                    tokio::spawn(shared.connected(remote, generation));
                }
            }
            RTCPeerConnectionState::Failed => {
                tokio::spawn(async move {
                    let why = "the connection failed (ICE/DTLS)";
                    shared.end(&remote, Some(generation), why, true).await;
                });
            }
            // The other side closed (DTLS close_notify or SCTP ABORT): a normal end.
            RTCPeerConnectionState::Closed => {
                tokio::spawn(async move {
                    let why = "closed by the other side";
                    shared.end(&remote, Some(generation), why, false).await;
                });
            }
            // Disconnected can heal (a CPU-starved check, a Wi-Fi blip); Failed follows if not.
            _ => tracing::debug!(remote = %self.remote, ?state, "connection state"),
        }
    }

    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        tokio::spawn(shared.pump(dc, self.remote.clone(), self.generation));
    }
}
