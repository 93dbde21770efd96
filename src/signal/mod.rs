//! Signaling: WebSocket rooms where browsers and the seeder find each other.
//!
//! [`state`] holds rooms, names and routing without I/O; [`upgrade`] checks the HTTP upgrade;
//! [`session`] runs one reader and one writer task per socket. This file glues them: one
//! mutex-guarded [`state::State`] plus the senders of every client's bounded queue. The lock
//! is never held across an `.await`; delivery uses `try_send`, so a full queue closes that one
//! client instead of stalling anyone else.

mod config;
pub mod names;
pub mod protocol;
mod session;
pub mod state;
pub mod token;
mod upgrade;

pub use config::{IceServer, SignalConfig};
pub use upgrade::origin_allowed;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::http::Body;
use protocol::{ErrorCode, ServerMsg};
use state::{ConnId, Out, State};

/// Hands browsers extra ICE servers in `welcome` (the relay's short-lived credentials) and
/// hears when their connection ends. The relay implements it; signaling knows nothing else.
pub trait IceIssuer: Send + Sync {
    /// ICE servers for the browser `name`, which reached the daemon as `host` (Host header).
    fn ice_servers(&self, name: &str, host: &str) -> Vec<IceServer>;
    /// The connection that held `name` is gone (not replaced by a resumed one).
    fn departed(&self, name: &str);
}

/// What the writer task of one client sends next.
#[derive(Debug)]
enum Outgoing {
    Text(Utf8Bytes),
    Ping,
    Close(u16, &'static str),
}

/// Ends one connection from outside its tasks. `token` tells the reader to close politely;
/// `hard` also stops the writer at once (its socket is not being read, so nothing gets out).
#[derive(Debug, Default)]
struct Kill {
    token: CancellationToken,
    hard: CancellationToken,
    code: AtomicU16,
}

impl Kill {
    /// Close with a close frame (replaced by a resumed connection).
    fn fire_soft(&self, code: u16) {
        let _ = self
            .code
            .compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed);
        self.token.cancel();
    }

    /// Hang up without waiting for the writer.
    fn fire(&self, code: u16) {
        self.fire_soft(code);
        self.hard.cancel();
    }
}

struct Link {
    tx: mpsc::Sender<Outgoing>,
    kill: Arc<Kill>,
    addr: IpAddr,
}

struct Inner {
    state: State,
    links: HashMap<ConnId, Link>,
    per_addr: HashMap<IpAddr, usize>,
}

#[derive(Default)]
struct Metrics {
    connections_total: AtomicU64,
    refused_total: AtomicU64,
    received_total: AtomicU64,
    forwarded_total: AtomicU64,
    errors: [AtomicU64; ErrorCode::ALL.len()],
    closes: Mutex<BTreeMap<u16, u64>>,
}

/// At most `LOG_BURST` warnings per `LOG_WINDOW_SECS`: hostile clients must not be able to
/// flood the journal of a Pi.
const LOG_BURST: u64 = 20;
const LOG_WINDOW_SECS: u64 = 10;

#[derive(Default)]
struct LogLimiter {
    window: AtomicU64,
    count: AtomicU64,
}

impl LogLimiter {
    fn allow(&self) -> bool {
        let w = now_ms() / 1000 / LOG_WINDOW_SECS;
        if self.window.swap(w, Ordering::Relaxed) != w {
            self.count.store(0, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed) < LOG_BURST
    }
}

struct Shared {
    logs: LogLimiter,
    /// Swapped whole on SIGHUP; each connection reads it when it starts.
    cfg: std::sync::RwLock<Arc<SignalConfig>>,
    seeder_token: String,
    issuer: std::sync::OnceLock<Arc<dyn IceIssuer>>,
    inner: Mutex<Inner>,
    metrics: Metrics,
}

/// The signaling server shared by all connections.
pub struct Hub {
    shared: Arc<Shared>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Shared {
    fn cfg(&self) -> Arc<SignalConfig> {
        self.cfg.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn inner_lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Hub {
    /// `tokens` signs resume tokens; give it the key kept in the state directory so names
    /// survive a restart.
    pub fn new(config: SignalConfig, tokens: token::Tokens) -> Self {
        let bytes: [u8; 32] = rand::random();
        let seeder_token = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Hub {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    state: {
                        let mut state = State::new(config.clone());
                        state.set_tokens(tokens);
                        state
                    },
                    links: HashMap::new(),
                    per_addr: HashMap::new(),
                }),
                logs: LogLimiter::default(),
                cfg: std::sync::RwLock::new(Arc::new(config)),
                seeder_token,
                issuer: std::sync::OnceLock::new(),
                metrics: Metrics::default(),
            }),
        }
    }

