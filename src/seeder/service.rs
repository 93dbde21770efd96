//! Wires the seeder together: signaling client, WebRTC transport, one [`Link`] per browser,
//! the live catalog, and the shared incoming store.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::edge::Resolver;
use super::incoming::IncomingStore;
use super::link::{Link, LinkInput};
use super::peer::{PeerEvent, Peers};
use super::protocol::FileInfo;
use super::signaling::{Client, SignalEvent};
use super::swarm::Swarm;
use super::throttle::Throttle;
use super::SeederConfig;
use crate::signal::protocol::{sdp_ufrag, Signal};
use crate::watch::Catalog;

/// The label of the one DataChannel a browser opens to the seeder (text + binary frames).
pub const CHANNEL_LABEL: &str = "peerbox";
/// How often abandoned partial uploads are looked for.
const CLEANUP_EVERY: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum SeederError {
    #[error("WebRTC transport: {0}")]
    Transport(#[from] super::peer::PeerError),
    #[error("incoming folder: {0}")]
    Store(#[from] super::incoming::StoreError),
}

/// Everything the seeder needs from the daemon.
pub struct Context {
    pub config: SeederConfig,
    pub incoming_dir: std::path::PathBuf,
    /// The daemon's own listener; the seeder connects to its `/ws` over loopback.
    pub listen: SocketAddr,
    pub token: String,
    pub catalog: Catalog,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
    /// Where the seeder registers its `/metrics` figures.
    pub metrics: Arc<crate::metrics::Registry>,
}

/// What can be changed in a running seeder (SIGHUP).
pub struct Handle {
    pub ready: oneshot::Receiver<()>,
    pub rooms: tokio::sync::watch::Sender<Vec<String>>,
    /// The incoming store the seeder saves DataChannel uploads with; HTTP uploads use the same
    /// one (lock it only on a blocking thread, never across an `.await`).
    pub store: Arc<Mutex<IncomingStore>>,
}

/// Starts the seeder; `ready` fires once it has joined its rooms.
pub async fn start(ctx: Context) -> Result<Handle, SeederError> {
    let config = Arc::new(ctx.config);
    let (peers, peer_events) = Peers::start(config.webrtc.clone(), ctx.shutdown.clone()).await?;
    ctx.metrics.register(peers.stats());
    let stats = Arc::new(super::stats::SeederStats::default());
    ctx.metrics.register(stats.clone());
    let store = {
        let (dir, cfg) = (ctx.incoming_dir.clone(), config.clone());
        tokio::task::spawn_blocking(move || IncomingStore::open(&dir, &cfg))
            .await
            .expect("store open task")?
    };
    let (sig_tx, sig_rx) = mpsc::unbounded_channel();
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let (rooms_tx, rooms_rx) = tokio::sync::watch::channel(config.rooms.clone());
    let client = Client {
        url: format!("ws://{}/ws?name={}", loopback(ctx.listen), config.name),
        token: ctx.token,
        rooms: rooms_rx,
    };
    ctx.tasks
        .spawn(client.run(sig_tx, out_rx, ctx.shutdown.clone()));
    let (ready_tx, ready_rx) = oneshot::channel();
    let catalog = ctx.catalog.clone();
    let resolve: Resolver = Arc::new(move |f: &FileInfo| {
        catalog
            .resolve(&f.id)
            .filter(|e| e.hash.to_hex().as_str() == f.hash)
            .map(|e| e.real())
    });
    let store = Arc::new(Mutex::new(store));
    let swarm = Arc::new(Swarm::new(config.swarm_files_per_peer));
    ctx.metrics.register(swarm.clone());
    let throttle = Arc::new(Throttle::new(config.max_upload_bytes_per_sec));
    let hub = Hub {
        swarm,
        throttle,
        trim: crate::memory::Trimmer::spawn(),
        peers,
        store: store.clone(),
        config,
        resolve,
        links: HashMap::new(),
        attempts: HashMap::new(),
        out: out_tx,
        ready: Some(ready_tx),
        tasks: ctx.tasks.clone(),
        stats,
    };
    ctx.tasks
        .spawn(hub.run(sig_rx, peer_events, ctx.catalog, ctx.shutdown));
    Ok(Handle {
        ready: ready_rx,
        rooms: rooms_tx,
        store,
    })
}

/// A wildcard listen address is reached over loopback of the same family.
fn loopback(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), listen.port())
        }
        IpAddr::V6(v6) if v6.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), listen.port())
        }
        _ => listen,
    }
}

struct Hub {
    swarm: Arc<Swarm>,
    throttle: Arc<Throttle>,
    peers: Peers,
    store: Arc<Mutex<IncomingStore>>,
    config: Arc<SeederConfig>,
    resolve: Resolver,
    links: HashMap<String, mpsc::UnboundedSender<LinkInput>>,
    /// Per browser, the `a=ice-ufrag` of the offer its current connection began with: a `bye`
    /// naming another one is late (for an earlier attempt) and ignored.
    attempts: HashMap<String, String>,
    out: mpsc::UnboundedSender<(String, Signal)>,
    ready: Option<oneshot::Sender<()>>,
    tasks: TaskTracker,
    stats: Arc<super::stats::SeederStats>,
    /// Gives the memory of a streamed catalog back once it is sent.
    trim: Arc<crate::memory::Trimmer>,
}

