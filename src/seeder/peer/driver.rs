//! The transport task: owns the UDP sockets and every `Rtc`, feeds them input, drains output.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Cmd, PeerError, PeerEvent, Received, Sent, WebrtcConfig};

/// Datagrams waiting for the task; beyond this the kernel's buffer and then loss take over.
const PACKET_QUEUE: usize = 2048;

struct Conn {
    rtc: Rtc,
    /// Set while our own offer waits for the answer.
    pending: Option<str0m::change::SdpPendingOffer>,
    created: Instant,
    connected: bool,
    next: Instant,
    backlog: Arc<AtomicUsize>,
}

struct Driver {
    config: WebrtcConfig,
    sockets: HashMap<SocketAddr, Arc<UdpSocket>>,
    conns: HashMap<String, Conn>,
    events: mpsc::UnboundedSender<PeerEvent>,
}

fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
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

pub(super) async fn spawn(
    config: WebrtcConfig,
    cmds: mpsc::Receiver<Cmd>,
    events: mpsc::UnboundedSender<PeerEvent>,
    shutdown: CancellationToken,
) -> Result<Vec<SocketAddr>, PeerError> {
    install_crypto();
    let ips = bind_addrs(&config);
    if ips.is_empty() {
        return Err(PeerError::NoAddress);
    }
    let (pkt_tx, pkt_rx) = mpsc::channel(PACKET_QUEUE);
    let mut sockets = HashMap::new();
    for ip in ips {
        let addr = SocketAddr::new(ip, config.udp_port);
        let socket = UdpSocket::bind(addr)
            .await
            .map_err(|source| PeerError::Bind { addr, source })?;
        let local = socket
            .local_addr()
            .map_err(|source| PeerError::Bind { addr, source })?;
        let socket = Arc::new(socket);
        tokio::spawn(read_loop(
            socket.clone(),
            local,
            pkt_tx.clone(),
            shutdown.clone(),
        ));
        sockets.insert(local, socket);
    }
    let local: Vec<SocketAddr> = sockets.keys().copied().collect();
    tracing::info!(addrs = ?local, "WebRTC transport bound");
    let driver = Driver {
        config,
        sockets,
        conns: HashMap::new(),
        events,
    };
    tokio::spawn(driver.run(cmds, pkt_rx, shutdown));
    Ok(local)
}