    /// Applies new limits: room limits at once, connection limits to connections made from now
    /// on (a reload never cuts off anyone already connected).
    pub fn reload(&self, config: SignalConfig) {
        self.shared.inner_lock().state.set_config(config.clone());
        *self.shared.cfg.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
    }

    /// The secret that makes a loopback connection the seeder (`Authorization: Bearer ...`);
    /// random per process, so only code inside the daemon knows it.
    pub fn seeder_token(&self) -> &str {
        &self.shared.seeder_token
    }

    /// The name an authentic resume token (from a `welcome`) was issued for: how HTTP uploads
    /// prove which peer identity they belong to.
    pub fn name_of_token(&self, token: &str) -> Option<String> {
        self.shared.lock().state.verify_token(token)
    }

    /// Gives every browser connection from now on the issuer's ICE servers (set once).
    pub fn set_ice_issuer(&self, issuer: Arc<dyn IceIssuer>) {
        let _ = self.shared.issuer.set(issuer);
    }

    /// A check whether a name belongs to a live connection, for parts that outlive a request.
    pub fn liveness(&self) -> Box<dyn Fn(&str) -> bool + Send + Sync> {
        let shared = self.shared.clone();
        Box::new(move |name| shared.lock().state.is_live(name))
    }

    /// Handles `GET /ws`.
    pub async fn upgrade(
        &self,
        app: &App,
        peer: SocketAddr,
        req: Request<Incoming>,
    ) -> Response<Body> {
        upgrade::upgrade(&self.shared, app, peer, req)
    }

