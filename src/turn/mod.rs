//! The relay for browser-to-browser links: a TURN server (the webrtc-rs `turn` crate) on a UDP
//! port, for browsers that reach the appliance but not each other (guest Wi-Fi with client
//! isolation, a VPN app). DTLS stays end to end between the browsers; the relay sees ciphertext.
//!
//! Not an open relay:
//! - credentials ([`creds`]) are minted only into the `welcome` of a live browser signaling
//!   connection, expire after `turn.credential_ttl_secs`, and are refused once that connection
//!   is gone (its allocations are then deleted);
//! - TURN clients and relayed peers must be on `turn.allowed_networks` (private ranges by
//!   default): [`gate`] refuses CreatePermission/ChannelBind to anything else with 403 and
//!   [`relay`] drops any datagram to or from elsewhere;
//! - allocations per connection and in total, and bytes per second per connection, are capped.
//!
//! The signaling module learns none of this: it is handed a [`crate::signal::IceIssuer`].

pub mod config;
pub mod creds;
mod gate;
mod relay;

pub use config::TurnConfig;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use turn::auth::AuthHandler;
use turn::server::config::{ConnConfig, ServerConfig};
use turn::server::Server;

use crate::metrics::{Exposition, Source};
use crate::signal::IceServer;
use relay::{Relays, Shared};

/// Reasons a request or a datagram was refused, as labels of `peerbox_turn_refused_total`.
pub const REFUSALS: [&str; 8] = [
    "malformed",
    "expired",
    "not_live",
    "bad_credentials",
    "source_network",
    "peer_network",
    "allocation_quota",
    "unauthenticated_rate",
];

/// The realm in every challenge.
const REALM: &str = "peerbox";

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error("cannot listen on UDP {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("no address to listen on (turn.bind is empty and no interface has one)")]
    NoAddress,
    #[error("TURN server: {0}")]
    Server(#[from] turn::Error),
}

/// A running relay.
pub struct Relay {
    shared: Arc<Shared>,
    server: Server,
    /// The listeners' addresses (the real ports when `turn.port` is 0).
    listeners: Vec<SocketAddr>,
}

struct Auth(Arc<Shared>);

impl AuthHandler for Auth {
    fn auth_handle(
        &self,
        username: &str,
        realm: &str,
        _src: SocketAddr,
    ) -> Result<Vec<u8>, turn::Error> {
        let s = &self.0;
        let name = s.minter.check(username, unix_now()).map_err(|e| {
            s.counters.refuse(e.reason());
            turn::Error::Other(e.to_string())
        })?;
        if !(s.live)(name) {
            s.counters.refuse("not_live");
            return Err(turn::Error::Other("no live signaling connection".into()));
        }
        Ok(turn::auth::generate_auth_key(
            username,
            realm,
            &s.minter.password(username),
        ))
    }
}

impl Relay {
    /// Binds the listeners and starts the server; `live` says whether a signaling name has a
    /// live connection. The server stops when `shutdown` fires.
    pub async fn start(
        cfg: TurnConfig,
        live: Box<dyn Fn(&str) -> bool + Send + Sync>,
        shutdown: CancellationToken,
    ) -> Result<Arc<Relay>, TurnError> {
        let ips: Vec<IpAddr> = if cfg.bind.is_empty() {
            if_addrs::get_if_addrs()
                .unwrap_or_default()
                .into_iter()
                .map(|i| i.ip())
                .filter(|ip| !ip.is_loopback() && cfg.allows(*ip))
                .collect()
        } else {
            cfg.bind.clone()
        };
        if ips.is_empty() {
            return Err(TurnError::NoAddress);
        }
        let shared = Arc::new(Shared {
            minter: creds::Minter::new(rand::random()),
            live,
            users: Mutex::default(),
            allocations: Default::default(),
            counters: Default::default(),
            cfg,
        });
        let mut conn_configs = Vec::new();
        let mut listeners = Vec::new();
        for ip in ips {
            let addr = SocketAddr::new(ip, shared.cfg.port);
            let sock = UdpSocket::bind(addr)
                .await
                .map_err(|source| TurnError::Bind { addr, source })?;
            listeners.push(sock.local_addr().unwrap_or(addr));
            let current = Arc::new(Mutex::new(None));
            conn_configs.push(ConnConfig {
                conn: Arc::new(gate::Gate::new(sock, shared.clone(), current.clone())),
                relay_addr_generator: Box::new(Relays {
                    ip,
                    shared: shared.clone(),
                    current,
                }),
            });
        }
        let server = Server::new(ServerConfig {
            conn_configs,
            realm: REALM.into(),
            auth_handler: Arc::new(Auth(shared.clone())),
            channel_bind_timeout: std::time::Duration::ZERO,
            alloc_close_notify: None,
        })
        .await?;
        let relay = Arc::new(Relay {
            shared,
            server,
            listeners,
        });
        let r = relay.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            let _ = r.server.close().await;
        });
        tracing::info!(listeners = ?relay.listeners, "TURN relay listening");
        Ok(relay)
    }

    pub fn listeners(&self) -> &[SocketAddr] {
        &self.listeners
    }

    /// Credentials for the browser `name`, which reached the daemon as `host` (the Host header
    /// of its WebSocket upgrade): the relay URL uses the same address, so it is one the browser
    /// can reach.
    pub fn credentials(&self, name: &str, host: &str) -> Vec<IceServer> {
        let host = host_only(host);
        let port = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok()
            .and_then(|ip| self.listeners.iter().find(|l| l.ip() == ip))
            .or_else(|| self.listeners.first())
            .map(|l| l.port());
        let Some(port) = port else {
            return Vec::new();
        };
        let (username, password) =
            self.shared
                .minter
                .issue(name, unix_now(), self.shared.cfg.credential_ttl_secs);
        vec![IceServer {
            urls: vec![format!("turn:{host}:{port}?transport=udp")],
            username: Some(username),
            credential: Some(password),
        }]
    }

    /// The signaling connection of `name` is gone: its allocations end now.
    pub fn departed(self: &Arc<Self>, name: &str) {
        let usernames: Vec<String> = self
            .shared
            .users()
            .get(name)
            .map(|u| u.usernames.iter().cloned().collect())
            .unwrap_or_default();
        if usernames.is_empty() {
            self.shared.users().remove(name);
            return;
        }
        let r = self.clone();
        tokio::spawn(async move {
            for u in usernames {
                let _ = r.server.delete_allocations_by_username(u).await;
            }
        });
    }
}