async fn read_loop(
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    tx: mpsc::Sender<(SocketAddr, SocketAddr, Vec<u8>)>,
    shutdown: CancellationToken,
) {
    let mut buf = vec![0u8; 2048];
    loop {
        let got = tokio::select! {
            () = shutdown.cancelled() => return,
            got = socket.recv_from(&mut buf) => got,
        };
        match got {
            // A full queue drops the datagram, as a full socket buffer would.
            Ok((n, from)) => {
                let _ = tx.try_send((local, from, buf[..n].to_vec()));
            }
            Err(e) => {
                tracing::debug!(%local, error = %e, "UDP receive error");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

impl Driver {
    async fn run(
        mut self,
        mut cmds: mpsc::Receiver<Cmd>,
        mut packets: mpsc::Receiver<(SocketAddr, SocketAddr, Vec<u8>)>,
        shutdown: CancellationToken,
    ) {
        loop {
            let next = self
                .conns
                .values()
                .map(|c| c.next)
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            tokio::select! {
                () = shutdown.cancelled() => break,
                cmd = cmds.recv() => match cmd {
                    Some(cmd) => self.on_cmd(cmd),
                    None => break,
                },
                Some((local, from, data)) = packets.recv() => self.on_packet(local, from, &data),
                () = tokio::time::sleep_until(next.into()) => self.on_timeout(),
            }
        }
        let names: Vec<String> = self.conns.keys().cloned().collect();
        for name in names {
            self.drop_conn(&name, "the server is shutting down");
        }
    }

    fn on_cmd(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Accept {
                remote,
                offer,
                reply,
            } => {
                let result = self.accept(&remote, &offer);
                let _ = reply.send(result);
                self.drive(&remote);
            }
            Cmd::Offer {
                remote,
                labels,
                reply,
            } => {
                let result = self.offer(&remote, labels);
                let _ = reply.send(result);
                self.drive(&remote);
            }
            Cmd::Answer {
                remote,
                answer,
                reply,
            } => {
                let result = match self.conns.get_mut(&remote) {
                    None => Err(PeerError::UnknownPeer(remote.clone())),
                    Some(c) => match (c.pending.take(), SdpAnswer::from_sdp_string(&answer)) {
                        (Some(pending), Ok(answer)) => c
                            .rtc
                            .sdp_api()
                            .accept_answer(pending, answer)
                            .map_err(|e| PeerError::BadAnswer(e.to_string())),
                        (None, _) => Err(PeerError::BadAnswer("no offer is pending".into())),
                        (_, Err(e)) => Err(PeerError::BadAnswer(e.to_string())),
                    },
                };
                let _ = reply.send(result);
                self.drive(&remote);
            }
            Cmd::Candidate { remote, candidate } => {
                let line = candidate.trim().trim_start_matches("a=");
                if line.is_empty() || line.contains(".local ") {
                    tracing::debug!(%remote, "skipping mDNS/empty candidate");
                    return;
                }
                match (
                    self.conns.get_mut(&remote),
                    Candidate::from_sdp_string(line),
                ) {
                    (Some(c), Ok(cand)) => c.rtc.add_remote_candidate(cand),
                    (Some(_), Err(e)) => {
                        tracing::debug!(%remote, error = %e, "bad remote candidate")
                    }
                    (None, _) => {}
                }
                self.drive(&remote);
            }
            Cmd::Send {
                remote,
                channel,
                binary,
                data,
                reply,
            } => {
                let result = match self.conns.get_mut(&remote) {
                    None => Err(PeerError::UnknownPeer(remote.clone())),
                    Some(c) => match c.rtc.channel(channel) {
                        None => Err(PeerError::ChannelClosed),
                        Some(mut ch) => match ch.write(binary, &data) {
                            Ok(true) => Ok(Sent::Queued {
                                buffered: ch.buffered_amount(),
                            }),
                            Ok(false) => Ok(Sent::Full),
                            Err(e) => {
                                tracing::debug!(%remote, error = %e, "channel write failed");
                                Err(PeerError::ChannelClosed)
                            }
                        },
                    },
                };
                let _ = reply.send(result);
                self.drive(&remote);
            }
            Cmd::Close { remote } => self.drop_conn(&remote, "closed by the server"),
        }
    }

    /// A fresh `Rtc` with a host candidate per bound socket; replaces any earlier connection.
    fn new_rtc(&mut self, remote: &str) -> Result<Rtc, PeerError> {
        if self.conns.contains_key(remote) {
            self.drop_conn(remote, "replaced by a new connection");
        }
        if self.conns.len() >= self.config.max_peers {
            return Err(PeerError::TooManyPeers);
        }
        let mut rtc = Rtc::builder()
            .set_sctp_max_buffered_amount(self.config.max_buffered_bytes)
            .build(Instant::now());
        for addr in self.sockets.keys() {
            if let Ok(c) = Candidate::host(*addr, "udp") {
                rtc.add_local_candidate(c);
            }
        }
        Ok(rtc)
    }

    fn insert(&mut self, remote: &str, rtc: Rtc, pending: Option<str0m::change::SdpPendingOffer>) {
        let now = Instant::now();
        self.conns.insert(
            remote.to_owned(),
            Conn {
                rtc,
                pending,
                created: now,
                connected: false,
                next: now,
                backlog: Arc::new(AtomicUsize::new(0)),
            },
        );
    }

    fn accept(&mut self, remote: &str, offer: &str) -> Result<String, PeerError> {
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| PeerError::BadOffer(e.to_string()))?;
        let mut rtc = self.new_rtc(remote)?;
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| PeerError::BadOffer(e.to_string()))?;
        self.insert(remote, rtc, None);
        Ok(answer.to_sdp_string())
    }

    fn offer(&mut self, remote: &str, labels: Vec<String>) -> Result<String, PeerError> {
        let mut rtc = self.new_rtc(remote)?;
        let mut api = rtc.sdp_api();
        for label in labels {
            api.add_channel(label);
        }
        let (offer, pending) = api
            .apply()
            .ok_or_else(|| PeerError::BadOffer("nothing to offer".into()))?;
        self.insert(remote, rtc, Some(pending));
        Ok(offer.to_sdp_string())
    }

    fn on_packet(&mut self, local: SocketAddr, from: SocketAddr, data: &[u8]) {
        let Ok(contents) = data.try_into() else {
            return;
        };
        let input = Input::Receive(
            Instant::now(),
            Receive {
                proto: Protocol::Udp,
                source: from,
                destination: local,
                contents,
            },
        );
        let limit = self.config.recv_backlog_bytes;
        let Some((name, conn)) = self.conns.iter_mut().find(|(_, c)| c.rtc.accepts(&input)) else {
            return;
        };
        if conn.backlog.load(Ordering::Relaxed) > limit {
            // The consumer is behind: drop, and let SCTP retransmit later.
            return;
        }
        if let Err(e) = conn.rtc.handle_input(input) {
            tracing::debug!(remote = %name, error = %e, "input rejected");
        }
        let name = name.clone();
        self.drive(&name);
    }

    fn on_timeout(&mut self) {
        let now = Instant::now();
        let connect_timeout = Duration::from_secs(self.config.connect_timeout_secs);
        let due: Vec<String> = self
            .conns
            .iter()
            .filter(|(_, c)| c.next <= now)
            .map(|(n, _)| n.clone())
            .collect();
        for name in due {
            if let Some(c) = self.conns.get_mut(&name) {
                if let Err(e) = c.rtc.handle_input(Input::Timeout(now)) {
                    tracing::debug!(remote = %name, error = %e, "timeout handling failed");
                }
            }
            self.drive(&name);
        }
        let stale: Vec<String> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.connected && c.created.elapsed() > connect_timeout)
            .map(|(n, _)| n.clone())
            .collect();
        for name in stale {
            self.fail_conn(&name, "could not connect (ICE/DTLS timed out)");
        }
    }

    /// Drains one connection's output: datagrams out, events up, the next timeout noted.
    fn drive(&mut self, name: &str) {
        let Some(conn) = self.conns.get_mut(name) else {
            return;
        };
        let mut closed: Option<String> = None;
        loop {
            if !conn.rtc.is_alive() {
                closed = Some("the connection was lost".into());
                break;
            }
            match conn.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    conn.next = t;
                    break;
                }
                Ok(Output::Transmit(t)) => {
                    if let Some(socket) = self.sockets.get(&t.source) {
                        // Non-blocking: a full socket buffer is loss, which SCTP handles.
                        let _ = socket.try_send_to(&t.contents, t.destination);
                    }
                }
                Ok(Output::Event(ev)) => {
                    let remote = name.to_owned();
                    let out = match ev {
                        Event::Connected => {
                            conn.connected = true;
                            Some(PeerEvent::Connected { remote })
                        }
                        Event::ChannelOpen(channel, label) => {
                            if let Some(mut ch) = conn.rtc.channel(channel) {
                                ch.set_buffered_amount_low_threshold(self.config.low_water_bytes);
                            }
                            Some(PeerEvent::ChannelOpen {
                                remote,
                                channel,
                                label,
                            })
                        }
                        Event::ChannelData(d) => {
                            conn.backlog.fetch_add(d.data.len(), Ordering::Relaxed);
                            Some(PeerEvent::Message {
                                remote,
                                channel: d.id,
                                binary: d.binary,
                                data: Received {
                                    data: d.data,
                                    backlog: conn.backlog.clone(),
                                },
                            })
                        }
                        Event::ChannelBufferedAmountLow(channel) => {
                            Some(PeerEvent::BufferedLow { remote, channel })
                        }
                        Event::ChannelClose(channel) => {
                            Some(PeerEvent::ChannelClosed { remote, channel })
                        }
                        // Disconnected can heal (a CPU-starved check, a Wi-Fi blip); str0m
                        // reports a dead connection through `is_alive`, handled above.
                        Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                            tracing::debug!(remote = %name, "ICE disconnected; waiting for it to recover");
                            None
                        }
                        _ => None,
                    };
                    if let Some(ev) = out {
                        let _ = self.events.send(ev);
                    }
                    if closed.is_some() {
                        break;
                    }
                }
                Err(e) => {
                    closed = Some(format!("WebRTC error: {e}"));
                    break;
                }
            }
        }
        if let Some(reason) = closed {
            self.fail_conn(name, &reason);
        }
    }

    fn drop_conn(&mut self, name: &str, reason: &str) {
        self.end_conn(name, reason, false);
    }

    fn fail_conn(&mut self, name: &str, reason: &str) {
        self.end_conn(name, reason, true);
    }

    fn end_conn(&mut self, name: &str, reason: &str, failed: bool) {
        if let Some(mut c) = self.conns.remove(name) {
            c.rtc.disconnect();
            tracing::debug!(remote = %name, %reason, "peer connection closed");
            let _ = self.events.send(PeerEvent::Closed {
                remote: name.to_owned(),
                reason: reason.to_owned(),
                failed,
            });
        }
    }
}