impl Hub {
    async fn run(
        mut self,
        mut signals: mpsc::UnboundedReceiver<SignalEvent>,
        mut peer_events: mpsc::UnboundedReceiver<PeerEvent>,
        catalog: Catalog,
        shutdown: CancellationToken,
    ) {
        let mut cleanup = tokio::time::interval(CLEANUP_EVERY);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(ev) = signals.recv() => self.on_signal(ev).await,
                Some(ev) = peer_events.recv() => self.on_peer(ev, &catalog),
                _ = cleanup.tick() => {
                    let store = self.store.clone();
                    tokio::task::spawn_blocking(move || {
                        let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
                        match store.cleanup(SystemTime::now()) {
                            Ok(n) if n > 0 => tracing::info!(removed = n, "abandoned partial uploads removed"),
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "partial upload cleanup failed"),
                        }
                    });
                }
            }
        }
        for link in self.links.values() {
            let _ = link.send(LinkInput::Closed);
        }
    }

    async fn on_signal(&mut self, ev: SignalEvent) {
        match ev {
            SignalEvent::Joined { name } => {
                tracing::info!(%name, "seeder joined its rooms");
                if let Some(tx) = self.ready.take() {
                    let _ = tx.send(());
                }
            }
            SignalEvent::Signal { from, signal } => match signal {
                Signal::Offer { sdp } => match self.peers.accept_offer(&from, &sdp).await {
                    Ok(answer) => {
                        match sdp_ufrag(&sdp) {
                            Some(u) => self.attempts.insert(from.clone(), u.to_owned()),
                            None => self.attempts.remove(&from),
                        };
                        let _ = self.out.send((from, Signal::Answer { sdp: answer }));
                    }
                    Err(e) => tracing::warn!(remote = %from, error = %e, "offer refused"),
                },
                Signal::Candidate { candidate, .. } => {
                    let _ = self.peers.add_candidate(&from, &candidate).await;
                }
                Signal::Bye { reason, ufrag } => {
                    let current = self.attempts.get(&from);
                    if let (Some(u), Some(cur)) = (&ufrag, current) {
                        if u != cur {
                            tracing::debug!(remote = %from, %reason, "late bye for an earlier connection ignored");
                            return;
                        }
                    }
                    tracing::debug!(remote = %from, %reason, "browser gave up the connection");
                    self.attempts.remove(&from);
                    if let Some(link) = self.links.remove(&from) {
                        let _ = link.send(LinkInput::Closed);
                    }
                    let _ = self.peers.close(&from).await;
                }
                Signal::Answer { .. } | Signal::EndOfCandidates => {}
            },
            SignalEvent::Gone { name } => {
                self.attempts.remove(&name);
                if let Some(link) = self.links.remove(&name) {
                    let _ = link.send(LinkInput::Closed);
                }
                let _ = self.peers.close(&name).await;
            }
            SignalEvent::Disconnected => {}
        }
    }

    fn on_peer(&mut self, ev: PeerEvent, catalog: &Catalog) {
        match ev {
            PeerEvent::ChannelOpen {
                remote,
                channel,
                label,
                max_message,
            } if label == CHANNEL_LABEL => {
                let (tx, rx) = mpsc::unbounded_channel();
                if let Some(old) = self.links.insert(remote.clone(), tx) {
                    let _ = old.send(LinkInput::Closed);
                }
                let link = Link {
                    peers: self.peers.clone(),
                    remote,
                    channel,
                    store: self.store.clone(),
                    resolve: self.resolve.clone(),
                    config: self.config.clone(),
                    stats: self.stats.clone(),
                    max_message,
                    swarm: self.swarm.clone(),
                    throttle: self.throttle.clone(),
                    trim: self.trim.clone(),
                };
                self.tasks.spawn(link.run(catalog.subscribe(), rx));
            }
            PeerEvent::ChannelOpen { remote, label, .. } => {
                tracing::debug!(%remote, %label, "ignoring a DataChannel with an unknown label");
            }
            PeerEvent::Message {
                remote,
                binary,
                data,
                ..
            } => {
                if let Some(link) = self.links.get(&remote) {
                    let _ = link.send(if binary {
                        LinkInput::Binary(data)
                    } else {
                        LinkInput::Text(data)
                    });
                }
            }
            PeerEvent::BufferedLow { remote, .. } => {
                if let Some(link) = self.links.get(&remote) {
                    let _ = link.send(LinkInput::BufferedLow);
                }
            }
            PeerEvent::ChannelClosed { remote, .. } => {
                if let Some(link) = self.links.remove(&remote) {
                    let _ = link.send(LinkInput::Closed);
                }
            }
            PeerEvent::Closed {
                remote,
                reason,
                failed,
            } => {
                if let Some(link) = self.links.remove(&remote) {
                    let _ = link.send(LinkInput::Closed);
                }
                if failed {
                    tracing::info!(%remote, %reason, "peer connection failed; telling the browser");
                    let ufrag = self.attempts.get(&remote).cloned();
                    let _ = self.out.send((remote, Signal::Bye { reason, ufrag }));
                }
            }
            PeerEvent::Connected { remote } => tracing::debug!(%remote, "peer connected"),
            PeerEvent::Candidate { remote, candidate } => {
                let signal = match candidate {
                    Some(c) => Signal::Candidate {
                        candidate: c.candidate,
                        sdp_mid: c.sdp_mid,
                        sdp_m_line_index: c.sdp_m_line_index,
                        username_fragment: None,
                    },
                    None => Signal::EndOfCandidates,
                };
                let _ = self.out.send((remote, signal));
            }
        }
    }
}