/// `host:port`, `[v6]:port` or a bare host, without the port.
fn host_only(host: &str) -> &str {
    let host = host.trim();
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

impl crate::signal::IceIssuer for Arc<Relay> {
    fn ice_servers(&self, name: &str, host: &str) -> Vec<IceServer> {
        self.credentials(name, host)
    }

    fn departed(&self, name: &str) {
        Relay::departed(self, name);
    }
}

impl Source for Relay {
    fn render(&self, out: &mut Exposition) {
        let s = &self.shared;
        let c = &s.counters;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        out.gauge(
            "peerbox_turn_allocations",
            "TURN allocations (relayed addresses) now.",
            s.allocations.load(Ordering::Relaxed) as f64,
        );
        out.counter(
            "peerbox_turn_allocations_total",
            "TURN allocations made.",
            get(&c.allocations_total),
        );
        out.header(
            "peerbox_turn_relayed_bytes_total",
            "Bytes relayed, by direction.",
            "counter",
        );
        for (dir, v) in [
            ("to_peer", &c.to_peer_bytes),
            ("to_client", &c.to_client_bytes),
        ] {
            out.sample(
                "peerbox_turn_relayed_bytes_total",
                &[("direction", dir)],
                get(v) as f64,
            );
        }
        out.header(
            "peerbox_turn_dropped_bytes_total",
            "Relayed bytes dropped: over the per-connection rate, or to/from a disallowed network.",
            "counter",
        );
        for (why, v) in [
            ("rate", &c.dropped_rate_bytes),
            ("network", &c.dropped_network_bytes),
        ] {
            out.sample(
                "peerbox_turn_dropped_bytes_total",
                &[("reason", why)],
                get(v) as f64,
            );
        }
        out.header(
            "peerbox_turn_refused_total",
            "TURN requests and datagrams refused, by reason.",
            "counter",
        );
        for (i, why) in REFUSALS.iter().enumerate() {
            out.sample(
                "peerbox_turn_refused_total",
                &[("reason", why)],
                get(&c.refused[i]) as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::host_only;

    #[test]
    fn host_without_port() {
        assert_eq!(host_only("10.0.0.2:8080"), "10.0.0.2");
        assert_eq!(host_only("box.lan"), "box.lan");
        assert_eq!(host_only("[fe80::1]:80"), "[fe80::1]");
        assert_eq!(host_only("[::1]"), "[::1]");
    }
}