    /// Appends this module's Prometheus counters.
    pub fn render_metrics(&self, out: &mut String) {
        self.shared.render_metrics(out);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not take signaling down for everyone: keep using the state.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends each message to its recipients; returns the error codes sent to `me`.
    fn deliver(&self, inner: &Inner, outs: Vec<Out>, me: Option<ConnId>) -> Vec<ErrorCode> {
        let mut mine = Vec::new();
        for out in outs {
            if let ServerMsg::Error { code, .. } = &out.msg {
                self.metrics.errors[code.index()].fetch_add(1, Ordering::Relaxed);
                if out.to.iter().any(|t| Some(*t) == me) {
                    mine.push(*code);
                }
            }
            let text = match serde_json::to_string(&out.msg) {
                Ok(t) => Utf8Bytes::from(t),
                Err(e) => {
                    tracing::error!(error = %e, "cannot serialize a server message");
                    continue;
                }
            };
            for to in &out.to {
                let Some(link) = inner.links.get(to) else {
                    continue;
                };
                match link.tx.try_send(Outgoing::Text(text.clone())) {
                    Ok(()) if out.forwarded => {
                        self.metrics.forwarded_total.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        if !link.kill.hard.is_cancelled() && self.logs.allow() {
                            tracing::info!(peer = %link.addr, "closing a client that does not read");
                        }
                        link.kill.fire(1008);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
        }
        mine
    }

    /// One text frame from a client: parse, route, deliver.
    fn process(&self, id: ConnId, text: &str) -> Vec<ErrorCode> {
        self.metrics.received_total.fetch_add(1, Ordering::Relaxed);
        let inner = &mut *self.lock();
        let outs = match protocol::parse(text) {
            Ok((msg, req_id)) => {
                let mut outs = inner.state.handle(id, msg, now_ms());
                for o in &mut outs {
                    if let ServerMsg::Error { id: slot, .. } = &mut o.msg {
                        slot.clone_from(&req_id);
                    }
                }
                outs
            }
            Err(err) => vec![Out {
                to: vec![id],
                msg: err,
                forwarded: false,
            }],
        };
        self.deliver(inner, outs, Some(id))
    }

    /// Sends an error made at the edge (rate limit, binary frame, oversize).
    fn send_error(&self, id: ConnId, code: ErrorCode, message: &str) {
        let inner = &*self.lock();
        let msg = protocol::error(code, message, None);
        self.deliver(
            inner,
            vec![Out {
                to: vec![id],
                msg,
                forwarded: false,
            }],
            Some(id),
        );
    }

    fn has_joined(&self, id: ConnId) -> bool {
        self.lock().state.has_joined(id)
    }

    /// The connection is over: rosters update, the name is held, the address slot frees.
    fn leave(&self, id: ConnId) {
        let inner = &mut *self.lock();
        if let (Some(name), Some(issuer)) = (inner.state.name_of(id), self.issuer.get()) {
            issuer.departed(name);
        }
        let outs = inner.state.depart(id, now_ms());
        if let Some(link) = inner.links.remove(&id) {
            if let Some(n) = inner.per_addr.get_mut(&link.addr) {
                *n -= 1;
                if *n == 0 {
                    inner.per_addr.remove(&link.addr);
                }
            }
        }
        self.deliver(inner, outs, None);
    }

    fn count_close(&self, code: u16) {
        let mut c = self
            .metrics
            .closes
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *c.entry(code).or_default() += 1;
    }

    fn render_metrics(&self, out: &mut String) {
        let (conns, rooms, members, addrs) = {
            let i = self.lock();
            (
                i.links.len(),
                i.state.rooms(),
                i.state.memberships(),
                i.per_addr.len(),
            )
        };
        let m = &self.metrics;
        let g = |out: &mut String, name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        g(
            out,
            "peerbox_signal_connections",
            "Open signaling WebSockets.",
            "gauge",
            conns as u64,
        );
        g(
            out,
            "peerbox_signal_addresses",
            "Client addresses with an open WebSocket.",
            "gauge",
            addrs as u64,
        );
        g(
            out,
            "peerbox_signal_rooms",
            "Rooms that exist now.",
            "gauge",
            rooms as u64,
        );
        g(
            out,
            "peerbox_signal_room_members",
            "Room memberships now.",
            "gauge",
            members as u64,
        );
        g(
            out,
            "peerbox_signal_connections_total",
            "WebSockets accepted.",
            "counter",
            get(&m.connections_total),
        );
        g(
            out,
            "peerbox_signal_upgrades_refused_total",
            "Upgrades refused (origin, limits, auth).",
            "counter",
            get(&m.refused_total),
        );
        g(
            out,
            "peerbox_signal_messages_received_total",
            "Text messages received.",
            "counter",
            get(&m.received_total),
        );
        g(
            out,
            "peerbox_signal_messages_forwarded_total",
            "Signal and chat messages delivered, per recipient.",
            "counter",
            get(&m.forwarded_total),
        );
        let _ = writeln!(out, "# HELP peerbox_signal_errors_total Error messages sent, by code.\n# TYPE peerbox_signal_errors_total counter");
        for code in ErrorCode::ALL {
            let v = get(&m.errors[code.index()]);
            let _ = writeln!(
                out,
                "peerbox_signal_errors_total{{code=\"{}\"}} {v}",
                code.as_str()
            );
        }
        let _ = writeln!(out, "# HELP peerbox_signal_closes_total Connections closed by the server, by close code.\n# TYPE peerbox_signal_closes_total counter");
        for (code, v) in m.closes.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "peerbox_signal_closes_total{{code=\"{code}\"}} {v}");
        }
    }
}
